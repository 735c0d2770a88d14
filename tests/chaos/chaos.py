#!/usr/bin/env python3
"""The chaos soak (issue 24): nodeguard under mixed, randomized faults on a
cluster of its own, judged by an independent checker (checker.py).

Set-up (all on the cluster --cluster NAME, started here with
tests/cluster/up --storage-json and stopped at the end, unless --reuse-cluster):
NODES simulated nodes in three groups (label chaos.nodeguard.io/group a, b, c);
policy chaos-a selects group a, chaos-b group b, group c is ungoverned; both
remediate (cordon, drain, [RestartContainerRuntime, Reboot]) and cap pod
density (a taint nodeguard.io/chaos-density*); the controller's global cap
--max-concurrent-remediations 2. Two controller replicas with leader election
(one Lease) talk to the API server through a TCP proxy (proxy.py); one real
`nodeguard agent --simulate` per node runs its actions through chaos-action,
which records the node as it was and acts as the driver chose (a normal,
same-bootID or slow reboot). A Deployment of pause pods, a PDB-guarded one,
a burst one.

Faults, one every U(--min-gap, --max-gap) seconds, picked by weight from a
random.Random(--seed) (so the schedule is reproducible from the seed; what the
cluster does in between depends on timing), each logged with its time to
WORKDIR/faults.jsonl and stdout:

  pleg-sick / runtime-down / silent  a node (at most MAX_SICK at once) for
                                     U(20, 150) s, then heal
  reboot-mode        the next reboot of a node is normal / same-boot / slow
  terminating-pod    a pod with a finalizer on a node (never finishes
                     terminating) for U(30, 120) s
  pdb-block          a PDB allowing no eviction of the guarded pods, U(30, 120) s
  kill-leader / term-leader / kill-standby / term-standby
                     SIGKILL / SIGTERM a controller replica, restarted U(2, 10) s later
  agent-restart      SIGTERM or SIGKILL a node's agent, restarted at once
  apiserver-restart  tests/cluster/control-plane restart-apiserver (grace 0 or 5 s)
  etcd-compact       compaction up to the revision the checker has passed
  slow-api           the proxy delays every chunk 0.1-1 s for U(10, 40) s
  cut-streams        the proxy closes every connection
  policy-selector / policy-budget / policy-pause / policy-dryrun / policy-key
                     edits (pause and dry run undone after U(10, 30) s)
  policy-recreate    chaos-b deleted, re-created U(10, 40) s after it is gone
  density-burst      the burst Deployment scaled to U(20, 50) replicas, back to 0
                     U(20, 60) s later
  person-cordon      a person cordons a node, uncordons it U(20, 90) s later

At the end every fault is undone (nodes healed, pods released, policies
restored), chaos-b is deleted (its nodes become ungoverned) and the checker
settles (checker.settle). Throughout, the driver samples the controllers'
RSS every 10 s (bound --rss-limit-mb) and reports any controller exit it did
not cause; both count as violations.

--inject KIND (repeatable) makes the driver commit a violation itself, to show the checker
catches it (the run must then fail): uncordon-as-nodeguard (a person's cordon
lifted by field manager "nodeguard"), over-budget (three nodes cordoned as
"nodeguard"), stale-action (chaos-action run with no request), reboot (a
reboot outside any remediation), crash (a controller SIGKILLed behind the
driver's back), leave-taint (a nodeguard.io/ taint put on an ungoverned node).

Usage: chaos.py --nodeguard PATH --workdir DIR --cluster NAME [--seed S]
                [--duration S] [--nodes N] [--reuse-cluster] [--inject KIND]
"""

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, HERE)
import nodeguard_testlib as ng  # noqa: E402
from checker import ChaosChecker  # noqa: E402
from invariants import NODEGUARD_MANAGER, cordon_owner  # noqa: E402
from proxy import Proxy  # noqa: E402

SCOPE = "chaos"
GROUP = "chaos.nodeguard.io/group"
LEASE_NS = "nodeguard-system"
GLOBAL_CAP = 2
MAX_SICK = 3
PAUSE = "registry.k8s.io/pause:3.9"
# A remediation's bound: drain 30 s, two rungs of actionTimeout 25 s plus a
# slow reboot (40 s) and recoveryStableFor 5 s each, a pause (30 s), a leader
# failover (15 s lease + resync) and an API server restart (15 s), with room.
BOUND = 420
# After the API server was slow or away, how long a leader may still exit
# because it could not renew its Lease (lease 15 s, renew deadline 10 s).
LEASE_GRACE = 30
INJECTIONS = ("uncordon-as-nodeguard", "over-budget", "stale-action", "reboot", "crash",
              "leave-taint")

def parse_at(text):
    """--at KIND@SECONDS -> (seconds, kind)."""
    kind, sep, at = text.partition("@")
    if not sep or kind not in WEIGHTS:
        raise SystemExit(f"--at {text}: want KIND@SECONDS with KIND one of {sorted(WEIGHTS)}")
    try:
        return float(at), kind
    except ValueError:
        raise SystemExit(f"--at {text}: {at!r} is not a number of seconds")


