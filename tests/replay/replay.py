#!/usr/bin/env python3
"""The incident replay (docs/replay.md): the same seeded cluster and workload
three times, on the local cluster's simulated nodes driven by the PLEG load
model (pleg_model.py):

  none       no remediation at all;
  naive      a small script that reboots every PLEG-sick node at once, as soon
             as it shows (no cordon, no drain, no caps, no budget);
  nodeguard  the nodeguard controller with manifests/samples/incident-workers.yaml
             (durations divided by the replay's clock) and one simulated agent
             per node.

Each run has its own scope of the cluster (tests/lib Scope: its own nodes,
namespace and policy), so the three run at the same time on one cluster.

The workload is the incident's: Deployments filling the workers to FILL pods
each (80: the top of the incident's 70-80), then a CI rollout of all of them at once
(maxSurge 25%, maxUnavailable 10%) that pushes nodes towards 110.

Time is compressed by CLOCK (10): the simulated kubelets' timeline (sim
--timing 10), the pods' not-ready/unreachable tolerations (the cluster runs
with kube-apiserver --default-not-ready-toleration-seconds 30 instead of 300:
tests/cluster/up --pod-eviction-seconds), the reboot (18 s for 3 min) and the
policy's durations. The control plane itself (scheduler, controllers,
nodeguard's reconciles) runs at its own speed: it is faster, relative to the
compressed clock, than it would be in the incident.

Usage:
  replay.py all --out DIR [--nodes N] [--seed S] [--duration S] [--nodeguard BIN]
                [--modes none,naive,nodeguard] [--cluster NAME] [--keep-cluster]
                [--no-overflow-eviction]
      Starts (or reuses) the replay's own cluster, runs the modes at once,
      writes DIR/replay-MODE.csv, DIR/summary.json, DIR/table.md and, with
      matplotlib, DIR/replay.png; prints the table. Exit 0 when every run
      completed (the figures are reported, not judged: the e2e test judges).

Availability: a replica counts when its pod is Ready, not terminating, and on
a node whose Ready condition is True. A frozen node's pods keep the Ready
status they last had in the API (its kubelet no longer updates them, and
kube-controller-manager marks pods not ready only when a node stops reporting,
not when it reports NotReady), so the Deployment's own availableReplicas
(column deployment_available) still counts them; but a node whose runtime
has stalled under its load no longer serves them (the incident: "service
calls timed out").

The e2e test (tests/e2e/replay) imports this module (run_modes).
"""

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster", "lib"))
import nodeguard_testlib as ng  # noqa: E402
import pleg_model  # noqa: E402
from sim_api import cluster_env  # noqa: E402

CLOCK = 10.0                 # incident seconds per wall-clock second
EVICTION_SECONDS = 30        # the cluster's default toleration: 300 s / CLOCK
REBOOT_SECONDS = 18          # a worker's reboot: 3 min / CLOCK
# The controller's client budget times CLOCK (defaults 20 qps, burst 30): the
# same requests per incident second as in the incident (an overflow eviction
# must land within the model's 30 s of overload, 3 s here).
CONTROLLER_RATE = ["--kube-api-qps", str(int(20 * CLOCK)), "--kube-api-burst", str(int(30 * CLOCK))]
SAMPLE_SECONDS = 2.0
MODEL_TICK_SECONDS = 0.5
POLICY_FILE = os.path.join(ng.ROOT, "manifests", "samples", "incident-workers.yaml")
MODES = ("none", "naive", "nodeguard")
ROLLOUT_ANNOTATION = "replay.nodeguard.io/rollout"
SIM_STATE = "nodeguard.io/sim-state"
SIM_FAULT_AT = "nodeguard.io/sim-fault-at"
PLEG_TEXT = "PLEG is not healthy"
DISRUPTION_REASONS = ("DeletionByTaintManager", "EvictionByEvictionAPI")
STEADY_AVAILABILITY = 0.9   # "seconds below 90 %"
STEADY_MARGIN = 0.02        # back to steady: within 2 points of the pre-rollout availability
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's, with python3-matplotlib (make replay installs it)

