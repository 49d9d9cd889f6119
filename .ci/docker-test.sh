#!/usr/bin/env bash
# CI: build the container image and prove it (issue 13 §1), entirely on this machine.
#
# No registry is reachable here, so the base images are made locally, once, and cached by
# tag: Debian bookworm from `debootstrap --variant=minbase` (from the Debian mirror apt
# uses), imported with `docker import` as
#   usersync-bot-ci/runtime-base:bookworm         ca-certificates, passwd
#   usersync-bot-ci/builder:bookworm-rust-X.Y.Z   the same + gcc, libc6-dev and this
#                                                 machine's active Rust toolchain
# Crates are vendored on the host (`cargo vendor --locked`) into .docker-cargo/ (picked up
# by the Dockerfile only when present), the image is built with `--network none` and run
# with `--network host` (all test traffic on loopback) and checked:
#   - the image's user is 10001 and the bot's process runs as uid 10001;
#   - the root filesystem is read-only (a write as root fails), no tmpfs needed;
#   - `check-config` accepts the mounted config; the HEALTHCHECK reaches "healthy";
#   - signed Slack commands (`help`, `status okta`) are answered 200 with the expected
#     text, through the bot's [[instances]] (a simulator on loopback, from the same image);
#     a forged signature is refused; the secret is not in the log;
#   - the store in its named volume survives a new container: `audit` (as an admin)
#     shows the command sent before the restart, and the SQLite file is in the volume.
# Containers, the volume, the vendored crates and dangling images are removed at the end;
# the base images, the built image and its tagged build stage (their layers are the build
# cache) are kept.
#
# Skipped, with a notice and exit 0, only where dockerd cannot start. Bounded in time:
# every wait has a timeout and the whole script DOCKER_TEST_TIMEOUT (default 40m).
#
#   bash .ci/docker-test.sh                 # as root (installs docker.io, debootstrap)
#   KEEP=1 bash .ci/docker-test.sh          # keep containers and volume for a look
#   DOCKER_TEST_REBUILD_BASES=1 bash …      # remake the cached base images
set -euo pipefail
cd "$(dirname "$0")/.."
{ # Read whole before it runs: an edit or a checkout while it runs changes nothing.

# The whole script under one deadline (its own process group is signalled).
if [ -z "${USERSYNC_DOCKER_TEST_INNER:-}" ]; then
  export USERSYNC_DOCKER_TEST_INNER=1
  rc=0
  timeout -k 30s "${DOCKER_TEST_TIMEOUT:-40m}" bash "$0" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "docker image test: FAILED: did not finish within ${DOCKER_TEST_TIMEOUT:-40m}" >&2
  fi
  exit "$rc"
fi

PREFIX=usersync-bot-ci
RUNTIME_BASE="$PREFIX/runtime-base:bookworm"
IMAGE="$PREFIX/usersync-bot:test"
BUILD_STAGE="$PREFIX/usersync-bot:build-stage"
BOT="$PREFIX-bot"
SIM="$PREFIX-sim"
VOLUME="$PREFIX-data"
VENDOR_DIR=.docker-cargo          # the Dockerfile copies it only when present
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/usersync-bot-ci-dockerd.log}"
START=$SECONDS
DOCKER_BIN=docker                 # Debian's client once installed (below)

