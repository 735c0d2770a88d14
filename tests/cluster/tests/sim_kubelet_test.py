#!/usr/bin/env python3
"""The simulated kubelet's /metrics (tests/cluster/sim-kubelet) against the
real kubelet's (tests/testdata/real-kubelet/metrics-*.txt, v1.36.3, containerd
frozen with SIGSTOP), without a cluster (label unit):

  - every body the model serves parses with the strict exposition parser
    (tests/lib parse_exposition: histograms cumulative, +Inf = _count, ...)
    and carries the seven families the agent reads, with the real types,
    bucket bounds and labels;
  - the freeze, at real timing, replayed at the recording's times (freeze
    at the healthy scrape; the frozen body as answered, +281 s; thaw at
    +342 s; the thawed scrape at +351 s): the same relist count increases
    (exactly; the thawed one within 2), the same relists past 10 s, the
    last-relist ages within 2 s, the hung relists' durations within 5 s;
  - relist-slow --p99 2: the window's relist p99 (buckets interpolated as
    the agent does) is between 1 s and 2.5 s;
  - a scrape of a frozen node blocks until the scaled CRI timeout, and
    returns at once when the node thaws meanwhile;
  - a new bootID (sim reboot) starts the counters again, as the real
    kubelet's restart did (metrics-restarted.txt).

Usage: sim_kubelet_test.py
"""

import importlib.machinery
import importlib.util
import os
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

_loader = importlib.machinery.SourceFileLoader("sim_kubelet", os.path.join(ROOT, "tests", "cluster", "sim-kubelet"))
_spec = importlib.util.spec_from_loader("sim_kubelet", _loader)
sk = importlib.util.module_from_spec(_spec)
_loader.exec_module(sk)

check = ng.check
RECORDED = os.path.join(ROOT, "tests", "testdata", "real-kubelet")
FAMILIES = {
    "kubelet_pleg_relist_duration_seconds": "histogram",
    "kubelet_pleg_relist_interval_seconds": "histogram",
    "kubelet_pleg_last_seen_seconds": "gauge",
    "kubelet_pleg_discard_events": "counter",
    "kubelet_running_pods": "gauge",
    "kubelet_running_containers": "gauge",
    "kubelet_runtime_operations_duration_seconds": "histogram",
}
RELIST = "kubelet_pleg_relist_duration_seconds"


def figures(text):
    """{count, above10, sum, last_seen, buckets, list_ops} of a body."""
    e = ng.parse_exposition(text)
    out = {"buckets": {}, "list_ops": {}}
    for s in e.samples:
        if s.name == RELIST + "_count":
            out["count"] = s.value
        elif s.name == RELIST + "_sum":
            out["sum"] = s.value
        elif s.name == RELIST + "_bucket":
            out["buckets"][s.labels["le"]] = s.value
        elif s.name == "kubelet_pleg_last_seen_seconds":
            out["last_seen"] = s.value
        elif s.name == "kubelet_runtime_operations_duration_seconds_count":
            out["list_ops"][s.labels["operation_type"]] = s.value
    out["above10"] = out["count"] - out["buckets"]["10"]
    return e, out


def recorded(name):
    with open(os.path.join(RECORDED, f"metrics-{name}.txt")) as f:
        return f.read()


def shape():
    real, _ = figures(recorded("healthy"))
    m = sk.NodeModel("shape", 1000.0)
    body = m.body(1060.0).decode()
    sim, _ = figures(body)
    for family, kind in FAMILIES.items():
        check(sim.types.get(family) == kind == real.types.get(family),
              f"{family}: simulated {sim.types.get(family)}, real {real.types.get(family)}, want {kind}")

    def bounds(e, name, labels=None):
        return [s.labels["le"] for s in e.samples if s.name == name + "_bucket"
                and all(s.labels.get(k) == v for k, v in (labels or {}).items())]
    check(bounds(sim, RELIST) == bounds(real, RELIST), f"relist buckets {bounds(sim, RELIST)}")
    ops = "kubelet_runtime_operations_duration_seconds"
    for op in ("list_podsandbox", "list_containers"):
        want = bounds(real, ops, {"operation_type": op})
        got = bounds(sim, ops, {"operation_type": op})
        check(got == want, f"{op} buckets {got}, the real kubelet's {want}")
    running = [s.labels for s in sim.samples if s.name == "kubelet_running_containers"]
    check({"container_state": "running"} in running, f"kubelet_running_containers {running}")
    ng.say("PASS shape: the seven families, types, buckets and labels as the real kubelet's")


