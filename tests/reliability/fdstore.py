#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Plays systemd's part for one service: notifications and the file descriptor store.

    fdstore.py --dir DIR [--max N] [--unix NAME=PATH]... -- COMMAND...

Binds a notification socket at DIR/notify.sock and runs COMMAND with NOTIFY_SOCKET pointing at
it, and FDSTORE=N (what systemd 254 and later set from FileDescriptorStoreMax=). Like systemd
(sd_notify(3), sd_listen_fds(3)) it keeps the fds a service sends with FDSTORE=1 (named by
FDNAME=, at most --max, default 1, of them), drops them on FDSTOREREMOVE=1, answers BARRIER=1
by closing the fd that came with it, closes fds sent with anything else, and passes the stored
fds to the next start of the service as fds 3, 4, ... with LISTEN_FDS, LISTEN_FDNAMES and
LISTEN_PID (the pid of the service itself: a shell sets it, then execs the command). --unix
binds a listening AF_UNIX stream socket at PATH, held for the whole run and passed first at every
start under NAME, as a socket unit's (FileDescriptorName=NAME).

It starts COMMAND, waits for it to exit, then waits for DIR/start (which it removes) to start it
again, or DIR/quit to exit. DIR/start may hold words (separated by commas), applied before the
start; the first two to the stored fd named "conntrackd-caches":
    corrupt   a copy of it with one byte flipped (in the middle), not sealed
    foreign   a memfd of text that is not a store
    drop      the stored fds closed (a plain start; --unix sockets are still passed)
    nostore   FDSTORE=0 for this start: the service is told that it has no store
What happens goes to DIR/events, one line each, with CLOCK_MONOTONIC seconds first:
    T start PID NFDS | T exit PID STATUS | T notify FIELD (the first line of a message)
    T stored NAME SIZE SEALED | T removed NAME | T refused NAME | T barrier | T closed N
    T corrupt OFFSET | T foreign | T drop
