// Package domain holds evpush's entities, value objects and error kinds.
// It imports the standard library only: no JSON tags, no ORM, no HTTP.
package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds. Adapters translate infrastructure errors into these, and the
// HTTP adapter maps them to statuses in one place.
var (
	// ErrInvalid marks input that breaks a rule; *ValidationError unwraps to it.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound marks a missing entity.
	ErrNotFound = errors.New("not found")
	// ErrUnauthenticated marks a request without valid credentials.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden marks an authenticated caller who may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable marks a dependency (the database) that cannot be reached now.
	ErrUnavailable = errors.New("service unavailable")
)

// FieldError names one field of the input and what is wrong with it.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every field that failed validation, so a client can
// fix all of them in one round trip.
type ValidationError struct {
	Fields []FieldError
}

// Invalid returns a ValidationError for one field.
func Invalid(field, message string) *ValidationError {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: message}}}
}

// Error joins the field errors as "field: message; field: message".
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// add records a field error.
func (e *ValidationError) add(field, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: message})
}

// orNil returns nil when no field failed, so callers can `return v.orNil()`.
func (e *ValidationError) orNil() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// AuthError says why a credential was refused. It unwraps to ErrUnauthenticated.
type AuthError struct{ Reason string }

func (e *AuthError) Error() string { return e.Reason }

// Unwrap makes errors.Is(err, ErrUnauthenticated) true.
func (e *AuthError) Unwrap() error { return ErrUnauthenticated }

// Error is an error of a known kind (ErrNotFound, ErrForbidden, …) with a
// message meant for the API client. It unwraps to its kind.
type Error struct {
	Kind error
	Msg  string
}

// Errorf returns an *Error of kind with a formatted message.
func Errorf(kind error, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, e.Kind) true.
func (e *Error) Unwrap() error { return e.Kind }
