#!/bin/sh
# Regenerates man/berth.1 (mdoc) so the page cannot drift from the program:
#
#   1. `swift package generate-manual` (swift-argument-parser's plugin) writes the base page
#      from the command definitions: every command, option, argument and help text.
#   2. The filter below reshapes it: global options listed once, one entry per command with
#      its own synopsis, one sentence per line (mandoc's lint asks for that).
#   3. The KEYS list is made from the panel's one action table
#      (Sources/BerthPanel/PanelAction.swift): from the hidden `berth --dump-keys` when the
#      binary has it (lines NAME<TAB>SUMMARY<TAB>KEY...), else by reading the table's source.
#   4. The hand-written text below (the template) goes around them: the panel, recovery,
#      settings, environment, files, exit status, examples, diagnostics.
#
# Tests/BerthKitTests/ManPageTests.swift checks the page against `berth --help`, the
# action table and the settings, so a new option, key or setting without `make man` fails.
#
# Usage: scripts/gen-man.sh [OUTPUT]   (default man/berth.1)
#        GEN_MAN_REUSE_BASE=1 scripts/gen-man.sh   reuses the last generate-manual output
#        (quicker when only the text in this script changed; the binary is still asked).
# Needs swift and python3; mandoc for the lint at the end (skipped with a note if missing).
set -eu

cd "$(dirname "$0")/.."
output=${1:-man/berth.1}

# The page's date is the date of the newest release in CHANGELOG.md, so regenerating it for
# the same release gives the same bytes.
date=$(sed -n 's/^## \[[^]]*\] - \([0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}\).*/\1/p' CHANGELOG.md 2>/dev/null | head -n 1)
[ -n "$date" ] || date=$(date -u +%Y-%m-%d)

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-gen-man.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

if [ "${GEN_MAN_REUSE_BASE:-0}" != 1 ]; then
  echo "gen-man: swift package generate-manual (debug build)..." >&2
  swift package generate-manual --configuration debug --date "$date" >&2
fi
base=$(find .build/plugins -path '*GenerateManual*' -name berth.1 -print 2>/dev/null | head -n 1)
if [ -z "$base" ] || [ ! -s "$base" ]; then
  echo "gen-man: generate-manual wrote no berth.1 under .build/plugins" >&2
  exit 1
fi

bin="$(swift build --show-bin-path)/berth"
[ -x "$bin" ] || { echo "gen-man: $bin is missing: run swift build --product berth" >&2; exit 1; }
"$bin" --version > "$work/version"
# ToolInfo, the JSON generate-manual itself reads: which arguments come after `--`.
"$bin" --experimental-dump-help > "$work/toolinfo.json"
if "$bin" --dump-keys > "$work/keys.tsv" 2>/dev/null && [ -s "$work/keys.tsv" ]; then
  keysource=binary
else
  : > "$work/keys.tsv"
  keysource=source
fi

