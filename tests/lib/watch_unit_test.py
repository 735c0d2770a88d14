#!/usr/bin/env python3
"""Unit test (no cluster) of nodeguard_testlib.Watch and watch_request.

A fake kubectl (this file run as `fake-kubectl`, through the Watch's
`binary` argument) plays the API server from a script of responses: each
`kubectl get --raw URL` call takes the next step, logs the URL and prints
the step's output, or fails as the step says. The tests check what on_event
saw, which URLs the Watch asked for (resuming from the last resourceVersion,
bookmarks included), and that a 410 or a callback exception fails stop().
"""

import json
import os
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nodeguard_testlib as ng  # noqa: E402

HERE = os.path.abspath(__file__)


def node(name, rv, **labels):
    return {"metadata": {"name": name, "resourceVersion": str(rv), "uid": f"uid-{name}",
                         "labels": labels}}


def event(kind, obj):
    return json.dumps({"type": kind, "object": obj}) + "\n"


def node_list(items, rv, cont=None):
    meta = {"resourceVersion": str(rv)}
    if cont:
        meta["continue"] = cont
    return json.dumps({"kind": "NodeList", "apiVersion": "v1", "metadata": meta,
                       "items": items})


# ---------------------------------------------------------------- the fake kubectl


def fake_kubectl(argv):
    """`fake-kubectl [--kubeconfig P] get --raw URL`: the next step of
    $FAKE_KUBECTL_DIR/steps.json. A step: {"out": [chunks], "sleep": s between
    chunks, "exit": code, "err": stderr text, "hang": s after the output}."""
    d = os.environ["FAKE_KUBECTL_DIR"]
    assert argv[-2] == "--raw" and argv[-3] == "get", argv
    with open(os.path.join(d, "lock"), "a+") as lock:
        import fcntl
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(os.path.join(d, "steps.json")) as f:
            steps = json.load(f)
        counter = os.path.join(d, "counter")
        n = int(open(counter).read()) if os.path.exists(counter) else 0
        with open(counter, "w") as f:
            f.write(str(n + 1))
        with open(os.path.join(d, "calls"), "a") as f:
            f.write(json.dumps(argv[1:]) + "\n")
    step = steps[n] if n < len(steps) else {"hang": 60}
    for chunk in step.get("out", []):
        sys.stdout.write(chunk)
        sys.stdout.flush()
        time.sleep(step.get("sleep", 0))
    if step.get("err"):
        sys.stderr.write(step["err"] + "\n")
    time.sleep(step.get("hang", 0))
    return step.get("exit", 0)


# ---------------------------------------------------------------- tests


class FakeServer:
    def __init__(self, steps):
        self.dir = tempfile.mkdtemp(prefix="watch-unit-")
        with open(os.path.join(self.dir, "steps.json"), "w") as f:
            json.dump(steps, f)
        self.binary = os.path.join(self.dir, "kubectl")
        with open(self.binary, "w") as f:
            f.write(f"#!/bin/sh\nexec {sys.executable} {HERE} fake-kubectl \"$@\"\n")
        os.chmod(self.binary, 0o755)
        os.environ["FAKE_KUBECTL_DIR"] = self.dir

    def calls(self):
        path = os.path.join(self.dir, "calls")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(line) for line in f]

    def urls(self):
        out = []
        for argv in self.calls():
            parsed = urllib.parse.urlsplit(argv[-1])
            out.append((parsed.path, dict(urllib.parse.parse_qsl(parsed.query))))
        return out


class Recorder:
    def __init__(self, fail_on=None):
        self.seen = []
        self.lock = threading.Lock()
        self.fail_on = fail_on

    def __call__(self, kind, obj, arrived):
        assert isinstance(arrived, float)
        with self.lock:
            self.seen.append((kind, obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))
        if self.fail_on == (kind, obj["metadata"]["name"]):
            raise ValueError("callback bug")

    def wait(self, count, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.seen) >= count:
                    return list(self.seen)
            time.sleep(0.05)
        raise AssertionError(f"only {self.seen} after {timeout}s")


