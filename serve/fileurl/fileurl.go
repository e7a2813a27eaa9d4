// Package fileurl signs short-lived URLs to files of tables on local disk
// and serves them, so a Delta Sharing recipient reads the files over HTTP
// without any storage credential.
//
// A URL names a table root by an opaque ID (the table's catalog ID, say)
// and a file by its path relative to that root; the local directory never
// appears in it. It carries an expiry and an HMAC-SHA256 over the three:
//
//	<base>/<root-id>/<file path>?expires=<unix seconds>&X-Amz-Signature=<base64url HMAC>
//
// The signature parameter has the name S3's presigned URLs use because
// Delta Sharing clients decide by it whether a file URL is a presigned
// HTTP URL: delta-kernel (the connector's use_delta_format path) fetches a
// URL over HTTP only when its query carries X-Amz-Signature (or a cloud
// vendor's equivalent) and otherwise reads its path as a local file. The
// value is our HMAC, not an AWS signature.
//
// The Handler checks the signature (in constant time) and the expiry,
// validates every path component, resolves the root through a Resolver and
// serves the file with http.ServeContent (Range, If-Range, HEAD,
// Content-Length). It never lists a directory and never follows a symbolic
// link out of the root (os.Root). A tampered, malformed or expired URL gets
// 403 with a body naming no path.
//
// Use:
//
//	s, _ := fileurl.OpenSigner(dataDir, os.Getenv("SLUICE_FILE_URL_KEY"), publicURL+"/files/")
//	u, expires, _ := s.Sign(shareTable.TableID, "part-00000.parquet", time.Hour)
//	mux.Handle(s.Pattern(), s.Handler(fileurl.SharedTables(cat)))
//
// The root ID the sharing server signs with is then the table's catalog ID
// (catalog.ShareTable.TableID); a static Roots serves other cases.
package fileurl

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// KeyFile is the conventional name of the signing key file in the data
// directory.
const KeyFile = "fileurl.key"

// KeySize is the size of a generated key, and the minimum accepted.
const KeySize = 32

// MaxTTL bounds the lifetime of a signed URL.
const MaxTTL = 7 * 24 * time.Hour

// Query parameters of a signed URL.
const (
	ParamExpires   = "expires"
	ParamSignature = "X-Amz-Signature" // see the package doc for why this name
)

// version is mixed into the signed message, so a future format cannot be
// confused with this one.
const version = "sluice-fileurl-v1"

// maxPathBytes bounds the file path of a URL.
const maxPathBytes = 4096

// Errors of Verify. Every one is answered 403 by the Handler.
var (
	// ErrInvalid is a malformed URL: bad root ID, path component, expiry or
	// signature encoding.
	ErrInvalid = errors.New("fileurl: malformed URL")
	// ErrSignature is a URL whose signature does not match.
	ErrSignature = errors.New("fileurl: bad signature")
	// ErrExpired is a genuine URL past its expiry.
	ErrExpired = errors.New("fileurl: URL expired")
)

// Signer signs URLs and verifies them. It is safe for concurrent use.
type Signer struct {
	key  []byte
	base *url.URL // absolute, path ending in '/'
	now  func() time.Time
}

// Option configures a Signer.
type Option func(*Signer)

// WithClock replaces time.Now (for tests).
func WithClock(now func() time.Time) Option { return func(s *Signer) { s.now = now } }

