#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The authenticated sync link (Sync { AuthKeyFile }), two of our daemons in two namespaces, FT-FW
# over UDP. Checks, each within a deadline:
#   - good key: flows made in fw1 reach fw2's external cache; every unit is sealed and accepted
#   - strangers: a plain 1.4.x-looking datagram, a unit sealed with a wrong key, one with a key id
#     fw2 does not have: dropped and counted, nothing reaches the cache
#   - a unit sealed with the right key by this script (hashlib's BLAKE2b, so the test's sealer is
#     known to be right) is accepted once; the same datagram replayed is refused and counted
#   - rotation: key 2 added second on fw2, then first on fw1 (fw1 sends with 2, fw2 takes it),
#     then key 1 removed on fw2; replication goes on at each step
#   - a key file open to others makes the reload fail, and the running keys stay
#   - fw1 left with only key 1, which fw2 dropped: its units are refused (unknown key)
source "$(dirname "$0")/../interop/lib-interop.sh"

T=10
KEY1=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY2=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
WRONG=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

interop_setup ours ours
command -v python3 >/dev/null || skip "python3 is not installed"

# keys SIDE "ID HEX"...: write SIDE's key file, mode 0600
keys() {
        local s=$1; shift
        : > "$TMP/fw$s.key"
        chmod 600 "$TMP/fw$s.key"
        printf '%s\n' "# fw$s sync keys" "$@" > "$TMP/fw$s.key"
}

# statn SIDE KEY: a counter of GetStatistics("network")
statn() {
        ns "$1" "$CONNTRACKCTL" -C "${CONF[$1]}" --no-legend stats network \
                | awk -v k="$2" '$1 == k { print $2 }'
}

reload() {
        ns "$1" "$CONNTRACKCTL" -C "${CONF[$1]}" reload
}

for s in 1 2; do
        write_conf "$s" ftfw udp
        sed -i "s|^Sync {|Sync {\n        AuthKeyFile $TMP/fw$s.key|" "${CONF[$s]}"
        keys "$s" "1 $KEY1"
        start_side "$s"
done
grep -q "AuthKeyFile" "${CONF[1]}" || fail "the test did not set AuthKeyFile"

# --- good key ---
make_flows
wait_converged good-key $T
test "$(statn 1 network.auth_sealed)" -gt 0 || fail "fw1 sealed nothing"
test "$(statn 2 network.auth_accepted)" -gt 0 || fail "fw2 accepted nothing"
test "$(statn 2 network.auth_bad_mac)" -eq 0 || fail "fw2 refused units of its peer"
info "good key: $(cache 2 external | wc -l) flows replicated, sealed and accepted"

# --- strangers and replay, sent from fw1's namespace to fw2's sync port ---
before=$(cache 2 external | wc -l)
# a CT NEW body (10.77.0.1 -> 10.77.0.2 tcp 1234 -> 80), seq 0x7fffffff, as 1.4.x encodes it
ns 1 python3 - "$KEY1" "$WRONG" "$TMP/replay.bin" <<'PY' || fail "the forger failed"
import hashlib, socket, struct, sys, time
key1, wrong, replay_path = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3]
def attr(t, v):
    a = struct.pack(">HH", 4 + len(v), t) + v
    return a + b"\0" * (-len(a) % 4)
body = (attr(0, bytes([10, 77, 0, 1]) + bytes([10, 77, 0, 2]))     # NTA_IPV4
        + attr(1, bytes([6]))                                      # NTA_L4PROTO
        + attr(2, struct.pack(">HH", 1234, 80))                    # NTA_PORT
        + attr(3, struct.pack(">I", 0x8e)))                        # NTA_STATUS
