#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A socket activator that keeps its socket across restarts of the service (tests/reliability).

    activator.py --udp ADDR:PORT --fdname NAME --dir DIR -- COMMAND...

Binds a UDP socket to ADDR:PORT and holds it for its whole life. Starts COMMAND with that socket
as fd 3 and LISTEN_FDS=1, LISTEN_FDNAMES=NAME, LISTEN_PID=<the command's pid> (sd_listen_fds(3)),
appends the command's pid to DIR/pids, waits for it to exit, then waits for DIR/start (which it
removes) to start it again, or DIR/quit to exit. Datagrams that arrive while no command runs stay
queued in the socket. systemd-socket-activate cannot do this: it execs the command in place of
itself, so the socket lives only as long as the first run.
"""
import argparse
import os
import socket
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--udp", required=True)
    ap.add_argument("--fdname", default="sync")
    ap.add_argument("--dir", required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        sys.exit("no command")
    host, port = a.udp.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((host, int(port)))
    os.dup2(s.fileno(), 3, inheritable=True)
    env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES=a.fdname)
    env.pop("LISTEN_PID", None)
    # LISTEN_PID must be the service's own pid: a shell sets it, then execs the command
    wrapper = ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', "activated"]
    while True:
        child = subprocess.Popen(wrapper + cmd, env=env, pass_fds=(3,))
        with open(os.path.join(a.dir, "pids"), "a") as f:
            f.write("%d\n" % child.pid)
        child.wait()
        while True:
            if os.path.exists(os.path.join(a.dir, "quit")):
                return
            if os.path.exists(os.path.join(a.dir, "start")):
                os.unlink(os.path.join(a.dir, "start"))
                break
            time.sleep(0.05)


if __name__ == "__main__":
    main()
