"""The safety suite's independent observer: issue 16's promises checked at
every version of every node of a scope, as the API server delivers them.

    inv = Invariants(scope, budget=1)
    inv.start()                      # gap-free ng.Watch on the scope's nodes
    ... the scenario ...
    inv.person_uncordons(node)       # before the test itself uncordons a node
    inv.finish(timeout=60)           # waits out our last cordon on a healthy node,
                                     # then raises TestFailure on any violation

At every node version it asserts:

  budget     at most `budget` nodes of the scope in a disruptive phase
             (Cordoned, Draining, ActionRequested, AwaitingRecovery: the state
             annotation nodeguard.io/remediation), and at most `budget` nodes
             carrying a cordon of nodeguard's, at once;
  persons    a cordon nodeguard did not set is never lifted, except by the
             test itself (person_uncordons);
  reboots    at most one reboot (a change of status.nodeInfo.bootID) per
             remediation (the state's id), and none outside a remediation;

and at the end (finish) that no cordon of nodeguard's is left on a node whose
Ready condition is True.

Whose cordon it is comes from the API server, not from nodeguard's own
annotation: the manager that owns spec.unschedulable in the node's
managedFields (nodeguard writes with fieldManager "nodeguard"; kubectl cordon
with "kubectl-cordon"). So a cordon nodeguard takes for a person's, or a
person's that it takes for its own, is caught either way.
"""

import json
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

STATE_KEY = "nodeguard.io/remediation"
DISRUPTIVE = {"Cordoned", "Draining", "ActionRequested", "AwaitingRecovery"}
NODEGUARD_MANAGER = "nodeguard"


def state_of(node):
    text = (node["metadata"].get("annotations") or {}).get(STATE_KEY)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"phase": "<unreadable>", "raw": text}


def ready_status(node):
    for c in node.get("status", {}).get("conditions", []):
        if c["type"] == "Ready":
            return c["status"]
    return "Unknown"


def cordon_owner(node):
    """The field manager owning spec.unschedulable, "" when not cordoned, None
    when cordoned but no manager records it."""
    if not node["spec"].get("unschedulable"):
        return ""
    for entry in node["metadata"].get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        if "f:unschedulable" in (fields.get("f:spec") or {}):
            return entry.get("manager")
    return None


