#!/usr/bin/env python3
"""Scale benchmark (issue 22): the nodeguard controller and a controller-runtime
peer side by side on one local cluster, grown in steps of simulated nodes and
pods. Label bench; never in `make test`.

At each step (NODES:PODS), once every process has the step's pods in its cache:
  - RSS of each process (VmRSS), nodeguard's anonymous memory (RssAnon, its
    heap and the allocator's), the peers' Go heap (HeapAlloc after a GC);
  - steady-state CPU per second of each process over --steady seconds while
    only the kubelets' heartbeats (kwok's Leases and node status) arrive.
At the largest step:
  - start-up: a fresh nodeguard controller's time to lead (caches synced,
    reconcilers started) and to count every node in the policy's status, its
    RSS then and 45 s after it started (once it gave the list's freed pages
    back to the kernel);
  - churn: pods deleted and as many created (a rollout's events), at least
    --churn of them and for as long as the latency samples below take; CPU
    per 1,000 pod watch events for each process (the events are the peer's
    pod event count, which sees every pod as the controller does), and
    nodeguard's reconciles per watch event (pod and node events) for each of
    its reconcilers, with the mean reconcile time (nodeguard_reconcile_*);
  - while the churn runs, on nodes of their own (scale-lat-*, selected by the
    same policy, no churn pods): PLEG-condition-to-cordon latency (one node
    at a time made PLEG-sick with tests/cluster/sim, from the node watch
    event carrying the condition to the one carrying spec.unschedulable; then
    healed and wound down) and cap-to-taint latency (a node filled to its
    taint mark, from the pod watch event of the pod that reaches the mark to
    the node watch event carrying the density taint); p50/p99 of
    --latency-samples each. Both watches run in this process on one clock;
  - with --relist: the API server restarted (an upgrade, a crash), which
    answers every watch resuming from before the restart with 410 Gone
    (its new watch cache starts at the current revision, and the nodes'
    Lease renewals have moved it past any pod's): each process lists all
    its pods and nodes again. Measured: nodeguard's relists per cache
    (nodeguard_informer_relists_total), the time from the API server being
    back to every process holding every pod again, the peak RSS of each
    process meanwhile (sampled every 0.2 s) and nodeguard's CPU.
At every step the policy's status size is recorded (bytes of its JSON): it
must not grow with the node count (the lists in it are bounded).

The peers are tests/bench/peer (controller-runtime's cache of Pods and Nodes),
one plain and one with the managedFields-stripping transform. nodeguard runs
one policy over every benchmark node with density, remediation and hygiene on
(manifests/samples/incident-workers.yaml's settings, a cap above the pods per
node so nothing is tainted; the PLEG rule's duration 0s and a cordon-and-drain
ladder draining no benchmark pod, so the latency is nodeguard's, not a wait). Pods are created already bound (spec.nodeName:
no scheduler, so a large cluster fills in minutes), with requests and limits
(hygiene evaluates each, finds nothing to write).

Usage: scale_bench.py --nodeguard PATH --workdir DIR [--steps 100:3000,500:15000]
                      [--peer PATH] [--steady S] [--churn K] [--creators K]
                      [--latency-samples N] [--relist] [--figure PNG]
       scale_bench.py --plot DIR/scale.json PNG     (the figure again from a run)
Environment: KUBECONFIG and NODEGUARD_SIM, as the e2e tests (the cluster's
state directory is KUBECONFIG's, as tests/cluster/up writes it: --relist
restarts its API server with tests/cluster/control-plane). Prints a table
and writes DIR/scale.json; with --figure, also the figure of RSS against pods
(needs matplotlib, Debian's python3-matplotlib, so /usr/bin/python3; the
measurement does not). Otherwise the standard library only.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e", "density"))
import density_e2e_test as e2e  # noqa: E402
import benchlib  # noqa: E402
import density_bench  # noqa: E402

NODE_PREFIX = "scale-"
NS = "scale-bench"
POLICY = "scale-bench"
LABEL = "nodeguard.io/scale-bench"
LAT_PREFIX = "scale-lat-"  # Latency nodes: selected by the policy, no churn pods.
LAT_LABEL = "nodeguard.io/scale-bench-latency"
PLEG_MESSAGE = ("PLEG is not healthy: pleg was last seen active 3m7.629592089s ago; "
                "threshold is 3m0s")
TAINT_KEY = "nodeguard.io/pod-density-exceeded"  # The CRD's default taint key.
TERMINAL = {"Succeeded", "Failed", "Cancelled"}
RECONCILERS = ("policy", "density", "remediation", "hygiene")


def proc_status(pid):
    """VmRSS and RssAnon of a process, in bytes."""
    return benchlib.proc_status(pid, ("VmRSS", "RssAnon"))


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Peer:
    """One tests/bench/peer process and its /stats endpoint."""

    def __init__(self, binary, strip, workdir):
        self.strip = strip
        self.name = "peer-strip" if strip else "peer"
        self.log = open(os.path.join(workdir, f"{self.name}.log"), "w")
        args = [binary, "--kubeconfig", os.environ["KUBECONFIG"]]
        if strip:
            args.append("--strip-managed-fields")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        first = self.proc.stdout.readline()
        match = re.match(r"listening on (\S+)", first)
        if not match:
            e2e.fail(f"{self.name} did not start: {first!r}")
        self.address = match.group(1)

    def stats(self, gc=False):
        url = f"http://{self.address}/stats" + ("?gc=1" if gc else "")
        with urllib.request.urlopen(url, timeout=30) as response:
            return json.loads(response.read())

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def policy_doc(max_pods):
    return {
        "apiVersion": "nodeguard.io/v1alpha1", "kind": "NodeHealthPolicy",
        "metadata": {"name": POLICY},
        "spec": {
            "nodeSelector": {"matchLabels": {LABEL: "true"}},
            "podDensity": {"maxPods": max_pods, "releaseBelow": "90%", "taintAhead": 2},
            "health": {"unhealthyConditions": [
                {"type": "Ready", "status": "False", "messageRegex": "PLEG is not healthy",
                 "duration": "0s"},
                {"type": "Ready", "status": "Unknown", "duration": "5m"}]},
            # Cordon and drain (of no benchmark pod) only: the benchmark heals
            # the node itself, so a latency sample winds down in seconds.
            "remediation": {"maxConcurrent": 1, "maxUnhealthy": "30%", "actions": [],
                            "drain": {"timeout": "60s", "podSelector": {
                                "matchLabels": {"nodeguard-bench/evict": "true"}}},
                            "actionTimeout": "10m", "recoveryStableFor": "0s",
                            "cooldown": "1m"},
            "resourceHygiene": {"requiredRequests": ["cpu", "memory"],
                                "requiredLimits": ["cpu", "memory"],
                                "annotatePods": True},
        },
    }


def pod_body(i, node, prefix="p", labels=None):
    resources = {"cpu": "10m", "memory": "16Mi"}
    return NS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{prefix}{i:06d}", "namespace": NS,
                     "labels": labels or {"app": f"app-{i % 50}"}},
        "spec": {"nodeName": node,
                 "tolerations": [{"operator": "Exists"}],
                 "containers": [{"name": "c", "image": "registry.local/app:1",
                                 "resources": {"requests": resources, "limits": resources}}]},
    }


def spread(names, counts, pods):
    """Nodes for `pods` new pods: each to the node with the fewest so far, so
    that every step ends evenly spread (counts: pods per node, updated)."""
    out = []
    target_total = sum(counts.get(n, 0) for n in names) + pods
    base, extra = divmod(target_total, len(names))
    for index, name in enumerate(names):
        want = base + (1 if index < extra else 0) - counts.get(name, 0)
        for _ in range(max(want, 0)):
            out.append(name)
            counts[name] = counts.get(name, 0) + 1
    return out[:pods]


def node_names(count):
    # As `sim create-nodes` names them: two digits, three past 99, and no
    # wider past 999 (scale-999, scale-1000).
    width = 3 if count > 99 else 2
    return [f"{NODE_PREFIX}{i:0{width}d}" for i in range(1, count + 1)]


def controller_pods(ctl, nodes):
    """Pods the controller counts on the benchmark's nodes (nodeguard_node_pods)."""
    total = 0
    prefix = 'nodeguard_node_pods{node="' + NODE_PREFIX
    for line in ctl.metrics().splitlines():
        if line.startswith(prefix):
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def sample(ctl, peers):
    row = {}
    status = proc_status(ctl.proc.pid)
    row["nodeguard"] = {"rss": status["VmRSS"], "anon": status["RssAnon"],
                        "cpu": cpu_seconds(ctl.proc.pid)}
    for peer in peers:
        stats = peer.stats(gc=True)
        row[peer.name] = {"rss": stats["rssBytes"], "heap": stats["heapAllocBytes"],
                          "cpu": stats["cpuSeconds"], "podEvents": stats["podEvents"],
                          "nodeEvents": stats["nodeEvents"],
                          "pods": stats["pods"], "nodes": stats["nodes"]}
    return row


