#!/usr/bin/env python3
"""failure_summary.py on the output of the real ctest: a toy project with a
passing test, a failing one, one timing out and one not run for a failed
fixture, run as `make test` runs the suites (-j2, --output-on-failure). The
summary must name exactly the four, each with its output's end, and nothing
of the passing test or of CTest's closing lines.

Usage: failure_summary_unit_test.py --cmake CMAKE --ctest CTEST --workdir DIR
"""
import argparse
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

PROJECT = """cmake_minimum_required(VERSION 3.20)
project(toy NONE)
enable_testing()
add_test(NAME good.one COMMAND sh -c "echo all-is-well")
add_test(NAME bad.one COMMAND sh -c "echo first-line; echo 'FAIL the reason'; exit 1")
add_test(NAME slow.one COMMAND sh -c "echo still-waiting; sleep 10")
set_tests_properties(slow.one PROPERTIES TIMEOUT 1)
add_test(NAME fixture.setup COMMAND sh -c "echo setup-broke; exit 3")
set_tests_properties(fixture.setup PROPERTIES FIXTURES_SETUP fx)
add_test(NAME needs.fixture COMMAND sh -c "echo never-runs")
set_tests_properties(needs.fixture PROPERTIES FIXTURES_REQUIRED fx)
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cmake", required=True)
    parser.add_argument("--ctest", required=True)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    src = os.path.join(args.workdir, "src")
    build = os.path.join(args.workdir, "build")
    os.makedirs(src)
    with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
        f.write(PROJECT)
    subprocess.run([args.cmake, "-S", src, "-B", build], check=True, capture_output=True)
    run = subprocess.run([args.ctest, "-j2", "--output-on-failure"], cwd=build,
                         capture_output=True, text=True)
    if run.returncode == 0:
        print("FAIL the toy project's ctest passed: the test would prove nothing")
        return 1
    log = os.path.join(args.workdir, "ctest.log")
    with open(log, "w") as f:
        f.write(run.stdout + run.stderr)
    passed = os.path.join(args.workdir, "passed.log")
    with open(passed, "w") as f:
        f.write("    Start 1: good.one\n1/1 Test #1: good.one ....   Passed    0.01 sec\n\n"
                "100% tests passed, 0 tests failed out of 1\n")
    summary = subprocess.run([sys.executable, os.path.join(HERE, "failure_summary.py"),
                              "--lines", "5", log, passed],
                             capture_output=True, text=True)
    out = summary.stdout
    problems = []
    if summary.returncode != 0:
        problems.append(f"exit status {summary.returncode}")
    last = out.rstrip("\n").splitlines()[-1] if out.strip() else ""
    # In CTest's order (test numbers), which is the project's.
    want_last = ("make test: 4 failed: bad.one (Failed), slow.one (Timeout), "
                 "fixture.setup (Failed), needs.fixture (Not Run)")
    if last != want_last:
        problems.append(f"last line {last!r}, want {want_last!r}")
    for text in ("FAIL the reason", "first-line", "still-waiting", "setup-broke"):
        if text not in out:
            problems.append(f"the output's end {text!r} is missing")
    for text in ("all-is-well", "tests passed", "Total Test time", "never-runs"):
        if text in out:
            problems.append(f"{text!r} should not be in the summary")
    clean = subprocess.run([sys.executable, os.path.join(HERE, "failure_summary.py"), passed],
                           capture_output=True, text=True)
    if not clean.stdout.startswith("make test: no failed tests in"):
        problems.append(f"a passing log gave {clean.stdout!r}")
    if problems:
        print("FAIL " + "; ".join(problems) + "\n--- summary:\n" + out + "--- log:\n"
              + run.stdout)
        return 1
    print("PASS failure_summary: the four failures named with their output, nothing else")
    return 0


if __name__ == "__main__":
    sys.exit(main())
