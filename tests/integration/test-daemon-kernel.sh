#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The daemon against the real kernel in a fresh network namespace: 10,000 flows created with
# conntrack -I / netlink show up in the internal cache (conntrackctl dump, conntrackd -i), the legacy
# -s layout, deletions leave, -R resyncs, and a small NetlinkBufferSize flooded with events overruns
# and the cache still ends equal to the kernel table.
source "$(dirname "$0")/lib.sh"
need_root
: "${CT_FLOOD:?set by meson}"

new_netns ctd-kern
ns=$NS
inns() { ip netns exec "$ns" "$@"; }
kernel_count() { inns conntrack -C; }

conf=$TMP/conntrackd.conf
sock=$TMP/ctl.sock
cat > "$conf" <<CONF
General {
        HashSize 16384
        HashLimit 131072
        LockFile $TMP/lock
        UNIX { Path $sock }
        NetlinkBufferSize 8388608
        NetlinkBufferSizeMaxGrowth 16777216
        Filter From Kernelspace {
                Address Ignore { IPv4_address 127.0.0.1 IPv6_address ::1 }
        }
}
Sync {
        Mode FTFW { }
        UDP { IPv4_address 127.0.0.1  IPv4_Destination_Address 127.0.0.2  Port 3780  Interface lo }
}
CONF

"$CONNTRACKD" -C "$conf" --check-config
start_daemon "$ns" "$conf"
info "daemon up, pid $DAEMON_PID"

# busctl (which always registers with a bus first) works on the private socket too
busctl --address="unix:path=$sock" introspect org.netfilter.conntrackd1 /org/netfilter/conntrackd1 \
        > "$TMP/introspect" || fail "busctl introspect on the private socket"
for member in .DumpCache .FlushCache .FlushKernel .ResyncKernel .GetStatistics .Reload .Quit \
              .InternalCacheSize .NetlinkOverruns .Overrun .ResyncDone; do
        grep -q "^$member " "$TMP/introspect" || fail "busctl introspect does not show $member"
done

# a few by hand with conntrack -I (different shapes), the rest with the flood helper
inns conntrack -I -p tcp -s 172.16.0.1 -d 172.16.0.2 --sport 1111 --dport 22 --state ESTABLISHED -t 300 -u SEEN_REPLY,ASSURED -m 7 >/dev/null
inns conntrack -I -p udp -s 172.16.0.1 -d 172.16.0.3 --sport 5353 --dport 53 -t 30 >/dev/null
inns conntrack -I -p icmp -s 172.16.0.1 -d 172.16.0.4 --icmp-type 8 --icmp-code 0 --icmp-id 4660 -t 30 >/dev/null
inns conntrack -I -p tcp -s fd00::1 -d fd00::2 --sport 2222 --dport 443 --state SYN_SENT -t 60 --zone 7 >/dev/null
inns conntrack -I -p tcp -s 127.0.0.1 -d 127.0.0.1 --sport 3333 --dport 80 --state ESTABLISHED -t 60 >/dev/null   # filtered
inns "$CT_FLOOD" create 9996 1
want=$(( $(kernel_count) - 1 ))
[ "$want" -eq 10000 ] || fail "expected 10000 flows (+1 filtered) in the kernel, found $((want + 1))"

cache_size() { prop "$sock" InternalCacheSize; }
wait_for "10000 flows in the internal cache" 30 'test "$(cache_size)" -eq "$want"'
info "internal cache: $(cache_size) flows"

n=$("$CONNTRACKCTL" --address="unix:path=$sock" dump internal | wc -l)
[ "$n" -eq "$want" ] || fail "conntrackctl dump internal printed $n lines, want $want"
n=$("$CONNTRACKD" -C "$conf" -i | wc -l)
[ "$n" -eq "$want" ] || fail "conntrackd -i printed $n lines, want $want"

# attributes as conntrack -L shows them, in 1.4.7's -i format
"$CONNTRACKD" -C "$conf" -i > "$TMP/dump"
grep -q '^tcp      6 ESTABLISHED src=172.16.0.1 dst=172.16.0.2 sport=1111 dport=22 src=172.16.0.2 dst=172.16.0.1 sport=22 dport=1111 \[ASSURED\] mark=7 \[active since [0-9]*s\]$' "$TMP/dump" \
        || { grep 172.16.0.2 "$TMP/dump" >&2; fail "TCP flow not rendered as 1.4.7 does"; }
