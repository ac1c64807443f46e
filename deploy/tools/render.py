#!/usr/bin/env python3
"""Renders the Helm chart offline (Helm's own Go engine through helm-python-sdk) and lints it.

  render.py manifests VALUES... [--release NAME] [--namespace NS]   YAML stream on stdout
  render.py files VALUES... --out DIR    the pod's /etc/switchyard as it would be mounted
  render.py lint [VALUES...]             helm lint --strict; exit 1 on any warning or error
  render.py plain OUTDIR                 the plain manifests of deploy/k8s/

VALUES are values files layered in order, as `helm template -f A -f B` would.
"""

import argparse
import base64
import os
import sys

import helm_python as helm
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
CHART = os.path.normpath(os.path.join(HERE, "..", "helm", "switchyard"))
PLAIN_VALUES = os.path.normpath(os.path.join(HERE, "..", "k8s", "values.yaml"))

# Order of kinds in a stream, as Helm installs them.
KIND_ORDER = ["ServiceAccount", "Secret", "ConfigMap", "Service", "PodDisruptionBudget",
              "Deployment", "DaemonSet", "ServiceMonitor"]

# What the plain manifests leave out of the chart's labels: they are not a Helm release.
HELM_ONLY_LABELS = ["helm.sh/chart"]


def merge(base, over):
    """Helm's coalescing of values files: maps merge, everything else is replaced."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


def load_values(files):
    values = {}
    for f in files:
        with open(f) as fh:
            values = merge(values, yaml.safe_load(fh) or {})
    return values


def render(values, release="switchyard", namespace="switchyard"):
    """The rendered objects, in install order; NOTES.txt and empty templates dropped."""
    chart = helm.Chart.load(CHART)
    out = chart.render(values, name=release, namespace=namespace, is_install=True)
    docs = []
    for name in sorted(out):
        if name.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(out[name]):
            if doc:
                docs.append(doc)
    docs.sort(key=lambda d: (KIND_ORDER.index(d["kind"]), d["metadata"]["name"]))
    return docs


def dump(docs):
    return yaml.safe_dump_all(docs, sort_keys=False, default_flow_style=False, width=100)


def pod_files(docs):
    """The files of the projected `config` volume, by path: what the container reads."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    workload = next(d for d in docs if d["kind"] in ("Deployment", "DaemonSet"))
    volume = next(v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    files = {}
    for source in volume["projected"]["sources"]:
        kind, ref = ("ConfigMap", source["configMap"]) if "configMap" in source else ("Secret", source["secret"])
        obj = by_kind.get((kind, ref["name"]))
        if obj is None:
            continue  # a Secret made outside the chart (etcd TLS)
        data = dict(obj.get("data") or {})
        if kind == "Secret":
            data = {k: base64.b64decode(v).decode() for k, v in data.items()}
            data.update(obj.get("stringData") or {})
        items = ref.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            files[item["path"]] = data[item["key"]]
    return files


def lint(values_files):
    values = load_values(values_files) if values_files else None
    report = helm.lint(CHART, values, strict=True)
    for m in report.get("messages", []):
        print(f"lint: severity {m['severity']}: {m.get('path', '')}: {m.get('error', '')}")
    for e in report.get("errors", []):
        print(f"lint: error: {e}")
    bad = [m for m in report.get("messages", []) if m["severity"] >= 2] + report.get("errors", [])
    return 1 if bad else 0


def plain_manifests():
    """deploy/k8s/*.yaml: the chart rendered with deploy/k8s/values.yaml, one file a kind,
    without Helm's own labels and checksums (they would go stale on the first edit)."""
    docs = render(load_values([PLAIN_VALUES]), release="switchyard", namespace="switchyard")
    files = {}
    for d in docs:
        for labels in (d["metadata"].get("labels") or {},):
            for k in HELM_ONLY_LABELS:
                labels.pop(k, None)
            if "app.kubernetes.io/managed-by" in labels:
                labels["app.kubernetes.io/managed-by"] = "kubectl"
        if d["kind"] in ("Deployment", "DaemonSet"):
            d["spec"]["template"]["metadata"].pop("annotations", None)
        name = {"ServiceAccount": "serviceaccount", "Secret": "secret", "ConfigMap": "configmap",
                "Service": "services", "PodDisruptionBudget": "pdb",
                "ServiceMonitor": "servicemonitor"}.get(d["kind"], "workload")
        files.setdefault(f"{name}.yaml", []).append(d)
    header = ("# Generated from deploy/helm/switchyard with deploy/k8s/values.yaml by\n"
              "# `deploy/tools/render.py plain deploy/k8s`; scripts/test-deploy.sh checks it is current.\n")
    return {name: header + dump(docs) for name, docs in files.items()}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["manifests", "files", "lint", "plain"])
    p.add_argument("args", nargs="*")
    p.add_argument("--release", default="switchyard")
    p.add_argument("--namespace", default="switchyard")
    p.add_argument("--out")
    a = p.parse_args()
    if a.command == "lint":
        return lint(a.args)
    if a.command == "plain":
        out = a.args[0]
        os.makedirs(out, exist_ok=True)
        for name, text in plain_manifests().items():
            with open(os.path.join(out, name), "w") as fh:
                fh.write(text)
        return 0
    docs = render(load_values(a.args), a.release, a.namespace)
    if a.command == "manifests":
        sys.stdout.write(dump(docs))
        return 0
    os.makedirs(a.out, exist_ok=True)
    for path, text in pod_files(docs).items():
        full = os.path.join(a.out, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
