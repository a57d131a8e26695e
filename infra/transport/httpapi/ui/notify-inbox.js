// placeholder: the component lands here
