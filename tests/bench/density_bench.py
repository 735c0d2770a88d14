#!/usr/bin/env python3
"""Benchmark of pod-density capping (issue 7) on the local cluster: many
simulated nodes filled with pods until each reaches its cap.

Measures, with the real controller and the real kube-scheduler:
  - taint latency: per node, from the pod event that brings the node to its
    taint mark (its bind, as the benchmark's own watch of pods receives it) to
    its density taint (as the benchmark's watch of nodes receives it); p50,
    p90, p99 and max over the nodes. Both watches run in this process on one
    clock, over the API server's own watch streams (no kubectl), so their
    delivery delays largely cancel; the controller's taint is written a few
    milliseconds before the node watch sees it.
  - controller CPU per 1,000 pod events: user + system time of the controller
    process (/proc/PID/stat) over the run, less what it spends idle over the
    same time (measured for 20 s before), divided by the pod watch events the
    API server sent (this process watches all pods, as the controller does).
  - overshoot: pods bound per node beyond the cap at the end.
Also printed: the controller's density reconcile duration histogram.

Usage: density_bench.py --nodeguard PATH --workdir DIR [--nodes N]
                        [--pods-per-node P] [--cap C] [--creators K]
                        [--prebound B] [--rate R] [--no-cleanup]
(and any of those options in $NODEGUARD_DENSITY_BENCH_ARGS, read at run time)
Defaults: 200 nodes, 30 pods per node, cap 25 (6,000 pods: every node can
reach its cap, the rest stays Pending). Pods are created
as bare pods through the API by K threads (default 8). With --prebound B,
B pods per node are first created already bound (spec.nodeName: no
scheduler, so a large cluster fills in minutes); the measured phase then
sends the rest through the scheduler, at R pods/s with --rate (unpaced, the
scheduler decides far ahead of its rate-limited binds, and every pod it has
already placed on a node binds there even after the taint: that overshoot
is the scheduler's, which a paced run separates out). Environment: KUBECONFIG
and NODEGUARD_SIM, as the e2e tests. Standard library only; the controller,
scenario and cleanup helpers are the e2e suite's (tests/e2e/density).
"""

import base64
import http.client
import json
import os
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e", "density"))
import density_e2e_test as e2e  # noqa: E402
import benchlib  # noqa: E402

NODE_PREFIX = "densb-"
NS = "dens-bench"


class Api:
    """Just enough of an API client over http.client: the admin kubeconfig's
    server, CA and client certificate (written to a private temp dir)."""

    def __init__(self):
        cfg = json.loads(e2e.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.dir = tempfile.mkdtemp(prefix="density-bench-")
        files = {}
        for name, data in (("ca.crt", cluster["certificate-authority-data"]),
                           ("client.crt", user["client-certificate-data"]),
                           ("client.key", user["client-key-data"])):
            path = os.path.join(self.dir, name)
            with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
                f.write(base64.b64decode(data))
            files[name] = path
        self.context = ssl.create_default_context(cafile=files["ca.crt"])
        self.context.load_cert_chain(files["client.crt"], files["client.key"])
        url = urllib.parse.urlparse(cluster["server"])
        self.host, self.port = url.hostname, url.port

    def connection(self, timeout=60):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                           timeout=timeout)

    def close(self):
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)


