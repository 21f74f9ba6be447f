#!/usr/bin/env python3
"""berth measured side by side with tmux itself and with the tools people use today.

Run through scripts/bench.sh (`make bench`, `make bench-quick`), which builds the release
binary and the libtmux virtual environment first. Everything runs against PRIVATE tmux
servers (own TMUX_TMPDIR, unique -L names, -f /dev/null, pinned HOME/TERM/LANG/TZ/SHELL)
that are killed at the end, and a private berth database in the same temporary directory.

Each berth figure is measured in the same run as its baseline, interleaved round by round,
so a noisy machine slows both; medians, minimums and maximums are reported.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from tmuxctl import ControlClient, ControlError, one_shot_batch  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PREVIEW_LINES = 5
PANEL_COLS, PANEL_ROWS = 120, 40
# What berth's listing asks tmux for, without its control-character cleaning: the floor is
# the same facts through the cheapest formats.
LIST_FORMAT = "\t".join(
    "#{%s}" % v
    for v in (
        "session_id", "session_name", "session_created", "session_last_attached",
        "session_activity", "session_attached", "session_windows", "window_id", "window_activity",
        "pane_id", "pane_pid", "pane_dead", "pane_current_command", "pane_current_path",
    )
)
LS_FORMAT = "\t".join(
    "#{%s}" % v
    for v in (
        "session_id", "session_name", "session_created", "session_last_attached",
        "session_activity", "session_attached", "session_windows", "session_path",
    )
)


class BenchError(Exception):
    """A measurement could not be taken (the message says why)."""


# ---------------------------------------------------------------------------------------
# Small helpers


def stats(samples):
    """Median, min, max and count of a list of numbers (seconds or percentages)."""
    if not samples:
        return None
    return {
        "median": statistics.median(samples), "min": min(samples), "max": max(samples),
        "runs": len(samples), "samples": samples,
    }


def fmt_seconds(value):
    if value is None:
        return "-"
    if value >= 10:
        return "%.1f s" % value
    if value >= 1:
        return "%.2f s" % value
    ms = value * 1000
    if ms >= 100:
        return "%.0f ms" % ms
    if ms >= 10:
        return "%.1f ms" % ms
    return "%.2f ms" % ms


def fmt_stat(s, unit="s"):
    """'median (min–max, N runs)' for a stats dict; a string (not measured) passes through."""
    if s is None:
        return "not measured"
    if isinstance(s, str):
        return s
    f = fmt_seconds if unit == "s" else (lambda v: "%.2f%%" % v) if unit == "%" else (lambda v: "%.1f MB" % v)
    if s["runs"] == 1:
        return f(s["median"])
    return "%s (%s–%s, %d runs)" % (f(s["median"]), f(s["min"]), f(s["max"]), s["runs"])


def fmt_ratio(r):
    if r is None:
        return "-"
    if r >= 100:
        return "%.0fx" % r
    if r >= 10:
        return "%.1fx" % r
    return "%.2fx" % r


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def tmux_quote(s):
    """Single-quoted for tmux's command parser (nothing expands inside)."""
    return "'" + s.replace("'", "'\\''") + "'"


