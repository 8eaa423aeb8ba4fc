#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Stats mode against the real kernel, in a fresh network namespace with nf_conntrack_acct and
# nf_conntrack_timestamp on: flows made with conntrack -I and deleted with -D, a real TCP transfer
# over lo, and a UDP flow left to time out. The flow log (Stats LogFile) must hold exactly one
# well-formed line per destroyed flow, with the kernel's final counters; with Debian's conntrackd
# 1.4.7 running side by side in the same namespace, every line must equal its line but for the
# date. Then logrotate's two ways: mv + SIGHUP, and mv + conntrackctl reopen-logs (ReopenLogFiles).
# With a private journal socket (unshare -m), the structured records of the destroyed flows are
# read back and checked field by field.
source "$(dirname "$0")/lib.sh"
need_root
command -v conntrack >/dev/null || skip "conntrack (the conntrack package) is not installed"
command -v nft >/dev/null || skip "nft is not installed"

new_netns ctd-stats
ns=$NS
inns() { ip netns exec "$ns" "$@"; }
inns sysctl -q -w net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1 \
        net.netfilter.nf_conntrack_udp_timeout=1 ||
        skip "cannot set nf_conntrack_acct/timestamp in a namespace"
# Connection tracking runs in a namespace only where a ruleset needs it.
inns nft -f - <<'NFT'
table inet ctd_stats_test {
        chain out { type filter hook output priority 0; ct state established,new counter accept; }
        chain in { type filter hook input priority 0; ct state established,new counter accept; }
}
NFT

log=$TMP/stats.log
conf=$TMP/conntrackd.conf
sock=$TMP/ctl.sock
cat > "$conf" <<CONF
General {
        HashSize 1024
        HashLimit 8192
        LockFile $TMP/lock
        UNIX { Path $sock }
        Systemd off
}
Stats {
        LogFile $log
}
CONF
"$CONNTRACKD" -C "$conf" --check-config

# The journal: ours logs to it when $JOURNAL_STREAM names its standard error; sd-journal sends to
# /run/systemd/journal/socket, which a tmpfs over /run/systemd in a private mount namespace gives
# us, whether a journald runs or not (optional part).
journal=no
jdir=$TMP/journal
if command -v unshare >/dev/null && [ -d /run/systemd ]; then
        journal=yes
fi

if [ "$journal" = yes ]; then
        mkdir -p "$jdir"
        : > "$TMP/daemon.log"
        # A datagram reader in the same private mount namespace as the daemon.
        cat > "$TMP/run-with-journal.sh" <<SH
set -e
mount --make-rprivate /
mount -t tmpfs -o mode=0755 ctd-test /run/systemd
mkdir /run/systemd/journal
/usr/bin/python3 - "$jdir" <<'PY' &
import os, socket, sys
d = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
open(os.path.join(d, "ready"), "w").close()
n = 0
while True:
        data = s.recv(1 << 20)
        n += 1
        with open(os.path.join(d, "%06d.rec" % n), "wb") as f:
                f.write(data)
PY
echo \$! > "$jdir/reader.pid"
while [ ! -e "$jdir/ready" ]; do sleep 0.05; done
st=\$(stat -c '%d:%i' "$TMP/daemon.log")
export JOURNAL_STREAM=\$st
exec ip netns exec "$ns" "$CONNTRACKD" -C "$conf" 2>>"$TMP/daemon.log"
SH
        unshare -m --propagation private bash "$TMP/run-with-journal.sh" >>"$TMP/daemon.log" &
        DAEMON_PID=$!
        PIDS+=("$DAEMON_PID")
        wait_for "the journal socket reader" 20 test -s "$jdir/reader.pid"
        PIDS+=("$(cat "$jdir/reader.pid")")
        wait_for "the daemon's control socket" 20 test -S "$sock"
else
        info "no private journal socket possible here: journal records not checked"
        start_daemon "$ns" "$conf"
fi
info "ours up (pid $DAEMON_PID), journal capture: $journal"

# Debian's 1.4.7 side by side, on the same events (skipped without it).
DEBIAN=${DEBIAN_CONNTRACKD:-/usr/sbin/conntrackd}
deb=no
if [ -x "$DEBIAN" ] && "$DEBIAN" -v 2>&1 | grep -q 'v1\.4\.7'; then
        deb=yes
        dlog=$TMP/debian-stats.log
        dconf=$TMP/debian.conf
        cat > "$dconf" <<CONF
