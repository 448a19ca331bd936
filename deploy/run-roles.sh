#!/usr/bin/env bash
# Start, stop or inspect every tracker role as a background process on this host.
#
#   deploy/run-roles.sh start|stop|status
#
# `start` requires TRACKER_DATABASE_URL, TRACKER_NATS_URL, TRACKER_SMTP_URL, TRACKER_BASE_URL and
# TRACKER_SECRET_KEY in the environment; it runs `tracker db upgrade` once, then starts
#   web (TRACKER_WEB_HOST:TRACKER_WEB_PORT, default 127.0.0.1:8000), worker x TRACKER_WORKERS (2),
#   relay, scheduler x TRACKER_SCHEDULERS (2; one active, held by a lease), mailer.
# Optional: TRACKER_BIN (the tracker command), TRACKER_RUN_DIR (PID files and logs; default
# deploy/.run/roles), TRACKER_STREAM_REPLICAS (default 3, for the 3-node cluster of run-cluster.sh),
# TRACKER_DATA_DIR (photos and the data every role shares; default deploy/.run/data),
# TRACKER_METRICS_BASE_PORT (default 9310: the Nth role after web serves /metrics on 127.0.0.1:9310+N;
# `status` lists them; the web role serves its own at /metrics).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
run_dir="${TRACKER_RUN_DIR:-$here/.run/roles}"
metrics_base="${TRACKER_METRICS_BASE_PORT:-9310}"
required=(TRACKER_DATABASE_URL TRACKER_NATS_URL TRACKER_SMTP_URL TRACKER_BASE_URL TRACKER_SECRET_KEY)

find_tracker() {
    if [ -n "${TRACKER_BIN:-}" ]; then
        echo "$TRACKER_BIN"
    elif command -v tracker >/dev/null 2>&1; then
        command -v tracker
    elif [ -x "$here/../.venv/bin/tracker" ]; then
        echo "$here/../.venv/bin/tracker"
    else
        echo "tracker command not found: set TRACKER_BIN or pip install the project" >&2
        return 1
    fi
}

# Instance names, in start order; stop goes the other way (web first, so no new work comes in).
instances() {
    local i
    echo web
    for ((i = 1; i <= ${TRACKER_WORKERS:-2}; i++)); do echo "worker-$i"; done
    echo relay
    for ((i = 1; i <= ${TRACKER_SCHEDULERS:-2}; i++)); do echo "scheduler-$i"; done
    echo mailer
}

# The port of an instance's /metrics: the base port plus its place after web (worker-1 is 1, …).
metrics_port() {
    local name n=0
    for name in $(instances); do
        [ "$name" = "$1" ] && { echo $((metrics_base + n)); return; }
        n=$((n + 1))
    done
}

# A PID from a file counts only while that process still runs tracker: PIDs get reused.
running_pid() {
    local pid_file="$run_dir/$1.pid" pid
    [ -f "$pid_file" ] || return 1
    pid="$(cat "$pid_file")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    case "$(ps -p "$pid" -o args= 2>/dev/null)" in
        *tracker*) echo "$pid" ;;
        *) return 1 ;;
    esac
}

start() {
    local name missing=() tracker role pid port metrics failed=0
    for name in "${required[@]}"; do
        [ -n "${!name:-}" ] || missing+=("$name")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "missing environment: ${missing[*]}" >&2
        exit 2
    fi
    export TRACKER_STREAM_REPLICAS="${TRACKER_STREAM_REPLICAS:-3}"
    # Every role gets the same data folder: the web role keeps uploaded photos there and the scheduler clears
    # away the unused ones. Never the working directory (a `var/` wherever the script was started from).
    export TRACKER_DATA_DIR="${TRACKER_DATA_DIR:-$here/.run/data}"
    tracker="$(find_tracker)"
    mkdir -p "$run_dir"
    echo "data folder: $TRACKER_DATA_DIR"

    echo "migrating: $tracker db upgrade"
    if ! "$tracker" db upgrade >>"$run_dir/migrate.log" 2>&1; then
        echo "tracker db upgrade failed, see $run_dir/migrate.log:" >&2
        tail -n 30 "$run_dir/migrate.log" >&2
        exit 1
    fi

    for name in $(instances); do
        if pid="$(running_pid "$name")"; then
            echo "$name already running (pid $pid)"
            continue
        fi
        role="${name%%-*}"
        if [ "$role" = web ]; then
            set -- web --host "${TRACKER_WEB_HOST:-127.0.0.1}" --port "${TRACKER_WEB_PORT:-8000}"
            port="${TRACKER_WEB_PORT:-8000}"
        else
            set -- "$role"
            port="$(metrics_port "$name")"
        fi
        metrics="http://127.0.0.1:$port/metrics"
        # The web role serves /metrics itself and ignores TRACKER_METRICS_PORT.
        TRACKER_METRICS_PORT="$port" nohup "$tracker" "$@" </dev/null >>"$run_dir/$name.log" 2>&1 &
        echo $! >"$run_dir/$name.pid"
        echo "$name started (pid $!), log $run_dir/$name.log, metrics $metrics"
    done

    # A role that cannot start (bad URL, broker down) usually exits within a second or two.
    sleep 3
    for name in $(instances); do
        if ! running_pid "$name" >/dev/null; then
            echo "$name exited; last lines of $run_dir/$name.log:" >&2
            tail -n 20 "$run_dir/$name.log" >&2 || true
            failed=1
        fi
    done
    return "$failed"
}

stop() {
    local name pid waited
    for name in $(instances | tac); do
        if ! pid="$(running_pid "$name")"; then
            rm -f "$run_dir/$name.pid"
            continue
        fi
        # SIGTERM: let the role finish the batch in hand and ack it before exiting.
        kill -TERM "$pid"
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 300 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$name did not stop within 30 s, killing" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$run_dir/$name.pid"
        echo "$name stopped"
    done
}

status() {
    local name pid result=0
    for name in $(instances); do
        if pid="$(running_pid "$name")"; then
            if [ "$name" = web ]; then
                echo "$name running (pid $pid), metrics http://127.0.0.1:${TRACKER_WEB_PORT:-8000}/metrics"
            else
                echo "$name running (pid $pid), metrics http://127.0.0.1:$(metrics_port "$name")/metrics"
            fi
        elif [ -f "$run_dir/$name.pid" ]; then
            echo "$name dead (stale pid file), log $run_dir/$name.log"
            result=3
        else
            echo "$name stopped"
            result=3
        fi
    done
    return "$result"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
