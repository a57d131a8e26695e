package service

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/eventnotify/notify/infra/transport/httpapi/auth"
)

// metricsScrapeTimeout bounds the position and head reads of one scrape.
const metricsScrapeTimeout = time.Second

// logAuth says which authentication is on, never a secret: counts, issuer and audience.
func logAuth(cfg Config, logger *slog.Logger) {
	if !cfg.AuthConfigured() {
		logger.Warn("no authentication configured: every caller may send, and read and change every inbox; serving on loopback only unless --insecure")
	} else {
		j := cfg.Auth.JWT
		logger.Info("authentication on", "api_keys", len(cfg.Auth.APIKeys), "tokens_hs256", len(j.Secret) > 0, "tokens_jwks_file", len(j.JWKS) > 0, "tokens_jwks_url", auth.RedactURL(j.JWKSURL),
			"token_issuer", j.Issuer, "token_audience", j.Audience)
	}
	if cfg.RateLimit > 0 {
		logger.Info("rate limit", "per_second", cfg.RateLimit, "burst", cfg.RateBurst, "request_timeout", cfg.RequestTimeout.String())
	}
}

// listenPprof binds the profiling endpoint; the server is served by Run.
func listenPprof(addr string) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen pprof on %s: %w", addr, err)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln, nil
}
