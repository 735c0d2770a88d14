"""Helpers shared by the Python suites that run against the local cluster.

The suites under tests/integration and tests/e2e drive the real `nodeguard`
binary against the CTest fixture's cluster (tests/cluster). This module holds
what each of them needs and would otherwise copy:

  kubectl / get_json / apply / sim   the pinned kubectl and tests/cluster/sim
  wait_for / eventually              polling with a deadline and a failure detail
  Watch                              every version of the selected objects, gap-free
                                     (list + watch resumed from the last resourceVersion)
  Scope                              one scenario's share of the fixture's cluster: its
                                     own nodes, namespace, policies, controller filter
  Controller                         a `nodeguard controller` process with its
                                     own metrics and probe ports and log file
  fetch_metrics / rendered_series /  pieces for a suite's own process wrapper
  log_tail / terminate_process /
  StopOnExit
  suite_arguments                    --nodeguard, --workdir and a subcommand
  lease / Lease helpers              the leader election Lease as the server holds it
  parse_exposition                   a strict parser of the Prometheus text format
  documented_metrics /               the metric tables of a docs/operations.md section,
  check_documented_metrics           and an exposition checked against them
  promtool                           the promtool of tests/integration/manifests
  mark_cluster_test_failed           leaves NODEGUARD_CLUSTER_FIXTURE_DIR/failed, so the
                                     fixture's cleanup prints the component logs' tails;
                                     done automatically when a suite exits non-zero

Environment: KUBECONFIG (set by the fixture); NODEGUARD_SIM, else
tests/cluster/sim; NODEGUARD_CLUSTER_BIN, else the pinned kubectl from
tests/cluster/build-components.sh, else kubectl on PATH.

Standard library only. Import it with

    sys.path.insert(0, os.path.join(<repo>, "tests", "lib"))
    import nodeguard_testlib as ng
"""

import argparse
import atexit
import codecs
import datetime
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CRD = os.path.join(ROOT, "crds", "nodeguard.io_nodehealthpolicies.yaml")
CRD_NAME = "nodehealthpolicies.nodeguard.io"
API_VERSION = "nodeguard.io/v1alpha1"


class TestFailure(Exception):
    """A failed expectation; suites catch it, print it and exit 1."""


# ---------------------------------------------------------------- failure marker


def mark_cluster_test_failed():
    """Leaves NODEGUARD_CLUSTER_FIXTURE_DIR/failed, as tests/cluster/tests/lib.sh
    does for the bash tests: the fixture's cleanup (cluster.down) then prints the
    end of each component log. No-op outside the fixture."""
    fixture = os.environ.get("NODEGUARD_CLUSTER_FIXTURE_DIR")
    if not fixture:
        return
    try:
        with open(os.path.join(fixture, "failed"), "a"):
            pass
    except OSError:
        pass


def _mark_failures_on_exit():
    """Every suite importing this module marks the fixture when it exits
    non-zero (`sys.exit(code)`) or on an uncaught exception."""
    real_exit = sys.exit
    real_hook = sys.excepthook

    def exit_marking(code=None):
        if code not in (None, 0):
            mark_cluster_test_failed()
        real_exit(code)

    def hook_marking(kind, value, tb):
        mark_cluster_test_failed()
        real_hook(kind, value, tb)

    sys.exit = exit_marking
    sys.excepthook = hook_marking


_mark_failures_on_exit()


def fail(message):
    raise TestFailure(message)


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def say(message):
    print(time.strftime("%H:%M:%S ") + message, flush=True)


# ---------------------------------------------------------------- kubectl and sim


def kubectl_path():
    bin_dir = os.environ.get("NODEGUARD_CLUSTER_BIN")
    if not bin_dir:
        script = os.path.join(ROOT, "tests", "cluster", "build-components.sh")
        try:
            out = subprocess.run([script], capture_output=True, text=True, check=True).stdout
            bin_dir = out.strip().splitlines()[-1]
        except (OSError, subprocess.CalledProcessError, IndexError):
            bin_dir = ""
    if bin_dir and os.access(os.path.join(bin_dir, "kubectl"), os.X_OK):
        return os.path.join(bin_dir, "kubectl")
    found = shutil.which("kubectl")
    if not found:
        fail("no kubectl: run tests/cluster/build-components.sh")
    return found


_kubectl = None


def kubectl_binary():
    """The kubectl every helper here runs, found once (kubectl_path)."""
    global _kubectl
    if _kubectl is None:
        _kubectl = kubectl_path()
    return _kubectl