CSV_FIELDS = ["t", "since_rollout", "ready_nodes", "notready_nodes", "pleg_sick_nodes",
              "frozen_nodes", "cordoned_nodes", "desired", "available", "availability",
              "deployment_available",
              "pending_pods", "max_pods_per_node", "mean_pods_per_node", "evictions",
              "reboots", "runtime_restarts", "max_relist_seconds"]


def go_duration_seconds(text):
    """'1h30m', '3m', '90s' -> seconds."""
    total, number = 0.0, ""
    units = {"h": 3600, "m": 60, "s": 1}
    for ch in text:
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in units and number:
            total += float(number) * units[ch]
            number = ""
        else:
            raise ValueError(f"unsupported duration {text!r}")
    if number:
        raise ValueError(f"duration {text!r} lacks a unit")
    return total


def scaled_duration(text):
    """A policy duration divided by CLOCK, as a Go duration (whole seconds,
    at least 1 s unless zero)."""
    seconds = go_duration_seconds(text)
    if seconds == 0:
        return "0s"
    return f"{max(1, round(seconds / CLOCK))}s"


def incident_policy_spec(caps=True, max_concurrent=None, evict_overflow=None,
                         max_unhealthy=None):
    """incident-workers.yaml's spec with every duration scaled by the clock
    and its nodeSelector left to the scope; caps=False drops podDensity (the
    demonstration that the replay's assertions can fail)."""
    import yaml  # Debian python3-yaml, as the other suites use it.
    with open(POLICY_FILE) as f:
        spec = yaml.safe_load(f)["spec"]
    spec.pop("nodeSelector", None)
    if not caps:
        spec.pop("podDensity", None)
    if max_concurrent is not None:
        spec["remediation"]["maxConcurrent"] = max_concurrent
    if max_unhealthy is not None:
        spec["remediation"]["maxUnhealthy"] = max_unhealthy
    if evict_overflow is not None and "podDensity" in spec:
        spec["podDensity"]["evictOverflow"] = evict_overflow

    def scale(obj):
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key in ("duration", "timeout", "actionTimeout", "recoveryStableFor",
                           "cooldown", "holdSlotAfterFailure", "skipWaitForDeleteTimeout",
                           "notReadySkipWaitForDeleteTimeout") and isinstance(value, str):
                    obj[key] = scaled_duration(value)
                else:
                    scale(value)
        elif isinstance(obj, list):
            for item in obj:
                scale(item)
    scale(spec)
    return spec


class Workload:
    """The incident's Deployments: `deployments` of them, fill*nodes replicas
    in all, small requests and limits (so hygiene has nothing to flag and the
    scheduler spreads them evenly)."""

    def __init__(self, nodes, fill=80, deployments=5):
        self.total = nodes * fill
        self.names = [f"shop-{chr(ord('a') + i)}" for i in range(deployments)]
        base, extra = divmod(self.total, deployments)
        self.replicas = {n: base + (1 if i < extra else 0) for i, n in enumerate(self.names)}

    def objects(self, scope):
        for name in self.names:
            labels = {"app": name}
            yield {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": scope.namespace},
                "spec": {
                    "replicas": self.replicas[name],
                    "selector": {"matchLabels": labels},
                    "strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "10%"}},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            **scope.pod_placement(),
                            "containers": [{
                                "name": "app", "image": "registry.example/shop:1",
                                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                              "limits": {"cpu": "10m", "memory": "32Mi"}}}],
                        }},
                }}


