package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/meterflow/meterflow/platform/database"
	"github.com/meterflow/meterflow/platform/telemetry"
)

// reportedStates are the job states river_queue_jobs reports: the jobs
// still to be worked. Completed, cancelled and discarded jobs are history.
var reportedStates = []string{"available", "running", "retryable", "scheduled"}

// queueMetrics reads the job table at scrape: river_queue_jobs{queue,state}
// and river_queue_oldest_available_age_seconds{queue}, what the queue
// backlog and stalled-queue alerts use (docs/runbooks). Every queue this
// process works is reported with zeros when it is empty, so an alert sees
// 0 rather than no series.
type queueMetrics struct {
	mu     sync.Mutex // one scrape at a time fills the vectors
	pool   *pgxpool.Pool
	queues []string
	jobs   *prometheus.GaugeVec
	oldest *prometheus.GaugeVec
}

// RegisterMetrics registers the River queue metrics of the database
// behind pool on reg; queues are the queues the process works, reported
// at zero when empty.
func RegisterMetrics(reg prometheus.Registerer, pool *pgxpool.Pool, queues ...string) error {
	m := &queueMetrics{
		pool:   pool,
		queues: queues,
		jobs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "river_queue_jobs",
			Help: "River jobs per queue and state (available, running, retryable, scheduled), read at scrape.",
		}, []string{"queue", "state"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "river_queue_oldest_available_age_seconds",
			Help: "How long the oldest job due for a worker (available, or retryable whose retry time has come) of each queue has been waiting (now - scheduled_at); 0 when none waits. Read at scrape.",
		}, []string{"queue"}),
	}
	return reg.Register(m)
}

// Describe implements prometheus.Collector.
func (m *queueMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.jobs.Describe(ch)
	m.oldest.Describe(ch)
}

// Collect implements prometheus.Collector. When the database does not
// answer, the queue metrics are left out of the scrape (the database
// alerts say why), rather than reported as an empty queue.
func (m *queueMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), telemetry.ScrapeTimeout)
	defer cancel()
	counts, ages, err := m.read(ctx)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs.Reset()
	m.oldest.Reset()
	for _, q := range m.queues {
		for _, st := range reportedStates {
			m.jobs.WithLabelValues(q, st)
		}
		m.oldest.WithLabelValues(q)
	}
	for k, n := range counts {
		m.jobs.WithLabelValues(k[0], k[1]).Set(float64(n))
	}
	for q, age := range ages {
		m.oldest.WithLabelValues(q).Set(max(0, age))
	}
	m.jobs.Collect(ch)
	m.oldest.Collect(ch)
}

// dueJobs selects the jobs waiting for a worker: available ones, and
// retryable ones whose retry time has come (River's scheduler makes them
// available within seconds).
const dueJobs = `(state = 'available' OR (state = 'retryable' AND scheduled_at <= now()))`

// OldestDue returns how long the oldest job of queue due for a worker has
// waited for one (0 when none waits): the age river_queue_oldest_available_age_seconds
// reports, for a service's own gauge of one queue.
func OldestDue(ctx context.Context, q database.Querier, queue string) (time.Duration, error) {
	var age float64
	err := q.QueryRow(ctx, `SELECT coalesce(extract(epoch FROM now() - min(scheduled_at)), 0)::float8 FROM river_job WHERE queue = $1 AND `+dueJobs, queue).Scan(&age)
	if err != nil {
		return 0, fmt.Errorf("jobs: oldest due job of %s: %w", queue, err)
	}
	return time.Duration(max(0, age) * float64(time.Second)), nil
}

// read counts the jobs per queue and state and the age of each queue's
// oldest available job (River's fetch index covers both).
func (m *queueMetrics) read(ctx context.Context) (map[[2]string]int64, map[string]float64, error) {
	counts := map[[2]string]int64{}
	rows, err := m.pool.Query(ctx, `SELECT queue, state::text, count(*) FROM river_job WHERE state = ANY($1::river_job_state[]) GROUP BY queue, state`, reportedStates)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var q, st string
		var n int64
		if err := rows.Scan(&q, &st, &n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		counts[[2]string{q, st}] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	ages := map[string]float64{}
	rows, err = m.pool.Query(ctx, `SELECT queue, extract(epoch FROM now() - min(scheduled_at))::float8 FROM river_job WHERE `+dueJobs+` GROUP BY queue`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var q string
		var age float64
		if err := rows.Scan(&q, &age); err != nil {
			return nil, nil, err
		}
		ages[q] = age
	}
	return counts, ages, rows.Err()
}
