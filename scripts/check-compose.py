#!/usr/bin/env python3
"""Validates compose.yaml without a Docker engine: `docker-compose config`
must accept it, and every aTES service in it must be configured only with
environment variables its binary reads (found in the Rust sources), listen
where its port is published, and wait for healthy dependencies; the same
for the web app (web-server), which waits for the four services. The broker
wiring: nats-identities generates the identities, nats starts with the
generated configuration after it, and each service reads its own nkey seed
from a volume no other service mounts, with no secret in its NATS_URL."""
import os
import subprocess
import sys

import yaml

from binary_env import service_reads, web_reads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICES = {"auth-api": 3001, "tasks-api": 3002, "accounting-api": 3003, "analytics-api": 3004}
# The web app: compose service, binary, port.
WEB = ("web", "web-server", 3000)


def volume_mounts(service):
    """{container path: volume name} of a service's named-volume mounts."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type", "volume") == "volume":
                mounts[volume.get("target")] = volume.get("source")
        else:
            source, target = str(volume).split(":")[:2]
            if not source.startswith((".", "/")):
                mounts[target] = source
    return mounts


def check_broker_identities(services):
    problems = []
    generator = services.get("nats-identities")
    if not generator:
        return ["service nats-identities (ates-nats-config) is missing"]
    command = generator.get("command") or []
    if command[:1] != ["ates-nats-config"] or "--dir" not in command:
        return [f"nats-identities: should run ates-nats-config --dir DIR, not {command}"]
    directory = command[command.index("--dir") + 1].rstrip("/")
    if "--owner" not in command:
        problems.append("nats-identities: --owner UID:GID is needed for the services' user to read its seed")
    written = {target: volume for target, volume in volume_mounts(generator).items()}
    nats = services.get("nats", {})
    nats_command = [str(part) for part in nats.get("command") or []]
    if "-c" not in nats_command:
        problems.append("nats: does not start with the generated configuration (-c)")
    else:
        config = nats_command[nats_command.index("-c") + 1]
        nats_mounts = volume_mounts(nats)
        mount = next((target for target in nats_mounts if config.startswith(target.rstrip("/") + "/")), None)
        if mount is None or nats_mounts[mount] != written.get(f"{directory}/nats"):
            problems.append(f"nats: {config} is not in the volume nats-identities writes to {directory}/nats")
    if (nats.get("depends_on") or {}).get("nats-identities", {}).get("condition") != "service_completed_successfully":
        problems.append("nats: does not wait for nats-identities to complete")
    identity_volumes = {name: written.get(f"{directory}/{name}") for name in SERVICES}
    for name in SERVICES:
        service = services.get(name, {})
        environment = service.get("environment") or {}
        url = str(environment.get("NATS_URL", ""))
        if "@" in url:
            problems.append(f"{name}: NATS_URL carries credentials; use the generated identity")
        seed = str(environment.get("NATS_NKEY_SEED_FILE", ""))
        if not seed:
            problems.append(f"{name}: NATS_NKEY_SEED_FILE is not set")
            continue
        mounts = volume_mounts(service)
        mount = next((target for target in mounts if seed.startswith(target.rstrip("/") + "/")), None)
        if mount is None or identity_volumes[name] is None or mounts[mount] != identity_volumes[name]:
            problems.append(f"{name}: {seed} is not in its own identity volume ({identity_volumes[name]})")
        others = {volume for other, volume in identity_volumes.items() if other != name}
        if others & set(mounts.values()):
            problems.append(f"{name}: mounts another service's identity {sorted(others & set(mounts.values()))}")
    return problems


def check_program(name, binary, port, service):
    """What every aTES HTTP program in compose must get right: it runs its
    binary, is given only variables the binary reads, listens on its port,
    publishes it, and its health check asks /readyz there."""
    problems = []
    command = service.get("command") or []
    if command[:1] != [binary]:
        problems.append(f"{name}: command should run the {binary} binary, not {command}")
    environment = service.get("environment") or {}
    reads = web_reads() if binary == WEB[1] else service_reads(binary)
    unknown = set(environment) - reads
    if unknown:
        problems.append(f"{name}: {sorted(unknown)} are not read by the binary")
    if not str(environment.get("BIND_ADDR", "")).endswith(f":{port}"):
        problems.append(f"{name}: BIND_ADDR {environment.get('BIND_ADDR')} is not port {port}")
    published = [str(p.get("target", "")) if isinstance(p, dict) else str(p).split(":")[-1]
                 for p in service.get("ports", [])]
    if str(port) not in published:
        problems.append(f"{name}: port {port} is not published ({published})")
    health = " ".join(service.get("healthcheck", {}).get("test", []))
    if f"localhost:{port}/readyz" not in health:
        problems.append(f"{name}: the health check does not ask /readyz on {port}")
    return problems


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
    problems.extend(check_broker_identities(services))
    for required in ("nats", "postgres", *SERVICES):
        if required not in services:
            problems.append(f"service {required} is missing")
    for name, port in SERVICES.items():
        service = services.get(name, {})
        problems.extend(check_program(name, name, port, service))
        environment = service.get("environment") or {}
        for needed in ("DATABASE_URL", "NATS_URL"):
            if not environment.get(needed):
                problems.append(f"{name}: {needed} is not set")
        if name != "auth-api" and not environment.get("AUTH_JWKS_URL"):
            problems.append(f"{name}: AUTH_JWKS_URL is not set")
        depends = service.get("depends_on") or {}
        for dependency in ("nats", "postgres"):
            if depends.get(dependency, {}).get("condition") != "service_healthy":
                problems.append(f"{name}: does not wait for a healthy {dependency}")
        if "postgres://" not in str(environment.get("DATABASE_URL", "")):
            problems.append(f"{name}: compose runs on PostgreSQL")
    web_name, web_binary, web_port = WEB
    web = services.get(web_name)
    if web is None:
        problems.append(f"service {web_name} is missing")
    else:
        problems.extend(check_program(web_name, web_binary, web_port, web))
        depends = web.get("depends_on") or {}
        for dependency in SERVICES:
            if depends.get(dependency, {}).get("condition") != "service_healthy":
                problems.append(f"{web_name}: does not wait for a healthy {dependency}")
    if problems:
        sys.exit("compose.yaml does not match the services:\n- " + "\n- ".join(problems))
    print(f"compose.yaml: {len(services)} services valid; env, ports, health checks and broker identities match the binaries")


if __name__ == "__main__":
    main()
