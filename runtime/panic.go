package runtime

import (
	"fmt"
	goruntime "runtime"
)

// PanicError is a panic the runtime recovered (in a kernel, a kernel factory or the compiler), kept
// with the goroutine's stack at the panic, as wazero's wasmdebug keeps it: the message says what
// failed, errors.As finds the PanicError for the stack, and errors.Is/As reach the panic value when
// it was an error (a runtime.Error, say).
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack, as runtime.Stack writes it
}

// newPanicError captures the stack; call it from the deferred function that recovered r.
func newPanicError(r any) *PanicError {
	buf := make([]byte, 16<<10)
	buf = buf[:goruntime.Stack(buf, false)]
	return &PanicError{Value: r, Stack: buf}
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
