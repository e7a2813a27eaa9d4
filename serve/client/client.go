// Package client talks to a Sluice server as the sluice commands do: it
// posts SQL to the statements API and renders the answer for a terminal
// (RunSQL), applies folders of SQL files (Apply), stores the recipient
// profiles an answer holds in owner-only files, and checks a server's
// health (Healthcheck).
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sluice-io/sluice/serve"
)

// Client posts statements to one server with one token.
type Client struct {
	server string
	token  string
	http   *http.Client
}

// New returns a client of server (its base URL) authenticating with
// token; caFile, if not empty, is a PEM file of the certificate
// authorities to trust for an https server instead of the system's.
func New(server, token, caFile string) (*Client, error) {
	c := &http.Client{Timeout: 5 * time.Minute}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", caFile)
		}
		c.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return &Client{server: strings.TrimRight(server, "/"), token: token, http: c}, nil
}

// Answer is the server's answer to a statements request.
type Answer struct {
	StatusCode int    // HTTP status
	Status     string // e.g. "200 OK"
	Body       []byte // the JSON body
}

// Post sends sql to the statements API and returns the answer, whatever
// its status; an error is a failure to reach the server or read it.
func (c *Client) Post(ctx context.Context, sql string) (Answer, error) {
	body, _ := json.Marshal(serve.StatementsRequest{SQL: sql})
	req, err := http.NewRequestWithContext(ctx, "POST", c.server+"/api/v1/statements", bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return Answer{}, fmt.Errorf("server %s: %w", c.server, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, fmt.Errorf("server %s: %w", c.server, err)
	}
	return Answer{StatusCode: resp.StatusCode, Status: resp.Status, Body: raw}, nil
}
