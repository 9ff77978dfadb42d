package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
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
		"wallet":   {"serve", "migrate", "healthcheck", "verify", "parked", "dev-pay", "reconcile"},
		"workflow": {"serve", "migrate", "healthcheck"},
		"notify":   {"serve", "migrate", "healthcheck"},
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

// subcommands collects, per process, the subcommands the deployment files
// and docs run.
type subcommands struct {
	used  map[string]map[string]bool
	names []string
	image *regexp.Regexp // our images: meterflow/<process>
	line  *regexp.Regexp // a command line: <process> <subcommand>
}

func newSubcommands() *subcommands {
	s := &subcommands{used: map[string]map[string]bool{}}
	for _, p := range processes {
		s.names = append(s.names, p.name)
	}
	alt := strings.Join(s.names, "|")
	s.image = regexp.MustCompile(`(?:^|/)meterflow/(` + alt + `)(?:[:@]|$)`)
	// How the files spell a command line: the image's /binary (Dockerfile
	// entrypoints, preDeployCommand, kubectl exec), bin/ or cmd/ (make,
	// go run), compose run.
	s.line = regexp.MustCompile(`(?:(?:^|[\s"'\x60])/|bin/|cmd/|compose run --rm (?:-T )?)(` + alt + `) ([a-z][a-z-]*)`)
	return s
}

func (s *subcommands) add(name, sub string) {
	if s.used[name] == nil {
		s.used[name] = map[string]bool{}
	}
	s.used[name][sub] = true
}

// scan adds every command line in text.
func (s *subcommands) scan(text string) {
	for _, m := range s.line.FindAllStringSubmatch(text, -1) {
		s.add(m[1], m[2])
	}
}

// container adds what a container of image runs with args: its first
// argument, or serve (the default) when it has none.
func (s *subcommands) container(image string, args []string) {
	m := s.image.FindStringSubmatch(image)
	if m == nil {
		return
	}
	sub := "serve"
	if len(args) > 0 {
		sub = args[0]
	}
	s.add(m[1], sub)
}

// deployedSubcommands collects the subcommands of every deployment file
// and doc.
func deployedSubcommands(t *testing.T) map[string]map[string]bool {
	t.Helper()
	s := newSubcommands()
	// docker compose: each of our images' command and health check.
	for _, svc := range loadCompose(t).Services {
		if len(svc.Entrypoint) == 0 {
			s.container(svc.Image, svc.Command)
		}
		if svc.HealthCheck != nil {
			s.scan(strings.Join(svc.HealthCheck.Test, " "))
		}
	}
	// Dockerfiles: entrypoints that run a subcommand (identity's keygen stage).
	for _, p := range processes {
		for _, st := range parseDockerfile(t, filepath.Join("docker", p.name+".Dockerfile")) {
			s.scan(strings.Join(append(st.all("ENTRYPOINT"), st.all("CMD")...), "\n"))
		}
	}
	// Kubernetes: every container of ours, in every overlay.
	for _, overlay := range overlays {
		m := buildOverlay(t, overlay)
		for _, d := range m.deployments {
			for _, c := range d.Spec.Template.Spec.Containers {
				s.container(c.Image, c.Args)
			}
		}
		for _, j := range m.jobs {
			for _, c := range j.Spec.Template.Spec.Containers {
				s.container(c.Image, c.Args)
			}
		}
	}
	// Render: every service of ours runs its image's default (serve) and
	// its preDeployCommand.
	for _, svc := range loadBlueprint(t).Services {
		if name := strings.TrimPrefix(svc.Name, "meterflow-"); slices.Contains(s.names, name) {
			s.add(name, "serve")
			s.scan(svc.PreDeployCommand)
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
		s.scan(string(data))
	}
	return s.used
}