msg = struct.pack(">BBHI", 0x10, 0, 8 + len(body), 0x7fffffff) + body
def seal(key, key_id, sender, counter, payload):
    total = 32 + len(payload) + 16
    head = struct.pack(">BBHB3sQQQ", 0xa5, 1, total, key_id, b"\0\0\0", sender,
                       time.time_ns() // 1000, counter)
    unit = head + payload
    return unit + hashlib.blake2b(unit, digest_size=16, key=key).digest()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
to = ("192.168.100.2", 3780)
s.sendto(msg, to)                                                  # not sealed
s.sendto(seal(wrong, 1, 0x5eed, 1, msg), to)                       # wrong secret, key id 1
s.sendto(seal(key1, 9, 0x5eed, 1, msg), to)                        # a key id fw2 lacks
good = seal(key1, 1, 0x5eed, 1, struct.pack(">BBHIII", 0x1a, 0x08, 16, 1, 0, 0))  # an ACK
s.sendto(good, to)
open(replay_path, "wb").write(good)
PY
wait_for "fw2 to count the three strangers" $T \
        'test "$(statn 2 network.auth_malformed)" -ge 1 && test "$(statn 2 network.auth_bad_mac)" -ge 1 && test "$(statn 2 network.auth_unknown_key)" -ge 1'
test "$(cache 2 external | grep -c 'src=10.77.0.1')" -eq 0 || fail "a forged state reached fw2's cache"
accepted=$(statn 2 network.auth_accepted)
ns 1 python3 -c '
import socket, sys
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(open(sys.argv[1], "rb").read(), ("192.168.100.2", 3780))' \
        "$TMP/replay.bin"
wait_for "fw2 to refuse the replayed unit" $T 'test "$(statn 2 network.auth_replayed)" -ge 1'
test "$(cache 2 external | wc -l)" -eq "$before" || fail "fw2's external cache changed after the strangers"
info "strangers: malformed $(statn 2 network.auth_malformed), bad MAC $(statn 2 network.auth_bad_mac), unknown key $(statn 2 network.auth_unknown_key), replayed $(statn 2 network.auth_replayed); accepted $accepted"

# --- rotation ---
keys 2 "1 $KEY1" "2 $KEY2"
reload 2 || fail "fw2's reload with two keys failed"
keys 1 "2 $KEY2" "1 $KEY1"
reload 1 || fail "fw1's reload with key 2 first failed"
test "$(statn 1 network.auth_send_key_id)" -eq 2 || fail "fw1 does not send with key 2"
ct 1 -I -p tcp -s 10.1.0.9 -d 10.2.0.9 --sport 41001 --dport 22 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 900
wait_converged rotation-1 $T
keys 2 "2 $KEY2"
reload 2 || fail "fw2's reload with key 2 only failed"
ct 1 -I -p tcp -s 10.1.0.9 -d 10.2.0.9 --sport 41002 --dport 22 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 900
wait_converged rotation-2 $T
info "rotation: key 2 added, used, key 1 removed; replication went on"

# --- a key file open to others: the reload fails, the running keys stay ---
chmod 644 "$TMP/fw2.key"
if reload 2 2>"$TMP/reload.err"; then fail "fw2 took a world-readable key file"; fi
chmod 600 "$TMP/fw2.key"
ct 1 -I -p tcp -s 10.1.0.9 -d 10.2.0.9 --sport 41003 --dport 22 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 900
wait_converged bad-file $T
info "a key file open to others: reload refused ($(head -c 120 "$TMP/reload.err")), keys kept"

# --- fw1 back to key 1 only, which fw2 no longer has ---
unknown=$(statn 2 network.auth_unknown_key)
keys 1 "1 $KEY1"
reload 1 || fail "fw1's reload with key 1 failed"
ct 1 -I -p tcp -s 10.1.0.9 -d 10.2.0.9 --sport 41004 --dport 22 --state ESTABLISHED -u SEEN_REPLY,ASSURED -t 900
wait_for "fw2 to refuse units under a key it dropped" $T \
        'test "$(statn 2 network.auth_unknown_key)" -gt "$unknown"'
test "$(cache 2 external | grep -c 'sport=41004')" -eq 0 || fail "a unit under a dropped key went through"
info "a dropped key: refused"

stop_side 1
stop_side 2
info "PASS"
