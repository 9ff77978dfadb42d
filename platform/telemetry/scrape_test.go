package telemetry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/meterflow/meterflow/platform/telemetry"
)

func TestReadAtScrape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		read func(context.Context) (float64, error)
		want float64
	}{
		{"value", func(context.Context) (float64, error) { return 42, nil }, 42},
		{"zero is a value", func(context.Context) (float64, error) { return 0, nil }, 0},
		{"failed read", func(context.Context) (float64, error) { return 0, errors.New("down") }, -1},
		{"bounded read", func(ctx context.Context) (float64, error) {
			dl, ok := ctx.Deadline()
			if !ok || time.Until(dl) > telemetry.ScrapeTimeout {
				return 0, errors.New("no scrape deadline")
			}
			return 1, nil
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := telemetry.ReadAtScrape(tc.read)()
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
