#!/bin/sh
# Measures the panel with many sessions, for the closing note of the panel issue:
#   1. the time from starting `berth` to the first full screen (the list with every
#      session counted in the header), and to the first frame of any kind;
#   2. berth's CPU use over IDLE seconds with nothing changing (utime+stime from
#      /proc/PID/stat), its context switches (how often it woke), and the tmux server's
#      CPU over the same time (it evaluates berth's subscription once a second).
#
# Everything runs on two private tmux servers (one plays the terminal, one holds the
# sessions) under a temporary TMUX_TMPDIR, removed at the end; the user's tmux is never
# touched.
#
# Usage: bench/panel-startup.sh [SESSIONS] [IDLE_SECONDS]
#   SESSIONS      sessions to create (default 500)
#   IDLE_SECONDS  idle measurement length (default 30)
#   BERTH=path    the binary (default .build/release/berth if built, else .build/debug/berth)
set -eu

sessions=${1:-500}
idle=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${BERTH:-}" ]; then
  if [ -x "$root/.build/release/berth" ]; then BERTH=$root/.build/release/berth; else BERTH=$root/.build/debug/berth; fi
fi
[ -x "$BERTH" ] || { echo "bench: $BERTH not found: run 'swift build' first" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench.XXXXXX")
# A private copy: a build running meanwhile may replace the binary under us.
build=$(basename "$(dirname "$BERTH")")
cp "$BERTH" "$work/berth"
BERTH=$work/berth
export TMUX_TMPDIR="$work/tmux"
mkdir -p "$TMUX_TMPDIR" "$work/home"
export HOME="$work/home" SHELL=/bin/sh LANG=C.UTF-8 LC_ALL=C.UTF-8
unset TMUX TMUX_PANE
inner="tmux -L bench-inner -f /dev/null"
outer="tmux -L bench-outer -f /dev/null"
db="$work/berth.sqlite3"

server_pids=""
cleanup() {
  $outer kill-server 2>/dev/null || true
  $inner kill-server 2>/dev/null || true
  # A tmux server takes a moment to exit; removing its directory first lets a late client
  # recreate it. Wait for the servers this script started (by pid), then remove.
  for pid in $server_pids; do
    tries=0
    while kill -0 "$pid" 2>/dev/null && [ $tries -lt 50 ]; do sleep 0.1; tries=$((tries + 1)); done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

now_ms() { date +%s%3N; }
ticks() { # utime+stime of a pid, in clock ticks
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
switches() { # "TID COUNT" per thread: voluntary + involuntary context switches
  for task in /proc/"$1"/task/*; do
    echo "$(basename "$task") $(awk '/ctxt_switches/ { n += $2 } END { print n + 0 }' "$task/status" 2>/dev/null)"
  done | sort
}
woken() { # context switches between two `switches` readings, over threads in both
  join "$1" "$2" | awk '{ n += $3 - $2 } END { print n + 0 }'
}
hz=$(getconf CLK_TCK)

$inner start-server \; set -g exit-empty off \; set -g default-shell /bin/sh
server_pids="$($inner display-message -p '#{pid}')"
echo "creating $sessions sessions..."
started=$(now_ms)
seq 1 "$sessions" | xargs -P 4 -I{} "$BERTH" -L bench-inner --db "$db" new --id "s{}" --cwd "$work" >/dev/null
echo "  created in $(( $(now_ms) - started )) ms"

$outer start-server \; set -g exit-empty off \; set -g default-terminal tmux-256color
server_pids="$server_pids $($outer display-message -p '#{pid}')"
# The pane records the start time itself, just before exec'ing berth.
$outer new-session -d -s panel -x 120 -y 40 \
  "date +%s%3N > '$work/start'; exec '$BERTH' -L bench-inner --db '$db'"

first_frame=""
full=""
deadline=$(( $(now_ms) + 60000 ))
while [ "$(now_ms)" -lt "$deadline" ]; do
  screen=$($outer capture-pane -p -t panel 2>/dev/null || true)
  t=$(now_ms)
  if [ -z "$first_frame" ] && printf '%s' "$screen" | grep -q 'berth'; then first_frame=$t; fi
  if printf '%s' "$screen" | grep -q "○$sessions detached"; then full=$t; break; fi
  sleep 0.01
done
start=$(cat "$work/start")
[ -n "$full" ] || { echo "bench: the list never showed $sessions sessions" >&2; $outer capture-pane -p -t panel >&2; exit 1; }
echo "first frame:       $(( first_frame - start )) ms"
echo "first full screen: $(( full - start )) ms  ($sessions sessions, 120x40, $build build)"

pid=$($outer display-message -p -t panel '#{pane_pid}')
server=$($inner display-message -p '#{pid}')
sleep 5 # let the start-up work (listing, captures, first subscription reading) settle
b0=$(ticks "$pid"); s0=$(ticks "$server"); switches "$pid" > "$work/switches0"
sleep "$idle"
b1=$(ticks "$pid"); s1=$(ticks "$server"); switches "$pid" > "$work/switches1"
echo "idle $idle s: berth used $(( b1 - b0 )) ticks ($(echo "$b0 $b1 $hz $idle" | awk '{ printf "%.2f", ($2-$1)/$3/$4*100 }')% of a CPU), $(woken "$work/switches0" "$work/switches1") context switches"
echo "idle $idle s: tmux server used $(( s1 - s0 )) ticks ($(echo "$s0 $s1 $hz $idle" | awk '{ printf "%.2f", ($2-$1)/$3/$4*100 }')% of a CPU)"
echo "rss: $(awk '/VmRSS/ { print $2 " kB" }' "/proc/$pid/status")"
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) (numbers on a shared machine vary with it)"
