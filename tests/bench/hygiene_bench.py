#!/usr/bin/env python3
"""Benchmark of resource hygiene (issue 10) on the local cluster: the initial
evaluation of every pod when the controller starts, and the steady-state cost
per pod event.

Setup: N simulated nodes (reserving resources for the system, so only pods
are flagged) labelled for the policy, and P pods created already bound
(spec.nodeName, which skips the scheduler; kwok reports them Running) over K
namespaces, with the mix of hygiene_bench.cpp: 20 % BestEffort, 20 % an app
container with nothing set beside a sidecar with everything set, 20 %
requests only, 25 % all set, 15 % an init container without resources. The
policy (the CRD's defaults: requests cpu and memory, limits memory, init
containers included) flags 75 % of them.

Measured, with the real controller:
  1. status only (annotatePods and emitEvents off: no writes to pods): from
     the controller's start to the policy status reporting the full count of
     flagged pods; the controller's own "initial evaluation" log line; its CPU
     seconds and peak RSS (VmHWM) at that point.
  2. with annotations and Events (a restart with the policy changed): the
     same, plus the time until every annotation and Event is written (the
     controller's nodeguard_hygiene_writes_total against the expected count),
     which the writes' round trips bound (see docs/performance.md).
  3. steady state, the controller settled: idle CPU over 20 s, then C pods
     created and C old pods deleted at R per second each; controller CPU per
     1,000 pod watch events (this process watches all pods, as the
     controller does) less the idle rate, and per new flagged pod the latency
     from its ADDED watch event to (a) its MissingResourceRequirements Event
     and (b) the MODIFIED event carrying its annotation (p50/p90/p99/max).

With --window S (issue 25: a binary before and after), steps 1 to 3 are
replaced, on the same filled cluster, by one run per binary (--before PATH
first if given, then --nodeguard), each from the same state: the policy
deleted, every MissingResourceRequirements Event deleted and every findings
annotation removed; then the policy with annotations and Events applied,
another client started (a service account of namespace hygb-writer, so a
workload for API Priority and Fairness, creating a ConfigMap --writer-rate
times a second: tests/e2e/apf/apiload.py's PacedWriter), its idle baseline
taken over --baseline seconds, and the controller started and watched for S
seconds from its start (every 2 s: podsFlagged, nodeguard_hygiene_writes_total,
nodeguard_hygiene_writes_pending). Reported per binary: the time to the
status counting every flagged pod (else podsFlagged at the window's end),
the hygiene writes and writes per second, the API server's events POST and
pods PATCH in the window (apiserver_request_total, every client), the other
writer's create latency p50/p99 idle and in the window, and the API server's
p99 (apiserver_request_duration_seconds, interpolated in its buckets) of
ConfigMap POSTs (only that writer makes them) and of every request but
WATCH, idle and in the window. A window ends with the controller stopped,
however far its writes got.

Usage: hygiene_bench.py --nodeguard PATH --workdir DIR [--nodes N] [--pods P]
                        [--namespaces K] [--churn C] [--churn-rate R]
                        [--creators T] [--no-cleanup]
                        [--window S [--before PATH] [--baseline S] [--writer-rate R]]
                        [--no-wait-running] [--reuse-pods]
(and any option in $NODEGUARD_HYGIENE_BENCH_ARGS, read at run time).
Defaults: 50 nodes, 1,500 pods, 10 namespaces, churn 300 at 10/s.
Environment: KUBECONFIG and NODEGUARD_SIM, as the e2e tests. Standard library
only; the controller helpers are the density e2e suite's, the API client,
raw watch and pod posting density_bench's and benchlib's.
"""

import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e", "density"))
import density_e2e_test as e2e  # noqa: E402
import benchlib  # noqa: E402
import density_bench as db  # noqa: E402

NODE_PREFIX = "hygb-"
NODE_LABEL_VALUE = "hygiene-bench"
NS_PREFIX = "hygb-"
POLICY = "hygiene-bench"
ANNOTATION = "nodeguard.io/resource-findings"
REASON = "MissingResourceRequirements"

ALL_SET = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "50m", "memory": "16Mi"}}
REQUESTS_ONLY = {"requests": {"cpu": "10m", "memory": "16Mi"}}
# (kind, percent, flagged by the policy)
MIX = [("best-effort", 20, True), ("none-with-sidecar", 20, True), ("requests-only", 20, True),
       ("all-set", 25, False), ("init-without", 15, True)]


def kind_of(i):
    slot = i % 100
    for kind, percent, flagged in MIX:
        if slot < percent:
            return kind, flagged
        slot -= percent
    raise AssertionError("MIX adds up to 100")


def container(name, resources):
    c = {"name": name, "image": "registry.k8s.io/pause:3.9"}
    if resources:
        c["resources"] = resources
    return c