def read_proc_stat(pid):
    """(utime+stime, cutime+cstime) of a process in seconds, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    children = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return own, children


def read_status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def child_pids(pid):
    pids = []
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def cpu_sample(pid):
    """CPU seconds of a process: its own (all threads), its waited-for children, and its live
    children (berth's `tmux -C` client works only for berth, so it counts)."""
    s = read_proc_stat(pid)
    if s is None:
        return None
    kids = {}
    for c in child_pids(pid):
        cs = read_proc_stat(c)
        if cs is not None:
            kids[c] = cs[0]
    return {"own": s[0], "reaped": s[1], "children": kids}


def cpu_delta(a, b):
    """(berth alone, berth + its children) CPU seconds between two samples."""
    own = b["own"] - a["own"]
    kids = b["reaped"] - a["reaped"]
    for pid, t in b["children"].items():
        kids += t - a["children"].get(pid, 0.0)
    return own, own + kids


# ---------------------------------------------------------------------------------------
# The harness


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.berth = os.path.abspath(args.berth)
        self.tmux = shutil.which("tmux")
        if not self.tmux:
            raise BenchError("tmux is not installed")
        if not os.access(self.berth, os.X_OK):
            raise BenchError("no berth binary at %s (run scripts/bench.sh, which builds it)" % self.berth)
        self.own_tmp = args.tmpdir is None
        self.tmp = args.tmpdir or tempfile.mkdtemp(prefix="berth-bench-")
        tag = args.tag or str(os.getpid())
        self.sock = "berth-bench-%s" % tag
        self.view_sock = "berth-bench-view-%s" % tag
        self.base_sock = "berth-bench-base-%s" % tag
        self.one_sock = "berth-bench-one-%s" % tag
        self.home = os.path.join(self.tmp, "home")
        self.work = os.path.join(self.tmp, "work")
        for d in (self.home, self.work):
            os.makedirs(d, exist_ok=True)
        self.db = os.path.join(self.tmp, "berth.sqlite3")
        # A private copy: a build running meanwhile must not replace the binary mid-run.
        self.built_berth = self.berth
        self.berth = os.path.join(self.tmp, "berth")
        shutil.copy2(self.built_berth, self.berth)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": self.home,
            "USER": os.environ.get("USER", "bench"),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "SHELL": "/bin/sh",
            "TMUX_TMPDIR": self.tmp,
            "XDG_STATE_HOME": os.path.join(self.home, ".local", "state"),
            "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
            "NO_COLOR": "",
        }
        del self.env["NO_COLOR"]
        self.venv_python = args.venv_python
        self.sizes = [100] if self.quick else [10, 100, 500]
        self.fast_runs = 7 if self.quick else 15
        self.slow_runs = 2 if self.quick else 3
        self.panel_runs = 3 if self.quick else 7
        self.idle_seconds = args.idle_seconds or (10 if self.quick else 30)
        self.flood_seconds = 5 if self.quick else 15
        self.snapshot_runs = 5 if self.quick else 10
        self.restore_runs = 2 if self.quick else 5
        self.created = 0
        self.viewer = None
        self.results = {"lists": {}, "panel": {}, "notes": []}
        self.log_lines = []

    # -- output

    def log(self, message):
        line = "[%6.1fs] %s" % (time.monotonic() - self.started, message)
        print(line, flush=True)

    def note(self, message):
        self.results["notes"].append(message)
        self.log("note: " + message)

    # -- processes

    def run(self, argv, env=None, timeout=600, check=True):
        p = subprocess.run(
            argv, env=env or self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
            cwd=self.work)
        if check and p.returncode != 0:
            raise BenchError(
                "%s exited with %d: %s" % (" ".join(argv[:6]), p.returncode, p.stderr.decode(errors="replace").strip()[:500]))
        return p

    def timed(self, argv, env=None, timeout=600):
        """Wall time of one command from fork to exit (output read through a pipe)."""
        t0 = time.perf_counter()
        p = subprocess.run(
            argv, env=env or self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
            cwd=self.work)
        elapsed = time.perf_counter() - t0
        if p.returncode != 0:
            raise BenchError(
                "%s exited with %d: %s" % (" ".join(argv[:6]), p.returncode, p.stderr.decode(errors="replace").strip()[:500]))
        return elapsed, p.stdout

    def tmux_cmd(self, socket, *args):
        return [self.tmux, "-L", socket] + list(args)

    def berth_cmd(self, *args):
        return [self.berth, "-L", self.sock, "--db", self.db] + list(args)

    def kill_server(self, socket):
        subprocess.run(
            self.tmux_cmd(socket, "kill-server"), env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, timeout=30)
        path = os.path.join(self.tmp, "tmux-%d" % os.getuid(), socket)
        deadline = time.monotonic() + 10
        while os.path.exists(path) and time.monotonic() < deadline:
            probe = subprocess.run(
                self.tmux_cmd(socket, "list-sessions"), env=self.env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=30)
            if probe.returncode != 0:
                break
            time.sleep(0.05)

    def cleanup(self):
        if self.viewer is not None:
            try:
                self.viewer.close()
            except Exception:
                pass
        for s in (self.sock, self.view_sock, self.base_sock, self.one_sock):
            try:
                self.kill_server(s)
            except Exception:
                pass
        # Anything still running from this run's private copy of berth (a `berth snapshot`
        # that a tmux hook started just before its server went) ends too.
        for _ in range(50):
            leftovers = self.own_berth_pids()
            if not leftovers:
                break
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGTERM)
                except OSError:
                    pass
            time.sleep(0.1)
        if self.own_tmp and not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- sessions

    def session_line(self, i):
        """One session with some output (40 numbered lines), then an interactive shell."""
        sid = "s%04d" % i
        return (
            "new-session -d -s berth-%s -x %d -y %d -c %s \"sh -c 'seq 1 40 | sed s/^/%s-output-line-/; exec sh'\""
            % (sid, PANEL_COLS, PANEL_ROWS, self.work, sid))

    def write_batch(self, name, indices):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            for i in indices:
                f.write(self.session_line(i) + "\n")
        return path

    def server_argv(self, socket, batch):
        """Start a server (kept alive while empty) and create sessions from one batch."""
        return self.tmux_cmd(
            socket, "-f", "/dev/null", "start-server", ";", "set", "-g", "exit-empty", "off", ";",
            "source-file", batch)

    def start_server(self, socket, batch):
        """Starts a server with one source-file batch, timed. tmux 3.3a's server sometimes
        crashes while starting ("server exited unexpectedly", a segfault in the kernel log);
        such a start is noted and done again, so a tmux crash is never taken for berth's."""
        for attempt in range(3):
            self.kill_server(socket)
            t0 = time.perf_counter()
            p = self.run(self.server_argv(socket, batch), timeout=300, check=False)
            elapsed = time.perf_counter() - t0
            if p.returncode == 0:
                return elapsed
            self.note("tmux failed to start a server with a batch (%s); started again" % p.stderr.decode(errors="replace").strip()[:120])
        raise BenchError("tmux could not start a server with the batch three times")

    def session_names(self, socket):
        p = self.run(self.tmux_cmd(socket, "list-sessions", "-F", "#{session_name}"), check=False)
        if p.returncode != 0:
            return []
        return [n for n in p.stdout.decode().split("\n") if n.startswith("berth-")]

    def grow_to(self, n):
        """Creates sessions up to n (one source-file batch) and adopts them into berth."""
        if n <= self.created:
            return
        first = self.created
        batch = self.write_batch("batch-%d.tmux" % n, range(first, n))
        t0 = time.perf_counter()
        if first == 0:
            self.start_server(self.sock, batch)
        else:
            self.run(self.tmux_cmd(self.sock, "source-file", batch), timeout=300)
        self.log("created sessions %d..%d in %s" % (first, n - 1, fmt_seconds(time.perf_counter() - t0)))
        names = set(self.session_names(self.sock))
        missing = [i for i in range(first, n) if "berth-s%04d" % i not in names]
        if missing:
            self.note("tmux created only %d of %d sessions in the batch; created the rest again" % (n - first - len(missing), n - first))
            retry = self.write_batch("retry-%d.tmux" % n, missing)
            self.run(self.tmux_cmd(self.sock, "source-file", retry), timeout=300)
        # Let the shells print their lines before anything captures them.
        time.sleep(0.5 if n - first < 200 else 1.5)
        t0 = time.perf_counter()
        # One `berth adopt` per session, as many at a time as there are cores (berth's
        # database takes concurrent writers).
        pending = ["s%04d" % i for i in range(first, n)]
        running = []
        while pending or running:
            while pending and len(running) < (os.cpu_count() or 2):
                sid = pending.pop(0)
                running.append((sid, subprocess.Popen(
                    self.berth_cmd("adopt", sid), env=self.env, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, cwd=self.work)))
            sid, proc = running.pop(0)
            _, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise BenchError("berth adopt %s failed: %s" % (sid, err.decode(errors="replace").strip()[:300]))
        self.log("adopted %d sessions with 'berth adopt' in %s" % (n - first, fmt_seconds(time.perf_counter() - t0)))
        self.created = n

    # -- listing with previews

    def floor_commands(self, n):
        cmds = ["list-panes -a -F %s" % tmux_quote(LIST_FORMAT)]
        for i in range(n):
            cmds.append("capture-pane -p -t %s -S -%d -E -" % (tmux_quote("=berth-s%04d:" % i), PREVIEW_LINES))
        return cmds

    def measure_lists(self, n):
        self.log("listing %d sessions: berth list --json --preview 5 and its baselines" % n)
        floor_cmds = self.floor_commands(n)
        counter = [0]

        def berth_list():
            t, out = self.timed(self.berth_cmd("list", "--json", "--preview", str(PREVIEW_LINES)))
            return t, out

        def tmux_ls():
            return self.timed(self.tmux_cmd(self.sock, "list-sessions", "-F", LS_FORMAT))

        def floor():
            counter[0] += 1
            t0 = time.perf_counter()
            replies = one_shot_batch(self.tmux, self.sock, self.env, "_bench-floor-%d" % counter[0], floor_cmds)
            t = time.perf_counter() - t0
            return t, replies

        fork_script = (
            "for s in $(%s -L %s list-sessions -F '#{session_name}'); do "
            "%s -L %s capture-pane -p -t \"=$s:\" -S -%d -E -; done"
            % (self.tmux, self.sock, self.tmux, self.sock, PREVIEW_LINES))

        def fork_loop():
            return self.timed(["/bin/sh", "-c", fork_script])

        # The same commands through one ordinary command client (what berth itself sends
        # since it stopped opening control clients: no session made, nobody notified).
        source_input = "".join(c + "\n" for c in floor_cmds).encode()

        def source_file():
            t0 = time.perf_counter()
            p = subprocess.run([self.tmux, "-u", "-N", "-L", self.sock, "source-file", "-"], input=source_input,
                               env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            t = time.perf_counter() - t0
            if p.returncode != 0:
                raise BenchError("the source-file batch failed: %s" % p.stderr.decode(errors="replace").strip()[:300])
            return t, p.stdout

        def libtmux():
            return self.timed([self.venv_python, os.path.join(HERE, "libtmux_probe.py"), self.sock, str(PREVIEW_LINES)])

        # Check each contender once: right count, previews present.
        _, out = berth_list()
        views = json.loads(out)
        tracked = [v for v in views if v.get("tracked") and v.get("status") in ("detached", "attached")]
        with_preview = [v for v in tracked if any((line or "").strip() for line in v.get("preview") or [])]
        if len(tracked) != n or len(with_preview) != n:
            raise BenchError("berth list saw %d live tracked sessions, %d with a preview (expected %d)" % (len(tracked), len(with_preview), n))
        _, replies = floor()
        bad = [r for r in replies if r.is_error]
        if bad or len(replies) != n + 1:
            raise BenchError("the -C floor got %d replies, %d errors: %s" % (len(replies), len(bad), bad[0].text() if bad else ""))
        contenders = [
            ("berth", berth_list, self.fast_runs),
            ("list_sessions", tmux_ls, self.fast_runs),
            ("floor", floor, self.fast_runs),
            ("source_file", source_file, self.fast_runs),
            ("fork_loop", fork_loop, self.slow_runs),
        ]
        if self.venv_python:
            _, out = libtmux()
            if out.decode().strip() != str(n):
                raise BenchError("libtmux saw %s sessions, expected %d" % (out.decode().strip(), n))
            contenders.append(("libtmux", libtmux, self.slow_runs))
        else:
            self.results["lists"].setdefault(n, {})["libtmux"] = "not measured (%s)" % self.args.venv_reason
        _, out = fork_loop()
        if out.decode().count("-output-line-") < n:
            raise BenchError("the fork loop captured too little")
        samples = {name: [] for name, _, _ in contenders}
        rounds = max(r for _, _, r in contenders)
        for round_index in range(rounds):
            for name, fn, runs in contenders:
                if round_index < runs:
                    samples[name].append(fn()[0])
        result = self.results["lists"].setdefault(n, {})
        for name, s in samples.items():
            result[name] = stats(s)
        self.log("  berth %s · list-sessions %s · -C floor %s · source-file batch %s · fork loop %s · libtmux %s" % (
            fmt_stat(result["berth"]), fmt_stat(result["list_sessions"]), fmt_stat(result["floor"]),
            fmt_stat(result["source_file"]),
            fmt_stat(result["fork_loop"]), fmt_stat(result.get("libtmux"))))

    # -- one session: what an app pays on every `berth attach --create`

    def measure_one(self):
        self.log("one session: berth list --json against one tmux command")
        db = os.path.join(self.tmp, "one.sqlite3")
        self.kill_server(self.one_sock)
        self.run(self.tmux_cmd(self.one_sock, "-f", "/dev/null", "start-server", ";", "set", "-g", "exit-empty", "off"))
        self.run([self.berth, "new", "-L", self.one_sock, "--db", db, "--name", "one"])
        time.sleep(0.3)

        def berth_list():
            return self.timed([self.berth, "list", "-L", self.one_sock, "--db", db, "--json"])

        def version():
            return self.timed([self.berth, "--version"])

        def tmux_ls():
            return self.timed(self.tmux_cmd(self.one_sock, "list-sessions"))

        def control_one():
            t0 = time.perf_counter()
            one_shot_batch(self.tmux, self.one_sock, self.env, "_bench-one", ["list-sessions"])
            return time.perf_counter() - t0, b""

        views = json.loads(berth_list()[1])
        if len([v for v in views if v.get("tracked")]) != 1:
            raise BenchError("berth list saw %d sessions, expected 1" % len(views))
        contenders = [("berth", berth_list), ("version", version), ("list_sessions", tmux_ls), ("control", control_one)]
        samples = {name: [] for name, _ in contenders}
        for _ in range(self.fast_runs * 2):
            for name, fn in contenders:
                samples[name].append(fn()[0])
        self.results["one"] = {name: stats(v) for name, v in samples.items()}
        self.kill_server(self.one_sock)
        r = self.results["one"]
        self.log("  berth list --json %s · berth --version %s · tmux list-sessions %s · one command through tmux -C %s" % (
            fmt_stat(r["berth"]), fmt_stat(r["version"]), fmt_stat(r["list_sessions"]), fmt_stat(r["control"])))

    # -- crash stress: berth processes killed at random while tmux is busy notifying

    def measure_crash(self):
        script = os.path.join(ROOT, "scripts", "crash-stress.sh")
        n = 200 if self.quick else 2000
        result = {}
        for label, berth in (("current", self.berth), ("previous", self.args.previous_berth)):
            if not berth:
                continue
            self.log("crash stress (%s berth): %d processes" % (label, n))
            env = dict(self.env)
            env.pop("TMUX_TMPDIR", None)
            p = subprocess.run(["/bin/bash", script, "-q", "-n", str(n), "-b", berth, "-t", self.tmux], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=7200)
            line = p.stdout.decode(errors="replace").strip().splitlines()
            fields = dict(kv.split("=", 1) for kv in (line[-1].split() if line else []) if "=" in kv)
            if "server_deaths" not in fields:
                raise BenchError("crash-stress.sh said: %s" % p.stderr.decode(errors="replace").strip()[:300])
            result[label] = fields
            self.log("  %s" % line[-1])
        self.results["crash"] = result

    # -- the panel, through a private tmux pane

    def start_viewer(self):
        if self.viewer is not None:
            return
        self.run(self.tmux_cmd(
            self.view_sock, "-f", "/dev/null", "new-session", "-d", "-s", "view", "-x", str(PANEL_COLS),
            "-y", str(PANEL_ROWS), "sh", ";", "set", "-g", "exit-empty", "off"))
        self.viewer = ControlClient(self.tmux, self.view_sock, self.env, "_bench-viewer")

    def view(self, *commands):
        replies = self.viewer.send(list(commands))
        for c, r in zip(commands, replies):
            if r.is_error:
                raise BenchError("viewer tmux refused %r: %s" % (c[:80], r.text()))
        return replies

    def launch_panel(self):
        """Starts `berth` (the panel) in a new 120x40 window of the viewer server. Returns
        (pane id, file the start time is written to). The pane runs a shell that records the
        time (date +%s%N) and then execs berth, so the pane's pid becomes berth's."""
        stamp = os.path.join(self.tmp, "panel-start-%d" % time.monotonic_ns())
        cmd = "date +%%s%%N > %s; exec env -u TMUX %s -L %s --db %s" % (stamp, self.berth, self.sock, self.db)
        reply = self.view("new-window -d -P -F '#{pane_id}' -t view: %s" % tmux_quote(cmd))[0]
        pane = reply.text().strip()
        return pane, stamp

    def capture(self, pane):
        r = self.viewer.send(["capture-pane -p -t %s" % pane])[0]
        if r.is_error:
            return None
        return r.text().split("\n")

    @staticmethod
    def screen_state(lines, expected_detached):
        """(footer drawn, list counted, full screen) for a captured panel. The list is counted
        when the header counts every session; the full screen also shows the selected
        session's preview."""
        if not lines:
            return False, False, False
        # The footer's key hint (its wording has changed with the panel's layout: accept both).
        footer = any("press ? for keys" in line or "q quit" in line for line in lines)
        counted = footer and ("○%d detached" % expected_detached) in lines[0]
        preview = False
        for k, line in enumerate(lines):
            if "─ Preview · " in line:
                preview = any(l.strip() for l in lines[k + 1:k + 4])
                break
        return footer, counted, counted and preview

    def wait_panel(self, pane, stamp, expected_detached, timeout=20.0):
        """Polls the pane (through the viewer's control client, ~2 ms apart) until the first
        frame, the counted list and the first full screen; returns their times in seconds
        since berth was exec'd, and the screen."""
        deadline = time.monotonic() + timeout
        first_frame_ns = None
        counted_ns = None
        lines = None
        while time.monotonic() < deadline:
            lines = self.capture(pane)
            now = time.time_ns()
            if lines is None:
                raise BenchError("the panel's pane closed: %s" % self.pane_tail(pane))
            footer, counted, full = self.screen_state(lines, expected_detached)
            if footer and first_frame_ns is None:
                first_frame_ns = now
            if counted and counted_ns is None:
                counted_ns = now
            if full:
                start = self.read_stamp(stamp)
                self.last_counted = (counted_ns - start) / 1e9
                return (first_frame_ns - start) / 1e9, (now - start) / 1e9, lines
            time.sleep(0.002)
        raise BenchError("no full screen within %.0f s; the pane shows: %s" % (timeout, " | ".join(l.strip() for l in (lines or []) if l.strip())[:400]))

    def pane_tail(self, pane):
        return "(pane gone)"

    @staticmethod
    def read_stamp(path):
        for _ in range(100):
            try:
                with open(path) as f:
                    text = f.read().strip()
                if text:
                    return int(text)
            except OSError:
                pass
            time.sleep(0.01)
        raise BenchError("the panel's start time was never written")

    def panel_pid(self, pane):
        pid = int(self.view("display-message -p -t %s '#{pane_pid}'" % pane)[0].text().strip())
        try:
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
        except OSError:
            raise BenchError("the panel (pid %d) is gone" % pid)
        if not comm.startswith("berth"):
            raise BenchError("the pane runs %r, not berth" % comm)
        return pid

    @staticmethod
    def alive(pid):
        """Whether a process still runs (a zombie has ended: the viewer's tmux server may reap
        its pane's process late on a busy machine)."""
        try:
            with open("/proc/%d/stat" % pid) as f:
                data = f.read()
        except OSError:
            return False
        return data[data.rindex(")") + 2:].split()[0] != "Z"

    def quit_panel(self, pane, pid):
        try:
            self.view("send-keys -t %s q" % pane)
        except BenchError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if not self.alive(pid):
                return
            time.sleep(0.02)
        screen = " | ".join(l.strip() for l in (self.capture(pane) or []) if l.strip())
        self.note("the panel did not quit within 5 s of 'q'; its window was killed (it showed: %s)" % screen[-300:])
        try:
            self.view("kill-window -t %s" % pane)
        except BenchError:
            pass

    def filter_panel(self, pane, text):
        self.view("send-keys -t %s /" % pane)
        time.sleep(0.05)
        self.view("send-keys -t %s -l %s" % (pane, tmux_quote(text)))
        time.sleep(0.05)
        self.view("send-keys -t %s Enter" % pane)

    def measure_first_screen(self, n):
        self.log("panel with %d sessions: first full screen (%d runs)" % (n, self.panel_runs))
        self.start_viewer()
        frames, counted, fulls, hwm = [], [], [], []
        for _ in range(self.panel_runs):
            pane, stamp = self.launch_panel()
            frame, full, _ = self.wait_panel(pane, stamp, n)
            pid = self.panel_pid(pane)
            frames.append(frame)
            counted.append(self.last_counted)
            fulls.append(full)
            kb = read_status_kb(pid, "VmHWM")
            if kb:
                hwm.append(kb / 1024)
            self.quit_panel(pane, pid)
            time.sleep(0.2)
        panel = self.results["panel"].setdefault(n, {})
        panel["first_frame"] = stats(frames)
        panel["list_counted"] = stats(counted)
        panel["first_full"] = stats(fulls)
        panel["hwm_at_first_screen"] = stats(hwm)
        self.log("  first frame %s · every session listed %s · first full screen %s · VmHWM %s" % (
            fmt_stat(panel["first_frame"]), fmt_stat(panel["list_counted"]), fmt_stat(panel["first_full"]),
            fmt_stat(panel["hwm_at_first_screen"], "MB")))

    def server_pid(self, socket):
        p = self.run(self.tmux_cmd(socket, "display-message", "-p", "#{pid}"))
        return int(p.stdout.decode().strip())

    def measure_cpu(self, pane, pid, seconds):
        server = self.server_pid(self.sock)
        a, sa = cpu_sample(pid), read_proc_stat(server)
        t0 = time.monotonic()
        time.sleep(seconds)
        b, sb = cpu_sample(pid), read_proc_stat(server)
        wall = time.monotonic() - t0
        if a is None or b is None:
            raise BenchError("the panel exited during the measurement")
        own, total = cpu_delta(a, b)
        return {
            "seconds": wall,
            "berth_pct": 100 * own / wall,
            "berth_with_client_pct": 100 * total / wall,
            "server_pct": 100 * (sb[0] - sa[0]) / wall if sa and sb else None,
            "rss_mb": (read_status_kb(pid, "VmRSS") or 0) / 1024,
            "hwm_mb": (read_status_kb(pid, "VmHWM") or 0) / 1024,
        }

    def measure_idle(self, n):
        self.log("panel idle with %d sessions for %d s" % (n, self.idle_seconds))
        self.start_viewer()
        pane, stamp = self.launch_panel()
        self.wait_panel(pane, stamp, n)
        pid = self.panel_pid(pane)
        time.sleep(3)
        result = self.measure_cpu(pane, pid, self.idle_seconds)
        result["sessions"] = n
        self.results["idle"] = result
        self.quit_panel(pane, pid)
        self.log("  berth %.2f%% of one core (%.2f%% with its tmux -C client) · tmux server %.2f%%" % (
            result["berth_pct"], result["berth_with_client_pct"], result["server_pct"] or 0))

    def measure_peak_memory(self, n):
        self.log("panel peak memory with %d sessions (first screen, then 20 moves down)" % n)
        self.start_viewer()
        pane, stamp = self.launch_panel()
        self.wait_panel(pane, stamp, n)
        pid = self.panel_pid(pane)
        for _ in range(20):
            self.view("send-keys -t %s Down" % pane)
            time.sleep(0.1)
        time.sleep(2)
        hwm = (read_status_kb(pid, "VmHWM") or 0) / 1024
        rss = (read_status_kb(pid, "VmRSS") or 0) / 1024
        anon = (read_status_kb(pid, "RssAnon") or 0) / 1024
        pss = None
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss = int(line.split()[1]) / 1024
        except OSError:
            pass
        client = [read_status_kb(c, "VmHWM") or 0 for c in child_pids(pid)]
        self.results["peak_memory"] = {"sessions": n, "hwm_mb": hwm, "rss_mb": rss, "anon_mb": anon, "pss_mb": pss,
                                       "client_hwm_mb": max(client) / 1024 if client else None}
        self.quit_panel(pane, pid)
        self.log("  VmHWM %.1f MB (VmRSS %.1f MB now, of which %.1f MB anonymous; PSS %.1f MB; its tmux -C client %.1f MB)" % (
            hwm, rss, anon, pss or 0, (max(client) / 1024) if client else 0))

    def measure_flood(self, n):
        self.log("flood: a session running 'yes' among %d, previewed and not (%d s each)" % (n, self.flood_seconds))
        self.run(self.tmux_cmd(
            self.sock, "new-session", "-d", "-s", "berth-flood", "-x", str(PANEL_COLS), "-y", str(PANEL_ROWS),
            "-c", self.work, "yes"))
        try:
            self.run(self.berth_cmd("adopt", "flood"), timeout=120)
            self.start_viewer()
            flood = {}
            for label, needle in (("previewed", "flood"), ("not_previewed", "s0001")):
                pane, stamp = self.launch_panel()
                self.wait_panel(pane, stamp, n + 1)
                pid = self.panel_pid(pane)
                self.filter_panel(pane, needle)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    lines = self.capture(pane) or []
                    if any(("Preview · %s" % needle) in line for line in lines):
                        break
                    time.sleep(0.05)
                else:
                    raise BenchError("the panel never showed the preview of %s" % needle)
                time.sleep(2)
                result = self.measure_cpu(pane, pid, self.flood_seconds)
                flood[label] = result
                self.quit_panel(pane, pid)
                self.log("  %s: berth %.2f%% of one core (%.2f%% with its client) · RSS %.1f MB · VmHWM %.1f MB" % (
                    label.replace("_", " "), result["berth_pct"], result["berth_with_client_pct"], result["rss_mb"], result["hwm_mb"]))
            flood["sessions"] = n
            self.results["flood"] = flood
        finally:
            self.run(self.berth_cmd("kill", "flood"), check=False)

    # -- snapshot and restore

    def measure_snapshot(self, n):
        self.log("berth snapshot of %d sessions (%d runs)" % (n, self.snapshot_runs))
        samples = []
        for _ in range(self.snapshot_runs + 1):
            t, out = self.timed(self.berth_cmd("snapshot"))
            if out.decode().strip() != "saved %d sessions" % n:
                raise BenchError("berth snapshot said %r, expected 'saved %d sessions'" % (out.decode().strip(), n))
            samples.append(t)
        self.results["snapshot"] = stats(samples[1:])  # the first run also installs the autosave
        self.results["snapshot"]["sessions"] = n
        self.log("  snapshot %s" % fmt_stat(self.results["snapshot"]))

    def own_berth_pids(self):
        """Processes running this run's private copy of berth."""
        pids = []
        me = self.berth.encode()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    argv0 = f.read().split(b"\0", 1)[0]
            except OSError:
                continue
            if argv0 == me:
                pids.append(int(name))
        return pids

    def berth_snapshot_pids(self):
        """Running `berth snapshot` processes of this run (spawned by tmux hooks)."""
        pids = set()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0] == self.berth.encode() and b"snapshot" in argv and self.db.encode() in argv:
                pids.add(int(name))
        return pids

    def restore_once(self, n):
        """Kills the server, restores after a faked reboot (timed), checks the sessions."""
        self.kill_server(self.sock)
        env = dict(self.env)
        env["BERTH_FAKE_BOOT_TIME"] = str(int(time.time()) + 3600)
        t, out = self.timed(self.berth_cmd("restore", "--all"), env=env)
        restored = [l for l in out.decode().split("\n") if l.startswith("restored ")]
        if len(restored) != n:
            raise BenchError("berth restore --all restored %d sessions, expected %d" % (len(restored), n))
        live = len(self.session_names(self.sock))
        if live != n:
            raise BenchError("after the restore tmux has %d berth- sessions, expected %d" % (live, n))
        return t

    def measure_restore(self, n):
        self.log("restore of %d sessions after a (faked) reboot vs one source-file batch (%d runs)" % (n, self.restore_runs))
        batch = self.write_batch("baseline-%d.tmux" % n, range(n))
        # The snapshots taken by measure_snapshot stay in the database: every cycle restores
        # from them. The server is killed right after each restore, so nothing berth left
        # running there competes with the baseline.
        self.run(self.berth_cmd("snapshot"))
        restores, baselines = [], []
        for _ in range(self.restore_runs):
            restores.append(self.restore_once(n))
            self.kill_server(self.sock)
            time.sleep(0.5)
            t = self.start_server(self.base_sock, batch)
            live = len(self.session_names(self.base_sock))
            if live != n:
                raise BenchError("the source-file baseline made %d sessions, expected %d" % (live, n))
            baselines.append(t)
            self.kill_server(self.base_sock)
            time.sleep(0.5)
        self.results["restore"] = {"berth": stats(restores), "source_file": stats(baselines), "sessions": n}
        self.log("  restore %s · source-file batch %s" % (fmt_stat(stats(restores)), fmt_stat(stats(baselines))))

    def measure_after_restore(self, n, seconds=5.0):
        """What runs on its own after a restore: `berth snapshot` processes that tmux hooks
        start (counted by pid), and the CPU of the tmux server and of every berth
        process over a few seconds of nobody doing anything."""
        self.log("after a restore of %d sessions: background work over %.0f s" % (n, seconds))
        self.restore_once(n)
        server = self.server_pid(self.sock)
        s0 = read_proc_stat(server)
        seen = set()
        cpu = 0.0
        last = {}
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            for pid in self.berth_snapshot_pids():
                seen.add(pid)
                st = read_proc_stat(pid)
                if st:
                    last[pid] = st[0] + st[1]
            time.sleep(0.02)
        wall = time.monotonic() - t0
        cpu = sum(last.values())
        s1 = read_proc_stat(server)
        result = {
            "sessions": n, "seconds": wall, "snapshot_runs": len(seen),
            "snapshot_cpu_pct": 100 * cpu / wall,
            "server_pct": 100 * (s1[0] - s0[0]) / wall if s0 and s1 else None,
        }
        self.results["after_restore"] = result
        self.kill_server(self.sock)
        self.log("  %d 'berth snapshot' runs started by tmux in %.0f s (%.0f%% of one core, at least), tmux server %.0f%%" % (
            len(seen), wall, result["snapshot_cpu_pct"], result["server_pct"] or 0))

    # -- the run

    def attempt(self, label, fn, *args):
        """Runs one measurement; a failure is recorded as 'not measured (reason)'."""
        try:
            fn(*args)
            return True
        except (BenchError, ControlError, subprocess.TimeoutExpired, OSError, ValueError) as e:
            reason = str(e).replace("\n", " ")[:300]
            self.results.setdefault("not_measured", {})[label] = reason
            self.log("NOT MEASURED %s: %s" % (label, reason))
            return False

    def main(self):
        self.started = time.monotonic()
        self.results["started"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        self.results["load_before"] = os.getloadavg()
        self.results["machine"] = machine_facts(self.tmux, self.berth)
        self.results["mode"] = "quick" if self.quick else "full"
        self.log("berth %s · %s · temp dir %s" % (self.berth, self.results["machine"]["tmux"], self.tmp))
        largest = self.sizes[-1]
        self.attempt("one-session", self.measure_one)
        for n in self.sizes:
            self.grow_to(n)
            self.attempt("list-%d" % n, self.measure_lists, n)
            self.attempt("panel-%d" % n, self.measure_first_screen, n)
            if n == 100:
                self.attempt("idle", self.measure_idle, n)
        self.attempt("peak-memory", self.measure_peak_memory, largest)
        self.attempt("flood", self.measure_flood, largest)
        self.attempt("snapshot", self.measure_snapshot, largest)
        self.attempt("restore", self.measure_restore, largest)
        self.attempt("after-restore", self.measure_after_restore, largest)
        self.attempt("crash-stress", self.measure_crash)
        self.results["load_after"] = os.getloadavg()
        self.results["duration"] = time.monotonic() - self.started
        self.log("done in %s" % fmt_seconds(self.results["duration"]))


def machine_facts(tmux, berth):
    def first(cmd):
        try:
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=30).stdout.decode().strip().split("\n")[0]
        except Exception:
            return "?"

    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = "%.1f GB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    commit = first(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no", "Sources"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.strip()
    return {
        "nproc": os.cpu_count(), "cpu": model, "memory": mem, "kernel": platform.release(),
        "os": first(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
        "tmux": first([tmux, "-V"]), "swift": first(["swift", "--version"]),
        "python": platform.python_version(), "commit": commit + (" (Sources modified)" if dirty else ""),
    }


# ---------------------------------------------------------------------------------------
# The report


def ratio(a, b):
    if not isinstance(a, dict) or not isinstance(b, dict) or b["median"] <= 0:
        return None
    return a["median"] / b["median"]


def targets(results, largest):
    """(target, figure, baseline, ratio, PASS/MISS/not measured) rows."""
    rows = []
    lists = results["lists"].get(largest, {})
    berth, floor, lib = lists.get("berth"), lists.get("floor"), lists.get("libtmux")

    def verdict(ok):
        return "not measured" if ok is None else ("PASS" if ok else "MISS")

    one = results.get("one") or {}
    rows.append(("`berth list --json`, one session ≤ 10 ms", fmt_stat(one.get("berth")),
                 "tmux list-sessions " + fmt_stat(one.get("list_sessions")), fmt_ratio(ratio(one.get("berth"), one.get("list_sessions"))),
                 verdict(None if not isinstance(one.get("berth"), dict) else one["berth"]["median"] <= 0.010)))
    source = lists.get("source_file")
    r = ratio(berth, source)
    rows.append(("list + previews ≤ 1.25x the same commands through one ordinary client", fmt_stat(berth),
                 "source-file " + fmt_stat(source), fmt_ratio(r), verdict(None if r is None else r <= 1.25)))
    r = ratio(berth, floor)
    rows.append(("list + previews next to the batched -C floor (was the target before berth stopped using control clients)",
                 fmt_stat(berth), "floor " + fmt_stat(floor), fmt_ratio(r), "-"))
    crash = (results.get("crash") or {}).get("current")
    rows.append(("crash stress: 0 server deaths over ≥ 2,000 berth processes",
                 ("%s deaths, %s processes (%s killed)" % (crash["server_deaths"], crash["processes"], crash["killed"])) if crash else "not measured",
                 "-", "-", verdict(None if not crash else crash["server_deaths"] == "0" and int(crash["processes"]) >= 2000)))
    r = ratio(lib, berth)
    rows.append(("list + previews 250x faster than libtmux", fmt_stat(berth), "libtmux " + fmt_stat(lib),
                 (fmt_ratio(r) + " faster") if r else "-", verdict(None if r is None else r >= 250)))
    full = results["panel"].get(largest, {}).get("first_full")
    rows.append(("panel's first full screen < 100 ms", fmt_stat(full), "-", "-",
                 verdict(None if not isinstance(full, dict) else full["median"] < 0.1)))
    snap = results.get("snapshot")
    rows.append(("snapshot < 150 ms", fmt_stat(snap), "-", "-", verdict(None if not snap else snap["median"] < 0.15)))
    rest = results.get("restore") or {}
    r = ratio(rest.get("berth"), rest.get("source_file"))
    rows.append(("restore ≤ 1.3x one source-file batch", fmt_stat(rest.get("berth")),
                 "source-file " + fmt_stat(rest.get("source_file")), fmt_ratio(r), verdict(None if r is None else r <= 1.3)))
    idle = results.get("idle")
    rows.append(("idle < 0.5%% of one core (%s sessions)" % (idle["sessions"] if idle else 100),
                 ("%.2f%% (%.2f%% with its tmux -C client)" % (idle["berth_pct"], idle["berth_with_client_pct"])) if idle else "not measured",
                 ("tmux server %.2f%%" % idle["server_pct"]) if idle and idle["server_pct"] is not None else "-", "-",
                 verdict(None if not idle else idle["berth_with_client_pct"] < 0.5)))
    flood = (results.get("flood") or {}).get("not_previewed")
    rows.append(("flood, not previewed: < 5% of one core",
                 ("%.2f%% (%.2f%% with its client)" % (flood["berth_pct"], flood["berth_with_client_pct"])) if flood else "not measured",
                 "-", "-", verdict(None if not flood else flood["berth_with_client_pct"] < 5)))
    peak = results.get("peak_memory")
    rows.append(("panel's peak memory < 30 MB", ("%.1f MB VmHWM" % peak["hwm_mb"]) if peak else "not measured", "-", "-",
                 verdict(None if not peak else peak["hwm_mb"] < 30)))
    return rows


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(out)


def render(results):
    """The report as (plain text for the terminal, Markdown for BENCHMARKS.md)."""
    m = results["machine"]
    sizes = sorted(results["lists"].keys() | results["panel"].keys(), key=int)
    largest = max(sizes, key=int) if sizes else 500
    quick = results["mode"] == "quick"
    md = []
    md.append("# Benchmarks\n")
    md.append(
        "berth next to tmux itself and the tools people use today, measured in one run by "
        "`make bench` (`scripts/bench.sh`). Each berth figure sits next to its baseline, "
        "measured interleaved with it, so a busy machine slows both: the ratio is the figure "
        "to trust. Times are medians (minimum–maximum, number of runs) of wall-clock time from "
        "starting a process to its exit.\n")
    if quick:
        md.append("**This is a `--quick` run: 100 sessions only, fewer runs. The targets are set for 500 sessions.**\n")
    md.append("## Machine\n")
    md.append(md_table(["", ""], [
        ("date", results["started"]), ("mode", results["mode"] + " (%.0f s)" % results.get("duration", 0)),
        ("CPU", "%s × %s" % (m["nproc"], m["cpu"])), ("memory", m["memory"]), ("OS", "%s, kernel %s" % (m["os"], m["kernel"])),
        ("tmux", m["tmux"]), ("Swift", m["swift"]), ("berth", "release build (static Swift runtime), commit %s" % m["commit"]),
        ("load average", "%.1f before, %.1f after (1-minute)" % (results["load_before"][0], results.get("load_after", (0,))[0])),
    ]))
    md.append("")
    md.append("## Targets (%d sessions, release build)\n" % largest)
    md.append(md_table(["target", "berth", "baseline", "ratio", "result"], targets(results, largest)))
    md.append("")
    md.append("## Listing every session with a 5-line preview\n")
    md.append(
        "`berth list --json --preview 5` (tracked sessions, live status reconciled with the "
        "database, last 5 lines of each) against: one `tmux list-sessions -F` call (names and "
        "times, no previews); the batched `tmux -C` floor (one control client, `list-panes -a` "
        "plus one `capture-pane` per session written in one go, read back, client closed); a "
        "shell loop forking `tmux capture-pane` once per session; and libtmux "
        "(`server.sessions`, then `capture_pane()` of each active pane).\n")
    rows = []
    for n in sizes:
        l = results["lists"].get(n, {})
        b = l.get("berth")
        rows.append((n, fmt_stat(b), fmt_stat(l.get("list_sessions")), fmt_stat(l.get("floor")),
                     fmt_stat(l.get("source_file")), fmt_stat(l.get("fork_loop")), fmt_stat(l.get("libtmux")),
                     fmt_ratio(ratio(b, l.get("source_file"))), fmt_ratio(ratio(b, l.get("floor"))),
                     fmt_ratio(ratio(l.get("fork_loop"), b)), fmt_ratio(ratio(l.get("libtmux"), b))))
    md.append(md_table(["sessions", "berth list", "tmux list-sessions", "-C floor (control client)",
                        "source-file (ordinary client)", "fork loop", "libtmux", "berth ÷ source-file",
                        "berth ÷ -C floor", "fork loop ÷ berth", "libtmux ÷ berth"], rows))
    md.append("")
    md.append(
        "berth's one-shot commands are ordinary tmux command clients (`tmux -N source-file -`, "
        "the batch on stdin, each command's reply ended by a random marker): they create no "
        "session, fire none of the user's hooks and are told about nothing, so they cannot crash "
        "tmux the way a control client can. The two batch columns are the same tmux commands "
        "through one control client and through one ordinary client: their difference is the "
        "price of leaving no trace.\n")
    one = results.get("one")
    if one:
        md.append("### One session\n")
        md.append("What an app pays on every `berth attach --create`.\n")
        md.append(md_table(["berth list --json", "berth --version", "tmux list-sessions", "one command through tmux -C"],
                           [(fmt_stat(one.get("berth")), fmt_stat(one.get("version")), fmt_stat(one.get("list_sessions")),
                             fmt_stat(one.get("control")))]))
        md.append("")
    crash = results.get("crash")
    if crash:
        md.append("## Crash stress\n")
        md.append(
            "`scripts/crash-stress.sh` (`make crash-stress`): rounds of 8 berth one-shot commands at "
            "once (list, list --all --json --preview, orphans, doctor, snapshot, new, kill), about "
            "half SIGKILLed at a random moment in their first 400 ms, while another client renames a "
            "window as fast as tmux takes it and real clients attach and detach; after each round the "
            "server must be the same process.\n")
        md.append(md_table(["berth", "processes", "SIGKILLed", "server deaths", "tmux segfaults logged"],
                           [(label, c["processes"], c["killed"], c["server_deaths"], c.get("segfaults_logged", "-"))
                            for label, c in sorted(crash.items())]))
        md.append("")
    md.append("## The panel\n")
    md.append(
        "`berth` started in a 120x40 pane of a second private tmux server; the harness polls "
        "that pane with `capture-pane` about every 2 ms. The clock starts when the pane's shell "
        "execs berth and stops when the capture shows the footer, the header counting every "
        "session and the selected session's preview (first full screen); \"first frame\" is the "
        "first capture with the footer at all, \"every session listed\" the first with the "
        "header counting them all (the preview may still be empty). Peak memory is VmHWM from "
        "/proc. (`bench/panel-startup.sh`, from the panel's own issue, measures the same start "
        "with `berth new` sessions and a forking poll.)\n")
    rows = []
    for n in sizes:
        p = results["panel"].get(n, {})
        rows.append((n, fmt_stat(p.get("first_frame")), fmt_stat(p.get("list_counted")), fmt_stat(p.get("first_full")),
                     fmt_stat(p.get("hwm_at_first_screen"), "MB")))
    md.append(md_table(["sessions", "first frame", "every session listed", "first full screen", "VmHWM at first screen"], rows))
    md.append("")
    md.append("### CPU and memory\n")
    md.append(
        "CPU is utime+stime from /proc/PID/stat over the window, as a percentage of one core; "
        "\"with client\" adds berth's `tmux -C` child, which only works for berth. The tmux "
        "server's own CPU over the same window is shown for context.\n")
    rows = []
    idle = results.get("idle")
    if idle:
        rows.append(("idle, %d sessions, %.0f s" % (idle["sessions"], idle["seconds"]), "%.2f%%" % idle["berth_pct"],
                     "%.2f%%" % idle["berth_with_client_pct"], "%.2f%%" % (idle["server_pct"] or 0),
                     "%.1f MB" % idle["rss_mb"], "%.1f MB" % idle["hwm_mb"]))
    flood = results.get("flood") or {}
    for label in ("previewed", "not_previewed"):
        f = flood.get(label)
        if f:
            rows.append(("`yes` flood, %s, %d sessions, %.0f s" % (label.replace("_", " "), flood["sessions"], f["seconds"]),
                         "%.2f%%" % f["berth_pct"], "%.2f%%" % f["berth_with_client_pct"], "%.2f%%" % (f["server_pct"] or 0),
                         "%.1f MB" % f["rss_mb"], "%.1f MB" % f["hwm_mb"]))
    peak = results.get("peak_memory")
    if peak:
        rows.append(("first screen + 20 moves, %d sessions" % peak["sessions"], "-", "-", "-", "%.1f MB" % peak["rss_mb"],
                     "%.1f MB" % peak["hwm_mb"]))
    md.append(md_table(["panel", "berth CPU", "with client", "tmux server", "RSS", "VmHWM"], rows))
    if peak and peak.get("pss_mb") is not None:
        md.append(
            "\nOf the panel's %.1f MB resident, %.1f MB is its own (anonymous) memory; the rest is "
            "pages of shared libraries (the Swift runtime, Foundation, SQLite) and of berth's "
            "executable. Its proportional share (PSS, shared pages divided among the processes "
            "using them) was %.1f MB." % (peak["rss_mb"], peak["anon_mb"], peak["pss_mb"]))
    md.append("")
    md.append("## Snapshot and restore\n")
    snap = results.get("snapshot")
    rest = results.get("restore") or {}
    rows = []
    if snap:
        rows.append(("`berth snapshot`, %d sessions" % snap["sessions"], fmt_stat(snap), "-", "-"))
    if rest:
        rows.append(("`berth restore --all` after a reboot, %d sessions" % rest["sessions"], fmt_stat(rest.get("berth")),
                     "one `tmux source-file` batch of %d `new-session`: %s" % (rest["sessions"], fmt_stat(rest.get("source_file"))),
                     fmt_ratio(ratio(rest.get("berth"), rest.get("source_file")))))
    after = results.get("after_restore")
    if after:
        rows.append(("after a restore, nobody doing anything for %.0f s" % after["seconds"],
                     "%d `berth snapshot` runs started by tmux hooks, %.0f%% of one core" % (after["snapshot_runs"], after["snapshot_cpu_pct"]),
                     "tmux server %.0f%% of one core" % (after["server_pct"] or 0), "-"))
    md.append(md_table(["operation", "berth", "baseline", "ratio"], rows))
    md.append(
        "\nThe restore runs after killing the tmux server, with `BERTH_FAKE_BOOT_TIME` set an "
        "hour ahead so the sessions count as ended by a reboot; each restore and each baseline "
        "starts its tmux server from nothing. tmux-resurrect is not installed here; on this "
        "kind of machine it has been seen to save 500 sessions in about 29 s and restore them "
        "in about 51 s (figures from the issue, not measured by this run).\n")
    if results.get("not_measured"):
        md.append("## Not measured in this run\n")
        for k, v in results["not_measured"].items():
            md.append("- %s: %s" % (k, v))
        md.append("")
    if results["notes"]:
        md.append("## Notes from the run\n")
        for n in results["notes"]:
            md.append("- " + n)
        md.append("")
    md.append(REPRODUCE)
    md.append(MEANING)
    analysis = os.path.join(HERE, "analysis.md")
    if os.path.exists(analysis):
        with open(analysis) as f:
            md.append(f.read().rstrip() + "\n")
    markdown = "\n".join(md).rstrip() + "\n"

    text = ["", "Targets (%d sessions)%s" % (largest, " — quick run" if quick else "")]
    for t in targets(results, largest):
        text.append("  %-8s %-46s %s | %s | %s" % (t[4], t[0], t[1], t[2], t[3]))
    text.append("")
    text.append("Listing with previews")
    for n in sizes:
        l = results["lists"].get(n, {})
        text.append("  %4s sessions: berth %s | list-sessions %s | -C floor %s | fork loop %s | libtmux %s" % (
            n, fmt_stat(l.get("berth")), fmt_stat(l.get("list_sessions")), fmt_stat(l.get("floor")),
            fmt_stat(l.get("fork_loop")), fmt_stat(l.get("libtmux"))))
    text.append("Panel")
    for n in sizes:
        p = results["panel"].get(n, {})
        text.append("  %4s sessions: first frame %s | every session listed %s | first full screen %s | VmHWM %s" % (
            n, fmt_stat(p.get("first_frame")), fmt_stat(p.get("list_counted")), fmt_stat(p.get("first_full")),
            fmt_stat(p.get("hwm_at_first_screen"), "MB")))
    return "\n".join(text), markdown


REPRODUCE = """## How to reproduce

    make bench          # 10, 100 and 500 sessions; writes BENCHMARKS.md (about 6 minutes)
    make bench-quick    # 100 sessions, fewer runs; writes bench/out/BENCHMARKS-quick.md (about a minute)

`scripts/bench.sh` builds `swift build -c release --static-swift-stdlib --product berth` (as `make install` does), creates a virtual
environment with libtmux under `.build-bench/venv` (skipped, and reported, if PyPI cannot
be reached), and runs `bench/bench.py`. Everything runs on private tmux servers in a fresh
temporary directory (own `TMUX_TMPDIR`, `-L berth-bench-*`, `-f /dev/null`, `HOME`, `TERM`,
`LANG`, `TZ` and `SHELL=/bin/sh` pinned) with a private berth database; the servers are
killed at the end, also when the run fails or is interrupted. Your own tmux server is never
touched. Raw samples of every run go to `bench/out/results-*.json`.

Sessions are created with one `tmux source-file` batch of `new-session -d -s berth-sNNNN`
lines (each prints 40 lines, then runs an interactive `sh`) and registered with
`berth adopt`, so every berth figure is over tracked sessions. Useful options:
`--keep` (keep the temporary directory), `--idle-seconds N`, `--berth PATH`.

To see where berth spends its instructions (stable on a noisy machine, unlike time):

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
      .build/release/berth -L SOCKET --db DB list --json --preview 5 >/dev/null
    callgrind_annotate --inclusive=yes /tmp/cg.out | head -60
"""

MEANING = """## What the numbers mean for you

- **Listing** is what `berth list` (and every script or app that asks berth for the
  sessions) costs. The `-C` floor is the least any program can spend to get the same facts
  and previews out of tmux; berth's ratio to it is its own overhead (process start, the
  database, reconciling, JSON). The fork loop and libtmux show what the same screen costs
  when built the usual way: one process per session.
- **First full screen** is how long you wait after typing `berth` before you can read
  every session and the selected one's output. Under about 100 ms feels instant.
- **Idle CPU** is what an open panel costs you while nothing happens: it decides whether
  you can leave it open all day on a laptop.
- **Flood** is a session printing as fast as it can (a runaway build log): berth must not
  burn a core on output you are not even looking at, and must stay responsive when you are.
- **Snapshot** runs on every detach and on a timer, so it must be cheap enough never to be
  noticed. **Restore** is how long you wait for all your sessions after a reboot, compared
  with tmux creating the same number of sessions as fast as it can.
- **Peak memory** is what the panel takes from your machine with many sessions open.
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--berth", help="the release berth binary (required unless --render)")
    parser.add_argument("--quick", action="store_true", help="100 sessions only, fewer runs")
    parser.add_argument("--venv-python", help="python of the libtmux virtual environment")
    parser.add_argument("--venv-reason", default="libtmux unavailable", help="why there is no libtmux")
    parser.add_argument("--tmpdir", help="use this (empty) temporary directory")
    parser.add_argument("--tag", help="suffix of the private tmux socket names")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--idle-seconds", type=int, help="length of the idle measurement")
    parser.add_argument("--previous-berth", help="an older berth binary for the crash stress's comparison")
    parser.add_argument("--output", help="where to write the Markdown report")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="only rewrite the report from a saved results file (bench/out/results-*.json)")
    args = parser.parse_args()

    if args.render:
        with open(args.render) as f:
            results = json.load(f)
        for key in ("lists", "panel"):
            results[key] = {int(k): v for k, v in results[key].items()}
        text, markdown = render(results)
        output = args.output or (os.path.join(HERE, "out", "BENCHMARKS-quick.md") if results["mode"] == "quick"
                                 else os.path.join(ROOT, "BENCHMARKS.md"))
        with open(output, "w") as f:
            f.write(markdown)
        print(text)
        print("\nwrote %s" % output)
        return 0

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    if not args.berth:
        parser.error("--berth is required")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    bench = Bench(args)
    try:
        bench.main()
    finally:
        bench.cleanup()
    text, markdown = render(bench.results)
    print(text)
    out_dir = os.path.join(HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(out_dir, "results-%s-%s.json" % (bench.results["mode"], stamp)), "w") as f:
        json.dump(bench.results, f, indent=1, default=str)
    output = args.output or (os.path.join(out_dir, "BENCHMARKS-quick.md") if args.quick else os.path.join(ROOT, "BENCHMARKS.md"))
    with open(output, "w") as f:
        f.write(markdown)
    print("\nwrote %s" % os.path.relpath(output, os.getcwd()))
    if bench.results.get("not_measured"):
        print("some figures were not measured: see the report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
