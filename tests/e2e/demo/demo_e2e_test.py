#!/usr/bin/env python3
"""e2e.demo: `tests/cluster/demo` (what `make demo` runs) on a cluster of its
own, and what its summary claims checked against that cluster's state.

The demo starts its own local cluster (NODEGUARD_DEMO_CLUSTER, one per build
tree: it never touches the CTest fixture's cluster, so this test needs no
fixture and runs beside the other e2e tests), the real controller and one real
agent per node. While it runs, this test watches the cluster's Nodes and the
demo's pods itself; when the demo has exited 0 it checks:

  - the incident policy is Ready for its current generation;
  - the cap was reached on every worker: each of the 10 carried the density
    taint and had at least maxPods - taintAhead pods bound at once (28: the
    demo's cap of 30 is tainted two pods early), and none more than the cap
    plus the density suite's overshoot bound;
  - each sick node (worker-03, worker-07) was remediated: cordoned, rebooted
    (a new bootID: the demo's restarts do not heal, its reboot does), Ready
    and uncordoned again, `Succeeded`/`Recovered` in the policy's
    recentRemediations and in the node's nodeguard.io/remediation annotation;
    never two workers cordoned at once;
  - pods are flagged: every demo pod bound to a worker carries the
    nodeguard.io/resource-findings annotation (none requests or limits
    anything) and status.podsFlagged counts exactly those.
  - the notifications arrived: the demo's receiver (STATE/notify-receiver/
    received.jsonl) accepted, on the DingTalk and on the Slack sink,
    remediation.started and remediation.succeeded for each sick node, every
    DingTalk signature and Slack shape checked without a problem; and each
    worker is listed in a density.cap-reached message, at most one per
    densityInterval (1m in the demo) on each sink.

Then `tests/cluster/demo down` (what `make demo-down` runs) must stop every
process the demo recorded and remove the cluster; it runs on failure too.
The demo's wall time is printed (MEASURED, and as a CTest measurement) and
written to WORKDIR/demo-seconds; it is reported, not asserted.

Usage: demo_e2e_test.py --nodeguard PATH --workdir DIR --cluster NAME
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import nodeguard_testlib as ng  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "notify"))
import receiver  # noqa: E402

DEMO = os.path.join(ng.ROOT, "tests", "cluster", "demo")
WORKERS = [f"worker-{i:02d}" for i in range(1, 11)]
SICK = ["worker-03", "worker-07"]
POLICY = "incident-workers"
NAMESPACE = "shop"
# Pods bound beyond the cap by the scheduler's in-flight decisions. The demo's
# rollout is paced (10 pods a second; an unpaced burst overshoots by what the
# scheduler decides in one go, which e2e.density.cap measures without a
# bound), so a worker past this held pods a taint should have kept away: a
# taint released too early, as the bug this caught (docs/performance.md, "A
# released taint").
MAX_OVERSHOOT = 5
DENSITY_TAINT = "nodeguard.io/pod-density-exceeded"
FINDINGS = "nodeguard.io/resource-findings"
DEMO_TIMEOUT = 900


class Observer:
    """What the Node and Pod watches saw, for the checks after the run."""

    def __init__(self):
        self.lock = threading.Lock()  # Guards everything below.
        self.boot_ids = {}           # node -> bootIDs in order of appearance
        self.density_tainted = set()  # nodes seen with the density taint
        self.cordoned = set()        # workers unschedulable now
        self.ever_cordoned = set()
        self.max_cordoned = set()    # the largest set of workers cordoned at once
        self.pod_node = {}           # uid of a live pod (bound, not terminating) -> node
        self.pod_name = {}           # uid -> name, for the failure message
        self.max_pods_names = {}     # node -> the pods that made its maximum
        self.max_pods = {}           # node -> most live pods bound at once
        self.max_pods_at = {}        # node -> resourceVersion of the pod event that set it

    def on_node(self, kind, node, _arrived):
        name = node.get("metadata", {}).get("name", "")
        if name not in WORKERS:
            return
        with self.lock:
            boot = node.get("status", {}).get("nodeInfo", {}).get("bootID", "")
            seen = self.boot_ids.setdefault(name, [])
            if boot and (not seen or seen[-1] != boot):
                seen.append(boot)
            taints = {t.get("key") for t in node.get("spec", {}).get("taints", []) or []}
            if DENSITY_TAINT in taints:
                self.density_tainted.add(name)
            if kind != "DELETED" and node.get("spec", {}).get("unschedulable"):
                self.cordoned.add(name)
                self.ever_cordoned.add(name)
            else:
                self.cordoned.discard(name)
            if len(self.cordoned) > len(self.max_cordoned):
                self.max_cordoned = set(self.cordoned)

    def on_pod(self, kind, pod, _arrived):
        """Live pods per node from every version of every pod (ng.Watch is
        gap-free: a deleted pod's DELETED always arrives), keyed by uid so a
        name used again is another pod."""
        meta = pod.get("metadata", {})
        key = meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}"
        node = pod.get("spec", {}).get("nodeName", "")
        phase = pod.get("status", {}).get("phase", "")
        live = (kind != "DELETED" and node and not meta.get("deletionTimestamp")
                and phase not in ("Succeeded", "Failed"))
        with self.lock:
            if live:
                self.pod_node[key] = node
                self.pod_name[key] = meta.get("name", "")
                count = sum(1 for n in self.pod_node.values() if n == node)
                if count > self.max_pods.get(node, 0):
                    self.max_pods[node] = count
                    self.max_pods_at[node] = meta.get("resourceVersion")
                    self.max_pods_names[node] = sorted(
                        self.pod_name[u] for u, n in self.pod_node.items() if n == node)
            else:
                self.pod_node.pop(key, None)
                self.pod_name.pop(key, None)


def kubectl_json(kubeconfig, *args):
    return ng.get_json(*args, "--kubeconfig", kubeconfig)


def ready_condition(node):
    for c in node.get("status", {}).get("conditions", []):
        if c.get("type") == "Ready":
            return c
    return {}


def run_demo(args, state, env):
    """Runs the demo to its end while watching its cluster. Returns
    (exit code, wall seconds, observer)."""
    kubeconfig = os.path.join(state, "kubeconfig")
    observer = Observer()
    log_path = os.path.join(args.workdir, "demo.log")
    start = time.monotonic()
    with open(log_path, "w") as log:
        demo = subprocess.Popen([DEMO], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

        def tee():
            for line in iter(demo.stdout.readline, b""):
                text = line.decode(errors="replace")
                log.write(text)
                log.flush()
                sys.stdout.write("demo| " + text)
                sys.stdout.flush()
        copier = threading.Thread(target=tee, daemon=True)
        copier.start()
        watches = []
        try:
            # The watches start as soon as the cluster answers, well before
            # the demo's rollout (step 4): it first installs the CRD, the
            # controller, the agents and the policy and waits for the policy.
            ng.wait_for("the demo's cluster answers",
                        lambda: demo.poll() is not None or (
                            os.path.exists(kubeconfig) and ng.kubectl(
                                "get", "--raw", "/readyz", kubeconfig=kubeconfig,
                                check=False, timeout=10).returncode == 0),
                        timeout=300)
            ng.check(demo.poll() is None, f"the demo exited {demo.returncode} before its cluster answered")
            for watch_args, handler in (
                    (["nodes", "--kubeconfig", kubeconfig], observer.on_node),
                    (["pods", "-n", NAMESPACE, "--kubeconfig", kubeconfig], observer.on_pod)):
                w = ng.Watch(watch_args, handler)
                w.start()
                watches.append(w)
            for w in watches:
                w.wait_synced(60)
            # The nodes come a little after the API server answers.
            ng.check(watches[0].first_event.wait(60), "no node seen by the node watch in 60 s")
            try:
                rc = demo.wait(timeout=DEMO_TIMEOUT)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
                ng.fail(f"the demo did not finish within {DEMO_TIMEOUT}s (log: {log_path})")
            wall = time.monotonic() - start
            copier.join(10)
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()
            # Every watch stopped, then any gap or callback error fails the test.
            problems = []
            for w in watches:
                try:
                    w.stop()
                except ng.TestFailure as e:
                    problems.append(str(e))
            ng.check(not problems, "; ".join(problems))
    return rc, wall, observer


def check_outcome(kubeconfig, observer):
    policy = kubectl_json(kubeconfig, "nhp", POLICY)
    status = policy.get("status", {})
    ready = [c for c in status.get("conditions", []) if c.get("type") == "Ready"]
    ng.check(ready and ready[0].get("status") == "True",
             f"policy {POLICY} not Ready: {status.get('conditions')}")
    ng.check(status.get("observedGeneration") == policy["metadata"]["generation"],
             f"policy {POLICY}: observedGeneration {status.get('observedGeneration')}, "
             f"generation {policy['metadata']['generation']}")
    ng.say(f"policy {POLICY}: Ready, observedGeneration {status.get('observedGeneration')}")

    density = policy["spec"]["podDensity"]
    cap = density["maxPods"]
    taint_at = cap - density.get("taintAhead", 0)
    with observer.lock:
        not_tainted = [n for n in WORKERS if n not in observer.density_tainted]
        max_pods = {n: observer.max_pods.get(n, 0) for n in WORKERS}
        boot_ids = {n: list(v) for n, v in observer.boot_ids.items()}
        max_cordoned = set(observer.max_cordoned)
        ever_cordoned = set(observer.ever_cordoned)
    ng.check(not not_tainted, f"never carried {DENSITY_TAINT}: {not_tainted}")
    under = {n: c for n, c in max_pods.items() if c < taint_at}
    ng.check(not under, f"workers that never reached {taint_at} pods (cap {cap}): {under}")
    over = {n: c for n, c in max_pods.items() if c > cap + MAX_OVERSHOOT}
    ng.check(not over, f"workers with more than {cap} + {MAX_OVERSHOOT} pods: {over} (reached "
             f"at pod resourceVersion {[observer.max_pods_at.get(n) for n in over]}; the pods: "
             f"{ {n: observer.max_pods_names.get(n) for n in over} })")
    ng.say(f"cap reached on all {len(WORKERS)} workers: {DENSITY_TAINT} on each, most pods "
           f"bound at once {min(max_pods.values())}-{max(max_pods.values())} "
           f"(cap {cap}, tainted at {taint_at})")
    print(f"MEASURED demo max pods per worker: {max(max_pods.values())} "
          f"({dict(sorted(max_pods.items()))})", flush=True)

    ng.check(len(max_cordoned) <= 1, f"workers cordoned at the same time: {sorted(max_cordoned)}")
    ng.check(ever_cordoned == set(SICK), f"workers cordoned: {sorted(ever_cordoned)}, want {SICK}")
    recent = status.get("recentRemediations", [])
    for name in SICK:
        node = kubectl_json(kubeconfig, "node", name)
        ng.check(ready_condition(node).get("status") == "True", f"{name} not Ready at the end")
        ng.check(not node.get("spec", {}).get("unschedulable"), f"{name} still cordoned")
        ids = boot_ids.get(name, [])
        ng.check(len(ids) >= 2, f"{name}: no new bootID seen (bootIDs {ids}): not rebooted")
        annotation = node["metadata"].get("annotations", {}).get("nodeguard.io/remediation", "")
        ng.check('"phase":"Succeeded"' in annotation.replace(" ", ""),
                 f"{name}: nodeguard.io/remediation is {annotation!r}")
        mine = [r for r in recent if r.get("node") == name]
        ng.check(mine and mine[0].get("phase") == "Succeeded" and mine[0].get("result") == "Recovered",
                 f"{name}: recentRemediations {mine}")
        ng.say(f"{name}: {mine[0]['phase']}/{mine[0]['result']} after {mine[0].get('action')}, "
               f"bootID changed, Ready, uncordoned")
    others = [n for n in WORKERS if n not in SICK and len(boot_ids.get(n, [])) > 1]
    ng.check(not others, f"healthy workers rebooted: {others}")

    def flagged_consistent():
        pods = kubectl_json(kubeconfig, "pods", "-n", NAMESPACE).get("items", [])
        bound = [p for p in pods if p["spec"].get("nodeName") in WORKERS
                 and not p["metadata"].get("deletionTimestamp")
                 and p.get("status", {}).get("phase") == "Running"]
        unflagged = [p["metadata"]["name"] for p in bound
                     if FINDINGS not in p["metadata"].get("annotations", {})]
        flagged = kubectl_json(kubeconfig, "nhp", POLICY).get("status", {}).get("podsFlagged", 0)
        detail = (f"{len(bound)} pods Running on the workers, {len(unflagged)} of them without "
                  f"{FINDINGS} (e.g. {unflagged[:3]}), status.podsFlagged {flagged}")
        return bool(bound) and not unflagged and flagged == len(bound), detail
    ng.wait_for("every Running demo pod flagged, and counted in podsFlagged",
                flagged_consistent, timeout=120)
    ng.say(f"pods flagged: {flagged_consistent()[1]}")


def check_notifications(workdir):
    """What the demo's receiver accepted (docstring, "the notifications arrived")."""
    records = receiver.read_records(workdir)
    problems = [f"{r['path']}: {r['problems']}" for r in records if r["problems"]]
    ng.check(not problems, "the demo's receiver found problems: " + "; ".join(problems))
    for path in ("/ding", "/slack"):
        ids = [receiver.fact_id(path, r["body"]) for r in records
               if r["path"] == path and r["answer"] == "200"]
        for node in SICK:
            for kind in ("remediation.started", "remediation.succeeded"):
                ng.check(any(i.startswith(f"{kind}/{POLICY}/{node}/") for i in ids),
                         f"{path}: no {kind} for {node} accepted; accepted: {ids}")
        density = sorted((r["t"], r["body"]) for r in records
                         if r["path"] == path and r["answer"] == "200"
                         and receiver.fact_id(path, r["body"]).startswith("density.cap-reached/"))
        listed = set()
        for _, body in density:
            text = body["markdown"]["text"] if path == "/ding" else json.dumps(body)
            listed |= {n for n in WORKERS if n in text}
        ng.check(listed == set(WORKERS),
                 f"{path}: workers in no density.cap-reached message: "
                 f"{sorted(set(WORKERS) - listed)} ({len(density)} messages)")
        windows = [receiver.fact_id(path, b) for _, b in density]
        ng.check(len(windows) == len(set(windows)),
                 f"{path}: two density messages for one window: {windows}")
        ng.say(f"{receiver.SINK_NAMES[path]}: started and succeeded for {', '.join(SICK)}; "
               f"{len(density)} density messages listing all {len(WORKERS)} workers; "
               f"{len(ids)} accepted in all")
    print(f"MEASURED demo notifications accepted: {len(records)} requests, "
          f"{sum(1 for r in records if r['answer'] == '200')} accepted", flush=True)


def recorded_processes(state):
    """{pid file name: pid} of the processes the demo recorded."""
    pids = {}
    directory = os.path.join(state, "demo-pids")
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        with open(os.path.join(directory, name)) as f:
            pids[name] = int(f.read().strip())
    return pids


def alive_as_ours(pid, state):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return (state + "/").encode() in f.read()
    except OSError:
        return False


def demo_down(env):
    return subprocess.run([DEMO, "down"], env=env, capture_output=True, text=True, timeout=180)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodeguard", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--cluster", required=True, help="the demo's cluster name")
    args = parser.parse_args()
    ng.exit_on_sigterm()
    os.makedirs(args.workdir, exist_ok=True)
    env = dict(os.environ, NODEGUARD_DEMO_CLUSTER=args.cluster, NODEGUARD_BINARY=args.nodeguard)
    for var in ("NODEGUARD_CLUSTER_DIR", "NODEGUARD_CLUSTER_NAME", "KUBECONFIG"):
        env.pop(var, None)
    root = os.environ.get("NODEGUARD_CLUSTERS_ROOT", "/tmp/nodeguard-clusters")
    state = os.path.join(root, args.cluster)
    kubeconfig = os.path.join(state, "kubeconfig")

    # A demo this test left behind (a killed run) goes first.
    demo_down(env)
    failed = None
    try:
        rc, wall, observer = run_demo(args, state, env)
        print(f"MEASURED demo wall time: {wall:.1f} s (exit {rc})", flush=True)
        print(f'<DartMeasurement name="demo_seconds" type="numeric/double">{wall:.1f}'
              '</DartMeasurement>', flush=True)
        with open(os.path.join(args.workdir, "demo-seconds"), "w") as f:
            f.write(f"{wall:.1f}\n")
        ng.check(rc == 0, f"the demo exited {rc} (log: {os.path.join(args.workdir, 'demo.log')})")
        check_outcome(kubeconfig, observer)
        check_notifications(os.path.join(state, "notify-receiver"))
    except ng.TestFailure as e:
        failed = str(e)
    except Exception as e:  # An unexpected error is a failure too, after the cleanup.
        failed = f"unexpected error: {e!r}"
        import traceback
        traceback.print_exc()
    finally:
        processes = recorded_processes(state)
        logs = os.path.join(args.workdir, "nodeguard-logs")
        subprocess.run(["rm", "-rf", logs], check=False)
        if os.path.isdir(os.path.join(state, "nodeguard-logs")):
            subprocess.run(["cp", "-a", os.path.join(state, "nodeguard-logs"), logs], check=False)
        down = demo_down(env)
        print(down.stdout + down.stderr, end="", flush=True)
    # `make demo-down`: exactly the recorded processes, and the cluster.
    problems = []
    if down.returncode != 0:
        problems.append(f"demo down exited {down.returncode}")
    survivors = [f"{name} (pid {pid})" for name, pid in processes.items() if alive_as_ours(pid, state)]
    if survivors:
        problems.append(f"still running after demo down: {survivors}")
    if os.path.exists(state):
        problems.append(f"{state} still exists after demo down")
    if failed is None and len(processes) != 2 + len(WORKERS):
        problems.append(f"the demo recorded {len(processes)} processes, want the controller, "
                        f"the notifications receiver and {len(WORKERS)} agents: "
                        f"{sorted(processes)}")
    if not problems:
        ng.say(f"demo down: {len(processes)} recorded processes stopped, cluster removed")
    if failed or problems:
        print("FAIL e2e.demo: " + "; ".join(([failed] if failed else []) + problems), flush=True)
        return 1
    print("PASS e2e.demo", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