def pod_body(i, namespace, node, prefix="pod"):
    kind, _ = kind_of(i)
    app, sidecar = {"best-effort": (None, None), "none-with-sidecar": (None, ALL_SET),
                    "requests-only": (REQUESTS_ONLY, REQUESTS_ONLY),
                    "all-set": (ALL_SET, ALL_SET), "init-without": (ALL_SET, ALL_SET)}[kind]
    spec = {"nodeName": node, "terminationGracePeriodSeconds": 0,
            "containers": [container("app", app), container("sidecar", sidecar)]}
    if kind == "init-without":
        spec["initContainers"] = [container("setup", None)]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{i:06d}", "namespace": namespace,
                         "labels": {"app": f"app-{i % 50}", "mix": kind}},
            "spec": spec}


def policy_doc(writes):
    return {"apiVersion": "nodeguard.io/v1alpha1", "kind": "NodeHealthPolicy",
            "metadata": {"name": POLICY},
            "spec": {"nodeSelector": {"matchLabels": {e2e.NODE_LABEL: NODE_LABEL_VALUE}},
                     "resourceHygiene": {
                         "requiredRequests": ["cpu", "memory"],
                         "requiredLimits": ["memory"],
                         "includeInitContainers": True,
                         "excludeNamespaces": ["kube-system"],
                         "annotatePods": writes,
                         "emitEvents": writes,
                         "flagNodesWithoutSystemReserve": True}}}


def policy_status():
    out = e2e.kubectl("get", "nhp", POLICY, "-o", "json", check=False)
    return json.loads(out.stdout).get("status", {}) if out.returncode == 0 else {}


def delete_policy():
    """Deletes the policy while no controller runs (its finalizer removed)."""
    if e2e.kubectl("get", "nhp", POLICY, check=False).returncode == 0:
        e2e.kubectl("patch", "nhp", POLICY, "--type=merge", "-p",
                    '{"metadata":{"finalizers":null}}', check=False)
        e2e.kubectl("delete", "nhp", POLICY, "--ignore-not-found", "--wait=true",
                    "--timeout=60s")


