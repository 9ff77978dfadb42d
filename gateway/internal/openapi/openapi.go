// Package openapi holds the gateway's OpenAPI 3.1 document, written by hand
// in openapi.yaml next to this file and served as JSON.
package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var source []byte

// JSON returns the document as JSON, converted on the first call and
// kept: the conversion (a YAML parse of the whole document) allocates
// about 3 MB, which a gateway that nobody asks for its document should not
// hold in its idle memory. Callers must not modify the returned bytes.
func JSON() ([]byte, error) { return jsonOnce() }

var jsonOnce = sync.OnceValues(convert)

// convert parses openapi.yaml and encodes it as JSON.
func convert() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(source, &doc); err != nil {
		return nil, fmt.Errorf("openapi: parse openapi.yaml: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi: encode: %w", err)
	}
	return b, nil
}
