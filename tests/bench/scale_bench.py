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
    reconcilers started) and to count every node in the policy's status;
  - churn: --churn pods deleted and as many created (a rollout's events); CPU
    per 1,000 pod watch events for each process (the events are the peer's
    pod event count, which sees every pod as the controller does).

The peers are tests/bench/peer (controller-runtime's cache of Pods and Nodes),
one plain and one with the managedFields-stripping transform. nodeguard runs
one policy over every benchmark node with density, remediation and hygiene on
(manifests/samples/incident-workers.yaml's settings, a cap above the pods per
node so nothing is tainted). Pods are created already bound (spec.nodeName:
no scheduler, so a large cluster fills in minutes), with requests and limits
(hygiene evaluates each, finds nothing to write).

Usage: scale_bench.py --nodeguard PATH --workdir DIR [--steps 100:3000,500:15000]
                      [--peer PATH] [--steady S] [--churn K] [--creators K]
Environment: KUBECONFIG and NODEGUARD_SIM, as the e2e tests. Prints a table
and writes DIR/scale.json. Standard library only.
"""

import json
import os
import re
import subprocess
import sys
import time
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
                 "duration": "3m"},
                {"type": "Ready", "status": "Unknown", "duration": "5m"}]},
            "remediation": {"maxConcurrent": 1, "maxUnhealthy": "30%"},
            "resourceHygiene": {"requiredRequests": ["cpu", "memory"],
                                "requiredLimits": ["cpu", "memory"],
                                "annotatePods": True},
        },
    }


def pod_body(i, node):
    resources = {"cpu": "10m", "memory": "16Mi"}
    return NS, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"p{i:06d}", "namespace": NS,
                     "labels": {"app": f"app-{i % 50}"}},
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
    width = 4 if count > 999 else 3 if count > 99 else 2
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


def mb(value):
    return f"{value / 1e6:.1f}"


def main():
    parser = benchlib.argument_parser(__doc__, nodes=0, no_cleanup_help="leave nodes and pods")
    parser.add_argument("--steps", default="100:3000,500:15000",
                        help="NODES:PODS,... cumulative sizes, ascending")
    parser.add_argument("--peer", help="the peer binary (default: tests/bench/peer/build.sh)")
    parser.add_argument("--steady", type=int, default=60)
    parser.add_argument("--churn", type=int, default=3000)
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
        e2e.apply(policy_doc(max_pods_per_node + 10))
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
                   "steadyCpuPerSecond": steady_cpu(ctl, peers, args.steady)}
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
        results["startup"] = {"leadSeconds": led,
                              "statusSeconds": time.monotonic() - started,
                              "rssAfterStart": proc_status(ctl.proc.pid)["VmRSS"]}

        # Churn: delete --churn pods and create as many (a rollout's events).
        names = node_names(created_nodes)
        before = sample(ctl, peers)
        count = min(args.churn, created_pods)
        victims = [f"p{i:06d}" for i in range(count)]
        for i in range(0, len(victims), 200):
            # kubectl deletes one request per pod: 200 take seconds to minutes here.
            e2e.kubectl("delete", "pod", "-n", NS, "--wait=false", "--grace-period=0",
                        "--force", *victims[i:i + 200], timeout=900)
        replacements = node_of_pod[:count]  # Each to the node its victim left.
        _, errors = benchlib.post_pods(
            api, count, args.creators,
            lambda i, first=created_pods: pod_body(i, replacements[i - first]),
            first=created_pods)
        if errors:
            e2e.fail(f"churn pods not created: {errors}")
        wait_all_cached(ctl, peers, baseline_pods, created_pods, names, timeout=600)
        time.sleep(10)
        after = sample(ctl, peers)
        events = after["peer"]["podEvents"] - before["peer"]["podEvents"]
        results["churn"] = {"podEvents": events, "cpuPer1000Events": {
            name: 1000 * (after[name]["cpu"] - before[name]["cpu"]) / max(events, 1)
            for name in after}}
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
          "peer-strip RSS / heap MB | steady CPU %: nodeguard / peer / peer-strip |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in results["steps"]:
        m, c = row["memory"], row["steadyCpuPerSecond"]
        print(f"| {row['nodes']} | {row['pods']} | {mb(m['nodeguard']['rss'])} / "
              f"{mb(m['nodeguard']['anon'])} | {mb(m['peer']['rss'])} / {mb(m['peer']['heap'])} | "
              f"{mb(m['peer-strip']['rss'])} / {mb(m['peer-strip']['heap'])} | "
              f"{100 * c['nodeguard']:.2f} / {100 * c['peer']:.2f} / {100 * c['peer-strip']:.2f} |")
    first, last = results["steps"][0], results["steps"][-1]
    dp = last["pods"] - first["pods"]
    if dp > 0:
        for name in ("nodeguard", "peer", "peer-strip"):
            per_pod = (last["memory"][name]["rss"] - first["memory"][name]["rss"]) / dp
            print(f"{name}: {per_pod:.0f} B RSS per pod between the first and last step")
    print("start-up:", json.dumps(results["startup"]))
    print("churn:", json.dumps(results["churn"]))


if __name__ == "__main__":
    main()
