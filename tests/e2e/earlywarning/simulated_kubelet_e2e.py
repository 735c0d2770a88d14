#!/usr/bin/env python3
"""End-to-end test of the agent's early warning on simulated nodes (issue 19;
docs/early-warning.md, "Simulated kubelet metrics").

The real `nodeguard agent --simulate --early-warning`, one per node of its
own ng.Scope ("ew-sim", 3 simulated nodes), scrapes the node's simulated
kubelet /metrics (tests/cluster/sim-kubelet, started by `sim
kubelet-endpoint`) exactly as it scrapes a real kubelet: an HTTPS GET with a
bearer token, the server's self-signed certificate pinned with
--kubelet-ca-file and --kubelet-server-name; only the URL differs
(https://127.0.0.1:PORT/nodes/NODE). The marks are shortened by flags
(interval 1 s, window 5 s, critical last relist 6 s, calm 3 s, hold 5 s);
the relist p99 marks keep their defaults (Degraded above 1 s, calm 0.5 s).

  slow node     sim relist-slow --p99 2 -> Degraded (RelistOverDegraded);
                sim heal -> Healthy (Recovered) after the window and the hold.
  frozen node   sim pleg-sick --timing 5 (the runtime freezes; the node's
                /metrics blocks, as the real kubelet's) -> Critical from the
                pending scrape (LastSeenOverCritical, scrapePendingSeconds),
                seen BEFORE the Node's Ready=False "container runtime is
                down" (real 2m05s, here 25 s), as on the real node
                (realnode_e2e.py early-warning); sim heal --thawed -> Degraded
                (RelistResumed) -> Healthy.
  garbage node  Healthy published, then sim metrics-garbage (an HTML page
                with status 200): the agent counts
                nodeguard_agent_kubelet_scrape_failures_total{reason="Unparsable"},
                logs it, keeps the level and writes nothing (reported, not
                acted on).

`loop` (own ng.Scope "ew-loop", 1 node) runs both halves at once: the real
controller writes the policy's marks on the node
(nodeguard.io/early-warning-thresholds: hold 5 s from spec.earlyWarning),
the agent takes them from there ("early-warning thresholds in use", source
"policy ..."); sim relist-slow --p99 2 -> the agent publishes Degraded -> the
controller lowers the node's cap from 10 to 6 (reduceBy 40%) and taints it
with its 7 pods; sim heal -> the agent publishes Healthy after the window and
the policy's hold -> the cap is 10 again and the taint goes.

Usage: simulated_kubelet_e2e.py --nodeguard PATH --workdir DIR {run,loop,cleanup}
Environment: KUBECONFIG (set by the fixture).
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import early_warning_e2e as ew  # noqa: E402  (the controller side's helpers)

SCOPE = "ew-sim"
LOOP_SCOPE = "ew-loop"
ANNOTATION = "nodeguard.io/early-warning"
TIMING = 5  # sim pleg-sick --timing: Ready=False 125/5 = 25 s after the freeze.
check = ng.check
say = ng.say


def endpoint():
    out = dict(line.split("=", 1) for line in ng.sim("kubelet-endpoint").split())
    check(out.get("url_prefix", "").startswith("https://127.0.0.1:"), f"sim kubelet-endpoint: {out}")
    return out


class Observer:
    """Polls the scope's nodes: per node the sequence of published
    (level, reason) with the monotonic time each was first seen, and when
    Ready first turned False."""

    def __init__(self, scope):
        self.scope = scope
        self.levels = {n: [] for n in scope.nodes}
        self.values = {n: None for n in scope.nodes}
        self.not_ready_at = {}
        self.start = time.monotonic()

    def poll(self):
        now = time.monotonic() - self.start
        for node in ng.get_json("nodes", "-l", self.scope.selector)["items"]:
            name = node["metadata"]["name"]
            if name not in self.levels:
                continue
            value = (node["metadata"].get("annotations") or {}).get(ANNOTATION)
            self.values[name] = value
            if value:
                record = json.loads(value)
                entry = (record["level"], record["reason"])
                seen = self.levels[name]
                if not seen or seen[-1][1:] != entry:
                    seen.append((round(now, 1), *entry))
                    say(f"{now:6.1f}s {name}: {entry[0]} ({entry[1]}) {record.get('figures')}")
            ready = next((c for c in node["status"].get("conditions") or [] if c["type"] == "Ready"), {})
            if ready.get("status") == "False" and name not in self.not_ready_at:
                self.not_ready_at[name] = round(now, 1)
                say(f"{now:6.1f}s {name}: Ready=False ({ready.get('message')})")

    def level(self, name):
        return self.levels[name][-1][1] if self.levels[name] else None

    def first(self, name, level):
        return next((t for t, lvl, _ in self.levels[name] if lvl == level), None)

    def wait(self, what, cond, timeout):
        def probe():
            self.poll()
            return cond(), f"{what}: {self.levels}"
        ng.wait_for(what, probe, timeout=timeout, interval=0.3)


def scrape_failures(agents, node, reason):
    return ng.rendered_series(agents.metrics(node), "nodeguard_agent_kubelet_scrape_failures_total",
                              {"reason": reason}) or 0


def write_token(workdir, name):
    path = os.path.join(workdir, f"{name}-token")
    with open(path, "w") as f:
        f.write("simulated-agent-token\n")
    return path


def loop(binary, workdir):
    start = time.monotonic()
    ng.ensure_crd()
    with ng.Scope(LOOP_SCOPE, nodes=1) as scope:
        node = scope.nodes[0]
        ep = endpoint()
        token = write_token(workdir, LOOP_SCOPE)
        controller = ng.Controller(binary, workdir, LOOP_SCOPE, extra_args=scope.controller_args())
        # Only the scrape's pace comes from flags; the marks come from the policy.
        agents = ng.SimulatedAgents(binary, scope.nodes, workdir, reboot_delay=5, extra_args=lambda n: [
            "--early-warning", "--kubelet-url", ep["url_prefix"] + n,
            "--kubelet-ca-file", ep["ca_file"], "--kubelet-server-name", ep["server_name"],
            "--kubelet-token-file", token,
            "--early-warning-interval", "1s", "--early-warning-window", "5s",
            "--kubelet-scrape-timeout", "60s"])
        seen = Observer(scope)
        try:
            controller.start()
            controller.wait_ready()
            ng.apply(scope.policy(scope.name, {
                "podDensity": {"maxPods": 10},
                "earlyWarning": {"hold": "5s", "adaptiveCap": {"reduceBy": "40%"}}}))
            pods = [{"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": f"p{i}", "namespace": scope.namespace},
                     "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                              "tolerations": [{"operator": "Exists"}],
                              "containers": [{"name": "app", "image": ew.PAUSE}]}}
                    for i in range(7)]
            ng.kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                              "items": pods}))
            ew.wait_cap(controller, node, 10, "7 pods counted under the policy cap 10")

            def marks():
                a = (ng.get_json("node", node)["metadata"].get("annotations") or {}).get(
                    ew.THRESHOLDS)
                return a is not None and json.loads(a).get("hold") == "5s", f"{ew.THRESHOLDS}: {a!r}"
            ng.wait_for("the policy's marks on the node", marks, timeout=30, interval=0.5)

            agents.start()
            seen.wait("the node Healthy (First)", lambda: seen.level(node) == "Healthy", 30)
            log_path = os.path.join(workdir, f"agent-{node}.log")

            def policy_marks_in_use():
                with open(log_path) as f:
                    lines = [line for line in f if "early-warning thresholds in use" in line]
                return bool(lines) and f"policy {scope.name}" in lines[-1] and "5s" in lines[-1], \
                    f"the agent's last 'thresholds in use': {lines[-1:] if lines else None}"
            ng.wait_for("the agent to use the policy's marks", policy_marks_in_use, timeout=30,
                        interval=0.5)
            check(not ew.density_tainted(node), f"{node} tainted with 7 pods under a cap of 10")

            ng.sim("relist-slow", node, "--p99", "2")
            slow_at = time.monotonic()
            seen.wait("the agent publishes Degraded", lambda: seen.level(node) == "Degraded", 60)
            ew.wait_taint(node, True, "Degraded: the taint at the lowered cap (6)")
            tainted_after = time.monotonic() - slow_at
            ew.wait_cap(controller, node, 6, "the gauge shows the lowered cap")
            ew.wait_event_saying(node, "EarlyWarningDegraded", "lowered from 10 to 6")

            ng.sim("heal", node, "--no-wait")
            heal_at = time.monotonic()
            seen.wait("the agent publishes Healthy", lambda: seen.level(node) == "Healthy"
                      and len(seen.levels[node]) > 2, 60)
            check(seen.levels[node][-1][2] == "Recovered", f"{node}: {seen.levels[node]}")
            ew.wait_taint(node, False, "Healthy: the cap restored (10), the taint goes")
            restored_after = time.monotonic() - heal_at
            ew.wait_cap(controller, node, 10, "the gauge shows the restored cap")
            say(f"relist slowed -> tainted at the lowered cap in {tainted_after:.1f}s; "
                f"healed -> untainted in {restored_after:.1f}s (window 5 s + the policy's hold 5 s)")
        finally:
            agents.stop()
            problem = controller.stop()
        check(not problem, f"the controller {problem}:\n{controller.tail()}")
    say(f"PASS e2e.early-warning.loop in {time.monotonic() - start:.1f}s")


def run(binary, workdir):
    start = time.monotonic()
    ng.ensure_crd()  # The scope's cleanup lists its policies (there are none here).
    with ng.Scope(SCOPE, nodes=3) as scope:
        slow, frozen, garbage = scope.nodes
        ep = endpoint()
        token = write_token(workdir, SCOPE)

        def agent_args(node):
            return ["--early-warning", "--kubelet-url", ep["url_prefix"] + node,
                    "--kubelet-ca-file", ep["ca_file"], "--kubelet-server-name", ep["server_name"],
                    "--kubelet-token-file", token,
                    "--early-warning-interval", "1s", "--early-warning-window", "5s",
                    "--early-warning-critical-last-relist", "6s",
                    "--early-warning-calm-last-relist", "3s", "--early-warning-hold", "5s",
                    "--kubelet-scrape-timeout", "60s"]

        agents = ng.SimulatedAgents(binary, scope.nodes, workdir, reboot_delay=5,
                                    extra_args=agent_args)
        seen = Observer(scope)
        try:
            agents.start()
            seen.wait("every node Healthy (First)",
                      lambda: all(seen.level(n) == "Healthy" for n in scope.nodes), 30)

            # The three faults at once.
            ng.sim("relist-slow", slow, "--p99", "2")
            ng.sim("metrics-garbage", garbage)
            ng.sim("pleg-sick", frozen, "--timing", str(TIMING), "--no-wait")
            freeze_at = time.monotonic() - seen.start
            say(f"{freeze_at:6.1f}s {frozen}: frozen (pleg-sick --timing {TIMING})")
            garbage_value = seen.values[garbage]
            seen.wait("the slow node Degraded, the frozen one Critical, then Ready=False",
                      lambda: seen.level(slow) == "Degraded" and frozen in seen.not_ready_at, 60)
            check(seen.levels[slow][-1][2] == "RelistOverDegraded", f"{slow}: {seen.levels[slow]}")
            critical_at = seen.first(frozen, "Critical")
            check(critical_at is not None and critical_at < seen.not_ready_at[frozen],
                  f"{frozen}: Critical ({critical_at}) before Ready=False ({seen.not_ready_at[frozen]}); "
                  f"levels {seen.levels[frozen]}")
            record = json.loads(seen.values[frozen])
            check("scrapePendingSeconds" in record["figures"] or record["figures"].get(
                "lastRelistAgeSeconds", 0) > 6, f"{frozen}: Critical's figures {record}")
            say(f"{frozen}: Critical {critical_at - freeze_at:.1f}s after the freeze, "
                f"Ready=False {seen.not_ready_at[frozen] - freeze_at:.1f}s after")

            # Garbage: counted and logged, the level kept, nothing written.
            failures = scrape_failures(agents, garbage, "Unparsable")
            check(failures >= 3, f"{garbage}: Unparsable scrape failures {failures}")
            check(seen.values[garbage] == garbage_value,
                  f"{garbage}: the annotation changed on garbage: {garbage_value} -> {seen.values[garbage]}")
            level = ng.rendered_series(agents.metrics(garbage), "nodeguard_agent_early_warning_level", {})
            check(level == 0, f"{garbage}: nodeguard_agent_early_warning_level {level}")
            with open(os.path.join(workdir, f"agent-{garbage}.log")) as f:
                check("cannot read the kubelet's metrics" in f.read(), f"{garbage}: no log of the failure")

            # Recovery.
            ng.sim("heal", slow, garbage, "--no-wait")
            ng.sim("heal", frozen, "--thawed", "--no-wait")
            heal_at = time.monotonic() - seen.start
            seen.wait("every node Healthy again",
                      lambda: all(seen.level(n) == "Healthy" for n in scope.nodes)
                      and len(seen.levels[frozen]) > 2, 60)
            check([lvl for _, lvl, _ in seen.levels[frozen]] == ["Healthy", "Critical", "Degraded", "Healthy"],
                  f"{frozen}: {seen.levels[frozen]}")
            check(seen.levels[frozen][2][2] == "RelistResumed", f"{frozen}: {seen.levels[frozen]}")
            check(seen.levels[slow][-1][2] == "Recovered", f"{slow}: {seen.levels[slow]}")
            check([lvl for _, lvl, _ in seen.levels[garbage]] == ["Healthy"],
                  f"{garbage} was never anything but Healthy: {seen.levels[garbage]}")
            say(f"Healthy again after heal: {slow} {seen.levels[slow][-1][0] - heal_at:.1f}s, "
                f"{frozen} {seen.levels[frozen][-1][0] - heal_at:.1f}s")
            for n in scope.nodes:
                for reason in ("Unauthorized", "TLS", "Timeout", "Unreachable", "HTTPStatus"):
                    check(scrape_failures(agents, n, reason) == 0,
                          f"{n}: {reason} failures:\n{agents.tail(n)}")
        finally:
            agents.stop()
    say(f"PASS e2e.early-warning.simulated in {time.monotonic() - start:.1f}s")


def cleanup(binary, workdir):
    ng.Scope(SCOPE).cleanup()
    ng.Scope(LOOP_SCOPE).cleanup()


def main():
    args = ng.suite_arguments(__doc__, ["run", "loop", "cleanup"])
    scenarios = {"run": run, "loop": loop, "cleanup": cleanup}
    return ng.run_subcommand(scenarios, args.command, args.nodeguard, args.workdir)


if __name__ == "__main__":
    sys.exit(main())
