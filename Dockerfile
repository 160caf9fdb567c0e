# syntax=docker/dockerfile:1
#
# secstash: Python 3.11 pipeline + the KCL 3.x MultiLangDaemon (Java 17), one container.
#
#   docker build -t secstash .
#   docker run --rm -v $PWD/secstash.yml:/etc/secstash/secstash.yml:ro -p 9108:9108 secstash
#
# Stages: kclpy-src (amazon-kclpy sources and the pom naming the daemon's jars) -> kcl-jars (Maven resolves
# the jars) -> native (the compiled record path's wheel, built from native/ with Rust) -> venv (the
# amazon-kclpy wheel built with those jars, then secstash and the native wheel) -> runtime (JRE, tini, the
# venv and the jars; no compilers, no Maven, no pip cache).
#
# amazon-kclpy 3.2.0 names KCL 3.5.3; the jar list is taken from the amazon-kclpy release in KCL_JARS_FROM
# (default 3.1.3, the daemon scripts/setup.sh installs and CI tests against; the Python side of kclpy 3.1.3
# and 3.2.0 speaks the same protocol). `--build-arg KCL_JARS_FROM=3.2.0` takes KCL 3.5.3 instead.

#
# Base images: PYTHON_IMAGE and MAVEN_IMAGE take any image reference, a tag or a digest. The defaults are
# tags, which move; for a reproducible build pin them by digest, e.g. look the digest up with
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (the "Digest:" line)
# and build with
#   --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<digest> \
#   --build-arg MAVEN_IMAGE=maven:3.9-eclipse-temurin-17@sha256:<digest> \
#   --build-arg RUST_IMAGE=rust:1-slim-bookworm@sha256:<digest>
# (or commit those values here and let Renovate/Dependabot bump them). Python dependencies are pinned by
# constraints.txt, the set CI tests (see the venv stage).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG MAVEN_IMAGE=maven:3.9-eclipse-temurin-17
# Bookworm, as the Python image: the wheel links against the same glibc.
ARG RUST_IMAGE=rust:1-slim-bookworm
ARG KCLPY_VERSION=3.2.0
ARG KCL_JARS_FROM=3.1.3

# --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS kclpy-src
ARG KCLPY_VERSION
ARG KCL_JARS_FROM
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY deploy/docker/kcl_pom.py /usr/local/bin/kcl_pom.py
RUN pip download --no-deps --no-binary :all: "amazon-kclpy==${KCLPY_VERSION}" -d /sdist \
 && { [ "${KCL_JARS_FROM}" = "${KCLPY_VERSION}" ] \
      || pip download --no-deps --no-binary :all: "amazon-kclpy==${KCL_JARS_FROM}" -d /sdist; } \
 && tar -xzf "/sdist/amazon_kclpy-${KCLPY_VERSION}.tar.gz" -C /src \
 && tar -xzf "/sdist/amazon_kclpy-${KCL_JARS_FROM}.tar.gz" -C /src \
 && mv "/src/amazon_kclpy-${KCLPY_VERSION}" /src/kclpy \
 && cp "/src/amazon_kclpy-${KCL_JARS_FROM}/pom.xml" /src/kclpy/pom.xml \
 && python /usr/local/bin/kcl_pom.py /src/kclpy/pom.xml /src/kcl-pom.xml "${KCL_JARS_FROM}"

# --------------------------------------------------------------------------------------------------------
FROM ${MAVEN_IMAGE} AS kcl-jars
COPY --from=kclpy-src /src/kcl-pom.xml /build/pom.xml
# excludeTransitive: the pom already lists the whole closure; copy exactly the jars amazon-kclpy names.
RUN --mount=type=cache,target=/root/.m2 \
    mvn -B -q -f /build/pom.xml \
      org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
      -DexcludeTransitive=true -DoutputDirectory=/opt/kcl/jars \
 && ls /opt/kcl/jars/amazon-kinesis-client-multilang-*.jar

# --------------------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS native
# Debian bookworm's python3 is 3.11, the runtime's: maturin builds an abi3 wheel for it (cp311-abi3).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_CONSTRAINT=/src/constraints.txt
COPY constraints.txt /src/constraints.txt
COPY native /src/native
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    /opt/build/bin/pip wheel --no-deps /src/native -w /wheels \
 && ls /wheels/secstash_native-*-cp311-abi3-*.whl

