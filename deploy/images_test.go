package deploy

import (
	"slices"
	"strings"
	"testing"
)

// digestUnknown lists the third-party images that are still pinned by tag
// only, with why: no digest of that exact release could be looked up
// (there is no registry access where these files were last pinned). The
// list may only shrink: the test fails when an entry is pinned or unused.
var digestUnknown = map[string]string{
	"n8nio/n8n:1.123.81":                       "optional compose profile; no recorded digest of this release",
	"otel/opentelemetry-collector-k8s:0.130.1": "no recorded digest of this release; a digest of another release would run another collector than collector.yaml is written for",
}

// checkThirdPartyImage fails an image we do not build that is not pinned by
// digest (or listed in digestUnknown), and records that an unknown one is used.
func checkThirdPartyImage(t *testing.T, what, image string, seen map[string]bool) {
	t.Helper()
	if strings.HasPrefix(image, "meterflow/") || strings.HasPrefix(image, "ghcr.io/meterflow/") {
		return // ours: built from this repository, pinned by release tag
	}
	if _, ok := digestUnknown[image]; ok {
		seen[image] = true
		return
	}
	if !pinnedByDigest.MatchString(image) {
		t.Errorf("%s: image %s is not pinned by digest", what, image)
	}
}

func TestThirdPartyImagesPinnedByDigest(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, profiles := range [][]string{nil, {"n8n"}} {
		p := loadCompose(t, profiles...)
		for name, s := range p.Services {
			checkThirdPartyImage(t, "compose "+name, s.Image, seen)
		}
	}
	for _, o := range overlays {
		m := buildOverlay(t, o)
		for name, d := range m.deployments {
			for _, c := range append(slices.Clone(d.Spec.Template.Spec.InitContainers), d.Spec.Template.Spec.Containers...) {
				checkThirdPartyImage(t, o+" Deployment "+name, c.Image, seen)
			}
		}
		for name, cj := range m.cronJobs {
			for _, c := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
				checkThirdPartyImage(t, o+" CronJob "+name, c.Image, seen)
			}
		}
	}
	for image := range digestUnknown {
		if !seen[image] {
			t.Errorf("digestUnknown lists %s, which nothing uses any more: remove it", image)
		}
	}
}

// TestComposeMigrationsRunInDevelopment: `migrate` reads the process's
// configuration, which fails closed; without APP_ENV=development the
// one-shots demand production secrets and `docker compose up` stops there.
func TestComposeMigrationsRunInDevelopment(t *testing.T) {
	t.Parallel()
	p := loadCompose(t)
	for _, svc := range services {
		s := service(t, p, svc+"-migrate")
		if got := env(s, "APP_ENV"); got != "development" {
			t.Errorf("%s-migrate: APP_ENV %q, want development (the compose stack's)", svc, got)
		}
		if !strings.Contains(env(s, "PGOPTIONS"), "lock_timeout=") {
			t.Errorf("%s-migrate: no lock_timeout in PGOPTIONS", svc)
		}
	}
}
