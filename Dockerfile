# Both programs in one small image: static binaries on distroless, run as a
# non-root user. VERSION is what /metrics reports (aftercare_build_info) and
# must be the image's tag; .github/workflows/release.yml passes both.
#   docker build --build-arg VERSION=0.1.0 -t ghcr.io/aftercare/aftercare:0.1.0 .
# Pin the base images by digest in your registry's CI.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X github.com/aftercare/aftercare/internal/metrics.Version=${VERSION}" -o /out/ ./cmd/scheduler ./cmd/worker

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scheduler /out/worker /usr/local/bin/
COPY config/clinics.example.json /etc/aftercare/clinics.json
# 65532 is distroless' "nonroot"; the Deployments run as it too.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/worker"]