def steady_cpu(ctl, peers, seconds):
    before = sample(ctl, peers)
    time.sleep(seconds)
    after = sample(ctl, peers)
    return {name: (after[name]["cpu"] - before[name]["cpu"]) / seconds for name in after}


def wait_all_cached(ctl, peers, baseline_pods, pods, nodes, timeout):
    def cached():
        seen = controller_pods(ctl, nodes)
        peer_pods = [p.stats()["pods"] - baseline_pods for p in peers]
        done = seen >= pods and all(n >= pods for n in peer_pods)
        return done, f"nodeguard {seen}, peers {peer_pods} of {pods}"
    e2e.wait_for("every process to cache the step's pods", cached, timeout=timeout, interval=2)


class Churn(threading.Thread):
    """Rounds of `batch` pods deleted and as many created on the nodes they
    left (a rollout), until at least `minimum` pods were replaced and stop()
    was called. Pod i's replacement is pod i + total (names stay unique)."""

    def __init__(self, api, node_of_pod, first_new, minimum, workers, batch=200):
        super().__init__(daemon=True)
        self.api, self.node_of_pod, self.workers, self.batch = api, node_of_pod, workers, batch
        self.next_victim = 0
        self.next_new = first_new
        self.minimum = minimum
        self.stopping = threading.Event()
        self.replaced = 0
        self.error = None
        self.live = {}  # pod index -> node, for pods created by the churn

    def run(self):
        victims = list(range(len(self.node_of_pod)))
        try:
            while self.replaced < self.minimum or not self.stopping.is_set():
                batch = victims[self.next_victim:self.next_victim + self.batch]
                if not batch:
                    return  # Every original pod replaced once.
                self.next_victim += len(batch)
                _, errors = benchlib.delete_pods(self.api, NS, [f"p{i:06d}" for i in batch],
                                                 self.workers)
                if errors:
                    raise RuntimeError(f"churn deletes: {errors}")
                first = self.next_new
                nodes = [self.node_of_pod[i] for i in batch]
                _, errors = benchlib.post_pods(
                    self.api, len(batch), self.workers,
                    lambda i, first=first, nodes=nodes: pod_body(i, nodes[i - first]), first=first)
                if errors:
                    raise RuntimeError(f"churn creates: {errors}")
                self.next_new += len(batch)
                self.replaced += len(batch)
        except Exception as e:  # Reported by the benchmark, which then fails.
            self.error = f"{type(e).__name__}: {e}"

    def stop(self):
        self.stopping.set()


