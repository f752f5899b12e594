# vasagw container image: a static, non-root binary on an empty base.
#
#   docker build -t vasagw .
#   docker run --rm -p 9090:9090 -p 8080:8080 -p 9091:9091 vasagw
#
# Without --vcenter-url it serves the embedded SMS simulator (demo data).
# CI lints this file (dockerfile-utils); no CI step builds it, as CI has no
# container engine.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY gen/ gen/
COPY internal/ internal/
# Static (no cgo, no libc), reproducible (-trimpath), without debug tables.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/vasagw ./cmd/server
# The image's only files besides the binary: a user for UID 65532, the CA
# roots (a vCenter signed by a public CA verifies without --vcenter-ca-file),
# and a world-writable /tmp (the embedded simulator writes its certificate
# there; mount an emptyDir on it when the root filesystem is read-only).
RUN mkdir -p /out/etc /out/tmp \
 && chmod 1777 /out/tmp \
 && echo 'vasagw:x:65532:65532:vasagw:/nonexistent:/sbin/nologin' > /out/etc/passwd \
 && echo 'vasagw:x:65532:' > /out/etc/group

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build /out/tmp /tmp
COPY --from=build /out/vasagw /vasagw
USER 65532:65532
# gRPC, REST, admin (/metrics, /healthz, /readyz, /debug/pprof/).
EXPOSE 9090 8080 9091
# `vasagw healthcheck` GETs /healthz on the admin port (or the REST port
# when VASAGW_ADMIN_ADDR is empty); the image has no shell or curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/vasagw", "healthcheck"]
ENTRYPOINT ["/vasagw"]
