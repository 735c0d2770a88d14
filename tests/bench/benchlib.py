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


def post_pods(api, count, creators, body_of, rate=0.0, first=0):
    """POSTs `count` pods, indices `first`.., from `creators` threads over
    `api`'s connections (density_bench.Api), at most `rate` per second when
    rate > 0. body_of(i) -> (namespace, pod dict). Retries 429, 5xx and
    dropped connections; a 409 (already exists) counts as created. Returns
    (seconds, errors): the first errors of pods that could not be created."""
    work = queue.Queue()
    for i in range(first, first + count):
        work.put(i)
    errors = []
    started = time.monotonic()

    def creator():
        conn = api.connection()
        while True:
            try:
                i = work.get_nowait()
            except queue.Empty:
                break
            if rate > 0:
                delay = started + (i - first) / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            namespace, pod = body_of(i)
            body = json.dumps(pod)
            for attempt in range(5):
                try:
                    conn.request("POST", f"/api/v1/namespaces/{namespace}/pods", body,
                                 {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status in (201, 409):
                        break
                    if resp.status != 429 and resp.status < 500:
                        errors.append(f"HTTP {resp.status}: {data[:200]}")
                        return
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = api.connection()
                time.sleep(0.5 * (attempt + 1))
            else:
                errors.append(f"pod {i}: no success after {attempt + 1} attempts")
        conn.close()

    threads = [threading.Thread(target=creator) for _ in range(creators)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started, errors[:3]


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