class LatencyObserver:
    """Watches of the latency nodes and their pods: per node, when the PLEG
    condition, the cordon, the end of the remediation and the density taint
    arrived, and the arrival of each of its pods."""

    def __init__(self, api):
        self.changed = threading.Condition()
        self.nodes = {}  # name -> record
        self.pod_arrivals = {}  # node -> [arrival times of its pods' ADDED events]
        selector = urllib.parse.quote(f"{LAT_LABEL}=true")
        self.node_watch = density_bench.RawWatch(
            api, f"/api/v1/nodes?labelSelector={selector}", self.on_node)
        self.pod_watch = density_bench.RawWatch(
            api, f"/api/v1/namespaces/{NS}/pods?labelSelector={selector}", self.on_pod)

    def start(self):
        self.node_watch.start()
        self.pod_watch.start()

    def stop(self):
        self.node_watch.stop()
        self.pod_watch.stop()

    def error(self):
        return self.node_watch.error or self.pod_watch.error

    def record(self, name):
        with self.changed:
            return dict(self.nodes.setdefault(name, self.empty()))

    @staticmethod
    def empty():
        return {"sick": None, "cordoned": None, "uncordoned": None, "terminal": None,
                "tainted": None}

    def on_node(self, kind, node, now):
        name = node["metadata"]["name"]
        with self.changed:
            rec = self.nodes.setdefault(name, self.empty())
            ready = benchlib.condition(node, "Ready")
            phase = benchlib.mark_remediation(
                rec, node, now,
                ready.get("status") == "False" and ready.get("message") == PLEG_MESSAGE)
            if phase in TERMINAL and rec["sick"] is not None and rec["terminal"] is None:
                rec["terminal"] = now
            if rec["tainted"] is None and any(
                    t.get("key") == TAINT_KEY for t in node.get("spec", {}).get("taints") or []):
                rec["tainted"] = now
            self.changed.notify_all()

    def on_pod(self, kind, pod, now):
        if kind != "ADDED":
            return
        node = pod.get("spec", {}).get("nodeName")
        with self.changed:
            self.pod_arrivals.setdefault(node, []).append(now)
            self.changed.notify_all()

    def wait(self, what, predicate, timeout):
        benchlib.wait_on(self.changed, what, predicate, timeout, self.error, e2e.fail)


