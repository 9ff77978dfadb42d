package deploy

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// process describes one of the five Meterflow processes as
// docs/architecture.md fixes it.
type process struct {
	name        string
	grpcPort    int32 // 0 for the gateway, which serves HTTP
	httpPort    int32 // the gateway's public port
	metricsPort int32
	// secretEnv maps each secret variable to the Secret that must hold it.
	secretEnv map[string]string
}

var processes = []process{
	{name: "gateway", httpPort: 8080, metricsPort: 9090, secretEnv: map[string]string{
		"INTERNAL_AUTH_SECRET": "meterflow-internal-auth", "REDIS_URL": "gateway-redis",
		"SESSION_ENCRYPTION_KEY": "gateway-session-key"}},
	{name: "identity", grpcPort: 50051, metricsPort: 9091, secretEnv: map[string]string{
		"INTERNAL_AUTH_SECRET": "meterflow-internal-auth", "DATABASE_URL": "identity-db"}},
	{name: "wallet", grpcPort: 50052, metricsPort: 9092, secretEnv: map[string]string{
		"INTERNAL_AUTH_SECRET": "meterflow-internal-auth", "DATABASE_URL": "wallet-db",
		"STRIPE_SECRET_KEY": "wallet-stripe", "STRIPE_WEBHOOK_SECRET": "wallet-stripe"}},
	{name: "workflow", grpcPort: 50053, metricsPort: 9093, secretEnv: map[string]string{
		"INTERNAL_AUTH_SECRET": "meterflow-internal-auth", "DATABASE_URL": "workflow-db",
		"WORKFLOW_SECRETS_KEY": "workflow-secrets-key"}},
	{name: "notify", grpcPort: 50054, metricsPort: 9094, secretEnv: map[string]string{
		"INTERNAL_AUTH_SECRET": "meterflow-internal-auth", "DATABASE_URL": "notify-db", "SMTP_URL": "notify-smtp"}},
}

// services are the processes that own a database and a migration Job.
var services = []string{"identity", "wallet", "workflow", "notify"}

// nonRootUID is distroless's nonroot user, which the images run as.
const nonRootUID = 65532

// forEachOverlay runs f as a parallel subtest per overlay.
func forEachOverlay(t *testing.T, f func(t *testing.T, overlay string, m *manifests)) {
	t.Helper()
	for _, o := range overlays {
		t.Run(o, func(t *testing.T) {
			t.Parallel()
			f(t, o, buildOverlay(t, o))
		})
	}
}

// checkPodHardening asserts what the restricted Pod Security Standard and
// our own rules ask of every pod: no API token, non-root, a read-only root
// filesystem, no privilege escalation, no capabilities, RuntimeDefault
// seccomp, and requests and limits on every container.
func checkPodHardening(t *testing.T, what string, spec corev1.PodSpec, wantUID int64) {
	t.Helper()
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken must be false", what)
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		t.Errorf("%s: uses a host namespace", what)
	}
	if len(spec.Containers) == 0 {
		t.Fatalf("%s: no containers", what)
	}
	pod := spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		w := what + "/" + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", w)
			continue
		}
		nonRoot := firstBool(sc.RunAsNonRoot, pod.RunAsNonRoot)
		if nonRoot == nil || !*nonRoot {
			t.Errorf("%s: runAsNonRoot must be true", w)
		}
		uid := firstInt64(sc.RunAsUser, pod.RunAsUser)
		if uid == nil || *uid != wantUID {
			t.Errorf("%s: runAsUser = %v, want %d", w, deref(uid), wantUID)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: readOnlyRootFilesystem must be true", w)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: allowPrivilegeEscalation must be false", w)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", w)
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities must drop ALL and add none, got %+v", w, sc.Capabilities)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = pod.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccompProfile must be RuntimeDefault", w)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, okReq := c.Resources.Requests[res]
			lim, okLim := c.Resources.Limits[res]
			if !okReq || !okLim || req.IsZero() || lim.IsZero() {
				t.Errorf("%s: %s needs a request and a limit", w, res)
				continue
			}
			if lim.Cmp(req) < 0 {
				t.Errorf("%s: %s limit %s below request %s", w, res, lim.String(), req.String())
			}
		}
		if strings.HasSuffix(c.Image, ":latest") {
			t.Errorf("%s: image %s uses :latest", w, c.Image)
		}
	}
}