def freeze_episode():
    def sent_at(text):
        for line in text.splitlines()[:3]:
            if "scraped at unix " in line:
                return float(line.split("scraped at unix ")[1].split()[0])
        ng.fail("no scrape time")
    texts = {n: recorded(n) for n in ("healthy", "frozen", "thawed")}
    real = {n: figures(t)[1] for n, t in texts.items()}
    t_healthy, t_thawed = sent_at(texts["healthy"]), sent_at(texts["thawed"])
    freeze_at = t_healthy          # "containerd stopped at unix 1796640198", the healthy scrape's time.
    frozen_answer = sent_at(texts["frozen"]) + 120.0  # Answered 120 s after it was sent.
    thaw_at = t_thawed - 9.0       # "thaw +9 s".
    real_times = {"healthy": t_healthy, "frozen": frozen_answer, "thawed": t_thawed}

    m = sk.NodeModel("real-01", freeze_at - 300)
    m.factor = 1.0
    sim = {"healthy": figures(m.body(freeze_at).decode())[1]}
    m.set_mode(("frozen", freeze_at), 1.0, freeze_at)
    sim["frozen"] = figures(m.body(frozen_answer).decode())[1]
    m.set_mode(("healthy", None), 1.0, thaw_at)
    sim["thawed"] = figures(m.body(t_thawed).decode())[1]

    for a, b, slack in (("healthy", "frozen", 0), ("frozen", "thawed", 2)):
        for key in ("count", "above10"):
            r, s = real[b][key] - real[a][key], sim[b][key] - sim[a][key]
            check(abs(r - s) <= slack, f"{a} -> {b}: relist {key} +{s}, the real kubelet +{r}")
        r, s = real[b]["sum"] - real[a]["sum"], sim[b]["sum"] - sim[a]["sum"]
        check(abs(r - s) <= 5 + slack * 0.05, f"{a} -> {b}: relist seconds +{s:.1f}, the real kubelet +{r:.1f}")
        ng.say(f"MEASURED {a} -> {b}: relists +{sim[b]['count'] - sim[a]['count']:.0f} "
               f"(real +{real[b]['count'] - real[a]['count']:.0f}), over 10 s "
               f"+{sim[b]['above10'] - sim[a]['above10']:.0f} (real +{real[b]['above10'] - real[a]['above10']:.0f}), "
               f"relist seconds +{s:.1f} (real +{r:.1f})")
    for n in ("healthy", "frozen", "thawed"):
        r, s = real_times[n] - real[n]["last_seen"], real_times[n] - sim[n]["last_seen"]
        check(abs(r - s) <= 2.0, f"{n}: last relist {s:.1f}s old, the real kubelet's {r:.1f}s")
    ng.say("PASS freeze-episode: relist counts, relists past 10 s, hung durations and "
           "last-relist ages as recorded")


def p99(buckets_before, buckets_after):
    """histogram_quantile(0.99) of the increase, as the agent computes it."""
    bounds = sorted((float(b), b) for b in buckets_after if b != "+Inf")
    total = buckets_after["+Inf"] - buckets_before.get("+Inf", 0)
    rank = 0.99 * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, key in bounds:
        count = buckets_after[key] - buckets_before.get(key, 0)
        if count >= rank:
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / max(count - prev_count, 1e-9)
        prev_bound, prev_count = bound, count
    return float("inf")


