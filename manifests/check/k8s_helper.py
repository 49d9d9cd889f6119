#!/usr/bin/env python3
"""Helpers for .ci/validate-manifests.sh (Kubernetes side).

  k8s_helper.py render-fallback KUSTOMIZATION      concatenate its `resources:` (no kubectl)
  k8s_helper.py extract-config RENDERED NAME KEY   print data[KEY] of ConfigMap NAME
  k8s_helper.py loopback-storage TOML SQLITE_PATH  print TOML with [storage] url → SQLite file
  k8s_helper.py break-deployment RENDERED          print RENDERED with an unknown Deployment field
  k8s_helper.py break-api-version RENDERED         print RENDERED with an unknown Deployment apiVersion
  k8s_helper.py check-monitoring RENDERED METRIC…  PrometheusRule/ServiceMonitor shape, metrics used
"""
import os
import re
import sys

import yaml


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def dump_all(docs):
    sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False))


def render_fallback(kustomization):
    base = os.path.dirname(kustomization)
    with open(kustomization, encoding="utf-8") as f:
        k = yaml.safe_load(f)
    unknown = set(k) - {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
    if unknown:
        sys.exit(f"render-fallback: cannot render {sorted(unknown)} without kubectl")
    docs = []
    for res in k.get("resources", []):
        docs.extend(load_all(os.path.join(base, res)))
    dump_all(docs)


def find(docs, kind, name=None):
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"]["name"] == name)]


def extract_config(rendered, name, key):
    maps = find(load_all(rendered), "ConfigMap", name)
    if len(maps) != 1 or key not in (maps[0].get("data") or {}):
        sys.exit(f"extract-config: no ConfigMap {name} with data key {key}")
    sys.stdout.write(maps[0]["data"][key])


def loopback_storage(toml_path, sqlite_path):
    out, section, done = [], None, False
    with open(toml_path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\s*\[+\s*([^\]]+?)\s*\]+", line)
            if m:
                section = m.group(1)
            if section == "storage" and re.match(r"^\s*url\s*=", line):
                line = f'url = "sqlite://{sqlite_path}"   # substituted by validate-manifests\n'
                done = True
            out.append(line)
    if not done:
        sys.exit("loopback-storage: no [storage] url in the config")
    sys.stdout.write("".join(out))


def break_deployment(rendered):
    docs = load_all(rendered)
    deployment = find(docs, "Deployment")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolizy"] = "Always"
    dump_all(docs)


def break_api_version(rendered):
    docs = load_all(rendered)
    find(docs, "Deployment")[0]["apiVersion"] = "apps/v1beta9"
    dump_all(docs)


def check_monitoring(rendered, metrics):
    docs = load_all(rendered)
    errors = []
    allowed = {
        "ServiceMonitor": ("monitoring.coreos.com/v1", {"apiVersion", "kind", "metadata", "spec"}),
        "PrometheusRule": ("monitoring.coreos.com/v1", {"apiVersion", "kind", "metadata", "spec"}),
        "NetworkPolicy": ("networking.k8s.io/v1", None),  # validated with the Kubernetes schemas
    }
    for d in docs:
        kind = d.get("kind")
        if kind not in allowed:
            errors.append(f"unexpected kind {kind}")
            continue
        api, keys = allowed[kind]
        if d.get("apiVersion") != api:
            errors.append(f"{kind}: apiVersion {d.get('apiVersion')} is not {api}")
        if keys and set(d) - keys:
            errors.append(f"{kind}: unknown keys {sorted(set(d) - keys)}")
    sms = find(docs, "ServiceMonitor")
    for sm in sms:
        spec = sm["spec"]
        if set(spec) - {"selector", "endpoints"}:
            errors.append(f"ServiceMonitor: unknown spec keys {sorted(set(spec) - {'selector', 'endpoints'})}")
        for ep in spec.get("endpoints", []):
            if set(ep) - {"port", "path", "interval", "scrapeTimeout"}:
                errors.append(f"ServiceMonitor endpoint: unknown keys {sorted(set(ep))}")
    exprs = []
    for rule_doc in find(docs, "PrometheusRule"):
        for group in rule_doc["spec"]["groups"]:
            if set(group) - {"name", "interval", "rules"}:
                errors.append(f"PrometheusRule group: unknown keys {sorted(set(group))}")
            for rule in group["rules"]:
                extra = set(rule) - {"alert", "expr", "for", "labels", "annotations"}
                if extra or "alert" not in rule or not isinstance(rule.get("expr"), str):
                    errors.append(f"PrometheusRule rule {rule.get('alert')}: needs alert and expr, unknown {sorted(extra)}")
                if "severity" not in (rule.get("labels") or {}):
                    errors.append(f"PrometheusRule rule {rule.get('alert')}: no severity label")
                if "summary" not in (rule.get("annotations") or {}):
                    errors.append(f"PrometheusRule rule {rule.get('alert')}: no summary annotation")
                exprs.append(rule.get("expr", ""))
    for metric in metrics:
        if not any(re.search(rf"\b{re.escape(metric)}\b", e) for e in exprs):
            errors.append(f"no alert uses {metric}")
    if not sms:
        errors.append("no ServiceMonitor")
    for e in errors:
        print(f"ERROR monitoring: {e}")
    if errors:
        sys.exit(1)
    print(f"OK monitoring: {len(exprs)} alert(s), metrics {', '.join(metrics)} covered")


def main(argv):
    commands = {
        "render-fallback": render_fallback,
        "extract-config": extract_config,
        "loopback-storage": loopback_storage,
        "break-deployment": break_deployment,
        "break-api-version": break_api_version,
    }
    if argv and argv[0] == "check-monitoring" and len(argv) >= 2:
        check_monitoring(argv[1], argv[2:])
    elif argv and argv[0] in commands:
        commands[argv[0]](*argv[1:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
