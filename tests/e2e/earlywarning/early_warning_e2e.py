#!/usr/bin/env python3
"""End-to-end test of the controller's side of the early-warning level
(issue 19, third milestone; docs/early-warning.md).

The real controller binary on the fixture's cluster, in its own ng.Scope
("ew-levels", 3 simulated nodes, --watch-filter): the test writes
nodeguard.io/early-warning on the nodes as the agent does (a merge patch of
the JSON record) and checks

  - status.earlyWarning and nodeguard_early_warning_nodes{policy,level}
    count the governed nodes by level (an unreadable annotation: unknown);
  - one Event per change of a node's published level (Warning
    EarlyWarningDegraded / EarlyWarningCritical, Normal EarlyWarningHealthy),
    none for a node that was never anything but Healthy, and the record
    nodeguard.io/early-warning-announced on the node;
  - a controller killed (SIGKILL) and restarted repeats no Event (the
    record is on the Node).

`adaptive-cap` (issue 19, fourth milestone), in its own ng.Scope ("ew-cap",
one node): a policy with podDensity maxPods 10 and
spec.earlyWarning.adaptiveCap.reduceBy 40% (lowered cap 6), and 7 pods bound
to the node (between the lowered and the normal cap):

  - the controller writes the policy's marks for the agent
    (nodeguard.io/early-warning-thresholds) on the node;
  - Degraded published -> the density taint appears (the lowered cap 6; the
    gauge nodeguard_node_pod_cap and status.densityCappedNodes say 6; the
    Events say "lowered from 10 to 6");
  - an unreadable annotation -> counted unknown, the taint stays (no change);
  - Healthy -> the taint goes (cap 10 again, 7 pods below its release mark 9);
  - unreadable again -> no taint added;
  - earlyWarning removed from the policy -> the thresholds annotation goes.

Usage: early_warning_e2e.py --nodeguard PATH --workdir DIR {levels,adaptive-cap,cleanup}
Environment: KUBECONFIG (set by the fixture).
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

SCOPE = "ew-levels"
CAP_SCOPE = "ew-cap"
THRESHOLDS = "nodeguard.io/early-warning-thresholds"
DENSITY_TAINT = "nodeguard.io/pod-density-exceeded"
PAUSE = "registry.k8s.io/pause:3.9"
ANNOTATION = "nodeguard.io/early-warning"
ANNOUNCED = "nodeguard.io/early-warning-announced"
check = ng.check
say = ng.say


def publish(node, level, since, value=None):
    """Writes the annotation as the agent does (a merge patch of its record)."""
    if value is None:
        value = json.dumps({"level": level, "since": since, "observedAt": since,
                            "reason": "Test", "figures": {"lastRelistAgeSeconds": 1.0}},
                           separators=(",", ":"))
    patch = {"metadata": {"annotations": {ANNOTATION: value}}}
    ng.kubectl("patch", "node", node, "--type", "merge", "-p", json.dumps(patch))


def events(node):
    """{reason: [(type, count)]} of the early-warning Events on `node`."""
    out = {}
    for e in ng.get_json("events", "-n", "default", "--field-selector",
                         f"involvedObject.kind=Node,involvedObject.name={node}")["items"]:
        if e.get("reason", "").startswith("EarlyWarning"):
            out.setdefault(e["reason"], []).append((e["type"], e.get("count", 1)))
    return out


def wait_counts(controller, policy, want, what):
    def probe():
        s = (ng.get_json("nhp", policy).get("status") or {}).get("earlyWarning") or {}
        got = {k: s.get(k, 0) for k in want}
        gauge = {k: controller.series("nodeguard_early_warning_nodes",
                                      {"policy": policy, "level": k}) for k in want}
        ok = got == want and all(gauge[k] == want[k] for k in want)
        return ok, f"status.earlyWarning {got}, gauge {gauge}, want {want}"
    ng.wait_for(what, probe, timeout=30, interval=0.5)


def wait_events(node, want, what):
    ng.wait_for(what, lambda: (events(node) == want, f"{node}: {events(node)}, want {want}"),
                timeout=30, interval=0.5)


def levels(binary, workdir):
    start = time.monotonic()
    ng.ensure_crd()
    with ng.Scope(SCOPE, nodes=3) as scope:
        degraded, critical, healthy = scope.nodes
        controller = ng.Controller(binary, workdir, "ew", extra_args=scope.controller_args())
        try:
            controller.start()
            controller.wait_ready()
            ng.apply(scope.policy(scope.name, {}))
            t1 = "2026-12-07T10:00:00Z"
            publish(degraded, "Degraded", t1)
            publish(critical, "Critical", t1)
            publish(healthy, "Healthy", t1)
            wait_counts(controller, scope.name,
                        {"healthy": 1, "degraded": 1, "critical": 1, "unknown": 0},
                        "status and gauge: one node at each level")
            wait_events(degraded, {"EarlyWarningDegraded": [("Warning", 1)]}, "Degraded announced")
            wait_events(critical, {"EarlyWarningCritical": [("Warning", 1)]}, "Critical announced")
            node = ng.get_json("node", degraded)
            check(node["metadata"]["annotations"].get(ANNOUNCED) == f"Degraded {t1}",
                  f"{degraded}: {ANNOUNCED} is {node['metadata']['annotations'].get(ANNOUNCED)!r}")
            check(events(healthy) == {}, f"{healthy} (never left Healthy): {events(healthy)}")

            # A crash (SIGKILL) and a restart: the controller relists
            # everything and must not announce again.
            controller.kill()
            controller.start()
            controller.wait_ready()
            publish(healthy, None, None, value="{not json")
            wait_counts(controller, scope.name,
                        {"healthy": 0, "degraded": 1, "critical": 1, "unknown": 1},
                        "after the restart: the unreadable annotation counted unknown")
            time.sleep(2)  # Time for a repeat to show, if the restart made one.
            check(events(degraded) == {"EarlyWarningDegraded": [("Warning", 1)]},
                  f"after the restart {degraded}: {events(degraded)}")
            check(events(critical) == {"EarlyWarningCritical": [("Warning", 1)]},
                  f"after the restart {critical}: {events(critical)}")
            check(events(healthy) == {}, f"unreadable is never announced: {events(healthy)}")
            check("unreadable nodeguard.io/early-warning annotation" in open(controller.log_path).read(),
                  "the unreadable annotation is logged")

            # Critical recovers: one Normal Event, once.
            publish(critical, "Healthy", "2026-12-07T10:05:00Z")
            wait_events(critical, {"EarlyWarningCritical": [("Warning", 1)],
                                   "EarlyWarningHealthy": [("Normal", 1)]}, "Healthy announced")
            wait_counts(controller, scope.name,
                        {"healthy": 1, "degraded": 1, "critical": 0, "unknown": 1},
                        "status and gauge after the recovery")
            # Unrelated node updates (a label) announce nothing more.
            ng.kubectl("label", "node", critical, "nodeguard.io/e2e-touch=1", "--overwrite")
            time.sleep(2)
            check(events(critical) == {"EarlyWarningCritical": [("Warning", 1)],
                                       "EarlyWarningHealthy": [("Normal", 1)]},
                  f"{critical} after an unrelated update: {events(critical)}")
        finally:
            problem = controller.stop()
        check(not problem, f"the controller {problem}:\n{controller.tail()}")
    say(f"PASS e2e.early-warning.levels in {time.monotonic() - start:.1f}s")


def density_tainted(node):
    taints = ng.get_json("node", node).get("spec", {}).get("taints") or []
    return any(t["key"] == DENSITY_TAINT for t in taints)


def wait_taint(node, want, what):
    ng.wait_for(what, lambda: (density_tainted(node) == want,
                               f"{node}: density taint {'present' if density_tainted(node) else 'absent'}"),
                timeout=30, interval=0.5)


def hold_taint(node, want, seconds, what):
    """The taint stays as `want` for `seconds` (no change)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        check(density_tainted(node) == want, f"{what}: the density taint changed on {node}")
        time.sleep(0.5)


