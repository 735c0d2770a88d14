#!/usr/bin/env python3
"""Static checks of nodeguard's rendered install manifests.

Usage: check_rendered.py install RENDERED.yaml REPO_ROOT
       check_rendered.py monitoring RENDERED.yaml REPO_ROOT RULES_OUT.yaml

`install` checks `kubectl kustomize manifests/`: the objects that must be
there, the controller's and the agent's pod hardening, that no ClusterRole or
Role uses wildcards or touches Secrets, and that the image tag follows the
CMake project version.

`monitoring` checks the overlay with manifests/monitoring: the ServiceMonitor,
the PrometheusRule's groups and alerts, that every metric the alerts read is
in docs/operations.md's metrics contract, and writes the rule groups as a
plain Prometheus rules file to RULES_OUT.yaml (for `promtool check rules`).

Prints one line per failed check and exits 1 if any failed.
"""

import json
import re
import sys

import yaml

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
    return ok


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(docs, kind, name):
    for d in docs:
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            return d
    return None


def cmake_version(root):
    with open(f"{root}/CMakeLists.txt") as f:
        m = re.search(r"project\(nodeguard VERSION ([0-9.]+)", f.read())
    return m.group(1) if m else None


EXPECTED_INSTALL = [
    ("Namespace", "nodeguard-system"),
    ("CustomResourceDefinition", "nodehealthpolicies.nodeguard.io"),
    ("ServiceAccount", "nodeguard-controller"),
    ("ServiceAccount", "nodeguard-agent"),
    ("ClusterRole", "nodeguard-controller"),
    ("ClusterRoleBinding", "nodeguard-controller"),
    ("Role", "nodeguard-leader-election"),
    ("RoleBinding", "nodeguard-leader-election"),
    ("ClusterRole", "nodeguard-agent"),
    ("ClusterRoleBinding", "nodeguard-agent"),
    ("Deployment", "nodeguard-controller"),
    ("PodDisruptionBudget", "nodeguard-controller"),
    ("Service", "nodeguard-controller-metrics"),
    ("DaemonSet", "nodeguard-agent"),
    ("ValidatingAdmissionPolicy", "nodeguard-agent-own-node"),
    ("ValidatingAdmissionPolicyBinding", "nodeguard-agent-own-node"),
    ("PriorityLevelConfiguration", "nodeguard"),
    ("FlowSchema", "nodeguard"),
    ("FlowSchema", "nodeguard-leader-election"),
]

CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "PriorityLevelConfiguration",
    "FlowSchema",
}


def container(workload):
    cs = workload["spec"]["template"]["spec"]["containers"]
    check(len(cs) == 1, f"{workload['kind']}: one container")
    return cs[0]


def has_requests_and_limits(c, who):
    res = c.get("resources", {})
    for part in ("requests", "limits"):
        for r in ("cpu", "memory"):
            check(r in res.get(part, {}), f"{who}: resources.{part}.{r} set")


def flow_subjects(fs):
    return {(sub["serviceAccount"]["namespace"], sub["serviceAccount"]["name"])
            for rule in fs["spec"].get("rules", []) for sub in rule.get("subjects", [])
            if sub.get("kind") == "ServiceAccount"}


def check_flowcontrol(docs):
    """API Priority and Fairness (docs/operations.md): the controller's and
    the agents' service accounts in level nodeguard, the controller's Lease
    in the built-in leader-election level, matched first."""
    level = find(docs, "PriorityLevelConfiguration", "nodeguard")
    general = find(docs, "FlowSchema", "nodeguard")
    lease = find(docs, "FlowSchema", "nodeguard-leader-election")
    if not (level and general and lease):
        return
    check(level["spec"].get("type") == "Limited", "PriorityLevelConfiguration nodeguard: Limited")
    check(level["spec"].get("limited", {}).get("limitResponse", {}).get("type") == "Queue",
          "PriorityLevelConfiguration nodeguard: queues rather than rejects")
    check(general["spec"]["priorityLevelConfiguration"]["name"] == "nodeguard",
          "FlowSchema nodeguard: level nodeguard")
    check(lease["spec"]["priorityLevelConfiguration"]["name"] == "leader-election",
          "FlowSchema nodeguard-leader-election: the built-in level leader-election")
    check(lease["spec"]["matchingPrecedence"] < general["spec"]["matchingPrecedence"],
          "the Lease's FlowSchema is matched before nodeguard's general one")
    for fs in (general, lease):
        check(fs["spec"]["matchingPrecedence"] < 9000,
              f"FlowSchema {fs['metadata']['name']}: matched before service-accounts (9000)")
    accounts = {("nodeguard-system", "nodeguard-controller"), ("nodeguard-system", "nodeguard-agent")}
    check(flow_subjects(general) == accounts,
          f"FlowSchema nodeguard: the controller's and the agents' accounts ({flow_subjects(general)})")
    check(flow_subjects(lease) == {("nodeguard-system", "nodeguard-controller")},
          "FlowSchema nodeguard-leader-election: the controller's account only")
    rules = [r for rule in lease["spec"]["rules"] for r in rule.get("resourceRules", [])]
    check(rules and all(r.get("resources") == ["leases"] and r.get("namespaces") == ["nodeguard-system"]
                        for r in rules),
          "FlowSchema nodeguard-leader-election: leases in nodeguard-system only")


