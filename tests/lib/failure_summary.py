#!/usr/bin/env python3
"""Prints, last, which tests failed in CTest logs and the end of each one's output.

`make test` runs several CTest invocations whose output is long (the cluster
suites, then the ASan/UBSan unit tests and the fuzzers, printed from their
own log); CI keeps only the end of it. This puts the names of the failed
tests and the last lines of their output (CTest's --output-on-failure) where
they are read.

Usage: failure_summary.py [--lines N] LOG...
Exit status: 0 whatever the logs say (the summary is information; `make
test` decides its own status from CTest's), 2 on a usage error.
"""
import argparse
import re
import sys

# "  12/140 Test #1131: e2e.apf ....   Failed   354.50 sec" (also ***Failed,
# ***Timeout, ***Exception: ...). "Passed" and "Not Run" lines are not failures
# here; "Not Run" tests are listed in CTest's own FAILED list, read below.
RESULT = re.compile(r"^\s*\d+/\d+\s+Test\s+#\d+:\s+(\S+)\s+\.*\s*(\**)(\w[\w ]*?)\s+[\d.]+\s+sec")
START = re.compile(r"^\s*Start\s+\d+:\s")
FAILED_LIST = re.compile(r"^The following tests FAILED:")
# CTest's closing lines, which follow the last test's output.
SUMMARY = re.compile(r"^\d+% tests passed|^Label Time Summary|^Total Test time")
FAILED_ITEM = re.compile(r"^\s+\d+ - (\S+) \((.+)\)")


def scan(path):
    """Returns [(name, why, output_lines)] for the failed tests of one log."""
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:
        return [(path, f"log unreadable: {e}", [])]
    outputs = {}
    current = None
    for line in lines:
        m = RESULT.match(line)
        if m:
            current = None
            if m.group(3) != "Passed":
                current = m.group(1)
                outputs[current] = []
            continue
        if START.match(line) or FAILED_LIST.match(line) or SUMMARY.match(line):
            current = None
            continue
        if current is not None:
            outputs[current].append(line)
    failed = []
    in_list = False
    for line in lines:
        if FAILED_LIST.match(line):
            in_list = True
            continue
        if in_list:
            m = FAILED_ITEM.match(line)
            if not m:
                in_list = False
                continue
            failed.append((m.group(1), m.group(2), outputs.get(m.group(1), [])))
    return failed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=40, help="output lines kept per failed test")
    parser.add_argument("logs", nargs="+")
    args = parser.parse_args()
    failed = []
    for path in args.logs:
        failed += [(path, *f) for f in scan(path)]
    if not failed:
        print("make test: no failed tests in " + ", ".join(args.logs))
        return 0
    for path, name, why, output in failed:
        print(f"---- {name} ({why}), from {path}; the last {args.lines} lines of its output:")
        for line in output[-args.lines:]:
            print("  " + line)
    names = ", ".join(f"{name} ({why})" for _, name, why, _ in failed)
    print(f"make test: {len(failed)} failed: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