WEIGHTS = {
    "pleg-sick": 10, "runtime-down": 3, "silent": 3, "reboot-mode": 4, "terminating-pod": 3,
    "pdb-block": 3, "kill-leader": 2, "term-leader": 2, "kill-standby": 1, "term-standby": 1,
    "agent-restart": 3, "apiserver-restart": 1, "etcd-compact": 2, "slow-api": 2,
    "cut-streams": 2, "policy-selector": 2, "policy-budget": 2, "policy-pause": 1,
    "policy-dryrun": 1, "policy-key": 2, "policy-recreate": 1, "density-burst": 2,
    "person-cordon": 2,
}


def log(msg):
    print(time.strftime("%H:%M:%S ", time.gmtime()) + msg, flush=True)


def health():
    return {"unhealthyConditions": [
        {"type": "Ready", "status": "False", "messageRegex": "PLEG is not healthy",
         "duration": "5s"},
        {"type": "Ready", "status": "Unknown", "duration": "15s"}]}


def policy_spec(group_selector, max_concurrent=1, key="nodeguard.io/chaos-density",
                paused=False, dry_run=False):
    return {
        "nodeSelector": group_selector,
        "paused": paused, "dryRun": dry_run,
        "health": health(),
        "podDensity": {"maxPods": 8, "taintAhead": 1, "releaseBelow": "75%",
                       "taint": {"key": key}},
        "remediation": {
            "maxConcurrent": max_concurrent, "maxUnhealthy": "50%",
            "actions": ["RestartContainerRuntime", "Reboot"],
            "drain": {"timeout": "30s", "force": True, "deleteEmptyDirData": True,
                      "notReadySkipWaitForDeleteTimeout": "5s"},
            "actionTimeout": "25s", "recoveryStableFor": "5s", "cooldown": "30s",
            "maxAttemptsPerNode": 3,
        },
    }


def group_selector(*groups):
    if len(groups) == 1:
        return {"matchLabels": {ng.WATCH_FILTER_LABEL: SCOPE, GROUP: groups[0]}}
    return {"matchLabels": {ng.WATCH_FILTER_LABEL: SCOPE},
            "matchExpressions": [{"key": GROUP, "operator": "In", "values": list(groups)}]}


class ChaosController(ng.Controller):
    """ng.Controller against another kubeconfig (the proxy's), given on its
    command line: $KUBECONFIG stays the direct one (sim, kubectl and the
    checker's watches read it from other threads meanwhile)."""

    def __init__(self, *a, kubeconfig, **kw):
        super().__init__(*a, **kw)
        self.kubeconfig = kubeconfig
        self.expected_exit = False

    def start(self):
        ng.check(self.proc is None or self.proc.poll() is not None, f"{self.name} already runs")
        self.starts += 1
        self.returncode = None
        self.metrics_port, self.probe_port = ng.free_port(), ng.free_port()
        self.log_path = os.path.join(self.workdir, f"controller-{self.name}-{self.starts}.log")
        self._log = open(self.log_path, "w")
        namespace, lease_name = self.lease
        self.proc = subprocess.Popen(
            [self.binary, "controller", "--kubeconfig", self.kubeconfig, "--leader-elect=true",
             "--identity", self.identity, "--leader-election-namespace", namespace,
             "--leader-election-id", lease_name,
             "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
             "--health-probe-bind-address", f"127.0.0.1:{self.probe_port}", *self.extra_args],
            stdout=self._log, stderr=subprocess.STDOUT)
        ng._live_processes.append(self.proc)
        log(f"controller {self.name} started (pid {self.proc.pid}, log {self.log_path})")
        self.expected_exit = False  # Only once proc is the new process.
        return self


class Agents(ng.SimulatedAgents):
    ACTION = os.path.join(HERE, "chaos-action")

    def __init__(self, binary, nodes, workdir):
        super().__init__(binary, nodes, workdir, 6)
        self.actions_log = os.path.join(workdir, "agent-actions.jsonl")
        self.modes = os.path.join(workdir, "reboot-modes")
        os.makedirs(self.modes, exist_ok=True)
        open(self.actions_log, "a").close()

    def command_template(self):
        return (f"{self.ACTION} --kubeconfig {os.environ['KUBECONFIG']} --log {self.actions_log} "
                f"--modes {self.modes} {{action}} {{node}}")

    def restart(self, n, sig):
        proc, _, log_file = self.procs[n]
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log_file.close()
        template = self.command_template()
        self.launch(n, template)
        self._wait_ready(n, template)


