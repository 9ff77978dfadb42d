// Package deploy holds no production code: its tests validate the
// deployment files of the repository with the libraries the real tools are
// built on, since neither Docker nor a Kubernetes cluster runs where the
// tests do.
//
//   - deploy/k8s: every overlay is built with the kustomize API and every
//     object decoded strictly into the Kubernetes API types, then checked
//     for probes, resources, security contexts, secrets and the exact
//     network paths that the NetworkPolicies allow.
//   - docker-compose.yml: loaded with the compose-spec loader and checked
//     for services, health checks, dependency conditions and ports.
//   - deploy/render/render.yaml: decoded strictly and checked for the
//     expected services, databases and unsynced secrets.
//   - deploy/docker: each Dockerfile builds its process statically from the
//     workspace into a non-root distroless image.
package deploy