class Invariants:
    def __init__(self, scope, budget=1, name=None):
        self.scope = scope
        self.budget = budget
        self.lock = threading.Lock()
        self.nodes = {}  # name -> dict(phase, id, cordon, boot, ready)
        self.violations = []
        self.history = {}  # name -> [(rv, phase, cordon owner, boot, ready)] on change
        self.reboots = {}  # remediation id (or None) -> count
        self.person_uncordon_allowed = set()
        self.max_disruptive = 0
        self.max_ours = 0
        self.ever_cordoned_by_us = set()
        self.versions = 0
        selector = f"{ng.WATCH_FILTER_LABEL}={scope.name}"
        self.watch = ng.Watch(["nodes", "-l", selector], self.on_event)

    # ------------------------------------------------------------ life cycle

    def start(self):
        self.watch.start()
        self.watch.wait_synced(60)
        with self.lock:
            missing = sorted(set(self.scope.nodes) - set(self.nodes))
        if missing:
            ng.fail(f"the invariants' watch did not list the scope's nodes {missing}")
        return self

    def stop(self):
        """Stops the watch; raises if it had a gap or a callback error."""
        if self.watch.is_alive():
            self.watch.stop()

    def person_uncordons(self, node):
        """The test (a person) is about to lift a cordon that is not nodeguard's."""
        with self.lock:
            self.person_uncordon_allowed.add(node)

    # ------------------------------------------------------------ events

    def on_event(self, kind, obj, _arrived=None):
        name = obj["metadata"]["name"]
        rv = obj["metadata"].get("resourceVersion")
        with self.lock:
            self.versions += 1
            if kind == "DELETED":
                self.nodes.pop(name, None)
                return
            st = state_of(obj)
            cur = {
                "phase": st.get("phase") if st else None,
                "id": st.get("id") if st else None,
                "cordon": cordon_owner(obj),
                "boot": obj.get("status", {}).get("nodeInfo", {}).get("bootID", ""),
                "ready": ready_status(obj),
            }
            prev = self.nodes.get(name)
            self.nodes[name] = cur
            row = (rv, cur["phase"], cur["cordon"], cur["boot"][:8], cur["ready"])
            hist = self.history.setdefault(name, [])
            if not hist or hist[-1][1:] != row[1:]:
                hist.append(row)
            if cur["cordon"] == NODEGUARD_MANAGER:
                self.ever_cordoned_by_us.add(name)
            if prev is not None:
                self.check_transition(name, rv, prev, cur)
            self.check_budget(name, rv)

    def check_transition(self, name, rv, prev, cur):
        # A cordon that was not nodeguard's was lifted.
        if prev["cordon"] not in ("", NODEGUARD_MANAGER) and cur["cordon"] == "":
            if name in self.person_uncordon_allowed:
                self.person_uncordon_allowed.discard(name)
            else:
                self.violations.append(
                    f"rv {rv}: the cordon of {prev['cordon']!r} on {name} was lifted "
                    f"(phase {cur['phase']})")
        # A reboot: at most one per remediation id, none without one.
        if prev["boot"] and cur["boot"] and prev["boot"] != cur["boot"]:
            rid = cur["id"] or prev["id"]
            self.reboots[rid] = self.reboots.get(rid, 0) + 1
            if rid is None:
                self.violations.append(f"rv {rv}: {name} rebooted outside any remediation")
            elif self.reboots[rid] > 1:
                self.violations.append(
                    f"rv {rv}: {name} rebooted {self.reboots[rid]} times in remediation {rid}")

    def check_budget(self, name, rv):
        disruptive = sorted(n for n, v in self.nodes.items() if v["phase"] in DISRUPTIVE)
        ours = sorted(n for n, v in self.nodes.items() if v["cordon"] == NODEGUARD_MANAGER)
        self.max_disruptive = max(self.max_disruptive, len(disruptive))
        self.max_ours = max(self.max_ours, len(ours))
        if len(disruptive) > self.budget:
            self.violations.append(
                f"rv {rv} ({name}): {len(disruptive)} nodes in a disruptive phase, budget "
                f"{self.budget}: {disruptive}")
        if len(ours) > self.budget:
            self.violations.append(
                f"rv {rv} ({name}): {len(ours)} nodes cordoned by nodeguard, budget "
                f"{self.budget}: {ours}")

    # ------------------------------------------------------------ verdicts

    def snapshot(self):
        with self.lock:
            return {
                "max_disruptive": self.max_disruptive,
                "max_ours": self.max_ours,
                "violations": list(self.violations),
                "ever_cordoned_by_us": set(self.ever_cordoned_by_us),
                "reboots": dict(self.reboots),
                "versions": self.versions,
                "nodes": {k: dict(v) for k, v in self.nodes.items()},
            }

    def check(self):
        """Raises TestFailure on a violation seen so far (or a watch gap)."""
        self.watch.check()
        with self.lock:
            if self.violations:
                ng.fail(f"invariants violated ({len(self.violations)}):\n  " +
                        "\n  ".join(self.violations[:10]))

    def ours_on_healthy(self):
        with self.lock:
            return sorted(n for n, v in self.nodes.items()
                          if v["cordon"] == NODEGUARD_MANAGER and v["ready"] == "True")

    def finish(self, timeout=60):
        """The end of a scenario: no cordon of ours may stay on a Ready node
        (waited for up to `timeout`: a healed node is uncordoned after
        recoveryStableFor), and nothing may have been violated."""
        self.check()
        deadline = time.monotonic() + timeout
        while self.ours_on_healthy() and time.monotonic() < deadline:
            time.sleep(0.5)
        left = self.ours_on_healthy()
        self.check()
        if left:
            ng.fail(f"nodeguard's cordon is still on healthy node(s) {left} after {timeout}s")

    def report(self):
        """A few lines for a failing test's diagnostics."""
        snap = self.snapshot()
        lines = [f"invariants: {snap['versions']} node versions, max disruptive "
                 f"{snap['max_disruptive']}, max cordoned by nodeguard {snap['max_ours']}, "
                 f"reboots {snap['reboots']}"]
        lines += [f"  VIOLATION {v}" for v in snap["violations"][:10]]
        with self.lock:
            for n in sorted(self.history):
                lines.append(f"  {n}: " + " -> ".join(
                    f"{p or '-'}/{c or '-'}/{b}/{r}" for _, p, c, b, r in self.history[n][-12:]))
        return "\n".join(lines)
