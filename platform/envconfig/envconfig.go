// Package envconfig reads the settings every process takes from its
// environment: a default when a variable is unset, and an error naming the
// variable and what it accepts when it is set to something else.
package envconfig

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// String returns the variable, or def when it is unset or empty.
func String(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// StringOrEmpty returns the variable, or def only when it is unset: set to
// "" it stays empty (how an address setting is turned off).
func StringOrEmpty(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// Duration returns a positive duration such as 30s, or def when unset.
func Duration(name string, def time.Duration) (time.Duration, error) {
	return duration(name, def, false)
}

// DurationOrZero is Duration that also accepts 0 (which turns something off).
func DurationOrZero(name string, def time.Duration) (time.Duration, error) {
	return duration(name, def, true)
}

func duration(name string, def time.Duration, zeroOK bool) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		if zeroOK {
			return 0, fmt.Errorf("%s must be a duration such as 30s (0 turns it off), not %q", name, v)
		}
		return 0, fmt.Errorf("%s must be a positive duration such as 30s, not %q", name, v)
	}
	return d, nil
}

// PositiveInt returns an integer above zero, or def when unset.
func PositiveInt(name string, def int64) (int64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s must be a positive integer, not %q", name, v)
	}
	return n, nil
}

// NonNegativeInt returns an integer of zero or more, or def when unset.
func NonNegativeInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative integer, not %q", name, v)
	}
	return n, nil
}

// PositiveUint returns an unsigned integer above zero that fits in bits,
// or def when unset.
func PositiveUint(name string, def uint64, bits int) (uint64, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%s must be a positive integer, not %q", name, v)
	}
	return n, nil
}
