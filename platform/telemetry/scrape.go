package telemetry

import (
	"context"
	"time"
)

// ScrapeTimeout bounds the database reads of one scrape: the metrics
// computed at scrape (backlogs, open holds, queue ages) answer within it
// or are reported as unknown.
const ScrapeTimeout = 2 * time.Second

// ReadAtScrape returns the function of a prometheus.GaugeFunc or
// CounterFunc whose value read reads, at each scrape, from the database,
// within ScrapeTimeout. A failed read (the database did not answer) gives
// -1, which no count or age can be, so a dashboard tells it apart from an
// empty queue.
func ReadAtScrape(read func(context.Context) (float64, error)) func() float64 {
	return func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
		defer cancel()
		v, err := read(ctx)
		if err != nil {
			return -1
		}
		return v
	}
}
