#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Traffic of the HA lab: long-lived flows that notice any loss, reset or stall.

  traffic.py server DIR          echo/push/FTP servers (run in the server namespace)
  traffic.py client STATUS ...   the flows (run in the client namespace)
  traffic.py report FULL ...     verdicts from the client's full status dump

Flows (each a thread of the client):
  tcp4/tcp6/nat4  a TCP connection sending "SEQ\\n" every 100-200 ms; the server echoes each
                  line; any other line, EOF or error ends the flow as failed. nat4 goes to
                  port 7001, which the firewalls SNAT to their server-side VIP.
  udp4/udp6       the client subscribes once; the server then pushes "SEQ" every 150 ms. The
                  firewalls only let new UDP in from the client side, so the pushes only pass a
                  firewall that knows the flow.
  ftp             an active-mode FTP download (the server opens the data connection: it only
                  passes as RELATED, through the ftp helper's expectation), read at ~160 KB/s and
                  checked byte by byte. At the end one more active-mode transfer over the same
                  control connection proves the current master still has the helper on it.

The client rewrites STATUS (JSON, atomically) every 100 ms with what each flow has seen; on
SIGUSR1 it also writes STATUS.full with every receive timestamp; on SIGTERM it runs the FTP
post-check, writes STATUS.full and exits (SIGINT: the same without the post-check).
"""

import json
import os
import random
import select
import signal
import socket
import sys
import threading
import time

TCP_PORT, NAT_PORT, UDP_PORT, FTP_PORT = 7000, 7001, 7002, 21
PATTERN_MOD = 251
BIG_SIZE = 16 << 20


def now_ms():
        return int(time.time() * 1000)


def pattern(offset, length):
        start = offset % PATTERN_MOD
        reps = (start + length) // PATTERN_MOD + 1
        return (bytes(range(PATTERN_MOD)) * reps)[start:start + length]


# ---- server ------------------------------------------------------------------------------------

def serve_echo(port):
        srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("::", port))
        srv.listen(64)

        def echo(conn):
                with conn:
                        try:
                                while True:
                                        data = conn.recv(65536)
                                        if not data:
                                                return
                                        conn.sendall(data)
                        except OSError:
                                return

        while True:
                conn, _ = srv.accept()
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=echo, args=(conn,), daemon=True).start()


def serve_udp_push():
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", UDP_PORT))
        lock = threading.Lock()
        streams = {}

        def push(addr):
                seq = 0
                deadline = time.monotonic() + 600
                while streams.get(addr) and time.monotonic() < deadline:
                        seq += 1
                        with lock:
                                try:
                                        sock.sendto(b"%d\n" % seq, addr)
                                except OSError:
                                        pass
                        time.sleep(0.15)

        while True:
                data, addr = sock.recvfrom(2048)
                if data.startswith(b"SUB") and not streams.get(addr):
                        streams[addr] = True
                        threading.Thread(target=push, args=(addr,), daemon=True).start()
                elif data.startswith(b"BYE"):
                        streams[addr] = False


def serve_ftp(root):
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import FTPServer
        import logging
        logging.basicConfig(level=logging.WARNING)
        with open(os.path.join(root, "big.bin"), "wb") as f:
                f.write(pattern(0, BIG_SIZE))
        with open(os.path.join(root, "small.txt"), "wb") as f:
                f.write(b"the ftp helper follows the committed control connection\n")
        auth = DummyAuthorizer()
        auth.add_anonymous(root)
        handler = FTPHandler
        handler.authorizer = auth
        handler.timeout = 600
        handler.use_sendfile = False
        server = FTPServer(("0.0.0.0", FTP_PORT), handler)
        server.serve_forever()


def server_main(args):
        root = args[0]
        os.makedirs(root, exist_ok=True)
        for target, a in ((serve_echo, (TCP_PORT,)), (serve_echo, (NAT_PORT,)),
                          (serve_udp_push, ()), (serve_ftp, (root,))):
                threading.Thread(target=target, args=a, daemon=True).start()
        print("ready", flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})


# ---- client ------------------------------------------------------------------------------------

class Flow:
        def __init__(self, name, kind):
                self.name, self.kind = name, kind
                self.up = False
                self.err = None
                self.rx = 0              # echoes, datagrams or bytes received
                self.tx = 0
                self.lost = 0            # UDP: sequence numbers never seen
                self.last_rx = 0
                self.times = []          # receive timestamps (ms)
                self.extra = {}

        def got(self, n=1):
                t = now_ms()
                self.rx += n
                self.last_rx = t
                self.times.append(t)

        def fail(self, why):
                if self.err is None:
                        self.err = why

        def light(self):
                return {"name": self.name, "kind": self.kind, "up": self.up, "err": self.err,
                        "rx": self.rx, "tx": self.tx, "lost": self.lost, "last_rx": self.last_rx,
                        **self.extra}


STOP = threading.Event()


def run_tcp(flow, addr, port):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        try:
                s = socket.socket(family, socket.SOCK_STREAM)
                s.settimeout(5)
                s.connect((addr, port))
        except OSError as e:
                flow.fail("connect: %s" % e.strerror)
                return
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        flow.up = True
        flow.extra["local"] = "%s:%d" % s.getsockname()[:2]
        seq_tx = seq_rx = 0
        buf = b""
        next_tx = time.monotonic()
        try:
                while not STOP.is_set():
                        t = time.monotonic()
                        if t >= next_tx:
                                seq_tx += 1
                                s.sendall(b"%d\n" % seq_tx)
                                flow.tx = seq_tx
                                next_tx = t + random.uniform(0.1, 0.2)
                        r, _, _ = select.select([s], [], [], max(0, min(next_tx - t, 0.05)))
                        if not r:
                                continue
                        data = s.recv(65536)
                        if not data:
                                flow.fail("EOF from the server")
                                return
                        buf += data
                        while b"\n" in buf:
                                line, buf = buf.split(b"\n", 1)
                                seq_rx += 1
                                if line != b"%d" % seq_rx:
                                        flow.fail("echo %r, expected %d" % (line, seq_rx))
                                        return
                                flow.got()
        except (BlockingIOError, InterruptedError):
                flow.fail("send buffer full")
        except OSError as e:
                flow.fail(e.strerror or str(e))
        finally:
                s.close()


def run_udp(flow, addr):
        family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.connect((addr, UDP_PORT))
        s.settimeout(0.2)
        flow.extra["local"] = "%s:%d" % s.getsockname()[:2]
        last = 0
        deadline = time.monotonic() + 5
        try:
                while not STOP.is_set():
                        if not flow.up:
                                if time.monotonic() > deadline:
                                        flow.fail("no push after subscribing")
                                        return
                                s.send(b"SUB")
                                flow.tx += 1
                        try:
                                data = s.recv(2048)
                        except socket.timeout:
                                continue
                        seq = int(data)
                        if seq <= last:
                                flow.fail("sequence went back from %d to %d" % (last, seq))
                                return
                        flow.lost += seq - last - 1 if last else 0
                        last = seq
                        flow.up = True
                        flow.got()
        except OSError as e:
                flow.fail(e.strerror or str(e))
        finally:
                try:
                        s.send(b"BYE")
                except OSError:
                        pass
                s.close()


FTP_CTL = {}


def small_window_port(ftp):
        """ftplib's makeport() with a small receive buffer on the data connection (inherited
        from the listening socket): what the client reads is what just crossed the firewalls,
        not seconds of data buffered before a failover."""
        sock = socket.socket(ftp.af, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.bind((ftp.sock.getsockname()[0], 0))
        sock.listen(1)
        host, port = sock.getsockname()[:2]
        if ftp.af == socket.AF_INET:
                ftp.sendport(host, port)
        else:
                ftp.sendeprt(host, port)
        if ftp.timeout is not None:
                sock.settimeout(ftp.timeout)
        return sock


def run_ftp(flow, addr):
        import ftplib
        try:
                ftp = ftplib.FTP()
                ftp.connect(addr, FTP_PORT, timeout=10)
                ftp.login()
                ftp.set_pasv(False)
                ftp.makeport = lambda: small_window_port(ftp)
                ftp.voidcmd("TYPE I")
                data = ftp.transfercmd("RETR big.bin")
        except (OSError, ftplib.Error) as e:
                flow.fail("setup: %s" % e)
                return
        FTP_CTL["ftp"] = ftp
        data.setblocking(False)
        flow.up = True
        flow.extra["local"] = "%s:%d" % data.getsockname()[:2]
        offset = 0
        try:
                while not STOP.is_set():
                        r, _, _ = select.select([data], [], [], 0.05)
                        if r:
                                chunk = data.recv(8192)
                                if not chunk:
                                        flow.fail("data connection closed at byte %d" % offset)
                                        return
                                if chunk != pattern(offset, len(chunk)):
                                        flow.fail("corrupt data at byte %d" % offset)
                                        return
                                offset += len(chunk)
                                flow.got(len(chunk))
                        time.sleep(0.05)
        except OSError as e:
                flow.fail(e.strerror or str(e))
        finally:
                data.close()


def ftp_post_check(flows):
        """One more active-mode transfer on the same control connection."""
        import ftplib
        ftp = FTP_CTL.get("ftp")
        fl = [f for f in flows if f.kind == "ftp"]
        if not ftp or not fl:
                return
        flow = fl[0]
        try:
                ftp.sock.settimeout(4)
                try:
                        ftp.getresp()        # 226 or 426 for the aborted download
                except ftplib.Error:
                        pass
                got = []
                ftp.retrbinary("RETR small.txt", got.append)
                flow.extra["post"] = "ok" if b"".join(got).startswith(b"the ftp helper") else "bad data"
        except (OSError, ftplib.Error, EOFError) as e:
                flow.extra["post"] = "failed: %s" % (e or type(e).__name__)


def client_main(args):
        import argparse
        p = argparse.ArgumentParser(prog="traffic.py client")
        p.add_argument("status")
        p.add_argument("--v4", required=True)
        p.add_argument("--v6", required=True)
        p.add_argument("--tcp4", type=int, default=4)
        p.add_argument("--tcp6", type=int, default=2)
        p.add_argument("--nat4", type=int, default=2)
        p.add_argument("--udp4", type=int, default=1)
        p.add_argument("--udp6", type=int, default=1)
        p.add_argument("--ftp", type=int, default=1)
        a = p.parse_args(args)

        flows, threads = [], []

        def add(kind, target, *targs):
                f = Flow("%s-%d" % (kind, sum(1 for x in flows if x.kind == kind) + 1), kind)
                flows.append(f)
                threads.append(threading.Thread(target=target, args=(f,) + targs, daemon=True))

        for _ in range(a.tcp4):
                add("tcp4", run_tcp, a.v4, TCP_PORT)
        for _ in range(a.tcp6):
                add("tcp6", run_tcp, a.v6, TCP_PORT)
        for _ in range(a.nat4):
                add("nat4", run_tcp, a.v4, NAT_PORT)
        for _ in range(a.udp4):
                add("udp4", run_udp, a.v4)
        for _ in range(a.udp6):
                add("udp6", run_udp, a.v6)
        for _ in range(a.ftp):
                add("ftp", run_ftp, a.v4)
        for t in threads:
                t.start()

        def write(path, full):
                doc = {"time": now_ms(), "flows": [f.light() for f in flows]}
                if full:
                        for d, f in zip(doc["flows"], flows):
                                d["times"] = list(f.times)
                tmp = path + ".tmp"
                with open(tmp, "w") as fh:
                        json.dump(doc, fh)
                os.rename(tmp, path)

        want_full = threading.Event()
        signal.signal(signal.SIGUSR1, lambda *_: want_full.set())
        quick = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: STOP.set())
        signal.signal(signal.SIGINT, lambda *_: (quick.set(), STOP.set()))
        while not STOP.is_set():
                write(a.status, False)
                if want_full.is_set():
                        want_full.clear()
                        write(a.status + ".full", True)
                STOP.wait(0.1)
        for t in threads:
                t.join(2)
        if not quick.is_set():
                ftp_post_check(flows)
        write(a.status, False)
        write(a.status + ".full", True)


# ---- verdicts ----------------------------------------------------------------------------------

def load(path):
        with open(path) as fh:
                return json.load(fh)["flows"]


def check_main(args):
        """check STATUS SINCE_MS [KIND...]: exit 0 if every flow (of KIND) is up, has no error
        and received something after SINCE_MS; print 'ok/total'."""
        flows = load(args[0])
        since = int(args[1])
        kinds = args[2:]
        sel = [f for f in flows if not kinds or f["kind"] in kinds]
        ok = [f for f in sel if f["up"] and not f["err"] and f["last_rx"] > since]
        print("%d/%d" % (len(ok), len(sel)))
        sys.exit(0 if len(ok) == len(sel) else 1)


def report_main(args):
        """report FULL EVENT_MS [AFTER_MS [UNTIL_MS]]: one JSON line per flow: survived (no error,
        traffic after AFTER_MS (default EVENT_MS), and up to UNTIL_MS if given), gap (its first
        receive after AFTER_MS minus EVENT_MS, in ms), and a summary line. With EVENT_MS the
        primary's death and AFTER_MS the moment the backup took the VIPs, the gap is the time
        from the death to the first packet the backup forwarded for that flow."""
        flows = load(args[0])
        event = int(args[1])
        start = int(args[2]) if len(args) > 2 and args[2] else event
        until = int(args[3]) if len(args) > 3 and args[3] else None
        out = []
        for f in flows:
                after = [t for t in f.get("times", []) if t > start]
                gap = after[0] - event if after else None
                survived = bool(f["up"] and not f["err"] and after
                                and (until is None or after[-1] >= until))
                out.append({"name": f["name"], "kind": f["kind"], "survived": survived, "gap": gap,
                            "err": f["err"], "lost": f["lost"], "post": f.get("post")})
        for o in out:
                print(json.dumps(o))
        gaps = sorted(o["gap"] for o in out if o["survived"] and o["gap"] is not None)
        print(json.dumps({"summary": True, "survived": sum(o["survived"] for o in out),
                          "total": len(out), "first": gaps[0] if gaps else None,
                          "last": gaps[-1] if gaps else None}))


def main():
        if len(sys.argv) < 2:
                sys.exit(__doc__)
        verb, args = sys.argv[1], sys.argv[2:]
        {"server": server_main, "client": client_main, "check": check_main,
         "report": report_main}.get(verb, lambda _: sys.exit(__doc__))(args)


if __name__ == "__main__":
        main()