# ---------------------------------------------------------------------------------------
# The hand-written page. Lines that are exactly @NAME@ are replaced by generated text.
cat > "$work/template.mdoc" <<'MDOC'
.Sh NAME
.Nm berth
.Nd keep terminal sessions alive across restarts, SSH drops and reboots
.Sh SYNOPSIS
@SYNOPSIS@
.Sh DESCRIPTION
.Nm
keeps terminal sessions alive across application restarts, dropped SSH connections and
reboots by building on
.Xr tmux 1 .
Every terminal it manages is a tmux session named
.Ar prefix Ns Ar id ,
.Ql berth-
followed by the session's id unless
.Fl -prefix
says otherwise.
.Nm
keeps a record of each one in an SQLite database (its name, workspace, tags, directory,
command, when it was created, attached and detached, and why it ended) and talks to tmux
directly, never through a shell: each command is one batch through an ordinary tmux client,
which leaves nothing on the server, and only the panel holds a control-mode connection
.Pq Ic tmux -C
for its live view.
It needs tmux 3.2 or newer.
.Pp
With no
.Ar command ,
.Nm
opens its panel: a full-screen list of the sessions with a live preview, from which a
keystroke attaches, restores, kills or cleans up (see
.Sx PANEL
and
.Sx KEYS ) .
With a
.Ar command ,
it does that one thing and exits;
.Cm list Fl -json
prints JSON for scripts.
.Pp
A tracked session is in one of three states:
.Bl -tag -width detached
.It attached
At least one client shows it.
Control-mode clients, berth's own included, never count.
.It detached
It is alive and no client shows it.
.It dead
Its record exists but tmux has no such session.
The record keeps why it ended:
.Bl -tag -width vanished
.It killed
It was killed through
.Nm ;
a restore never brings it back.
.It exited
Its shell or program ended.
.It vanished
It went away without
.Nm
knowing, with the tmux server (killed or crashed).
.It reboot
The machine booted after
.Nm
last saw the session alive.
.El
.El
.Pp
An
.Em orphan
is a live tmux session whose name starts with the prefix but that has no record (made by
hand, or tracked in another database):
.Cm adopt
makes a record for it and
.Cm cleanup Fl -orphans
kills it.
A
.Em foreign
session is any other tmux session on the server;
.Cm list Fl -all
and the panel's
.Ic a
key show them.
.Pp
A
.Ar target
names one session: an exact id, else an exact custom name, else an exact tmux session
name, else a unique prefix of an id.
An ambiguous target lists the candidates and changes nothing.
Ids are 1 to 64 letters, digits,
.Ql _
and
.Ql - ;
.Cm new
makes a short readable one when none is given: from the custom name, else the base name
of the directory, with
.Ql -2 ,
.Ql -3 ...
when taken
.Pq Ql api , Ql api-2 ;
on another host with no
.Fl -cwd ,
the host's name.
.Pp
Which tmux server: the one given by
.Fl L
or
.Fl S
(as for tmux); otherwise, inside tmux, the server
.Nm
runs in (from
.Ev TMUX ) ;
otherwise tmux's default server.
.Pp
These options are taken by every command, before or after its name:
.Bl -tag -width Ds
@GLOBAL_OPTIONS@
.El
.Pp
The panel (no
.Ar command )
also takes:
.Bl -tag -width Ds
@PANEL_OPTIONS@
.El
.Sh COMMANDS
.Bl -tag -width Ds
@COMMANDS@
.El
.Sh PANEL
The header shows the server, the tmux version, the number of sessions in each state and
the connection to tmux.
Each row shows a session's name (its custom name, else its id), its state as a word with
a symbol and a colour, uptime, idle time, workspace, directory, the running command, and
a marker when it printed output since it was last looked at.
Orphans and dead records have a section of their own below the list.
The session the panel runs in comes first, then live sessions, other tmux sessions and dead
ones; in the activity order the most recently attached or detached come first (output
never moves a row), the name order sorts numbers by value, and the selected row stays
where it is on screen when the order changes.
.Ic w
groups the list under a foldable header per workspace, with counts.
The
.Ic \&?
screen explains the symbols.
For the selected session a detail line shows the CPU and memory used by the processes in
its panes, its tags, and when it was created, last attached and last detached.
The preview shows the last lines of its active pane as plain text (escape sequences are
removed), kept live from tmux's notifications; for a dead session, its last saved output.
.Pp
.Ic Enter
leaves the full screen, runs
.Ic tmux attach
on the real terminal, and brings the panel back, redrawn with fresh data, when you detach
(the tmux prefix key, then
.Ic d ) .
Inside tmux on the same server it switches the client instead and exits.
With
.Fl -exec ,
.Nm
replaces itself with
.Ic tmux attach ,
for login shells.
.Pp
With hosts configured
.Pq Cm [hosts.NAME] ,
the panel lists every host's sessions in one table, with a HOST column, and a line under
the header gives each host's connection: connecting, connected, no tmux server, or
unreachable with ssh's reason and the seconds until the next try, then reconnecting.
Each host has its own connection and tasks: a host that is slow or gone holds up neither
the keys nor the other hosts' rows.
A host that cannot be reached is tried again after 2 seconds, then twice as long each time
up to a minute; an idle panel polls no host.
.Ic h
shows one host at a time, and
.Ql host: Ns Ar NAME
in the filter does the same.
.Ic Enter
on a remote session runs
.Ic ssh -t
through the host's master connection and
.Ic tmux attach
there, and brings the panel back when you detach, with the detach recorded.
.Ic n
asks for the host first (the arrow keys choose; a remote session starts in the remote home
unless a directory is typed); kill, rename, tags, restore and clean-up act through the
session's own host.
When a host comes back without its tmux server, the restore prompt offers its sessions too.
.Pp
When sessions were lost to a reboot or to the tmux server going away in the last 7 days,
the panel starts with the prompt
.Dq Ar N No sessions from your previous session: Restore all (a) / Select (s) / Ignore (i or Esc) .
.Ic a
restores them all (as
.Ic berth restore
does),
.Ic s
opens the list with them marked, and
.Ic i ,
.Ic q
or
.Ic Esc
means not now: this loss is not asked about again, a later one is.
A session whose shell exited, or that was killed, is shown dead with its reason and is
neither asked about nor brought back by
.Cm autoRestore ;
.Ic R
restores it.
.Pp
The panel works at 80x24 and narrower screens down to 40x10 (fewer columns, no preview);
on a wide terminal the columns share the width, so names and paths are shown whole.
Paths are cut from the left, keeping whole trailing components.
It uses 256 colours where the terminal has them, 8 where it does not, and none with
.Fl -no-color
or
.Ev NO_COLOR .
It needs a terminal that terminfo knows: with
.Ev TERM
unset or
.Ql dumb
it stops with a message before drawing anything.
.Sh KEYS
The panel's keys, from the same table that drives its
.Ic \&?
help screen:
.Bl -tag -width "Tab , S-Tab"
@KEYS@
.El
.Pp
The mouse: a click selects, a double click attaches, the wheel scrolls.
.Pp
While filtering, typed text narrows the list by name, directory, command, workspace and
tags;
.Ic Backspace
deletes a character,
.Ic Ctrl-U
clears the text,
.Ic Enter
keeps the filter and returns to the list, and
.Ic Esc
clears it.
A
.Ql y/N
question is confirmed by
.Ic y
alone; any other key cancels.
In the new-session form,
.Ic Tab
moves between the name and the directory,
.Ic Enter
creates the session and
.Ic Esc
cancels.
.Sh RECOVERY
For every live tracked session, a snapshot holds its windows (index, name, layout), their
panes (index, directory, the running command with its full argument list from the process
table, and whether it is the shell), the session's environment filtered by
.Cm envAllowList ,
and the last lines of each pane.
Each session's shell (bash, zsh or fish) also keeps its own history file, written as
commands run rather than when the shell exits.
Snapshots are saved in the database in one transaction; an empty or partial save never
replaces the last good one.
.Pp
.Nm
saves a session's snapshot when it creates or recreates it, when a client detaches from
it (a tmux
.Ic client-detached
hook), every
.Cm snapshotIntervalMinutes
while the tmux server runs (a
.Ic run-shell -d
timer that the tmux server owns and that re-arms itself, so there is no daemon and the
status line plays no part), and on demand with
.Nm
.Cm snapshot .
.Pp
A session that is gone while the machine's boot time is later than the last time
.Nm
saw it alive is dead with the reason
.Ql reboot .
.Nm
.Cm restore ,
the startup prompt, the panel's
.Ic R
and
.Ic Enter
on a dead session bring it back with the same id and name, its windows, layouts and
window names, each pane's directory, the allowed environment and its history file.
A directory that is missing or strange is never run as a command: the pane starts in
.Ev HOME
with a notice.
Each pane prints a short notice (for example
.Dq berth: recreated after a system restart )
and the command it was running.
.Pp
Running programs are not brought back: editors, servers and builds have to be started
again.
Their command is shown in the pane and put in the session's history, so
.Ic Up
recalls it; it is never run without you.
With
.Cm restoreCommands
set, it is typed at the prompt without pressing
.Ic Enter .
Sessions killed through
.Nm
are never brought back by
.Cm restore Fl -all
or the prompt;
.Nm
.Cm attach
recreates one on purpose.
.Sh SETTINGS
Settings are read at start from
.Pa $XDG_CONFIG_HOME/berth/config.toml
.Pq Pa ~/.config/berth/config.toml No by default
or from the file given with
.Fl -config .
.Nm
.Cm config
prints the value of every setting and where it came from;
.Nm
.Cm config Fl -init
writes a complete file with a comment above each setting.
The file is a small, strict subset of TOML:
.Ql key = value
lines,
.Ql #
comments, strings, whole numbers,
.Ql true
and
.Ql false ,
arrays of strings, and one table,
.Ql [palette] .
Each mistake gives one warning naming the file, the line and the key, for example
.Bd -literal -offset indent
berth: warning: config.toml:7: sessionTTLDays: expected a whole
number from 0 to 3650, got "soon" (using the default)
.Ed
.Pp
and that key keeps its default while the other keys still apply:
.Nm
runs rather than refusing to start.
.Pp
In the panel,
.Ql \&,
opens the settings screen: every setting and colour role with its value and where it came
from, and the file's first problem.
.Ic Enter
edits the selected value
.Pq Ic Space No flips true/false ,
.Ic d
removes its line from the file (back to the default),
.Ic E
opens the file in
.Ev VISUAL
or
.Ev EDITOR ,
.Ic Esc
closes.
A value is checked before anything is written.
Only the edited line of the file changes; the file is replaced atomically, through a symbolic
link to where it really is, and never when it changed on disk since the screen read it.
Saved settings apply at once, except
.Cm autoRestore ,
.Cm prefix
and
.Cm snapshotIntervalMinutes ,
which take effect at the next start.
.Bl -tag -width Ds
.It Cm autoRestore No = Li false
Recreate sessions lost to a reboot or a crash when the panel starts, without asking.
.It Cm sessionTTLDays No = Li 7
Dead records that ended longer ago than this many days (0 to 3650) are forgotten;
.Cm cleanup
with no flags uses it.
.It Cm maxOrphanedSessions No = Li 20
The panel warns when more orphans than this exist.
.It Cm workspaceWarnAt No = Li 10
Warn when a workspace has more live sessions than this.
.It Cm workspaceLimit No = Li 20
Refuse a new session in a workspace that already has this many live sessions
(exit status 6).
.It Cm prefix No = Qq berth-
tmux session names are the prefix followed by the id (letters, digits,
.Ql _
and
.Ql - ,
1 to 32 characters).
.Fl -prefix
overrides it for one run.
.It Cm snapshotIntervalMinutes No = Li 5
Minutes between automatic snapshots while the tmux server runs (1 to 1440).
.It Cm historyLimit No = Li 10000
Scrollback lines (tmux's
.Ic history-limit )
of new and restored sessions.
.It Cm envAllowList
Environment variables a snapshot keeps and a restore sets; a name ending in
.Ql *
matches a prefix, and a bare
.Ql *
is refused.
The default is LANG, LC_*, EDITOR, VISUAL, PAGER, VIRTUAL_ENV and TERM_PROGRAM; tokens
and passwords have no place here.
.It Cm restoreCommands No = Li false
After a restore, type each pane's previous command at its prompt, never pressing
.Ic Enter .
.It Cm colors No = Li true
Use colours in the panel.
.Fl -no-color
and
.Ev NO_COLOR
turn them off as well.
.El
.Pp
The
.Ql [palette]
table sets the colour of the panel's roles: normal, header, footer, selected, attached,
detached, dead, orphan, foreign, dim, marked, activity, warning, error, accent, border,
key and prompt.
A colour is a name (default, black, red, green, yellow, blue, magenta, cyan, white) or an
xterm colour number from 0 to 255:
.Bd -literal -offset indent
sessionTTLDays = 14
envAllowList = ["LANG", "LC_*", "EDITOR", "AWS_PROFILE"]

