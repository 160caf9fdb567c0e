#!/usr/bin/env bash
# Installs everything secstash needs to run and to be tested on this machine, idempotently:
#   - .venv in the project root, with amazon-kclpy (jars from Maven Central) and `pip install -e '.[test]'`
#   - secstash_native, the compiled record path (native/, Rust: cargo and crates.io)
#   - the KCL MultiLangDaemon jars (the exact list amazon-kclpy's pom.xml names)
#   - kinesis-local (kinesis-mock, npm)
#   - Elasticsearch 8.19 and OpenSearch 2.19 integ-test zips (Maven Central), unpacked
#   - a system user that runs the search engines (they refuse to run as root)
# and records where each thing is in $CACHE/env.json, read by consumer/embedded/paths.py.
#
# Large downloads live outside the clone, in ${SECSTASH_CACHE:-$HOME/.cache/secstash} and ~/.m2, so a
# rerun only checks that each piece is there. Override the versions with the variables below.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SECSTASH_CACHE:-$HOME/.cache/secstash}"
KCLPY_VERSION="${SECSTASH_KCLPY_VERSION:-3.2.0}"
KINESIS_LOCAL_VERSION="${SECSTASH_KINESIS_LOCAL_VERSION:-0.6.2}"
# Newest 8.19.N / 2.19.N that Maven Central served when this was written (2026-11).
ES_VERSION="${SECSTASH_ES_VERSION:-8.19.21}"
OS_VERSION="${SECSTASH_OS_VERSION:-2.19.6}"
SEARCH_USER="${SECSTASH_SEARCH_USER:-secstash-search}"
JAVA17_HOME="${SECSTASH_JAVA17_HOME:-}"
PYTHON="${SECSTASH_PYTHON:-python3.11}"
DEP_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
M2_REPO="${SECSTASH_M2_REPO:-$HOME/.m2/repository}"

t0=$SECONDS
log() { printf '[setup %3ds] %s\n' "$((SECONDS - t0))" "$*" >&2; }
# mvn -q still prints colour resets; keep its output (errors) on stderr, readable.
mvn_q() { mvn -B -q "$@" 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2; }
mkdir -p "$CACHE"

find_java17() {
  [[ -n "$JAVA17_HOME" ]] && { echo "$JAVA17_HOME"; return; }
  local d
  for d in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk* /usr/lib/jvm/temurin-17*; do
    [[ -x "$d/bin/java" ]] && { echo "$d"; return; }
  done
  echo "setup.sh: no Java 17 found (set SECSTASH_JAVA17_HOME)" >&2
  exit 1
}
find_java_newest() {
  local d
  for d in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-2[1-9]* /usr/lib/jvm/java-2[1-9]-openjdk*; do
    [[ -x "$d/bin/java" ]] && { echo "$d"; return; }
  done
  echo ""
}
JAVA17_HOME="$(find_java17)"
JAVA_NEWEST_HOME="$(find_java_newest)"
for tool in mvn npm node unzip tar sha256sum "$PYTHON" $([[ "$(id -u)" == 0 ]] && echo setpriv useradd); do
  command -v "$tool" >/dev/null || { echo "setup.sh: '$tool' not on PATH" >&2; exit 1; }
done

# ---------------------------------------------------------------- venv
VENV="$ROOT/.venv"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
CONSTRAINTS=()
[[ -f "$ROOT/constraints.txt" ]] && CONSTRAINTS=(-c "$ROOT/constraints.txt")

