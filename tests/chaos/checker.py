"""The chaos soak's independent checker (issue 24 item 2).

It extends the safety suite's observer (tests/e2e/safety/invariants.py:
global budget, persons' cordons, one reboot per remediation, at every node
version) with what a soak under faults needs:

  per-policy budget  when a node enters a disruptive phase, at most
                     spec.remediation.maxConcurrent nodes of its policy (the
                     state's "policy") are in one, the limit being the largest
                     the policy had within POLICY_GRACE seconds (the controller
                     may act on a version it read just before an edit; a
                     lowered limit does not stop remediations in flight); the global cap is Invariants' budget;
  agent actions      every action an agent ran (recorded by tests/chaos/
                     chaos-action with the node as it was at that moment) had a
                     live request: the node's agent-request named that action,
                     the remediation state asked for it (phase ActionRequested,
                     same requestId), and no request id ran twice;
  bounds             every remediation (state id) that entered a disruptive
                     phase reaches a terminal one (Succeeded, Failed,
                     Cancelled) within `bound` seconds, and by the end;
  settled            at the end: no cordon of nodeguard's on a Ready node
                     (Invariants.finish) and, on a node no policy selects, no
                     cordon of nodeguard's and no nodeguard.io/ taint;
  reboots            besides Invariants' (one per remediation, none outside
                     one): a reboot only while an action is in flight
                     (ActionRequested or AwaitingRecovery), not while Pending;
  process            violations the driver reports (a controller exit it did
                     not cause, RSS above its bound) through violation().

Every node, pod (of the soak's namespace) and policy version is watched
(ng.Watch: listed, then watched from the last resourceVersion). A watch
gap (410 Gone after an API server restart, an ERROR event) is re-verified
from etcd's own history: the cluster stores JSON (tests/cluster/up
--storage-json), so the versions the watch missed are read from etcd's watch
API (start_revision = the last version delivered + 1, up to etcd's current
revision) and delivered in order before the watch resumes from there. A gap
etcd can no longer fill (compacted past it) stays recorded and fails the
run; the driver therefore compacts only up to the revision every watch of
the checker has passed (safe_compaction_revision()).

Python standard library only.
"""

import base64
import json
import os
import socket
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "safety"))
import nodeguard_testlib as ng  # noqa: E402
from invariants import (DISRUPTIVE, NODEGUARD_MANAGER, Invariants,  # noqa: E402
                        ready_status, state_of)

TERMINAL = {"Succeeded", "Failed", "Cancelled"}
REQUEST_KEY = "nodeguard.io/agent-request"
STATUS_KEY = "nodeguard.io/agent-status"
POLICY_GRACE = 15.0  # seconds an old maxConcurrent still counts after an edit

# etcd key prefixes of what the checker watches (JSON storage).
ETCD_PREFIX = {
    "nodes": "/registry/minions/",
    "pods": "/registry/pods/",
    "nodehealthpolicies": "/registry/nodeguard.io/nodehealthpolicies/",
}


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _prefix_end(prefix):
    b = bytearray(prefix.encode())
    b[-1] += 1
    return base64.b64encode(bytes(b)).decode()


