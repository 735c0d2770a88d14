#!/usr/bin/env python3
"""End-to-end tests of resource hygiene (issue 10) against the local cluster.

The real controller binary runs against the CTest fixture's cluster; each
subcommand is one CTest scenario (tests/e2e/hygiene/CMakeLists.txt) that runs
concurrently with other scenarios on the one cluster. Each sets up its own
objects in its own ng.Scope hyg-<subcommand> (the controller runs with
--watch-filter hyg-<subcommand>, so it sees no other test's nodes or
policies) and removes them at its end:

  (each)           the NodeHealthPolicy CRD, two simulated nodes of the scope
                   (<scope>-01: allocatable == capacity; <scope>-reserved-01:
                   4 CPU / 6Gi reserved), namespaces <scope> and
                   <scope>-excluded with a mix of pods and a Deployment `web`
                   without resources, all on the scope's nodes, the policy
                   <scope>
  pods             exactly the right pods flagged with exactly the right
                   findings in Events, annotations, status and metrics
  nodes            <scope>-01 flagged (status, Event), <scope>-reserved-01 not
  fix-deployment   `web` gets resources: its new pods are clean and the old
                   pods' findings leave status and metrics
  policy-report    with a wgpolicyk8s.io PolicyReport CRD installed before
                   start, the namespace's report lists exactly the findings
  restart          stop, turn annotatePods off, start (annotations removed),
                   restart again: no Event is ever repeated
  cleanup          deletes what a killed scenario left of its scope (fixture
                   cleanup)

Every test that runs the controller also checks the invariant "one
MissingResourceRequirements Event per flagged pod UID, one NoSystemReserve
Event per flagged node, none for anything else" (among the scope's pods and
nodes: Events of other scenarios are not counted).

Usage: hygiene_e2e_test.py --nodeguard PATH --workdir DIR SUBCOMMAND
Environment: KUBECONFIG and NODEGUARD_SIM (set by the fixture).
Only the Python standard library is used.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

CRD = os.path.join(ROOT, "crds", "nodeguard.io_nodehealthpolicies.yaml")
REPORT_CRD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "policyreport-crd.yaml")
REPORT_CRD_NAME = "policyreports.wgpolicyk8s.io"
STEPS = ["pods", "nodes", "fix-deployment", "policy-report", "restart"]
# Set by Setup for the running step's scope hyg-<step>: the policy and the
# namespace are named after the scope, BARE is its node, RESERVED one more.
SCOPE = None
POLICY = NS = NS_EXCLUDED = BARE = RESERVED = None
ANNOTATION = "nodeguard.io/resource-findings"
REASON = "MissingResourceRequirements"
NODE_REASON = "NoSystemReserve"
FIELDS = ["requests.cpu", "requests.memory", "limits.memory"]  # The policy's, in encoding order.

ARGS = None

fail = ng.fail  # main() prints the failure and exits 1.
say = ng.say
wait_for = ng.wait_for  # check() -> (ok, detail), every second; fails with the last detail.
free_port = ng.free_port


# ---------------------------------------------------------------- kubectl


def kubectl(*args, stdin=None, check=True):
    return ng.kubectl(*args, stdin=stdin, check=check, timeout=None)


def get_json(*args):
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def apply(obj):
    kubectl("apply", "-f", "-", stdin=json.dumps(obj))


def sim(*args):
    ng.sim(*args, timeout=None)


# ---------------------------------------------------------------- the controller


class Controller(ng.StopOnExit):
    """The real `nodeguard controller` process, logging to the work dir."""

    def __init__(self, name):
        self.metrics_port = free_port()
        self.probe_port = free_port()
        os.makedirs(ARGS.workdir, exist_ok=True)
        self.log_path = os.path.join(ARGS.workdir, f"controller-{name}-{int(time.time())}.log")
        self.proc = None

    def start(self):
        kubeconfig = os.environ["KUBECONFIG"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [ARGS.nodeguard, "controller", "--kubeconfig", kubeconfig, "--leader-elect=false",
             "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
             "--health-probe-bind-address", f"127.0.0.1:{self.probe_port}",
             "--log-level", "debug", *SCOPE.controller_args()],
            stdout=self.log, stderr=subprocess.STDOUT)
        say(f"controller started (pid {self.proc.pid}, log {self.log_path})")

        def ready():
            if self.proc.poll() is not None:
                self.dump_log()
                fail(f"the controller exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.probe_port}/readyz",
                                            timeout=2) as r:
                    return r.status == 200, ""
            except (urllib.error.URLError, OSError) as e:
                return False, str(e)

        wait_for("the controller to be ready", ready, timeout=60)

    def metrics(self):
        return ng.fetch_metrics(self.metrics_port)

    def series(self, name, labels):
        """Value of the series with exactly these (non-empty) labels, or None."""
        return ng.rendered_series(self.metrics(), name, labels)

    def stop(self, check=True):
        if self.proc is None:
            return
        code, killed = ng.terminate_process(self.proc, timeout=30)
        if killed and check:
            self.dump_log()
            fail("the controller did not stop within 30s of SIGTERM")
        self.log.close()
        self.proc = None
        say(f"controller stopped (exit {code})")
        if check and code != 0:
            self.dump_log()
            fail(f"the controller exited with {code}")

    def dump_log(self):
        try:
            with open(self.log_path) as f:
                lines = f.readlines()
        except OSError:
            return
        print(f"----- last lines of {self.log_path}", file=sys.stderr)
        sys.stderr.writelines(lines[-60:])


# ---------------------------------------------------------------- the test objects


def container(name, requests=None, limits=None):
    c = {"name": name, "image": "registry.k8s.io/pause:3.9"}
    resources = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    if resources:
        c["resources"] = resources
    return c


ALL_SET = {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}


def pod(ns, name, containers, init=None):
    spec = {**SCOPE.pod_placement(), "containers": containers,
            "terminationGracePeriodSeconds": 0}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}}, "spec": spec}


def web_deployment(resources):
    c = container("app", **resources)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "Recreate"},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {**SCOPE.pod_placement(),
                                           "terminationGracePeriodSeconds": 0,
                                           "containers": [c]}}}}


def policy(annotate=True):
    """The test policy: the scope's label (its controller sees only such),
    selecting the scope's nodes."""
    selector = {"matchLabels": dict(SCOPE.labels)}
    doc = SCOPE.policy(POLICY, {
        "nodeSelector": selector,
        "resourceHygiene": {
            "requiredRequests": ["cpu", "memory"],
            "requiredLimits": ["memory"],
            "includeInitContainers": True,
            "excludeNamespaces": ["kube-system", NS_EXCLUDED],
            "annotatePods": annotate,
            "emitEvents": True,
            "flagNodesWithoutSystemReserve": True}})
    doc["metadata"].setdefault("labels", {})["nodeguard.io/test"] = "e2e-hygiene"
    if doc["spec"]["nodeSelector"] != selector:
        fail(f"Scope.policy changed the nodeSelector: {doc['spec']['nodeSelector']}")
    return doc


