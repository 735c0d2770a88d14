#!/usr/bin/env python3
"""Unit tests of the replay's pure parts (tests/replay/replay.py): the clock's
scaling of the policy, the summary the e2e test judges, and its reboot check."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replay  # noqa: E402


def row(t, availability=1.0, notready=0, sick=0, restarts=0):
    return {"since_rollout": t, "availability": availability, "notready_nodes": notready,
            "pleg_sick_nodes": sick, "frozen_nodes": sick, "runtime_restarts": restarts,
            "evictions": 0, "max_pods_per_node": 70}


class Clock(unittest.TestCase):
    def test_durations_are_divided_by_the_clock(self):
        self.assertEqual(replay.go_duration_seconds("1h30m"), 5400)
        self.assertEqual(replay.scaled_duration("3m"), "18s")
        self.assertEqual(replay.scaled_duration("1h"), "360s")
        self.assertEqual(replay.scaled_duration("5s"), "1s")   # never below 1 s ...
        self.assertEqual(replay.scaled_duration("0s"), "0s")   # ... unless zero
        with self.assertRaises(ValueError):
            replay.go_duration_seconds("3")

    def test_the_incident_policy_is_scaled_and_leaves_the_selector_to_the_scope(self):
        spec = replay.incident_policy_spec()
        self.assertNotIn("nodeSelector", spec)
        self.assertEqual(spec["health"]["unhealthyConditions"][0]["duration"], "18s")
        self.assertEqual(spec["remediation"]["drain"]["timeout"], "90s")
        self.assertEqual(spec["remediation"]["cooldown"], "360s")
        self.assertEqual(spec["podDensity"]["maxPods"], 70)
        self.assertNotIn("podDensity", replay.incident_policy_spec(caps=False))
        self.assertIs(replay.incident_policy_spec(evict_overflow=False)["podDensity"]
                      ["evictOverflow"], False)
        self.assertEqual(replay.incident_policy_spec(max_concurrent=3)["remediation"]
                         ["maxConcurrent"], 3)


class NeedlessReboots(unittest.TestCase):
    def test_a_reboot_after_a_freeze_is_needed(self):
        self.assertEqual(replay.needless_reboots({"n1": [50, 120]}, {"n1": [40, 100]}), [])

    def test_a_reboot_without_a_freeze_since_the_last_one_is_needless(self):
        self.assertEqual(replay.needless_reboots({"n1": [50, 60]}, {"n1": [40]}), [("n1", 60)])

    def test_a_first_reboot_without_any_freeze_is_needless(self):
        self.assertEqual(replay.needless_reboots({"n1": [5]}, {}), [("n1", 5)])


class Summary(unittest.TestCase):
    def summarize(self, rows, reboots=None, freezes=None, baseline=1.0):
        return replay.summarize("none", rows, reboots or {}, freezes or {}, 1, nodes=6,
                                replicas=450, baseline=baseline)

    def test_figures(self):
        rows = [row(0), row(2, 0.5, notready=2, sick=2), row(4, 0.8, notready=1, sick=1),
                row(6, 0.95)] + [row(t, 0.95) for t in range(8, 60, 2)]
        s = self.summarize(rows, baseline=0.96)
        self.assertEqual(s["min_availability"], 0.5)
        self.assertEqual(s["seconds_below_90"], 2 * replay.SAMPLE_SECONDS)
        self.assertEqual(s["peak_pleg_sick"], 2)
        self.assertEqual(s["steady_after"], 6)

    def test_never_steady_when_it_does_not_hold_to_the_end(self):
        rows = [row(t) for t in range(0, 60, 2)] + [row(60, 0.4, notready=3)]
        self.assertIsNone(self.summarize(rows)["steady_after"])

    def test_never_steady_when_it_holds_only_for_the_last_seconds(self):
        rows = [row(t, 0.3, notready=1) for t in range(0, 60, 2)] + [row(62), row(64)]
        self.assertIsNone(self.summarize(rows)["steady_after"])

    def test_steady_is_back_to_the_availability_before_the_rollout(self):
        rows = [row(0, 0.80), row(2, 0.60, notready=1)] + [row(t, 0.89) for t in range(4, 60, 2)]
        s = replay.summarize("nodeguard", rows, {}, {}, 1, nodes=6, replicas=450, baseline=0.907)
        self.assertEqual(s["steady_after"], 4)
        s = replay.summarize("nodeguard", rows, {}, {}, 1, nodes=6, replicas=450, baseline=1.0)
        self.assertIsNone(s["steady_after"])

    def test_the_table_names_every_run(self):
        rows = [row(t) for t in range(0, 40, 2)]
        text = replay.table({"none": self.summarize(rows), "nodeguard": self.summarize(rows)})
        self.assertIn("| none | 100.0 % |", text)
        self.assertIn("| nodeguard |", text)


if __name__ == "__main__":
    unittest.main()
