"""The frozen nodes' writes, shared by tests/cluster/sim (through the command
line below) and tests/cluster/sim-player (the Api class), and the node watch
loop of sim-player and sim-kubelet (watch_nodes): straight to the
API server of a cluster started by tests/cluster/up, with its admin client
certificate (STATE/pki) and address (STATE/cluster.env). One process, a few
concurrent connections: kubectl's client-side rate limit and start-up make a
per-node kubectl call cost 0.2-0.5 s, so freezing or healing 200 nodes took
40-80 s that way.

  sim_api.py freeze --state STATE --what pleg-sick|runtime-down --timing FACTOR
                    [--message MSG] NODE...
      Each NODE, in one merge patch (resourceVersion precondition, retried on
      a conflict): nodeguard.io/sim-state, -timing, -fault-at (now, or the one
      it has when it is already frozen and labelled), -message (or none), the
      other sim annotations dropped (kwok's ack kept for a node already
      frozen), and the label nodeguard.io/sim-player=requested unless it is
      held already.
  sim_api.py heal --state STATE [--thawed] NODE...
      Each frozen NODE (sim-state pleg-sick or runtime-down, or labelled for
      the player): recovering with the message and time kubelet_model's
      heal_plan gives (or healthy at once), the player label removed, in one
      merge patch; a Lease the player had to create is deleted. Prints the
      nodes that were not frozen, one per line (sim heals those itself).

Exit status 1 when a write fails (after three conflicts, or any other error).
Standard library only.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kubelet_model as model  # noqa: E402

STATE_KEY = "nodeguard.io/sim-state"
FAULT_AT_KEY = "nodeguard.io/sim-fault-at"
TIMING_KEY = "nodeguard.io/sim-timing"
MESSAGE_KEY = "nodeguard.io/sim-message"
ACK_KEY = "nodeguard.io/sim-ack"
BOOT_KEY = "nodeguard.io/sim-boot-id"
READY_AT_KEY = "nodeguard.io/sim-ready-at"
PLAYER_LABEL = "nodeguard.io/sim-player"
# Holder of a lease the player had to create (it keeps kwok's otherwise).
PLAYER_HOLDER = "nodeguard-sim-player"
# The simulated /metrics' modes (tests/cluster/sim-kubelet): cleared with the rest.
RELIST_KEY = "nodeguard.io/sim-relist"
METRICS_KEY = "nodeguard.io/sim-metrics"
SIM_KEYS = (FAULT_AT_KEY, TIMING_KEY, MESSAGE_KEY, ACK_KEY, BOOT_KEY, READY_AT_KEY, RELIST_KEY,
            METRICS_KEY)
WORKERS = 4


class ApiError(Exception):
    def __init__(self, status, text):
        super().__init__(f"HTTP {status}: {text[:300]}")
        self.status = status


def cluster_env(state):
    """STATE/cluster.env (written by tests/cluster/up) as a dict."""
    env = {}
    with open(os.path.join(state, "cluster.env")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            env[key] = value
    return env


class Api:
    """HTTPS to the cluster's API server with the admin client certificate;
    one persistent connection per thread that uses it."""

    def __init__(self, state):
        env = cluster_env(state)
        url = urllib.parse.urlparse(env["APISERVER_URL"])
        self.host, self.port = url.hostname, url.port
        pki = os.path.join(state, "pki")
        self.context = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
        self.context.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
        self.conn = None

    def connect(self, timeout):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                           timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json"):
        """(status, decoded body). Raises ApiError on a status >= 400 and
        OSError/HTTPException when the server cannot be reached."""
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self.connect(30)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException):
                # A keep-alive connection the server closed: one fresh try.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        if resp.status >= 400:
            raise ApiError(resp.status, raw.decode(errors="replace"))
        return resp.status, json.loads(raw) if raw else None


def watch_nodes(api, selector, stopping, on_list, on_event, on_error):
    """Lists the nodes matching label selector `selector` and watches them from
    that list's resourceVersion, until the Event `stopping` is set:
    on_list(items) after each list, on_event(type, object) for each watch
    event but ERROR (ADDED, MODIFIED, DELETED, BOOKMARK). The server ending
    the watch, or an ERROR event (410 Gone and the like), lists again; any
    exception is passed to on_error and retried after a second. Never returns
    early: a broken stream must not end the caller's cache."""
    quoted = urllib.parse.quote(selector)
    while not stopping.is_set():
        try:
            _, listed = api.request("GET", f"/api/v1/nodes?labelSelector={quoted}")
            on_list(listed["items"])
            rv = listed["metadata"]["resourceVersion"]
            conn = api.connect(330)
            try:
                conn.request("GET", f"/api/v1/nodes?watch=1&labelSelector={quoted}"
                             f"&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=300",
                             headers={"Accept": "application/json"})
                resp = conn.getresponse()
                if resp.status != 200:
                    raise ApiError(resp.status, resp.read().decode(errors="replace"))
                while not stopping.is_set():
                    line = resp.readline()
                    if not line:
                        break  # The server ended the watch: list again.
                    event = json.loads(line)
                    kind = event.get("type")
                    if kind == "ERROR":
                        break  # 410 Gone and the like: list again.
                    on_event(kind, event.get("object") or {})
            finally:
                conn.close()
        except Exception as e:  # Never die of a broken stream: report, list again.
            on_error(e)
            stopping.wait(1.0)


def lease_path(name):
    return f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}"


def frozen(node):
    meta = node["metadata"]
    state = (meta.get("annotations") or {}).get(STATE_KEY)
    return state in model.PLAYED_STATES or PLAYER_LABEL in (meta.get("labels") or {})


