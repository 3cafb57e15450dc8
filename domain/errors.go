// Package domain holds evpush's entities, value objects and error kinds.
// It imports the standard library only: no JSON tags, no ORM, no HTTP.
package domain

import (
	"errors"
	"fmt"
	"strings"
	"time"
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
	// ErrConflict marks a request that clashes with the current state
	// (a busy connector, a session already stopped).
	ErrConflict = errors.New("conflict")
	// ErrExpired marks a notification that outlived its TTL before it could
	// be delivered.
	ErrExpired = errors.New("notification expired before delivery")
	// ErrRateLimited marks a caller over its allowance; *RateLimitError
	// unwraps to it and says when to come back.
	ErrRateLimited = errors.New("too many requests")
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
	return (&ValidationError{}).Add(field, message)
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

// Add records a field error; it returns e, so one-field errors chain.
// Validation collects every field's error with it, then returns Err:
//
//	v := &domain.ValidationError{}
//	if id == "" {
//		v.Add("station_id", "is required")
//	}
//	return v.Err()
func (e *ValidationError) Add(field, message string) *ValidationError {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: message})
	return e
}

// Err returns nil when no field failed, else e.
func (e *ValidationError) Err() error {
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

// RateLimitError says a caller is over its allowance and when to retry.
// It unwraps to ErrRateLimited.
type RateLimitError struct {
	RetryAfter time.Duration
	Msg        string // for the client, e.g. "Too many requests; retry in 3 s"
}

func (e *RateLimitError) Error() string { return e.Msg }

// Unwrap makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

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
