package notification

import (
	"errors"
	"fmt"
)

// Sentinel errors the edges map to transport outcomes (HTTP status, Kafka poison/ack).
var (
	// ErrNotFound means the notification does not exist.
	ErrNotFound = errors.New("notification not found")
	// ErrConflict means the command contradicts the notification's current state.
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the command breaks an input rule.
	ErrInvalid = errors.New("invalid")
)

// ValidationError names the field and the rule it broke. It matches ErrInvalid.
type ValidationError struct {
	Field string
	Rule  string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Rule) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, rule string) error { return &ValidationError{Field: field, Rule: rule} }

func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}