def kubectl(*args, stdin=None, check=True, timeout=120, binary=None, kubeconfig=None):
    """Runs kubectl; fails (TestFailure) on a non-zero exit unless check=False.

    timeout None waits as long as kubectl runs. binary: another kubectl than
    kubectl_binary() (a suite that lets its caller pick one). kubeconfig: passed
    as --kubeconfig instead of relying on $KUBECONFIG."""
    config = ["--kubeconfig", kubeconfig] if kubeconfig is not None else []
    result = subprocess.run([binary or kubectl_binary(), *config, "--request-timeout=30s", *args],
                            input=stdin, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        fail(f"kubectl {' '.join(args)} failed ({result.returncode}):\n"
             f"{result.stdout}{result.stderr}")
    return result


def get_json(*args):
    """`kubectl get ARGS -o json`, decoded."""
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def get_json_or_none(*args):
    """As get_json, but None when the object does not exist."""
    r = kubectl("get", *args, "-o", "json", check=False)
    if r.returncode != 0:
        if "NotFound" in r.stderr or "not found" in r.stderr:
            return None
        fail(f"kubectl get {' '.join(args)} failed:\n{r.stderr}")
    return json.loads(r.stdout)


def apply(obj):
    kubectl("apply", "-f", "-", stdin=json.dumps(obj))


def sim_path():
    return os.environ.get("NODEGUARD_SIM") or os.path.join(ROOT, "tests", "cluster", "sim")


def sim(*args, timeout=180, kubeconfig=None):
    """tests/cluster/sim with these arguments; returns its stdout. timeout None
    waits as long as it runs (large clusters); kubeconfig: its --kubeconfig."""
    config = ["--kubeconfig", kubeconfig] if kubeconfig is not None else []
    result = subprocess.run([sim_path(), *config, *args], capture_output=True, text=True,
                            timeout=timeout)
    if result.returncode != 0:
        fail(f"sim {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def ensure_crd():
    """Installs (or updates) the NodeHealthPolicy CRD and waits until
    Established. Safe when many tests call it at once: server-side apply under
    one field manager (--force-conflicts), so concurrent calls with the same
    file agree and none fails on another's update."""
    kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=nodeguard-tests",
            "-f", CRD)
    wait_crd_established(CRD_NAME)


def wait_crd_established(name, timeout=60):
    """Waits until the CRD's Established condition is True. Not `kubectl wait
    --for=condition=Established`: on a CRD created a moment ago, before the
    API server wrote any status.conditions, that fails at once (".status.conditions
    accessor error: <nil>") instead of waiting (seen on a just-started cluster)."""
    def established():
        crd = get_json_or_none("crd", name) or {}
        conditions = crd.get("status", {}).get("conditions") or []
        return (any(c.get("type") == "Established" and c.get("status") == "True"
                    for c in conditions), conditions)
    wait_for(f"the CRD {name} to be Established", established, timeout, 0.5)


def ensure_namespace(name):
    """Creates the namespace unless it exists; waits out a previous deletion."""
    def exists_active():
        ns = get_json_or_none("namespace", name)
        if ns is None:
            kubectl("create", "namespace", name, check=False)
            return False, "created"
        phase = ns.get("status", {}).get("phase")
        return phase == "Active", f"phase {phase}"
    wait_for(f"namespace {name} to be Active", exists_active, timeout=90, interval=0.5)


# ---------------------------------------------------------------- waiting


def wait_for(what, probe, timeout=90, interval=1.0):
    """Polls probe() until it is satisfied and returns the time it took.

    probe() returns either a bool, or (ok, detail) where detail describes the
    last state and is shown when the deadline passes. A TestFailure raised by
    probe() ends the wait at once."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        got = probe()
        ok, detail = got if isinstance(got, tuple) else (got, "")
        if ok:
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            fail(f"timed out after {timeout}s waiting for {what}" +
                 (f":\n{detail}" if detail else ""))
        time.sleep(interval)


eventually = wait_for


_PORTS_GIVEN = set()


def free_port():
    """A loopback port nothing listens on now, never one this process handed
    out before: the kernel may offer the same free port twice in a row, and
    two servers told the same port fail with 'Address already in use' (seen
    with the 40 ports of 20 agents)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def http_get(url, timeout=5):
    """(status, body) of a GET; status 0 with the error text when unreachable.
    HTTP error statuses are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def parse_time(text):
    """RFC 3339 (seconds or fractional, 'Z' or an offset) -> aware datetime, or None."""
    if not text:
        return None
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    if not m:
        fail(f"not an RFC 3339 time: {text!r}")
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    frac = float(m.group(2)) if m.group(2) else 0.0
    zone = m.group(3)
    tz = datetime.timezone.utc if zone == "Z" else datetime.timezone(
        datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) *
        (1 if zone[0] == "+" else -1))
    return base.replace(tzinfo=tz) + datetime.timedelta(seconds=frac)


def unix_time(text):
    """RFC 3339 -> seconds since the epoch (float), or None."""
    t = parse_time(text)
    return t.timestamp() if t else None


# ---------------------------------------------------------------- watches


# kubectl resource names (as `kubectl get` takes them) -> (API group-version
# path, plural, namespaced). Watch fails on any other name: add it here.
_WATCH_RESOURCES = {}


def _watch_resource(names, prefix, plural, namespaced):
    for name in names:
        _WATCH_RESOURCES[name] = (prefix, plural, namespaced)


_watch_resource(("nodes", "node", "no"), "/api/v1", "nodes", False)
_watch_resource(("namespaces", "namespace", "ns"), "/api/v1", "namespaces", False)
_watch_resource(("pods", "pod", "po"), "/api/v1", "pods", True)
_watch_resource(("events", "event", "ev"), "/api/v1", "events", True)
_watch_resource(("services", "service", "svc"), "/api/v1", "services", True)
_watch_resource(("configmaps", "configmap", "cm"), "/api/v1", "configmaps", True)
_watch_resource(("endpoints", "ep"), "/api/v1", "endpoints", True)
_watch_resource(("serviceaccounts", "serviceaccount", "sa"), "/api/v1", "serviceaccounts", True)
_watch_resource(("leases", "lease"), "/apis/coordination.k8s.io/v1", "leases", True)
_watch_resource(("nodehealthpolicies", "nodehealthpolicy", "nhp", CRD_NAME),
                "/apis/nodeguard.io/v1alpha1", "nodehealthpolicies", False)
_watch_resource(("poddisruptionbudgets", "poddisruptionbudget", "pdb"), "/apis/policy/v1",
                "poddisruptionbudgets", True)
_watch_resource(("deployments", "deployment", "deploy"), "/apis/apps/v1", "deployments", True)
_watch_resource(("replicasets", "replicaset", "rs"), "/apis/apps/v1", "replicasets", True)
_watch_resource(("daemonsets", "daemonset", "ds"), "/apis/apps/v1", "daemonsets", True)
_watch_resource(("statefulsets", "statefulset", "sts"), "/apis/apps/v1", "statefulsets", True)
_watch_resource(("jobs", "job"), "/apis/batch/v1", "jobs", True)
_watch_resource(("customresourcedefinitions", "customresourcedefinition", "crd", "crds"),
                "/apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False)


def watch_request(args):
    """`kubectl get` style arguments -> (collection path, query parameters,
    kubectl options): RESOURCE or RESOURCE/NAME, at most one NAME, -n/--namespace,
    -A/--all-namespaces, -l/--selector, --field-selector, --kubeconfig. A name
    becomes fieldSelector metadata.name=NAME; a namespaced resource without -n
    or -A is watched in "default". Anything else fails (TestFailure)."""
    resource, names, namespace, everywhere = None, [], None, False
    labels, fields, options = [], [], []
    i = 0
    while i < len(args):
        arg = str(args[i])
        flag, eq, inline = arg.partition("=")
        takes_value = flag in ("-n", "--namespace", "-l", "--selector", "--field-selector",
                               "--kubeconfig")
        if takes_value:
            if eq:
                value, i = inline, i + 1
            else:
                check(i + 1 < len(args), f"Watch: {arg} wants a value in {args}")
                value, i = str(args[i + 1]), i + 2
            if flag in ("-n", "--namespace"):
                namespace = value
            elif flag in ("-l", "--selector"):
                labels.append(value)
            elif flag == "--field-selector":
                fields.append(value)
            else:
                options += ["--kubeconfig", value]
            continue
        if arg in ("-A", "--all-namespaces"):
            everywhere = True
        elif arg.startswith("-"):
            fail(f"Watch: unsupported option {arg} in {args}")
        elif resource is None:
            resource, _, name = arg.partition("/")
            if name:
                names.append(name)
        else:
            names.append(arg)
        i += 1
    check(resource, f"Watch: no resource in {args}")
    check(resource.lower() in _WATCH_RESOURCES,
          f"Watch: unknown resource {resource!r} (known: {sorted(_WATCH_RESOURCES)}); "
          "add it to _WATCH_RESOURCES in tests/lib/nodeguard_testlib.py")
    check(len(names) <= 1, f"Watch: at most one object name, got {names}")
    prefix, plural, namespaced = _WATCH_RESOURCES[resource.lower()]
    if namespaced and not everywhere:
        path = f"{prefix}/namespaces/{namespace or 'default'}/{plural}"
    else:
        path = f"{prefix}/{plural}"
    query = {}
    if labels:
        query["labelSelector"] = ",".join(labels)
    fields += [f"metadata.name={n}" for n in names]
    if fields:
        query["fieldSelector"] = ",".join(fields)
    return path, query, options


def _raw_url(path, query):
    return path + ("?" + urllib.parse.urlencode(query) if query else "")


# kubectl's error text for a resourceVersion the server no longer has.
_GONE = re.compile(r"\((Expired|Gone)\)|\b410\b|too old resource version", re.I)
# The watch cache has not caught up with a resourceVersion yet (retry).
_TOO_LARGE = re.compile(r"too large resource version", re.I)
# Errors a retry cannot cure (a wrong path, a selector the server refuses, RBAC).
_FATAL = re.compile(r"\((NotFound|Forbidden|BadRequest|Unauthorized|Invalid|MethodNotAllowed)\)")


class Watch(threading.Thread):
    """Every version of the objects `kubectl get ARGS` selects, in order, each
    handed to on_event(kind, obj, arrived) with its local arrival time
    (time.monotonic()). binary: another kubectl than kubectl_binary().

    Gap-free: it lists first (`kubectl get --raw`, paged) and delivers the
    items as ADDED, then watches from the list's resourceVersion with
    allowWatchBookmarks, and whenever a stream ends (timeoutSeconds
    STREAM_SECONDS, a broken connection) resumes from the last
    resourceVersion seen; bookmarks advance it and are not delivered. So
    on_event sees every version of every object, DELETED included.

    What it cannot fill is recorded: a 410 Gone or any ERROR event (a gap:
    it relists, delivering the current objects as ADDED again, and keeps
    going so the test runs on), and an exception raised by on_event (printed
    too; the next events are still delivered). check() raises TestFailure if
    anything was recorded; stop() stops the watch, then calls check(): a
    test that stops its watches cannot pass over a gap.

    ARGS: see watch_request (RESOURCE[/NAME] [NAME] -n NS | -A, -l SEL,
    --field-selector SEL, --kubeconfig PATH).

    Attributes: first_event (threading.Event: an event was delivered),
    synced (threading.Event: the first list was delivered), events (count
    delivered), restarts (streams resumed), relists, problems (what was
    recorded), stopping (threading.Event)."""

    STREAM_SECONDS = 600  # timeoutSeconds of each watch request
    RETRY_SECONDS = 120   # how long a transient failure (server away) is retried

    def __init__(self, args, on_event, binary=None):
        super().__init__(daemon=True)
        self.args = list(args)
        self.binary = binary
        self.on_event = on_event
        self.path, self.query, self.options = watch_request(self.args)
        self.what = " ".join(str(a) for a in self.args)
        self.stopping = threading.Event()
        self.first_event = threading.Event()
        self.synced = threading.Event()
        self.proc = None
        self.restarts = 0
        self.relists = 0
        self.events = 0
        self.resource_version = None
        self.problems = []
        self._lock = threading.Lock()  # Guards proc and problems.
        self._raised = None

    # --- results

    def _record(self, problem):
        with self._lock:
            self.problems.append(problem)
        print(time.strftime("%H:%M:%S ") + f"watch {self.what}: {problem}", file=sys.stderr,
              flush=True)

    def check(self):
        """Raises TestFailure if a gap or a callback error was recorded. When
        another exception is already leaving (check in a finally block), its
        text is kept in the message instead of being hidden by it."""
        with self._lock:
            problems = list(self.problems)
        if not problems:
            return
        pending = sys.exc_info()[1]
        if pending is not None and pending is self._raised:
            return  # This watch's own failure is already on its way.
        message = f"watch {self.what}: " + "; ".join(problems[:5])
        if len(problems) > 5:
            message += f" (and {len(problems) - 5} more)"
        if pending is not None:
            message += f" [while failing with {type(pending).__name__}: {pending}]"
        self._raised = TestFailure(message)
        raise self._raised

    def stop(self):
        """Stops the watch (idempotent), then check()."""
        self.stopping.set()
        with self._lock:
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.ident is not None:
            self.join(10)
        self.check()

    def wait_synced(self, timeout=60):
        """Until the first list was delivered; fails after timeout."""
        if not self.synced.wait(timeout):
            self.check()
            fail(f"watch {self.what}: no list within {timeout}s")

    # --- the thread

    def _kubectl(self):
        return [self.binary or kubectl_binary(), *self.options, "get", "--raw"]

    def _deliver(self, kind, obj, arrived):
        self.events += 1
        self.first_event.set()
        try:
            self.on_event(kind, obj, arrived)
        except Exception:
            text = traceback.format_exc()
            sys.stderr.write(text)
            self._record(f"on_event raised on a {kind} event: {text.strip().splitlines()[-1]}")

    def _retry(self, failing_since, detail):
        """After a transient failure: sleeps and returns True, or records
        and returns False once it has lasted RETRY_SECONDS."""
        if time.monotonic() - failing_since > self.RETRY_SECONDS:
            self._record(f"gave up after {self.RETRY_SECONDS}s of failures: {detail}")
            return False
        self.stopping.wait(1.0)
        return not self.stopping.is_set()

    def _list(self):
        """Lists (every page), delivers the items as ADDED; returns the
        list's resourceVersion, or None (stopping, or a failure recorded)."""
        failing_since = None
        while not self.stopping.is_set():
            query = dict(self.query, limit="500")
            items, rv, error = [], None, None
            while error is None:
                r = subprocess.run([*self._kubectl(), _raw_url(self.path, query)],
                                   capture_output=True, text=True, timeout=120)
                if r.returncode != 0:
                    error = (r.stderr or r.stdout).strip()[-500:] or f"exit {r.returncode}"
                    break
                try:
                    page = json.loads(r.stdout)
                except ValueError:
                    error = f"undecodable list: {r.stdout[:200]!r}"
                    break
                meta = page.get("metadata") or {}
                rv = rv or meta.get("resourceVersion")
                kind = page.get("kind", "")
                for item in page.get("items") or []:
                    if kind.endswith("List"):
                        item.setdefault("kind", kind[:-4])
                    if page.get("apiVersion"):
                        item.setdefault("apiVersion", page["apiVersion"])
                    items.append(item)
                if not meta.get("continue"):
                    break
                query = dict(self.query, limit="500")
                query["continue"] = meta["continue"]
            if error is None and rv:
                arrived = time.monotonic()
                for item in items:
                    self._deliver("ADDED", item, arrived)
                return rv
            error = error or "a list without metadata.resourceVersion"
            if _FATAL.search(error):
                self._record(f"list failed: {error}")
                return None
            failing_since = failing_since or time.monotonic()
            if not self._retry(failing_since, f"list: {error}"):
                return None
        return None

    def _stream(self, rv):
        """One watch request from rv. Returns (last rv seen, outcome): outcome
        "ended" (resume), "gap" (recorded; relist), "error TEXT" (transient),
        "fatal" (recorded) or "stopped"."""
        query = dict(self.query, watch="1", resourceVersion=rv, allowWatchBookmarks="true",
                     timeoutSeconds=str(self.STREAM_SECONDS))
        with self._lock:
            if self.stopping.is_set():
                return rv, "stopped"
            stderr = tempfile.TemporaryFile()  # Read after kubectl exits.
            self.proc = subprocess.Popen([*self._kubectl(), _raw_url(self.path, query)],
                                         stdout=subprocess.PIPE, stderr=stderr)
            proc = self.proc
        decoder = json.JSONDecoder()
        utf8 = codecs.getincrementaldecoder("utf-8")()
        buffer = ""
        outcome = None
        try:
            while outcome is None:
                chunk = proc.stdout.read1(1 << 20)
                if not chunk:
                    break
                arrived = time.monotonic()
                buffer += utf8.decode(chunk)
                while outcome is None:
                    stripped = buffer.lstrip()
                    try:
                        event, end = decoder.raw_decode(stripped)
                    except ValueError:
                        buffer = stripped
                        break
                    buffer = stripped[end:]
                    kind = event.get("type", "") if isinstance(event, dict) else ""
                    obj = event.get("object") if isinstance(event, dict) else None
                    if not isinstance(obj, dict) or not kind:
                        self._record(f"not a watch event from rv {rv}: {str(event)[:300]}")
                        outcome = "gap"
                        break
                    if kind == "ERROR" and _TOO_LARGE.search(str(obj.get("message"))):
                        # The server is behind the list, not past us: nothing missed.
                        outcome = f"error {obj.get('message')}"
                        break
                    if kind == "ERROR":
                        self._record(f"ERROR event watching from rv {rv} (a gap it cannot "
                                     f"fill): {obj.get('code')} {obj.get('reason')} "
                                     f"{obj.get('message')}")
                        outcome = "gap"
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if kind != "BOOKMARK":
                        self._deliver(kind, obj, arrived)
        finally:
            if proc.poll() is None and outcome is not None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            stderr.seek(0)
            err = stderr.read().decode(errors="replace").strip()[-500:]
            stderr.close()
        if self.stopping.is_set():
            return rv, "stopped"
        if outcome:
            return rv, outcome
        if buffer.strip():
            err = f"{err} (and a partial event at the end: {buffer.strip()[:200]!r})"
        if proc.returncode == 0 and not buffer.strip():
            return rv, "ended"
        if _GONE.search(err) and not _TOO_LARGE.search(err):
            self._record(f"watching from rv {rv} failed, the server no longer has it (a gap "
                         f"it cannot fill): {err}")
            return rv, "gap"
        if _FATAL.search(err):
            self._record(f"watch request failed: {err}")
            return rv, "fatal"
        return rv, f"error exit {proc.returncode}: {err}"

    def run(self):
        try:
            rv = None
            failing_since = None
            while not self.stopping.is_set():
                if rv is None:
                    rv = self._list()
                    if rv is None:
                        return
                    self.synced.set()
                before = rv
                rv, outcome = self._stream(rv)
                self.resource_version = rv
                if rv != before:
                    failing_since = None  # It made progress.
                if outcome == "ended":
                    self.restarts += 1
                    failing_since = None
                elif outcome == "gap":
                    self.relists += 1
                    rv = None
                elif outcome in ("fatal", "stopped"):
                    return
                else:
                    self.restarts += 1
                    failing_since = failing_since or time.monotonic()
                    if not self._retry(failing_since, outcome):
                        return
        except Exception:
            text = traceback.format_exc()
            sys.stderr.write(text)
            self._record(f"the watch broke: {text.strip().splitlines()[-1]}")


# ---------------------------------------------------------------- scopes


WATCH_FILTER_LABEL = "nodeguard.io/watch-filter"
SCOPE_LEASE_NAMESPACE = "nodeguard-system"  # Where the controller's Lease goes by default.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class Scope:
    """One scenario's share of the fixture's cluster, so scenarios can run at
    the same time on it (docs/testing.md, "Concurrent scenarios"):

        with ng.Scope("rem-storm", nodes=6) as scope:
            controller args += scope.controller_args()
            ng.apply(scope.policy("rem-storm", spec))
            pods: spec |= scope.pod_placement(), in scope.namespace

    name: a DNS label of at most 40 characters, unique per test (it names the
    nodes, the namespace, the label value and the controller's Lease).
    On entry: what a killed run of the same scope left behind is removed
    first; then the namespace `name` is created and `nodes` simulated nodes
    NAME-01.. (`sim create-nodes N --prefix NAME- --label
    nodeguard.io/watch-filter=NAME` plus create_args) are created and Ready.

    On exit (also when the block fails): the policies labelled with the
    scope are deleted (their finalizers stripped unless a controller releases
    them: up to 30 s while the scope's Lease is held, else after 3 s), then
    the namespace (--wait=false), the nodes are healed (sim heal) and deleted,
    and the scope's leader election Lease. Nothing outside the scope is
    touched. A cleanup failure fails the test, unless another failure is
    already leaving the block (then it is printed).

    Attributes: name, nodes (names), labels, selector ("KEY=NAME"), namespace."""

    FINALIZER_WAIT = 30       # seconds a live controller gets to release its policies
    FINALIZER_GRACE = 3       # ... and a scope without a live controller
    CREATE_TIMEOUT = 180

    def __init__(self, name, nodes=0, create_args=()):
        check(isinstance(name, str) and len(name) <= 40 and _DNS_LABEL.match(name),
              f"Scope name {name!r}: a DNS label (a-z, 0-9, '-') of at most 40 characters")
        self.name = name
        self.count = int(nodes)
        self.create_args = [str(a) for a in create_args]
        width = 3 if self.count > 99 else 2
        self.nodes = [f"{name}-{i:0{width}d}" for i in range(1, self.count + 1)]
        self.labels = {WATCH_FILTER_LABEL: name}
        self.selector = f"{WATCH_FILTER_LABEL}={name}"
        self.namespace = name
        self.lease_name = f"nodeguard-{name}"

    # --- what a scenario uses

    def controller_args(self):
        """`nodeguard controller` flags: only this scope's nodes and policies,
        and a Lease of its own (in the default --leader-election-namespace)."""
        return ["--watch-filter", self.name, "--leader-election-id", self.lease_name]

    def policy(self, name, spec, labels=None):
        """A NodeHealthPolicy named `name` (cluster-scoped: the caller keeps it
        unique, e.g. by starting it with the scope's name), labelled with the
        scope (plus `labels`); spec.nodeSelector defaults to the scope's nodes."""
        spec = json.loads(json.dumps(spec or {}))
        spec.setdefault("nodeSelector", {"matchLabels": dict(self.labels)})
        return {"apiVersion": API_VERSION, "kind": "NodeHealthPolicy",
                "metadata": {"name": name, "labels": {**(labels or {}), **self.labels}},
                "spec": spec}

    def pod_placement(self):
        """Merge into a pod spec (or a template's): pods land only on the
        scope's nodes."""
        return {"nodeSelector": dict(self.labels)}

    # --- life cycle

    def __enter__(self):
        start = time.monotonic()
        try:
            if self._leftovers():
                say(f"scope {self.name}: removing what an earlier run left behind")
                self.cleanup()
            ensure_namespace(self.namespace)
            if self.count:
                sim("create-nodes", str(self.count), "--prefix", f"{self.name}-",
                    "--label", self.selector, *self.create_args,
                    "--timeout", str(self.CREATE_TIMEOUT), timeout=self.CREATE_TIMEOUT + 60)
                labelled = self._node_names()
                missing = [n for n in self.nodes if n not in labelled]
                check(not missing, f"scope {self.name}: nodes without {self.selector}: {missing}")
        except BaseException:
            try:
                self.cleanup()
            except Exception as e:
                say(f"scope {self.name}: cleanup after a failed start: {e}")
            raise
        say(f"scope {self.name}: namespace {self.namespace}, {self.count} node(s) "
            f"({time.monotonic() - start:.1f}s)")
        return self

    def __exit__(self, kind, value, tb):
        try:
            self.cleanup()
        except Exception as e:
            if kind is None:
                raise
            say(f"scope {self.name}: cleanup failed too: {e}")
        return False

    def _node_names(self):
        out = kubectl("get", "nodes", "-l", self.selector, "-o",
                      "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}").stdout
        return [n for n in out.split() if n]

    def _policy_names(self):
        r = kubectl("get", "nhp", "-l", self.selector, "-o",
                    "jsonpath={range .items[*]}{.metadata.name}{\"\\n\"}{end}", check=False)
        if r.returncode != 0:
            if "doesn't have a resource type" in r.stderr:
                return []  # No CRD, so no policy.
            fail(f"listing the policies of scope {self.name}:\n{r.stderr}")
        return [n for n in r.stdout.split() if n]

    def _leftovers(self):
        ns = get_json_or_none("namespace", self.namespace)
        return bool(self._node_names() or self._policy_names() or ns)

    def _controller_alive(self):
        """Whether the scope's Lease is held and was renewed within its duration."""
        spec = lease(SCOPE_LEASE_NAMESPACE, self.lease_name)
        renewed = unix_time(spec.get("renewTime"))
        if not spec.get("holderIdentity") or renewed is None:
            return False
        return time.time() - renewed <= spec.get("leaseDurationSeconds", 15) + 2

    def cleanup(self):
        start = time.monotonic()
        policies = self._policy_names()
        if policies:
            kubectl("delete", "nhp", *policies, "--ignore-not-found", "--wait=false")
            deadline = time.monotonic() + self.FINALIZER_WAIT
            grace = time.monotonic() + self.FINALIZER_GRACE
            while True:
                left = self._policy_names()
                now = time.monotonic()
                if not left or now >= deadline or (now >= grace and not self._controller_alive()):
                    break
                time.sleep(0.5)
            if left:
                say(f"scope {self.name}: no controller released {left}: stripping finalizers")
                for name in left:
                    kubectl("patch", "nhp", name, "--type=merge",
                            "-p", '{"metadata":{"finalizers":null}}', check=False)
                wait_for(f"the policies of scope {self.name} to be gone",
                         lambda: (not self._policy_names(), str(self._policy_names())),
                         timeout=30, interval=0.5)
        kubectl("delete", "namespace", self.namespace, "--ignore-not-found", "--wait=false")
        items = get_json("nodes", "-l", self.selector).get("items", [])
        nodes = [n["metadata"]["name"] for n in items]
        # Frozen, silent or rebooting ones are healed first (the sim-player
        # lets go of them, their pods are finalized); healthy ones need not be.
        unhealthy = [n["metadata"]["name"] for n in items
                     if (n["metadata"].get("annotations") or {}).get("nodeguard.io/sim-state",
                                                                     "healthy") != "healthy"
                     or {"nodeguard.io/sim-silent", "nodeguard.io/sim-player"}
                     & set(n["metadata"].get("labels") or {})]
        if unhealthy:
            try:
                sim("heal", *unhealthy, "--timeout", "60", timeout=120)
            except TestFailure as e:
                say(f"scope {self.name}: heal before deleting the nodes: {e}")
        if nodes:
            sim("delete-nodes", *nodes)
            wait_for(f"the nodes of scope {self.name} to be gone",
                     lambda: (not self._node_names(), str(self._node_names())),
                     timeout=60, interval=0.5)
        kubectl("delete", "lease", "-n", SCOPE_LEASE_NAMESPACE, self.lease_name,
                "--ignore-not-found", check=False)
        say(f"scope {self.name}: cleaned up ({len(policies)} policies, {len(nodes)} nodes, "
            f"namespace) in {time.monotonic() - start:.1f}s")


def fetch_metrics(port, timeout=5):
    """The /metrics text of 127.0.0.1:port; raises (URLError, OSError) when unreachable."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        return r.read().decode()


def rendered_series(text, name, labels):
    """Value of the sample written exactly as name{k="v",...} (labels in the
    order given, none: bare name) in exposition text, or None. Looser than
    parse_exposition, for suites that only read a few series."""
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                   if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def log_tail(path, lines=60):
    """The last lines of a log file ("" when it cannot be read)."""
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def terminate_process(proc, timeout=30):
    """SIGTERM unless it already ended; SIGKILL if it outlives `timeout`.
    Returns (exit code, whether it had to be killed)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(), True


class StopOnExit:
    """Mixin for a process wrapper with start() and stop(check): `with` starts
    it and stops it at the end, checking how it stopped unless an exception is
    already leaving the block (which a second failure would hide)."""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, kind, value, tb):
        self.stop(check=kind is None)


