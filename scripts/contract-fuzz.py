#!/usr/bin/env python3
"""Contract fuzzing: schemathesis against each running service with its own
committed OpenAPI document.

Starts a fresh stack of its own (a private nats-server with the per-service
identities, the four services on fresh SQLite files or fresh PostgreSQL
databases, on free ports), makes one account of every role, and runs
schemathesis once per role against each service with that role's token, so
authenticated operations are fuzzed past the door, not only refused at it.
Any 5xx, any status or media type the document does not list, any response
that does not match its schema, and any request the service accepts although
the document says it is invalid fails the run.

    scripts/contract-fuzz.py [--database sqlite|postgres] [--examples N] [--seed S]

The binaries must be built (`cargo build --bins`). PostgreSQL: the server of
TEST_POSTGRES_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres).
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where cargo put the binaries (it honours CARGO_TARGET_DIR).
BIN = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "debug"
SERVICES = ["auth-api", "tasks-api", "accounting-api", "analytics-api"]
ROLES = ["worker", "manager", "accountant", "admin"]
ADMIN_EMAIL = "admin@popug.inc"
ADMIN_PASSWORD = "fuzzing admin password"
# What fails the run (see the module docstring).
CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(method, url, body=None, token=None):
    """One JSON request; returns (status, parsed body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            return error.code, json.loads(raw) if raw else None
        except ValueError:
            return error.code, raw.decode(errors="replace")
    except OSError:
        return None, None


def wait_until(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise SystemExit(f"contract fuzzing: timed out waiting for {what}")


class Stack:
    """The broker and the four services, each its own process."""

    def __init__(self, database, work):
        self.database = database
        self.work = work
        self.processes = []
        self.databases = []
        self.ports = {service: free_port() for service in SERVICES}
        self.postgres = os.environ.get(
            "TEST_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"
        )

    def url(self, service, path=""):
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def database_url(self, service):
        if self.database == "sqlite":
            return f"sqlite://{self.work}/{service}.sqlite?mode=rwc"
        name = f"ates_fuzz_{service.replace('-', '_')}_{os.getpid()}"
        subprocess.run(["psql", self.postgres, "-qAtc", f'create database "{name}"'], check=True)
        self.databases.append(name)
        return self.postgres.rsplit("/", 1)[0] + "/" + name

    def start(self):
        auth = self.work / "nats-auth"
        subprocess.run(
            [str(BIN / "ates-nats-config"), "--dir", str(auth)],
            check=True, stdout=subprocess.DEVNULL,
        )
        nats_port = free_port()
        nats = shutil.which("nats-server") or "/usr/sbin/nats-server"
        self.spawn("nats", [nats, "-c", str(auth / "nats/nats-server.conf"), "-a", "127.0.0.1",
                            "-p", str(nats_port), "-js", "-sd", str(self.work / "nats")], {})
        wait_until("nats-server", lambda: port_open(nats_port))
        common = {
            "NATS_URL": f"nats://127.0.0.1:{nats_port}",
            "AUTH_JWKS_URL": self.url("auth-api", "/.well-known/jwks.json"),
            "RUST_LOG": os.environ.get("RUST_LOG", "warn"),
        }
        for service in SERVICES:
            env = dict(common)
            env.update({
                "DATABASE_URL": self.database_url(service),
                "BIND_ADDR": f"127.0.0.1:{self.ports[service]}",
                "NATS_NKEY_SEED_FILE": str(auth / service / "nkey.seed"),
            })
            if service == "auth-api":
                env.update({
                    "ATES_ADMIN_EMAIL": ADMIN_EMAIL,
                    "ATES_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "SIGNUP": "open",
                    # The fuzzer is one client address: without this its
                    # own attempts would be throttled and the operations
                    # behind the throttle never reached.
                    "CLIENT_MAX_ATTEMPTS": "1000000",
                })
            self.spawn(service, [str(BIN / service)], env)
        for service in SERVICES:
            wait_until(f"{service} ready",
                       lambda s=service: call("GET", self.url(s, "/readyz"))[0] == 200)

    def spawn(self, name, argv, env):
        log = open(self.work / f"{name}.log", "w")
        process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=log)
        self.processes.append((name, process))

    def stop(self):
        for _, process in self.processes:
            process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        for name in self.databases:
            subprocess.run(["psql", self.postgres, "-qc", f'drop database if exists "{name}"'],
                           check=False)

    def crashed(self):
        return [name for name, process in self.processes if process.poll() is not None]


def port_open(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tokens_of_every_role(stack):
    """Logs the admin in and makes one account of every other role, each
    with its password changed from the temporary one; waits until every
    service knows each of them in its role."""
    status, body = call("POST", stack.url("auth-api", "/v1/auth/login"),
                        {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    if status != 200:
        raise SystemExit(f"contract fuzzing: the admin cannot log in: {status} {body}")
    tokens = {"admin": body["access_token"]}
    for role in ROLES:
        if role == "admin":
            continue
        email = f"fuzz-{role}@popug.inc"
        status, body = call("POST", stack.url("auth-api", "/v1/accounts"),
                            {"email": email, "password": "temporary password",
                             "full_name": f"Fuzzing {role}", "role": role},
                            token=tokens["admin"])
        if status != 201:
            raise SystemExit(f"contract fuzzing: cannot create the {role}: {status} {body}")
        status, body = call("POST", stack.url("auth-api", "/v1/auth/password"),
                            {"email": email, "current_password": "temporary password",
                             "new_password": f"{role} password for fuzzing"})
        if status != 200:
            raise SystemExit(f"contract fuzzing: cannot set the {role}'s password: {status} {body}")
        tokens[role] = body["access_token"]
    for role, token in tokens.items():
        wait_until(f"tasks-api to know the {role}",
                   lambda t=token: call("GET", stack.url("tasks-api", "/v1/tasks/mine"), token=t)[0] == 200)
        wait_until(f"accounting-api to know the {role}",
                   lambda t=token: call("GET", stack.url("accounting-api", "/v1/me"), token=t)[0] == 200)
    wait_until("analytics-api to know the admin",
               lambda: call("GET", stack.url("analytics-api", "/v1/dashboard/today"),
                            token=tokens["admin"])[0] == 200)
    return tokens


def fuzz(stack, service, role, token, args, reports):
    report = reports / f"{service}-{role}.xml"
    command = [
        # The `st` command, through this interpreter (a `pip --user`
        # install need not be on PATH).
        sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; "
        "sys.argv[0] = 'st'; sys.exit(schemathesis())",
        "run", str(ROOT / "openapi" / f"{service}.json"),
        "--url", stack.url(service),
        "--header", f"Authorization: Bearer {token}",
        "--checks", CHECKS,
        "--seed", str(args.seed),
        "--max-examples", str(args.examples),
        "--phases", "examples,coverage,fuzzing",
        # One worker: Python 3.11's ast module is not safe to use from
        # several threads, and hypothesis parses with it.
        "--workers", "1",
        "--no-shrink",
        "--suppress-health-check", "all",
        "--request-timeout", "15",
        "--report", "junit", "--report-junit-path", str(report),
    ]
    began = time.monotonic()
    # In the run's own directory: schemathesis keeps its example database
    # in the working directory.
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=stack.work)
    cases = count_cases(result.stdout)
    seconds = time.monotonic() - began
    status = "ok" if result.returncode == 0 else "FINDINGS"
    print(f"contract fuzzing: {service} as {role}: {cases} cases in {seconds:.0f}s: {status}",
          flush=True)
    if result.returncode != 0:
        print(result.stdout)
    return result.returncode == 0, cases


def count_cases(output):
    """Test cases run, from schemathesis's summary ("Test cases: N generated")."""
    found = re.search(r"^\s*(\d+) generated", output, re.MULTILINE)
    return int(found.group(1)) if found else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--examples", type=int, default=int(os.environ.get("FUZZ_EXAMPLES", 25)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 20261202)))
    parser.add_argument("--services", default=",".join(SERVICES))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ates-fuzz-"))
    stack = Stack(args.database, work)
    began = time.monotonic()
    ok = True
    try:
        stack.start()
        tokens = tokens_of_every_role(stack)
        reports = work / "reports"
        reports.mkdir()
        for service in args.services.split(","):
            # The admin last: its operations change the other accounts.
            for role in ROLES:
                passed, _ = fuzz(stack, service, role, tokens[role], args, reports)
                ok = ok and passed
        crashed = stack.crashed()
        if crashed:
            ok = False
            print(f"contract fuzzing: crashed during the run: {', '.join(crashed)}")
    finally:
        stack.stop()
    if not ok:
        print(f"contract fuzzing: service logs kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"contract fuzzing on {args.database} took {time.monotonic() - began:.0f}s: "
          f"{'no findings' if ok else 'FINDINGS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