General {
        HashSize 1024
        HashLimit 8192
        LogFile $TMP/debian-daemon.log
        LockFile $TMP/debian.lock
        UNIX { Path $TMP/debian.sock }
        NetlinkBufferSize 2097152
        NetlinkBufferSizeMaxGrowth 8388608
        Systemd off
}
Stats {
        LogFile $dlog
}
CONF
        inns "$DEBIAN" -C "$dconf" >>"$TMP/debian-console.log" 2>&1 &
        PIDS+=($!)
        wait_for "Debian's control socket" 20 test -S "$TMP/debian.sock"
        info "Debian's conntrackd 1.4.7 up"
else
        info "Debian's conntrackd 1.4.7 not found: the side-by-side comparison is skipped"
fi

lines() { if [ -e "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }
# wait_lines FILE N: the file holds N lines (not fewer, and then not more)
wait_lines() {
        wait_for "$2 lines in $(basename "$1")" 30 "[ \"\$(lines $1)\" -ge $2 ]"
        [ "$(lines "$1")" -eq "$2" ] || fail "$(basename "$1") has $(lines "$1") lines, expected $2"
}
wait_both() {
        wait_lines "$log" "$1"
        if [ "$deb" = yes ]; then wait_lines "$dlog" "$1"; fi
}

# ---- flows made and deleted with conntrack -I / -D ----
inns conntrack -I -p tcp -s 10.0.0.1 -d 10.0.0.2 --sport 1000 --dport 80 --state ESTABLISHED \
        -t 300 -u ASSURED --mark 7 >/dev/null 2>&1
inns conntrack -I -p udp -s 10.0.0.1 -d 10.0.0.3 --sport 53 --dport 5353 -t 300 --zone 4 \
        >/dev/null 2>&1
inns conntrack -I -p icmp -s 10.0.0.1 -d 10.0.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 77 \
        -t 300 >/dev/null 2>&1
inns conntrack -I -p tcp -s 2001:db8::1 -d 2001:db8::2 --sport 2000 --dport 443 \
        --state SYN_SENT -t 300 >/dev/null 2>&1
# in both caches before they go
wait_for "4 flows in our cache" 10 \
        "[ \"\$(ip netns exec $ns $CONNTRACKD -C $conf -i | grep -c .)\" -eq 4 ]"
if [ "$deb" = yes ]; then
        wait_for "4 flows in Debian's cache" 10 \
                "[ \"\$(ip netns exec $ns $DEBIAN -C $dconf -i | grep -c .)\" -eq 4 ]"
fi
[ "$(lines "$log")" -eq 0 ] || fail "lines in the flow log before any flow ended"
inns conntrack -D >/dev/null 2>&1
wait_both 4
info "conntrack -I/-D: 4 lines"

# ---- a real TCP transfer over lo: 100000 bytes, the counters as the kernel had them ----
cat > "$TMP/tcp.py" <<'PY'
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 5002))
s.listen(1)
def serve():
        c, _ = s.accept()
        n = 0
        while True:
                d = c.recv(65536)
                if not d:
                        break
                n += len(d)
        c.sendall(b"%d" % n)
        c.close()
t = threading.Thread(target=serve)
t.start()
c = socket.create_connection(("127.0.0.1", 5002))
c.sendall(b"x" * 100000)
c.shutdown(socket.SHUT_WR)
got = c.recv(100)
c.close()
t.join()
assert got == b"100000", got
PY
inns python3 "$TMP/tcp.py" || fail "the TCP transfer failed"
# The flow is closed (TIME_WAIT): its counters do not change any more. Read them, then delete it.
n='\([0-9]*\)'
re=".* sport=$n dport=5002 packets=$n bytes=$n .* dport=[0-9]* packets=$n bytes=$n .*"
want=$(inns conntrack -L -p tcp --dport 5002 2>/dev/null | sed -n "s/$re/\\1 \\2 \\3 \\4 \\5/p")
read -r tsport tpo tbo tpr tbr <<<"$want"
[ -n "${tbr:-}" ] || fail "no TCP flow with counters in the kernel table"
[ "$tbo" -gt 100000 ] || fail "the kernel counted $tbo bytes for 100000 sent"
inns conntrack -D -p tcp --dport 5002 >/dev/null 2>&1
wait_both 5
line="sport=$tsport dport=5002 packets=$tpo bytes=$tbo src=127.0.0.1 dst=127.0.0.1 sport=5002"
line+=" dport=$tsport packets=$tpr bytes=$tbr \[ASSURED\]"
grep -q "$line" "$log" ||
        fail "the TCP flow's line lacks the kernel's counters ($want): $(grep 5002 "$log")"
info "TCP transfer: $tbo bytes in $tpo packets, $tbr bytes back in $tpr"

