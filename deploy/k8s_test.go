package deploy

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
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
		"INTERNAL_AUTH_SECRET": "meterflow-internal-auth", "DATABASE_URL": "notify-db", "SMTP_URL": "notify-smtp",
		"WEBHOOK_SECRETS_KEY": "notify-webhook-secrets-key"}},
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
