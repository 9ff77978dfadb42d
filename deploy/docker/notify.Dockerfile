# syntax=docker/dockerfile:1
# Image of the notify gRPC service (email over SMTP).
# Build from the repository root (the context is the whole Go workspace):
#   docker buildx build -f deploy/docker/notify.Dockerfile -t meterflow/notify .
# Release builds (docs/operations.md): both architectures cross-compiled on
# the build machine (no emulation), the version stamped in, an SBOM and
# provenance attached:
#   docker buildx build --platform linux/amd64,linux/arm64 --sbom=true --provenance=mode=max \
#     --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) \
#     -f deploy/docker/notify.Dockerfile -t ghcr.io/meterflow/notify:v1.2.3 --push .
# Base images are pinned by digest (multi-arch index); refresh them with
#   docker buildx imagetools inspect <image:tag>   (or: crane digest <image:tag>)

# The builder runs on the build machine's own platform and cross-compiles
# for the target's (GOOS/GOARCH from BuildKit's TARGETOS/TARGETARCH).
FROM --platform=$BUILDPLATFORM golang:1.26@sha256:595c7847cff97c9a9e76f015083c481d26078f961c9c8dca3923132f51fe12f1 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# .git is not in the context, so VCS stamping must be off; GOTOOLCHAIN=auto
# lets an older 1.26 image fetch the exact toolchain go.work asks for.
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=auto
# Only the workspace file and the process modules: the deploy module holds
# manifest tests, e2e the whole-product tests and bench the load harness;
# dropping them keeps their dependencies (Kubernetes, toxiproxy, chromedp,
# vegeta) out of the build. No blanket `go mod download` layer: the workspace also requires
# the code generators pinned as tools (buf, sqlc and their plugins), which no
# binary links, so `go build` fetches exactly what this binary needs into a
# BuildKit cache shared by the five images and kept across go.mod changes.
COPY go.work go.work.sum ./
COPY proto/ proto/
COPY platform/ platform/
COPY gateway/ gateway/
COPY services/ services/
RUN go work edit -dropuse=./deploy -dropuse=./bench -dropuse=./e2e
# Stamped into the binary (platform/telemetry.Version and .Commit, exported
# as meterflow_build_info); declared here so a new version reuses the layers
# above.
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X github.com/meterflow/meterflow/platform/telemetry.Version=$VERSION -X github.com/meterflow/meterflow/platform/telemetry.Commit=$COMMIT" \
      -o /out/notify ./services/notify/cmd/notify

# distroless static: no shell, no package manager, CA certificates and
# tzdata only; runs as nonroot (65532) and needs no writable path.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
COPY --from=build /out/notify /notify
USER 65532:65532
EXPOSE 50054 9094
ENTRYPOINT ["/notify"]
