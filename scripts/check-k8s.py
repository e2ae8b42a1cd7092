#!/usr/bin/env python3
"""Validates the Kubernetes manifests (deploy/k8s/) offline, with no cluster:

1. kubernetes-validate (bundled OpenAPI schemas, --strict: unknown fields
   are errors) accepts every file against one Kubernetes version;
2. like scripts/check-compose.py for compose.yaml, every Deployment runs
   its binary (image ates:latest) and its container gets only environment
   variables the binary reads (from `env`, and every key of a ConfigMap or
   Secret it takes whole through `envFrom`), its probes (/readyz, /healthz)
   and containerPort are its BIND_ADDR port, it has CPU and memory requests,
   a memory limit (and no CPU limit), the restricted security context, at
   least two replicas, a Service and a PodDisruptionBudget selecting it;
3. the broker wiring: each service reads its own nkey seed from the Secret
   nats-identity-<service> (no other service's), NATS_URL names every node
   of the StatefulSet nats and carries no credentials, the nodes route to
   each other and include the generated authorization (Secret nats-auth);
   web-server reaches the four services through their Services; the
   example Secrets hold placeholders only.

Every problem is listed; the exit status is 1 if there is any.

    scripts/check-k8s.py [DIR]   # DIR: deploy/k8s by default"""
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import urlsplit

import yaml

from binary_env import service_reads, web_reads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
# The Kubernetes version the manifests are validated against.
KUBERNETES_VERSION = "1.30.0"
NAMESPACE = "ates"
IMAGE = "ates:latest"
SERVICES = {"auth-api": 3001, "tasks-api": 3002, "accounting-api": 3003, "analytics-api": 3004}
WEB = ("web-server", 3000)
# web-server's upstreams: variable -> the service it names.
UPSTREAMS = {"AUTH_URL": "auth-api", "TASKS_URL": "tasks-api",
             "ACCOUNTING_URL": "accounting-api", "ANALYTICS_URL": "analytics-api"}
# The image's user.
USER_ID = 10001
PLACEHOLDER = "CHANGE-ME"