def peak_rss_mb(ctl):
    with open(f"/proc/{ctl.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def log_seconds(ctl, message):
    """The `seconds` field of the controller's last log line with `message`."""
    with open(ctl.log_path) as f:
        lines = [line for line in f if message in line]
    if not lines:
        return None
    found = re.search(r"\bseconds=([0-9.]+)", lines[-1])
    return float(found.group(1)) if found else None


def writes(ctl, kind):
    return ctl.series("nodeguard_hygiene_writes_total", {"kind": kind}) or 0


def initial_run(args, ctl, label, expected, with_writes):
    """Starts the controller against the filled cluster and measures its
    initial evaluation; leaves it running."""
    e2e.apply(policy_doc(with_writes))
    started = time.monotonic()
    ctl.start()
    leading = time.monotonic() - started
    counted = [None]

    def full_counts():
        st = policy_status()
        flagged = st.get("podsFlagged")
        if flagged == expected and counted[0] is None:
            counted[0] = time.monotonic() - started
        return flagged == expected, f"podsFlagged {flagged}, want {expected}"

    e2e.wait_for("the policy status to count every flagged pod", full_counts,
                 timeout=max(300, expected // 10), interval=0.5)
    cpu_at_count = ctl.cpu_seconds()
    result = {"label": label, "leading_s": leading, "status_s": counted[0],
              "cpu_at_status_s": cpu_at_count}
    if with_writes:
        def written():
            a, e = writes(ctl, "annotation"), writes(ctl, "event")
            return a >= expected and e >= expected, f"{a:.0f} annotations, {e:.0f} Events"

        e2e.wait_for("every annotation and Event to be written", written,
                     timeout=max(600, expected // 5), interval=1)
        result["writes_s"] = time.monotonic() - started
    # The controller's own measure, from its start of the first EnqueueAll.
    deadline = time.monotonic() + 30
    while log_seconds(ctl, "initial evaluation of every pod done") is None and \
            time.monotonic() < deadline:
        time.sleep(0.5)
    result["log_s"] = log_seconds(ctl, "initial evaluation of every pod done")
    time.sleep(3)  # The last status flush.
    result["cpu_s"] = ctl.cpu_seconds()
    result["rss_mb"] = peak_rss_mb(ctl)
    result["namespaces"] = len(policy_status().get("resourceHygiene", {}).get("namespaces", []))
    e2e.say(f"{label}: {result}")
    return result


def fill_cluster(args, api, nodes, namespaces, expected):
    """The CRD, the labelled nodes, the namespaces and the pods, until kwok
    reports every pod Running. Idempotent: nodes and namespaces that exist are
    kept, and the pods are posted only when the namespaces do not already
    hold them all (a cluster kept with --no-cleanup is reused as it is).
    Returns body_of(i) -> (namespace, pod)."""
    for attempt in range(5):  # A loaded machine's API server may time a request out.
        if e2e.kubectl("apply", "--server-side", "--force-conflicts", "-f", e2e.CRD,
                       check=False).returncode == 0:
            break
        time.sleep(5)
    e2e.kubectl("wait", "--for=condition=Established",
                "crd/nodehealthpolicies.nodeguard.io", "--timeout=60s")
    started = time.monotonic()
    have = set(e2e.kubectl("get", "nodes", "-o", "name").stdout.split())
    if all(f"node/{n}" in have for n in nodes):
        # Reused as they are: create-nodes would wait for every one to be Ready,
        # which a kwok starved of CPU may not report for many minutes.
        e2e.say(f"{args.nodes} nodes already there: not created again")
    else:
        e2e.sim("create-nodes", str(args.nodes), "--prefix", NODE_PREFIX, "--reserve",
                "--timeout", str(max(120, args.nodes)))
    labelled = set(e2e.kubectl("get", "nodes", "-l", f"{e2e.NODE_LABEL}={NODE_LABEL_VALUE}",
                               "-o", "name").stdout.split())
    unlabelled = [n for n in nodes if f"node/{n}" not in labelled]
    for i in range(0, len(unlabelled), 100):
        e2e.kubectl("label", "--overwrite", "node", *unlabelled[i:i + 100],
                    f"{e2e.NODE_LABEL}={NODE_LABEL_VALUE}")
    e2e.say(f"{args.nodes} nodes there and labelled in {time.monotonic() - started:.0f}s")
    existing = set(e2e.kubectl("get", "namespaces", "-o", "name").stdout.split())
    for ns in namespaces:
        if f"namespace/{ns}" not in existing:
            e2e.kubectl("create", "namespace", ns)

    def body_of(i):
        ns = namespaces[i % len(namespaces)]
        return ns, pod_body(i, ns, nodes[i % len(nodes)])

    have = 0  # Counted a page of one per namespace (listing 30,000 pods takes minutes).
    for ns in namespaces:
        out = e2e.kubectl("get", "--raw", f"/api/v1/namespaces/{ns}/pods?limit=1", timeout=120)
        listed = json.loads(out.stdout)
        have += len(listed["items"]) + listed["metadata"].get("remainingItemCount", 0)
    if have >= args.pods or (have and args.reuse_pods):
        e2e.say(f"{have} pods already there: not posted again")
    else:
        seconds, errors = benchlib.post_pods(api, args.pods, args.creators, body_of)
        if errors:
            e2e.fail(f"creating pods: {errors}")
        e2e.say(f"{args.pods} pods created bound in {seconds:.0f}s "
                f"({args.pods / seconds:.0f}/s); {expected} should be flagged")

    def running():
        out = e2e.kubectl("get", "pods", "-A", "--field-selector",
                          "status.phase!=Running", "-o", "name", timeout=300)
        left = [n for n in out.stdout.split() if n.startswith("pod/pod-")]
        return not left, f"{len(left)} pods not Running yet"

    if not args.no_wait_running:
        e2e.wait_for("kwok to report every pod Running", running,
                     timeout=max(300, args.pods // 20), interval=10)
    return body_of


class Latency:
    """Per new pod: arrival of its ADDED event, of the MODIFIED event with the
    findings annotation, and of its MissingResourceRequirements Event."""

    def __init__(self, api, prefix):
        self.prefix = prefix
        self.lock = threading.Lock()
        self.added, self.annotated, self.evented = {}, {}, {}
        self.pods = db.RawWatch(api, "/api/v1/pods", self.on_pod)
        selector = urllib.parse.quote(f"reason={REASON}")
        self.events = db.RawWatch(api, f"/api/v1/events?fieldSelector={selector}", self.on_event)

    def start(self):
        self.pods.start()
        self.events.start()

    def stop(self):
        self.pods.stop()
        self.events.stop()

    def on_pod(self, kind, pod, now):
        meta = pod["metadata"]
        if not meta["name"].startswith(self.prefix):
            return
        uid = meta["uid"]
        with self.lock:
            if kind == "ADDED":
                self.added.setdefault(uid, now)
            if ANNOTATION in (meta.get("annotations") or {}):
                self.annotated.setdefault(uid, now)

    def on_event(self, kind, event, now):
        if kind == "ADDED":
            with self.lock:
                self.evented.setdefault(event["involvedObject"].get("uid"), now)

    def latencies_ms(self, which):
        with self.lock:
            done = dict(self.annotated if which == "annotation" else self.evented)
            added = dict(self.added)
        return [(t - added[uid]) * 1000 for uid, t in done.items() if uid in added]


def delete_pods(api, names, rate):
    """DELETEs (namespace, name) pairs at `rate` per second from one thread."""
    conn = api.connection()
    started = time.monotonic()
    for k, (ns, name) in enumerate(names):
        delay = started + k / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for attempt in range(3):
            try:
                conn.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{name}?gracePeriodSeconds=0")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                conn = api.connection()
    conn.close()


# ---------------------------------------------------------------- --window: before and after

WRITER_NS = "hygb-writer"


class OtherWriter:
    """Another client of the API server: a service account of a namespace of
    its own (classified by API Priority and Fairness as a workload, not
    exempt as the admin is) creating ConfigMaps at a steady rate
    (tests/e2e/apf/apiload.py's PacedWriter)."""

    def __init__(self, rate):
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e", "apf"))
        import apiload
        self.apiload = apiload
        self.rate = rate
        e2e.kubectl("create", "namespace", WRITER_NS, check=False)
        e2e.kubectl("-n", WRITER_NS, "create", "sa", "writer", check=False)
        e2e.kubectl("-n", WRITER_NS, "create", "role", "writer", "--verb=create",
                    "--resource=configmaps", check=False)
        e2e.kubectl("-n", WRITER_NS, "create", "rolebinding", "writer", "--role=writer",
                    f"--serviceaccount={WRITER_NS}:writer", check=False)
        cfg = json.loads(e2e.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
        self.server = cfg["clusters"][0]["cluster"]["server"]
        self.ca = os.path.join(os.path.dirname(os.environ["KUBECONFIG"]), "pki", "ca.crt")
        self.writer = None

    def start(self, prefix):
        token = e2e.kubectl("-n", WRITER_NS, "create", "token", "writer",
                            "--duration", "2h").stdout.strip()
        self.writer = self.apiload.PacedWriter(self.server, self.ca, token, WRITER_NS,
                                               self.rate, prefix=prefix)
        self.writer.start()

    def mark(self):
        """Index of the next create's latency (latencies are appended in order)."""
        return len(self.writer.latencies)

    def stop(self):
        self.writer.stop()
        return list(self.writer.latencies), list(self.writer.failures)


def apiserver_metrics(api):
    """The API server's request counts and durations (/metrics as the admin):
    [(name, labels, value)] of apiserver_request_total and
    apiserver_request_duration_seconds_bucket only (the whole page is large,
    and parsing all of it takes seconds on a loaded machine)."""
    conn = api.connection()
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode()
    finally:
        conn.close()
    out = []
    for line in text.splitlines():
        if not line.startswith(("apiserver_request_total{",
                                "apiserver_request_duration_seconds_bucket{")):
            continue
        series, value = line.rsplit(" ", 1)
        name, labels = series.split("{", 1)
        out.append((name, dict(LABEL.findall(labels)), float(value)))
    return out


LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def request_count(samples, verb, resource, subresource=""):
    return sum(v for n, l, v in samples
               if n == "apiserver_request_total" and l.get("verb") == verb and
               l.get("resource") == resource and l.get("subresource", "") == subresource)


def duration_buckets(samples, match):
    """Cumulative buckets {le: count} of apiserver_request_duration_seconds
    summed over the series for which match(labels) holds."""
    out = {}
    for n, l, v in samples:
        if n == "apiserver_request_duration_seconds_bucket" and match(l):
            le = float("inf") if l["le"] == "+Inf" else float(l["le"])
            out[le] = out.get(le, 0) + v
    return out


def bucket_quantile(before, after, q):
    """histogram_quantile(q) of the increase between two snapshots of
    cumulative buckets (linear within a bucket, as Prometheus does); None
    without observations."""
    les = sorted(after)
    counts = [after[le] - before.get(le, 0) for le in les]
    if not counts or counts[-1] <= 0:
        return None
    rank = q * counts[-1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in zip(les, counts):
        if count >= rank:
            if le == float("inf"):
                return lower_le  # Past the last finite bucket: its bound, as Prometheus.
            return lower_le + (le - lower_le) * (rank - lower_count) / max(count - lower_count, 1e-9)
        lower_le, lower_count = le, count
    return les[-1]


def writer_match(labels):
    return labels.get("verb") == "POST" and labels.get("resource") == "configmaps"


def all_match(labels):
    return labels.get("verb") not in ("WATCH", "CONNECT")


def reset_hygiene(api, namespaces):
    """Undoes a hygiene run while no controller runs: the policy deleted, the
    MissingResourceRequirements Events deleted and the findings annotation
    removed from every pod, so the next binary starts from the same state."""
    delete_policy()
    started = time.monotonic()
    selector = urllib.parse.quote(f"reason={REASON}")
    annotated, flagged = [], 0
    conn = api.connection(timeout=300)
    try:
        for ns in namespaces:
            conn.request("DELETE", f"/api/v1/namespaces/{ns}/events?fieldSelector={selector}")
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                e2e.fail(f"deleting the Events of {ns}: HTTP {resp.status}: {data[:200]}")
        cont = ""
        while True:
            for attempt in range(5):  # A loaded API server may cut a page off.
                try:
                    conn.request("GET", f"/api/v1/pods?limit=500{cont}")
                    resp = conn.getresponse()
                    data = resp.read()
                    break
                except (OSError, http.client.HTTPException) as e:
                    e2e.say(f"listing pods: {e!r}, again")
                    conn.close()
                    conn = api.connection(timeout=300)
                    time.sleep(2)
            else:
                e2e.fail("listing pods: no page after 5 attempts")
            if resp.status != 200:
                e2e.fail(f"listing pods: HTTP {resp.status}: {data[:200]}")
            page = json.loads(data)
            mine = [p for p in page["items"] if p["metadata"]["namespace"] in namespaces and
                    p["metadata"]["name"].startswith("pod-") and
                    not p["metadata"].get("deletionTimestamp")]
            flagged += sum(1 for p in mine if kind_of(int(p["metadata"]["name"][4:]))[1])
            annotated += [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in mine
                          if ANNOTATION in (p["metadata"].get("annotations") or {})]
            token = page["metadata"].get("continue")
            if not token:
                break
            cont = "&continue=" + urllib.parse.quote(token)
    finally:
        conn.close()
    body = json.dumps({"metadata": {"annotations": {ANNOTATION: None}}})
    lock = threading.Lock()
    errors = []

    def strip(part):
        conn = api.connection()
        for ns, name in part:
            for attempt in range(3):
                try:
                    conn.request("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}", body,
                                 {"Content-Type": "application/merge-patch+json"})
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status in (200, 404):
                        break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = api.connection()
                time.sleep(0.5)
            else:
                with lock:
                    errors.append(f"{ns}/{name}")
        conn.close()

    threads = [threading.Thread(target=strip, args=(annotated[k::4],)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        e2e.fail(f"could not remove the annotation of {len(errors)} pods, e.g. {errors[:3]}")
    left = e2e.kubectl("get", "events", "-A", "--field-selector", f"reason={REASON}",
                       "-o", "name", timeout=300).stdout.split()
    if left:
        e2e.fail(f"{len(left)} {REASON} Events left after the reset")
    e2e.say(f"reset: Events deleted, {len(annotated)} annotations removed in "
            f"{time.monotonic() - started:.0f}s; {flagged} pods to flag")
    return flagged


def window_run(args, api, writer, label, binary, expected, namespaces):
    """One binary with Events and annotations on: the other writer's idle
    baseline, then the controller started and watched for --window seconds
    from its start. Stops the controller; returns the measures."""
    present = reset_hygiene(api, namespaces)
    if present != expected:
        # Pods evicted by the taint manager (nodes NotReady while kwok starves): the
        # pods there now are the target.
        e2e.say(f"{label}: {present} flagged pods there, not {expected}: the target")
        expected = present
    e2e.apply(policy_doc(True))
    not_running = len(e2e.kubectl("get", "pods", "-A", "--field-selector", "status.phase!=Running",
                                  "-o", "name", timeout=300).stdout.split())
    writer.start(prefix=f"{label.split()[0]}-{int(time.time())}")
    time.sleep(2)
    base_from = writer.mark()
    m_base = apiserver_metrics(api)
    time.sleep(args.baseline)
    base_to = writer.mark()
    m0 = apiserver_metrics(api)
    args.nodeguard = binary
    ctl = e2e.Controller(f"window-{label.split()[0]}", args.controller_arg)
    started = time.monotonic()
    ctl.start(lead_timeout=max(60, args.window))
    leading = time.monotonic() - started
    e2e.say(f"{label}: leading after {leading:.1f}s")
    samples, status_s = [], None
    try:
        while True:
            now = time.monotonic() - started
            if now >= args.window:
                break
            flagged = policy_status().get("podsFlagged")
            metrics = ctl.metrics()
            a = e2e.ng.rendered_series(metrics, "nodeguard_hygiene_writes_total",
                                       {"kind": "annotation"}) or 0
            ev = e2e.ng.rendered_series(metrics, "nodeguard_hygiene_writes_total",
                                        {"kind": "event"}) or 0
            pending = e2e.ng.rendered_series(metrics, "nodeguard_hygiene_writes_pending", {})
            samples.append({"t": round(now, 1), "podsFlagged": flagged, "annotations": a,
                            "events": ev, "pending": pending})
            if flagged == expected and status_s is None:
                status_s = now
                e2e.say(f"{label}: the status counts all {expected} after {now:.1f}s")
            time.sleep(max(0.0, min(2.0, args.window - (time.monotonic() - started))))
        end = time.monotonic() - started
        m1 = apiserver_metrics(api)
        window_to = writer.mark()
        metrics = ctl.metrics()
        final = {k: e2e.ng.rendered_series(metrics, "nodeguard_hygiene_writes_total", {"kind": k})
                 or 0 for k in ("annotation", "event")}
        pending = e2e.ng.rendered_series(metrics, "nodeguard_hygiene_writes_pending", {})
        flagged = policy_status().get("podsFlagged")
        cpu = ctl.cpu_seconds()
        rss = peak_rss_mb(ctl)
    finally:
        ctl.stop(check=False)
        latencies, failures = writer.stop()
    first_write = next((s["t"] for s in samples if s["annotations"] + s["events"] > 0), None)
    total = final["annotation"] + final["event"]
    # Steadiest rate: the writes over the second half of the window.
    half = [s for s in samples if s["t"] >= args.window / 2]
    half_rate = ((half[-1]["annotations"] + half[-1]["events"] - half[0]["annotations"] -
                  half[0]["events"]) / max(1e-9, half[-1]["t"] - half[0]["t"])) if len(half) > 1 else None
    ms = lambda v: None if v is None else round(v * 1000, 1)  # noqa: E731
    base_lat = latencies[base_from:base_to]
    win_lat = latencies[base_to:window_to]
    result = {
        "label": label, "binary": binary, "window_s": round(end, 1), "leading_s": round(leading, 1),
        "status_s": None if status_s is None else round(status_s, 1),
        "podsFlagged_end": flagged, "expected": expected,
        "annotations": final["annotation"], "events": final["event"], "pending_end": pending,
        "first_write_s": first_write,
        "writes_per_s_window": round(total / end, 2),
        "writes_per_s_second_half": None if half_rate is None else round(half_rate, 2),
        "apiserver_events_post": request_count(m1, "POST", "events") - request_count(m0, "POST", "events"),
        "apiserver_pods_patch": request_count(m1, "PATCH", "pods") - request_count(m0, "PATCH", "pods"),
        "apiserver_pods_status_patch": (request_count(m1, "PATCH", "pods", "status") -
                                        request_count(m0, "PATCH", "pods", "status")),
        "pods_not_running_at_start": not_running,
        "writer_baseline": {"n": len(base_lat), "p50_ms": ms(db.percentile(base_lat, 50) if base_lat else None),
                            "p99_ms": ms(db.percentile(base_lat, 99) if base_lat else None)},
        "writer_window": {"n": len(win_lat), "p50_ms": ms(db.percentile(win_lat, 50) if win_lat else None),
                          "p99_ms": ms(db.percentile(win_lat, 99) if win_lat else None),
                          "max_ms": ms(max(win_lat) if win_lat else None)},
        "writer_failures": failures[:3], "writer_failure_count": len(failures),
        "server_writer_p99_ms": {
            "baseline": ms(bucket_quantile(duration_buckets(m_base, writer_match),
                                           duration_buckets(m0, writer_match), 0.99)),
            "window": ms(bucket_quantile(duration_buckets(m0, writer_match),
                                         duration_buckets(m1, writer_match), 0.99))},
        "server_all_p99_ms": {
            "baseline": ms(bucket_quantile(duration_buckets(m_base, all_match),
                                           duration_buckets(m0, all_match), 0.99)),
            "window": ms(bucket_quantile(duration_buckets(m0, all_match),
                                         duration_buckets(m1, all_match), 0.99))},
        "cpu_s": round(cpu, 1), "rss_mb": round(rss, 1), "log": ctl.log_path,
        "samples": samples}
    e2e.say(f"{label}: " + json.dumps({k: v for k, v in result.items() if k != "samples"}))
    return result


def window_main(args, api, namespaces, expected):
    """--window: each binary (--before first, then --nodeguard) for the same
    window on the same cluster; prints the comparison."""
    writer = OtherWriter(args.writer_rate)
    runs = []
    if args.before:
        runs.append(window_run(args, api, writer, "before", args.before, expected, namespaces))
    after_binary = args.after_binary
    runs.append(window_run(args, api, writer, "after", after_binary, expected, namespaces))
    raw = os.path.join(args.workdir, f"hygiene-window-{args.nodes}x{args.pods}.json")
    with open(raw, "w") as f:
        json.dump({"args": vars(args), "runs": runs}, f, indent=1)
    load = os.getloadavg()
    print(f"RESULT window nodes={args.nodes} pods={args.pods} flagged={expected} "
          f"window={args.window:g}s baseline={args.baseline:g}s writer={args.writer_rate:g}/s "
          f"load average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")
    fmt = lambda v, unit="": "-" if v is None else f"{v:g}{unit}"  # noqa: E731
    for r in runs:
        status = (f"status counts all {r['expected']} after {r['status_s']:g}s"
                  if r["status_s"] is not None
                  else f"status not complete in the window: podsFlagged {r['podsFlagged_end']}")
        print(f"  {r['label']} ({r['binary']}): leading after {r['leading_s']:g}s; {status}")
        print(f"    hygiene writes in {r['window_s']:g}s: {r['events']:.0f} Events + "
              f"{r['annotations']:.0f} annotations = {r['writes_per_s_window']:g}/s over the window, "
              f"{fmt(r['writes_per_s_second_half'])}/s over its second half; first write after "
              f"{fmt(r['first_write_s'])}s; pending at the end {fmt(r['pending_end'])}")
        print(f"    API server: {r['apiserver_events_post']:.0f} events POST, "
              f"{r['apiserver_pods_patch']:.0f} pods PATCH in the window (every client); "
              f"kwok: {r['apiserver_pods_status_patch']:.0f} pods/status PATCH, "
              f"{r['pods_not_running_at_start']} pods not Running at the start")
        b, w = r["writer_baseline"], r["writer_window"]
        print(f"    other writer ({args.writer_rate:g} ConfigMap creates/s): idle p50 {fmt(b['p50_ms'])} "
              f"p99 {fmt(b['p99_ms'])} ms ({b['n']}); window p50 {fmt(w['p50_ms'])} p99 "
              f"{fmt(w['p99_ms'])} max {fmt(w['max_ms'])} ms ({w['n']}); failures "
              f"{r['writer_failure_count']}")
        print(f"    API server p99 (apiserver_request_duration_seconds): ConfigMap POST idle "
              f"{fmt(r['server_writer_p99_ms']['baseline'])} ms, window "
              f"{fmt(r['server_writer_p99_ms']['window'])} ms; all requests but WATCH idle "
              f"{fmt(r['server_all_p99_ms']['baseline'])} ms, window "
              f"{fmt(r['server_all_p99_ms']['window'])} ms")
        print(f"    controller CPU {r['cpu_s']:g}s, peak RSS {r['rss_mb']:g} MB, log {r['log']}")
    print(f"  raw data: {raw}")
    sys.stdout.flush()
    for r in runs:
        if r["writer_failure_count"]:
            e2e.fail(f"{r['label']}: the other writer's creates failed: {r['writer_failures']}")
        if r["annotations"] + r["events"] == 0:
            e2e.fail(f"{r['label']}: no hygiene write in the window")
        if r["writer_window"]["n"] < args.writer_rate * args.window / 2:
            e2e.fail(f"{r['label']}: the other writer made only {r['writer_window']['n']} creates")




def describe(values):
    if not values:
        return "none measured"
    return (f"p50 {db.percentile(values, 50):.0f}  p90 {db.percentile(values, 90):.0f}  "
            f"p99 {db.percentile(values, 99):.0f}  max {max(values):.0f} ms over {len(values)}")


def main():
    parser = benchlib.argument_parser(
        __doc__, nodes=50,
        no_cleanup_help="leave nodes, namespaces and pods (a cluster of the benchmark's own)")
    parser.add_argument("--pods", type=int, default=1500)
    parser.add_argument("--namespaces", type=int, default=10)
    parser.add_argument("--churn", type=int, default=300)
    parser.add_argument("--churn-rate", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=0,
                        help="instead of steps 1 to 3: with Events and annotations on, watch "
                             "each binary for this many seconds from its start (see above)")
    parser.add_argument("--before", metavar="PATH",
                        help="with --window: a second nodeguard binary, measured first on the "
                             "same cluster (the state reset in between)")
    parser.add_argument("--baseline", type=float, default=60,
                        help="with --window: seconds of the other writer alone before each start")
    parser.add_argument("--writer-rate", type=float, default=5,
                        help="with --window: the other writer's ConfigMap creates per second")
    parser.add_argument("--reuse-pods", action="store_true",
                        help="take the pods there as they are, even fewer than --pods "
                             "(the expected flagged count then comes from their names)")
    parser.add_argument("--no-wait-running", action="store_true",
                        help="do not wait for kwok to report every pod Running (on a loaded "
                             "machine it lags by many minutes; its status patches then share "
                             "the API server with the measured phase)")
    args = benchlib.parse_arguments(parser, "NODEGUARD_HYGIENE_BENCH_ARGS")
    args.after_binary = args.nodeguard
    e2e.ARGS = args
    e2e.KUBECTL = e2e.kubectl_path()
    api = db.Api()
    width = 3 if args.nodes > 99 else 2
    nodes = [f"{NODE_PREFIX}{i:0{width}d}" for i in range(1, args.nodes + 1)]
    namespaces = [f"{NS_PREFIX}{k:02d}" for k in range(args.namespaces)]
    expected = sum(1 for i in range(args.pods) if kind_of(i)[1])
    ctl = e2e.Controller("hygiene-bench", args.controller_arg)
    latency = Latency(api, "churn-")
    try:
        body_of = fill_cluster(args, api, nodes, namespaces, expected)
        if args.window:
            window_main(args, api, namespaces, expected)
            return

        # 1. Status only.
        status_only = initial_run(args, ctl, "status only", expected, with_writes=False)
        ctl.stop()
        # 2. Annotations and Events, for a new policy (no status to continue from).
        delete_policy()
        full = initial_run(args, ctl, "with writes", expected, with_writes=True)

        # 3. Steady state.
        time.sleep(5)
        idle_cpu, idle_started = ctl.cpu_seconds(), time.monotonic()
        time.sleep(20)
        idle_rate = (ctl.cpu_seconds() - idle_cpu) / (time.monotonic() - idle_started)
        latency.start()
        time.sleep(2)  # Both watches open.
        writes_before = {k: writes(ctl, k) for k in ("annotation", "event")}
        cpu_before, churn_started = ctl.cpu_seconds(), time.monotonic()
        events_before = latency.pods.events
        victims = [body_of(i) for i in range(args.churn)]
        deleter = threading.Thread(
            target=delete_pods,
            args=(api, [(ns, p["metadata"]["name"]) for ns, p in victims], args.churn_rate))
        deleter.start()

        def churn_body(i):
            ns = namespaces[i % len(namespaces)]
            return ns, pod_body(i, ns, nodes[i % len(nodes)], prefix="churn")

        seconds, errors = benchlib.post_pods(api, args.churn, 4, churn_body, rate=args.churn_rate)
        deleter.join()
        if errors:
            e2e.fail(f"creating churn pods: {errors}")
        churn_flagged = sum(1 for i in range(args.churn) if kind_of(i)[1])

        def churn_done():
            a = writes(ctl, "annotation") - writes_before["annotation"]
            e = writes(ctl, "event") - writes_before["event"]
            return a >= churn_flagged and e >= churn_flagged, \
                f"{a:.0f} annotations, {e:.0f} Events of {churn_flagged}"

        e2e.wait_for("the churn pods' annotations and Events", churn_done, timeout=300)
        time.sleep(5)  # The deletions' last watch events and the status rebuild.
        cpu = ctl.cpu_seconds() - cpu_before
        elapsed = time.monotonic() - churn_started
        idle = idle_rate * elapsed
        events = latency.pods.events - events_before
        if latency.pods.error or latency.events.error:
            e2e.fail(f"watch failed: {latency.pods.error or latency.events.error}")
        final_status = policy_status().get("podsFlagged")
        annotation_ms = latency.latencies_ms("annotation")
        event_ms = latency.latencies_ms("event")
        raw = os.path.join(args.workdir, f"hygiene-bench-{args.nodes}x{args.pods}.json")
        with open(raw, "w") as f:
            json.dump({"args": vars(args), "status_only": status_only, "with_writes": full,
                       "annotation_ms": annotation_ms, "event_ms": event_ms}, f, indent=1)

        print(f"RESULT nodes={args.nodes} pods={args.pods} namespaces={args.namespaces} "
              f"flagged={expected}")
        for r in (status_only, full):
            line = (f"  {r['label']}: leading after {r['leading_s']:.1f}s; status counts all "
                    f"{expected} flagged pods after {r['status_s']:.1f}s (controller log: initial "
                    f"evaluation {(r['log_s'] or float('nan')):.2f}s)")
            if "writes_s" in r:
                line += f"; all {expected} Events + {expected} annotations written after " \
                        f"{r['writes_s']:.1f}s"
            print(line)
            print(f"    CPU {r['cpu_at_status_s']:.2f}s at the full count, {r['cpu_s']:.2f}s at "
                  f"the end; peak RSS {r['rss_mb']:.1f} MB; namespaces in status "
                  f"{r['namespaces']}")
        print(f"  steady state: {args.churn} pods created and {args.churn} deleted at "
              f"{args.churn_rate:g}/s each in {elapsed:.0f}s; {events} pod watch events")
        print(f"    controller CPU {cpu:.2f}s ({idle:.2f}s of it at the idle rate "
              f"{idle_rate * 1000:.1f} ms/s) = {1000 * (cpu - idle) / max(1, events):.3f} "
              f"CPU-s per 1,000 pod events ({1000 * cpu / max(1, events):.3f} with the idle "
              f"share)")
        print(f"    new flagged pod, ADDED -> its Event (ms): {describe(event_ms)}")
        print(f"    new flagged pod, ADDED -> its annotation (ms): {describe(annotation_ms)}")
        print(f"    podsFlagged at the end: {final_status} (want {expected}: the churn deletes and re-creates the same mix)")
        print(f"  raw data: {raw}")
        sys.stdout.flush()
        if len(annotation_ms) < churn_flagged or len(event_ms) < churn_flagged:
            e2e.fail(f"latency measured for {len(annotation_ms)} annotations and "
                     f"{len(event_ms)} Events of {churn_flagged} flagged churn pods")
    except e2e.TestFailure as e:
        print("FAIL: " + str(e), file=sys.stderr, flush=True)
        print(ctl.tail(40), file=sys.stderr)
        sys.exit(1)
    finally:
        latency.stop()
        if not args.no_cleanup:
            e2e.kubectl("delete", "nhp", POLICY, "--ignore-not-found", "--wait=true",
                        "--timeout=120s", check=False, timeout=200)
        try:
            ctl.stop(check=False)
        except e2e.TestFailure:
            pass
        if not args.no_cleanup:
            e2e.kubectl("delete", "namespace", *namespaces, WRITER_NS, "--ignore-not-found",
                        "--wait=true",
                        "--timeout=900s", check=False, timeout=1000)
            e2e.sim("delete-nodes", "--prefix", NODE_PREFIX)
        api.close()


if __name__ == "__main__":
    main()
