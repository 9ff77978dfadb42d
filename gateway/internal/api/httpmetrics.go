package api

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// methodName is m as a string that outlives the request: the constant for
// the standard methods, else a copy.
func methodName(m string) string {
	for _, std := range standardMethods {
		if m == std {
			return std
		}
	}
	return strings.Clone(m)
}

var standardMethods = [...]string{
	fiber.MethodGet, fiber.MethodPost, fiber.MethodHead, fiber.MethodPut, fiber.MethodPatch,
	fiber.MethodDelete, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace,
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec

	// The series already used, so that a request finds its own without
	// formatting the status and hashing the labels (ADR 0023). Bounded
	// as the vectors are: routes are templates, methods Fiber's.
	mu        sync.RWMutex
	counters  map[requestSeries]prometheus.Counter
	latencies map[string]prometheus.Observer
}

type requestSeries struct {
	route, method string
	status        int
}

// record counts one answer and its time. method must outlive the
// request (methodName's): Prometheus and the map keep it.
func (m *httpMetrics) record(route, method string, status int, d time.Duration) {
	key := requestSeries{route: route, method: method, status: status}
	m.mu.RLock()
	counter, ok := m.counters[key]
	latency, ok2 := m.latencies[route]
	m.mu.RUnlock()
	if !ok || !ok2 {
		counter = m.requests.WithLabelValues(route, method, strconv.Itoa(status))
		latency = m.latency.WithLabelValues(route)
		m.mu.Lock()
		m.counters[key] = counter
		m.latencies[route] = latency
		m.mu.Unlock()
	}
	counter.Inc()
	latency.Observe(d.Seconds())
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route"}),
		counters:  map[requestSeries]prometheus.Counter{},
		latencies: map[string]prometheus.Observer{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