"""
import argparse
import fcntl
import os
import select
import signal
import socket
import subprocess
import sys
import time

STORE_NAME = "conntrackd-caches"
F_GET_SEALS = 1034
F_ADD_SEALS = 1033
F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE = 0x1, 0x2, 0x4, 0x8


class ServiceManager:
    def __init__(self, directory, max_fds, sockets=()):
        self.dir = directory
        self.max = max_fds
        self.store = []                 # (name, fd), in the order they came
        self.sockets = []               # (name, socket): the socket units' fds, passed first
        for name, path in sockets:
            if os.path.exists(path):
                os.unlink(path)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            s.bind(path)
            s.listen(64)
            self.sockets.append((name, s))
        self.child = None
        self.events = open(os.path.join(directory, "events"), "a", buffering=1)
        path = os.path.join(directory, "notify.sock")
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.notify_path = path

    def event(self, *words):
        self.events.write("%.6f %s\n" % (time.monotonic(), " ".join(str(w) for w in words)))

    # -- notifications --

    def read_notifications(self, timeout):
        """Handles every message that arrives within timeout seconds (at least those queued)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(253 * 4))
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                select.select([self.sock], [], [], left)
                continue
            fds = []
            for level, kind, data in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    n = len(data) // 4
                    fds += list(memoryview(data)[:n * 4].cast("i"))
            self.handle(msg.decode(errors="replace"), fds)

    def handle(self, text, fds):
        fields = {}
        for line in text.split("\n"):
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v
        if fields.get("FDSTORE") == "1":
            name = fields.get("FDNAME", "stored")
            for fd in fds:
                if len(self.store) >= self.max:
                    self.event("refused", name)
                    os.close(fd)
                    continue
                self.store.append((name, fd))
                sealed = fcntl.fcntl(fd, F_GET_SEALS) if is_memfd(fd) else 0
                self.event("stored", name, os.fstat(fd).st_size,
                           "sealed" if sealed & F_SEAL_WRITE else "unsealed")
            return
        for fd in fds:
            os.close(fd)
        if fields.get("FDSTOREREMOVE") == "1":
            name = fields.get("FDNAME", "")
            keep = []
            for n, fd in self.store:
                if n == name:
                    os.close(fd)
                    self.event("removed", name)
                else:
                    keep.append((n, fd))
            self.store = keep
        elif fields.get("BARRIER") == "1":
            self.event("barrier")
        elif fds:
            self.event("closed", len(fds))
        first = text.split("\n", 1)[0]
        if first and "FDSTORE" not in first:
            self.event("notify", first)

    # -- the store, changed on request --

    def replace_store(self, make):
        for i, (name, fd) in enumerate(self.store):
            if name == STORE_NAME:
                new = make(fd)
                os.close(fd)
                self.store[i] = (name, new)
                return True
        return False

    def corrupt(self):
        def make(fd):
            data = bytearray(os.pread(fd, os.fstat(fd).st_size, 0))
            off = len(data) // 2
            data[off] ^= 0x10
            self.event("corrupt", off)
            return memfd(bytes(data), seal=False)
        if not self.replace_store(make):
            self.event("corrupt", "nothing-stored")

    def foreign(self):
        def make(fd):
            self.event("foreign")
            return memfd(b"this memory file belongs to another program\n" * 100, seal=True)
        if not self.replace_store(make):
            self.event("foreign", "nothing-stored")

    # -- the service --

    def start(self, cmd, no_store=False):
        passed = [(n, s.fileno()) for n, s in self.sockets] + list(self.store)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path,
                   FDSTORE=str(0 if no_store else self.max))
        for k in ("LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID", "WATCHDOG_USEC", "WATCHDOG_PID"):
            env.pop(k, None)
        if passed:
            env["LISTEN_FDS"] = str(len(passed))
            env["LISTEN_FDNAMES"] = ":".join(n for n, _ in passed)
        sources = [fd for _, fd in passed]

        def place_fds():
            # to high numbers first, so that no source is overwritten before it is moved
            high = [os.dup(fd) for fd in sources]
            moved = []
            for fd in high:
                h = fcntl.fcntl(fd, fcntl.F_DUPFD, 200 + len(moved))
                os.close(fd)
                moved.append(h)
            for i, fd in enumerate(moved):
                os.dup2(fd, 3 + i, inheritable=True)
                os.close(fd)

        wrapper = ["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', "service"]
        if not passed:
            wrapper = ["/bin/sh", "-c", 'exec "$@"', "service"]
        self.child = subprocess.Popen(wrapper + cmd, env=env, preexec_fn=place_fds,
                                      pass_fds=tuple(range(3, 3 + len(passed))))
        with open(os.path.join(self.dir, "pids"), "a") as f:
            f.write("%d\n" % self.child.pid)
        self.event("start", self.child.pid, len(passed))

    def run(self, cmd):
        words = []
        while True:
            self.start(cmd, no_store="nostore" in words)
            while self.child.poll() is None:
                self.read_notifications(0.05)
            self.read_notifications(0)
            self.event("exit", self.child.pid, self.child.returncode)
            while True:
                self.read_notifications(0.05)
                if os.path.exists(os.path.join(self.dir, "quit")):
                    return
                start = os.path.join(self.dir, "start")
                if os.path.exists(start):
                    with open(start) as f:
                        words = [w for w in f.read().strip().split(",") if w]
                    os.unlink(start)
                    break
            if "corrupt" in words:
                self.corrupt()
            if "foreign" in words:
                self.foreign()
            if "drop" in words:
                for _, fd in self.store:
                    os.close(fd)
                self.store = []
                self.event("drop")

    def stop(self):
        if self.child and self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()


def is_memfd(fd):
    try:
        return os.readlink("/proc/self/fd/%d" % fd).startswith("/memfd:")
    except OSError:
        return False


def memfd(data, seal):
    fd = os.memfd_create("fdstore-test", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    if seal:
        fcntl.fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)
    return fd


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--max", type=int, default=1, help="FileDescriptorStoreMax= (default 1)")
    ap.add_argument("--unix", action="append", default=[], metavar="NAME=PATH",
                    help="a listening AF_UNIX socket passed as NAME (a socket unit's)")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        sys.exit("no command")
    sm = ServiceManager(a.dir, a.max, [tuple(u.split("=", 1)) for u in a.unix])

    def on_term(signum, frame):
        sm.stop()
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        sm.run(cmd)
    finally:
        sm.stop()


if __name__ == "__main__":
    main()