def shown(path):
    """path relative to the working directory, unless it is outside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def validate_schemas(files):
    """kubernetes-validate on every file; the interpreter that has it (it is
    installed with pip --user by scripts/install-deps.sh, which may be
    another python3 than the one running this script)."""
    candidates = [sys.executable, shutil.which("python3"), "/usr/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        probe = subprocess.run([python, "-c", "import kubernetes_validate"], capture_output=True, check=False)
        if probe.returncode == 0:
            break
    else:
        sys.exit("kubernetes-validate is not installed: run scripts/install-deps.sh (make deps)")
    result = subprocess.run(
        [python, "-m", "kubernetes_validate", "--strict", "--quiet",
         "--kubernetes-version", KUBERNETES_VERSION, *files],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        return [f"kubernetes-validate ({KUBERNETES_VERSION}, --strict) refused:\n  "
                + "\n  ".join((result.stdout + result.stderr).strip().splitlines())]
    return []


def load(directory, files):
    objects = []
    for path in files:
        with open(path, encoding="utf-8") as stream:
            for document in yaml.safe_load_all(stream):
                if document:
                    # Where it is, for messages, and its place in the directory.
                    document["__file"] = shown(path)
                    document["__in"] = os.path.relpath(path, directory)
                    objects.append(document)
    return objects


class Manifests:
    def __init__(self, objects):
        self.objects = objects

    def of(self, kind):
        return [o for o in self.objects if o.get("kind") == kind]

    def get(self, kind, name):
        return next((o for o in self.of(kind) if o["metadata"].get("name") == name), None)

    def keys(self, kind, name):
        """The keys of a ConfigMap or Secret, or None if it is not here."""
        found = self.get(kind, name)
        if found is None:
            return None
        keys = set(found.get("data") or {}) | set(found.get("stringData") or {})
        return keys | set(found.get("binaryData") or {})


def selects(selector, labels):
    match = (selector or {}).get("matchLabels") or {}
    return bool(match) and not (selector or {}).get("matchExpressions") and all(
        labels.get(key) == value for key, value in match.items())


def environment(name, container, manifests, problems):
    """{variable: its literal value or None} of a container; a reference to
    a ConfigMap or Secret key that is not in deploy/k8s is a problem."""
    variables = {}
    for item in container.get("env") or []:
        source = item.get("valueFrom") or {}
        value = item.get("value")
        for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
            ref = source.get(field)
            if ref:
                keys = manifests.keys(kind, ref.get("name"))
                if keys is None:
                    problems.append(f"{name}: {item['name']} refers to {kind} {ref.get('name')}, not in deploy/k8s")
                elif ref.get("key") not in keys:
                    problems.append(f"{name}: {item['name']} refers to {kind} {ref['name']} key {ref.get('key')}, which it has not")
                elif kind == "ConfigMap":
                    value = manifests.get(kind, ref["name"])["data"][ref["key"]]
        variables[item["name"]] = value
    for item in container.get("envFrom") or []:
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = item.get(field)
            if ref:
                keys = manifests.keys(kind, ref.get("name"))
                if keys is None:
                    problems.append(f"{name}: envFrom {kind} {ref.get('name')} is not in deploy/k8s")
                    continue
                data = manifests.get(kind, ref["name"]).get("data") or {}
                for key in keys:
                    variables[item.get("prefix", "") + key] = data.get(key) if kind == "ConfigMap" else None
    return variables


def port_of(probe, container):
    port = ((probe or {}).get("httpGet") or {}).get("port")
    for declared in container.get("ports") or []:
        if port == declared.get("name"):
            return declared.get("containerPort")
    return port


def check_program(name, binary, port, deployment, manifests, reads):
    """What every aTES HTTP program's Deployment must get right."""
    problems = []
    spec = deployment.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    containers = pod.get("containers") or []
    if len(containers) != 1:
        return [f"{name}: expected one container, found {len(containers)}"], {}, None, None
    container = containers[0]
    if container.get("image") != IMAGE:
        problems.append(f"{name}: image should be {IMAGE}, not {container.get('image')}")
    if container.get("command") != [binary]:
        problems.append(f"{name}: command should run the {binary} binary, not {container.get('command')}")
    if (spec.get("replicas") or 1) < 2:
        problems.append(f"{name}: {spec.get('replicas', 1)} replica(s); run at least 2")
    if not selects(spec.get("selector"), labels):
        problems.append(f"{name}: the selector does not match the pod labels")
    variables = environment(name, container, manifests, problems)
    unknown = set(variables) - reads
    if unknown:
        problems.append(f"{name}: {sorted(unknown)} are not read by the {binary} binary")
    if pod.get("enableServiceLinks") is not False:
        problems.append(f"{name}: set enableServiceLinks: false, or Kubernetes adds <SERVICE>_PORT variables the binary does not read")
    bind = str(variables.get("BIND_ADDR") or "")
    if bind != f"0.0.0.0:{port}":
        problems.append(f"{name}: BIND_ADDR is {bind or 'unset'}, should be 0.0.0.0:{port}")
    bind_port = int(bind.rsplit(":", 1)[1]) if re.fullmatch(r".+:\d+", bind) else port
    declared = [p.get("containerPort") for p in container.get("ports") or []]
    if bind_port not in declared:
        problems.append(f"{name}: containerPort {declared} is not the BIND_ADDR port {bind_port}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", None)):
        if container.get(probe) is None:
            if path:
                problems.append(f"{name}: no {probe} ({path})")
            continue
        got = (container[probe].get("httpGet") or {}).get("path")
        if path and got != path:
            problems.append(f"{name}: {probe} asks {got}, should ask {path}")
        if port_of(container[probe], container) != bind_port:
            problems.append(f"{name}: {probe} port {port_of(container[probe], container)} is not the BIND_ADDR port {bind_port}")
    resources = container.get("resources") or {}
    for section, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
        if not (resources.get(section) or {}).get(key):
            problems.append(f"{name}: no resources.{section}.{key}")
    if (resources.get("limits") or {}).get("cpu"):
        problems.append(f"{name}: a CPU limit is set; the manifests use none (throttling hurts latency)")
    context = container.get("securityContext") or {}
    pod_context = pod.get("securityContext") or {}
    merged = {**pod_context, **context}
    if merged.get("runAsNonRoot") is not True or merged.get("runAsUser") != USER_ID:
        problems.append(f"{name}: must run as non-root user {USER_ID} (runAsNonRoot, runAsUser)")
    if context.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{name}: readOnlyRootFilesystem should be true")
    if context.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation should be false")
    if "ALL" not in ((context.get("capabilities") or {}).get("drop") or []):
        problems.append(f"{name}: capabilities should drop ALL")
    namespace = deployment["metadata"].get("namespace")
    if not any(selects(pdb["spec"].get("selector"), labels) and pdb["metadata"].get("namespace") == namespace
               for pdb in manifests.of("PodDisruptionBudget")):
        problems.append(f"{name}: no PodDisruptionBudget selects its pods")
    service = manifests.get("Service", name)
    if service is None:
        problems.append(f"{name}: no Service named {name}")
    else:
        service_spec = service.get("spec") or {}
        if not all(labels.get(k) == v for k, v in (service_spec.get("selector") or {}).items()) \
                or not service_spec.get("selector"):
            problems.append(f"{name}: Service {name} does not select its pods")
        if service_spec.get("type", "ClusterIP") != "ClusterIP":
            problems.append(f"{name}: Service {name} should be ClusterIP")
        targets = [port_of({"httpGet": {"port": p.get("targetPort", p.get("port"))}}, container)
                   for p in service_spec.get("ports") or [] if p.get("port") == port]
        if targets != [bind_port]:
            problems.append(f"{name}: Service {name} does not send port {port} to the container's {bind_port}")
    return problems, variables, container, pod


