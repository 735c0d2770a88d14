#!/usr/bin/env python3
"""The real `nodeguard agent` binary against the local cluster, one simulated node each.

Run by CTest with the "cluster" fixture (tests/integration/agent/CMakeLists.txt),
one subcommand per test:

  reboot NODE      a Reboot request runs its command exactly once: the status
                   annotation goes Accepted -> Running -> Done (seen on a watch),
                   the node's bootID changes, and re-writing the same request id
                   runs nothing again, neither in the same agent process nor in a
                   new one; SIGTERM ends the agent with exit code 0
  malformed NODE   requests the node's nodeguard.io/remediation state does not
                   ask for (its remediation Failed, written before the agent
                   starts, as for an agent deployed late; no state at all; a
                   request that is not JSON) get no status at all and are counted
                   in nodeguard_agent_requests_not_asked_total; one with an
                   unknown action and a stale one, both asked for, each get a
                   Failed status; nothing runs
  simulate NODE    --simulate with --simulate-command: a RestartKubelet request on
                   a PLEG-sick node runs the simulation command once (which heals
                   the kwok node) and ends Done

Nothing here can act on this machine: every action's command is
tests/integration/agent/sim-action (it records the call, then changes the
kwok node through tests/cluster/sim), the host command prefix is empty, and
--simulate mode runs no host command at all. A kwok node's "reboot" changes its
Node's bootID, not this machine's, so the agent runs with --boot-id-file ""
(the Node's bootID stands for the boot). Each request is written with the
nodeguard.io/remediation state that asks for it, as the controller writes it.

Usage: agent_process_test.py --nodeguard PATH SUBCOMMAND NODE
Environment: KUBECONFIG (set by the fixture), NODEGUARD_SIM (tests/cluster/sim);
NODEGUARD_CLUSTER_BIN, else the pinned kubectl from tests/cluster/build-components.sh,
else kubectl on PATH. Only the Python standard library is used.
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

SIM_ACTION = os.path.join(HERE, "sim-action")
REQUEST = "nodeguard.io/agent-request"
STATUS = "nodeguard.io/agent-status"
STATE = "nodeguard.io/remediation"

KUBECONFIG = os.environ.get("KUBECONFIG", "")
SIM = os.environ.get("NODEGUARD_SIM") or os.path.join(ROOT, "tests", "cluster", "sim")

TestFailure = ng.TestFailure
fail = ng.fail


def say(message):
    print(f"[{datetime.datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def kubectl(*args, check=True):
    return ng.kubectl(*args, check=check, timeout=None, kubeconfig=KUBECONFIG)


def sim(*args):
    return ng.sim(*args, timeout=None, kubeconfig=KUBECONFIG)


def get_node(node):
    return json.loads(kubectl("get", "node", node, "-o", "json").stdout)


def boot_id(node):
    return get_node(node)["status"]["nodeInfo"]["bootID"]


def annotations(obj):
    return obj.get("metadata", {}).get("annotations") or {}


def agent_status(node):
    raw = annotations(get_node(node)).get(STATUS)
    return json.loads(raw) if raw else None


def rfc3339(when):
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def state(node, request_id, phase="ActionRequested"):
    """A nodeguard.io/remediation state as the controller writes it
    (remediation/state.h), asking for request_id while in ActionRequested."""
    t = rfc3339(now())
    s = {"id": f"{node}-1", "policy": "agent-process-test", "phase": phase,
         "action": "Reboot", "actionIndex": 0, "attempt": 1, "detectedAt": t, "startedAt": t,
         "phaseSince": t, "actionRequestedAt": t, "cordonedByUs": True,
         "requestId": request_id, "message": "agent-process-test"}
    if phase in ("Succeeded", "Failed", "Cancelled"):
        s["finishedAt"] = t
        s["outcome"] = "ActionsExhausted" if phase == "Failed" else "Recovered"
    return s


def write_request(node, value, phase="ActionRequested"):
    """The request, after the state asking for it (phase None: no state)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    request_id = value.get("id", "") if isinstance(value, dict) else ""
    if phase is None:
        kubectl("annotate", "node", node, f"{STATE}-", check=False)
    else:
        kubectl("annotate", "node", node, "--overwrite",
                f"{STATE}={json.dumps(state(node, request_id, phase), separators=(',', ':'))}")
    kubectl("annotate", "node", node, "--overwrite", f"{REQUEST}={text}")


def clear_protocol(node):
    kubectl("annotate", "node", node, f"{REQUEST}-", f"{STATUS}-", f"{STATE}-", check=False)


