"""A minimal tmux control-mode client for the benchmark harness (standard library only).

It does what berth's own connection does, and no more, so that the "batched -C floor" is
the least work a program can do for the same data: one `tmux -u -C` process attached to a
hidden session of its own (destroyed when it goes, no pane output), commands written as
lines, replies matched to commands in order by their %begin/%end guard lines.
"""

import os
import re
import select
import subprocess
import time


class ControlError(Exception):
    """The control client ended or timed out before all replies arrived."""


class Reply:
    """One reply block: its body (bytes, split into lines on demand) and whether tmux
    answered %error."""

    __slots__ = ("body", "is_error")

    def __init__(self, body, is_error):
        self.body = body
        self.is_error = is_error

    @property
    def lines(self):
        return self.body.split(b"\n") if self.body else []

    def text(self):
        return self.body.decode("utf-8", "replace")


# Guard lines (and %exit), found by a regular expression scan so a large batch is read at C
# speed: only guard lines are looked at one by one, bodies are sliced out whole.
GUARD = re.compile(rb"^(%begin|%end|%error|%exit)( [^\n]*)?$", re.M)


def control_argv(tmux, socket_name, hidden_name):
    """The argv of a control client that disturbs nothing it looks at (as berth's)."""
    return [
        tmux, "-u", "-L", socket_name, "-C", "new-session", "-A", "-s", hidden_name,
        "-f", "ignore-size,no-output", "-x", "80", "-y", "24", "cat", "-", ";",
        "set-option", "destroy-unattached", "on",
    ]


class ControlClient:
    """A persistent control client (for polling a pane many times without forking)."""

    def __init__(self, tmux, socket_name, env, hidden_name, timeout=10.0):
        self.proc = subprocess.Popen(
            control_argv(tmux, socket_name, hidden_name), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0)
        self.buffer = b""
        self.timeout = timeout
        # Blocks the client did not ask for (the attach command itself) carry flags 0.
        self._read_blocks(0, want_flag=b"1", until_ready=True)

    def _read_blocks(self, count, want_flag=b"1", until_ready=False):
        """Reads until `count` reply blocks with `want_flag` arrived (or, with until_ready,
        until the first block of any kind closed). A block closes only on %end/%error with
        its own %begin's guard (TIME NUMBER FLAGS)."""
        replies = []
        if count == 0 and not until_ready:
            return replies
        deadline = time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()
        guard = None
        body_start = 0
        scan = 0
        while True:
            buf = self.buffer
            # Only complete lines are scanned.
            limit = buf.rfind(b"\n") + 1
            for m in GUARD.finditer(buf, scan, limit):
                kind, rest = m.group(1), (m.group(2) or b"")[1:]
                if guard is None:
                    if kind == b"%begin":
                        guard = rest
                        body_start = m.end() + 1
                    elif kind == b"%exit":
                        raise ControlError("tmux control client exited: " + m.group(0).decode("utf-8", "replace"))
                    continue
                if kind in (b"%end", b"%error") and rest == guard:
                    flags = guard.rsplit(b" ", 1)[-1]
                    guard = None
                    body = buf[body_start:max(body_start, m.start() - 1)]
                    if until_ready:
                        self.buffer = buf[m.end() + 1:]
                        return []
                    if flags == want_flag:
                        replies.append(Reply(body, kind == b"%error"))
                        if len(replies) == count:
                            self.buffer = buf[m.end() + 1:]
                            return replies
            # Keep only what is still needed: the open block's body and the partial line.
            keep = body_start if guard is not None else limit
            self.buffer = buf[keep:]
            scan = limit - keep
            body_start -= keep
            left = deadline - time.monotonic()
            if left <= 0:
                raise ControlError("timed out waiting for tmux replies")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise ControlError("tmux control client closed its output")
            self.buffer += chunk

    def send(self, commands):
        """Writes the commands in one write and returns their replies, in order."""
        data = "".join(c + "\n" for c in commands).encode()
        self.proc.stdin.write(data)
        return self._read_blocks(len(commands))

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def one_shot_batch(tmux, socket_name, env, hidden_name, commands, timeout=30.0):
    """The floor: start a control client, pipe every command in at once (before tmux has
    even answered the attach), read every reply, close, wait for the process to end.
    Returns the replies."""
    proc = subprocess.Popen(
        control_argv(tmux, socket_name, hidden_name), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, bufsize=0)
    client = ControlClient.__new__(ControlClient)
    client.proc = proc
    client.buffer = b""
    client.timeout = timeout
    try:
        proc.stdin.write("".join(c + "\n" for c in commands).encode())
        replies = client._read_blocks(len(commands))
    finally:
        client.close()
    return replies
