#!/usr/bin/env bash
# Make a Docker engine with the gVisor runtime available on this machine (Debian, as root).
# Idempotent: installs docker.io and runsc only when missing, registers runsc, starts dockerd only when
# no engine answers. Prints "started <pid>" on stdout when it started dockerd itself, so a caller can stop exactly
# that process later (as .ci/run does).
set -euo pipefail

log() { printf 'docker-setup: %s\n' "$*" >&2; }

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
