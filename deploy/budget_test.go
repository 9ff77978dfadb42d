package deploy

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// readStrictYAML decodes the YAML file at path (relative to deploy/) into v,
// failing on any field v does not have.
func readStrictYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := strictJSON(js, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// goConst reads an integer constant from Go source in this repository
// (underscores allowed), so the budgets below follow the code.
func goConst(t *testing.T, file, name string) int64 {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", file))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*(?:const\s+)?` + name + `\s*=\s*([\d_]+)\s*$`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("%s: no constant %s", file, name)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(string(m[1]), "_", ""), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAppDoesNotOwnItsNamespace: deleting the app (kubectl delete -k) must
// not delete the namespace, where the CloudNativePG clusters live. The
// namespace comes from deploy/k8s/namespaces, applied on its own.
func TestAppDoesNotOwnItsNamespace(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		for _, ns := range m.namespaces {
			t.Errorf("the build contains Namespace %s: deleting the app would delete its databases", ns.Name)
		}
		n := readNamespace(t, m.namespace)
		if n.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("namespace %s: Pod Security %q, want restricted", n.Name, n.Labels["pod-security.kubernetes.io/enforce"])
		}
	})
}

// envOf returns a container's environment (ConfigMaps and literals).
func envOf(t *testing.T, m *manifests, what string, c corev1.Container) map[string]string {
	t.Helper()
	values, _ := processEnv(t, m, what, c)
	return values
}

func durationEnv(t *testing.T, values map[string]string, name string) time.Duration {
	t.Helper()
	v, ok := values[name]
	if !ok {
		t.Fatalf("%s is not set explicitly: the budgets below are computed from it", name)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return d
}

// poolSize is what a container's pool may open: DATABASE_POOL_MAX_CONNS,
// else platform/database's DefaultMaxConns.
func poolSize(t *testing.T, values map[string]string) int {
	t.Helper()
	v, ok := values["DATABASE_POOL_MAX_CONNS"]
	if !ok {
		return int(goConst(t, "platform/database/database.go", "DefaultMaxConns"))
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("DATABASE_POOL_MAX_CONNS=%q", v)
	}
	return n
}

// migrateConns is what `migrate` holds at once: goose's advisory-lock
// session and the connection the migrations run on.
const migrateConns = 2

// TestDatabaseConnectionBudget: for each database, every pod that may be
// connected at once — each Deployment at its HPA's maxReplicas plus its
// rolling-update surge, times its pool, and the CronJobs — fits the budget
// stated in ConfigMap database-connection-budgets. An init container runs
// before its pod's server and so adds nothing.
func TestDatabaseConnectionBudget(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		cm, ok := m.configMaps["database-connection-budgets"]
		if !ok {
			t.Fatal("no ConfigMap database-connection-budgets")
		}
		used := map[string]int{}
		why := map[string][]string{}
		add := func(secret string, n int, what string) {
			used[secret] += n
			why[secret] = append(why[secret], what)
		}
		for name, d := range m.deployments {
			spec := d.Spec.Template.Spec
			for _, c := range spec.Containers {
				values, fromSecret := processEnv(t, m, name, c)
				secret, ok := fromSecret["DATABASE_URL"]
				if !ok {
					continue
				}
				hpa := m.hpas[name]
				if hpa == nil {
					t.Fatalf("Deployment %s uses a database without an HPA bounding its replicas", name)
				}
				surge := 1
				if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType && ru != nil && ru.MaxSurge != nil {
					v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, int(hpa.Spec.MaxReplicas), true)
					if err != nil {
						t.Fatal(err)
					}
					surge = v
				}
				pods, pool := int(hpa.Spec.MaxReplicas)+surge, poolSize(t, values)
				add(secret, pods*pool, fmt.Sprintf("%s: %d pods x %d", name, pods, pool))
			}
			for _, c := range spec.InitContainers {
				if _, fromSecret := processEnv(t, m, name+"/"+c.Name, c); fromSecret["DATABASE_URL"] != "" && c.Name != "migrate" {
					t.Errorf("%s: init container %s uses the database; count it", name, c.Name)
				}
			}
		}
		for name, j := range m.jobs {
			for _, c := range j.Spec.Template.Spec.Containers {
				if _, fromSecret := processEnv(t, m, name, c); fromSecret["DATABASE_URL"] != "" {
					add(fromSecret["DATABASE_URL"], migrateConns*int(deref(j.Spec.Parallelism)), "Job "+name)
				}
			}
		}
		for name, cj := range m.cronJobs {
			if cj.Spec.ConcurrencyPolicy != "Forbid" {
				t.Errorf("CronJob %s: concurrencyPolicy %q; only Forbid bounds it to one run", name, cj.Spec.ConcurrencyPolicy)
			}
			for _, c := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
				values, fromSecret := processEnv(t, m, name, c)
				if secret := fromSecret["DATABASE_URL"]; secret != "" {
					add(secret, poolSize(t, values), fmt.Sprintf("CronJob %s: %d", name, poolSize(t, values)))
				}
			}
		}
		for _, svc := range services {
			secret := svc + "-db"
			budget, err := strconv.Atoi(cm.Data[secret])
			if err != nil || budget <= 0 {
				t.Errorf("database-connection-budgets: %s = %q, want a positive number", secret, cm.Data[secret])
				continue
			}
			if used[secret] == 0 {
				t.Errorf("nothing uses %s: the budget test found no pods", secret)
			}
			if used[secret] > budget {
				t.Errorf("%s: up to %d connections (%s) exceed its budget of %d", secret, used[secret], strings.Join(why[secret], "; "), budget)
			}
		}
	})
}

