#!/usr/bin/env python3
"""End-to-end tests of PLEG remediation (issue 8) against the local cluster.

Run by CTest with the "cluster" fixture (tests/e2e/remediation/CMakeLists.txt),
one scenario per test:

  one-at-a-time         three of seven nodes PLEG-sick: remediated strictly one after
                        another (an independent watch on nodes never sees two in a
                        disruptive phase or two cordoned), PDBs never violated,
                        DaemonSet pods stay, each node ends Ready, uncordoned, with a
                        new bootID; status and Events tell the story
  storm                 five of seven sick with maxUnhealthy 30%: nothing cordoned,
                        StormDetected True; heal three and remediation proceeds one
                        at a time
  heals-while-waiting   a node waiting for the budget heals by itself: Cancelled,
                        never cordoned
  restart-mid-drain     the controller is killed (SIGKILL) during a drain and
                        restarted: it resumes from the annotation, requests exactly
                        one reboot, and the budget holds
  leader-handover       the same with two replicas electing a leader: the leader is
                        killed mid-drain and the standby takes the Lease over and
                        resumes
  pdb-timeout           a PDB that never allows a disruption: the drain times out,
                        the node stays cordoned, Failed with the PDB's name, and the
                        next node is not started
  person-cordon         a node a person cordoned before it got sick is left alone
                        (Pending, reported in Degraded and an Event)
  dry-run               scenario one with spec.dryRun: the same first decision in
                        status and Events, nothing on nodes or pods changes
  ladder                the reboot ladder RestartContainerRuntime -> RestartKubelet
                        -> Reboot on one sick node whose restarts do not help: each
                        rung runs exactly once, in order; the reboot (new bootID)
                        brings it back; it ends uncordoned, Succeeded, counted as a
                        Reboot recovery; no other node is touched

Each scenario runs on its own share of the fixture's cluster (ng.Scope,
tests/lib/nodeguard_testlib.py): nodes created for it, labelled
nodeguard.io/watch-filter=rem-<scenario> and named after it (NODE_COUNTS says
how many), its own namespace, a policy labelled and selecting only those
nodes, and a controller started with --watch-filter rem-<scenario> (its own
Lease). So the scenarios run concurrently on one cluster (CTest:
nodeguard_cluster_scenario) and nothing of one is seen by another's
controller, agents, observers or Event queries.

The node agent is the real `nodeguard agent --simulate`, one process per node,
its actions carried out on the simulated nodes by
tests/integration/agent/sim-action (Reboot: `sim reboot`, new bootID and Ready
after a delay; restarts: `sim heal`), which records each execution: the
evidence that a request ran exactly once. In the ladder scenario the restarts
are recorded but change nothing (a script in the scenario's workdir), as in the
incident, so only the reboot heals. `--agent double` swaps in a Python
stand-in (AgentDouble) speaking the same annotation protocol
(agentproto/agent_protocol.h), for running without the agent.

Environment: KUBECONFIG and NODEGUARD_SIM (set by the fixture);
NODEGUARD_CLUSTER_BIN, else the pinned kubectl from
tests/cluster/build-components.sh, else kubectl on PATH. Python standard
library only. Everything a test creates is removed at its end (the Scope
deletes its nodes, namespace and policy).
"""

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

# Nodes of each scenario's Scope: the fewest its decisions allow. The policies'
# maxUnhealthy is 30% of the selected nodes, rounded up (decide.cpp), so three
# sick nodes need at least 7 (ceil(2.1) = 3) and two need 4 (ceil(1.2) = 2);
# the storm's five of 7 exceed 3, its two left after healing do not.
NODE_COUNTS = {
    "one-at-a-time": 7,
    "dry-run": 7,
    "storm": 7,
    "heals-while-waiting": 4,
    "restart-mid-drain": 4,
    "leader-handover": 4,
    "pdb-timeout": 4,
    "person-cordon": 3,
    "ladder": 3,
}
STATE_KEY = "nodeguard.io/remediation"
REQUEST_KEY = "nodeguard.io/agent-request"
STATUS_KEY = "nodeguard.io/agent-status"
DISRUPTIVE = {"Cordoned", "Draining", "ActionRequested", "AwaitingRecovery"}
REBOOT_DELAY = 8  # Seconds a simulated reboot keeps the node NotReady.
AGENT_MODE = ["real"]  # Set from --agent.

TestFailure = ng.TestFailure
check = ng.check
free_port = ng.free_port


def log(message):
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"[{stamp}] {message}", flush=True)


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ kubectl

def kubectl(*args, stdin=None, check_rc=True, timeout=60):
    return ng.kubectl(*args, stdin=stdin, check=check_rc, timeout=timeout)


def kjson(*args):
    return json.loads(kubectl(*args, "-o", "json").stdout)


def apply(obj):
    kubectl("apply", "-f", "-", stdin=json.dumps(obj))


sim = ng.sim  # Fails after 180s; returns the output.


def node(name):
    return kjson("get", "node", name)


def annotation(n, key):
    return (n["metadata"].get("annotations") or {}).get(key)


def state_of(n):
    text = annotation(n, STATE_KEY)
    return json.loads(text) if text else None


def ready_status(n):
    for c in n["status"].get("conditions", []):
        if c["type"] == "Ready":
            return c["status"]
    return "Unknown"


