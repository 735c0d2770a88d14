"""Helpers shared by the cluster benchmarks (tests/bench/*_bench.py):
standard library only, no test framework."""

import argparse
import http.client
import json
import os
import shlex
import sys
import queue
import threading
import time


def send_all(api, items, workers, request_of, done, rate=0.0):
    """Sends request_of(item) -> (method, path, body or None) for each of
    `items` from `workers` threads over `api`'s connections
    (density_bench.Api), the n-th at the earliest n / rate seconds after the
    start when rate > 0. Retries 429, 5xx and dropped connections; a status
    in `done` is a success; any other stops that thread. Returns (seconds,
    errors): the first errors of requests that did not succeed."""
    work = queue.Queue()
    for n, item in enumerate(items):
        work.put((n, item))
    errors = []
    started = time.monotonic()

    def sender():
        conn = api.connection()
        while True:
            try:
                n, item = work.get_nowait()
            except queue.Empty:
                break
            if rate > 0:
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            method, path, body = request_of(item)
            headers = {"Content-Type": "application/json"} if body is not None else {}
            for attempt in range(5):
                try:
                    conn.request(method, path, body, headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status in done:
                        break
                    if resp.status != 429 and resp.status < 500:
                        errors.append(f"HTTP {resp.status}: {data[:200]}")
                        return
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = api.connection()
                time.sleep(0.5 * (attempt + 1))
            else:
                errors.append(f"{method} {path}: no success after {attempt + 1} attempts")
        conn.close()

    threads = [threading.Thread(target=sender) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, errors[:3]


def post_pods(api, count, creators, body_of, rate=0.0, first=0):
    """POSTs `count` pods, indices `first`.., from `creators` threads over
    `api`'s connections (density_bench.Api), at most `rate` per second when
    rate > 0. body_of(i) -> (namespace, pod dict). Retries 429, 5xx and
    dropped connections; a 409 (already exists) counts as created. Returns
    (seconds, errors): the first errors of pods that could not be created."""
    def request_of(i):
        namespace, pod = body_of(i)
        return "POST", f"/api/v1/namespaces/{namespace}/pods", json.dumps(pod)

    return send_all(api, range(first, first + count), creators, request_of, (201, 409), rate)


def delete_pods(api, namespace, names, workers):
    """DELETEs the named pods of `namespace` at once (grace period 0) from
    `workers` threads; 404 counts as deleted. Returns (seconds, errors)."""
    return send_all(api, names, workers,
                    lambda name: ("DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}"
                                            "?gracePeriodSeconds=0", None), (200, 202, 404))


def mark_remediation(rec, node, now, sick):
    """Marks in `rec` when the first version of `node` (a watched Node) that
    is `sick` (the caller's test) arrived, the first cordoned one, and the
    first uncordoned one after that; returns the phase its
    nodeguard.io/remediation state names (None without one)."""
    if rec["sick"] is None and sick:
        rec["sick"] = now
    cordoned = bool(node.get("spec", {}).get("unschedulable"))
    if rec["cordoned"] is None and cordoned:
        rec["cordoned"] = now
    if rec["cordoned"] is not None and rec["uncordoned"] is None and not cordoned:
        rec["uncordoned"] = now
    text = (node["metadata"].get("annotations") or {}).get("nodeguard.io/remediation")
    return json.loads(text)["phase"] if text else None


def condition(node, condition_type):
    """The node's status condition of that type ({} when absent)."""
    return next((c for c in node.get("status", {}).get("conditions", [])
                 if c["type"] == condition_type), {})


def wait_on(condition, what, predicate, timeout, error, fail):
    """Until predicate() (called holding `condition`) is true, waking on its
    notifications; fail(message) when error() returns one (a watch broke) or
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with condition:
        while not predicate():
            left = deadline - time.monotonic()
            if error():
                fail(f"watch failed: {error()}")
            if left <= 0:
                fail(f"timed out after {timeout}s waiting for {what}")
            condition.wait(min(left, 1.0))


def argument_parser(doc, nodes, no_cleanup_help):
    """The options every cluster benchmark takes: --nodeguard, --workdir,
    --nodes (default `nodes`), --creators, --no-cleanup and --controller-arg."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodeguard", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--nodes", type=int, default=nodes)
    parser.add_argument("--creators", type=int, default=8)
    parser.add_argument("--no-cleanup", action="store_true", help=no_cleanup_help)
    parser.add_argument("--controller-arg", action="append", default=[],
                        help="an extra flag for the controller (repeatable)")
    return parser


def parse_arguments(parser, env_var):
    """The command line, then the options in $env_var (CTest runs the
    benchmarks with fixed arguments; sizes come from the environment)."""
    return parser.parse_args(sys.argv[1:] + shlex.split(os.environ.get(env_var, "")))


def proc_status(pid, keys):
    """The given fields of /proc/PID/status (e.g. VmRSS, VmHWM, RssAnon), in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in keys:
                out[key] = int(value.split()[0]) * 1024
    return out