func TestDeploymentsAreHardened(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		if len(m.deployments) == 0 {
			t.Fatal("no Deployments")
		}
		for name, d := range m.deployments {
			uid := int64(nonRootUID)
			if name == "otel-collector" {
				uid = 10001 // the collector image's own non-root user
			}
			checkPodHardening(t, "Deployment "+name, d.Spec.Template.Spec, uid)
			for _, c := range d.Spec.Template.Spec.Containers {
				if c.LivenessProbe == nil || c.ReadinessProbe == nil {
					t.Errorf("Deployment %s/%s: needs liveness and readiness probes", name, c.Name)
				}
			}
		}
		for _, p := range processes {
			if _, ok := m.deployments[p.name]; !ok {
				t.Errorf("no Deployment %s", p.name)
			}
		}
	})
}

// mainContainer returns the container named like its Deployment.
func mainContainer(t *testing.T, m *manifests, name string) corev1.Container {
	t.Helper()
	d, ok := m.deployments[name]
	if !ok {
		t.Fatalf("no Deployment %s", name)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container %s", name, name)
	return corev1.Container{}
}

// containerPort resolves a probe's or Service's port (number or name) to
// the container's port number; 0 when the container does not declare it.
func containerPort(c corev1.Container, p intstr.IntOrString) int32 {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort
		}
	}
	return 0
}

func TestProbesMatchEachProcess(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		for _, p := range processes {
			c := mainContainer(t, m, p.name)
			if !slices.Equal(c.Args, []string{"serve"}) || len(c.Command) > 0 {
				t.Errorf("%s: runs %v %v, want the image's entrypoint with args [serve]", p.name, c.Command, c.Args)
			}
			probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
			for kind, probe := range probes {
				if probe == nil {
					t.Errorf("%s: no %s probe", p.name, kind)
					continue
				}
				if p.grpcPort != 0 {
					// Services: the standard gRPC health service on the
					// gRPC port, which the container must declare.
					g := probe.GRPC
					if g == nil || probe.HTTPGet != nil || probe.Exec != nil || probe.TCPSocket != nil {
						t.Errorf("%s: %s probe must be a gRPC probe, got %+v", p.name, kind, probe.ProbeHandler)
						continue
					}
					if g.Port != p.grpcPort || containerPort(c, intstr.FromInt32(g.Port)) != p.grpcPort {
						t.Errorf("%s: %s probe on port %d, want the declared gRPC port %d", p.name, kind, g.Port, p.grpcPort)
					}
					if g.Service != nil && *g.Service != "" {
						t.Errorf("%s: %s probe asks for service %q; the servers report the overall status", p.name, kind, *g.Service)
					}
					continue
				}
				// The gateway: HTTP /healthz (alive) on the public port and
				// /readyz on the admin port (the gateway itself, never its
				// services).
				h := probe.HTTPGet
				if h == nil || probe.GRPC != nil || probe.Exec != nil {
					t.Errorf("%s: %s probe must be an HTTP probe", p.name, kind)
					continue
				}
				want := map[string]string{"liveness": "/healthz", "readiness": "/readyz"}[kind]
				if h.Path != want {
					t.Errorf("%s: %s probe path %s, want %s", p.name, kind, h.Path, want)
				}
				wantPort := map[string]int32{"liveness": p.httpPort, "readiness": p.metricsPort}[kind]
				if got := containerPort(c, h.Port); got != wantPort {
					t.Errorf("%s: %s probe port %s resolves to %d, want %d", p.name, kind, h.Port.String(), got, wantPort)
				}
			}
		}
	})
}

