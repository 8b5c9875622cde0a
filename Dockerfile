# parachute in a container (see README.md, "Run as a service"):
#   docker build -t parachute .
#   docker run -d --name parachute -v "$PWD/vault:/vault" --user "$(id -u):$(id -g)" \
#     -p 127.0.0.1:3333:3333 --stop-timeout 30 parachute
#
# The server listens on 0.0.0.0 in the container (127.0.0.1 there is the container's own
# loopback, which a published port never reaches), and off loopback it refuses to start
# without server.api_token: the first start writes the commented example config to
# /vault/.parachute/bots.yaml and exits with "refusing to listen on 0.0.0.0:3333 without
# server.api_token". Set one there (or write the file before the first start) and start again.

# Build stage: the whole workspace (the root package and crates/*) with the release profile
# (whole-program LTO, optimized for size: about 9 minutes on 2 cores). rust-version in Cargo.toml is 1.95.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin parachute

FROM debian:bookworm-slim
# ca-certificates: the Matrix client checks TLS certificates against the system's store.
# Not pinned: bookworm's current version, security updates included.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-log-init --uid 10001 --user-group --home-dir /vault \
        --shell /usr/sbin/nologin parachute \
    && install -d -m 0700 -o parachute -g parachute /vault
COPY --from=build /src/target/release/parachute /usr/local/bin/parachute
# A fixed non-root uid: a named volume starts out owned by it (from /vault above); a host
# folder mounted on /vault must be writable by it, or run with --user "$(id -u):$(id -g)".
USER 10001:10001
ENV PARACHUTE_VAULT=/vault
VOLUME /vault
WORKDIR /vault
EXPOSE 3333
# The server drains the answers in progress for at most 10 s on SIGTERM: give `docker stop`
# more than that (--stop-timeout 30 on docker run, or docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["parachute"]
CMD ["serve", "--bind", "0.0.0.0"]
