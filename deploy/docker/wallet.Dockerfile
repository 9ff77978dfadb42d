# syntax=docker/dockerfile:1
# Image of the wallet gRPC service (the money).
# Build from the repository root (the context is the whole Go workspace):
#   docker build -f deploy/docker/wallet.Dockerfile -t meterflow/wallet .
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# .git is not in the context, so VCS stamping must be off; GOTOOLCHAIN=auto
# lets an older 1.26 image fetch the exact toolchain go.work asks for.
ENV CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOTOOLCHAIN=auto
# Only the workspace file and the process modules: the deploy module holds
# manifest tests and bench the load harness; dropping them keeps their
# dependencies (Kubernetes, vegeta) out of the build. No blanket `go mod download` layer: the workspace also requires
# the code generators pinned as tools (buf, sqlc and their plugins), which no
# binary links, so `go build` fetches exactly what this binary needs into a
# BuildKit cache shared by the four images and kept across go.mod changes.
COPY go.work go.work.sum ./
COPY proto/ proto/
COPY platform/ platform/
COPY gateway/ gateway/
COPY services/ services/
RUN go work edit -dropuse=./deploy -dropuse=./bench
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w" -o /out/wallet ./services/wallet/cmd/wallet

# distroless static: no shell, no package manager, CA certificates and
# tzdata only; runs as nonroot (65532) and needs no writable path.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/wallet /wallet
USER 65532:65532
EXPOSE 50052 9092
ENTRYPOINT ["/wallet"]
