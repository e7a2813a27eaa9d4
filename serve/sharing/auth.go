package sharing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"

	"github.com/sluice-io/sluice/catalog"
)

// ErrUnauthenticated is wrapped by an Authenticator's error when the request
// carries no valid credential; the server answers 401 with its message. It
// is catalog.ErrUnauthenticated, the one such error of Sluice: a token the
// catalog refuses needs no translation.
var ErrUnauthenticated = catalog.ErrUnauthenticated

// Authenticator says which recipient a request comes from.
type Authenticator interface {
	// Authenticate returns the recipient's name, or an error wrapping
	// ErrUnauthenticated (401; its text is shown to the client, so it must
	// hold no secret), the name and an error wrapping ErrForbidden (403,
	// shown too: a known recipient refused, e.g. by its ip_allow list) or
	// another error (500).
	Authenticate(r *http.Request) (recipient string, err error)
}

// RecipientTokens looks recipient tokens up; *catalog.Catalog implements it.
type RecipientTokens interface {
	AuthenticateRecipient(ctx context.Context, token string) (catalog.Recipient, error)
}

// BearerTokens authenticates "Authorization: Bearer <token>" against the
// catalog's recipient tokens (stored hashed, compared in constant time,
// refused once expired), then checks the client's address against the
// recipient's ip_allow list (catalog.IPAllowProperty).
type BearerTokens struct {
	Tokens RecipientTokens
	// TrustedProxies are the peers whose X-Forwarded-For is believed (see
	// ClientAddr); none: the connection's peer is the client.
	TrustedProxies []netip.Prefix
}

// Authenticate implements Authenticator. A recipient connecting from an
// address its ip_allow list does not hold gets its name and an error
// wrapping ErrForbidden.
func (b BearerTokens) Authenticate(r *http.Request) (string, error) {
	tok, ok := BearerToken(r)
	if !ok {
		return "", Unauthenticated("missing bearer token: send Authorization: Bearer <token> (the bearerToken of your profile file)")
	}
	rc, err := b.Tokens.AuthenticateRecipient(r.Context(), tok)
	if err != nil {
		return "", err
	}
	return rc.Name, b.CheckAddr(r, rc)
}

// CheckAddr refuses, with an error wrapping ErrForbidden, a request of rc
// from an address its ip_allow list does not hold (nil without a list).
func (b BearerTokens) CheckAddr(r *http.Request, rc catalog.Recipient) error {
	if _, listed := rc.Properties[catalog.IPAllowProperty]; !listed {
		return nil
	}
	addr, ok := ClientAddr(r, b.TrustedProxies)
	if ok && rc.AllowsIP(addr) {
		return nil
	}
	return Forbidden(fmt.Sprintf("recipient %s may not connect from %s: not in its ip_allow list (ask the provider to add it: ALTER RECIPIENT %s SET ('ip_allow' = ...))",
		rc.Name, addrText(addr, ok), rc.Name))
}

func addrText(a netip.Addr, ok bool) string {
	if !ok {
		return "an unknown address"
	}
	return a.String()
}

// ClientAddr is the address of the client of r: the connection's peer,
// unless the peer is one of trusted, in which case X-Forwarded-For is read
// from the right, skipping trusted proxies, and the first other address
// is the client's (one a client wrote itself, left of its first proxy, is
// never believed). false when no address can be read.
func ClientAddr(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = peer.Addr().Unmap()
	} else if addr, err = netip.ParseAddr(r.RemoteAddr); err != nil {
		return netip.Addr{}, false
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if !isTrusted(addr) {
		return addr, true
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false // garbled by a proxy we trust: fail closed
		}
		if addr = a.Unmap(); !isTrusted(addr) {
			return addr, true
		}
	}
	return addr, true // every hop a trusted proxy: the leftmost one asked
}

// ErrForbidden is wrapped by an Authenticator's error when the recipient
// is known but may not connect (its ip_allow list): 403, its text shown.
var ErrForbidden = errors.New("forbidden")

type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return e.msg }
func (e *forbiddenError) Unwrap() error { return ErrForbidden }

// Forbidden is an error wrapping ErrForbidden with msg, shown to the
// client.
func Forbidden(msg string) error { return &forbiddenError{msg} }

type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return ErrUnauthenticated }

// Unauthenticated is an error wrapping ErrUnauthenticated with msg, which
// is shown to the client (so it must hold no secret).
func Unauthenticated(msg string) error { return &authError{msg} }

// BearerToken returns the token of the request's Authorization header
// ("Bearer <token>", the scheme in any case); false without one. It is the
// one bearer parser of the server: the statements API and the Delta Sharing
// endpoint both use it.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	t := strings.TrimSpace(h[len(p):])
	return t, t != ""
}
