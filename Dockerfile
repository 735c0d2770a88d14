# nodeguard's image: one image for both modes (`nodeguard controller`,
# `nodeguard agent`), on Debian bookworm.
#
#   docker build -t registry.example.com/nodeguard:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg SOURCE=https://git.example.com/nodeguard .
#   (podman build / buildah bud take the same arguments)
#
# The runtime stage's packages are listed in manifests/image/runtime-packages.txt
# and installed by manifests/image/install-runtime.sh. `make image`
# (tests/image/build-image.sh) builds this file with podman without a registry
# (BUILD_IMAGE and RUNTIME_IMAGE set to a local debootstrap base) and
# `make test-image` runs the result; tests/image also builds the runtime
# filesystem with debootstrap and runs the binary in it as uid 65532
# (docs/testing.md, "The image").

ARG BUILD_IMAGE=debian:bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# --- build: the README's own dependency script, then CMake without tests.
# RelWithDebInfo (-O2), stripped: the optimisation level `make test` proves.
# (Release's -O3 also trips g++ 12's false -Wrestrict on std::string::insert,
# GCC PR 105329, which -Werror turns into a failed build.)
FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY .ci/install-deps .ci/install-deps
# No Go: it builds only the local test cluster, not nodeguard.
RUN NODEGUARD_DEPS_WITHOUT_GO=1 .ci/install-deps \
 && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt ./
COPY controller controller
# Parallel compile jobs (default: the builder's CPUs), e.g. 2 on a shared machine.
ARG CMAKE_BUILD_PARALLEL_LEVEL
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
      -DNODEGUARD_WERROR=ON \
 && cmake --build /build --target nodeguard \
 && strip /build/controller/nodeguard \
 && /build/controller/nodeguard --version

# --- runtime: bookworm-slim plus the shared libraries nodeguard links.
FROM ${RUNTIME_IMAGE} AS runtime
COPY manifests/image/runtime-packages.txt manifests/image/install-runtime.sh /tmp/image/
RUN /tmp/image/install-runtime.sh /tmp/image/runtime-packages.txt \
 && rm -rf /tmp/image
COPY --from=build /build/controller/nodeguard /usr/local/bin/nodeguard
# The controller runs as this non-root user; the agent's DaemonSet runs the
# same image as root (it must nsenter into the host).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/nodeguard"]
CMD ["controller"]
# The labels last: a new revision must not invalidate the cached layers above
# (a build argument declared before a RUN is part of that RUN's cache key).
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="nodeguard" \
      org.opencontainers.image.description="Caps pod density, remediates PLEG-sick nodes one at a time, flags pods without resource requests" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
