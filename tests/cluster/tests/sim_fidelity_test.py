#!/usr/bin/env python3
"""The simulator against the real kubelet: what `sim pleg-sick` does to a node
is compared with what a real kubelet v1.36.3 did when its container runtime
froze, as recorded in tests/testdata/real-kubelet/*.json (one episode each:
fault at t = 0, heal at heal_at; format in docs/testing.md).

  model     (label unit, no cluster) the timeline model the simulator plays
            (tests/cluster/lib/kubelet_model.py), at real timing, against each
            recording: the same sequence of Ready forms, its post times and
            "last seen active" figures within the recordings' resolution, no
            post off the model's cadence, the same message after the heal, a
            deleted pod finalized only after the heal.
  cluster   (label integration, the fixture's cluster) one fresh simulated
            node per recording, made PLEG-sick at once with `sim pleg-sick
            --timing T`, held at least --hold seconds, then healed as the
            recording was (`sim heal`, or `sim heal --thawed` for a thaw).
            Every version of the nodes, their Leases and the pods on them is
            watched, and the test checks:
              - a running pod marked not ready as the node controller marks
                the pods of a node gone Unknown is readied again with the
                IP it had (a kubelet's pod keeps its sandbox), and is Ready
                after the episode with that IP;
              - the sequence of (status, reason, message form) equals the
                recording's: runtime-down first, then the bracketed PLEG
                aggregate, then what the recording showed after its heal
                (the runtime-down part gone first after a thaw), then Ready;
              - every PLEG message parses with nodeguard's own classifier
                (health/pleg.h, through the pleg_classify helper) with the
                real threshold and a "last seen active" figure; the first is
                the recording's within its resolution; consecutive ones differ
                by whole cadences (130 s of real time);
              - posts only at the cadence: no status post before its time on
                the model's grid, none without a new message while sick;
              - the Lease is renewed throughout: the node is never Unknown,
                never tainted unreachable, but tainted not-ready;
              - a pod deleted while the node is sick stays (deletionTimestamp
                set, Running) until the heal, then goes; a pod bound to the
                node while it is sick stays Pending until the heal, then runs.
            Times (how long `sim pleg-sick` took, when each form showed,
            scaled back to real time next to the recording) are printed as
            MEASURED lines, not asserted.

Usage: sim_fidelity_test.py --classifier PATH [--timing fast|real|F] [--hold S] model|cluster

Environment (cluster): KUBECONFIG and NODEGUARD_SIM, set by the fixture.
Standard library only.
"""

import argparse
import glob
import json
import math
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster", "lib"))
import kubelet_model as model  # noqa: E402
import nodeguard_testlib as ng  # noqa: E402

RECORDINGS = sorted(glob.glob(os.path.join(ROOT, "tests", "testdata", "real-kubelet", "*.json")))
# The recordings' resolution, in real seconds: whole-second times, a heartbeat
# seen by a poller, the STOP time typed by hand.
RESOLUTION = 6.0
NODE_PREFIX = "fidelity-"
check = ng.check
say = ng.say


# ---------------------------------------------------------------- shared


class Classifier:
    """nodeguard's ClassifyReadyMessage, through tests/cluster/tests/pleg_classify."""

    def __init__(self, path):
        check(path and os.access(path, os.X_OK), f"no pleg_classify helper at {path!r}")
        self.path = path
        self.cache = {}

    def __call__(self, message):
        if message not in self.cache:
            out = subprocess.run([self.path], input=message.replace("\n", " ") + "\n",
                                 capture_output=True, text=True, check=True).stdout
            self.cache[message] = json.loads(out)
        return self.cache[message]


def form(classify, status, message):
    """The form of a Ready value: ready, unknown, or the kubelet errors the
    message carries (runtime-down, pleg, runtime-down+pleg)."""
    if status == "True":
        return "ready"
    if status != "False":
        return "unknown"
    report = classify(message or "")
    parts = [p for p, on in (("runtime-down", report["runtime_down"]),
                             ("pleg", report["pleg_unhealthy"])) if on]
    return "+".join(parts) or "other"