class Driver:
    def __init__(self, args, scope, workdir):
        self.args = args
        self.scope = scope
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.t0 = time.monotonic()
        self.faults_log = open(os.path.join(workdir, "faults.jsonl"), "w")
        self.counts = {}
        self.lock = threading.Lock()
        self.sick = {}          # node -> heal at (monotonic)
        self.node_locks = {n: threading.Lock() for n in scope.nodes}
        self.pending = []       # (at, description, fn)
        self.threads = []
        self.rss = []           # (t, {controller: MiB})
        self.rss_max = 0.0
        self.person_cordons = set()
        self.finalizer_pods = set()
        self.errors = []
        self.groups = {}
        self.disturbed_until = 0.0
        self.compacted = 0      # etcd's last compaction revision (ours)
        self.policy_state = {"chaos-a": dict(sel="a", mc=1, key="nodeguard.io/chaos-density"),
                             "chaos-b": dict(sel="b", mc=1, key="nodeguard.io/chaos-density")}

    # ------------------------------------------------------------ bookkeeping

    def fault(self, kind, **detail):
        t = time.monotonic() - self.t0
        rec = {"t": round(t, 1), "time": datetime.datetime.now(datetime.timezone.utc)
               .isoformat(timespec="seconds"), "fault": kind, **detail}
        with self.lock:
            # Counted when applied; a draw skipped (too many sick, no leader...)
            # is counted apart, as KIND (skipped).
            key = f"{kind} (skipped)" if "skipped" in detail else kind
            self.counts[key] = self.counts.get(key, 0) + 1
            self.faults_log.write(json.dumps(rec) + "\n")
            self.faults_log.flush()
        log(f"fault {kind} {detail}")

    def later(self, delay, what, fn):
        with self.lock:
            self.pending.append((time.monotonic() + delay, what, fn))

    def background(self, what, fn):
        def run():
            try:
                fn()
            except Exception as e:  # A fault that could not be applied is logged, not fatal.
                log(f"{what}: {type(e).__name__}: {str(e)[:300]}")
                with self.lock:
                    self.errors.append(f"{what}: {str(e)[:200]}")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)
        self.threads = [x for x in self.threads if x.is_alive()]

    def run_due(self):
        now = time.monotonic()
        with self.lock:
            due = [p for p in self.pending if p[0] <= now]
            self.pending = [p for p in self.pending if p[0] > now]
        for _, what, fn in due:
            self.background(what, fn)

    # ------------------------------------------------------------ set-up

    def setup(self, binary, kubeconfig_direct):
        s = self.scope
        n = len(s.nodes)
        third = max(1, n // 3)
        for i, node in enumerate(s.nodes):
            g = "a" if i < third + (n % 3 > 0) else "b" if i < 2 * third + (n % 3 > 1) else "c"
            self.groups[node] = g
            ng.kubectl("label", "node", node, f"{GROUP}={g}", "--overwrite")
        log(f"groups: {self.groups}")
        server = ng.kubectl("config", "view", "--minify", "-o",
                            "jsonpath={.clusters[0].cluster.server}").stdout.strip()
        host, port = server.split("//")[1].rsplit(":", 1)
        self.proxy = Proxy(host, int(port)).start()
        cfg = ng.kubectl("config", "view", "--raw", "--flatten").stdout
        proxied = os.path.join(self.workdir, "kubeconfig-proxy")
        with open(proxied, "w") as f:
            f.write(cfg.replace(server, f"https://127.0.0.1:{self.proxy.port}"))
        log(f"proxy :{self.proxy.port} -> {server}")
        ng.ensure_namespace(LEASE_NS)
        for name, st in self.policy_state.items():
            self.apply_policy(name)
        ng.apply(self.deployment("app", 10))
        ng.apply(self.deployment("guarded", 2, groups=["a", "b"]))
        ng.apply(self.deployment("burst", 0))
        self.agents = Agents(binary, s.nodes, self.workdir)
        extra = ["--watch-filter", SCOPE, "--max-concurrent-remediations", str(GLOBAL_CAP)]
        self.controllers = [
            ChaosController(binary, self.workdir, f"r{i}", identity=f"chaos-r{i}",
                            lease=(LEASE_NS, s.lease_name), extra_args=extra,
                            kubeconfig=proxied) for i in (1, 2)]

    def start_components(self):
        self.agents.start()
        for c in self.controllers:
            c.start()
        for c in self.controllers:
            c.wait_ready(90)

    def deployment(self, name, replicas, groups=None):
        placement = self.scope.pod_placement()
        spec = {"nodeSelector": dict(placement["nodeSelector"]),
                "terminationGracePeriodSeconds": 2,
                "containers": [{"name": "app", "image": PAUSE}]}
        if groups:
            spec["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": GROUP, "operator": "In", "values": groups}]}]}}}
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": self.scope.namespace},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                         "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}

    def apply_policy(self, name, **change):
        st = self.policy_state[name]
        st.update(change)
        sel = group_selector(*st["sel"].split("+"))
        ng.apply(self.scope.policy(name, policy_spec(
            sel, st["mc"], st["key"], st.get("paused", False), st.get("dry", False))))

    # ------------------------------------------------------------ controllers

    def leader(self):
        for c in self.controllers:
            if c.running():
                try:
                    if c.leader_gauge() == 1:
                        return c
                except Exception:
                    pass
        return None

    def disturb(self, seconds):
        """The API server is made slow or unreachable for the next `seconds`."""
        with self.lock:
            self.disturbed_until = max(self.disturbed_until, time.monotonic() + seconds)

    def monitor(self, checker):
        """Controller exits the driver did not cause. One is expected: a leader
        that cannot renew its Lease exits (1, "lost leadership: exiting",
        docs/operations.md) and is restarted, as a Deployment would; that is
        allowed only while the driver disturbs the API server (slow-api,
        cut-streams, apiserver-restart, and LEASE_GRACE seconds after)."""
        for c in self.controllers:
            if c.proc is not None and c.proc.poll() is not None and not c.expected_exit:
                code = c.proc.returncode
                tail = c.tail(20)
                c.expected_exit = True
                c._reap()
                lost = code == 1 and "lost leadership: exiting" in tail
                if lost and time.monotonic() <= self.disturbed_until:
                    self.fault("lease-lost-exit", controller=c.name, code=code)
                else:
                    checker.violation(f"controller {c.name} exited with {code} without being "
                                      f"asked to (at t={time.monotonic() - self.t0:.0f}s):\n"
                                      f"{tail}")
                    self.fault("unexpected-exit", controller=c.name, code=code)
                self.later(1, f"restart {c.name}", lambda c=c: self.restart(c))

    def sample_rss(self, checker):
        sample = {}
        for c in self.controllers:
            if c.running():
                try:
                    with open(f"/proc/{c.proc.pid}/status") as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                sample[c.name] = int(line.split()[1]) / 1024.0
                except OSError:
                    pass
        t = time.monotonic() - self.t0
        self.rss.append((round(t), {k: round(v, 1) for k, v in sample.items()}))
        for name, mib in sample.items():
            if mib > self.rss_max:
                self.rss_max = mib
            if mib > self.args.rss_limit_mb:
                checker.violation(f"controller {name} RSS {mib:.0f} MiB > "
                                  f"{self.args.rss_limit_mb} MiB at t={t:.0f}s")

    def restart(self, c):
        if not c.running():
            c.start()

    def signal_controller(self, which, sig):
        lead = self.leader()
        if which == "leader":
            target = lead
        else:
            others = [c for c in self.controllers if c is not lead and c.running()]
            target = others[0] if others else None
        if target is None or not target.running():
            self.fault(f"{'kill' if sig == signal.SIGKILL else 'term'}-{which}", skipped=True)
            return
        target.expected_exit = True
        self.fault(f"{'kill' if sig == signal.SIGKILL else 'term'}-{which}",
                   controller=target.name)
        if sig == signal.SIGKILL:
            target.kill()
        else:
            start = time.monotonic()
            target.proc.send_signal(signal.SIGTERM)
            try:
                code = target.proc.wait(30)
            except subprocess.TimeoutExpired:
                target.proc.kill()
                target.proc.wait()
                code = "killed after 30s"
            target._reap()
            if code != 0:
                self.checker.violation(f"controller {target.name} exited with {code} after "
                                       f"SIGTERM ({time.monotonic() - start:.1f}s)")
        self.later(self.rng.uniform(2, 10), f"restart {target.name}",
                   lambda: self.restart(target))

    # ------------------------------------------------------------ faults

    def healthy_nodes(self):
        with self.lock:
            return [n for n in self.scope.nodes if n not in self.sick]

    def node_fault(self, kind):
        with self.lock:
            if len(self.sick) >= MAX_SICK:
                return False
        choices = self.healthy_nodes()
        if not choices:
            return False
        node = self.rng.choice(choices)
        hold = self.rng.uniform(20, 150)
        with self.lock:
            self.sick[node] = time.monotonic() + hold
        self.fault(kind, node=node, hold=round(hold))

        def go():
            with self.node_locks[node]:
                ng.sim(kind, node, "--no-wait")
        self.background(f"{kind} {node}", go)
        self.later(hold, f"heal {node}", lambda: self.heal(node))
        return True

    def heal(self, node):
        """sim heal, retried for up to 3 minutes: one that collided with an
        API server restart left its node sick to the end of the run (the
        hour of 2026-12-07, chaos-01 from minute 41)."""
        deadline = time.monotonic() + 180
        while True:
            try:
                with self.node_locks[node]:
                    ng.sim("heal", node, "--no-wait")
                break
            except ng.TestFailure:
                if time.monotonic() > deadline:
                    raise
                time.sleep(5)
        with self.lock:
            self.sick.pop(node, None)

    def one_fault(self, kind=None):
        """A fault: `kind`, or one drawn by weight."""
        if kind is None:
            kinds = list(WEIGHTS)
            kind = self.rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        r = self.rng
        if kind in ("pleg-sick", "runtime-down", "silent"):
            if not self.node_fault(kind):
                self.fault(kind, skipped="too many sick")
        elif kind == "reboot-mode":
            node = r.choice(self.scope.nodes)
            mode = r.choice(["normal", "same-boot", "slow"])
            with open(os.path.join(self.agents.modes, node), "w") as f:
                f.write(mode)
            self.fault(kind, node=node, mode=mode)
        elif kind == "terminating-pod":
            node = r.choice(self.scope.nodes)
            name = f"stuck-{int(time.monotonic() * 1000) % 10 ** 9}"
            hold = r.uniform(30, 120)
            self.fault(kind, node=node, pod=name, hold=round(hold))
            self.finalizer_pods.add(name)
            ng.apply({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": name, "namespace": self.scope.namespace,
                                   "finalizers": ["chaos.nodeguard.io/hold"]},
                      "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2,
                               "containers": [{"name": "app", "image": PAUSE}]}})
            self.later(hold, f"release {name}", lambda: self.release_pod(name))
        elif kind == "pdb-block":
            hold = r.uniform(30, 120)
            self.fault(kind, hold=round(hold))
            ng.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                      "metadata": {"name": "guarded", "namespace": self.scope.namespace},
                      "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "guarded"}}}})
            self.later(hold, "pdb unblock", lambda: ng.kubectl(
                "-n", self.scope.namespace, "delete", "pdb", "guarded", "--ignore-not-found"))
        elif kind in ("kill-leader", "term-leader", "kill-standby", "term-standby"):
            sig = signal.SIGKILL if kind.startswith("kill") else signal.SIGTERM
            self.background(kind, lambda: self.signal_controller(kind.split("-")[1], sig))
        elif kind == "agent-restart":
            node = r.choice(self.scope.nodes)
            sig = r.choice([signal.SIGTERM, signal.SIGKILL])
            self.fault(kind, node=node, signal=sig.name)
            self.background(kind, lambda: self.agents.restart(node, sig))
        elif kind == "apiserver-restart":
            grace = r.choice([0, 5])
            self.fault(kind, grace=grace)
            self.disturb(180)
            started = time.monotonic()
            cp = [os.path.join(ROOT, "tests", "cluster", "control-plane"), "--name",
                  self.args.cluster]
            r = subprocess.run(cp + ["restart-apiserver", "--grace", str(grace),
                                     "--no-wait-nodes", "--timeout", "60"], check=False,
                               timeout=180, stdout=subprocess.DEVNULL)
            for attempt in range(3):  # It must come back, or the run cannot go on.
                if r.returncode == 0:
                    break
                log(f"API server not back (attempt {attempt + 1}): starting it again")
                time.sleep(2)
                r = subprocess.run(cp + ["start-apiserver", "--no-wait-nodes", "--timeout", "60"],
                                   check=False, timeout=180, stdout=subprocess.DEVNULL)
            log(f"API server back after {time.monotonic() - started:.1f}s (exit {r.returncode})")
            self.disturb(LEASE_GRACE)
        elif kind == "etcd-compact":
            rev = self.checker.safe_compaction_revision()
            if not rev or rev <= self.compacted:
                self.fault(kind, skipped=f"revision {rev} not past the last compaction "
                           f"({self.compacted})")
                return
            self.checker.etcd.compact(rev)
            self.compacted = rev
            self.fault(kind, revision=rev)
        elif kind == "slow-api":
            delay, hold = r.uniform(0.1, 1.0), r.uniform(10, 40)
            self.fault(kind, delay=round(delay, 2), hold=round(hold))
            self.disturb(hold + LEASE_GRACE)
            self.proxy.set_delay(delay)
            self.later(hold, "fast api", lambda: self.proxy.set_delay(0))
        elif kind == "cut-streams":
            self.disturb(LEASE_GRACE)
            self.fault(kind, connections=self.proxy.cut())
        elif kind == "policy-selector":
            name = "chaos-a"
            sel = "a+c" if self.policy_state[name]["sel"] == "a" else "a"
            self.fault(kind, policy=name, groups=sel)
            self.apply_policy(name, sel=sel)
        elif kind == "policy-budget":
            name = r.choice(["chaos-a", "chaos-b"])
            mc = 3 - self.policy_state[name]["mc"]
            self.fault(kind, policy=name, maxConcurrent=mc)
            self.apply_policy_if_present(name, mc=mc)
        elif kind in ("policy-pause", "policy-dryrun"):
            name = r.choice(["chaos-a", "chaos-b"])
            field = "paused" if kind == "policy-pause" else "dry"
            if self.policy_state[name].get(field):
                self.fault(kind, skipped="already")
                return
            hold = r.uniform(10, 30)
            self.fault(kind, policy=name, hold=round(hold))
            self.apply_policy_if_present(name, **{field: True})
            self.later(hold, f"un-{kind}",
                       lambda: self.apply_policy_if_present(name, **{field: False}))
        elif kind == "policy-key":
            name = r.choice(["chaos-a", "chaos-b"])
            key = "nodeguard.io/chaos-density-2" if self.policy_state[name]["key"].endswith(
                "density") else "nodeguard.io/chaos-density"
            self.fault(kind, policy=name, key=key)
            self.apply_policy_if_present(name, key=key)
        elif kind == "policy-recreate":
            if self.policy_state["chaos-b"].get("deleted"):
                self.fault(kind, skipped="already")
                return
            wait = r.uniform(10, 40)
            self.fault(kind, policy="chaos-b", recreate_after=round(wait))
            self.policy_state["chaos-b"]["deleted"] = True
            ng.kubectl("delete", "nhp", "chaos-b", "--wait=false", "--ignore-not-found")
            self.background("recreate chaos-b", lambda: self.recreate("chaos-b", wait))
        elif kind == "density-burst":
            n, hold = r.randint(20, 50), r.uniform(20, 60)
            self.fault(kind, replicas=n, hold=round(hold))
            ng.kubectl("-n", self.scope.namespace, "scale", "deployment", "burst",
                       f"--replicas={n}")
            self.later(hold, "burst down", lambda: ng.kubectl(
                "-n", self.scope.namespace, "scale", "deployment", "burst", "--replicas=0"))
        elif kind == "person-cordon":
            nodes = [n for n in self.scope.nodes if n not in self.person_cordons]
            node = r.choice(nodes) if nodes else None
            nd = ng.get_json("node", node) if node else None
            if nd is None or nd["spec"].get("unschedulable"):
                self.fault(kind, skipped="already cordoned")
                return
            hold = r.uniform(20, 90)
            self.fault(kind, node=node, hold=round(hold))
            self.person_cordons.add(node)
            ng.kubectl("cordon", node)
            self.later(hold, f"person uncordons {node}", lambda: self.person_uncordon(node))

    def apply_policy_if_present(self, name, **change):
        if self.policy_state[name].get("deleted"):
            self.policy_state[name].update(change)  # Applied when re-created.
            return
        self.apply_policy(name, **change)

    def recreate(self, name, wait):
        time.sleep(wait)
        ng.wait_for(f"{name} to be gone", lambda: ng.get_json_or_none("nhp", name) is None,
                    120, 1)
        self.policy_state[name]["deleted"] = False
        self.apply_policy(name)
        self.fault("policy-recreated", policy=name)

    def release_pod(self, name):
        ng.kubectl("-n", self.scope.namespace, "patch", "pod", name, "--type", "json", "-p",
                   '[{"op":"remove","path":"/metadata/finalizers"}]', check=False)
        self.finalizer_pods.discard(name)

    def person_uncordon(self, node):
        nd = ng.get_json("node", node, "--show-managed-fields")
        # kubectl cordon writes as "kubectl" (or "kubectl-cordon", older
        # clients): a person's, whoever it is, unless nodeguard's.
        if cordon_owner(nd) not in ("", NODEGUARD_MANAGER, None):
            self.checker.person_uncordons(node)
            ng.kubectl("uncordon", node)
        self.person_cordons.discard(node)

    # ------------------------------------------------------------ injections

    def inject(self, kind):
        s = self.scope
        node = s.nodes[-1]
        self.fault(f"inject-{kind}", node=node)
        if kind == "uncordon-as-nodeguard":
            ng.kubectl("cordon", node)
            time.sleep(2)
            ng.kubectl("patch", "node", node, "--field-manager=nodeguard", "-p",
                       '{"spec":{"unschedulable":false}}')
        elif kind == "over-budget":
            for n in s.nodes[-3:]:
                ng.kubectl("patch", "node", n, "--field-manager=nodeguard", "-p",
                           '{"spec":{"unschedulable":true}}')
            time.sleep(3)
            for n in s.nodes[-3:]:
                ng.kubectl("patch", "node", n, "--field-manager=nodeguard", "-p",
                           '{"spec":{"unschedulable":false}}')
        elif kind == "stale-action":
            subprocess.run([Agents.ACTION, "--kubeconfig", os.environ["KUBECONFIG"], "--log",
                            self.agents.actions_log, "--modes", self.agents.modes,
                            "RestartKubelet", node], check=False)
        elif kind == "reboot":
            ng.sim("reboot", node, "--delay", "2")
        elif kind == "crash":
            c = self.controllers[0]
            if c.running():
                c.proc.send_signal(signal.SIGKILL)
        elif kind == "leave-taint":
            ng.kubectl("taint", "node", node, "nodeguard.io/chaos-density=x:NoSchedule",
                       "--overwrite")

    # ------------------------------------------------------------ the run

    def loop(self, checker, duration):
        self.checker = checker
        end = time.monotonic() + duration
        next_fault = time.monotonic() + 5
        next_rss = time.monotonic()
        injected = 0
        scheduled = sorted(parse_at(a) for a in self.args.at)
        while time.monotonic() < end:
            self.run_due()
            self.monitor(checker)
            now = time.monotonic()
            if now >= next_rss:
                self.sample_rss(checker)
                next_rss = now + 10
            if injected < len(self.args.inject) and now - self.t0 > 40 + 20 * injected:
                self.inject(self.args.inject[injected])
                injected += 1
            while scheduled and now - self.t0 >= scheduled[0][0]:
                at, kind = scheduled.pop(0)
                log(f"scheduled fault {kind} (--at {kind}@{at:g})")
                try:
                    self.one_fault(kind)
                except Exception as e:  # As a drawn fault: logged, the soak goes on.
                    log(f"fault failed: {type(e).__name__}: {str(e)[:300]}")
                    self.errors.append(f"{type(e).__name__}: {str(e)[:200]}")
            if now >= next_fault:
                try:
                    self.one_fault()
                except Exception as e:  # A fault not applied is logged; the soak goes on.
                    log(f"fault failed: {type(e).__name__}: {str(e)[:300]}")
                    self.errors.append(f"{type(e).__name__}: {str(e)[:200]}")
                next_fault = now + self.rng.uniform(self.args.min_gap, self.args.max_gap)
            try:
                checker.read_actions()
            except Exception as e:
                log(f"reading agent actions: {e}")
            time.sleep(0.5)

    def wind_down(self, checker):
        """Undo every fault; chaos-b deleted last (its nodes become ungoverned)."""
        log("winding down: undoing every fault")
        self.proxy.set_delay(0)
        with self.lock:
            for at, what, fn in self.pending:
                self.background(what, fn)
            self.pending = []
        for t in list(self.threads):
            t.join(180)
        for c in self.controllers:
            if not c.running():
                c.start()
        for f in os.listdir(self.agents.modes):
            os.remove(os.path.join(self.agents.modes, f))
        ng.sim("heal", *self.scope.nodes)
        for name in list(self.finalizer_pods):
            self.release_pod(name)
        ng.kubectl("-n", self.scope.namespace, "delete", "pdb", "guarded", "--ignore-not-found")
        ng.kubectl("-n", self.scope.namespace, "scale", "deployment", "burst", "--replicas=0")
        for node in list(self.person_cordons):
            self.person_uncordon(node)
        if self.policy_state["chaos-b"].get("deleted"):
            self.recreate("chaos-b", 0)
        self.apply_policy("chaos-a", sel="a", paused=False, dry=False)
        self.apply_policy("chaos-b", paused=False, dry=False)
        time.sleep(20)  # Let the healed nodes' remediations end under their policy.
        ng.kubectl("delete", "nhp", "chaos-b", "--wait=false")
        self.policy_state["chaos-b"]["deleted"] = True
        ng.wait_for("chaos-b to be gone", lambda: ng.get_json_or_none("nhp", "chaos-b") is None,
                    120, 1)
        self.fault("wind-down", policy_deleted="chaos-b")