def check_install(docs, root):
    present = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for want in EXPECTED_INSTALL:
        check(want in present, f"object {want[0]}/{want[1]} rendered")
    extra = present - set(EXPECTED_INSTALL)
    check(not extra, f"no unexpected objects (got {sorted(extra)})")

    for d in docs:
        md = d["metadata"]
        who = f"{d['kind']}/{md['name']}"
        if d["kind"] in CLUSTER_SCOPED:
            check("namespace" not in md, f"{who}: cluster-scoped, no namespace")
        else:
            check(md.get("namespace") == "nodeguard-system", f"{who}: in nodeguard-system")
        check(md.get("labels", {}).get("app.kubernetes.io/part-of") == "nodeguard",
              f"{who}: labelled app.kubernetes.io/part-of=nodeguard")

    # RBAC: no wildcards, nothing on Secrets, no delete on nodes or pods.
    for d in docs:
        if d["kind"] not in ("ClusterRole", "Role"):
            continue
        who = f"{d['kind']}/{d['metadata']['name']}"
        for rule in d.get("rules", []):
            for field in ("apiGroups", "resources", "verbs"):
                check("*" not in rule.get(field, []), f"{who}: no '*' in {field}")
            check("secrets" not in rule.get("resources", []), f"{who}: nothing on secrets")
            check("nonResourceURLs" not in rule, f"{who}: no non-resource URLs")
            if set(rule.get("resources", [])) & {"nodes", "pods"}:
                check(not set(rule["verbs"]) & {"delete", "deletecollection", "create", "update"},
                      f"{who}: only read and patch on nodes/pods ({rule['verbs']})")

    check_flowcontrol(docs)

    dep = find(docs, "Deployment", "nodeguard-controller")
    if dep:
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        c = container(dep)
        who = "Deployment nodeguard-controller"
        check(spec.get("replicas") == 2, f"{who}: 2 replicas")
        args = c.get("args", [])
        check(args[:1] == ["controller"], f"{who}: runs `nodeguard controller`")
        check("--leader-elect=true" in args, f"{who}: --leader-elect=true")
        check(any(a.startswith("--leader-election-namespace=") for a in args),
              f"{who}: --leader-election-namespace")
        check("--metrics-bind-address=:8080" in args, f"{who}: metrics on :8080")
        check("--health-probe-bind-address=:8081" in args, f"{who}: probes on :8081")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        check(ports == {"metrics": 8080, "health": 8081}, f"{who}: ports metrics 8080, health 8081")
        check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz",
              f"{who}: liveness on /healthz")
        check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz",
              f"{who}: readiness on /readyz")
        has_requests_and_limits(c, who)
        psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
        check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532,
              f"{who}: runAsNonRoot, uid 65532")
        check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault",
              f"{who}: seccomp RuntimeDefault")
        check(csc.get("readOnlyRootFilesystem") is True, f"{who}: read-only root filesystem")
        check(csc.get("allowPrivilegeEscalation") is False, f"{who}: no privilege escalation")
        check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{who}: drops ALL capabilities")
        check(not csc.get("privileged") and not pod.get("hostPID") and not pod.get("hostNetwork"),
              f"{who}: not privileged, no host namespaces")
        check(any(t.get("topologyKey") == "kubernetes.io/hostname"
                  for t in pod.get("topologySpreadConstraints", [])),
              f"{who}: spread over nodes")
        check(pod.get("serviceAccountName") == "nodeguard-controller", f"{who}: its service account")
        image = c.get("image", "")
        version = cmake_version(root)
        check(image.endswith(":" + str(version)),
              f"{who}: image tag {image!r} follows project(VERSION) {version}")

    pdb = find(docs, "PodDisruptionBudget", "nodeguard-controller")
    if pdb and dep:
        check(pdb["spec"].get("minAvailable") == 1, "PodDisruptionBudget: minAvailable 1")
        check(pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"],
              "PodDisruptionBudget selects the controller's pods")

    svc = find(docs, "Service", "nodeguard-controller-metrics")
    if svc and dep:
        check(svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"],
              "metrics Service selects the controller's pods")
        check([p["name"] for p in svc["spec"]["ports"]] == ["metrics"], "metrics Service: port metrics")

    ds = find(docs, "DaemonSet", "nodeguard-agent")
    if ds:
        pod = ds["spec"]["template"]["spec"]
        c = container(ds)
        who = "DaemonSet nodeguard-agent"
        check(c.get("args", [])[:1] == ["agent"], f"{who}: runs `nodeguard agent`")
        check("--node-name=$(NODE_NAME)" in c.get("args", []), f"{who}: --node-name=$(NODE_NAME)")
        env = {e["name"]: e for e in c.get("env", [])}
        check(env.get("NODE_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
              == "spec.nodeName", f"{who}: NODE_NAME from spec.nodeName")
        check(pod.get("hostPID") is True, f"{who}: hostPID")
        check(c.get("securityContext", {}).get("privileged") is True, f"{who}: privileged")
        check(c.get("securityContext", {}).get("runAsUser") == 0, f"{who}: runs as root")
        check({"operator": "Exists"} in pod.get("tolerations", []),
              f"{who}: tolerates every taint (operator: Exists, no key, no effect)")
        check(pod.get("priorityClassName") == "system-node-critical", f"{who}: system-node-critical")
        check(pod.get("serviceAccountName") == "nodeguard-agent", f"{who}: its service account")
        check("livenessProbe" not in c, f"{who}: no liveness probe (a restart may never come back on a PLEG-sick node)")
        has_requests_and_limits(c, who)


# The metrics contract of docs/operations.md that the alerts read.
CONTRACT_METRICS = {
    "nodeguard_node_unhealthy",
    "nodeguard_remediations_total",
    "nodeguard_storm_detected",
    "nodeguard_density_capped_nodes",
    "nodeguard_selected_nodes",
    "nodeguard_pods_missing_resources",
    "nodeguard_early_warning_nodes",
    "nodeguard_agent_kubelet_scrape_failures_total",
    "up",
}

EXPECTED_GROUPS = {
    "nodeguard.nodes": {"NodeguardNodePlegUnhealthy", "NodeguardStormDetected",
                        "NodeguardDensityCapsWidespread"},
    "nodeguard.early-warning": {"NodeguardNodeEarlyWarningCritical",
                                "NodeguardNodeEarlyWarningDegraded",
                                "NodeguardKubeletScrapeFailing"},
    "nodeguard.remediation": {"NodeguardRemediationFailed"},
    "nodeguard.hygiene": {"NodeguardPodsWithoutRequestsRising"},
    "nodeguard.controller": {"NodeguardControllerDown"},
}

def metrics_in(expr):
    # Series selectors: any name followed by a label matcher, and every
    # nodeguard_ name (with or without matchers).
    names = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr))
    names |= set(re.findall(r"\bnodeguard_[a-z0-9_]+", expr))
    return names


