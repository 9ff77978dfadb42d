package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Version and Commit identify the build. Release images stamp them with
// -ldflags "-X github.com/meterflow/meterflow/platform/telemetry.Version=v1.2.3
// -X github.com/meterflow/meterflow/platform/telemetry.Commit=<sha>"
// (deploy/docker/*.Dockerfile); a plain `go build` keeps these defaults.
// They are variables, not constants, because -X can only set variables.
var (
	Version = "dev"
	Commit  = "unknown"
)

// BuildString is how a binary names its build in `help` and `version`.
func BuildString() string {
	return Version + " (commit " + Commit + ")"
}

// newBuildInfo is meterflow_build_info{version,commit} = 1, the usual
// Prometheus idiom: a dashboard joins it on job and instance to show which
// build each pod runs, and a rollout shows up as two versions at once.
func newBuildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "meterflow_build_info",
		Help: "The build this process runs: always 1, with the version and commit stamped in at build time.",
	}, []string{"version", "commit"})
	g.WithLabelValues(Version, Commit).Set(1)
	return g
}
