package deploy

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// endpoint is a pod (namespace and labels) or, when ip is set, an address
// outside the cluster.
type endpoint struct {
	name      string
	namespace string
	labels    map[string]string
	ip        string
}

// world is every endpoint the tests reason about: the pods of the build
// (Deployments and Jobs), the Postgres pods the policies assume, and
// stand-ins for the other namespaces and the internet.
func world(m *manifests, ns string) []endpoint {
	var eps []endpoint
	for name, d := range m.deployments {
		eps = append(eps, endpoint{name: name, namespace: ns, labels: d.Spec.Template.Labels})
	}
	for name, j := range m.jobs {
		eps = append(eps, endpoint{name: name, namespace: ns, labels: j.Spec.Template.Labels})
	}
	for name, cj := range m.cronJobs {
		eps = append(eps, endpoint{name: name, namespace: ns, labels: cj.Spec.JobTemplate.Spec.Template.Labels})
	}
	for _, svc := range services {
		for _, name := range []string{svc + "-db", svc + "-db-replica"} {
			eps = append(eps, endpoint{name: name, namespace: ns, labels: map[string]string{"meterflow.io/database": svc}})
		}
	}
	// A pod of this namespace that is none of ours (a debugging pod, a
	// compromised sidecar): it must reach nothing.
	eps = append(eps, endpoint{name: "stranger", namespace: ns, labels: map[string]string{"app": "stranger"}})
	for _, other := range []string{"gateway-system", "ingress-nginx", "monitoring", "observability", "n8n", "cnpg-system", "other"} {
		eps = append(eps, endpoint{name: "ns/" + other, namespace: other, labels: map[string]string{"app": other}})
	}
	eps = append(eps,
		endpoint{name: "kube-dns", namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}},
		endpoint{name: "internet", ip: "54.187.174.169"},
		endpoint{name: "private-net", ip: "10.20.30.40"},
	)
	return eps
}

func namespaceLabels(ns string) labels.Set {
	return labels.Set{"kubernetes.io/metadata.name": ns}
}

func selects(sel *metav1.LabelSelector, set map[string]string) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		panic(err)
	}
	return s.Matches(labels.Set(set))
}

// peerMatches applies NetworkPolicyPeer semantics: a podSelector alone
// means pods of the policy's namespace; a namespaceSelector alone, every
// pod of the selected namespaces; both, the selected pods of the selected
// namespaces; an ipBlock, addresses outside the cluster.
func peerMatches(peer networkingv1.NetworkPolicyPeer, policyNS string, ep endpoint) bool {
	if peer.IPBlock != nil {
		if ep.ip == "" {
			return false
		}
		addr := netip.MustParseAddr(ep.ip)
		if !netip.MustParsePrefix(peer.IPBlock.CIDR).Contains(addr) {
			return false
		}
		for _, ex := range peer.IPBlock.Except {
			if netip.MustParsePrefix(ex).Contains(addr) {
				return false
			}
		}
		return true
	}
	if ep.ip != "" {
		return false
	}
	if peer.NamespaceSelector != nil {
		if !selects(peer.NamespaceSelector, namespaceLabels(ep.namespace)) {
			return false
		}
	} else if ep.namespace != policyNS {
		return false
	}
	if peer.PodSelector != nil {
		return selects(peer.PodSelector, ep.labels)
	}
	return true
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		want := corev1.ProtocolTCP
		if p.Protocol != nil {
			want = *p.Protocol
		}
		if want != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		if p.Port.IntValue() == 0 {
			panic(fmt.Sprintf("named port %q in a NetworkPolicy: use numbers so the policy is checkable", p.Port.String()))
		}
		end := int32(p.Port.IntValue())
		if p.EndPort != nil {
			end = *p.EndPort
		}
		if port >= int32(p.Port.IntValue()) && port <= end {
			return true
		}
	}
	return false
}

func hasType(p *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	return slices.Contains(p.Spec.PolicyTypes, t)
}