// drainPhases is how many SHUTDOWN_GRACE periods a process may wait in
// turn on SIGTERM: one everywhere. The workflow drains gRPC and stops its
// River workers side by side, each for up to SHUTDOWN_GRACE
// (services/workflow/app.Serve), and notify the same way.
var drainPhases = map[string]int{"gateway": 1, "identity": 1, "wallet": 1, "workflow": 1, "notify": 1}

// shutdownMargin is what the kubelet needs beyond the process's own waits.
const shutdownMargin = 5 * time.Second

// TestShutdownAndTimeoutBudgets: the numbers that bound a request agree.
// A pod is killed only after preStop and its drains (no request in flight
// is cut on a rolling restart); the gateway drains longer than its longest
// sync wait, which outlasts the longest workflow timeout; the workflow
// drains longer than that timeout; and the route in front waits longer
// than the gateway.
func TestShutdownAndTimeoutBudgets(t *testing.T) {
	t.Parallel()
	maxRun := time.Duration(goConst(t, "services/workflow/internal/workflow/validate.go", "MaxTimeoutMS")) * time.Millisecond
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		grace := map[string]time.Duration{}
		for _, p := range processes {
			d := m.deployments[p.name]
			c := mainContainer(t, m, p.name)
			values := envOf(t, m, p.name, c)
			g := durationEnv(t, values, "SHUTDOWN_GRACE")
			grace[p.name] = g
			var preStop time.Duration
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
				preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
			}
			if preStop == 0 {
				t.Errorf("%s: no preStop sleep: the pod would stop before the endpoints drop it", p.name)
			}
			need := preStop + time.Duration(drainPhases[p.name])*g + shutdownMargin
			got := time.Duration(deref(d.Spec.Template.Spec.TerminationGracePeriodSeconds)) * time.Second
			if got < need {
				t.Errorf("%s: terminationGracePeriodSeconds %s < preStop %s + %d x SHUTDOWN_GRACE %s + %s", p.name, got, preStop, drainPhases[p.name], g, shutdownMargin)
			}
		}
		gw := envOf(t, m, "gateway", mainContainer(t, m, "gateway"))
		runWait := durationEnv(t, gw, "RUN_SYNC_TIMEOUT")
		if runWait <= maxRun {
			t.Errorf("RUN_SYNC_TIMEOUT %s does not outlast the longest workflow timeout %s", runWait, maxRun)
		}
		if grace["gateway"] < runWait {
			t.Errorf("gateway SHUTDOWN_GRACE %s < RUN_SYNC_TIMEOUT %s: a rolling restart cuts sync runs", grace["gateway"], runWait)
		}
		if grace["workflow"] <= maxRun {
			t.Errorf("workflow SHUTDOWN_GRACE %s does not outlast a %s run", grace["workflow"], maxRun)
		}
		host := string(m.httpRoutes["gateway"].Spec.Hostnames[0])
		_, runs := matchingRule(m.httpRoutes, host, "POST", "/v1/workflows/greet/runs")
		if got := routeTimeout(t, runs); got < runWait+shutdownMargin {
			t.Errorf("the route of POST .../runs times out after %s, before RUN_SYNC_TIMEOUT %s (+%s)", got, runWait, shutdownMargin)
		}
		if runs != nil && runs.Timeouts != nil && runs.Timeouts.BackendRequest != nil {
			if b, err := time.ParseDuration(string(*runs.Timeouts.BackendRequest)); err != nil || b < runWait {
				t.Errorf("the run route's backendRequest timeout %s is shorter than RUN_SYNC_TIMEOUT %s", *runs.Timeouts.BackendRequest, runWait)
			}
		}
		for name, r := range m.httpRoutes {
			for i := range r.Spec.Rules {
				if len(r.Spec.Rules[i].BackendRefs) > 0 && routeTimeout(t, &r.Spec.Rules[i]) == 0 {
					t.Errorf("HTTPRoute %s rule %d: no request timeout (implementations differ: some never time out, some after 15 s)", name, i)
				}
			}
		}
	})
}