step() { echo "-- docker-test [$((SECONDS - START))s]: $*"; }
fail() {
  echo "docker image test: FAILED: $*" >&2
  exit 1
}
skip() {
  echo "docker image test: SKIPPED: dockerd cannot start here: $*"
  exit 0
}
# `bounded SECONDS cmd…`: a step that must not hang.
bounded() {
  local limit=$1
  shift
  if [ "$1" = docker ]; then
    shift
    set -- "$DOCKER_BIN" "$@"
  fi
  timeout -k 10s "$limit" "$@"
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/usersync-bot-docker-test.XXXXXX")"
# shellcheck disable=SC2317  # (a trap handler)
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" != 0 ] && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    for c in "$BOT" "$SIM"; do
      if docker container inspect "$c" >/dev/null 2>&1; then
        echo "---- docker logs $c (last 40 lines)" >&2
        docker logs --tail 40 "$c" 2>&1 | sed 's/^/   | /' >&2
      fi
    done
  fi
  if [ -z "${KEEP:-}" ]; then
    if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
      docker rm -f -v "$BOT" "$SIM" >/dev/null 2>&1
      docker volume rm -f "$VOLUME" >/dev/null 2>&1
      docker image prune -f >/dev/null 2>&1
    fi
    rm -rf "$WORK"
  else
    echo "KEEP set: containers $BOT, $SIM, volume $VOLUME and $WORK are kept"
  fi
  rm -rf "$VENDOR_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ------------------------------------------------------------------------ tools
step "tools: docker.io, debootstrap, curl, jq, openssl"
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
for tool in curl jq openssl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    command -v dockerd >/dev/null 2>&1 || skip "docker.io is not installed, and installing it needs root"
    fail "${missing[*]} not installed, and installing needs root"
  fi
  step "installing ${missing[*]} (apt-get)"
  bounded 300 apt-get update -q >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; fail "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive bounded 600 apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >>"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log" >&2; fail "apt-get install ${missing[*]} failed"; }
fi
# Debian's client matches Debian's daemon; another `docker` may come first on PATH.
DOCKER_BIN="$(command -v docker || true)"
[ -x /usr/bin/docker ] && DOCKER_BIN=/usr/bin/docker
[ -n "$DOCKER_BIN" ] || fail "no docker client (the docker.io package has one)"
docker() { "$DOCKER_BIN" "$@"; }

# ----------------------------------------------------------------------- daemon
step "dockerd"
if ! bounded 20 docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || skip "no daemon answers and starting one needs root"
  echo "   starting dockerd in the background (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  # Its own session: it outlives this script (and its deadline), for the next run.
  setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
  dockerd_pid=$!
  up=
  for _ in $(seq 1 60); do
    if bounded 10 docker info >/dev/null 2>&1; then up=1; break; fi
    kill -0 "$dockerd_pid" 2>/dev/null || break
    sleep 1
  done
  if [ -z "$up" ]; then
    reason="$( { grep -E 'level=(fatal|error)|failed to start' "$DOCKERD_LOG" || true; } | tail -1 \
      | sed 's/.*msg="\([^"]*\)".*/\1/')"
    [ -n "$reason" ] || reason="$(tail -1 "$DOCKERD_LOG" 2>/dev/null || true)"
    kill "$dockerd_pid" 2>/dev/null || true
    skip "${reason:-no answer within 60s} (log: $DOCKERD_LOG)"
  fi
fi
echo "   $(docker version --format 'daemon {{.Server.Version}}, client {{.Client.Version}}'), storage $(docker info --format '{{.Driver}}')"

# ------------------------------------------------------------------ base images
# The Debian mirror apt uses on this machine (deb822 or one-line sources), or DEBIAN_MIRROR.
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  local m
  m="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'BEGIN { RS = "" }
        /(^|\n)Suites:[^\n]*[ \t]bookworm([ \t\n]|$)/ && /(^|\n)URIs:/ {
          match($0, /URIs:[ \t]*[^ \t\n]+/); u = substr($0, RSTART, RLENGTH); sub(/URIs:[ \t]*/, "", u)
          if (u ~ /debian\/?$/) { print u; exit } }')"
  [ -n "$m" ] || m="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $0 ~ / bookworm / { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; exit } }')"
  echo "${m:-http://deb.debian.org/debian}"
}

# make_rootfs DIR PACKAGES: a minimal bookworm tree, without apt's lists and caches.
make_rootfs() {
  local dir=$1 pkgs=$2 mirror
  mirror="$(debian_mirror)"
  echo "   debootstrap --variant=minbase --include=$pkgs bookworm ($mirror)"
  mkdir -p "$WORK/debs"
  bounded 900 debootstrap --variant=minbase --include="$pkgs" --cache-dir="$WORK/debs" \
    bookworm "$dir" "$mirror" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }
  rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/tmp/* \
    "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/* \
    "$dir"/var/log/*.log "$dir"/var/cache/debconf/*-old
}

# import DIR TAG CHANGES…: the tree as an image.
import_rootfs() {
  local dir=$1 tag=$2
  shift 2
  local changes=()
  for c in "$@"; do changes+=(--change "$c"); done
  tar -C "$dir" --numeric-owner -cf - . | bounded 600 docker import "${changes[@]}" - "$tag" >/dev/null \
    || fail "docker import $tag failed"
}

STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
SYSROOT="$(rustc --print sysroot)" || fail "no Rust toolchain (rustc --print sysroot)"
RUST_VERSION="$(rustc --version | awk '{ print $2 }')"
HOST_TARGET="$(rustc -vV | awk '/^host:/ { print $2 }')"
BUILDER_BASE="$PREFIX/builder:bookworm-rust-$RUST_VERSION"

if [ -n "${DOCKER_TEST_REBUILD_BASES:-}" ]; then
  docker rmi -f "$RUNTIME_BASE" "$BUILDER_BASE" >/dev/null 2>&1 || true
fi
if docker image inspect "$RUNTIME_BASE" >/dev/null 2>&1; then
  step "runtime base $RUNTIME_BASE: cached"
else
  step "runtime base $RUNTIME_BASE: making it (once)"
  make_rootfs "$WORK/runtime-root" ca-certificates,passwd
  import_rootfs "$WORK/runtime-root" "$RUNTIME_BASE" "ENV PATH=$STD_PATH" 'CMD ["/bin/bash"]'
  rm -rf "$WORK/runtime-root"
fi
if docker image inspect "$BUILDER_BASE" >/dev/null 2>&1; then
  step "builder base $BUILDER_BASE: cached"
else
  step "builder base $BUILDER_BASE: making it (once) with the toolchain at $SYSROOT"
  root="$WORK/builder-root"
  make_rootfs "$root" ca-certificates,passwd,gcc,libc6-dev
  # The active toolchain, without its docs and lint tools: cargo, rustc, their shared
  # libraries, the standard library and the self-contained linker of the host target.
  rust="$root/usr/local/rust"
  mkdir -p "$rust/bin" "$rust/lib/rustlib" "$root/usr/local/cargo"
  cp -a "$SYSROOT/bin/cargo" "$SYSROOT/bin/rustc" "$rust/bin/"
  cp -a "$SYSROOT"/lib/*.so* "$rust/lib/"
  cp -a "$SYSROOT/lib/rustlib/$HOST_TARGET" "$rust/lib/rustlib/"
  import_rootfs "$root" "$BUILDER_BASE" \
    "ENV PATH=/usr/local/rust/bin:$STD_PATH" "ENV CARGO_HOME=/usr/local/cargo" 'CMD ["/bin/bash"]'
  rm -rf "$root"
  docker run --rm --network none "$BUILDER_BASE" sh -c 'cargo --version && rustc --version && cc --version | head -1' \
    | sed 's/^/   /' || fail "the builder base cannot run cargo, rustc and cc"
fi
rm -rf "$WORK/debs"

# ---------------------------------------------------------------------- crates
step "vendoring crates into $VENDOR_DIR (cargo vendor --locked)"
rm -rf "$VENDOR_DIR"
mkdir -p "$VENDOR_DIR/.cargo"
bounded 600 cargo vendor --locked --quiet "$VENDOR_DIR/vendor" >"$WORK/vendor-config.toml" 2>"$WORK/vendor.log" \
  || { tail -20 "$WORK/vendor.log" >&2; fail "cargo vendor failed"; }
# Its contents land in the build's /src: /src/.cargo/config.toml and /src/vendor.
cat >"$VENDOR_DIR/.cargo/config.toml" <<'EOF'
# Written by .ci/docker-test.sh for a build without network; not part of the sources.
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "/src/vendor"

[net]
offline = true
EOF
echo "   $(find "$VENDOR_DIR/vendor" -mindepth 1 -maxdepth 1 -type d | wc -l) crates, $(du -sh "$VENDOR_DIR/vendor" | cut -f1)"

# ----------------------------------------------------------------------- build
# The classic builder: BuildKit would fetch the `# syntax=` frontend from a registry. The
# build stage is built and tagged first: a tag keeps its layers (the dependency layer
# above all) from being pruned as dangling, so that the next run finds them in the cache.
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
build_args=(--network none --force-rm
  --build-arg BUILDER_IMAGE="$BUILDER_BASE" --build-arg RUNTIME_IMAGE="$RUNTIME_BASE"
  --build-arg REVISION="$revision")
step "docker build --network none --target build (BUILDER_IMAGE=$BUILDER_BASE), tagged $BUILD_STAGE"
if ! DOCKER_BUILDKIT=0 bounded "${DOCKER_BUILD_TIMEOUT:-30m}" docker build "${build_args[@]}" \
  --target build -t "$BUILD_STAGE" . >"$WORK/build.log" 2>&1; then
  tail -40 "$WORK/build.log" >&2
  fail "docker build (the build stage) failed (last lines above)"
fi
step "docker build --network none (RUNTIME_IMAGE=$RUNTIME_BASE), tagged $IMAGE"
if ! DOCKER_BUILDKIT=0 bounded 10m docker build "${build_args[@]}" -t "$IMAGE" . >>"$WORK/build.log" 2>&1; then
  tail -40 "$WORK/build.log" >&2
  fail "docker build failed (last lines above)"
fi
# What ran: each RUN step, then cargo's "Finished" line for a step that was not cached.
sed 's/\x1b\[[0-9;]*m//g' "$WORK/build.log" \
  | grep -E '^Step [0-9]+/[0-9]+ : RUN|Using cache|Finished' \
  | awk '/^Step/ { step = $0; next }
         /Using cache/ { if (step != "") print "   cached: " substr(step, 1, 100); step = ""; next }
         /Finished/ { sub(/^ */, ""); print "   built:  " substr(step, 1, 100) " — " $0; step = "" }'
