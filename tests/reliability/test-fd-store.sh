#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The caches across a restart through systemd's file descriptor store (issue 7): an FT-FW pair
# over UDP, fw1 with N flows (ct-gen) and the flows of make_flows (IPv4, IPv6, NAT), plus an FTP
# expectation where the kernel's ftp helper is there; fw2 run by fdstore.py, which plays systemd
# for it (NOTIFY_SOCKET, FDSTORE=1 fds kept, passed back with LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID)
# and holds its control socket as conntrackd.socket does (passed as "control", before the store:
# the daemon must tell the two apart).
#   (a) SIGTERM, start again: fw2's external cache is back, equal to what it had, as soon as the
#       daemon answers; its counters show the restored objects; it asked fw1 for nothing (no
#       StartupResync, no resync sent, fw1's bulk count unchanged); the store was dropped
#       (FDSTOREREMOVE=1)
#   (b) the stored memfd with one byte flipped: discarded with the warning, the daemon starts empty
#   (c) a foreign memfd under the store's name: discarded with the warning, the daemon starts
#   (d) FDSTORE=0 in the environment (a unit without a store): nothing is sent at the stop
source "$(dirname "$0")/lib-reliability.sh"

N=20000
T=30

need_ct_gen
command -v python3 >/dev/null || skip "python3 is not installed"
interop_setup ours ours
write_conf 1 ftfw udp
write_conf 2 ftfw udp   # no StartupResync: what fw2 holds after its restart comes from the store
gen 1 create $N 50 || fail "ct-gen could not make fw1's flows"
make_flows
start_ftp
start_side 1
wait_for "fw1 to dump its kernel table" $T 'test "$(tstat 1 general internal.active)" -ge $N'

SD=$TMP/sd
mkdir "$SD"
env -u NOTIFY_SOCKET -u WATCHDOG_USEC -u LISTEN_FDS -u LISTEN_FDNAMES -u LISTEN_PID \
        ip netns exec "${NSN[2]}" python3 "$RELIABILITY_DIR/fdstore.py" --dir "$SD" \
        --unix "control=${SOCK[2]}" -- "$CONNTRACKD" -C "${CONF[2]}" >>"${LOG[2]}" 2>&1 &
SM=$!
PIDS+=("$SM")

# run K: the pid of fw2's daemon at its Kth start under the harness; it must answer -s
run() {
        wait_for "fw2's start number $1 under the harness" $T \
                "test -n \"\$(sed -n '${1}p' '$SD/pids' 2>/dev/null)\""
        DPID[2]=$(sed -n "${1}p" "$SD/pids")
        PIDS+=("${DPID[2]}")
        wait_for "fw2's daemon (start $1) to answer" $T 'alive 2'
}
# event WORDS: the harness logged this event (the time stamp left out)
event() { cut -d' ' -f2- "$SD/events" | grep -q -x -- "$*"; }
# stop2: SIGTERM to fw2's daemon, as systemctl stop/restart does; it must exit 0
stop2() {
        kill -TERM "${DPID[2]}"
        wait_for "fw2's daemon to exit" $T "grep -q ' exit ${DPID[2]} ' '$SD/events'"
        event "exit ${DPID[2]} 0" || fail "fw2's daemon did not exit with 0 after SIGTERM"
}
# start2 K [corrupt|foreign]: after stop2, the store was handed over; the Kth start
start2() {
        local k=$1 what=${2:-}
        event "stored conntrackd-caches $(stored_size) sealed" \
                || fail "fw2 stopped without handing a sealed store over: $(tail -3 "$SD/events")"
        echo "$what" > "$SD/start.new"
        mv "$SD/start.new" "$SD/start"
        T0=$(now_ms)
        run "$k"
}
restart2() { stop2; start2 "$@"; }
stored_size() { awk '$2 == "stored" { s = $4 } END { print s }' "$SD/events"; }

run 1
# flows of fw2's own (its internal cache): what the store gives back of them is their age
for p in 1 2 3; do
        ct 2 -I -p tcp -s 10.7.0.$p -d 10.8.0.1 --sport 4000$p --dport 22 --state ESTABLISHED \
                -u SEEN_REPLY,ASSURED -t 900
done
T_OWN=$(now_ms)
ctd 2 -n >/dev/null || fail "-n on fw2 failed"
wait_converged first $T
[ "$HAVE_FTP" = 1 ] && wait_converged first-expect $T expect
[ "$(tstat 2 general store.restored_objects)" -eq 0 ] || fail "a first start restored something"

# --- (a) restart with the store ---
cache 2 external > "$TMP/a.before"
cache 2 external expect > "$TMP/a.before-expect"
held=$(wc -l < "$TMP/a.before")
bulks1=$(tstat 1 network network.bulks)
wait_for "fw2's own flows to be 3 s old" $T 'test $(( $(now_ms) - T_OWN )) -ge 3000'
stop2
ct 2 -D -p tcp -s 10.7.0.3 -d 10.8.0.1 --sport 40003 --dport 22    # ends while fw2 is down
start2 2
ms=$(( $(now_ms) - T0 ))
# no waiting: the caches are back before the daemon answers
cache 2 external > "$TMP/a.after"
same_or_diff "$TMP/a.before" "$TMP/a.after" "fw2 external before" "fw2 external after restart" \
        || { head -n 20 "$TMP/diff" >&2; fail "(a) fw2's external cache differs after restart"; }
cache 2 external expect > "$TMP/a.after-expect"
same_or_diff "$TMP/a.before-expect" "$TMP/a.after-expect" "before" "after" \
        || { cat "$TMP/diff" >&2; fail "(a) fw2's external expectations differ after the restart"; }
