# syntax=docker/dockerfile:1
#
# flowbridge container images, both running as uid 65532: the bridge on distroless (no
# shell, no package manager); the worker on Debian slim with git and a shell, which
# BlueprintDeploy needs to check out blueprints and run their commands.
#
#   docker build -t flowbridge .                          # last stage: ENTRYPOINT bridge
#   docker build --target bridge -t flowbridge-bridge .   # same thing, by name
#   docker build --target worker -t flowbridge-worker .   # ENTRYPOINT worker
#   docker run --rm flowbridge -h                         # bridge settings
#   docker run --rm flowbridge-worker -h                  # worker settings
#
# Settings are environment variables (docs/CONTRACT.md). The image sets only
# HTTP_ADDR=0.0.0.0:8080, so the bridge is reachable from outside the container; the
# contract's default (127.0.0.1:8080) is right for a process on a laptop, not in a container.
#
# The image also holds /usr/local/bin/healthcheck, a tiny static HTTP probe built below:
# distroless has no curl or wget, and Docker/compose health checks run inside the
# container. Kubernetes does not need it (kubelet probes HTTP itself).

ARG GO_VERSION=1.26
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# ---- build: compiled on the build machine's platform, cross-compiled to the target ----
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 \
    GOFLAGS=-buildvcs=false

# Dependencies first, so a source change does not download modules again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# The probe: GET a URL, exit 0 on a 2xx answer and 1 otherwise (standard library only).
COPY <<'EOF' /healthcheck/main.go
// Command healthcheck GETs a URL (default http://127.0.0.1:8080/readyz) and exits 0
// when it answers 2xx within 4 seconds, 1 otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://127.0.0.1:8080/readyz"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	c := http.Client{Timeout: 4 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "healthcheck:", url, resp.Status)
		os.Exit(1)
	}
}
EOF

COPY . .
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/bridge ./cmd/worker \
 && cd /healthcheck \
 && GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags="-s -w" -o /out/healthcheck main.go

# ---- bridge: consumer + HTTP ingress, on distroless (no shell, no package manager) ----
FROM ${RUNTIME_IMAGE} AS bridge-runtime
COPY --from=build /out/bridge /out/worker /out/healthcheck /usr/local/bin/
ENV HTTP_ADDR=0.0.0.0:8080
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532

# ---- worker: the Temporal worker. BlueprintDeploy runs git and the blueprint's shell
# commands, so this image has git and a shell (Debian slim), unlike the bridge's.
# Debian slim has no curl or wget either: the worker's health check is the same static
# probe as the bridge's (no extra packages), on the worker's HTTP server, which the image
# opens to the container's network like the bridge's. ----
FROM debian:bookworm-slim AS worker
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --home-dir /home/nonroot --create-home nonroot \
 && install -d -o 65532 -g 65532 /var/lib/flowbridge/backups
COPY --from=build /out/worker /out/healthcheck /usr/local/bin/
# A volume mounted at /var/lib/flowbridge/backups starts owned by the worker's user.
ENV DEPLOY_WORKSPACE=/tmp/flowbridge-deploys \
    BACKUP_DIR=/var/lib/flowbridge/backups \
    WORKER_HTTP_ADDR=0.0.0.0:8081
USER 65532:65532
EXPOSE 8081
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8081/readyz"]
ENTRYPOINT ["/usr/local/bin/worker"]

# ---- bridge (the default, being the last stage) ----
FROM bridge-runtime AS bridge
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/bridge"]