def collapse(values):
    out = []
    for v in values:
        if not out or out[-1] != v:
            out.append(v)
    return out


def seen_seconds(classify, message):
    ns = classify(message)["last_seen_active_ns"]
    return None if ns is None else ns / 1e9


def check_pleg_message(classify, message, runtime_down, what):
    r = classify(message)
    check(r["pleg_unhealthy"], f"{what}: not a PLEG message: {message!r}")
    check(r["last_seen_active_ns"] is not None, f"{what}: no 'last seen active' figure: {message!r}")
    check(r["threshold_ns"] == int(model.PLEG_THRESHOLD * 1e9),
          f"{what}: threshold {r['threshold_ns']} ns, the real one is 3m0s: {message!r}")
    check(r["runtime_down"] == runtime_down,
          f"{what}: runtime_down {r['runtime_down']}, expected {runtime_down}: {message!r}")
    check(not r["never_succeeded"], f"{what}: 'has yet to be successful': {message!r}")


class Recording:
    def __init__(self, path):
        self.path = path
        self.name = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            doc = json.load(f)
        for key in ("source", "fault", "heal", "heal_at", "ready", "pods"):
            check(key in doc, f"{path}: no {key!r}")
        check(doc["fault"] == "freeze-runtime", f"{path}: fault {doc['fault']!r} is not simulated")
        check(doc["heal"] in ("restart-runtime", "thaw-runtime"), f"{path}: heal {doc['heal']!r}")
        self.doc = doc
        self.heal_at = float(doc["heal_at"])
        self.thawed = doc["heal"] == "thaw-runtime"
        self.ready = doc["ready"]
        check(self.ready and self.ready[0]["status"] == "True", f"{path}: starts not Ready")
        check(self.ready[-1]["status"] == "True", f"{path}: does not end Ready")

    def forms(self, classify):
        return [form(classify, r["status"], r["message"]) for r in self.ready]

    def during(self):
        return [r for r in self.ready if r["t"] < self.heal_at]

    def after(self):
        return [r for r in self.ready if r["t"] >= self.heal_at]


# ---------------------------------------------------------------- model (unit)


def model_timeline(node, heal_at, thawed):
    """[(t, status, message)] the model posts for a node frozen at 0 and
    healed at heal_at (real seconds), the initial Ready=True included."""
    out = [(0.0, "True", model.READY_MESSAGE)]
    k = 0
    while model.post_time(k, False) < heal_at:
        out.append((model.post_time(k, False), "False",
                    model.post_message(model.PLEG_SICK, node, k)))
        k += 1
    message, ready_after = model.heal_plan(model.PLEG_SICK, node, heal_at, None, "False", thawed)
    if message:
        out.append((heal_at + model.HEAL_POST_AFTER, "False", message))
    out.append((heal_at + ready_after, "True", model.READY_MESSAGE))
    return out


