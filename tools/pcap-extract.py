#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Extract the UDP payloads of a pcap file into one hex file per datagram.

Standard library only; the pcap format is parsed by hand: a 24-byte global header (magic,
version, snaplen, linktype), then per packet a 16-byte record header and the captured bytes.
Link types: Ethernet (1, with 802.1Q tags) and Linux cooked capture (113). Network layer:
IPv4 (options, no fragments) and IPv6 (no extension headers). Only UDP to or from the given
port is kept (conntrackd's sync port, 3780 by default).

    tools/pcap-extract.py [--port 3780] [--outdir DIR] CAPTURE.pcap...

writes DIR/<capture>-<NNN>.hex (NNN = index of the datagram in the capture, from 001), each
holding one UDP payload as lower-case hex, 32 bytes per line.
"""

import argparse
import os
import struct
import sys

LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q = 0x8100
IPPROTO_UDP = 17


def read_records(data):
    """Yield (linktype, packet bytes) for every record of a pcap file."""
    if len(data) < 24:
        raise ValueError("file shorter than the pcap global header")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("not a pcap file (pcapng is not supported)")
    _, _, _, _, _, linktype = struct.unpack(endian + "HHiIII", data[4:24])
    off = 24
    while off + 16 <= len(data):
        _, _, incl_len, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        if off + incl_len > len(data):
            raise ValueError("truncated packet record at offset %d" % (off - 16))
        yield linktype & 0xFFFF, data[off:off + incl_len]
        off += incl_len


def link_payload(linktype, pkt):
    """Return (ethertype, network-layer bytes) or None."""
    if linktype == LINKTYPE_ETHERNET:
        if len(pkt) < 14:
            return None
        off = 12
        ethertype = struct.unpack(">H", pkt[off:off + 2])[0]
        off += 2
        while ethertype == ETH_P_8021Q and len(pkt) >= off + 4:
            ethertype = struct.unpack(">H", pkt[off + 2:off + 4])[0]
            off += 4
        return ethertype, pkt[off:]
    if linktype == LINKTYPE_LINUX_SLL:
        if len(pkt) < 16:
            return None
        return struct.unpack(">H", pkt[14:16])[0], pkt[16:]
    raise ValueError("unsupported link type %d" % linktype)


def udp_datagram(ethertype, net):
    """Return the UDP header + payload bytes or None if not an unfragmented UDP packet."""
    if ethertype == ETH_P_IP:
        if len(net) < 20 or net[0] >> 4 != 4:
            return None
        ihl = (net[0] & 0x0F) * 4
        total = struct.unpack(">H", net[2:4])[0]
        frag = struct.unpack(">H", net[6:8])[0]
        if net[9] != IPPROTO_UDP or frag & 0x3FFF:
            return None
        return net[ihl:total]
    if ethertype == ETH_P_IPV6:
        if len(net) < 40 or net[0] >> 4 != 6:
            return None
        plen = struct.unpack(">H", net[4:6])[0]
        if net[6] != IPPROTO_UDP:
            return None
        return net[40:40 + plen]
    return None


def udp_payloads(data, port):
    for linktype, pkt in read_records(data):
        lp = link_payload(linktype, pkt)
        if not lp:
            continue
        udp = udp_datagram(*lp)
        if not udp or len(udp) < 8:
            continue
        sport, dport, ulen = struct.unpack(">HHH", udp[:6])
        if port not in (sport, dport):
            continue
        yield udp[8:ulen]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=3780)
    p.add_argument("--outdir", default=".")
    p.add_argument("captures", nargs="+")
    args = p.parse_args()

    os.makedirs(args.outdir, exist_ok=True)
    for cap in args.captures:
        with open(cap, "rb") as f:
            data = f.read()
        name = os.path.splitext(os.path.basename(cap))[0]
        n = 0
        for n, payload in enumerate(udp_payloads(data, args.port), 1):
            path = os.path.join(args.outdir, "%s-%03d.hex" % (name, n))
            with open(path, "w") as out:
                for i in range(0, len(payload), 32):
                    out.write(payload[i:i + 32].hex() + "\n")
        print("%s: %d datagrams" % (cap, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
