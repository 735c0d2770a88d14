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

Usage: early_warning_e2e.py --nodeguard PATH --workdir DIR {levels,cleanup}
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


def cleanup(binary, workdir):
    ng.Scope(SCOPE).cleanup()


def main():
    args = ng.suite_arguments(__doc__, ["levels", "cleanup"])
    scenarios = {"levels": levels, "cleanup": cleanup}
    return ng.run_subcommand(scenarios, args.command, args.nodeguard, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
