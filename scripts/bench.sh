#!/usr/bin/env bash
# make bench / make bench-quick: berth measured next to tmux and the tools people use.
# Builds the release binary and a libtmux virtual environment, then runs bench/bench.py
# against private tmux servers that are killed on exit (also on failure or Ctrl-C).
# usage: scripts/bench.sh [--quick] [bench.py options...]
set -euo pipefail
cd "$(dirname "$0")/.."

command -v tmux >/dev/null || { echo "bench: tmux is not installed (make deps)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench: python3 is not installed" >&2; exit 1; }

echo "bench: building the release binary"
swift build -c release --static-swift-stdlib --product berth  # as `make release` installs it
BERTH="$(swift build -c release --static-swift-stdlib --show-bin-path)/berth"

# libtmux, for the baseline of the tools people use (a pinned version, in an ignored folder).
LIBTMUX_VERSION=0.62.0
VENV="$PWD/.build-bench/venv"
VENV_ARGS=()
if "$VENV/bin/python" -c "import libtmux, sys; sys.exit(libtmux.__version__ != '$LIBTMUX_VERSION')" 2>/dev/null; then
  VENV_ARGS=(--venv-python "$VENV/bin/python")
else
  echo "bench: installing libtmux $LIBTMUX_VERSION into $VENV"
  rm -rf "$VENV"
  if python3 -m venv "$VENV" && "$VENV/bin/pip" install --quiet --disable-pip-version-check "libtmux==$LIBTMUX_VERSION"; then
    VENV_ARGS=(--venv-python "$VENV/bin/python")
  else
    echo "bench: could not install libtmux: its column will say 'not measured'" >&2
    VENV_ARGS=(--venv-reason "pip could not install libtmux==$LIBTMUX_VERSION")
  fi
fi

# Private tmux servers live in their own TMUX_TMPDIR; whatever happens, they go at the end.
BENCH_TMP="$(mktemp -d /tmp/berth-bench.XXXXXX)"
TAG="$$"
cleanup() {
  for socket in "berth-bench-$TAG" "berth-bench-view-$TAG" "berth-bench-base-$TAG" "berth-bench-one-$TAG"; do
    TMUX_TMPDIR="$BENCH_TMP" tmux -L "$socket" kill-server 2>/dev/null || true
  done
  case " $* " in
    *" --keep "*) echo "bench: kept $BENCH_TMP" ;;
    *)
      # A process that was ending may still drop a file in it: try a few times.
      for _ in 1 2 3 4 5; do rm -rf "$BENCH_TMP" 2>/dev/null && break; sleep 1; done
      ;;
  esac
  return 0
}
trap 'cleanup "$@"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The crash stress also runs an older berth when PREVIOUS_BERTH names one (a release build of
# an earlier commit), so the report shows both counts.
PREVIOUS_ARGS=()
if [[ -n ${PREVIOUS_BERTH:-} ]]; then PREVIOUS_ARGS=(--previous-berth "$PREVIOUS_BERTH"); fi

status=0
env -u TMUX python3 bench/bench.py --berth "$BERTH" --tmpdir "$BENCH_TMP" --tag "$TAG" "${VENV_ARGS[@]}" \
  "${PREVIOUS_ARGS[@]}" "$@" || status=$?

# Many hosts (issue 16): three sshd hosts on loopback, appended to the report. Needs
# openssh-server (sshd); without it the section says why.
REPORT=BENCHMARKS.md
SESSIONS=100
RUNS=10
case " $* " in *" --quick "*) REPORT=bench/out/BENCHMARKS-quick.md SESSIONS=30 RUNS=5 ;; esac
if [[ $status -eq 0 && -f $REPORT ]]; then
  echo "bench: three hosts over ssh, $SESSIONS sessions each"
  {
    echo
    echo "## Many hosts over ssh"
    echo
    echo "\`scripts/bench-hosts.py\`: three real sshd hosts on loopback, $SESSIONS sessions each, one berth"
    echo "database; \`berth list --all-hosts\` against the slowest host listed alone (target: at most 1.5x),"
    echo "and what a perfect scheduler would make of the same run on this machine's cores (its CPU, every"
    echo "process's, measured in the same runs: the hosts' sshd and tmux share berth's cores here),"
    echo "then the panel's first full screen with this machine and two of the hosts (target: under 200 ms),"
    echo "beside the floor of the measure, this machine alone and (with PREVIOUS_BERTH) an earlier berth;"
    echo "then the same panel left alone (target: under 0.5% of one core)."
    echo
    if [[ -x /usr/sbin/sshd ]]; then
      BASELINE_ARGS=()
      if [[ -n ${PREVIOUS_BERTH:-} ]]; then BASELINE_ARGS=(--baseline-berth "$PREVIOUS_BERTH"); fi
      env -u TMUX python3 scripts/bench-hosts.py --berth "$BERTH" --sessions "$SESSIONS" --runs "$RUNS" \
        "${BASELINE_ARGS[@]}" ||
        echo "not measured: scripts/bench-hosts.py failed (see its output above)"
    else
      echo "not measured: sshd is not installed (apt-get install openssh-server)"
    fi
  } >> "$REPORT"
fi
exit "$status"