# The hand-written expectation for the fixed pods (the admitted pods: the API
# server copies a limit to a missing request of the same resource, so
# "limits-only" (limits.memory) lacks only requests.cpu).
FIXED_EXPECTED = {
    "none": "app: requests.cpu,requests.memory,limits.memory",
    "requests-only": "app: limits.memory",
    "limits-only": "app: requests.cpu",
    "all-set": "",
    "init-without": "init:setup: requests.cpu,requests.memory,limits.memory",
}
WEB_WITHOUT = "app: requests.cpu,requests.memory,limits.memory"


def findings_of(p):
    """Independent oracle: the annotation value nodeguard should write for a
    live (admitted) pod of NS under the test policy."""
    parts = []
    spec = p["spec"]
    for init, key in ((True, "initContainers"), (False, "containers")):
        for c in spec.get(key) or []:
            res = c.get("resources", {})
            missing = [f for f in FIELDS
                       if f.split(".")[1] not in (res.get(f.split(".")[0]) or {})]
            if missing:
                parts.append(("init:" if init else "") + c["name"] + ": " + ",".join(missing))
    return "; ".join(parts)


def live_pods(ns):
    """Pods of ns that run (not terminating, not finished), by name."""
    out = {}
    for p in get_json("pods", "-n", ns)["items"]:
        if p["metadata"].get("deletionTimestamp"):
            continue
        if p.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        out[p["metadata"]["name"]] = p
    return out


