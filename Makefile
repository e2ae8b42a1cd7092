# aTES: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
# The PostgreSQL server the PostgreSQL test pass creates its databases on.
TEST_POSTGRES_URL ?= postgres://postgres:postgres@127.0.0.1:5432/postgres

# The browser suite ($(1): the database's name, $(2): its variables), timed.
timed_e2e = began=$$(date +%s); $(2) npm --prefix web run e2e; e2e=$$?; \
	echo "browser tests ($(1)): $$(( $$(date +%s) - began ))s"; [ $$e2e -eq 0 ]

.PHONY: test-web test-web-postgres screenshots web-deps test-contract test-contract-postgres bench-parts compose-check demo run test test-postgres test-db-clean check deps bench bench-postgres schemas-lock fmt openapi test-alerts test-k8s test-cluster mutants

## Run the whole system locally: NATS (JetStream) + every service on SQLite.
run:
	@scripts/run-local.sh

## The whole story with curl, against a running `make run`.
demo:
	@scripts/demo.sh

## The whole test suite (formatting, lints, unit and integration tests,
## contract fuzzing, the web app's checks and browser tests) on SQLite.
test: deps check compose-check test-alerts test-k8s
	$(CARGO) test --workspace --all-features
	$(MAKE) --no-print-directory test-contract
	$(MAKE) --no-print-directory test-web

