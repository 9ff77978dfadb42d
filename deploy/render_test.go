package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// blueprint is the subset of Render's Blueprint schema that render.yaml
// uses. Decoding is strict: a key this struct lacks (a typo, or a field
// Render does not have) fails the test instead of being ignored by Render.
type blueprint struct {
	Services  []renderService  `json:"services"`
	Databases []renderDatabase `json:"databases"`
}

type renderService struct {
	Type                    string        `json:"type"`
	Name                    string        `json:"name"`
	Runtime                 string        `json:"runtime"`
	Region                  string        `json:"region"`
	Plan                    string        `json:"plan"`
	NumInstances            int           `json:"numInstances"`
	DockerfilePath          string        `json:"dockerfilePath"`
	DockerContext           string        `json:"dockerContext"`
	HealthCheckPath         string        `json:"healthCheckPath"`
	PreDeployCommand        string        `json:"preDeployCommand"`
	MaxShutdownDelaySeconds int           `json:"maxShutdownDelaySeconds"`
	EnvVars                 []renderEnv   `json:"envVars"`
	IPAllowList             *[]renderCIDR `json:"ipAllowList"`
	MaxmemoryPolicy         string        `json:"maxmemoryPolicy"`
}

type renderEnv struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	Sync          *bool   `json:"sync"`
	GenerateValue bool    `json:"generateValue"`
	FromDatabase  *struct {
		Name     string `json:"name"`
		Property string `json:"property"`
	} `json:"fromDatabase"`
	FromService *struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Property  string `json:"property"`
		EnvVarKey string `json:"envVarKey"`
	} `json:"fromService"`
}

type renderCIDR struct {
	Source      string `json:"source"`
	Description string `json:"description"`
}

type renderDatabase struct {
	Name                 string        `json:"name"`
	Region               string        `json:"region"`
	Plan                 string        `json:"plan"`
	PostgresMajorVersion string        `json:"postgresMajorVersion"`
	DatabaseName         string        `json:"databaseName"`
	User                 string        `json:"user"`
	IPAllowList          *[]renderCIDR `json:"ipAllowList"`
	HighAvailability     *struct {
		Enabled bool `json:"enabled"`
	} `json:"highAvailability"`
}

// loadBlueprint decodes render/render.yaml strictly.
func loadBlueprint(t *testing.T) blueprint {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("render", "render.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var bp blueprint
	if err := yaml.UnmarshalStrict(data, &bp); err != nil {
		t.Fatalf("render.yaml: %v", err)
	}
	return bp
}

func TestRenderBlueprint(t *testing.T) {
	t.Parallel()
	bp := loadBlueprint(t)
	byName := map[string]renderService{}
	for _, s := range bp.Services {
		byName[s.Name] = s
	}
	dbs := map[string]renderDatabase{}
	for _, d := range bp.Databases {
		dbs[d.Name] = d
		if d.IPAllowList == nil || len(*d.IPAllowList) != 0 {
			t.Errorf("database %s: ipAllowList must be [] (private network only)", d.Name)
		}
	}
	wantType := map[string]string{
		"meterflow-gateway": "web", "meterflow-identity": "pserv", "meterflow-wallet": "pserv",
		"meterflow-workflow": "pserv", "meterflow-notify": "pserv", "meterflow-redis": "keyvalue",
	}
	if len(byName) != len(wantType) {
		t.Errorf("services: got %d, want %d", len(byName), len(wantType))
	}
	for name, typ := range wantType {
		if s, ok := byName[name]; !ok || s.Type != typ {
			t.Errorf("service %s: want type %s, got %+v", name, typ, s.Type)
		}
	}
	if kv := byName["meterflow-redis"]; kv.IPAllowList == nil || len(*kv.IPAllowList) != 0 {
		t.Error("Key Value: ipAllowList is required by Render and must be [] (private only)")
	}

	// Secrets: never a value in the file.
	secretKeys := []string{"INTERNAL_AUTH_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "WORKFLOW_SECRETS_KEY", "SESSION_ENCRYPTION_KEY", "DATABASE_URL", "REDIS_URL", "SMTP_URL", "WEBHOOK_SECRETS_KEY"}
	for _, p := range processes {
		s, ok := byName["meterflow-"+p.name]
		if !ok {
			continue
		}
		if s.Runtime != "docker" || s.DockerfilePath != "./deploy/docker/"+p.name+".Dockerfile" || s.DockerContext != "." {
			t.Errorf("%s: want runtime docker, ./deploy/docker/%s.Dockerfile, context .", s.Name, p.name)
		}
		if _, err := os.Stat(filepath.Join("..", s.DockerfilePath)); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		envs := map[string]renderEnv{}
		for _, e := range s.EnvVars {
			if _, dup := envs[e.Key]; dup {
				t.Errorf("%s: %s set twice", s.Name, e.Key)
			}
			envs[e.Key] = e
			if slices.Contains(secretKeys, e.Key) && e.Value != nil {
				t.Errorf("%s: %s has a literal value", s.Name, e.Key)
			}
			if e.FromDatabase != nil {
				if _, ok := dbs[e.FromDatabase.Name]; !ok {
					t.Errorf("%s: %s from unknown database %s", s.Name, e.Key, e.FromDatabase.Name)
				}
			}
			if e.FromService != nil {
				ref, ok := byName[e.FromService.Name]
				if !ok || ref.Type != e.FromService.Type {
					t.Errorf("%s: %s from unknown service %s/%s", s.Name, e.Key, e.FromService.Type, e.FromService.Name)
				}
			}
		}
		if v := envs["APP_ENV"].Value; v == nil || *v != "production" {
			t.Errorf("%s: APP_ENV must be production", s.Name)
		}
		for name := range p.secretEnv {
			e, ok := envs[name]
			switch {
			case !ok:
				t.Errorf("%s: %s is not declared", s.Name, name)
			case e.FromDatabase != nil || e.FromService != nil:
			case e.Sync == nil || *e.Sync:
				t.Errorf("%s: %s must be `sync: false` (asked for at creation, never in the file)", s.Name, name)
			}
		}
		if p.grpcPort == 0 {
			if s.HealthCheckPath == "" {
				t.Errorf("%s: no health check path", s.Name)
			}
			continue
		}
		// The services: own database, migrations before each deploy.
		if e := envs["DATABASE_URL"]; e.FromDatabase == nil || dbs[e.FromDatabase.Name].DatabaseName != "meterflow_"+p.name {
			t.Errorf("%s: DATABASE_URL is not its own meterflow_%s database", s.Name, p.name)
		}
		if !strings.HasSuffix(s.PreDeployCommand, p.name+" migrate") {
			t.Errorf("%s: preDeployCommand %q does not migrate", s.Name, s.PreDeployCommand)
		}
	}
	if len(dbs) != 4 {
		t.Errorf("want 4 databases, got %d", len(dbs))
	}
}
