//go:build cgo

package singleflight

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// Status is an engine status code (sf_status in singleflight.h).
type Status int

// The engine's statuses. The numbers are those of the C ABI.
const (
	StatusOK       Status = 0 // the work succeeded
	StatusWork     Status = 1 // the work returned an error
	StatusPanic    Status = 2 // the work aborted (a panic, in any language)
	StatusInvalid  Status = 3 // a bad argument; nothing was run
	StatusNoMemory Status = 4 // out of memory; nothing was run
	StatusDeadlock Status = 5 // a leader waited for its own flight
	StatusTimedOut Status = 6 // a wait reached its deadline
	StatusCanceled Status = 7 // a wait was cancelled
	StatusHandoff  Status = 8 // the leader left without completing
	StatusNoBytes  Status = 9 // the outcome is another language's value with no byte form
)

// String returns the engine's readable name for s.
func (s Status) String() string { return statusString(s) }

// Error is an error reported by the engine, or an outcome that crossed from
// another language. Compare with errors.Is against the Err* values, which
// match any *Error of the same Status:
//
//	if errors.Is(err, singleflight.ErrNoBytes) { ... }
type Error struct {
	Status Status // what happened
	Msg    string // details: a foreign work error or panic message, or the engine's explanation
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Msg == "" {
		return "singleflight: " + e.Status.String()
	}
	return "singleflight: " + e.Status.String() + ": " + e.Msg
}

// Is reports whether target is an *Error with the same Status, so that
// errors.Is(err, ErrNoBytes) and friends work on any error from this package.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// Sentinel errors, for errors.Is.
var (
	// ErrWork matches a work error that came from another language as a message.
	ErrWork = &Error{Status: StatusWork}
	// ErrPanic matches a panic that came from another language; it is the
	// value a Go caller re-panics with.
	ErrPanic = &Error{Status: StatusPanic}
	// ErrInvalid matches an argument the engine rejected (an empty group name).
	ErrInvalid = &Error{Status: StatusInvalid}
	// ErrNoMemory matches an engine allocation failure.
	ErrNoMemory = &Error{Status: StatusNoMemory}
	// ErrNoBytes matches an outcome whose value is another language's native
	// value with no byte form: a Go caller cannot receive it.
	ErrNoBytes = &Error{Status: StatusNoBytes}
)

// ErrClosed is returned by calls on a group after Close.
var ErrClosed = errors.New("singleflight: group is closed")

// ErrGoexit is the error that callers who cannot follow the leader into
// runtime.Goexit receive when fn called it: DoChan and DoContext callers,
// and every caller of a flight whose fn ran apart from them. Do callers
// exit too, as with x/sync.
var ErrGoexit = errors.New("singleflight: runtime.Goexit was called")

// errGoexit is x/sync's name for ErrGoexit.
var errGoexit = ErrGoexit

// ErrTypeMismatch is returned to a typed caller whose flight was led by Go
// code of another value type (two views of one named group).
var ErrTypeMismatch = errors.New("singleflight: the flight's value has another Go type")

// A panicError is what every caller of a flight panics with when fn panics:
// the panic value and the stack of the goroutine that panicked.
type panicError struct {
	value any
	stack []byte
}

// Error implements error.
func (p *panicError) Error() string {
	return fmt.Sprintf("%v\n\n%s", p.value, p.stack)
}

// Unwrap returns the panic value when it is an error.
func (p *panicError) Unwrap() error {
	if err, ok := p.value.(error); ok {
		return err
	}
	return nil
}

func newPanicError(v any) *panicError {
	stack := debug.Stack()
	// The first line is "goroutine N [running]:"; drop it, since the panic
	// is re-raised in other goroutines (as x/sync does).
	for i, c := range stack {
		if c == '\n' {
			stack = stack[i+1:]
			break
		}
	}
	return &panicError{value: v, stack: stack}
}

// PanicValue takes apart what a Do caller recovered when fn panicked: the
// value fn panicked with and the stack of the leader's goroutine. ok is false
// when recovered is not such a panic.
func PanicValue(recovered any) (value any, stack []byte, ok bool) {
	p, ok := recovered.(*panicError)
	if !ok {
		return nil, nil, false
	}
	return p.value, p.stack, true
}
