# syntax=docker/dockerfile:1
# Build: a static binary (no cgo), reproducible paths.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/jwtd ./cmd/jwtd \
 && mkdir -p /out/var/lib/jwtd/keys \
 && chmod 700 /out/var/lib/jwtd /out/var/lib/jwtd/keys

# Run: distroless static, as the unprivileged "nonroot" user (65532). The
# image has no shell, so the health check calls the binary itself.
# The image holds no configuration: the repository's config.yaml has the
# development client, whose secret is public. Mount yours at
# /etc/jwtd/config.yaml; without it jwtd stops with one line naming the file.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jwtd /usr/local/bin/jwtd
# The key directory is 0700 (jwtd refuses one others can write); COPY keeps
# the mode set in the build stage.
COPY --from=build --chown=65532:65532 /out/var/lib/jwtd /var/lib/jwtd
ENV JWTD_SERVER_LISTEN=0.0.0.0:8080 \
    JWTD_KEYS_DIR=/var/lib/jwtd/keys
USER 65532:65532
WORKDIR /var/lib/jwtd
VOLUME ["/var/lib/jwtd"]
EXPOSE 8080
# health reads the same config to find server.listen and server.tls.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/jwtd", "health", "--config", "/etc/jwtd/config.yaml"]
ENTRYPOINT ["/usr/local/bin/jwtd"]
CMD ["serve", "--config", "/etc/jwtd/config.yaml"]
