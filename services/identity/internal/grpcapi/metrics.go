package grpcapi

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the identity service's business counters.
type Metrics struct {
	logins  *prometheus.CounterVec
	signups prometheus.Counter
	refresh *prometheus.CounterVec
	reuse   prometheus.Counter
}

// NewMetrics registers the counters on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_logins_total", Help: "Login attempts by result: success, invalid, throttled, busy (no hashing slot in time), error.",
		}, []string{"result"}),
		signups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "identity_signups_total", Help: "Users created by sign-up.",
		}),
		refresh: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "identity_refreshes_total", Help: "Refresh-token rotations by result: success, invalid, error.",
		}, []string{"result"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "identity_refresh_reuse_detections_total", Help: "Rotated refresh tokens presented again; each revoked a login family.",
		}),
	}
	reg.MustRegister(m.logins, m.signups, m.refresh, m.reuse)
	return m
}