def wait_cap(controller, node, want, what):
    def probe():
        cap = controller.series("nodeguard_node_pod_cap", {"node": node})
        pods = controller.series("nodeguard_node_pods", {"node": node})
        return cap == want and pods == 7, f"nodeguard_node_pod_cap {cap} (want {want}), pods {pods}"
    ng.wait_for(what, probe, timeout=30, interval=0.5)


def event_messages(node, reason):
    return [e.get("message", "") for e in
            ng.get_json("events", "-n", "default", "--field-selector",
                        f"involvedObject.kind=Node,involvedObject.name={node},reason={reason}")["items"]]


def wait_event_saying(node, reason, text):
    ng.wait_for(f"a {reason} Event saying {text!r}", lambda: (
        any(text in m for m in event_messages(node, reason)),
        str(event_messages(node, reason))), timeout=30, interval=0.5)


def unreadable(controller, policy, node, value, tainted):
    """An annotation the controller cannot read: counted unknown, and the
    density taint stays as it is (present or absent) for 3 s."""
    publish(node, None, None, value=value)
    wait_counts(controller, policy, {"healthy": 0, "degraded": 0, "critical": 0, "unknown": 1},
                f"unreadable ({value}): counted unknown")
    hold_taint(node, tainted, 3, f"unreadable ({value}) while {'' if tainted else 'un'}tainted")


