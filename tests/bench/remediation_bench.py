#!/usr/bin/env python3
"""Benchmark of PLEG remediation (issue 8) on the local cluster, with the real
controller, kube-scheduler, kube-controller-manager and kwok.

Measures:
  - detection-to-cordon latency at scale: N simulated nodes (default 1,000)
    each holding P pods (default 30, created already bound), all selected by
    one NodeHealthPolicy whose rule is Ready=False with the PLEG message for
    duration 0s (the shortest the API accepts, so nothing is subtracted) and
    maxConcurrent 1. One node at a time is made PLEG-sick the way
    tests/cluster/sim does it (kwok then writes Ready=False with the kubelet's
    message); the latency runs from the node watch event carrying that
    condition to the node watch event carrying spec.unschedulable=true. Both
    events come over one watch in this process, on one clock. The sample
    node is then healed, and the next sample starts only once the controller
    has wound the remediation down (Cancelled, uncordoned). Reported: p50,
    p90, p99, max, and the controller's CPU (/proc/PID/stat, over the idle
    minute before and over the samples) and RSS (VmRSS, VmHWM).
    The latency policy drains only pods labelled nodeguard-bench/evict=true,
    which no background pod carries, so its drains evict nothing and the
    30,000 pods stay put.
  - drain throughput: a node holding D pods (default 110, the kubelet's
    max-pods) of a Deployment, under a second policy that drains everything.
    Its node turns unhealthy through a node-problem-detector style condition
    (NodeguardBenchDrain=True), not PLEG: a PLEG-sick node syncs no pods, so
    its evictions would never finish (they wait for the kubelet's recovery).
    From its cordon (node watch) to the DELETED watch event of its last
    original pod: pods/s. Twice: without a PodDisruptionBudget, and with one
    allowing --pdb-max-unavailable (default 10) disruptions at a time, whose
    evictions beyond that get 429 and are retried (every 5 s by the drainer)
    once the replacement pods are Ready on spare nodes.

Usage: remediation_bench.py --nodeguard PATH --workdir DIR [--nodes N]
           [--pods-per-node P] [--samples S] [--drain-pods D]
           [--pdb-max-unavailable U] [--creators K] [--skip-drain]
           [--no-cleanup]
(and any of those options in $NODEGUARD_REMEDIATION_BENCH_ARGS, read at run
time). Environment: KUBECONFIG and NODEGUARD_SIM, as the e2e tests. Standard
library only; the API client, watch and percentile are density_bench's, the
controller process and kubectl helpers the density e2e suite's.
"""

import datetime
import json
import os
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
import density_bench as db  # noqa: E402

e2e = db.e2e

NODE_PREFIX = "remb-"
DRAIN_PREFIX = "rembd-"  # 01, 02: drained nodes; the rest: spares for the replacements.
DRAIN_SPARES = 4
NS = "rem-bench"
DRAIN_NS = "rem-bench-drain"
GROUP_KEY = "nodeguard-bench/remediation"  # latency | drain: which policy selects the node.
POLICIES = {"latency": "rem-bench-latency", "drain": "rem-bench-drain"}
PLEG_MESSAGE = ("PLEG is not healthy: pleg was last seen active 3m7.629592089s ago; "
                "threshold is 3m0s")
TERMINAL = {"Succeeded", "Failed", "Cancelled"}


# The drain-throughput node turns unhealthy through a condition of this type
# (what node-problem-detector posts, e.g. KernelDeadlock), not PLEG: a
# PLEG-sick node's kubelet syncs no pods (tests/cluster/sim, as a real one),
# so its evicted pods would stay Terminating and the drain measure nothing but
# nodeguard's bounded wait. Under this condition the node stays Ready and kwok
# finalizes evictions as a healthy kubelet does.
DRAIN_CONDITION = "NodeguardBenchDrain"
PLEG_RULE = {"type": "Ready", "status": "False", "messageRegex": "PLEG is not healthy",
             "duration": "0s"}
DRAIN_RULE = {"type": DRAIN_CONDITION, "status": "True", "duration": "0s"}