# ---------------------------------------------------------------- KCL jars
# amazon-kclpy is a source package that ships only a pom.xml listing every jar of the MultiLangDaemon
# (transitives flattened) and downloads them while its wheel is built; it fails if one is missing.
# amazon-kclpy 3.2.0 names KCL 3.5.3, which Maven Central does not serve here: the newest KCL 3
# MultiLangDaemon it serves is 3.1.3, the one amazon-kclpy 3.1.3 names. The Python code of kclpy 3.1.3
# and 3.2.0 is identical (same protocol), so: take the jar list from the kclpy version in
# SECSTASH_KCL_JARS_FROM (default 3.1.3), give that pom the coordinates Maven needs, let Maven fill
# ~/.m2 and copy exactly the listed jars, then build the kclpy $KCLPY_VERSION wheel with that pom in
# place of its own, its jars read from ~/.m2 (KCL_MVN_REPO_SEARCH_URL).
KCL_JARS_FROM="${SECSTASH_KCL_JARS_FROM:-3.1.3}"
KCL_DIR="$CACHE/kclpy-$KCLPY_VERSION-jars-$KCL_JARS_FROM"
KCL_JARS="$KCL_DIR/jars"
KCL_WHEEL_DIR="$KCL_DIR/wheel"
fetch_sdist() { # version -> unpacked source dir
  local version=$1 dir="$CACHE/sdist"
  if [[ ! -f "$dir/amazon_kclpy-$version/setup.py" ]]; then
    log "downloading amazon-kclpy $version sdist"
    mkdir -p "$dir"
    "${PIP[@]}" download --no-deps --no-binary :all: "amazon-kclpy==$version" -d "$dir"
    tar -xzf "$dir/amazon_kclpy-$version.tar.gz" -C "$dir"
  fi
  echo "$dir/amazon_kclpy-$version"
}
if [[ ! -f "$KCL_JARS/.complete" || -z "$(ls "$KCL_WHEEL_DIR"/amazon_kclpy-*.whl 2>/dev/null)" ]]; then
  pom_src="$(fetch_sdist "$KCL_JARS_FROM")"
  py_src="$(fetch_sdist "$KCLPY_VERSION")"
  mkdir -p "$KCL_JARS" "$KCL_WHEEL_DIR"
  "$VENV/bin/python" - "$pom_src/pom.xml" "$KCL_DIR/pom.xml" "$KCL_JARS_FROM" <<'PY'
import re, sys
src, dst, version = sys.argv[1:]
pom = open(src, encoding="utf-8").read()
coords = (f"<groupId>local.secstash</groupId><artifactId>kclpy-jars</artifactId>"
          f"<version>{version}</version><packaging>pom</packaging>")
pom, n = re.subn(r"(<modelVersion>[^<]*</modelVersion>)", lambda m: m.group(1) + coords, pom, count=1)
if n != 1:
    sys.exit("amazon-kclpy pom.xml has no <modelVersion>: cannot add coordinates")
