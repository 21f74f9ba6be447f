"""What a Python tool built on libtmux does to show a session list with previews: list the
sessions, then capture the last 5 lines of each session's active pane. Run by the harness
with the virtual environment's interpreter; prints how many sessions it saw (checked by
the harness) so a silent failure cannot pass as a fast run.

usage: python libtmux_probe.py SOCKET_NAME LINES
"""

import sys

import libtmux


def main():
    socket_name, lines = sys.argv[1], int(sys.argv[2])
    server = libtmux.Server(socket_name=socket_name)
    previews = {}
    for session in server.sessions:
        if not session.name.startswith("berth-"):
            continue
        captured = session.active_pane.capture_pane(start=-lines)
        previews[session.name] = [line for line in captured if line.strip()][-lines:]
    print(len(previews))


if __name__ == "__main__":
    main()