// processEnv returns the environment a container gets from its ConfigMaps
// (which must exist in the build) and its literal env entries, and the
// Secret each secret-sourced variable comes from.
func processEnv(t *testing.T, m *manifests, what string, c corev1.Container) (values, fromSecret map[string]string) {
	t.Helper()
	values, fromSecret = map[string]string{}, map[string]string{}
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil {
			t.Errorf("%s: envFrom a whole Secret (%s) hides which keys a process needs: use secretKeyRef", what, ef.SecretRef.Name)
		}
		if ef.ConfigMapRef != nil {
			cm, ok := m.configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Errorf("%s: ConfigMap %s is not in the build", what, ef.ConfigMapRef.Name)
				continue
			}
			for k, v := range cm.Data {
				values[k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			values[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			optional := ref.Optional != nil && *ref.Optional
			switch {
			case optional && !slices.Contains(rotationVars, e.Name):
				t.Errorf("%s: secret %s/%s is optional; a missing secret must stop the pod", what, ref.Name, ref.Key)
			case !optional && slices.Contains(rotationVars, e.Name):
				t.Errorf("%s: %s from %s/%s must be optional: it is set only during a rotation", what, e.Name, ref.Name, ref.Key)
			}
			fromSecret[e.Name] = ref.Name
			delete(values, e.Name)
		}
	}
	return values, fromSecret
}

// secretVars are variables that only ever come from a Secret.
var secretVars = []string{"INTERNAL_AUTH_SECRET", "DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "WORKFLOW_SECRETS_KEY", "SESSION_ENCRYPTION_KEY", "SMTP_URL",
	"INTERNAL_AUTH_SECRET_PREVIOUS", "WORKFLOW_SECRETS_KEYS_PREVIOUS"}

// rotationVars are the secrets set only while another one rotates
// (docs/operations.md, "Rotating secrets"): their secretKeyRef is
// optional, and theirs alone.
var rotationVars = []string{"INTERNAL_AUTH_SECRET_PREVIOUS", "WORKFLOW_SECRETS_KEYS_PREVIOUS"}

func TestProcessConfiguration(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, overlay string, m *manifests) {
		wantEnv := map[string]string{"dev": "development", "prod": "production"}[overlay]
		for _, p := range processes {
			c := mainContainer(t, m, p.name)
			values, fromSecret := processEnv(t, m, p.name, c)
			for name, secret := range p.secretEnv {
				if got := fromSecret[name]; got != secret {
					t.Errorf("%s: %s comes from Secret %q, want %q", p.name, name, got, secret)
				}
			}
			for _, name := range secretVars {
				if v, ok := values[name]; ok {
					t.Errorf("%s: %s has a literal value %q: secrets come from Secrets only", p.name, name, v)
				}
			}
			if got := values["APP_ENV"]; got != wantEnv {
				t.Errorf("%s: APP_ENV = %q, want %q", p.name, got, wantEnv)
			}
			if got := values["OTEL_EXPORTER_OTLP_ENDPOINT"]; got != "http://otel-collector:4317" {
				t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT = %q, want the collector", p.name, got)
			}
			// Containers must listen on every interface, on the ports the
			// probes, Services and NetworkPolicies use.
			listen := map[string]int32{"METRICS_ADDR": p.metricsPort, "GRPC_ADDR": p.grpcPort}
			if p.grpcPort == 0 {
				listen = map[string]int32{"ADMIN_ADDR": p.metricsPort, "HTTP_ADDR": p.httpPort}
			}
			for name, port := range listen {
				if want := fmt.Sprintf("0.0.0.0:%d", port); values[name] != want {
					t.Errorf("%s: %s = %q, want %q", p.name, name, values[name], want)
				}
				if containerPort(c, intstr.FromInt32(port)) == 0 {
					t.Errorf("%s: container does not declare port %d (%s)", p.name, port, name)
				}
			}
			for _, peer := range []string{"IDENTITY_ADDR", "WALLET_ADDR", "WORKFLOW_ADDR", "NOTIFY_ADDR"} {
				addr, ok := values[peer]
				if !ok {
					continue
				}
				host, port, _ := strings.Cut(addr, ":")
				svc, ok := m.services[host]
				if !ok || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return fmt.Sprint(sp.Port) == port }) {
					t.Errorf("%s: %s = %s names no Service port in the build", p.name, peer, addr)
				}
			}
		}
		identity := mainContainer(t, m, "identity")
		values, _ := processEnv(t, m, "identity", identity)
		keyFile := values["JWT_SIGNING_KEY_FILE"]
		mounted := false
		for _, vm := range identity.VolumeMounts {
			if strings.HasPrefix(keyFile, vm.MountPath+"/") && vm.ReadOnly {
				mounted = volumeSecret(m.deployments["identity"].Spec.Template.Spec, vm.Name) == "identity-jwt"
			}
		}
		if !mounted {
			t.Errorf("identity: JWT_SIGNING_KEY_FILE %q is not on a read-only mount of Secret identity-jwt", keyFile)
		}
	})
}

