package deploy

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// matchingRule returns the rule of routes that Gateway API precedence
// picks for method and path on host (an exact path before the longest
// prefix, a rule with a method before one without), and its route.
func matchingRule(routes map[string]*gatewayv1.HTTPRoute, host, method, path string) (*gatewayv1.HTTPRoute, *gatewayv1.HTTPRouteRule) {
	var (
		bestRoute *gatewayv1.HTTPRoute
		bestRule  *gatewayv1.HTTPRouteRule
		bestScore = -1
	)
	for _, r := range routes {
		if !slices.Contains(r.Spec.Hostnames, gatewayv1.Hostname(host)) {
			continue
		}
		for i := range r.Spec.Rules {
			rule := &r.Spec.Rules[i]
			for _, m := range rule.Matches {
				if m.Method != nil && string(*m.Method) != method {
					continue
				}
				p, typ := "/", gatewayv1.PathMatchPathPrefix
				if m.Path != nil {
					p, typ = deref(m.Path.Value), deref(m.Path.Type)
				}
				score := 0
				switch typ {
				case gatewayv1.PathMatchExact:
					if path != p {
						continue
					}
					score = 1 << 20
				case gatewayv1.PathMatchPathPrefix:
					// Element-wise: /admin matches /admin and /admin/x, not /administrator.
					trimmed := strings.TrimSuffix(p, "/")
					if path != trimmed && !strings.HasPrefix(path, trimmed+"/") {
						continue
					}
					score = len(trimmed) << 1
				default:
					continue
				}
				if m.Method != nil {
					score++
				}
				if score > bestScore {
					bestRoute, bestRule, bestScore = r, rule, score
				}
			}
		}
	}
	return bestRoute, bestRule
}