class WatchRequestTest(unittest.TestCase):
    def test_paths(self):
        self.assertEqual(ng.watch_request(["nodes", "-l", "a=b"]),
                         ("/api/v1/nodes", {"labelSelector": "a=b"}, []))
        self.assertEqual(ng.watch_request(["pods", "-n", "shop", "--kubeconfig", "/k"]),
                         ("/api/v1/namespaces/shop/pods", {}, ["--kubeconfig", "/k"]))
        self.assertEqual(ng.watch_request(["pods", "-A", "--field-selector=spec.nodeName=n1"]),
                         ("/api/v1/pods", {"fieldSelector": "spec.nodeName=n1"}, []))
        self.assertEqual(ng.watch_request(["lease", "-n", "kube-node-lease", "worker-01"]),
                         ("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                          {"fieldSelector": "metadata.name=worker-01"}, []))
        self.assertEqual(ng.watch_request(["lease", "-n", "x", "--field-selector",
                                           "metadata.name=l"])[1],
                         {"fieldSelector": "metadata.name=l"})
        self.assertEqual(ng.watch_request(["nhp", "-l", "k=v"]),
                         ("/apis/nodeguard.io/v1alpha1/nodehealthpolicies",
                          {"labelSelector": "k=v"}, []))
        self.assertEqual(ng.watch_request(["node/worker-02"])[1],
                         {"fieldSelector": "metadata.name=worker-02"})
        self.assertEqual(ng.watch_request(["deployments", "-n", "a"])[0],
                         "/apis/apps/v1/namespaces/a/deployments")
        self.assertEqual(ng.watch_request(["pdb", "-n", "a"])[0],
                         "/apis/policy/v1/namespaces/a/poddisruptionbudgets")
        self.assertEqual(ng.watch_request(["events", "-n", "a"])[0],
                         "/api/v1/namespaces/a/events")

    def test_refuses(self):
        for args in (["widgets"], ["nodes", "-o", "json"], ["nodes", "a", "b"], [],
                     ["nodes", "-l"], ["nodes", "-w"]):
            with self.assertRaises(ng.TestFailure, msg=str(args)):
                ng.watch_request(args)


class WatchTest(unittest.TestCase):
    def setUp(self):
        self.old_retry = ng.Watch.RETRY_SECONDS

    def tearDown(self):
        ng.Watch.RETRY_SECONDS = self.old_retry

    def test_resumes_and_fails_on_gone(self):
        a, b, c = node("a", 10), node("b", 11), node("c", 27)
        server = FakeServer([
            # The list, two pages.
            {"out": [node_list([a], 20, cont="page2")]},
            {"out": [node_list([b], 20)]},
            # A stream that ends (timeoutSeconds): a bookmark last.
            {"out": [event("MODIFIED", node("a", 21)), event("BOOKMARK", node("", 25))]},
            # Resumed from the bookmark's 25: an event split across writes.
            {"out": [event("DELETED", node("b", 26)) + event("ADDED", c)[:20],
                     event("ADDED", c)[20:]], "sleep": 0.2},
            # The server away: retried from 27.
            {"exit": 1, "err": "The connection to the server 127.0.0.1:1 was refused"},
            # 410: a gap it cannot fill; it relists.
            {"out": [event("ERROR", {"kind": "Status", "code": 410, "reason": "Expired",
                                     "message": "too old resource version: 27 (40)"})],
             "hang": 5},
            {"out": [node_list([node("a", 21), node("c", 41)], 42)]},
            {"out": [event("MODIFIED", node("c", 43))], "hang": 60},
        ])
        seen = Recorder()
        w = ng.Watch(["nodes", "-l", "x=y", "--kubeconfig", "/kc"], seen, binary=server.binary)
        w.start()
        got = seen.wait(8)
        self.assertEqual(got, [("ADDED", "a", "10"), ("ADDED", "b", "11"),
                               ("MODIFIED", "a", "21"), ("DELETED", "b", "26"),
                               ("ADDED", "c", "27"), ("ADDED", "a", "21"), ("ADDED", "c", "41"),
                               ("MODIFIED", "c", "43")])
        self.assertTrue(w.synced.is_set() and w.first_event.is_set())
        with self.assertRaises(ng.TestFailure) as caught:
            w.stop()
        self.assertIn("410", str(caught.exception))
        self.assertIn("nodes -l x=y", str(caught.exception))
        self.assertFalse(w.is_alive())
        urls = server.urls()
        self.assertTrue(all(a[:2] == ["--kubeconfig", "/kc"] for a in server.calls()))
        self.assertTrue(all(p == "/api/v1/nodes" and q["labelSelector"] == "x=y"
                            for p, q in urls), urls)
        self.assertNotIn("watch", urls[0][1])
        self.assertEqual(urls[1][1].get("continue"), "page2")
        watches = [(q.get("resourceVersion"), q.get("allowWatchBookmarks")) for _, q in urls
                   if q.get("watch") == "1"]
        self.assertEqual(watches, [("20", "true"), ("25", "true"), ("27", "true"),
                                   ("27", "true"), ("42", "true")])
        # Resumed: after two ended streams and after the refused connection;
        # the 410 made it relist instead.
        self.assertEqual(w.restarts, 3)
        self.assertEqual(w.relists, 1)
        self.assertEqual(w.events, 8)

    def test_clean_run_passes(self):
        server = FakeServer([
            {"out": [node_list([node("a", 5)], 6)]},
            {"out": [event("MODIFIED", node("a", 7))]},
            {"out": [event("DELETED", node("a", 8))], "hang": 60},
        ])
        seen = Recorder()
        w = ng.Watch(["nodes"], seen, binary=server.binary)
        w.start()
        seen.wait(3)
        w.stop()  # Raises nothing.
        w.stop()  # Idempotent.
        self.assertEqual(w.problems, [])
        self.assertEqual(w.restarts, 1)

    def test_empty_list_is_synced_without_an_event(self):
        server = FakeServer([{"out": [node_list([], 3)]}, {"hang": 60}])
        w = ng.Watch(["nodes"], Recorder(), binary=server.binary)
        w.start()
        w.wait_synced(10)
        self.assertFalse(w.first_event.is_set())
        w.stop()

    def test_callback_exception_fails_stop(self):
        server = FakeServer([
            {"out": [node_list([node("a", 5), node("b", 5)], 6)]},
            {"out": [event("MODIFIED", node("a", 7))], "hang": 60},
        ])
        seen = Recorder(fail_on=("ADDED", "b"))
        w = ng.Watch(["nodes"], seen, binary=server.binary)
        w.start()
        self.assertEqual(seen.wait(3)[-1], ("MODIFIED", "a", "7"))  # Delivery goes on.
        with self.assertRaises(ng.TestFailure) as caught:
            w.stop()
        self.assertIn("on_event raised", str(caught.exception))
        self.assertIn("callback bug", str(caught.exception))

    def test_check_in_finally_keeps_the_first_failure(self):
        server = FakeServer([
            {"out": [node_list([node("a", 5)], 6)]},
            {"out": [event("ERROR", {"code": 410, "reason": "Expired", "message": "gone"})]},
            {"out": [node_list([node("a", 5)], 9)]},
            {"hang": 60},
        ])
        seen = Recorder()
        w = ng.Watch(["nodes"], seen, binary=server.binary)
        w.start()
        seen.wait(2)
        with self.assertRaises(ng.TestFailure) as caught:
            try:
                raise ng.TestFailure("the scenario's own failure")
            finally:
                w.stop()
        self.assertIn("the scenario's own failure", str(caught.exception))
        self.assertIn("gone", str(caught.exception))

    def test_http_gone_on_resume(self):
        server = FakeServer([
            {"out": [node_list([], 6)]},
            {"exit": 1, "err": "Error from server (Expired): too old resource version: 6 (50)"},
            {"out": [node_list([], 60)]},
            {"hang": 60},
        ])
        w = ng.Watch(["nodes"], Recorder(), binary=server.binary)
        w.start()
        deadline = time.monotonic() + 10
        while w.relists == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        with self.assertRaises(ng.TestFailure) as caught:
            w.stop()
        self.assertIn("Expired", str(caught.exception))

    def test_not_found_is_fatal_not_retried(self):
        server = FakeServer([
            {"exit": 1, "err": "Error from server (NotFound): the server could not find the "
                               "requested resource"},
        ])
        w = ng.Watch(["nodes"], Recorder(), binary=server.binary)
        w.start()
        w.join(10)
        self.assertFalse(w.is_alive())
        self.assertEqual(len(server.calls()), 1)
        with self.assertRaises(ng.TestFailure):
            w.stop()

    def test_transient_failures_give_up(self):
        ng.Watch.RETRY_SECONDS = 1.5
        server = FakeServer([{"exit": 1, "err": "connection refused"}] * 10)
        w = ng.Watch(["nodes"], Recorder(), binary=server.binary)
        w.start()
        w.join(15)
        self.assertFalse(w.is_alive())
        self.assertGreaterEqual(len(server.calls()), 2)
        with self.assertRaises(ng.TestFailure) as caught:
            w.stop()
        self.assertIn("gave up", str(caught.exception))

    def test_stop_before_start(self):
        w = ng.Watch(["nodes"], Recorder(), binary="/nonexistent")
        w.stop()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "fake-kubectl":
        sys.exit(fake_kubectl(sys.argv[1:]))
    unittest.main(verbosity=2)
