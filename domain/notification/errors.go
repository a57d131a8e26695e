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

// ValidationError names the field and the rule it broke, and any other broken rules of the
// same input in Others. It matches ErrInvalid.
type ValidationError struct {
	Field  string
	Rule   string
	Others []ValidationError
}

func (e *ValidationError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Field, e.Rule)
	for _, o := range e.Others {
		msg += fmt.Sprintf("; %s: %s", o.Field, o.Rule)
	}
	return msg
}

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, rule string) error { return &ValidationError{Field: field, Rule: rule} }

func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}
