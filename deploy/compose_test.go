package deploy

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads ../docker-compose.yml the way `docker compose` does
// (interpolation, merge keys, validation against the compose schema), with
// the given profiles enabled and without the caller's environment.
func loadCompose(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join("..", "docker-compose.yml")},
		cli.WithWorkingDirectory(".."),
		cli.WithEnv(nil),
		cli.WithProfiles(profiles),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yml: no service %s", name)
	}
	return s
}

func env(s types.ServiceConfig, name string) string {
	if v, ok := s.Environment[name]; ok && v != nil {
		return *v
	}
	return ""
}

func TestComposeServices(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	if p.Name != "meterflow" {
		t.Errorf("project name %q, want meterflow", p.Name)
	}
	want := []string{
		"postgres", "redis", "jaeger", "stripe-mock", "mailpit",
		"identity-keygen", "identity-migrate", "wallet-migrate", "workflow-migrate", "notify-migrate",
		"identity", "wallet", "workflow", "notify", "gateway",
	}
	got := p.ServiceNames()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("services without profiles: got %v, want %v", got, want)
	}
	// n8n is there only when asked for.
	if _, ok := p.DisabledServices["n8n"]; !ok {
		t.Error("n8n must be disabled unless its profile is enabled")
	}
	withN8N := loadCompose(t, "n8n")
	n8n := service(t, withN8N, "n8n")
	if !slices.Equal(n8n.Profiles, []string{"n8n"}) || !strings.HasPrefix(n8n.Image, "n8nio/n8n:") {
		t.Errorf("n8n: profiles %v image %s", n8n.Profiles, n8n.Image)
	}
}

func TestComposeProcesses(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	for _, proc := range processes {
		s := service(t, p, proc.name)
		// Built from the workspace with the process's own Dockerfile.
		dockerfile := "deploy/docker/" + proc.name + ".Dockerfile"
		if s.Build == nil || s.Build.Dockerfile != dockerfile || filepath.Clean(s.Build.Context) != filepath.Clean(p.WorkingDir) {
			t.Errorf("%s: build %+v, want context = repository root, dockerfile %s", proc.name, s.Build, dockerfile)
		}
		if s.Build != nil && s.Build.Target != "" {
			t.Errorf("%s: builds target %q; the service image is the Dockerfile's last stage", proc.name, s.Build.Target)
		}
		// Distroless has no shell or curl: the binary checks itself.
		hc := s.HealthCheck
		if hc == nil || !slices.Equal(hc.Test, types.HealthCheckTest{"CMD", "/" + proc.name, "healthcheck"}) {
			t.Errorf("%s: healthcheck %+v, want [CMD /%s healthcheck]", proc.name, hc, proc.name)
		} else if hc.Interval == nil || hc.Retries == nil || hc.StartPeriod == nil {
			t.Errorf("%s: healthcheck needs an interval, retries and a start period", proc.name)
		}
		if !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("%s: want read_only, cap_drop [ALL], no-new-privileges", proc.name)
		}
		if got := env(s, "OTEL_EXPORTER_OTLP_ENDPOINT"); got != "http://jaeger:4317" {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT = %q", proc.name, got)
		}
		if got := env(s, "APP_ENV"); got != "development" {
			t.Errorf("%s: APP_ENV = %q, want development", proc.name, got)
		}
		if got := env(s, "INTERNAL_AUTH_SECRET"); len(got) < 32 {
			t.Errorf("%s: INTERNAL_AUTH_SECRET must be set (>= 32 bytes) and shared", proc.name)
		} else if got != env(service(t, p, "gateway"), "INTERNAL_AUTH_SECRET") {
			t.Errorf("%s: INTERNAL_AUTH_SECRET differs from the gateway's", proc.name)
		}
		// Inside a container, 127.0.0.1 is unreachable from the others.
		for _, name := range []string{"GRPC_ADDR", "METRICS_ADDR", "HTTP_ADDR", "ADMIN_ADDR"} {
			if v, ok := s.Environment[name]; ok && (v == nil || !strings.HasPrefix(*v, "0.0.0.0:")) {
				t.Errorf("%s: %s must bind 0.0.0.0", proc.name, name)
			}
		}
		if proc.grpcPort != 0 {
			if got := env(s, "DATABASE_URL"); !strings.Contains(got, "@postgres:5432/meterflow_"+proc.name+"?") {
				t.Errorf("%s: DATABASE_URL %q is not its own database on the compose Postgres", proc.name, got)
			}
		}
	}
}

