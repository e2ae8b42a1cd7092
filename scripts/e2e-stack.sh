#!/usr/bin/env bash
# A private aTES stack for the browser tests (web/e2e): its own nats-server
# with JetStream (a temporary store and one identity per service, as
# `make run`), the four services and web-server from the built debug
# binaries, on free ports, with the fixed bootstrap admin below and
# CLOSE_SCHEDULER=off (only the tests close a day). Databases: SQLite files
# in the temporary directory, or, with E2E_DATABASE_URL_BASE set (e.g.
# postgres://postgres@127.0.0.1:5432), a fresh PostgreSQL database per
# service on that server (ates_test_e2e_<run>_<service>, dropped at the end;
# `make test-db-clean` drops any left by a killed run).
#
#   scripts/e2e-stack.sh -- COMMAND...   start, run COMMAND with the stack's
#                                        variables, stop; exits with its status
#   scripts/e2e-stack.sh                 start, print the variables, run until
#                                        SIGTERM/SIGINT or the parent exits
#
# The variables: E2E_BASE_URL (web-server), E2E_ADMIN_EMAIL,
# E2E_ADMIN_PASSWORD, E2E_SERVICE_URLS (name=url,... of the four services).
# Readiness is polled (/readyz of every process), never waited out with a
# fixed sleep. Everything it started is stopped and every temporary file
# and database removed on exit, however it exits.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${E2E_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/debug}
DIST=${E2E_WEB_DIST:-$ROOT/web/dist}
SERVICES=(auth-api tasks-api accounting-api analytics-api)
export E2E_ADMIN_EMAIL=${E2E_ADMIN_EMAIL:-admin@popug.inc}
export E2E_ADMIN_PASSWORD=${E2E_ADMIN_PASSWORD:-browser tests admin password}
READY_TIMEOUT_SECS=${E2E_READY_TIMEOUT_SECS:-60}

log() { echo "e2e-stack: $*" >&2; }

for binary in ates-nats-config web-server "${SERVICES[@]}"; do
  if [ ! -x "$BIN/$binary" ]; then
    log "$BIN/$binary is missing: build the binaries first (cargo build --bins)"
    exit 1
  fi
done
if [ ! -f "$DIST/index.html" ]; then
  log "$DIST/index.html is missing: build the web app first (npm --prefix web run build)"
  exit 1
fi
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)