[palette]
dead = "red"
selected = 31
.Ed
.Pp
Each
.Ql [hosts. Ns Ar NAME Ns Ql \&]
table names a machine
.Nm
reaches over ssh:
.Ql ssh
is what you would type after
.Xr ssh 1
(a
.Pa ~/.ssh/config
alias works), and
.Ql socket
or
.Ql socketPath
optionally pick the remote tmux server
.Pf ( Fl L
or
.Fl S ) .
.Cm berth hosts
lists them.
.Bd -literal -offset indent
[hosts.build]
ssh = "me@build.example"
socket = "work"
.Ed
.Pp
.Fl -host Ar NAME
makes any command act on that host's tmux server through one ssh master connection per host
(one session on it per batch of tmux commands, never one per tmux session, opened on the
master's socket directly, or by
.Ql ssh
when the master is not up);
.Ql local
is this machine.
.Cm berth list Fl -all-hosts
lists every host at once, each JSON object with its
.Ql host ;
a host that cannot be reached is a warning, the others are listed, and the exit status is 8.
Records and snapshots of remote sessions are kept in this machine's database, keyed by host;
snapshots are taken from here (no hooks or timer are installed on a host), and
.Cm berth Fl -host Ar NAME Cm restore
recreates a host's lost sessions over ssh.
Remote shells get no per-session history: berth writes no file on a host.
.Cm berth serve
is local-only.
.Sh ENVIRONMENT
.Bl -tag -width Ds
.It Ev BERTH_SSH
The ssh client to run for hosts (default
.Ql ssh
from
.Ev PATH ) .
.It Ev BERTH_SSH_MUX
.Ql off
starts an
.Ql ssh
client for every remote batch instead of opening it on the master connection's socket.
.It Ev XDG_RUNTIME_DIR
The ssh master connections' sockets live in
.Pa $XDG_RUNTIME_DIR/berth
.Pq default Pa /tmp/berth- Ns Ar uid ,
mode 0700.
.It Ev BERTH_TMUX
The tmux to run, as a path or a name looked up in
.Ev PATH
(default
.Ql tmux ) .
.It Ev TMUX
Set by tmux inside its sessions.
Without
.Fl L
or
.Fl S ,
.Nm
then manages the server it runs in, and
.Cm attach
switches the client instead of nesting a second tmux.
.It Ev TMUX_TMPDIR
Where tmux keeps its per-user socket directory
.Pf ( Pa /tmp
when unset).
.It Ev XDG_STATE_HOME
The database and the per-session history files live in
.Pa $XDG_STATE_HOME/berth
.Pq default Pa ~/.local/state/berth .
.It Ev XDG_CONFIG_HOME
The settings file is
.Pa $XDG_CONFIG_HOME/berth/config.toml
.Pq default Pa ~/.config/berth/config.toml .
.It Ev NO_COLOR
When set and not empty, the panel uses no colours.
.It Ev TERM
The terminal type the panel draws for; it must be known to terminfo.
.It Ev SHELL
The shell new sessions run (as a login shell), and the plain shell
.Cm attach Fl -create
falls back to when tmux is missing.
.It Ev HOME
Where a restored pane starts when its directory is gone.
.It Ev BERTH_SESSION_ID
Set by
.Nm
in every session it starts, to the session's id.
.It Ev BERTH_SERVE_TOKEN
The token of
.Cm serve
when neither
.Fl -token-file
nor
.Fl -token
is given.
Unlike
.Fl -token ,
it does not show in the command line other local users can read
.Pq Xr ps 1 , Pa /proc .
.It Ev BERTH_FAKE_BOOT_TIME
For tests only: the machine's boot time, in seconds since the epoch, to simulate a reboot.
.El
.Sh FILES
.Bl -tag -width Ds
.It Pa $XDG_STATE_HOME/berth/berth.sqlite3
Session records and snapshots (the directory is mode 0700, the file 0600).
A damaged file is moved aside to
.Pa berth.sqlite3.corrupt- Ns Ar date
and a new one is built from what tmux has.
.It Pa $XDG_STATE_HOME/berth/history/ Ns Ar id Ns Pa .history
A session's own shell history.
.It Pa $XDG_STATE_HOME/berth/shell/
Start-up files
.Nm
writes so each shell keeps its own history; safe to delete.
.It Pa $XDG_CONFIG_HOME/berth/config.toml
Settings (another file with
.Fl -config ) ;
.Cm serve
uses them for its sessions too.
.It Pa $XDG_STATE_HOME/berth/serve-token
The token
.Cm serve
made at start when none was given (mode 0600).
.It Pa $TMUX_TMPDIR/tmux- Ns Ar uid Ns Pa / Ns Ar name
The tmux server's socket; next to it,
.Pa \&. Ns Ar name Ns Pa .berth-lock
is the lock
.Nm
takes while it connects to that server.
.El
.Sh EXIT STATUS
.Bl -tag -width Ds -compact
.It 0
Success.
.It 1
Failure: tmux refused, a check failed, nothing could be restored.
.It 2
Usage error.
.It 3
Target not found or ambiguous.
.It 4
tmux missing or too old, or a client that cannot talk to the running server.
.It 5
Already exists.
.It 6
Limit reached (sessions per workspace).
.It 7
Database error.
.It 8
A host could not be reached over ssh (or wants a password).
.El
.Sh EXAMPLES
The panel at every interactive SSH login, in
.Pa ~/.profile
.Pf ( Ev SSH_TTY
is set only when SSH gives the login a terminal, so
.Xr scp 1
and
.Xr rsync 1
are left alone):
.Bd -literal -offset indent
if [ -n "$SSH_TTY" ] && [ -z "$TMUX" ] && command -v berth >/dev/null; then
    exec berth --exec
