# nodeguard's front door. `make test` and `make demo` are the two commands that
# matter; both install what they need on a fresh Debian machine (as root).

BUILD_DIR      ?= build
ASAN_BUILD_DIR ?= build-asan
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_SECONDS   ?= 20
BUILD_TYPE     ?= RelWithDebInfo
CTEST_ARGS     ?=
JOBS           ?= $(shell nproc)
# Cluster suites: tests at once. Scenarios share the fixture's cluster in
# NODEGUARD_CLUSTER_SLOTS slots (default 4; whole-cluster tests take all of
# them, build/cluster-resources.json), plus e2e.demo on its own cluster and the
# real-node test. They mostly wait, so this exceeds the cores.
CLUSTER_JOBS   ?= 6
CLUSTER_CTEST   = ctest --resource-spec-file cluster-resources.json -j $(CLUSTER_JOBS)

CMAKE_FLAGS = -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DNODEGUARD_WERROR=ON

# Go (the cluster components, promtool): the machine's own when it is 1.26 or
# newer; else the one `make deps` installs (Debian's backported Go running a
# newer toolchain from the Go module proxy; see .ci/install-deps), which every
# recipe and test then finds first on PATH.
NODEGUARD_GO_ENV := $(shell .ci/install-deps --go-env)
ifneq ($(NODEGUARD_GO_ENV),)
export PATH := $(word 1,$(NODEGUARD_GO_ENV)):$(PATH)
export GOTOOLCHAIN := $(word 2,$(NODEGUARD_GO_ENV))
endif

.PHONY: all deps build build-asan test test-unit test-asan test-cluster test-fuzz test-image image cluster-components \
        promtool helm demo demo-down replay chaos-soak install-plugin format format-check fuzz bench-scale clean help

all: build

help:
	@echo "make test      install deps, build, run every test suite (unit, ASan/UBSan unit, integration, e2e)"
	@echo "make demo      start a local simulated cluster and watch nodeguard act on it"
	@echo "make replay    the PLEG incident replayed without nodeguard, with a naive script, with nodeguard (docs/replay.md)"
	@echo "make bench-scale  nodeguard beside a controller-runtime peer on a growing kwok cluster (SCALE_STEPS; docs/performance.md)"
	@echo "make chaos-soak  nodeguard under randomized faults for DURATION seconds (default 3600), judged by an independent checker (docs/testing.md)"
	@echo "make deps      install Debian packages (idempotent, as root)"
	@echo "make build     configure and build into $(BUILD_DIR)/"
	@echo "make install-plugin  the kubectl plugin: nodeguard and the kubectl-nodeguard symlink into \$$(PREFIX)/bin (default /usr/local)"
	@echo "make format    apply .clang-format to all C++ sources"
	@echo "make image     build the Dockerfile with podman (root; no registry needed), print the image reference"
	@echo "make test-image  the image built and run as non-root, and its runtime filesystem (debootstrap, root)"

deps:
	@.ci/install-deps

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

$(ASAN_BUILD_DIR)/build.ninja:
	cmake -S . -B $(ASAN_BUILD_DIR) $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=Debug -DNODEGUARD_SANITIZE=ON

build-asan: deps $(ASAN_BUILD_DIR)/build.ninja
	cmake --build $(ASAN_BUILD_DIR) -j $(JOBS) --target unit_tests

# Pinned control-plane binaries, cached outside the repository.
cluster-components: deps
	@tests/cluster/build-components.sh >/dev/null

# promtool (alert rules, their unit tests, the /metrics lint), built from the
# Go module proxy and cached outside the repository like the components. The
# manifests and runtime tests fail without it.
promtool: deps
	@tests/integration/manifests/get-promtool.sh >/dev/null

# helm (the chart's tests: tests/integration/helm), built and cached the same
# way; helm.chart fails without it.
helm: deps
	@tests/integration/helm/get-helm.sh >/dev/null

test-unit: build
	cd $(BUILD_DIR) && ctest -L unit -j $(JOBS) --output-on-failure $(CTEST_ARGS)

