#!/usr/bin/env bash
# The project's test command (README "Run the tests"): installs what the
# integration tests start (redis-server, MinIO, DynamoDB Local; cached after
# the first time), then runs vet and every test with the race detector.
# Integration tests start their own servers on free 127.0.0.1 ports and stop
# them by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
./deploy/local/test-deps.sh
export BETTERREAD_CACHE="${BETTERREAD_CACHE:-$HOME/.cache/betterread}"
echo "== go vet" >&2
go vet ./...
echo "== go test -race" >&2
go test -race -count=1 -timeout 40m "$@" ./...