fi
.Ed
.Pp
With
.Ic exec ,
quitting the panel or detaching from the session ends the login; without it you come
back to your shell.
.Pp
An application that embeds a terminal per tab runs this in the tab's pseudo-terminal, with
the tab's own stable id; reopening the tab reattaches to the same shell, and without tmux
it gets a plain shell after a one-line notice:
.Bd -literal -offset indent
berth attach "$TAB_ID" --create --cwd "$PROJECT_DIR"
.Ed
.Pp
When the application deletes a workspace:
.Bd -literal -offset indent
berth kill --workspace "$WORKSPACE"
.Ed
.Pp
Scripting with JSON and
.Xr jq 1 :
.Bd -literal -offset indent
berth list --json | jq -r '.[] | select(.status == "dead") | .id'
berth new --id build --cwd ~/src/app -- make -j4
berth send build --enter -- make test
berth list --json --preview 5 | jq -r '.[] | select(.id == "build") | .preview[]'
.Ed
.Pp
Cleaning up from
.Xr cron 8 ,
every night at four (dead records older than 30 days, then orphans):
.Bd -literal -offset indent
0 4 * * * berth cleanup --dead --older-than 30 >/dev/null
5 4 * * * berth cleanup --orphans >/dev/null
.Ed
.Pp
Before a planned reboot, and after it:
.Bd -literal -offset indent
berth snapshot
berth restore --all --dry-run
berth restore --all
.Ed
.Sh DIAGNOSTICS
Every error is one line on standard error that starts with
.Ql berth:
and says what to do, for example:
.Bl -item
.It
.Ql tmux is not installed (berth needs tmux 3.2 or newer): install it with 'sudo apt-get install tmux'
.It
.Ql tmux 3.1 is too old: berth needs tmux 3.2 or newer; upgrade tmux
.It
.Ql cannot use the tmux socket PATH: permission denied; check its owner and mode (berth doctor)
.It
.Ql tmux client 3.4 cannot talk to the running server (...): restart the server or use the tmux it was started with (BERTH_TMUX)
.It
.Ql no session matches 'api': see 'berth list'
.El
.Pp
.Nm
.Cm doctor
checks tmux (client and server versions), the socket directory (owned by you, mode 0700,
not a symbolic link), the database (integrity and modes) and the settings file.
.Sh SEE ALSO
.Xr tmux 1
.Sh CAVEATS
.Nm
brings back sessions, not processes: see
.Sx RECOVERY .
MDOC