// TestTrustedProxies: the client address is read from a header only when
// the connection comes from a named proxy range, never from anyone.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		values := envOf(t, m, "gateway", mainContainer(t, m, "gateway"))
		header, proxies := values["TRUSTED_PROXY_HEADER"], values["TRUSTED_PROXIES"]
		if header == "" {
			t.Fatal("TRUSTED_PROXY_HEADER is empty: behind the Gateway every client would be the proxy's address")
		}
		if strings.TrimSpace(proxies) == "" {
			t.Fatal("TRUSTED_PROXY_HEADER without TRUSTED_PROXIES")
		}
		for _, p := range strings.Split(proxies, ",") {
			prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
			if err != nil {
				if _, aerr := netip.ParseAddr(strings.TrimSpace(p)); aerr != nil {
					t.Errorf("TRUSTED_PROXIES entry %q is neither a CIDR nor an address", p)
				}
				continue
			}
			if prefix.Bits() == 0 || !prefix.Addr().IsPrivate() {
				t.Errorf("TRUSTED_PROXIES entry %s trusts public addresses: any client could choose its own address", prefix)
			}
		}
	})
}

// TestDocsWaitForTheMigrationDeadline: the migration deadline is each
// service's progressDeadlineSeconds (its new pods migrate in their init
// container), and every `rollout status` in the operations guide waits at
// least that long, so the guide neither gives up on a migration that
// Kubernetes still lets run nor waits on one Kubernetes gave up on.
func TestDocsWaitForTheMigrationDeadline(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	waits := regexp.MustCompile(`kubectl .*rollout status deployment/\S+.*--timeout=(\S+)`).FindAllSubmatch(doc, -1)
	if len(waits) < 3 {
		t.Fatalf("docs/operations.md has %d `rollout status ... --timeout=` commands, want the first deploy, the upgrade and the rollback", len(waits))
	}
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		var deadline time.Duration
		for _, svc := range services {
			if d := time.Duration(deref(m.deployments[svc].Spec.ProgressDeadlineSeconds)) * time.Second; d > deadline {
				deadline = d
			}
		}
		for _, w := range waits {
			got, err := time.ParseDuration(string(w[1]))
			if err != nil {
				t.Fatalf("--timeout=%s: %v", w[1], err)
			}
			if got != deadline {
				t.Errorf("docs wait %s for a rollout; the migration deadline (progressDeadlineSeconds) is %s", got, deadline)
			}
		}
	})
}