def eventually(what, predicate, timeout, interval=1.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = predicate()
        except TestFailure:
            raise
        except Exception as e:  # A transient kubectl failure: try again.
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise TestFailure(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


# ------------------------------------------------------------------ watches

def Watch(args, on_event):
    """ng.Watch handing on_event(type, object) each event, without its arrival
    time. The watch is gap-free (it resumes from the last resourceVersion); its
    stop() and check() fail the test if it missed versions (410 Gone, an ERROR
    event) or on_event raised."""
    return ng.Watch(args, lambda kind, obj, _arrived: on_event(kind, obj))


class NodeObserver:
    """An independent observer of the scope's nodes: it sees every version the
    API server delivers and checks the budget at each of them. snapshot(),
    check() and stop() fail the test if the watch had a gap (then the budget
    was not checked at every version)."""

    def __init__(self, nodes, selector):
        self.lock = threading.Lock()
        self.nodes = set(nodes)
        self.current = {}  # node -> (phase, unschedulable, bootID)
        self.max_disruptive = 0
        self.max_cordoned = 0
        self.violations = []
        self.phases = {n: [] for n in nodes}  # Distinct consecutive phases.
        self.ever_cordoned = set()
        self.boot_ids = {n: [] for n in nodes}
        self.rungs = {n: [] for n in nodes}  # Distinct consecutive (phase, action) of rung phases.
        self.watch = Watch(["nodes", "-l", selector], self.on_node)

    def start(self):
        self.watch.start()
        # Listed before anything happens to the nodes: every later version is seen.
        self.watch.wait_synced(60)

    def check(self):
        self.watch.check()

    def stop(self):
        self.watch.stop()  # Raises TestFailure on a gap.

    def on_node(self, kind, n):
        name = n["metadata"]["name"]
        if name not in self.nodes or kind == "DELETED":
            return
        st = state_of(n)
        phase = st["phase"] if st else None
        cordoned = bool(n["spec"].get("unschedulable"))
        boot = n["status"].get("nodeInfo", {}).get("bootID", "")
        with self.lock:
            self.current[name] = (phase, cordoned, boot)
            if phase and (not self.phases[name] or self.phases[name][-1] != phase):
                self.phases[name].append(phase)
            if phase in ("ActionRequested", "AwaitingRecovery"):
                rung = (phase, st.get("action"))
                if not self.rungs[name] or self.rungs[name][-1] != rung:
                    self.rungs[name].append(rung)
            if cordoned:
                self.ever_cordoned.add(name)
            if not self.boot_ids[name] or self.boot_ids[name][-1] != boot:
                self.boot_ids[name].append(boot)
            disruptive = sorted(k for k, v in self.current.items() if v[0] in DISRUPTIVE)
            cordons = sorted(k for k, v in self.current.items() if v[1])
            self.max_disruptive = max(self.max_disruptive, len(disruptive))
            self.max_cordoned = max(self.max_cordoned, len(cordons))
            if len(disruptive) > 1:
                self.violations.append(f"two nodes in a disruptive phase at rv "
                                       f"{n['metadata']['resourceVersion']}: {disruptive}")

    def snapshot(self):
        self.check()
        with self.lock:
            return {
                "max_disruptive": self.max_disruptive,
                "max_cordoned": self.max_cordoned,
                "violations": list(self.violations),
                "phases": {k: list(v) for k, v in self.phases.items()},
                "ever_cordoned": set(self.ever_cordoned),
                "boot_ids": {k: list(v) for k, v in self.boot_ids.items()},
                "rungs": {k: list(v) for k, v in self.rungs.items()},
            }


class ReadyPodsObserver:
    """Counts an app's pods that are Ready and not terminating at every version
    the API server delivers (a PDB's view of healthy pods). The minimum is
    measured once the count first reached `expected` (the initial list)."""

    def __init__(self, namespace, app, expected):
        self.lock = threading.Lock()
        self.expected = expected
        self.ready = {}
        self.armed = False
        self.min_ready = None
        self.watch = Watch(["pods", "-n", namespace, "-l", f"app={app}"], self.on_pod)

    def start(self):
        self.watch.start()
        eventually("the pod observer to see every pod", lambda: self.armed, 30, 0.2)

    def stop(self):
        self.watch.stop()  # Raises TestFailure on a gap.

    def on_pod(self, kind, p):
        uid = p["metadata"]["uid"]
        ready = kind != "DELETED" and not p["metadata"].get("deletionTimestamp") and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in p.get("status", {}).get("conditions", []))
        with self.lock:
            self.ready[uid] = ready
            count = sum(1 for v in self.ready.values() if v)
            if not self.armed and count >= self.expected:
                self.armed = True
            if self.armed and (self.min_ready is None or count < self.min_ready):
                self.min_ready = count


# ------------------------------------------------------------------ the agent double

class AgentDouble(threading.Thread):
    """Plays nodeguard's node agent through the API (agent_protocol.h): each
    request id is executed at most once."""

    def __init__(self, nodes, selector, restarts_heal=True):
        super().__init__(daemon=True)
        self.nodes = set(nodes)
        self.selector = selector
        self.restarts_heal = restarts_heal
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.executed = []  # (node, id, action) in order.
        self.running = {}   # id -> (node, bootID before) for reboots awaiting a new bootID.
        self.errors = []

    def write_status(self, name, status):
        kubectl("annotate", "node", name, "--overwrite", f"{STATUS_KEY}={json.dumps(status)}")

    def handle(self, n):
        name = n["metadata"]["name"]
        text = annotation(n, REQUEST_KEY)
        if not text:
            return
        req = json.loads(text)
        rid, action = req["id"], req["action"]
        boot = n["status"]["nodeInfo"]["bootID"]
        status_text = annotation(n, STATUS_KEY)
        status = json.loads(status_text) if status_text else None
        with self.lock:
            if rid in self.running:
                node_name, before, started = self.running[rid]
                if boot != before:
                    self.write_status(name, {"id": rid, "state": "Done", "bootId": before,
                                             "message": "rebooted", "startedAt": started,
                                             "finishedAt": now_rfc3339()})
                    del self.running[rid]
                return
            if any(e[1] == rid for e in self.executed) or (status and status.get("id") == rid):
                return  # Exactly once.
            self.executed.append((name, rid, action))
        started = now_rfc3339()
        self.write_status(name, {"id": rid, "state": "Accepted", "bootId": boot,
                                 "startedAt": started})
        self.write_status(name, {"id": rid, "state": "Running", "bootId": boot,
                                 "message": f"simulated {action}", "startedAt": started})
        if action == "Reboot":
            with self.lock:
                self.running[rid] = (name, boot, started)
            sim("reboot", name, "--delay", str(REBOOT_DELAY), "--no-wait")
        else:
            if self.restarts_heal:
                sim("heal", name)
            self.write_status(name, {"id": rid, "state": "Done", "bootId": boot,
                                     "message": f"simulated {action}", "startedAt": started,
                                     "finishedAt": now_rfc3339()})
        log(f"agent double: {action} {rid} on {name}")

    def run(self):
        while not self.stopping.is_set():
            try:
                for n in kjson("get", "nodes", "-l", self.selector)["items"]:
                    if n["metadata"]["name"] in self.nodes:
                        self.handle(n)
            except Exception as e:
                self.errors.append(repr(e))
            self.stopping.wait(0.5)

    def stop(self):
        self.stopping.set()
        self.join(10)

    def requests_for(self, name):
        with self.lock:
            return [e for e in self.executed if e[0] == name]


class RealAgents(ng.SimulatedAgents):
    """`nodeguard agent --simulate` on each node (ng.SimulatedAgents).

    restarts_heal False: RestartContainerRuntime and RestartKubelet are
    recorded and change nothing (the node stays sick, as in the incident);
    Reboot is recorded and carried out by sim-action."""

    def __init__(self, binary, nodes, workdir, restarts_heal=True):
        super().__init__(binary, nodes, workdir, REBOOT_DELAY)
        self.restarts_heal = restarts_heal

    def command_template(self):
        if self.restarts_heal:
            return super().command_template()
        kubeconfig = os.environ["KUBECONFIG"]
        script = os.path.join(self.workdir, "restarts-do-not-help")
        with open(script, "w") as f:
            f.write(f"""#!/bin/sh
# Written by remediation_e2e.py (the ladder scenario): every action is recorded;
# a runtime or kubelet restart changes nothing, so the node stays PLEG-sick;
# a reboot is carried out by sim-action (new bootID, Ready after a delay).
set -eu
echo "$1 $2" >>{shlex.quote(self.calls)}
case $1 in
  RestartContainerRuntime | RestartKubelet) exit 0 ;;
  Reboot) exec {shlex.quote(self.SIM_ACTION)} --kubeconfig {shlex.quote(kubeconfig)} \
            --reboot-delay {REBOOT_DELAY} Reboot "$2" ;;
  *) echo "unknown action $1" >&2; exit 2 ;;
esac
""")
        os.chmod(script, 0o755)
        return f"{script} {{action}} {{node}}"

    def requests_for(self, name):
        return [e for e in self.executed if len(e) == 2 and e[1] == name]


# ------------------------------------------------------------------ the controller

def flag_value(args, flag):
    """The value following `flag` in an argument list."""
    return args[args.index(flag) + 1]


class Controller:
    """`nodeguard controller` with the scope's arguments (scope.controller_args():
    --watch-filter and the Lease name --leader-election-id)."""

    def __init__(self, binary, workdir, scope_args, identity=None, lease_namespace=None):
        self.binary = binary
        self.workdir = workdir
        self.scope_args = list(scope_args)
        # identity set: elect a leader as this identity, through the Lease
        # lease_namespace/lease_name (the scope's Lease name).
        self.identity = identity
        self.lease_namespace = lease_namespace
        self.lease_name = flag_value(self.scope_args, "--leader-election-id")
        self.proc = None
        self.starts = 0

    def start(self):
        # A port free when chosen can be taken before the controller binds it
        # (by any process, e.g. the other scenarios running concurrently):
        # choose again, a few times.
        for attempt in range(4):
            if self.launch():
                log(f"controller started (pid {self.proc.pid}, log {self.log_path})")
                return
            log(f"controller: port taken, relaunching ({attempt + 1})")
        raise TestFailure("controller: its ports were taken four times:\n" + self.tail())

    def launch(self):
        """Starts the process and waits until ready; False if it lost a port race."""
        self.starts += 1
        self.metrics_port, self.probe_port = free_port(), free_port()
        self.log_path = os.path.join(self.workdir,
                                     f"controller-{self.identity or 'solo'}-{self.starts}.log")
        self.log_file = open(self.log_path, "w")
        election = ["--leader-elect=false"] if not self.identity else [
            "--leader-elect=true", "--identity", self.identity,
            "--leader-election-namespace", self.lease_namespace]
        self.proc = subprocess.Popen(
            [self.binary, "controller", "--kubeconfig", os.environ["KUBECONFIG"], *election,
             *self.scope_args,
             "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
             "--health-probe-bind-address", f"127.0.0.1:{self.probe_port}"],
            stdout=self.log_file, stderr=subprocess.STDOUT)
        port_taken = [False]

        def ready():
            if self.proc.poll() is not None:
                self.log_file.close()
                if "Address already in use" in self.tail(200):
                    port_taken[0] = True
                    return True
                raise TestFailure(f"controller exited with {self.proc.returncode}:\n"
                                  + self.tail())
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.probe_port}/readyz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        eventually("the controller to be ready", ready, 60, 0.3)
        return not port_taken[0]

    def metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=5) as r:
            return r.read().decode()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log_file.close()
        log("controller killed (SIGKILL)")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log_file.close()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines=60):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