func volumeSecret(spec corev1.PodSpec, volume string) string {
	for _, v := range spec.Volumes {
		if v.Name == volume && v.Secret != nil {
			return v.Secret.SecretName
		}
	}
	return ""
}

// referencedSecrets lists every Secret a pod or Ingress of the build uses.
func referencedSecrets(m *manifests) map[string]bool {
	refs := map[string]bool{}
	addPod := func(spec corev1.PodSpec) {
		for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					refs[e.ValueFrom.SecretKeyRef.Name] = true
				}
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil {
					refs[ef.SecretRef.Name] = true
				}
			}
		}
		for _, v := range spec.Volumes {
			if v.Secret != nil {
				refs[v.Secret.SecretName] = true
			}
		}
	}
	for _, d := range m.deployments {
		addPod(d.Spec.Template.Spec)
	}
	for _, j := range m.jobs {
		addPod(j.Spec.Template.Spec)
	}
	for _, cj := range m.cronJobs {
		addPod(cj.Spec.JobTemplate.Spec.Template.Spec)
	}
	for _, gw := range m.gateways {
		for _, l := range gw.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, ref := range l.TLS.CertificateRefs {
				refs[string(ref.Name)] = true
			}
		}
	}
	for _, ing := range m.ingresses {
		for _, tls := range ing.Spec.TLS {
			refs[tls.SecretName] = true
		}
	}
	return refs
}

func TestSecretsAreReferencedNeverCommitted(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	edge := buildOverlay(t, "edge")
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		for _, s := range append(slices.Clone(m.secrets), edge.secrets...) {
			t.Errorf("Secret %s is part of the manifests (data keys: %d): secrets are created by the operator, never committed", s.Name, len(s.Data)+len(s.StringData))
		}
		refs := referencedSecrets(m)
		// TLS ends at the shared Gateway (deploy/k8s/edge).
		for name := range referencedSecrets(edge) {
			refs[name] = true
		}
		for _, want := range []string{"meterflow-internal-auth", "identity-db", "wallet-db", "workflow-db", "notify-db", "identity-jwt", "wallet-stripe", "workflow-secrets-key", "notify-smtp", "gateway-redis", "gateway-session-key", "meterflow-tls"} {
			if !refs[want] {
				t.Errorf("Secret %s is not referenced", want)
			}
		}
		// Every Secret the manifests need has its creation command in the
		// operations guide.
		for name := range refs {
			re := regexp.MustCompile(`kubectl .*create secret (generic|tls) ` + regexp.QuoteMeta(name) + `\b`)
			if !re.Match(doc) {
				t.Errorf("docs/operations.md has no `kubectl create secret ... %s` command", name)
			}
		}
	})
}

