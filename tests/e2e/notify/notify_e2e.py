#!/usr/bin/env python3
"""End-to-end test of notifications (issue 20) against the local cluster.

  faults    one PLEG-sick node under a policy with a Reboot ladder and a
            controller whose --notifications-config names a DingTalk sink
            (signed) and a Slack sink on a local HTTPS receiver (a CA made here
            with openssl, given with --notifications-ca-file). The receiver is
            down when the node turns sick; it comes up after the cordon and
            then answers the DingTalk path 500, then 429 with Retry-After: 2,
            and the Slack path slowly (10 s, the controller's request timeout),
            then 500, before accepting. Checked: the cordon and the whole
            remediation take no longer than in the other remediation scenarios
            (60 s / 180 s bounds, times printed), both sinks end up with
            remediation.started and remediation.succeeded, every DingTalk
            request carries a valid signature (timestamp within an hour, sign
            recomputed in receiver.py with hmac/base64/quote_plus), every Slack body has
            the incoming-webhook shape (text, header/section/context blocks,
            header within 150 characters), repeats of a notification carry the
            same id, and nodeguard_notifications_total counts one `sent` per
            sink and kind.
  refused   a node a person cordoned turns PLEG-sick: nodeguard leaves it
            alone and a generic webhook sink (CloudEvents) gets exactly one
            io.nodeguard.node.refused-cordoned event naming the node, with the
            structured-mode attributes and the v1 data schema checked; the
            person's cordon stays and nothing is sent for a remediation.
  density   three nodes already hold more pods than a new policy's cap
            (maxPods 2, pods bound with spec.nodeName): the policy taints all
            three within seconds, and a webhook sink (densityInterval 1m)
            gets exactly one io.nodeguard.density.cap-reached event listing
            the three nodes, and nothing more in the 10 s after it.
  tls       the receiver's certificate is not signed by the CA given to the
            controller (--notifications-ca-file names another CA): the cordon
            and the remediation keep their usual times, the receiver gets no
            request, remediation.started is counted failed with reason `tls`
            (after its retries), and the controller's log names neither the
            URL's path nor its token.
  proxy     HTTPS_PROXY names a small local CONNECT proxy (ConnectProxy, which
            records each CONNECT target) and NO_PROXY=localhost: a webhook
            sink on https://127.0.0.1 gets its node.refused-cordoned event
            through the proxy (a CONNECT to the receiver's 127.0.0.1:port), a
            Slack sink on https://localhost bypasses it (no CONNECT to
            localhost), and both arrive.

It reuses the remediation suite's Scenario (tests/e2e/remediation): its own
nodes, namespace, policy and --watch-filter scope on the fixture's cluster.
Environment: as tests/e2e/remediation/remediation_e2e.py; openssl on PATH.
"""

import contextlib
import json
import os
import select
import socket
import socketserver
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "remediation"))
import remediation_e2e as rem  # noqa: E402
from receiver import Receiver as _Receiver, accepted_kinds, fact_id, make_pki  # noqa: E402

ng = rem.ng
log, check, eventually = rem.log, rem.check, rem.eventually
TestFailure = rem.TestFailure

DING_SECRET = "SECe2e-notify-secret"
DING_TOKEN = "e2e-access-token"
CORDON_BOUND = 60  # As the remediation scenarios wait for a disruptive phase.
SUCCEEDED_BOUND = 180
ARRIVAL_BOUND = 120  # After the receiver is up: backoffs 2+4+8+16+... and Retry-After.


def Receiver(workdir):  # noqa: N802 (the receiver of these scenarios)
    return _Receiver(workdir, DING_TOKEN, DING_SECRET, log=log)


@contextlib.contextmanager
def receiving(name, binary):
    """A Scenario of 3 nodes named `name` and a Receiver (not started) in its
    work dir, stopped at the end."""
    rem.NODE_COUNTS.setdefault(name, 3)
    with rem.Scenario(name, binary) as s:
        receiver = Receiver(s.workdir)
        try:
            yield s, receiver
        finally:
            receiver.stop()


def check_no_problems(records):
    """Every request the receiver checked (signature, shape, attributes) passed."""
    problems = [f"{r['path']}: {r['problems']}" for r in records if r["problems"]]
    check(not problems, "receiver found problems:\n" + "\n".join(problems))