# ------------------------------------------------------------------ scenario plumbing

def policy_doc(scope, name, remediation, dry_run=False):
    """The scenario's policy: labelled with the scope (so only the scope's
    controller sees it) and selecting the scope's nodes (scope.policy)."""
    doc = scope.policy(name, {
        "dryRun": dry_run,
        "health": {"unhealthyConditions": [
            {"type": "Ready", "status": "False", "messageRegex": "PLEG is not healthy",
             "duration": "5s"}]},
        "remediation": remediation,
    })
    doc["metadata"].setdefault("labels", {})["nodeguard.io/test"] = "e2e-remediation"
    return doc


def remediation_spec(**overrides):
    spec = {
        "maxConcurrent": 1,
        "maxUnhealthy": "30%",
        "actions": ["Reboot"],
        "drain": {"timeout": "60s", "deleteEmptyDirData": True, "force": True},
        "actionTimeout": "60s",
        "recoveryStableFor": "5s",
        "cooldown": "1m",
        "maxAttemptsPerNode": 3,
    }
    spec.update(overrides)
    return spec


def deployment(scope, name, replicas, empty_dir=False):
    """A Deployment of pause pods in the scope's namespace, on the scope's nodes only."""
    pod_spec = {
        "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}],
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
        **scope.pod_placement(),
    }
    if empty_dir:
        pod_spec["volumes"] = [{"name": "scratch", "emptyDir": {}}]
        pod_spec["containers"][0]["volumeMounts"] = [{"name": "scratch", "mountPath": "/s"}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": scope.namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec},
        },
    }


def pdb(ns, name, min_available):
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": name}}},
    }


def pods(ns, selector=None):
    args = ["get", "pods", "-n", ns]
    if selector:
        args += ["-l", selector]
    return kjson(*args)["items"]


