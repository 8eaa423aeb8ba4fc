#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Wire compatibility with conntrackd 1.4.7: fw1 (IMPL_A) replicates its kernel table to fw2 (IMPL_B)
# over a veth link, each implementation being Debian's conntrackd 1.4.7 or ours.
#   test-interop.sh MODE CHANNEL IMPL_A IMPL_B     (or the same names in the environment)
#   MODE ftfw|notrack|alarm, CHANNEL udp|mcast|udp6|tcp, IMPL debian|ours
# Checks, each within a deadline:
#   - TCP in five states, UDP, ICMP, IPv6, SNAT, DNAT, marks, zones and an FTP master made in fw1
#     show up in fw2's external cache (-e) exactly as in fw1's internal cache (-i), reply tuple aside
#   - the FTP helper's expectation likewise (-i expect / -e expect)
#   - a mark change, a TCP state change and deletions follow
#   - FT-FW and NOTRACK: after -f external on fw2, -n (RESYNC) brings everything back
#   - -c on fw2 commits: conntrack -L -o extended (and -L expect) of fw1 and fw2 are equal
#     except timeouts, ids, use counts and counters
#   - FT-FW: fw2's ACKs release every object from fw1's resend queue (-s rsqueue)
#   - no malformed/bad message on either side, no lost message on this lossless link
#   - both daemons stop cleanly with -k
source "$(dirname "$0")/lib-interop.sh"

MODE=${1:-${MODE:-ftfw}}
CHANNEL=${2:-${CHANNEL:-udp}}
IMPL_A=${3:-${IMPL_A:-debian}}
IMPL_B=${4:-${IMPL_B:-debian}}
T=10    # seconds allowed for each replication step (ALARM refreshes within RefreshTime 2)

interop_setup "$IMPL_A" "$IMPL_B"
interop_start "$MODE" "$CHANNEL"

# --- creation -----------------------------------------------------------------------------------
make_flows
start_ftp
want=$((FLOWS_MADE + HAVE_FTP))
# fw1's own cache first: the events reached it (else equality below would prove nothing)
wait_for "fw1's internal cache to hold the $want flows of its kernel table" $T \
        'test "$(cache 1 internal | wc -l)" -eq "$want" && test "$(kernel 1 | wc -l)" -eq "$want"'
wait_converged create $T
info "created: $want flows replicated"
ext=$TMP/create.ext
for pattern in \
        '^tcp +6 SYN_SENT src=10.1.0.1 dst=10.2.0.1 sport=40001 dport=80 \[UNREPLIED\] mark=0$' \
        '^tcp +6 ESTABLISHED src=10.1.0.1 dst=10.2.0.1 sport=40002 dport=80 \[ASSURED\] mark=5$' \
        '^tcp +6 FIN_WAIT .* sport=40003 ' '^tcp +6 TIME_WAIT .* sport=40004 ' \
        '^tcp +6 CLOSE_WAIT .* sport=40005 .* mark=4294967295$' \
        '^udp +17 src=10.1.0.1 dst=10.2.0.2 sport=5353 dport=53 \[UNREPLIED\] mark=0$' \
        '^icmp +1 src=10.1.0.1 dst=10.2.0.3 type=8 code=0 id=77 \[UNREPLIED\] mark=0$' \
        '^tcp +6 ESTABLISHED src=fd00:1::1 dst=fd00:2::1 sport=40006 dport=443 mark=0$' \
        '^udp +17 src=fd00:1::1 dst=fd00:2::1 sport=40007 dport=53 \[UNREPLIED\] mark=16 zone=7$' \
        ' sport=40008 dport=443 \[ASSURED\]' ' sport=40009 dport=8080 \[ASSURED\] mark=0 zone=3$'; do
        grep -q -E -- "$pattern" "$ext" || { cat "$ext" >&2; fail "fw2's external cache lacks /$pattern/"; }
done
if [ "$HAVE_FTP" = 1 ]; then
        grep -q -E 'dport=21 \[ASSURED\].* helper=ftp$' "$ext" || fail "FTP master without helper=ftp in fw2"
        wait_for "fw1's internal cache to hold the expectation" $T \
                'test "$(cache 1 internal expect | wc -l)" -eq 1'
        wait_converged create-expect $T expect
        grep -q 'dport=50000 .* master-src=10.99.0.1 .* dport=21 class=0 helper=ftp' "$TMP/create-expect.ext" \
                || { cat "$TMP/create-expect.ext" >&2; fail "expectation not replicated as expected"; }
        info "created: the FTP expectation replicated"
fi