restored=$(tstat 2 general store.restored_objects)
saved=$(tstat 2 general store.saved_objects)
info "(a) fw2 restarted with $held flows, $(wc -l < "$TMP/a.after-expect") expectations from the" \
        "store ($restored restored of $saved saved, store $(stored_size) bytes), answering" \
        "$ms ms after its start"
[ "$held" -ge "$N" ] || fail "(a) fw2 held only $held flows before the restart"
[ "$restored" -ge "$held" ] || fail "(a) store.restored_objects is $restored, fw2 held $held"
[ "$saved" -ge "$restored" ] || fail "(a) store.saved_objects $saved < restored $restored"
[ "$(tstat 2 general store.rejected)" -eq 0 ] || fail "(a) the store was rejected"
grep -q 'Restored the caches from the store' "${LOG[2]}" || fail "(a) no log line of the restore"
info "(a) $(grep -o 'Handed the caches.*' "${LOG[2]}" | tail -1)"
info "(a) $(grep -o 'Restored the caches.*' "${LOG[2]}" | tail -1)"
event "removed conntrackd-caches" || fail "(a) fw2 did not tell the service manager to drop it"
event "start ${DPID[2]} 2" || fail "(a) fw2 was not given the control socket and the store"
grep -q 'Failed to read the sockets\|Failed to check the socket' "${LOG[2]}" \
        && fail "(a) the store's fd disturbed the socket activation"
# fw2's own flows: the kernel's two are there with the age they had, the one deleted is not
grep -q 'internal cache: 2 objects still in the kernel table had their age back, 1 ended' \
        "${LOG[2]}" || fail "(a) the internal part of the store was not matched to the kernel"
own=$(ctd 2 -i ct | grep -c 'src=10\.7\.0\.' || true)
[ "$own" -eq 2 ] || fail "(a) fw2's internal cache has $own of its 2 own flows"
ages=$(ctd 2 -i ct | grep 'src=10\.7\.0\.' | sed -n 's/.*\[active since \([0-9]*\)s\].*/\1/p')
[ "$(echo $ages | wc -w)" -eq 2 ] || fail "(a) no [active since] on fw2's own flows: $ages"
for a in $ages; do
        [ "$a" -ge 2 ] || fail "(a) an own flow of fw2 is $a s old after the restart, not its age"
done
[ "$(tstat 2 network network.resyncs_sent)" -eq 0 ] || fail "(a) the restarted fw2 asked a resync"
# in sync at once: the states are here without a bulk
insync2=$(busctl --address="unix:path=${SOCK[2]}" get-property org.netfilter.conntrackd1 \
        /org/netfilter/conntrackd1 org.netfilter.conntrackd1.Manager InSync)
[ "$insync2" = "b true" ] || fail "(a) fw2 is not InSync after restoring its caches: $insync2"
info "(a) fw2 InSync right after the restart, without a resync"
# fw1 gets fw2's HELLO: whatever it does then, it must not be a bulk
sleep_until=$(( $(now_ms) + 1500 ))
wait_for "fw2's HELLO handshake" $T 'hello_done 2'
while [ "$(now_ms)" -lt "$sleep_until" ]; do sleep 0.1; done
[ "$(tstat 1 network network.bulks)" -eq "$bulks1" ] \
        || fail "(a) fw1 sent a bulk to fw2 ($bulks1 -> $(tstat 1 network network.bulks))"
# and replication goes on
ct 1 -I -p udp -s 10.1.0.88 -d 10.2.0.88 --sport 6000 --dport 53 -t 900
wait_converged a-after $T

# --- (b) the store corrupted while held ---
restart2 3 corrupt
grep -q 'Discarding the cache store .*integrity check failed' "${LOG[2]}" \
        || { tail -5 "${LOG[2]}" >&2; fail "(b) no warning for the corrupted store"; }
[ "$(tstat 2 general store.rejected)" -eq 1 ] || fail "(b) store.rejected is not 1"
[ "$(tstat 2 general store.restored_objects)" -eq 0 ] || fail "(b) restored from a corrupt store"
[ "$(tstat 2 general external.active)" -eq 0 ] || fail "(b) the external cache is not empty"
[ "$(grep -c '^[0-9.]* removed conntrackd-caches$' "$SD/events")" -eq 2 ] \
        || fail "(b) the corrupt store was not dropped"
info "(b) one byte flipped: $(grep -o 'Discarding the cache store.*' "${LOG[2]}" | tail -1)"

# --- (c) a foreign memfd under the store's name ---
restart2 4 foreign
grep -q 'Discarding the cache store .*not a conntrackd cache store' "${LOG[2]}" \
        || { tail -5 "${LOG[2]}" >&2; fail "(c) no warning for the foreign memfd"; }
[ "$(tstat 2 general store.rejected)" -eq 1 ] || fail "(c) store.rejected is not 1"
[ "$(tstat 2 general external.active)" -eq 0 ] || fail "(c) the external cache is not empty"
info "(c) a foreign memfd: $(grep -o 'Discarding the cache store.*' "${LOG[2]}" | tail -1)"
# and fw2 works: a bulk on request fills it
ctd 2 -n >/dev/null || fail "-n on fw2 failed"
wait_converged c-after $T

# --- (d) a unit without a store (FDSTORE=0): nothing is handed over at the stop ---
restart2 5 nostore
stored=$(grep -c ' stored ' "$SD/events")
touch "$SD/quit"
stop2
[ "$(grep -c ' stored ' "$SD/events")" -eq "$stored" ] || fail "(d) a store was sent with FDSTORE=0"
wait_for "the harness to exit" $T "! kill -0 $SM"
stop_side 1
info "PASS"
