package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// overlays are the kustomize overlays an operator may apply.
var overlays = []string{"dev", "prod"}

// manifests is one overlay's output, decoded into the Kubernetes API types.
type manifests struct {
	namespaces      []*corev1.Namespace
	configMaps      map[string]*corev1.ConfigMap
	secrets         []*corev1.Secret
	services        map[string]*corev1.Service
	deployments     map[string]*appsv1.Deployment
	jobs            map[string]*batchv1.Job
	cronJobs        map[string]*batchv1.CronJob
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs            map[string]*policyv1.PodDisruptionBudget
	networkPolicies []*networkingv1.NetworkPolicy
	ingresses       map[string]*networkingv1.Ingress
	httpRoutes      map[string]*gatewayv1.HTTPRoute
	gateways        map[string]*gatewayv1.Gateway
	podMonitors     map[string]*monitoringv1.PodMonitor
	prometheusRules map[string]*monitoringv1.PrometheusRule
	// namespace is the one namespace every namespaced object is in.
	namespace string
}

// kinds maps each kind the manifests may contain to its API version; any
// other kind (or version) fails the build, so a typo cannot slip through
// as an object the decoder knows nothing about.
var kinds = map[string]string{
	"Namespace":               "v1",
	"ConfigMap":               "v1",
	"Secret":                  "v1",
	"Service":                 "v1",
	"Deployment":              "apps/v1",
	"Job":                     "batch/v1",
	"CronJob":                 "batch/v1",
	"HorizontalPodAutoscaler": "autoscaling/v2",
	"PodDisruptionBudget":     "policy/v1",
	"NetworkPolicy":           "networking.k8s.io/v1",
	"Ingress":                 "networking.k8s.io/v1",
	"HTTPRoute":               "gateway.networking.k8s.io/v1",
	"Gateway":                 "gateway.networking.k8s.io/v1",
	"PodMonitor":              "monitoring.coreos.com/v1",
	"PrometheusRule":          "monitoring.coreos.com/v1",
}

// builds caches each overlay's build for the test binary: building is the
// slow part, and the map itself is never written after init.
var builds = map[string]*buildResult{"dev": {}, "prod": {}, "edge": {}}

type buildResult struct {
	once sync.Once
	m    *manifests
	err  error
}

// buildOverlay runs kustomize on deploy/k8s/overlays/name and decodes
// every object strictly.
func buildOverlay(t *testing.T, name string) *manifests {
	t.Helper()
	r, ok := builds[name]
	if !ok {
		t.Fatalf("no overlay %q", name)
	}
	dir := filepath.Join("k8s", "overlays", name)
	if name == "edge" {
		dir = filepath.Join("k8s", "edge") // the shared Gateway, applied on its own
	}
	r.once.Do(func() { r.m, r.err = build(dir) })
	if r.err != nil {
		t.Fatalf("overlay %s: %v", name, r.err)
	}
	return r.m
}

// kustomizeMu serialises kustomize runs: kustomize keeps package-level
// state (its OpenAPI schema cache) that two overlays built at once race on,
// which go test -race reported in CI.
var kustomizeMu sync.Mutex

func build(dir string) (*manifests, error) {
	kustomizeMu.Lock()
	defer kustomizeMu.Unlock()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	m := &manifests{
		configMaps:  map[string]*corev1.ConfigMap{},
		services:    map[string]*corev1.Service{},
		deployments: map[string]*appsv1.Deployment{},
		jobs:        map[string]*batchv1.Job{},
		hpas:        map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		pdbs:        map[string]*policyv1.PodDisruptionBudget{},
		ingresses:   map[string]*networkingv1.Ingress{},
		cronJobs:    map[string]*batchv1.CronJob{},
		httpRoutes:  map[string]*gatewayv1.HTTPRoute{},
		gateways:    map[string]*gatewayv1.Gateway{},
		podMonitors: map[string]*monitoringv1.PodMonitor{},

		prometheusRules: map[string]*monitoringv1.PrometheusRule{},
	}
	for _, res := range resMap.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", res.CurId(), err)
		}
		kind, version := res.GetKind(), res.GetApiVersion()
		want, ok := kinds[kind]
		if !ok {
			return nil, fmt.Errorf("%s: kind %s is not expected in the manifests", res.CurId(), kind)
		}
		if version != want {
			return nil, fmt.Errorf("%s: apiVersion %s, want %s", res.CurId(), version, want)
		}
		name := res.GetName()
		if ns := res.GetNamespace(); kind != "Namespace" {
			if m.namespace == "" {
				m.namespace = ns
			}
			if ns == "" || ns != m.namespace {
				return nil, fmt.Errorf("%s: namespace %q, but the build's objects are in %q", res.CurId(), ns, m.namespace)
			}
		}
		switch kind {
		case "Namespace":
			m.namespaces = append(m.namespaces, decodeInto[corev1.Namespace](&err, data))
		case "ConfigMap":
			m.configMaps[name] = decodeInto[corev1.ConfigMap](&err, data)
		case "Secret":
			m.secrets = append(m.secrets, decodeInto[corev1.Secret](&err, data))
		case "Service":
			m.services[name] = decodeInto[corev1.Service](&err, data)
		case "Deployment":
			m.deployments[name] = decodeInto[appsv1.Deployment](&err, data)
		case "Job":
			m.jobs[name] = decodeInto[batchv1.Job](&err, data)
		case "HorizontalPodAutoscaler":
			m.hpas[name] = decodeInto[autoscalingv2.HorizontalPodAutoscaler](&err, data)
		case "PodDisruptionBudget":
			m.pdbs[name] = decodeInto[policyv1.PodDisruptionBudget](&err, data)
		case "NetworkPolicy":
			m.networkPolicies = append(m.networkPolicies, decodeInto[networkingv1.NetworkPolicy](&err, data))
		case "Ingress":
			m.ingresses[name] = decodeInto[networkingv1.Ingress](&err, data)
		case "CronJob":
			m.cronJobs[name] = decodeInto[batchv1.CronJob](&err, data)
		case "HTTPRoute":
			m.httpRoutes[name] = decodeInto[gatewayv1.HTTPRoute](&err, data)
		case "Gateway":
			m.gateways[name] = decodeInto[gatewayv1.Gateway](&err, data)
		case "PodMonitor":
			m.podMonitors[name] = decodeInto[monitoringv1.PodMonitor](&err, data)
		case "PrometheusRule":
			m.prometheusRules[name] = decodeInto[monitoringv1.PrometheusRule](&err, data)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", res.CurId(), err)
		}
	}
	return m, nil
}

// decodeInto decodes data into a new T, failing on any field T does not
// have (a misspelt or misplaced key is an error, not silently dropped).
func decodeInto[T any](errp *error, data []byte) *T {
	v := new(T)
	if err := strictJSON(data, v); err != nil {
		*errp = err
	}
	return v
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("strict decode into %T: %w", v, err)
	}
	if dec.More() {
		return fmt.Errorf("strict decode into %T: trailing data", v)
	}
	return nil
}

// TestStrictDecodingRejectsUnknownFields proves the decoder used above
// would catch a misplaced key (here a probe written one level too high).
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	t.Parallel()
	bad := []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"x"},
		"spec":{"template":{"spec":{"containers":[{"name":"x","image":"x"}],"readinessProbe":{}}}}}`)
	var err error
	decodeInto[appsv1.Deployment](&err, bad)
	if err == nil {
		t.Fatal("a Deployment with spec.template.spec.readinessProbe decoded without error")
	}
}
