package sharing

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sluice-io/sluice/catalog"
)

// ErrUnauthenticated is wrapped by an Authenticator's error when the request
// carries no valid credential; the server answers 401 with its message.
var ErrUnauthenticated = errors.New("unauthenticated")

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
		return "", unauthenticated("missing bearer token: send Authorization: Bearer <token> (the bearerToken of your profile file)")
	}
	rc, err := b.Tokens.AuthenticateRecipient(r.Context(), tok)
	if errors.Is(err, catalog.ErrUnauthenticated) {
		return "", unauthenticated(err.Error())
	}
	if err != nil {
		return "", err
	}
	return rc.Name, nil
}

type authError struct{ msg string }

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error { return ErrUnauthenticated }

func unauthenticated(msg string) error { return &authError{msg} }

// BearerToken returns the token of the request's Authorization header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	t := strings.TrimSpace(h[len(p):])
	return t, t != ""
}
