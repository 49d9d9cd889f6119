# syntax=docker/dockerfile:1
#
# usersync-bot container image.
#
#   docker build -t usersync-bot:0.1.0 .
#   docker run --read-only --tmpfs /tmp -p 3000:3000 \
#     -v "$PWD/manifests/docker/usersync-bot.toml:/etc/usersync-bot/usersync-bot.toml:ro" \
#     -v usersync-bot-data:/var/lib/usersync-bot \
#     -e SLACK_SIGNING_SECRET -e SLACK_BOT_TOKEN -e JIRA_PASSWORD \
#     usersync-bot:0.1.0
#
# The root filesystem can be read-only: the bot writes only its SQLite store, in the
# volume /var/lib/usersync-bot (with PostgreSQL it writes nothing at all).
# Base images are build arguments so that a mirror or a pinned digest can be used:
#   docker build --build-arg BUILDER_IMAGE=registry.example/rust@sha256:… .

ARG BUILDER_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------- build
FROM ${BUILDER_IMAGE} AS build
WORKDIR /src

# 1. Dependencies only, in their own layer: it is rebuilt only when Cargo.toml or
#    Cargo.lock change. A dummy library and main stand in for the sources.
#    `.docker-cargo` exists only in CI's build context (.ci/docker-test.sh: a build with
#    `--network none`): its contents, vendored crates in vendor/ and a .cargo/config.toml
#    pointing at them, land in /src. Without it the wildcard matches nothing and cargo
#    fetches the crates from crates.io as usual.
COPY Cargo.toml Cargo.lock .docker-carg[o] ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src

# 2. The sources. migrations/ is embedded at compile time (sqlx::migrate!).
#    COPY keeps the files' own modification times, which may be older than the dummy
#    build above: touch them so that cargo rebuilds the crate for certain.
COPY src ./src
COPY migrations ./migrations
# build.rs lays the binary's functions out by layout/hot-functions.txt (less memory).
COPY build.rs ./
COPY layout/hot-functions.txt ./layout/
RUN touch src/main.rs src/lib.rs build.rs \
 && cargo build --release --locked \
 && install -D -m 0755 target/release/usersync-bot /out/usersync-bot

# -------------------------------------------------------------------------- runtime
FROM ${RUNTIME_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="usersync-bot" \
      org.opencontainers.image.description="Slack and Mattermost bot for the User Sync app of Atlassian Data Center products" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.vendor="usersync-bot" \
      org.opencontainers.image.base.name="debian:bookworm-slim"

# CA certificates: TLS to Slack, Mattermost, the products and PostgreSQL uses the
# system's roots (rustls with native roots). Installed unless the base image has them
# already (CI's local base does, and builds with no network).
RUN if [ -e /etc/ssl/certs/ca-certificates.crt ]; then \
      echo "ca-certificates: already in the base image"; \
    else \
      apt-get update \
      && apt-get install -y --no-install-recommends ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# A fixed, non-root user (the Kubernetes manifests run as 10001 too), owning only the
# state directory.
RUN groupadd --system --gid 10001 usersync-bot \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/usersync-bot --shell /usr/sbin/nologin usersync-bot \
 && install -d -m 0750 -o 10001 -g 10001 /var/lib/usersync-bot \
 && install -d -m 0755 /etc/usersync-bot

COPY --from=build /out/usersync-bot /usr/local/bin/usersync-bot

# The config is mounted here (read-only); check-config and healthcheck find it through
# this variable too. Example: manifests/docker/usersync-bot.toml.
ENV USERSYNC_BOT_CONFIG=/etc/usersync-bot/usersync-bot.toml
# The SQLite store ([storage] url = "sqlite:///var/lib/usersync-bot/usersync-bot.db")
# and nothing else lives in this volume.
VOLUME ["/var/lib/usersync-bot"]
WORKDIR /var/lib/usersync-bot
USER 10001:10001

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["usersync-bot", "healthcheck"]
ENTRYPOINT ["usersync-bot"]
CMD ["serve", "--config", "/etc/usersync-bot/usersync-bot.toml"]
