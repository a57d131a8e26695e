package metrics

import "github.com/prometheus/client_golang/prometheus"

// JWKSRefreshFailures registers notify_auth_jwks_refresh_failures_total, at 0 from the
// start, and returns what counts one failure (auth.JWTConfig.OnRefreshError: a background
// refresh or an unknown-kid refetch of the JWKS URL that failed, the old keys kept). A nil
// registry returns nil.
func (r *Registry) JWKSRefreshFailures() func(error) {
	if r == nil {
		return nil
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Name: "auth_jwks_refresh_failures_total",
		Help: "Fetches of the JWKS URL after the first that failed; tokens are then verified with the keys fetched before.",
	})
	r.reg.MustRegister(c)
	return func(error) { c.Inc() }
}
