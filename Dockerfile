# Gantry service image: a static Go binary on distroless, run as non-root.
# Base images are pinned by digest; the pins must equal ci/internal/images.

ARG GO_IMAGE=golang:1.26.6@sha256:0d1d3a794be25f809dd2cb3160d8c73276c4056a9f8242a138e908ddeee7b6b6
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian13:nonroot@sha256:f7f8f729987ad0fdf6b05eeeae94b26e6a0f613bdf46feea7fc40f7bd72953e6

# The build stage runs on the builder's own platform and cross-compiles, so a
# multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS
ARG TARGETARCH
# go.work names ./ci, which is not in the build context.
ENV GOWORK=off
# Never download another toolchain: the image's Go is the one pinned.
ENV GOTOOLCHAIN=local
WORKDIR /src

# Dependencies first, so that code changes do not invalidate this layer. In
# the layer, not a cache mount: a registry layer cache carries layers only,
# so a fresh builder with one starts with the modules downloaded.
COPY go.mod go.sum ./
RUN go mod download

COPY app/ ./app/
# Compile, then stamp. VERSION and COMMIT are declared only after this step
# (a RUN's cache key holds every ARG in scope): builds of the same source at
# several commits at once on one engine share it, instead of each compiling
# everything into the cache mount.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -o /dev/null ./app
ARG VERSION=dev
ARG COMMIT=unknown
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
      -ldflags "-s -w -X github.com/gantry-ci/gantry/app/internal/version.Version=${VERSION} -X github.com/gantry-ci/gantry/app/internal/version.Commit=${COMMIT}" \
      -o /out/app ./app

FROM ${RUNTIME_IMAGE}
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="gantry" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/app /app
USER 65532:65532
EXPOSE 8080
# The image has no shell or curl; the binary probes its own /health. The
# timeout exceeds HEALTH_TIMEOUT (2s) plus the probe's 1s margin.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/app", "healthcheck"]
ENTRYPOINT ["/app"]