# --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
# amazon-kclpy's wheel build downloads every jar its pom names unless the jar is already in
# amazon_kclpy/jars: put Maven's copies there, so the build fetches nothing and checks the set is complete.
COPY --from=kclpy-src /src/kclpy /build/kclpy
COPY --from=kcl-jars /opt/kcl/jars/ /build/kclpy/amazon_kclpy/jars/
RUN pip wheel --no-deps /build/kclpy -w /build/wheels \
 && pip install /build/wheels/amazon_kclpy-*.whl
COPY pyproject.toml README.md constraints.txt /build/secstash/
COPY consumer /build/secstash/consumer
COPY parsers /build/secstash/parsers
COPY sinks /build/secstash/sinks
# constraints.txt pins every dependency to the versions CI tests, so a rebuild does not pick up whatever
# pyproject.toml's open ranges resolve to that day. The runtime stage ships the jars once, in
# /opt/kcl/jars; drop amazon-kclpy's duplicate copy.
COPY --from=native /wheels /build/wheels
RUN pip install -c /build/secstash/constraints.txt /build/secstash /build/wheels/secstash_native-*.whl \
 && rm -rf /opt/venv/lib/python3.11/site-packages/amazon_kclpy/jars \
 && secstash --help >/dev/null \
 && python -c "from consumer import native_path; assert native_path.available()"

# --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="secstash" \
      org.opencontainers.image.description="Kinesis security-log consumer: AWS logs to ECS documents in Elasticsearch/OpenSearch and an immutable S3 archive" \
      org.opencontainers.image.licenses="Apache-2.0"
# Debian's JRE gets Debian's security updates with the base image; versions are not pinned because the
# archive drops superseded versions, which would break rebuilds. The man directory works around the JRE's
# postinst on slim images, which have none.
# hadolint ignore=DL3008
RUN mkdir -p /usr/share/man/man1 \
 && apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 secstash \
 && useradd --system --uid 10001 --gid secstash --home-dir /var/lib/secstash --create-home \
      --shell /usr/sbin/nologin secstash \
 && mkdir -p /etc/secstash \
 && install -d -m 1777 /tmp
# The only writable path under a read-only root (ECS readonlyRootFilesystem, the chart's emptyDir). On
# Fargate a task volume mounted at a path the image does not declare as a VOLUME is created root:root 0755,
# which uid 10001 cannot write (secstash's first act is tempfile.mkdtemp()); a declared VOLUME gets the
# image directory's owner and mode, 1777 here. tests/unit/deploy/test_ecs.py checks every containerPath
# of the task definition is a VOLUME.
VOLUME ["/tmp"]
COPY --from=kcl-jars /opt/kcl/jars /opt/kcl/jars
COPY --from=venv /opt/venv /opt/venv

# The daemon's heap is -Xmx from the settings' kcl.heap_mb (default 512 MiB, one JVM per stream).
# JAVA_TOOL_OPTIONS caps any JVM started without -Xmx at a quarter of the container's memory and makes
# an out-of-memory JVM exit (secstash restarts it) instead of limping on. MALLOC_ARENA_MAX=2: glibc gives
# each thread that allocates its own heap arena and keeps what it frees there; the pipeline process runs a
# thread per shard connection plus the sinks' senders, and capping the arenas took its peak RSS from
# 126-133 MB to 104-107 MB under a backlog, at the same throughput (docs/performance.md).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    SECSTASH_KCL_JARS=/opt/kcl/jars \
    JAVA_TOOL_OPTIONS="-XX:MaxRAMPercentage=25.0 -XX:+ExitOnOutOfMemoryError" \
    SECSTASH_HEALTHCHECK_URL=http://127.0.0.1:9108/healthz

USER 10001:10001
WORKDIR /var/lib/secstash
EXPOSE 9108

# /healthz answers while the process is alive; readiness (/readyz) is for orchestrators, so a search
# outage never marks the container unhealthy. Python, not curl: the slim image has no curl.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SECSTASH_HEALTHCHECK_URL'], timeout=4)"]

# tini as PID 1 forwards SIGTERM to secstash and reaps orphans. Not `tini -g`: secstash stops its KCL
# daemons (each in its own session) and drains its parser processes itself, in order, within
# pipeline.shutdown_grace_s; signalling the whole group would kill the parsers before they drain.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["secstash", "run", "--config", "/etc/secstash/secstash.yml"]
