package main

import (
	"net/http"

	"github.com/sluice-io/sluice/serve/config"
	"github.com/sluice-io/sluice/serve/httplimit"
)

// httpLimits are the limits of the http section. Probes are never shed.
func httpLimits(c config.HTTP) *httplimit.Limits {
	return httplimit.New(httplimit.Config{BodyTimeout: c.BodyTimeout, WriteIdleTimeout: c.WriteIdleTimeout,
		MaxConnections: c.MaxConnections, MaxConnectionsPerClient: c.MaxConnectionsPerClient,
		MaxInflight: c.MaxInflight, RetryAfter: c.RetryAfter, Exempt: []string{"/healthz", "/metrics"}})
}

// httpServer serves h under limits with the timeouts of the http section.
// It sets no ReadTimeout or WriteTimeout: they would bound a whole request
// and a whole answer, cutting long streamed /query answers; limits bounds
// the body and a stalled reader instead.
func httpServer(c config.HTTP, limits *httplimit.Limits, h http.Handler) *http.Server {
	return &http.Server{Handler: limits.Handler(h), ReadHeaderTimeout: c.ReadHeaderTimeout, IdleTimeout: c.IdleTimeout}
}
