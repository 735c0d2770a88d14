#!/usr/bin/env python3
"""cluster.ctest_slots (unit): the CTest scheduling of tests/cluster/cluster_tests.cmake,
checked with the cmake and ctest at hand on a toy project of sleeping tests
that log when they start and end:

  - scenarios (nodeguard_cluster_scenario) run at the same time, at most
    SLOTS of them;
  - a whole-cluster test (nodeguard_cluster_test) overlaps no other test
    that uses the cluster;
  - the fixture's setup ends before any of them starts, its cleanup starts
    after all ended;
  - a test with its own cluster (no fixture, no slot, like e2e.demo) runs
    beside them.

Both ways the suites run: `ctest -j N` in the build tree (the spec file is
the build tree's default, CTEST_RESOURCE_SPEC_FILE) and `ctest
--resource-spec-file build/cluster-resources.json -j N` (the Makefile).

Usage: ctest_slots_test.py --cmake CMAKE --ctest CTEST --workdir DIR
"""

import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(os.path.dirname(HERE), "cluster_tests.cmake")
SLOTS = 3
SCENARIOS = [f"scenario{i}" for i in range(1, 7)]
WHOLE = ["whole1", "whole2"]

PROJECT = f"""cmake_minimum_required(VERSION 3.20)
project(ctest_slots NONE)
include(CTest)
set(NODEGUARD_CLUSTER_TEST_ENV "TOY=1")
include({INCLUDE})
nodeguard_cluster_resources({SLOTS})
set(STEP {sys.executable} ${{CMAKE_SOURCE_DIR}}/step.py ${{CMAKE_BINARY_DIR}}/log)
add_test(NAME up COMMAND ${{STEP}} up 1)
set_tests_properties(up PROPERTIES FIXTURES_SETUP cluster)
add_test(NAME down COMMAND ${{STEP}} down 1)
set_tests_properties(down PROPERTIES FIXTURES_CLEANUP cluster)
foreach(t {' '.join(SCENARIOS)})
  nodeguard_cluster_scenario(${{t}} COMMAND ${{STEP}} ${{t}} 2)
endforeach()
foreach(t {' '.join(WHOLE)})
  nodeguard_cluster_test(${{t}} COMMAND ${{STEP}} ${{t}} 2)
endforeach()
add_test(NAME own_cluster COMMAND ${{STEP}} own_cluster 5)
"""

STEP = """import os, sys, time
log, name, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
assert os.environ.get("TOY") == "1" or name in ("up", "down", "own_cluster"), "environment"
with open(log, "a") as f:
    f.write(f"start {name} {time.time()}\\n")
time.sleep(seconds)
with open(log, "a") as f:
    f.write(f"end {name} {time.time()}\\n")
"""


def intervals(log):
    start, end = {}, {}
    with open(log) as f:
        for line in f:
            what, name, t = line.split()
            (start if what == "start" else end)[name] = float(t)
    return {n: (start[n], end.get(n)) for n in start}


def overlap(a, b):
    return a[0] < b[1] and b[0] < a[1]


def check_run(label, spans):
    problems = []
    expected = {"up", "down", "own_cluster", *SCENARIOS, *WHOLE}
    if set(spans) != expected or any(e is None for _, e in spans.values()):
        return [f"{label}: tests that ran (and ended): {sorted(spans)}"]
    users = SCENARIOS + WHOLE
    # (a) scenarios overlap, at most SLOTS at once.
    most = max(sum(1 for s in SCENARIOS if spans[s][0] <= spans[t][0] < spans[s][1])
               for t in SCENARIOS)
    if most < 2:
        problems.append(f"{label}: scenarios never ran at the same time")
    if most > SLOTS:
        problems.append(f"{label}: {most} scenarios at once, more than {SLOTS} slots")
    # (b) whole-cluster tests overlap no other cluster user.
    for w in WHOLE:
        others = [u for u in users if u != w and overlap(spans[w], spans[u])]
        if others:
            problems.append(f"{label}: {w} (whole cluster) overlapped {others}")
    # (c) the fixture first and last.
    if any(spans[u][0] < spans["up"][1] for u in users):
        problems.append(f"{label}: a test started before the fixture's setup ended")
    if any(spans["down"][0] < spans[u][1] for u in users):
        problems.append(f"{label}: the fixture's cleanup started before a test ended")
    # (d) a test with its own cluster runs beside the others.
    if not any(overlap(spans["own_cluster"], spans[u]) for u in users + ["up"]):
        problems.append(f"{label}: the test with its own cluster ran alone")
    print(f"{label}: at most {most} scenarios at once; whole-cluster tests alone; "
          f"fixture first and last; own-cluster test beside the others"
          if not problems else "\n".join(problems), flush=True)
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cmake", required=True)
    parser.add_argument("--ctest", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    src, build = os.path.join(args.workdir, "src"), os.path.join(args.workdir, "build")
    os.makedirs(src)
    with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
        f.write(PROJECT)
    with open(os.path.join(src, "step.py"), "w") as f:
        f.write(STEP)
    subprocess.run([args.cmake, "-S", src, "-B", build], check=True, stdout=subprocess.DEVNULL)
    spec = os.path.join(build, "cluster-resources.json")
    problems = []
    for label, extra in (("ctest -j 8 (the build tree's default spec file)", []),
                         ("ctest --resource-spec-file ... -j 8", ["--resource-spec-file", spec])):
        log = os.path.join(build, "log")
        if os.path.exists(log):
            os.remove(log)
        r = subprocess.run([args.ctest, "-j", "8", *extra], cwd=build, capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            problems.append(f"{label}: exit {r.returncode}\n{r.stdout}{r.stderr}")
            continue
        problems += check_run(label, intervals(log))
    if problems:
        print("FAIL cluster.ctest_slots:\n" + "\n".join(problems), flush=True)
        return 1
    print("PASS cluster.ctest_slots", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