class RawWatch(threading.Thread):
    """A watch straight from the API server (newline-delimited JSON events);
    calls on_event(type, object, arrival time). Starts at `resource_version`
    (from the list taken just before), so no event is missed."""

    def __init__(self, api, path, on_event):
        super().__init__(daemon=True)
        self.api, self.path, self.on_event = api, path, on_event
        self.stopping = threading.Event()
        self.events = 0
        self.error = None
        self.conn = None

    def run(self):
        sep = "&" if "?" in self.path else "?"
        rv = self.list_rv()
        while not self.stopping.is_set():
            try:
                self.conn = self.api.connection(timeout=None)
                self.conn.request("GET", f"{self.path}{sep}watch=1&resourceVersion={rv}"
                                         f"&allowWatchBookmarks=true&timeoutSeconds=3600")
                resp = self.conn.getresponse()
                if resp.status != 200:
                    raise RuntimeError(f"watch {self.path}: HTTP {resp.status} {resp.read()[:200]}")
                while not self.stopping.is_set():
                    line = resp.readline()
                    if not line:
                        break
                    now = time.monotonic()
                    event = json.loads(line)
                    obj = event.get("object", {})
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    if event.get("type") == "BOOKMARK":
                        continue
                    if event.get("type") == "ERROR":
                        raise RuntimeError(f"watch {self.path}: {obj}")
                    self.events += 1
                    self.on_event(event["type"], obj, now)
            except Exception as e:  # Reported by the benchmark, which then fails.
                if not self.stopping.is_set():
                    self.error = f"{type(e).__name__}: {e}"
                return

    def list_rv(self):
        conn = self.api.connection()
        sep = "&" if "?" in self.path else "?"
        conn.request("GET", f"{self.path}{sep}limit=1")
        resp = conn.getresponse()
        body = json.loads(resp.read())
        conn.close()
        return body["metadata"]["resourceVersion"]

    def stop(self):
        self.stopping.set()
        if self.conn is not None:
            try:
                self.conn.sock.shutdown(2)
            except OSError:
                pass


class Observer:
    """Bind times of the benchmark's pods and taint times of its nodes."""

    def __init__(self, api):
        self.lock = threading.Lock()
        self.bound = {}  # uid -> (node, arrival time)
        self.tainted = {}  # node -> arrival time of the first version with the taint
        selector = urllib.parse.quote(f"{e2e.NODE_LABEL}={e2e.NODE_LABEL_VALUE}")
        self.pods = RawWatch(api, "/api/v1/pods", self.on_pod)
        self.nodes = RawWatch(api, f"/api/v1/nodes?labelSelector={selector}", self.on_node)

    def start(self):
        self.pods.start()
        self.nodes.start()

    def stop(self):
        self.pods.stop()
        self.nodes.stop()

    def on_pod(self, kind, pod, now):
        if pod["metadata"].get("namespace") != NS:
            return
        node = pod.get("spec", {}).get("nodeName")
        if node:
            with self.lock:
                self.bound.setdefault(pod["metadata"]["uid"], (node, now))

    def on_node(self, kind, node, now):
        if any(t["key"] == e2e.TAINT_KEY for t in node.get("spec", {}).get("taints") or []):
            with self.lock:
                self.tainted.setdefault(node["metadata"]["name"], now)

    def latencies(self, taint_at):
        binds = {}
        with self.lock:
            for node, t in self.bound.values():
                binds.setdefault(node, []).append(t)
            tainted = dict(self.tainted)
        out = {}
        for node, t in tainted.items():
            times = sorted(binds.get(node, []))
            if len(times) >= taint_at:
                out[node] = t - times[taint_at - 1]
        return out


