#!/usr/bin/env bash
# Make a Docker engine with the gVisor runtime available on this machine (Debian, as root).
# Idempotent: with an engine that answers it only registers runsc when that is missing. It installs docker.io and
# runsc, writes /etc/docker/daemon.json and starts dockerd only when no engine is configured at all (no DOCKER_HOST,
# no /var/run/docker.sock): an engine that is configured but does not answer (a DOCKER_HOST typo, a stopped
# service) is reported, never replaced. Prints "started <pid>" on stdout when it started dockerd itself, so a caller
# can stop exactly that process later (as .ci/run does).
set -euo pipefail

log() { printf 'docker-setup: %s\n' "$*" >&2; }

engine_answers() { docker info >/dev/null 2>&1; }

if ! engine_answers; then
  if [ -n "${DOCKER_HOST:-}" ] || [ -e /var/run/docker.sock ]; then
    where=${DOCKER_HOST:-unix:///var/run/docker.sock}
    why=$(docker info 2>&1 >/dev/null | grep -v '^$' | tail -n 1 || true)
    log "the Docker engine configured at $where does not answer: ${why:-docker is not installed}"
    log "fix DOCKER_HOST or start that engine (systemctl start docker); nothing was installed or changed"
    exit 1
  fi
  log "no Docker engine is configured (no DOCKER_HOST, no /var/run/docker.sock); as root this will:"
  log "  install docker.io and runsc from Debian's packages if missing, register runsc in /etc/docker/daemon.json,"
  log "  and start dockerd in the background (its log: /var/log/dockerd.log)"
elif [ -n "${DOCKER_HOST:-}" ]; then
  # Not this machine's engine: its runtimes are its own admin's business.
  log "using the Docker engine at $DOCKER_HOST"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v runsc >/dev/null 2>&1; then
  log "installing docker.io and runsc from Debian's packages"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io runsc >&2
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