def the_only_event(receiver, ce_type):
    """Waits for a CloudEvent of `ce_type`; 10 s later (what the controller
    does next sends nothing more) it must be the only request received, and
    every request must have passed the receiver's checks. Returns the event
    and when it arrived."""
    record = eventually(f"a {ce_type} event",
                        lambda: next((r for r in receiver.snapshot()
                                      if r["body"].get("type") == ce_type), None), 60, 0.5)
    log(f"received {json.dumps(record['body'])}")
    time.sleep(10)
    records = receiver.snapshot()
    check_no_problems(records)
    types = [r["body"].get("type") for r in records]
    check(types == [ce_type], f"received {types}")
    return record["body"], record["t"]


def start_controller(s, receiver, sinks, ca=None, env=None, extra=None):
    """Starts the scenario's controller with these sinks (a config file in the
    work dir; JSON is YAML) and the receiver's CA (or `ca`), with `env` added
    to its environment."""
    config = os.path.join(s.workdir, "notifications.yaml")
    with open(config, "w") as f:
        json.dump({"cluster": "e2e", "sinks": sinks, **(extra or {})}, f)
    s.controller.scope_args += ["--notifications-config", config,
                                "--notifications-ca-file", ca or receiver.ca]
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})  # Only the controller's start: Popen inherits it.
    try:
        s.controller.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def scenario_faults(binary):
    with receiving("notify-faults", binary) as (s, receiver):
        start_controller(s, receiver, [
            {"name": "ding", "type": "dingtalk",
             "url": receiver.url(f"/ding?access_token={DING_TOKEN}"), "secret": DING_SECRET},
            {"name": "slack", "type": "slack", "url": receiver.url("/slack")}])
        s.apply_policy(rem.remediation_spec())
        sick = s.nodes[0]
        log(f"receiver down; making {sick} PLEG-sick")
        t0 = time.time()
        rem.sim("pleg-sick", sick)
        s.wait_phase(sick, rem.DISRUPTIVE | {"Succeeded"}, CORDON_BOUND)
        cordoned = time.time() - t0
        log(f"MEASURED sick to cordoned with the receiver down: {cordoned:.1f}s "
            f"(bound {CORDON_BOUND}s)")
        receiver.start({"/ding": ["500", "429"], "/slack": ["slow", "500"]})
        up = time.time()
        s.wait_phase(sick, "Succeeded", SUCCEEDED_BOUND)
        done = time.time() - t0
        log(f"MEASURED sick to Succeeded: {done:.1f}s (bound {SUCCEEDED_BOUND}s)")
        want = {"remediation.started", "remediation.succeeded"}
        eventually("started and succeeded accepted by both sinks",
                   lambda: all(want <= accepted_kinds(receiver.snapshot(), p)
                               for p in ("/ding", "/slack")), ARRIVAL_BOUND, 1.0)
        log(f"MEASURED receiver up to both sinks complete: {time.time() - up:.1f}s")
        records = receiver.snapshot()
        for r in records:
            log(f"received {r['path']} answered {r['answer']}: "
                f"{fact_id(r['path'], r['body']) if not r['problems'] else r['problems']}")
        check_no_problems(records)
        faults_seen = sorted(r["answer"] for r in records if r["answer"] != "200")
        check(faults_seen == ["429", "500", "500", "slow"],
              f"the scripted faults were not all hit: {faults_seen}")
        # Repeats (retries) of a kind carry one id per sink.
        for path in ("/ding", "/slack"):
            ids = {}
            for r in records:
                if r["path"] == path:
                    i = fact_id(path, r["body"])
                    ids.setdefault(i.split("/", 1)[0], set()).add(i)
            for kind, seen in ids.items():
                check(len(seen) == 1, f"{path} {kind}: several ids {seen}")
                check(sick in next(iter(seen)), f"{path} {kind}: id {seen} names no node")
        for sink in ("ding", "slack"):
            for kind in sorted(want):
                labels = {"sink": sink, "kind": kind, "outcome": "sent", "reason": "ok"}
                value = eventually(f"{labels} counted",
                                   lambda: s.controller_series(labels), 10, 0.5)
                check(value == 1, f"nodeguard_notifications_total{labels} = {value}")
        log("PASS notify-faults: remediation on time with the receiver down, "
            "slow, 500 and 429; both sinks got started and succeeded")


