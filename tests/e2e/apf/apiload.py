"""Load on the API server from clients that are not nodeguard, for the API
Priority and Fairness test (apf_e2e.py): each client authenticates with a
bearer token of its own service account, so the API server classifies its
requests as it would a workload's (FlowSchema service-accounts, priority
level workload-low), not as the admin's (exempt).

    flood = Flood(server, ca, tokens, path, threads_per_token=8)
    flood.start(); ...; flood.stop()
    flood.counts      {"ok": n, "429": n, "other": n}

    writer = PacedWriter(server, ca, token, namespace, rate=5)
    writer.start(); ...; writer.stop()
    writer.latencies  seconds of each create, in order
"""

import http.client
import json
import ssl
import threading
import time
import urllib.parse


class Client:
    """One keep-alive HTTPS connection to the API server with a bearer token."""

    def __init__(self, server, ca_file, token, timeout=60):
        url = urllib.parse.urlparse(server)
        self.host, self.port = url.hostname, url.port or 443
        self.context = ssl.create_default_context(cafile=ca_file)
        self.token = token
        self.timeout = timeout
        self.conn = None

    def request(self, method, path, body=None):
        """(status, body bytes); a broken connection is reopened once."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                                        timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Flood:
    """threads_per_token threads per token, each sending GET path back to back
    (no client-side limit: a misbehaving client). 429s are counted and the
    thread goes on at once, as a client that ignores Retry-After would."""

    def __init__(self, server, ca_file, tokens, path, threads_per_token=8):
        self.args = (server, ca_file)
        self.tokens = tokens
        self.path = path
        self.threads_per_token = threads_per_token
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.counts = {"ok": 0, "429": 0, "other": 0, "error": 0}  # guarded by lock
        self.threads = []

    def _run(self, token):
        client = Client(*self.args, token)
        while not self.stopping.is_set():
            try:
                status, _ = client.request("GET", self.path)
                key = "ok" if status == 200 else "429" if status == 429 else "other"
            except (OSError, http.client.HTTPException):
                key = "error"
                time.sleep(0.1)
            with self.lock:
                self.counts[key] += 1

    def start(self):
        for token in self.tokens:
            for _ in range(self.threads_per_token):
                t = threading.Thread(target=self._run, args=(token,), daemon=True)
                t.start()
                self.threads.append(t)
        return self

    def snapshot(self):
        with self.lock:
            return dict(self.counts)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(70)
        return self.snapshot()


class PacedWriter(threading.Thread):
    """Creates a ConfigMap in `namespace` `rate` times a second and records how
    long each create took (a 429 is retried after its Retry-After and counted
    in the same latency: what the writer waited to get its write in)."""

    def __init__(self, server, ca_file, token, namespace, rate=5.0, prefix="w"):
        super().__init__(daemon=True)
        self.client = Client(server, ca_file, token)
        self.namespace = namespace
        self.interval = 1.0 / rate
        self.prefix = prefix
        self.stopping = threading.Event()
        self.latencies = []
        self.failures = []

    def run(self):
        n = 0
        next_at = time.monotonic()
        while not self.stopping.is_set():
            n += 1
            body = {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": f"{self.prefix}-{n}"}, "data": {"n": str(n)}}
            start = time.monotonic()
            while True:
                try:
                    status, text = self.client.request(
                        "POST", f"/api/v1/namespaces/{self.namespace}/configmaps", body)
                except (OSError, http.client.HTTPException) as e:
                    status, text = 0, str(e).encode()
                if status == 429:
                    time.sleep(1)
                    continue
                break
            if status == 201:
                self.latencies.append(time.monotonic() - start)
            else:
                self.failures.append(f"{status}: {text[:200]!r}")
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def stop(self):
        self.stopping.set()
        self.join(70)


def quantile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
