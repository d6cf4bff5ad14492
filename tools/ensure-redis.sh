#!/usr/bin/env bash
# Usage: tools/ensure-redis.sh [--start [port]]
#
# Makes sure Debian's redis-server is installed: the queue-sweep tests
# (apps/pipeline/src/sweep/queue/queue-e2e.test.ts) start private servers from it on free ports.
# Runs as `npm test`'s pretest, so the README's test command works on a fresh machine: when
# redis-server is missing and we are root with apt-get, it installs it; otherwise it says how and
# fails before the tests do.
# --start [port]: also make sure a server answers on 127.0.0.1:<port> (default 6379), reusing one
# that already does (.ci/run; the recipe in README "Sweeps on many machines").
set -euo pipefail

have_redis() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; }

if ! have_redis; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: installing Debian's redis-server (needed by the queue-sweep tests)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "ensure-redis: redis-server is not installed; install it with: sudo apt-get install -y redis-server (the queue-sweep tests start it themselves)" >&2
    exit 1
  fi
fi

if [ "${1:-}" = "--start" ]; then
  port="${2:-6379}"
  if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
    echo "ensure-redis: reusing the redis-server on 127.0.0.1:$port" >&2
    exit 0
  fi
  dir="${TMPDIR:-/tmp}/emrl-redis-$port"
  mkdir -p "$dir"
  PATH="$PATH:/usr/bin:/usr/sbin" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
    --daemonize yes --logfile "$dir/redis.log" --pidfile "$dir/redis.pid"
  for _ in $(seq 50); do
    if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
      echo "ensure-redis: started redis-server on 127.0.0.1:$port (data and log in $dir)" >&2
      exit 0
    fi
    sleep 0.2
  done
  echo "ensure-redis: redis-server did not answer on 127.0.0.1:$port; see $dir/redis.log" >&2
  exit 1
fi
