#!/usr/bin/env python3
"""cluster.scope (a scenario: one slot of the fixture's cluster): the test
library's Scope and gap-free Watch against the real API server.

  - Scope("scope-smoke", nodes=2): the namespace, the nodes scope-smoke-01/02
    Ready and labelled nodeguard.io/watch-filter=scope-smoke; policy() and
    pod_placement() as documented (a pod lands on a scope node);
  - Watch with 2 s streams over 14 s: 10 versions of a scope node written
    (an annotation counted 1..10), including quiet periods longer than a
    stream: every version arrives once, in order, after several resumed
    streams and no relist; a pod deleted is seen DELETED;
  - on exit, a policy with a finalizer no controller releases is stripped
    and deleted, a PLEG-sick node healed, the nodes and the Lease are gone,
    the namespace is going;
    nothing else of the cluster changed (the 20 workers untouched).

Usage: scope_test.py   (KUBECONFIG, NODEGUARD_SIM from the fixture)
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lib"))
import nodeguard_testlib as ng  # noqa: E402

NAME = "scope-smoke"
COUNTER = "nodeguard.io/scope-test-counter"


def worker_fingerprint():
    """The fixture's workers as a scope must leave them."""
    nodes = ng.get_json("nodes", "-l", "type=kwok").get("items", [])
    return sorted((n["metadata"]["name"], n["metadata"]["uid"],
                   bool(n.get("spec", {}).get("unschedulable")))
                  for n in nodes if n["metadata"]["name"].startswith("worker-"))


def main():
    ng.exit_on_sigterm()
    ng.ensure_crd()
    before = worker_fingerprint()
    seen = []
    pods = []
    lock = threading.Lock()

    def on_node(kind, obj, _arrived):
        value = (obj["metadata"].get("annotations") or {}).get(COUNTER)
        if value is not None:
            with lock:
                seen.append((kind, int(value)))

    def on_pod(kind, obj, _arrived):
        with lock:
            pods.append((kind, obj["metadata"]["name"], obj.get("spec", {}).get("nodeName")))

    with ng.Scope(NAME, nodes=2) as scope:
        ng.check(scope.nodes == [f"{NAME}-01", f"{NAME}-02"], f"nodes {scope.nodes}")
        labelled = ng.get_json("nodes", "-l", f"{ng.WATCH_FILTER_LABEL}={NAME}")["items"]
        ng.check(sorted(n["metadata"]["name"] for n in labelled) == scope.nodes,
                 f"labelled nodes: {[n['metadata']['name'] for n in labelled]}")
        ng.check(ng.get_json_or_none("namespace", NAME) is not None, "no namespace")
        ng.check(scope.controller_args() == ["--watch-filter", NAME, "--leader-election-id",
                                             f"nodeguard-{NAME}"], scope.controller_args())

        node_watch = ng.Watch(["nodes", "-l", scope.selector], on_node)
        node_watch.STREAM_SECONDS = 2
        pod_watch = ng.Watch(["pods", "-n", scope.namespace], on_pod)
        node_watch.start()
        pod_watch.start()
        try:
            node_watch.wait_synced(30)
            pod_watch.wait_synced(30)
            node = scope.nodes[0]
            for i in range(1, 11):
                ng.kubectl("annotate", "node", node, f"{COUNTER}={i}", "--overwrite")
                time.sleep(3.5 if i in (3, 7) else 0.8)  # Quiet for longer than a stream.
            pod = {"apiVersion": "v1", "kind": "Pod",
                   "metadata": {"name": "placed", "namespace": scope.namespace},
                   "spec": {**scope.pod_placement(), "terminationGracePeriodSeconds": 0,
                            "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}
            ng.apply(pod)
            ng.wait_for("the pod Running", lambda: (ng.get_json("pod", "-n", scope.namespace,
                                                                "placed").get("status", {})
                                                    .get("phase") == "Running"), 60, 0.5)
            placed = ng.get_json("pod", "-n", scope.namespace, "placed")["spec"].get("nodeName")
            ng.check(placed in scope.nodes, f"the pod landed on {placed}, not a scope node")
            ng.kubectl("delete", "pod", "-n", scope.namespace, "placed", "--wait=true",
                       "--timeout=60s")
            ng.wait_for("the watch to see every version",
                        lambda: (len(seen) >= 10, str(seen)), 20, 0.2)
            ng.wait_for("the pod watch to see the deletion",
                        lambda: (("DELETED", "placed", placed) in pods, str(pods)), 20, 0.2)
        finally:
            node_watch.stop()
            pod_watch.stop()
        values = [v for _, v in seen]
        ng.check(values == list(range(1, 11)), f"versions seen: {seen}")
        ng.check(node_watch.restarts >= 3 and node_watch.relists == 0,
                 f"resumed streams {node_watch.restarts}, relists {node_watch.relists}")
        ng.say(f"watch: every one of 10 versions once, in order, over {node_watch.restarts} "
               f"resumed 2 s streams, no relist; pod ADDED..DELETED on {placed}")

        policy = scope.policy(f"{NAME}-policy", {"podDensity": {"maxPods": 30}})
        ng.check(policy["metadata"]["labels"] == {ng.WATCH_FILTER_LABEL: NAME}, policy)
        ng.check(policy["spec"]["nodeSelector"] == {"matchLabels": {ng.WATCH_FILTER_LABEL: NAME}},
                 policy)
        # A finalizer nobody releases: the scope's exit must strip it.
        policy["metadata"]["finalizers"] = ["nodeguard.io/scope-test"]
        ng.apply(policy)
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": f"nodeguard-{NAME}", "namespace": ng.SCOPE_LEASE_NAMESPACE},
                 "spec": {}}
        ng.ensure_namespace(ng.SCOPE_LEASE_NAMESPACE)
        ng.apply(lease)
        # A frozen node: the exit heals it (the sim-player lets go) before deleting it.
        ng.sim("pleg-sick", scope.nodes[1])
        exit_started = time.monotonic()
    took = time.monotonic() - exit_started
    ng.check(not ng.get_json("nodes", "-l", f"{ng.WATCH_FILTER_LABEL}={NAME}")["items"],
             "scope nodes left")
    ng.check(ng.get_json_or_none("nhp", f"{NAME}-policy") is None, "the policy is left")
    ng.check(ng.get_json_or_none("lease", "-n", ng.SCOPE_LEASE_NAMESPACE,
                                 f"nodeguard-{NAME}") is None, "the Lease is left")
    ns = ng.get_json_or_none("namespace", NAME)
    ng.check(ns is None or ns["metadata"].get("deletionTimestamp"), "the namespace stays")
    ng.check(worker_fingerprint() == before, "the fixture's workers changed")
    print(f"MEASURED scope exit (policy stripped, nodes deleted): {took:.1f}s", flush=True)
    print("PASS cluster.scope", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ng.TestFailure as e:
        print(f"FAIL cluster.scope: {e}", flush=True)
        sys.exit(1)