def expected_state():
    """name -> (uid, expected annotation) for the live pods of NS, checked
    against the hand-written table for the fixed pods."""
    out = {}
    for name, p in live_pods(NS).items():
        want = findings_of(p)
        if name in FIXED_EXPECTED and FIXED_EXPECTED[name] != want:
            fail(f"test oracle disagrees with the table for {name}: {want!r} vs "
                 f"{FIXED_EXPECTED[name]!r}")
        out[name] = (p["metadata"]["uid"], want)
    return out


def events(reason, ns=None):
    """Events of `reason` about the scope's objects: in namespace ns, or
    (None) in the scope's namespaces and about its nodes. Other scenarios'
    Events on the shared cluster are not the test's."""
    if ns:
        return get_json("events", "-n", ns, "--field-selector", f"reason={reason}")["items"]
    out = []
    for n in (NS, NS_EXCLUDED):
        out += get_json("events", "-n", n, "--field-selector", f"reason={reason}")["items"]
    return out + [e for e in get_json("events", "-A", "--field-selector",
                                      f"reason={reason},involvedObject.kind=Node")["items"]
                  if e["involvedObject"].get("name") in (BARE, RESERVED)]


# ---------------------------------------------------------------- checks


def check_no_duplicate_events():
    """At most one Event per object UID, with count 1, for both reasons."""
    for reason in (REASON, NODE_REASON):
        seen = {}
        for e in events(reason):
            if e.get("source", {}).get("component") != "nodeguard":
                continue
            uid = e["involvedObject"].get("uid", "")
            if uid in seen:
                fail(f"two {reason} Events for {e['involvedObject']['name']}: "
                     f"{seen[uid]} and {e['metadata']['name']}")
            seen[uid] = e["metadata"]["name"]
            if e.get("count", 1) != 1:
                fail(f"{reason} Event {e['metadata']['name']} repeated: count {e['count']}")


def pod_outputs_match(ctl, annotate=True):
    """Checks Events, annotations, status and metrics against expected_state()."""
    problems = []
    state = expected_state()
    flagged = {name: want for name, (uid, want) in state.items() if want}

    # Annotations.
    for name, p in live_pods(NS).items():
        have = p["metadata"].get("annotations", {}).get(ANNOTATION, "")
        want = state[name][1] if annotate else ""
        if have != want:
            problems.append(f"annotation of {name}: {have!r}, want {want!r}")
    for name, p in live_pods(NS_EXCLUDED).items():
        if ANNOTATION in p["metadata"].get("annotations", {}):
            problems.append(f"excluded pod {name} annotated")

    # Events: exactly one per flagged pod UID, naming its findings.
    by_uid = {}
    for e in events(REASON, NS):
        by_uid.setdefault(e["involvedObject"].get("uid"), []).append(e)
    for name, (uid, want) in state.items():
        got = by_uid.get(uid, [])
        if want and len(got) != 1:
            problems.append(f"{len(got)} Events for flagged pod {name}, want 1")
        if not want and got:
            problems.append(f"Event for clean pod {name}")
        for e in got:
            if e["type"] != "Warning":
                problems.append(f"Event of {name} is {e['type']}")
            for part in want.split("; "):
                cname, fields = part.split(": ")
                text = ("init container " + cname[5:] if cname.startswith("init:")
                        else "container " + cname) + ": " + fields.replace(",", ", ")
                if text not in e["message"]:
                    problems.append(f"Event of {name} lacks {text!r}: {e['message']!r}")
    if events(REASON, NS_EXCLUDED):
        problems.append("Events in the excluded namespace")

    # Status.
    st = get_json("nhp", POLICY).get("status", {})
    rh = st.get("resourceHygiene", {})
    ns_counts = {n["namespace"]: n["pods"] for n in rh.get("namespaces", [])}
    if ns_counts.get(NS, 0) != len(flagged):
        problems.append(f"status counts {ns_counts.get(NS, 0)} pods in {NS}, want {len(flagged)}")
    if NS_EXCLUDED in ns_counts:
        problems.append("status lists the excluded namespace")
    if st.get("podsFlagged", 0) < len(flagged):
        problems.append(f"status.podsFlagged {st.get('podsFlagged')} < {len(flagged)}")
    examples = {e["name"]: e.get("findings", "") for e in rh.get("examplePods", [])
                if e["namespace"] == NS}
    if examples != flagged:
        problems.append(f"status examples {examples}, want {flagged}")

    # Metrics: pods lacking each field.
    for field in FIELDS:
        want = sum(1 for f in flagged.values() if field in f)
        have = ctl.series("nodeguard_pods_missing_resources",
                          {"policy": POLICY, "namespace": NS, "resource": field})
        if (have or 0) != want:
            problems.append(f"metric {field}: {have}, want {want}")
    if f'namespace="{NS_EXCLUDED}"' in ctl.metrics():
        problems.append("metrics for the excluded namespace")
    return not problems, "\n".join(problems)