func TestHTTPRouteRoutesToGateway(t *testing.T) {
	t.Parallel()
	edge := buildOverlay(t, "edge")
	forEachOverlay(t, func(t *testing.T, overlay string, m *manifests) {
		if len(m.ingresses) > 0 {
			t.Errorf("Ingress objects in the build: the way in is the HTTPRoute")
		}
		api, ok := m.httpRoutes["gateway"]
		if !ok || len(api.Spec.Hostnames) != 1 {
			t.Fatalf("want HTTPRoute gateway with one host, got %+v", api)
		}
		host := string(api.Spec.Hostnames[0])
		gw := mainContainer(t, m, "gateway")
		for name, r := range m.httpRoutes {
			// Attached to the shared Gateway's HTTPS listener, which must
			// accept routes from this namespace.
			if len(r.Spec.ParentRefs) != 1 {
				t.Errorf("HTTPRoute %s: parentRefs %+v", name, r.Spec.ParentRefs)
				continue
			}
			ref := r.Spec.ParentRefs[0]
			g := edge.gateways[string(ref.Name)]
			if g == nil || ref.Namespace == nil || string(*ref.Namespace) != edge.namespace || ref.SectionName == nil {
				t.Errorf("HTTPRoute %s: parent %+v is not a listener of the Gateway in deploy/k8s/edge", name, ref)
				continue
			}
			idx := slices.IndexFunc(g.Spec.Listeners, func(l gatewayv1.Listener) bool { return l.Name == *ref.SectionName })
			if idx < 0 {
				t.Errorf("HTTPRoute %s: Gateway %s has no listener %s", name, g.Name, *ref.SectionName)
				continue
			}
			l := g.Spec.Listeners[idx]
			if l.Protocol != gatewayv1.HTTPSProtocolType || l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
				t.Errorf("listener %s: want HTTPS with a certificate", l.Name)
			}
			nsLabels := namespaceFileLabels(t, m.namespace)
			if l.AllowedRoutes == nil || l.AllowedRoutes.Namespaces == nil || l.AllowedRoutes.Namespaces.Selector == nil ||
				!selects(l.AllowedRoutes.Namespaces.Selector, nsLabels) {
				t.Errorf("listener %s does not accept routes from namespace %s (labels %v)", l.Name, m.namespace, nsLabels)
			}
			for _, rule := range r.Spec.Rules {
				for _, b := range rule.BackendRefs {
					if b.Name != "gateway" || (b.Kind != nil && *b.Kind != "Service") || b.Port == nil {
						t.Errorf("HTTPRoute %s: backend %+v, want the gateway Service", name, b.BackendObjectReference)
						continue
					}
					var target intstr.IntOrString
					for _, sp := range m.services["gateway"].Spec.Ports {
						if sp.Port == int32(*b.Port) {
							target = sp.TargetPort
						}
					}
					if containerPort(gw, target) != 8080 {
						t.Errorf("HTTPRoute %s: backend port %d reaches container port %d, want 8080", name, *b.Port, containerPort(gw, target))
					}
				}
			}
		}
		// What must go where: the webhook has its own rule; /admin is
		// either served on the API host or redirected to the admin host.
		for _, c := range []struct{ method, path string }{
			{"POST", "/v1/webhooks/stripe"}, {"POST", "/v1/workflows/greet/runs"}, {"GET", "/v1/me"}, {"GET", "/readyz"},
		} {
			if _, rule := matchingRule(m.httpRoutes, host, c.method, c.path); rule == nil || len(rule.BackendRefs) == 0 {
				t.Errorf("%s %s on %s reaches no backend", c.method, c.path, host)
			}
		}
		if _, rule := matchingRule(m.httpRoutes, host, "POST", "/v1/webhooks/stripe"); rule != nil &&
			(rule.Matches[0].Path == nil || deref(rule.Matches[0].Path.Type) != gatewayv1.PathMatchExact) {
			t.Error("the Stripe webhook has no rule of its own")
		}
		_, admin := matchingRule(m.httpRoutes, host, "GET", "/admin/login")
		switch {
		case admin == nil:
			t.Errorf("/admin on %s matches nothing", host)
		case overlay == "prod":
			// The console lives on its own host: the API host redirects.
			if len(admin.BackendRefs) != 0 || len(admin.Filters) != 1 || admin.Filters[0].RequestRedirect == nil || admin.Filters[0].RequestRedirect.Hostname == nil {
				t.Fatalf("prod: /admin on the API host is served, want a redirect to the admin host")
			}
			adminHost := string(*admin.Filters[0].RequestRedirect.Hostname)
			if _, r := matchingRule(m.httpRoutes, adminHost, "GET", "/admin/login"); r == nil || len(r.BackendRefs) == 0 {
				t.Errorf("prod: the admin host %s does not serve /admin", adminHost)
			}
			if _, r := matchingRule(m.httpRoutes, adminHost, "GET", "/v1/me"); r != nil {
				t.Errorf("prod: the admin host serves the API too")
			}
		}
	})
}

// routeTimeout is a rule's request timeout (0 when it sets none).
func routeTimeout(t *testing.T, rule *gatewayv1.HTTPRouteRule) time.Duration {
	t.Helper()
	if rule == nil || rule.Timeouts == nil || rule.Timeouts.Request == nil {
		return 0
	}
	d, err := time.ParseDuration(string(*rule.Timeouts.Request))
	if err != nil {
		t.Fatalf("timeout %q: %v", *rule.Timeouts.Request, err)
	}
	return d
}

// namespaceFileLabels decodes deploy/k8s/namespaces/<ns>.yaml strictly and
// returns its labels plus the one Kubernetes sets.
func namespaceFileLabels(t *testing.T, ns string) labels.Set {
	t.Helper()
	n := readNamespace(t, ns)
	set := labels.Set{"kubernetes.io/metadata.name": n.Name}
	for k, v := range n.Labels {
		set[k] = v
	}
	return set
}

func readNamespace(t *testing.T, ns string) *corev1.Namespace {
	t.Helper()
	var n corev1.Namespace
	readStrictYAML(t, "k8s/namespaces/"+ns+".yaml", &n)
	if n.Kind != "Namespace" || n.APIVersion != "v1" || n.Name != ns {
		t.Fatalf("k8s/namespaces/%s.yaml holds %s/%s %s", ns, n.APIVersion, n.Kind, n.Name)
	}
	return &n
}