def adaptive_cap(binary, workdir):
    start = time.monotonic()
    ng.ensure_crd()
    with ng.Scope(CAP_SCOPE, nodes=1) as scope:
        node = scope.nodes[0]
        controller = ng.Controller(binary, workdir, "ew-cap", extra_args=scope.controller_args())
        try:
            controller.start()
            controller.wait_ready()
            body_start = time.monotonic()
            policy = scope.policy(scope.name, {
                "podDensity": {"maxPods": 10},
                "earlyWarning": {"criticalLastRelistAge": "45s",
                                 "adaptiveCap": {"reduceBy": "40%"}}})
            ng.apply(policy)
            pods = [{"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"p{i}", "namespace": scope.namespace},
                     "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                              "tolerations": [{"operator": "Exists"}],
                              "containers": [{"name": "app", "image": PAUSE}]}}
                    for i in range(7)]
            ng.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                              "items": pods}))

            # The marks reach the node for its agent.
            def thresholds():
                a = (ng.get_json("node", node)["metadata"].get("annotations") or {}).get(THRESHOLDS)
                return a is not None, f"{THRESHOLDS}: {a!r}"
            ng.wait_for("the policy's thresholds on the node", thresholds, timeout=30, interval=0.5)
            written = json.loads(ng.get_json("node", node)["metadata"]["annotations"][THRESHOLDS])
            check(written == {"policy": scope.name, "degradedRelistP99": "1s",
                              "calmRelistP99": "500ms", "criticalLastRelistAge": "45s",
                              "calmLastRelistAge": "10s", "hold": "2m0s"},
                  f"{THRESHOLDS} is {written}")

            wait_cap(controller, node, 10, "7 pods counted under the policy cap 10")
            check(not density_tainted(node), f"{node} tainted with 7 pods under a cap of 10")

            publish(node, "Degraded", "2026-12-07T11:00:00Z")
            wait_taint(node, True, "Degraded: the taint at the lowered cap (6)")
            lowered_at = time.monotonic()
            wait_cap(controller, node, 6, "the gauge shows the lowered cap")
            def capped():
                c = (ng.get_json("nhp", scope.name).get("status") or {}).get(
                    "densityCappedNodes") or []
                return c == [{"node": node, "pods": 7, "cap": 6}], f"status.densityCappedNodes {c}"
            ng.wait_for("status lists the node at its lowered cap", capped, timeout=30,
                        interval=0.5)
            wait_event_saying(node, "PodDensityCapReached", "lowered from 10")
            wait_event_saying(node, "EarlyWarningDegraded", "lowered from 10 to 6")

            unreadable(controller, scope.name, node, "{not json", tainted=True)

            publish(node, "Healthy", "2026-12-07T11:05:00Z")
            wait_taint(node, False, "Healthy: the cap restored (10), the taint goes")
            say(f"taint at the lowered cap, then restored, "
                f"{time.monotonic() - lowered_at:.1f}s between")
            wait_cap(controller, node, 10, "the gauge shows the restored cap")
            wait_event_saying(node, "EarlyWarningHealthy", "cap is 10 again")

            unreadable(controller, scope.name, node, "[]", tainted=False)

            # Without spec.earlyWarning the agent's flags decide: the marks go.
            del policy["spec"]["earlyWarning"]
            ng.apply(policy)  # Three-way: the field the last apply had is removed.
            ng.wait_for("the thresholds annotation removed", lambda: (
                not thresholds()[0], thresholds()[1]), timeout=30, interval=0.5)
            body = time.monotonic() - body_start
        finally:
            problem = controller.stop()
        check(not problem, f"the controller {problem}:\n{controller.tail()}")
    # The bound is on the scenario itself, from the policy to the last check
    # (the scope's node and the controller's start are the fixture's cost).
    check(body < 90, f"the scenario took {body:.1f}s (bound 90 s)")
    say(f"PASS e2e.early-warning.adaptive-cap in {time.monotonic() - start:.1f}s "
        f"(scenario {body:.1f}s)")


def cleanup(binary, workdir):
    ng.Scope(SCOPE).cleanup()
    ng.Scope(CAP_SCOPE).cleanup()


def main():
    args = ng.suite_arguments(__doc__, ["levels", "adaptive-cap", "cleanup"])
    scenarios = {"levels": levels, "adaptive-cap": adaptive_cap, "cleanup": cleanup}
    return ng.run_subcommand(scenarios, args.command, args.nodeguard, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