# ---- a UDP datagram of 100 bytes, left to time out (udp_timeout 1 s): 128 bytes on the wire ----
inns python3 - <<'PY'
import socket
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind(("127.0.0.1", 5003))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 5004))
s.sendto(b"u" * 100, ("127.0.0.1", 5003))
assert len(r.recv(1000)) == 100
PY
# The kernel's garbage collector may take a minute to notice an expired entry when the table is
# nearly empty; a dump evicts the expired entries it walks over (and sends their DESTROY events),
# so list the table until the flow has ended.
wait_for "the UDP flow to expire" 20 \
        "sleep 0.5; ! inns conntrack -L -p udp --dport 5003 2>/dev/null | grep -q 5003"
wait_both 6
line="udp      17 src=127.0.0.1 dst=127.0.0.1 sport=5004 dport=5003 packets=1 bytes=128"
line+=" \[UNREPLIED\] src=127.0.0.1 dst=127.0.0.1 sport=5003 dport=5004 packets=0 bytes=0"
line+=" delta-time=[0-9]*$"
grep -q "$line" "$log" ||
        fail "the expired UDP flow's line is wrong: $(grep 5003 "$log")"
info "UDP flow timed out: logged with 1 packet, 128 bytes"

# ---- every line well-formed, one per flow ----
date_re='^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) '
date_re+='[ 123][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}'$'\t'
bad=$(grep -Ev "${date_re}(tcp      6|udp      17|icmp     1) " "$log" || true)
[ -z "$bad" ] || fail "malformed lines: $bad"
for flow in "sport=1000 dport=80 packets=0 bytes=0 \[UNREPLIED\] .* \[ASSURED\] mark=7 delta-time=" \
            "sport=53 dport=5353 packets=0 bytes=0 .* zone=4 delta-time=" \
            "type=8 code=0 id=77 packets=0 bytes=0 \[UNREPLIED\]" \
            "src=2001:db8::1 dst=2001:db8::2 sport=2000 dport=443 packets=0 bytes=0" \
            "dport=5002 packets=$tpo" "sport=5004 dport=5003"; do
        [ "$(grep -c -- "$flow" "$log")" -eq 1 ] || fail "not exactly one line for $flow"
done
grep -q 'tcp      6 SYN_SENT src=2001:db8::1' "$log" || fail "the IPv6 flow's state is missing"
if grep -Eq $'use=|\t[a-z0-9]+ +[0-9]+ [0-9]+ ' "$log"; then
        fail "a timeout or use count in the log"
fi

# ---- the same lines as Debian's 1.4.7, but for the date ----
if [ "$deb" = yes ]; then
        cut -f2- "$log" | sort > "$TMP/ours.sorted"
        cut -f2- "$dlog" | sort > "$TMP/debian.sorted"
        diff -u "$TMP/debian.sorted" "$TMP/ours.sorted" ||
                fail "the flow log differs from Debian's conntrackd 1.4.7 (above: - Debian, + ours)"
        info "6 lines identical to Debian's conntrackd 1.4.7 but for the date"
fi

# ---- counters ----
stats=$("$CONNTRACKCTL" -C "$conf" stats runtime)
echo "$stats" | grep -Eq '^flowlog\.lines_written +6$' ||
        fail "flowlog.lines_written is not 6: $stats"
echo "$stats" | grep -Eq '^flowlog\.lines_lost +0$' || fail "flowlog.lines_lost is not 0: $stats"
# the 1.4.7 layout of -s stays as it was
ip netns exec "$ns" "$CONNTRACKD" -C "$conf" -s runtime > "$TMP/s-runtime"
if grep -qi flowlog "$TMP/s-runtime"; then fail "-s runtime shows flow log counters"; fi

# ---- logrotate: mv + SIGHUP ----
mv "$log" "$log.1"
kill -HUP "$DAEMON_PID"
wait_for "a new flow log after SIGHUP" 10 test -e "$log"
inns conntrack -I -p udp -s 10.0.0.9 -d 10.0.0.10 --sport 1 --dport 2 -t 300 >/dev/null 2>&1
wait_for "the flow in our cache" 10 \
        "ip netns exec $ns $CONNTRACKD -C $conf -i | grep -q 'src=10.0.0.9 '"
inns conntrack -D -s 10.0.0.9 >/dev/null 2>&1
wait_lines "$log" 1
grep -q 'src=10.0.0.9 ' "$log" || fail "the flow after SIGHUP is not in the new file"
[ "$(lines "$log.1")" -eq 6 ] || fail "the rotated file changed after SIGHUP"
info "SIGHUP: a new file"