def running_pods(ns, selector=None):
    return [p for p in pods(ns, selector)
            if p.get("status", {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


def parse_time(text):
    if not text:
        return None
    return datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)


def node_events(name, since):
    """(reason, message) of the Events about node `name` since `since`. The
    scope's node names are its own, so no other scenario's Events are about
    them; `since` leaves out a previous run's (the same names, Events live an
    hour)."""
    items = kjson("get", "events", "-A", "--field-selector",
                  f"involvedObject.kind=Node,involvedObject.name={name}")["items"]
    out = []
    for e in items:
        when = parse_time(e.get("lastTimestamp") or e.get("eventTime") or
                          e["metadata"].get("creationTimestamp"))
        if when is not None and when >= since:
            out.append((e["reason"], e.get("message", "")))
    return out


def policy_status(name):
    return kjson("get", "nhp", name).get("status", {})


def condition(status, ctype):
    for c in status.get("conditions", []):
        if c["type"] == ctype:
            return c
    return None


class Scenario:
    """One scenario's share of the cluster (ng.Scope: its own nodes, namespace
    and policy, NODE_COUNTS[name] nodes), the controller (--watch-filter of the
    scope), the observer and the agents of the scope's nodes; everything is
    stopped and removed afterwards."""

    def __init__(self, name, binary, restarts_heal=True):
        self.name = name
        self.binary = binary
        self.restarts_heal = restarts_heal
        self.scope = ng.Scope(f"rem-{name}", nodes=NODE_COUNTS[name])
        self.workdir = tempfile.mkdtemp(prefix=f"nodeguard-e2e-{name}-")
        self.entered = False
        self.controller = None
        self.other_controllers = []
        self.observer = None
        self.agent = None
        self.watchers = []  # Further observers to stop (and check) at the end.

    def __enter__(self):
        # Events older than the scenario (a previous run's, on nodes of the same
        # names) are ignored.
        self.since = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) \
            - datetime.timedelta(seconds=1)
        ng.ensure_crd()
        self.scope.__enter__()
        self.entered = True
        try:
            self.nodes = list(self.scope.nodes)
            self.ns = self.scope.namespace
            self.policy = self.scope.name
            self.selector = self.scope.selector  # nodeguard.io/watch-filter=<scope>
            self.controller = Controller(self.binary, self.workdir, self.scope.controller_args())
            self.observer = NodeObserver(self.nodes, self.selector)
            self.agent = AgentDouble(self.nodes, self.selector, self.restarts_heal) \
                if AGENT_MODE[0] == "double" \
                else RealAgents(self.binary, self.nodes, self.workdir, self.restarts_heal)
            for n in self.nodes:
                check(ready_status(node(n)) == "True", f"{n} is not Ready before the test")
            self.observer.start()
            self.agent.start()
        except BaseException as e:
            self.cleanup(failing=True, exc_info=(type(e), e, e.__traceback__))
            raise  # __exit__ does not run when __enter__ fails.
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is not None:
            self.diagnose()
        self.cleanup(failing=exc is not None, exc_info=(exc_type, exc, tb))
        return False

    def diagnose(self):
        print("---- diagnostics", flush=True)
        try:
            for n in self.nodes:
                nd = node(n)
                print(f"{n}: Ready={ready_status(nd)} unschedulable="
                      f"{bool(nd['spec'].get('unschedulable'))} state={annotation(nd, STATE_KEY)}")
            print("status:", json.dumps(policy_status(self.policy), indent=1)[:4000])
        except Exception as e:
            print("diagnostics failed:", e)
        try:
            print("observer:", self.observer.snapshot())
        except Exception as e:
            print("observer:", e)
        print("agent:", self.agent.executed, self.agent.errors)
        if isinstance(self.agent, RealAgents):
            for n in self.nodes:
                if self.agent.requests_for(n) or annotation(node(n), REQUEST_KEY):
                    print(f"---- agent of {n} (tail)\n" + self.agent.tail(n), flush=True)
        print("---- controller log (tail)\n" + self.controller.tail(120), flush=True)
        for c in self.other_controllers:
            print(f"---- controller {c.identity} log (tail)\n" + c.tail(80), flush=True)

    def cleanup(self, failing, exc_info):
        """Stops what the scenario started and leaves the scope (which deletes
        its policies, namespace and nodes). A watch that had a gap fails the
        test here unless it fails already."""
        errors = []
        # Delete the policy while the controller runs, so it releases its finalizer
        # (the Scope would strip it only after 30 s).
        if self.controller is not None:
            try:
                if not self.controller.running():
                    self.controller.start()
                kubectl("delete", "nhp", self.policy, "--ignore-not-found", "--wait=false")
                eventually("the policy to be deleted",
                           lambda: kubectl("get", "nhp", self.policy,
                                           check_rc=False).returncode != 0, 30)
            except Exception as e:
                log(f"cleanup: {e}")
            self.controller.stop()
        for c in self.other_controllers:
            c.stop()
        if self.agent is not None:
            self.agent.stop()
        for w in [self.observer, *self.watchers]:
            if w is None:
                continue
            try:
                w.stop()
            except TestFailure as e:
                errors.append(e)
                log(f"cleanup: {e}")
        diag_dir = os.environ.get("NODEGUARD_E2E_KEEP")
        if diag_dir:
            shutil.copytree(self.workdir, os.path.join(diag_dir, self.name), dirs_exist_ok=True)
        if self.entered:
            try:
                self.scope.__exit__(*exc_info)
            except Exception as e:
                errors.append(e)
                log(f"cleanup: leaving the scope: {e}")
        shutil.rmtree(self.workdir, ignore_errors=True)
        if errors and not failing:
            raise errors[0]

    # Helpers used by the scenarios.
    def apply_policy(self, remediation, dry_run=False):
        apply(policy_doc(self.scope, self.policy, remediation, dry_run))

    def node_events(self, n):
        return node_events(n, self.since)

    def watching(self, observer):
        """Registers a further observer, stopped (and checked) at the end."""
        self.watchers.append(observer)
        return observer

    def wait_running(self, selector, count, timeout=90):
        eventually(f"{count} Running pods with {selector}",
                   lambda: len(running_pods(self.ns, selector)) >= count, timeout)

    def phase(self, n):
        st = state_of(node(n))
        return st["phase"] if st else None

    def wait_phase(self, n, phases, timeout):
        phases = {phases} if isinstance(phases, str) else set(phases)
        return eventually(f"{n} in {sorted(phases)}",
                          lambda: self.phase(n) in phases and self.phase(n), timeout, 0.5)

    def nodes_hosting(self, selector):
        return sorted({p["spec"]["nodeName"] for p in running_pods(self.ns, selector)})


# ------------------------------------------------------------------ scenarios

def scenario_one_at_a_time(binary, dry_run=False):
    name = "dry-run" if dry_run else "one-at-a-time"
    with Scenario(name, binary) as s:
        apply(deployment(s.scope, "web", 6))
        apply(pdb(s.ns, "web", 5))  # One disruption at a time, at most.
        apply(deployment(s.scope, "cache", 4, empty_dir=True))
        apply({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "agent", "namespace": s.ns},
               "spec": {"selector": {"matchLabels": {"app": "agent"}},
                        "template": {"metadata": {"labels": {"app": "agent"}},
                                     "spec": {**s.scope.pod_placement(),
                                              "containers": [{"name": "a",
                                                              "image": "registry.k8s.io/pause:3.9"}]}}}})
        s.wait_running("app=web", 6)
        s.wait_running("app=cache", 4)
        s.wait_running("app=agent", len(s.nodes))
        web_nodes = s.nodes_hosting("app=web")
        sick = sorted(web_nodes[:3]) if len(web_nodes) >= 3 else s.nodes[:3]
        # A bare pod (no controller) on the first sick node: the drain needs force.
        apply({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "bare", "namespace": s.ns},
               "spec": {"nodeName": sick[0],
                        "containers": [{"name": "b", "image": "registry.k8s.io/pause:3.9"}]}})
        s.wait_running("!app", 1)
        ds_before = {p["spec"]["nodeName"]: p["metadata"]["uid"]
                     for p in running_pods(s.ns, "app=agent")}
        pods_before = {p["metadata"]["uid"] for p in pods(s.ns)}
        boots_before = {n: node(n)["status"]["nodeInfo"]["bootID"] for n in s.nodes}
        web_ready = s.watching(ReadyPodsObserver(s.ns, "web", 6))
        web_ready.start()

        s.controller.start()
        s.apply_policy(remediation_spec(), dry_run=dry_run)
        log(f"making {sick} PLEG-sick")
        sim("pleg-sick", *sick)

        if dry_run:
            st = eventually("status reporting 3 unhealthy nodes and the decision",
                            lambda: (lambda x: x.get("unhealthyNodes") == 3
                                     and len(x.get("remediations", [])) == 1 and x)(
                                policy_status(s.policy)), 60)
            first = st["remediations"][0]["node"]
            check(first == sick[0], f"dry run would start {first}, expected {sick[0]}")
            time.sleep(15)  # Time for anything that should not happen.
            st = policy_status(s.policy)
            check(len(st.get("remediations", [])) == 1 and
                  st["remediations"][0]["node"] == first,
                  f"the dry-run decision changed: {st.get('remediations')}")
            started = [r for r, m in s.node_events(first) if r == "RemediationStarted"]
            check(len(started) == 1, f"RemediationStarted Events on {first}: {started}")
            check(any("dry run" in m for r, m in s.node_events(first) if r == "RemediationStarted"),
                  "the dry-run Event does not say so")
            for other in sick[1:]:
                check(any(r == "RemediationPending" for r, _ in s.node_events(other)),
                      f"no RemediationPending Event on {other}")
            for n in s.nodes:
                nd = node(n)
                check(not nd["spec"].get("unschedulable"), f"{n} was cordoned in dry run")
                for key in (STATE_KEY, REQUEST_KEY):
                    check(annotation(nd, key) is None, f"{n} got {key} in dry run")
            check({p["metadata"]["uid"] for p in pods(s.ns)} == pods_before,
                  "pods changed in dry run")
            snap = s.observer.snapshot()
            check(snap["max_cordoned"] == 0 and not snap["ever_cordoned"],
                  f"the observer saw cordons in dry run: {snap['ever_cordoned']}")
            check(not s.agent.executed, f"agent actions in dry run: {s.agent.executed}")
            log("PASS dry-run: the decision is reported, nothing changed")
            web_ready.stop()
            return

        for n in sick:
            s.wait_phase(n, "Succeeded", 240)
            log(f"{n} remediated")
        web_ready.stop()
        snap = s.observer.snapshot()
        check(not snap["violations"], f"budget violated: {snap['violations'][:3]}")
        check(snap["max_disruptive"] == 1, f"max disruptive seen {snap['max_disruptive']}")
        check(snap["max_cordoned"] == 1, f"max cordoned at once {snap['max_cordoned']}")
        check(snap["ever_cordoned"] == set(sick),
              f"cordoned {sorted(snap['ever_cordoned'])}, expected {sick}")
        for n in sick:
            nd = node(n)
            check(ready_status(nd) == "True", f"{n} not Ready at the end")
            check(not nd["spec"].get("unschedulable"), f"{n} still cordoned")
            check(nd["status"]["nodeInfo"]["bootID"] != boots_before[n], f"{n}: same bootID")
            phases = snap["phases"][n]
            expected = ["Cordoned", "Draining", "ActionRequested", "AwaitingRecovery", "Succeeded"]
            seen = [p for p in phases if p in expected]
            check(seen == expected, f"{n} went through {phases}")
            check(len(s.agent.requests_for(n)) == 1,
                  f"{n}: agent requests {s.agent.requests_for(n)}")
            reasons = [r for r, _ in s.node_events(n)]
            for r in ("RemediationStarted", "DrainStarted", "EvictingPods", "Drained",
                      "ActionRequested", "ActionConfirmed", "RemediationSucceeded"):
                check(r in reasons, f"{n}: no {r} Event (got {sorted(set(reasons))})")
        for n in set(s.nodes) - set(sick):
            check(len(snap["boot_ids"][n]) <= 1, f"healthy node {n} was rebooted")
        # Strictly one after another: each started after the previous one ended.
        ends = {}
        for n in sick:
            st = state_of(node(n))
            ends[n] = (st["startedAt"], st["finishedAt"])
        order = sorted(sick, key=lambda n: ends[n][0])
        for a, b in zip(order, order[1:]):
            check(ends[b][0] >= ends[a][1], f"{b} started {ends[b][0]} before {a} ended {ends[a][1]}")
        # DaemonSet pods stay; the others moved off the sick nodes.
        ds_after = {p["spec"]["nodeName"]: p["metadata"]["uid"]
                    for p in running_pods(s.ns, "app=agent")}
        for n in sick:
            check(ds_after.get(n) == ds_before.get(n), f"the DaemonSet pod on {n} was replaced")
        check(not any(p["metadata"]["name"] == "bare" for p in pods(s.ns)),
              "the bare pod was not evicted")
        check(web_ready.min_ready is not None and web_ready.min_ready >= 5,
              f"web's PDB (minAvailable 5) saw {web_ready.min_ready} ready pods")
        st = policy_status(s.policy)
        recent = st.get("recentRemediations", [])
        check(sorted(r["node"] for r in recent[:3]) == sick and
              all(r["result"] == "Recovered" for r in recent[:3]),
              f"recentRemediations: {recent}")
        check(st.get("remediatingNodes", 0) == 0, f"remediatingNodes {st.get('remediatingNodes')}")
        metrics = s.controller.metrics()
        line = f'nodeguard_remediations_total{{policy="{s.policy}",action="Reboot",result="Recovered"}} 3'
        check(line in metrics, f"metric missing: {line}")
        log(f"PASS one-at-a-time: {order} remediated one after another; min ready web pods "
            f"{web_ready.min_ready}")


