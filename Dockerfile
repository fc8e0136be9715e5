# syntax=docker/dockerfile:1
# The signoff image: `signoff serve` as a non-root user on distroless, with the bundled example directory and
# policies so that `docker run -p 8080:8080 signoff` starts out of the box on SQLite (see README, "Deploy").
#
#   docker build -t signoff .
#   docker run --rm -p 8080:8080 -v signoff-data:/var/lib/signoff signoff
#
# Your own configuration replaces /etc/signoff (mount a folder with signoff.toml, directory and policies), and
# secrets come from SIGNOFF_<SECTION>_<KEY> variables (SIGNOFF_DATABASE_URL, SIGNOFF_SLACK_SIGNING_SECRET...).
# tests/deploy_manifests.rs checks this file against the code: the CMD's flags, the port and the config.

# The toolchain: the version the machine and CI use (Cargo.toml's rust-version is the minimum).
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
# The sources the build needs (.dockerignore keeps target/, .git and local databases out).
COPY . .
# Dependencies are downloaded into a cache mount and the build reuses its target folder across builds, so a
# change to signoff's own code recompiles signoff only. The binary is copied out of the cache mount, which is
# not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    cargo fetch --locked
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin signoff \
    && install -D -m 0755 target/release/signoff /out/signoff
# The SQLite folder, owned by the runtime user: distroless has no shell to create it there.
RUN install -d -m 0750 -o 65532 -g 65532 /out/var/lib/signoff

# distroless/cc: glibc, libgcc, CA certificates (Slack, Discord and webhooks over HTTPS) and nothing else, no
# shell. Docker's HEALTHCHECK needs a command inside the image, so there is none: Kubernetes probes GET
# /healthz and /readyz from outside (manifests/kubernetes/deployment.yaml).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/signoff /usr/local/bin/signoff
COPY --from=builder --chown=65532:65532 /out/var/lib/signoff /var/lib/signoff
# The bundled configuration: the examples' directory and policies, listening on every interface, SQLite in the
# volume. No API token: the REST API accepts no one until your config declares tokens.
COPY manifests/docker/signoff.toml /etc/signoff/signoff.toml
COPY examples/directory /etc/signoff/directory
COPY examples/policies /etc/signoff/policies
# A relative sqlite:// URL given by SIGNOFF_DATABASE_URL lands in the volume too.
WORKDIR /var/lib/signoff
VOLUME ["/var/lib/signoff"]
# distroless's `nonroot` user, by number so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["signoff"]
CMD ["serve", "--config", "/etc/signoff/signoff.toml"]
