# syntax=docker/dockerfile:1
# Switchyard container image: a static (musl) binary on distroless/static, which brings CA
# certificates (TLS and gRPC probes), tzdata and a `nonroot` user (65532) and nothing else.
#
#   docker build -t switchyard .
#   docker run --rm -p 9090:9090 -p 8080:8080 -p 5353:5353/udp -p 5353:5353/tcp \
#     -v "$PWD/switchyard.toml:/etc/switchyard/switchyard.toml:ro" switchyard
#
# The image has no configuration of its own: mount one at /etc/switchyard/switchyard.toml.
# Its listeners must be on 0.0.0.0 (or ::) and non-privileged ports, as the image runs
# without capabilities; publish them as 53/80 from outside. deploy/ has Kubernetes, systemd and
# Grafana files.

FROM rust:1.95-bookworm AS build
# musl-tools: musl-gcc for ring's C code; protobuf-compiler: the gRPC health service.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools protobuf-compiler \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
# Dependencies first, so a change to Switchyard's own code reuses their layer.
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates ./crates
COPY scripts/build-static.sh ./scripts/
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    scripts/build-static.sh /out/switchyard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/switchyard /switchyard
USER 65532:65532
EXPOSE 9090/tcp 8080/tcp 5353/udp 5353/tcp
# The probe reads listen.admin from the configuration (0.0.0.0 is reached on loopback).
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/switchyard", "healthcheck", "--quiet", "--config", "/etc/switchyard/switchyard.toml"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/switchyard"]
CMD ["serve", "--config", "/etc/switchyard/switchyard.toml"]