## The web app's packages, installed from the lock file when missing or older
## than it. Playwright may not download browsers here: the tests use Debian's Chromium.
web-deps:
	@if [ ! -f web/node_modules/.package-lock.json ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
	  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm --prefix web ci --no-audit --no-fund; \
	fi

## The web app's checks (npm run ci: generated types, typecheck, lint, unit
## tests, build, bundle size), then the browser tests (web/e2e, Playwright on
## /usr/bin/chromium) against a private stack on SQLite (scripts/e2e-stack.sh).
test-web: deps web-deps
	@started=$$(date +%s); \
	npm --prefix web run ci && $(CARGO) build --quiet --bins && $(call timed_e2e,SQLite,); \
	status=$$?; echo "make test-web: $$(( $$(date +%s) - started ))s"; exit $$status

## The browser tests on PostgreSQL: fresh databases on TEST_POSTGRES_URL's server, dropped after.
test-web-postgres: deps web-deps
	scripts/ensure-postgres.sh
	@started=$$(date +%s); \
	npm --prefix web run build && $(CARGO) build --quiet --bins \
	  && $(call timed_e2e,PostgreSQL,E2E_DATABASE_URL_BASE=$(TEST_POSTGRES_URL)); \
	status=$$?; echo "make test-web-postgres: $$(( $$(date +%s) - started ))s"; exit $$status

## The README's pictures (docs/screenshots/*.png), made by Playwright on a private stack.
screenshots: deps web-deps
	npm --prefix web run build
	$(CARGO) build --quiet --bins
	npm --prefix web run screenshots

## Contract fuzzing: schemathesis against each running service with its
## committed OpenAPI document (fresh stack, fixed seed, FUZZ_EXAMPLES cases
## per operation and role). Any 5xx or undocumented answer fails.
test-contract: deps
	$(CARGO) build --quiet --bins
	scripts/contract-fuzz.py --database sqlite

test-contract-postgres: deps
	scripts/ensure-postgres.sh
	$(CARGO) build --quiet --bins
	TEST_POSTGRES_URL=$(TEST_POSTGRES_URL) scripts/contract-fuzz.py --database postgres

## compose.yaml is valid and matches what the binaries read (no Docker engine needed).
compose-check:
	/usr/bin/python3 scripts/check-compose.py

## Scale-out under faults: a three-node JetStream cluster, two instances of
## each service on PostgreSQL behind nginx, load with a NATS node and one
## instance of each service killed and restarted; prints the reconciliation
## (lost and doubled must be 0) and the failover stall.
test-cluster: deps
	scripts/ensure-postgres.sh
	$(CARGO) build --bins --quiet
	began=$$(date +%s); TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(CARGO) test -p ates-core --test cluster \
	  -- --nocapture; status=$$?; \
	echo "cluster suite: $$(( $$(date +%s) - began ))s"; $(MAKE) --no-print-directory test-db-clean; exit $$status

## Mutation testing (cargo-mutants, installed on first use) of the code that
## moves money and decides access, each file against the tests that cover it;
## slow (minutes per file on two cores), not part of CI. Reports go to
## target/mutants/<name>/ (mutants.out/caught.txt, missed.txt, timeout.txt).
## cargo-mutants 27.1 runs its baseline on the mutated package even with
## --test-package, so the access part runs tasks-api's tests as its
## baseline itself and skips cargo-mutants' own. A part with a survivor exits
## non-zero; the next part still runs (the `-`), and the table at the end
## counts each part's outcomes. A property test that fails on a mutant
## writes its seed to a *.proptest-regressions file; the seed describes the
## mutant, not the code, so untracked ones are removed after the run.
MUTANTS = cargo mutants --in-place --no-shuffle
MUTANT_PARTS = money pricing ledger billing mailer throttle access
## The access checks face a replica's gate (tasks-api), auth-api's own gate
## (password changes end older sessions) and the token checks (ates-core).
ACCESS_TARGETS = --test api --test hardening --test account_trust --test verifier
mutants: deps
	mkdir -p target/mutants
	command -v cargo-mutants >/dev/null || $(CARGO) install cargo-mutants --locked --version 27.1.0
	-$(MUTANTS) -p ates-core -f ates-core/src/money.rs -o target/mutants/money -- --lib
	-$(MUTANTS) -p accounting-api -f accounting-api/src/domain/pricing.rs -o target/mutants/pricing -- --lib --test ledger
	-$(MUTANTS) -p accounting-api -f accounting-api/src/domain/ledger.rs -o target/mutants/ledger -- --lib --test ledger --test system --test earnings
	-$(MUTANTS) -p accounting-api -f accounting-api/src/domain/billing.rs -o target/mutants/billing -- --lib --test ledger --test system --test earnings
	-$(MUTANTS) -p accounting-api -f accounting-api/src/mailer.rs -o target/mutants/mailer -- --lib --test mailer --test mailer_rounds --test hardening --test ledger
	-$(MUTANTS) -p auth-api -f auth-api/src/domain/throttle.rs -o target/mutants/throttle -- --lib --test throttle --test api
	$(CARGO) test -q -p tasks-api -p auth-api -p ates-core $(ACCESS_TARGETS)
	-$(MUTANTS) --baseline skip --timeout 300 -f ates-core/src/auth.rs --re 'AuthUser|bearer_token|TokenVerifier::check|unaccepted_algorithm' --test-package tasks-api --test-package auth-api --test-package ates-core -o target/mutants/access -- $(ACCESS_TARGETS)
	git clean -q -f -- '*.proptest-regressions'
	@for part in $(MUTANT_PARTS); do \
	  printf '%-9s' $$part; \
	  for outcome in caught missed timeout unviable; do \
	    printf ' %s %3s' $$outcome $$(cat target/mutants/$$part/mutants.out/$$outcome.txt 2>/dev/null | wc -l); \
	  done; echo; \
	done

## The Kubernetes manifests (deploy/k8s/) offline: kubernetes-validate's
## schemas (--strict), and every Deployment's env, ports, probes, resources,
## PDB and broker identity against what the binaries read (no cluster needed).
test-k8s:
	/usr/bin/python3 scripts/check-k8s.py

## Prometheus and Grafana files (deploy/): promtool checks the scrape config
## and the alert rules, runs the rules' unit tests and parses every query of
## the dashboard, which must also be valid JSON.
test-alerts: deps
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml
	python3 -c 'import json; json.load(open("deploy/grafana/ates.json"))'
	set -o pipefail; scripts/dashboard-rules.py deploy/grafana/ates.json | promtool check rules /dev/stdin

## The same suite on PostgreSQL: a fresh database per test on TEST_POSTGRES_URL's server.
test-postgres: deps
	scripts/ensure-postgres.sh
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(CARGO) test --workspace --all-features \
	  && $(MAKE) --no-print-directory test-contract-postgres \
	  && $(MAKE) --no-print-directory test-web-postgres; \
	status=$$?; $(MAKE) --no-print-directory test-db-clean; exit $$status

## Drop the databases the PostgreSQL test pass created.
test-db-clean:
	@psql "$(TEST_POSTGRES_URL)" -qAtc "select datname from pg_database where datname like 'ates_test_%'" \
	  | while read -r db; do psql "$(TEST_POSTGRES_URL)" -qc "drop database if exists \"$$db\"" ; done

check:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

deps:
	@scripts/install-deps.sh

fmt:
	$(CARGO) fmt --all

## Regenerate the committed OpenAPI and AsyncAPI documents and the event catalogue (tests check they match).
openapi:
	@mkdir -p openapi
	$(CARGO) run --quiet -p auth-api -- openapi > openapi/auth-api.json
	$(CARGO) run --quiet -p tasks-api -- openapi > openapi/tasks-api.json
	$(CARGO) run --quiet -p accounting-api -- openapi > openapi/accounting-api.json
	$(CARGO) run --quiet -p analytics-api -- openapi > openapi/analytics-api.json
	$(CARGO) run --quiet -p event-schemas --bin event-docs -- asyncapi > openapi/events.asyncapi.json
	$(CARGO) run --quiet -p event-schemas --bin event-docs -- catalogue > docs/events.md

## Benchmarks (release build): the whole system in one table against its
## targets (rates, latency, pipeline, event lag, relay vs raw JetStream and
## pgbench, each list and per-day query at 1k and 200k tasks, the close of
## 100,000 accounts with and without a crash, email rate, memory).
bench: deps
	$(CARGO) build --release --bins --quiet
	$(CARGO) bench -p ates-core --bench system

## The same table with every service on PostgreSQL (one database each).
bench-postgres: deps
	scripts/ensure-postgres.sh
	$(CARGO) build --release --bins --quiet
	TEST_DATABASE_URL=$(TEST_POSTGRES_URL) $(CARGO) bench -p ates-core --bench system; \
	status=$$?; $(MAKE) --no-print-directory test-db-clean; exit $$status

## The finer benchmarks behind some rows: argon2 and login, the ledger's backlog.
bench-parts: deps
	$(CARGO) bench -p auth-api --bench auth
	$(CARGO) bench -p accounting-api --bench ledger

## Release new event-schema versions: adds new files to event-schemas/schemas.lock.
## Never changes the hash of a released file (the registry test refuses that).
schemas-lock:
	@cd event-schemas/schemas && find . -name '*.json' | sed 's|^\./||' | sort | while read -r f; do \
	  grep -q "  $$f\$$" ../schemas.lock || { sha256sum "$$f" >> ../schemas.lock; echo "released $$f"; }; \
	done