def pleg_sample(observer, name):
    """Makes `name` PLEG-sick; returns seconds from the condition to the
    cordon, once the node is healed and its remediation wound down."""
    e2e.sim("pleg-sick", name, "--message", PLEG_MESSAGE, "--no-wait")
    observer.wait(f"{name} to be cordoned", lambda: observer.nodes.get(name, {}).get(
        "cordoned") is not None and observer.nodes[name]["sick"] is not None, 300)
    e2e.sim("heal", name, "--no-wait")
    observer.wait(f"{name}'s remediation to wind down",
                  lambda: observer.nodes[name]["terminal"] is not None
                  and observer.nodes[name]["uncordoned"] is not None, 300)
    rec = observer.record(name)
    return rec["cordoned"] - rec["sick"]


def cap_sample(api, observer, name, mark, first):
    """Fills `name` (no pods yet) to its taint mark: mark - 1 pods, then, once
    they arrived, the one that reaches the mark. Returns seconds from that
    pod's watch event to the taint's."""
    labels = {LAT_LABEL: "true"}
    _, errors = benchlib.post_pods(
        api, mark - 1, 4, lambda i: pod_body(i, name, "lat", labels), first=first)
    if errors:
        e2e.fail(f"latency pods not created: {errors}")
    observer.wait(f"{mark - 1} pods on {name}",
                  lambda: len(observer.pod_arrivals.get(name, [])) >= mark - 1, 300)
    time.sleep(2)  # Lets the controller count them: the next pod is the one measured.
    if observer.record(name)["tainted"] is not None:
        e2e.fail(f"{name} tainted before its mark ({mark} pods)")
    _, errors = benchlib.post_pods(
        api, 1, 1, lambda i: pod_body(i, name, "lat", labels), first=first + mark - 1)
    if errors:
        e2e.fail(f"latency pod not created: {errors}")
    observer.wait(f"{name}'s density taint",
                  lambda: observer.nodes.get(name, {}).get("tainted") is not None, 300)
    with observer.changed:
        reached = sorted(observer.pod_arrivals[name])[mark - 1]
        return observer.nodes[name]["tainted"] - reached