open(dst, "w", encoding="utf-8").write(pom)
PY
  log "fetching the KCL jars named by amazon-kclpy $KCL_JARS_FROM (Maven)"
  rm -f "$KCL_JARS"/*.jar
  # excludeTransitive: the pom already lists the whole closure; copy exactly what kclpy would install.
  mvn_q -f "$KCL_DIR/pom.xml" -Dmaven.repo.local="$M2_REPO" "$DEP_PLUGIN:copy-dependencies" \
    -DexcludeTransitive=true -DoutputDirectory="$KCL_JARS"
  log "building the amazon-kclpy $KCLPY_VERSION wheel with those jars"
  build="$KCL_DIR/build" && rm -rf "$build" && cp -r "$py_src" "$build"
  cp "$pom_src/pom.xml" "$build/pom.xml"
  rm -f "$KCL_WHEEL_DIR"/*.whl
  (cd "$build" && KCL_MVN_REPO_SEARCH_URL="file://$M2_REPO/" "${PIP[@]}" wheel --no-deps . -w "$KCL_WHEEL_DIR" \
    >"$KCL_DIR/wheel-build.log" 2>&1) || { tail -n 40 "$KCL_DIR/wheel-build.log" >&2; exit 1; }
  rm -rf "$build"
  touch "$KCL_JARS/.complete"
fi
KCL_WHEEL="$(ls "$KCL_WHEEL_DIR"/amazon_kclpy-*.whl | head -n1)"
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('amazon-kclpy') != '$KCLPY_VERSION')" 2>/dev/null; then
  log "installing $(basename "$KCL_WHEEL")"
  "${PIP[@]}" install "${CONSTRAINTS[@]}" "$KCL_WHEEL"
fi

# ---------------------------------------------------------------- project
# Reinstall only when pyproject.toml or constraints.txt changed since the last successful install.
stamp_want="$(cat "$ROOT/pyproject.toml" "${CONSTRAINTS[@]:1}" | sha256sum | cut -c1-16)"
stamp_file="$VENV/.secstash-installed"
if [[ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp_want" ]] || ! "$VENV/bin/python" -c "import importlib.metadata as m; m.version('secstash')" 2>/dev/null; then
  log "pip install -e '.[test]' ${CONSTRAINTS[*]}"
  "${PIP[@]}" install "${CONSTRAINTS[@]}" -e "$ROOT[test]"
  echo "$stamp_want" >"$stamp_file"
fi

# ---------------------------------------------------------------- compiled record path
# native/ (Rust through PyO3, built by maturin): the compiled record path for VPC Flow Logs
# (consumer/native_path.py). Cargo keeps its build in $CACHE/native-target, so a rebuild after a change
# recompiles only the crate; the build is skipped while native/ and constraints.txt are unchanged.
# Without cargo, secstash runs every record through the Python parsers (the same documents, slower):
# SECSTASH_NATIVE_OPTIONAL=1 accepts that here and in the tests.
native_want="$(cat "$ROOT"/native/Cargo.toml "$ROOT"/native/Cargo.lock "$ROOT"/native/pyproject.toml \
  "$ROOT"/native/src/*.rs "${CONSTRAINTS[@]:1}" | sha256sum | cut -c1-16)"
native_stamp="$VENV/.secstash-native-installed"
if [[ "$(cat "$native_stamp" 2>/dev/null)" != "$native_want" ]] || ! "$VENV/bin/python" -c "import secstash_native" 2>/dev/null; then
  if command -v cargo >/dev/null; then
    log "building secstash_native (native/, cargo $(cargo --version | cut -d' ' -f2))"
    # PIP_CONSTRAINT reaches pip's isolated build environment too: maturin is pinned by constraints.txt.
    CARGO_TARGET_DIR="$CACHE/native-target" PIP_CONSTRAINT="$ROOT/constraints.txt" \
      "${PIP[@]}" install --force-reinstall --no-deps "$ROOT/native"
    echo "$native_want" >"$native_stamp"
  elif [[ -n "${SECSTASH_NATIVE_OPTIONAL:-}" ]]; then
    log "no cargo: secstash_native not built (SECSTASH_NATIVE_OPTIONAL); every record takes the Python parsers"
  else
    echo "setup.sh: 'cargo' not on PATH: install Rust (https://rustup.rs) to build native/, or set" \
         "SECSTASH_NATIVE_OPTIONAL=1 to run every record through the Python parsers" >&2
    exit 1
  fi
fi

# ---------------------------------------------------------------- kinesis-local
NODE_PREFIX="$CACHE/node"
KINESIS_LOCAL_HOME="$NODE_PREFIX/node_modules/kinesis-local"
if [[ "$(node -p "try{require('$KINESIS_LOCAL_HOME/package.json').version}catch(e){''}")" != "$KINESIS_LOCAL_VERSION" ]]; then
  log "npm install kinesis-local@$KINESIS_LOCAL_VERSION"
  mkdir -p "$NODE_PREFIX"
  npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error "kinesis-local@$KINESIS_LOCAL_VERSION" >/dev/null
fi
[[ -f "$KINESIS_LOCAL_HOME/server.json" ]] || { echo "setup.sh: kinesis-local has no server.json" >&2; exit 1; }

# ---------------------------------------------------------------- search engines
fetch_zip() { # group artifact version destdir -> unpacked home
  local group=$1 artifact=$2 version=$3 dest=$4
  local home="$dest/$artifact-$version"
  if [[ ! -f "$home/.complete" ]]; then
    log "fetching $group:$artifact:$version:zip"
    mvn_q -Dmaven.repo.local="$M2_REPO" "$DEP_PLUGIN:copy" \
      -Dartifact="$group:$artifact:$version:zip" -DoutputDirectory="$dest/zips"
    rm -rf "$home" "$dest/.unpack"
    mkdir -p "$dest/.unpack"
    unzip -q "$dest/zips/$artifact-$version.zip" -d "$dest/.unpack" >&2
    mv "$dest/.unpack/$artifact-$version" "$home"
    rm -rf "$dest/.unpack" "$dest/zips/$artifact-$version.zip"
    touch "$home/.complete"
  fi
  echo "$home"
}
ES_HOME="$(fetch_zip org.elasticsearch.distribution.integ-test-zip elasticsearch "$ES_VERSION" "$CACHE/search")"
OS_HOME="$(fetch_zip org.opensearch.distribution.integ-test-zip opensearch "$OS_VERSION" "$CACHE/search")"

# Elasticsearch and OpenSearch refuse to start as root. The homes stay owned by root (read-only for the
# service user); each node gets its config copied into its own data dir at start (consumer/embedded).
RUN_AS=""
if [[ "$(id -u)" == 0 ]]; then
  if ! id -u "$SEARCH_USER" >/dev/null 2>&1; then
    log "creating system user $SEARCH_USER"
    useradd --system --user-group --no-create-home --shell /usr/sbin/nologin "$SEARCH_USER"
  fi
  RUN_AS="$SEARCH_USER"
  # The service user must be able to traverse to the homes, e.g. through /root: o+x (search, not list).
  d="$CACHE/search"
  while [[ "$d" != "/" ]]; do
    if [[ "$(stat -c %a "$d")" != *[1357] ]]; then chmod o+x "$d"; fi
    d="$(dirname "$d")"
  done
  chmod -R o+rX "$ES_HOME" "$OS_HOME"
fi

# ---------------------------------------------------------------- env.json
kcl_jar="$(ls "$KCL_JARS"/amazon-kinesis-client-multilang-*.jar | head -n1)"
KCL_VERSION="$(basename "$kcl_jar" .jar)" && KCL_VERSION="${KCL_VERSION#amazon-kinesis-client-multilang-}"
"$VENV/bin/python" - "$CACHE/env.json" <<PY
import json, sys
env = {
    "cache": "$CACHE",
    "kclpy_version": "$KCLPY_VERSION",
    "kcl_version": "$KCL_VERSION",
    "kcl_jars": "$KCL_JARS",
    "kinesis_local_version": "$KINESIS_LOCAL_VERSION",
    "kinesis_local_home": "$KINESIS_LOCAL_HOME",
    "node": "$(command -v node)",
    "es_version": "$ES_VERSION",
    "es_home": "$ES_HOME",
    "os_version": "$OS_VERSION",
    "os_home": "$OS_HOME",
    "java17_home": "$JAVA17_HOME",
    "java_newest_home": "$JAVA_NEWEST_HOME",
    "search_user": "$RUN_AS" or None,
}
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    json.dump(env, f, indent=2)
    f.write("\n")
import os; os.replace(tmp, sys.argv[1])
PY

log "amazon-kclpy $KCLPY_VERSION, KCL MultiLangDaemon $KCL_VERSION ($(ls "$KCL_JARS"/*.jar | wc -l) jars in $KCL_JARS)"
log "kinesis-local $KINESIS_LOCAL_VERSION, Elasticsearch $ES_VERSION, OpenSearch $OS_VERSION"
log "Java 17: $JAVA17_HOME; newest Java: ${JAVA_NEWEST_HOME:-none}; search engines run as: ${RUN_AS:-$(id -un)}"
log "paths in $CACHE/env.json; done"