def eventually(timeout, what, predicate, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


free_port = ng.free_port


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return 0, ""


def metric(text, name, labels=None):
    """The value of one sample in Prometheus text, 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in (labels or {}).items()):
            total += float(m.group(3))
    return total


class Agent:
    """One `nodeguard agent` process with its own ports and log file."""

    def __init__(self, nodeguard, node, args, workdir, name):
        self.node = node
        self.metrics_port = free_port()
        self.probe_port = free_port()
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "w")
        cmd = [nodeguard, "agent", "--node-name", node, "--kubeconfig", KUBECONFIG,
               "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
               "--health-probe-bind-address", f"127.0.0.1:{self.probe_port}",
               "--recheck-interval", "2s", "--log-level", "debug", *args]
        say("starting " + " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=60):
        def ready():
            if self.proc.poll() is not None:
                fail(f"agent exited with {self.proc.returncode} before it was ready:\n"
                     + self.tail())
            return http_get(self.probe_port, "/readyz")[0] == 200
        eventually(timeout, f"/readyz of the agent of {self.node}", ready)
        code, _ = http_get(self.probe_port, "/healthz")
        if code != 200:
            fail(f"/healthz answered {code}")

    def metrics(self):
        code, text = http_get(self.metrics_port, "/metrics")
        if code != 200:
            fail(f"/metrics answered {code}")
        return text

    def decisions(self, kind):
        return metric(self.metrics(), "nodeguard_agent_decisions_total", {"decision": kind})

    def stop(self, timeout=30):
        """SIGTERM; returns the exit code (fails the test on a hang)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail(f"agent did not stop within {timeout}s of SIGTERM")
        self.log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.log.closed:
            self.log.close()

    def tail(self, lines=40):
        self.log.flush()
        with open(self.log_path) as f:
            return "".join(f.readlines()[-lines:])


class NodeWatch:
    """`kubectl get node -w -o json` into a file: every version the API server stored."""

    def __init__(self, node, workdir):
        self.path = os.path.join(workdir, f"watch-{node}.json")
        self.out = open(self.path, "w")
        self.proc = subprocess.Popen([ng.kubectl_binary(), "--kubeconfig", KUBECONFIG, "get",
                                      "node", node, "--watch", "-o", "json"], stdout=self.out,
                                     stderr=subprocess.DEVNULL)
        # The first object is the list's; events after it are all delivered.
        eventually(30, "the watch's first object", lambda: len(self.objects()) > 0)

    def objects(self):
        with open(self.path) as f:
            text = f.read()
        decoder = json.JSONDecoder()
        out, i = [], 0
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return out
            try:
                obj, i = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                return out  # A partly written object at the end.
            out.append(obj)

    def states(self, request_id):
        """The agent-status states of request_id, consecutive repeats collapsed."""
        seen = []
        for obj in self.objects():
            raw = annotations(obj).get(STATUS)
            if not raw:
                continue
            status = json.loads(raw)
            if status.get("id") != request_id:
                continue
            if not seen or seen[-1] != status["state"]:
                seen.append(status["state"])
        return seen

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        self.out.close()


def calls_of(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def recorded_commands(node, calls, kubeconfig=KUBECONFIG):
    """Flags that point every action's command at sim-action, recording calls."""
    base = f"{SIM_ACTION} --kubeconfig {kubeconfig} --calls {calls} --reboot-delay 3"
    return ["--host-command-prefix", "", "--boot-id-file", "",
            "--reboot-command", f"{base} Reboot {node}",
            "--restart-kubelet-command", f"{base} RestartKubelet {node}",
            "--restart-runtime-command", f"{base} RestartContainerRuntime {node}"]


def wait_decision(agent, kind, above, what):
    eventually(30, what, lambda: agent.decisions(kind) > above)


def test_reboot(nodeguard, node, workdir):
    calls = os.path.join(workdir, "calls")
    args = recorded_commands(node, calls)
    before = boot_id(node)
    request_id = f"{node}-reboot-{int(time.time())}"
    request = {"id": request_id, "action": "Reboot", "requestedAt": rfc3339(now()),
               "requester": "nodeguard/agent-process-test"}

    watch = NodeWatch(node, workdir)
    agents = []
    try:
        agent = Agent(nodeguard, node, args, workdir, "agent-1")
        agents.append(agent)
        agent.wait_ready()
        say(f"request {request_id}: Reboot (bootID {before})")
        write_request(node, request)

        def done():
            status = agent_status(node)
            return status if status and status["id"] == request_id and \
                status["state"] in ("Done", "Failed") else None
        status = eventually(90, f"a final status for {request_id}", done)
        if status["state"] != "Done":
            fail(f"status {status}; agent log:\n{agent.tail()}")
        after = boot_id(node)
        say(f"Done: {status['message']}; bootID {before} -> {after}")
        if not after or after == before:
            fail(f"bootID did not change ({before} -> {after})")
        if status["bootId"] != before:
            fail(f"the status records bootID {status['bootId']}, want the one before: {before}")
        if calls_of(calls) != [f"Reboot {node}"]:
            fail(f"commands run: {calls_of(calls)}, want exactly one Reboot")
        eventually(10, "the watch to see Done", lambda: "Done" in watch.states(request_id))
        states = watch.states(request_id)
        if states != ["Accepted", "Running", "Done"]:
            fail(f"status states seen on the watch: {states}")
        text = agent.metrics()
        if metric(text, "nodeguard_agent_actions_total",
                  {"action": "Reboot", "result": "started"}) != 1:
            fail("nodeguard_agent_actions_total{action=Reboot,result=started} is not 1:\n" + text)
        if agent.decisions("Execute") != 1:
            fail(f"Execute decisions: {agent.decisions('Execute')}, want 1")

        # The same id again (another field changed, so the watch delivers it).
        nothing = agent.decisions("Nothing")
        write_request(node, dict(request, requester="nodeguard/agent-process-test-again"))
        wait_decision(agent, "Nothing", nothing, "the agent to decide on the re-written request")
        time.sleep(2)
        if calls_of(calls) != [f"Reboot {node}"] or agent.decisions("Execute") != 1:
            fail(f"re-writing {request_id} ran it again: {calls_of(calls)}")
        if agent_status(node) != status:
            fail(f"the status changed: {agent_status(node)} != {status}")

        code = agent.stop()
        if code != 0:
            fail(f"agent exited {code} on SIGTERM:\n{agent.tail()}")
        say("agent stopped on SIGTERM with exit code 0")

        # A new process: the state on the Node, not the process, says it ran.
        write_request(node, dict(request, requester="nodeguard/agent-process-test-restart"))
        agent = Agent(nodeguard, node, args, workdir, "agent-2")
        agents.append(agent)
        agent.wait_ready()
        wait_decision(agent, "Nothing", 0, "the new agent's first decision")
        time.sleep(2)
        if calls_of(calls) != [f"Reboot {node}"] or agent.decisions("Execute") != 0:
            fail(f"a new agent process ran {request_id} again: {calls_of(calls)}")
        if agent_status(node) != status:
            fail(f"the status changed: {agent_status(node)} != {status}")
        say("re-written request id: not run again, in the same or a new agent process")
        code = agent.stop()
        if code != 0:
            fail(f"agent exited {code} on SIGTERM:\n{agent.tail()}")
    except TestFailure:
        for a in agents:
            print(f"----- {a.log_path}\n{a.tail()}", file=sys.stderr)
        raise
    finally:
        for a in agents:
            a.kill()
        watch.stop()


def test_malformed(nodeguard, node, workdir):
    calls = os.path.join(workdir, "calls")
    # Left over from a remediation that failed before any agent ran (the
    # DaemonSet was fixed later): the agent starts after it was written.
    abandoned = {"id": f"{node}-abandoned-1", "action": "Reboot", "requestedAt": rfc3339(now()),
                 "requester": "t"}
    write_request(node, abandoned, phase="Failed")
    agent = Agent(nodeguard, node, recorded_commands(node, calls), workdir, "agent")
    try:
        agent.wait_ready()

        def not_asked(reason):
            return metric(agent.metrics(), "nodeguard_agent_requests_not_asked_total",
                          {"reason": reason})

        not_asked_cases = [
            ("abandoned (remediation Failed), the agent deployed late", None,
             "NotActionRequested"),
            ("no remediation state", {"id": f"{node}-orphan-1", "action": "RestartKubelet",
                                      "requestedAt": rfc3339(now()), "requester": "t"},
             "NoState"),
            ("not JSON", "reboot please", "OtherRequest"),
        ]
        for name, request, reason in not_asked_cases:
            if request is not None:
                write_request(node, request, phase=None if reason == "NoState" else
                              "ActionRequested")
            eventually(30, f"{name}: counted in nodeguard_agent_requests_not_asked_total"
                           f"{{reason={reason}}}", lambda: not_asked(reason) >= 1)
            if agent_status(node) is not None:
                fail(f"{name}: the agent wrote a status: {agent_status(node)}")
            say(f"{name}: not acted on, no status written (reason {reason})")

        stale = rfc3339(now() - datetime.timedelta(hours=2))
        cases = [
            ("unknown action",
             {"id": f"{node}-bad-1", "action": "Explode", "requestedAt": rfc3339(now()),
              "requester": "t"}, f"{node}-bad-1", "malformed request"),
            ("stale", {"id": f"{node}-stale-1", "action": "Reboot", "requestedAt": stale,
                       "requester": "t"}, f"{node}-stale-1", "stale request"),
        ]
        for name, request, want_id, want_message in cases:
            write_request(node, request)

            def refused():
                status = agent_status(node)
                return status if status and status["id"] == want_id and \
                    status["state"] in ("Done", "Failed") else None
            status = eventually(30, f"the {name} request's status", refused)
            say(f"{name}: {status['state']}: {status['message']}")
            if status["state"] != "Failed" or want_message not in status["message"]:
                fail(f"{name}: status {status}, want Failed with '{want_message}'")
        time.sleep(2)
        if calls_of(calls):
            fail(f"commands ran for refused requests: {calls_of(calls)}")
        if agent.decisions("Execute") != 0 or agent.decisions("Refuse") < 2:
            fail(f"decisions: Execute {agent.decisions('Execute')}, "
                 f"Refuse {agent.decisions('Refuse')}")
        code = agent.stop()
        if code != 0:
            fail(f"agent exited {code} on SIGTERM")
    except TestFailure:
        print(f"----- {agent.log_path}\n{agent.tail()}", file=sys.stderr)
        raise
    finally:
        agent.kill()


def test_simulate(nodeguard, node, workdir):
    calls = os.path.join(workdir, "calls")
    sim("pleg-sick", node)
    template = f"{SIM_ACTION} --kubeconfig {KUBECONFIG} --calls {calls} {{action}} {{node}}"
    agent = Agent(nodeguard, node, ["--simulate", "--simulate-command", template], workdir,
                  "agent")
    try:
        agent.wait_ready()
        request_id = f"{node}-kubelet-{int(time.time())}"
        write_request(node, {"id": request_id, "action": "RestartKubelet",
                             "requestedAt": rfc3339(now()), "requester": "t"})

        def final():
            status = agent_status(node)
            return status if status and status["id"] == request_id and \
                status["state"] in ("Done", "Failed") else None
        status = eventually(60, f"a final status for {request_id}", final)
        say(f"{status['state']}: {status['message']}")
        if status["state"] != "Done" or "simulated: systemctl restart kubelet" not in \
                status["message"]:
            fail(f"status {status}")
        if calls_of(calls) != [f"RestartKubelet {node}"]:
            fail(f"simulation commands run: {calls_of(calls)}")
        ready = eventually(30, "Ready=True after the simulated kubelet restart", lambda: next(
            (c for c in get_node(node)["status"]["conditions"]
             if c["type"] == "Ready" and c["status"] == "True"), None))
        say(f"node Ready again: {ready['reason']}")
        code = agent.stop()
        if code != 0:
            fail(f"agent exited {code} on SIGTERM")
    except TestFailure:
        print(f"----- {agent.log_path}\n{agent.tail()}", file=sys.stderr)
        raise
    finally:
        agent.kill()


TESTS = {"reboot": test_reboot, "malformed": test_malformed, "simulate": test_simulate}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodeguard", required=True, help="the nodeguard binary")
    parser.add_argument("test", choices=sorted(TESTS))
    parser.add_argument("node")
    args = parser.parse_args()
    if not KUBECONFIG:
        print("FAIL: set KUBECONFIG (run through ctest with the cluster fixture)", file=sys.stderr)
        return 1
    workdir = tempfile.mkdtemp(prefix=f"nodeguard-agent-{args.test}-")
    clear_protocol(args.node)
    try:
        TESTS[args.test](os.path.abspath(args.nodeguard), args.node, workdir)
    except TestFailure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        print(f"(agent logs and the watch in {workdir})", file=sys.stderr)
        return 1
    finally:
        # Put the node back: no protocol annotations, healthy and untainted.
        clear_protocol(args.node)
        subprocess.run([SIM, "--kubeconfig", KUBECONFIG, "heal", args.node],
                       capture_output=True)
        subprocess.run([SIM, "--kubeconfig", KUBECONFIG, "wait", args.node, "--ready", "True",
                        "--untainted", "--timeout", "60"], capture_output=True)
    shutil.rmtree(workdir, ignore_errors=True)
    say("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
