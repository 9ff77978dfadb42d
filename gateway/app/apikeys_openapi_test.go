package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meterflow/meterflow/gateway/internal/api"
	"github.com/meterflow/meterflow/gateway/internal/openapi"
)

// TestOpenAPIKeyScopes: the OpenAPI document's x-api-key-scope names
// exactly the routes API keys reach, with the scope the gateway checks.
func TestOpenAPIKeyScopes(t *testing.T) {
	t.Parallel()
	raw, err := openapi.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			var o struct {
				Scope string `json:"x-api-key-scope"`
			}
			if json.Unmarshal(op, &o) == nil && o.Scope != "" {
				documented[strings.ToUpper(method)+" "+path] = o.Scope
			}
		}
	}
	served := api.KeyScopes()
	if len(documented) != len(served) {
		t.Errorf("documented %v, served %v", documented, served)
	}
	for route, scope := range served {
		if documented[route] != scope {
			t.Errorf("%s: the gateway checks %q, the OpenAPI document says %q", route, scope, documented[route])
		}
	}
}