def check_model(recording, classify):
    node = "real-01"
    timeline = model_timeline(node, recording.heal_at, recording.thawed)
    want = collapse(recording.forms(classify))
    got = collapse([form(classify, s, m) for _, s, m in timeline])
    check(got == want, f"{recording.name}: the model's forms {got}, the real kubelet's {want}")
    # Each form shows first when the real one did, within the resolution,
    # while frozen and after the heal.
    for part in (lambda t: t < recording.heal_at, lambda t: t >= recording.heal_at):
        firsts = {}
        for t, s, m in timeline:
            if part(t):
                firsts.setdefault(form(classify, s, m), t)
        for r in recording.ready:
            f = form(classify, r["status"], r["message"])
            if part(r["t"]) and f in firsts and r["t"] > 0:
                check(abs(firsts[f] - r["t"]) <= RESOLUTION,
                      f"{recording.name}: {f} at {r['t']}s, the model posts it at {firsts[f]}s")
                firsts.pop(f)
    # The PLEG figures: the first while frozen, and the one after the heal.
    real_pleg = [r for r in recording.ready if r["status"] == "False"
                 and classify(r["message"])["pleg_unhealthy"]]
    model_pleg = [(t, m) for t, s, m in timeline if s == "False" and classify(m)["pleg_unhealthy"]]
    check(real_pleg and model_pleg, f"{recording.name}: no PLEG message")
    for r in real_pleg:
        check_pleg_message(classify, r["message"], "runtime-down" in form(classify, "False", r["message"]),
                           f"{recording.name} (recorded)")
    for t, m in model_pleg:
        check_pleg_message(classify, m, "runtime-down" in form(classify, "False", m),
                           f"{recording.name} (model)")
    pairs = [(real_pleg[0], model_pleg[0])]
    real_after = [r for r in real_pleg if r["t"] >= recording.heal_at]
    model_after = [(t, m) for t, m in model_pleg if t >= recording.heal_at]
    check(len(real_after) == len(model_after), f"{recording.name}: PLEG posts after the heal: "
          f"{len(real_after)} recorded, {len(model_after)} modelled")
    pairs += list(zip(real_after, model_after))
    for r, (t, m) in pairs:
        real_seen, model_seen = seen_seconds(classify, r["message"]), seen_seconds(classify, m)
        check(abs(real_seen - model_seen) <= RESOLUTION,
              f"{recording.name}: 'last seen active' {real_seen}s at {r['t']}s, the model says "
              f"{model_seen}s at {t}s")
    # Posts only at the cadence: every recorded heartbeat is a post of the
    # model (on the grid while frozen, or the one right after the heal).
    grid = [t for t, s, _ in timeline if s == "False"]
    for beat in recording.doc.get("heartbeats", []):
        check(any(abs(beat - g) <= RESOLUTION for g in grid),
              f"{recording.name}: a heartbeat at {beat}s, off the model's posts {grid}")
    # The Lease: renewed at least as often as the real kubelet did.
    interval = recording.doc.get("lease_renew_interval_seconds")
    if interval is not None:
        check(model.LEASE_RENEW_SECONDS <= interval,
              f"{recording.name}: lease renewed every {model.LEASE_RENEW_SECONDS}s, real {interval}s")
    # Pods deleted while frozen: finalized only after the heal, within seconds,
    # before Ready=True is posted.
    for pod in recording.doc["pods"]:
        check(pod["deleted_at"] < recording.heal_at <= pod["gone_at"],
              f"{recording.name}: pod {pod} not held until the heal")
        check(pod["gone_at"] - recording.heal_at <= model.HEAL_READY_AFTER + RESOLUTION,
              f"{recording.name}: pod {pod} finalized long after the heal")
    say(f"MEASURED {recording.name}: model {[(t, form(classify, s, m)) for t, s, m in timeline]}")
    say(f"MEASURED {recording.name}: real  {[(r['t'], f) for r, f in zip(recording.ready, recording.forms(classify))]}")


def run_model(args):
    classify = Classifier(args.classifier)
    check(RECORDINGS, "no recordings in tests/testdata/real-kubelet")
    # The model's own Go duration format against the recorded messages.
    for recording in map(Recording, RECORDINGS):
        for r in recording.ready:
            seen = seen_seconds(classify, r["message"]) if r["status"] == "False" else None
            if seen is not None:
                check(model.go_duration(seen) in r["message"],
                      f"go_duration({seen}) = {model.go_duration(seen)} is not in {r['message']!r}")
        check_model(recording, classify)
        say(f"{recording.name}: the model matches the recording")


# ---------------------------------------------------------------- cluster (integration)


