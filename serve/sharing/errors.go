package sharing

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sluice-io/sluice/deltawriter/deltalog"
)

// Error codes of the protocol's error bodies.
const (
	codeNotFound      = "RESOURCE_DOES_NOT_EXIST"
	codeInvalidParam  = "INVALID_PARAMETER_VALUE"
	codeMalformed     = "MALFORMED_REQUEST"
	codeUnsupported   = "UNSUPPORTED_OPERATION"
	codeUnauth        = "UNAUTHENTICATED"
	codeForbidden     = "PERMISSION_DENIED"
	codeInternal      = "INTERNAL_ERROR"
	codeNotAllowed    = "METHOD_NOT_ALLOWED"
	codeTooLarge      = "REQUEST_TOO_LARGE"
	codeTooMany       = "RESOURCE_EXHAUSTED"
	defaultMaxResults = 500
	maxMaxResults     = 1000
)

// apiError is an error answered to the client as {errorCode, message}.
// err, if set, is the cause, logged for internal errors only.
type apiError struct {
	status int
	code   string
	msg    string
	err    error
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *apiError) Unwrap() error { return e.err }

func badParam(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidParam, msg: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeMalformed, msg: fmt.Sprintf(format, args...)}
}

// notFound is the answer for anything that does not exist or that the
// recipient may not see: the two must be indistinguishable.
func notFound(kind, name string) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, msg: fmt.Sprintf("%s %s does not exist or is not shared with you", kind, name)}
}

// internal is a 500 for err, except for a shared table without a Delta log
// yet (a table a query writes has none before its first commit): that is
// the table's state, not the server's fault, and is answered 404.
func internal(err error) *apiError {
	if errors.Is(err, deltalog.ErrNotATable) {
		return &apiError{status: http.StatusNotFound, code: codeNotFound, err: err,
			msg: "the table has no committed version yet (a table written by a query gets its first one when the query first commits): try again later"}
	}
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "internal error; the server log has the details", err: err}
}

// errorBody is the protocol's error answer.
type errorBody struct {
	ErrorCode string `json:"errorCode"`
	Message   string `json:"message"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="delta-sharing"`)
	}
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(errorBody{ErrorCode: e.code, Message: e.msg})
}