def set_drain_condition(node, status):
    """Posts (status "True") or clears ("False") DRAIN_CONDITION on the node's
    status; a strategic merge by type leaves the kubelet's own conditions."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    patch = {"status": {"conditions": [{
        "type": DRAIN_CONDITION, "status": status, "reason": "Benchmark",
        "message": "remediation_bench drains this node", "lastHeartbeatTime": now,
        "lastTransitionTime": now}]}}
    e2e.kubectl("patch", "node", node, "--subresource=status", "--type=strategic",
                "-p", json.dumps(patch))


def policy(name, group, drain, rule=PLEG_RULE):
    return {
        "apiVersion": "nodeguard.io/v1alpha1", "kind": "NodeHealthPolicy",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"matchLabels": {GROUP_KEY: group}},
            "health": {"unhealthyConditions": [rule]},
            "remediation": {
                "maxConcurrent": 1,
                "maxUnhealthy": "30%",
                "actions": [],  # Cordon and drain only: the benchmark heals the node itself.
                "drain": drain,
                "actionTimeout": "10m",
                "recoveryStableFor": "0s",
                "cooldown": "1m",
            },
        },
    }


def pause_container():
    return [{"name": "app", "image": "registry.k8s.io/pause:3.9",
             "resources": {"requests": {"cpu": "1m", "memory": "1Mi"}}}]


class Observer:
    """Node watch: per node, arrival times of the first PLEG-sick version, the
    first cordoned one, and each remediation phase, after the node was armed.
    Pod watch of DRAIN_NS: when each pod first got a deletionTimestamp and
    when it was deleted."""

    def __init__(self, api):
        self.changed = threading.Condition()
        self.armed = {}  # node -> record
        self.pods = {}  # uid -> {"node", "evicted", "gone"}
        selector = urllib.parse.quote(GROUP_KEY)
        self.nodes = db.RawWatch(api, f"/api/v1/nodes?labelSelector={selector}", self.on_node)
        self.pod_watch = db.RawWatch(api, f"/api/v1/namespaces/{DRAIN_NS}/pods", self.on_pod)

    def start(self):
        self.nodes.start()
        self.pod_watch.start()

    def stop(self):
        self.nodes.stop()
        self.pod_watch.stop()

    def errors(self):
        return self.nodes.error or self.pod_watch.error

    def arm(self, name):
        with self.changed:
            self.armed[name] = {"sick": None, "cordoned": None, "uncordoned": None,
                                "phases": [], "terminal": None}

    def record(self, name):
        with self.changed:
            return dict(self.armed[name])

    def on_node(self, kind, node, now):
        name = node["metadata"]["name"]
        with self.changed:
            rec = self.armed.get(name)
            if rec is None:
                return
            ready = benchlib.condition(node, "Ready")
            sick = (ready.get("status") == "False" and ready.get("message") == PLEG_MESSAGE) \
                or benchlib.condition(node, DRAIN_CONDITION).get("status") == "True"
            phase = benchlib.mark_remediation(rec, node, now, sick)
            if phase and (not rec["phases"] or rec["phases"][-1][0] != phase):
                rec["phases"].append((phase, now))
            if phase in TERMINAL and rec["sick"] is not None and rec["terminal"] is None:
                rec["terminal"] = now
            self.changed.notify_all()

    def on_pod(self, kind, pod, now):
        uid = pod["metadata"]["uid"]
        with self.changed:
            rec = self.pods.setdefault(uid, {"node": None, "evicted": None, "gone": None})
            rec["node"] = pod.get("spec", {}).get("nodeName") or rec["node"]
            if rec["evicted"] is None and pod["metadata"].get("deletionTimestamp"):
                rec["evicted"] = now
            if kind == "DELETED":
                rec["gone"] = now
            self.changed.notify_all()

    def wait(self, what, predicate, timeout):
        """Until predicate() (called under the lock) is true; fails after timeout."""
        benchlib.wait_on(self.changed, what, predicate, timeout, self.errors, e2e.fail)


def count_pods(namespace, selector=None, field=None):
    args = ["get", "pods", "-n", namespace, "-o", "name"]
    if selector:
        args += ["-l", selector]
    if field:
        args += ["--field-selector", field]
    return len(e2e.kubectl(*args, timeout=300).stdout.split())


def proc_status(pid):
    """VmRSS and VmHWM of a process in MiB."""
    return {key: value / 2**20
            for key, value in benchlib.proc_status(pid, ("VmRSS", "VmHWM")).items()}


def label_nodes(names, *labels):
    for i in range(0, len(names), 100):
        e2e.kubectl("label", "--overwrite", "node", *names[i:i + 100], *labels)


def wait_wound_down(observer, name, timeout=120):
    """Until the node's remediation is terminal and the node is uncordoned."""
    def done():
        rec = observer.armed[name]
        return rec["terminal"] is not None and (rec["cordoned"] is None or rec["uncordoned"])
    observer.wait(f"{name}'s remediation to wind down", done, timeout)


