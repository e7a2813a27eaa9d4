// Package jwtauth authenticates Delta Sharing recipients by JWTs from an
// external identity provider (as an API gateway in front issues them):
// RS256 or ES256 signatures checked against the provider's JWKS, issuer,
// audience, expiry and not-before with a clock skew, and the recipient
// named by a configurable claim.
//
// The JWKS is fetched on first use, cached, refreshed when older than the
// refresh interval and, at most once per minimum interval, when a token
// names a key ID the cache does not hold (the provider rotated its keys).
// A failed refresh keeps the keys already held.
//
// Only the algorithms allowed (RS256 and ES256 by default) are accepted,
// each with a key of its own type: "none", HMAC with a public key as the
// secret, and a key of another type or with another declared "alg" are
// refused. Signature checking and claim validation are done by
// github.com/lestrrat-go/jwx/v3, which the binary already holds through
// OPA; the algorithm policy and key selection are ours.
//
// Use, in the sharing server: a bearer credential starting with
// catalog.RecipientTokenPrefix is a Sluice recipient token; any other is
// given to Verify, and Identity.Recipient names the catalog recipient it
// acts as (ErrInvalidToken: 401; ErrUnavailable: 503).
//
//	v, err := jwtauth.New("https://idp.example.com/.well-known/jwks.json",
//		jwtauth.WithIssuer("https://idp.example.com/"), jwtauth.WithAudience("sluice-sharing"),
//		jwtauth.WithRecipientClaim("sharing_recipient"), jwtauth.WithMetrics(reg))
//	id, err := v.Verify(ctx, bearer)
package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the options.
const (
	DefaultRecipientClaim     = "sub"
	DefaultSkew               = time.Minute
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = time.Minute
	// MaxJWKSBytes bounds a JWKS document.
	MaxJWKSBytes = 1 << 20
	// MaxTokenBytes bounds a token.
	MaxTokenBytes = 16 << 10
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
)

// ErrInvalidToken is wrapped by every error of Verify that is the token's
// fault (bad signature, claims, algorithm, unknown key): answer 401. Its
// message is for the server log; it never holds the token.
var ErrInvalidToken = errors.New("invalid token")

// ErrUnavailable is wrapped when the JWKS cannot be fetched and no key is
// held: answer 503.
var ErrUnavailable = errors.New("identity provider keys unavailable")

// Identity is what a verified token says.
type Identity struct {
	// Recipient is the value of the recipient claim.
	Recipient string
	Subject   string
	Issuer    string
	Expires   time.Time
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithIssuer sets the required "iss" (required).
func WithIssuer(iss string) Option { return func(v *Verifier) { v.issuer = iss } }

// WithAudience sets the audience the "aud" claim must hold (required).
func WithAudience(aud string) Option { return func(v *Verifier) { v.audience = aud } }

// WithRecipientClaim names the string claim holding the recipient's name
// (default "sub").
func WithRecipientClaim(name string) Option { return func(v *Verifier) { v.claim = name } }

// WithSkew sets the clock skew tolerated on exp, nbf and iat (default one
// minute).
func WithSkew(d time.Duration) Option { return func(v *Verifier) { v.skew = d } }

// WithAlgorithms sets the signature algorithms accepted, among RS256,
// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 (default RS256 and
// ES256).
func WithAlgorithms(algs ...string) Option { return func(v *Verifier) { v.algNames = algs } }

// WithHTTPClient sets the client fetching the JWKS (default: 10 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(v *Verifier) { v.client = c } }

// WithRefreshInterval sets how old the cached JWKS may get before it is
// fetched again (default one hour).
func WithRefreshInterval(d time.Duration) Option { return func(v *Verifier) { v.refresh = d } }

// WithMinRefreshInterval sets the least time between two fetches caused by
// unknown key IDs or failures (default one minute): a flood of tokens with
// made-up key IDs costs the provider one request per interval.
func WithMinRefreshInterval(d time.Duration) Option { return func(v *Verifier) { v.minRefresh = d } }

// WithClock replaces time.Now (for tests).
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithLogger logs JWKS refreshes and their failures.
func WithLogger(l *slog.Logger) Option { return func(v *Verifier) { v.log = l } }

// WithMetrics registers sluice_jwtauth_verifications_total{outcome} (ok,
// invalid, unavailable) and sluice_jwtauth_jwks_fetches_total{outcome} (ok,
// error) on reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(v *Verifier) {
		v.verifications = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "jwtauth", Name: "verifications_total",
			Help: "JWT verifications by outcome: ok, invalid, unavailable."}, []string{"outcome"})
		v.jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "sluice", Subsystem: "jwtauth", Name: "jwks_fetches_total",
			Help: "JWKS fetches by outcome: ok, error."}, []string{"outcome"})
		reg.MustRegister(v.verifications, v.jwksFetches)
	}
}