class Run:
    """One mode on one scope: the load model, what the mode remediates with,
    the sampler, and the record. Thread-safe where its threads meet (lock)."""

    def __init__(self, mode, scope, seed, out_dir, csv_path, nodeguard=None, caps=True, fill=80,
                 deployments=5, max_concurrent=None, evict_overflow=None, max_unhealthy=None):
        ng.check(mode in MODES, f"unknown mode {mode}")
        self.mode = mode
        self.scope = scope
        self.seed = seed
        self.out_dir = out_dir
        self.csv_path = csv_path
        self.nodeguard = nodeguard
        self.caps = caps
        self.max_concurrent = max_concurrent
        self.evict_overflow = evict_overflow
        self.max_unhealthy = max_unhealthy
        self.workload = Workload(len(scope.nodes), fill, deployments)
        self.models = {n: pleg_model.NodeModel(seed, n) for n in scope.nodes}
        self.lock = threading.Lock()  # Guards everything below.
        self.nodes = {}      # name -> slim node
        self.pods = {}       # uid -> slim pod
        self.deployments = {}  # name -> (desired, available)
        self.evicted = {}    # uid -> reason
        self.boots = {}      # node -> bootID
        self.reboot_times = {n: [] for n in scope.nodes}
        self.freeze_times = {n: [] for n in scope.nodes}
        self.naive_reboots = set()  # (node, fault time) the naive script rebooted
        self.cordoned_max = 0
        self.rows = []
        self.errors = []
        self.started = None
        self.rollout_at = None
        self.stopping = threading.Event()
        self.threads = []
        self.watches = []
        self.controller = None
        self.agents = None

    # ------------------------------------------------------------ observing

    def on_node(self, kind, obj, arrived):
        meta = obj["metadata"]
        name = meta["name"]
        if name not in self.models:
            return
        with self.lock:
            if kind == "DELETED":
                self.nodes.pop(name, None)
                return
            ready = next((c for c in obj.get("status", {}).get("conditions") or []
                          if c.get("type") == "Ready"), {})
            ann = meta.get("annotations") or {}
            boot = obj.get("status", {}).get("nodeInfo", {}).get("bootID", "")
            if name in self.boots and boot and boot != self.boots[name]:
                self.reboot_times[name].append(self.now())
            if boot:
                self.boots[name] = boot
            self.nodes[name] = {
                "ready": ready.get("status", "Unknown"),
                "message": ready.get("message", ""),
                "unschedulable": bool(obj.get("spec", {}).get("unschedulable")),
                "sim_state": ann.get(SIM_STATE, ""),
                "fault_at": ann.get(SIM_FAULT_AT, ""),
            }
            cordoned = sum(1 for n in self.nodes.values() if n["unschedulable"])
            self.cordoned_max = max(self.cordoned_max, cordoned)

    def on_pod(self, kind, obj, arrived):
        meta = obj["metadata"]
        uid = meta["uid"]
        with self.lock:
            if kind == "DELETED":
                self.pods.pop(uid, None)
                return
            status = obj.get("status", {})
            for c in status.get("conditions") or []:
                if c.get("type") == "DisruptionTarget" and c.get("reason") in DISRUPTION_REASONS:
                    self.evicted.setdefault(uid, c["reason"])
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in status.get("conditions") or [])
            self.pods[uid] = {
                "node": obj.get("spec", {}).get("nodeName", ""),
                "phase": status.get("phase", ""),
                "deleting": bool(meta.get("deletionTimestamp")),
                "ready": ready,
                "app": (meta.get("labels") or {}).get("app", ""),
            }

    def on_deployment(self, kind, obj, arrived):
        name = obj["metadata"]["name"]
        with self.lock:
            if kind == "DELETED":
                self.deployments.pop(name, None)
                return
            # availableReplicas counts the old and the new ReplicaSet's pods:
            # during a surge it exceeds the replicas wanted.
            desired = obj.get("spec", {}).get("replicas", 0)
            available = obj.get("status", {}).get("availableReplicas", 0) or 0
            self.deployments[name] = (desired, min(desired, available))

    def now(self):
        return time.monotonic() - self.started if self.started else 0.0

    def running_pods(self):
        """node -> pods whose containers run there (terminating ones included).
        REQUIRES: self.lock held."""
        counts = {n: 0 for n in self.models}
        for p in self.pods.values():
            if p["node"] in counts and p["phase"] == "Running":
                counts[p["node"]] += 1
        return counts

    # ------------------------------------------------------------ acting

    def sim(self, *args):
        try:
            ng.sim(*args, timeout=60)
            return True
        except Exception as e:  # A failed request is decided again next tick.
            with self.lock:
                self.errors.append(f"sim {' '.join(args)}: {e}")
            print(f"replay {self.mode}: sim {' '.join(args)} failed: {e}", file=sys.stderr)
            return False

    def freeze(self, name):
        if not self.sim("pleg-sick", name, "--timing", str(CLOCK), "--no-wait"):
            with self.lock:
                self.models[name].request_failed()

    def model_loop(self):
        while not self.stopping.wait(MODEL_TICK_SECONDS):
            with self.lock:
                counts = self.running_pods()
                due = []
                for name, model in self.models.items():
                    node = self.nodes.get(name)
                    if node is None:
                        continue
                    if model.observe(self.now() * CLOCK, counts[name], node["sim_state"]):
                        self.freeze_times[name].append(self.now())
                        due.append(name)
            for name in due:
                threading.Thread(target=self.freeze, args=(name,), daemon=True).start()

    def naive_loop(self):
        """Reboots every node showing PLEG not healthy, at once, once per fault."""
        while not self.stopping.wait(1.0):
            with self.lock:
                due = [(name, n["fault_at"]) for name, n in self.nodes.items()
                       if n["ready"] == "False" and PLEG_TEXT in n["message"]
                       and n["sim_state"] in pleg_model.FROZEN_STATES
                       and (name, n["fault_at"]) not in self.naive_reboots]
                self.naive_reboots.update(due)
            for name, _ in due:
                threading.Thread(target=self.sim, daemon=True,
                                 args=("reboot", name, "--delay", str(REBOOT_SECONDS),
                                       "--no-wait")).start()

    # ------------------------------------------------------------ sampling

    def sample(self):
        with self.lock:
            nodes = list(self.nodes.values())
            counts = self.running_pods()
            per_node = {n: 0 for n in self.models}
            pending = 0
            for p in self.pods.values():
                if p["node"] in per_node:
                    per_node[p["node"]] += 1
                if p["phase"] == "Pending" and not p["deleting"]:
                    pending += 1
            desired = sum(d for d, _ in self.deployments.values())
            reported = sum(a for _, a in self.deployments.values())
            serving = {}
            for p in self.pods.values():
                node = self.nodes.get(p["node"])
                if p["ready"] and not p["deleting"] and node and node["ready"] == "True":
                    serving[p["app"]] = serving.get(p["app"], 0) + 1
            available = sum(min(d, serving.get(name, 0))
                            for name, (d, _) in self.deployments.items())
            relists = [self.models[name].relist(counts[name]) for name, n in self.nodes.items()
                       if n["sim_state"] not in pleg_model.FROZEN_STATES]
            finite = [r for r in relists if math.isfinite(r)]
            t = self.now()
            row = {
                "t": round(t, 1),
                "since_rollout": round(t - self.rollout_at, 1) if self.rollout_at is not None else "",
                "ready_nodes": sum(1 for n in nodes if n["ready"] == "True"),
                "notready_nodes": sum(1 for n in nodes if n["ready"] != "True"),
                "pleg_sick_nodes": sum(1 for n in nodes
                                       if n["ready"] == "False" and PLEG_TEXT in n["message"]),
                "frozen_nodes": sum(1 for n in nodes if n["sim_state"] in pleg_model.FROZEN_STATES),
                "cordoned_nodes": sum(1 for n in nodes if n["unschedulable"]),
                "desired": desired,
                "available": available,
                "availability": round(available / desired, 4) if desired else 0.0,
                "deployment_available": reported,
                "pending_pods": pending,
                "max_pods_per_node": max(per_node.values()) if per_node else 0,
                "mean_pods_per_node": round(sum(per_node.values()) / len(per_node), 1),
                "evictions": len(self.evicted),
                "reboots": sum(len(v) for v in self.reboot_times.values()),
                "runtime_restarts": self.runtime_restarts(),
                "max_relist_seconds": round(max(finite), 3) if finite else "",
            }
            self.rows.append(row)
        return row

    def runtime_restarts(self):
        if self.agents is None:
            return 0
        try:
            return sum(1 for a, _ in self.agents.executed if a != "Reboot")
        except OSError:
            return 0

    def sample_loop(self):
        while not self.stopping.wait(SAMPLE_SECONDS):
            self.sample()

    # ------------------------------------------------------------ life cycle

    def start(self):
        """Watches, the mode's remediator, the workload; returns once the
        workload has settled (every replica running or unschedulable)."""
        self.started = time.monotonic()
        os.makedirs(self.out_dir, exist_ok=True)
        for args, handler in ((["nodes", "-l", self.scope.selector], self.on_node),
                              (["pods", "-n", self.scope.namespace], self.on_pod),
                              (["deployments", "-n", self.scope.namespace], self.on_deployment)):
            w = ng.Watch(args, handler)
            w.start()
            self.watches.append(w)
        for w in self.watches:
            w.wait_synced()
        if self.mode == "nodeguard":
            ng.apply(self.scope.policy(f"{self.scope.name}-incident-workers",
                                       incident_policy_spec(self.caps, self.max_concurrent,
                                                            self.evict_overflow,
                                                            self.max_unhealthy)))
            self.agents = ng.SimulatedAgents(self.nodeguard, self.scope.nodes, self.out_dir,
                                             REBOOT_SECONDS)
            self.agents.start()
            # A larger policy budget also needs the controller's own cap raised.
            budget = (["--max-concurrent-remediations", str(self.max_concurrent)]
                      if self.max_concurrent else [])
            self.controller = ng.Controller(self.nodeguard, self.out_dir, self.mode,
                                            extra_args=self.scope.controller_args() + budget
                                            + CONTROLLER_RATE)
            self.controller.start()
            self.controller.wait_ready()
        for target in [self.model_loop, self.sample_loop] + (
                [self.naive_loop] if self.mode == "naive" else []):
            th = threading.Thread(target=target, daemon=True)
            th.start()
            self.threads.append(th)
        for obj in self.workload.objects(self.scope):
            ng.apply(obj)

        def settled():
            with self.lock:
                running = sum(1 for p in self.pods.values()
                              if p["phase"] == "Running" and not p["deleting"])
                unscheduled = sum(1 for p in self.pods.values()
                                  if p["phase"] == "Pending" and not p["node"])
                total = running + unscheduled
            return total >= self.workload.total, f"{running} running, {unscheduled} unschedulable"
        seconds = ng.wait_for(f"{self.mode}: the workload to settle", settled, timeout=300)
        ng.say(f"replay {self.mode}: {self.workload.total} replicas settled in {seconds:.0f}s")

    def rollout(self):
        self.rollout_at = self.now()
        stamp = str(int(time.time()))
        for name in self.workload.names:
            ng.kubectl("-n", self.scope.namespace, "patch", "deployment", name, "--type=merge",
                       "-p", json.dumps({"spec": {"template": {"metadata": {
                           "annotations": {ROLLOUT_ANNOTATION: stamp}}}}}))
        ng.say(f"replay {self.mode}: rollout of {len(self.workload.names)} deployments")

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(10)
        if self.controller is not None:
            self.controller.stop()
        if self.agents is not None:
            self.agents.stop()
        problems = []
        for w in self.watches:
            try:
                w.stop()
            except ng.TestFailure as e:
                problems.append(str(e))
        self.write_csv()
        if problems:
            ng.fail(f"replay {self.mode}: " + "; ".join(problems))

    def write_csv(self):
        with open(self.csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)

    # ------------------------------------------------------------ results

    def summary(self):
        """The per-run figures of docs/replay.md (from the rollout on)."""
        with self.lock:
            rows = [r for r in self.rows if r["since_rollout"] != ""]
            before = [r for r in self.rows if r["since_rollout"] == ""]
            reboots = {n: list(v) for n, v in self.reboot_times.items()}
            freezes = {n: list(v) for n, v in self.freeze_times.items()}
            cordoned_max = self.cordoned_max
        ng.check(rows, f"replay {self.mode}: no sample after the rollout")
        baseline = before[-1]["availability"] if before else 1.0
        return summarize(self.mode, rows, reboots, freezes, cordoned_max,
                         nodes=len(self.scope.nodes), replicas=self.workload.total,
                         baseline=baseline)