// allowed reports whether a TCP (or UDP) connection from src to dst:port
// passes both src's egress and dst's ingress policies. Endpoints outside
// the namespace are not governed by its policies.
func allowed(policies []*networkingv1.NetworkPolicy, ns string, src, dst endpoint, port int32, proto corev1.Protocol) bool {
	isolatedOut, egressOK := false, false
	isolatedIn, ingressOK := false, false
	for _, p := range policies {
		if src.ip == "" && src.namespace == ns && hasType(p, networkingv1.PolicyTypeEgress) && selects(&p.Spec.PodSelector, src.labels) {
			isolatedOut = true
			for _, r := range p.Spec.Egress {
				if portMatches(r.Ports, port, proto) && (len(r.To) == 0 || slices.ContainsFunc(r.To, func(peer networkingv1.NetworkPolicyPeer) bool { return peerMatches(peer, ns, dst) })) {
					egressOK = true
				}
			}
		}
		if dst.ip == "" && dst.namespace == ns && hasType(p, networkingv1.PolicyTypeIngress) && selects(&p.Spec.PodSelector, dst.labels) {
			isolatedIn = true
			for _, r := range p.Spec.Ingress {
				if portMatches(r.Ports, port, proto) && (len(r.From) == 0 || slices.ContainsFunc(r.From, func(peer networkingv1.NetworkPolicyPeer) bool { return peerMatches(peer, ns, src) })) {
					ingressOK = true
				}
			}
		}
	}
	return (!isolatedOut || egressOK) && (!isolatedIn || ingressOK)
}

// callers lists who may open a TCP connection to target on port.
func callers(policies []*networkingv1.NetworkPolicy, ns string, eps []endpoint, target string, port int32) []string {
	dst := find(eps, target)
	var out []string
	for _, src := range eps {
		if src.name != target && src.ip == "" && allowed(policies, ns, src, dst, port, corev1.ProtocolTCP) {
			out = append(out, src.name)
		}
	}
	sort.Strings(out)
	return out
}

// reachable lists which endpoints source may open a TCP connection to on port.
func reachable(policies []*networkingv1.NetworkPolicy, ns string, eps []endpoint, source string, port int32) []string {
	src := find(eps, source)
	var out []string
	for _, dst := range eps {
		if dst.name != source && allowed(policies, ns, src, dst, port, corev1.ProtocolTCP) {
			out = append(out, dst.name)
		}
	}
	sort.Strings(out)
	return out
}

func find(eps []endpoint, name string) endpoint {
	for _, e := range eps {
		if e.name == name {
			return e
		}
	}
	panic("no endpoint " + name)
}

// namespaceOf is the namespace the build's objects are in (the Namespace
// itself is applied separately: deploy/k8s/namespaces).
func namespaceOf(t *testing.T, m *manifests) string {
	t.Helper()
	if m.namespace == "" {
		t.Fatal("the build's objects have no namespace")
	}
	ns := m.namespace
	for _, p := range m.networkPolicies {
		if p.Namespace != ns {
			t.Fatalf("NetworkPolicy %s is in namespace %q, not %q", p.Name, p.Namespace, ns)
		}
	}
	return ns
}

func TestNetworkPoliciesDenyByDefault(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		found := false
		for _, p := range m.networkPolicies {
			if len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0 &&
				hasType(p, networkingv1.PolicyTypeIngress) && hasType(p, networkingv1.PolicyTypeEgress) &&
				len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 {
				found = true
			}
		}
		if !found {
			t.Fatal("no default-deny NetworkPolicy (every pod, Ingress and Egress, no rules)")
		}
		ns := namespaceOf(t, m)
		eps := world(m, ns)
		// Every pod of ours resolves names, and nothing else is open to
		// everyone: a stranger pod reaches no port of ours.
		for _, src := range eps {
			if src.namespace != ns {
				continue
			}
			if !allowed(m.networkPolicies, ns, src, find(eps, "kube-dns"), 53, corev1.ProtocolUDP) {
				t.Errorf("%s cannot reach DNS", src.name)
			}
		}
		for _, port := range []int32{8080, 9090, 50051, 50052, 50053, 50054, 9091, 9092, 9093, 9094, 5432, 4317} {
			for _, dst := range eps {
				if dst.namespace == ns && dst.name != "stranger" && allowed(m.networkPolicies, ns, find(eps, "stranger"), dst, port, corev1.ProtocolTCP) {
					t.Errorf("an unrelated pod reaches %s:%d", dst.name, port)
				}
				if dst.namespace == ns && allowed(m.networkPolicies, ns, find(eps, "ns/other"), dst, port, corev1.ProtocolTCP) {
					t.Errorf("a pod of another namespace reaches %s:%d", dst.name, port)
				}
			}
		}
	})
}

