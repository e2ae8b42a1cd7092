#!/usr/bin/env bash
# `make run`: the whole system on this machine. Starts nats-server with
# JetStream (data in ./data/nats), then every service with an embedded
# SQLite database under ./data. Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

# The services that exist so far, with their ports (SPEC section 10).
SERVICES=${ATES_SERVICES:-auth-api:3001 tasks-api:3002 accounting-api:3003 analytics-api:3004}
NATS_PORT=${NATS_PORT:-4222}
export NATS_URL=${NATS_URL:-nats://127.0.0.1:$NATS_PORT}
# The bootstrap admin: without ATES_ADMIN_PASSWORD, auth-api generates a
# password on first start and prints it once.
export ATES_ADMIN_EMAIL=${ATES_ADMIN_EMAIL:-admin@popug.inc}
export SIGNUP_ALLOWED_DOMAINS=${SIGNUP_ALLOWED_DOMAINS:-popug.inc}  # self sign-up for popug.inc emails only
export AUTH_JWKS_URL=${AUTH_JWKS_URL:-http://127.0.0.1:3001/.well-known/jwks.json}

scripts/install-deps.sh
mkdir -p data/nats
[ -n "$SERVICES" ] && cargo build --quiet $(for s in $SERVICES; do printf -- '-p %s ' "${s%%:*}"; done)

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping aTES..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "stopped."
}
trap stop INT TERM EXIT

nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
if (echo > /dev/tcp/127.0.0.1/"$NATS_PORT") 2>/dev/null; then
  echo "NATS already listens on port $NATS_PORT: using it"
else
  "$nats_bin" -a 127.0.0.1 -p "$NATS_PORT" -js -sd data/nats >data/nats.log 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/"$NATS_PORT") 2>/dev/null && break; sleep 0.1; done
  echo "NATS with JetStream on $NATS_URL (store ./data/nats, log ./data/nats.log)"
fi

for entry in $SERVICES; do
  service=${entry%%:*}
  port=${entry##*:}
  DATABASE_URL="sqlite://data/$service.sqlite?mode=rwc" BIND_ADDR="127.0.0.1:$port" \
    "target/debug/$service" &
  pids+=($!)
  echo "$service on http://127.0.0.1:$port (Swagger UI: http://127.0.0.1:$port/swagger-ui)"
done

echo "aTES is running; Ctrl-C stops it."
wait -n "${pids[@]}" || true