// TestMigrationsRunBeforeEachServer: every pod of a service migrates its
// database in an init container before its server starts, so no
// Deployment, however it is applied or scaled, runs new code on an older
// schema. (The standalone migration Jobs this replaces read the full
// production configuration without its secrets and could not run.)
func TestMigrationsRunBeforeEachServer(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		if len(m.jobs) > 0 {
			t.Errorf("standalone Jobs in the build (%d): migrations run in each server's init container", len(m.jobs))
		}
		for _, svc := range services {
			d := m.deployments[svc]
			if d == nil {
				t.Fatalf("no Deployment %s", svc)
			}
			spec := d.Spec.Template.Spec
			if len(spec.InitContainers) != 1 || spec.InitContainers[0].Name != "migrate" {
				t.Errorf("%s: init containers %v, want exactly one, migrate", svc, spec.InitContainers)
				continue
			}
			c := spec.InitContainers[0]
			if !slices.Equal(c.Args, []string{"migrate"}) || len(c.Command) > 0 {
				t.Errorf("%s: init container runs %v %v, want the image's entrypoint with args [migrate]", svc, c.Command, c.Args)
			}
			main := mainContainer(t, m, svc)
			if c.Image != main.Image {
				t.Errorf("%s: migrates with image %s, serves %s", svc, c.Image, main.Image)
			}
			values, fromSecret := processEnv(t, m, svc+"/migrate", c)
			if got := fromSecret["DATABASE_URL"]; got != svc+"-db" {
				t.Errorf("%s: migrate's DATABASE_URL from Secret %q, want %s-db", svc, got, svc)
			}
			// migrate is a database-only command: it gets the database's
			// Secret and none of the server's.
			mainValues, _ := processEnv(t, m, svc, main)
			checkDatabaseOnly(t, svc+"/migrate", svc, fromSecret)
			if values["APP_ENV"] != mainValues["APP_ENV"] {
				t.Errorf("%s: migrate runs with APP_ENV %q, the server with %q", svc, values["APP_ENV"], mainValues["APP_ENV"])
			}
			// A migration must not hold a table lock queue open behind a
			// long transaction: lock_timeout, retried by the kubelet.
			if !regexp.MustCompile(`-c lock_timeout=\d+s`).MatchString(values["PGOPTIONS"]) {
				t.Errorf("%s: migrate's PGOPTIONS %q sets no lock_timeout", svc, values["PGOPTIONS"])
			}
			if main.Env != nil && slices.ContainsFunc(main.Env, func(e corev1.EnvVar) bool { return e.Name == "PGOPTIONS" }) {
				t.Errorf("%s: the server gets PGOPTIONS; lock_timeout is for migrations only", svc)
			}
			for _, vm := range c.VolumeMounts {
				t.Errorf("%s: migrate mounts %s; it needs nothing but its database", svc, vm.MountPath)
			}
			// Long migrations run inside the rollout: the Deployment's
			// progress deadline is the migration deadline the docs wait for.
			if d.Spec.ProgressDeadlineSeconds == nil || *d.Spec.ProgressDeadlineSeconds < 1200 {
				t.Errorf("%s: progressDeadlineSeconds %v, want room for a long migration (>= 1200)", svc, deref(d.Spec.ProgressDeadlineSeconds))
			}
		}
	})
}

func TestAutoscalersAndDisruptionBudgets(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, overlay string, m *manifests) {
		for _, p := range processes {
			d := m.deployments[p.name]
			if d == nil {
				t.Fatalf("no Deployment %s", p.name)
			}
			hpa, ok := m.hpas[p.name]
			switch {
			case !ok:
				t.Errorf("no HorizontalPodAutoscaler %s", p.name)
			case hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != p.name || hpa.Spec.ScaleTargetRef.APIVersion != "apps/v1":
				t.Errorf("HPA %s targets %+v", p.name, hpa.Spec.ScaleTargetRef)
			case hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 1 || hpa.Spec.MaxReplicas <= *hpa.Spec.MinReplicas:
				t.Errorf("HPA %s: min %v max %d", p.name, deref(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas)
			case len(hpa.Spec.Metrics) == 0 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU:
				t.Errorf("HPA %s: wants a CPU utilisation metric", p.name)
			case d.Spec.Replicas != nil:
				// The HPA owns the count: a replicas field would reset it to
				// that number on every apply, then the HPA scales back.
				t.Errorf("Deployment %s: replicas %d set although HPA %s owns the count", p.name, *d.Spec.Replicas, hpa.Name)
			}
			pdb, ok := m.pdbs[p.name]
			if !ok {
				t.Errorf("no PodDisruptionBudget %s", p.name)
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("PDB %s: selector %v does not select the Deployment's pods", p.name, pdb.Spec.Selector)
			}
			if pdb.Spec.MaxUnavailable == nil && pdb.Spec.MinAvailable == nil {
				t.Errorf("PDB %s: neither maxUnavailable nor minAvailable", p.name)
			}
			// A minAvailable equal to the replica count would block every
			// node drain.
			if hpa != nil && hpa.Spec.MinReplicas != nil && pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.IntValue() >= int(*hpa.Spec.MinReplicas) {
				t.Errorf("PDB %s: minAvailable %s blocks drains with %d replicas", p.name, pdb.Spec.MinAvailable.String(), *hpa.Spec.MinReplicas)
			}
		}
	})
}