# ---------------------------------------------------------------- the Lease


def lease(namespace, name):
    """The Lease's spec as the server holds it ({} when it does not exist)."""
    obj = get_json_or_none("lease", "-n", namespace, name)
    return (obj or {}).get("spec", {}) if obj else {}


def lease_holder(namespace, name):
    return lease(namespace, name).get("holderIdentity", "")


def delete_lease(namespace, name):
    kubectl("delete", "lease", "-n", namespace, name, "--ignore-not-found", check=False)


# ---------------------------------------------------------------- the controller


_live_processes = []


def _kill_leftovers():
    for proc in list(_live_processes):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_leftovers)


def exit_on_sigterm():
    """Turns SIGTERM (CTest's timeout) into SystemExit, so `finally` blocks and
    the atexit hook stop every process this suite started."""
    def handler(signum, frame):
        mark_cluster_test_failed()
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, handler)


class SimulatedAgents:
    """`nodeguard agent --simulate` on each node (against $KUBECONFIG), its
    actions carried out by tests/integration/agent/sim-action (sim reboot /
    sim heal), which appends "ACTION NODE" to a calls file before acting: the
    record of what ran, and how often (the exactly-once evidence). Each agent
    gets two fresh loopback ports and logs to WORKDIR/agent-NODE.log.

    A subclass changes what the actions do through command_template()."""

    SIM_ACTION = os.path.join(ROOT, "tests", "integration", "agent", "sim-action")

    def __init__(self, binary, nodes, workdir, reboot_delay, extra_args=None):
        self.binary = binary
        self.nodes = list(nodes)
        # node -> more `nodeguard agent` flags (e.g. --early-warning and its
        # kubelet URL), or None.
        self.extra_args = extra_args
        self.workdir = workdir
        self.reboot_delay = reboot_delay
        self.calls = os.path.join(workdir, "agent-calls")
        self.procs = {}  # node -> (process, probe port, log file)
        self.metrics_ports = {}
        self.errors = []
        open(self.calls, "w").close()  # Nothing ran yet, even before start().

    def command_template(self):
        """The agents' --simulate-command ({action} and {node} filled in by the agent)."""
        return (f"{self.SIM_ACTION} --kubeconfig {os.environ['KUBECONFIG']} --calls {self.calls} "
                f"--reboot-delay {self.reboot_delay} {{action}} {{node}}")

    def launch(self, n, template):
        probe, metrics = free_port(), free_port()
        log_file = open(os.path.join(self.workdir, f"agent-{n}.log"), "a")
        proc = subprocess.Popen(
            [self.binary, "agent", "--node-name", n, "--kubeconfig", os.environ["KUBECONFIG"],
             "--simulate", "--simulate-command", template, "--recheck-interval", "2s",
             "--metrics-bind-address", f"127.0.0.1:{metrics}",
             "--health-probe-bind-address", f"127.0.0.1:{probe}",
             *(self.extra_args(n) if self.extra_args else [])],
            stdout=log_file, stderr=subprocess.STDOUT)
        _live_processes.append(proc)
        self.procs[n] = (proc, probe, log_file)
        self.metrics_ports[n] = metrics

    def start(self):
        """Starts every agent and waits until each is ready; stops them all if
        one cannot start (a stray agent would act on later tests' nodes)."""
        template = self.command_template()
        for n in self.nodes:
            self.launch(n, template)
        try:
            for n in self.nodes:
                self._wait_ready(n, template)
        except BaseException:
            self.stop()
            raise
        say(f"{len(self.nodes)} nodeguard agents ready (--simulate)")

    def _wait_ready(self, n, template):
        relaunches = 0

        def ready():
            nonlocal relaunches
            proc, probe, log_file = self.procs[n]
            if proc.poll() is not None:
                log_file.close()
                with open(log_file.name) as f:
                    taken = "Address already in use" in f.read()
                # A port free when chosen can be taken before the agent binds
                # it (by any process's outgoing connection, which draws from
                # the same range): choose again, a few times.
                if taken and relaunches < 3:
                    relaunches += 1
                    say(f"the agent of {n}: port taken, relaunching ({relaunches})")
                    self.launch(n, template)
                    return False
                fail(f"the agent of {n} exited with {proc.returncode}:\n"
                     + log_tail(log_file.name, 20))
            code, _ = http_get(f"http://127.0.0.1:{probe}/readyz", timeout=2)
            return code == 200
        wait_for(f"the agent of {n} to be ready", ready, 60, 0.3)

    def stop(self):
        for proc, _, _ in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _, log_file in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            log_file.close()
        self.procs = {}

    @property
    def executed(self):
        """(ACTION, NODE) of every action the agents ran, in order."""
        with open(self.calls) as f:
            return [tuple(line.split()) for line in f if line.strip()]

    def runs_on(self, name):
        """The actions run on node `name`, in order."""
        return [a for a, on in self.executed if on == name]

    def metrics(self, name):
        """The /metrics text of the agent of node `name`."""
        return fetch_metrics(self.metrics_ports[name])

    def tail(self, name, lines=30):
        return log_tail(os.path.join(self.workdir, f"agent-{name}.log"), lines)