def latency_samples(args, observer, nodes):
    """Makes nodes PLEG-sick one at a time; returns per-node records."""
    step = max(1, len(nodes) // args.samples)
    picked = [nodes[(i * step + step // 2) % len(nodes)] for i in range(args.samples)]
    out = {}
    for name in picked:
        observer.arm(name)
        e2e.sim("pleg-sick", name, "--message", PLEG_MESSAGE, "--no-wait")
        observer.wait(f"{name} to be cordoned",
                      lambda: observer.armed[name]["cordoned"] is not None
                      and observer.armed[name]["sick"] is not None, 120)
        e2e.sim("heal", name, "--no-wait")
        wait_wound_down(observer, name)
        rec = observer.record(name)
        out[name] = rec
        e2e.say(f"  {name}: cordoned {1000 * (rec['cordoned'] - rec['sick']):.0f} ms after "
                f"the PLEG condition; phases {[p for p, _ in rec['phases']]}")
    return out


def drain_run(args, observer, ctl, target, spares, with_pdb):
    """Fills `target` with a Deployment's pods, makes it PLEG-sick and measures
    the drain. Returns a dict of results."""
    app = f"drain-{'pdb' if with_pdb else 'nopdb'}"
    pool_key = f"nodeguard-bench/pool-{app}"
    e2e.kubectl("label", "--overwrite", "node", target, f"{pool_key}=true")
    e2e.apply({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": app, "namespace": DRAIN_NS},
        "spec": {"replicas": args.drain_pods, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"nodeSelector": {pool_key: "true"},
                                       "containers": pause_container()}}}})
    if with_pdb:
        e2e.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                   "metadata": {"name": app, "namespace": DRAIN_NS},
                   "spec": {"maxUnavailable": args.pdb_max_unavailable,
                            "selector": {"matchLabels": {"app": app}}}})
    e2e.wait_for(f"{args.drain_pods} Running pods of {app} on {target}",
                 lambda: (lambda n: (n >= args.drain_pods, f"{n} Running"))(
                     count_pods(DRAIN_NS, f"app={app}",
                                f"status.phase=Running,spec.nodeName={target}")),
                 timeout=600, interval=2)
    if with_pdb:
        e2e.wait_for("the PDB to allow its disruptions",
                     lambda: (lambda s: (s.get("disruptionsAllowed") == args.pdb_max_unavailable,
                                         s))(e2e.get_json("pdb", "-n", DRAIN_NS, app)
                                             .get("status", {})), timeout=60)
    # Replacements go to the spares (the target is cordoned by then).
    e2e.kubectl("label", "--overwrite", "node", *spares, f"{pool_key}=true")
    with observer.changed:
        originals = {uid for uid, p in observer.pods.items()
                     if p["node"] == target and p["gone"] is None}
    if len(originals) != args.drain_pods:
        e2e.fail(f"the pod watch sees {len(originals)} pods on {target}, "
                 f"expected {args.drain_pods}")
    cpu_before = ctl.cpu_seconds()
    observer.arm(target)
    set_drain_condition(target, "True")
    observer.wait(f"{target}'s {len(originals)} pods to be gone",
                  lambda: all(observer.pods[u]["gone"] is not None for u in originals),
                  args.drain_timeout)
    observer.wait(f"{target} to leave Draining",
                  lambda: any(p == "AwaitingRecovery" or p in TERMINAL
                              for p, _ in observer.armed[target]["phases"]), 120)
    cpu = ctl.cpu_seconds() - cpu_before
    rec = observer.record(target)
    with observer.changed:
        pods = [dict(observer.pods[u]) for u in originals]
    set_drain_condition(target, "False")
    wait_wound_down(observer, target)
    phases = dict((p, t) for p, t in reversed(rec["phases"]))  # First arrival of each.
    gone = sorted(p["gone"] for p in pods)
    evicted = sorted(p["evicted"] for p in pods if p["evicted"] is not None)
    cordoned = rec["cordoned"]
    result = {
        "app": app, "node": target, "pods": len(pods), "pdb": with_pdb,
        "sick_to_cordon_s": cordoned - rec["sick"],
        "cordon_to_first_eviction_s": evicted[0] - cordoned if evicted else None,
        "cordon_to_last_gone_s": gone[-1] - cordoned,
        "first_to_last_eviction_s": evicted[-1] - evicted[0] if evicted else None,
        "cordon_to_drained_phase_s": (phases["AwaitingRecovery"] - cordoned
                                      if "AwaitingRecovery" in phases else None),
        "controller_cpu_s": cpu,
        "phases": [p for p, _ in rec["phases"]],
    }
    result["pods_per_s"] = len(pods) / result["cordon_to_last_gone_s"]
    if len(evicted) > 1:
        result["evictions_per_s"] = (len(evicted) - 1) / (evicted[-1] - evicted[0])
    # From the eviction (deletionTimestamp) to the deletion (kwok's part).
    lag = [p["gone"] - p["evicted"] for p in pods if p["evicted"] is not None]
    result["evicted_to_gone_p50_s"] = db.percentile(lag, 50)
    result["evicted_to_gone_max_s"] = max(lag) if lag else None
    # Deletions per second-long window after the first eviction: how even the pace is.
    if evicted:
        buckets = {}
        for t in gone:
            buckets[int(t - evicted[0])] = buckets.get(int(t - evicted[0]), 0) + 1
        result["gone_per_second"] = [buckets.get(i, 0) for i in range(max(buckets) + 1)]
    return result


