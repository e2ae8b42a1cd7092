#!/usr/bin/env bash
# Installs what aTES needs on a fresh Debian/Ubuntu machine and is not a
# Rust crate: nats-server (JetStream broker), Chromium for the browser
# tests, promtool for the alert rules, the Python tools of the tests.
# Idempotent; quiet when all is there. Used by `make run`, `make test`
# and CI.
set -euo pipefail

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; exit 1
  fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "$@" >/dev/null
}

nats_server() {
  command -v nats-server 2>/dev/null || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; }
}

if [ -z "$(nats_server)" ]; then
  echo "installing nats-server (apt-get install nats-server)"
  apt_install nats-server
fi
# Chromium (Debian's): the browser tests (web/e2e, Playwright) drive it.
# Playwright's own browser builds cannot be downloaded here, so npm installs
# run with PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 and the tests launch this one.
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (apt-get install chromium)"
  apt_install chromium
fi
if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust with rustup (https://rustup.rs)" >&2
  exit 1
fi
# PyJWT: the interoperability test verifies auth-api's tokens with it.
if ! python3 -c 'import jwt, cryptography' >/dev/null 2>&1; then
  echo "installing PyJWT (pip install 'pyjwt[crypto]')"
  python3 -m pip install --quiet --user 'pyjwt[crypto]' 2>/dev/null \
    || python3 -m pip install --quiet 'pyjwt[crypto]' 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages 'pyjwt[crypto]'
fi
# docker-compose (Debian's): the compose test validates compose.yaml with it
# (no Docker engine is needed for `docker-compose config`).
if ! command -v docker-compose >/dev/null || ! /usr/bin/python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "installing docker-compose (apt-get install docker-compose)"
  apt_install docker-compose
fi
# A package whose program the tests run themselves, so no Recommends and no
# daemon: a policy-rc.d that refuses service starts is put in place for the
# install when the machine has none, and on a systemd machine the unit the
# package enables is disabled again.
install_without_daemon() {
  local package=$1
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod 755 /usr/sbin/policy-rc.d
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
    apt_install --no-install-recommends "$package"
    as_root rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  else
    apt_install --no-install-recommends "$package"
  fi
  if [ -d /run/systemd/system ]; then
    as_root systemctl disable --now "$package" >/dev/null 2>&1 || true
  fi
}
# promtool (Debian's prometheus package): `make test-alerts` checks
# deploy/prometheus/ with it.
if ! command -v promtool >/dev/null; then
  echo "installing promtool (apt-get install prometheus)"
  install_without_daemon prometheus
fi
# nginx: the load balancer in front of each service's two instances in
# `make test-cluster`; the suite starts its own, so no daemon.
if [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx (apt-get install nginx)"
  install_without_daemon nginx
fi
# schemathesis: the contract fuzzing (scripts/contract-fuzz.py); one
# version, so a fixed seed makes the same cases everywhere.
SCHEMATHESIS=4.32.5
if [ "$(python3 -c 'import schemathesis; print(schemathesis.__version__)' 2>/dev/null)" != "$SCHEMATHESIS" ]; then
  echo "installing schemathesis $SCHEMATHESIS (pip)"
  python3 -m pip install --quiet --user "schemathesis==$SCHEMATHESIS" 2>/dev/null \
    || python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "schemathesis==$SCHEMATHESIS"
fi
# openapi-python-client: a test generates clients from openapi/ with it.
if ! python3 -c 'import openapi_python_client' >/dev/null 2>&1; then
  echo "installing openapi-python-client (pip)"
  python3 -m pip install --quiet --user openapi-python-client 2>/dev/null \
    || python3 -m pip install --quiet openapi-python-client 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages openapi-python-client
fi
# kubernetes-validate: `make test-k8s` checks deploy/k8s/ with it offline
# (it bundles the Kubernetes schemas); one version, so every machine
# validates against the same schemas.
KUBERNETES_VALIDATE=1.37.0
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" != "$KUBERNETES_VALIDATE" ]; then
  echo "installing kubernetes-validate $KUBERNETES_VALIDATE (pip)"
  python3 -m pip install --quiet --user "kubernetes-validate==$KUBERNETES_VALIDATE" 2>/dev/null \
    || python3 -m pip install --quiet "kubernetes-validate==$KUBERNETES_VALIDATE" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "kubernetes-validate==$KUBERNETES_VALIDATE"
fi