def nats_nodes(manifests, problems):
    """The host names of the StatefulSet nats's pods, after checking the
    cluster itself: headless Service, routes to every pod, the generated
    authorization included from the Secret nats-auth, a PDB."""
    nats = manifests.get("StatefulSet", "nats")
    if nats is None:
        problems.append("StatefulSet nats is missing")
        return []
    spec = nats["spec"]
    replicas = spec.get("replicas", 1)
    if replicas != 3:
        problems.append(f"nats: {replicas} replicas; the JetStream cluster has 3 nodes")
    service = manifests.get("Service", spec.get("serviceName"))
    if service is None or service["spec"].get("clusterIP") != "None":
        problems.append(f"nats: serviceName {spec.get('serviceName')} is not a headless Service")
    else:
        ports = {p.get("port") for p in service["spec"].get("ports") or []}
        if not {4222, 6222, 8222} <= ports:
            problems.append(f"nats: Service {spec['serviceName']} has ports {sorted(ports)}, needs 4222, 6222, 8222")
    nodes = [f"nats-{i}.{spec.get('serviceName')}.{NAMESPACE}.svc" for i in range(replicas)]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    command = container.get("command") or []
    config_path = command[command.index("--config") + 1] if "--config" in command else None
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounts = {m["mountPath"].rstrip("/"): volumes.get(m["name"], {}) for m in container.get("volumeMounts") or []}

    def file_at(path):
        """(kind, name, key) of the ConfigMap or Secret file mounted at path."""
        directory, key = os.path.split(path)
        volume = mounts.get(directory) or {}
        if "configMap" in volume:
            return "ConfigMap", volume["configMap"]["name"], key
        if "secret" in volume:
            return "Secret", volume["secret"]["secretName"], key
        return None, None, key

    kind, source, key = file_at(config_path or "")
    config = ((manifests.get(kind, source) or {}).get("data") or {}).get(key) if kind == "ConfigMap" else None
    if config is None:
        problems.append(f"nats: its --config {config_path} is not a ConfigMap file in deploy/k8s")
        return nodes
    routes = set(re.findall(r"nats://([a-z0-9.-]+):6222", config))
    if routes != set(nodes):
        problems.append(f"nats: the cluster routes {sorted(routes)} should be the pods {nodes}")
    includes = re.findall(r"^\s*include\s+\"?([^\s\"]+)", config, re.MULTILINE)
    included = [file_at(os.path.normpath(os.path.join(os.path.dirname(config_path), i))) for i in includes]
    if ("Secret", "nats-auth", "nats-server.conf") not in included:
        problems.append("nats: its configuration does not include nats-server.conf of the Secret nats-auth (ates-nats-config's output)")
    if not re.search(r"jetstream\s*\{[^}]*store_dir", config):
        problems.append("nats: JetStream with a store_dir is not configured")
    elif not spec.get("volumeClaimTemplates"):
        problems.append("nats: JetStream's store has no volumeClaimTemplate")
    readiness = container.get("readinessProbe")
    path = ((readiness or {}).get("httpGet") or {}).get("path", "")
    if not str(path).startswith("/healthz") or port_of(readiness, container) != 8222:
        problems.append("nats: the readiness probe should ask /healthz on 8222")
    labels = spec["template"]["metadata"].get("labels") or {}
    if not any(selects(pdb["spec"].get("selector"), labels) for pdb in manifests.of("PodDisruptionBudget")):
        problems.append("nats: no PodDisruptionBudget selects its pods")
    return nodes


