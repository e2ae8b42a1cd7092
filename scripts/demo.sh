#!/usr/bin/env bash
# `make demo` (with `make run` going): the whole aTES story with curl.
# Creates its own admin with the auth-api CLI, signs up workers and a
# manager, creates tasks, shuffles, completes, shows balances, closes the
# day, and shows the payout and the analytics dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
AUTH=${AUTH_URL:-http://127.0.0.1:3001}
TASKS=${TASKS_URL:-http://127.0.0.1:3002}
ACCOUNTING=${ACCOUNTING_URL:-http://127.0.0.1:3003}
ANALYTICS=${ANALYTICS_URL:-http://127.0.0.1:3004}
run=$(date +%s)
password="demo-password-$run"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
json() { python3 -c "import sys, json; data = json.load(sys.stdin); print($1)"; }
# Every POST carries a new Idempotency-Key (as clients should): a retry
# with the same key ($4, else a new one) gets the first answer again.
post() { curl -sf -XPOST "$1" -H 'content-type: application/json' ${3:+-H "authorization: Bearer $3"} \
  -H "idempotency-key: ${4:-$(cat /proc/sys/kernel/random/uuid)}" -d "$2"; }
get() { curl -sf "$1" -H "authorization: Bearer $2"; }
login() { post "$AUTH/v1/auth/login" "{\"email\":\"$1\",\"password\":\"$password\"}" | json 'data["access_token"]'; }

for url in "$AUTH" "$TASKS" "$ACCOUNTING" "$ANALYTICS"; do
  curl -sf "$url/healthz" >/dev/null || { echo "aTES is not running at $url: start it with 'make run' first" >&2; exit 1; }
done

step "An admin (created with the auth-api CLI on make run's database)"
admin_email="admin-$run@popug.inc"
ATES_ADMIN_PASSWORD=$password DATABASE_URL="sqlite://data/auth-api.sqlite?mode=rwc" RUST_LOG=warn \
  target/debug/auth-api create-admin --email "$admin_email" --full-name "Demo Admin"
ADMIN=$(login "$admin_email")

step "Sign-up: three workers and a manager"
declare -A ID TOKEN
for name in kesha rio zazu boss; do
  email="$name-$run@popug.inc"
  ID[$name]=$(post "$AUTH/v1/accounts" "{\"email\":\"$email\",\"password\":\"$password\",\"full_name\":\"${name^}\"}" | json 'data["id"]')
  echo "signed up $email (${ID[$name]})"
done
curl -sf -XPATCH "$AUTH/v1/accounts/${ID[boss]}" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -d '{"role":"manager"}' | json '"boss is now a " + data["role"]'
for name in kesha rio zazu boss; do TOKEN[$name]=$(login "$name-$run@popug.inc"); done
sleep 2 # the account events reach tasks, accounting and analytics

step "The manager creates tasks; each is assigned at once to a random worker"
for title in "Fix the nest:POPUG-1" "Feed the chicks:POPUG-2" "Count the seeds:POPUG-3" "Sing at dawn:POPUG-4" "Sweep the perch:"; do
  jira=${title#*:}; title=${title%%:*}
  body="{\"title\":\"$title\",\"description\":\"demo\"${jira:+,\"jira_id\":\"$jira\"}}"
  post "$TASKS/v1/tasks" "$body" "${TOKEN[boss]}" | json '"%-16s %-8s -> %s" % (data["title"], data["jira_id"] or "", data["assignee_id"])'
done
echo "a title with the Jira id in brackets is refused:"
curl -s -XPOST "$TASKS/v1/tasks" -H "authorization: Bearer ${TOKEN[boss]}" -H 'content-type: application/json' \
  -d '{"title":"[POPUG-9] Bad","description":""}' | json '"  %s %s: %s" % (data["status"], data["title"], data["errors"][0]["message"])'

step "Shuffle: every open task gets a new random assignee"
post "$TASKS/v1/tasks/shuffle" "" "${TOKEN[boss]}" | json '"reassigned %d tasks" % data["reassigned"]'
echo "a worker may not shuffle:"
curl -s -XPOST "$TASKS/v1/tasks/shuffle" -H "authorization: Bearer ${TOKEN[kesha]}" | json '"  %s %s" % (data["status"], data["detail"])'

step "Kesha and Rio complete their tasks"
for name in kesha rio; do
  for id in $(get "$TASKS/v1/tasks/mine?status=open" "${TOKEN[$name]}" | json '" ".join(t["id"] for t in data["items"])'); do
    post "$TASKS/v1/tasks/$id/complete" "" "${TOKEN[$name]}" | json "'$name completed ' + data['title']"
  done
done
sleep 2 # the task events reach accounting

step "Balances (fees debited at each assignment, rewards credited at completion)"
get "$ACCOUNTING/v1/accounts" "$ADMIN" | json '"\n".join("%-28s %10s" % (a["email"] or a["account_id"], "$%.2f" % (a["balance_cents"] / 100)) for a in data if a["email"] and str('"$run"') in a["email"])'
get "$ACCOUNTING/v1/stats/management" "$ADMIN" | json '"management earnings today: $%.2f" % (data[0]["earnings_cents"] / 100)'

step "Analytics dashboard"
get "$ANALYTICS/v1/dashboard/today" "$ADMIN" | json '"%s: earnings $%.2f, %d accounts below zero" % (data["date"], data["management_earnings_cents"] / 100, data["negative_balance_accounts"])'
get "$ANALYTICS/v1/most-expensive-task?period=day" "$ADMIN" | json '"most expensive task today: " + ("%s ($%.2f)" % (data["task"]["title"], data["task"]["reward_cents"] / 100) if data["task"] else "none yet")'

step "Close the day: positive balances are paid out and emailed, negative ones carry over"
post "$ACCOUNTING/v1/billing-cycles/close" "" "$ADMIN" | json '"closed cycle of %s: %d payouts, $%.2f in all, %d negative balances carried" % (data["cycle"]["business_date"], data["cycle"]["payments_count"], data["cycle"]["payments_total_cents"] / 100, data["negative_balances_carried"])'
sleep 1
echo "the same close retried with its Idempotency-Key is answered again, and closes nothing more:"
close_key=$(cat /proc/sys/kernel/random/uuid)
post "$ACCOUNTING/v1/billing-cycles/close" "" "$ADMIN" "$close_key" >/dev/null
curl -sf -D - -o /dev/null -XPOST "$ACCOUNTING/v1/billing-cycles/close" -H "authorization: Bearer $ADMIN" \
  -H "idempotency-key: $close_key" | grep -i '^idempotency-replayed' | sed 's/^/  /'
step "Kesha's audit log today"
get "$ACCOUNTING/v1/me/transactions" "${TOKEN[kesha]}" | json '"\n".join("%-15s %9s  %s" % (t["kind"], "$%.2f" % (t["amount_cents"] / 100), (t["task"] or {}).get("title") or "") for t in data)'
get "$ACCOUNTING/v1/me" "${TOKEN[kesha]}" | json '"balance now: $%.2f" % (data["balance_cents"] / 100)'
echo
echo "Payout emails: logged by accounting-api (set SMTP_URL to send them)."