class Recorder:
    """Every version of the watched objects with its arrival time (wall clock)."""

    def __init__(self, args, keep):
        self.lock = threading.Lock()
        self.events = []  # (wall time, kind, object)
        self.keep = keep
        self.watch = ng.Watch(args, self.on_event)

    def on_event(self, kind, obj, _arrived):
        if self.keep(obj):
            with self.lock:
                self.events.append((time.time(), kind, obj))

    def start(self):
        self.watch.start()

    def stop(self):
        self.watch.stop()

    def snapshot(self):
        with self.lock:
            return list(self.events)


def ready_of(node):
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c
    return {}


def annotation(obj, key):
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(key)


def pod(ns, name, node):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 5,
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}


def pod_phase(ns, name):
    p = ng.get_json_or_none("pod", "-n", ns, name)
    return None if p is None else (p.get("status") or {}).get("phase")


def pod_ready_ip(ns, name):
    """(Ready condition status, podIP) of a pod, or (None, None)."""
    p = ng.get_json_or_none("pod", "-n", ns, name)
    status = (p or {}).get("status") or {}
    ready = next((c.get("status") for c in status.get("conditions") or []
                  if c.get("type") == "Ready"), None)
    return ready, status.get("podIP")


def check_node(classify, recording, name, events, factor, heal_wall, healed_wall):
    """The checks on one node's versions (see the module comment)."""
    what = f"{name} ({recording.name})"
    versions = [(t, obj) for t, kind, obj in events
                if kind != "DELETED" and obj["metadata"]["name"] == name]
    fault_at = None
    for _, obj in versions:
        fault_at = fault_at or model.parse_rfc3339(annotation(obj, "nodeguard.io/sim-fault-at"))
    check(fault_at is not None, f"{what}: no version carries nodeguard.io/sim-fault-at")
    # Versions from the fault on, and the one shown when it began.
    before = [(t, obj) for t, obj in versions if t < fault_at]
    versions = before[-1:] + [(t, obj) for t, obj in versions if t >= fault_at]
    check(versions, f"{what}: no versions observed")
    statuses = {ready_of(obj).get("status") for _, obj in versions}
    check("Unknown" not in statuses, f"{what}: went Unknown: the lease was not renewed")
    taints = set()
    for _, obj in versions:
        for taint in (obj.get("spec") or {}).get("taints") or []:
            taints.add(f"{taint['key']}:{taint['effect']}")
    check(not any(t.startswith("node.kubernetes.io/unreachable") for t in taints),
          f"{what}: tainted unreachable: {sorted(taints)}")
    check("node.kubernetes.io/not-ready:NoExecute" in taints,
          f"{what}: never tainted not-ready by kube-controller-manager: {sorted(taints)}")

    # Distinct Ready values in order, each with the simulated state of the
    # version that first showed it: who posted it (the player while
    # pleg-sick, kwok once recovering or healthy).
    posts = []  # (wall seen, status, reason, message, heartbeat, state)
    for t, obj in versions:
        r = ready_of(obj)
        value = (r.get("status"), r.get("reason"), r.get("message"), r.get("lastHeartbeatTime"))
        if not posts or posts[-1][1:5] != value:
            posts.append((t, *value, annotation(obj, "nodeguard.io/sim-state")))
    got = collapse([form(classify, p[1], p[3]) for p in posts])
    want = collapse(recording.forms(classify))
    check(got == want, f"{what}: the simulator showed {got}, the real kubelet {want}")
    for p in posts:
        if p[1] == "False":
            check(p[2] == "KubeletNotReady", f"{what}: reason {p[2]!r}")
        elif p[1] == "True":
            check(p[2] == "KubeletReady" and p[3] == model.READY_MESSAGE, f"{what}: Ready {p[1:4]}")

    # While frozen: every post is on the grid, never early, each with a new
    # message (no heartbeat-only posts); the PLEG figures step by whole cadences.
    sick = [p for p in posts if p[5] == model.PLEG_SICK and p[1] == "False"]
    check(sick, f"{what}: no Ready=False post before the heal")
    real_pleg = [r for r in recording.during() if classify(r["message"])["pleg_unhealthy"]]
    figures = []
    previous_message = None
    for seen_wall, status, _, message, beat, _ in sick:
        check(message != previous_message, f"{what}: a post without a new message while frozen "
              f"(heartbeat {beat}): not the kubelet's cadence")
        previous_message = message
        report = classify(message)
        if report["pleg_unhealthy"]:
            check_pleg_message(classify, message, True, what)
            figure = report["last_seen_active_ns"] / 1e9
            k = round((figure - model.relist_offset(name) - model.RUNTIME_DOWN_AFTER) / model.REPOST_EVERY)
            figures.append(figure)
        else:
            check(message == model.RUNTIME_DOWN, f"{what}: {message!r}")
            k = 0
        due = fault_at + model.post_time(k, False) / factor
        beat_at = model.parse_rfc3339(beat)
        check(beat_at is not None and beat_at >= math.floor(due),
              f"{what}: post {k} at {beat}, before its time {model.rfc3339(due, 3)}")
    check(figures, f"{what}: no PLEG message while frozen")
    check(abs(figures[0] - seen_seconds(classify, real_pleg[0]["message"])) <= RESOLUTION,
          f"{what}: first 'last seen active' {figures[0]}s, the real kubelet's "
          f"{seen_seconds(classify, real_pleg[0]['message'])}s")
    for a, b in zip(figures, figures[1:]):
        steps = (b - a) / model.REPOST_EVERY
        check(steps >= 0.999 and abs(steps - round(steps)) < 1e-6,
              f"{what}: 'last seen active' went {a}s -> {b}s, not by whole cadences of "
              f"{model.REPOST_EVERY}s")
    skipped = sum(round((b - a) / model.REPOST_EVERY) - 1 for a, b in zip(figures, figures[1:]))

    # After the heal: what the recording showed, then Ready.
    after = [p for p in posts if p[0] >= heal_wall and p[5] in ("recovering", "healthy")]
    want_after = collapse([form(classify, r["status"], r["message"]) for r in recording.after()])
    got_after = collapse([form(classify, p[1], p[3]) for p in after])
    check(got_after == want_after, f"{what}: after the heal {got_after}, the real kubelet {want_after}")
    first_after = next((p for p in after if p[1] == "False"), None)
    if first_after and classify(first_after[3])["pleg_unhealthy"]:
        check_pleg_message(classify, first_after[3], not recording.thawed, f"{what} after the heal")
        figure = seen_seconds(classify, first_after[3])
        top = (healed_wall - fault_at) * factor + model.HEAL_POST_AFTER + 1.0
        check(figures[-1] < figure <= top,
              f"{what}: 'last seen active' after the heal {figure}s, expected in "
              f"({figures[-1]}, {top}]")

    # Scaled back to real time, next to the recording.
    shown = {}
    for p in posts:
        shown.setdefault(form(classify, p[1], p[3]) + (" (healed)" if p[0] >= heal_wall else ""),
                         round((p[0] - fault_at) * factor, 1))
    say(f"MEASURED {what}: first seen, real seconds after the fault (x{factor:g}): {shown}; "
        f"recorded {[(r['t'], form(classify, r['status'], r['message'])) for r in recording.ready]}")
    say(f"MEASURED {what}: {len(figures)} PLEG posts while frozen, {skipped} grid posts skipped "
        f"(player late by a whole cadence)")
    return fault_at