def check_broker(name, variables, container, pod, nodes, manifests):
    problems = []
    url = str(variables.get("NATS_URL") or "")
    if not url:
        return [f"{name}: NATS_URL is not set"]
    if "@" in url:
        problems.append(f"{name}: NATS_URL carries credentials; use the generated identity")
    hosts = [urlsplit(part.strip()).netloc for part in url.split(",")]
    if nodes and sorted(hosts) != sorted(f"{node}:4222" for node in nodes):
        problems.append(f"{name}: NATS_URL should list every NATS node {nodes} on 4222, not {hosts}")
    replicas = variables.get("NATS_STREAM_REPLICAS")
    if replicas is not None and (not str(replicas).isdigit() or not 1 <= int(replicas) <= max(len(nodes), 1)):
        problems.append(f"{name}: NATS_STREAM_REPLICAS={replicas} should be 1 to the {len(nodes)} NATS nodes")
    seed = str(variables.get("NATS_NKEY_SEED_FILE") or "")
    if not seed:
        return problems + [f"{name}: NATS_NKEY_SEED_FILE is not set"]
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    mounted = {}
    for mount in container.get("volumeMounts") or []:
        secret = (volumes.get(mount["name"]) or {}).get("secret")
        if secret:
            mounted[mount["mountPath"].rstrip("/")] = secret
    own = f"nats-identity-{name}"
    directory, key = os.path.split(seed)
    secret = mounted.get(directory)
    if secret is None or secret.get("secretName") != own:
        problems.append(f"{name}: {seed} is not in its own identity Secret {own}")
    else:
        items = {item["path"]: item["key"] for item in secret.get("items") or []}
        if items.get(key, key if not items else None) != "nkey.seed":
            problems.append(f"{name}: {seed} is not the key nkey.seed of {own}")
        if manifests.keys("Secret", own) != {"nkey.seed"}:
            problems.append(f"{name}: the example Secret {own} should hold exactly nkey.seed")
    others = {f"nats-identity-{other}" for other in SERVICES if other != name}
    mounted_secrets = {v["secret"]["secretName"] for v in volumes.values() if "secret" in v}
    if others & mounted_secrets:
        problems.append(f"{name}: mounts another service's identity {sorted(others & mounted_secrets)}")
    return problems


def check_web(variables):
    problems = []
    for variable, service in UPSTREAMS.items():
        url = urlsplit(str(variables.get(variable) or ""))
        expected = f"http://{service}:{SERVICES[service]}"
        if f"{url.scheme}://{url.netloc}" != expected or url.path not in ("", "/"):
            problems.append(f"web-server: {variable} should be the Service {expected}, not {variables.get(variable)}")
    return problems


