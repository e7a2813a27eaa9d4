package jwtauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The tests sign and publish keys with the standard library only, so they
// do not trust the library under test to produce what it then accepts.

var b64 = base64.RawURLEncoding

type testKey struct {
	kid string
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
}

func rsaKey(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, rsa: k}
}

func ecKey(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, ec: k}
}

// jwk renders the public key as a JWK, with extra members.
func (k testKey) jwk(extra map[string]string) map[string]string {
	m := map[string]string{"kid": k.kid}
	if k.rsa != nil {
		m["kty"], m["n"], m["e"] = "RSA", b64.EncodeToString(k.rsa.N.Bytes()), b64.EncodeToString(big.NewInt(int64(k.rsa.E)).Bytes())
	} else {
		x, y := k.ec.X.FillBytes(make([]byte, 32)), k.ec.Y.FillBytes(make([]byte, 32))
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64.EncodeToString(x), b64.EncodeToString(y)
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// sign makes a compact JWS of claims with header alg and kid, signed by k
// (or, for HS256, with secret; for none, unsigned).
func sign(t testing.TB, alg, kid string, k testKey, secret []byte, claims map[string]any) string {
	t.Helper()
	hdr, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "JWT"})
	body, _ := json.Marshal(claims)
	input := b64.EncodeToString(hdr) + "." + b64.EncodeToString(body)
	var sig []byte
	var err error
	switch alg {
	case "none":
	case "HS256":
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "RS256":
		h := sha256.Sum256([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, h[:])
	case "RS384":
		h := sha512.Sum384([]byte(input))
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA384, h[:])
	case "ES256":
		h := sha256.Sum256([]byte(input))
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k.ec, h[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	default:
		t.Fatalf("alg %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// jwksServer serves a JWKS that the test can change, counting requests.
type jwksServer struct {
	*httptest.Server
	mu     sync.Mutex
	keys   []map[string]string
	status int
	hits   int
}

func newJWKSServer(t testing.TB, keys ...map[string]string) *jwksServer {
	s := &jwksServer{keys: keys, status: 200}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.hits++
		w.WriteHeader(s.status)
		json.NewEncoder(w).Encode(map[string]any{"keys": s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, keys ...map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.keys = status, keys
}

const (
	issuer   = "https://idp.example.com/"
	audience = "sluice-sharing"
)

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	rs, es, other := rsaKey(t, "rsa-1"), ecKey(t, "ec-1"), rsaKey(t, "rsa-x")
	srv := newJWKSServer(t, rs.jwk(map[string]string{"use": "sig"}), es.jwk(map[string]string{"alg": "ES256"}))
	reg := prometheus.NewRegistry()
	v, err := New(srv.URL+"/jwks", WithIssuer(issuer), WithAudience(audience), WithRecipientClaim("sharing_recipient"),
		WithSkew(time.Minute), WithClock(func() time.Time { return now }), WithMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": issuer, "aud": []string{"other", audience}, "sub": "svc-42", "sharing_recipient": "acme",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: must(x509.MarshalPKIXPublicKey(&rs.rsa.PublicKey))})
	good := sign(t, "RS256", "rsa-1", rs, nil, claims(nil))
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"`+issuer+`","aud":"`+audience+`","sharing_recipient":"evil","exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name, token string
		recipient   string // "" when refused
	}{
		{"RS256", good, "acme"},
		{"ES256", sign(t, "ES256", "ec-1", es, nil, claims(nil)), "acme"},
		{"aud as a string", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["aud"] = audience })), "acme"},
		{"wrong issuer", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["iss"] = "https://evil/" })), ""},
		{"wrong audience", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["aud"] = "other" })), ""},
		{"no audience", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { delete(c, "aud") })), ""},
		{"expired within the skew", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["exp"] = now.Add(-30 * time.Second).Unix() })), "acme"},
		{"expired beyond the skew", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), ""},
		{"no expiry", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { delete(c, "exp") })), ""},
		{"nbf ahead within the skew", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["nbf"] = now.Add(30 * time.Second).Unix() })), "acme"},
		{"nbf ahead beyond the skew", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["nbf"] = now.Add(2 * time.Minute).Unix() })), ""},
		{"no recipient claim", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { delete(c, "sharing_recipient") })), ""},
		{"recipient claim not a string", sign(t, "RS256", "rsa-1", rs, nil, claims(func(c map[string]any) { c["sharing_recipient"] = 42 })), ""},
		{"tampered claims", tampered, ""},
		{"signed by a key not in the JWKS", sign(t, "RS256", "rsa-1", other, nil, claims(nil)), ""},
		{"alg none", sign(t, "none", "rsa-1", rs, nil, claims(nil)), ""},
		{"alg none without kid", sign(t, "none", "", rs, nil, claims(nil)), ""},
		{"HS256 keyed with the RSA public key", sign(t, "HS256", "rsa-1", rs, pubPEM, claims(nil)), ""},
		{"HS256 keyed with the JWK modulus", sign(t, "HS256", "rsa-1", rs, rs.rsa.N.Bytes(), claims(nil)), ""},
		{"RS256 header naming the EC key", sign(t, "RS256", "ec-1", rs, nil, claims(nil)), ""},
		{"ES256 header naming the RSA key", sign(t, "ES256", "rsa-1", es, nil, claims(nil)), ""},
		{"RS384 is not allowed by default", sign(t, "RS384", "rsa-1", rs, nil, claims(nil)), ""},
		{"no kid with two keys", sign(t, "RS256", "", rs, nil, claims(nil)), ""},
		{"garbage", "not.a.token", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token)
			if tt.recipient == "" {
				if !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("accepted (%+v, %v), want ErrInvalidToken", id, err)
				}
				if strings.Contains(err.Error(), tt.token) && tt.token != "" {
					t.Errorf("error holds the token: %v", err)
				}
				return
			}
			if err != nil || id.Recipient != tt.recipient || id.Issuer != issuer || id.Subject != "svc-42" {
				t.Fatalf("Verify = %+v, %v; want recipient %s", id, err, tt.recipient)
			}
		})
	}
	// All from one fetch: the token without kid, unknown, came within the
	// minimum interval of it.
	if srv.hits != 1 || v.Fetches() != 1 {
		t.Errorf("JWKS fetched %d times (server saw %d), want 1", v.Fetches(), srv.hits)
	}
	var ok, invalid int
	for _, tt := range tests {
		if tt.recipient != "" {
			ok++
		} else {
			invalid++
		}
	}
	want := fmt.Sprintf("sluice_jwtauth_verifications_total{outcome=\"invalid\"} %d\nsluice_jwtauth_verifications_total{outcome=\"ok\"} %d\n", invalid, ok)
	if got := metricLines(t, reg, "sluice_jwtauth_verifications_total"); got != want {
		t.Errorf("metrics:\n%s\nwant\n%s", got, want)
	}
}

