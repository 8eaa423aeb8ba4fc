#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hostile sync traffic: a fault-injecting sender of ours (hostile.py), in fw1's namespace, sends to
# fw2's sync port while fw1's daemon replicates a changing flow table to fw2 (FT-FW over UDP):
#   replayed genuine datagrams (sniffed on the link), in order, reversed and shuffled; random
#   bytes; truncated, oversized (up to 65507 bytes) and bit-flipped copies of the 1.4.7 captures
#   (tests/data/wire); valid-looking messages with one thing wrong each; a "newer version" peer;
#   a flood of NACK and RESYNC control messages.
# Checks:
#   - replays change nothing (no deleted flow comes back) and are counted ("Packets before")
#   - fw2's daemon stays up and answers -s throughout; its network counters show the drops of
#     every kind (malformed, wrong version, malformed header and payload, truncated, bad size)
#   - the RESYNC flood costs fw2 at most one bulk per second (src/daemon/sync.c)
#   - once the injection stops, fw1's internal cache equals its kernel table, and after one -n
#     from fw2, fw2's external cache holds exactly fw1's internal cache for fw1's flows (what the
#     injected messages that were valid added on the unauthenticated link is listed, not fw1's)
#   - replication goes on afterwards without another -n
#   test-hostile-input.sh [ours|debian]   (fw2's implementation; fw1 is ours)
# With 'ours' (the default), Debian's conntrackd is then run as fw2 too, as a reference: its
# results are printed, they do not decide the outcome.
source "$(dirname "$0")/lib-reliability.sh"

IMPL_B=${1:-ours}
SEED=${HOSTILE_SEED:-$(( $(date +%s) % 100000 ))}
HOSTILE=$RELIABILITY_DIR/hostile.py
T=15

command -v python3 >/dev/null || skip "python3 is not installed"
need_ct_gen
interop_setup ours "$IMPL_B"
interop_start ftfw udp
info "seed $SEED (HOSTILE_SEED=$SEED reproduces the injection)"

# fw1's flows: src 10.1.0.0/24 and fd00:1:: (make_flows), 10.20.0.0/14 (ct-gen bases 20..27).
# The captures' addresses (127/8, 172.16/12, 192.168/16, 1.1.1.1 ...) are 3 or more bit flips away
# from these in the first byte, and the injector flips 2 bits at most: no mutated capture can
# describe a flow of fw1's.
MINE='^(10\.1\.0\.|10\.2[0-7]\.|fd00:1::)'
mine() { MINE=$MINE awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^src=/) {
        if (substr($i, 5) ~ ENVIRON["MINE"]) print; break } }'; }
not_mine() { MINE=$MINE awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^src=/) {
        if (substr($i, 5) !~ ENVIRON["MINE"]) print; break } }'; }

# converged_mine NAME: fw2's external cache, fw1's flows only, equals fw1's internal cache
converged_mine() {
        cache 1 internal > "$TMP/$1.int" || return 1
        cache 2 external | mine > "$TMP/$1.ext" || return 1
        same_or_diff "$TMP/$1.int" "$TMP/$1.ext" "fw1 internal" "fw2 external (fw1's flows)"
}
wait_converged_mine() {
        local deadline=$(( $(date +%s%N) + $2 * 1000000000 ))
        until converged_mine "$1"; do
                if [ "$(date +%s%N)" -ge "$deadline" ]; then
                        echo "# fw1 internal vs fw2 external (fw1's flows), $1, after $2 s:" >&2
                        head -n 40 "$TMP/diff" >&2
                        fail "$1: fw2's external cache does not hold exactly fw1's flows"
                fi
                sleep 0.1
        done
}

# inject PHASE [ARGS...]: one phase of the injector, from fw1's namespace; its sequence numbers
# go on from the previous phase's
NEXT_SEQ=
inject() {
        local phase=$1 out; shift
        out=$(ns 1 python3 "$HOSTILE" inject --to "192.168.100.2:$SYNC_PORT" --phase "$phase" \
                --seed "$SEED" --wire "$TOP_SRCDIR/tests/data/wire" ${NEXT_SEQ:+--seq "$NEXT_SEQ"} \
                "$@") || fail "the injector failed in phase $phase"
        info "injected: $out"
        NEXT_SEQ=$(sed -n 's/.* next_seq=\([0-9]*\).*/\1/p' <<<"$out")
        alive 2 || fail "fw2's daemon (${IMPL[2]}) is gone or does not answer after phase $phase"
}

# fw2 has flows of its own, so that a bulk it is made to send costs it something
gen 2 create 2000 77 || fail "ct-gen could not make fw2's flows"
make_flows
gen 1 create 3000 20 || fail "ct-gen could not make fw1's flows"
wait_for "the end of the FT-FW HELLO handshake on both sides" 10 'hello_done 1 && hello_done 2'
wait_converged_mine start $T
info "fw1 replicates $(wc -l < "$TMP/start.int") flows to fw2"
cache 1 internal | not_mine | grep -q . && fail "fw1 has flows outside the test's address space"

# --- genuine traffic, sniffed on fw2's side of the link: new flows, then their deletion ---
ns 2 python3 "$HOSTILE" sniff --iface sync0 --src 192.168.100.1 --port "$SYNC_PORT" \
        --out "$TMP/genuine.hex" > "$TMP/sniff.out" 2>&1 &
