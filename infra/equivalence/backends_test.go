package equivalence_test

// backends are the read models the equivalence test runs on.
func backends() []backend { return []backend{embedded()} }