// TestKeyRotation: a token signed by a key the cached JWKS does not hold
// makes one refresh per minimum interval; once the provider publishes it,
// the next refresh picks it up. A failed refresh keeps the keys held.
func TestKeyRotation(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	k1, k2 := ecKey(t, "k1"), ecKey(t, "k2")
	srv := newJWKSServer(t, k1.jwk(nil))
	v, err := New(srv.URL, WithIssuer(issuer), WithAudience(audience), WithMinRefreshInterval(time.Minute),
		WithRefreshInterval(time.Hour), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	token := func(k testKey) string {
		return sign(t, "ES256", k.kid, k, nil, map[string]any{"iss": issuer, "aud": audience, "sub": "acme", "exp": now.Add(time.Hour).Unix()})
	}
	verify := func(tok string) error { _, err := v.Verify(context.Background(), tok); return err }

	steps := []struct {
		name    string
		advance time.Duration
		publish []testKey // nil: leave the JWKS as it is
		status  int       // of the JWKS server from now on (0: 200)
		token   testKey
		ok      bool
		fetches int // total, after the step
	}{
		{"first use fetches", 0, nil, 0, k1, true, 1},
		{"unknown kid a second after the first fetch: no refresh yet", time.Second, nil, 0, k2, false, 1},
		{"provider rotates: within the interval no new fetch", 10 * time.Second, []testKey{k1, k2}, 0, k2, false, 1},
		{"after the interval the refresh finds the key", time.Minute, nil, 0, k2, true, 2},
		{"the old key still works while published", 0, nil, 0, k1, true, 2},
		{"the JWKS goes stale and its server fails: keys kept", time.Hour, nil, 500, k2, true, 3},
		{"the provider drops k1, refreshed after the hour", 2 * time.Hour, []testKey{k2}, 0, k1, false, 4},
		{"made-up key IDs within the interval cost no fetch", 30 * time.Second, nil, 0, ecKey(t, "made-up"), false, 4},
		{"the rotated key still works", 0, nil, 0, k2, true, 4},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		if st.publish != nil || st.status != 0 {
			keys := []map[string]string{}
			if st.publish == nil {
				keys = srv.keys
			}
			for _, k := range st.publish {
				keys = append(keys, k.jwk(nil))
			}
			status := st.status
			if status == 0 {
				status = 200
			}
			srv.set(status, keys...)
		}
		err := verify(token(st.token))
		if (err == nil) != st.ok {
			t.Errorf("%s: err = %v, want ok %v", st.name, err, st.ok)
		}
		if got := v.Fetches(); got != st.fetches {
			t.Errorf("%s: %d fetches, want %d", st.name, got, st.fetches)
		}
	}
}

func TestUnavailableAndConfig(t *testing.T) {
	srv := newJWKSServer(t)
	srv.set(503)
	v, err := New(srv.URL, WithIssuer(issuer), WithAudience(audience))
	if err != nil {
		t.Fatal(err)
	}
	k := ecKey(t, "k")
	tok := sign(t, "ES256", "k", k, nil, map[string]any{"iss": issuer, "aud": audience, "sub": "a", "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
		t.Errorf("JWKS down: err = %v, want ErrUnavailable", err)
	}
	priv := k.jwk(map[string]string{"d": b64.EncodeToString(k.ec.D.FillBytes(make([]byte, 32)))})
	srv.set(200, priv)
	v, _ = New(srv.URL, WithIssuer(issuer), WithAudience(audience))
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnavailable) {
		t.Errorf("JWKS with a private key: err = %v, want ErrUnavailable (refused)", err)
	}

	for name, c := range map[string]struct {
		url  string
		opts []Option
	}{
		"no issuer":        {srv.URL, []Option{WithAudience(audience)}},
		"no audience":      {srv.URL, []Option{WithIssuer(issuer)}},
		"plain http":       {"http://idp.example.com/jwks", []Option{WithIssuer(issuer), WithAudience(audience)}},
		"HS256 allowed":    {srv.URL, []Option{WithIssuer(issuer), WithAudience(audience), WithAlgorithms("HS256")}},
		"none allowed":     {srv.URL, []Option{WithIssuer(issuer), WithAudience(audience), WithAlgorithms("none")}},
		"no algorithm":     {srv.URL, []Option{WithIssuer(issuer), WithAudience(audience), WithAlgorithms()}},
		"empty claim name": {srv.URL, []Option{WithIssuer(issuer), WithAudience(audience), WithRecipientClaim("")}},
	} {
		if _, err := New(c.url, c.opts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// metricLines renders the series of one metric as "name{labels} value"
// lines.
func metricLines(t *testing.T, reg *prometheus.Registry, name string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			fmt.Fprintf(&b, "%s{%s} %v\n", name, strings.Join(labels, ","), m.GetCounter().GetValue())
		}
	}
	return b.String()
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// FuzzVerify: no input panics, and none but the genuine token verifies.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	k := ecKey(f, "k")
	srv := newJWKSServer(f, k.jwk(nil))
	v, err := New(srv.URL, WithIssuer(issuer), WithAudience(audience), WithClock(func() time.Time { return now }))
	if err != nil {
		f.Fatal(err)
	}
	good := sign(f, "ES256", "k", k, nil, map[string]any{"iss": issuer, "aud": audience, "sub": "acme", "exp": now.Add(time.Hour).Unix()})
	f.Add(good)
	f.Add(sign(f, "none", "k", k, nil, map[string]any{"iss": issuer, "aud": audience, "sub": "acme", "exp": now.Add(time.Hour).Unix()}))
	f.Add("eyJhbGciOiJFUzI1NiJ9..")
	f.Fuzz(func(t *testing.T, token string) {
		id, err := v.Verify(context.Background(), token)
		if err == nil && !sameDecoded(token, good) {
			t.Fatalf("verified a forged token %q: %+v", token, id)
		}
	})
}

// sameDecoded reports whether two compact tokens decode to the same header,
// payload and signature (base64url may spell the same bytes two ways).
func sameDecoded(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range pa {
		da, err1 := b64.DecodeString(pa[i])
		db, err2 := b64.DecodeString(pb[i])
		if err1 != nil || err2 != nil || string(da) != string(db) {
			return false
		}
	}
	return true
}

// TestConcurrentFetch: callers arriving while the first fetch runs wait for
// it (one fetch for all); once keys are held, a hanging refresh holds up
// only the caller that started it.
func TestConcurrentFetch(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	k := ecKey(t, "k")
	var (
		mu      sync.Mutex
		hits    int
		release = make(chan struct{})
		started = make(chan struct{}, 10)
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		n := hits
		mu.Unlock()
		started <- struct{}{}
		if n == 1 {
			time.Sleep(200 * time.Millisecond) // slow first answer
		} else {
			<-release // the refresh hangs until released
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{k.jwk(nil)}})
	}))
	defer srv.Close()
	defer close(release)
	v, err := New(srv.URL, WithIssuer(issuer), WithAudience(audience), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, "ES256", "k", k, nil, map[string]any{"iss": issuer, "aud": audience, "sub": "acme", "exp": now.Add(3 * time.Hour).Unix()})

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent first use: %v", err)
		}
	}
	if v.Fetches() != 1 {
		t.Fatalf("%d fetches for 8 concurrent callers, want 1", v.Fetches())
	}
	<-started

	now = now.Add(2 * time.Hour) // the set is stale: the next caller refreshes
	go v.Verify(context.Background(), tok)
	<-started // the refresh is hanging now
	res := make(chan error, 1)
	go func() { _, err := v.Verify(context.Background(), tok); res <- err }()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("during a hanging refresh: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a caller with a cached key waits for a hanging refresh")
	}
}

// BenchmarkVerify: one verification with the JWKS cached.
func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			k := ecKey(b, "k")
			if alg == "RS256" {
				k = rsaKey(b, "k")
			}
			srv := newJWKSServer(b, k.jwk(nil))
			v, err := New(srv.URL, WithIssuer(issuer), WithAudience(audience))
			if err != nil {
				b.Fatal(err)
			}
			tok := sign(b, alg, "k", k, nil, map[string]any{"iss": issuer, "aud": audience, "sub": "acme", "exp": now.Add(time.Hour).Unix()})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
