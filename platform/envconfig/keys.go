package envconfig

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/meterflow/meterflow/platform/secretbox"
)

// SealingKeys reads a secretbox key ring from two variables: name, the
// current key (standard base64 of 32 bytes; a secret read as Secret
// reads one, dev its development value), and previousName, older keys
// that still open values sealed before a rotation (comma-separated,
// newest first). Production refuses the development key.
func (c *Common) SealingKeys(name, previousName, dev string) ([]byte, [][]byte, error) {
	var errs []error
	raw, err := c.Secret(name, dev, "base64 of 32 random bytes: head -c 32 /dev/urandom | base64")
	errs = append(errs, err)
	var current []byte
	if raw != "" {
		if current, err = secretbox.ParseKey(raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	if raw == dev {
		errs = append(errs, c.RefuseDevValue(name, raw, dev))
	}
	var previous [][]byte
	for i, k := range strings.Split(os.Getenv(previousName), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		prev, err := secretbox.ParseKey(k)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s, key %d: %w", previousName, i+1, err))
			continue
		}
		previous = append(previous, prev)
	}
	return current, previous, errors.Join(errs...)
}
