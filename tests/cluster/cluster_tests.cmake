# How the tests that use the fixture's cluster share it (included by
# tests/cluster/CMakeLists.txt, and by tests/cluster/tests/ctest_slots_test.py's
# toy project, which checks the scheduling with the ctest at hand).
#
# The cluster is a CTest resource, "cluster_slots", with N slots
# (nodeguard_cluster_resources writes ${CMAKE_BINARY_DIR}/cluster-resources.json
# and makes it this build tree's default resource spec file, so a plain
# `ctest -j N` in the build tree uses it as `make test` does with
# --resource-spec-file; without any spec file CTest ignores RESOURCE_GROUPS).
#   - a scenario takes one slot: up to N run at once;
#   - a whole-cluster test takes all N: it runs alone;
#   - both require the fixture "cluster" (cluster.up first, cluster.down last).
# Expects: NODEGUARD_CLUSTER_TEST_ENV (their environment).

# nodeguard_cluster_resources(SLOTS)
function(nodeguard_cluster_resources slots)
  if(NOT slots MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "NODEGUARD_CLUSTER_SLOTS must be a positive number, got '${slots}'")
  endif()
  set(spec ${CMAKE_BINARY_DIR}/cluster-resources.json)
  file(CONFIGURE OUTPUT ${spec} CONTENT
    "{\"version\": {\"major\": 1, \"minor\": 0},\n \"local\": [{\"cluster_slots\": [{\"id\": \"fixture\", \"slots\": ${slots}}]}]}\n")
  set(NODEGUARD_CLUSTER_RESOURCES ${spec} CACHE INTERNAL
    "CTest resource spec file: the fixture's cluster as NODEGUARD_CLUSTER_SLOTS slots")
  set(NODEGUARD_CLUSTER_SLOTS_USED ${slots} CACHE INTERNAL "Slots of cluster-resources.json")
  # The build tree's default for `ctest` (written into CTestTestfile.cmake).
  set(CTEST_RESOURCE_SPEC_FILE ${spec} PARENT_SCOPE)
endfunction()

function(_nodeguard_cluster_add name slots)
  cmake_parse_arguments(ARG "" "TIMEOUT" "COMMAND;LABELS" ${ARGN})
  if(NOT ARG_LABELS)
    set(ARG_LABELS integration)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${ARG_COMMAND})
  set_tests_properties(${name} PROPERTIES
    FIXTURES_REQUIRED cluster
    RESOURCE_GROUPS "cluster_slots:${slots}"
    LABELS "${ARG_LABELS}"
    TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "${NODEGUARD_CLUSTER_TEST_ENV}")
endfunction()

# nodeguard_cluster_scenario(NAME COMMAND cmd args... [LABELS l...] [TIMEOUT s])
# A test that uses only its own Scope(s) of the cluster (tests/lib Scope):
# one slot. Default label integration, timeout 300s.
function(nodeguard_cluster_scenario name)
  _nodeguard_cluster_add(${name} 1 ${ARGN})
endfunction()

# nodeguard_cluster_test(NAME COMMAND cmd args... [LABELS l...] [TIMEOUT s])
# A test of the whole cluster: every slot, so nothing else that uses the
# cluster runs beside it. Default label integration, timeout 300s.
function(nodeguard_cluster_test name)
  _nodeguard_cluster_add(${name} ${NODEGUARD_CLUSTER_SLOTS_USED} ${ARGN})
  # Kept for ctest runs that bypass the spec file: whole-cluster tests at
  # least never overlap each other.
  set_tests_properties(${name} PROPERTIES RESOURCE_LOCK nodeguard_cluster)
endfunction()
