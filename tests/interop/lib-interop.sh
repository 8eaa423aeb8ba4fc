# SPDX-License-Identifier: GPL-2.0-or-later
# Interop harness: two firewalls fw1 and fw2 (network namespaces named with the test's pid) joined
# by a veth sync link, each running a conntrackd of a chosen implementation:
#   debian  Debian's conntrack-tools 1.4.7 (/usr/sbin/conntrackd, or $DEBIAN_CONNTRACKD)
#   ours    this project's daemon ($CONNTRACKD, set by meson)
# Both sides get the same conntrackd.conf (mirrored addresses), talk the 1.4.x wire protocol and are
# driven with the 1.4.7 command line (-s, -i, -e, -c ...) of their own implementation.
#
# Sync link: sync0 in both namespaces, 192.168.100.1/24 + fd00:100::1/64 on fw1, .2 / ::2 on fw2.
# Flows under test live in fw1's kernel table and are made with Debian's conntrack(8) 1.4.7.

# lib.sh insists on these two; the interop tests only need the daemon, and only for 'ours'
: "${CONNTRACKD:=none}" "${CONNTRACKCTL:=none}"
export CONNTRACKD CONNTRACKCTL
# shellcheck source=../integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

DEBIAN_CONNTRACKD=${DEBIAN_CONNTRACKD:-/usr/sbin/conntrackd}
SYNC_PORT=3780
MCAST_GROUP=225.0.0.50
HAVE_FTP=0

declare -A NSN BIN CONF SOCK LOG IMPL DPID

# a failure shows what the daemons said: the temp dir goes away with the cleanup
fail() {
        local s
        echo "FAIL: $*" >&2
        for s in 1 2; do
                [ -n "${LOG[$s]:-}" ] && [ -s "${LOG[$s]}" ] || continue
                echo "--- fw$s (${IMPL[$s]}) daemon log, last 30 lines:" >&2
                tail -n 30 "${LOG[$s]}" >&2 || true
                [ -n "${DPID[$s]:-}" ] && kill -0 "${DPID[$s]}" 2>/dev/null || continue
                echo "--- fw$s (${IMPL[$s]}): -s network, -s rsqueue (head), -s queue:" >&2
                timeout 5 ip netns exec "${NSN[$s]}" "${BIN[$s]}" -C "${CONF[$s]}" -s network >&2 || true
                timeout 5 ip netns exec "${NSN[$s]}" "${BIN[$s]}" -C "${CONF[$s]}" -s rsqueue \
                        | head -n 10 >&2 || true
                timeout 5 ip netns exec "${NSN[$s]}" "${BIN[$s]}" -C "${CONF[$s]}" -s queue >&2 || true
        done
        exit 1
}

# set_impl SIDE IMPL: SIDE runs IMPL; skips the test if Debian's daemon is absent
set_impl() {
        local s=$1
        IMPL[$s]=$2
        case "$2" in
        debian)
                [ -x "$DEBIAN_CONNTRACKD" ] \
                        || skip "Debian's conntrackd is not installed ($DEBIAN_CONNTRACKD; tools/install-deps)"
                BIN[$s]=$DEBIAN_CONNTRACKD ;;
        ours)
                [ -x "$CONNTRACKD" ] \
                        || fail "IMPL ours needs \$CONNTRACKD (the built daemon); run through meson test"
                BIN[$s]=$CONNTRACKD ;;
        *)
                fail "unknown implementation '$2' (debian|ours)" ;;
        esac
}

# ns SIDE CMD...: run CMD in fw1 or fw2
ns() { local s=$1; shift; ip netns exec "${NSN[$s]}" "$@"; }

# ctd SIDE ARGS...: the 1.4.7 client of SIDE's own implementation, run inside SIDE's namespace (it
# parses the whole config file, including the Interface names); its warnings go to the side's log
ctd() { local s=$1; shift; ns "$s" "${BIN[$s]}" -C "${CONF[$s]}" "$@" 2>>"${LOG[$s]}.client"; }

# interop_setup IMPL_A IMPL_B: namespaces, sync link, tools; fw1 runs IMPL_A, fw2 runs IMPL_B
interop_setup() {
        need_root
        command -v conntrack >/dev/null || skip "conntrack(8) is not installed (package conntrack)"
        command -v nft >/dev/null || skip "nft(8) is not installed (package nftables)"
        set_impl 1 "$1"
        set_impl 2 "$2"
        local s
        for s in 1 2; do
                new_netns "ctd-fw$s"
                NSN[$s]=$NS
                CONF[$s]=$TMP/fw$s.conf
                SOCK[$s]=$TMP/fw$s.sock
                LOG[$s]=$TMP/fw$s.log
                : > "${LOG[$s]}"
        done
        ip -n "${NSN[1]}" link add sync0 type veth peer name sync0 netns "${NSN[2]}"
        for s in 1 2; do
                ip -n "${NSN[$s]}" addr add "192.168.100.$s/24" dev sync0
                ip -n "${NSN[$s]}" addr add "fd00:100::$s/64" dev sync0 nodad
                ip -n "${NSN[$s]}" link set sync0 up
        done
        # flows of the FTP session below use this address (not 127.0.0.1: that one is filtered)
        ip -n "${NSN[1]}" addr add 10.99.0.1/32 dev lo
        info "fw1=${NSN[1]} (${IMPL[1]}), fw2=${NSN[2]} (${IMPL[2]})"
}

