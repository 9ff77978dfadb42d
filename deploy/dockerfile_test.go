package deploy

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper-case keyword
	args string
}

// stage is one FROM ... block.
type stage struct {
	from, name, platform string
	ins                  []instruction
}

func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		stages []stage
		buf    string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if buf == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			buf += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, buf = buf+line, ""
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			from, name, _ := strings.Cut(in.args, " AS ")
			from = strings.TrimSpace(from)
			var platform string
			if rest, ok := strings.CutPrefix(from, "--platform="); ok {
				platform, from, _ = strings.Cut(rest, " ")
				from = strings.TrimSpace(from)
			}
			stages = append(stages, stage{from: from, name: strings.TrimSpace(name), platform: platform})
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s: %s before the first FROM", path, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stages
}

func (s stage) all(cmd string) []string {
	var out []string
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// workspaceModules lists the `use` directories of ../go.work.
func workspaceModules(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	var mods []string
	for _, m := range regexp.MustCompile(`(?m)^\s*(?:use\s+)?(\./[\w./-]+)\s*$`).FindAllStringSubmatch(string(data), -1) {
		mods = append(mods, strings.TrimPrefix(m[1], "./"))
	}
	if len(mods) == 0 {
		t.Fatal("go.work lists no modules")
	}
	return mods
}

func TestDockerfiles(t *testing.T) {
	t.Parallel()
	modules := workspaceModules(t)
	for _, p := range processes {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			stages := parseDockerfile(t, filepath.Join("docker", p.name+".Dockerfile"))
			if len(stages) < 2 {
				t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
			}
			build, final := stages[0], stages[len(stages)-1]
			if !strings.HasPrefix(build.from, "golang:") {
				t.Errorf("builder FROM %s, want golang", build.from)
			}
			// Every base image by digest: a tag can be moved to other bits.
			for _, st := range stages {
				if !pinnedByDigest.MatchString(st.from) {
					t.Errorf("FROM %s is not pinned by digest (image:tag@sha256:<64 hex>)", st.from)
				}
			}
			// Cross-compiled: the builder runs on the build machine's
			// platform and builds for the target's, so a multi-arch build
			// needs no emulation.
			if build.platform != "$BUILDPLATFORM" {
				t.Errorf("builder FROM --platform=%q, want $BUILDPLATFORM", build.platform)
			}
			args := build.all("ARG")
			for _, want := range []string{"TARGETOS", "TARGETARCH", "VERSION=dev", "COMMIT=unknown"} {
				if !slices.Contains(args, want) {
					t.Errorf("builder lacks ARG %s (has %v)", want, args)
				}
			}
			for _, st := range stages[1:] {
				if st.platform != "" {
					t.Errorf("stage %s FROM --platform=%s: the image stages take the target platform", st.name, st.platform)
				}
			}
			// The build: static, reproducible paths, stripped, from the
			// process's own main package in the workspace.
			env := strings.Join(build.all("ENV"), " ")
			if !strings.Contains(env, "CGO_ENABLED=0") || !strings.Contains(env, "GOFLAGS=-buildvcs=false") {
				t.Errorf("builder ENV %q: want CGO_ENABLED=0 and -buildvcs=false (no .git in the context)", env)
			}
			pkg := "./services/" + p.name + "/cmd/" + p.name
			if p.name == "gateway" {
				pkg = "./gateway/cmd/gateway"
			}
			run := strings.Join(build.all("RUN"), "\n")
			wantBuild := fmt.Sprintf(`GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X %s.Version=$VERSION -X %s.Commit=$COMMIT" -o /out/%s %s`,
				buildInfoPackage, buildInfoPackage, p.name, pkg)
			if !strings.Contains(strings.Join(strings.Fields(run), " "), wantBuild) {
				t.Errorf("builder does not run %q", wantBuild)
			}
			if _, err := os.Stat(filepath.Join("..", pkg)); err != nil {
				t.Errorf("main package %s: %v", pkg, err)
			}
			// The workspace: go.work, go.work.sum and every module the
			// processes need (all but this one, the whole-product tests and
			// the load harness).
			copies := strings.Join(build.all("COPY"), "\n")
			if !regexp.MustCompile(`(?m)^go\.work go\.work\.sum \./$`).MatchString(copies) {
				t.Error("builder does not COPY go.work and go.work.sum")
			}
			for _, mod := range modules {
				if mod == "deploy" || mod == "bench" || mod == "e2e" {
					if !strings.Contains(run, "-dropuse=./"+mod) {
						t.Errorf("builder keeps the %s module (and its dependencies) in the workspace", mod)
					}
					continue
				}
				top := strings.SplitN(mod, "/", 2)[0]
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(top+"/ "+top+"/") + `$`).MatchString(copies) {
					t.Errorf("builder does not COPY workspace module %s", mod)
				}
			}
			// The image: distroless static, non-root, the binary as entrypoint.
			if !strings.HasPrefix(final.from, "gcr.io/distroless/static-debian12:nonroot@sha256:") {
				t.Errorf("final FROM %s, want gcr.io/distroless/static-debian12:nonroot by digest", final.from)
			}
			if users := final.all("USER"); len(users) == 0 || (users[len(users)-1] != "65532:65532" && users[len(users)-1] != "nonroot") {
				t.Errorf("final USER %v, want 65532:65532", users)
			}
			if eps := final.all("ENTRYPOINT"); !slices.Equal(eps, []string{fmt.Sprintf(`["/%s"]`, p.name)}) {
				t.Errorf("ENTRYPOINT %v, want [\"/%s\"] (exec form: no shell in the image)", eps, p.name)
			}
			if cmds := final.all("CMD"); len(cmds) > 0 {
				t.Errorf("CMD %v: subcommands are given by compose/Kubernetes args", cmds)
			}
			if r := final.all("RUN"); len(r) > 0 {
				t.Errorf("final stage runs %v; distroless has no shell", r)
			}
			var wantPorts []string
			for _, port := range []int32{p.grpcPort, p.httpPort, p.metricsPort} {
				if port != 0 {
					wantPorts = append(wantPorts, fmt.Sprint(port))
				}
			}
			if got := strings.Fields(strings.Join(final.all("EXPOSE"), " ")); !slices.Equal(got, wantPorts) {
				t.Errorf("EXPOSE %v, want %v", got, wantPorts)
			}
		})
	}
}