# README.md's key table comes from the same action table (only when writing man/berth.1).
readme=""
[ "$output" = man/berth.1 ] && [ -f README.md ] && readme=README.md

python3 - "$base" "$work/toolinfo.json" "$work/keys.tsv" "$keysource" "$work/version" \
  "$work/template.mdoc" "$date" "$readme" > "$work/berth.1" <<'PYTHON'
import json
import re
import sys

base_path, toolinfo_path, keys_path, key_source, version_path, template_path, date, readme = sys.argv[1:9]
base = open(base_path, encoding="utf-8").read().splitlines()
toolinfo = json.load(open(toolinfo_path, encoding="utf-8"))
version = open(version_path, encoding="utf-8").read().strip()

# ---------------------------------------------------------------------------------------
# Reading generate-manual's page: the root's option items and one entry per command.

def escape_text(line):
    line = line.replace("\\", "\\e")
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line

def sentences(lines):
    """One sentence per line (mandoc: "new sentence, new line")."""
    out = []
    for line in lines:
        out.extend(re.split(r"(?<=[.?!]) +(?=[A-Z(-])", line))
    return [escape_text(line) for line in out if line.strip()]

class Item:
    def __init__(self, head):
        self.head = head  # the .It arguments, e.g. "Fl L , -socket-name Ar socket-name"
        self.body = []