# write_conf SIDE MODE CHANNEL [MODE_OPTIONS]: SIDE's conntrackd.conf
write_conf() {
        local s=$1 mode=$2 channel=$3 opts=${4:-} peer=$((3 - $1)) modeblock chanblock
        case "$mode" in
        ftfw)    modeblock="Mode FTFW { $opts }" ;;
        notrack) modeblock="Mode NOTRACK { $opts }" ;;
        alarm)   modeblock="Mode ALARM { ${opts:-RefreshTime 2 CacheTimeout 60} }" ;;
        *)       fail "unknown mode '$mode' (ftfw|notrack|alarm)" ;;
        esac
        case "$channel" in
        udp)
                chanblock="UDP {
                IPv4_address 192.168.100.$s
                IPv4_Destination_Address 192.168.100.$peer
                Port $SYNC_PORT
                Interface sync0
                Checksum on
        }" ;;
        udp6)
                chanblock="UDP {
                IPv6_address fd00:100::$s
                IPv6_Destination_Address fd00:100::$peer
                Port $SYNC_PORT
                Interface sync0
        }" ;;
        mcast)
                chanblock="Multicast {
                IPv4_address $MCAST_GROUP
                Group $SYNC_PORT
                IPv4_interface 192.168.100.$s
                Interface sync0
        }" ;;
        tcp)
                chanblock="TCP {
                IPv4_address 192.168.100.$s
                IPv4_Destination_Address 192.168.100.$peer
                Port $SYNC_PORT
                Interface sync0
                Checksum on
        }" ;;
        *)      fail "unknown channel '$channel' (udp|mcast|udp6|tcp)" ;;
        esac
        # HashSize above 8192: 1.4.7 skips the expectation part of a single-slice -c
        cat > "${CONF[$s]}" <<CONF
# interop test $TEST_NAME, fw$s (${IMPL[$s]})
General {
        HashSize 16384
        HashLimit 262144
        LockFile $TMP/fw$s.lock
        UNIX { Path ${SOCK[$s]} }
        NetlinkBufferSize 8388608
        NetlinkBufferSizeMaxGrowth 16777216
        Filter From Userspace {
                Address Ignore {
                        IPv4_address 192.168.100.1
                        IPv4_address 192.168.100.2
                        IPv6_address fd00:100::1
                        IPv6_address fd00:100::2
                        IPv6_address fe80::/10
                        IPv4_address 127.0.0.1
                        IPv6_address ::1
                }
        }
}
Sync {
        $modeblock
        $chanblock
        Options {
                ExpectationSync on
        }
}
CONF
}

# start_side SIDE: start SIDE's daemon in its namespace and wait until it answers -s
start_side() {
        local s=$1
        env -u NOTIFY_SOCKET -u WATCHDOG_USEC ip netns exec "${NSN[$s]}" \
                "${BIN[$s]}" -C "${CONF[$s]}" >>"${LOG[$s]}" 2>&1 &
        DPID[$s]=$!
        PIDS+=("${DPID[$s]}")
        local deadline=$(( $(date +%s) + 20 ))
        until ctd "$s" -s 2>/dev/null | grep -q '^cache internal:'; do
                kill -0 "${DPID[$s]}" 2>/dev/null || fail "fw$s: ${IMPL[$s]} daemon exited at start-up"
                [ "$(date +%s)" -lt "$deadline" ] || fail "fw$s: ${IMPL[$s]} daemon does not answer -s"
                sleep 0.05
        done
}

# stop_side SIDE: -k, then the process must be gone and must have cleaned up after itself
stop_side() {
        local s=$1
        ctd "$s" -k >/dev/null || true
        wait_for "fw$s's daemon to exit after -k" 20 bash -c "! kill -0 ${DPID[$s]}"
        test ! -e "${SOCK[$s]}" || fail "fw$s: control socket left behind after -k"
        test ! -e "$TMP/fw$s.lock" || fail "fw$s: lock file left behind after -k"
}

# interop_start MODE CHANNEL [MODE_OPTIONS]: configure and start both sides
interop_start() {
        local s
        for s in 1 2; do
                write_conf "$s" "$@"
                start_side "$s"
        done
        info "both daemons answer (mode $1, channel $2)"
}