def check_lease(name, events, fault_at, heal_wall, what):
    renewals = sorted({model.parse_rfc3339(obj["spec"].get("renewTime", "").replace("+00:00", "Z"))
                       for t, kind, obj in events
                       if obj["metadata"]["name"] == name and fault_at <= t < heal_wall
                       and (obj.get("spec") or {}).get("renewTime")} - {None})
    check(len(renewals) >= 2, f"{what}: the Lease was renewed {len(renewals)} times while frozen")
    gaps = [b - a for a, b in zip(renewals, renewals[1:])]
    say(f"MEASURED {what}: {len(renewals)} Lease renewals while frozen, largest gap "
        f"{max(gaps):.1f}s")


def check_pods(ns, events, deleted, late, heal_wall, what):
    """deleted: pod name deleted while frozen; late: pod created while frozen."""
    def versions(name):
        return [(t, kind, obj) for t, kind, obj in events if obj["metadata"]["name"] == name]

    deleted_seen = False
    for t, kind, obj in versions(deleted):
        if obj["metadata"].get("deletionTimestamp") and t < heal_wall:
            deleted_seen = True
        if t < heal_wall:
            check(kind != "DELETED", f"{what}: pod {deleted} went before the heal")
            check((obj.get("status") or {}).get("phase") == "Running",
                  f"{what}: pod {deleted} left Running before the heal: {obj.get('status')}")
    check(deleted_seen, f"{what}: pod {deleted} never seen Terminating while frozen")
    check(any(kind == "DELETED" and t >= heal_wall for t, kind, _ in versions(deleted)),
          f"{what}: pod {deleted} not finalized after the heal")
    for t, kind, obj in versions(late):
        if t < heal_wall:
            phase = (obj.get("status") or {}).get("phase")
            check(phase in (None, "Pending"), f"{what}: pod {late} was {phase} before the heal")
    check(any(t >= heal_wall and (obj.get("status") or {}).get("phase") == "Running"
              for t, _, obj in versions(late)), f"{what}: pod {late} not started after the heal")


