package app_test

import (
	"testing"
)

// TestOperationalMetrics: identity exports its pool's use and its build,
// under the names the alerts and dashboards use (docs/runbooks).
func TestOperationalMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mfs, err := b.app.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"db_pool_max_conns", "db_pool_acquired_conns", "db_pool_total_conns", "db_pool_empty_acquire_wait_seconds_total", "meterflow_build_info"} {
		if !have[name] {
			t.Errorf("identity does not export %s", name)
		}
	}
}