grep -q '^icmp     1 src=172.16.0.1 dst=172.16.0.4 type=8 code=0 id=4660 .*\[UNREPLIED\]' "$TMP/dump" || fail "ICMP flow missing"
grep -q 'src=fd00::1 dst=fd00::2 sport=2222 dport=443 .*zone=7' "$TMP/dump" || fail "IPv6 zone 7 flow missing"
grep -q 'src=127.0.0.1' "$TMP/dump" && fail "a filtered flow is in the cache"
"$CONNTRACKD" -C "$conf" -i -x | head -1 | grep -q '^<flow><meta direction="original">' || fail "-i -x is not XML flows"

# the legacy statistics layout
"$CONNTRACKD" -C "$conf" -s > "$TMP/stats"
head -2 "$TMP/stats" | grep -q "^current active connections:	 *$want$" || { cat "$TMP/stats" >&2; fail "-s layout"; }
grep -q '^cache internal:$' "$TMP/stats" || fail "-s: no 'cache internal:' block"
grep -q '^cache external:$' "$TMP/stats" || fail "-s: no 'cache external:' block"
"$CONNTRACKD" -C "$conf" -s runtime | grep -q '^netlink stats:$' || fail "-s runtime layout"

# deletions leave the cache through events
inns "$CT_FLOOD" delete 1000 1
info "after deletions: cache $(cache_size), kernel $(kernel_count)"
want=$(( want - 1000 ))
wait_for "deletions to reach the cache" 30 'test "$(cache_size)" -eq "$want"'

# -R: a resync with the kernel table leaves the cache equal to it
inns conntrack -D -p udp >/dev/null 2>&1
"$CONNTRACKD" -C "$conf" -R
want=$(( $(kernel_count) - 1 ))
wait_for "the cache to equal the kernel after -R" 30 'test "$(cache_size)" -eq "$want"'
info "after deletions and -R: kernel $(kernel_count) (1 filtered), cache $(cache_size)"

# -F flushes the kernel table through the Filter: the 127.0.0.1 flow stays
"$CONNTRACKD" -C "$conf" -F
wait_for "the kernel flush" 30 'test "$(kernel_count)" -eq 1'
wait_for "the cache to empty after -F" 30 'test "$(cache_size)" -eq 0'

"$CONNTRACKD" -C "$conf" -k
wait_for "the daemon to exit after -k" 20 bash -c "! kill -0 $DAEMON_PID"
test ! -e "$sock" || fail "control socket left behind"
test ! -e "$TMP/lock" || fail "lock file left behind"

# --- overruns: a small buffer, no growth, a flood of events ---
conf2=$TMP/small.conf
sock2=$TMP/small.sock
cat > "$conf2" <<CONF
General {
        HashSize 16384
        HashLimit 262144
        LockFile $TMP/lock2
        UNIX { Path $sock2 }
        NetlinkBufferSize 8192
        NetlinkBufferSizeMaxGrowth 8192
        NetlinkOverrunResync 1
}
Stats { }
CONF
# the initial dump: flows that exist before the daemon starts are in its cache once it is ready
inns conntrack -F >/dev/null 2>&1 || true
inns "$CT_FLOOD" create 500 3 >/dev/null
start_daemon "$ns" "$conf2"
n=$(prop "$sock2" InternalCacheSize)
[ "$n" -eq 500 ] || fail "initial dump: $n flows in the cache, 500 in the kernel"
"$CONNTRACKCTL" --address="unix:path=$sock2" monitor --json > "$TMP/monitor" 2>&1 &
PIDS+=($!)
sleep 0.3       # let the monitor subscribe; what it must see happens after this
inns "$CT_FLOOD" create 20000 2 >/dev/null
inns "$CT_FLOOD" delete 8000 2 >/dev/null
overruns=$(prop "$sock2" NetlinkOverruns)
[ "$overruns" -gt 0 ] || fail "no overrun with an 8 KiB buffer and 28000 events"
info "overruns: $overruns, buffer $(prop "$sock2" NetlinkBufferSize) bytes"
wait_for "a resync after the overrun" 30 'test "$(prop "$sock2" KernelResyncs)" -gt 0'
wait_for "the cache to equal the kernel table" 30 'test "$(prop "$sock2" InternalCacheSize)" -eq "$(kernel_count)"'
info "after the storm: kernel $(kernel_count), cache $(prop "$sock2" InternalCacheSize)"
# conntrackctl monitor saw the signals an HA agent acts on
wait_for "Overrun and ResyncDone in conntrackctl monitor" 10 'grep -q Overrun "$TMP/monitor" && grep -q ResyncDone "$TMP/monitor"'
head -c 600 "$TMP/monitor" | sed 's/^/# monitor: /' 
echo "PASS"
