"""What environment variables an aTES binary reads, found in its Rust
sources: the checks of compose.yaml and of the Kubernetes manifests accept
only these."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Read by tracing's filter (EnvFilter::try_from_default_env) and telemetry.
ALWAYS_READ = {"RUST_LOG", "LOG_FORMAT"}
# The ways the sources read a variable: ates_core::config's helpers,
# std::env::var and the HTTP settings' seconds_from_env.
VAR_CALL = re.compile(r'\b(?:var|parse|seconds|within|switch|seconds_from_env)\(\s*"([A-Z][A-Z0-9_]+)"')
# ates-core's parts web-server uses (it has no database, broker or token
# verifier): the HTTP settings, telemetry and trace propagation; from
# ates_core::config only the functions it imports.
WEB_CORE_PARTS = ("http", "telemetry.rs", "trace.rs", "otlp.rs")


def rust_sources(*paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for base, _, files in os.walk(path):
            for name in sorted(files):
                # testing.rs / testing/: the test harness, not the binary.
                inside = os.path.relpath(base, path).split(os.sep)
                if name.endswith(".rs") and name != "testing.rs" and "testing" not in inside:
                    yield os.path.join(base, name)


def read_variables(*paths):
    found = set()
    for path in rust_sources(*paths):
        with open(path, encoding="utf-8") as source:
            found.update(VAR_CALL.findall(source.read()))
    return found


def core(*parts):
    return os.path.join(ROOT, "ates-core", "src", *parts)


def service_reads(crate):
    """What a service binary reads: ates-core (every service configures
    itself through ServiceSettings) and its own crate."""
    return ALWAYS_READ | read_variables(core(), os.path.join(ROOT, crate, "src"))


def web_reads():
    """What web-server reads: its crate, the ates-core parts it uses and the
    ates_core::config functions it imports (e.g. business_timezone)."""
    crate = os.path.join(ROOT, "web-server", "src")
    found = ALWAYS_READ | read_variables(crate, *(core(part) for part in WEB_CORE_PARTS))
    imported = set()
    for path in rust_sources(crate):
        with open(path, encoding="utf-8") as source:
            for names in re.findall(r"use ates_core::config::\{([^}]*)\}", source.read()):
                imported.update(name.strip() for name in names.split(","))
            source.seek(0)
            imported.update(re.findall(r"ates_core::config::([a-z_]+)", source.read()))
    with open(core("config.rs"), encoding="utf-8") as source:
        config = source.read()
    for name in imported:
        body = re.search(r"\bfn " + re.escape(name) + r"\b.*?\n}\n", config, re.DOTALL)
        if body:
            found.update(VAR_CALL.findall(body.group(0)))
    return found