def scenario_storm(binary):
    with Scenario("storm", binary) as s:
        s.controller.start()
        sick = s.nodes[:5]
        # All five are past the rules' 5 s duration before the policy exists, so
        # the first decision sees the storm whole (sim makes nodes sick one by one).
        sim("pleg-sick", *sick)
        time.sleep(6)
        s.apply_policy(remediation_spec())
        eventually("StormDetected True",
                   lambda: (condition(policy_status(s.policy), "StormDetected") or {})
                   .get("status") == "True", 60)
        time.sleep(10)  # Durations elapsed long ago: nothing may start.
        for n in s.nodes:
            nd = node(n)
            check(not nd["spec"].get("unschedulable"), f"{n} cordoned during the storm")
            check(state_of(nd) is None, f"{n} got a state during the storm: {state_of(nd)}")
        check(f'nodeguard_storm_detected{{policy="{s.policy}"}} 1' in s.controller.metrics(),
              "nodeguard_storm_detected is not 1")
        log("storm held; healing three nodes")
        sim("heal", *sick[2:])
        eventually("StormDetected False",
                   lambda: (condition(policy_status(s.policy), "StormDetected") or {})
                   .get("status") == "False", 60)
        for n in sick[:2]:
            s.wait_phase(n, "Succeeded", 180)
        snap = s.observer.snapshot()
        check(not snap["violations"] and snap["max_disruptive"] == 1,
              f"budget: {snap['max_disruptive']} {snap['violations'][:3]}")
        check(snap["ever_cordoned"] == set(sick[:2]), f"cordoned {snap['ever_cordoned']}")
        log("PASS storm: nothing during the storm, then one at a time")