echo "   $(grep -c 'Using cache' "$WORK/build.log") steps from the cache"
rm -rf "$VENDOR_DIR"
echo "   $IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

# ------------------------------------------------------------------------- run
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  fail "no free loopback port found"
}
BOT_PORT="$(free_port)"
SIM_PORT="$(free_port)"
[ "$BOT_PORT" != "$SIM_PORT" ] || SIM_PORT=$((BOT_PORT + 1))
SECRET="$(openssl rand -hex 24)"
ADMIN=U0CIADMIN
VIEWER=U0CIVIEWER

step "image user"
user="$(docker image inspect -f '{{.Config.User}}' "$IMAGE")"
[ "${user%%:*}" = 10001 ] || fail "the image's user is '$user', not 10001"
echo "   Config.User = $user"

step "simulator on 127.0.0.1:$SIM_PORT (the same image, --network host)"
docker rm -f -v "$BOT" "$SIM" >/dev/null 2>&1 || true
docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true
docker run -d --name "$SIM" --network host --read-only --no-healthcheck "$IMAGE" \
  simulate --listen "127.0.0.1:$SIM_PORT" --sync-duration 1s >/dev/null || fail "the simulator does not start"
for _ in $(seq 1 30); do
  code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -u admin:admin \
    "http://127.0.0.1:$SIM_PORT/rest/usersync/2/connectors" 2>/dev/null || true)"
  [ "$code" != 000 ] && break
  sleep 1
