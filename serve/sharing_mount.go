package serve

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/sluice-io/sluice/catalog"
	"github.com/sluice-io/sluice/deltawriter/objstore"
	"github.com/sluice-io/sluice/policy"
	"github.com/sluice-io/sluice/serve/config"
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

// mountSharing mounts the Delta Sharing protocol at SharingPath and the
// file endpoint of local tables at FilesPath, configured by cfg's sharing
// section (its file URL key, or keys kept in its data directory) with
// publicURL (scheme, host, optional path prefix) as the base of the file
// URLs of local tables. Recipients authenticate with their Sluice token
// (catalog.RecipientTokenPrefix) or, with sharing.jwt set, a JWT naming
// them; every request is decided by pol and audited to audit (may be nil).
func (s *api) mountSharing(cat *catalog.Catalog, pol *policy.Engine, cfg config.Config, publicURL string, audit policy.Sink) error {
	base := strings.TrimRight(publicURL, "/")
	if base == "" {
		return errors.New("sharing: a public URL is required (the base of file URLs)")
	}
	files, err := fileurl.OpenSigner(cfg.DataDir, cfg.Sharing.FileURLKey, base+FilesPath)
	if err != nil {
		return fmt.Errorf("sharing: file URL signer: %w", err)
	}
	tokenKey, err := sharingTokenKey(cfg.DataDir, cfg.Sharing.FileURLKey)
	if err != nil {
		return err
	}
	proxies, err := cfg.Sharing.TrustedProxyPrefixes()
	if err != nil {
		return fmt.Errorf("sharing: trusted proxies: %w", err)
	}
	cat.SetMaxTokenLifetime(cfg.Sharing.MaxTokenLifetime)
	auth := recipientAuth{cat: cat, tokens: sharing.BearerTokens{Tokens: cat, TrustedProxies: proxies}}
	if jwt := cfg.Sharing.JWT; jwt.JWKSURL != "" {
		opts := []jwtauth.Option{jwtauth.WithIssuer(jwt.Issuer), jwtauth.WithAudience(jwt.Audience),
			jwtauth.WithLogger(s.log), jwtauth.WithMetrics(s.reg)}
		if jwt.RecipientClaim != "" {
			opts = append(opts, jwtauth.WithRecipientClaim(jwt.RecipientClaim))
		}
		if jwt.Skew > 0 {
			opts = append(opts, jwtauth.WithSkew(jwt.Skew))
		}
		if auth.jwt, err = jwtauth.New(jwt.JWKSURL, opts...); err != nil {
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
	if d := cfg.Sharing.URLLifetime; d > 0 {
		opts = append(opts, sharing.WithURLLifetime(d))
	}
	opts = append(opts, sharing.WithAsyncThreshold(cfg.Sharing.AsyncThreshold))
	if audit != nil {
		opts = append(opts, sharing.WithAuditSink(audit))
	}
	if ep := cfg.Storage.S3PublicEndpoint; ep != "" {
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
func sharingTokenKey(dataDir, fileURLKey string) ([]byte, error) {
	if fileURLKey != "" {
		k, err := fileurl.ParseKey(fileURLKey)
		if err != nil {
			return nil, fmt.Errorf("sharing: file URL key: %w", err)
		}
		return append([]byte("sluice-page-tokens:"), k...), nil
	}
	k, err := fileurl.LoadOrCreateKey(filepath.Join(dataDir, "sharing-tokens.key"))
	if err != nil {
		return nil, fmt.Errorf("sharing: page token key: %w", err)
	}
	return k, nil
}

// recipientAuth tells a Sluice recipient token (by its prefix) from an
// identity provider's JWT, and checks each its own way.
type recipientAuth struct {
	cat    *catalog.Catalog
	tokens sharing.BearerTokens
	jwt    *jwtauth.Verifier // nil: tokens only
}

// Authenticate implements sharing.Authenticator.
func (a recipientAuth) Authenticate(r *http.Request) (string, error) {
	tok, ok := sharing.BearerToken(r)
	if !ok || strings.HasPrefix(tok, catalog.RecipientTokenPrefix) || a.jwt == nil {
		return a.tokens.Authenticate(r)
	}
	id, err := a.jwt.Verify(r.Context(), tok)
	switch {
	case errors.Is(err, jwtauth.ErrInvalidToken):
		return "", sharing.Unauthenticated(err.Error())
	case err != nil:
		return "", fmt.Errorf("verify JWT: %w", err)
	}
	// The recipient's ip_allow list holds for JWTs too. One the catalog
	// does not know has no list; it is shown nothing further on.
	var rc catalog.Recipient
	err = a.cat.View(r.Context(), func(tx *catalog.Tx) (err error) { rc, err = tx.GetRecipient(id.Recipient); return err })
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return id.Recipient, nil
	case err != nil:
		return "", fmt.Errorf("recipient of a JWT: %w", err)
	}
	return id.Recipient, a.tokens.CheckAddr(r, rc)
}