def create_pods(api, count, creators, rate=0.0, first=0, node_of=None):
    """POSTs `count` bare pods (named from index `first` on) to NS from
    `creators` threads, at most `rate` per second when rate > 0; with
    `node_of(i)` each pod is created bound to that node (spec.nodeName, which
    skips the scheduler). Returns seconds."""

    def body_of(i):
        spec = e2e.pod_spec()
        if node_of is not None:
            spec["nodeName"] = node_of(i)
        return NS, {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"bench-{i:06d}", "namespace": NS,
                                 "labels": {"app": "bench"}},
                    "spec": spec}

    seconds, errors = benchlib.post_pods(api, count, creators, body_of, rate=rate, first=first)
    if errors:
        e2e.fail(f"creating pods: {errors}")
    return seconds


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def histogram(ctl, name, labels):
    """Cumulative buckets {le: count} of a histogram series."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    out = {}
    for line in ctl.metrics().splitlines():
        if line.startswith(name + "_bucket{") and want in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[le] = float(line.rsplit(" ", 1)[1])
    return out


def main():
    parser = benchlib.argument_parser(
        __doc__, nodes=200,
        no_cleanup_help="leave the namespace, its pods and the nodes (for a cluster torn "
                         "down right after: deleting 30,000 pods takes many minutes)")
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--cap", type=int, default=25)
    parser.add_argument("--prebound", type=int, default=0,
                        help="pods per node created already bound (spec.nodeName) before "
                             "the measured phase; they count toward --pods-per-node")
    parser.add_argument("--rate", type=float, default=0,
                        help="pods per second in the measured phase (0: as fast as possible)")
    args = benchlib.parse_arguments(parser, "NODEGUARD_DENSITY_BENCH_ARGS")
    e2e.ARGS = args
    e2e.KUBECTL = e2e.kubectl_path()
    e2e.NODE_PREFIX = NODE_PREFIX
    total = args.nodes * args.pods_per_node
    api = Api()
    nodes = [f"{NODE_PREFIX}{i:03d}" if args.nodes > 99 else f"{NODE_PREFIX}{i:02d}"
             for i in range(1, args.nodes + 1)]
    ctl = e2e.Controller("bench", args.controller_arg)
    observer = Observer(api)
    try:
        e2e.kubectl("apply", "--server-side", "--force-conflicts", "-f", e2e.CRD)
        e2e.kubectl("wait", "--for=condition=Established",
                    "crd/nodehealthpolicies.nodeguard.io", "--timeout=60s")
        e2e.remove_leftovers()
        started = time.monotonic()
        # kwok marks ~10-20 nodes Ready per second here while the cluster is busy.
        e2e.sim("create-nodes", str(args.nodes), "--prefix", NODE_PREFIX,
                "--timeout", str(max(60, args.nodes // 2)))
        for i in range(0, len(nodes), 100):
            e2e.kubectl("label", "--overwrite", "node", *nodes[i:i + 100],
                        f"{e2e.NODE_LABEL}={e2e.NODE_LABEL_VALUE}")
        e2e.say(f"{args.nodes} nodes ready in {time.monotonic() - started:.0f}s")
        e2e.kubectl("create", "namespace", NS)
        ctl.start()
        e2e.apply(e2e.policy_doc(args.cap))
        e2e.wait_for("the policy to select the nodes",
                     lambda: (e2e.policy_status().get("selectedNodes") == args.nodes,
                              e2e.policy_status().get("selectedNodes")), timeout=120)
        time.sleep(2)  # Let the policy's own reconciles settle before measuring.
        idle_cpu, idle_started = ctl.cpu_seconds(), time.monotonic()
        time.sleep(20)
        idle_rate = (ctl.cpu_seconds() - idle_cpu) / (time.monotonic() - idle_started)
        observer.start()
        prebound = args.prebound * args.nodes
        if prebound:
            took = create_pods(api, prebound, args.creators,
                               node_of=lambda i: nodes[i % len(nodes)])
            e2e.say(f"{prebound} pods created bound in {took:.0f}s ({prebound / took:.0f}/s)")
            e2e.wait_for("the controller to see the bound pods",
                         lambda: (len(observer.bound) >= prebound, len(observer.bound)),
                         timeout=600, interval=2)
            time.sleep(10)  # The controller's last reconciles of the prebound phase.
        cpu_before, run_started = ctl.cpu_seconds(), time.monotonic()
        pod_events_before = observer.pods.events
        measured = total - prebound
        created = create_pods(api, measured, args.creators, rate=args.rate, first=prebound)
        e2e.say(f"{measured} pods created in {created:.0f}s ({measured / created:.0f}/s)")
        sys.stdout.flush()

        def settled():
            if observer.pods.error or observer.nodes.error:
                e2e.fail(f"watch failed: {observer.pods.error or observer.nodes.error}")
            out = e2e.kubectl("get", "pods", "-n", NS, "--field-selector", "spec.nodeName=",
                              "-o", "json")
            pending = json.loads(out.stdout)["items"]
            undecided = [p for p in pending if not e2e.unschedulable(p)]
            with observer.lock:
                bound = len(observer.bound)
            return not undecided and bound + len(pending) >= total, \
                f"{bound} bound, {len(pending)} unbound of which {len(undecided)} undecided"

        e2e.wait_for("the scheduler to be done with every pod", settled,
                     timeout=max(600, total // 5), interval=5)
        time.sleep(5)  # The last taints and their watch events.
        cpu = ctl.cpu_seconds() - cpu_before
        idle = idle_rate * (time.monotonic() - run_started)
        events = observer.pods.events - pod_events_before
        elapsed = time.monotonic() - started
        latencies = observer.latencies(args.cap)
        counts = {}
        with observer.lock:
            for node, _ in observer.bound.values():
                counts[node] = counts.get(node, 0) + 1
        over = [c - args.cap for c in counts.values()]
        reached = sum(1 for c in counts.values() if c >= args.cap)
        buckets = histogram(ctl, "nodeguard_reconcile_duration_seconds", {"reconciler": "density"})
        results = {r: ctl.series("nodeguard_reconcile_total", {"reconciler": "density", "result": r})
                   for r in ("success", "conflict", "error")}
        taint_changes = ctl.series("nodeguard_density_taint_changes_total", {"action": "Add"})
        raw = os.path.join(args.workdir, f"density-bench-{args.nodes}x{args.pods_per_node}"
                                         f"-pre{args.prebound}.json")
        with open(raw, "w") as f:
            json.dump({"args": vars(args), "latency_s": latencies, "pods": counts}, f, indent=1)

        print(f"RESULT nodes={args.nodes} pods={total} cap={args.cap} creators={args.creators} "
              f"prebound/node={args.prebound} rate={args.rate or 'max'}")
        print(f"  {measured} pods created in {created:.0f}s; all decided by the scheduler after "
              f"{elapsed:.0f}s; {sum(counts.values())} bound, "
              f"{total - sum(counts.values())} Pending")
        print(f"  nodes that reached the cap: {reached}; tainted: {len(observer.tainted)}")
        lat_ms = [v * 1000 for v in latencies.values()]
        print(f"  taint latency over {len(lat_ms)} nodes (ms): p50 {percentile(lat_ms, 50):.0f}"
              f"  p90 {percentile(lat_ms, 90):.0f}  p99 {percentile(lat_ms, 99):.0f}"
              f"  max {max(lat_ms) if lat_ms else float('nan'):.0f}")
        print(f"  overshoot per node: max {max(over) if over else 0}, "
              f"mean {sum(max(0, o) for o in over) / max(1, len(over)):.2f}")
        print(f"  controller CPU: {cpu:.2f}s over the run ({idle:.2f}s of it idle rate) for "
              f"{events} pod events = {1000 * (cpu - idle) / max(1, events):.3f} CPU-s per "
              f"1,000 pod events ({1000 * cpu / max(1, events):.3f} with the idle share)")
        print(f"  density reconciles: {results}; taints added: {taint_changes}")
        print(f"  density reconcile durations (cumulative buckets): {buckets}")
        print(f"  per-node data: {raw}")
        sys.stdout.flush()
        if observer.pods.error or observer.nodes.error:
            e2e.fail(f"watch failed: {observer.pods.error or observer.nodes.error}")
        if reached and not latencies:
            e2e.fail("nodes reached the cap but no taint latency was measured")
    except e2e.TestFailure as e:
        print("FAIL: " + str(e), file=sys.stderr, flush=True)
        print(ctl.tail(40), file=sys.stderr)
        sys.exit(1)
    finally:
        observer.stop()
        if not args.no_cleanup:
            e2e.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=true",
                        "--timeout=600s", check=False, timeout=700)
        if kubectl_ok(["get", "nhp", e2e.POLICY]):
            e2e.kubectl("delete", "nhp", e2e.POLICY, "--wait=true", "--timeout=120s",
                        check=False, timeout=200)
        try:
            ctl.stop(check=False)
        except e2e.TestFailure:
            pass
        if not args.no_cleanup:
            e2e.remove_leftovers()
        api.close()


def kubectl_ok(args):
    return e2e.kubectl(*args, check=False).returncode == 0


if __name__ == "__main__":
    main()
