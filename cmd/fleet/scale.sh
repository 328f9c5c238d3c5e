#!/usr/bin/env bash
# scale.sh N [fleet flags...]: one scale run. Starts hubsim (fresh state,
# loopback ports 38883/38080, no message log), runs bin/fleet with N
# devices and the flags given, restarts hubsim on the same ports and state
# RESTART_AFTER seconds (default 20; 0: no restart) after the fleet's steady
# window starts (all connected, or CONNECT_TIMEOUT, default 120s), and
# prints the fleet's summary and hubsim's peak RSS. Logs stay in WORK.
# HUB_FLAGS are added to hubsim serve's (e.g. "--pprof 127.0.0.1:6061").
#
#   BIN=bin cmd/fleet/scale.sh 1000 -jitter 10s -rate 1 -ota -duration 60s
set -euo pipefail
n=$1; shift
bin=${BIN:-bin}
work=${WORK:-$(mktemp -d /tmp/fleet-scale.XXXXXX)}
restart_after=${RESTART_AFTER:-20}
tls=127.0.0.1:38883 admin=127.0.0.1:38080
mkdir -p "$work"

hub_pid=
start_hub() {
	"$bin/hubsim" serve --state "$work/hub" --tls "$tls" --tcp - --coap - --admin "$admin" \
		--message-log -1 --log-level error ${HUB_FLAGS:-} >>"$work/hubsim.log" 2>&1 &
	hub_pid=$!
	for _ in $(seq 100); do
		curl -sf "http://$admin/info" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "scale: hubsim did not start; see $work/hubsim.log" >&2
	return 1
}
hub_rss_peak=0
sample_hub() { # the hub's RSS in KiB, kept at its peak
	local r
	r=$(awk '/^VmRSS/ {print $2}' "/proc/$hub_pid/status" 2>/dev/null || echo 0)
	if [ "${r:-0}" -gt "$hub_rss_peak" ]; then hub_rss_peak=$r; fi
}
cleanup() {
	[ -n "${fleet_pid:-}" ] && kill "$fleet_pid" 2>/dev/null || true
	[ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

start_hub
"$bin/fleet" -admin "$admin" -n "$n" -dir "$work/fleet" -progress 5s -connect-timeout ${CONNECT_TIMEOUT:-120s} "$@" >"$work/summary.txt" 2>"$work/progress.log" &
fleet_pid=$!
restarted=0
all_up_at=
while kill -0 "$fleet_pid" 2>/dev/null; do
	sample_hub
	if [ -z "$all_up_at" ] && grep -q "steady window starts" "$work/progress.log"; then
		all_up_at=$SECONDS
	fi
	if [ "$restart_after" -gt 0 ] && [ -n "$all_up_at" ] && [ $restarted = 0 ] && [ $((SECONDS - all_up_at)) -ge "$restart_after" ]; then
		echo "scale: restarting hubsim (RSS $((hub_rss_peak / 1024)) MiB so far)" >>"$work/progress.log"
		kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true
		start_hub
		restarted=1
	fi
	sleep 1
done
wait "$fleet_pid" || echo "scale: fleet exited with $?" >&2
fleet_pid=
[ "${KEEP:-}" = 1 ] || rm -rf "$work/fleet" # the devices' identities and state (KEEP=1 keeps them)
cat "$work/progress.log" >&2
cat "$work/summary.txt"
echo "hubsim: peak RSS $((hub_rss_peak / 1024)) MiB ($(( hub_rss_peak / n )) KiB/device), restarted: $restarted; files in $work"