# ---- flows -------------------------------------------------------------------------------------

# ct SIDE ARGS...: conntrack(8) in SIDE, quiet unless it fails
ct() {
        local s=$1 out; shift
        out=$(ns "$s" conntrack "$@" 2>&1) || fail "conntrack $* in fw$s: $out"
}

# make_flows: the flows under test in fw1's kernel table (11 of them)
make_flows() {
        local t=(-t 900)
        ct 1 -I -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40001 --dport 80 --state SYN_SENT "${t[@]}"
        ct 1 -I -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40002 --dport 80 --state ESTABLISHED \
                -u SEEN_REPLY,ASSURED -m 5 "${t[@]}"
        ct 1 -I -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40003 --dport 80 --state FIN_WAIT \
                -u SEEN_REPLY,ASSURED "${t[@]}"
        ct 1 -I -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40004 --dport 80 --state TIME_WAIT \
                -u SEEN_REPLY,ASSURED "${t[@]}"
        ct 1 -I -p tcp -s 10.1.0.1 -d 10.2.0.1 --sport 40005 --dport 80 --state CLOSE_WAIT \
                -u SEEN_REPLY,ASSURED -m 0xffffffff "${t[@]}"
        ct 1 -I -p udp -s 10.1.0.1 -d 10.2.0.2 --sport 5353 --dport 53 "${t[@]}"
        ct 1 -I -p icmp -s 10.1.0.1 -d 10.2.0.3 --icmp-type 8 --icmp-code 0 --icmp-id 77 "${t[@]}"
        ct 1 -I -p tcp -s fd00:1::1 -d fd00:2::1 --sport 40006 --dport 443 --state ESTABLISHED \
                -u SEEN_REPLY "${t[@]}"
        ct 1 -I -p udp -s fd00:1::1 -d fd00:2::1 --sport 40007 --dport 53 -w 7 -m 0x10 "${t[@]}"
        # NAT: the reply tuples differ from the inverted original ones
        ct 1 -I -p tcp -s 10.1.0.5 -d 203.0.113.9 --sport 40008 --dport 443 --state ESTABLISHED \
                -u SEEN_REPLY,ASSURED --src-nat 198.51.100.1 "${t[@]}"
        ct 1 -I -p tcp -s 10.1.0.5 -d 198.51.100.1 --sport 40009 --dport 8080 --state ESTABLISHED \
                -u SEEN_REPLY,ASSURED --dst-nat 10.3.0.9 -w 3 "${t[@]}"
}
# shellcheck disable=SC2034  # used by the test scripts
FLOWS_MADE=11

# start_ftp: an FTP control connection in fw1 that the kernel's ftp helper watches, so that a real
# expectation (with a master conntrack carrying helper=ftp) exists. Sets HAVE_FTP=1 if it worked.
start_ftp() {
        modprobe nf_conntrack_ftp 2>/dev/null || true
        if ! ns 1 nft -f - 2>"$TMP/nft-ftp.err" <<'NFT'
table inet interop_ftp {
        ct helper ftp-std { type "ftp" protocol tcp; }
        chain out { type filter hook output priority 0; tcp dport 21 ct helper set "ftp-std"; }
}
NFT
        then
                info "SKIP (expectations only): no ftp conntrack helper: $(cat "$TMP/nft-ftp.err")"
                return 0
        fi
        # both ends of the session stay open until cleanup kills the namespace's processes. The
        # helper only parses commands after a line it has seen end, hence USER before PORT.
        ns 1 /usr/bin/python3 - >"$TMP/ftp.log" 2>&1 <<'PY' &
import socket, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.99.0.1", 21))
srv.listen(1)
cli = socket.create_connection(("10.99.0.1", 21), timeout=10)
conn, _ = srv.accept()
for server_says, client_says in ((b"220 ready\r\n", b"USER test\r\n"),
                                 (b"331 ok\r\n", b"PORT 10,99,0,1,195,80\r\n")):
    conn.sendall(server_says); cli.recv(100)
    cli.sendall(client_says); conn.recv(100)
conn.sendall(b"200 PORT ok\r\n"); cli.recv(100)
print("ready", flush=True)
time.sleep(600)
PY
        PIDS+=($!)
        local deadline=$(( $(date +%s) + 10 ))
        until ns 1 conntrack -L expect 2>/dev/null | grep -q 'dport=50000 '; do
                if [ "$(date +%s)" -ge "$deadline" ]; then
                        info "SKIP (expectations only): the ftp helper made no expectation"
                        cat "$TMP/ftp.log" >&2
                        return 0
                fi
                sleep 0.05
        done
        # shellcheck disable=SC2034  # used by the test scripts
        HAVE_FTP=1
        info "FTP session up, expectation in fw1: $(ns 1 conntrack -L expect 2>/dev/null | head -1)"
}

