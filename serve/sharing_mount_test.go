package serve

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/serve/exec"
)

// testIdP is an identity provider: an RSA key and its JWKS endpoint.
type testIdP struct {
	key *rsa.PrivateKey
	srv *httptest.Server
}

func newTestIdP(t *testing.T) *testIdP {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(jwks) }))
	t.Cleanup(srv.Close)
	return &testIdP{key: key, srv: srv}
}

// token signs claims as an RS256 JWT with key k1.
func (p *testIdP) token(t *testing.T, claims map[string]any) string {
	b64 := base64.RawURLEncoding.EncodeToString
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"})
	c, _ := json.Marshal(claims)
	signing := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + b64(sig)
}

// TestSharingAuthentication: the mounted Delta Sharing endpoint takes
// a recipient's Sluice token and an identity provider's JWT naming the
// recipient, refuses bad credentials with 401, lists only the shares
// granted to the recipient named, and the file endpoint refuses unsigned
// URLs.
func TestSharingAuthentication(t *testing.T) {
	ctx := context.Background()
	cat, err := catalog.OpenSQLite(filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	var acmeToken, initechToken string
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		if _, err := tx.CreateShare(catalog.Share{Name: "partners"}); err != nil {
			return err
		}
		for _, r := range []string{"acme", "globex"} {
			_, tok, err := tx.CreateRecipient(catalog.Recipient{Name: r})
			if err != nil {
				return err
			}
			if r == "acme" {
				acmeToken = tok
			}
		}
		var err error
		_, initechToken, err = tx.CreateRecipient(catalog.Recipient{Name: "initech", Properties: map[string]string{catalog.IPAllowProperty: "192.0.2.0/24"}})
		if err != nil {
			return err
		}
		if _, err := tx.GrantShare("partners", "initech"); err != nil {
			return err
		}
		_, err = tx.GrantShare("partners", "acme")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	audit := &policy.MemorySink{}
	pol, err := policy.New(ctx, policy.WithSink(audit))
	if err != nil {
		t.Fatal(err)
	}
	idp := newTestIdP(t)
	s := newAPI(cat, exec.New(cat, pol), slog.New(slog.NewTextHandler(io.Discard, nil)))
	cfg := configIn(t.TempDir())
	cfg.Sharing.JWT = config.JWT{JWKSURL: idp.srv.URL, Issuer: "https://idp.test/", Audience: "sluice"}
	cfg.Sharing.MaxTokenLifetime = 24 * time.Hour
	cfg.Sharing.TrustedProxies = []string{"127.0.0.1"} // the test client's address: its X-Forwarded-For counts
	err = s.mountSharing(cat, pol, cfg, "http://sluice.test", audit)
	if err != nil {
		t.Fatal(err)
	}
	// The maximum lifetime reaches the catalog: a recipient without
	// token.ttl gets a token of a day.
	err = cat.Update(ctx, func(tx *catalog.Tx) error {
		rc, _, err := tx.CreateRecipient(catalog.Recipient{Name: "capped"})
		if err == nil && (len(rc.Tokens) != 1 || rc.Tokens[0].Expires.IsZero() || rc.Tokens[0].Expires.After(time.Now().Add(24*time.Hour))) {
			t.Errorf("token of capped: %+v, want one expiring within 24h", rc.Tokens)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.handler())
	defer srv.Close()

	jwt := func(sub, aud string, exp time.Duration) string {
		return idp.token(t, map[string]any{"iss": "https://idp.test/", "aud": aud, "sub": sub, "exp": time.Now().Add(exp).Unix()})
	}
	for _, tt := range []struct {
		name, token string
		status      int
		shares      []string
		xff         string // X-Forwarded-For
	}{
		// initech may connect from 192.0.2.0/24 only, with either credential.
		{"sluice token from outside ip_allow", initechToken, 403, nil, ""},
		{"JWT from outside ip_allow", jwt("initech", "sluice", time.Hour), 403, nil, "198.51.100.1"},
		{"sluice token through a trusted proxy", initechToken, 200, []string{"partners"}, "192.0.2.7"},
		{"JWT through a trusted proxy", jwt("initech", "sluice", time.Hour), 200, []string{"partners"}, "192.0.2.7"},
		{"sluice token", acmeToken, 200, []string{"partners"}, ""},
		{"JWT naming acme", jwt("acme", "sluice", time.Hour), 200, []string{"partners"}, ""},
		{"JWT naming a recipient without grants", jwt("globex", "sluice", time.Hour), 200, nil, ""},
		{"JWT for another audience", jwt("acme", "other", time.Hour), 401, nil, ""},
		{"expired JWT", jwt("acme", "sluice", -time.Hour), 401, nil, ""},
		{"tampered JWT", jwt("acme", "sluice", time.Hour) + "x", 401, nil, ""},
		{"unknown Sluice token", catalog.RecipientTokenPrefix + "nope", 401, nil, ""},
		{"no token", "", 401, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+SharingPath+"/shares", nil)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.status != 200 {
				if strings.Contains(string(body), tt.token) && tt.token != "" {
					t.Errorf("the error echoes the credential: %s", body)
				}
				return
			}
			var got struct{ Items []struct{ Name string } }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, it := range got.Items {
				names = append(names, it.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.shares, ",") {
				t.Errorf("shares %v, want %v", names, tt.shares)
			}
		})
	}
	resp, err := http.Get(srv.URL + FilesPath + "some-table/part-0.parquet?expires=9999999999&X-Amz-Signature=AAAA")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned file URL: status %d, want 403", resp.StatusCode)
	}
}