def scenario_heals_while_waiting(binary):
    with Scenario("heals-while-waiting", binary) as s:
        s.controller.start()
        s.apply_policy(remediation_spec())
        a, b = s.nodes[0], s.nodes[1]
        sim("pleg-sick", a, b)
        # Both turn sick at once; the controller takes whichever it judges
        # unhealthy first (a race: sim makes them sick one after the other, but
        # under load b is sometimes judged first). That one holds the budget's
        # slot ("first"); the other waits for it ("second").
        second = eventually(f"{a} or {b} waiting for the budget",
                            lambda: next((n for n in (a, b) if s.phase(n) == "Pending"), None),
                            60, 0.5)
        first = a if second == b else b
        check(s.phase(first) in DISRUPTIVE, f"{first} is {s.phase(first)}")
        sim("heal", second)
        s.wait_phase(second, "Cancelled", 60)
        st = state_of(node(second))
        check(st["outcome"] == "RecoveredWithoutAction", f"outcome {st['outcome']}")
        check(any(r == "RemediationCancelled" for r, _ in s.node_events(second)),
              "no RemediationCancelled Event")
        s.wait_phase(first, "Succeeded", 180)
        snap = s.observer.snapshot()
        check(second not in snap["ever_cordoned"], f"{second} was cordoned")
        check(not node(second)["spec"].get("unschedulable"), f"{second} is cordoned")
        check(not s.agent.requests_for(second), f"{second} got an agent request")
        log("PASS heals-while-waiting: Cancelled, never cordoned")


def scenario_pdb_timeout(binary):
    with Scenario("pdb-timeout", binary) as s:
        apply(deployment(s.scope, "guarded", 2))
        apply(pdb(s.ns, "guarded", 2))  # Never allows a disruption.
        s.wait_running("app=guarded", 2)
        victim = s.nodes_hosting("app=guarded")[0]
        nxt = next(n for n in s.nodes if n != victim)
        s.controller.start()
        s.apply_policy(remediation_spec(drain={"timeout": "20s", "force": True}))
        sim("pleg-sick", victim)
        s.wait_phase(victim, "Draining", 60)
        sim("pleg-sick", nxt)
        s.wait_phase(victim, "Failed", 90)
        st = state_of(node(victim))
        check(st["outcome"] == "DrainTimedOut", f"outcome {st['outcome']}")
        check("PodDisruptionBudget guarded" in st["message"], f"message: {st['message']}")
        check(node(victim)["spec"].get("unschedulable"), f"{victim} was uncordoned")
        blocked = [m for r, m in s.node_events(victim) if r == "EvictionBlocked"]
        check(blocked and "guarded" in blocked[0], f"EvictionBlocked Events: {blocked}")
        s.wait_phase(nxt, "Pending", 30)
        time.sleep(10)
        check(s.phase(nxt) == "Pending", f"{nxt} started although {victim} holds the slot")
        check(not node(nxt)["spec"].get("unschedulable"), f"{nxt} cordoned")
        status = policy_status(s.policy)
        degraded = condition(status, "Degraded") or {}
        check(degraded.get("status") == "True" and degraded.get("reason") == "RemediationFailed",
              f"Degraded: {degraded}")
        recent = status.get("recentRemediations", [])
        check(recent and recent[0]["node"] == victim and recent[0]["result"] == "TimedOut",
              f"recentRemediations: {recent}")
        check(len(running_pods(s.ns, "app=guarded")) == 2, "a guarded pod was evicted")
        log("PASS pdb-timeout: Failed, left cordoned, the next node waits")


def scenario_person_cordon(binary):
    with Scenario("person-cordon", binary) as s:
        apply(deployment(s.scope, "web", 10))
        s.wait_running("app=web", 10)
        target = s.nodes_hosting("app=web")[0]
        on_target = {p["metadata"]["uid"] for p in running_pods(s.ns, "app=web")
                     if p["spec"]["nodeName"] == target}
        kubectl("cordon", target)
        s.controller.start()
        s.apply_policy(remediation_spec())
        sim("pleg-sick", target)
        s.wait_phase(target, "Pending", 60)
        eventually("Degraded True (CordonedByPerson)",
                   lambda: (condition(policy_status(s.policy), "Degraded") or {})
                   .get("reason") == "CordonedByPerson", 60)
        time.sleep(10)
        st = state_of(node(target))
        check(st["phase"] == "Pending" and "cordoned by someone else" in st["message"],
              f"state: {st}")
        check(node(target)["spec"].get("unschedulable"), "the person's cordon was removed")
        check(annotation(node(target), REQUEST_KEY) is None, "an agent request was written")
        still = {p["metadata"]["uid"] for p in running_pods(s.ns, "app=web")
                 if p["spec"]["nodeName"] == target}
        check(still == on_target, "pods were evicted from the person's node")
        check(any(r == "RemediationPending" and "cordoned by someone else" in m
                  for r, m in s.node_events(target)), "no Event reporting the node")
        log("PASS person-cordon: left alone and reported")


