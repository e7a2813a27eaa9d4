package sharing

import (
	"context"
	"net/http"
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
	// hold no secret) or another error (500).
	Authenticate(r *http.Request) (recipient string, err error)
}

// RecipientTokens looks recipient tokens up; *catalog.Catalog implements it.
type RecipientTokens interface {
	AuthenticateRecipient(ctx context.Context, token string) (catalog.Recipient, error)
}

// BearerTokens authenticates "Authorization: Bearer <token>" against the
// catalog's recipient tokens (stored hashed, compared in constant time,
// refused once expired).
type BearerTokens struct {
	Tokens RecipientTokens
}

// Authenticate implements Authenticator.
func (b BearerTokens) Authenticate(r *http.Request) (string, error) {
	tok, ok := BearerToken(r)
	if !ok {
		return "", Unauthenticated("missing bearer token: send Authorization: Bearer <token> (the bearerToken of your profile file)")
	}
	rc, err := b.Tokens.AuthenticateRecipient(r.Context(), tok)
	if err != nil {
		return "", err
	}
	return rc.Name, nil
}

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