# --- updates and deletions ----------------------------------------------------------------------
ct 1 -U -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40002 --dport 80 -m 99
ct 1 -U -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40001 --dport 80 --state ESTABLISHED -u SEEN_REPLY,ASSURED
ct 1 -U -p tcp -s fd00:1::1 -d fd00:2::1 --sport 40006 --dport 443 -m 0x20
ct 1 -D -p udp -s 10.1.0.1 -d 10.2.0.2 --sport 5353 --dport 53
ct 1 -D -p icmp -s 10.1.0.1 -d 10.2.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 77
ct 1 -D -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40004 --dport 80
want=$((want - 3))
wait_for "fw1's internal cache to see the updates and deletions" $T \
        'cache 1 internal > "$TMP/upd1" && test "$(wc -l < "$TMP/upd1")" -eq "$want" &&
         grep -q "sport=40002 dport=80 \[ASSURED\] mark=99" "$TMP/upd1" &&
         grep -q "ESTABLISHED src=10.1.0.1 dst=10.2.0.1 sport=40001 dport=80 \[ASSURED\]" "$TMP/upd1" &&
         grep -q "sport=40006 dport=443 mark=32" "$TMP/upd1"'
wait_converged update $T
grep -q -E 'sport=(5353|40004) |icmp' "$TMP/update.ext" && fail "a deleted flow is still in fw2's external cache"
info "updated and deleted: fw2 follows ($want flows)"

# --- resync: fw2 forgets its external cache and asks fw1 for everything --------------------------
if [ "$MODE" != alarm ]; then
        ctd 2 -f external
        wait_for "fw2's external cache to empty after -f external" $T \
                'test "$(cache 2 external | wc -l)" -eq 0'
        ctd 2 -n
        wait_converged resync $T
        [ "$HAVE_FTP" = 1 ] && wait_converged resync-expect $T expect
        info "resync (-n) after -f external: fw2 has everything again"
fi

# --- commit into fw2's kernel -------------------------------------------------------------------
ctd 2 -c
wait_same "fw2's kernel table after -c (vs fw1's)" $T "$TMP/k1" "$TMP/k2" "kernel 1" "kernel 2"
info "committed: conntrack -L -o extended equal on fw1 and fw2 ($(wc -l < "$TMP/k2") flows)"
if [ "$HAVE_FTP" = 1 ]; then
        wait_same "fw2's expectation table after -c (vs fw1's)" $T "$TMP/e1" "$TMP/e2" \
                "kernel 1 expect" "kernel 2 expect"
        info "committed: conntrack -L expect equal on fw1 and fw2"
fi

# --- FT-FW: the receiver's ACKs release everything from the sender's resend queue ----------------
if [ "$MODE" = ftfw ]; then
        wait_for "fw1's resend queue to hold no object (all acknowledged by fw2)" $T \
                'ctd 1 -s rsqueue > "$TMP/rsq" && grep -q "^resent queue (len=" "$TMP/rsq" &&
                 ! grep -q "^object -> " "$TMP/rsq"'
        info "FT-FW: fw2's ACKs emptied fw1's resend queue of objects"
fi

# --- counters: the 1.4.7 -s network layout, nothing malformed, nothing lost ---------------------
for s in 1 2; do
        ctd "$s" -s network > "$TMP/net$s" || fail "fw$s: -s network"
        bad=0
        for label in "Malformed messages" "Wrong protocol version" "Malformed header" \
                     "Malformed payload" "Bad message type" "Truncated message" "Bad message size"; do
                v=$(awk -v l="$label:" '/^\trecv:/ { r = 1 } /^\tsend:/ { r = 0 }
                        r && index($0, l) { gsub(/[^0-9]/, "", $NF); print $NF; exit }' "$TMP/net$s")
                [ -n "$v" ] || { cat "$TMP/net$s" >&2; fail "fw$s: -s network has no '$label'"; }
                bad=$((bad + v))
        done
        lost=$(awk '/Packets lost:/ { print $NF; exit }' "$TMP/net$s")
        [ -n "$lost" ] || { cat "$TMP/net$s" >&2; fail "fw$s: -s network has no 'Packets lost'"; }
        info "fw$s (${IMPL[$s]}): $bad bad messages received, $lost lost"
        [ "$bad" -eq 0 ] || { cat "$TMP/net$s" >&2; fail "fw$s received malformed/bad messages"; }
        [ "$lost" -eq 0 ] || { cat "$TMP/net$s" >&2; fail "fw$s counts lost messages on a lossless link"; }
done

stop_side 1
stop_side 2
echo "PASS: $MODE over $CHANNEL, fw1 ${IMPL[1]} -> fw2 ${IMPL[2]}"