// pinnedByDigest matches an image reference that names its content:
// repository[:tag]@sha256:<64 hex>.
var pinnedByDigest = regexp.MustCompile(`^[a-z0-9./_-]+(:[\w.-]+)?@sha256:[0-9a-f]{64}$`)

// buildInfoPackage holds the variables the builds stamp (-ldflags -X):
// Version and Commit, exported as meterflow_build_info.
const buildInfoPackage = "github.com/meterflow/meterflow/platform/telemetry"

// TestReleaseBuildCommand: the documented release build makes both
// architectures, stamps the version and commit, and attaches an SBOM and
// provenance to every image.
func TestReleaseBuildCommand(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	cmd := regexp.MustCompile(`(?m)^\s*docker buildx build .*\$p\.Dockerfile.*$`).FindString(string(doc))
	if cmd == "" {
		t.Fatal("docs/operations.md has no `docker buildx build ... $p.Dockerfile` release command")
	}
	for _, want := range []string{"--platform linux/amd64,linux/arm64", "--sbom=true", "--provenance=mode=max", "--build-arg VERSION=", "--build-arg COMMIT=", "--push"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("release build command lacks %s: %s", want, cmd)
		}
	}
}

func TestDockerignore(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(data))
	for _, want := range []string{".git", "bin", ".local", "artifacts", "**/*.pem", "**/.env"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	// The builder copies these: they must stay in the context.
	for _, keep := range []string{"go.work", "go.work.sum", "proto", "platform", "gateway", "services"} {
		if slices.Contains(lines, keep) {
			t.Errorf(".dockerignore excludes %s, which the images are built from", keep)
		}
	}
}