def summarize(mode, rows, reboots, freezes, cordoned_max, nodes, replicas, baseline=1.0):
    """rows: the samples from the rollout on (CSV_FIELDS); reboots, freezes:
    node -> times (s since the run started); baseline: the availability just
    before the rollout (the caps may keep it below 100 %: replicas Pending
    for want of capacity). Steady: no node NotReady and the availability
    within STEADY_MARGIN of the baseline from then to the end, at least 30 s
    before it. Pure."""
    below = sum(SAMPLE_SECONDS for r in rows if r["availability"] < STEADY_AVAILABILITY)
    end = rows[-1]["since_rollout"]
    steady = None
    for i, r in enumerate(rows):
        if end - r["since_rollout"] < 30:
            break
        if all(x["notready_nodes"] == 0 and x["availability"] >= baseline - STEADY_MARGIN
               for x in rows[i:]):
            steady = r["since_rollout"]
            break
    return {
        "mode": mode,
        "nodes": nodes,
        "replicas": replicas,
        "seconds": end,
        "baseline_availability": baseline,
        "min_availability": min(r["availability"] for r in rows),
        "seconds_below_90": below,
        "peak_pleg_sick": max(r["pleg_sick_nodes"] for r in rows),
        "peak_frozen": max(r["frozen_nodes"] for r in rows),
        "peak_notready": max(r["notready_nodes"] for r in rows),
        "steady_after": steady,
        "reboots": sum(len(v) for v in reboots.values()),
        "runtime_restarts": rows[-1]["runtime_restarts"],
        "freezes": sum(len(v) for v in freezes.values()),
        "evictions": rows[-1]["evictions"],
        "max_pods_per_node": max(r["max_pods_per_node"] for r in rows),
        "max_cordoned_at_once": cordoned_max,
        "needless_reboots": needless_reboots(reboots, freezes),
    }