func count(c *prometheus.CounterVec, outcome string) {
	if c != nil {
		c.WithLabelValues(outcome).Inc()
	}
}

// Verifier verifies tokens. It is safe for concurrent use.
type Verifier struct {
	jwksURL                   string
	issuer, audience, claim   string
	skew, refresh, minRefresh time.Duration
	algNames                  []string
	algs                      map[string]jwa.SignatureAlgorithm
	client                    *http.Client
	now                       func() time.Time
	log                       *slog.Logger
	verifications             *prometheus.CounterVec // nil without WithMetrics
	jwksFetches               *prometheus.CounterVec

	mu          sync.Mutex
	keys        jwk.Set       // nil until the first successful fetch
	fetched     time.Time     // of keys
	lastAttempt time.Time     // of the last fetch, successful or not
	inflight    chan struct{} // closed when the fetch running ends; nil if none
	fetches     int
}

// supported are the algorithms WithAlgorithms may name.
var supported = map[string]jwa.SignatureAlgorithm{
	"RS256": jwa.RS256(), "RS384": jwa.RS384(), "RS512": jwa.RS512(),
	"PS256": jwa.PS256(), "PS384": jwa.PS384(), "PS512": jwa.PS512(),
	"ES256": jwa.ES256(), "ES384": jwa.ES384(), "ES512": jwa.ES512(),
}

// New returns a Verifier for the JWKS at jwksURL (https, or http on a
// loopback address). WithIssuer and WithAudience are required.
func New(jwksURL string, opts ...Option) (*Verifier, error) {
	v := &Verifier{jwksURL: jwksURL, claim: DefaultRecipientClaim, skew: DefaultSkew, refresh: DefaultRefreshInterval,
		minRefresh: DefaultMinRefreshInterval, algNames: []string{"RS256", "ES256"},
		client: &http.Client{Timeout: 10 * time.Second}, now: time.Now, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(v)
	}
	u, err := url.Parse(jwksURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return nil, fmt.Errorf("jwtauth: JWKS URL %q: want https://... (http only on a loopback address)", jwksURL)
	}
	if v.issuer == "" || v.audience == "" {
		return nil, errors.New("jwtauth: an issuer and an audience are required (WithIssuer, WithAudience): without them a token for another service would be accepted")
	}
	if v.claim == "" || v.skew < 0 || v.refresh <= 0 || v.minRefresh < 0 {
		return nil, errors.New("jwtauth: recipient claim empty, or a negative skew or refresh interval")
	}
	v.algs = map[string]jwa.SignatureAlgorithm{}
	for _, name := range v.algNames {
		a, ok := supported[name]
		if !ok {
			return nil, fmt.Errorf("jwtauth: algorithm %q not accepted: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or ES512", name)
		}
		v.algs[name] = a
	}
	if len(v.algs) == 0 {
		return nil, errors.New("jwtauth: no algorithm allowed")
	}
	return v, nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidToken}, args...)...)
}

// Verify checks a token (the bearer credential, without "Bearer ") and
// returns the identity it proves. Errors wrap ErrInvalidToken or
// ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (Identity, error) {
	id, err := v.verify(ctx, token)
	switch {
	case err == nil:
		count(v.verifications, "ok")
	case errors.Is(err, ErrUnavailable):
		count(v.verifications, "unavailable")
	default:
		count(v.verifications, "invalid")
	}
	return id, err
}

func (v *Verifier) verify(ctx context.Context, token string) (Identity, error) {
	if len(token) > MaxTokenBytes {
		return Identity{}, invalidf("token longer than %d bytes", MaxTokenBytes)
	}
	msg, err := jws.Parse([]byte(token), jws.WithCompact())
	if err != nil {
		return Identity{}, invalidf("not a compact JWS")
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return Identity{}, invalidf("want one signature, found %d", len(sigs))
	}
	hdr := sigs[0].ProtectedHeaders()
	algHdr, _ := hdr.Algorithm()
	alg, ok := v.algs[algHdr.String()]
	if !ok {
		return Identity{}, invalidf("algorithm %q not accepted", algHdr.String())
	}
	kid, _ := hdr.KeyID()
	key, err := v.key(ctx, kid)
	if err != nil {
		return Identity{}, err
	}
	pub, err := keyFor(alg, key)
	if err != nil {
		return Identity{}, err
	}
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKey(alg, pub),
		jwt.WithValidate(true),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(v.audience),
		jwt.WithAcceptableSkew(v.skew),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	)
	if err != nil {
		return Identity{}, invalidf("%v", err)
	}
	var id Identity
	if err := tok.Get(v.claim, &id.Recipient); err != nil || id.Recipient == "" {
		return Identity{}, invalidf("no string claim %q naming the recipient", v.claim)
	}
	id.Subject, _ = tok.Subject()
	id.Issuer, _ = tok.Issuer()
	id.Expires, _ = tok.Expiration()
	return id, nil
}