func TestComposeDependencies(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	const (
		healthy   = types.ServiceConditionHealthy
		completed = types.ServiceConditionCompletedSuccessfully
		started   = types.ServiceConditionStarted
	)
	want := map[string]map[string]string{
		"identity-keygen":  {},
		"identity-migrate": {"postgres": healthy},
		"wallet-migrate":   {"postgres": healthy},
		"workflow-migrate": {"postgres": healthy},
		"notify-migrate":   {"postgres": healthy},
		"identity":         {"identity-keygen": completed, "identity-migrate": completed, "jaeger": started},
		"wallet":           {"wallet-migrate": completed, "identity": healthy, "stripe-mock": started, "jaeger": started},
		"workflow":         {"workflow-migrate": completed, "identity": healthy, "wallet": healthy, "jaeger": started},
		"notify":           {"notify-migrate": completed, "identity": healthy, "mailpit": started, "jaeger": started},
		"gateway":          {"redis": healthy, "identity": healthy, "wallet": healthy, "workflow": healthy, "jaeger": started},
	}
	for name, deps := range want {
		s := service(t, p, name)
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
			if !d.Required {
				t.Errorf("%s: dependency on %s is not required", name, dep)
			}
		}
		if len(got) != len(deps) {
			t.Errorf("%s depends on %v, want %v", name, got, deps)
		}
		for dep, cond := range deps {
			if got[dep] != cond {
				t.Errorf("%s: depends on %s with %q, want %q", name, dep, got[dep], cond)
			}
		}
	}
	// A service_healthy dependency needs a health check on the other side.
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == healthy {
				if hc := service(t, p, dep).HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, which has no health check", name, dep)
				}
			}
		}
	}
	for _, one := range []string{"identity-keygen", "identity-migrate", "wallet-migrate", "workflow-migrate", "notify-migrate"} {
		if s := service(t, p, one); s.Restart != "no" {
			t.Errorf("%s: a one-shot must not restart (restart %q)", one, s.Restart)
		}
	}
	for _, svc := range services {
		m := service(t, p, svc+"-migrate")
		if !slices.Equal([]string(m.Command), []string{"migrate"}) || m.Image != service(t, p, svc).Image {
			t.Errorf("%s-migrate: runs %v in %s, want [migrate] in the service's image %s", svc, m.Command, m.Image, service(t, p, svc).Image)
		}
		if env(m, "DATABASE_URL") != env(service(t, p, svc), "DATABASE_URL") {
			t.Errorf("%s-migrate: migrates another database than the service uses", svc)
		}
	}
	pg := service(t, p, "postgres")
	if pg.HealthCheck == nil || len(pg.HealthCheck.Test) == 0 {
		t.Error("postgres: no health check")
	}
	if s := service(t, p, "redis"); s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
		t.Error("redis: no health check")
	}
}