# ---------------------------------------------------------------- subcommands


def crd_established(name):
    out = kubectl("get", "crd", name, "-o", "json", check=False)
    if out.returncode != 0:
        return False, out.stderr
    conditions = {c["type"]: c["status"]
                  for c in json.loads(out.stdout).get("status", {}).get("conditions", [])}
    return conditions.get("Established") == "True", str(conditions)


class Setup:
    """The step's scope hyg-<step> and its objects: its node (BARE) and one
    more with reserves (RESERVED), the namespaces NS and NS_EXCLUDED with a
    mix of pods and the Deployment `web`, all on the scope's nodes, and the
    policy. Removes all of it at the end, also after a failure."""

    def __init__(self, step):
        self.name = f"hyg-{step}"
        self.scope = ng.Scope(self.name, nodes=1)

    def __enter__(self):
        global SCOPE, POLICY, NS, NS_EXCLUDED, BARE, RESERVED
        ng.ensure_crd()
        remove_scope_leftovers(self.name)
        self.scope.__enter__()
        SCOPE = self.scope
        POLICY, NS, NS_EXCLUDED = self.name, self.scope.namespace, f"{self.name}-excluded"
        BARE, RESERVED = self.scope.nodes[0], f"{self.name}-reserved-01"
        try:
            self.setup()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def setup(self):
        sim("create-nodes", "1", "--prefix", f"{self.name}-reserved-", "--reserve",
            "--label", f"{ng.WATCH_FILTER_LABEL}={self.name}")
        kubectl("create", "namespace", NS_EXCLUDED)
        apply(policy())
        for p in [
            pod(NS, "none", [container("app")]),
            pod(NS, "requests-only", [container("app", requests={"cpu": "100m", "memory": "64Mi"})]),
            pod(NS, "limits-only", [container("app", limits={"memory": "64Mi"})]),
            pod(NS, "all-set", [container("app", **ALL_SET)]),
            pod(NS, "init-without", [container("app", **ALL_SET)], init=[container("setup")]),
            pod(NS_EXCLUDED, "none", [container("app")]),
        ]:
            apply(p)
        apply(web_deployment({}))

        def all_scheduled():
            pending = [n for ns in (NS, NS_EXCLUDED) for n, p in live_pods(ns).items()
                       if not p["spec"].get("nodeName")]
            count = len(live_pods(NS))
            return count == 7 and not pending, f"{count} pods in {NS}; unscheduled: {pending}"

        wait_for("the test pods to be scheduled", all_scheduled)
        say(f"scope {self.name} set up: nodes {BARE}, {RESERVED}; namespaces {NS}, {NS_EXCLUDED}")

    def __exit__(self, kind, value, tb):
        global SCOPE
        try:
            # What ng.Scope does not know of; it removes the rest (the policy,
            # the namespace, both nodes: they carry its label).
            kubectl("delete", "namespace", NS_EXCLUDED, "--ignore-not-found", "--wait=false",
                    check=False)
            remove_node_events(self.name)
            self.scope.__exit__(kind, value, tb)
        finally:
            SCOPE = None
        return False