def scenario_restart_mid_drain(binary):
    with Scenario("restart-mid-drain", binary) as s:
        apply(deployment(s.scope, "slow", 2))
        apply(pdb(s.ns, "slow", 2))  # Blocks the drain until relaxed below.
        s.wait_running("app=slow", 2)
        first = s.nodes_hosting("app=slow")[0]
        second = next(n for n in s.nodes if n != first)
        s.controller.start()
        s.apply_policy(remediation_spec(drain={"timeout": "120s", "force": True}))
        # first turns sick before second, so it is first to take the budget's
        # slot (turning sick together, either may be judged unhealthy first);
        # second then waits for the slot that first's blocked drain holds.
        sim("pleg-sick", first)
        s.wait_phase(first, "Draining", 60)
        sim("pleg-sick", second)
        s.wait_phase(second, "Pending", 60)
        eventually(f"an EvictionBlocked Event on {first}",
                   lambda: any(r == "EvictionBlocked" for r, _ in s.node_events(first)), 60)
        before = state_of(node(first))
        s.controller.kill()
        kubectl("patch", "pdb", "-n", s.ns, "slow", "--type", "merge", "-p",
                '{"spec":{"minAvailable":1}}')
        time.sleep(3)
        check(s.phase(first) == "Draining", "the state moved without a controller")
        s.controller.start()
        s.wait_phase(first, "Succeeded", 180)
        after = state_of(node(first))
        check(after["id"] == before["id"], f"a new remediation replaced {before['id']}")
        check(len(s.agent.requests_for(first)) == 1,
              f"{first}: agent requests {s.agent.requests_for(first)}")
        snap = s.observer.snapshot()
        check(len(snap["boot_ids"][first]) == 2, f"{first} bootIDs {snap['boot_ids'][first]}")
        s.wait_phase(second, "Succeeded", 180)
        snap = s.observer.snapshot()
        check(not snap["violations"] and snap["max_disruptive"] == 1,
              f"budget: {snap['max_disruptive']} {snap['violations'][:3]}")
        check(len(s.agent.requests_for(second)) == 1, "second node: not exactly one request")
        log("PASS restart-mid-drain: resumed, one reboot per node, budget held")


def scenario_leader_handover(binary):
    with Scenario("leader-handover", binary) as s:
        # Both replicas elect a leader through the scope's Lease
        # (--leader-election-id of scope.controller_args()), kept in the scope's
        # namespace: it goes with the scope, and no other test shares it.
        s.controller = Controller(binary, s.workdir, s.scope.controller_args(),
                                  identity="e2e-a", lease_namespace=s.ns)
        standby = Controller(binary, s.workdir, s.scope.controller_args(),
                             identity="e2e-b", lease_namespace=s.ns)
        s.other_controllers.append(standby)

        def lease_holder():
            r = kubectl("-n", s.ns, "get", "lease", standby.lease_name, "-o",
                        "jsonpath={.spec.holderIdentity}", check_rc=False)
            return r.stdout.strip() if r.returncode == 0 else ""

        apply(deployment(s.scope, "slow", 2))
        apply(pdb(s.ns, "slow", 2))  # Blocks the drain until relaxed below.
        s.wait_running("app=slow", 2)
        first = s.nodes_hosting("app=slow")[0]
        second = next(n for n in s.nodes if n != first)
        s.controller.start()
        eventually("e2e-a to lead", lambda: lease_holder() == "e2e-a", 60)
        standby.start()
        s.apply_policy(remediation_spec(drain={"timeout": "120s", "force": True}))
        # first turns sick before second, so it is first to take the budget's
        # slot (turning sick together, either may be judged unhealthy first);
        # second then waits for the slot that first's blocked drain holds.
        sim("pleg-sick", first)
        s.wait_phase(first, "Draining", 60)
        sim("pleg-sick", second)
        s.wait_phase(second, "Pending", 60)
        eventually(f"an EvictionBlocked Event on {first}",
                   lambda: any(r == "EvictionBlocked" for r, _ in s.node_events(first)), 60)
        before = state_of(node(first))
        check(lease_holder() == "e2e-a", f"leader is {lease_holder()}")
        s.controller.kill()  # The leader dies without releasing its Lease.
        kubectl("patch", "pdb", "-n", s.ns, "slow", "--type", "merge", "-p",
                '{"spec":{"minAvailable":1}}')
        eventually("e2e-b to take the Lease over", lambda: lease_holder() == "e2e-b", 90)
        log("the standby leads")
        s.wait_phase(first, "Succeeded", 180)
        after = state_of(node(first))
        check(after["id"] == before["id"], f"a new remediation replaced {before['id']}")
        check(len(s.agent.requests_for(first)) == 1,
              f"{first}: agent executions {s.agent.requests_for(first)}")
        s.wait_phase(second, "Succeeded", 180)
        snap = s.observer.snapshot()
        check(not snap["violations"] and snap["max_disruptive"] == 1,
              f"budget: {snap['max_disruptive']} {snap['violations'][:3]}")
        check(len(s.agent.requests_for(second)) == 1, "second node: not exactly one execution")
        # Cleanup deletes the policy through the leader.
        s.controller = standby
        s.other_controllers.remove(standby)
        log("PASS leader-handover: the new leader resumed from the annotation, "
            "one reboot per node, budget held")


LADDER = ["RestartContainerRuntime", "RestartKubelet", "Reboot"]


def executed_actions(agent):
    """[(node, action)] of every action the agents carried out, in order."""
    if isinstance(agent, RealAgents):
        return [(n, a) for a, n in agent.executed]
    with agent.lock:
        return [(n, a) for n, _, a in agent.executed]