func TestServicesSelectTheirPods(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		for name, svc := range m.services {
			d, ok := m.deployments[name]
			if !ok {
				t.Errorf("Service %s has no Deployment of the same name", name)
				continue
			}
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("Service %s: selector %v misses the pods %v", name, svc.Spec.Selector, d.Spec.Template.Labels)
			}
			c := mainContainer(t, m, name)
			for _, sp := range svc.Spec.Ports {
				if containerPort(c, sp.TargetPort) == 0 {
					t.Errorf("Service %s: port %s targets %s, which the container does not declare", name, sp.Name, sp.TargetPort.String())
				}
			}
		}
	})
}

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

func firstBool(vs ...*bool) *bool {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func firstInt64(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestWalletVerifyCronJob: the ledger check runs nightly, hardened like
// every pod, with the wallet's image and configuration, one at a time, and
// its failures stay visible (the alert fires on a failed Job).
func TestWalletVerifyCronJob(t *testing.T) {
	t.Parallel()
	forEachOverlay(t, func(t *testing.T, _ string, m *manifests) {
		cj, ok := m.cronJobs["wallet-verify"]
		if !ok {
			t.Fatal("no CronJob wallet-verify")
		}
		spec := cj.Spec.JobTemplate.Spec.Template.Spec
		checkPodHardening(t, "CronJob wallet-verify", spec, nonRootUID)
		if spec.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("restartPolicy %q, want Never (each failure is a Job failure the alert sees)", spec.RestartPolicy)
		}
		if cj.Spec.FailedJobsHistoryLimit == nil || *cj.Spec.FailedJobsHistoryLimit < 1 {
			t.Error("failedJobsHistoryLimit must keep failed Jobs for the alert and the operator")
		}
		if cj.Spec.JobTemplate.Spec.ActiveDeadlineSeconds == nil {
			t.Error("no activeDeadlineSeconds: a hung verify would never fail")
		}
		c := spec.Containers[0]
		if !slices.Equal(c.Args, []string{"verify"}) || c.Image != mainContainer(t, m, "wallet").Image {
			t.Errorf("runs %v in %s, want [verify] in the wallet's image", c.Args, c.Image)
		}
		values, fromSecret := processEnv(t, m, "wallet-verify", c)
		mainValues, _ := processEnv(t, m, "wallet", mainContainer(t, m, "wallet"))
		checkDatabaseOnly(t, "wallet-verify", "wallet", fromSecret)
		if values["APP_ENV"] != mainValues["APP_ENV"] {
			t.Errorf("verify runs with APP_ENV %q, the wallet with %q", values["APP_ENV"], mainValues["APP_ENV"])
		}
	})
}

// checkDatabaseOnly: a database-only command (migrate, wallet verify;
// platform/process) gets exactly one value from a Secret, DATABASE_URL
// from <svc>-db: least privilege, and no serving secret in a container
// that does not serve.
func checkDatabaseOnly(t *testing.T, what, svc string, fromSecret map[string]string) {
	t.Helper()
	for name, secret := range fromSecret {
		if name != "DATABASE_URL" || secret != svc+"-db" {
			t.Errorf("%s gets %s from Secret %s; a database-only command needs only DATABASE_URL from %s-db", what, name, secret, svc)
		}
	}
}
