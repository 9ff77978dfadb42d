package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func TestOverlaysDiffer(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, overlay string, m *manifests) {
		for _, p := range processes {
			hpa := m.hpas[p.name]
			if hpa == nil {
				t.Fatalf("no HPA %s", p.name)
			}
			replicas := deref(hpa.Spec.MinReplicas)
			image := mainContainer(t, m, p.name).Image
			switch overlay {
			case "dev":
				if replicas != 1 {
					t.Errorf("dev: %s has %d replicas, want 1", p.name, replicas)
				}
			case "prod":
				if replicas < 3 {
					t.Errorf("prod: %s has %d replicas, want at least 3", p.name, replicas)
				}
				// A registry and an immutable-looking release tag.
				if !regexp.MustCompile(`^[a-z0-9.-]+\.[a-z]+/.+:v\d+\.\d+\.\d+$`).MatchString(image) {
					t.Errorf("prod: %s image %s is not a registry image with a release tag", p.name, image)
				}
			}
		}
		if overlay == "prod" {
			dev := buildOverlay(t, "dev")
			for _, p := range processes {
				prodLim := mainContainer(t, m, p.name).Resources.Limits[corev1.ResourceMemory]
				devLim := mainContainer(t, dev, p.name).Resources.Limits[corev1.ResourceMemory]
				if prodLim.Cmp(devLim) <= 0 {
					t.Errorf("prod: %s memory limit %s is not above dev's %s", p.name, prodLim.String(), devLim.String())
				}
			}
		}
	})
}

// collectorConfig is the part of the collector's configuration we check.
type collectorConfig struct {
	Extensions map[string]any `json:"extensions"`
	Receivers  struct {
		OTLP struct {
			Protocols struct {
				GRPC *struct {
					Endpoint string `json:"endpoint"`
				} `json:"grpc"`
				HTTP *struct {
					Endpoint string `json:"endpoint"`
				} `json:"http"`
			} `json:"protocols"`
		} `json:"otlp"`
	} `json:"receivers"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]struct {
		Endpoint string         `json:"endpoint"`
		TLS      map[string]any `json:"tls"`
	} `json:"exporters"`
	Service struct {
		Extensions []string       `json:"extensions"`
		Telemetry  map[string]any `json:"telemetry"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

func TestOpenTelemetryCollector(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		d, ok := m.deployments["otel-collector"]
		if !ok {
			t.Fatal("no otel-collector Deployment")
		}
		var cmName string
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.ConfigMap != nil {
				cmName = v.ConfigMap.Name
			}
		}
		cm, ok := m.configMaps[cmName]
		if !ok {
			t.Fatalf("collector ConfigMap %q is not in the build", cmName)
		}
		var cfg collectorConfig
		if err := yaml.UnmarshalStrict([]byte(cm.Data["collector.yaml"]), &cfg); err != nil {
			t.Fatalf("collector.yaml: %v", err)
		}
		if cfg.Receivers.OTLP.Protocols.GRPC == nil || !strings.HasSuffix(cfg.Receivers.OTLP.Protocols.GRPC.Endpoint, ":4317") {
			t.Errorf("collector: no OTLP/gRPC receiver on 4317")
		}
		traces, ok := cfg.Service.Pipelines["traces"]
		if !ok {
			t.Fatal("collector: no traces pipeline")
		}
		// memory_limiter first (refuse data before running out of memory),
		// batch last (right before export).
		if n := len(traces.Processors); n < 2 || traces.Processors[0] != "memory_limiter" || traces.Processors[n-1] != "batch" {
			t.Errorf("collector: processors %v, want memory_limiter first and batch last", traces.Processors)
		}
		for _, p := range traces.Processors {
			if _, ok := cfg.Processors[p]; !ok {
				t.Errorf("collector: pipeline uses undefined processor %s", p)
			}
		}
		if !slices.Equal(traces.Receivers, []string{"otlp"}) {
			t.Errorf("collector: receivers %v", traces.Receivers)
		}
		for _, e := range traces.Exporters {
			exp, ok := cfg.Exporters[e]
			if !ok || !strings.HasPrefix(e, "otlp") || !strings.HasSuffix(exp.Endpoint, ":4317") {
				t.Errorf("collector: exporter %s = %+v, want OTLP to the tracing backend on 4317", e, exp)
			}
		}
		if len(traces.Exporters) == 0 {
			t.Error("collector: traces go nowhere")
		}
		svc, ok := m.services["otel-collector"]
		if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == 4317 }) {
			t.Error("collector: no Service on 4317 for OTEL_EXPORTER_OTLP_ENDPOINT=http://otel-collector:4317")
		}
	})
}