def check_monitoring(docs, root, rules_out):
    sm = find(docs, "ServiceMonitor", "nodeguard-controller")
    svc = find(docs, "Service", "nodeguard-controller-metrics")
    if check(sm is not None, "ServiceMonitor nodeguard-controller rendered") and svc:
        check(sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items(),
              "ServiceMonitor selects the metrics Service")
        check([e.get("port") for e in sm["spec"]["endpoints"]] == ["metrics"],
              "ServiceMonitor scrapes port metrics")
    pr = find(docs, "PrometheusRule", "nodeguard")
    if not check(pr is not None, "PrometheusRule nodeguard rendered"):
        return
    groups = pr["spec"]["groups"]
    got = {g["name"]: {r.get("alert") for r in g["rules"]} for g in groups}
    check(got == EXPECTED_GROUPS, f"alert groups and names: got {got}")

    with open(f"{root}/docs/operations.md") as f:
        ops = f.read()
    for g in groups:
        for r in g["rules"]:
            name = r.get("alert", "?")
            check(bool(r.get("expr")), f"{name}: has expr")
            check(r.get("labels", {}).get("severity") in ("critical", "warning", "info"),
                  f"{name}: severity critical, warning or info")
            check(bool(r.get("annotations", {}).get("summary")), f"{name}: summary")
            check(bool(r.get("annotations", {}).get("description")), f"{name}: description")
            check(f"`{name}`" in ops, f"{name}: documented in docs/operations.md")
            for m in metrics_in(r["expr"]):
                check(m in CONTRACT_METRICS, f"{name}: reads {m}, which is not in the metrics contract")
                check(f"`{m}`" in ops, f"{name}: metric {m} documented in docs/operations.md")
    used = set().union(*(metrics_in(r["expr"]) for g in groups for r in g["rules"]))
    check(used == CONTRACT_METRICS, f"every contract metric is used by an alert (unused: {sorted(CONTRACT_METRICS - used)})")

    with open(rules_out, "w") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)

    check_dashboard(docs, ops)


