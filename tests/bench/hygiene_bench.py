#!/usr/bin/env python3
"""Benchmark of resource hygiene (issue 10) on the local cluster: the initial
evaluation of every pod when the controller starts, and the steady-state cost
per pod event.

Setup: N simulated nodes (reserving resources for the system, so only pods
are flagged) labelled for the policy, and P pods created already bound
(spec.nodeName, which skips the scheduler; kwok reports them Running) over K
namespaces, with the mix of hygiene_bench.cpp: 20 % BestEffort, 20 % an app
container with nothing set beside a sidecar with everything set, 20 %
requests only, 25 % all set, 15 % an init container without resources. The
policy (the CRD's defaults: requests cpu and memory, limits memory, init
containers included) flags 75 % of them.

Measured, with the real controller:
  1. status only (annotatePods and emitEvents off: no writes to pods): from
     the controller's start to the policy status reporting the full count of
     flagged pods; the controller's own "initial evaluation" log line; its CPU
     seconds and peak RSS (VmHWM) at that point.
  2. with annotations and Events (a restart with the policy changed): the
     same, plus the time until every annotation and Event is written (the
     controller's nodeguard_hygiene_writes_total against the expected count),
     which the writes' round trips bound (see docs/performance.md).
  3. steady state, the controller settled: idle CPU over 20 s, then C pods
     created and C old pods deleted at R per second each; controller CPU per
     1,000 pod watch events (this process watches all pods, as the
     controller does) less the idle rate, and per new flagged pod the latency
     from its ADDED watch event to (a) its MissingResourceRequirements Event
     and (b) the MODIFIED event carrying its annotation (p50/p90/p99/max).

Usage: hygiene_bench.py --nodeguard PATH --workdir DIR [--nodes N] [--pods P]
                        [--namespaces K] [--churn C] [--churn-rate R]
                        [--creators T] [--no-cleanup]
(and any option in $NODEGUARD_HYGIENE_BENCH_ARGS, read at run time).
Defaults: 50 nodes, 1,500 pods, 10 namespaces, churn 300 at 10/s.
Environment: KUBECONFIG and NODEGUARD_SIM, as the e2e tests. Standard library
only; the controller helpers are the density e2e suite's, the API client,
raw watch and pod posting density_bench's and benchlib's.
"""

import json
import os
import re
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e", "density"))
import density_e2e_test as e2e  # noqa: E402
import benchlib  # noqa: E402
import density_bench as db  # noqa: E402

NODE_PREFIX = "hygb-"
NODE_LABEL_VALUE = "hygiene-bench"
NS_PREFIX = "hygb-"
POLICY = "hygiene-bench"
ANNOTATION = "nodeguard.io/resource-findings"
REASON = "MissingResourceRequirements"

ALL_SET = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "16Mi"}}
REQUESTS_ONLY = {"requests": {"cpu": "10m", "memory": "16Mi"}}
# (kind, percent, flagged by the policy)
MIX = [("best-effort", 20, True), ("none-with-sidecar", 20, True), ("requests-only", 20, True),
       ("all-set", 25, False), ("init-without", 15, True)]


def kind_of(i):
    slot = i % 100
    for kind, percent, flagged in MIX:
        if slot < percent:
            return kind, flagged
        slot -= percent
    raise AssertionError("MIX adds up to 100")


def container(name, resources):
    c = {"name": name, "image": "registry.k8s.io/pause:3.9"}
    if resources:
        c["resources"] = resources
    return c


def pod_body(i, namespace, node, prefix="pod"):
    kind, _ = kind_of(i)
    app, sidecar = {"best-effort": (None, None), "none-with-sidecar": (None, ALL_SET),
                    "requests-only": (REQUESTS_ONLY, REQUESTS_ONLY),
                    "all-set": (ALL_SET, ALL_SET), "init-without": (ALL_SET, ALL_SET)}[kind]
    spec = {"nodeName": node, "terminationGracePeriodSeconds": 0,
            "containers": [container("app", app), container("sidecar", sidecar)]}
    if kind == "init-without":
        spec["initContainers"] = [container("setup", None)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{i:06d}", "namespace": namespace,
                         "labels": {"app": f"app-{i % 50}", "mix": kind}},
            "spec": spec}


def policy_doc(writes):
    return {"apiVersion": "nodeguard.io/v1alpha1", "kind": "NodeHealthPolicy",
            "metadata": {"name": POLICY},
            "spec": {"nodeSelector": {"matchLabels": {e2e.NODE_LABEL: NODE_LABEL_VALUE}},
                     "resourceHygiene": {
                         "requiredRequests": ["cpu", "memory"],
                         "requiredLimits": ["memory"],
                         "includeInitContainers": True,
                         "excludeNamespaces": ["kube-system"],
                         "annotatePods": writes,
                         "emitEvents": writes,
                         "flagNodesWithoutSystemReserve": True}}}


