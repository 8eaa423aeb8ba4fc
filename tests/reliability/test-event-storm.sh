#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An event storm on the primary: fw1's daemon has a small kernel event buffer (NetlinkBufferSize
# 65536, no growth beyond it, NetlinkOverrunResync 2) while ct-gen creates and destroys 50000 flows
# at a time in fw1's kernel for about 5 s (hundreds of thousands of events). FT-FW over UDP to fw2.
# Checks, each within a deadline:
#   - overruns happen and are counted (-s runtime, typed key netlink.overruns)
#   - a resync with the kernel follows (netlink.overrun_resyncs, and the log says so); the D-Bus
#     Overrun signal, seen by `conntrackctl monitor --json`, is reported (not judged)
#   - once the storm stops, fw1's internal cache equals its kernel table and fw2's external cache
#     equals fw1's internal cache (a few resync periods)
source "$(dirname "$0")/lib-reliability.sh"

STORM_SECONDS=${STORM_SECONDS:-5}
FLOWS=50000
T=30

need_ct_gen
interop_setup ours ours
write_conf 1 ftfw udp
sed -i -e 's/^\(\s*NetlinkBufferSize\) .*/\1 65536/' \
       -e 's/^\(\s*NetlinkBufferSizeMaxGrowth\) .*/\1 65536\n        NetlinkOverrunResync 2/' \
       "${CONF[1]}"
grep -q 'NetlinkOverrunResync 2' "${CONF[1]}" || fail "the test could not set NetlinkOverrunResync"
write_conf 2 ftfw udp
start_side 1
start_side 2

ns 1 "$CONNTRACKCTL" -C "${CONF[1]}" monitor --json > "$TMP/monitor.json" 2>&1 &
PIDS+=($!)
make_flows
wait_converged before-storm $T

# the storm: create and delete 50000 flows at a time, alternating two flow sets
t0=$(now_ms)
rounds=0
while [ $(( $(now_ms) - t0 )) -lt $(( STORM_SECONDS * 1000 )) ]; do
        b=$(( 30 + rounds % 2 ))
        gen 1 create $FLOWS $b || true
        gen 1 delete $FLOWS $(( 31 - rounds % 2 )) || true
        rounds=$(( rounds + 1 ))
done
# what stays: the last set, half of it deleted again, and a set of new flows
gen 1 delete $(( FLOWS / 2 )) $(( 30 + (rounds - 1) % 2 )) || true
gen 1 create 5000 32 || fail "ct-gen could not create the last flows"
storm_ms=$(( $(now_ms) - t0 ))
created=$(grep -c '^create' "$TMP/gen.log" || true)
info "storm: $rounds rounds of create/delete $FLOWS in $storm_ms ms ($(( rounds * FLOWS * 2 )) flow" \
        "events at least), $(ns 1 conntrack -C) flows left in fw1's kernel"

overruns=$(tstat 1 runtime netlink.overruns)
info "fw1: $overruns netlink overruns, buffer $(tstat 1 runtime netlink.buffer_size) bytes"
[ "$overruns" -gt 0 ] || fail "no netlink overrun in fw1 with a 64 KiB buffer under the storm"
[ "$(stat_value 1 runtime -- "netlink overrun")" -gt 0 ] \
        || fail "-s runtime shows no netlink overrun (typed counter: $overruns)"
wait_for "fw1 to resync with its kernel after the overruns" $T \
        'test "$(tstat 1 runtime netlink.overrun_resyncs)" -gt 0'
grep -q 'Resyncing with the kernel after netlink overruns' "${LOG[1]}" \
        || fail "fw1's log does not tell of the resync after the overruns"

t1=$(now_ms)
wait_kernel_cache 1 $T
want=$(wc -l < "$TMP/int1")
info "fw1's internal cache equals its kernel table ($want flows) $(( $(now_ms) - t1 )) ms after the storm"
[ "$want" -ge 5000 ] || fail "only $want flows in fw1's internal cache"
wait_converged after-storm $T
info "fw2's external cache equals fw1's internal cache $(( $(now_ms) - t1 )) ms after the storm;" \
        "fw1: $(tstat 1 runtime netlink.overruns) overruns, $(tstat 1 runtime netlink.overrun_resyncs)" \
        "overrun resyncs, $(tstat 1 network network.bulks) bulks"

if grep -q '"Overrun"' "$TMP/monitor.json"; then
        info "D-Bus: $(grep -c '"Overrun"' "$TMP/monitor.json") Overrun signals, e.g." \
                "$(grep -m1 '"Overrun"' "$TMP/monitor.json" | cut -c1-200)"
else
        info "D-Bus: no Overrun signal seen by conntrackctl monitor ($(head -c 200 "$TMP/monitor.json"))"
fi
stop_side 1
stop_side 2
info "PASS"
