package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/fileurl"
	"github.com/sluice-io/sluice/serve/jwtauth"
	"github.com/sluice-io/sluice/serve/sharing"
)

// SharingPath is where the Delta Sharing protocol is served; a recipient
// profile's endpoint is <public URL>/delta-sharing/.
const SharingPath = sharing.DefaultPrefix

// FilesPath is where files of shared local-disk tables are served, by
// signed URL.
const FilesPath = "/files/"

// SharingConfig configures the Delta Sharing endpoint of the server.
type SharingConfig struct {
	// PublicURL is the URL recipients reach this server at (scheme, host,
	// optional path prefix): the base of the file URLs of local tables.
	PublicURL string
	// DataDir keeps the generated signing keys (0600) when FileURLKey is
	// empty.
	DataDir string
	// FileURLKey is the hex HMAC key of file URLs (and page tokens), for
	// several servers behind one name; empty: generated in DataDir.
	FileURLKey string
	// URLLifetime is the lifetime of file URLs (default 15 min).
	URLLifetime time.Duration
	// JWT, when JWKSURL is set, also accepts JWTs of an identity provider
	// as recipient credentials.
	JWT JWTConfig
	// Audit receives a record of every sharing request (may be nil).
	Audit policy.Sink
	// S3PublicEndpoint, when set, is the endpoint URL the pre-signed URLs of
	// S3 tables are signed for, instead of the one the server reaches the
	// store at (for a store behind another name inside a container network).
	S3PublicEndpoint string
}

// JWTConfig configures recipient authentication by an identity provider's
// JWTs.
type JWTConfig struct {
	JWKSURL        string
	Issuer         string
	Audience       string
	RecipientClaim string        // default "sub"
	Skew           time.Duration // default 1 min
}

// EnableSharing mounts the Delta Sharing protocol at SharingPath and the
// file endpoint of local tables at FilesPath. Recipients authenticate with
// their Sluice token (catalog.RecipientTokenPrefix) or, with cfg.JWT set,
// a JWT naming them; every request is decided by pol and audited.
func (s *Server) EnableSharing(cat *catalog.Catalog, pol *policy.Engine, cfg SharingConfig) error {
	base := strings.TrimRight(cfg.PublicURL, "/")
	if base == "" {
		return errors.New("sharing: a public URL is required (the base of file URLs)")
	}
	files, err := fileurl.OpenSigner(cfg.DataDir, cfg.FileURLKey, base+FilesPath)
	if err != nil {
		return fmt.Errorf("sharing: file URL signer: %w", err)
	}
	tokenKey, err := sharingTokenKey(cfg)
	if err != nil {
		return err
	}
	auth := recipientAuth{tokens: sharing.BearerTokens{Tokens: cat}}
	if cfg.JWT.JWKSURL != "" {
		opts := []jwtauth.Option{jwtauth.WithIssuer(cfg.JWT.Issuer), jwtauth.WithAudience(cfg.JWT.Audience),
			jwtauth.WithLogger(s.log), jwtauth.WithMetrics(s.reg)}
		if cfg.JWT.RecipientClaim != "" {
			opts = append(opts, jwtauth.WithRecipientClaim(cfg.JWT.RecipientClaim))
		}
		if cfg.JWT.Skew > 0 {
			opts = append(opts, jwtauth.WithSkew(cfg.JWT.Skew))
		}
		if auth.jwt, err = jwtauth.New(cfg.JWT.JWKSURL, opts...); err != nil {
			return fmt.Errorf("sharing: JWT authentication: %w", err)
		}
	}
	opts := []sharing.Option{
		sharing.WithAuthenticator(auth),
		sharing.WithSigner(sharing.StoreSigner{Local: files}),
		sharing.WithTokenKey(tokenKey),
		sharing.WithLogger(s.log),
		sharing.WithRegisterer(s.reg),
	}
	if cfg.URLLifetime > 0 {
		opts = append(opts, sharing.WithURLLifetime(cfg.URLLifetime))
	}
	if cfg.Audit != nil {
		opts = append(opts, sharing.WithAuditSink(cfg.Audit))
	}
	if ep := cfg.S3PublicEndpoint; ep != "" {
		opts = append(opts, sharing.WithStoreOpener(func(ctx context.Context, uri string) (objstore.Store, error) {
			return objstore.Open(ctx, uri, objstore.WithS3Options(objstore.WithPresignEndpoint(ep)))
		}))
	}
	h, err := sharing.NewHandler(cat, pol, opts...)
	if err != nil {
		return err
	}
	s.sharing = h // before the mux: see guard
	s.extra = append(s.extra,
		route{files.Pattern(), files.Handler(fileurl.SharedTables(cat), fileurl.WithLogger(s.log), fileurl.WithMetrics(s.reg))})
	return nil
}

// sharingTokenKey is the key of page and refresh tokens: derived from the
// configured file URL key, or kept in the data dir, so tokens survive a
// restart and hold across servers sharing one configuration.
func sharingTokenKey(cfg SharingConfig) ([]byte, error) {
	if cfg.FileURLKey != "" {
		k, err := fileurl.ParseKey(cfg.FileURLKey)
		if err != nil {
			return nil, fmt.Errorf("sharing: file URL key: %w", err)
		}
		return append([]byte("sluice-page-tokens:"), k...), nil
	}
	k, err := fileurl.LoadOrCreateKey(filepath.Join(cfg.DataDir, "sharing-tokens.key"))
	if err != nil {
		return nil, fmt.Errorf("sharing: page token key: %w", err)
	}
	return k, nil
}

// recipientAuth tells a Sluice recipient token (by its prefix) from an
// identity provider's JWT, and checks each its own way.
type recipientAuth struct {
	tokens sharing.BearerTokens
	jwt    *jwtauth.Verifier // nil: tokens only
}

// unauthenticated is a 401 whose message is safe to show.
type unauthenticated string

func (e unauthenticated) Error() string { return string(e) }
func (e unauthenticated) Unwrap() error { return sharing.ErrUnauthenticated }

// Authenticate implements sharing.Authenticator.
func (a recipientAuth) Authenticate(r *http.Request) (string, error) {
	tok, ok := sharing.BearerToken(r)
	if !ok || strings.HasPrefix(tok, catalog.RecipientTokenPrefix) || a.jwt == nil {
		return a.tokens.Authenticate(r)
	}
	id, err := a.jwt.Verify(r.Context(), tok)
	switch {
	case errors.Is(err, jwtauth.ErrInvalidToken):
		return "", unauthenticated(err.Error())
	case err != nil:
		return "", fmt.Errorf("verify JWT: %w", err)
	}
	return id.Recipient, nil
}
