"""A load model of PLEG failure, for the incident replay (docs/replay.md).

Pure and deterministic: the driver (tests/replay/replay.py) feeds it what a
watch shows on each node and carries out what it decides through
tests/cluster/sim, whose sick node behaves as the real kubelet measured on
this machine did (tests/cluster/lib/kubelet_model.py).

The model
---------
The kubelet's PLEG relists every second: it lists every sandbox and container
through the CRI and inspects those that changed. A container runtime that is
short of CPU answers like a queue whose load grows with what it manages (each
container costs it housekeeping: stats, probes' execs, log rotation, the
relist itself), so the time of one relist is

    relist(c) = PER_CONTAINER_SECONDS * c / (1 - c / capacity)     c < capacity
              = infinity                                             otherwise

with c the containers running on the node (CONTAINERS_PER_POD per pod: the
pause sandbox and one container, the replay's pods) and `capacity` the
containers the node's runtime can keep up with:

    capacity = CONTAINERS_PER_POD * cores * PODS_PER_CORE * spread(node)

spread is 1 + u, u uniform in [-SPREAD, +SPREAD], drawn from the seed and the
node's name (machines of one type differ: noisy neighbours, disks, daemons).
For an 8-core node the pods at which relist passes the kubelet's 3-minute PLEG
threshold are capacity/2 * (1 - 1/(1 + 180/(PER_CONTAINER_SECONDS * c))),
i.e. within 0.1 pod of capacity/2: between 91 and 109 pods, as the incident
saw (8-core workers sick at 90 to 110 pods). Below it the relist is fast (0.23
s at 70 pods on a median node, 0.9 s at 90) and grows steeply close to it:
the early warning a kubelet's relist histogram would give (issue
[early-warning]).

A node whose relist stays above the PLEG threshold for OVERLOAD_HOLD seconds
(a runtime stalled by a short burst catches up) freezes: `sim pleg-sick`, and
from then on it is the real kubelet's timeline (runtime-down after 2m05s,
PLEG not healthy at 4m15s, pods no longer synced, the Lease still renewed).
It stays frozen until someone restarts its runtime (`sim heal`) or reboots it
(`sim reboot`). Then its pods are synced again, the evicted ones finalized;
if what is left, or what comes back, is still above the threshold, it
freezes again: the incident's "restarting helped only briefly".

All times here are the incident's (real) seconds; the driver divides them by
its clock factor.
"""

import math
import random
import zlib

CONTAINERS_PER_POD = 2
PER_CONTAINER_SECONDS = 0.0005
PODS_PER_CORE = 12.5
SPREAD = 0.09
PLEG_THRESHOLD_SECONDS = 180.0
OVERLOAD_HOLD_SECONDS = 30.0
DEFAULT_CORES = 8

# What the driver sees of a node's sim state (tests/cluster/sim,
# nodeguard.io/sim-state): frozen (the player holds it) or rebooting: the
# model leaves it alone; anything else: the runtime runs.
FROZEN_STATES = ("pleg-sick", "runtime-down")
REBOOTING = "rebooting"


def spread(seed, node):
    """The node's factor, deterministic in (seed, node name)."""
    rng = random.Random(zlib.crc32(f"{seed}/{node}".encode()))
    return 1.0 + rng.uniform(-SPREAD, SPREAD)


def capacity(seed, node, cores=DEFAULT_CORES):
    """Containers the node's runtime keeps up with."""
    return CONTAINERS_PER_POD * cores * PODS_PER_CORE * spread(seed, node)


def relist_seconds(containers, cap):
    """One relist's duration with `containers` running; math.inf at or
    beyond capacity."""
    if containers >= cap:
        return math.inf
    return PER_CONTAINER_SECONDS * containers / (1.0 - containers / cap)


def sick_at_pods(seed, node, cores=DEFAULT_CORES):
    """The fewest running pods at which the node's relist passes the PLEG
    threshold (its breaking point; for the docs and the calibration test)."""
    cap = capacity(seed, node, cores)
    pods = 0
    while relist_seconds(CONTAINERS_PER_POD * pods, cap) <= PLEG_THRESHOLD_SECONDS:
        pods += 1
    return pods


class NodeModel:
    """One node's load state. observe() is called with what the watch shows
    and returns True when the node must freeze now (the driver then runs
    `sim pleg-sick`; it calls frozen() once it did, so the request is made
    once per overload)."""

    def __init__(self, seed, name, cores=DEFAULT_CORES):
        self.name = name
        self.capacity = capacity(seed, name, cores)
        self.over_since = None  # Real seconds: when the relist passed the threshold.
        self.requested = False  # A freeze was requested and not yet seen.
        self.freezes = 0

    def relist(self, running_pods):
        return relist_seconds(CONTAINERS_PER_POD * running_pods, self.capacity)

    def observe(self, now, running_pods, sim_state):
        """now: real (incident) seconds; running_pods: pods on the node whose
        containers run (phase Running, terminating ones included: a pod is
        gone from the runtime only when its deletion is finalized);
        sim_state: the node's nodeguard.io/sim-state ("" when healthy)."""
        if sim_state in FROZEN_STATES:
            self.requested = False
            self.over_since = None
            return False
        if sim_state == REBOOTING or self.requested:
            self.over_since = None
            return False
        if self.relist(running_pods) <= PLEG_THRESHOLD_SECONDS:
            self.over_since = None
            return False
        if self.over_since is None:
            self.over_since = now
        if now - self.over_since < OVERLOAD_HOLD_SECONDS:
            return False
        self.over_since = None
        self.requested = True
        self.freezes += 1
        return True

    def request_failed(self):
        """The freeze request did not go through: decide again."""
        self.requested = False