func TestNetworkPoliciesAllowExactlyTheNeededPaths(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		ns := namespaceOf(t, m)
		eps := world(m, ns)
		ingress := []struct {
			target string
			port   int32
			want   []string
		}{
			// Only the Gateway's proxies reach the gateway.
			{"gateway", 8080, []string{"ns/gateway-system"}},
			// Identity: the gateway, wallet and workflow for its keys,
			// notify for users' addresses.
			{"identity", 50051, []string{"gateway", "notify", "wallet", "workflow"}},
			// The money: the gateway and workflow's holds only.
			{"wallet", 50052, []string{"gateway", "workflow"}},
			{"workflow", 50053, []string{"gateway"}},
			// Email and events: the services' outboxes; the gateway for
			// users' webhook endpoints.
			{"notify", 50054, []string{"gateway", "identity", "wallet", "workflow"}},
			// Each database: its own service (the server pods, whose init
			// container migrates; the wallet's nightly verify) and its own
			// replicas, nobody else.
			{"identity-db", 5432, []string{"identity", "identity-db-replica"}},
			{"wallet-db", 5432, []string{"wallet", "wallet-db-replica", "wallet-reconcile", "wallet-verify"}},
			{"workflow-db", 5432, []string{"workflow", "workflow-db-replica"}},
			{"notify-db", 5432, []string{"notify", "notify-db-replica"}},
			// Metrics and pprof: Prometheus only.
			{"gateway", 9090, []string{"ns/monitoring"}},
			{"identity", 9091, []string{"ns/monitoring"}},
			{"wallet", 9092, []string{"ns/monitoring"}},
			{"workflow", 9093, []string{"ns/monitoring"}},
			{"notify", 9094, []string{"ns/monitoring"}},
			// Traces: our own processes only.
			{"otel-collector", 4317, []string{"gateway", "identity", "notify", "wallet", "wallet-reconcile", "wallet-verify", "workflow"}},
		}
		for _, c := range ingress {
			if got := callers(m.networkPolicies, ns, eps, c.target, c.port); !slices.Equal(got, c.want) {
				t.Errorf("who reaches %s:%d: got %v, want %v", c.target, c.port, got, c.want)
			}
		}
		egress := []struct {
			source string
			port   int32
			want   []string
		}{
			{"gateway", 50051, []string{"identity"}},
			{"gateway", 50052, []string{"wallet"}},
			{"gateway", 50053, []string{"workflow"}},
			{"gateway", 50054, []string{"notify"}},
			{"gateway", 5432, nil},
			{"gateway", 443, nil},
			{"identity", 5432, []string{"identity-db", "identity-db-replica"}},
			{"identity", 50052, nil},
			{"identity", 443, nil},
			{"identity", 50054, []string{"notify"}},
			{"identity", 587, nil},
			{"wallet", 5432, []string{"wallet-db", "wallet-db-replica"}},
			{"wallet", 50051, []string{"identity"}},
			{"wallet", 50053, nil},
			// Stripe's API: public HTTPS, never private addresses.
			{"wallet", 443, []string{"internet"}},
			{"wallet", 50054, []string{"notify"}},
			{"wallet", 587, nil},
			{"workflow", 5432, []string{"workflow-db", "workflow-db-replica"}},
			{"workflow", 50052, []string{"wallet"}},
			// n8n: in-cluster or hosted.
			{"workflow", 5678, []string{"ns/n8n"}},
			{"workflow", 443, []string{"internet"}},
			{"workflow", 50054, []string{"notify"}},
			{"workflow", 587, nil},
			// Notify: identity, its database, SMTP at public addresses on
			// the mail ports, users' webhook endpoints at public addresses
			// on 443; no money service.
			{"notify", 50051, []string{"identity"}},
			{"notify", 50052, nil},
			{"notify", 50053, nil},
			{"notify", 5432, []string{"notify-db", "notify-db-replica"}},
			{"notify", 25, []string{"internet"}},
			{"notify", 465, []string{"internet"}},
			{"notify", 587, []string{"internet"}},
			{"notify", 443, []string{"internet"}},
			{"notify", 80, nil},
			{"wallet-verify", 5432, []string{"wallet-db", "wallet-db-replica"}},
			{"wallet-verify", 443, nil},
			{"wallet-verify", 50052, nil},
			// The hourly reconciliation: its database and Stripe's API.
			{"wallet-reconcile", 5432, []string{"wallet-db", "wallet-db-replica"}},
			{"wallet-reconcile", 443, []string{"internet"}},
			{"wallet-reconcile", 50052, nil},
			{"otel-collector", 4317, []string{"ns/observability"}},
		}
		for _, c := range egress {
			if got := reachable(m.networkPolicies, ns, eps, c.source, c.port); !slices.Equal(got, c.want) {
				t.Errorf("what %s reaches on %d: got %v, want %v", c.source, c.port, got, c.want)
			}
		}
		// Redis may be managed outside the cluster: the gateway, and only
		// the gateway, may open 6379.
		for _, src := range eps {
			if src.namespace != ns || src.labels["meterflow.io/database"] != "" { // the databases egress freely (see db-egress)
				continue
			}
			got := allowed(m.networkPolicies, ns, src, find(eps, "internet"), 6379, corev1.ProtocolTCP)
			if got != (src.name == "gateway") {
				t.Errorf("%s reaches Redis on 6379: %v", src.name, got)
			}
		}
	})
}