test-asan: build-asan
	cd $(ASAN_BUILD_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest -L unit -j $(JOBS) --output-on-failure $(CTEST_ARGS)

# libFuzzer (clang) on the decoders and the watch framer, FUZZ_SECONDS each.
$(FUZZ_BUILD_DIR)/build.ninja:
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DNODEGUARD_FUZZ=ON -DNODEGUARD_SANITIZE=ON -DNODEGUARD_FUZZ_SECONDS=$(FUZZ_SECONDS)

test-fuzz: deps $(FUZZ_BUILD_DIR)/build.ninja
	cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzz_targets
	cd $(FUZZ_BUILD_DIR) && ctest -L fuzz --output-on-failure

test-cluster: build cluster-components
	cd $(BUILD_DIR) && $(CLUSTER_CTEST) -L 'integration|e2e' --output-on-failure $(CTEST_ARGS)

# The Dockerfile built for real with Debian's podman: vfs storage of its own
# (~/.cache/nodeguard/podman, tests/image/podman.sh), the debootstrap base of
# tests/image/build-rootfs.sh imported in place of debian:bookworm(-slim), no
# registry. Tags localhost/nodeguard:VERSION and prints it. Root only. Cold
# (compiles nodeguard in the build stage) it took 32 minutes here; with
# nothing changed, 2 seconds (docs/testing.md, "The image").
image: deps
	@tests/image/build-image.sh

# The image built (`make image`'s script) and run: --version, labels, user,
# then its controller with the host network against the local cluster; and the
# image's runtime filesystem (debootstrap + manifests/image/runtime-packages.txt,
# cached in ~/.cache/nodeguard/image) running this build's binary as uid 65532,
# then the controller in it. Root only. Not in `test`: CI's cold run would add
# the cold image build, 32 minutes here (docs/testing.md, "The image").
test-image: build cluster-components
	cd $(BUILD_DIR) && $(CLUSTER_CTEST) -L image --output-on-failure $(CTEST_ARGS)

# Everything CI proves: unit tests, the same under ASan/UBSan, a bounded fuzz
# run, the suites that run against a real local control plane. The C++ build
# and the cluster components' Go build run at the same time: on a cold 2-core
# machine each leaves cores idle that the other uses (module downloads, link
# steps, the last objects of a target). The cluster
# suites mostly wait (on the control plane, on simulated kubelets, on drains),
# so the CPU-bound rest (the ASan/UBSan build and its unit tests, the fuzz
# build and run) runs beside them, niced so the cluster keeps its share of the
# CPU; its output goes to $(BUILD_DIR)/test-beside.log, printed at the end.
# promtool is built by the cluster suites themselves (CTest fixture
# "promtool"). Fails if either side failed; the failed tests' names and the
# end of their output are printed last (tests/lib/failure_summary.py), where
# CI's log, which keeps only the end, shows them.
test: deps $(BUILD_DIR)/build.ninja
	@clog=$(CURDIR)/$(BUILD_DIR)/components.log; \
	  echo "make test: the cluster components build beside the C++ build (log: $$clog)"; \
	  tests/cluster/build-components.sh >"$$clog" 2>&1 & components=$$!; \
	  cmake --build $(BUILD_DIR) -j $(JOBS); built=$$?; \
	  wait $$components; components_status=$$?; \
	  if [ $$components_status -ne 0 ]; then cat "$$clog"; echo "make test: the cluster components failed to build"; fi; \
	  [ $$built -eq 0 ] && [ $$components_status -eq 0 ]
	cd $(BUILD_DIR) && ctest -L unit -j $(JOBS) --output-on-failure $(CTEST_ARGS)
	@log=$(CURDIR)/$(BUILD_DIR)/test-beside.log; \
	  echo "make test: ASan/UBSan unit tests and fuzzing run beside the cluster suites (log: $$log)"; \
	  nice -n 10 $(MAKE) -k --no-print-directory test-asan test-fuzz >"$$log" 2>&1 & beside=$$!; \
	  clog=$(CURDIR)/$(BUILD_DIR)/test-cluster.log; \
	  start=$$(date +%s); \
	  { (cd $(BUILD_DIR) && $(CLUSTER_CTEST) -L 'integration|e2e' --output-on-failure $(CTEST_ARGS)); \
	    echo $$? >"$$clog.status"; } 2>&1 | tee "$$clog"; cluster=$$(cat "$$clog.status"); \
	  echo "make test: cluster suites exited $$cluster after $$(( $$(date +%s) - start ))s"; \
	  wait $$beside; beside_status=$$?; \
	  echo "make test: ASan/UBSan + fuzz exited $$beside_status ($$(( $$(date +%s) - start ))s after the cluster suites started); their output:"; \
	  cat "$$log"; \
	  python3 tests/lib/failure_summary.py "$$clog" "$$log"; \
	  [ $$cluster -eq 0 ] && [ $$beside_status -eq 0 ]

# The incident replayed on a local simulated cluster; leaves it running. Builds
# only what it runs: the nodeguard binary (no test targets).
demo: deps $(BUILD_DIR)/build.ninja cluster-components
	cmake --build $(BUILD_DIR) -j $(JOBS) --target nodeguard
	@NODEGUARD_BINARY=$(CURDIR)/$(BUILD_DIR)/controller/nodeguard tests/cluster/demo

# The PLEG incident replayed three times on one seeded cluster (no remediation,
# a naive reboot-everything script, nodeguard): CSVs, table and figure in
# $(REPLAY_OUT), the table printed (docs/replay.md). Its own cluster, taken
# down at the end. Builds only the nodeguard binary; matplotlib from Debian.
REPLAY_OUT  ?= $(BUILD_DIR)/replay
REPLAY_ARGS ?=
replay: deps $(BUILD_DIR)/build.ninja cluster-components
	@/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS) --target nodeguard
	tests/replay/replay.py all --out $(REPLAY_OUT) --nodeguard $(CURDIR)/$(BUILD_DIR)/controller/nodeguard $(REPLAY_ARGS)