def remove_node_events(scope_name):
    for node in (f"{scope_name}-01", f"{scope_name}-reserved-01"):
        kubectl("delete", "events", "-n", "default", "--field-selector",
                f"involvedObject.name={node},reason={NODE_REASON}", "--ignore-not-found",
                check=False)


def remove_scope_leftovers(name, scope_too=False):
    """Removes what a killed step left of scope `name` beyond what ng.Scope
    removes itself on entry and exit (the excluded namespace, the nodes'
    Events), and with scope_too the rest as well (ng.Scope's cleanup).
    Touches nothing outside the scope."""
    kubectl("delete", "namespace", f"{name}-excluded", "--ignore-not-found", "--wait=true",
            "--timeout=120s", check=False)
    remove_node_events(name)
    if scope_too:
        ng.Scope(name).cleanup()


def cmd_pods():
    with Controller("pods") as ctl:
        wait_for("findings in Events, annotations, status and metrics",
                 lambda: pod_outputs_match(ctl))
        state = expected_state()
        flagged = sorted(n for n, (_, want) in state.items() if want)
        if len(flagged) != 6:  # The 4 fixed ones and web's 2 replicas.
            fail(f"want 6 flagged pods, got {flagged}")
        check_no_duplicate_events()
    say(f"flagged exactly {flagged}")


def cmd_nodes():
    with Controller("nodes") as ctl:
        def flagged():
            st = get_json("nhp", POLICY).get("status", {})
            nodes = st.get("nodesWithoutSystemReserve", [])
            names = [e["involvedObject"]["name"] for e in events(NODE_REASON)]
            ok = (BARE in nodes and RESERVED not in nodes and names.count(BARE) == 1
                  and RESERVED not in names
                  and ctl.series("nodeguard_nodes_without_system_reserve",
                                 {"policy": POLICY}) == 1)
            return ok, f"status {nodes}; Events on {names}"

        wait_for(f"{BARE} flagged and {RESERVED} not", flagged)
        message = [e for e in events(NODE_REASON) if e["involvedObject"]["name"] == BARE][0]
        if "allocatable CPU equals capacity" not in message["message"]:
            fail(f"NoSystemReserve message: {message['message']!r}")
        check_no_duplicate_events()
    say(f"{BARE} flagged, {RESERVED} not")


def cmd_fix_deployment():
    with Controller("fix") as ctl:
        wait_for("the initial findings", lambda: pod_outputs_match(ctl))
        old = {p["metadata"]["uid"] for n, p in live_pods(NS).items() if n.startswith("web-")}
        apply(web_deployment(ALL_SET))

        def rolled_out():
            pods = {n: p for n, p in live_pods(NS).items() if n.startswith("web-")}
            uids = {p["metadata"]["uid"] for p in pods.values()}
            clean = all(not findings_of(p) for p in pods.values())
            # Old pods gone from the API, not just terminating.
            all_web = [p for p in get_json("pods", "-n", NS, "-l", "app=web")["items"]]
            return (len(pods) == 2 and not (uids & old) and clean and len(all_web) == 2,
                    f"web pods {sorted(pods)}; {len(all_web)} in total")

        wait_for("web's new pods, with resources", rolled_out, timeout=120)
        wait_for("web's findings to clear everywhere", lambda: pod_outputs_match(ctl))
        for e in events(REASON, NS):
            if e["involvedObject"]["name"].startswith("web-") and \
                    e["involvedObject"]["uid"] not in old:
                fail(f"an Event for a fixed web pod: {e['message']}")
        if ctl.series("nodeguard_pods_missing_resources",
                      {"policy": POLICY, "namespace": NS, "resource": "requests.cpu"}) != 3:
            fail("requests.cpu metric is not 3 after the fix")
        check_no_duplicate_events()
    say("fixing the Deployment cleared its findings")


