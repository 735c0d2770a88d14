#!/usr/bin/env python3
"""A local HTTPS receiver for nodeguard's notifications (issue 20): DingTalk
(/ding, signature checked), Slack (/slack, incoming-webhook shape checked)
and CloudEvents webhooks (/events, structured mode checked), on a CA of its
own made with the openssl CLI (give it to the controller with
--notifications-ca-file). Used by notify_e2e.py (as a module, with scripted
faults) and by `make demo` (tests/cluster/demo, as a process):

  receiver.py serve --workdir DIR --ding-token T --ding-secret S
      makes DIR/ca.crt and a certificate for 127.0.0.1, listens on a free
      port, writes it to DIR/port once listening, appends every request to
      DIR/received.jsonl (one JSON object a line: path, answer, problems,
      body, t) and runs until SIGTERM.
  receiver.py show --workdir DIR [--skip N] [--upto M]
      prints what was received, one short line each (sink, kind, title,
      signature or shape OK), the N+1th to the Mth request.
  receiver.py summary --workdir DIR
      one line: how many requests per sink were accepted, and whether every
      check passed.

Python standard library only.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse


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


def expected_sign(timestamp, secret):
    """DingTalk's signed mode, computed independently of nodeguard."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
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
    """A local HTTPS receiver for /ding, /slack and /events with scripted
    faults. `on_record(record)` is called for each request (any thread)."""

    def __init__(self, workdir, ding_token, ding_secret, log=print, on_record=None, pki=None):
        self.ca, self.crt, self.key = pki or make_pki(workdir)
        self.ding_token, self.ding_secret = ding_token, ding_secret
        self.log, self.on_record = log, on_record
        self.port = free_port()
        self.lock = threading.Lock()
        self.faults = {}  # path -> list of "500", "429", "slow", consumed in order.
        self.records = []  # dicts: path, body, answer, problems, t.
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
                record = {"path": split.path, "body": body, "answer": fault or "200",
                          "problems": problems, "t": time.time()}
                with receiver.lock:
                    receiver.records.append(record)
                if receiver.on_record is not None:
                    receiver.on_record(record)
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
        self.log(f"receiver up on {self.url('')} with faults {faults}")

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def ding_problems(self, query, body):
        problems = []
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        if params.get("access_token") != self.ding_token:
            problems.append("access_token lost")
        ts = params.get("timestamp", "")
        if not ts.isdigit() or abs(int(ts) / 1000 - time.time()) > 3600:
            problems.append(f"timestamp {ts!r} not within an hour")
        elif params.get("sign") != expected_sign(ts, self.ding_secret):
            problems.append(f"sign {params.get('sign')!r}, "
                            f"expected {expected_sign(ts, self.ding_secret)!r}")
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


SINK_NAMES = {"/ding": "DingTalk", "/slack": "Slack", "/events": "webhook"}


def title(path, body):
    if path == "/ding":
        return body.get("markdown", {}).get("title", "")
    if path == "/slack":
        return body.get("blocks", [{}])[0].get("text", {}).get("text", "")
    return body.get("data", {}).get("title", "")


def describe(record):
    """One short line: sink, kind, title, and what the receiver checked."""
    path, body = record["path"], record["body"]
    try:
        kind = fact_id(path, body).split("/", 1)[0]
    except (KeyError, IndexError, TypeError, AttributeError):
        kind = "?"
    if record["problems"]:
        verdict = "PROBLEM: " + "; ".join(record["problems"])
    else:
        verdict = {"/ding": "signature OK", "/slack": "shape OK",
                   "/events": "CloudEvent OK"}.get(path, "OK")
    if record["answer"] != "200":
        verdict += f" (answered {record['answer']}: retried)"
    stamp = time.strftime("%H:%M:%S", time.localtime(record["t"]))
    return f"{stamp} {SINK_NAMES.get(path, path):<8} {kind:<22} {title(path, body)}  [{verdict}]"


def read_records(workdir):
    path = os.path.join(workdir, "received.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def serve(args):
    os.makedirs(args.workdir, exist_ok=True)
    out = open(os.path.join(args.workdir, "received.jsonl"), "a")
    out_lock = threading.Lock()

    def on_record(record):
        with out_lock:
            out.write(json.dumps(record) + "\n")
            out.flush()

    receiver = Receiver(args.workdir, args.ding_token, args.ding_secret,
                        log=lambda m: print(m, flush=True), on_record=on_record)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    receiver.start({})
    port_file = os.path.join(args.workdir, "port")
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{receiver.port}\n")
    os.replace(port_file + ".tmp", port_file)  # Whole, or not there.
    stop.wait()
    receiver.stop()
    return 0


def show(args):
    for record in read_records(args.workdir)[args.skip:args.upto]:
        print(describe(record))
    return 0


def summary(args):
    records = read_records(args.workdir)
    accepted = {}
    for r in records:
        if r["answer"] == "200":
            accepted[SINK_NAMES.get(r["path"], r["path"])] = \
                accepted.get(SINK_NAMES.get(r["path"], r["path"]), 0) + 1
    problems = sum(1 for r in records if r["problems"])
    print(", ".join(f"{sink} {n}" for sink, n in sorted(accepted.items())) or "nothing", end="")
    print("; every signature and shape OK" if not problems
          else f"; {problems} with PROBLEMS (receiver.py show)")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--workdir", required=True)
    p.add_argument("--ding-token", required=True)
    p.add_argument("--ding-secret", required=True)
    p = sub.add_parser("show")
    p.add_argument("--workdir", required=True)
    p.add_argument("--skip", type=int, default=0)
    p.add_argument("--upto", type=int, default=None)
    p = sub.add_parser("summary")
    p.add_argument("--workdir", required=True)
    args = parser.parse_args()
    return {"serve": serve, "show": show, "summary": summary}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