def freeze_patch(node, what, factor, message, now):
    meta = node["metadata"]
    ann = meta.get("annotations") or {}
    label = (meta.get("labels") or {}).get(PLAYER_LABEL)
    annotations = {k: None for k in SIM_KEYS}
    annotations.update({STATE_KEY: what, TIMING_KEY: factor,
                        FAULT_AT_KEY: model.rfc3339(now, 9)})
    if message:
        annotations[MESSAGE_KEY] = message
    if label and ann.get(FAULT_AT_KEY) and ann.get(STATE_KEY) in model.PLAYED_STATES:
        # Frozen already: the fault goes on (runtime-down -> pleg-sick keeps
        # its time), and kwok's ack stays for a node it still manages.
        annotations[FAULT_AT_KEY] = ann[FAULT_AT_KEY]
        annotations[ACK_KEY] = ann.get(ACK_KEY)
    patch = {"metadata": {"resourceVersion": meta["resourceVersion"], "annotations": annotations}}
    if label != "held":
        patch["metadata"]["labels"] = {PLAYER_LABEL: "requested"}
    return patch


def heal_patch(node, thawed, now):
    """recovering with what the model says the node shows until Ready=True
    (kubelet_model.heal_plan), or healthy at once; the player label removed."""
    meta = node["metadata"]
    ann = meta.get("annotations") or {}
    state = ann.get(STATE_KEY, "")
    try:
        factor = model.parse_timing(ann.get(TIMING_KEY) or "fast")
    except ValueError:
        factor = model.FAST_FACTOR
    t0 = model.parse_rfc3339(ann.get(FAULT_AT_KEY))
    elapsed = max(0.0, (now - t0) * factor) if t0 is not None else 0.0
    ready = next((c for c in (node.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready"), {})
    fixed = ann.get(MESSAGE_KEY) if state == model.PLEG_SICK else None
    message, ready_after = model.heal_plan(state, meta["name"], elapsed, fixed,
                                           ready.get("status"), thawed)
    annotations = {k: None for k in SIM_KEYS}
    if ready_after > 0:
        annotations.update({STATE_KEY: "recovering",
                            READY_AT_KEY: model.rfc3339(now + ready_after / factor, 9)})
        if message:
            annotations[MESSAGE_KEY] = message
    else:
        annotations[STATE_KEY] = "healthy"
    return {"metadata": {"resourceVersion": meta["resourceVersion"], "annotations": annotations,
                         "labels": {PLAYER_LABEL: None}}}


class Writer:
    """Patches nodes from a few threads, each with its own connection."""

    def __init__(self, state):
        self.state = state
        self.local = threading.local()

    @property
    def api(self):
        if not hasattr(self.local, "api"):
            self.local.api = Api(self.state)
        return self.local.api

    def patch(self, name, make, node):
        """Patches node `name` with make(node), re-reading it after a conflict."""
        for attempt in range(3):
            try:
                self.api.request("PATCH", f"/api/v1/nodes/{name}", make(node),
                                 "application/merge-patch+json")
                return
            except ApiError as e:
                if e.status != 409 or attempt == 2:
                    raise
            _, node = self.api.request("GET", f"/api/v1/nodes/{name}")

    def drop_player_lease(self, name):
        try:
            _, lease = self.api.request("GET", lease_path(name))
        except ApiError as e:
            if e.status == 404:
                return
            raise
        if (lease.get("spec") or {}).get("holderIdentity") == PLAYER_HOLDER:
            try:
                self.api.request("DELETE", lease_path(name))
            except ApiError as e:
                if e.status != 404:
                    raise

    def run(self, jobs):
        """Runs (description, function) jobs; returns the failures' texts."""
        failures = []
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            futures = {pool.submit(fn): what for what, fn in jobs}
            for future in concurrent.futures.as_completed(futures):
                try:
                    future.result()
                except Exception as e:
                    failures.append(f"{futures[future]}: {e}")
        return failures


def list_nodes(api, names):
    _, listed = api.request("GET", "/api/v1/nodes?labelSelector=type%3Dkwok")
    by_name = {n["metadata"]["name"]: n for n in listed["items"]}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise SystemExit(f"sim_api: no simulated (type=kwok) node {' '.join(missing)}")
    return by_name


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["freeze", "heal"])
    parser.add_argument("--state", required=True, help="the cluster's state directory")
    parser.add_argument("--what", choices=model.PLAYED_STATES)
    parser.add_argument("--timing", help="the factor (kubelet_model.parse_timing)")
    parser.add_argument("--message", default="")
    parser.add_argument("--thawed", action="store_true")
    parser.add_argument("nodes", nargs="+")
    args = parser.parse_args()
    writer = Writer(args.state)
    nodes = list_nodes(writer.api, args.nodes)
    now = time.time()
    jobs = []
    if args.command == "freeze":
        if not args.what or not args.timing:
            parser.error("freeze wants --what and --timing")
        factor = str(model.parse_timing(args.timing))
        for name in args.nodes:
            jobs.append((name, lambda name=name: writer.patch(
                name, lambda n: freeze_patch(n, args.what, factor, args.message, now), nodes[name])))
    else:
        for name in args.nodes:
            if not frozen(nodes[name]):
                print(name)
                continue

            def heal(name=name):
                writer.patch(name, lambda n: heal_patch(n, args.thawed, now), nodes[name])
                writer.drop_player_lease(name)
            jobs.append((name, heal))
    failures = writer.run(jobs)
    for text in failures:
        print(f"sim_api {args.command}: {text}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
