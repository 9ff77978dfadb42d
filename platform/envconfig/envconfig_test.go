package envconfig

import (
	"testing"
	"time"
)

func TestReaders(t *testing.T) {
	const name = "ENVCONFIG_TEST_VALUE"
	tests := []struct {
		name    string
		value   *string // nil: unset
		read    func() (any, error)
		want    any
		wantErr bool
	}{
		{"string unset", nil, func() (any, error) { return String(name, "d"), nil }, "d", false},
		{"string empty", ptr(""), func() (any, error) { return String(name, "d"), nil }, "d", false},
		{"string set", ptr("x"), func() (any, error) { return String(name, "d"), nil }, "x", false},
		{"or-empty unset", nil, func() (any, error) { return StringOrEmpty(name, "d"), nil }, "d", false},
		{"or-empty empty", ptr(""), func() (any, error) { return StringOrEmpty(name, "d"), nil }, "", false},
		{"duration unset", nil, func() (any, error) { return Duration(name, time.Second) }, time.Second, false},
		{"duration set", ptr("2m"), func() (any, error) { return Duration(name, time.Second) }, 2 * time.Minute, false},
		{"duration zero", ptr("0"), func() (any, error) { return Duration(name, time.Second) }, time.Duration(0), true},
		{"duration negative", ptr("-1s"), func() (any, error) { return Duration(name, time.Second) }, time.Duration(0), true},
		{"duration garbage", ptr("soon"), func() (any, error) { return Duration(name, time.Second) }, time.Duration(0), true},
		{"or-zero zero", ptr("0"), func() (any, error) { return DurationOrZero(name, time.Second) }, time.Duration(0), false},
		{"or-zero negative", ptr("-1s"), func() (any, error) { return DurationOrZero(name, time.Second) }, time.Duration(0), true},
		{"positive int", ptr("7"), func() (any, error) { return PositiveInt(name, 1) }, int64(7), false},
		{"positive int zero", ptr("0"), func() (any, error) { return PositiveInt(name, 1) }, int64(0), true},
		{"non-negative zero", ptr("0"), func() (any, error) { return NonNegativeInt(name, 1) }, 0, false},
		{"non-negative negative", ptr("-1"), func() (any, error) { return NonNegativeInt(name, 1) }, 0, true},
		{"uint fits", ptr("255"), func() (any, error) { return PositiveUint(name, 1, 8) }, uint64(255), false},
		{"uint too big", ptr("256"), func() (any, error) { return PositiveUint(name, 1, 8) }, uint64(0), true},
		{"uint zero", ptr("0"), func() (any, error) { return PositiveUint(name, 1, 8) }, uint64(0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.value != nil {
				t.Setenv(name, *tt.value)
			}
			got, err := tt.read()
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %v, %v; want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func ptr(s string) *string { return &s }