class Controller:
    """A `nodeguard controller` process against $KUBECONFIG, on free loopback
    ports for /metrics and the probes, logging to WORKDIR/controller-NAME-N.log.

    identity None: --leader-elect=false. Otherwise it competes for the Lease
    lease=(namespace, name) under that identity. kubeconfig: another one than
    $KUBECONFIG (e.g. a service account's token). start() returns at once;
    wait_ready() and wait_leading() wait for /readyz and nodeguard_leader."""

    def __init__(self, binary, workdir, name, identity=None, lease=None, extra_args=(),
                 env=None, kubeconfig=None):
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.workdir = workdir
        self.name = name
        self.identity = identity
        self.lease = lease
        self.extra_args = list(extra_args)
        self.env = dict(env or {})  # Added to this process's environment.
        self.proc = None
        self.starts = 0
        self.log_path = None
        self.returncode = None

    # --- life cycle

    def start(self):
        check(self.proc is None or self.proc.poll() is not None, f"{self.name} already runs")
        self.starts += 1
        self.returncode = None
        self.metrics_port, self.probe_port = free_port(), free_port()
        os.makedirs(self.workdir, exist_ok=True)
        self.log_path = os.path.join(self.workdir, f"controller-{self.name}-{self.starts}.log")
        self._log = open(self.log_path, "w")
        if self.identity:
            namespace, lease_name = self.lease
            election = ["--leader-elect=true", "--identity", self.identity,
                        "--leader-election-namespace", namespace,
                        "--leader-election-id", lease_name]
        else:
            election = ["--leader-elect=false"]
        self.proc = subprocess.Popen(
            [self.binary, "controller", "--kubeconfig", self.kubeconfig or os.environ["KUBECONFIG"],
             *election,
             "--metrics-bind-address", f"127.0.0.1:{self.metrics_port}",
             "--health-probe-bind-address", f"127.0.0.1:{self.probe_port}", *self.extra_args],
            stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, **self.env} if self.env else None)
        _live_processes.append(self.proc)
        say(f"controller {self.name} started (pid {self.proc.pid}, metrics :{self.metrics_port}, "
            f"probes :{self.probe_port}, log {self.log_path})")
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _reap(self):
        self.returncode = self.proc.returncode
        self._log.close()
        if self.proc in _live_processes:
            _live_processes.remove(self.proc)

    def _check_alive(self):
        if self.proc.poll() is not None:
            fail(f"controller {self.name} exited with {self.proc.returncode}:\n{self.tail()}")

    def wait_ready(self, timeout=60):
        """Until /readyz answers 200 (caches synced); returns the seconds it took."""
        def ready():
            self._check_alive()
            code, body = self.probe("/readyz")
            return code == 200, f"/readyz {code}: {body[:300]}"
        return wait_for(f"{self.name} to be ready", ready, timeout, 0.2)

    def wait_leading(self, timeout=60):
        """Until nodeguard_leader is 1 (reconcilers started); returns the seconds."""
        def leading():
            self._check_alive()
            return self.leader_gauge() == 1, f"nodeguard_leader {self.leader_gauge()}"
        return wait_for(f"{self.name} to lead", leading, timeout, 0.1)

    def terminate(self, timeout=30):
        """SIGTERM; waits for the exit. Returns (exit code, seconds to exit).
        Kills the process and fails when it outlives the timeout."""
        check(self.running(), f"controller {self.name} is not running")
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._reap()
            fail(f"controller {self.name} still ran {timeout}s after SIGTERM:\n{self.tail()}")
        elapsed = time.monotonic() - start
        self._reap()
        say(f"controller {self.name} exited with {code} {elapsed:.2f}s after SIGTERM")
        return code, elapsed

    def kill(self):
        """SIGKILL: dies at once, without releasing anything."""
        check(self.running(), f"controller {self.name} is not running")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._reap()
        say(f"controller {self.name} killed (SIGKILL)")

    def stop(self, timeout=30):
        """SIGTERM for cleanup, SIGKILL after `timeout`; never fails. Returns
        None if it was not running, else a description of how it ended that
        is "" for a clean exit (code 0 in time)."""
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None and self.proc in _live_processes:
                self._reap()
            return None
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        problem = ""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            problem = f"still ran {timeout}s after SIGTERM (killed)"
        self._reap()
        if not problem and self.returncode != 0:
            problem = f"exited with {self.returncode} after SIGTERM"
        say(f"controller {self.name} stopped after {time.monotonic() - start:.2f}s"
            + (f": {problem}" if problem else ""))
        return problem

    def tail(self, lines=60):
        return log_tail(self.log_path, lines) if self.log_path else ""

    # --- endpoints

    def probe(self, path):
        """(status, body) of /healthz or /readyz."""
        return http_get(f"http://127.0.0.1:{self.probe_port}{path}", timeout=3)

    def metrics_text(self):
        code, body = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics")
        check(code == 200, f"{self.name} /metrics answered {code}: {body[:300]}")
        return body

    def series(self, name, labels=None):
        """Value of the sample with exactly these labels, or None."""
        code, body = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=3)
        if code != 200:
            return None
        for s in parse_exposition(body).samples:
            if s.name == name and s.labels == (labels or {}):
                return s.value
        return None

    def sum_series(self, name):
        """Sum over every sample of a metric (0 when absent)."""
        code, body = http_get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=3)
        if code != 200:
            return 0.0
        return sum(s.value for s in parse_exposition(body).samples if s.name == name)

    def leader_gauge(self):
        return self.series("nodeguard_leader")


