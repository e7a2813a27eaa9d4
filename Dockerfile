# The Sluice server image: a static binary (CGO_ENABLED=0) on an empty base
# with CA certificates, time zones and a non-root user, nothing else (no
# shell, no curl: `sluice healthcheck` is the health probe).
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t sluice .
#
# GO_IMAGE is a build argument so a test (or an air-gapped build) can point
# it at a locally built stand-in (deploy/container/setup.sh builds one under
# this same name).
ARG GO_IMAGE=golang:1.26.8-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/usr/local/bin/sluice ./cmd/sluice
# The final stage's file tree: CA certificates, the time zone database, a
# passwd entry for the user sluice (65532) and its data directory.
RUN set -eu; r=/out; \
    mkdir -p $r/etc/ssl/certs $r/usr/share $r/tmp $r/var/lib/sluice; \
    cp /etc/ssl/certs/ca-certificates.crt $r/etc/ssl/certs/; \
    cp -r /usr/share/zoneinfo $r/usr/share/; \
    echo 'sluice:x:65532:65532:sluice:/var/lib/sluice:/sbin/nologin' > $r/etc/passwd; \
    echo 'sluice:x:65532:' > $r/etc/group; \
    chmod 1777 $r/tmp; chown 65532:65532 $r/var/lib/sluice; chmod 700 $r/var/lib/sluice

FROM scratch
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="sluice" \
      org.opencontainers.image.description="Streaming share gateway: Kafka topics into governed Delta Lake tables, shared over Delta Sharing" \
      org.opencontainers.image.source="https://github.com/sluice-io/sluice" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/ /
ENV HOME=/var/lib/sluice \
    SLUICE_DATA_DIR=/var/lib/sluice \
    SLUICE_ADDR=0.0.0.0:8080 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    ZONEINFO=/usr/share/zoneinfo
USER 65532:65532
WORKDIR /var/lib/sluice
VOLUME /var/lib/sluice
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/sluice", "healthcheck", "--timeout", "4s", "http://127.0.0.1:8080"]
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
