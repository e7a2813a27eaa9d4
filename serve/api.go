package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/catalog/sqlparse"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
	"github.com/sluice-io/sluice/serve/leader"
	"github.com/sluice-io/sluice/serve/sharing"
)

// MaxStatementBytes bounds a statements request body.
const MaxStatementBytes = 1 << 20

// api answers the statements API, health and metrics, and routes to the
// Delta Sharing handler once mountSharing has run.
type api struct {
	cat      *catalog.Catalog
	exec     *exec.Executor
	log      *slog.Logger
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	extra    []route        // see mountSharing
	sharing  http.Handler   // the Delta Sharing handler, nil until mountSharing
	role     *leader.Status // nil: always the leader (tests)
}

// newAPI returns the handler of the statements API over the catalog and
// executor.
func newAPI(cat *catalog.Catalog, ex *exec.Executor, log *slog.Logger) *api {
	s := &api{cat: cat, exec: ex, log: log, reg: prometheus.NewRegistry()}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "api", Name: "requests_total",
		Help: "Statements API requests by outcome code."}, []string{"code"})
	s.latency = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "sluice", Subsystem: "api", Name: "request_seconds",
		Help: "Statements API request latency.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	s.reg.MustRegister(s.requests, s.latency, prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return s
}

// APIPath is the prefix of the statements API (and of any later /api/
// endpoint): every request under it authenticates before it is routed.
const APIPath = "/api"

// handler routes the server's endpoints. Requests under APIPath and
// SharingPath are authenticated before any routing (see guard): the mux
// cleans and redirects paths with "." or ".." segments, and would answer
// 307, 404 or 405 to a request without a token, whereas docs/sharing.md
// promises that the token is checked before anything else.
func (s *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/statements", s.statements)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	for _, r := range s.extra {
		mux.Handle(r.pattern, r.h)
	}
	return s.guard(mux)
}

// readyzTimeout bounds /readyz's look at the catalog.
const readyzTimeout = 2 * time.Second

// readyz answers 200 "ready: leader" or "ready: follower" when the catalog
// answers (every replica serves statements and sharing requests, leader or
// not), else 503 saying so.
func (s *api) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
	defer cancel()
	if err := s.cat.View(ctx, func(*catalog.Tx) error { return nil }); err != nil {
		s.log.Warn("readyz: the catalog does not answer", "err", err)
		http.Error(w, "not ready: the catalog does not answer (see the server log)", http.StatusServiceUnavailable)
		return
	}
	role := leader.Leading
	if s.role != nil {
		role = s.role.State()
	}
	fmt.Fprintf(w, "ready: %s\n", role)
}

// guard sends every request whose path, as sent or cleaned, is under
// SharingPath to the Delta Sharing handler (which authenticates first, and
// answers a path that is not canonical with 400), and authenticates every
// request under APIPath before the mux sees it: without a valid token it
// is 401 whatever the path or method; with one, a path that is not
// canonical is 400, never a redirect.
func (s *api) guard(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case s.sharing != nil && under(p, SharingPath):
			s.sharing.ServeHTTP(w, r)
			return
		case under(p, APIPath):
			user, code := s.authenticate(w, r)
			if code != "" {
				s.requests.WithLabelValues(code).Inc()
				return
			}
			if !canonical(p) {
				code := writeErr(w, http.StatusBadRequest, APIError{Code: "BAD_REQUEST",
					Message: fmt.Sprintf("path %q is not canonical: send it without \".\" or \"..\" segments and without \"//\"", p)})
				s.requests.WithLabelValues(code).Inc()
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, user))
		}
		mux.ServeHTTP(w, r)
	})
}

// under reports whether p, as sent or cleaned, is prefix or below it.
func under(p, prefix string) bool {
	for _, q := range []string{p, path.Clean("/" + p)} {
		if q == prefix || strings.HasPrefix(q, prefix+"/") {
			return true
		}
	}
	return false
}

// canonical reports whether p is its own cleaned form (a trailing slash
// allowed): no "." or ".." segment, no empty one.
func canonical(p string) bool {
	c := path.Clean(p)
	return p == c || p == c+"/"
}

// userKey is the context key of the user guard authenticated.
type userKey struct{}

