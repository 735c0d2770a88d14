#!/usr/bin/env python3
"""Every assertion of the chaos checker (checker.py) shown able to fail, on
synthetic event streams (no cluster): each case feeds node, policy and agent
action records that break one promise and expects exactly that violation,
and the same stream without the breach to pass. Also the watch-gap
re-verification: a gap etcd can fill is filled (the missed versions are
delivered in order, nothing recorded), one it cannot (compacted) stays
recorded.

Run: python3 tests/chaos/checker_unit_test.py (label unit in CTest).
"""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import checker as ck  # noqa: E402
import nodeguard_testlib as ng  # noqa: E402


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def node(name, phase=None, rid=None, policy="p", cordon=None, boot="boot-1", ready="True",
         labels=None, taints=(), rv="1", request_id=None):
    meta = {"name": name, "resourceVersion": rv,
            "labels": {ng.WATCH_FILTER_LABEL: "unit", **(labels or {})}, "annotations": {}}
    if phase:
        st = {"id": rid or f"{name}-1", "phase": phase, "policy": policy}
        if request_id:
            st["requestId"] = request_id
        meta["annotations"][ck.state_of.__globals__["STATE_KEY"]] = json.dumps(st)
    spec = {}
    if cordon:
        spec["unschedulable"] = True
        meta["managedFields"] = [{"manager": cordon, "fieldsV1": {"f:spec": {"f:unschedulable": {}}}}]
    if taints:
        spec["taints"] = [{"key": k, "effect": "NoSchedule"} for k in taints]
    return {"metadata": meta, "spec": spec,
            "status": {"nodeInfo": {"bootID": boot},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def policy(name, max_concurrent=1, selector=None):
    return {"metadata": {"name": name},
            "spec": {"nodeSelector": selector, "remediation": {"maxConcurrent": max_concurrent}}}


class CheckerTest(unittest.TestCase):
    def setUp(self):
        self.clock = Clock()
        self.scope = ng.Scope("unit", nodes=4)
        self.c = ck.ChaosChecker(self.scope, global_budget=2, bound=100, clock=self.clock)
        self.c.on_policy("ADDED", policy("p", 1))
        for n in self.scope.nodes:
            self.c.on_event("ADDED", node(n))

    def violations(self):
        return list(self.c.violations)

    def assertViolation(self, fragment):
        v = self.violations()
        self.assertTrue(any(fragment in x for x in v), f"no violation with {fragment!r}: {v}")

    # ------------------------------------------------------------ budgets

    def test_global_budget(self):
        a, b, c, _ = self.scope.nodes
        self.c.on_policy("MODIFIED", policy("p", 5))
        self.clock.t += 100
        self.c.on_event("MODIFIED", node(a, "Draining", cordon="nodeguard"))
        self.c.on_event("MODIFIED", node(b, "Draining", cordon="nodeguard"))
        self.assertEqual(self.violations(), [])
        self.c.on_event("MODIFIED", node(c, "Cordoned", cordon="nodeguard"))
        self.assertViolation("3 nodes in a disruptive phase, budget 2")
        self.assertViolation("3 nodes cordoned by nodeguard, budget 2")

    def test_per_policy_budget(self):
        a, b, _, _ = self.scope.nodes
        self.c.on_event("MODIFIED", node(a, "Draining"))
        self.assertEqual(self.violations(), [])
        self.c.on_event("MODIFIED", node(b, "Cordoned"))
        self.assertViolation("2 nodes of policy p in a disruptive phase, maxConcurrent 1")

    def test_per_policy_budget_grace_after_an_edit(self):
        a, b, c, d = self.scope.nodes
        self.c.on_policy("MODIFIED", policy("p", 2))
        self.clock.t += 100
        self.c.on_event("MODIFIED", node(a, "Draining", rid="a1"))
        self.c.on_event("MODIFIED", node(b, "Draining", rid="b1"))
        self.c.on_policy("MODIFIED", policy("p", 1))
        self.clock.t += 5
        # Lowered: the two in flight go on; a start within POLICY_GRACE of
        # the old limit is allowed.
        self.c.on_event("MODIFIED", node(a, "Succeeded", rid="a1"))
        self.c.on_event("MODIFIED", node(c, "Cordoned", rid="c1"))
        self.clock.t += ck.POLICY_GRACE + 1
        self.c.on_event("MODIFIED", node(b, "ActionRequested", rid="b1"))
        self.c.on_event("MODIFIED", node(c, "Draining", rid="c1"))
        self.assertEqual(self.violations(), [])
        # A start past the grace with two in flight: over the new limit.
        self.c.on_event("MODIFIED", node(d, "Cordoned", rid="d1"))
        self.assertViolation("3 nodes of policy p in a disruptive phase, maxConcurrent 1")

    # ------------------------------------------------------------ cordons, reboots

    def test_person_cordon_lifted(self):
        a, b, _, _ = self.scope.nodes
        self.c.on_event("MODIFIED", node(a, cordon="kubectl-cordon"))
        self.c.on_event("MODIFIED", node(b, cordon="kubectl-cordon"))
        self.c.person_uncordons(b)
        self.c.on_event("MODIFIED", node(b))
        self.assertEqual(self.violations(), [])
        self.c.on_event("MODIFIED", node(a))
        self.assertViolation("the cordon of 'kubectl-cordon' on unit-01 was lifted")

    def test_reboots(self):
        a, b, _, _ = self.scope.nodes
        self.c.on_event("MODIFIED", node(a, "ActionRequested", rid="r1", boot="boot-2"))
        self.assertEqual(self.violations(), [])
        self.c.on_event("MODIFIED", node(a, "AwaitingRecovery", rid="r1", boot="boot-3"))
        self.assertViolation("rebooted 2 times in remediation r1")
        self.c.on_event("MODIFIED", node(b, boot="boot-9"))
        self.assertViolation("unit-02 rebooted outside any remediation")

    def test_reboot_while_pending(self):
        a, b, _, _ = self.scope.nodes
        self.c.on_event("MODIFIED", node(a, "Pending", rid="r1"))
        self.c.on_event("MODIFIED", node(a, "Pending", rid="r1", boot="boot-2"))
        self.assertViolation("unit-01 rebooted with no action in flight (phase Pending -> Pending")
        self.c.violations.clear()
        self.c.on_event("MODIFIED", node(b, "ActionRequested", rid="r2"))
        self.c.on_event("MODIFIED", node(b, "AwaitingRecovery", rid="r2", boot="boot-2"))
        self.assertEqual(self.violations(), [])

    # ------------------------------------------------------------ agent actions

    def action(self, action="Reboot", req_action="Reboot", req_id="x-1", state_phase="ActionRequested",
               state_req="x-1", request=True):
        return {"time": "t", "action": action, "node": "unit-01",
                "request": json.dumps({"id": req_id, "action": req_action}) if request else None,
                "state": json.dumps({"id": "x", "phase": state_phase, "requestId": state_req})}

    def test_agent_action_live_request(self):
        self.c.check_action(self.action())
        self.assertEqual(self.violations(), [])

    def test_agent_action_without_request(self):
        self.c.check_action(self.action(request=False))
        self.assertViolation("no agent request on the node")

    def test_agent_action_other_action(self):
        self.c.check_action(self.action(action="RestartKubelet"))
        self.assertViolation("the request asks for Reboot")

    def test_agent_action_state_does_not_ask(self):
        self.c.check_action(self.action(state_phase="Cancelled"))
        self.assertViolation("the remediation state does not ask for request x-1")
        self.c.violations.clear()
        self.c.check_action(self.action(req_id="x-2", state_req="x-1"))
        self.assertViolation("does not ask for request x-2")

    def test_agent_action_twice(self):
        self.c.check_action(self.action())
        self.c.check_action(self.action())
        self.assertViolation("request x-1 ran twice")

    def test_actions_read_from_the_log(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"chaos-unit-{os.getpid()}.jsonl")
        with open(path, "w") as f:
            f.write(json.dumps(self.action()) + "\n" + json.dumps(self.action()) + "\n")
        try:
            self.c.actions_log = path
            self.c.read_actions()
            self.assertEqual(self.c.actions_checked, 2)
            self.assertViolation("ran twice")
        finally:
            os.remove(path)

    # ------------------------------------------------------------ bounds, settling

    def test_remediation_bound(self):
        a, b, _, _ = self.scope.nodes
        self.c.on_policy("MODIFIED", policy("p", 2))
        self.clock.t += 100
        self.c.on_event("MODIFIED", node(a, "Draining", rid="ok"))
        self.c.on_event("MODIFIED", node(b, "Draining", rid="slow"))
        self.clock.t += 50
        self.c.on_event("MODIFIED", node(a, "Succeeded", rid="ok"))
        self.assertEqual(self.violations(), [])
        self.clock.t += 60
        self.c.on_event("MODIFIED", node(b, "Failed", rid="slow"))
        self.assertViolation("remediation slow on unit-02 took 110s to reach Failed (bound 100s)")

    def test_open_remediation_at_the_end(self):
        a = self.scope.nodes[0]
        self.c.on_event("MODIFIED", node(a, "Draining", rid="open"))
        self.assertEqual(len(self.c.open_remediations()), 1)
        self.c.on_event("MODIFIED", node(a, "Cancelled", rid="open"))
        self.assertEqual(self.c.open_remediations(), [])

    def test_ungoverned_leftovers(self):
        a, b, c, _ = self.scope.nodes
        sel = {"matchLabels": {"g": "a"}}
        self.c.on_policy("MODIFIED", policy("p", 1, selector=sel))
        self.c.on_event("MODIFIED", node(a, labels={"g": "a"}, cordon="nodeguard",
                                         taints=["nodeguard.io/x"]))
        self.c.on_event("MODIFIED", node(b, labels={"g": "b"}, taints=["dedicated"]))
        self.assertEqual(self.c.ungoverned_leftovers(), [])
        self.c.on_event("MODIFIED", node(c, labels={"g": "b"}, taints=["nodeguard.io/x"]))
        self.c.on_event("MODIFIED", node(b, labels={"g": "b"}, cordon="nodeguard"))
        left = self.c.ungoverned_leftovers()
        self.assertEqual(len(left), 2, left)
        self.c.on_policy("DELETED", policy("p"))
        self.assertEqual(len(self.c.ungoverned_leftovers()), 3)

    def test_selector_matches(self):
        labels = {"a": "1", "g": "x"}
        self.assertTrue(ck.selector_matches(None, labels))
        self.assertTrue(ck.selector_matches({"matchExpressions": [
            {"key": "g", "operator": "In", "values": ["x", "y"]}]}, labels))
        self.assertFalse(ck.selector_matches({"matchExpressions": [
            {"key": "g", "operator": "NotIn", "values": ["x"]}]}, labels))
        self.assertFalse(ck.selector_matches({"matchExpressions": [
            {"key": "z", "operator": "Exists"}]}, labels))
        self.assertFalse(ck.selector_matches({"matchLabels": {"a": "2"}}, labels))

    def test_violation_fails_check(self):
        self.c.violation("controller r1 exited with 139")
        with self.assertRaises(ng.TestFailure):
            ck.Invariants.check(self.c)


class FakeEtcd:
    def __init__(self, changes=None, error=None, head=20):
        self.changes_ = changes or []
        self.error = error
        self.head = head
        self.asked = None

    def revision(self):
        return self.head

    def changes(self, prefix, after, upto):
        self.asked = (prefix, after, upto)
        if self.error:
            raise self.error
        return self.changes_


class ReverifyTest(unittest.TestCase):
    def watch(self, etcd, seen):
        w = ck.ReverifyingWatch(["nodes", "-l", "f=x"], lambda k, o, a: seen.append(
            (k, o["metadata"]["name"], o["metadata"]["resourceVersion"])), etcd, "nodes")

        def gap(rv):
            w._record(f"watching from rv {rv} failed, ... (a gap it cannot fill): 410")
            return rv, "gap"
        w._stream_base = gap
        return w

    def run_gap(self, w):
        # ReverifyingWatch._stream calls ng.Watch._stream: replace it for the test.
        original = ng.Watch._stream
        ng.Watch._stream = lambda self, rv: self._stream_base(rv)
        try:
            return w._stream("10")
        finally:
            ng.Watch._stream = original

    def test_gap_filled_from_etcd(self):
        def obj(name, rv, labels):
            return {"metadata": {"name": name, "resourceVersion": str(rv), "labels": labels}}
        changes = [(12, "PUT", obj("n1", 12, {"f": "x"}), None),
                   (13, "PUT", obj("other", 13, {"f": "y"}), None),
                   (14, "PUT", obj("n2", 14, {"f": "y"}), obj("n2", 14, {"f": "x"})),
                   (15, "DELETE", None, obj("n1", 15, {"f": "x"}))]
        etcd, seen = FakeEtcd(changes), []
        w = self.watch(etcd, seen)
        rv, outcome = self.run_gap(w)
        self.assertEqual((rv, outcome), ("20", "ended"))
        self.assertEqual(etcd.asked, ("/registry/minions/", 10, 20))
        self.assertEqual(seen, [("MODIFIED", "n1", "12"), ("DELETED", "n2", "14"),
                                ("DELETED", "n1", "15")])
        self.assertEqual(w.problems, [])
        w.check()

    def test_gap_compacted_stays(self):
        etcd, seen = FakeEtcd(error=LookupError("etcd compacted at 15, after 10")), []
        w = self.watch(etcd, seen)
        rv, outcome = self.run_gap(w)
        self.assertEqual(outcome, "gap")
        self.assertTrue(any("could not be re-verified" in p for p in w.problems), w.problems)
        with self.assertRaises(ng.TestFailure):
            w.check()


if __name__ == "__main__":
    unittest.main(verbosity=1)
