package deploy

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// runbookBase is where every alert's runbook_url points: docs/runbooks on
// the main branch.
const runbookBase = "https://github.com/meterflow/meterflow/blob/main/docs/runbooks/"

var promql = parser.NewParser(parser.Options{})

// metricNames lists the metric names an expression selects.
func metricNames(t *testing.T, what, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", what, err, expr)
		return nil
	}
	var names []string
	for _, sel := range parser.ExtractSelectors(e) {
		for _, m := range sel {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
	}
	return names
}

// exportedMetrics lists every metric name the Go code registers (a Name
// field of prometheus.*Opts) in the processes' modules.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	re := regexp.MustCompile(`Name:\s*"([a-z_][a-z0-9_]*)"`)
	for _, dir := range []string{"gateway", "services", "platform"} {
		err := filepath.WalkDir(filepath.Join("..", dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Contains(src, []byte("prometheus")) {
				return nil
			}
			for _, m := range re.FindAllSubmatch(src, -1) {
				names[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// expectedMetrics reads the table of metrics the alerts and dashboards use
// before the code exports them (docs/runbooks/README.md): the Go side's
// to-do list, exact to the name.
func expectedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile("../docs/runbooks/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## Metrics the alerts expect")
	if !ok {
		t.Fatal(`docs/runbooks/README.md has no "## Metrics the alerts expect" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z_][a-z0-9_]*)(?:\\{[^`]*\\})?` \\|").FindAllStringSubmatch(section, -1) {
		names[m[1]] = true
	}
	return names // empty when every metric in use is exported
}

// baseMetric strips the suffixes a histogram's or summary's series carry.
func baseMetric(name string) string {
	for _, suf := range []string{"_bucket", "_sum", "_count"} {
		if s, ok := strings.CutSuffix(name, suf); ok {
			return s
		}
	}
	return name
}

// checkMetricsKnown: every metric is exported by our code, listed as
// expected, or kube-state-metrics'; and the expected list names only
// metrics not exported yet that something uses.
func checkMetricsKnown(t *testing.T, used map[string][]string) {
	t.Helper()
	exported, expected := exportedMetrics(t), expectedMetrics(t)
	for name, where := range used {
		b := baseMetric(name)
		if !exported[name] && !exported[b] && !expected[name] && !expected[b] && !strings.HasPrefix(name, "kube_") {
			t.Errorf("metric %s (used by %v) is neither exported by the code nor listed in docs/runbooks/README.md", name, where)
		}
	}
	for name := range expected {
		if exported[name] {
			t.Errorf("metric %s is exported now: remove it from docs/runbooks/README.md's expected list", name)
		}
		if _, ok := used[name]; !ok && !slices.ContainsFunc(keys(used), func(u string) bool { return baseMetric(u) == name }) {
			t.Errorf("docs/runbooks/README.md expects %s, which no alert or dashboard uses", name)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// runbookSections are the headings every runbook has, in this order.
var runbookSections = []string{"## What it means", "## How to look", "## What to do"}

func checkRunbook(t *testing.T, url, alert string) {
	t.Helper()
	file, ok := strings.CutPrefix(url, runbookBase)
	if !ok || !strings.HasSuffix(file, ".md") || strings.Contains(file, "/") {
		t.Errorf("%s: runbook_url %q is not a file under %s", alert, url, runbookBase)
		return
	}
	doc, err := os.ReadFile(filepath.Join("..", "docs", "runbooks", file))
	if err != nil {
		t.Errorf("%s: %v", alert, err)
		return
	}
	text := string(doc)
	if !strings.Contains(text, alert) {
		t.Errorf("%s: its runbook %s never names it", alert, file)
	}
	last := -1
	for _, h := range runbookSections {
		i := strings.Index(text, "\n"+h+"\n")
		if i <= last {
			t.Errorf("%s: runbook %s lacks %q (or has it out of order)", alert, file, h)
		}
		last = i
	}
}

func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	used := map[string][]string{}
	m := buildOverlay(t, "prod")
	pr, ok := m.prometheusRules["meterflow"]
	if !ok {
		t.Fatal("prod: no PrometheusRule meterflow")
	}
	// Prometheus's own loader, strict: the expressions, durations, label
	// names and annotation templates as Prometheus will read them.
	groups, err := json.Marshal(map[string]any{"groups": pr.Spec.Groups})
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(groups)
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := rulefmt.Parse(y, false, model.LegacyValidation, promql, slog.New(slog.DiscardHandler)); len(errs) > 0 {
		t.Fatalf("rulefmt: %v", errs)
	}
	seen := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if seen[r.Alert] {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			seen[r.Alert] = true
			for _, n := range metricNames(t, r.Alert, r.Expr.String()) {
				used[n] = append(used[n], r.Alert)
			}
			if sev := r.Labels["severity"]; sev != "page" && sev != "ticket" {
				t.Errorf("%s: severity %q, want page or ticket", r.Alert, sev)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			checkRunbook(t, r.Annotations["runbook_url"], r.Alert)
		}
	}
	// The alerts the operations issue asks for, by what they watch.
	for _, want := range []string{
		"MeterflowAPIErrorRate", "MeterflowAPILatency", "MeterflowHoldsPastExpiry", "MeterflowRunsUnsettled",
		"MeterflowQueueBacklog", "MeterflowQueueStalled", "MeterflowDatabasePoolSaturated", "MeterflowWebhookDeliveryLag",
		"MeterflowEmailDeliveryLag", "MeterflowReconciliationFixes", "MeterflowWalletVerifyFailed",
	} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
	// Latency alerts leave out the calls that wait for n8n.
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			e := r.Expr.String()
			if strings.Contains(e, "gateway_http_request_duration_seconds") && !strings.Contains(e, `route!="/v1/workflows/{slug}/runs"`) {
				t.Errorf("%s: API latency includes the run calls, which wait for n8n", r.Alert)
			}
			if strings.Contains(e, "grpc_server_handling_seconds") && !strings.Contains(e, `method!="/meterflow.workflow.v1.WorkflowService/StartRun"`) {
				t.Errorf("%s: service latency includes StartRun, which waits for n8n", r.Alert)
			}
		}
	}
	for n, where := range dashboardMetrics(t) {
		used[n] = append(used[n], where...)
	}
	checkMetricsKnown(t, used)
	// The cron job the verify alert watches is the one in the build.
	if _, ok := m.cronJobs["wallet-verify"]; !ok {
		t.Error("MeterflowWalletVerifyFailed watches CronJob wallet-verify, which is not in the build")
	}
}

// TestRunbooks: the index lists every runbook, and the procedures the
// alerts lead to exist with the same shape.
func TestRunbooks(t *testing.T) {
	t.Parallel()
	index, err := os.ReadFile("../docs/runbooks/README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("../docs/runbooks/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "README.md" {
			continue
		}
		if !strings.Contains(string(index), "("+name+")") {
			t.Errorf("docs/runbooks/README.md does not link %s", name)
		}
	}
	for _, p := range []string{"half-applied-migration.md", "rollback.md", "leaked-secret.md"} {
		doc, err := os.ReadFile("../docs/runbooks/" + p)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, h := range runbookSections {
			if !strings.Contains(string(doc), "\n"+h+"\n") {
				t.Errorf("%s lacks %q", p, h)
			}
		}
	}
}

// dashboard is the part of a Grafana dashboard the tests read; decoding is
// lenient on purpose (Grafana's model is large) but what is read must be there.
type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
}

// grafanaVars are Grafana's interval variables, replaced by a duration
// before an expression goes to the PromQL parser.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// dashboardMetrics loads every dashboard, checks it, and returns the
// metrics its panels query.
func dashboardMetrics(t *testing.T) map[string][]string {
	t.Helper()
	files, err := filepath.Glob("k8s/components/monitoring/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	used := map[string][]string{}
	uids := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || d.Title == "" || uids[d.UID] || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q (unique, set), title %q, %d panels", f, d.UID, d.Title, len(d.Panels))
		}
		uids[d.UID] = true
		if !slices.ContainsFunc(d.Templating.List, func(v struct {
			Name string `json:"name"`
		}) bool {
			return v.Name == "datasource"
		}) {
			t.Errorf("%s: no datasource variable: the dashboard would be tied to one Prometheus", f)
		}
		ids := map[int]bool{}
		for _, p := range d.Panels {
			what := filepath.Base(f) + ": " + p.Title
			if ids[p.ID] || p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
				t.Errorf("%s: id %d (unique), datasource ${datasource}, and at least one query", what, p.ID)
			}
			ids[p.ID] = true
			for _, tg := range p.Targets {
				for _, n := range metricNames(t, what, grafanaVars.Replace(tg.Expr)) {
					used[n] = append(used[n], what)
				}
			}
		}
	}
	// The dashboards reach Grafana through a ConfigMap of the build, byte
	// for byte, with the label the dashboard sidecar looks for.
	m := buildOverlay(t, "prod")
	cm, ok := m.configMaps["meterflow-dashboards"]
	if !ok || cm.Labels["grafana_dashboard"] != "1" {
		t.Fatal("prod: no ConfigMap meterflow-dashboards labelled grafana_dashboard=1")
	}
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if cm.Data[filepath.Base(f)] != string(data) {
			t.Errorf("ConfigMap meterflow-dashboards does not carry %s as it is", filepath.Base(f))
		}
	}
	return used
}

func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	if len(dashboardMetrics(t)) == 0 {
		t.Fatal("the dashboards query no metric")
	}
	// The parser really refuses what is not PromQL.
	if _, err := promql.ParseExpr(`sum(rate(x[5m])`); err == nil {
		t.Fatal("the PromQL parser accepted an unbalanced expression")
	}
}

// TestPodMonitorScrapesEveryProcess: one target per pod on its metrics
// port, job=<process>, which every alert and panel selects on.
func TestPodMonitorScrapesEveryProcess(t *testing.T) {
	t.Parallel()
	m := buildOverlay(t, "prod")
	pm, ok := m.podMonitors["meterflow"]
	if !ok {
		t.Fatal("prod: no PodMonitor meterflow")
	}
	if pm.Spec.JobLabel != "app.kubernetes.io/name" {
		t.Errorf("jobLabel %q: the alerts expect job=<process>", pm.Spec.JobLabel)
	}
	for _, p := range processes {
		pod := m.deployments[p.name].Spec.Template
		if !selects(&pm.Spec.Selector, pod.Labels) {
			t.Errorf("PodMonitor does not select %s's pods %v", p.name, pod.Labels)
		}
		if pod.Labels["app.kubernetes.io/name"] != p.name {
			t.Errorf("%s: pods labelled app.kubernetes.io/name=%q, so job would be that", p.name, pod.Labels["app.kubernetes.io/name"])
		}
		c := mainContainer(t, m, p.name)
		if !slices.ContainsFunc(pm.Spec.PodMetricsEndpoints, func(e monitoringv1.PodMetricsEndpoint) bool {
			return e.Port != nil && slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == *e.Port && cp.ContainerPort == p.metricsPort })
		}) {
			t.Errorf("PodMonitor scrapes no port of %s that is its metrics port %d", p.name, p.metricsPort)
		}
	}
}
