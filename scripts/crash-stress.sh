#!/bin/bash
# crash-stress.sh [-n PROCESSES] [-b BERTH] [-t TMUX] [-q]
#
# Tries to crash a private tmux server the way berth's one-shot commands could: rounds of
# 8 berth processes at once (list, list --all --json --preview, orphans, doctor, snapshot,
# new, kill), about half of them SIGKILLed at a random moment in their first 400 ms, while
# another client renames a window as fast as tmux takes it (every rename is a notification
# for every control client) and real clients attach and detach. After each round the
# server must be the same process and answer; a dead one is counted and started again.
#
# Prints one line: processes, killed, server deaths, tmux segfaults the kernel logged
# meanwhile (when dmesg is readable). Exits 1 when the server died. Used briefly by
# `CrashStressTests` and in full (-n 2000) by `make crash-stress` and `make bench`.
set -u
processes=200
berth=${BERTH:-.build/debug/berth}
tmux_bin=${BERTH_TMUX:-tmux}
quiet=0
while getopts "n:b:t:q" opt; do
  case $opt in
    n) processes=$OPTARG ;;
    b) berth=$OPTARG ;;
    t) tmux_bin=$OPTARG ;;
    q) quiet=1 ;;
    *) echo "usage: crash-stress.sh [-n PROCESSES] [-b BERTH] [-t TMUX] [-q]" >&2; exit 2 ;;
  esac
done
[[ -x $berth ]] || { echo "crash-stress: no berth at $berth (build it first)" >&2; exit 2; }
command -v "$tmux_bin" >/dev/null || { echo "crash-stress: no tmux at $tmux_bin" >&2; exit 2; }
command -v script >/dev/null || { echo "crash-stress: needs script(1) (util-linux)" >&2; exit 2; }

work=$(mktemp -d)
export TMUX_TMPDIR=$work/tmux HOME=$work/home XDG_STATE_HOME=$work/state XDG_CONFIG_HOME=$work/config
export BERTH_TMUX=$tmux_bin SHELL=/bin/sh
unset TMUX TMUX_PANE
mkdir -p "$TMUX_TMPDIR" "$HOME" && chmod 700 "$TMUX_TMPDIR"
sock=stress
db=$work/berth.sqlite3
T() { "$tmux_bin" -L "$sock" -f /dev/null "$@"; }
helpers=()
server_pid=

start_server() {
  T new-session -d -s keep -x 80 -y 24 \; set -g exit-empty off 2>/dev/null
  T new-window -d -t keep: 2>/dev/null
  server_pid=$(T display-message -p '#{pid}' 2>/dev/null)
}

segfaults() { dmesg 2>/dev/null | grep -c 'tmux: server.*segfault\|tmux\[[0-9]*\]: segfault' || true; }

cleanup() {
  for p in "${helpers[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [[ -n $server_pid ]] && kill -9 "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

start_server
[[ -n $server_pid ]] || { echo "crash-stress: cannot start tmux" >&2; exit 2; }
"$berth" new -L "$sock" --db "$db" --name base >/dev/null 2>&1
segfaults_before=$(segfaults)

# The renamer: one window renamed as fast as tmux answers.
( i=0; while :; do T rename-window -t keep:0 "r$((i++))" 2>/dev/null || sleep 0.05; done ) &
helpers+=($!)
# Clients attaching and detaching (real clients, in a pseudo-terminal from script(1)).
(
  while :; do
    sleep 3 | script -qfc "$tmux_bin -L $sock attach -t keep" /dev/null >/dev/null 2>&1 &
    sleep 0.$((RANDOM % 3 + 1))
    T detach-client -s keep 2>/dev/null
    sleep 0.05
  done
) &
helpers+=($!)

commands=(
  "list" "list --all --json --preview 3" "orphans" "doctor" "snapshot --quiet"
  "new --workspace stress --name n\$RANDOM" "kill --workspace stress" "list --json"
)
started=0 killed=0 deaths=0
while ((started < processes)); do
  pids=()
  for c in "${commands[@]}"; do
    ((started >= processes)) && break
    eval "set -- $c"
    "$berth" "$1" -L "$sock" --db "$db" "${@:2}" >/dev/null 2>&1 &
    pids+=($!)
    started=$((started + 1))
  done
  for p in "${pids[@]}"; do
    if ((RANDOM % 2)); then
      ( sleep "0.$(printf '%03d' $((RANDOM % 400)))"; kill -9 "$p" 2>/dev/null ) &
      killed=$((killed + 1))
    fi
  done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  sleep 0.1
  now=$(T display-message -p '#{pid}' 2>/dev/null)
  if [[ $now != "$server_pid" ]] || ! kill -0 "$server_pid" 2>/dev/null; then
    deaths=$((deaths + 1))
    ((quiet)) || echo "crash-stress: the server died after $started processes" >&2
    [[ -n $now ]] && kill -9 "$now" 2>/dev/null
    sleep 0.5
    start_server
  fi
done
segfaults_after=$(segfaults)
echo "processes=$started killed=$killed server_deaths=$deaths segfaults_logged=$((segfaults_after - segfaults_before)) tmux=$("$tmux_bin" -V)"
((deaths == 0))