class Command:
    def __init__(self, name):
        self.name = name
        self.abstract = []
        self.discussion = []
        self.items = []

root_items, commands = [], []
section, depth, current, item, in_discussion = None, 0, None, None, False
for line in base:
    if line.startswith(".Sh "):
        section = line[4:].strip('"')
        continue
    if section != "DESCRIPTION":
        continue
    if line.startswith(".Bl"):
        depth += 1
        item = None
    elif line == ".El":
        depth -= 1
        item = None
    elif line.startswith(".It "):
        head = line[4:]
        if depth == 1 and head.startswith("Em "):
            current = Command(head[3:].strip())
            commands.append(current)
            item, in_discussion = None, False
        else:
            item = Item(head)
            (current.items if depth == 2 and current else root_items).append(item)
    elif line == ".Pp":
        in_discussion = current is not None and depth == 1
    elif depth == 0:
        pass  # the root's discussion: the hand-written DESCRIPTION says more
    elif item is not None:
        item.body.append(line)
    elif current is not None and depth == 1:
        (current.discussion if in_discussion else current.abstract).append(line)

if not commands or not root_items:
    raise SystemExit("gen-man: unexpected generate-manual output: no commands or options found")

def option_heads(items):
    return {it.head for it in items if it.head.startswith("Fl ")}