done
[ "${code:-000}" != 000 ] || fail "the simulator does not answer on 127.0.0.1:$SIM_PORT"

mkdir -p "$WORK/etc"
cat >"$WORK/etc/usersync-bot.toml" <<EOF
# Written by .ci/docker-test.sh: the shipped example's shape, on loopback.
listen = "127.0.0.1:$BOT_PORT"

[storage]
url = "sqlite:///var/lib/usersync-bot/usersync-bot.db"

[slack]
signing_secrets = ["\${SLACK_SIGNING_SECRET}"]
response_url_hosts = ["127.0.0.1"]

[[instances]]
name = "jira"
base_url = "http://127.0.0.1:$SIM_PORT"
username = "admin"
password = "\${JIRA_PASSWORD}"
api = "2"
default = true
timeout = "5s"

[roles]
admin = ["slack:$ADMIN"]
viewer = ["*"]

[replies]
slash_command = "/usersync"
EOF
chmod 0755 "$WORK" "$WORK/etc"
chmod 0644 "$WORK/etc/usersync-bot.toml"
CONFIG_MOUNT="$WORK/etc/usersync-bot.toml:/etc/usersync-bot/usersync-bot.toml:ro"
export SLACK_SIGNING_SECRET="$SECRET" JIRA_PASSWORD=admin

step "check-config in the image"
out="$(bounded 60 docker run --rm --network none --read-only --no-healthcheck -v "$CONFIG_MOUNT" \
  -e SLACK_SIGNING_SECRET -e JIRA_PASSWORD "$IMAGE" check-config 2>&1)" \
  || fail "check-config refuses the test config: $out"
echo "$out" | sed 's/^/   /'

run_bot() {
  docker run -d --name "$BOT" --network host --read-only \
    -v "$VOLUME:/var/lib/usersync-bot" -v "$CONFIG_MOUNT" \
    -e SLACK_SIGNING_SECRET -e JIRA_PASSWORD \
    --health-interval 1s --health-timeout 5s --health-retries 3 --health-start-period 20s \
    "$IMAGE" >/dev/null || fail "the bot's container does not start"
}

wait_healthy() {
  local status=
  for _ in $(seq 1 60); do
    status="$(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$BOT" 2>/dev/null || true)"
    case "$status" in
      "running healthy") echo "   health: healthy after ${1:-}$((SECONDS - t0))s"; return ;;
      "running unhealthy") break ;;
      running*) ;;
      *) fail "the bot's container stopped ($status)" ;;
    esac
    sleep 1
  done
  docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "$BOT" 2>/dev/null | tail -5 >&2
  fail "the bot did not become healthy within 60s (status: $status)"
}

