#!/usr/bin/env python3
"""Acceptance tests of the NodeHealthPolicy API against a real API server.

Run by CTest with the "cluster" fixture (tests/integration/api/CMakeLists.txt),
one subcommand per test:

  install-crd            the CRD installs and is Established with its names
  cleanup                deletes the policies these tests created (label nodeguard.io/test=api)
  sample FILE            a manifests/samples file applies and reads back valid
  explain [FIELD...]     `kubectl explain nodehealthpolicy.spec.FIELD` (default podDensity;
                         `earlyWarning adaptiveCap` for spec.earlyWarning.adaptiveCap) prints
                         the descriptions of the field and its members
  printer-columns        `kubectl get nhp` shows the printer columns, filled from status
  status                 the status nodeguard writes (tests/testdata/api/status-example.json)
                         is accepted by the status subresource unchanged
  defaults NAME          a case of tests/testdata/api/defaulting-cases.json reads back defaulted
  invalid NAME           a case of tests/testdata/api/invalid-specs.json is rejected, naming
                         the field and the rule

Environment: KUBECONFIG (set by the fixture); NODEGUARD_CLUSTER_BIN, else the
pinned kubectl from tests/cluster/build-components.sh, else kubectl on PATH.
Only the Python standard library is used.
"""

import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import nodeguard_testlib as ng  # noqa: E402

CRD = os.path.join(ROOT, "crds", "nodeguard.io_nodehealthpolicies.yaml")
TESTDATA = os.path.join(ROOT, "tests", "testdata", "api")
SAMPLES = os.path.join(ROOT, "manifests", "samples")
CRD_NAME = "nodehealthpolicies.nodeguard.io"
TEST_LABEL = "nodeguard.io/test"


fail = ng.fail  # main() prints the failure and exits 1.


def kubectl(*args, stdin=None, check=True):
    return ng.kubectl(*args, stdin=stdin, check=check, timeout=None)


def policy(name, spec):
    return {
        "apiVersion": "nodeguard.io/v1alpha1",
        "kind": "NodeHealthPolicy",
        "metadata": {"name": name, "labels": {TEST_LABEL: "api"}},
        "spec": spec,
    }


def create(obj):
    kubectl("create", "-f", "-", stdin=json.dumps(obj))


def delete(name):
    kubectl("delete", "nhp", name, "--ignore-not-found", "--wait=false")


def get(name):
    return json.loads(kubectl("get", "nhp", name, "-o", "json").stdout)


def manifest_json(path):
    # Client-side conversion only: YAML to the JSON kubectl would send.
    out = kubectl("create", "--dry-run=client", "-o", "json", "-f", path).stdout
    return json.loads(out)


def squash(text):
    return " ".join(text.split())


def crd_ready():
    out = kubectl("get", "crd", CRD_NAME, "-o", "json", check=False)
    if out.returncode != 0:
        return None
    crd = json.loads(out.stdout)
    # Right after creation the server may answer "conditions": null.
    status = crd.get("status") or {}
    conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
    if conditions.get("Established") == "True" and conditions.get("NamesAccepted") == "True":
        return crd
    return None