class EtcdHistory:
    """Reads what changed under a key prefix between two revisions, through
    etcd's grpc-gateway (HTTP/JSON): POST /v3/watch with start_revision."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def _post(self, path, body):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def revision(self):
        return int(self._post("/v3/kv/range", {"key": _b64("/"), "limit": "1"})["header"]
                   ["revision"])

    def compact(self, revision):
        self._post("/v3/kv/compaction", {"revision": str(revision), "physical": True})

    def changes(self, prefix, after, upto):
        """[(revision, "PUT"|"DELETE", object or None, previous object or None)]
        for revisions in (after, upto], in order. Raises LookupError when etcd
        compacted past `after` (the gap cannot be filled)."""
        if upto <= after:
            return []
        body = {"create_request": {"key": _b64(prefix), "range_end": _prefix_end(prefix),
                                   "start_revision": str(after + 1), "prev_kv": True}}
        req = urllib.request.Request(self.url + "/v3/watch", data=json.dumps(body).encode())
        out = []
        decoder = json.JSONDecoder()
        buffer = ""
        with urllib.request.urlopen(req, timeout=10) as r:
            sock = r.fp.raw._sock if hasattr(r.fp, "raw") else None
            if sock is not None:
                sock.settimeout(3)
            try:
                while True:
                    chunk = r.read1(1 << 16) if hasattr(r, "read1") else r.read(1 << 16)
                    if not chunk:
                        break
                    buffer += chunk.decode()
                    done = False
                    while True:
                        stripped = buffer.lstrip()
                        try:
                            msg, end = decoder.raw_decode(stripped)
                        except ValueError:
                            buffer = stripped
                            break
                        buffer = stripped[end:]
                        result = msg.get("result") or {}
                        if int(result.get("compact_revision") or 0):
                            raise LookupError(
                                f"etcd compacted at {result['compact_revision']}, after {after}")
                        for ev in result.get("events") or []:
                            kv = ev.get("kv") or {}
                            rev = int(kv.get("mod_revision") or 0)
                            if rev > upto:
                                done = True
                                break
                            prev = ev.get("prev_kv")
                            obj = json.loads(base64.b64decode(kv["value"])) if kv.get("value") \
                                else None
                            pobj = json.loads(base64.b64decode(prev["value"])) \
                                if prev and prev.get("value") else None
                            for o in (obj, pobj):
                                if o is not None:
                                    o.setdefault("metadata", {})["resourceVersion"] = str(rev)
                            out.append((rev, ev.get("type", "PUT"), obj, pobj))
                            if rev >= upto:
                                done = True
                        if done:
                            break
                    if done:
                        break
            except (socket.timeout, TimeoutError):
                pass  # Nothing more: the history up to `upto` was sent at once.
        return out


def _labels_match(selector_query, labels):
    """Equality label selectors only ("k=v,k2=v2"), as the checker's watches use."""
    for term in filter(None, (selector_query or "").split(",")):
        k, _, v = term.partition("=")
        if labels.get(k) != v:
            return False
    return True


class ReverifyingWatch(ng.Watch):
    """ng.Watch whose gaps are re-verified from etcd's history (module doc)."""

    def __init__(self, args, on_event, etcd, plural, namespace=None):
        super().__init__(args, on_event)
        self.etcd = etcd
        self.prefix = ETCD_PREFIX[plural] + (f"{namespace}/" if namespace else "")
        self.reverified = 0
        self.reverified_versions = 0
        self._delivered_rv = None

    def _deliver(self, kind, obj, arrived):
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv and rv.isdigit():
            self._delivered_rv = int(rv)
        super()._deliver(kind, obj, arrived)

    def _stream(self, rv):
        rv, outcome = super()._stream(rv)
        if outcome != "gap" or self.etcd is None:
            return rv, outcome
        try:
            after = int(rv)
            head = self.etcd.revision()
            changes = self.etcd.changes(self.prefix, after, head)
        except (LookupError, OSError, ValueError) as e:
            self._record(f"the gap after rv {rv} could not be re-verified from etcd: {e}")
            return rv, "gap"
        arrived = time.monotonic()
        for rev, kind, obj, prev in changes:
            shown = obj if obj is not None else prev
            if shown is None:
                continue
            labels = (shown.get("metadata") or {}).get("labels") or {}
            if not _labels_match(self.query.get("labelSelector"), labels):
                # A version that left the selection is a DELETED for the watch.
                if prev is not None and _labels_match(self.query.get("labelSelector"),
                                                      (prev.get("metadata") or {}).get(
                                                          "labels") or {}):
                    self._deliver("DELETED", dict(prev, metadata=dict(
                        prev["metadata"], resourceVersion=str(rev))), arrived)
                continue
            if kind == "DELETE":
                self._deliver("DELETED", shown, arrived)
            else:
                self._deliver("MODIFIED", obj, arrived)
            self.reverified_versions += 1
        # The gap's problem was recorded by ng.Watch: filled, it is withdrawn.
        with self._lock:
            if self.problems and "a gap it cannot" in self.problems[-1]:
                self.problems.pop()
        self.reverified += 1
        print(time.strftime("%H:%M:%S ") + f"watch {self.what}: gap after rv {rv} re-verified "
              f"from etcd ({len(changes)} versions up to {head})", file=sys.stderr, flush=True)
        return str(head), "ended"