def needless_reboots(reboots, freezes):
    """Reboots of a node that did not freeze since its previous reboot (or
    ever, for its first): a reboot without need."""
    needless = []
    for node, times in reboots.items():
        previous = -math.inf
        for t in times:
            if not any(previous < f <= t for f in freezes.get(node, [])):
                needless.append((node, round(t, 1)))
            previous = t
    return needless


def run_modes(modes, nodes, seed, out_dir, nodeguard, baseline, duration, caps=True,
              fill=80, prefix="replay", max_concurrent=None, evict_overflow=None,
              max_unhealthy=None):
    """Runs the modes at once, each on a scope of NODES nodes of the current
    cluster ($KUBECONFIG); returns {mode: summary}. baseline: seconds sampled
    before the rollout; duration: seconds after it."""
    ng.ensure_crd()
    scopes = {m: ng.Scope(f"{prefix}-{m}", nodes=nodes) for m in modes}
    runs = {}
    entered = []
    try:
        for m in modes:
            scopes[m].__enter__()
            entered.append(m)
        runs = {m: Run(m, scopes[m], seed, os.path.join(out_dir, m),
                       os.path.join(out_dir, f"replay-{m}.csv"), nodeguard, caps, fill,
                       max_concurrent=max_concurrent, evict_overflow=evict_overflow,
                       max_unhealthy=max_unhealthy)
                for m in modes}
        starters = [threading.Thread(target=_capture, args=(runs[m].start, runs[m]))
                    for m in modes]
        for th in starters:
            th.start()
        for th in starters:
            th.join()
        for r in runs.values():
            if getattr(r, "start_error", None):
                raise r.start_error
        time.sleep(baseline)
        for r in runs.values():
            r.rollout()
        time.sleep(duration)
        for r in runs.values():
            r.sample()
    finally:
        for r in runs.values():
            r.stop()
        for m in entered:
            clear_workload(scopes[m])
        for m in reversed(entered):
            scopes[m].__exit__(*sys.exc_info())
    summaries = {m: runs[m].summary() for m in modes}
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summaries, f, indent=2)
    return summaries


