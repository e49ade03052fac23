#!/usr/bin/env bash
# Make a Docker engine with the gVisor runtime available on this machine (Debian, as root).
# Idempotent: with an engine that answers it only registers runsc when that is missing. When no engine runs on this
# machine (no dockerd process; DOCKER_HOST unset or naming this machine's own /var/run/docker.sock, which may be a
# stale socket left by an earlier dockerd) it installs docker.io, runsc and docker-compose, writes /etc/docker/daemon.json and starts
# dockerd, saying so first. An engine configured elsewhere (DOCKER_HOST or DOCKER_CONTEXT naming another engine, a
# typo) or a dockerd that runs but does not answer is reported, never replaced. Prints "started <pid>" on stdout when
# it started dockerd itself, so a caller can stop exactly that process later (as .ci/run does).
set -euo pipefail

log() { printf 'docker-setup: %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

local_socket=/var/run/docker.sock
local_host=unix://$local_socket

refuse() {
  local why
  why=$(docker info 2>&1 >/dev/null | grep -v '^$' | tail -n 1 || true)
  log "the Docker engine configured at $1 does not answer: ${why:-docker is not installed}"
  log "$2; nothing was installed or changed"
  exit 1
}

# A dockerd that was just started (by systemd, by another run of this script) may need a few seconds to answer.
wait_for_running_dockerd() {
  for _ in $(seq 1 20); do
    engine_answers && return 0
    pgrep -x dockerd >/dev/null || return 0
    sleep 1
  done
}

if ! engine_answers; then
  if [ -n "${DOCKER_CONTEXT:-}" ] && [ "$DOCKER_CONTEXT" != default ]; then
    refuse "context $DOCKER_CONTEXT" "fix DOCKER_CONTEXT or start that engine"
  fi
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$local_host" ]; then
    refuse "$DOCKER_HOST" "fix DOCKER_HOST or start that engine"
  fi
  if pgrep -x dockerd >/dev/null; then
    wait_for_running_dockerd
    engine_answers || refuse "$local_host" "a dockerd runs here (pid $(pgrep -x dockerd | head -n 1)) but does not answer: see its log or restart it"
  fi
fi

if ! engine_answers; then
  if [ -e "$local_socket" ] && [ ! -S "$local_socket" ]; then
    # A path that is not a socket (a directory a bind mount left) would stop dockerd from listening.
    if [ -d "$local_socket" ] && rmdir "$local_socket" 2>/dev/null; then
      log "removed the empty directory $local_socket (not a socket) so dockerd can listen there"
    else
      refuse "$local_host" "$local_socket is not a socket: remove it or point DOCKER_HOST at your engine"
    fi
  fi
  # No dockerd runs (checked above), so a pid file is what a killed one left; a reused pid would stop dockerd.
  rm -f /var/run/docker.pid
  log "no Docker engine runs on this machine${DOCKER_HOST:+ (DOCKER_HOST=$DOCKER_HOST)}; as root this will:"
  log "  install docker.io, runsc and docker-compose from Debian's packages if missing, register runsc in /etc/docker/daemon.json,"
  log "  and start dockerd in the background (its log: /var/log/dockerd.log)"
elif [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != "$local_host" ]; then
  # Not this machine's engine: its runtimes are its own admin's business.
  log "using the Docker engine at $DOCKER_HOST"
  exit 0
fi

# docker-compose (Debian's v1) only for the test of scripts/deploy/compose.yaml; the conductor never uses it.
if ! command -v dockerd >/dev/null 2>&1 || ! command -v runsc >/dev/null 2>&1 || ! command -v docker-compose >/dev/null 2>&1; then
  log "installing docker.io, runsc and docker-compose from Debian's packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io runsc docker-compose >&2
fi

# gVisor needs --host-uds=open so the mcpFactory Unix socket mounted into a container can be reached.
daemon_json=/etc/docker/daemon.json
want='{"runtimes":{"runsc":{"path":"/usr/bin/runsc","runtimeArgs":["--network=none","--host-uds=open"]}}}'
mkdir -p /etc/docker
if ! grep -q '"runsc"' "$daemon_json" 2>/dev/null; then
  if [ -s "$daemon_json" ]; then
    node -e '
      const fs = require("fs");
      const f = process.argv[1];
      const cur = JSON.parse(fs.readFileSync(f, "utf8"));
      cur.runtimes = { ...(cur.runtimes ?? {}), ...JSON.parse(process.argv[2]).runtimes };
      fs.writeFileSync(f, JSON.stringify(cur, null, 2));
    ' "$daemon_json" "$want"
  else
    printf '%s\n' "$want" >"$daemon_json"
  fi
  log "registered runsc in $daemon_json"
  if docker info >/dev/null 2>&1; then
    log "reloading dockerd to pick up the runtime"
    pkill -HUP dockerd || true
    sleep 1
  fi
fi

if docker info >/dev/null 2>&1; then
  log "a Docker engine is already running"
  exit 0
fi

log "starting dockerd"
nohup dockerd >/var/log/dockerd.log 2>&1 &
pid=$!
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "dockerd is up (pid $pid)"
    echo "started $pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    break
  fi
  sleep 1
done
log "dockerd did not come up; last lines of /var/log/dockerd.log:"
tail -n 30 /var/log/dockerd.log >&2 || true
exit 1