# Options every command takes (GlobalOptions, --version, --help) are described once.
real_commands = [c for c in commands if c.name != "help"]
common = set.intersection(*(option_heads(c.items) for c in real_commands))
global_items = [it for it in root_items if it.head in common]
panel_items = [it for it in root_items if it.head not in common]

# Arguments parsed after `--` (ToolInfo's postTerminator), per command.
after_terminator = {}
for sub in toolinfo["command"].get("subcommands", []):
    after_terminator[sub["commandName"]] = {
        arg.get("valueName")
        for arg in sub.get("arguments", [])
        if arg.get("kind") == "positional" and arg.get("parsingStrategy") == "postTerminator"
    }

def synopsis_element(item, command):
    """An .It head as a synopsis element: options in brackets, repeated arguments too."""
    head = item.head
    if head.startswith("Fl "):
        head = re.sub(r"^Fl (\S+) , -\S+", r"Fl \1", head)  # the short spelling only
        return "Op " + head.replace("...", "")
    if head.startswith("Ar "):
        name = head[3:]
        repeated = name.endswith("...")
        name = name.rstrip(".")
        if name in after_terminator.get(command, set()):
            return "Op Fl \\- Ar " + name + " ..."
        return ("Op Ar " + name + " ...") if repeated else ("Ar " + name)
    return head

def described_items(items):
    out = []
    for it in items:
        body = sentences(it.body)
        if not body:
            continue
        out.append(".It " + it.head.replace("...", " ..."))
        out.extend(body)
    return out

def synopsis():
    out = [".Nm"]
    for it in global_items + panel_items:
        if it.head.startswith(("Fl -version", "Fl h ")):
            continue
        out.append("." + synopsis_element(it, ""))
    out += [".Nm", ".Ar command", ".Op Ar options", ".Op Ar arguments"]
    out += [".Nm", ".Op Fl -version | Fl -help"]
    return out

def command_entries():
    out = []
    for c in commands:
        own = [it for it in c.items if it.head not in common]
        if c.name == "help":
            own = [it for it in own if it.head.startswith("Ar ")]
        out += [".It Xo", ".Nm", ".Cm " + c.name]
        out += ["." + synopsis_element(it, c.name) for it in own]
        out.append(".Xc")
        out += sentences(c.abstract)
        if c.discussion:
            out += [".Pp"] + sentences(c.discussion)
        listed = described_items(own)
        if listed:
            out += [".Bl -tag -width Ds"] + listed + [".El"]
    return out

# ---------------------------------------------------------------------------------------
# The action table, for KEYS.

ARROWS = {"↑": "\\(ua", "↓": "\\(da", "←": "\\(<-", "→": "\\(->"}
DELIMITERS = set(".,:;!?|()[]")

def mdoc_key(label):
    if label in ARROWS:
        return ARROWS[label]
    if label in DELIMITERS:
        return "\\&" + label
    return label

def actions_from_dump(path):
    table = []
    for line in open(path, encoding="utf-8"):
        fields = line.rstrip("\n").split("\t")
        if len(fields) >= 3:
            table.append((fields[0], fields[1], fields[2:]))
    return table

