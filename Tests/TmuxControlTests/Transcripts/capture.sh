#!/bin/bash
# Re-captures the control-mode transcripts the TmuxControl tests replay.
#
# Every capture runs against a private tmux server (own TMUX_TMPDIR, own -L name, no config)
# and kills that server afterwards; the user's default server is never touched.
# The tests pin what these files contain (counts, bodies), so after re-capturing, re-run
# `swift test --filter TmuxControlTests` and adjust expectations only if tmux changed.
#
# Usage: Tests/TmuxControlTests/Transcripts/capture.sh [NAME...]   (needs tmux 3.3a on PATH)
# NAME is one of: replies guards utf8 allbytes windows pause killed eof modes (default: all)
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export TMUX_TMPDIR="$work/tmux" HOME="$work/home" SHELL=/bin/sh TZ=UTC LANG=C.UTF-8 LC_ALL=C.UTF-8
unset TMUX TMUX_PANE
mkdir -p "$TMUX_TMPDIR" "$HOME"
T="tmux -L capt -f /dev/null"

finish() { $T kill-server 2>/dev/null; sleep 0.2; }

# 1. Replies: list-sessions / list-panes -F with TAB-separated fields, a failing command
#    (%error), a second session (%sessions-changed), then EOF on stdin (detach, %exit).
capture_replies() {
  {
    printf "list-sessions -F '#{session_id}\t#{session_name}\t#{session_windows}'\n"
    printf "new-session -d -s second -x 80 -y 24 'sleep 30'\n"
    sleep 0.3
    printf "list-sessions -F '#{session_id}\t#{session_name}\t#{session_windows}'\n"
    printf "list-panes -a -F '#{session_id}\t#{window_id}\t#{pane_id}\t#{pane_width}x#{pane_height}'\n"
    printf "kill-session -t '\$99'\n"
    printf "display-message -p 'one line'\n"
    printf "has-session -t '\$1'\n"
    sleep 0.3
  } | $T -u -C new-session -s first -x 80 -y 24 'sleep 30' >"$here/replies.bin"
  finish
}

# 2. A pane that printed guard-looking lines; capture-pane -p puts them in the body.
capture_guards() {
  guards="$work/guards.sh"
  printf '%s\n' "printf '%%end 1 2 1\n%%begin 3 4 1\n%%exit\n%%error 5 6 1\n%%end 1 2\nplain\n'; sleep 30" >"$guards"
  {
    sleep 0.5
    printf "capture-pane -p -t '%%0'\n"
    sleep 0.2
  } | $T -u -C new-session -x 80 -y 24 "sh $guards" >"$here/guards.bin"
  finish
}

# 3. UTF-8 text with 2-, 3- and 4-byte characters: tmux cuts %output by bytes, so some
#    payloads begin with a continuation byte.
capture_utf8() {
  python3 -c '
import sys
line = "aé€😀ß中𝄞ü" * 6
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(f"{i:02} {line}" for i in range(120)) + "\n")
' "$work/utf8.txt"
  {
    sleep 1
  } | $T -u -C new-session -x 80 -y 24 "stty -opost; cat $work/utf8.txt; sleep 30" >"$here/utf8.bin"
  cp "$work/utf8.txt" "$here/utf8-source.txt"
  finish
}

# 4. Every byte 0..255 written by a pane with output post-processing off.
capture_allbytes() {
  python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)))' >"$work/allbytes.raw"
  {
    sleep 1
  } | $T -u -C new-session -x 80 -y 24 "stty -opost; cat $work/allbytes.raw; sleep 30" >"$here/allbytes.bin"
  finish
}

# 5. Window and session life: add, rename, split (layout-change), select (pane/window
#    changed), close, session renamed, a subscription whose value holds " : ", another
#    control client switching session and detaching.
capture_windows() {
  {
    printf "refresh-client -B 'n::#{session_name} : x'\n"
    sleep 1.3
    printf "new-window -d -n two 'sleep 30'\n"
    sleep 0.3
    printf "rename-window -t '@1' 'renamed win'\n"
    sleep 0.3
    printf "split-window -d -t '%%0' 'sleep 30'\n"
    printf "select-pane -t '%%2'\n"
    printf "select-window -t '@1'\n"
    sleep 0.3
    printf "kill-window -t '@1'\n"
    sleep 0.3
    printf "new-session -d -s other -x 80 -y 24 'sleep 30'\n"
    printf "new-window -d -t '\$1:' 'sleep 30'\n"
    printf "rename-session -t '\$0' 'main one'\n"
    sleep 1.3
    printf "rename-session -t '\$0' 'main two'\n"
    sleep 1.3
    # A second control client attaches, switches to $1, and detaches by EOF.
    { sleep 0.3; printf "switch-client -t '\$1'\n"; sleep 0.3; } | $T -u -C attach -t '$0' >/dev/null
    sleep 0.3
  } | $T -u -C new-session -s main -x 80 -y 24 'sleep 30' >"$here/windows.bin"
  finish
}

# 6. Flow control: pause a pane (the %pause line comes inside refresh-client's block),
#    continue it, and output with pause-after on (%extended-output).
capture_pause() {
  {
    printf "refresh-client -A '%%0:pause'\n"
    sleep 0.3
    printf "refresh-client -A '%%0:continue'\n"
    printf "refresh-client -f pause-after=5\n"
    printf "send-keys -t '%%0' -l 'echo hi'\n"
    printf "send-keys -t '%%0' Enter\n"
    sleep 0.5
  } | $T -u -C new-session -x 80 -y 24 'PS1="$ " sh' >"$here/pause.bin"
  finish
}

# 7. The server is killed with SIGKILL: the client prints "%exit server exited unexpectedly".
capture_killed() {
  mkfifo "$work/in"
  $T -u -C new-session -x 80 -y 24 'sleep 30' <"$work/in" >"$here/killed.bin" &
  client=$!
  exec 9>"$work/in"
  printf "display-message -p '#{session_name}'\n" >&9
  sleep 0.5
  server=$($T display-message -p '#{pid}')
  kill -9 "$server"
  wait "$client"
  exec 9>&-
  rm -f "$work/in"
}

# 8. Detach by EOF with no command at all.
capture_eof() {
  : | $T -u -C new-session -x 80 -y 24 'sleep 30' >"$here/eof.bin"
  finish
}

# 9. Output shown in a pane's view mode (run-shell): %pane-mode-changed.
capture_modes() {
  {
    printf "run-shell 'echo done'\n"
    sleep 0.3
    printf "send-keys -t '%%0' -X cancel\n"
    sleep 0.3
  } | $T -u -C new-session -x 80 -y 24 'sleep 30' >"$here/modes.bin"
  finish
}

names=("$@")
[ ${#names[@]} -eq 0 ] && names=(replies guards utf8 allbytes windows pause killed eof modes)
for name in "${names[@]}"; do "capture_$name"; done
ls -l "$here"