// NewSigner returns a Signer with a secret key of at least KeySize bytes,
// issuing URLs under base, the absolute URL the Handler is reached at
// (https://sharing.example.com/files/).
func NewSigner(key []byte, base string, opts ...Option) (*Signer, error) {
	if len(key) < KeySize {
		return nil, fmt.Errorf("fileurl: signing key of %d bytes: want at least %d", len(key), KeySize)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("fileurl: base URL %q: want an absolute http(s) URL without query, such as https://host/files/", base)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	s := &Signer{key: append([]byte(nil), key...), base: u, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// OpenSigner returns a Signer for base whose key is keyHex when given (from
// configuration, e.g. $SLUICE_FILE_URL_KEY, so that several servers behind
// one name accept each other's URLs), or else the key file KeyFile in
// dataDir, created on first use.
func OpenSigner(dataDir, keyHex, base string, opts ...Option) (*Signer, error) {
	var key []byte
	var err error
	if keyHex != "" {
		key, err = ParseKey(keyHex)
	} else {
		key, err = LoadOrCreateKey(filepath.Join(dataDir, KeyFile))
	}
	if err != nil {
		return nil, err
	}
	return NewSigner(key, base, opts...)
}

// Pattern is the http.ServeMux pattern the Handler is to be mounted at: the
// base URL's path, "/files/" for https://host/files/.
func (s *Signer) Pattern() string { return s.base.Path }

// Sign returns a URL to file under the table root rootID, valid for ttl
// (at most MaxTTL), and when it expires (to the second). file is the path
// relative to the root, slash-separated and not URL-encoded: decode the
// path of a Delta add action first.
func (s *Signer) Sign(rootID, file string, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 || ttl > MaxTTL {
		return "", time.Time{}, fmt.Errorf("fileurl: ttl %v: want more than 0 and at most %v", ttl, MaxTTL)
	}
	if err := validRootID(rootID); err != nil {
		return "", time.Time{}, err
	}
	if err := ValidatePath(file); err != nil {
		return "", time.Time{}, err
	}
	exp := s.now().Add(ttl).Truncate(time.Second)
	u := *s.base
	u.Path = s.base.Path + rootID + "/" + file
	u.RawQuery = url.Values{
		ParamExpires:   {strconv.FormatInt(exp.Unix(), 10)},
		ParamSignature: {s.signature(rootID, file, exp.Unix())},
	}.Encode()
	return u.String(), exp.UTC(), nil
}

// signature is the base64url HMAC-SHA256 of the version, root, file and
// expiry, separated by newlines (which none of them can hold).
func (s *Signer) signature(rootID, file string, exp int64) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(rootID, file, exp))
}

func (s *Signer) mac(rootID, file string, exp int64) []byte {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s\n%s\n%s\n%d", version, rootID, file, exp)
	return m.Sum(nil)
}

// Ref is what a verified URL points at.
type Ref struct {
	RootID  string
	File    string // relative to the root, validated
	Expires time.Time
}

// Verify checks a request's decoded URL path (as in http.Request.URL.Path)
// and query: ErrInvalid, ErrSignature or ErrExpired (in that order of
// checks), or the file it names. The signature is compared in constant
// time; the expiry is checked only once the signature holds.
func (s *Signer) Verify(path string, query url.Values) (Ref, error) {
	return s.verify(s.base.Path, path, query)
}

// verify is Verify for a handler mounted at mount.
func (s *Signer) verify(mount, path string, query url.Values) (Ref, error) {
	rest, ok := strings.CutPrefix(path, mount)
	if !ok {
		return Ref{}, ErrInvalid
	}
	rootID, file, ok := strings.Cut(rest, "/")
	if !ok || validRootID(rootID) != nil || ValidatePath(file) != nil {
		return Ref{}, ErrInvalid
	}
	expires, sigs := query[ParamExpires], query[ParamSignature]
	if len(expires) != 1 || len(sigs) != 1 || len(expires[0]) > 19 {
		return Ref{}, ErrInvalid
	}
	exp, err := strconv.ParseInt(expires[0], 10, 64)
	if err != nil || exp <= 0 || strconv.FormatInt(exp, 10) != expires[0] {
		return Ref{}, ErrInvalid
	}
	sig, err := base64.RawURLEncoding.DecodeString(sigs[0])
	if err != nil || len(sig) != sha256.Size {
		return Ref{}, ErrInvalid
	}
	if !hmac.Equal(sig, s.mac(rootID, file, exp)) {
		return Ref{}, ErrSignature
	}
	expAt := time.Unix(exp, 0).UTC()
	if !s.now().Before(expAt) {
		return Ref{}, ErrExpired
	}
	return Ref{RootID: rootID, File: file, Expires: expAt}, nil
}

// validRootID accepts 1 to 128 ASCII letters, digits, '-' and '_' (a UUID).
func validRootID(id string) error {
	if id == "" || len(id) > 128 {
		return ErrInvalid
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return ErrInvalid
		}
	}
	return nil
}

// ValidatePath checks a file path relative to a table root: not empty, not
// absolute, at most 4096 bytes of valid UTF-8, and every slash-separated
// component non-empty, neither "." nor "..", without a backslash or a
// control character. It returns ErrInvalid (naming no path).
func ValidatePath(p string) error {
	if p == "" || len(p) > maxPathBytes || !utf8.ValidString(p) {
		return ErrInvalid
	}
	for comp := range strings.SplitSeq(p, "/") {
		if comp == "" || comp == "." || comp == ".." {
			return ErrInvalid
		}
		for _, r := range comp {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\\' {
				return ErrInvalid
			}
		}
	}
	return nil
}

// LoadOrCreateKey reads the signing key in path (hex), or creates it with
// KeySize random bytes and mode 0600 if it does not exist. An existing file
// readable by group or others is refused: the key lets anyone who holds it
// read every shared file.
func LoadOrCreateKey(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		key := make([]byte, KeySize)
		rand.Read(key) // never fails (crypto/rand, Go >= 1.24)
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("fileurl: write signing key %s: %w", path, werr)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("fileurl: create signing key %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("fileurl: signing key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("fileurl: signing key %s has mode %v: make it private with chmod 600", path, info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("fileurl: signing key: %w", err)
	}
	return ParseKey(string(raw))
}

// ParseKey decodes a key given in configuration: hex, at least KeySize
// bytes (64 hex digits); surrounding blanks are ignored.
func ParseKey(s string) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(key) < KeySize {
		return nil, fmt.Errorf("fileurl: signing key: want at least %d hex digits (as `openssl rand -hex %d` prints)", 2*KeySize, KeySize)
	}
	return key, nil
}
