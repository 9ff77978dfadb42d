// Package deploy holds no production code: its tests validate the
// deployment files of the repository with the libraries the real tools are
// built on, since neither Docker nor a Kubernetes cluster runs where the
// tests do.
//
//   - deploy/k8s: every overlay (and the edge Gateway) is built with the
//     kustomize API and every object decoded strictly into its API type
//     (Kubernetes, Gateway API, the Prometheus operator's), then checked
//     for probes, resources, security contexts, secrets, the exact network
//     paths that the NetworkPolicies allow, migrations before every
//     server, the connection and time budgets against each other, and the
//     alerts and dashboards (PromQL parsed by Prometheus's own parser, each
//     alert's runbook in docs/runbooks).
//   - docker-compose.yml: loaded with the compose-spec loader and checked
//     for services, health checks, dependency conditions and ports.
//   - deploy/render/render.yaml: decoded strictly and checked for the
//     expected services, databases and unsynced secrets.
//   - deploy/docker: each Dockerfile cross-compiles its process statically
//     from the workspace, stamps version and commit, into a non-root
//     distroless image; every third-party image is pinned by digest.
package deploy