def controller_series(self, labels):
    for s in ng.parse_exposition(self.controller.metrics()).samples:
        if s.name == "nodeguard_notifications_total" and s.labels == labels:
            return s.value or None
    return None


def scenario_refused(binary):
    with receiving("notify-refused", binary) as (s, receiver):
        receiver.start({})
        target = s.nodes[0]
        rem.kubectl("cordon", target)
        start_controller(s, receiver, [
            {"name": "events", "type": "webhook", "url": receiver.url("/events")}])
        s.apply_policy(rem.remediation_spec())
        rem.sim("pleg-sick", target)
        s.wait_phase(target, "Pending", 60)
        event, _ = the_only_event(receiver, "io.nodeguard.node.refused-cordoned")
        check(event.get("subject") == target and event["data"].get("node") == target
              and event["data"].get("policy") == s.policy
              and event["data"].get("severity") == "warning"
              and event.get("source") == "/nodeguard/e2e"
              and event["id"].startswith(f"node.refused-cordoned/{s.policy}/{target}/"),
              f"event {event}")
        check(rem.node(target)["spec"].get("unschedulable"), "the person's cordon was removed")
        log("PASS notify-refused: one CloudEvent for the node a person cordoned")


def scenario_density(binary):
    with receiving("notify-density", binary) as (s, receiver):
        receiver.start({})
        pods = {"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Pod",
             "metadata": {"name": f"{n}-p{i}", "namespace": s.ns},
             "spec": {"nodeName": n,
                      "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}],
                      "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}]}}
            for n in s.nodes for i in range(3)]}
        rem.apply(pods)
        start_controller(s, receiver, [
            {"name": "events", "type": "webhook", "url": receiver.url("/events"),
             "kinds": ["density.cap-reached"]}], extra={"densityInterval": "1m"})
        t0 = time.time()
        rem.apply(s.scope.policy(s.policy, {"podDensity": {"maxPods": 2}}))
        event, arrived = the_only_event(receiver, "io.nodeguard.density.cap-reached")
        log(f"MEASURED policy applied to the density message: {arrived - t0:.1f}s")
        for n in s.nodes:
            taints = [t["key"] for t in rem.node(n)["spec"].get("taints", [])]
            check("nodeguard.io/pod-density-exceeded" in taints, f"{n} not tainted: {taints}")
        data = event["data"]
        check(data.get("nodes") == sorted(s.nodes) and not data.get("moreNodes")
              and data.get("policy") == s.policy
              and event["id"].startswith(f"density.cap-reached/{s.policy}//"),
              f"event {event}")
        log("PASS notify-density: one aggregated message listing the three capped nodes")


def scenario_tls(binary):
    with receiving("notify-tls", binary) as (s, receiver):
        other = os.path.join(s.workdir, "other-ca")
        os.makedirs(other, exist_ok=True)
        other_ca = make_pki(other)[0]
        token = "SECRET-tls-e2e-token"
        receiver.start({})
        start_controller(s, receiver, [
            {"name": "events", "type": "webhook",
             "url": receiver.url(f"/hook-path-secret?token={token}")}], ca=other_ca)
        s.apply_policy(rem.remediation_spec())
        sick = s.nodes[0]
        t0 = time.time()
        rem.sim("pleg-sick", sick)
        s.wait_phase(sick, rem.DISRUPTIVE | {"Succeeded"}, CORDON_BOUND)
        log(f"MEASURED sick to cordoned with an untrusted receiver: {time.time() - t0:.1f}s "
            f"(bound {CORDON_BOUND}s)")
        s.wait_phase(sick, "Succeeded", SUCCEEDED_BOUND)
        log(f"MEASURED sick to Succeeded: {time.time() - t0:.1f}s (bound {SUCCEEDED_BOUND}s)")
        labels = {"sink": "events", "kind": "remediation.started", "outcome": "failed",
                  "reason": "tls"}
        # 6 attempts, waits 2+4+8+16+32 s (each up to 20 % longer).
        value = eventually(f"{labels} counted", lambda: s.controller_series(labels),
                           ARRIVAL_BOUND, 1.0)
        check(value == 1, f"nodeguard_notifications_total{labels} = {value}")
        log(f"MEASURED sick to remediation.started counted failed (tls): "
            f"{time.time() - t0:.1f}s")
        check(not receiver.snapshot(), f"the receiver got requests: {receiver.snapshot()}")
        sent = s.controller_series({"sink": "events", "kind": "remediation.started",
                                    "outcome": "sent", "reason": "ok"})
        check(not sent, f"remediation.started counted sent: {sent}")
        with open(s.controller.log_path) as f:
            text = f.read()
        for secret in (token, "hook-path-secret"):
            check(secret not in text, f"the controller's log contains {secret!r}")
        check("notification failed: sink events" in text and "(tls)" in text,
              "no log line of the failure naming tls:\n" + s.controller.tail(30))
        log("PASS notify-tls: remediation on time, remediation.started failed with reason "
            "tls, nothing sent, no secret in the log")


