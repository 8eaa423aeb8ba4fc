#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crashes and restarts of either side of an FT-FW pair over UDP (fw1 primary, fw2 backup):
#   (a) kill -9 of the backup in the middle of a bulk of 50000 flows (its -n); started again with
#       StartupResync on, it ends with exactly fw1's internal cache
#   (b) kill -9 of the primary during load (flows created, updated and deleted): the backup keeps
#       every flow it had (nothing purged, nothing changed, for a few seconds); the primary,
#       started again, dumps its kernel table, and after its -B the pair converges
#   (c) the backup's sync socket held by a socket activator (activator.py: the socket passed as
#       fd 3, FileDescriptorName "sync"): the backup stops, fw1 replicates new flows meanwhile
#       (queued in the held socket), the backup starts again on the same socket and has them all
#       within seconds, without -n, without NACK and without fw1 resending anything
# Each step within a deadline; the flows are made with ct-gen.
source "$(dirname "$0")/lib-reliability.sh"

BULK=50000
T=30

need_ct_gen
command -v python3 >/dev/null || skip "python3 is not installed"
interop_setup ours ours
write_conf 1 ftfw udp
write_conf 2 ftfw udp "StartupResync on"
gen 1 create $BULK 40 || fail "ct-gen could not make fw1's flows"
make_flows
start_side 1
start_side 2
wait_for "fw1 to dump its kernel table" $T \
        'test "$(tstat 1 general internal.active)" -ge $BULK'
wait_converged start $T
info "start: fw2 has fw1's $(wc -l < "$TMP/start.int") flows (StartupResync)"

# kill9 SIDE: kill -9 SIDE's daemon and reap it; its lock file and control socket stay behind
kill9() {
        kill -9 "${DPID[$1]}"
        wait "${DPID[$1]}" 2>/dev/null || true
        ! kill -0 "${DPID[$1]}" 2>/dev/null || fail "fw$1's daemon survived kill -9"
}

# --- (a) the backup killed during a bulk ---
ns 2 "$CONNTRACKCTL" -C "${CONF[2]}" flush external ct || fail "could not flush fw2's external cache"
wait_for "fw2's external cache to be empty" $T 'test "$(tstat 2 general external.active)" -eq 0'
# fw1's side of the link slowed down to 20 Mbit/s (nothing dropped): the bulk takes seconds
ns 1 tc qdisc add dev sync0 root tbf rate 20mbit burst 32kb limit 32mb \
        || skip "tc cannot slow the sync link down (tbf)"
ctd 2 -n >/dev/null || fail "-n on fw2 failed"
wait_for "the bulk to reach fw2" $T 'test "$(tstat 2 general external.active)" -ge 1000'
got=$(tstat 2 general external.active)
kill9 2
ns 1 tc qdisc del dev sync0 root
info "(a) fw2 killed with $got of $BULK+ flows received"
[ "$got" -lt "$BULK" ] || info "(a) note: the bulk was complete before the kill"
start_side 2
t0=$(now_ms)
wait_converged a-restarted $T
info "(a) fw2, started again with StartupResync, is complete ($(wc -l < "$TMP/a-restarted.ext")" \
        "flows) $(( $(now_ms) - t0 )) ms after its start"

# --- (b) the primary killed during load ---
(
        k=0
        while [ ! -e "$TMP/stop-load" ]; do
                gen 1 create 2000 $(( 41 + k % 4 )) || true
                gen 1 delete 1000 $(( 41 + (k + 2) % 4 )) || true
                k=$(( k + 1 ))
        done
) &
LOAD=$!
PIDS+=("$LOAD")
wait_for "the load to reach fw2" $T 'test "$(cache 2 external | grep -c "src=10\.4[1-4]\.")" -gt 0'
kill9 1
touch "$TMP/stop-load"
wait "$LOAD" || true
cache 2 external > "$TMP/b-before"
info "(b) fw1 killed during load; fw2 holds $(wc -l < "$TMP/b-before") flows"
deadline=$(( $(now_ms) + 3000 ))
while [ "$(now_ms)" -lt "$deadline" ]; do
        alive 2 || fail "(b) fw2's daemon is gone after its peer's crash"
        cache 2 external > "$TMP/b-now"
        same_or_diff "$TMP/b-before" "$TMP/b-now" "fw2 external at fw1's crash" "fw2 external now" \
                || { head -n 20 "$TMP/diff" >&2; fail "(b) fw2's external cache changed without its peer"; }
        sleep 0.2