work=$(mktemp -d "${TMPDIR:-/tmp}/ates-e2e.XXXXXX")
pids=()
databases=()
pg_admin=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ] && [ "${#pids[@]}" -gt 0 ]; then
    for file in "$work"/*.log; do
      [ -s "$file" ] || continue
      log "last lines of $(basename "$file"):"
      tail -n 15 "$file" >&2
    done
  fi
  for db in "${databases[@]}"; do
    psql "$pg_admin" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 \
      || psql "$pg_admin" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 \
      || log "could not drop database $db"
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Polls until CHECK succeeds, at most READY_TIMEOUT_SECS; fails early when
# the process PID has died.
wait_for() {
  local what=$1 pid=$2; shift 2
  local deadline=$((SECONDS + READY_TIMEOUT_SECS))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then log "$what exited during start-up"; return 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then log "$what not ready after ${READY_TIMEOUT_SECS}s"; return 1; fi
    sleep 0.1
  done
}
ready() { curl -fs -o /dev/null --max-time 2 "$1/readyz"; }
port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# One database per service: a SQLite file, or a fresh PostgreSQL database.
declare -A db_url
create_databases() {
  local service base db
  if [ -z "${E2E_DATABASE_URL_BASE:-}" ]; then
    for service in "${SERVICES[@]}"; do db_url[$service]="sqlite://$work/$service.sqlite?mode=rwc"; done
    return
  fi
  base=${E2E_DATABASE_URL_BASE%/}
  # A URL that names a database already (…:5432/postgres): its server.
  case "${base#*://}" in */*) base=${base%/*} ;; esac
  pg_admin="$base/postgres"
  for service in "${SERVICES[@]}"; do
    db="ates_test_e2e_${run_id}_${service//-/_}"
    psql "$pg_admin" -qc "create database \"$db\"" >/dev/null
    databases+=("$db")
    db_url[$service]="$base/$db"
  done
}
run_id=$(echo "${work##*.}" | tr "A-Z" "a-z")
create_databases

"$BIN/ates-nats-config" --dir "$work/nats-auth" >/dev/null
nats_port=$(free_port)
"$nats_bin" -c "$work/nats-auth/nats/nats-server.conf" -a 127.0.0.1 -p "$nats_port" -js \
  -sd "$work/nats" >"$work/nats.log" 2>&1 &
pids+=($!)
wait_for nats-server "$!" port_open "$nats_port"

declare -A url
for service in "${SERVICES[@]}"; do url[$service]="http://127.0.0.1:$(free_port)"; done
web_url="http://127.0.0.1:$(free_port)"

for service in "${SERVICES[@]}"; do
  (
    export DATABASE_URL="${db_url[$service]}" BIND_ADDR="${url[$service]#http://}"
    export NATS_URL="nats://127.0.0.1:$nats_port"
    export NATS_NKEY_SEED_FILE="$work/nats-auth/$service/nkey.seed"
    export AUTH_JWKS_URL="${url[auth-api]}/.well-known/jwks.json"
    export RUST_LOG=${RUST_LOG:-warn}
    case $service in
      auth-api)
        export ATES_ADMIN_EMAIL="$E2E_ADMIN_EMAIL" ATES_ADMIN_PASSWORD="$E2E_ADMIN_PASSWORD"
        export SIGNUP_ALLOWED_DOMAINS=popug.inc
        # Every browser reaches auth-api through web-server: one client
        # address for the whole suite, which must not be throttled.
        export CLIENT_MAX_ATTEMPTS=100000
        ;;
      accounting-api) export CLOSE_SCHEDULER=off ;;
    esac
    exec "$BIN/$service"
  ) >"$work/$service.log" 2>&1 &
  pids+=($!)
done
(
  export BIND_ADDR="${web_url#http://}" WEB_DIST="$DIST" RUST_LOG=${RUST_LOG:-warn}
  export AUTH_URL="${url[auth-api]}" TASKS_URL="${url[tasks-api]}"
  export ACCOUNTING_URL="${url[accounting-api]}" ANALYTICS_URL="${url[analytics-api]}"
  exec "$BIN/web-server"
) >"$work/web-server.log" 2>&1 &
pids+=($!)

i=1
for service in "${SERVICES[@]}"; do
  wait_for "$service" "${pids[$i]}" ready "${url[$service]}"
  i=$((i + 1))
done
# web-server is ready once the app is built and the four services answer.
wait_for web-server "${pids[$i]}" ready "$web_url"

export E2E_BASE_URL="$web_url"
E2E_SERVICE_URLS=$(for s in "${SERVICES[@]}"; do printf '%s=%s,' "$s" "${url[$s]}"; done)
export E2E_SERVICE_URLS=${E2E_SERVICE_URLS%,}
log "ready on $E2E_BASE_URL ($([ -n "${E2E_DATABASE_URL_BASE:-}" ] && echo PostgreSQL || echo SQLite), logs in $work)"

if [ "${1:-}" = "--" ]; then
  shift
  set +e
  "$@"
  status=$?
  set -e
  exit "$status"
fi

# Serving for a parent (Playwright's global set-up reads these lines).
echo "E2E_BASE_URL=$E2E_BASE_URL"
echo "E2E_ADMIN_EMAIL=$E2E_ADMIN_EMAIL"
echo "E2E_ADMIN_PASSWORD=$E2E_ADMIN_PASSWORD"
echo "E2E_SERVICE_URLS=$E2E_SERVICE_URLS"
echo "E2E_READY"
parent=$PPID
trap 'exit 0' INT TERM
# Stop with the parent, or as soon as one of the processes dies.
while kill -0 "$parent" 2>/dev/null; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then log "a process of the stack exited (pid $pid)"; exit 1; fi
  done
  sleep 1 &
  wait $! || true
done