# The long chaos soak (docs/testing.md, "The chaos soak"): DURATION seconds of
# randomized faults (seed SEED) on a cluster of its own, taken down at the end;
# the table is printed, the summary (JSON) and every log kept in $(CHAOS_OUT).
# Builds only the nodeguard binary. Fails on any violation.
DURATION  ?= 3600
SEED      ?= 7
CHAOS_OUT ?= $(BUILD_DIR)/chaos-soak
chaos-soak: deps $(BUILD_DIR)/build.ninja cluster-components
	cmake --build $(BUILD_DIR) -j $(JOBS) --target nodeguard
	tests/chaos/chaos.py --nodeguard $(CURDIR)/$(BUILD_DIR)/controller/nodeguard \
	  --workdir $(CHAOS_OUT) --cluster chaos-soak --seed $(SEED) --duration $(DURATION) \
	  --report $(CURDIR)/$(BUILD_DIR)/chaos-soak-summary.json $(CHAOS_ARGS)

# The scale benchmark (docs/performance.md, "Scale"; issue 22): a cluster of
# its own with kubelet heartbeat timing, grown to SCALE_STEPS (NODES:PODS,...)
# with nodeguard and the controller-runtime peer side by side, the API server
# restarted at the largest step (the relist), taken down at the end. Table on
# stdout; scale.json and the figure in $(SCALE_OUT). Builds only nodeguard
# (the peer from the Go module proxy); matplotlib from Debian. Label bench:
# never part of `make test`.
SCALE_STEPS ?= 1000:30000,2000:60000
SCALE_OUT   ?= $(BUILD_DIR)/scale
SCALE_ARGS  ?= --steady 30 --churn 2000 --latency-samples 10 --relist
bench-scale: deps $(BUILD_DIR)/build.ninja cluster-components
	@/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS) --target nodeguard
	mkdir -p $(SCALE_OUT)
	kubeconfig=$$(tests/cluster/up --name scale --kubelet-timing | tail -1) && \
	  KUBECONFIG=$$kubeconfig /usr/bin/python3 tests/bench/scale_bench.py --nodeguard $(CURDIR)/$(BUILD_DIR)/controller/nodeguard \
	  --workdir $(SCALE_OUT) --steps $(SCALE_STEPS) --figure $(SCALE_OUT)/scale-rss.png $(SCALE_ARGS); \
	  status=$$?; tests/cluster/down --name scale; exit $$status

# The kubectl plugin (docs/kubectl-plugin.md): the nodeguard binary and, next
# to it, the symlink kubectl-nodeguard that kubectl finds on PATH.
PREFIX ?= /usr/local
install-plugin: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS) --target nodeguard
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD_DIR)/controller/nodeguard $(DESTDIR)$(PREFIX)/bin/nodeguard
	ln -sf nodeguard $(DESTDIR)$(PREFIX)/bin/kubectl-nodeguard

# Stops the processes the demo recorded (their PID files), then its cluster.
demo-down:
	@tests/cluster/demo down

format: deps
	git ls-files '*.cpp' '*.h' | xargs clang-format -i

format-check: deps
	git ls-files '*.cpp' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR) $(ASAN_BUILD_DIR)
