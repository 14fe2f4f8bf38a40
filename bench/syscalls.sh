#!/bin/bash
# System calls per proxied request, by type, for ferry or nginx in front of
# bench/upstream on 127.0.0.1 (docs/performance.md, "c500 and c5000: system
# calls per request"). Needs perf (linux-perf), wrk and root (tracepoints).
#
#   go build -tags poll_opt -o /tmp/ferry ./cmd/ferry
#   go build -tags poll_opt -o /tmp/upstream ./bench/upstream
#   bash bench/syscalls.sh ferry /tmp/ferry /tmp/upstream 500
#   bash bench/syscalls.sh nginx nginx /tmp/upstream 500
#
# wrk runs WINDOW+3 s (default 4+3) with CONNS connections on GET /1k after
# a 1 s warm-up; perf counts the proxy's system calls over WINDOW s starting
# 2 s in, once every connection is up. The requests of the window are the
# upstream's response writes over the same window (one write each). Prints
# each call per request and the proxy's requests per CPU-second over the
# window. Ports 62080-62082: below the ephemeral range.
#
# PERCORE=1 measures one core's worth (issue 13's per-core figure): the
# proxy runs pinned to CPU 0 with one loop (ferry GOMAXPROCS=1, nginx one
# worker), the upstream and wrk pinned to CPU 1.
set -eu
if [ $# -lt 4 ]; then
	sed -n '2,21p' "$0"
	exit 2
fi
TARGET=$1 BIN=$2 UPSTREAM=$3 CONNS=$4 WINDOW=${5:-4}
UP_ADDR=127.0.0.1:62081 PROXY_PORT=62080
PROXY_CPU="" LOAD_CPU="" WORKERS=2
if [ "${PERCORE:-0}" = 1 ]; then
	PROXY_CPU="taskset -c 0" LOAD_CPU="taskset -c 1" WORKERS=1
	export GOMAXPROCS=1 # ferry's loops follow it; the upstream's -loops 0 too
fi
ulimit -n 20000
dir=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
waitfor() { for _ in $(seq 100); do curl -s -o /dev/null "http://$1/1k" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }

$LOAD_CPU "$UPSTREAM" -addr $UP_ADDR -loops 0 >"$dir/upstream.log" 2>&1 &
up=$!
pids+=("$up")
waitfor $UP_ADDR
case $TARGET in
ferry)
	cat >"$dir/ferry.json" <<EOF
{"disable_upgrade": true, "ferry": {"max_connections": 19000, "scheduler": {"policy": "auto"}},
 "cluster_manager": {"clusters": [{"name": "origin", "type": "SIMPLE", "lb_type": "LB_ROUNDROBIN", "hosts": [{"address": "$UP_ADDR"}]}]},
 "servers": [{"default_log_path": "stderr",
  "listeners": [{"name": "http", "address": "127.0.0.1:$PROXY_PORT", "bind_port": true, "filter_chains": [{"filters": [
   {"type": "proxy", "config": {"downstream_protocol": "Http1", "upstream_protocol": "Http1", "router_config_name": "r"}}]}]}],
  "routers": [{"router_config_name": "r", "virtual_hosts": [{"name": "all", "domains": ["*"], "routers": [{"match": {"prefix": "/"}, "route": {"cluster_name": "origin"}}]}]}]}]}
EOF
	$PROXY_CPU "$BIN" start -c "$dir/ferry.json" >"$dir/ferry.log" 2>&1 &
	proxy=$!
	pids+=("$proxy")
	waitfor 127.0.0.1:$PROXY_PORT
	procs=$proxy
	;;
nginx)
	mkdir -p "$dir/tmp"
	# The directives of bench/cmd/benchrun's nginx config that matter here.
	cat >"$dir/nginx.conf" <<EOF
worker_processes $WORKERS; worker_rlimit_nofile 19500; pid nginx.pid; error_log error.log warn;
events { worker_connections 19000; }
http {
  access_log off; client_body_temp_path tmp; proxy_temp_path tmp;
  keepalive_timeout 300s; keepalive_requests 10000000;
  upstream origin { server $UP_ADDR; keepalive 1024; keepalive_requests 10000000; keepalive_timeout 300s; }
  server { listen 127.0.0.1:$PROXY_PORT backlog=4096;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffer_size 16k; proxy_buffers 16 16k; } }
}
EOF
	$PROXY_CPU "$BIN" -p "$dir/" -c nginx.conf -e stderr -g 'daemon off;' >"$dir/nginx.log" 2>&1 &
	proxy=$!
	pids+=("$proxy")
	waitfor 127.0.0.1:$PROXY_PORT
	procs=$(pgrep -P "$proxy" | paste -sd,) # the workers
	;;
*)
	echo "target: ferry or nginx" >&2
	exit 2
	;;
esac

url=http://127.0.0.1:$PROXY_PORT/1k
$LOAD_CPU wrk -t1 -c"$CONNS" -d1s "$url" >/dev/null
calls="read write writev readv recvfrom sendto epoll_wait epoll_pwait epoll_ctl futex nanosleep getsockopt setsockopt accept4 connect close socket getsockname getpeername ioctl fcntl sched_yield tgkill madvise mmap"
events=$(for c in $calls; do printf 'syscalls:sys_enter_%s,' "$c"; done)raw_syscalls:sys_enter
cpu() { local t=0; for p in ${procs//,/ }; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
$LOAD_CPU wrk -t1 -c"$CONNS" -d$((WINDOW + 3))s "$url" >"$dir/wrk.txt" 2>&1 &
load=$!
sleep 2
c0=$(cpu)
perf stat -x, -e syscalls:sys_enter_write,syscalls:sys_enter_writev -p "$up" -o "$dir/up.csv" -- sleep "$WINDOW" &
perf stat -x, -e "$events" -p "$procs" -o "$dir/proxy.csv" -- sleep "$WINDOW"
c1=$(cpu)
wait $load
reqs=$(awk -F, '!/^#/ && NF > 3 {s += $1} END {print s}' "$dir/up.csv")
ticks=$(getconf CLK_TCK)
echo "$TARGET c$CONNS, ${WINDOW} s window: $reqs requests, $((reqs * ticks / (c1 - c0 > 0 ? c1 - c0 : 1))) req/CPU-s; wrk $(grep Requests/sec "$dir/wrk.txt")"
awk -F, -v r="$reqs" '!/^#/ && NF > 3 && $1 > 0 {sub("syscalls:sys_enter_", "", $3); printf "  %-22s %9d  %.3f/req\n", $3, $1, $1 / r}' "$dir/proxy.csv"