// keyFor checks that key may verify alg and returns its raw public key: an
// RSA key of at least MinRSABits for RS/PS, an EC key on the algorithm's
// curve for ES; a key declaring another "alg", or a "use" other than
// "sig", is refused.
func keyFor(alg jwa.SignatureAlgorithm, key jwk.Key) (any, error) {
	if a, ok := key.Algorithm(); ok && a.String() != alg.String() {
		return nil, invalidf("key declares algorithm %s, token uses %s", a, alg)
	}
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return nil, invalidf("key is for %q, not signatures", use)
	}
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, invalidf("unusable key: %v", err)
	}
	switch a := alg.String(); a[:2] {
	case "RS", "PS":
		pub, ok := raw.(*rsa.PublicKey)
		if !ok {
			return nil, invalidf("algorithm %s needs an RSA public key", a)
		}
		if pub.N.BitLen() < MinRSABits {
			return nil, invalidf("RSA key of %d bits: want at least %d", pub.N.BitLen(), MinRSABits)
		}
		return pub, nil
	case "ES":
		pub, ok := raw.(*ecdsa.PublicKey)
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[a]
		if !ok || pub.Curve != want {
			return nil, invalidf("algorithm %s needs an EC public key on %s", a, want.Params().Name)
		}
		return pub, nil
	}
	return nil, invalidf("algorithm %s not accepted", alg)
}

// key returns the key named kid (with no kid, the set's only key), fetching
// the JWKS when it is missing or stale, or when kid is unknown and the
// minimum interval has passed. One fetch runs at a time, without the lock:
// callers whose key is cached go on meanwhile (with the stale set, if need
// be); callers that need the new set wait for it.
func (v *Verifier) key(ctx context.Context, kid string) (jwk.Key, error) {
	for waited := false; ; waited = true {
		v.mu.Lock()
		now := v.now()
		var k jwk.Key
		found := false
		if v.keys != nil {
			k, found = lookup(v.keys, kid)
		}
		stale := v.keys == nil || now.Sub(v.fetched) >= v.refresh
		if found && (!stale || v.inflight != nil || !v.mayFetch(now)) {
			v.mu.Unlock()
			return k, nil
		}
		if wait := v.inflight; wait != nil && !waited {
			v.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if waited || !v.mayFetch(now) {
			keys := v.keys
			v.mu.Unlock()
			switch {
			case found:
				return k, nil
			case keys == nil:
				return nil, fmt.Errorf("%w: %s", ErrUnavailable, v.jwksURL)
			case kid == "":
				return nil, invalidf("token has no key ID (kid) and the JWKS holds %d keys", keys.Len())
			}
			return nil, invalidf("no key %q in the JWKS", kid)
		}
		done := make(chan struct{})
		v.inflight, v.lastAttempt = done, now
		v.fetches++
		v.mu.Unlock()
		v.fetch(ctx, now, done)
	}
}

func (v *Verifier) mayFetch(now time.Time) bool {
	return v.lastAttempt.IsZero() || now.Sub(v.lastAttempt) >= v.minRefresh
}

func lookup(set jwk.Set, kid string) (jwk.Key, bool) {
	if kid == "" {
		if set.Len() != 1 {
			return nil, false
		}
		return set.Key(0)
	}
	return set.LookupKeyID(kid)
}

// fetch downloads the JWKS and, if it succeeds, makes it the key set; on
// failure the keys held are kept. It ends the fetch in flight, done.
func (v *Verifier) fetch(ctx context.Context, now time.Time, done chan struct{}) {
	// The fetch serves every caller: one request giving up must not fail
	// it (and hold the next attempt back). The client's timeout bounds it.
	set, err := v.download(context.WithoutCancel(ctx))
	v.mu.Lock()
	if err == nil {
		v.keys, v.fetched = set, now
	}
	v.inflight = nil
	close(done)
	v.mu.Unlock()
	if err != nil {
		count(v.jwksFetches, "error")
		v.log.Warn("jwtauth: JWKS refresh failed; keeping the keys held", "url", v.jwksURL, "err", err)
		return
	}
	count(v.jwksFetches, "ok")
	v.log.Info("jwtauth: JWKS refreshed", "url", v.jwksURL, "keys", set.Len())
}

func (v *Verifier) download(ctx context.Context) (jwk.Set, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", v.jwksURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", MaxJWKSBytes)
	}
	set, err := jwk.Parse(body)
	if err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	for i := range set.Len() {
		k, _ := set.Key(i)
		if private, err := jwk.IsPrivateKey(k); err == nil && private {
			return nil, errors.New("JWKS holds a private key: refusing it (the provider publishes its private keys)")
		}
	}
	return set, nil
}

// Fetches reports how many times the JWKS was fetched (for metrics and
// tests).
func (v *Verifier) Fetches() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.fetches
}