# A histogram's series in a query are its _bucket, _sum and _count.
HISTOGRAM_SUFFIX = re.compile(r"_(bucket|sum|count)$")

# What the dashboard must show (issue 21): one metric each at least.
DASHBOARD_TOPICS = {
    "remediations by outcome": "nodeguard_remediations_total",
    "remediations in flight": "nodeguard_remediations_in_flight",
    "failed remediations": "nodeguard_remediation_failed_nodes",
    "nodes capped": "nodeguard_density_capped_nodes",
    "PLEG-sick nodes": "nodeguard_node_unhealthy",
    "drain durations": "nodeguard_drain_duration_seconds",
    "hygiene findings by namespace": "nodeguard_pods_missing_resources",
    "API health": "nodeguard_api_requests_total",
    "informer health": "nodeguard_informer_relists_total",
}


def check_dashboard(docs, ops):
    """The Grafana dashboard's ConfigMap: the sidecar's label, valid JSON,
    and every query reads only metrics docs/operations.md documents."""
    cm = find(docs, "ConfigMap", "nodeguard-dashboard")
    if not check(cm is not None, "the dashboard ConfigMap nodeguard-dashboard is rendered"):
        return
    check(cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1",
          "dashboard ConfigMap: labelled grafana_dashboard=1 (Grafana's sidecar)")
    data = cm.get("data", {})
    if not check(list(data) == ["nodeguard.json"], f"dashboard ConfigMap: one key nodeguard.json (got {list(data)})"):
        return
    try:
        dash = json.loads(data["nodeguard.json"])
    except ValueError as e:
        check(False, f"dashboard: not JSON: {e}")
        return
    used = set()
    panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
    check(len(panels) >= 10, f"dashboard: at least 10 panels (got {len(panels)})")
    for p in panels:
        targets = p.get("targets", [])
        check(targets, f"dashboard panel {p.get('title')!r}: has a query")
        for t in targets:
            expr = t.get("expr", "")
            names = {HISTOGRAM_SUFFIX.sub("", m) if HISTOGRAM_SUFFIX.sub("", m) != m and
                     f"`{HISTOGRAM_SUFFIX.sub('', m)}`" in ops else m
                     for m in metrics_in(expr)}
            check(names, f"dashboard panel {p.get('title')!r}: its query reads a metric ({expr})")
            for m in names:
                check(f"`{m}`" in ops, f"dashboard panel {p.get('title')!r}: metric {m} is documented in docs/operations.md")
            used |= names
            check(t.get("datasource", {}).get("uid") == "${datasource}",
                  f"dashboard panel {p.get('title')!r}: uses the datasource variable")
    for topic, metric in DASHBOARD_TOPICS.items():
        check(metric in used, f"dashboard: shows {topic} ({metric})")


def main(argv):
    if len(argv) >= 4 and argv[1] == "install":
        check_install(load(argv[2]), argv[3])
    elif len(argv) >= 5 and argv[1] == "monitoring":
        check_monitoring(load(argv[2]), argv[3], argv[4])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for f in failures:
        print(f"FAIL: {f}")
    print(f"{argv[1]}: {len(failures)} failed checks")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