def check_ingress(manifests, web_variables):
    problems = []
    ingresses = manifests.of("Ingress")
    if not ingresses:
        return ["no Ingress"]
    for ingress in ingresses:
        spec = ingress["spec"]
        if not any(tls.get("secretName") for tls in spec.get("tls") or []):
            problems.append(f"Ingress {ingress['metadata']['name']}: no TLS secret")
        for rule in spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                backend = (path.get("backend") or {}).get("service") or {}
                service = manifests.get("Service", backend.get("name"))
                ports = {(p.get("name"), p.get("port")) for p in (service or {}).get("spec", {}).get("ports") or []}
                wanted = backend.get("port") or {}
                if service is None or not any(wanted.get("name") == n or wanted.get("number") == p for n, p in ports):
                    problems.append(f"Ingress {ingress['metadata']['name']}: {path.get('path')} goes to {backend}, not a port of a Service here")
    if any(i["spec"].get("tls") for i in ingresses) and str(web_variables.get("SESSION_COOKIE_SECURE")).lower() != "true":
        problems.append("web-server: behind the HTTPS Ingress, set SESSION_COOKIE_SECURE=true")
    return problems


def check_general(manifests):
    problems = []
    for o in manifests.objects:
        where = f"{o['__file']}: {o.get('kind')} {o['metadata'].get('name')}"
        if o.get("kind") != "Namespace" and o["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{where} is not in the namespace {NAMESPACE}")
        if o.get("kind") == "Secret":
            if not o["__in"].startswith("examples" + os.sep):
                problems.append(f"{where}: Secrets belong in deploy/k8s/examples/ (placeholders, never applied)")
            if o.get("data"):
                problems.append(f"{where}: use stringData with {PLACEHOLDER} placeholders, not data")
            for key, value in (o.get("stringData") or {}).items():
                if PLACEHOLDER not in str(value):
                    problems.append(f"{where}: {key} is not a {PLACEHOLDER} placeholder")
    if manifests.get("Namespace", NAMESPACE) is None:
        problems.append(f"Namespace {NAMESPACE} is missing")
    return problems


def main():
    # The manifests' directory: deploy/k8s, or another given (a copy to try).
    directory = sys.argv[1] if len(sys.argv) > 1 else K8S
    files = sorted(os.path.join(base, name) for base, _, names in os.walk(directory)
                   for name in names if name.endswith((".yaml", ".yml")))
    if not files:
        sys.exit(f"{directory} has no manifests")
    problems = validate_schemas(files)
    manifests = Manifests(load(directory, files))
    problems.extend(check_general(manifests))
    nodes = nats_nodes(manifests, problems)
    programs = [(name, name, port, service_reads(name)) for name, port in SERVICES.items()]
    programs.append((WEB[0], WEB[0], WEB[1], web_reads()))
    web_variables = {}
    for name, binary, port, reads in programs:
        deployment = manifests.get("Deployment", name)
        if deployment is None:
            problems.append(f"Deployment {name} is missing")
            continue
        program_problems, variables, container, pod = check_program(
            name, binary, port, deployment, manifests, reads)
        problems.extend(program_problems)
        if container is None:
            continue
        if name in SERVICES:
            problems.extend(check_broker(name, variables, container, pod, nodes, manifests))
            for needed in ("DATABASE_URL",) + (() if name == "auth-api" else ("AUTH_JWKS_URL",)):
                if needed not in variables:
                    problems.append(f"{name}: {needed} is not set")
        else:
            web_variables = variables
            problems.extend(check_web(variables))
    problems.extend(check_ingress(manifests, web_variables))
    if problems:
        sys.exit(f"{shown(directory)} does not match the services:\n- " + "\n- ".join(problems))
    kinds = sorted({o["kind"] for o in manifests.objects})
    print(f"{shown(directory)}: {len(manifests.objects)} objects in {len(files)} files valid for Kubernetes "
          f"{KUBERNETES_VERSION} ({', '.join(kinds)}); env, ports, probes, resources, PDBs and "
          "broker identities match the binaries")


if __name__ == "__main__":
    main()
