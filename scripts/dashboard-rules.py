#!/usr/bin/env python3
"""Print a Grafana dashboard's PromQL queries as a Prometheus rule file.

    scripts/dashboard-rules.py deploy/grafana/ates.json > /tmp/rules.yml
    promtool check rules /tmp/rules.yml

so that promtool parses every query of the dashboard (`make test-alerts`).
Grafana's variables are replaced by values of the right kind first: $job
by .*, $__rate_interval and $__interval by 1m, $__range by 1h. JSON is
YAML, so the output is JSON.
"""
import json
import re
import sys

VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
}


def substitute(expr):
    def value(match):
        name = match.group(1) or match.group(2)
        return VARIABLES.get(name, ".*")

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def queries(panels):
    for panel in panels:
        yield from queries(panel.get("panels", []))
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield panel.get("title", ""), target.get("refId", ""), target["expr"]


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} DASHBOARD.json")
    with open(sys.argv[1]) as f:
        dashboard = json.load(f)
    rules = []
    for i, (title, ref, expr) in enumerate(queries(dashboard.get("panels", []))):
        rules.append({
            "record": f"dashboard:query_{i}",
            "expr": substitute(expr),
            "labels": {"panel": title, "ref_id": ref},
        })
    if not rules:
        sys.exit(f"{sys.argv[1]}: no queries found")
    json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
