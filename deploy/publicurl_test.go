package deploy

import (
	"net/url"
	"strings"
	"testing"
)

// TestPublicBaseURLIsTheGatewayHost: every service's PUBLIC_BASE_URL (the
// links of its emails, the callbacks of workflows) is the host the
// gateway's HTTPRoute serves in that overlay: a link to another host
// would lead nowhere.
func TestPublicBaseURLIsTheGatewayHost(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, overlay string, m *manifests) {
		route, ok := m.httpRoutes["gateway"]
		if !ok || len(route.Spec.Hostnames) != 1 {
			t.Fatalf("want HTTPRoute gateway with one host, got %+v", route)
		}
		host := string(route.Spec.Hostnames[0])
		seen := 0
		for name, cm := range m.configMaps {
			raw, ok := cm.Data["PUBLIC_BASE_URL"]
			if !ok || !strings.Contains(name, "-config") {
				continue
			}
			seen++
			u, err := url.Parse(raw)
			if err != nil || u.Scheme != "https" || u.Host != host {
				t.Errorf("%s: %s PUBLIC_BASE_URL=%s, want https://%s (the gateway's HTTPRoute)", overlay, name, raw, host)
			}
		}
		if seen < 3 {
			t.Errorf("%s: PUBLIC_BASE_URL in %d ConfigMaps, want identity's, the wallet's and workflow's", overlay, seen)
		}
	})
}