def wait_for(what, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    fail(f"timed out after {timeout}s waiting for {what}")


# ---------------------------------------------------------------- tests


def test_install_crd():
    kubectl("apply", "--server-side", "--force-conflicts", "-f", CRD)
    crd = wait_for("the CRD to be Established", crd_ready)
    names = crd["status"]["acceptedNames"]
    for key, want in [("kind", "NodeHealthPolicy"), ("plural", "nodehealthpolicies")]:
        if names.get(key) != want:
            fail(f"acceptedNames.{key} is {names.get(key)!r}, want {want!r}")
    if "nhp" not in names.get("shortNames", []):
        fail(f"short name nhp not accepted: {names}")
    if crd["spec"]["scope"] != "Cluster":
        fail("the CRD is not cluster-scoped")
    # The resource is served: discovery lists it under its short name.
    wait_for("nhp in discovery",
             lambda: "nodehealthpolicies" in kubectl("api-resources", "--api-group=nodeguard.io",
                                                      "-o", "name", check=False).stdout)
    kubectl("get", "nhp")
    # The API server publishes a CRD's OpenAPI v3 schema asynchronously, some
    # time after Established (seconds when the CRD was just deleted and
    # re-created, as manifests.install does). Until then `kubectl explain`
    # answers "couldn't find resource"; the CRD is installed for users only
    # once it explains itself.
    wait_for("the OpenAPI v3 schema of NodeHealthPolicy",
             lambda: kubectl("explain", "nodehealthpolicy.spec.podDensity", check=False)
             .returncode == 0)
    print("CRD installed and Established; nhp served and explained")


def test_cleanup():
    kubectl("delete", "nhp", "-l", f"{TEST_LABEL}=api", "--ignore-not-found", "--wait=true")


def test_sample(file_name):
    path = os.path.join(SAMPLES, file_name)
    doc = manifest_json(path)
    if doc.get("kind") != "NodeHealthPolicy":
        fail(f"{file_name} is a {doc.get('kind')}, not a NodeHealthPolicy")
    original = doc["metadata"]["name"]
    # A private name, so this test never touches a policy someone else applied.
    name = "api-it-sample-" + original
    doc["metadata"] = {"name": name, "labels": {TEST_LABEL: "api"}}
    delete(name)
    kubectl("apply", "-f", "-", stdin=json.dumps(doc))
    try:
        stored = get(name)
        for key, value in doc["spec"].items():
            if key not in stored["spec"]:
                fail(f"spec.{key} of {file_name} was not stored (pruned?)")
        # Everything the sample wrote is stored as written (nothing pruned).
        def contains(have, want, path):
            if isinstance(want, dict):
                for k, v in want.items():
                    if k not in have:
                        fail(f"{path}.{k} of {file_name} was pruned by the server")
                    contains(have[k], v, f"{path}.{k}")
            elif want != have:
                fail(f"{path} of {file_name} stored as {have!r}, written as {want!r}")
        contains(stored["spec"], doc["spec"], "spec")
        print(f"{file_name} ({original}) applies; stored spec: {json.dumps(stored['spec'])}")
    finally:
        delete(name)


def test_explain(*path):
    # `explain [FIELD...]`: the spec field to explain, a path under spec
    # (default podDensity; e.g. `earlyWarning adaptiveCap`).
    path = list(path) or ["podDensity"]
    dotted = ".".join(path)
    # Retried for the same reason as in test_install_crd: this test may run
    # alone, right after another suite re-created the CRD.
    def explain():
        result = kubectl("explain", "nodehealthpolicy.spec." + dotted, check=False)
        return result.stdout if result.returncode == 0 else None

    out = wait_for("kubectl explain nodehealthpolicy.spec." + dotted, explain)
    text = squash(out)
    crd = manifest_json(CRD)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    field = schema["properties"]["spec"]
    for name in path:
        field = field["properties"][name]
    wanted = [(dotted, field["description"])]
    wanted += [(name, prop["description"]) for name, prop in field["properties"].items()]
    for name, description in wanted:
        if squash(description) not in text:
            fail(f"kubectl explain does not print the description of {name}:\n"
                 f"  want: {description}\n--- output:\n{out}")
    print(f"kubectl explain prints {len(wanted)} descriptions")


def test_printer_columns():
    name = "api-it-columns"
    delete(name)
    create(policy(name, {"paused": True}))
    try:
        status = json.load(open(os.path.join(TESTDATA, "status-example.json")))
        kubectl("patch", "nhp", name, "--subresource=status", "--type=merge", "-p",
                json.dumps({"status": status}))
        out = kubectl("get", "nhp", name).stdout
        lines = out.strip().splitlines()
        header, row = lines[0].split(), lines[1].split()
        want_header = ["NAME", "NODES", "UNHEALTHY", "CAPPED", "REMEDIATING", "PAUSED", "AGE"]
        if header != want_header:
            fail(f"columns are {header}, want {want_header}:\n{out}")
        values = dict(zip(header, row))
        want = {"NAME": name, "NODES": str(status["selectedNodes"]),
                "UNHEALTHY": str(status["unhealthyNodes"]), "CAPPED": str(status["cappedNodes"]),
                "REMEDIATING": str(status["remediatingNodes"]), "PAUSED": "true"}
        for column, value in want.items():
            if values.get(column) != value:
                fail(f"column {column} shows {values.get(column)!r}, want {value!r}:\n{out}")
        wide = kubectl("get", "nhp", name, "-o", "wide").stdout.strip().splitlines()
        wide_values = dict(zip(wide[0].split(), wide[1].split()))
        if wide_values.get("READY") != "True" or wide_values.get("DRYRUN") != "false":
            fail(f"-o wide columns READY/DRYRUN wrong:\n{chr(10).join(wide)}")
        full = kubectl("get", "nodehealthpolicies.nodeguard.io", name).stdout.strip().splitlines()
        if [line.split()[:-1] for line in full] != [line.split()[:-1] for line in lines]:
            fail("`get nhp` and `get nodehealthpolicies.nodeguard.io` differ (AGE aside)")
        print(out)
    finally:
        delete(name)


def test_status():
    name = "api-it-status"
    delete(name)
    create(policy(name, {}))
    try:
        status = json.load(open(os.path.join(TESTDATA, "status-example.json")))
        # The whole status, as nodeguard's StatusWriter replaces it (PUT /status).
        obj = get(name)
        obj["status"] = status
        kubectl("replace", "--subresource=status", "-f", "-", stdin=json.dumps(obj))
        stored = get(name)
        if stored.get("status") != status:
            fail("the status subresource changed the status nodeguard writes (a field the CRD "
                 f"does not declare was pruned?):\nwrote  {json.dumps(status, sort_keys=True)}\n"
                 f"stored {json.dumps(stored.get('status'), sort_keys=True)}")
        # Status cannot be set through the main resource.
        stored["status"] = {"selectedNodes": 999}
        stored["spec"]["paused"] = True
        kubectl("replace", "-f", "-", stdin=json.dumps(stored))
        again = get(name)
        if again["status"] != status or again["spec"]["paused"] is not True:
            fail("an update of the main resource changed status, or lost the spec change")
        print("status subresource stores nodeguard's status unchanged")
    finally:
        delete(name)


def test_defaults(case_name):
    cases = {c["name"]: c for c in json.load(open(os.path.join(TESTDATA,
                                                                "defaulting-cases.json")))}
    case = cases.get(case_name) or fail(f"no defaulting case {case_name!r}")
    name = "api-it-defaults-" + case_name
    delete(name)
    create(policy(name, case["spec"]))
    try:
        stored = get(name)["spec"]
        if stored != case["defaulted"]:
            fail(f"the server stored\n  {json.dumps(stored, sort_keys=True)}\nwant\n  "
                 f"{json.dumps(case['defaulted'], sort_keys=True)}")
        print(f"read back with defaults: {json.dumps(stored, sort_keys=True)}")
    finally:
        delete(name)


def test_invalid(case_name):
    cases = {c["name"]: c for c in json.load(open(os.path.join(TESTDATA, "invalid-specs.json")))}
    case = cases.get(case_name) or fail(f"no invalid case {case_name!r}")
    doc = policy("api-it-invalid-" + case_name, case["spec"])
    # Server-side dry run: full admission (defaulting, schema, CEL), nothing stored.
    result = kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(doc), check=False)
    output = result.stdout + result.stderr
    if result.returncode == 0:
        fail(f"the API server accepted an invalid spec {json.dumps(case['spec'])}:\n{output}")
    message = case.get("server_message", case.get("message"))
    field = case["field"] + ":"
    if not any(field in line and message in line for line in output.splitlines()):
        fail(f"the rejection does not name {case['field']!r} with {message!r}:\n{output}")
    # Only the broken rule: kubectl lists several errors as "* " bullets. A
    # rule comparing a field with an invalid maxPods must not add a second.
    # (After an enum, required or type error the server adds a note that it
    # skipped the CEL rules: not an error of the spec.)
    bullets = [line for line in output.splitlines() if line.lstrip().startswith("* ")
               and "some validation rules were not checked" not in line]
    if len(bullets) > 1:
        fail(f"the rejection reports {len(bullets)} errors, want only {case['field']!r}:\n{output}")
    print(output.strip())


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    if "KUBECONFIG" not in os.environ:
        print("FAIL: KUBECONFIG is not set: run through ctest (cluster fixture) or export it",
              file=sys.stderr)
        return 1
    command, args = argv[1], argv[2:]
    tests = {
        "install-crd": test_install_crd,
        "cleanup": test_cleanup,
        "sample": test_sample,
        "explain": test_explain,
        "printer-columns": test_printer_columns,
        "status": test_status,
        "defaults": test_defaults,
        "invalid": test_invalid,
    }
    if command not in tests:
        print(__doc__)
        return 2
    try:
        tests[command](*args)
    except ng.TestFailure as e:
        print("FAIL: " + str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
