"""Helpers shared by the cluster benchmarks (tests/bench/*_bench.py):
standard library only, no test framework."""

import http.client
import json
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
