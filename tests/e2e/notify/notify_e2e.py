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
            recomputed here with hmac/base64/quote_plus), every Slack body has
            the incoming-webhook shape (text, header/section/context blocks,
            header within 150 characters), repeats of a notification carry the
            same id, and nodeguard_notifications_total counts one `sent` per
            sink and kind.
  refused   a node a person cordoned turns PLEG-sick: nodeguard leaves it
            alone and a generic webhook sink (CloudEvents) gets exactly one
            io.nodeguard.node.refused-cordoned event naming the node, with the
            structured-mode attributes and the v1 data schema checked; the
            person's cordon stays and nothing is sent for a remediation.

It reuses the remediation suite's Scenario (tests/e2e/remediation): its own
nodes, namespace, policy and --watch-filter scope on the fixture's cluster.
Environment: as tests/e2e/remediation/remediation_e2e.py; openssl on PATH.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "remediation"))
import remediation_e2e as rem  # noqa: E402

ng = rem.ng
log, check, eventually = rem.log, rem.check, rem.eventually
TestFailure = rem.TestFailure

DING_SECRET = "SECe2e-notify-secret"
DING_TOKEN = "e2e-access-token"
CORDON_BOUND = 60  # As the remediation scenarios wait for a disruptive phase.
SUCCEEDED_BOUND = 180
ARRIVAL_BOUND = 120  # After the receiver is up: backoffs 2+4+8+16+... and Retry-After.


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_pki(workdir):
    """A CA and a server certificate for 127.0.0.1, with the openssl CLI."""
    ca_key, ca_crt = os.path.join(workdir, "ca.key"), os.path.join(workdir, "ca.crt")
    key, csr, crt = (os.path.join(workdir, f) for f in ("srv.key", "srv.csr", "srv.crt"))
    ext = os.path.join(workdir, "srv.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
        "-subj", "/CN=nodeguard-notify-e2e-ca", "-days", "2",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca_crt, crt, key


def expected_sign(timestamp):
    digest = hmac.new(DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(),
                      hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def slack_shape_problems(body):
    problems = []
    if not isinstance(body.get("text"), str) or not body["text"]:
        problems.append("no text")
    blocks = body.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        return problems + ["no blocks"]
    for b in blocks:
        if b.get("type") not in ("header", "section", "context"):
            problems.append(f"block type {b.get('type')}")
    head = blocks[0]
    if head.get("type") != "header" or head.get("text", {}).get("type") != "plain_text" \
            or len(head["text"].get("text", "")) > 150:
        problems.append(f"bad header {head}")
    return problems


def cloudevent_problems(content_type, event):
    problems = []
    if content_type != "application/cloudevents+json":
        problems.append(f"Content-Type {content_type}")
    for attr in ("specversion", "type", "source", "id", "time", "datacontenttype", "data"):
        if attr not in event:
            problems.append(f"no {attr}")
    if event.get("specversion") != "1.0" or not str(event.get("type", "")).startswith(
            "io.nodeguard."):
        problems.append(f"specversion/type {event.get('specversion')} {event.get('type')}")
    data = event.get("data", {})
    if data.get("schemaVersion") != "nodeguard.io/notification/v1" \
            or "io.nodeguard." + str(data.get("kind")) != event.get("type"):
        problems.append(f"data {data}")
    return problems


class Receiver:
    """A local HTTPS receiver for /ding and /slack with scripted faults."""

    def __init__(self, workdir):
        self.ca, self.crt, self.key = make_pki(workdir)
        self.port = free_port()
        self.lock = threading.Lock()
        self.faults = {}  # path -> list of "500", "429", "slow", consumed in order.
        self.records = []  # dicts: path, raw_query, body, answer, problems, t.
        self.server = None

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def start(self, faults):
        receiver = self
        with self.lock:
            self.faults = {k: list(v) for k, v in faults.items()}

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                split = urllib.parse.urlsplit(self.path)
                body_raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                problems = []
                try:
                    body = json.loads(body_raw)
                except ValueError:
                    body, problems = {}, ["body is not JSON"]
                if split.path == "/ding":
                    problems += receiver.ding_problems(split.query, body)
                elif split.path == "/slack":
                    problems += slack_shape_problems(body)
                elif split.path == "/events":
                    problems += cloudevent_problems(self.headers.get("Content-Type"), body)
                with receiver.lock:
                    queue = receiver.faults.get(split.path, [])
                    fault = queue.pop(0) if queue else None
                answer = {"500": 500, "429": 429}.get(fault, 200)
                with receiver.lock:
                    receiver.records.append({"path": split.path, "body": body,
                                             "answer": fault or "200", "problems": problems,
                                             "t": time.time()})
                if fault == "slow":
                    time.sleep(10)
                reply = b'{"errcode":0}' if answer == 200 else b'{"error":"fault"}'
                try:
                    self.send_response(answer)
                    if answer == 429:
                        self.send_header("Retry-After", "2")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (OSError, ssl.SSLError):
                    pass  # The client gave up (the slow answer): it retries.

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.crt, self.key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        log(f"receiver up on {self.url('')} with faults {faults}")

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @staticmethod
    def ding_problems(query, body):
        problems = []
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if params.get("access_token") != DING_TOKEN:
            problems.append("access_token lost")
        ts = params.get("timestamp", "")
        if not ts.isdigit() or abs(int(ts) / 1000 - time.time()) > 3600:
            problems.append(f"timestamp {ts!r} not within an hour")
        elif params.get("sign") != expected_sign(ts):
            problems.append(f"sign {params.get('sign')!r}, expected {expected_sign(ts)!r}")
        if body.get("msgtype") != "markdown" or not body.get("markdown", {}).get("text"):
            problems.append("not a markdown message")
        return problems

    def snapshot(self):
        with self.lock:
            return list(self.records)


def fact_id(path, body):
    """The notification's id: the last line of a DingTalk text, the context of
    Slack, the CloudEvents id."""
    if path == "/events":
        return body["id"]
    if path == "/ding":
        return body["markdown"]["text"].rsplit("nodeguard · ", 1)[-1]
    return body["blocks"][-1]["elements"][0]["text"].rsplit("nodeguard · ", 1)[-1]


def accepted_kinds(records, path):
    return {fact_id(path, r["body"]).split("/", 1)[0]
            for r in records if r["path"] == path and r["answer"] == "200"}


def start_controller(s, receiver, sinks):
    """Starts the scenario's controller with these sinks (a config file in the
    work dir; JSON is YAML) and the receiver's CA."""
    config = os.path.join(s.workdir, "notifications.yaml")
    with open(config, "w") as f:
        json.dump({"cluster": "e2e", "sinks": sinks}, f)
    s.controller.scope_args += ["--notifications-config", config,
                                "--notifications-ca-file", receiver.ca]
    s.controller.start()


def scenario_faults(binary):
    rem.NODE_COUNTS.setdefault("notify-faults", 3)
    with rem.Scenario("notify-faults", binary) as s:
        receiver = Receiver(s.workdir)
        try:
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
            problems = [f"{r['path']}: {r['problems']}" for r in records if r["problems"]]
            check(not problems, "receiver found problems:\n" + "\n".join(problems))
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
                    labels = {"sink": sink, "kind": kind, "outcome": "sent"}
                    value = eventually(f"{labels} counted",
                                       lambda: s.controller_series(labels), 10, 0.5)
                    check(value == 1, f"nodeguard_notifications_total{labels} = {value}")
            log("PASS notify-faults: remediation on time with the receiver down, "
                "slow, 500 and 429; both sinks got started and succeeded")
        finally:
            receiver.stop()


def controller_series(self, labels):
    for s in ng.parse_exposition(self.controller.metrics()).samples:
        if s.name == "nodeguard_notifications_total" and s.labels == labels:
            return s.value or None
    return None


def scenario_refused(binary):
    rem.NODE_COUNTS.setdefault("notify-refused", 3)
    with rem.Scenario("notify-refused", binary) as s:
        receiver = Receiver(s.workdir)
        try:
            receiver.start({})
            target = s.nodes[0]
            rem.kubectl("cordon", target)
            start_controller(s, receiver, [
                {"name": "events", "type": "webhook", "url": receiver.url("/events")}])
            s.apply_policy(rem.remediation_spec())
            rem.sim("pleg-sick", target)
            s.wait_phase(target, "Pending", 60)
            event = eventually(
                "a node.refused-cordoned event",
                lambda: next((r["body"] for r in receiver.snapshot()
                              if r["body"].get("type") == "io.nodeguard.node.refused-cordoned"),
                             None), 60, 0.5)
            log(f"received {json.dumps(event)}")
            time.sleep(10)  # Further steps of the controller send nothing more.
            records = receiver.snapshot()
            problems = [f"{r['path']}: {r['problems']}" for r in records if r["problems"]]
            check(not problems, "receiver found problems:\n" + "\n".join(problems))
            types = [r["body"].get("type") for r in records]
            check(types == ["io.nodeguard.node.refused-cordoned"], f"received {types}")
            check(event.get("subject") == target and event["data"].get("node") == target
                  and event["data"].get("policy") == s.policy
                  and event["data"].get("severity") == "warning"
                  and event.get("source") == "/nodeguard/e2e"
                  and event["id"].startswith(f"node.refused-cordoned/{s.policy}/{target}/"),
                  f"event {event}")
            check(rem.node(target)["spec"].get("unschedulable"), "the person's cordon was removed")
            log("PASS notify-refused: one CloudEvent for the node a person cordoned")
        finally:
            receiver.stop()


rem.Scenario.controller_series = controller_series
SCENARIOS = {"faults": scenario_faults, "refused": scenario_refused}


if __name__ == "__main__":
    # The remediation suite's main (KUBECONFIG check, SIGTERM cleanup, FAIL
    # line, timing) over this file's scenarios.
    rem.SCENARIOS.clear()
    rem.SCENARIOS.update(SCENARIOS)
    sys.exit(rem.main())