def selector_matches(selector, labels):
    """A LabelSelector (matchLabels, matchExpressions) against a node's labels."""
    if selector is None:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, values = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in values:
            return False
        if op == "NotIn" and k in labels and labels[k] in values:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


class ChaosChecker(Invariants):
    def __init__(self, scope, global_budget, bound, etcd_url=None, actions_log=None,
                 clock=time.monotonic):
        super().__init__(scope, budget=global_budget)
        self.clock = clock
        self.bound = bound
        self.etcd = EtcdHistory(etcd_url) if etcd_url else None
        self.actions_log = actions_log
        self.actions_read = 0
        self.executed_ids = {}
        self.actions_checked = 0
        self.policies = {}      # name -> spec (current), None when deleted
        self.policy_limits = {}  # name -> [(since, maxConcurrent)]
        self.policy_versions = 0
        self.pod_versions = 0
        self.labels = {}        # node -> labels
        self.taints = {}        # node -> [taint keys]
        self.remediations = {}  # id -> dict(node, policy, started, ended, phase)
        self.sick_since = {}    # node -> when Ready left True
        self.longest_wait = (0.0, None)
        self.max_per_policy = {}
        self.node_policy = {}   # node -> the policy of its remediation state
        selector = f"{ng.WATCH_FILTER_LABEL}={scope.name}"
        self.watch = ReverifyingWatch(["nodes", "-l", selector], self.on_event, self.etcd,
                                      "nodes")
        self.policy_watch = ReverifyingWatch(["nhp", "-l", selector], self.on_policy, self.etcd,
                                             "nodehealthpolicies")
        self.pod_watch = ReverifyingWatch(["pods", "-n", scope.namespace], self.on_pod,
                                          self.etcd, "pods", namespace=scope.namespace)

    # ------------------------------------------------------------ life cycle

    def watches(self):
        return [self.watch, self.policy_watch, self.pod_watch]

    def start(self):
        self.policy_watch.start()
        self.policy_watch.wait_synced(60)
        self.pod_watch.start()
        self.pod_watch.wait_synced(60)
        return super().start()

    def stop(self):
        problems = []
        for w in self.watches():
            try:
                if w.is_alive() or w.ident is None:
                    w.stop()
                else:
                    w.check()
            except ng.TestFailure as e:
                problems.append(str(e))
        if problems:
            ng.fail("; ".join(problems))

    def safe_compaction_revision(self):
        """The highest revision etcd may compact to without taking a version
        the checker has not seen yet: the least every watch has delivered up to."""
        revs = []
        for w in self.watches():
            seen = [int(v) for v in (w.resource_version, w._delivered_rv)
                    if v is not None and str(v).isdigit()]
            if not seen:
                return None
            revs.append(max(seen))
        return min(revs) if revs else None

    def violation(self, text):
        with self.lock:
            self.violations.append(text)

    # ------------------------------------------------------------ events

    def on_policy(self, kind, obj, _arrived=None):
        name = obj["metadata"]["name"]
        now = self.clock()
        with self.lock:
            self.policy_versions += 1
            if kind == "DELETED":
                self.policies[name] = None
                return
            spec = obj.get("spec") or {}
            self.policies[name] = spec
            limit = int((spec.get("remediation") or {}).get("maxConcurrent", 1))
            hist = self.policy_limits.setdefault(name, [])
            if not hist or hist[-1][1] != limit:
                hist.append((now, limit))

    def on_pod(self, kind, obj, _arrived=None):
        with self.lock:
            self.pod_versions += 1

    def policy_limit(self, name, now):
        """The largest maxConcurrent of `name` in force within POLICY_GRACE."""
        hist = self.policy_limits.get(name) or []
        best = None
        for i, (since, limit) in enumerate(hist):
            until = hist[i + 1][0] if i + 1 < len(hist) else float("inf")
            if until >= now - POLICY_GRACE and since <= now:
                best = limit if best is None else max(best, limit)
        return best

    def check_transition(self, name, rv, prev, cur):
        """Invariants' checks, and: a reboot (bootID change) only while the
        remediation has an action in flight (ActionRequested or
        AwaitingRecovery before or at the change), not while it is Pending,
        draining or over."""
        super().check_transition(name, rv, prev, cur)
        if prev["boot"] and cur["boot"] and prev["boot"] != cur["boot"]:
            acting = {"ActionRequested", "AwaitingRecovery"}
            if (cur["id"] or prev["id"]) and prev["phase"] not in acting and \
                    cur["phase"] not in acting:
                self.violations.append(
                    f"rv {rv}: {name} rebooted with no action in flight (phase "
                    f"{prev['phase']} -> {cur['phase']}, remediation {cur['id'] or prev['id']})")

    def on_event(self, kind, obj, arrived=None):
        name = obj["metadata"]["name"]
        with self.lock:
            before = dict(self.nodes.get(name) or {})
        super().on_event(kind, obj, arrived)
        now = self.clock()
        with self.lock:
            if kind == "DELETED":
                self.labels.pop(name, None)
                self.taints.pop(name, None)
                return
            self.labels[name] = dict(obj["metadata"].get("labels") or {})
            self.taints[name] = [t.get("key", "") for t in obj.get("spec", {}).get("taints") or []]
            st = state_of(obj) or {}
            rid, phase = st.get("id"), st.get("phase")
            self.node_policy[name] = st.get("policy")
            ready = ready_status(obj)
            if ready != "True":
                self.sick_since.setdefault(name, now)
            if rid and phase in DISRUPTIVE:
                rem = self.remediations.setdefault(rid, {
                    "node": name, "policy": st.get("policy"), "started": now, "ended": None,
                    "phase": phase})
                rem["phase"] = phase
                since = self.sick_since.get(name)
                if since is not None and rem.get("waited") is None:
                    rem["waited"] = now - since
                    if rem["waited"] > self.longest_wait[0]:
                        self.longest_wait = (rem["waited"], name)
            elif rid and phase in TERMINAL and rid in self.remediations:
                rem = self.remediations[rid]
                if rem["ended"] is None:
                    rem["ended"] = now
                    rem["phase"] = phase
                    if now - rem["started"] > self.bound:
                        self.violations.append(
                            f"remediation {rid} on {name} took {now - rem['started']:.0f}s to "
                            f"reach {phase} (bound {self.bound:.0f}s)")
            if ready == "True" and not (rid and phase in DISRUPTIVE):
                self.sick_since.pop(name, None)  # Recovered: the next sickness counts anew.
            entering = phase in DISRUPTIVE and (before.get("phase") not in DISRUPTIVE or
                                                before.get("id") != rid)
            if entering:
                self.check_policy_budget(name, st.get("policy"), now)

    def check_policy_budget(self, name, policy, now):
        """When `name` enters a disruptive phase for `policy`: at most the
        policy's maxConcurrent of its nodes are. (Lowering maxConcurrent
        does not stop remediations already in flight: only a start counts.)"""
        if policy is None:
            return
        nodes = sorted(n for n, v in self.nodes.items()
                       if v["phase"] in DISRUPTIVE and self.node_policy.get(n) == policy)
        self.max_per_policy[policy] = max(self.max_per_policy.get(policy, 0), len(nodes))
        limit = self.policy_limit(policy, now)
        if limit is not None and len(nodes) > limit:
            self.violations.append(
                f"({name}): {len(nodes)} nodes of policy {policy} in a disruptive phase, "
                f"maxConcurrent {limit}: {nodes}")

    # ------------------------------------------------------------ agent actions

    def read_actions(self):
        """Checks the agent actions recorded since the last call."""
        if not self.actions_log or not os.path.exists(self.actions_log):
            return
        with open(self.actions_log) as f:
            lines = f.readlines()
        for line in lines[self.actions_read:]:
            if not line.endswith("\n"):
                break  # Being written.
            self.actions_read += 1
            self.check_action(json.loads(line))

    def check_action(self, rec):
        """rec: {time, action, node, request, status, state} as chaos-action saw the node."""
        self.actions_checked += 1
        node, action = rec.get("node"), rec.get("action")
        where = f"agent action {action} on {node} at {rec.get('time')}"
        try:
            req = json.loads(rec["request"]) if rec.get("request") else None
        except ValueError:
            req = None
        try:
            st = json.loads(rec["state"]) if rec.get("state") else None
        except ValueError:
            st = None
        if rec.get("error"):
            self.violation(f"{where}: the node could not be read ({rec['error']})")
            return
        if req is None:
            self.violation(f"{where}: no agent request on the node")
            return
        if req.get("action") != action:
            self.violation(f"{where}: the request asks for {req.get('action')}")
        if st is None or st.get("phase") != "ActionRequested" or \
                st.get("requestId") != req.get("id"):
            self.violation(f"{where}: the remediation state does not ask for request "
                           f"{req.get('id')}: {st}")
        rid = req.get("id")
        with self.lock:
            if rid in self.executed_ids:
                self.violations.append(f"{where}: request {rid} ran twice (first at "
                                       f"{self.executed_ids[rid]})")
            else:
                self.executed_ids[rid] = rec.get("time")

    # ------------------------------------------------------------ verdicts

    def check(self):
        self.read_actions()
        for w in (self.policy_watch, self.pod_watch):
            w.check()
        super().check()

    def governed(self, node):
        labels = self.labels.get(node, {})
        return [p for p, spec in self.policies.items()
                if spec is not None and selector_matches(spec.get("nodeSelector"), labels)]

    def ungoverned_leftovers(self):
        with self.lock:
            out = []
            for n, v in self.nodes.items():
                if self.governed(n):
                    continue
                ours = [k for k in self.taints.get(n, []) if k.startswith("nodeguard.io/")]
                if v["cordon"] == NODEGUARD_MANAGER or ours:
                    out.append(f"{n} (cordon {v['cordon']!r}, taints {ours})")
            return out

    def open_remediations(self):
        with self.lock:
            return sorted(f"{rid} on {r['node']} ({r['phase']}, "
                          f"{self.clock() - r['started']:.0f}s)"
                          for rid, r in self.remediations.items() if r["ended"] is None)

    def settle(self, timeout=180, tick=None):
        """The end of the run (the driver healed every node and undid its
        faults): waits up to `timeout` for every remediation to end, for no
        cordon of ours on a Ready node and nothing of ours on an ungoverned
        node, then raises on anything left or violated. tick() is called
        every second meanwhile (the driver's process monitor)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.open_remediations() or
                                               self.ours_on_healthy() or
                                               self.ungoverned_leftovers()):
            time.sleep(1)
            if tick:
                tick()
            self.read_actions()
        problems = []
        if self.open_remediations():
            problems.append(f"remediations never ended: {self.open_remediations()}")
        if self.ours_on_healthy():
            problems.append(f"nodeguard's cordon still on healthy node(s) {self.ours_on_healthy()}")
        if self.ungoverned_leftovers():
            problems.append("nodeguard's cordon or taint on node(s) no policy governs: "
                            f"{self.ungoverned_leftovers()}")
        for p in problems:
            self.violation("settled: " + p)
        self.check()

    def summary(self):
        with self.lock:
            ended = [r for r in self.remediations.values() if r["ended"] is not None]
            return {
                "node_versions": self.versions,
                "policy_versions": self.policy_versions,
                "pod_versions": self.pod_versions,
                "remediations_started": len(self.remediations),
                "remediations_ended": {p: sum(1 for r in ended if r["phase"] == p)
                                       for p in sorted(TERMINAL)},
                "longest_remediation_s": round(max((r["ended"] - r["started"] for r in ended),
                                                   default=0), 1),
                "longest_sick_wait_s": round(self.longest_wait[0], 1),
                "longest_sick_wait_node": self.longest_wait[1],
                "max_disruptive": self.max_disruptive,
                "max_cordoned_by_nodeguard": self.max_ours,
                "max_per_policy": dict(self.max_per_policy),
                "reboots": sum(v for k, v in self.reboots.items() if k is not None),
                "agent_actions_checked": self.actions_checked,
                "gaps_reverified": sum(w.reverified for w in self.watches()),
                "versions_reverified": sum(w.reverified_versions for w in self.watches()),
                "relists": sum(w.relists for w in self.watches()),
                "violations": list(self.violations),
            }
