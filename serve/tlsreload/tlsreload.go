// Package tlsreload serves TLS with a certificate and key read from files,
// reloaded when the files change (a renewal by cert-manager or certbot
// needs no restart), with TLS 1.2 as the minimum version.
//
// The files are checked at most once per interval, on a handshake: no
// goroutine, no file watcher. A pair that fails to load (half written,
// mismatched) is logged and the certificate in use is kept.
package tlsreload

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultInterval is how often the files are checked for a change.
const DefaultInterval = 10 * time.Second

// Option configures a Reloader.
type Option func(*Reloader)

// WithInterval sets how often the files are checked (default
// DefaultInterval; 0 checks on every handshake).
func WithInterval(d time.Duration) Option { return func(r *Reloader) { r.interval = d } }

// WithLogger logs reloads and failed ones.
func WithLogger(l *slog.Logger) Option { return func(r *Reloader) { r.log = l } }

// WithClock replaces time.Now (for tests).
func WithClock(now func() time.Time) Option { return func(r *Reloader) { r.now = now } }

// Reloader holds the certificate of a pair of PEM files. It is safe for
// concurrent use.
type Reloader struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	sum       [sha256.Size]byte // of the files the certificate came from
	lastCheck time.Time
}

// New loads the certificate and key (PEM) and returns a Reloader serving
// them. The files must load now: a server does not start without its
// certificate.
func New(certFile, keyFile string, opts ...Option) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, interval: DefaultInterval, log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(r)
	}
	if _, err := r.reload(); err != nil {
		return nil, err
	}
	r.lastCheck = r.now()
	return r, nil
}

// reload reads the pair and, if its content changed, makes it the
// certificate served. The files are compared by content: renewed files
// may keep their size and, on coarse file systems, their time.
func (r *Reloader) reload() (changed bool, err error) {
	certPEM, err := os.ReadFile(r.certFile)
	if err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	keyPEM, err := os.ReadFile(r.keyFile)
	if err != nil {
		return false, fmt.Errorf("tls: %w", err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if r.cert != nil && sum == r.sum {
		return false, nil
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("tls: load certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	if c.Leaf != nil && r.now().After(c.Leaf.NotAfter) {
		r.log.Warn("tls: the certificate has expired", "file", r.certFile, "notAfter", c.Leaf.NotAfter)
	}
	r.cert, r.sum = &c, sum
	return true, nil
}

// GetCertificate is tls.Config.GetCertificate: the current certificate,
// reloaded first if the files changed.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if now.Sub(r.lastCheck) >= r.interval {
		r.lastCheck = now
		switch changed, err := r.reload(); {
		case err != nil:
			r.log.Error("tls: reload failed; keeping the certificate in use", "err", err)
		case changed:
			r.log.Info("tls: certificate reloaded", "file", r.certFile)
		}
	}
	return r.cert, nil
}

// Config returns a server TLS configuration: TLS 1.2 at least, the
// certificate from GetCertificate, HTTP/2 and HTTP/1.1.
func (r *Reloader) Config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
}

// SelfSigned returns a new self-signed ECDSA P-256 certificate and its key,
// PEM-encoded, valid for a day for hosts (DNS names or IP addresses): for
// tests and trials on one machine, never for recipients.
func SelfSigned(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sluice self-signed"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
