#!/usr/bin/env python3
"""End-to-end test of the kubectl plugin (issue 21; docs/kubectl-plugin.md).

The real `nodeguard` binary, symlinked as kubectl-nodeguard into a directory
put first on PATH, run through the real kubectl (`kubectl nodeguard ...`: kubectl
finds the plugin on PATH, `kubectl plugin list` shows it), against what the
real controller did on the scenario's own nodes (ng.Scope "plugin": four
simulated nodes, a policy and a controller with --watch-filter plugin):

  - plugin-02 gets two pods with maxPods 2: the controller taints it
    (status: TAINTED 1, the node "capped" with PODS/CAP 2/2; explain: capped,
    with the figures);
  - plugin-01 turns PLEG-sick; the drain-only policy cordons it, drains it and
    fails it (NotRecovered after actionTimeout): status shows FAILED 1, the
    node Failed:NotRecovered cordoned by nodeguard; explain says failed and
    gives the release command;
  - release refuses (exit 3) while plugin-01 is sick and for plugin-03, which
    nodeguard never touched, and changes nothing; once plugin-01 is healed,
    release uncordons it (recoveryStableFor is 10m, so the controller would
    not have), its state says cordonedByUs false, an Event records it, the
    controller leaves it uncordoned, and a second release says there is
    nothing to do (exit 0);
  - pause/resume patch spec.paused, idempotently (status shows the mode);
  - exit codes: 2 for usage, 3 for a node or policy that does not exist, 1
    when the API server cannot be reached.

Environment: KUBECONFIG and NODEGUARD_SIM (set by the CTest fixture).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

check = ng.check
say = ng.say
STATE_KEY = "nodeguard.io/remediation"


class Plugin:
    """`kubectl nodeguard ...` with kubectl-nodeguard (a symlink to the binary)
    first on PATH."""

    def __init__(self, binary, workdir):
        self.bindir = os.path.join(workdir, "bin")
        os.makedirs(self.bindir, exist_ok=True)
        self.link = os.path.join(self.bindir, "kubectl-nodeguard")
        os.symlink(os.path.abspath(binary), self.link)
        self.env = {**os.environ, "PATH": self.bindir + os.pathsep + os.environ.get("PATH", "")}

    def run(self, *args, expect=0, env=None):
        cmd = [ng.kubectl_binary(), "nodeguard", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           env={**self.env, **(env or {})})
        check(r.returncode == expect,
              f"`kubectl nodeguard {' '.join(args)}` exited {r.returncode}, expected {expect}:\n"
              f"{r.stdout}{r.stderr}")
        return r

    def json(self, *args):
        return json.loads(self.run(*args, "-o", "json").stdout)


def node(name):
    return ng.get_json("node", name)


def state_of(name):
    text = (node(name)["metadata"].get("annotations") or {}).get(STATE_KEY)
    return json.loads(text) if text else None


def row(status, name):
    for n in status["nodes"]:
        if n["name"] == name:
            return n
    return None


def run(binary):
    start = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="nodeguard-e2e-plugin-")
    plugin = Plugin(binary, workdir)
    # Exits 1 on a warning about any PATH entry: the listing is what counts.
    listed = subprocess.run([ng.kubectl_binary(), "plugin", "list"], capture_output=True,
                            text=True, timeout=60, env=plugin.env)
    check(plugin.link in listed.stdout or plugin.link in listed.stderr,
          f"`kubectl plugin list` does not show {plugin.link}:\n{listed.stdout}{listed.stderr}")
    ng.ensure_crd()
    with ng.Scope("plugin", nodes=4) as scope:
        controller = ng.Controller(binary, workdir, "plugin", extra_args=scope.controller_args())
        try:
            scenario(plugin, scope, controller, workdir)
            # Deleted while the controller runs, so it releases the finalizer at once.
            ng.kubectl("delete", "nhp", scope.name, "--wait=false")
            ng.wait_for("the policy to be gone",
                        lambda: (ng.get_json_or_none("nhp", scope.name) is None, "still there"),
                        timeout=30, interval=0.5)
        finally:
            problem = controller.stop()
        check(not problem, f"the controller {problem}:\n{controller.tail()}")
    shutil.rmtree(workdir, ignore_errors=True)
    say(f"PASS e2e.plugin in {time.monotonic() - start:.1f}s")


def scenario(plugin, scope, controller, workdir):
    sick, capped, quiet = scope.nodes[0], scope.nodes[1], scope.nodes[2]
    policy = scope.name
    # As the controller's --watch-filter: only the scope's nodes and policies
    # (other scenarios' policies on the shared cluster must not govern ours).
    only = ["-l", scope.selector]
    controller.start()
    controller.wait_ready()
    ng.apply(scope.policy(policy, {
        "podDensity": {"maxPods": 2},
        "health": {"unhealthyConditions": [
            {"type": "Ready", "status": "False", "messageRegex": "PLEG is not healthy",
             "duration": "2s"}]},
        "remediation": {
            "maxConcurrent": 1, "maxUnhealthy": "50%", "actions": [],
            "drain": {"timeout": "20s", "force": True},
            "actionTimeout": "3s", "recoveryStableFor": "10m", "cooldown": "1m",
            "holdSlotAfterFailure": "10m"},
    }))
    for i in range(2):
        ng.apply({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": f"pause-{i}", "namespace": scope.namespace},
                  "spec": {"nodeName": capped,
                           "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9"}]}})
    ng.sim("pleg-sick", sick)

    def failed():
        st = state_of(sick)
        return st is not None and st["phase"] == "Failed", f"state {st}"
    ng.wait_for(f"{sick} Failed", failed, timeout=60, interval=0.5)
    ng.wait_for(f"{capped} tainted",
                lambda: (any(t["key"] == "nodeguard.io/pod-density-exceeded"
                             for t in node(capped)["spec"].get("taints", [])), "no taint"),
                timeout=30, interval=0.5)

    # status: JSON and table, narrowed to the scope (other scenarios share the cluster).
    status = plugin.json("status", policy, "-l", scope.selector)
    say("status -o json: " + json.dumps(status)[:600])
    check(len(status["policies"]) == 1, f"policies: {status['policies']}")
    p = status["policies"][0]
    check(p["name"] == policy and p["failed"] == 1 and p["tainted"] == 1
          and p["mode"] == "Active", f"policy row: {p}")
    s = row(status, sick)
    check(s and s["cordonedBy"] == "nodeguard" and s["remediation"]["phase"] == "Failed"
          and s["remediation"]["outcome"] == "NotRecovered" and s["ready"] == "False",
          f"{sick}: {s}")
    c = row(status, capped)
    check(c and c["tainted"] and c["pods"] == 2 and c["cap"] == 2, f"{capped}: {c}")
    check(row(status, quiet) is None, f"{quiet} listed although nothing is wrong with it")
    check(len(plugin.json("status", policy, "-l", scope.selector, "--all")["nodes"]) == 4,
          "--all does not list every node of the scope")
    table = plugin.run("status", policy, "-l", scope.selector).stdout
    say("kubectl nodeguard status:\n" + table)
    check("FAILED" in table and "Failed:NotRecovered" in table and "capped" in table,
          f"table:\n{table}")

    # explain.
    e = plugin.json("explain", sick, *only)
    check(e["verdict"] == "failed" and f"kubectl nodeguard release {sick}" in e["nextStep"],
          f"explain {sick}: {e}")
    text = plugin.run("explain", sick, *only).stdout
    say(f"kubectl nodeguard explain {sick}:\n" + text)
    check(text.startswith(f"Node {sick}: failed") and "NotRecovered" in text, f"explain:\n{text}")
    text = plugin.run("explain", capped, *only).stdout
    say(f"kubectl nodeguard explain {capped}:\n" + text)
    check(text.startswith(f"Node {capped}: capped") and "2 pods counted, cap 2" in text,
          f"explain {capped}:\n{text}")

    # release: refused while sick, and for a node nodeguard never touched.
    before = node(sick)["metadata"]["resourceVersion"]
    r = plugin.run("release", sick, *only, expect=3)
    check("not Ready" in r.stderr, f"release of a sick node: {r.stderr}")
    r = plugin.run("release", quiet, *only, expect=3)
    check("no remediation" in r.stderr, f"release of {quiet}: {r.stderr}")
    check(node(sick)["spec"].get("unschedulable") and state_of(sick)["cordonedByUs"],
          f"a refused release changed {sick} (resourceVersion was {before})")

    # release: the node healed, the controller would keep its cordon for 10m.
    ng.sim("heal", sick)
    ng.wait_for(f"{sick} Ready", lambda: (any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in node(sick)["status"]["conditions"]), "not Ready"), timeout=30)
    r = plugin.run("release", sick, *only)
    check("released" in r.stdout, f"release: {r.stdout}")
    st = state_of(sick)
    check(not node(sick)["spec"].get("unschedulable"), f"{sick} still cordoned")
    check(st["phase"] == "Failed" and st["cordonedByUs"] is False, f"state after release: {st}")
    events = ng.get_json("events", "-n", "default", "--field-selector",
                         f"involvedObject.name={sick},reason=RemediationReleased")["items"]
    check(any(ev.get("source", {}).get("component") == "kubectl-nodeguard" for ev in events),
          f"no RemediationReleased Event: {events}")
    r = plugin.run("release", sick, *only)
    check("nothing to do" in r.stdout, f"second release: {r.stdout}")
    time.sleep(3)  # The controller has seen the release by now: it leaves the node alone.
    check(not node(sick)["spec"].get("unschedulable"), f"{sick} was cordoned again")
    e = plugin.json("explain", sick, *only)
    check(e["verdict"] == "ok" and e["node"]["cordonedBy"] == "", f"explain after: {e}")

    # pause / resume, idempotent.
    check("paused" in plugin.run("pause", policy).stdout, "pause")
    check(ng.get_json("nhp", policy)["spec"].get("paused") is True, "spec.paused not set")
    check("already paused" in plugin.run("pause", policy).stdout, "second pause")
    mode = plugin.json("status", policy, "-l", scope.selector)["policies"][0]["mode"]
    check(mode == "Paused", f"mode while paused: {mode}")
    check("resumed" in plugin.run("resume", policy).stdout, "resume")
    check(ng.get_json("nhp", policy)["spec"].get("paused") is False, "spec.paused still set")
    check("already active" in plugin.run("resume", policy).stdout, "second resume")

    # Exit codes.
    plugin.run("explain", expect=2)
    plugin.run("frobnicate", expect=2)
    plugin.run("release", sick, *only, "-o", "json", expect=2)
    plugin.run("status", "--request-timeout", "bogus", expect=2)
    plugin.run("explain", "no-such-node-plugin", expect=3)
    plugin.run("pause", "no-such-policy-plugin", expect=3)
    plugin.run("status", "no-such-policy-plugin", expect=3)
    dead = os.path.join(workdir, "dead.kubeconfig")
    with open(dead, "w") as f:
        f.write("apiVersion: v1\nkind: Config\ncurrent-context: dead\n"
                "clusters: [{name: dead, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                "users: [{name: dead, user: {token: x}}]\n"
                "contexts: [{name: dead, context: {cluster: dead, user: dead}}]\n")
    r = plugin.run("status", "--request-timeout", "3s", env={"KUBECONFIG": dead}, expect=1)
    check(r.stderr.startswith("error: "), f"unreachable server: {r.stderr}")
    plugin.run("--kubeconfig", dead, "status", "--request-timeout", "3s", expect=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodeguard", required=True, help="the nodeguard binary")
    args = parser.parse_args()
    ng.exit_on_sigterm()
    run(args.nodeguard)


if __name__ == "__main__":
    main()