# slack USER TEXT [SIGNATURE]: a slash command as Slack sends it; prints "STATUS BODY".
slack() {
  local user=$1 text=$2 ts body sig enc
  ts="$(date +%s)"
  enc="$(printf '%s' "$text" | jq -sRr @uri)"
  body="token=deprecated&team_id=T0CI&team_domain=ci&channel_id=C0CI&channel_name=ci&user_id=$user&user_name=ci-$user&command=%2Fusersync&text=$enc&api_app_id=A0CI&is_enterprise_install=false&trigger_id=$RANDOM$RANDOM.$RANDOM$RANDOM"
  sig="${3:-v0=$(printf 'v0:%s:%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$SECRET" | awk '{ print $NF }')}"
  curl -s --max-time 15 -o "$WORK/reply" -w '%{http_code}' \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    -H "X-Slack-Request-Timestamp: $ts" -H "X-Slack-Signature: $sig" \
    --data-binary "$body" "http://127.0.0.1:$BOT_PORT/slack/commands" || true   # 000 when unanswered
}

# expect USER TEXT WANTED…: 200 and every WANTED in the reply's text.
expect() {
  local user=$1 text=$2 code
  shift 2
  code="$(slack "$user" "$text")"
  [ "$code" = 200 ] || fail "'/usersync $text' answered $code: $(head -c 300 "$WORK/reply")"
  for want in "$@"; do
    grep -qF -- "$want" "$WORK/reply" \
      || fail "'/usersync $text': '$want' is not in the reply: $(head -c 600 "$WORK/reply")"
  done
  echo "   /usersync $text → 200, $(jq -r '.text // empty' "$WORK/reply" 2>/dev/null | head -1 | cut -c1-100)"
}

step "bot on 127.0.0.1:$BOT_PORT (--network host --read-only, volume $VOLUME, config read-only)"
t0=$SECONDS
run_bot
wait_healthy

step "non-root, read-only root"
pid="$(docker inspect -f '{{.State.Pid}}' "$BOT")"
uids="$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")"
[ "$uids" = "10001 10001 10001 10001" ] || fail "the bot's process runs with uids '$uids', not 10001"
echo "   the bot's process (host pid $pid): uid 10001 (real, effective, saved, fs)"
[ "$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}}' "$BOT")" = true ] || fail "the root filesystem is not read-only"
if out="$(docker exec -u 0 "$BOT" touch /etc/usersync-bot-write-test 2>&1)"; then
  fail "root could write /etc in the container"
fi
echo "$out" | grep -qi 'read-only' || fail "a write failed, but not for a read-only filesystem: $out"
echo "   a write as root fails: $(echo "$out" | tail -1)"
docker exec "$BOT" touch /var/lib/usersync-bot/.write-test || fail "the volume is not writable by uid 10001"
docker exec "$BOT" rm -f /var/lib/usersync-bot/.write-test
echo "   the volume is writable by uid 10001"

step "signed Slack commands"
expect "$VIEWER" help "status"
expect "$VIEWER" "status okta" "Okta"
code="$(slack "$VIEWER" help "v0=$(printf '%064d' 0)")"
[ "$code" = 401 ] || fail "a forged signature was answered $code, not 401"
echo "   a forged signature → 401"
if docker logs "$BOT" 2>&1 | grep -qF "$SECRET"; then fail "the signing secret is in the log"; fi
echo "   the signing secret is not in the log"

step "the store survives a new container on the same volume"
docker stop -t 20 "$BOT" >/dev/null || fail "docker stop failed"
docker rm "$BOT" >/dev/null
t0=$SECONDS
run_bot
wait_healthy "the restart, "
expect "$ADMIN" "audit 10" "status okta" "$VIEWER"
echo "   the row from before: $(sed 's/\\n/\n/g' "$WORK/reply" | grep -m1 -o '[^"]*status okta[^"]*' | cut -c1-160)"
listing="$(bounded 60 docker run --rm --network none --read-only --no-healthcheck --entrypoint ls \
  -v "$VOLUME:/data:ro" "$IMAGE" -ln /data)" || fail "cannot list the volume"
echo "$listing" | grep -q ' 10001 *10001 .* usersync-bot.db$' || fail "no usersync-bot.db of uid 10001 in the volume: $listing"
echo "   in the volume: $(echo "$listing" | grep 'usersync-bot.db$' | awk '{ print $NF, $5, "bytes, uid", $3 }')"

step "clean-up"
docker stop -t 20 "$BOT" >/dev/null 2>&1 || true
docker rm -f -v "$SIM" >/dev/null 2>&1 || true      # the simulator is PID 1 without a SIGTERM handler
echo "docker image test: passed ($((SECONDS - START))s; image $IMAGE)"
exit 0
}