done
info "(b) fw2's external cache unchanged for 3 s without its peer"
start_side 1
wait_kernel_cache 1 $T
ctd 1 -B >/dev/null || fail "-B on fw1 failed"
t0=$(now_ms)
wait_converged b-restarted $T
info "(b) fw1 started again, dumped $(wc -l < "$TMP/int1") flows; after its -B the pair converged" \
        "in $(( $(now_ms) - t0 )) ms"

# --- (c) the backup's sync socket held across its restart ---
stop_side 2
write_conf 2 ftfw udp   # no StartupResync: what the restarted fw2 gets must come from the socket
mkdir "$TMP/act"
env -u NOTIFY_SOCKET -u WATCHDOG_USEC ip netns exec "${NSN[2]}" python3 "$RELIABILITY_DIR/activator.py" \
        --udp "192.168.100.2:$SYNC_PORT" --fdname sync --dir "$TMP/act" \
        -- "$CONNTRACKD" -C "${CONF[2]}" >>"${LOG[2]}" 2>&1 &
ACT=$!
PIDS+=("$ACT")
# activated_pid N: the pid of the daemon's Nth start under the activator
activated_pid() { sed -n "${1}p" "$TMP/act/pids" 2>/dev/null; }
wait_for "the activator's first start of fw2's daemon" $T 'test -n "$(activated_pid 1)"'
DPID[2]=$(activated_pid 1)
PIDS+=("${DPID[2]}")
wait_for "fw2's daemon (activated) to answer" $T 'alive 2'
ctd 2 -n >/dev/null || fail "-n on fw2 failed"
wait_converged c-activated $T
grep -q -i 'activat\|passed' "${LOG[2]}" && info "(c) fw2's log: $(grep -i 'activat\|passed' "${LOG[2]}" | tail -1)"
wait_for "the FT-FW HELLO handshake with the activated fw2" $T 'hello_done 1 && hello_done 2'
# everything fw1 sent so far is acknowledged
wait_for "fw1's resend queue to empty" $T '! ctd 1 -s rsqueue | grep -q "^object -> "'

ctd 2 -k >/dev/null || true
wait_for "fw2's daemon to exit" $T "! kill -0 ${DPID[2]}"
resent0=$(tstat 1 network network.resent)
gen 1 create 300 46 || fail "ct-gen could not create flows while fw2 was down"
ct 1 -I -p udp -s 10.1.0.77 -d 10.2.0.77 --sport 5000 --dport 53 -t 900
wait_for "fw1 to send the new flows" $T \
        'test "$(ctd 1 -s rsqueue | grep -c "^object -> ")" -ge 300'
info "(c) fw2 down; fw1 sent $(ctd 1 -s rsqueue | grep -c "^object -> ") objects to its held socket"
touch "$TMP/act/start"
wait_for "the activator's second start of fw2's daemon" $T 'test -n "$(activated_pid 2)"'
DPID[2]=$(activated_pid 2)
PIDS+=("${DPID[2]}")
t0=$(now_ms)
wait_for "fw2 (restarted on the held socket) to have the flows sent while it was down" 5 \
        'test "$(cache 2 external | grep -c -E "src=10\.46\.|src=10\.1\.0\.77 ")" -eq 301'
info "(c) fw2 started again on the held socket: the 301 flows sent while it was down arrived" \
        "$(( $(now_ms) - t0 )) ms after its start, fw2 sent $(tstat 2 network network.nacks_sent) NACKs," \
        "fw1 resent $(( $(tstat 1 network network.resent) - resent0 ))"
[ "$(tstat 2 network network.nacks_sent)" -eq 0 ] || fail "(c) fw2 had to NACK: datagrams were lost"
[ "$(( $(tstat 1 network network.resent) - resent0 ))" -eq 0 ] || fail "(c) fw1 had to resend"
[ "$(tstat 2 network network.resyncs_sent)" -eq 0 ] || fail "(c) the restarted fw2 asked for a resync"
ctd 2 -n >/dev/null
wait_converged c-complete $T

touch "$TMP/act/quit"
ctd 2 -k >/dev/null || true
wait_for "fw2's daemon to exit" $T "! kill -0 ${DPID[2]}"
wait_for "the activator to exit" $T "! kill -0 $ACT"
stop_side 1
info "PASS"