class ConnectProxy:
    """A small HTTP CONNECT proxy on 127.0.0.1 that records each target."""

    def __init__(self):
        self.targets = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode(errors="replace").split()
                if len(line) < 2 or line[0] != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n"
                                         b"Content-Length: 0\r\n\r\n")
                    return
                with proxy.lock:
                    proxy.targets.append(line[1])
                host, port = line[1].rsplit(":", 1)
                try:
                    upstream = socket.create_connection((host, int(port)), timeout=10)
                except OSError:
                    self.request.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
                    return
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                rest = head.split(b"\r\n\r\n", 1)[1]
                if rest:
                    upstream.sendall(rest)
                with upstream:
                    pair = {self.request: upstream, upstream: self.request}
                    while True:
                        ready, _, _ = select.select(list(pair), [], [], 60)
                        if not ready:
                            return
                        for sock in ready:
                            data = sock.recv(65536)
                            if not data:
                                return
                            pair[sock].sendall(data)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def seen(self):
        with self.lock:
            return list(self.targets)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def scenario_proxy(binary):
    with receiving("notify-proxy", binary) as (s, receiver):
        proxy = ConnectProxy()
        try:
            receiver.start({})
            target = s.nodes[0]
            rem.kubectl("cordon", target)
            start_controller(s, receiver, [
                {"name": "via-proxy", "type": "webhook", "url": receiver.url("/events")},
                {"name": "direct", "type": "slack",
                 "url": f"https://localhost:{receiver.port}/slack"}],
                env={"HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "NO_PROXY": "localhost"})
            s.apply_policy(rem.remediation_spec())
            rem.sim("pleg-sick", target)
            s.wait_phase(target, "Pending", 60)
            eventually("node.refused-cordoned on both sinks",
                       lambda: all("node.refused-cordoned" in accepted_kinds(receiver.snapshot(), p)
                                   for p in ("/events", "/slack")), 60, 0.5)
            records = receiver.snapshot()
            check_no_problems(records)
            seen = proxy.seen()
            log(f"the proxy saw CONNECT {seen}")
            check(f"127.0.0.1:{receiver.port}" in seen,
                  f"the webhook sink did not go through the proxy: CONNECTs {seen}")
            check(not any(t.startswith("localhost") for t in seen),
                  f"the Slack sink (NO_PROXY=localhost) went through the proxy: CONNECTs {seen}")
            log("PASS notify-proxy: through HTTPS_PROXY's CONNECT proxy, NO_PROXY bypasses it")
        finally:
            proxy.stop()


rem.Scenario.controller_series = controller_series
SCENARIOS = {"faults": scenario_faults, "refused": scenario_refused,
             "density": scenario_density, "tls": scenario_tls, "proxy": scenario_proxy}


if __name__ == "__main__":
    # The remediation suite's main (KUBECONFIG check, SIGTERM cleanup, FAIL
    # line, timing) over this file's scenarios.
    rem.SCENARIOS.clear()
    rem.SCENARIOS.update(SCENARIOS)
    sys.exit(rem.main())
