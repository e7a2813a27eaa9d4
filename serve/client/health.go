package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Healthcheck checks that the server at u is up: GET u (u/healthz when u
// has no path) answers 200 within timeout. A file:///PATH URL is healthy
// when the file exists. It returns the line to show: the target and its
// answer.
func Healthcheck(ctx context.Context, u string, timeout time.Duration) (string, error) {
	if path, ok := strings.CutPrefix(u, "file://"); ok {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("not healthy: %w", err)
		}
		return path + ": exists", nil
	}
	target, err := healthURL(u)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return "", fmt.Errorf("%s: %w", target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s: not healthy: %w", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: not healthy: %s %s", target, resp.Status, strings.TrimSpace(string(body)))
	}
	return target + ": " + strings.TrimSpace(string(body)), nil
}

// healthURL is u, or u/healthz when u has no path.
func healthURL(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", fmt.Errorf("healthcheck %q: want an http(s) URL such as http://127.0.0.1:8080", u)
	}
	if p.Path == "" || p.Path == "/" {
		p.Path = "/healthz"
	}
	return p.String(), nil
}
