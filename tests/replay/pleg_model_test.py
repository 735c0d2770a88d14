#!/usr/bin/env python3
"""Unit tests of the replay's PLEG load model (tests/replay/pleg_model.py)."""

import math
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pleg_model as m  # noqa: E402

HOLD = m.OVERLOAD_HOLD_SECONDS


class Calibration(unittest.TestCase):
    def test_eight_core_nodes_break_between_90_and_110_pods(self):
        points = [m.sick_at_pods(seed, f"worker-{i:02d}") for seed in range(1, 21)
                  for i in range(1, 51)]
        self.assertGreaterEqual(min(points), 90)
        self.assertLessEqual(max(points), 110)
        # A spread, not one figure: both ends of the range are reached.
        self.assertLess(min(points), 94)
        self.assertGreater(max(points), 106)

    def test_breaking_point_scales_with_cores(self):
        self.assertLess(m.sick_at_pods(1, "a", cores=4), m.sick_at_pods(1, "a", cores=8))

    def test_relist_is_fast_well_below_the_breaking_point_and_steep_near_it(self):
        cap = m.CONTAINERS_PER_POD * 100  # A median 8-core node: 100 pods.
        self.assertLess(m.relist_seconds(2 * 70, cap), 0.5)
        self.assertLess(m.relist_seconds(2 * 90, cap), 1.0)
        self.assertGreater(m.relist_seconds(2 * 99, cap), 5.0)
        self.assertEqual(m.relist_seconds(2 * 100, cap), math.inf)

    def test_deterministic_in_seed_and_name(self):
        self.assertEqual(m.capacity(7, "worker-01"), m.capacity(7, "worker-01"))
        self.assertNotEqual(m.capacity(7, "worker-01"), m.capacity(8, "worker-01"))
        self.assertNotEqual(m.capacity(7, "worker-01"), m.capacity(7, "worker-02"))


class Observe(unittest.TestCase):
    def setUp(self):
        self.node = m.NodeModel(1, "worker-01")
        self.breaking = m.sick_at_pods(1, "worker-01")

    def test_below_the_breaking_point_never_freezes(self):
        for t in range(0, 1000, 5):
            self.assertFalse(self.node.observe(t, self.breaking - 1, ""))

    def test_freezes_once_after_the_hold(self):
        self.assertFalse(self.node.observe(0, self.breaking, ""))
        self.assertFalse(self.node.observe(HOLD - 1, self.breaking, ""))
        self.assertTrue(self.node.observe(HOLD, self.breaking, ""))
        # Requested: not again while the sim has not shown it yet.
        self.assertFalse(self.node.observe(HOLD + 60, self.breaking + 5, ""))
        self.assertEqual(self.node.freezes, 1)

    def test_a_short_burst_does_not_freeze(self):
        self.assertFalse(self.node.observe(0, self.breaking + 10, ""))
        self.assertFalse(self.node.observe(HOLD - 1, self.breaking - 1, ""))
        self.assertFalse(self.node.observe(HOLD + 1, self.breaking + 10, ""))
        self.assertFalse(self.node.observe(2 * HOLD, self.breaking + 10, ""))
        self.assertTrue(self.node.observe(HOLD + 1 + HOLD, self.breaking + 10, ""))

    def test_frozen_and_rebooting_nodes_are_left_alone(self):
        for state in ("pleg-sick", "runtime-down", "rebooting"):
            node = m.NodeModel(1, "worker-01")
            for t in range(0, 600, 10):
                self.assertFalse(node.observe(t, self.breaking + 20, state))

    def test_a_restart_helps_only_while_the_load_is_below_the_breaking_point(self):
        self.node.observe(0, self.breaking, "")
        self.assertTrue(self.node.observe(HOLD, self.breaking, ""))
        self.node.observe(HOLD + 1, self.breaking, "pleg-sick")     # the sim froze it
        # Restarted with its pods still there: frozen again after the hold.
        self.assertFalse(self.node.observe(500, self.breaking, "recovering"))
        self.assertTrue(self.node.observe(500 + HOLD, self.breaking, ""))
        self.node.observe(600, self.breaking, "pleg-sick")
        # Restarted after a drain: stays up ...
        for t in range(700, 1000, 10):
            self.assertFalse(self.node.observe(t, 10, ""))
        # ... until the pods come back.
        self.node.observe(1000, self.breaking + 3, "")
        self.assertTrue(self.node.observe(1000 + HOLD, self.breaking + 3, ""))
        self.assertEqual(self.node.freezes, 3)

    def test_a_failed_request_is_decided_again(self):
        self.node.observe(0, self.breaking, "")
        self.assertTrue(self.node.observe(HOLD, self.breaking, ""))
        self.node.request_failed()
        self.assertFalse(self.node.observe(HOLD + 1, self.breaking, ""))
        self.assertTrue(self.node.observe(2 * HOLD + 1, self.breaking, ""))


if __name__ == "__main__":
    unittest.main()