def reconcile_counters(ctl):
    """Per reconciler: reconciles (every result) and the duration histogram's
    sum and count."""
    out = {r: {"total": 0.0, "seconds": 0.0, "timed": 0.0} for r in RECONCILERS}
    for line in ctl.metrics().splitlines():
        for name, key in (("nodeguard_reconcile_total{", "total"),
                          ("nodeguard_reconcile_duration_seconds_sum{", "seconds"),
                          ("nodeguard_reconcile_duration_seconds_count{", "timed")):
            if line.startswith(name):
                match = re.search(r'reconciler="([^"]+)"', line)
                if match and match.group(1) in out:
                    out[match.group(1)][key] += float(line.rsplit(" ", 1)[1])
    return out


def informer_relists(ctl):
    """nodeguard_informer_relists_total per cache (resource)."""
    out = {}
    for line in ctl.metrics().splitlines():
        if line.startswith("nodeguard_informer_relists_total{"):
            match = re.search(r'resource="([^"]+)"', line)
            if match:
                out[match.group(1)] = float(line.rsplit(" ", 1)[1])
    return out


class PeakRss(threading.Thread):
    """The largest VmRSS of each pid, sampled every 0.2 s until stop()."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = {name: 0 for name in pids}
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            for name, pid in self.pids.items():
                try:
                    self.peak[name] = max(self.peak[name], proc_status(pid)["VmRSS"])
                except (OSError, KeyError):
                    pass
            self.done.wait(0.2)

    def stop(self):
        self.done.set()
        self.join()


def measure_relist(ctl, peers, baseline_pods, pods, names):
    """The API server restarted under every process's watches; see the module
    docstring. Returns what was measured."""
    before_relists = informer_relists(ctl)
    before = sample(ctl, peers)
    peak = PeakRss({"nodeguard": ctl.proc.pid, **{p.name: p.proc.pid for p in peers}})
    peak.start()
    state_dir = os.path.dirname(os.environ["KUBECONFIG"])
    restart = subprocess.run(
        [os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "cluster", "control-plane"),
         "restart-apiserver", "--grace", "5", "--no-wait-nodes", "--timeout", "600"],
        env={**os.environ, "NODEGUARD_CLUSTER_DIR": state_dir}, capture_output=True, text=True,
        timeout=900)
    if restart.returncode != 0:
        peak.stop()
        e2e.fail(f"the API server did not come back: {restart.stderr[-2000:]}")
    back = time.monotonic()

    def relisted():
        now = informer_relists(ctl)
        return now.get("pods", 0) > before_relists.get("pods", 0), now
    e2e.wait_for("nodeguard to relist its pods after 410 Gone", relisted, timeout=900)
    wait_all_cached(ctl, peers, baseline_pods, pods, names, timeout=900)
    seconds = time.monotonic() - back
    time.sleep(10)
    peak.stop()
    after = sample(ctl, peers)
    after_relists = informer_relists(ctl)
    return {"relists": {r: after_relists.get(r, 0) - before_relists.get(r, 0)
                        for r in after_relists},
            "secondsToEveryPodCached": seconds,
            "peakRss": peak.peak,
            "rssBefore": {name: before[name]["rss"] for name in before},
            "rssAfter": {name: after[name]["rss"] for name in after},
            "cpuSeconds": {name: after[name]["cpu"] - before[name]["cpu"] for name in after}}


def status_bytes():
    """The size of the policy's status as JSON (compact), as etcd stores it."""
    return len(json.dumps(e2e.policy_status(), separators=(",", ":")))


def ms_summary(seconds):
    ms = [1000 * x for x in seconds]
    return {"samples": len(ms), "p50": density_bench.percentile(ms, 50),
            "p99": density_bench.percentile(ms, 99), "max": max(ms) if ms else None,
            "all": [round(x, 1) for x in ms]}