SNIFF=$!
PIDS+=("$SNIFF")
wait_for "the sniffer" 10 'grep -q ready "$TMP/sniff.out"'
gen 1 create 400 21 || fail "ct-gen create (base 21)"
wait_converged_mine genuine-new $T
gen 1 delete 400 21 || fail "ct-gen delete (base 21)"
gen 1 delete 300 20 || fail "ct-gen delete (base 20)"
wait_converged_mine genuine-del $T
kill "$SNIFF"
wait "$SNIFF" 2>/dev/null || true
genuine=$(wc -l < "$TMP/genuine.hex")
[ "$genuine" -ge 5 ] || fail "the sniffer caught only $genuine of fw1's datagrams"

# --- replays: dropped as old, nothing deleted comes back ---
before0=$(stat_value 2 network -- "Packets before")
inject replay --genuine "$TMP/genuine.hex"
wait_for "fw2 to count the replayed datagrams as old" $T \
        'test $(( $(stat_value 2 network -- "Packets before") - before0 )) -ge "$genuine"'
converged_mine replay || { head -n 40 "$TMP/diff" >&2; fail "replayed datagrams changed fw2's cache"; }
info "replay: ${genuine} genuine datagrams sent 3 times, fw2 counts" \
        "$(( $(stat_value 2 network -- "Packets before") - before0 )) old messages, cache unchanged"

# --- the rest while fw1 goes on replicating a changing table ---
(
        k=0
        while [ ! -e "$TMP/stop-load" ]; do
                b=$(( 22 + k % 6 ))
                gen 1 create 300 "$b" || true
                gen 1 delete 150 "$b" || true
                k=$(( k + 1 ))
        done
) &
LOAD=$!
PIDS+=("$LOAD")
inject random --count 400
inject truncated --count 400
inject oversized
inject bitflip --count 1500
inject crafted
inject newer --count 300
bulks0=$(tstat 2 network network.bulks)
resyncs0=$(tstat 2 network network.resyncs_recv)
t0=$(now_ms)
inject control --count 1500 --seconds 3
elapsed=$(( $(now_ms) - t0 ))
touch "$TMP/stop-load"
wait "$LOAD" || true

alive 2 || fail "fw2's daemon (${IMPL[2]}) did not survive the injection"
info "fw2 (${IMPL[2]}) -s network after the injection:"
ctd 2 -s network | sed -n '1,/^$/p;/^sequence/,/^$/p' | sed 's/^/#   /'

errors=0
check() {       # check WHAT CONDITION: count a failed condition, fail at the end
        if ! eval "$2"; then
                echo "FAIL: $1" >&2
                errors=$(( errors + 1 ))
        fi
}
for label in "Malformed messages" "Wrong protocol version" "Malformed header" \
             "Malformed payload" "Truncated message" "Bad message size"; do
        check "fw2 counts no '$label' after the injection" \
                "test \"\$(stat_value 2 network -- '$label')\" -gt 0"
done
if [ "${IMPL[2]}" = ours ]; then
        bulks=$(( $(tstat 2 network network.bulks) - bulks0 ))
        resyncs=$(( $(tstat 2 network network.resyncs_recv) - resyncs0 ))
        info "RESYNC flood: fw2 took $resyncs requests in $elapsed ms and sent $bulks bulks"
        check "fw2 took none of the RESYNC flood (the flood did not test the bound)" \
                "test $resyncs -ge 100"
        check "fw2 sent $bulks bulks for a flood of $elapsed ms (one a second at most)" \
                "test $bulks -le $(( elapsed / 1000 + 2 ))"
fi
[ "$errors" -eq 0 ] || fail "$errors check(s) failed"

# --- after the injection: fw1 consistent with its kernel, fw2 complete after one -n ---
wait_kernel_cache 1 $T
ctd 2 -n >/dev/null || fail "-n on fw2 failed"
wait_converged_mine after-resync $T
extra=$(cache 2 external | not_mine | wc -l)
info "after one -n: fw2 holds exactly fw1's $(wc -l < "$TMP/after-resync.int") flows, plus" \
        "$extra flows that valid injected messages described (the link is not authenticated)"
cache 2 external | not_mine | awk 'NR <= 3' | sed 's/^/#   e.g. /'

# --- replication goes on ---
gen 1 create 500 27 || true
gen 1 delete 150 22 || true
wait_kernel_cache 1 $T
wait_converged_mine still-replicating $T
alive 2 || fail "fw2's daemon is gone"
stop_side 1
stop_side 2
info "PASS: fw2 (${IMPL[2]}) survived hostile sync traffic, its cache intact (seed $SEED)"

# CTD_NO_REFERENCE (set by tools/run-tests for the sanitizer pass): no reference run
if [ "$IMPL_B" = ours ] && [ -z "${HOSTILE_REFERENCE:-}" ] && [ -z "${CTD_NO_REFERENCE:-}" ] &&
   [ -x "$DEBIAN_CONNTRACKD" ]; then
        info "reference: the same injection against Debian's conntrackd as fw2 (not judged)"
        HOSTILE_REFERENCE=1 HOSTILE_SEED=$SEED timeout 120 bash "$0" debian 2>&1 \
                | sed 's/^/#   debian: /' || true
fi
exit 0