def slow():
    m = sk.NodeModel("slow", 1000.0)
    before = figures(m.body(1100.0).decode())[1]
    m.set_mode(("slow", 2.0), sk.model.FAST_FACTOR, 1100.0)
    m.body(1160.0)
    mid = figures(m.body(1160.0).decode())[1]
    after = figures(m.body(1220.0).decode())[1]
    healthy_p99 = p99({}, before["buckets"])
    slow_p99 = p99(mid["buckets"], after["buckets"])
    check(healthy_p99 <= 0.05, f"healthy relist p99 {healthy_p99}")
    check(1.0 < slow_p99 <= 2.5, f"relist-slow --p99 2: window p99 {slow_p99}")
    ng.say(f"PASS slow: healthy p99 {healthy_p99 * 1e3:.0f} ms, relist-slow --p99 2: window p99 {slow_p99:.2f} s")


def blocking():
    kubelets = sk.Kubelets(None)
    now = time.time()
    for name, mode in (("a", ("frozen", now)), ("b", ("frozen", now))):
        m = kubelets.nodes[name] = sk.NodeModel(name, now - 60)
        m.mode, m.factor = mode, 120.0  # The CRI timeout: 1 s.
    t0 = time.monotonic()
    status, _, body = kubelets.scrape("a")
    waited = time.monotonic() - t0
    check(status == 200 and 0.9 <= waited <= 3.0, f"frozen scrape: {status} after {waited:.2f}s (want ~1 s)")
    f = figures(body.decode())[1]
    check(time.time() - f["last_seen"] >= 1.0, f"frozen body: last relist {time.time() - f['last_seen']:.1f}s old")

    def thaw():
        time.sleep(0.3)
        kubelets.remember({"metadata": {"name": "b", "annotations": {}}}, time.time())
    kubelets.nodes["b"].factor = 2.0  # CRI timeout 60 s: only the thaw ends the wait.
    threading.Thread(target=thaw).start()
    t0 = time.monotonic()
    status, _, _ = kubelets.scrape("b")
    waited = time.monotonic() - t0
    check(status == 200 and waited < 5.0, f"scrape of a node thawed meanwhile: {status} after {waited:.2f}s")
    status, _, _ = kubelets.scrape("nope")
    check(status == 404, f"unknown node: {status}")
    ng.say("PASS blocking: a frozen node's scrape waits for the scaled CRI timeout or the thaw")


def reboot():
    """sim reboot (a new bootID): the counters start again, as after the real
    kubelet's restart (metrics-restarted.txt: fewer relists than before)."""
    real_before = figures(recorded("thawed"))[1]["count"]
    real_after = figures(recorded("restarted"))[1]["count"]
    check(real_after < real_before, "the recording shows a reset")
    kubelets = sk.Kubelets(None)
    node = {"metadata": {"name": "r", "annotations": {}}, "status": {"nodeInfo": {"bootID": "one"}}}
    now = time.time()
    kubelets.remember(node, now - 120)
    _, _, body = kubelets.scrape("r")
    before = figures(body.decode())[1]["count"]
    node["status"]["nodeInfo"]["bootID"] = "two"
    kubelets.remember(node, now)
    time.sleep(1.1)
    _, _, body = kubelets.scrape("r")
    after = figures(body.decode())[1]["count"]
    check(before >= 100 and after < before, f"relists {before} before the reboot, {after} after")
    kubelets.remember(node, time.time())  # The same boot: nothing resets.
    _, _, body = kubelets.scrape("r")
    check(figures(body.decode())[1]["count"] >= after, "an update without a new bootID kept the counters")
    ng.say(f"PASS reboot: relists {before:.0f} -> {after:.0f} (the real kubelet's restart: "
           f"{real_before:.0f} -> {real_after:.0f})")


def main():
    shape()
    freeze_episode()
    slow()
    blocking()
    reboot()
    ng.say("PASS sim_kubelet_test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
