#!/usr/bin/env bash
# Builds berth's libFuzzer targets (fuzz/targets) and runs each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     default 60
#
# Environment:
#   FUZZ_TARGETS   targets to build and run (default: all five, see below)
#   FUZZ_OPT       optimisation flags (default "-O"; "-Onone -g" builds faster, runs slower)
#   FUZZ_TIMEOUT   seconds one input may take before it counts as a hang (default 10); a
#                  timeout that does not happen again when the input is replayed alone (a
#                  busy machine) is reported but does not fail the run
#   FUZZ_MAX_LEN   longest input libFuzzer makes (default 4096; longer seeds are cut)
#   FUZZ_BUILD_ONLY=1  build, do not run
#   SWIFTC         the compiler (default swiftc)
#
# The sanitizer flag applies to the whole build, so the targets are compiled with swiftc
# directly, not SwiftPM: the pure modules (TmuxControl, BerthCore) as static libraries,
# then each target's entry file (which defines LLVMFuzzerTestOneInput) linked against them.
# Everything goes to fuzz/out/ (not committed). Each run starts from a copy of the
# committed seeds (fuzz/corpus/TARGET) kept in fuzz/out/corpus/TARGET, so what one run
# finds seeds the next. A crash, a failed property (a trap), a hang or running out of
# memory saves the input under fuzz/crashes/ and makes the script exit 1; replay it with
#   SWIFT_BACKTRACE=enable=no fuzz/out/TARGET fuzz/crashes/FILE
# Prints the executions per target (libFuzzer's stat::number_of_executed_units) and the total.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
seconds=${1:-60}
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
all_targets="parser output-decoder encoder sanitizer config"
targets=${FUZZ_TARGETS:-$all_targets}
swiftc=${SWIFTC:-swiftc}
read -r -a opt <<<"${FUZZ_OPT:--O}"
timeout=${FUZZ_TIMEOUT:-10}
max_len=${FUZZ_MAX_LEN:-4096}
out=fuzz/out
build=$out/build
crashes=fuzz/crashes
mkdir -p "$build" "$crashes"

flags=(-sanitize=fuzzer,address -parse-as-library -swift-version 6 -wmo "${opt[@]}")

# Rebuild when an input is newer than the output or the flags changed since the last build.
stamp=$build/flags
if [[ ! -f $stamp || "$(cat "$stamp")" != "${flags[*]}" ]]; then
  rm -f "$build"/*.a "$build"/*.swiftmodule
  for t in $all_targets; do rm -f "$out/$t"; done
  echo "${flags[*]}" >"$stamp"
fi
stale() {
  local output=$1
  shift
  [[ -e $output ]] || return 0
  local f
  for f in "$@"; do [[ $f -nt $output ]] && return 0; done
  return 1
}

# Which pure modules a target links, in link order.
modules_of() {
  case $1 in
    parser | output-decoder | encoder) echo "TmuxControl" ;;
    sanitizer | config) echo "BerthCore TmuxControl" ;;
    *) return 1 ;;
  esac
}

build_module() {
  local name=$1 lib=$build/lib$1.a
  local sources=(Sources/"$name"/*.swift)
  local deps=()
  [[ $name == BerthCore ]] && deps=("$build/libTmuxControl.a")
  stale "$lib" "${sources[@]}" "${deps[@]}" || return 0
  echo "fuzz: building module $name" >&2
  "$swiftc" "${flags[@]}" -I "$build" -emit-library -static -emit-module -module-name "$name" \
    -emit-module-path "$build/$name.swiftmodule" "${sources[@]}" -o "$lib"
}

build_target() {
  local t=$1 module libs=() m
  module=Fuzz$(echo "$t" | sed -E 's/(^|-)([a-z])/\U\2/g')
  for m in $(modules_of "$t"); do libs+=("$build/lib$m.a"); done
  local sources=(Sources/TestModels/*.swift fuzz/targets/Support.swift "fuzz/targets/$t.swift")
  stale "$out/$t" "${sources[@]}" "${libs[@]}" || return 0
  echo "fuzz: building target $t" >&2
  "$swiftc" "${flags[@]}" -use-ld=lld -I "$build" -module-name "$module" "${sources[@]}" "${libs[@]}" -o "$out/$t"
}

for t in $targets; do
  if ! modules_of "$t" >/dev/null; then
    echo "fuzz: unknown target '$t' (targets: $all_targets)" >&2
    exit 2
  fi
done
needed=$(for t in $targets; do modules_of "$t"; done | tr ' ' '\n' | sort -u)
for m in TmuxControl BerthCore; do
  if grep -qx "$m" <<<"$needed"; then
    build_module "$m" || { echo "fuzz: module $m does not build" >&2; exit 2; }
  fi
done
for t in $targets; do
  build_target "$t" || { echo "fuzz: target $t does not build" >&2; exit 2; }
done
[[ ${FUZZ_BUILD_ONLY:-0} == 1 ]] && exit 0

status=0
total=0
summary=()
for t in $targets; do
  work=$out/corpus/$t
  mkdir -p "$work"
  cp -n fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log=$out/$t.log
  before=$(find "$crashes" -type f -name "$t-*" | sort)
  echo "fuzz: running $t for ${seconds}s" >&2
  SWIFT_BACKTRACE=enable=no "./$out/$t" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -timeout="$timeout" -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$crashes/$t-" "$work" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
  runs=${runs:-0}
  total=$((total + runs))
  new=$(comm -13 <(echo "$before") <(find "$crashes" -type f -name "$t-*" | sort) | sed '/^$/d')
  saved=$(grep -v -- "-slow-unit-" <<<"$new" | head -n 1)
  note=""
  # libFuzzer's timeout is wall-clock time: on a busy machine a normal input can exceed it.
  # A timeout counts only if the input also times out when replayed on its own.
  if ((rc != 0)) && [[ $saved == */"$t"-timeout-* ]]; then
    if SWIFT_BACKTRACE=enable=no "./$out/$t" -timeout="$timeout" "$saved" >"$out/$t.replay.log" 2>&1; then
      ms=$(sed -n 's/^Executed .* in \([0-9][0-9]*\) ms$/\1/p' "$out/$t.replay.log")
      mkdir -p "$out/unconfirmed"
      mv "$saved" "$out/unconfirmed/"
      note=" (stopped early by a ${timeout}s timeout that did not reproduce: the input ran in ${ms:-?} ms"
      note+=" on replay; kept in $out/unconfirmed/)"
      rc=0
      new=$(grep -v -x -F -- "$saved" <<<"$new")
    fi
  fi
  if ((rc != 0)); then
    status=1
    result="FAILED (exit $rc)${saved:+, input saved as $saved}"
    echo "fuzz: $t failed; the end of $log:" >&2
    grep -E 'property failed|Fatal error|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY|Test unit written' "$log" \
      | head -n 8 >&2
  elif [[ -n $new ]]; then
    result="ok (slow inputs saved under $crashes/)$note"
  else
    result="ok$note"
  fi
  summary+=("$(printf '%-16s %12s executions  %s' "$t" "$runs" "$result")")
done

echo
echo "fuzz: ${seconds}s per target"
printf '%s\n' "${summary[@]}"
printf '%-16s %12s executions\n' "total" "$total"
exit $status