func TestComposePortsAndVolumes(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	published := func(name string, target uint32) bool {
		for _, port := range service(t, p, name).Ports {
			if port.Target == target && port.Published == strconv.FormatUint(uint64(target), 10) && (port.HostIP == "" || port.HostIP == "0.0.0.0") {
				return true
			}
		}
		return false
	}
	if !published("gateway", 8080) {
		t.Error("the API is not published at localhost:8080")
	}
	if !published("jaeger", 16686) {
		t.Error("the Jaeger UI is not published at localhost:16686")
	}
	// Nothing else faces the network: the services are reached through
	// the gateway, Postgres and Redis not at all.
	for name, s := range p.Services {
		for _, port := range s.Ports {
			public := port.HostIP == "" || port.HostIP == "0.0.0.0"
			if public && !(name == "gateway" && port.Target == 8080) && !(name == "jaeger" && port.Target == 16686) {
				t.Errorf("%s publishes %d on every interface", name, port.Target)
			}
		}
	}
	// Postgres creates one database per service on first start.
	var initScript string
	for _, v := range service(t, p, "postgres").Volumes {
		if strings.HasPrefix(v.Target, "/docker-entrypoint-initdb.d/") {
			initScript = v.Source
		}
	}
	sql, err := os.ReadFile(initScript)
	if err != nil {
		t.Fatalf("postgres init script: %v", err)
	}
	for _, svc := range services {
		if !strings.Contains(string(sql), "CREATE DATABASE meterflow_"+svc+" ") {
			t.Errorf("postgres init script does not create meterflow_%s", svc)
		}
	}
	// identity reads the key that keygen wrote, from the same volume, read-only.
	keyVolume := func(name string) (types.ServiceVolumeConfig, bool) {
		for _, v := range service(t, p, name).Volumes {
			if v.Type == types.VolumeTypeVolume && v.Source == "jwt-keys" {
				return v, true
			}
		}
		return types.ServiceVolumeConfig{}, false
	}
	kg, ok1 := keyVolume("identity-keygen")
	id, ok2 := keyVolume("identity")
	if !ok1 || !ok2 || kg.ReadOnly || !id.ReadOnly {
		t.Fatalf("jwt-keys: keygen (rw) %v %+v, identity (ro) %v %+v", ok1, kg, ok2, id)
	}
	if keyFile := env(service(t, p, "identity"), "JWT_SIGNING_KEY_FILE"); filepath.Dir(keyFile) != id.Target {
		t.Errorf("identity: JWT_SIGNING_KEY_FILE %s is not in the key volume at %s", keyFile, id.Target)
	}
	if b := service(t, p, "identity-keygen").Build; b == nil || b.Target != "keygen" || b.Dockerfile != "deploy/docker/identity.Dockerfile" {
		t.Errorf("identity-keygen: build %+v, want identity.Dockerfile target keygen", b)
	}
	// Email goes to Mailpit, whose inbox is published on this machine only,
	// and the producers find notify.
	if n := service(t, p, "notify"); env(n, "SMTP_URL") != "smtp://mailpit:1025" || env(n, "MAIL_FROM") == "" {
		t.Errorf("notify: SMTP_URL %q, MAIL_FROM %q; want Mailpit and a sender", env(n, "SMTP_URL"), env(n, "MAIL_FROM"))
	}
	inbox := false
	for _, port := range service(t, p, "mailpit").Ports {
		inbox = inbox || port.Target == 8025 && port.Published == "8025" && port.HostIP == "127.0.0.1"
	}
	if !inbox {
		t.Error("the Mailpit inbox is not published at 127.0.0.1:8025")
	}
	for _, producer := range []string{"identity", "wallet", "workflow"} {
		if got := env(service(t, p, producer), "NOTIFY_ADDR"); got != "notify:50054" {
			t.Errorf("%s: NOTIFY_ADDR = %q, want notify:50054", producer, got)
		}
	}
	// Development values only, and the ones the wallet tests and dev-pay use.
	w := service(t, p, "wallet")
	if env(w, "STRIPE_API_BASE") != "http://stripe-mock:12111" || !strings.HasPrefix(env(w, "STRIPE_SECRET_KEY"), "sk_test_") || env(w, "STRIPE_WEBHOOK_SECRET") != "whsec_dev_meterflow" {
		t.Error("wallet: Stripe settings must point at stripe-mock with test keys")
	}
}