def table(summary, counts, rss, seconds):
    lines = ["| what | value |", "| --- | --- |"]
    lines.append(f"| run | {seconds / 60:.0f} min of faults, seed {summary['seed']} |")
    events = ("lease-lost-exit", "unexpected-exit", "policy-recreated", "wind-down")
    applied = {k: v for k, v in counts.items() if "(skipped)" not in k and k not in events}
    lines.append(f"| faults injected ({sum(applied.values())}) | " + ", ".join(
        f"{k} {v}" for k, v in sorted(applied.items(), key=lambda kv: -kv[1])) + " |")
    lines.append("| draws skipped | " + (", ".join(
        f"{k[:-10]} {v}" for k, v in sorted(counts.items()) if "(skipped)" in k) or "none") + " |")
    lines.append("| controller exits not asked for | " + ", ".join(
        f"{k} {counts.get(k, 0)}" for k in ("lease-lost-exit", "unexpected-exit")) + " |")
    ended = summary["remediations_ended"]
    lines.append(f"| remediations | {summary['remediations_started']} started; "
                 + ", ".join(f"{k} {v}" for k, v in ended.items()) + " |")
    lines.append(f"| violations | {len(summary['violations'])} |")
    lines.append(f"| longest sick-node wait | {summary['longest_sick_wait_s']} s |")
    lines.append(f"| longest remediation | {summary['longest_remediation_s']} s |")
    lines.append(f"| checker | {summary['node_versions']} node, {summary['policy_versions']} "
                 f"policy, {summary['pod_versions']} pod versions; {summary['gaps_reverified']} "
                 f"watch gaps re-verified from etcd ({summary['versions_reverified']} versions) |")
    lines.append(f"| agent actions checked | {summary['agent_actions_checked']} |")
    if rss:
        step = max(1, len(rss) // 8)
        pts = rss[::step] + ([rss[-1]] if rss[-1] not in rss[::step] else [])
        lines.append("| controller RSS (MiB) over time | " + ", ".join(
            f"{t // 60}m: " + "/".join(f"{v:.0f}" for v in s.values()) for t, s in pts) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodeguard", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--cluster", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=float, default=300)
    p.add_argument("--nodes", type=int, default=8)
    p.add_argument("--min-gap", type=float, default=2)
    p.add_argument("--max-gap", type=float, default=8)
    p.add_argument("--rss-limit-mb", type=float, default=256)
    p.add_argument("--reuse-cluster", action="store_true",
                   help="use the running cluster NAME (started with --storage-json), keep it")
    p.add_argument("--at", action="append", default=[], metavar="KIND@SECONDS",
                   help="also apply fault KIND SECONDS after the faults start (repeatable): "
                        "a short soak whose seed draws no API server restart or compaction "
                        "still gets one")
    p.add_argument("--inject", choices=INJECTIONS, action="append", default=[],
                   help="repeatable: one injection every 20 s from t=40 s")
    p.add_argument("--report", help="write the summary (JSON) here too (always: WORKDIR/summary.json)")
    args = p.parse_args()
    for a in args.at:
        parse_at(a)  # Refused now, not minutes into the run.
    ng.exit_on_sigterm()
    started = time.monotonic()
    workdir = os.path.abspath(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    up = [os.path.join(ROOT, "tests", "cluster", "up"), "--name", args.cluster, "--storage-json"]
    out = subprocess.run(up, capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr)
        return 1
    os.environ["KUBECONFIG"] = out.stdout.strip().splitlines()[-1]
    state = os.path.dirname(os.environ["KUBECONFIG"])
    env = dict(line.split("=", 1) for line in open(os.path.join(state, "cluster.env"))
               .read().splitlines() if "=" in line)
    if env.get("STORAGE_MEDIA_TYPE") != "application/json":
        print(f"FAIL: cluster {args.cluster} does not store JSON (tests/cluster/up --storage-json)")
        return 1
    ng.kubectl_binary()
    summary, driver, failures = None, None, []
    try:
        ng.ensure_crd()  # Waits for Established itself (ng.wait_crd_established).
        with ng.Scope(SCOPE, nodes=args.nodes) as scope:
            driver = Driver(args, scope, workdir)
            driver.setup(args.nodeguard, os.environ["KUBECONFIG"])
            checker = ChaosChecker(scope, GLOBAL_CAP, BOUND,
                                   etcd_url=f"http://127.0.0.1:{env['ETCD_PORT']}",
                                   actions_log=driver.agents.actions_log)
            driver.checker = checker
            checker.start()
            driver.start_components()
            log(f"chaos: seed {args.seed}, {args.duration:.0f}s of faults on {args.nodes} nodes")
            faults_started = time.monotonic()
            try:
                driver.loop(checker, args.duration)
                fault_seconds = time.monotonic() - faults_started
                driver.wind_down(checker)
                checker.settle(240, tick=lambda: driver.monitor(checker))
                driver.monitor(checker)
            except ng.TestFailure as e:
                failures.append(str(e))
                fault_seconds = time.monotonic() - faults_started
            finally:
                for c in driver.controllers:
                    problem = c.stop()
                    if problem:
                        checker.violation(f"controller {c.name} at the end: {problem}")
                driver.agents.stop()
                driver.proxy.stop()
                try:
                    checker.stop()
                except ng.TestFailure as e:
                    failures.append(str(e))
            summary = checker.summary()
            summary["seed"] = args.seed
            summary["fault_seconds"] = round(fault_seconds)
            summary["faults"] = dict(sorted(driver.counts.items()))
            summary["fault_errors"] = driver.errors[:20]
            summary["rss_max_mib"] = round(driver.rss_max, 1)
            summary["rss"] = driver.rss
            print(checker.report())
            for v in summary["violations"]:
                failures.append(v)
    finally:
        if not args.reuse_cluster:
            subprocess.run([os.path.join(ROOT, "tests", "cluster", "down"), "--name", args.cluster,
                            f"--keep-logs={os.path.join(workdir, 'cluster-logs')}"], check=False,
                           stdout=subprocess.DEVNULL)
    if summary:
        print(table(summary, driver.counts, driver.rss, summary["fault_seconds"]))
        print(json.dumps({k: v for k, v in summary.items() if k != "rss"}, indent=1))
        for path in filter(None, [os.path.join(workdir, "summary.json"), args.report]):
            with open(path, "w") as f:
                json.dump(summary, f, indent=1)
    seconds = time.monotonic() - started
    print(f"MEASURED chaos: {seconds:.0f} s")
    print(f'<CTestMeasurement type="numeric/double" name="chaos_seconds">{seconds:.1f}'
          f'</CTestMeasurement>')
    if failures:
        print(f"FAIL: chaos seed {args.seed}: {len(failures)} violation(s)/failure(s):",
              file=sys.stderr)
        for f in dict.fromkeys(failures):
            print(f"  {f[:1000]}", file=sys.stderr)
        return 1
    print(f"PASS: chaos seed {args.seed}: 0 violations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