def scenario_ladder(binary):
    """The reboot ladder on one node whose runtime and kubelet restarts do not help."""
    with Scenario("ladder", binary, restarts_heal=False) as s:
        sick = s.nodes[0]
        boots_before = {n: node(n)["status"]["nodeInfo"]["bootID"] for n in s.nodes}
        s.controller.start()
        # actionTimeout: how long each rung may take to bring the node back;
        # a restart that "succeeds" but leaves the node sick escalates after it.
        s.apply_policy(remediation_spec(actions=LADDER, actionTimeout="25s"))
        log(f"making {sick} PLEG-sick; its runtime and kubelet restarts will not help")
        sim("pleg-sick", sick)
        s.wait_phase(sick, "Succeeded", 240)
        log(f"{sick} remediated")

        # Exactly one execution per rung, in the ladder's order, on the sick node only.
        executed = executed_actions(s.agent)
        check(executed == [(sick, a) for a in LADDER],
              f"agent executions {executed}, expected one per rung on {sick}: {LADDER}")
        # Each restart was confirmed (the agent reported it Done), the node stayed
        # sick, and the controller escalated; the reboot was confirmed by the new bootID.
        snap = s.observer.snapshot()
        expected_rungs = [(p, a) for a in LADDER for p in ("ActionRequested", "AwaitingRecovery")]
        check(snap["rungs"][sick] == expected_rungs,
              f"{sick} went through the rungs {snap['rungs'][sick]}, expected {expected_rungs}")
        nd = node(sick)
        st = state_of(nd)
        check(st["phase"] == "Succeeded" and st.get("outcome") == "Recovered",
              f"state of {sick}: {st}")
        check(st.get("action") == "Reboot", f"last rung of {sick}: {st.get('action')}")
        check(ready_status(nd) == "True", f"{sick} not Ready at the end")
        check(not nd["spec"].get("unschedulable"), f"{sick} still cordoned")
        check(nd["status"]["nodeInfo"]["bootID"] != boots_before[sick], f"{sick}: same bootID")
        check(len(snap["boot_ids"][sick]) == 2, f"{sick} bootIDs {snap['boot_ids'][sick]}")
        events = s.node_events(sick)
        reasons = [r for r, _ in events]
        for r in ("RemediationStarted", "Drained", "ActionRequested", "RemediationEscalated",
                  "ActionConfirmed", "RemediationSucceeded"):
            check(r in reasons, f"{sick}: no {r} Event (got {sorted(set(reasons))})")
        escalations = [m for r, m in events if r == "RemediationEscalated"]
        for rung in LADDER[:2]:
            check(any(f"after {rung}" in m for m in escalations),
                  f"{sick}: no RemediationEscalated Event after {rung}: {escalations}")
        confirmed = [m for r, m in events if r == "ActionConfirmed"]
        for rung in LADDER:
            check(any(m.startswith(f"{rung} confirmed") for m in confirmed),
                  f"{sick}: no ActionConfirmed Event for {rung}: {confirmed}")

        # One at a time: nothing happened to any other node.
        check(not snap["violations"] and snap["max_disruptive"] == 1,
              f"budget: {snap['max_disruptive']} {snap['violations'][:3]}")
        check(snap["ever_cordoned"] == {sick}, f"cordoned {sorted(snap['ever_cordoned'])}")
        for n in s.nodes:
            if n == sick:
                continue
            nd = node(n)
            check(state_of(nd) is None, f"{n} got a remediation state: {state_of(nd)}")
            check(annotation(nd, REQUEST_KEY) is None, f"{n} got an agent request")
            check(len(snap["boot_ids"][n]) <= 1 and
                  nd["status"]["nodeInfo"]["bootID"] == boots_before[n], f"{n} was rebooted")

        # The controller counted one Reboot recovery and nothing else for the
        # policy (docs/operations.md: action is the last rung run).
        parsed = ng.parse_exposition(s.controller.metrics())
        counted = {(x.labels.get("action"), x.labels.get("result")): x.value
                   for x in parsed.samples
                   if x.name == "nodeguard_remediations_total"
                   and x.labels.get("policy") == s.policy}
        check(counted == {("Reboot", "Recovered"): 1.0},
              f"nodeguard_remediations_total{{policy={s.policy}}}: {counted}")
        status = policy_status(s.policy)
        recent = status.get("recentRemediations", [])
        check(recent and recent[0]["node"] == sick and recent[0]["result"] == "Recovered",
              f"recentRemediations: {recent}")
        # The sick node's agent exports what docs/operations.md lists for an
        # agent, and counted each rung once.
        if isinstance(s.agent, RealAgents):
            agent = ng.check_documented_metrics(f"the agent of {sick}", s.agent.metrics(sick),
                                                "The agent's metrics")
            ran = {(x.labels["action"], x.labels["result"]): x.value for x in agent.samples
                   if x.name == "nodeguard_agent_actions_total"}
            want = {("RestartContainerRuntime", "succeeded"): 1.0,
                    ("RestartKubelet", "succeeded"): 1.0, ("Reboot", "started"): 1.0}
            check(ran == want, f"nodeguard_agent_actions_total of {sick}'s agent: {ran}")
        log(f"PASS ladder: {' -> '.join(LADDER)} on {sick}, each once; the reboot healed it; "
            f"no other node touched")


SCENARIOS = {
    "one-at-a-time": scenario_one_at_a_time,
    "storm": scenario_storm,
    "heals-while-waiting": scenario_heals_while_waiting,
    "restart-mid-drain": scenario_restart_mid_drain,
    "leader-handover": scenario_leader_handover,
    "pdb-timeout": scenario_pdb_timeout,
    "person-cordon": scenario_person_cordon,
    "dry-run": lambda binary: scenario_one_at_a_time(binary, dry_run=True),
    "ladder": scenario_ladder,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--nodeguard", required=True, help="path of the nodeguard binary")
    parser.add_argument("--agent", choices=["real", "double"], default="real",
                        help="real: `nodeguard agent --simulate` per node (default); "
                             "double: a Python stand-in speaking the annotation protocol")
    args = parser.parse_args()
    if not os.environ.get("KUBECONFIG"):
        print("FAIL: KUBECONFIG is not set (run through ctest's cluster fixture)")
        return 1
    if not os.access(args.nodeguard, os.X_OK):
        print(f"FAIL: {args.nodeguard} is not built")
        return 1
    AGENT_MODE[0] = args.agent
    # CTest's timeout (SIGTERM) unwinds through the Scenario, so the scope's
    # nodes, namespace and policy and every process started go away.
    ng.exit_on_sigterm()
    started = time.time()
    try:
        ng.kubectl_binary()  # Found once, before the observers' threads run kubectl.
        SCENARIOS[args.scenario](args.nodeguard)
    except TestFailure as e:
        print(f"FAIL: {args.scenario}: {e}", flush=True)
        return 1
    log(f"{args.scenario} took {time.time() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