// TestNetworkPolicyEvaluator checks the evaluator itself on the cases the
// assertions above rely on, so a bug in it cannot make them pass.
func TestNetworkPolicyEvaluator(t *testing.T) {
	t.Parallel()
	tcp := corev1.ProtocolTCP
	port := func(n int) networkingv1.NetworkPolicyPort {
		p := networkingv1.NetworkPolicyPort{Protocol: &tcp}
		v := intstr.FromInt32(int32(n))
		p.Port = &v
		return p
	}
	sel := func(kv ...string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{kv[0]: kv[1]}}
	}
	a := endpoint{name: "a", namespace: "ns", labels: map[string]string{"app": "a"}}
	b := endpoint{name: "b", namespace: "ns", labels: map[string]string{"app": "b"}}
	otherA := endpoint{name: "other-a", namespace: "x", labels: map[string]string{"app": "a"}}
	deny := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{"Ingress", "Egress"}}}
	bFromA := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		PodSelector: *sel("app", "b"), PolicyTypes: []networkingv1.PolicyType{"Ingress"},
		Ingress: []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("app", "a")}}, Ports: []networkingv1.NetworkPolicyPort{port(80)}}},
	}}
	aToB := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		PodSelector: *sel("app", "a"), PolicyTypes: []networkingv1.PolicyType{"Egress"},
		Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: sel("app", "b")}}}},
	}}
	cases := []struct {
		name     string
		policies []*networkingv1.NetworkPolicy
		src, dst endpoint
		port     int32
		want     bool
	}{
		{"no policy allows", nil, a, b, 80, true},
		{"default deny blocks", []*networkingv1.NetworkPolicy{deny}, a, b, 80, false},
		{"ingress alone is not enough under deny", []*networkingv1.NetworkPolicy{deny, bFromA}, a, b, 80, false},
		{"ingress and egress allow", []*networkingv1.NetworkPolicy{deny, bFromA, aToB}, a, b, 80, true},
		{"other port blocked", []*networkingv1.NetworkPolicy{deny, bFromA, aToB}, a, b, 81, false},
		{"podSelector alone is the policy's namespace", []*networkingv1.NetworkPolicy{bFromA}, otherA, b, 80, false},
		{"reverse direction blocked", []*networkingv1.NetworkPolicy{deny, bFromA, aToB}, b, a, 80, false},
	}
	for _, c := range cases {
		if got := allowed(c.policies, "ns", c.src, c.dst, c.port, tcp); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