# ---------------------------------------------------------------- Prometheus text format


class ExpositionError(Exception):
    pass


class Sample:
    __slots__ = ("name", "labels", "value", "line")

    def __init__(self, name, labels, value, line):
        self.name, self.labels, self.value, self.line = name, labels, value, line

    def __repr__(self):
        return f"Sample({self.name}, {self.labels}, {self.value})"


class Exposition:
    def __init__(self):
        self.types = {}  # family -> counter|gauge|histogram|summary|untyped
        self.helps = {}  # family -> help text
        self.samples = []  # Sample, in order

    def family_of(self, sample_name):
        """The family a sample belongs to (histogram/summary suffixes stripped)."""
        if sample_name in self.types:
            return sample_name
        for suffix in ("_bucket", "_sum", "_count"):
            base = sample_name[: -len(suffix)] if sample_name.endswith(suffix) else None
            if base and self.types.get(base) in ("histogram", "summary"):
                return base
        return sample_name


_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_VALUE = r"(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?Inf|NaN)"
_SAMPLE_RE = re.compile(
    rf"^({_NAME})(?:\{{((?:{_LABEL_NAME}={_LABEL_VALUE}(?:,{_LABEL_NAME}={_LABEL_VALUE})*,?)?)\}})?"
    rf" ({_VALUE})(?: (-?\d+))?$")
