// placeholder: the notify-inbox component lands here
