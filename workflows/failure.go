package workflows

import (
	"errors"

	"go.temporal.io/sdk/temporal"
)

// failure names a workflow's error for clients: an application error's type and message (or a
// friendlier message for its type), and the given code and message for a timeout or anything else.
type failure struct {
	timeoutCode, timeoutMessage string
	otherCode, otherMessage     string
	messages                    map[string]string // application error type → message
}

// describe returns err's code and message; "", "" for nil.
func (f failure) describe(err error) (code, message string) {
	var appErr *temporal.ApplicationError
	var timeoutErr *temporal.TimeoutError
	switch {
	case err == nil:
		return "", ""
	case errors.As(err, &appErr):
		code, message = appErr.Type(), appErr.Message()
		if m, ok := f.messages[code]; ok {
			message = m
		}
		if code == "" {
			code = f.otherCode
		}
		return code, message
	case errors.As(err, &timeoutErr):
		return f.timeoutCode, f.timeoutMessage
	}
	return f.otherCode, f.otherMessage
}
