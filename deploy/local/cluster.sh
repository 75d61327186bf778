#!/usr/bin/env bash
# A local cluster without Docker: redis-server, MinIO, a coordinator
# (`coordinator serve`) and N workers as processes on 127.0.0.1. PIDs, logs
# and data live in a run directory; `stop` kills exactly those PIDs.
#
#   ./deploy/local/cluster.sh start [-n WORKERS] [-d DIR]   start everything
#   ./deploy/local/cluster.sh env   [-d DIR]                print exports for `coordinator run`
#   ./deploy/local/cluster.sh status [-d DIR]               which processes are alive
#   ./deploy/local/cluster.sh stop  [-d DIR]                stop them (TERM, then KILL after 20 s)
#
# Ports: BETTERREAD_CLUSTER_REDIS_PORT (16379), BETTERREAD_CLUSTER_MINIO_PORT
# (19000, console 19001), BETTERREAD_CLUSTER_HTTP_PORT (18080: the
# coordinator's /runs, /metrics, /monitor/). redis-server and MinIO come from ./deploy/local/test-deps.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

cmd="${1:-}"; shift || true
N=2
DIR="${BETTERREAD_CLUSTER_DIR:-$PWD/.cluster}"
while getopts "n:d:" opt; do
  case "$opt" in
    n) N="$OPTARG" ;;
    d) DIR="$OPTARG" ;;
    *) echo "usage: $0 start|env|status|stop [-n WORKERS] [-d DIR]" >&2; exit 2 ;;
  esac
done
REDIS_PORT="${BETTERREAD_CLUSTER_REDIS_PORT:-16379}"
MINIO_PORT="${BETTERREAD_CLUSTER_MINIO_PORT:-19000}"
HTTP_PORT="${BETTERREAD_CLUSTER_HTTP_PORT:-18080}"
CACHE="${BETTERREAD_CACHE:-$HOME/.cache/betterread}"
PASSWORD_FILE="$DIR/redis.password"

log() { printf 'cluster: %s\n' "$*" >&2; }

envs() {
  cat <<EOV
export BETTERREAD_REDIS=127.0.0.1:$REDIS_PORT
export BETTERREAD_REDIS_PASSWORD=$(cat "$PASSWORD_FILE")
export BETTERREAD_STORE=s3://blocks/betterread
export BETTERREAD_S3_ENDPOINT=http://127.0.0.1:$MINIO_PORT
export AWS_ACCESS_KEY_ID=betterread
export AWS_SECRET_ACCESS_KEY=$(cat "$DIR/minio.password")
export AWS_REGION=us-east-1
export BETTERREAD_API_TOKEN=$(cat "$DIR/api.token")
EOV
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_bg() { # name, then the command
  local name="$1"; shift
  if alive "$DIR/pids/$name.pid"; then log "$name already running (pid $(cat "$DIR/pids/$name.pid"))"; return; fi
  "$@" >"$DIR/logs/$name.log" 2>&1 &
  echo $! >"$DIR/pids/$name.pid"
  log "$name started (pid $!, log $DIR/logs/$name.log)"
}

wait_port() { # name, port
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    alive "$DIR/pids/$1.pid" || { log "$1 exited; see $DIR/logs/$1.log"; tail -20 "$DIR/logs/$1.log" >&2; exit 1; }
    sleep 0.1
  done
  log "$1 is not listening on $2 after 30 s"; exit 1
}

case "$cmd" in
start)
  for port in "$REDIS_PORT" "$MINIO_PORT" "$((MINIO_PORT + 1))" "$HTTP_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ! alive "$DIR/pids/redis.pid"; then
      log "port $port is already in use: stop what holds it, or choose others with BETTERREAD_CLUSTER_REDIS_PORT, BETTERREAD_CLUSTER_MINIO_PORT (MinIO's console takes the next port) and BETTERREAD_CLUSTER_HTTP_PORT"
      exit 1
    fi
  done
  ./deploy/local/test-deps.sh
  mkdir -p "$DIR/pids" "$DIR/logs" "$DIR/bin" "$DIR/minio" "$DIR/redis"
  [ -f "$PASSWORD_FILE" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$PASSWORD_FILE"
  [ -f "$DIR/minio.password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/minio.password"
  [ -f "$DIR/api.token" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/api.token"
  chmod 600 "$PASSWORD_FILE" "$DIR/minio.password" "$DIR/api.token"
  log "building coordinator and worker into $DIR/bin"
  go build -o "$DIR/bin/coordinator" ./coordinator
  go build -o "$DIR/bin/worker" ./worker
  go build -o "$DIR/bin/mkbucket" ./deploy/local/mkbucket
  start_bg redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$(cat "$PASSWORD_FILE")" \
    --dir "$DIR/redis" --appendonly yes --save ""
  wait_port redis "$REDIS_PORT"
  MINIO_ROOT_USER=betterread MINIO_ROOT_PASSWORD="$(cat "$DIR/minio.password")" \
    start_bg minio "$CACHE/bin/minio" server "$DIR/minio" --address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$((MINIO_PORT + 1))"
  wait_port minio "$MINIO_PORT"
  eval "$(envs)"
  for _ in $(seq 1 50); do "$DIR/bin/mkbucket" blocks uploads 2>/dev/null && break; sleep 0.2; done
  "$DIR/bin/mkbucket" blocks uploads
  start_bg coordinator "$DIR/bin/coordinator" serve --log-format json --listen "127.0.0.1:$HTTP_PORT"
  for i in $(seq 1 "$N"); do
    start_bg "worker-$i" "$DIR/bin/worker" --log-format json
  done
  log "up: redis 127.0.0.1:$REDIS_PORT, minio http://127.0.0.1:$MINIO_PORT (buckets blocks, uploads), coordinator (http://127.0.0.1:$HTTP_PORT/runs; API token in $DIR/api.token, also for the browser login), $N workers"
  log "run a job:  eval \"\$($0 env -d $DIR)\"; $DIR/bin/coordinator run --workers 0 --books testdata/tiny/Books.csv --ratings testdata/tiny/Ratings.csv --out out --min-books 10 --min-similarities 100"
  ;;
env)
  envs
  ;;
status)
  for f in "$DIR"/pids/*.pid; do
    [ -e "$f" ] || { log "nothing started in $DIR"; exit 0; }
    name="$(basename "$f" .pid)"
    if alive "$f"; then echo "$name running (pid $(cat "$f"))"; else echo "$name stopped"; fi
  done
  ;;
stop)
  # Workers and coordinator first (graceful: unfinished tasks go back to
  # the queue), then the servers.
  for name in $(ls "$DIR/pids" 2>/dev/null | sed 's/\.pid$//' | sort -r | grep -v -x -e redis -e minio) redis minio; do
    f="$DIR/pids/$name.pid"
    alive "$f" || { rm -f "$f"; continue; }
    pid="$(cat "$f")"
    kill -TERM "$pid"
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then log "$name (pid $pid) ignored TERM for 20 s: KILL"; kill -KILL "$pid"; fi
    rm -f "$f"
    log "$name stopped"
  done
  ;;
*)
  echo "usage: $0 start|env|status|stop [-n WORKERS] [-d DIR]" >&2; exit 2 ;;
esac