// authenticate checks the request's bearer token against the users'; on
// failure it has answered (401, or 500) and returns the outcome code.
func (s *api) authenticate(w http.ResponseWriter, r *http.Request) (catalog.User, string) {
	if u, ok := r.Context().Value(userKey{}).(catalog.User); ok {
		return u, ""
	}
	tok, ok := sharing.BearerToken(r)
	if !ok {
		return catalog.User{}, writeErr(w, http.StatusUnauthorized, APIError{Code: "UNAUTHENTICATED", Message: "missing bearer token: send Authorization: Bearer <token>"})
	}
	user, err := s.cat.AuthenticateUser(r.Context(), tok)
	if err != nil {
		if errors.Is(err, catalog.ErrUnauthenticated) {
			return catalog.User{}, writeErr(w, http.StatusUnauthorized, APIError{Code: "UNAUTHENTICATED", Message: err.Error()})
		}
		s.log.Error("authenticate", "err", err)
		return catalog.User{}, writeErr(w, http.StatusInternalServerError, APIError{Code: "INTERNAL", Message: "authentication failed"})
	}
	return user, ""
}

// route is an endpoint mounted by mountSharing.
type route struct {
	pattern string
	h       http.Handler
}

// StatementsRequest is the body of POST /api/v1/statements (a text/plain
// body is taken as the SQL itself).
type StatementsRequest struct {
	SQL string `json:"sql"`
}

// StatementsResponse is a successful answer: one result per statement.
type StatementsResponse struct {
	Results []exec.Result `json:"results"`
}

// ErrorBody is every error answer: {"error": {...}}.
type ErrorBody struct {
	Error APIError `json:"error"`
}

// APIError describes what went wrong. Line and Column locate a syntax
// error in the submitted SQL, or the start of the statement that failed;
// Caret shows the line with a caret.
//
// An error at a statement of a script that had begun to run
// (exec.StatementError) also says which: StatementIndex (from 1) of
// StatementCount, its canonical SQL in Statement, and NotRun, the number
// of statements after it, which did not run. Results holds the statements
// before it, which ran and committed; the failing statement changed
// nothing, unless Committed (it committed, and what it does after its
// commit, such as PURGE deleting files, failed: its result is then the
// last of Results). Without StatementIndex nothing ran.
type APIError struct {
	Code           string        `json:"code"`
	Message        string        `json:"message"`
	Line           int           `json:"line,omitempty"`
	Column         int           `json:"column,omitempty"`
	Caret          string        `json:"caret,omitempty"`
	StatementIndex int           `json:"statement_index,omitempty"`
	StatementCount int           `json:"statement_count,omitempty"`
	Statement      string        `json:"statement,omitempty"`
	NotRun         *int          `json:"not_run,omitempty"`
	Committed      bool          `json:"committed,omitempty"`
	Results        []exec.Result `json:"results,omitempty"`
}

func (s *api) statements(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := s.serveStatements(w, r)
	s.requests.WithLabelValues(code).Inc()
	s.latency.Observe(time.Since(start).Seconds())
}

// serveStatements answers one request and returns its outcome code.
func (s *api) serveStatements(w http.ResponseWriter, r *http.Request) string {
	user, code := s.authenticate(w, r)
	if code != "" {
		return code
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxStatementBytes+1))
	if err != nil {
		return writeErr(w, http.StatusBadRequest, APIError{Code: "BAD_REQUEST", Message: "read body: " + err.Error()})
	}
	if len(body) > MaxStatementBytes {
		return writeErr(w, http.StatusRequestEntityTooLarge, APIError{Code: "TOO_LARGE", Message: fmt.Sprintf("statements larger than %d bytes", MaxStatementBytes)})
	}
	sql := string(body)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var req StatementsRequest
		if err := json.Unmarshal(body, &req); err != nil {
			return writeErr(w, http.StatusBadRequest, APIError{Code: "BAD_REQUEST", Message: "body is not JSON {\"sql\": \"...\"}: " + err.Error()})
		}
		sql = req.SQL
	}
	results, err := s.exec.Execute(r.Context(), exec.Principal{Kind: policy.PrincipalUser, Name: user.Name}, sql)
	if err != nil {
		status, apiErr := classify(err, sql)
		apiErr.Results = results
		if status == http.StatusInternalServerError {
			s.log.Error("statements", "user", user.Name, "statement", apiErr.StatementIndex, "of", apiErr.StatementCount, "err", err)
		}
		return writeErr(w, status, apiErr)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(StatementsResponse{Results: results})
	return "OK"
}

