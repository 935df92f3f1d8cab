#!/usr/bin/env bash
# Docker Engine and Compose v2 for the container tests, installed from Debian's registry when missing, the daemon
# started when it is not running, and the images Docker Hub would give made locally when they are missing:
#   python:3.11-slim-bookworm  Debian bookworm + python3/venv/pip (debootstrap, `docker import`)
#   redis:7-alpine, postgres:16-alpine  look-alikes from ../shared/tools/standins (Debian's packages)
# Idempotent; `.ci/run` and `make test-containers` call it. Needs root (apt-get, dockerd).
set -euo pipefail
cd "$(dirname "$0")/.."

SHARED=${VOICEBOT_SHARED:-$(cd .. && pwd)/shared}
DOCKER=/usr/bin/docker  # the Engine's own client (a newer client elsewhere on PATH may speak a newer API)
LOG=/var/log/voicebot-dockerd.log
BASE=python:3.11-slim-bookworm

say() { echo "docker/engine.sh: $*" >&2; }
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }

if ! command -v dockerd >/dev/null || [ ! -x "$DOCKER" ]; then
  say "installing Docker Engine (docker.io)"
  apt-get update -qq && apt_install docker.io
fi
command -v debootstrap >/dev/null || apt_install debootstrap

# Compose v2: bookworm's docker-compose is 1.29 (it rejects the Compose-spec key `name:`); trixie's is v2, a static
# binary installed as a CLI plugin.
if ! "$DOCKER" compose version >/dev/null 2>&1; then
  say "installing Compose v2 (Debian trixie's docker-compose) as a CLI plugin"
  work=$(mktemp -d) && chmod 755 "$work"  # apt downloads as the _apt user
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  echo "deb $mirror trixie main" > "$work/trixie.list"
  opts=(-o "Dir::Etc::SourceList=$work/trixie.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=$work/lists" -o APT::Get::List-Cleanup=0)
  mkdir -p "$work/lists/partial"
  apt-get "${opts[@]}" update -qq
  (cd "$work" && apt-get "${opts[@]}" download -qq docker-compose)
  dpkg-deb -x "$work"/docker-compose_*.deb "$work/root"
  mkdir -p /usr/local/lib/docker/cli-plugins
  install -m 755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" /usr/local/lib/docker/cli-plugins/
  rm -rf "$work"
fi

# The daemon: no iptables or default bridge on this machine; user-defined networks (compose's) and their DNS work.
if ! "$DOCKER" info >/dev/null 2>&1; then
  say "starting dockerd (log: $LOG)"
  (setsid dockerd --iptables=false --ip6tables=false --bridge=none >"$LOG" 2>&1 &)
  for _ in $(seq 1 60); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  "$DOCKER" info >/dev/null 2>&1 || { say "dockerd did not start:"; tail -20 "$LOG" >&2; exit 1; }
fi

# The stand-in base image: the same Debian the official image has, with this machine's CA bundle (the package
# registries are reached through it here).
if ! "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
  say "making $BASE with debootstrap"
  root=$(mktemp -d /tmp/voicebot-base.XXXX)
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$root" "$mirror" >/tmp/voicebot-debootstrap.log 2>&1 \
    || { say "debootstrap failed, see /tmp/voicebot-debootstrap.log"; exit 1; }
  cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*
  tar -C "$root" -c . | "$DOCKER" import --change 'CMD ["python3"]' - "$BASE" >/dev/null
  rm -rf "$root"
fi

for image in redis:7-alpine postgres:16-alpine; do
  if ! "$DOCKER" image inspect "$image" >/dev/null 2>&1; then
    say "building the look-alike $image"
    "$DOCKER" build -q --network host -t "$image" -f "$SHARED/tools/standins/${image%%:*}.Dockerfile" \
      "$SHARED/tools/standins" >/dev/null
  fi
done
say "ready: $("$DOCKER" version --format 'Engine {{.Server.Version}}'), $("$DOCKER" compose version --short)"
