#!/usr/bin/env python3
"""e2e.replay: the short version of `make replay` (docs/replay.md) on a cluster
of its own (kube-apiserver --default-not-ready-toleration-seconds 30: the
replay's clock), two runs of the same seed at once on disjoint scopes:

  none       no remediation: the load model must reproduce the cascade;
  nodeguard  the incident-workers policy (durations scaled): it must hold.

Asserted, with the reasons for the bounds (NODES workers, FILL pods each
(80: the top of the incident's 70-80, so that losing one node pushes the
others past their breaking points: at 75 a 6-node run sometimes stopped at one
sick node), caps of incident-workers.yaml: 70 per node, tainted at 68):

  none       more than one node turns PLEG-sick (the first one's pods,
             evicted after the toleration, overload the others) and the
             availability falls below NONE_BELOW (50 %: half the replicas
             gone means the cascade took at least half of the capacity;
             a single sick node costs 1/NODES, 17 %);
  nodeguard  the availability never falls below NODEGUARD_ABOVE (60 %:
             the caps leave 68 of 80 replicas per node scheduled, 85 %; the
             rollout's maxUnavailable takes 10 points more; one node drained
             at a time takes 1/NODES of what is left, 12 points: 63 %);
             never more nodes cordoned at once than maxConcurrent (1); no
             node rebooted without a freeze since its previous reboot.

Each bound can fail (docs/replay.md shows the runs): `--no-caps` runs the
nodeguard side without its pod density caps, `--max-concurrent 3` with a
larger remediation budget than the asserted one (with `--max-unhealthy 100%`,
so that the storm guard does not hold it back), `--fill 60` a workload that
never reaches a node's breaking point (no cascade to see),
`--no-overflow-eviction` the policy without podDensity.evictOverflow.

Usage: replay_e2e_test.py --nodeguard PATH --workdir DIR --cluster NAME [--no-caps]
                          [--max-concurrent N] [--max-unhealthy P] [--fill N]
                          [--no-overflow-eviction]
                          [--nodes N] [--duration S] [--seed S]
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "replay"))
import nodeguard_testlib as ng  # noqa: E402
import replay  # noqa: E402

NONE_BELOW = 0.50
NODEGUARD_ABOVE = 0.60
MAX_CONCURRENT = 1


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodeguard", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", type=float, default=15)
    parser.add_argument("--duration", type=float, default=200)
    parser.add_argument("--no-caps", action="store_true")
    parser.add_argument("--max-concurrent", type=int)
    parser.add_argument("--max-unhealthy")
    parser.add_argument("--fill", type=int, default=80)
    parser.add_argument("--no-overflow-eviction", action="store_true")
    args = parser.parse_args()
    ng.exit_on_sigterm()
    os.makedirs(args.workdir, exist_ok=True)
    started = time.monotonic()
    os.environ["KUBECONFIG"] = replay.cluster_up(args.cluster)
    try:
        summaries = replay.run_modes(["none", "nodeguard"], args.nodes, args.seed, args.workdir,
                                     args.nodeguard, args.baseline, args.duration,
                                     caps=not args.no_caps, fill=args.fill, prefix="rp",
                                     max_concurrent=args.max_concurrent,
                                     max_unhealthy=args.max_unhealthy,
                                     evict_overflow=False if args.no_overflow_eviction else None)
    finally:
        subprocess.run([os.path.join(ng.ROOT, "tests", "cluster", "down"), "--name", args.cluster],
                       check=False)
    print(replay.table(summaries))
    print(json.dumps(summaries, indent=1))
    none, guarded = summaries["none"], summaries["nodeguard"]
    failures = []

    def expect(ok, message):
        if not ok:
            failures.append(message)
            print(f"FAIL: {message}", file=sys.stderr)

    expect(none["peak_pleg_sick"] >= 2,
           f"without nodeguard the cascade did not spread: at most {none['peak_pleg_sick']} "
           f"node(s) PLEG-sick at once")
    expect(none["min_availability"] < NONE_BELOW,
           f"without nodeguard the availability stayed at {none['min_availability']:.1%} or more, "
           f"not below {NONE_BELOW:.0%}: no cascade")
    expect(guarded["min_availability"] >= NODEGUARD_ABOVE,
           f"with nodeguard the availability fell to {guarded['min_availability']:.1%}, "
           f"below {NODEGUARD_ABOVE:.0%}")
    expect(guarded["max_cordoned_at_once"] <= MAX_CONCURRENT,
           f"with nodeguard {guarded['max_cordoned_at_once']} nodes were cordoned at once "
           f"(maxConcurrent {MAX_CONCURRENT})")
    expect(not guarded["needless_reboots"],
           f"with nodeguard, reboots without a freeze since the previous one: "
           f"{guarded['needless_reboots']}")
    seconds = time.monotonic() - started
    print(f"MEASURED e2e.replay: {seconds:.0f} s")
    print(f'<CTestMeasurement type="numeric/double" name="replay_seconds">{seconds:.1f}'
          f'</CTestMeasurement>')
    if failures:
        print(f"e2e.replay: {len(failures)} assertion(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