def cleanup(ctl, everything):
    """Removes the policies (through the controller, which owns their
    finalizer) and, when `everything`, the namespaces and nodes."""
    for name in POLICIES.values():
        e2e.kubectl("delete", "nhp", name, "--ignore-not-found", "--wait=false", check=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
            e2e.kubectl("get", "nhp", n, check=False).returncode == 0 for n in POLICIES.values()):
        time.sleep(1)
    for name in POLICIES.values():
        if e2e.kubectl("get", "nhp", name, check=False).returncode == 0:
            e2e.kubectl("patch", "nhp", name, "--type=merge", "-p",
                        '{"metadata":{"finalizers":null}}', check=False)
    try:
        ctl.stop(check=False)
    except e2e.TestFailure:
        pass
    if not everything:
        return
    e2e.kubectl("delete", "namespace", NS, DRAIN_NS, "--ignore-not-found", "--wait=true",
                "--timeout=900s", check=False, timeout=1000)
    for prefix in (NODE_PREFIX, DRAIN_PREFIX):
        try:
            e2e.sim("delete-nodes", "--prefix", prefix)
        except e2e.TestFailure as e:
            print(f"cleanup: {e}", file=sys.stderr)


def main():
    parser = benchlib.argument_parser(
        __doc__, nodes=1000,
        no_cleanup_help="leave the nodes and pods (for a cluster torn down right after: "
                         "deleting 30,000 pods takes minutes)")
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--drain-pods", type=int, default=110)
    parser.add_argument("--pdb-max-unavailable", type=int, default=10)
    parser.add_argument("--drain-timeout", type=int, default=600,
                        help="seconds the benchmark waits for one drain")
    parser.add_argument("--skip-drain", action="store_true")
    args = benchlib.parse_arguments(parser, "NODEGUARD_REMEDIATION_BENCH_ARGS")
    e2e.ARGS = args
    width = 3 if args.nodes > 99 else 2
    nodes = [f"{NODE_PREFIX}{i:0{width}d}" for i in range(1, args.nodes + 1)]
    drain_nodes = [f"{DRAIN_PREFIX}{i:02d}" for i in range(1, 3 + DRAIN_SPARES)]
    api = db.Api()
    ctl = e2e.Controller("remediation-bench", args.controller_arg)
    observer = Observer(api)
    results = {"args": vars(args)}
    try:
        if any(e2e.kubectl("get", "nhp", n, check=False).returncode == 0
               for n in POLICIES.values()):
            e2e.fail("a previous run's policies are still there; remove them first")
        e2e.kubectl("apply", "--server-side", "--force-conflicts", "-f", e2e.CRD)
        e2e.kubectl("wait", "--for=condition=Established",
                    "crd/nodehealthpolicies.nodeguard.io", "--timeout=60s")
        started = time.monotonic()
        e2e.sim("create-nodes", str(args.nodes), "--prefix", NODE_PREFIX, "--timeout", "600")
        e2e.sim("create-nodes", str(len(drain_nodes)), "--prefix", DRAIN_PREFIX)
        label_nodes(nodes, f"{GROUP_KEY}=latency")
        label_nodes(drain_nodes[:2], f"{GROUP_KEY}=drain")
        e2e.say(f"{args.nodes} + {len(drain_nodes)} nodes ready in "
                f"{time.monotonic() - started:.0f}s")
        for ns in (NS, DRAIN_NS):
            e2e.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        total = args.nodes * args.pods_per_node
        def background_pod(i):
            return NS, {"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": f"bg-{i:06d}", "labels": {"app": "rem-bench-bg"}},
                        "spec": {"nodeName": nodes[i % args.nodes],
                                 "containers": pause_container()}}

        took, errors = benchlib.post_pods(api, total, args.creators, background_pod)
        if errors:
            e2e.fail(f"creating the background pods: {errors}")
        e2e.say(f"{total} bound pods created in {took:.0f}s ({total / took:.0f}/s)")
        e2e.wait_for("kwok to run every background pod",
                     lambda: (lambda n: (n == 0, f"{n} not Running"))(
                         count_pods(NS, field="status.phase!=Running")),
                     timeout=1800, interval=10)
        e2e.say(f"all {total} pods Running after {time.monotonic() - started:.0f}s")

        ctl.start()
        e2e.apply(policy(POLICIES["latency"], "latency",
                         {"timeout": "60s",
                          "podSelector": {"matchLabels": {"nodeguard-bench/evict": "true"}}}))
        e2e.apply(policy(POLICIES["drain"], "drain",
                         {"timeout": f"{args.drain_timeout}s", "deleteEmptyDirData": True},
                         DRAIN_RULE))

        def selected():
            st = e2e.get_json("nhp", POLICIES["latency"]).get("status", {})
            return st.get("selectedNodes") == args.nodes, st.get("selectedNodes")
        e2e.wait_for("the latency policy to select the nodes", selected, timeout=300)
        observer.start()
        time.sleep(5)  # The policies' first reconciles.
        pid = ctl.proc.pid
        idle_cpu, idle_started = ctl.cpu_seconds(), time.monotonic()
        time.sleep(30)
        idle_rate = (ctl.cpu_seconds() - idle_cpu) / (time.monotonic() - idle_started)
        mem_idle = proc_status(pid)
        e2e.say(f"controller idle: {100 * idle_rate:.2f}% of a core, RSS "
                f"{mem_idle['VmRSS']:.0f} MiB")

        cpu_before, run_started = ctl.cpu_seconds(), time.monotonic()
        samples = latency_samples(args, observer, nodes)
        run_cpu = ctl.cpu_seconds() - cpu_before
        run_time = time.monotonic() - run_started
        mem_run = proc_status(pid)
        lat_ms = [1000 * (r["cordoned"] - r["sick"]) for r in samples.values()]
        wind_down = [r["terminal"] - r["sick"] for r in samples.values()]
        results["latency_ms"] = {n: 1000 * (r["cordoned"] - r["sick"])
                                 for n, r in samples.items()}
        results["phases"] = {n: [p for p, _ in r["phases"]] for n, r in samples.items()}

        drains = []
        if not args.skip_drain:
            for target, with_pdb in ((drain_nodes[0], False), (drain_nodes[1], True)):
                e2e.say(f"drain of {target} ({args.drain_pods} pods, "
                        f"{'PDB maxUnavailable ' + str(args.pdb_max_unavailable) if with_pdb else 'no PDB'})")
                drains.append(drain_run(args, observer, ctl, target, drain_nodes[2:],
                                        with_pdb))
                e2e.say(f"  {json.dumps(drains[-1])}")
        results["drains"] = drains
        mem_end = proc_status(pid)
        raw = os.path.join(args.workdir,
                           f"remediation-bench-{args.nodes}x{args.pods_per_node}.json")
        with open(raw, "w") as f:
            json.dump(results, f, indent=1)

        print(f"RESULT nodes={args.nodes} pods={total} (+{len(drain_nodes)} drain nodes) "
              f"samples={len(lat_ms)}")
        print(f"  PLEG condition -> cordon (ms): p50 {db.percentile(lat_ms, 50):.0f}  "
              f"p90 {db.percentile(lat_ms, 90):.0f}  p99 {db.percentile(lat_ms, 99):.0f}  "
              f"max {max(lat_ms):.0f}  min {min(lat_ms):.0f}  (rule duration 0s: nothing "
              f"subtracted)")
        print(f"  PLEG condition -> remediation ended after the heal (s): p50 "
              f"{db.percentile(wind_down, 50):.2f}  max {max(wind_down):.2f}")
        print(f"  controller idle: {100 * idle_rate:.2f}% of a core; during the samples "
              f"{run_cpu:.2f} CPU-s in {run_time:.0f}s ({100 * run_cpu / run_time:.2f}%), "
              f"{run_cpu / len(lat_ms):.3f} CPU-s per sample "
              f"({(run_cpu - idle_rate * run_time) / len(lat_ms):.3f} above idle)")
        print(f"  controller RSS: {mem_idle['VmRSS']:.0f} MiB idle, {mem_run['VmRSS']:.0f} MiB "
              f"after the samples, {mem_end['VmRSS']:.0f} MiB at the end; peak (VmHWM) "
              f"{mem_end['VmHWM']:.0f} MiB")
        for d in drains:
            print(f"  drain {d['node']} {d['pods']} pods "
                  f"{'with PDB maxUnavailable ' + str(args.pdb_max_unavailable) if d['pdb'] else 'no PDB'}: "
                  f"cordon -> last pod gone {d['cordon_to_last_gone_s']:.2f}s = "
                  f"{d['pods_per_s']:.1f} pods/s; cordon -> first eviction "
                  f"{d['cordon_to_first_eviction_s']:.2f}s; first -> last eviction "
                  f"{d['first_to_last_eviction_s']:.2f}s ({d.get('evictions_per_s', 0):.1f}/s); "
                  f"eviction -> deleted p50 {d['evicted_to_gone_p50_s']:.2f}s max "
                  f"{d['evicted_to_gone_max_s']:.2f}s; cordon -> AwaitingRecovery "
                  f"{d['cordon_to_drained_phase_s']:.2f}s; controller "
                  f"{d['controller_cpu_s']:.2f} CPU-s")
        print(f"  raw data: {raw}")
        sys.stdout.flush()
    except e2e.TestFailure as e:
        print("FAIL: " + str(e), file=sys.stderr, flush=True)
        print(ctl.tail(60), file=sys.stderr)
        sys.exit(1)
    finally:
        observer.stop()
        cleanup(ctl, not args.no_cleanup)
        api.close()


if __name__ == "__main__":
    main()