def actions_from_source(path):
    src = open(path, encoding="utf-8").read()
    enum_body = src.split("public enum PanelAction", 1)[1]
    names = re.findall(r'^  case (\w+) = "([^"]+)"', enum_body, re.M)

    def switch_block(var):
        block = enum_body[enum_body.index("public var %s:" % var):]
        return block[: block.index("\n  }\n")]

    keys_block, summary_block = switch_block("keys"), switch_block("summary")
    label_source = src.split("public var label: String", 1)[1]
    fixed_labels = dict(re.findall(r'case \.(\w+): "([^"]*)"', label_source))

    def label(key):
        m = re.fullmatch(r'\.char\("(.*)"\)', key)
        if m:
            return "Space" if m.group(1) == " " else m.group(1).replace('\\"', '"')
        m = re.fullmatch(r'\.ctrl\("(.*)"\)', key)
        if m:
            return "Ctrl-" + m.group(1).upper()
        m = re.fullmatch(r"\.(\w+)", key)
        if m and m.group(1) in fixed_labels:
            return fixed_labels[m.group(1)]
        raise SystemExit("gen-man: cannot label the key %s of PanelAction.swift" % key)

    table = []
    for case, name in names:
        keys = re.search(r"case \.%s: \[(.*)\]" % case, keys_block)
        summary = re.search(r'case \.%s: "(.*)"' % case, summary_block)
        if not keys or not summary:
            raise SystemExit("gen-man: PanelAction.%s has no keys or no summary in the source" % case)
        found = re.findall(r'\.\w+(?:\("(?:[^"\\]|\\.)*"\))?', keys.group(1))
        table.append((name, summary.group(1), [label(k) for k in found]))
    return table

actions = (actions_from_dump(keys_path) if key_source == "binary"
           else actions_from_source("Sources/BerthPanel/PanelAction.swift"))
if not actions:
    raise SystemExit("gen-man: the action table is empty")

def key_entries():
    out = []
    for name, summary, keys in actions:
        out.append(".It " + " , ".join("Ic " + mdoc_key(k) for k in keys))
        text = summary.rstrip(".") + "."
        out.append(escape_text(text[0].upper() + text[1:]))
    return out

def update_readme(path):
    """Rewrites the table between README.md's keys markers."""
    text = open(path, encoding="utf-8").read()
    start = re.search(r"<!-- keys:start[^>]*-->\n", text)
    end = text.find("<!-- keys:end -->")
    if not start or end < start.end():
        raise SystemExit("gen-man: README.md has no <!-- keys:start --> ... <!-- keys:end --> markers")
    rows = ["| keys | action |", "|---|---|"]
    for name, summary, keys in actions:
        shown = " ".join("`%s`" % k.replace("|", "\\|") for k in keys)
        rows.append("| %s | %s |" % (shown, summary.replace("|", "\\|")))
    text = text[: start.end()] + "\n".join(rows) + "\n" + text[end:]
    open(path, "w", encoding="utf-8").write(text)

if readme:
    update_readme(readme)

# ---------------------------------------------------------------------------------------
# Filling the template.

month = ["January", "February", "March", "April", "May", "June", "July", "August",
         "September", "October", "November", "December"]
y, m, d = (int(x) for x in date.split("-"))
fills = {
    "@SYNOPSIS@": synopsis(),
    "@GLOBAL_OPTIONS@": described_items(global_items),
    "@PANEL_OPTIONS@": described_items(panel_items),
    "@COMMANDS@": command_entries(),
    "@KEYS@": key_entries(),
}
print('.\\" berth(1): generated by scripts/gen-man.sh (make man) from the command definitions')
print('.\\" (swift package generate-manual), the panel\'s action table and the hand-written')
print('.\\" text in that script. Edit those, not this file.')
print(".Dd %s %d, %d" % (month[m - 1], d, y))
print(".Dt BERTH 1")
print(".Os berth " + version)
for line in open(template_path, encoding="utf-8").read().splitlines():
    if line in fills:
        for out in fills[line]:
            print(out)
    else:
        print(line)
PYTHON

if command -v mandoc >/dev/null 2>&1; then
  mandoc -Tlint -W warning "$work/berth.1"
else
  echo "gen-man: mandoc is not installed, so the page was not linted (apt-get install mandoc)" >&2
fi
mkdir -p "$(dirname "$output")"
cp "$work/berth.1" "$output"
echo "gen-man: wrote $output (keys from the $keysource)" >&2