# ---- logrotate: mv + conntrackctl reopen-logs (ReopenLogFiles) ----
mv "$log" "$log.2"
"$CONNTRACKCTL" -C "$conf" reopen-logs || fail "conntrackctl reopen-logs failed"
[ -e "$log" ] || fail "no new flow log after reopen-logs"
inns conntrack -I -p udp -s 10.0.0.11 -d 10.0.0.12 --sport 1 --dport 2 -t 300 >/dev/null 2>&1
wait_for "the flow in our cache" 10 \
        "ip netns exec $ns $CONNTRACKD -C $conf -i | grep -q 'src=10.0.0.11 '"
inns conntrack -D -s 10.0.0.11 >/dev/null 2>&1
wait_lines "$log" 1
grep -q 'src=10.0.0.11 ' "$log" || fail "the flow after reopen-logs is not in the new file"
[ "$(lines "$log.2")" -eq 1 ] || fail "the rotated file changed after reopen-logs"
"$CONNTRACKCTL" -C "$conf" stats runtime | grep -Eq '^flowlog\.reopens +2$' ||
        fail "flowlog.reopens is not 2"
info "ReopenLogFiles: a new file"

# ---- the journal records ----
if [ "$journal" = yes ]; then
        /usr/bin/python3 - "$jdir" "$tsport" "$tpo" "$tbo" "$tpr" "$tbr" <<'PY' || fail "journal records"
import glob, struct, sys
d, sport, po, bo, pr, br = sys.argv[1], *sys.argv[2:]

def parse(data):
        # the native protocol: KEY=value\n, or KEY\n<le64 size><value>\n for binary values
        fields, i = {}, 0
        while i < len(data):
                nl = data.index(b"\n", i)
                line = data[i:nl]
                if b"=" in line:
                        k, v = line.split(b"=", 1)
                        i = nl + 1
                else:
                        k = line
                        n = struct.unpack("<Q", data[nl + 1:nl + 9])[0]
                        v = data[nl + 9:nl + 9 + n]
                        i = nl + 9 + n + 1
                fields[k.decode()] = v.decode()
        return fields

recs = [parse(open(f, "rb").read()) for f in sorted(glob.glob(d + "/*.rec"))]
flows = [r for r in recs if r.get("MESSAGE_ID") == "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8e01"]
assert len(flows) == 8, "%d flow records, expected 8" % len(flows)
for r in flows:
        assert r["PRIORITY"] == "6" and r["FLOW_END"] == "destroy", r
        assert "\t" not in r["MESSAGE"] and r["MESSAGE"].startswith(r["FLOW_PROTO"]), r
tcp = [r for r in flows if r.get("FLOW_ORIG_DPORT") == "5002"]
assert len(tcp) == 1, tcp
t = tcp[0]
want = {"FLOW_L3": "ipv4", "FLOW_PROTO": "tcp", "FLOW_ORIG_SRC": "127.0.0.1",
        "FLOW_ORIG_DST": "127.0.0.1", "FLOW_ORIG_SPORT": sport, "FLOW_REPLY_SPORT": "5002",
        "FLOW_REPLY_DPORT": sport, "FLOW_STATE": "TIME_WAIT", "FLOW_ASSURED": "yes",
        "FLOW_MARK": "0", "FLOW_ZONE": "0", "FLOW_PACKETS_ORIG": po, "FLOW_BYTES_ORIG": bo,
        "FLOW_PACKETS_REPLY": pr, "FLOW_BYTES_REPLY": br}
for k, v in want.items():
        assert t.get(k) == v, (k, t.get(k), v)
start, stop, dur = (int(t[k]) for k in ("FLOW_START_USEC", "FLOW_STOP_USEC", "FLOW_DURATION_USEC"))
assert start > 1600000000 * 10**6 and stop >= start and dur == stop - start, t
icmp = [r for r in flows if r.get("FLOW_PROTO") == "icmp"][0]
assert (icmp["FLOW_ORIG_ICMP_TYPE"], icmp["FLOW_ORIG_ICMP_ID"], icmp["FLOW_REPLY_ICMP_TYPE"]) == \
        ("8", "77", "0"), icmp
v6 = [r for r in flows if r.get("FLOW_L3") == "ipv6"][0]
assert v6["FLOW_ORIG_SRC"] == "2001:db8::1" and v6["FLOW_STATE"] == "SYN_SENT", v6
zone = [r for r in flows if r.get("FLOW_ORIG_SPORT") == "53"][0]
assert zone["FLOW_ZONE"] == "4", zone
marked = [r for r in flows if r.get("FLOW_ORIG_SPORT") == "1000"][0]
assert marked["FLOW_MARK"] == "7", marked
print("# %d journal records checked" % len(flows))
PY
fi

# ---- a clean stop writes what is buffered and leaves nothing behind ----
"$CONNTRACKCTL" -C "$conf" quit
wait_for "our daemon to exit" 10 "! kill -0 $DAEMON_PID"
info "ok"
