package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestSubcommandsExist keeps the deployment files and the binaries in step:
// every subcommand that compose, the Dockerfiles, the manifests, the
// Blueprint, `make run` or the operator docs run must be one the binary
// has. Each binary is built and asked (`<binary> help` prints the command
// table that dispatches), so a renamed or dropped command fails here, not
// in a deployment.
func TestSubcommandsExist(t *testing.T) {
	t.Parallel()
	used := deployedSubcommands(t)
	// A floor for the extraction above: what the files ran when this test
	// was written. A command that leaves the files leaves this list too.
	for name, subs := range map[string][]string{
		"gateway":  {"serve", "healthcheck"},
		"identity": {"serve", "migrate", "healthcheck", "keygen", "create-admin"},
		"wallet":   {"serve", "migrate", "healthcheck", "verify", "parked", "dev-pay"},
		"workflow": {"serve", "migrate", "healthcheck"},
	} {
		for _, sub := range subs {
			if !used[name][sub] {
				t.Errorf("no deployment file or doc runs `%s %s` any more, or the extraction below missed it", name, sub)
			}
		}
	}
	dir := t.TempDir()
	for _, p := range processes {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			have := binaryCommands(t, dir, p.name)
			for sub := range used[p.name] {
				if !slices.Contains(have, sub) {
					t.Errorf("the deployment files run `%s %s`, but `%s help` lists only %v", p.name, sub, p.name, have)
				}
			}
		})
	}
}

// binaryCommands builds the process's binary into dir and returns the
// command names its `help` lists (the indented lines of "commands:").
func binaryCommands(t *testing.T, dir, name string) []string {
	t.Helper()
	pkg := "github.com/meterflow/meterflow/services/" + name + "/cmd/" + name
	if name == "gateway" {
		pkg = "github.com/meterflow/meterflow/gateway/cmd/gateway"
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	out, err := exec.Command(bin, "help").Output()
	if err != nil {
		t.Fatalf("%s help: %v", name, err)
	}
	_, table, ok := strings.Cut(string(out), "\ncommands:\n")
	if !ok {
		t.Fatalf("%s help prints no command table:\n%s", name, out)
	}
	var cmds []string
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			cmds = append(cmds, strings.Fields(line)[0])
		}
	}
	return cmds
}

// deployedSubcommands collects, per process, the subcommands the
// deployment files and docs run. A container or service started without
// arguments runs serve, the default.
func deployedSubcommands(t *testing.T) map[string]map[string]bool {
	t.Helper()
	used := map[string]map[string]bool{}
	add := func(name, sub string) {
		if used[name] == nil {
			used[name] = map[string]bool{}
		}
		used[name][sub] = true
	}
	names := make([]string, 0, len(processes))
	for _, p := range processes {
		names = append(names, p.name)
	}
	alt := strings.Join(names, "|")
	image := regexp.MustCompile(`(?:^|/)meterflow/(` + alt + `)(?:[:@]|$)`)
	// How the files spell a command line: the image's /binary (Dockerfile
	// entrypoints, preDeployCommand, kubectl exec), bin/ or cmd/ (make,
	// go run), compose run.
	line := regexp.MustCompile(`(?:(?:^|[\s"'\x60])/|bin/|cmd/|compose run --rm (?:-T )?)(` + alt + `) ([a-z][a-z-]*)`)
	scan := func(text string) {
		for _, m := range line.FindAllStringSubmatch(text, -1) {
			add(m[1], m[2])
		}
	}

	// docker compose: each of our images' command (none: serve) and health check.
	for _, s := range loadCompose(t).Services {
		m := image.FindStringSubmatch(s.Image)
		if m == nil {
			continue
		}
		if len(s.Command) > 0 {
			add(m[1], s.Command[0])
		} else if len(s.Entrypoint) == 0 {
			add(m[1], "serve")
		}
		if s.HealthCheck != nil && len(s.HealthCheck.Test) > 2 {
			scan(strings.Join(s.HealthCheck.Test[1:], " "))
		}
	}
	// Dockerfiles: entrypoints that run a subcommand (identity's keygen stage).
	for _, p := range processes {
		for _, st := range parseDockerfile(t, filepath.Join("docker", p.name+".Dockerfile")) {
			scan(strings.Join(append(st.all("ENTRYPOINT"), st.all("CMD")...), "\n"))
		}
	}
	// Kubernetes: the args of every container of ours, in every overlay.
	for _, overlay := range overlays {
		m := buildOverlay(t, overlay)
		var pods [][]string // image, first arg
		for _, d := range m.deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				pods = append(pods, append([]string{c.Image}, c.Args...))
			}
		}
		for _, j := range m.jobs {
			for _, c := range j.Spec.Template.Spec.Containers {
				pods = append(pods, append([]string{c.Image}, c.Args...))
			}
		}
		for _, c := range pods {
			if im := image.FindStringSubmatch(c[0]); im != nil {
				sub := "serve"
				if len(c) > 1 {
					sub = c[1]
				}
				add(im[1], sub)
			}
		}
	}
	// Render: every service of ours runs its image's default (serve) and
	// its preDeployCommand.
	data, err := os.ReadFile(filepath.Join("render", "render.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var bp blueprint
	if err := yaml.UnmarshalStrict(data, &bp); err != nil {
		t.Fatalf("render.yaml: %v", err)
	}
	for _, s := range bp.Services {
		if name := strings.TrimPrefix(s.Name, "meterflow-"); slices.Contains(names, name) {
			add(name, "serve")
			scan(s.PreDeployCommand)
		}
	}
	// make run, the Makefile and the operator docs.
	docs := []string{"../Makefile", "local/run.sh", "../README.md"}
	for _, glob := range []string{"../docs/*.md", "../*/README.md", "../services/*/README.md"} {
		more, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, more...)
	}
	for _, path := range docs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		scan(string(data))
	}
	return used
}
