#!/usr/bin/env python3
"""berth across hosts: `berth list --all-hosts --json --preview 5` against the slowest single
host's `berth --host X list --json --preview 5` run alone (issue 16: at most 1.5x).

Starts three real sshd hosts on loopback (Debian's openssh-server; keys, configs and tmux socket
directories of their own under a temporary directory), gives each a tmux server with SESSIONS
sessions (one `tmux source-file` batch, each pane printing a few lines), adopts them into one
berth database with `berth --host H adopt --all`, warms up (the ssh master connections, the remote
tmux version cache and the laptop-side snapshot that a listing takes at most once per snapshot
interval), then times each command RUNS times and prints markdown rows. Everything it started
(sshd, tmux servers, ssh masters) is ended by pid or socket on exit, also on failure or Ctrl-C.

Then the panel (issue 16: its first full screen under 200 ms once the master connections are up):
this machine with SESSIONS sessions of its own plus h1 and h2, so three hosts of SESSIONS each; the
panel runs in a pane of a private tmux server (the terminal), and the time is from asking that
server for the pane to the screen showing every host's rows and both hosts connected, read with
`capture-pane` every 5 ms. Beside it: the same pane running a command that prints at once (the
floor: the pane, the shell and the polling), the panel with this machine alone, and, with
--baseline-berth, another berth (an earlier commit) measured in the same runs, alternately.

usage: scripts/bench-hosts.py [--berth PATH] [--baseline-berth PATH] [--sessions N] [--runs N] [--keep]
                              [--user-rc] [--no-panel] [--idle-seconds N]

Last, the idle panel (issue 16: under 0.5% of one core with three hosts): the same panel left
alone for --idle-seconds, the CPU of berth, of berth with its children, and of the three tmux
servers it watches.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOSTS = ["h1", "h2", "h3"]
REMOTE_SOCKET = "berth-bench-remote"


class BenchError(Exception):
    pass


def find_berth():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    for sub in (".build/release/berth", ".build/debug/berth"):
        path = os.path.join(root, sub)
        if os.access(path, os.X_OK):
            return path
    return None


def tree_cpu(pid):
    """Seconds of CPU used by a process and its living descendants (and their waited-for children)."""
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
            for task in os.listdir("/proc/%s/task" % p):
                todo += open("/proc/%s/task/%s/children" % (p, task)).read().split()
        except (OSError, ValueError):
            pass
    return total


def process_cpu(pid):
    """Seconds of CPU used by one process (all its threads), 0 once it is gone."""
    try:
        fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:13]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


def berth_pid(root, binary):
    """The process running `binary` in root's tree (root itself when the shell exec'd it)."""
    todo = [root]
    while todo:
        p = todo.pop()
        try:
            if os.path.realpath("/proc/%s/exe" % p) == binary:
                return p
            for task in os.listdir("/proc/%s/task" % p):
                todo += open("/proc/%s/task/%s/children" % (p, task)).read().split()
        except OSError:
            pass
    return None


def shell_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="berth-bench-hosts.")
        self.sshd = []
        self.tmux = shutil.which("tmux")
        if not self.tmux:
            raise BenchError("tmux is not installed")
        for tool in ("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen"):
            if not os.access(tool, os.X_OK):
                raise BenchError("%s is missing (apt-get install openssh-server openssh-client)" % tool)
        # A private copy: a build running meanwhile must not replace the binary mid-run.
        self.berth = os.path.join(self.tmp, "berth")
        shutil.copy2(args.berth, self.berth)
        self.cpu = {}
        self.baseline = None
        if args.baseline_berth:
            self.baseline = os.path.join(self.tmp, "berth-baseline")
            shutil.copy2(args.baseline_berth, self.baseline)
        self.home = os.path.join(self.tmp, "home")
        os.makedirs(self.home, mode=0o700)
        self.runtime = os.path.join(self.tmp, "run")
        os.makedirs(self.runtime, mode=0o700)
        self.db = os.path.join(self.tmp, "berth.sqlite3")
        self.config = os.path.join(self.tmp, "config.toml")
        self.ssh_config = os.path.join(self.tmp, "ssh_config")
        self.ssh_wrapper = os.path.join(self.tmp, "ssh")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": self.home,
            "USER": os.environ.get("USER", "bench"),
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "SHELL": "/bin/sh",
            "TMUX_TMPDIR": os.path.join(self.tmp, "local-tmux"),
            "XDG_STATE_HOME": os.path.join(self.home, ".local", "state"),
            "XDG_RUNTIME_DIR": self.runtime,
            "BERTH_SSH": self.ssh_wrapper,
        }
        if os.environ.get("BERTH_TRACE"):
            # berth's timestamps (Trace.mark), for finding where the time goes.
            self.env["BERTH_TRACE"] = os.environ["BERTH_TRACE"]
        os.makedirs(self.env["TMUX_TMPDIR"], mode=0o700)

    def log(self, message):
        print("bench-hosts: " + message, file=sys.stderr, flush=True)

    def run(self, argv, env=None, timeout=600, check=True, stdin=None):
        p = subprocess.run(
            argv, env=env or self.env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=timeout, cwd=self.tmp)
        if check and p.returncode != 0:
            raise BenchError("%s exited with %d: %s" % (
                " ".join(argv[:8]), p.returncode, p.stderr.decode(errors="replace").strip()[:500]))
        return p

    # -- hosts

    def host_dir(self, name):
        return os.path.join(self.tmp, "host-" + name)

    def host_tmux_env(self, name):
        env = dict(self.env)
        env["TMUX_TMPDIR"] = os.path.join(self.host_dir(name), "tmux")
        return env

    def start_hosts(self):
        keygen = ["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-bench", "-f"]
        self.run(keygen + [os.path.join(self.tmp, "id")])
        public = open(os.path.join(self.tmp, "id.pub")).read()
        user = os.environ.get("USER") or subprocess.run(
            ["id", "-un"], stdout=subprocess.PIPE, check=True).stdout.decode().strip()
        client = []
        known = []
        for name in HOSTS:
            d = self.host_dir(name)
            os.makedirs(os.path.join(d, "tmux"), mode=0o700)
            self.run(keygen + [os.path.join(d, "host_key")])
            with open(os.path.join(d, "authorized_keys"), "w") as f:
                f.write(public)
            os.makedirs("/run/sshd", exist_ok=True)
            port = None
            for _ in range(20):
                candidate = free_port()
                with open(os.path.join(d, "sshd_config"), "w") as f:
                    f.write("\n".join([
                        "Port %d" % candidate, "ListenAddress 127.0.0.1",
                        "HostKey %s/host_key" % d, "AuthorizedKeysFile %s/authorized_keys" % d,
                        "StrictModes no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
                        "UsePAM no", "PidFile none", "LogLevel ERROR", "MaxSessions 100", "MaxStartups 100",
                        "SetEnv TMUX_TMPDIR=%s/tmux%s" % (d, "" if self.args.user_rc else " SHLVL=1"), ""]))
                proc = subprocess.Popen(
                    ["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and proc.poll() is None:
                    try:
                        socket.create_connection(("127.0.0.1", candidate), timeout=0.5).close()
                        port = candidate
                        break
                    except OSError:
                        time.sleep(0.1)
                if port:
                    self.sshd.append(proc)
                    break
                proc.kill()
                proc.wait()
            if not port:
                raise BenchError("sshd did not start for %s" % name)
            key = open(os.path.join(d, "host_key.pub")).read().strip()
            known.append("[127.0.0.1]:%d %s" % (port, key))
            client.append("\n".join([
                "Host %s" % name, "  HostName 127.0.0.1", "  Port %d" % port, "  User %s" % user,
                "  IdentityFile %s/id" % self.tmp, "  IdentitiesOnly yes",
                "  UserKnownHostsFile %s/known_hosts" % self.tmp, "  GlobalKnownHostsFile /dev/null",
                "  StrictHostKeyChecking yes", ""]))
        with open(os.path.join(self.tmp, "known_hosts"), "w") as f:
            f.write("\n".join(known) + "\n")
        with open(self.ssh_config, "w") as f:
            f.write("\n".join(client))
        with open(self.ssh_wrapper, "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/ssh -F '%s' \"$@\"\n" % self.ssh_config)
        os.chmod(self.ssh_wrapper, 0o755)
        with open(self.config, "w") as f:
            for name in HOSTS:
                f.write('[hosts.%s]\nssh = "%s"\nsocket = "%s"\n\n' % (name, name, REMOTE_SOCKET))

    def populate(self, name, n, local=False):
        """n sessions on the host's server (local: this machine's default server), in one batch,
        each pane printing a few lines."""
        lines = []
        for i in range(n):
            script = "i=0; while [ $i -lt 8 ]; do echo line $i of %s s%04d; i=$((i+1)); done; exec sleep 100000" % (name, i)
            lines.append("new-session -d -s berth-%s%04d -x 120 -y 30 '%s'" % (name, i, script))
        batch = os.path.join(self.tmp, "batch-%s.tmux" % name)
        with open(batch, "w") as f:
            f.write("\n".join(lines) + "\n")
        env = self.env if local else self.host_tmux_env(name)
        socket_args = [] if local else ["-L", REMOTE_SOCKET]
        self.run([self.tmux] + socket_args + ["-f", "/dev/null", "start-server", ";", "source-file", batch],
                 env=env, timeout=300)
        count = len(self.run([self.tmux] + socket_args + ["list-sessions"], env=env).stdout.splitlines())
        if count < n:
            raise BenchError("%s: tmux made %d of %d sessions" % (name, count, n))

    def berth_cmd(self, *args, host=None):
        argv = [self.berth, "--config", self.config, "--db", self.db]
        if host:
            argv += ["--host", host]
        return argv + list(args)

    def timed(self, argv):
        t0 = time.perf_counter()
        p = subprocess.run(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, cwd=self.tmp)
        elapsed = time.perf_counter() - t0
        if p.returncode != 0:
            raise BenchError("%s exited with %d: %s" % (
                " ".join(argv[-6:]), p.returncode, p.stderr.decode(errors="replace").strip()[:500]))
        return elapsed, p.stdout

    # -- the measure

    def measure(self):
        n = self.args.sessions
        self.log("starting %d sshd hosts on loopback" % len(HOSTS))
        self.start_hosts()
        for name in HOSTS:
            self.populate(name, n)
        time.sleep(1)
        for name in HOSTS:
            t0 = time.perf_counter()
            self.run(self.berth_cmd("adopt", "--all", host=name), timeout=600)
            self.log("%s: %d sessions adopted in %.1f s" % (name, n, time.perf_counter() - t0))
        list_args = ("list", "--json", "--preview", "5")
        # Warm-up: masters, version cache, the once-per-interval snapshot from the laptop.
        for _ in range(2):
            for name in HOSTS:
                self.timed(self.berth_cmd(*list_args, host=name))
            self.timed(self.berth_cmd("list", "--all-hosts", "--json", "--preview", "5"))
        if self.args.hold:
            # For profiling by hand: the hosts stay up this long; env.sh sets the environment.
            with open(os.path.join(self.tmp, "env.sh"), "w") as f:
                for k, v in sorted(self.env.items()):
                    f.write("export %s=%s\n" % (k, shell_quote(v)))
                f.write("BERTH_ARGS=%s\n" % shell_quote(" ".join(self.berth_cmd()[1:])))
            self.log("holding for %d s: . %s/env.sh" % (self.args.hold, self.tmp))
            time.sleep(self.args.hold)
            return
        if self.args.panel_only:
            self.measure_panel()
            return
        single = {name: [] for name in HOSTS}
        together = []
        import json
        for _ in range(self.args.runs):
            for name in HOSTS:
                elapsed, out = self.timed(self.berth_cmd(*list_args, host=name))
                single[name].append(elapsed)
                if len(json.loads(out)) != n:
                    raise BenchError("%s listed %d sessions, not %d" % (name, len(json.loads(out)), n))
            elapsed, out = self.timed(self.berth_cmd("list", "--all-hosts", "--json", "--preview", "5"))
            together.append(elapsed)
            views = json.loads(out)
            if len(views) != n * len(HOSTS):
                raise BenchError("--all-hosts listed %d sessions, not %d" % (len(views), n * len(HOSTS)))
            if not all(v.get("preview") for v in views):
                raise BenchError("--all-hosts: a session without its preview")
        # The floor of every remote command: one ssh session through the master (the remote
        # login shell's start-up included: ssh always runs the command through it).
        floor = []
        probe = [self.ssh_wrapper, "-o", "ControlPath=%s" % self.control_path(HOSTS[0]), "-o", "ControlMaster=no",
                 "-T", HOSTS[0], "true"]
        for _ in range(self.args.runs):
            floor.append(self.timed(probe)[0])
        # The same three listings as separate processes started at once: what the machine
        # allows, with no help from berth (--all-hosts should be no slower).
        apart = []
        for _ in range(self.args.runs):
            t0 = time.perf_counter()
            procs = [subprocess.Popen(self.berth_cmd(*list_args, host=name), env=self.env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, cwd=self.tmp) for name in HOSTS]
            for proc in procs:
                proc.wait()
            apart.append(time.perf_counter() - t0)
        serial, cpu_per_run = self.all_hosts_cpu()
        medians = {name: statistics.median(v) for name, v in single.items()}
        slowest = max(medians, key=medians.get)
        all_median = statistics.median(together)
        ratio = all_median / medians[slowest]
        ms = lambda s: "%.0f ms" % (s * 1000)
        print("| measure (%d hosts x %d sessions on loopback, %d runs, median) | time | min |" % (len(HOSTS), n, self.args.runs))
        print("|---|---|---|")
        for name in HOSTS:
            print("| `berth --host %s list --json --preview 5` alone%s | %s | %s |" % (
                name, " (slowest)" if name == slowest else "", ms(medians[name]), ms(min(single[name]))))
        print("| `berth list --all-hosts --json --preview 5` | %s | %s |" % (ms(all_median), ms(min(together))))
        print("| ratio, all hosts / slowest single host (target <= 1.5x) | %.2fx %s | |" % (
            ratio, "(met)" if ratio <= 1.5 else "(NOT met)"))
        print("| the %d single-host commands as separate processes started at once (this machine's limit) | %s | %s |" % (
            len(HOSTS), ms(statistics.median(apart)), ms(min(apart))))
        print("| one `ssh %s true` through the master (the floor of any remote command) | %s | %s |" % (
            HOSTS[0], ms(statistics.median(floor)), ms(min(floor))))
        cores = os.cpu_count() or 1
        best = serial + max(0.0, cpu_per_run - serial) / cores
        print("| the all-hosts run with a perfect scheduler: berth's serial start and end (%s, one core) + the rest "
              "of the run's CPU, every process's (%s), over %d cores | %s (%.2fx the slowest host) | |" % (
                  ms(serial), ms(cpu_per_run), cores, ms(best), best / medians[slowest]))
        print("")
        print("All hosts run on this machine (%d cores): their sshd, login shells and tmux servers share "
              "its cores, which separate machines would not. %s" % (
                  os.cpu_count() or 0,
                  "Each remote command ran this user's ~/.bashrc (--user-rc)." if self.args.user_rc else
                  "Remote commands skip this user's ~/.bashrc (SHLVL=1 on the hosts; --user-rc to keep it)."))
        if not self.args.no_panel:
            self.measure_panel()

    def all_hosts_cpu(self):
        """What the machine allows the all-hosts run: its serial part (from the start of the
        process to the first host's request, and from its last mark to its exit, in
        `BERTH_TRACE` marks on the same monotonic clock) and the CPU of the whole run, every
        process's (from /proc/stat), medians over the runs."""
        def busy():
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
            return sum(fields) - fields[3] - fields[4]
        tick = os.sysconf("SC_CLK_TCK")
        serials, cpus = [], []
        trace = os.path.join(self.tmp, "all-hosts.trace")
        for _ in range(self.args.runs):
            if os.path.exists(trace):
                os.unlink(trace)
            env = dict(self.env)
            env["BERTH_TRACE"] = trace
            b0 = busy()
            t0 = time.monotonic()
            # Pipes, as `timed`: with a timeout and no pipes, Popen.wait polls (sleeps up to 50 ms).
            subprocess.run(self.berth_cmd("list", "--all-hosts", "--json", "--preview", "5"), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp, timeout=300)
            t1 = time.monotonic()
            cpus.append((busy() - b0) / tick)
            marks = []
            with open(trace) as f:
                for line in f:
                    parts = line.split(" ", 2)
                    marks.append((float(parts[0]) / 1000, parts[2].strip()))
            requests = [t for t, label in marks if label.endswith("prepareTmux start")]
            if requests:
                serials.append((min(requests) - t0) + (t1 - marks[-1][0]))
        if not serials:
            raise BenchError("--all-hosts: no trace marks (BERTH_TRACE)")
        self.log("all hosts, serial start and end: %s ms; CPU per run: %s ms" % (
            " ".join("%.1f" % (x * 1000) for x in serials), " ".join("%.0f" % (x * 1000) for x in cpus)))
        # /proc/stat counts in ticks (10 ms): the mean over the runs, not the median.
        return statistics.median(serials), sum(cpus) / len(cpus)

    # -- the panel

    def outer_env(self):
        env = dict(self.env)
        env["TMUX_TMPDIR"] = os.path.join(self.tmp, "outer-tmux")
        return env

    def outer(self, *args, check=True):
        return self.run([self.tmux, "-L", "outer", "-f", "/dev/null"] + list(args), env=self.outer_env(), check=check)

    def pane_time(self, argv, ready, runs_label, while_open=None):
        """Starts argv in a new 150x32 pane of the outer server; the seconds until the screen
        satisfies ready (capture-pane every 5 ms), then while_open(pid of the pane's process)
        if given, then q, and the pane is waited for and removed."""
        assignments = ["%s=%s" % kv for kv in sorted(self.env.items())]
        command = " ".join(shell_quote(a) for a in ["env", "-u", "TMUX", "-u", "TMUX_PANE"] + assignments + argv)
        t0 = time.perf_counter()
        pane, pid = self.outer("new-session", "-d", "-P", "-F", "#{pane_id} #{pane_pid}", "-x", "150", "-y", "32",
                               command).stdout.decode().split()
        deadline = t0 + 60
        screen = ""
        elapsed = None
        while time.perf_counter() < deadline:
            screen = self.outer("capture-pane", "-p", "-t", pane, check=False).stdout.decode(errors="replace")
            if ready(screen):
                elapsed = time.perf_counter() - t0
                break
            time.sleep(0.005)
        # The CPU time of the pane's processes until then (berth and its children).
        self.cpu.setdefault(runs_label.split()[0], []).append(tree_cpu(pid))
        if while_open is not None and elapsed is not None:
            while_open(pid)
        self.outer("send-keys", "-t", pane, "q", check=False)
        end = time.perf_counter() + 20
        while time.perf_counter() < end:
            dead = self.outer("display-message", "-p", "-t", pane, "#{pane_dead}", check=False).stdout.strip()
            if dead in (b"1", b""):
                break
            time.sleep(0.05)
        self.outer("kill-session", "-t", pane, check=False)
        if elapsed is None:
            raise BenchError("%s: no full screen within 60 s; the screen:\n%s" % (runs_label, screen))
        return elapsed

    def measure_panel(self):
        n = self.args.sessions
        self.log("the panel: this machine with %d sessions, h1 and h2" % n)
        self.populate("local", n, local=True)
        self.run(self.berth_cmd("adopt", "--all"), timeout=600)
        panel_config = os.path.join(self.tmp, "panel.toml")
        with open(panel_config, "w") as f:
            for name in HOSTS[:2]:
                f.write('[hosts.%s]\nssh = "%s"\nsocket = "%s"\n\n' % (name, name, REMOTE_SOCKET))
        alone_config = os.path.join(self.tmp, "alone.toml")
        open(alone_config, "w").close()
        os.makedirs(self.outer_env()["TMUX_TMPDIR"], mode=0o700)
        self.outer("set-option", "-g", "remain-on-exit", "on", check=False)
        # The outer server itself starts with its first session.
        self.outer("new-session", "-d", "-s", "keep", "sleep 100000")
        self.outer("set-option", "-g", "remain-on-exit", "on")
        self.outer("set-option", "-g", "default-terminal", "tmux-256color")

        def panel(binary, config):
            return [binary, "--config", config, "--db", self.db]

        everything = "\u25cb%d detached" % (n * 3)
        alone = "\u25cb%d detached" % n
        full = lambda s: everything in s and all(("%s \u25cf" % h) in s for h in HOSTS[:2])
        kinds = [("berth", panel(self.berth, panel_config), full)]
        if self.baseline:
            kinds.append(("baseline", panel(self.baseline, panel_config), full))
        kinds.append(("alone", panel(self.berth, alone_config), lambda s: alone in s))
        kinds.append(("floor", ["sh", "-c", "echo READY; exec sleep 100000"], lambda s: "READY" in s))
        times = {k[0]: [] for k in kinds}
        # One warm-up each (the masters are up already: the listings above opened them).
        for label, argv, ready in kinds:
            self.pane_time(argv, ready, label)
        for run in range(self.args.runs):
            for label, argv, ready in kinds:
                times[label].append(self.pane_time(argv, ready, "%s run %d" % (label, run)))
        for label, values in times.items():
            self.log("panel %s: %s ms; CPU of the pane's processes until then: %s ms" % (
                label, " ".join("%.0f" % (v * 1000) for v in values),
                " ".join("%.0f" % (v * 1000) for v in self.cpu.get(label, [])[1:])))
        ms = lambda v: "%.0f ms" % (v * 1000)
        med = {k: statistics.median(v) for k, v in times.items()}
        print("")
        print("| the panel's first full screen (3 hosts x %d sessions: this machine, h1, h2; %d runs, median) | time | min |" % (
            n, self.args.runs))
        print("|---|---|---|")
        print("| `berth` with hosts h1 and h2, from the pane's start to every row and both hosts connected "
              "(target < 200 ms) | %s %s | %s |" % (
                  ms(med["berth"]), "(met)" if med["berth"] < 0.2 else "(NOT met)", ms(min(times["berth"]))))
        if self.baseline:
            print("| the same with the baseline berth (`%s`), in the same runs | %s | %s |" % (
                os.path.basename(self.args.baseline_berth), ms(med["baseline"]), ms(min(times["baseline"]))))
        print("| `berth` with this machine alone (%d sessions) | %s | %s |" % (n, ms(med["alone"]), ms(min(times["alone"]))))
        print("| the floor: the same pane running `echo` (the pane, its shell, the 5 ms polling) | %s | %s |" % (
            ms(med["floor"]), ms(min(times["floor"]))))
        print("")
        print("The master connections are up (the listings above opened them, `ControlPersist`); each run "
              "starts a new berth process and ends it with `q`.")
        self.measure_idle_panel(panel(self.berth, panel_config), full)

    def server_pids(self):
        """This machine's tmux server and those of the panel's two hosts."""
        pids = []
        for env, socket_args in [(self.env, [])] + [(self.host_tmux_env(h), ["-L", REMOTE_SOCKET]) for h in HOSTS[:2]]:
            out = self.run([self.tmux] + socket_args + ["display-message", "-p", "#{pid}"], env=env, check=False)
            if out.returncode == 0 and out.stdout.strip().isdigit():
                pids.append(int(out.stdout.strip()))
        return pids

    def measure_idle_panel(self, argv, ready):
        """An open panel on three hosts doing nothing (issue 16: under 0.5% of one core): the CPU of
        berth, of berth with its children (the hosts' control connections), and of the three tmux
        servers, over --idle-seconds once the first screen is in and a few seconds have passed."""
        seconds = self.args.idle_seconds
        self.log("the idle panel: this machine, h1 and h2 (%d sessions each), %d s" % (self.args.sessions, seconds))
        servers = self.server_pids()
        result = {}

        def idle(pane_pid):
            time.sleep(5)
            pid = berth_pid(pane_pid, os.path.realpath(argv[0]))
            if pid is None:
                return
            own0, tree0 = process_cpu(pid), tree_cpu(pid)
            srv0 = sum(process_cpu(p) for p in servers)
            t0 = time.perf_counter()
            time.sleep(seconds)
            elapsed = time.perf_counter() - t0
            result["berth"] = (process_cpu(pid) - own0) / elapsed * 100
            result["tree"] = (tree_cpu(pid) - tree0) / elapsed * 100
            result["servers"] = (sum(process_cpu(p) for p in servers) - srv0) / elapsed * 100

        self.pane_time(argv, ready, "idle", while_open=idle)
        if not result:
            raise BenchError("the idle panel: no measure")
        print("")
        print("| the idle panel (this machine, h1 and h2, %d sessions each; %d s, from 5 s after the first screen) "
              "| %% of one core |" % (self.args.sessions, seconds))
        print("|---|---|")
        print("| berth (target < 0.5%%) | %.2f%% %s |" % (result["berth"], "(met)" if result["berth"] < 0.5 else "(NOT met)"))
        print("| berth with its children (the hosts' control connections through ssh) | %.2f%% |" % result["tree"])
        print("| the three tmux servers it watches (tmux's own work, for comparison) | %.2f%% |" % result["servers"])

    def control_path(self, name):
        """berth's master socket for a host (SSHLink.controlPath: FNV-1a of name and destination)."""
        h = 0xcbf29ce484222325
        for byte in ("%s\n%s" % (name, name)).encode():
            h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        return "%s/berth/ssh-%016x" % (self.runtime, h)

    def cleanup(self):
        if os.path.isdir(self.outer_env()["TMUX_TMPDIR"]):
            subprocess.run([self.tmux, "-L", "outer", "kill-server"], env=self.outer_env(),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        subprocess.run([self.tmux, "kill-server"], env=self.env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        for name in HOSTS:
            subprocess.run([self.tmux, "-L", REMOTE_SOCKET, "kill-server"], env=self.host_tmux_env(name),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            if os.path.exists(self.ssh_wrapper):
                subprocess.run([self.ssh_wrapper, "-o", "ControlPath=%s" % self.control_path(name), "-O", "exit", name],
                               env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        for proc in self.sshd:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Whatever is left that this run started (a master whose exit request was lost, an
        # sshd connection process): everything whose command line names this run's directory.
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                cmdline = open("/proc/%s/cmdline" % pid, "rb").read()
            except OSError:
                continue
            if self.tmp.encode() in cmdline:
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except OSError:
                    pass
        if self.args.keep:
            self.log("kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--berth", default=find_berth(), help="the berth binary (default: .build/release, else debug)")
    parser.add_argument("--sessions", type=int, default=100, help="sessions per host (default 100)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--baseline-berth", help="another berth binary to measure the panel against (same runs)")
    parser.add_argument("--hold", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-panel", action="store_true", help="skip the panel's first-screen and idle measures")
    parser.add_argument("--idle-seconds", type=int, default=20, help="length of the idle panel measure (default 20)")
    parser.add_argument("--panel-only", action="store_true", help="only the panel (skip the listings)")
    parser.add_argument(
        "--user-rc", action="store_true",
        help="let bash read this user's ~/.bashrc for each remote command (by default the hosts set SHLVL=1, "
             "which bash takes as not started by sshd, as a stock ~/.bashrc returns at once for commands)")
    args = parser.parse_args()
    if not args.berth or not os.access(args.berth, os.X_OK):
        print("bench-hosts: no berth binary: build it (swift build -c release) or pass --berth", file=sys.stderr)
        return 2
    bench = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench = Bench(args)
        bench.measure()
        return 0
    except BenchError as e:
        print("bench-hosts: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if bench is not None:
            bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
