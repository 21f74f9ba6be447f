"""A minimal tmux control-mode client for the benchmark harness (standard library only).

It does what berth's own connection does, and no more, so that the "batched -C floor" is
the least work a program can do for the same data: one `tmux -u -C` process attached to a
hidden session of its own (destroyed when it goes, no pane output), commands written as
lines, replies matched to commands in order by their %begin/%end guard lines.
"""

import os
import select
import subprocess
import time


class ControlError(Exception):
    """The control client ended or timed out before all replies arrived."""


class Reply:
    """One reply block: its body lines and whether tmux answered %error."""

    __slots__ = ("lines", "is_error")

    def __init__(self, lines, is_error):
        self.lines = lines
        self.is_error = is_error

    def text(self):
        return b"\n".join(self.lines).decode("utf-8", "replace")


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
        until the first block of any kind closed)."""
        replies = []
        guard = None
        body = []
        deadline = time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                if guard is None:
                    if line.startswith(b"%begin "):
                        guard = line[7:]
                        body = []
                    elif line.startswith(b"%exit"):
                        raise ControlError("tmux control client exited: " + line.decode("utf-8", "replace"))
                    continue
                if line == b"%end " + guard or line == b"%error " + guard:
                    flags = guard.rsplit(b" ", 1)[-1]
                    if until_ready:
                        return []
                    if flags == want_flag:
                        replies.append(Reply(body, line.startswith(b"%error")))
                        if len(replies) == count:
                            return replies
                    guard = None
                    continue
                body.append(line)
            if count == 0 and not until_ready:
                return replies
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