// classify maps an execution error to an HTTP status and an API error,
// located at the failing statement if there is one.
func classify(err error, sql string) (int, APIError) {
	status, e := classifyCause(err, sql)
	var se *exec.StatementError
	if errors.As(err, &se) {
		notRun := se.NotRun()
		e.StatementIndex, e.StatementCount, e.Statement, e.NotRun, e.Committed = se.Index, se.Count, se.Statement, &notRun, se.Committed
		e.Line, e.Column, e.Caret = se.Pos.Line, se.Pos.Col, se.Pos.Caret(sql)
	}
	return status, e
}

// classifyCause maps the cause of an execution error to a status and an
// API error.
func classifyCause(err error, sql string) (int, APIError) {
	var pe *sqlparse.ParseError
	var de *exec.DeniedError
	var ue *exec.UnsupportedError
	switch {
	case errors.As(err, &pe):
		return http.StatusBadRequest, APIError{Code: "SYNTAX_ERROR", Message: err.Error(), Line: pe.Line, Column: pe.Col, Caret: pe.Caret(sql)}
	case errors.As(err, &de):
		return http.StatusForbidden, APIError{Code: "PERMISSION_DENIED", Message: err.Error()}
	case errors.As(err, &ue):
		return http.StatusNotImplemented, APIError{Code: "UNSUPPORTED", Message: err.Error()}
	case errors.Is(err, exec.ErrTooManyStatements):
		return http.StatusBadRequest, APIError{Code: "TOO_MANY_STATEMENTS", Message: err.Error()}
	case errors.Is(err, catalog.ErrNotFound):
		return http.StatusNotFound, APIError{Code: "NOT_FOUND", Message: err.Error()}
	case errors.Is(err, catalog.ErrExists):
		return http.StatusConflict, APIError{Code: "ALREADY_EXISTS", Message: err.Error()}
	case errors.Is(err, catalog.ErrConflict):
		// Concurrent changes from other servers, retried until given up.
		return http.StatusConflict, APIError{Code: "CONFLICT", Message: err.Error()}
	case errors.Is(err, catalog.ErrInvalid), errors.Is(err, catalog.ErrNotEmpty), errors.Is(err, catalog.ErrInUse), errors.Is(err, catalog.ErrCycle):
		return http.StatusBadRequest, APIError{Code: "INVALID", Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return 499, APIError{Code: "CANCELED", Message: "request canceled"}
	}
	return http.StatusInternalServerError, APIError{Code: "INTERNAL", Message: "internal error; see the server log"}
}

func writeErr(w http.ResponseWriter, status int, e APIError) string {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(ErrorBody{Error: e})
	return e.Code + "/" + strconv.Itoa(status)
}

// BootstrapUser is the user Bootstrap creates (users and roles share one
// namespace, so it cannot be called admin like the role it holds).
const BootstrapUser = "sluice_admin"

// Bootstrap makes sure the BootstrapUser, holding the admin role, exists. With
// token set, that becomes the admin's token (so an operator can choose it,
// e.g. SLUICE_BOOTSTRAP_TOKEN); otherwise a new admin gets a fresh token,
// returned once. An existing admin keeps its token when token is empty:
// token is returned empty then.
func Bootstrap(ctx context.Context, cat *catalog.Catalog, token string) (issued string, err error) {
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		issued = ""
		_, err := tx.GetUser(BootstrapUser)
		switch {
		case errors.Is(err, catalog.ErrNotFound):
			_, tok, err := tx.CreateUser(catalog.User{Name: BootstrapUser})
			if err != nil {
				return err
			}
			if _, err := tx.GrantRole(catalog.AdminRole, BootstrapUser); err != nil {
				return err
			}
			issued = tok
		case err != nil:
			return err
		}
		if token != "" {
			issued = ""
			return tx.SetUserToken(BootstrapUser, token)
		}
		return nil
	})
	return issued, err
}