# ---- snapshots, normalised ---------------------------------------------------------------------

# -i / -e lines without "[active since Ns]" / "[expires in Ns]", and the reply tuple, which the
# external cache does not have: 1.4.x does not replicate it. Sorted.
NORM_CACHE='
        s/ \[(active since|expires in) [0-9]+s\]//g
        # the second address pair (with its ports or ICMP type/code/id) is the reply tuple
        s/^(.* src=[^ ]+ dst=[^ ]+ (sport=[0-9]+ dport=[0-9]+ |type=[0-9]+ code=[0-9]+ id=[0-9]+ )?(\[UNREPLIED\] )?)src=[^ ]+ dst=[^ ]+ (sport=[0-9]+ dport=[0-9]+ |type=[0-9]+ code=[0-9]+ id=[0-9]+ )?/\1/
        s/ +$//'
# expectation lines: same, they have no reply tuple
NORM_EXP='s/ \[(active since|expires in) [0-9]+s\]//g; s/ +$//'

# cache SIDE internal|external [ct|expect]: the normalised dump
cache() {
        local s=$1 which=$2 table=${3:-ct} flag
        [ "$which" = internal ] && flag=-i || flag=-e
        if [ "$table" = ct ]; then
                ctd "$s" "$flag" ct | sed -E "$NORM_CACHE" | sort
        else
                ctd "$s" "$flag" expect | sed -E "$NORM_EXP" | sort
        fi
}

# kernel SIDE [expect]: conntrack -L -o extended without the fields that differ by nature between
# two firewalls (timeout, id, use, counters), without the sync link's own flows. Sorted.
kernel() {
        local s=$1
        if [ "${2:-}" = expect ]; then
                ns "$s" conntrack -L expect 2>/dev/null | sed -E 's/^[0-9]+ //' | sort
                return
        fi
        ns "$s" conntrack -L -o extended 2>/dev/null \
                | grep -v -E 'src=(192\.168\.100\.|fd00:100::|fe80:)' \
                | sed -E '
                        s/^(ipv[46] +[0-9]+ [a-z0-9-]+ +[0-9]+) [0-9]+ /\1 /
                        s/ (use|id|packets|bytes|delta-time)=[0-9]+//g
                        s/ +$//' \
                | sort
}

# same_or_diff A B: compare two files; on a difference, print it and return 1
same_or_diff() {
        diff -u --label "$3" --label "$4" "$1" "$2" >"$TMP/diff" && return 0
        return 1
}

# wait_same WHAT SECS FILE_A FILE_B CMD_A CMD_B: poll until the outputs of the two commands (kept
# in FILE_A and FILE_B) are equal; on the deadline, show the difference and fail
wait_same() {
        local what=$1 secs=$2 fa=$3 fb=$4 ca=$5 cb=$6
        local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
        until eval "$ca" > "$fa" && eval "$cb" > "$fb" && same_or_diff "$fa" "$fb" "$ca" "$cb"; do
                if [ "$(date +%s%N)" -ge "$deadline" ]; then
                        head -n 60 "$TMP/diff" >&2
                        fail "$what: still different after ${secs}s"
                fi
                sleep 0.1
        done
}

# converged NAME [ct|expect]: fw2's external cache equals fw1's internal cache (snapshots are kept
# in $TMP/NAME.{int,ext} for the failure report)
converged() {
        local name=$1 table=${2:-ct}
        cache 1 internal "$table" > "$TMP/$name.int" || return 1
        cache 2 external "$table" > "$TMP/$name.ext" || return 1
        same_or_diff "$TMP/$name.int" "$TMP/$name.ext" "fw1 internal ($table)" "fw2 external ($table)"
}

# wait_converged NAME SECS [ct|expect]
wait_converged() {
        local name=$1 secs=$2 table=${3:-ct}
        local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
        until converged "$name" "$table"; do
                if [ "$(date +%s%N)" -ge "$deadline" ]; then
                        echo "# fw1 internal vs fw2 external ($table), $name, after ${secs}s:" >&2
                        head -n 60 "$TMP/diff" >&2
                        fail "$name: fw2's external cache did not converge to fw1's internal cache"
                fi
                sleep 0.1
        done
}

# stat_value SIDE ARGS... -- LABEL: the first number after LABEL in `conntrackd -s ARGS`
stat_value() {
        local s=$1; shift
        local args=() label
        while [ "$1" != -- ]; do args+=("$1"); shift; done
        label=$2
        ctd "$s" -s "${args[@]}" | awk -v l="$label" 'index($0, l) {
                sub(".*" l ":?", ""); gsub(/\t/, " "); split($0, f, " "); print f[1]; exit }'
}
