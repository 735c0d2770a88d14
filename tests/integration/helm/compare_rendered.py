#!/usr/bin/env python3
"""The chart renders what the kustomize install renders (issue 21: "a test
diffs them, so they cannot drift").

Usage: compare_rendered.py KUSTOMIZE_YAML HELM_YAML

Both are rendered into the namespace nodeguard-system with default values
(HELM_YAML by `helm template --include-crds`). Allowed differences, and only
these:
  - the Namespace: kustomize creates it (with its Pod Security label); a
    Helm release installs into a namespace that exists or that
    `--create-namespace` creates (docs/install.md says to label it);
  - Helm's own labels on each object's metadata (app.kubernetes.io/instance,
    managed-by, version, helm.sh/chart);
  - the CRD's labels: Helm installs crds/ as they are, never templated, so
    kustomize's app.kubernetes.io/part-of cannot be added there;
  - comments and key order (the objects are compared, not the text).
Every other difference (a field, a value, a missing or extra object) fails,
printed as a unified diff of the two objects' YAML.
"""

import difflib
import sys

import yaml

HELM_LABELS = {"app.kubernetes.io/instance", "app.kubernetes.io/managed-by",
               "app.kubernetes.io/version", "helm.sh/chart"}


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def key(doc):
    return (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])


def normalize(doc, helm):
    if doc["kind"] == "CustomResourceDefinition":
        doc["metadata"].pop("labels", None)
    labels = doc["metadata"].get("labels")
    if helm and labels:
        for k in HELM_LABELS:
            labels.pop(k, None)
    return doc


def main():
    kustomize = {key(d): normalize(d, False) for d in load(sys.argv[1]) if d["kind"] != "Namespace"}
    helm = {key(d): normalize(d, True) for d in load(sys.argv[2])}
    failures = 0
    for k in sorted(set(kustomize) | set(helm)):
        if k not in helm:
            print(f"FAIL: {k[0]}/{k[2]} is installed by kustomize but not rendered by the chart")
            failures += 1
        elif k not in kustomize:
            print(f"FAIL: {k[0]}/{k[2]} is rendered by the chart but not installed by kustomize")
            failures += 1
        elif kustomize[k] != helm[k]:
            a = yaml.safe_dump(kustomize[k], sort_keys=True).splitlines()
            b = yaml.safe_dump(helm[k], sort_keys=True).splitlines()
            print(f"FAIL: {k[0]}/{k[2]} differs (- kustomize, + helm):")
            print("\n".join(difflib.unified_diff(a, b, "kustomize", "helm", lineterm="", n=2)))
            failures += 1
    print(f"compared {len(kustomize)} kustomize objects with {len(helm)} chart objects: "
          f"{failures} difference(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