def policy_status():
    out = e2e.kubectl("get", "nhp", POLICY, "-o", "json", check=False)
    return json.loads(out.stdout).get("status", {}) if out.returncode == 0 else {}


def delete_policy():
    """Deletes the policy while no controller runs (its finalizer removed)."""
    if e2e.kubectl("get", "nhp", POLICY, check=False).returncode == 0:
        e2e.kubectl("patch", "nhp", POLICY, "--type=merge", "-p",
                    '{"metadata":{"finalizers":null}}', check=False)
        e2e.kubectl("delete", "nhp", POLICY, "--ignore-not-found", "--wait=true",
                    "--timeout=60s")


def peak_rss_mb(ctl):
    with open(f"/proc/{ctl.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def log_seconds(ctl, message):
    """The `seconds` field of the controller's last log line with `message`."""
    with open(ctl.log_path) as f:
        lines = [line for line in f if message in line]
    if not lines:
        return None
    found = re.search(r"\bseconds=([0-9.]+)", lines[-1])
    return float(found.group(1)) if found else None


def writes(ctl, kind):
    return ctl.series("nodeguard_hygiene_writes_total", {"kind": kind}) or 0


def initial_run(args, ctl, label, expected, with_writes):
    """Starts the controller against the filled cluster and measures its
    initial evaluation; leaves it running."""
    e2e.apply(policy_doc(with_writes))
    started = time.monotonic()
    ctl.start()
    leading = time.monotonic() - started
    counted = [None]

    def full_counts():
        st = policy_status()
        flagged = st.get("podsFlagged")
        if flagged == expected and counted[0] is None:
            counted[0] = time.monotonic() - started
        return flagged == expected, f"podsFlagged {flagged}, want {expected}"

    e2e.wait_for("the policy status to count every flagged pod", full_counts,
                 timeout=max(300, expected // 10), interval=0.5)
    cpu_at_count = ctl.cpu_seconds()
    result = {"label": label, "leading_s": leading, "status_s": counted[0],
              "cpu_at_status_s": cpu_at_count}
    if with_writes:
        def written():
            a, e = writes(ctl, "annotation"), writes(ctl, "event")
            return a >= expected and e >= expected, f"{a:.0f} annotations, {e:.0f} Events"

        e2e.wait_for("every annotation and Event to be written", written,
                     timeout=max(600, expected // 5), interval=1)
        result["writes_s"] = time.monotonic() - started
    # The controller's own measure, from its start of the first EnqueueAll.
    deadline = time.monotonic() + 30
    while log_seconds(ctl, "initial evaluation of every pod done") is None and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    result["log_s"] = log_seconds(ctl, "initial evaluation of every pod done")
    time.sleep(3)  # The last status flush.
    result["cpu_s"] = ctl.cpu_seconds()
    result["rss_mb"] = peak_rss_mb(ctl)
    result["namespaces"] = len(policy_status().get("resourceHygiene", {}).get("namespaces", []))
    e2e.say(f"{label}: {result}")
    return result


class Latency:
    """Per new pod: arrival of its ADDED event, of the MODIFIED event with the
    findings annotation, and of its MissingResourceRequirements Event."""

    def __init__(self, api, prefix):
        self.prefix = prefix
        self.lock = threading.Lock()
        self.added, self.annotated, self.evented = {}, {}, {}
        self.pods = db.RawWatch(api, "/api/v1/pods", self.on_pod)
        selector = urllib.parse.quote(f"reason={REASON}")
        self.events = db.RawWatch(api, f"/api/v1/events?fieldSelector={selector}", self.on_event)

    def start(self):
        self.pods.start()
        self.events.start()

    def stop(self):
        self.pods.stop()
        self.events.stop()

    def on_pod(self, kind, pod, now):
        meta = pod["metadata"]
        if not meta["name"].startswith(self.prefix):
            return
        uid = meta["uid"]
        with self.lock:
            if kind == "ADDED":
                self.added.setdefault(uid, now)
            if ANNOTATION in (meta.get("annotations") or {}):
                self.annotated.setdefault(uid, now)

    def on_event(self, kind, event, now):
        if kind == "ADDED":
            with self.lock:
                self.evented.setdefault(event["involvedObject"].get("uid"), now)

    def latencies_ms(self, which):
        with self.lock:
            done = dict(self.annotated if which == "annotation" else self.evented)
            added = dict(self.added)
        return [(t - added[uid]) * 1000 for uid, t in done.items() if uid in added]


def delete_pods(api, names, rate):
    """DELETEs (namespace, name) pairs at `rate` per second from one thread."""
    conn = api.connection()
    started = time.monotonic()
    for k, (ns, name) in enumerate(names):
        delay = started + k / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for attempt in range(3):
            try:
                conn.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}?gracePeriodSeconds=0")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                conn = api.connection()
    conn.close()


def describe(values):
    if not values:
        return "none measured"
    return (f"p50 {db.percentile(values, 50):.0f}  p90 {db.percentile(values, 90):.0f}  "
            f"p99 {db.percentile(values, 99):.0f}  max {max(values):.0f} ms over {len(values)}")


def main():
    parser = benchlib.argument_parser(
        __doc__, nodes=50,
        no_cleanup_help="leave nodes, namespaces and pods (a cluster of the benchmark's own)")
    parser.add_argument("--pods", type=int, default=1500)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--churn", type=int, default=300)
    parser.add_argument("--churn-rate", type=float, default=10.0)
    args = benchlib.parse_arguments(parser, "NODEGUARD_HYGIENE_BENCH_ARGS")
    e2e.ARGS = args
    e2e.KUBECTL = e2e.kubectl_path()
    api = db.Api()
    width = 3 if args.nodes > 99 else 2
    nodes = [f"{NODE_PREFIX}{i:0{width}d}" for i in range(1, args.nodes + 1)]
    namespaces = [f"{NS_PREFIX}{k:02d}" for k in range(args.namespaces)]
    expected = sum(1 for i in range(args.pods) if kind_of(i)[1])
    ctl = e2e.Controller("hygiene-bench", args.controller_arg)
    latency = Latency(api, "churn-")
    try:
        e2e.kubectl("apply", "--server-side", "--force-conflicts", "-f", e2e.CRD)
        e2e.kubectl("wait", "--for=condition=Established",
                    "crd/nodehealthpolicies.nodeguard.io", "--timeout=60s")
        started = time.monotonic()
        e2e.sim("create-nodes", str(args.nodes), "--prefix", NODE_PREFIX, "--reserve",
                "--timeout", str(max(120, args.nodes)))
        for i in range(0, len(nodes), 100):
            e2e.kubectl("label", "--overwrite", "node", *nodes[i:i + 100],
                        f"{e2e.NODE_LABEL}={NODE_LABEL_VALUE}")
        e2e.say(f"{args.nodes} nodes ready in {time.monotonic() - started:.0f}s")
        for ns in namespaces:
            if e2e.kubectl("get", "namespace", ns, check=False).returncode != 0:
                e2e.kubectl("create", "namespace", ns)

        def body_of(i):
            ns = namespaces[i % len(namespaces)]
            return ns, pod_body(i, ns, nodes[i % len(nodes)])

        seconds, errors = benchlib.post_pods(api, args.pods, args.creators, body_of)
        if errors:
            e2e.fail(f"creating pods: {errors}")
        e2e.say(f"{args.pods} pods created bound in {seconds:.0f}s "
                f"({args.pods / seconds:.0f}/s); {expected} should be flagged")

        def running():
            out = e2e.kubectl("get", "pods", "-A", "--field-selector",
                              "status.phase!=Running", "-o", "name", timeout=300)
            left = [n for n in out.stdout.split() if n.startswith("pod/pod-")]
            return not left, f"{len(left)} pods not Running yet"

        e2e.wait_for("kwok to report every pod Running", running,
                     timeout=max(300, args.pods // 20), interval=10)

        # 1. Status only.
        status_only = initial_run(args, ctl, "status only", expected, with_writes=False)
        ctl.stop()
        # 2. Annotations and Events, for a new policy (no status to continue from).
        delete_policy()
        full = initial_run(args, ctl, "with writes", expected, with_writes=True)

        # 3. Steady state.
        time.sleep(5)
        idle_cpu, idle_started = ctl.cpu_seconds(), time.monotonic()
        time.sleep(20)
        idle_rate = (ctl.cpu_seconds() - idle_cpu) / (time.monotonic() - idle_started)
        latency.start()
        time.sleep(2)  # Both watches open.
        writes_before = {k: writes(ctl, k) for k in ("annotation", "event")}
        cpu_before, churn_started = ctl.cpu_seconds(), time.monotonic()
        events_before = latency.pods.events
        victims = [body_of(i) for i in range(args.churn)]
        deleter = threading.Thread(
            target=delete_pods,
            args=(api, [(ns, p["metadata"]["name"]) for ns, p in victims], args.churn_rate))
        deleter.start()

        def churn_body(i):
            ns = namespaces[i % len(namespaces)]
            return ns, pod_body(i, ns, nodes[i % len(nodes)], prefix="churn")

        seconds, errors = benchlib.post_pods(api, args.churn, 4, churn_body, rate=args.churn_rate)
        deleter.join()
        if errors:
            e2e.fail(f"creating churn pods: {errors}")
        churn_flagged = sum(1 for i in range(args.churn) if kind_of(i)[1])

        def churn_done():
            a = writes(ctl, "annotation") - writes_before["annotation"]
            e = writes(ctl, "event") - writes_before["event"]
            return a >= churn_flagged and e >= churn_flagged, \
                f"{a:.0f} annotations, {e:.0f} Events of {churn_flagged}"

        e2e.wait_for("the churn pods' annotations and Events", churn_done, timeout=300)
        time.sleep(5)  # The deletions' last watch events and the status rebuild.
        cpu = ctl.cpu_seconds() - cpu_before
        elapsed = time.monotonic() - churn_started
        idle = idle_rate * elapsed
        events = latency.pods.events - events_before
        if latency.pods.error or latency.events.error:
            e2e.fail(f"watch failed: {latency.pods.error or latency.events.error}")
        final_status = policy_status().get("podsFlagged")
        annotation_ms = latency.latencies_ms("annotation")
        event_ms = latency.latencies_ms("event")
        raw = os.path.join(args.workdir, f"hygiene-bench-{args.nodes}x{args.pods}.json")
        with open(raw, "w") as f:
            json.dump({"args": vars(args), "status_only": status_only, "with_writes": full,
                       "annotation_ms": annotation_ms, "event_ms": event_ms}, f, indent=1)

        print(f"RESULT nodes={args.nodes} pods={args.pods} namespaces={args.namespaces} "
              f"flagged={expected}")
        for r in (status_only, full):
            line = (f"  {r['label']}: leading after {r['leading_s']:.1f}s; status counts all "
                    f"{expected} flagged pods after {r['status_s']:.1f}s (controller log: initial "
                    f"evaluation {(r['log_s'] or float('nan')):.2f}s)")
            if "writes_s" in r:
                line += f"; all {expected} Events + {expected} annotations written after " \
                        f"{r['writes_s']:.1f}s"
            print(line)
            print(f"    CPU {r['cpu_at_status_s']:.2f}s at the full count, {r['cpu_s']:.2f}s at "
                  f"the end; peak RSS {r['rss_mb']:.1f} MB; namespaces in status "
                  f"{r['namespaces']}")
        print(f"  steady state: {args.churn} pods created and {args.churn} deleted at "
              f"{args.churn_rate:g}/s each in {elapsed:.0f}s; {events} pod watch events")
        print(f"    controller CPU {cpu:.2f}s ({idle:.2f}s of it at the idle rate "
              f"{idle_rate * 1000:.1f} ms/s) = {1000 * (cpu - idle) / max(1, events):.3f} "
              f"CPU-s per 1,000 pod events ({1000 * cpu / max(1, events):.3f} with the idle "
              f"share)")
        print(f"    new flagged pod, ADDED -> its Event (ms): {describe(event_ms)}")
        print(f"    new flagged pod, ADDED -> its annotation (ms): {describe(annotation_ms)}")
        print(f"    podsFlagged at the end: {final_status} (want {expected}: the churn deletes and re-creates the same mix)")
        print(f"  raw data: {raw}")
        sys.stdout.flush()
        if len(annotation_ms) < churn_flagged or len(event_ms) < churn_flagged:
            e2e.fail(f"latency measured for {len(annotation_ms)} annotations and "
                     f"{len(event_ms)} Events of {churn_flagged} flagged churn pods")
    except e2e.TestFailure as e:
        print("FAIL: " + str(e), file=sys.stderr, flush=True)
        print(ctl.tail(40), file=sys.stderr)
        sys.exit(1)
    finally:
        latency.stop()
        if not args.no_cleanup:
            e2e.kubectl("delete", "nhp", POLICY, "--ignore-not-found", "--wait=true",
                        "--timeout=120s", check=False, timeout=200)
        try:
            ctl.stop(check=False)
        except e2e.TestFailure:
            pass
        if not args.no_cleanup:
            e2e.kubectl("delete", "namespace", *namespaces, "--ignore-not-found", "--wait=true",
                        "--timeout=900s", check=False, timeout=1000)
            e2e.sim("delete-nodes", "--prefix", NODE_PREFIX)
        api.close()


if __name__ == "__main__":
    main()
