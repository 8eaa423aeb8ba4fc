#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A fault-injecting sender for the conntrackd 1.4.x replication protocol (tests/reliability).

    hostile.py inject --to HOST:PORT --phase PHASE [--seed N] [--wire DIR] [--genuine FILE] ...
    hostile.py sniff --iface IF --src ADDR --port PORT --out FILE

Phases of 'inject' (each prints one line "phase=NAME datagrams=N bytes=B ..." when done):
  replay     the genuine datagrams of --genuine (hex, one a line) as they were, then in reverse
             and shuffled order: every one is a replay (the receiver saw them all)
  random     random bytes, 1..1472 long, a third of them behind a plausible version-1 header
  truncated  captured datagrams (tests/data/wire) cut short at a random offset
  oversized  datagrams of 1473..65507 bytes: valid messages followed by garbage, one huge message
             whose len field says 65535, zero padding
  bitflip    captured datagrams with 1 or 2 bits flipped (the sequence numbers rewritten first, so
             that the receiver does not drop them as old and its decoder sees them)
  crafted    valid-looking messages, each with one thing wrong: version, type, len, flags, an
             attribute's length or id, a too long helper name or label set, a missing L4PROTO or
             address, an ACK range upside down, a control message too short
  newer      a "peer speaking a newer version": version 2 headers on real messages, attribute ids
             33..63 that 1.4.7 does not know, flag bit 0x80
  control    a flood of NACK (random ranges) and RESYNC control messages, --count of each, with
             increasing sequence numbers after an ALIVE|HELLO (a restarted peer's first message);
             --seconds spreads them over that time
The sequence numbers of the phases after 'replay' start at --seq (default: now + 50 million, far
ahead of a real peer's, whose sequence starts at time(NULL)) and increase by one per message.

'sniff' records, until killed, the payload of every UDP datagram from --src to --port seen on
--iface (AF_PACKET, so in the receiver's namespace too), one hex line each, flushed at once.
"""
import argparse
import glob
import os
import random
import socket
import struct
import sys
import time

HDR = struct.Struct(">BBHI")


def attr(t, v):
    a = struct.pack(">HH", 4 + len(v), t) + v
    return a + b"\0" * (-len(a) % 4)


def msg(version, mtype, flags, seq, body=b""):
    return HDR.pack((version << 4) | mtype, flags, HDR.size + len(body), seq & 0xffffffff) + body


def split(dgram):
    """The messages of a well-formed datagram (those up to the first framing error)."""
    out, off = [], 0
    while off + HDR.size <= len(dgram):
        ln = struct.unpack_from(">H", dgram, off + 2)[0]
        if ln < HDR.size or off + ln > len(dgram):
            break
        out.append(dgram[off:off + ln])
        off += ln
    return out


def reseq(dgram, seq):
    """dgram with the seq of each of its messages rewritten from seq on; returns (dgram, next)."""
    out = b""
    for m in split(dgram):
        out += m[:4] + struct.pack(">I", seq & 0xffffffff) + m[8:]
        seq += 1
    return out + dgram[len(out):], seq


def load_wire(d):
    dgrams = []
    for f in sorted(glob.glob(os.path.join(d, "*.hex"))):
        with open(f) as fh:
            dgrams.append(bytes.fromhex(fh.read().strip()))
    return [d for d in dgrams if d]


def data_messages(dgrams):
    """Version-1 data messages (CT/EXP NEW/UPD/DEL, no flags) of the captures."""
    out = []
    for d in dgrams:
        for m in split(d):
            if m[0] >> 4 == 1 and (m[0] & 15) <= 5 and m[1] == 0 and len(m) > 8:
                out.append(m)
    return out


def ct_body(src, dst, sport, dport, extra=b""):
    return (attr(0, socket.inet_aton(src) + socket.inet_aton(dst)) + attr(2, bytes([6]))
            + attr(3, struct.pack(">HH", sport, dport)) + attr(4, bytes([3]))
            + attr(5, struct.pack(">I", 0x8e)) + attr(7, struct.pack(">I", 0)) + extra)


class Injector:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        host, port = a.to.rsplit(":", 1)
        self.to = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.seq = a.seq if a.seq is not None else int(time.time()) + 50_000_000
        self.wire = load_wire(a.wire) if a.wire else []
        self.count = self.bytes = self.errors = 0

    def send(self, d):
        try:
            self.sock.sendto(d, self.to)
            self.count += 1
            self.bytes += len(d)
        except OSError:
            self.errors += 1
        # a short breath now and then: the receiver's socket buffer is not what is tested
        if self.count % 200 == 0:
            time.sleep(0.01)

    def next_seq(self):
        self.seq += 1
        return self.seq

    # ---- phases ----

    def replay(self):
        with open(self.a.genuine) as fh:
            genuine = [bytes.fromhex(line.strip()) for line in fh if line.strip()]
        if not genuine:
            sys.exit("no genuine datagram to replay")
        for d in genuine:
            self.send(d)
        for d in reversed(genuine):
            self.send(d)
        shuffled = genuine[:]
        self.rng.shuffle(shuffled)
        for d in shuffled:
            self.send(d)
        return {"genuine": len(genuine)}

    def random(self):
        for i in range(self.a.count):
            n = self.rng.randint(1, 1472)
            d = bytes(self.rng.getrandbits(8) for _ in range(n))
            if i % 3 == 0 and n >= 8:
                # version 1, a real type, a len that fits: gets past the first checks
                t = self.rng.choice([0, 1, 2, 3, 4, 5, 10])
                d = msg(1, t, 0, self.next_seq(), d[8:])
            self.send(d)
        return {}

    def truncated(self):
        for _ in range(self.a.count):
            d = self.rng.choice(self.wire)
            if len(d) > 1:
                self.send(reseq(d, self.seq)[0][:self.rng.randint(1, len(d) - 1)])
                self.seq += 8
        return {}

    def oversized(self):
        msgs = data_messages(self.wire)
        sizes = [1473, 2000, 4096, 8192, 16384, 32768, 65000, 65507]
        for size in sizes:
            # valid messages, then garbage up to size
            d = b""
            while len(d) + 200 < size and len(d) < 8000:
                d += reseq(self.rng.choice(msgs), self.next_seq())[0]
            d += bytes(self.rng.getrandbits(8) for _ in range(size - len(d)))
            self.send(d[:size])
            # one message whose len field claims 65535 bytes
            m = msg(1, 0, 0, self.next_seq(), b"\0" * (size - 8))
            self.send(m[:2] + struct.pack(">H", 0xffff) + m[4:])
            # zeros
            self.send(b"\0" * size)
        return {"sizes": ",".join(map(str, sizes))}

    def bitflip(self):
        for _ in range(self.a.count):
            d, self.seq = reseq(self.rng.choice(self.wire), self.seq + 1)
            b = bytearray(d)
            for _ in range(self.rng.randint(1, 2)):
                bit = self.rng.randrange(len(b) * 8)
                b[bit // 8] ^= 1 << (bit % 8)
            self.send(bytes(b))
        return {}

    def crafted(self):
        good = ct_body("10.66.0.1", "10.66.0.2", 1234, 80)
        cases = []
        for v in (0, 2, 3, 15):
            cases.append(("version%d" % v, msg(v, 0, 0, 0, good)))
        for t in (6, 7, 8, 9, 11, 12, 13, 14, 15):
            cases.append(("type%d" % t, msg(1, t, 0, 0, good)))
        m = msg(1, 0, 0, 0, good)
        for ln in (0, 1, 4, 7, len(m) + 4, 0xffff):
            cases.append(("len%d" % ln, m[:2] + struct.pack(">H", ln) + m[4:]))
        cases.append(("trailing", m + b"\x01\x02\x03"))
        cases.append(("flag01", msg(1, 0, 0x01, 0, good)))
        cases.append(("flag80", msg(1, 0, 0x80, 0, good)))
        cases.append(("ctl-data-flags", msg(1, 10, 0x06, 0, b"\0" * 8)))
        cases.append(("attr-len2", msg(1, 0, 0, 0, good[:0] + struct.pack(">HH", 2, 0) + good)))
        cases.append(("attr-len-overflow", msg(1, 0, 0, 0, struct.pack(">HH", 0x7ff0, 0) + good)))
        cases.append(("attr-len-zero", msg(1, 0, 0, 0, struct.pack(">HH", 0, 5) + good)))
        for aid in (33, 40, 255, 0xffff):
            cases.append(("attr%d" % aid, msg(1, 0, 0, 0, good + attr(aid, b"\1\2\3\4"))))
        cases.append(("mark12", msg(1, 0, 0, 0, good + attr(7, b"\0" * 8))))
        cases.append(("ipv4-short", msg(1, 0, 0, 0, attr(0, b"\10\1\2") + good[12:])))
        cases.append(("ipv6-short", msg(1, 0, 0, 0, attr(1, b"\0" * 20) + good[12:])))
        cases.append(("l4proto-long", msg(1, 0, 0, 0, good + attr(2, b"\6\6"))))
        cases.append(("helper12", msg(1, 0, 0, 0, good + attr(27, b"abcdefghijk\0"))))
        cases.append(("helper-no-nul", msg(1, 0, 0, 0, good + attr(27, b"ftp!"))))
        cases.append(("labels1100", msg(1, 0, 0, 0, good + attr(28, b"\xff" * 1100))))
        cases.append(("no-l4proto", msg(1, 0, 0, 0, attr(0, good[4:12]) + attr(5, b"\0\0\0\x8e"))))
        cases.append(("no-address", msg(1, 0, 0, 0, attr(2, b"\6") + attr(5, b"\0\0\0\x8e"))))
        cases.append(("exp-garbage", msg(1, 3, 0, 0, good)))
        cases.append(("ack-upside-down", msg(1, 10, 0x08, 0, struct.pack(">II", 1000, 10))))
        cases.append(("nack-upside-down", msg(1, 10, 0x04, 0, struct.pack(">II", 1000, 10))))
        cases.append(("ack-short", msg(1, 10, 0x08, 0)))
        cases.append(("nack-short", msg(1, 10, 0x04, 0, b"\0\0\0\1")))
        for name, d in cases:
            for _ in range(3):
                d = d[:4] + struct.pack(">I", self.next_seq()) + d[8:]
                self.send(d)
                # the same case behind a valid ALIVE: the datagram's good part still counts
                self.send(msg(1, 10, 0x10, self.next_seq()) + d[:4]
                          + struct.pack(">I", self.next_seq()) + d[8:])
        return {"cases": len(cases)}

    def newer(self):
        msgs = data_messages(self.wire)
        for i in range(self.a.count):
            m = self.rng.choice(msgs)
            if i % 3 == 0:
                d = bytes([(2 << 4) | (m[0] & 15)]) + m[1:]
            elif i % 3 == 1:
                extra = attr(self.rng.randint(33, 63), os.urandom(self.rng.choice([1, 4, 8, 16])))
                d = m[:2] + struct.pack(">H", len(m) + len(extra)) + m[4:] + extra
            else:
                d = m[:1] + bytes([0x80]) + m[2:]
            self.send(reseq(d, self.next_seq())[0] if i % 3 else
                      d[:4] + struct.pack(">I", self.next_seq()) + d[8:])
        return {}

    def control(self):
        t0 = time.monotonic()
        n = self.a.count
        # an ALIVE with HELLO first, as a peer that restarted: a receiver that tells forged
        # sequence jumps from its real peer's sequence (ours) takes the flood's numbers from here
        self.send(msg(1, 10, 0x10 | 0x20, self.next_seq()))
        for i in range(n):
            lo = self.rng.getrandbits(32)
            self.send(msg(1, 10, 0x04, self.next_seq(),
                          struct.pack(">II", lo, (lo + self.rng.randint(0, 5000)) & 0xffffffff)))
            self.send(msg(1, 10, 0x02, self.next_seq(), struct.pack(">II", 0, 0)))
            # spread over --seconds
            want = t0 + self.a.seconds * (i + 1) / n
            now = time.monotonic()
            if want > now:
                time.sleep(want - now)
        return {"nacks": n, "resyncs": n, "elapsed": "%.2f" % (time.monotonic() - t0)}


def sniff(a):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0800))
    s.bind((a.iface, 0))
    src = socket.inet_aton(a.src)
    with open(a.out, "w") as out:
        print("ready", flush=True)
        while True:
            p = s.recv(70000)
            if len(p) < 28 or p[9] != 17 or p[12:16] != src:
                continue
            ihl = (p[0] & 15) * 4
            if struct.unpack_from(">H", p, 6)[0] & 0x3fff:
                continue        # a fragment: not needed for the replay
            if struct.unpack_from(">H", p, ihl + 2)[0] != a.port:
                continue
            out.write(p[ihl + 8:].hex() + "\n")
            out.flush()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("inject")
    i.add_argument("--to", required=True)
    i.add_argument("--phase", required=True, choices=["replay", "random", "truncated",
                   "oversized", "bitflip", "crafted", "newer", "control"])
    i.add_argument("--seed", type=int, default=1)
    i.add_argument("--seq", type=int)
    i.add_argument("--wire")
    i.add_argument("--genuine")
    i.add_argument("--count", type=int, default=200)
    i.add_argument("--seconds", type=float, default=0)
    s = sub.add_parser("sniff")
    s.add_argument("--iface", required=True)
    s.add_argument("--src", required=True)
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "sniff":
        sniff(a)
        return
    inj = Injector(a)
    extra = getattr(inj, a.phase)()
    fields = " ".join("%s=%s" % kv for kv in extra.items())
    print("phase=%s datagrams=%d bytes=%d send_errors=%d next_seq=%d %s" %
          (a.phase, inj.count, inj.bytes, inj.errors, inj.seq + 1, fields), flush=True)


if __name__ == "__main__":
    main()
