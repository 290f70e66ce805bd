#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""dashboard_metrics.py DASHBOARD.json METRICS.txt...

Checks that every metric a Grafana dashboard queries is one the daemon
exports: each METRICS.txt is a scrape of /metrics (Prometheus text format),
one per proxy mode (a mode's own metrics appear only in that mode).
Every PromQL expression (panel targets and query variables) is scanned for
metric names (kubeproxy_*, switchyard_*, process_*); each must be a sample
name of the scrape (a histogram's _bucket/_sum/_count included), and each
label it selects, groups by or shows in a legend must be one the metric
carries (or a target label Prometheus adds: instance, job).  Prints one
line per problem and a summary; exits 1 on any problem.
"""
import json
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

PREFIXES = ("kubeproxy_", "switchyard_", "process_")
TARGET_LABELS = {"instance", "job"}
IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def exported(paths):
    """sample name -> set of label names, over every scrape"""
    names = {}
    for path in paths:
        with open(path) as f:
            for fam in text_string_to_metric_families(f.read()):
                for s in fam.samples:
                    names.setdefault(s.name, set()).update(s.labels)
    return names


def exprs(dash):
    """(where, expr, legend) for every query in the dashboard"""
    out = []

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels") or [])

    for p in panels(dash.get("panels") or []):
        for t in p.get("targets") or []:
            if "expr" in t:
                out.append((f"panel {p.get('title')!r} {t.get('refId')}", t["expr"],
                            t.get("legendFormat", "")))
    for v in (dash.get("templating") or {}).get("list") or []:
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and isinstance(q, str):
            out.append((f"variable {v.get('name')}", q, ""))
    return out


def strip_strings(e):
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)


def check(dash_path, metrics_paths):
    have = exported(metrics_paths)
    with open(dash_path) as f:
        dash = json.load(f)
    problems = []
    used = set()
    queries = exprs(dash)
    if not queries:
        problems.append(f"{dash_path}: no queries")
    for where, e, legend in queries:
        bare = strip_strings(e)
        metrics = [m for m in IDENT.findall(bare) if m.startswith(PREFIXES)]
        if not metrics:
            problems.append(f"{where}: {e!r} queries no kubeproxy_/switchyard_/process_ metric")
            continue
        labels = set()
        for m in metrics:
            used.add(m)
            if m not in have:
                problems.append(f"{where}: metric {m} is not exported by the daemon")
            else:
                labels |= have[m]
        ok = labels | TARGET_LABELS | {"le"}
        # label names in selectors {a="..", b=~".."}, in by/without/on/ignoring
        # clauses, in label_values(m, label) and in the legend
        wanted = set()
        for sel in re.findall(r"\{([^}]*)\}", bare):
            wanted |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", sel))
        for grp in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", bare):
            wanted |= {g.strip() for g in grp.split(",") if g.strip()}
        for lv in re.findall(r"label_values\([^,]*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\)", bare):
            wanted.add(lv)
        wanted |= set(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend))
        for lab in sorted(wanted - ok):
            problems.append(f"{where}: label {lab} is not a label of {', '.join(sorted(set(metrics)))}")
    for p in problems:
        print(p)
    print(f"dashboard_metrics: {len(queries)} queries, {len(used)} metrics "
          f"({len(have)} exported): {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(check(sys.argv[1], sys.argv[2:]))
