package serve

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/exec"
)

// guardServer is a server with sharing enabled, a user token and a
// recipient token.
func guardServer(t *testing.T) (url, userToken, recipientToken string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cat, err := catalog.OpenSQLite(filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, userToken, err = tx.CreateUser(catalog.User{Name: "ann"}); err != nil {
			return err
		}
		_, recipientToken, err = tx.CreateRecipient(catalog.Recipient{Name: "acme"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(ctx, policy.WithSink(&policy.MemorySink{}))
	if err != nil {
		t.Fatal(err)
	}
	s := newAPI(cat, exec.New(cat, pol), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.mountSharing(cat, pol, configIn(dir), "http://sluice.test", nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.handler())
	t.Cleanup(srv.Close)
	return srv.URL, userToken, recipientToken
}

// TestAuthenticationBeforeRouting: a request under /api/ or
// /delta-sharing/ without a valid token is 401 whatever its path and
// method, dot segments included (the mux would redirect those, 307, before
// any token check); with a valid token such a path is a clean 400, and an
// unknown one 404 or 405 (as is a path that is under /delta-sharing only
// once cleaned), never a redirect.
func TestAuthenticationBeforeRouting(t *testing.T) {
	base, userTok, recTok := guardServer(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(t *testing.T, method, path, token string) int {
		t.Helper()
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tt := range []struct {
		method, path string
		recipient    bool // the area's credential is a recipient's token
		authed       int  // the status with a valid token
	}{
		{"GET", "/delta-sharing/shares/../../x", true, 400},
		{"GET", "/delta-sharing/shares/%2e%2e/%2e%2e/x", true, 400},
		{"GET", "/delta-sharing/../api/v1/statements", true, 400},
		{"GET", "/delta-sharing//shares", true, 400},
		{"GET", "/delta-sharing/shares/./p", true, 400},
		{"GET", "/delta-sharing", true, 404},
		{"GET", "/delta-sharing/nope", true, 404},
		{"POST", "/delta-sharing/shares", true, 405},
		{"GET", "/x/../delta-sharing/shares", true, 404}, // not under the prefix as sent
		{"POST", "/api/v1/../v1/statements", false, 400},
		{"POST", "/api//v1/statements", false, 400},
		{"GET", "/api/v1/statements", false, 405},
		{"GET", "/api/nope", false, 404},
		{"GET", "/api", false, 404},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			good, other := userTok, recTok
			if tt.recipient {
				good, other = recTok, userTok
			}
			for _, tok := range []string{"", "wrong", other} {
				if got := do(t, tt.method, tt.path, tok); got != http.StatusUnauthorized {
					t.Errorf("token %q: status %d, want 401", tok, got)
				}
			}
			if got := do(t, tt.method, tt.path, good); got != tt.authed {
				t.Errorf("valid token: status %d, want %d", got, tt.authed)
			}
		})
	}
	// Outside the two areas the mux routes as before.
	if got := do(t, "GET", "/healthz", ""); got != 200 {
		t.Errorf("/healthz: %d", got)
	}
}

// TestOneBearerParser: the statements API and the Delta Sharing endpoint
// read the Authorization header alike (one parser): the scheme in any
// case, spaces around the token ignored, an empty token or another scheme
// is a missing token, and both answer 401 with the same reason.
func TestOneBearerParser(t *testing.T) {
	base, userTok, recTok := guardServer(t)
	for _, tc := range []struct {
		name, header string // %s: the endpoint's token
		status       int
		reason       string
	}{
		{"Bearer", "Bearer %s", 200, ""},
		{"lower case", "bearer %s", 200, ""},
		{"upper case and spaces", "BEARER   %s  ", 200, ""},
		{"empty token", "Bearer    ", 401, "missing bearer token"},
		{"no token", "", 401, "missing bearer token"},
		{"basic", "Basic YWNtZTpwdw==", 401, "missing bearer token"},
		{"wrong token", "Bearer slu_nope", 401, "invalid"},
	} {
		for _, ep := range []struct{ method, path, token string }{
			{"POST", "/api/v1/statements", userTok},
			{"GET", "/delta-sharing/shares", recTok},
		} {
			t.Run(tc.name+" "+ep.path, func(t *testing.T) {
				var body io.Reader
				if ep.method == "POST" {
					body = strings.NewReader("SHOW DATABASES")
				}
				req, _ := http.NewRequest(ep.method, base+ep.path, body)
				req.Header.Set("Content-Type", "text/plain")
				if tc.header != "" {
					h := tc.header
					if strings.Contains(h, "%s") {
						h = fmt.Sprintf(h, ep.token)
					}
					req.Header.Set("Authorization", h)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != tc.status || !strings.Contains(string(raw), tc.reason) {
					t.Fatalf("%s %s with %q: %d %s; want %d %q", ep.method, ep.path, tc.header, resp.StatusCode, raw, tc.status, tc.reason)
				}
			})
		}
	}
}
