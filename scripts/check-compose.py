#!/usr/bin/env python3
"""Validates compose.yaml without a Docker engine: `docker-compose config`
must accept it, and every aTES service in it must be configured only with
environment variables its binary reads (found in the Rust sources), listen
where its port is published, and wait for healthy dependencies."""
import os
import re
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = {"auth-api": 3001, "tasks-api": 3002, "accounting-api": 3003, "analytics-api": 3004}
# Read by tracing's filter and our telemetry set-up.
ALWAYS_READ = {"RUST_LOG", "LOG_FORMAT"}
VAR_CALL = re.compile(r'(?:var|seconds|parse)\(\s*"([A-Z][A-Z0-9_]+)"')


def variables_read(crate):
    found = set(ALWAYS_READ)
    for directory in (os.path.join(ROOT, "ates-core", "src"), os.path.join(ROOT, crate, "src")):
        for base, _, files in os.walk(directory):
            for name in files:
                if name.endswith(".rs") and name != "testing.rs":
                    with open(os.path.join(base, name), encoding="utf-8") as source:
                        found.update(VAR_CALL.findall(source.read()))
    return found


def main():
    env = dict(os.environ, ATES_ADMIN_PASSWORD="compose-check-password")
    result = subprocess.run(
        ["docker-compose", "-f", os.path.join(ROOT, "compose.yaml"), "config"],
        capture_output=True, text=True, env=env, check=False,
    )
    if result.returncode != 0:
        sys.exit(f"docker-compose config refused compose.yaml:\n{result.stderr}")
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    problems = []
    for required in ("nats", "postgres", *SERVICES):
        if required not in services:
            problems.append(f"service {required} is missing")
    for name, port in SERVICES.items():
        service = services.get(name, {})
        command = service.get("command") or []
        if command[:1] != [name]:
            problems.append(f"{name}: command should run the {name} binary, not {command}")
        environment = service.get("environment") or {}
        unknown = set(environment) - variables_read(name)
        if unknown:
            problems.append(f"{name}: {sorted(unknown)} are not read by the binary")
        for needed in ("BIND_ADDR", "DATABASE_URL", "NATS_URL"):
            if not environment.get(needed):
                problems.append(f"{name}: {needed} is not set")
        if name != "auth-api" and not environment.get("AUTH_JWKS_URL"):
            problems.append(f"{name}: AUTH_JWKS_URL is not set")
        if not str(environment.get("BIND_ADDR", "")).endswith(f":{port}"):
            problems.append(f"{name}: BIND_ADDR {environment.get('BIND_ADDR')} is not port {port}")
        published = [str(p.get("target", "")) if isinstance(p, dict) else str(p).split(":")[-1]
                     for p in service.get("ports", [])]
        if str(port) not in published:
            problems.append(f"{name}: port {port} is not published ({published})")
        health = " ".join(service.get("healthcheck", {}).get("test", []))
        if f"localhost:{port}/readyz" not in health:
            problems.append(f"{name}: the health check does not ask /readyz on {port}")
        depends = service.get("depends_on") or {}
        for dependency in ("nats", "postgres"):
            if depends.get(dependency, {}).get("condition") != "service_healthy":
                problems.append(f"{name}: does not wait for a healthy {dependency}")
        if "postgres://" not in str(environment.get("DATABASE_URL", "")):
            problems.append(f"{name}: compose runs on PostgreSQL")
    if problems:
        sys.exit("compose.yaml does not match the services:\n- " + "\n- ".join(problems))
    print(f"compose.yaml: {len(services)} services valid; env, ports and health checks match the binaries")


if __name__ == "__main__":
    main()