_LABEL_RE = re.compile(rf"({_LABEL_NAME})=({_LABEL_VALUE})")
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _unescape(quoted):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), quoted[1:-1])


def _number(text):
    return float(text.replace("Inf", "inf").replace("NaN", "nan"))


def parse_exposition(text):
    """Parses the Prometheus text exposition format 0.0.4, strictly: every line
    must be a HELP, TYPE or other comment, or a sample matching the grammar;
    HELP/TYPE at most once per family and before its samples; a family's
    samples contiguous; no duplicate series; histograms with increasing `le`,
    cumulative non-decreasing buckets, a +Inf bucket equal to _count, and _sum.
    Raises ExpositionError naming the line."""
    out = Exposition()
    if text and not text.endswith("\n"):
        raise ExpositionError("the exposition does not end with a newline")
    seen_series = set()
    finished = set()  # Families whose samples ended (another family started).
    current = None
    histograms = {}  # (family, labels without le) -> {"buckets": [(le, v)], "count", "sum"}
    for number, line in enumerate(text.split("\n")[:-1] if text else [], start=1):
        where = f"line {number}: {line!r}"
        if line == "":
            raise ExpositionError(f"{where}: empty line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0] == "#" and parts[1] in ("HELP", "TYPE"):
                name = parts[2]
                if not re.fullmatch(_NAME, name):
                    raise ExpositionError(f"{where}: bad metric name")
                if name in finished or any(out.family_of(s.name) == name for s in out.samples):
                    raise ExpositionError(f"{where}: {parts[1]} after the family's samples")
                if parts[1] == "HELP":
                    if name in out.helps:
                        raise ExpositionError(f"{where}: second HELP")
                    help_text = parts[3] if len(parts) > 3 else ""
                    if re.search(r"\\[^\\n]", help_text.replace("\\\\", "")):
                        raise ExpositionError(f"{where}: bad escape in HELP")
                    out.helps[name] = help_text
                else:
                    if name in out.types:
                        raise ExpositionError(f"{where}: second TYPE")
                    if len(parts) != 4 or parts[3] not in _TYPES:
                        raise ExpositionError(f"{where}: bad TYPE")
                    out.types[name] = parts[3]
                if current is not None and current != name:
                    finished.add(current)
                current = name
            continue  # Other comments are allowed.
        m = _SAMPLE_RE.match(line)
        if not m:
            raise ExpositionError(f"{where}: not a sample line")
        name, label_text, value_text = m.group(1), m.group(2) or "", m.group(3)
        labels = {}
        for lm in _LABEL_RE.finditer(label_text):
            if lm.group(1) in labels:
                raise ExpositionError(f"{where}: label {lm.group(1)} twice")
            labels[lm.group(1)] = _unescape(lm.group(2))
        family = out.family_of(name)
        if family in finished:
            raise ExpositionError(f"{where}: samples of {family} are not contiguous")
        if current is not None and current != family:
            finished.add(current)
        current = family
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise ExpositionError(f"{where}: duplicate series")
        seen_series.add(key)
        value = _number(value_text)
        kind = out.types.get(family, "untyped")
        if kind == "counter" and not (value >= 0):
            raise ExpositionError(f"{where}: a counter must be >= 0")
        if kind == "histogram":
            if name == family:
                raise ExpositionError(f"{where}: histogram sample without _bucket/_sum/_count")
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            h = histograms.setdefault((family, rest), {"buckets": [], "count": None, "sum": None})
            if name.endswith("_bucket"):
                if "le" not in labels:
                    raise ExpositionError(f"{where}: bucket without le")
                h["buckets"].append((_number(labels["le"]), value, where))
            elif name.endswith("_count"):
                h["count"] = value
            else:
                h["sum"] = value
        out.samples.append(Sample(name, labels, value, line))
    for (family, rest), h in histograms.items():
        what = f"histogram {family}{dict(rest)}"
        les = [b[0] for b in h["buckets"]]
        if not les or les[-1] != math.inf:
            raise ExpositionError(f"{what}: no +Inf bucket")
        if les != sorted(les) or len(set(les)) != len(les):
            raise ExpositionError(f"{what}: le not strictly increasing")
        counts = [b[1] for b in h["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise ExpositionError(f"{what}: buckets not cumulative")
        if h["count"] is None or h["sum"] is None:
            raise ExpositionError(f"{what}: missing _count or _sum")
        if h["count"] != counts[-1]:
            raise ExpositionError(f"{what}: _count {h['count']} != +Inf bucket {counts[-1]}")
    return out


def documented_metrics(heading, path=None):
    """{name: (type, {labels})} from every table with `metric | type` columns in
    the section `## heading` of docs/operations.md (or `path`), up to the next
    `## ` heading. A `labels` cell lists the label names in backquotes ("none":
    no labels)."""
    with open(path or os.path.join(ROOT, "docs", "operations.md")) as f:
        text = f.read()
    section = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    check(section, f"{path or 'docs/operations.md'} has no '## {heading}' section")
    out = {}
    columns = None
    for line in section.group(1).splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if columns is None:
            columns = [c.lower() for c in cells]
            continue
        if set(cells[0]) <= set("-: ") or columns[:2] != ["metric", "type"]:
            continue
        name = re.fullmatch(r"`([a-zA-Z_:][a-zA-Z0-9_:]*)`", cells[0])
        check(name, f"'## {heading}': metric cell {cells[0]!r}")
        labels = set()
        if "labels" in columns:
            labels = set(re.findall(r"`([a-zA-Z_][a-zA-Z0-9_]*)", cells[columns.index("labels")]))
        out[name.group(1)] = (cells[1], labels)
    check(out, f"'## {heading}': no metrics table found")
    return out


def check_documented_metrics(who, text, heading):
    """Parses the exposition strictly and checks that every metric documented
    in the section `## heading` is exported with the documented type and
    exactly the documented labels (`le` aside). Fails listing every mismatch;
    returns the parsed exposition."""
    parsed = parse_exposition(text)
    problems = []
    for name, (kind, labels) in documented_metrics(heading).items():
        if parsed.types.get(name) != kind:
            problems.append(f"{name}: documented as {kind}, exported as "
                            f"{parsed.types.get(name, 'nothing')}")
            continue
        samples = [s for s in parsed.samples if parsed.family_of(s.name) == name]
        if not samples:
            problems.append(f"{name}: no sample")
        for s in samples:
            if set(s.labels) - {"le"} != labels:
                problems.append(f"{name}: documented labels {sorted(labels)}, sample {s.line}")
                break
    check(not problems, f"{who}: /metrics against '## {heading}' of docs/operations.md:\n"
          + "\n".join(problems))
    return parsed


def promtool_path(mode=None):
    """promtool from tests/integration/manifests/get-promtool.sh; a missing
    one fails the test (TestFailure): `make test` builds it first.

    mode (default $NODEGUARD_PROMTOOL, else "cached"): "cached" uses the one
    get-promtool.sh built before; "build" builds it now if missing (minutes
    the first time); anything else is a path."""
    mode = mode or os.environ.get("NODEGUARD_PROMTOOL", "cached")
    path = mode
    if mode in ("cached", "build"):
        script = os.path.join(ROOT, "tests", "integration", "manifests", "get-promtool.sh")
        args = [script] + (["--cached"] if mode == "cached" else [])
        r = subprocess.run(args, capture_output=True, text=True)
        lines = r.stdout.strip().splitlines()
        path = lines[-1] if r.returncode == 0 and lines else ""
    check(path and os.access(path, os.X_OK),
          f"no promtool (NODEGUARD_PROMTOOL={mode}): build it with 'make promtool' "
          "(tests/integration/manifests/get-promtool.sh)")
    return path


def promtool_check_metrics(promtool, text):
    """`promtool check metrics` on the exposition: (parse_ok, lint findings,
    raw output). promtool exits 1 when it cannot parse, 3 with lint findings
    (one per stdout line: '<metric> <problem>')."""
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    findings = [line.strip() for line in r.stdout.splitlines() if line.strip()]
    parse_ok = r.returncode in (0, 3) and "error while linting" not in r.stderr
    return parse_ok, findings, r.stdout + r.stderr


# ---------------------------------------------------------------- suite driver


def suite_arguments(doc, commands, dest="command"):
    """The command line of a suite run as `SUITE --nodeguard PATH --workdir DIR
    COMMAND` (COMMAND one of `commands`, stored as `dest`), parsed."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodeguard", required=True, help="the nodeguard binary")
    parser.add_argument("--workdir", required=True, help="where controller logs go")
    parser.add_argument(dest, choices=commands)
    return parser.parse_args()


def run_subcommand(scenarios, name, *args):
    """Runs scenarios[name](*args); prints PASS or the failure; returns an exit code."""
    exit_on_sigterm()
    if name not in scenarios:
        print(f"unknown subcommand {name}; one of {sorted(scenarios)}", flush=True)
        return 2
    try:
        scenarios[name](*args)
    except TestFailure as e:
        print(f"FAIL {name}: {e}", flush=True)
        return 1
    except Exception:
        traceback.print_exc()
        print(f"FAIL {name}: unexpected error", flush=True)
        return 1
    finally:
        _kill_leftovers()
    print(f"PASS {name}", flush=True)
    return 0
