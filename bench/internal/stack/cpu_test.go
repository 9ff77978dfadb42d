package stack

import "testing"

func TestBackendDB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		title string
		db    string
		ok    bool
	}{
		{"postgres: 15/main: postgres meterflow_bench_wallet 127.0.0.1(40412) idle", "meterflow_bench_wallet", true},
		{"postgres: postgres test_wallet_42 127.0.0.1(51000) UPDATE", "test_wallet_42", true},
		{"postgres: 15/main: app meterflow_wallet [local] idle in transaction (aborted)", "meterflow_wallet", true},
		{"postgres: 15/main: walwriter", "", false},
		{"postgres: 15/main: autovacuum worker meterflow_bench_wallet", "", false},
		{"/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.title, func(t *testing.T) {
			t.Parallel()
			db, ok := backendDB(tt.title)
			if db != tt.db || ok != tt.ok {
				t.Errorf("backendDB = %q, %v; want %q, %v", db, ok, tt.db, tt.ok)
			}
		})
	}
}