def cmd_policy_report():
    created = kubectl("get", "crd", REPORT_CRD_NAME, check=False).returncode != 0
    if created:
        kubectl("apply", "-f", REPORT_CRD)
        wait_for("the PolicyReport CRD", lambda: crd_established(REPORT_CRD_NAME))
    try:
        with Controller("report") as ctl:
            def report_matches():
                ok, detail = pod_outputs_match(ctl)
                if not ok:
                    return False, detail
                out = kubectl("get", "policyreports.wgpolicyk8s.io", "-n", NS,
                              f"nodeguard-{POLICY}", "-o", "json", check=False)
                if out.returncode != 0:
                    return False, out.stderr
                report = json.loads(out.stdout)
                want = set()
                for name, (uid, findings) in expected_state().items():
                    for field in FIELDS:
                        if field in findings:
                            want.add((name, "require-" + field.replace(".", "-")))
                have = {(r["resources"][0]["name"], r["rule"]) for r in report.get("results", [])}
                fails = report.get("summary", {}).get("fail")
                return (have == want and fails == len(want),
                        f"results {sorted(have)}, want {sorted(want)}; summary.fail {fails}")

            wait_for("the PolicyReport of the namespace", report_matches)
            if kubectl("get", "policyreports.wgpolicyk8s.io", "-n", NS_EXCLUDED,
                       "-o", "name").stdout.strip():
                fail("a PolicyReport in the excluded namespace")
            check_no_duplicate_events()
    finally:
        if created:
            kubectl("delete", "crd", REPORT_CRD_NAME, "--ignore-not-found")
    say("PolicyReport lists exactly the findings")


def cmd_restart():
    def snapshot():
        return sorted((e["metadata"]["namespace"], e["metadata"]["name"], e.get("count", 1))
                      for reason in (REASON, NODE_REASON) for e in events(reason))

    with Controller("restart-1") as ctl:
        wait_for("findings", lambda: pod_outputs_match(ctl))
    before = snapshot()
    # Without annotations, only the Events themselves tell a new process what
    # was reported.
    apply(policy(annotate=False))
    def no_event_creates(ctl):
        # The deterministic Event names would turn a second create into
        # AlreadyExists (no duplicate either); this checks that a new process
        # knows from the existing Events not to try at all.
        for series, labels in (("nodeguard_hygiene_writes_total", {"kind": "event"}),
                               ("nodeguard_hygiene_writes_total", {"kind": "node_event"}),
                               ("nodeguard_api_requests_total", {"verb": "create", "code": "409"})):
            value = ctl.series(series, labels)
            if value:
                fail(f"{series}{labels} is {value} after a restart, want none")

    with Controller("restart-2") as ctl:
        wait_for("annotations removed, findings kept",
                 lambda: pod_outputs_match(ctl, annotate=False))
        time.sleep(3)  # Let any (wrong) Event reach the API server.
        no_event_creates(ctl)
    with Controller("restart-3") as ctl:
        wait_for("findings re-evaluated by the new process",
                 lambda: pod_outputs_match(ctl, annotate=False))
        time.sleep(3)
        no_event_creates(ctl)
    after = snapshot()
    if before != after:
        fail(f"Events changed across restarts:\nbefore {before}\nafter  {after}")
    check_no_duplicate_events()
    say(f"{len(after)} Events, none repeated across 3 starts")


def cmd_cleanup():
    for step in STEPS:
        remove_scope_leftovers(f"hyg-{step}", scope_too=True)
    say("cleaned up")


def main():
    global ARGS
    ARGS = ng.suite_arguments(__doc__, STEPS + ["cleanup"])
    ng.exit_on_sigterm()  # CTest's timeout: the step's cleanup still runs.
    try:
        if "KUBECONFIG" not in os.environ:
            fail("set KUBECONFIG to the local cluster's kubeconfig")
        if ARGS.command == "cleanup":
            cmd_cleanup()
            return
        step = {"pods": cmd_pods, "nodes": cmd_nodes, "fix-deployment": cmd_fix_deployment,
                "policy-report": cmd_policy_report, "restart": cmd_restart}[ARGS.command]
        with Setup(ARGS.command):
            step()
    except ng.TestFailure as e:
        print("FAIL: " + str(e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
