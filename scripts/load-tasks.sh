#!/usr/bin/env bash
# Load test of tasks-api with wrk (50 connections, 15 s each):
# POST /v1/tasks and GET /v1/tasks/mine, on release builds with SQLite and a
# private nats-server, then the services' resident memory. `make load`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq wrk >/dev/null; }
scripts/install-deps.sh
cargo build --release --quiet -p auth-api -p tasks-api

work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
nats_port=${LOAD_NATS_PORT:-4655}; auth=127.0.0.1:${LOAD_AUTH_PORT:-3601}; tasks=127.0.0.1:${LOAD_TASKS_PORT:-3602}
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
"$nats_bin" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >/dev/null 2>&1 &
sleep 0.5
export NATS_URL=nats://127.0.0.1:$nats_port RUST_LOG=warn
DATABASE_URL="sqlite://$work/auth.sqlite?mode=rwc" BIND_ADDR=$auth ATES_ADMIN_EMAIL=admin@popug.inc \
  ATES_ADMIN_PASSWORD=load-admin-password target/release/auth-api >"$work/auth.log" 2>&1 &
auth_pid=$!
DATABASE_URL="sqlite://$work/tasks.sqlite?mode=rwc" BIND_ADDR=$tasks AUTH_JWKS_URL=http://$auth/.well-known/jwks.json \
  target/release/tasks-api >"$work/tasks.log" 2>&1 &
tasks_pid=$!
for _ in $(seq 1 50); do curl -sf "http://$tasks/healthz" >/dev/null && curl -sf "http://$auth/healthz" >/dev/null && break; sleep 0.1; done
for i in 1 2 3 4 5; do
  curl -sf -XPOST "http://$auth/v1/accounts" -H 'content-type: application/json' \
    -d "{\"email\":\"w$i@popug.inc\",\"password\":\"load-password\",\"full_name\":\"Worker $i\"}" >/dev/null
done
token=$(curl -sf -XPOST "http://$auth/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email":"w1@popug.inc","password":"load-password"}' | python3 -c 'import sys,json;print(json.load(sys.stdin)["access_token"])')
sleep 2 # the account events reach tasks-api's replica
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"Load test task","jira_id":"POPUG-1","description":"created by wrk"}'
LUA
echo "== POST /v1/tasks (50 connections)"
wrk -t2 -c50 -d15s --latency -H "Authorization: Bearer $token" -s "$work/post.lua" "http://$tasks/v1/tasks" \
  | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "== GET /v1/tasks/mine (50 connections)"
wrk -t2 -c50 -d15s --latency -H "Authorization: Bearer $token" "http://$tasks/v1/tasks/mine" \
  | grep -E "Requests/sec|50%|99%|Non-2xx"
echo "== resident memory (KiB)"
ps -o rss=,comm= -p "$auth_pid,$tasks_pid"
