package deploy

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

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
	"INTERNAL_AUTH_SECRET_PREVIOUS", "WORKFLOW_SECRETS_KEYS_PREVIOUS", "WEBHOOK_SECRETS_KEY", "WEBHOOK_SECRETS_KEYS_PREVIOUS"}

// rotationVars are the secrets set only while another one rotates
// (docs/operations.md, "Rotating secrets"): their secretKeyRef is
// optional, and theirs alone.
var rotationVars = []string{"INTERNAL_AUTH_SECRET_PREVIOUS", "WORKFLOW_SECRETS_KEYS_PREVIOUS", "WEBHOOK_SECRETS_KEYS_PREVIOUS"}

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