def run_cluster(args):
    classify = Classifier(args.classifier)
    recordings = [Recording(p) for p in RECORDINGS]
    check(recordings, "no recordings in tests/testdata/real-kubelet")
    factor = model.parse_timing(args.timing)
    nodes = [f"{NODE_PREFIX}{i + 1:02d}" for i in range(len(recordings))]
    ns = f"fidelity-{os.getpid()}"
    recorders = []
    try:
        ng.sim("create-nodes", str(len(nodes)), "--prefix", NODE_PREFIX)
        ng.ensure_namespace(ns)
        ng.wait_for(f"the default service account of {ns}",
                    lambda: ng.kubectl("-n", ns, "get", "serviceaccount", "default",
                                       check=False).returncode == 0, 30, 0.5)
        for n in nodes:
            ng.apply(pod(ns, f"victim-{n}", n))
            ng.apply(pod(ns, f"survivor-{n}", n))
        survivor_ip = {}
        for n in nodes:
            ng.wait_for(f"victim-{n} Running", lambda n=n: pod_phase(ns, f"victim-{n}") == "Running",
                        60, 0.5)
            ng.wait_for(f"survivor-{n} Ready with an IP",
                        lambda n=n: pod_ready_ip(ns, f"survivor-{n}")[0] == "True" and
                        bool(pod_ready_ip(ns, f"survivor-{n}")[1]), 60, 0.5)
            survivor_ip[n] = pod_ready_ip(ns, f"survivor-{n}")[1]
        for n in nodes:
            # What kube-controller-manager's MarkPodsNotReady writes. kwok's
            # pod-ready stage once answered it with a new IP beside the old
            # one, which the API server refuses (two IPs of one family), so
            # the pod stayed not ready (6,300 refusals at 1,000 nodes).
            ng.kubectl("-n", ns, "patch", "pod", f"survivor-{n}", "--subresource", "status",
                       "--type", "strategic", "-p", json.dumps({"status": {"conditions": [
                           {"type": "Ready", "status": "False", "reason": "NodeNotReady"}]}}))
        for n in nodes:
            ng.wait_for(f"survivor-{n} readied again",
                        lambda n=n: pod_ready_ip(ns, f"survivor-{n}")[0] == "True", 30, 0.5)
            ip = pod_ready_ip(ns, f"survivor-{n}")[1]
            check(ip == survivor_ip[n],
                  f"survivor-{n}: pod IP {survivor_ip[n]} before it was marked not ready, {ip} after")
        selector = f"kubernetes.io/hostname in ({','.join(nodes)})"
        node_rec = Recorder(["nodes", "-l", selector], lambda o: True)
        lease_rec = Recorder(["-n", "kube-node-lease", "leases"],
                             lambda o: o["metadata"]["name"] in nodes)
        pod_rec = Recorder(["-n", ns, "pods"], lambda o: True)
        recorders = [node_rec, lease_rec, pod_rec]
        for r in recorders:
            r.start()
        time.sleep(1)

        started = time.time()
        ng.sim("pleg-sick", *nodes, "--timing", args.timing, timeout=None)
        took = time.time() - started
        say(f"MEASURED sim pleg-sick of {len(nodes)} nodes returned after {took:.1f}s "
            f"(timing {args.timing}: the model shows PLEG at "
            f"{model.first_visible(model.PLEG_SICK, factor, False):.1f}s)")
        # Frozen: a pod deleted, another bound to each node.
        for n in nodes:
            ng.kubectl("-n", ns, "delete", "pod", f"victim-{n}", "--wait=false")
            ng.apply(pod(ns, f"late-{n}", n))
        longest = max(r.heal_at for r in recordings) / factor
        hold = max(args.hold, longest)
        say(f"holding {nodes} frozen for {hold:.0f}s")
        time.sleep(max(0.0, started + hold - time.time()))
        heal_wall, healed_wall = {}, {}
        for n, recording in zip(nodes, recordings):
            heal_wall[n] = time.time()
            ng.sim("heal", n, *(["--thawed"] if recording.thawed else []), "--no-wait")
            healed_wall[n] = time.time()
        for n in nodes:
            ng.sim("wait", n, "--ready", "True", "--untainted")
        for n in nodes:
            ng.wait_for(f"victim-{n} finalized", lambda n=n: pod_phase(ns, f"victim-{n}") is None, 60, 0.5)
            ng.wait_for(f"late-{n} Running", lambda n=n: pod_phase(ns, f"late-{n}") == "Running", 60, 0.5)
            ng.wait_for(f"survivor-{n} Ready again after the heal",
                        lambda n=n: pod_ready_ip(ns, f"survivor-{n}")[0] == "True", 60, 0.5)
            ip = pod_ready_ip(ns, f"survivor-{n}")[1]
            check(ip == survivor_ip[n],
                  f"survivor-{n}: pod IP {survivor_ip[n]} before the episode, {ip} after")
        time.sleep(2)  # The last events reach the watches.
        for r in recorders:
            r.stop()  # Fails on a gap in its record (ng.Watch: a 410, a callback error).
        node_events, lease_events, pod_events = (r.snapshot() for r in recorders)
        for n, recording in zip(nodes, recordings):
            what = f"{n} ({recording.name})"
            fault_at = check_node(classify, recording, n, node_events, factor, heal_wall[n],
                                  healed_wall[n])
            check_lease(n, lease_events, fault_at, heal_wall[n], what)
            check_pods(ns, pod_events, f"victim-{n}", f"late-{n}", heal_wall[n], what)
            say(f"{what}: the simulator showed what the real kubelet did")
    finally:
        for r in recorders:
            r.stop()
        try:
            ng.sim("heal", *nodes)
        except Exception as e:
            say(f"cleanup heal: {e}")
        ng.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
        try:
            ng.sim("delete-nodes", "--prefix", NODE_PREFIX)
        except Exception as e:
            say(f"cleanup delete-nodes: {e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", required=True, help="the pleg_classify helper")
    parser.add_argument("--timing", default="fast", help="sim pleg-sick --timing (cluster)")
    parser.add_argument("--hold", type=float, default=30.0,
                        help="least wall seconds the nodes stay frozen (cluster); longer than "
                             "kube-controller-manager's 20 s grace, so a Lease not renewed shows")
    parser.add_argument("command", choices=["model", "cluster"])
    args = parser.parse_args()
    return ng.run_subcommand({"model": run_model, "cluster": run_cluster}, args.command, args)


if __name__ == "__main__":
    sys.exit(main())