def clear_workload(scope):
    """The scope's Deployments and pods, gone at once: pods on frozen or
    deleted nodes are never finalized by a kubelet, and kube-controller-manager's
    pod garbage collector removes orphans at about 10 a second."""
    for what in (["deployments", "--all"], ["pods", "--all", "--grace-period=0", "--force"]):
        try:
            ng.kubectl("-n", scope.namespace, "delete", *what, "--wait=false", "--ignore-not-found")
        except Exception as e:  # The scope's own cleanup still runs.
            print(f"replay: clearing {scope.namespace}: {e}", file=sys.stderr)


def _capture(fn, run):
    try:
        fn()
    except BaseException as e:  # Re-raised by run_modes in its own thread.
        run.start_error = e


def fmt_seconds(s):
    return "never" if s is None else f"{s:.0f} s"


def table(summaries):
    """The table of docs/replay.md, markdown."""
    lines = ["| run | min availability | s below 90 % | peak PLEG-sick nodes | "
             "back to steady after | reboots | runtime restarts | evictions | max pods/node |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m, s in summaries.items():
        lines.append(f"| {m} | {100 * s['min_availability']:.1f} % | {s['seconds_below_90']:.0f} | "
                     f"{s['peak_pleg_sick']} (frozen {s['peak_frozen']}) | "
                     f"{fmt_seconds(s['steady_after'])} | {s['reboots']} | "
                     f"{s['runtime_restarts']} | {s['evictions']} | {s['max_pods_per_node']} |")
    return "\n".join(lines)


def cluster_up(name):
    """The replay's own cluster (pods evicted after EVICTION_SECONDS);
    returns its kubeconfig."""
    out = subprocess.run([os.path.join(ng.ROOT, "tests", "cluster", "up"), "--name", name,
                          "--pod-eviction-seconds", str(EVICTION_SECONDS)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    kubeconfig = out.strip().splitlines()[-1]
    env = cluster_env(os.path.dirname(kubeconfig))
    ng.check(env.get("POD_EVICTION_SECONDS") == str(EVICTION_SECONDS),
             f"cluster {name} runs with pod eviction after {env.get('POD_EVICTION_SECONDS', '300')} s,"
             f" not {EVICTION_SECONDS}: take it down (tests/cluster/down --name {name})")
    return kubeconfig


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("all")
    a.add_argument("--out", required=True)
    a.add_argument("--nodes", type=int, default=10)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--baseline", type=float, default=30)
    a.add_argument("--duration", type=float, default=360)
    a.add_argument("--fill", type=int, default=80)
    a.add_argument("--nodeguard", default=os.path.join(ng.ROOT, "build", "controller", "nodeguard"))
    a.add_argument("--modes", default=",".join(MODES))
    a.add_argument("--cluster", default="replay")
    a.add_argument("--keep-cluster", action="store_true")
    a.add_argument("--no-overflow-eviction", action="store_true",
                   help="nodeguard's policy without podDensity.evictOverflow (the sample enables it)")
    args = parser.parse_args()
    # SIGTERM (ctrl-C, a killed make) unwinds through the finally blocks: the
    # agents and the controller stopped, the scopes and the cluster cleaned up.
    ng.exit_on_sigterm()
    modes = [m for m in args.modes.split(",") if m]
    os.makedirs(args.out, exist_ok=True)
    started = time.monotonic()
    status = 0
    os.environ["KUBECONFIG"] = cluster_up(args.cluster)
    try:
        summaries = run_modes(modes, args.nodes, args.seed, args.out, args.nodeguard,
                              args.baseline, args.duration, fill=args.fill,
                              evict_overflow=False if args.no_overflow_eviction else None)
    finally:
        if not args.keep_cluster:
            subprocess.run([os.path.join(ng.ROOT, "tests", "cluster", "down"),
                            "--name", args.cluster], check=False)
    text = table(summaries)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(text + "\n")
    # Drawn by Debian's python (python3-matplotlib), whichever python runs this.
    png = os.path.join(args.out, "replay.png")
    drawn = subprocess.run([DEBIAN_PYTHON, os.path.join(HERE, "figure.py"), args.out, *modes],
                           check=False)
    if drawn.returncode != 0:
        print(f"replay: no figure ({DEBIAN_PYTHON} figure.py exited {drawn.returncode}); "
              f"make replay installs python3-matplotlib", file=sys.stderr)
        status = 1
    else:
        ng.say(f"figure: {png}")
    print(text)
    print(f"replay: {len(modes)} runs of {args.nodes} nodes, seed {args.seed}, "
          f"in {time.monotonic() - started:.0f} s; CSVs in {args.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