def draw_figure(results, path):
    """RSS against pods, nodeguard and the peers (matplotlib, imported here
    so that the measurement needs only the standard library)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = results["steps"]
    if "empty" in results:  # Before the first step: no benchmark pods or nodes.
        steps = [{"nodes": 0, "pods": 0, "memory": results["empty"]}] + steps
    pods = [row["pods"] for row in steps]
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, label, style in (
            ("peer", "controller-runtime cache (Pods, Nodes)", "s-"),
            ("peer-strip", "the same, managedFields stripped", "^-"),
            ("nodeguard", "nodeguard controller (density, remediation, hygiene)", "o-")):
        ax.plot(pods, [row["memory"][name]["rss"] / 1e6 for row in steps], style, label=label)
    for row in steps[1:] if "empty" in results else steps:
        ax.annotate(f"{row['nodes']} nodes", (row["pods"], row["memory"]["peer"]["rss"] / 1e6),
                    textcoords="offset points", xytext=(-10, 8), fontsize=8)
    ax.set_xlabel("pods in the cluster (30 per node)")
    ax.set_ylabel("RSS (MB)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("RSS against pods, one kwok cluster (tests/bench/scale_bench.py)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def mb(value):
    return f"{value / 1e6:.1f}"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--plot":
        # The figure again from a run's scale.json (e.g. with Debian's python3,
        # which has matplotlib, when the run's interpreter has not).
        with open(sys.argv[2]) as f:
            draw_figure(json.load(f), sys.argv[3])
        return
    parser = benchlib.argument_parser(__doc__, nodes=0, no_cleanup_help="leave nodes and pods")
    parser.add_argument("--steps", default="100:3000,500:15000",
                        help="NODES:PODS,... cumulative sizes, ascending")
    parser.add_argument("--peer", help="the peer binary (default: tests/bench/peer/build.sh)")
    parser.add_argument("--steady", type=int, default=60)
    parser.add_argument("--churn", type=int, default=3000,
                        help="pods replaced at least (the churn lasts as long as the samples)")
    parser.add_argument("--latency-samples", type=int, default=10,
                        help="PLEG-to-cordon and cap-to-taint samples, each on a node of its own")
    parser.add_argument("--relist", action="store_true",
                        help="at the largest step, restart the API server and measure the relist")
    parser.add_argument("--figure", help="write the RSS-against-pods PNG here (matplotlib)")
    args = benchlib.parse_arguments(parser, "NODEGUARD_SCALE_BENCH_ARGS")
    e2e.ARGS = args
    e2e.KUBECTL = e2e.kubectl_path()
    e2e.POLICY = POLICY
    os.makedirs(args.workdir, exist_ok=True)
    steps = [tuple(int(x) for x in step.split(":")) for step in args.steps.split(",")]
    peer_binary = args.peer or subprocess.run(
        [os.path.join(HERE, "peer", "build.sh")], check=True, capture_output=True,
        text=True).stdout.strip().splitlines()[-1]
    max_pods_per_node = max(-(-p // n) for n, p in steps)  # Spread evenly at every step.
    max_pods = max_pods_per_node + 10
    taint_mark = max_pods - 2  # cap - taintAhead (docs/api.md)
    api = density_bench.Api()
    ctl = e2e.Controller("scale", args.controller_arg)
    peers = []
    results = {"steps": [], "args": vars(args)}
    try:
        e2e.kubectl("apply", "--server-side", "--force-conflicts", "-f", e2e.CRD)
        e2e.kubectl("wait", "--for=condition=Established",
                    "crd/nodehealthpolicies.nodeguard.io", "--timeout=60s")
        if e2e.kubectl("get", "nhp", POLICY, check=False).returncode == 0 or \
                e2e.kubectl("get", "namespace", NS, check=False).returncode == 0:
            e2e.fail(f"leftovers of an earlier run (policy {POLICY} or namespace {NS}): "
                     "use a fresh cluster")
        e2e.kubectl("create", "namespace", NS)
        baseline_pods = len(json.loads(e2e.kubectl(
            "get", "pods", "-A", "-o", "json").stdout)["items"])
        ctl.start()
        peers = [Peer(peer_binary, False, args.workdir), Peer(peer_binary, True, args.workdir)]
        e2e.apply(policy_doc(max_pods))
        results["empty"] = sample(ctl, peers)
        created_nodes, created_pods = 0, 0
        per_node = {}  # Pods created on each node.
        node_of_pod = []  # The node of pod i.
        for nodes, pods in steps:
            started = time.monotonic()
            names = node_names(nodes)
            e2e.sim("create-nodes", str(nodes), "--prefix", NODE_PREFIX,
                    "--label", f"{LABEL}=true", "--timeout", str(max(120, nodes)))
            created_nodes = nodes
            targets = spread(names, per_node, pods - created_pods)
            node_of_pod.extend(targets)
            took, errors = benchlib.post_pods(
                api, pods - created_pods, args.creators,
                lambda i, first=created_pods, targets=targets: pod_body(i, targets[i - first]),
                first=created_pods)
            if errors:
                e2e.fail(f"pods not created: {errors}")
            created_pods = pods
            wait_all_cached(ctl, peers, baseline_pods, pods, names, timeout=max(600, pods // 20))
            e2e.say(f"step {nodes} nodes / {pods} pods cached after "
                    f"{time.monotonic() - started:.0f}s (pods created in {took:.0f}s)")
            time.sleep(10)
            row = {"nodes": nodes, "pods": pods, "memory": sample(ctl, peers),
                   "steadyCpuPerSecond": steady_cpu(ctl, peers, args.steady),
                   "statusBytes": status_bytes()}
            results["steps"].append(row)
            print(json.dumps(row), flush=True)

        # Start-up at the largest step: a fresh controller.
        ctl.stop()
        started = time.monotonic()
        ctl.start(lead_timeout=900)
        led = time.monotonic() - started

        def counted():
            status = e2e.policy_status()
            return status.get("selectedNodes") == created_nodes, status.get("selectedNodes")
        e2e.wait_for("the new controller's status to count every node", counted, timeout=900)
        status_seconds = time.monotonic() - started
        rss_after_start = proc_status(ctl.proc.pid)["VmRSS"]
        # Once the controller has given the start-up's freed pages back
        # (process/memory_release.h: every 30 s).
        time.sleep(max(0.0, started + 45 - time.monotonic()))
        results["startup"] = {"leadSeconds": led, "statusSeconds": status_seconds,
                              "rssAfterStart": rss_after_start,
                              "rss45sAfterStart": proc_status(ctl.proc.pid)["VmRSS"]}

        # Churn, and the latency samples meanwhile on nodes of their own.
        samples = args.latency_samples
        lat_names = [f"{LAT_PREFIX}{i:0{3 if 2 * samples > 99 else 2}d}"
                     for i in range(1, 2 * samples + 1)]
        if samples > 0:
            # kwok may still be readying the last step's pods: at 150,000
            # it took over a minute to report 20 new nodes Ready.
            e2e.sim("create-nodes", str(2 * samples), "--prefix", LAT_PREFIX,
                    "--label", f"{LABEL}=true", "--label", f"{LAT_LABEL}=true",
                    "--timeout", "900")
            observer = LatencyObserver(api)
            observer.start()
            time.sleep(5)  # The controller sees the new nodes before a sample starts.
        names = node_names(created_nodes)
        before = sample(ctl, peers)
        counters_before = reconcile_counters(ctl)
        started = time.monotonic()
        churn = Churn(api, node_of_pod, created_pods, min(args.churn, created_pods),
                      args.creators)
        churn.start()
        pleg, cap = [], []
        for k in range(samples):
            if churn.error:
                e2e.fail(churn.error)
            pleg.append(pleg_sample(observer, lat_names[2 * k]))
            cap.append(cap_sample(api, observer, lat_names[2 * k + 1], taint_mark,
                                  k * taint_mark))
            e2e.say(f"  sample {k + 1}: PLEG -> cordon {1000 * pleg[-1]:.0f} ms, "
                    f"cap -> taint {1000 * cap[-1]:.0f} ms ({churn.replaced} pods replaced)")
        during_churn = churn.is_alive()
        churn.stop()
        churn.join()
        if churn.error:
            e2e.fail(churn.error)
        churn_seconds = time.monotonic() - started
        if samples > 0:
            observer.stop()
        wait_all_cached(ctl, peers, baseline_pods, created_pods, names, timeout=600)
        time.sleep(10)
        after = sample(ctl, peers)
        counters_after = reconcile_counters(ctl)
        events = after["peer"]["podEvents"] - before["peer"]["podEvents"]
        node_events = after["peer"]["nodeEvents"] - before["peer"]["nodeEvents"]
        results["churn"] = {
            "podsReplaced": churn.replaced, "seconds": churn_seconds,
            "podEvents": events, "nodeEvents": node_events,
            "cpuPer1000Events": {name: 1000 * (after[name]["cpu"] - before[name]["cpu"])
                                 / max(events, 1) for name in after}}
        results["reconciles"] = {}
        for r in RECONCILERS:
            a, b = counters_after[r], counters_before[r]
            timed = a["timed"] - b["timed"]
            results["reconciles"][r] = {
                "reconciles": a["total"] - b["total"],
                "perWatchEvent": (a["total"] - b["total"]) / max(events + node_events, 1),
                "meanMs": 1000 * (a["seconds"] - b["seconds"]) / timed if timed else None}
        results["latency"] = {"duringChurn": during_churn,
                              "plegToCordonMs": ms_summary(pleg),
                              "capToTaintMs": ms_summary(cap)}
        results["statusBytesAfterChurn"] = status_bytes()
        if args.relist:
            results["relist"] = measure_relist(ctl, peers, baseline_pods, created_pods,
                                               node_names(created_nodes))
            print("relist:", json.dumps(results["relist"]), flush=True)
    finally:
        for peer in peers:
            peer.stop()
        with open(os.path.join(args.workdir, "scale.json"), "w") as f:
            json.dump(results, f, indent=2)
        if not args.no_cleanup:
            # The policy first, while the controller runs to release its finalizer.
            if not ctl.running():
                ctl.start(lead_timeout=900)
            e2e.kubectl("delete", "nodehealthpolicy", POLICY, "--ignore-not-found",
                        "--timeout=300s", check=False, timeout=330)
        ctl.stop(check=False)
        if not args.no_cleanup:
            e2e.kubectl("delete", "namespace", NS, "--wait=false", check=False)
            subprocess.run([e2e.ng.sim_path(), "delete-nodes", "--prefix", NODE_PREFIX],
                           check=False)
        api.close()

    print("\n| nodes | pods | nodeguard RSS / anon MB | peer RSS / heap MB | "
          "peer-strip RSS / heap MB | steady CPU %: nodeguard / peer / peer-strip | status |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in results["steps"]:
        m, c = row["memory"], row["steadyCpuPerSecond"]
        print(f"| {row['nodes']} | {row['pods']} | {mb(m['nodeguard']['rss'])} / "
              f"{mb(m['nodeguard']['anon'])} | {mb(m['peer']['rss'])} / {mb(m['peer']['heap'])} | "
              f"{mb(m['peer-strip']['rss'])} / {mb(m['peer-strip']['heap'])} | "
              f"{100 * c['nodeguard']:.2f} / {100 * c['peer']:.2f} / {100 * c['peer-strip']:.2f} | "
              f"{row['statusBytes']} B |")
    first, last = results["steps"][0], results["steps"][-1]
    dp = last["pods"] - first["pods"]
    if dp > 0:
        for name in ("nodeguard", "peer", "peer-strip"):
            per_pod = (last["memory"][name]["rss"] - first["memory"][name]["rss"]) / dp
            print(f"{name}: {per_pod:.0f} B RSS per pod between the first and last step")
    print("start-up:", json.dumps(results["startup"]))
    print("churn:", json.dumps(results["churn"]))
    print("reconciles:", json.dumps(results["reconciles"]))
    print("latency:", json.dumps(results["latency"]))
    if args.figure:
        try:
            draw_figure(results, args.figure)
            print("figure:", args.figure)
        except ImportError as e:
            print(f"no figure ({e}): /usr/bin/python3 {os.path.abspath(__file__)} --plot "
                  f"{os.path.join(args.workdir, 'scale.json')} {args.figure}")


if __name__ == "__main__":
    main()
