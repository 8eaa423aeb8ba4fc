# shellcheck shell=bash disable=SC2016
# SPDX-License-Identifier: GPL-2.0-or-later
# The HA firewall lab, as functions (sourced by tools/ha-lab and tests/cluster/lib-cluster.sh).
#
#   client ---- [br0 in the client namespace] ---- lan0 fw1 wan0 ---- [br0 in the server ns] ---- server
#                                             \--- lan0 fw2 wan0 ---/
#                                     fw1 sync0 ---- sync0 fw2  (conntrackd FT-FW over UDP)
#
#   client LAN 10.0.1.0/24 fd00:1::/64   client .10, fw1 .2, fw2 .3, VIP .1 (keepalived)
#   server LAN 10.0.2.0/24 fd00:2::/64   server .10, fw1 .2, fw2 .3, VIP .1
#   sync link  192.168.100.0/24          fw1 .1, fw2 .2
#
# Every lab lives in $LAB_ROOT/$LAB_ID (configs, logs, pid files, the traffic's status) and in the
# namespaces hal-$LAB_ID-{client,fw1,fw2,server}; lab_down removes both, whatever state they are in.
# Functions return non-zero (after lab_error) on failure; callers run with set -e and a trap.
#
# keepalived drives conntrackd in one of these ways ($LAB_SCRIPTS):
#   dbus, legacy, promote   notify scripts (notify.sh) on the transitions of the sync group HALAB,
#                           which holds the VIPs (instances LAN and WAN)
#   signals                 no script: each firewall has its own system bus (a dbus-daemon with
#                           keepalived's policy and ours, $LAB_DIR/fwN.bus); keepalived has
#                           enable_dbus and conntrackd follows the VRRP instance CONNTRACKD (on
#                           lan0, tracking wan0, only a link-local marker address) with
#                           Sync { Keepalived { Instance CONNTRACKD TrackFile $LAB_DIR/fwN.primary } }. HALAB tracks that file
#                           (weight 0): keepalived holds the VIPs in FAULT on a firewall until its
#                           conntrackd finished the Promote, commit included
#   signals-nogate          the same without the file: conntrackd follows LAN, the VIPs move with
#                           it, before the commit (to measure what the file prevents)
# With signals*, ip monitor records when the VIPs come and go ($LAB_DIR/fwN.ipmon, lab_vip_ms).
# With signals and promote, the daemons have StartupResync and keepalived tracks the vrrp_script
# conntrackd_insync (insync-check.sh: InSync or Role primary) with weight -INSYNC_WEIGHT in the
# instances that elect the master (CONNTRACKD, LAN, WAN): a firewall without the peer's states
# (resync after its Demote, peer lost) cannot take the VIPs from one that has them.

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_TOP=$(cd "$LAB_LIB_DIR/../.." && pwd)
: "${CONNTRACKD:=$LAB_TOP/build/src/daemon/conntrackd}"
: "${CONNTRACKCTL:=$LAB_TOP/build/src/ctl/conntrackctl}"
: "${DEBIAN_CONNTRACKD:=/usr/sbin/conntrackd}"
: "${KEEPALIVED:=/usr/sbin/keepalived}"
: "${LAB_ROOT:=/tmp/ha-lab}"
LAB_PY=/usr/bin/python3
SYNC_PORT=3780
PURGE_TIMEOUT=5         # -t: the kernel table of a backup is flushed this long after it gave up
PREEMPT_DELAY=2         # fw1 takes the VIPs back this long after it came back (time to resync)
ADVERT_INT=0.2          # VRRPv3 advertisement interval: the backup takes over after ~0.7 s
CTRL_INSTANCE=CONNTRACKD        # signals: the instance conntrackd follows (lan0, VRID 50, no VIPs)
CTRL_VRID=50
# the vrrp_script's penalty: above the priority gap (150 - 100), so that fw1 out of sync is below
# fw2, and below fw2's priority; the same penalty on both keeps their order
INSYNC_WEIGHT=60

lab_error() { echo "ha-lab: $*" >&2; return 1; }
# lab_signals: conntrackd follows keepalived over D-Bus (no notify script)
lab_signals() { case "$LAB_SCRIPTS" in signals|signals-nogate) true ;; *) false ;; esac; }
lab_gated() { [ "$LAB_SCRIPTS" = signals ]; }
# lab_insync_tracked: keepalived tracks insync-check.sh (the modes where Promote sets Role)
lab_insync_tracked() { case "$LAB_SCRIPTS" in signals|promote) true ;; *) false ;; esac; }
lab_ms() { date +%s%3N; }

# lab_init ID: names and paths of lab ID (nothing is created)
lab_init() {
        LAB_ID=$1
        LAB_DIR=$LAB_ROOT/$LAB_ID
        NS_CLIENT=hal-$LAB_ID-client
        NS_SERVER=hal-$LAB_ID-server
        NS_FW=([1]=hal-$LAB_ID-fw1 [2]=hal-$LAB_ID-fw2)
        LAB_NAMESPACES=("$NS_CLIENT" "${NS_FW[1]}" "${NS_FW[2]}" "$NS_SERVER")
        # variant settings, kept in $LAB_DIR/lab.env by lab_up for the other verbs
        : "${LAB_IMPL1:=ours}" "${LAB_IMPL2:=ours}" "${LAB_SCRIPTS:=dbus}"
}

# lab_wait WHAT SECS CMD...: poll CMD (a single word: a shell expression) until it succeeds
lab_wait() {
        local what=$1 secs=$2; shift 2
        local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
        while true; do
                if [ $# -eq 1 ]; then
                        eval "$1" >/dev/null 2>&1 && return 0
                else
                        "$@" >/dev/null 2>&1 && return 0
                fi
                [ "$(date +%s%N)" -lt "$deadline" ] || {
                        lab_error "timed out after ${secs}s waiting for $what"
                        return 1
                }
                sleep 0.05
        done
}

in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }
in_fw() { local s=$1; shift; ip netns exec "${NS_FW[$s]}" "$@"; }

# lab_spawn NAME NS CMD...: start CMD in NS in its own session, outliving this shell (up returns
# while the lab runs); output to $LAB_DIR/NAME.log, pid to $LAB_DIR/NAME.pid
lab_spawn() {
        local name=$1 n=$2; shift 2
        setsid ip netns exec "$n" "$@" </dev/null >>"$LAB_DIR/$name.log" 2>&1 &
        echo $! > "$LAB_DIR/$name.pid"
        disown $!
}

lab_pid() { cat "$LAB_DIR/$1.pid" 2>/dev/null; }
lab_alive() { local p; p=$(lab_pid "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# lab_stop NAME: TERM, wait up to 5 s, then KILL the process lab_spawn started
lab_stop() {
        local p
        p=$(lab_pid "$1") || return 0
        [ -n "$p" ] || return 0
        kill "$p" 2>/dev/null || { rm -f "$LAB_DIR/$1.pid"; return 0; }
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null || true
        rm -f "$LAB_DIR/$1.pid"
}

# ---- prerequisites ----------------------------------------------------------------------------

# lab_missing: what this machine lacks for the lab (one line each), nothing if all is there
lab_missing() {
        [ "$(id -u)" -eq 0 ] || echo "root (network namespaces, nftables, conntrack)"
        command -v nft >/dev/null || echo "nft (package nftables)"
        command -v conntrack >/dev/null || echo "conntrack (package conntrack)"
        [ -x "$KEEPALIVED" ] || echo "keepalived (package keepalived)"
        "$LAB_PY" -c 'import pyftpdlib' 2>/dev/null || echo "pyftpdlib (package python3-pyftpdlib)"
        if lab_signals; then
                command -v dbus-daemon >/dev/null || echo "dbus-daemon (package dbus)"
                command -v busctl >/dev/null || echo "busctl (package systemd)"
                [ -n "$(lab_keepalived_policy)" ] \
                        || echo "keepalived's D-Bus policy (org.keepalived.Vrrp1.conf)"
                [ "$LAB_IMPL1" = ours ] && [ "$LAB_IMPL2" = ours ] \
                        || echo "our conntrackd on both firewalls (--scripts $LAB_SCRIPTS)"
        fi
        local s impl
        for s in 1 2; do
                impl=$(lab_impl "$s")
                case "$impl" in
                ours) [ -x "$CONNTRACKD" ] && [ -x "$CONNTRACKCTL" ] \
                        || echo "our conntrackd/conntrackctl (build them: \$CONNTRACKD=$CONNTRACKD)" ;;
                debian) [ -x "$DEBIAN_CONNTRACKD" ] \
                        || echo "Debian's conntrackd ($DEBIAN_CONNTRACKD, package conntrackd)" ;;
                esac
        done
}

lab_impl() { local v="LAB_IMPL$1"; echo "${!v}"; }

# lab_bin SIDE: the conntrackd binary of SIDE's implementation
lab_bin() {
        case "$(lab_impl "$1")" in
        debian) echo "$DEBIAN_CONNTRACKD" ;;
        *) echo "$CONNTRACKD" ;;
        esac
}

# ---- topology ---------------------------------------------------------------------------------

lab_topology() {
        local n s
        modprobe nf_conntrack 2>/dev/null || true
        modprobe nf_conntrack_netlink 2>/dev/null || true
        modprobe nf_conntrack_ftp 2>/dev/null || true
        modprobe nf_nat_ftp 2>/dev/null || true
        for n in "${LAB_NAMESPACES[@]}"; do
                ip netns add "$n"
                echo "$n" >> "$LAB_DIR/namespaces"
                ip -n "$n" link set lo up
                in_ns "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
                        net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
        done
        # the two LANs: a bridge in the client (server) namespace, one port per firewall
        local side ns_end addr addr6 lan
        for side in client server; do
                if [ $side = client ]; then
                        ns_end=$NS_CLIENT lan=lan0 addr=10.0.1 addr6=fd00:1
                else
                        ns_end=$NS_SERVER lan=wan0 addr=10.0.2 addr6=fd00:2
                fi
                ip -n "$ns_end" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
                for s in 1 2; do
                        ip -n "$ns_end" link add "fw$s" type veth peer name "$lan" netns "${NS_FW[$s]}"
                        ip -n "$ns_end" link set "fw$s" master br0 up
                        ip -n "${NS_FW[$s]}" addr add "$addr.$((s + 1))/24" dev "$lan"
                        ip -n "${NS_FW[$s]}" addr add "$addr6::$((s + 1))/64" dev "$lan" nodad
                        ip -n "${NS_FW[$s]}" link set "$lan" up
                done
                ip -n "$ns_end" addr add "$addr.10/24" dev br0
                ip -n "$ns_end" addr add "$addr6::10/64" dev br0 nodad
                ip -n "$ns_end" link set br0 up
                ip -n "$ns_end" route add default via "$addr.1"
                ip -n "$ns_end" -6 route add default via "$addr6::1"
        done
        ip -n "${NS_FW[1]}" link add sync0 type veth peer name sync0 netns "${NS_FW[2]}"
        for s in 1 2; do
                ip -n "${NS_FW[$s]}" addr add "192.168.100.$s/24" dev sync0
                ip -n "${NS_FW[$s]}" link set sync0 up
                in_fw "$s" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
                        net.netfilter.nf_conntrack_tcp_loose=0
        done
        # the kernel reports carrier changes with a delay: the daemons and keepalived start on
        # links that are really up
        for s in 1 2; do
                lab_wait "fw$s's links to be up" 10 \
                        '! ip -n "${NS_FW['"$s"']}" -o link show | grep -E "(lan0|wan0|sync0)[@:]" | grep -q -v "state UP"'
        done
}

# the ruleset of both firewalls: strictly stateful forwarding, the ftp helper, SNAT of port 7001
# to the server-side VIP (the return path follows the VIP)
lab_nft() {
        local s
        for s in 1 2; do
                in_fw "$s" nft -f - <<'NFT'
table inet halab {
        ct helper ftp-21 {
                type "ftp" protocol tcp
                l3proto inet
        }
        chain forward {
                type filter hook forward priority filter; policy drop;
                ct state established,related accept
                ct state invalid counter drop
                iifname "lan0" oifname "wan0" tcp flags & (fin | syn | rst | ack) == syn ct state new tcp dport 21 ct helper set "ftp-21" accept
                iifname "lan0" oifname "wan0" tcp flags & (fin | syn | rst | ack) == syn ct state new accept
                iifname "lan0" oifname "wan0" meta l4proto { udp, icmp, ipv6-icmp } ct state new accept
                counter comment "dropped: new from the server side, or not a SYN"
        }
        chain input {
                type filter hook input priority filter; policy accept;
                # mid-stream packets to a VIP this firewall knows nothing about (SNATed flows,
                # before the commit): drop rather than answer with a reset
                ct state invalid counter drop
        }
        chain postrouting {
                type nat hook postrouting priority srcnat; policy accept;
                oifname "wan0" ip daddr 10.0.2.10 tcp dport 7001 snat ip to 10.0.2.1
        }
}
NFT
        done
}

# ---- conntrackd -------------------------------------------------------------------------------

lab_ctd_conf() {
        local s=$1 peer=$((3 - $1))
        cat > "$LAB_DIR/fw$s.conf" <<CONF
# HA lab $LAB_ID, fw$s ($(lab_impl "$s"))
General {
        HashSize 16384
        HashLimit 131072
        LockFile $LAB_DIR/fw$s.lock
        UNIX { Path $LAB_DIR/fw$s.ctl }
        NetlinkBufferSize 2097152
        NetlinkBufferSizeMaxGrowth 8388608
        Filter From Userspace {
                Protocol Accept { TCP UDP }
                Address Ignore {
                        IPv4_address 127.0.0.1
                        IPv6_address ::1
                        IPv4_address 192.168.100.0/24
                }
        }
}
Sync {
        Mode FTFW {
                ResendQueueSize 131072
                PurgeTimeout $PURGE_TIMEOUT
$(lab_insync_tracked && echo "                StartupResync on")
        }
        UDP {
                IPv4_address 192.168.100.$s
                IPv4_Destination_Address 192.168.100.$peer
                Port $SYNC_PORT
                Interface sync0
                Checksum on
        }
        Options {
                ExpectationSync on
        }
$(lab_ctd_keepalived_block "$s")
}
CONF
}

# the Keepalived block of Sync (signals*), nothing otherwise
lab_ctd_keepalived_block() {
        local s=$1
        if lab_gated; then
                printf '        Keepalived {\n%16sInstance %s\n%16sTrackFile %s\n        }\n' \
                        "" "$CTRL_INSTANCE" "" "$LAB_DIR/fw$s.primary"
        elif lab_signals; then
                printf '        Keepalived {\n                Instance LAN\n        }\n'
        fi
}

# ---- the firewalls' system buses (signals*) -----------------------------------------------------

lab_keepalived_policy() {
        local f
        for f in /etc/dbus-1/system.d/org.keepalived.Vrrp1.conf \
                 /usr/share/dbus-1/system.d/org.keepalived.Vrrp1.conf; do
                [ -f "$f" ] && { echo "$f"; return 0; }
        done
        return 0
}

lab_bus_address() { echo "unix:path=$LAB_DIR/fw$1.bus"; }

# lab_bus_start SIDE: SIDE's own system bus, with keepalived's policy and ours (two keepalived
# cannot own org.keepalived.Vrrp1 on one bus), and ip monitor of SIDE's addresses
lab_bus_start() {
        local s=$1
        "$LAB_TOP/tools/dbus-test-config" "$(lab_bus_address "$s")" "$(lab_keepalived_policy)" \
                "$LAB_TOP/dbus/org.netfilter.conntrackd1.conf" > "$LAB_DIR/fw$s.bus.conf"
        lab_spawn "fw$s.dbus" "${NS_FW[$s]}" dbus-daemon --config-file="$LAB_DIR/fw$s.bus.conf" \
                --nofork --nopidfile --nosyslog
        lab_wait "fw$s's system bus" 10 '[ -S "$LAB_DIR/fw'"$s"'.bus" ]' || {
                cat "$LAB_DIR/fw$s.dbus.log" >&2
                return 1
        }
        lab_spawn "fw$s.ipmon" "${NS_FW[$s]}" ip -ts monitor address
}

# lab_vip_ms SIDE SINCE_MS [Deleted]: when SIDE's LAN VIP was added (or removed) after SINCE_MS,
# in ms, from ip monitor; empty if not
lab_vip_ms() {
        "$LAB_PY" - "$LAB_DIR/fw$1.ipmon.log" "$2" "${3:-}" <<'PY'
import datetime, re, sys
since, deleted = int(sys.argv[2]), sys.argv[3] == "Deleted"
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\[([0-9T:.-]+)\] (Deleted )?\d+: lan0\s+inet 10\.0\.1\.1/", line)
    if not m or bool(m.group(2)) != deleted:
        continue
    ms = int(datetime.datetime.fromisoformat(m.group(1)).timestamp() * 1000)
    if ms > since:
        print(ms)
        break
PY
}

# lab_gates_open: both TrackFiles say 0 (signals, without conntrackd: nothing else opens them)
lab_gates_open() {
        local s
        for s in 1 2; do
                echo 0 > "$LAB_DIR/fw$s.primary.tmp"
                mv "$LAB_DIR/fw$s.primary.tmp" "$LAB_DIR/fw$s.primary"
        done
}

# ctd SIDE ARGS...: SIDE's own 1.4.7 client (ours or Debian's), in SIDE's namespace
ctd() {
        local s=$1; shift
        in_fw "$s" "$(lab_bin "$s")" -C "$LAB_DIR/fw$s.conf" "$@" 2>>"$LAB_DIR/fw$s.client.log"
}

# ctl SIDE ARGS...: conntrackctl on SIDE's private socket
ctl() { local s=$1; shift; "$CONNTRACKCTL" --address="unix:path=$LAB_DIR/fw$s.ctl" "$@"; }

ctd_ready() { ctd "$1" -s 2>/dev/null | grep -q '^cache internal:'; }

# lab_insync SIDE: SIDE's daemon has the peer's states or is primary (what keepalived tracks)
lab_insync() { "$LAB_LIB_DIR/insync-check.sh" "$LAB_DIR/fw$1.ctl"; }

# lab_ctd_start SIDE: start SIDE's conntrackd and wait until it answers
lab_ctd_start() {
        local s=$1
        [ "$(lab_impl "$s")" != none ] || return 0
        local bus=()
        if lab_signals; then bus=("DBUS_SYSTEM_BUS_ADDRESS=$(lab_bus_address "$s")"); fi
        lab_spawn "fw$s.conntrackd" "${NS_FW[$s]}" env -u NOTIFY_SOCKET -u WATCHDOG_USEC \
                "${bus[@]}" "$(lab_bin "$s")" -C "$LAB_DIR/fw$s.conf"
        lab_wait "fw$s's conntrackd ($(lab_impl "$s")) to answer" 20 \
                'lab_alive fw'"$s"'.conntrackd && ctd_ready '"$s" || {
                tail -n 20 "$LAB_DIR/fw$s.conntrackd.log" >&2
                return 1
        }
}

lab_ctd_stop() {
        local s=$1
        lab_alive "fw$s.conntrackd" || return 0
        ctd "$s" -k >/dev/null 2>&1 || true
        lab_wait "fw$s's conntrackd to exit" 10 '! lab_alive fw'"$s"'.conntrackd' || lab_stop "fw$s.conntrackd"
        rm -f "$LAB_DIR/fw$s.conntrackd.pid"
}

# flows_external SIDE: the number of flows in SIDE's external cache
flows_external() { ctd "$1" -e ct 2>/dev/null | grep -c . || true; }
flows_internal() { ctd "$1" -i ct 2>/dev/null | grep -c . || true; }

# ---- keepalived -------------------------------------------------------------------------------

lab_notify_env() {
        local s=$1
        cat > "$LAB_DIR/fw$s.notify.env.tmp" <<ENV
SIDE=$s
IMPL=$(lab_impl "$s")
VARIANT=$LAB_SCRIPTS
BIN=$(lab_bin "$s")
CTL=$CONNTRACKCTL
CONF=$LAB_DIR/fw$s.conf
SOCK=$LAB_DIR/fw$s.ctl
LOCK=$LAB_DIR/fw$s.lock
EVENTS=$LAB_DIR/fw$s.events
STATE=$LAB_DIR/fw$s.state
ENV
        mv "$LAB_DIR/fw$s.notify.env.tmp" "$LAB_DIR/fw$s.notify.env"
}

lab_keepalived_conf() {
        local s=$1 prio=100 preempt=
        if [ "$s" = 1 ]; then
                prio=150
                preempt="preempt_delay $PREEMPT_DELAY"
        fi
        lab_notify_env "$s"
        local notify="$LAB_LIB_DIR/notify.sh $LAB_DIR/fw$s.notify.env" group track=
        lab_insync_tracked && track="        track_script {
                conntrackd_insync
        }"
        if lab_signals; then
                group="        # no notify script: conntrackd follows keepalived over D-Bus"
                lab_gated && group="$group
        track_file {
                conntrackd_primary weight 0
        }"
        else
                group="        notify_master \"$notify primary\"
        notify_backup \"$notify backup\"
        notify_fault \"$notify fault\""
        fi
        # keepalived ignores a weighted track_script of a group's instances without this (both
        # instances have the same weight)
        lab_insync_tracked && group="$group
        sync_group_tracking_weight"
        {
                cat <<CONF
global_defs {
        router_id hal-fw$s
        vrrp_version 3
        script_user root
        enable_script_security
        vrrp_garp_master_delay 1
        vrrp_garp_master_repeat 3
        vrrp_garp_interval 0.001
        vrrp_gna_interval 0.001
$(lab_signals && echo "        enable_dbus")
}
CONF
                lab_insync_tracked && cat <<CONF
# fails (priority -$INSYNC_WEIGHT) while conntrackd lacks the peer's states and is not primary;
# failed until its first run
vrrp_script conntrackd_insync {
        script "$LAB_LIB_DIR/insync-check.sh $LAB_DIR/fw$s.ctl"
        interval 1
        timeout 1
        fall 1
        rise 1
        weight -$INSYNC_WEIGHT
        init_fail
}
CONF
                lab_gated && cat <<CONF
# conntrackd writes 0 once its Promote (commit) is done, 1 otherwise
track_file conntrackd_primary {
        file "$LAB_DIR/fw$s.primary"
        init_file 1
}
# followed by conntrackd: fails with either LAN link; VRRPv3 needs an address, a link-local
# marker that no client uses (the service addresses are HALAB's)
vrrp_instance $CTRL_INSTANCE {
        state BACKUP
        interface lan0
        track_interface {
                wan0
        }
        virtual_router_id $CTRL_VRID
        priority $prio
        advert_int $ADVERT_INT
        $preempt
$track
        virtual_ipaddress {
                169.254.50.1/32 dev lan0 scope link
        }
}
CONF
                cat <<CONF
vrrp_sync_group HALAB {
        group {
                LAN
                WAN
        }
$group
}
vrrp_instance LAN {
        state BACKUP
        interface lan0
        virtual_router_id 51
        priority $prio
        advert_int $ADVERT_INT
        $preempt
$track
        virtual_ipaddress {
                10.0.1.1/24 dev lan0
        }
        virtual_ipaddress_excluded {
                fd00:1::1/64 dev lan0
        }
}
vrrp_instance WAN {
        state BACKUP
        interface wan0
        virtual_router_id 52
        priority $prio
        advert_int $ADVERT_INT
        $preempt
$track
        virtual_ipaddress {
                10.0.2.1/24 dev wan0
        }
        virtual_ipaddress_excluded {
                fd00:2::1/64 dev wan0
        }
}
CONF
        } > "$LAB_DIR/fw$s.keepalived.conf"
}

lab_keepalived_start() {
        local s=$1 bus=()
        if lab_signals; then bus=("DBUS_SYSTEM_BUS_ADDRESS=$(lab_bus_address "$s")"); fi
        lab_spawn "fw$s.keepalived" "${NS_FW[$s]}" env "${bus[@]}" \
                "$KEEPALIVED" -f "$LAB_DIR/fw$s.keepalived.conf" \
                -p "$LAB_DIR/fw$s.keepalived.main.pid" -r "$LAB_DIR/fw$s.keepalived.vrrp.pid" \
                -c "$LAB_DIR/fw$s.keepalived.checkers.pid" -P -n -l -D -G
}

# lab_ka_insync_ok SIDE: the last verdict of SIDE's keepalived on its vrrp_script was a success
lab_ka_insync_ok() {
        grep -E -o 'VRRP_Script\(conntrackd_insync\) (succeeded|failed)' \
                "$LAB_DIR/fw$1.keepalived.log" 2>/dev/null | tail -n 1 | grep -q succeeded
}

# fw_state SIDE: the last VRRP state whose notify script has finished (MASTER, BACKUP, FAULT);
# signals*: keepalived's state of the followed instance, once conntrackd is done with it (when
# conntrackd runs)
fw_state() {
        lab_signals || { cat "$LAB_DIR/fw$1.state" 2>/dev/null || true; return 0; }
        local ka
        ka=$(ka_state "$1")
        [ -n "$ka" ] || return 0
        if lab_alive "fw$1.conntrackd"; then
                ctl "$1" --json stats runtime 2>/dev/null | KA=$ka "$LAB_PY" -c '
import json, os, sys
s, ka = json.load(sys.stdin), os.environ["KA"]
done = s.get("keepalived.last_done_usec", 0) >= s.get("keepalived.last_transition_usec", 1)
gate = ka != "MASTER" or s.get("keepalived.gate_open", 1) == 1
if s.get("keepalived.state") == ka and done and gate:
    print(ka)' 2>/dev/null || true
        else
                echo "$ka"
        fi
}

# ka_state SIDE: the state of the instance conntrackd follows (signals*), from keepalived's D-Bus
# API: MASTER, BACKUP, FAULT, INIT; empty if keepalived does not answer
ka_state() {
        local path=/org/keepalived/Vrrp1/Instance/lan0/$CTRL_VRID/IPv4
        lab_gated || path=/org/keepalived/Vrrp1/Instance/lan0/51/IPv4
        busctl --address="$(lab_bus_address "$1")" get-property org.keepalived.Vrrp1 "$path" \
                org.keepalived.Vrrp1.Instance State 2>/dev/null \
                | awk '{ gsub("\"", "", $3); print toupper($3) }'
}
fw_has_vips() {
        ip -n "${NS_FW[$1]}" -4 addr show dev lan0 | grep -q ' 10\.0\.1\.1/' \
                && ip -n "${NS_FW[$1]}" -4 addr show dev wan0 | grep -q ' 10\.0\.2\.1/'
}

# lab_wait_roles MASTER_SIDE SECS: MASTER_SIDE holds the VIPs and its notify script has run;
# the other side is BACKUP (or FAULT if its links are down)
lab_wait_roles() {
        local m=$1 secs=$2 b=$((3 - $1))
        lab_wait "fw$m to be MASTER with the VIPs and fw$b BACKUP/FAULT" "$secs" \
                '[ "$(fw_state '"$m"')" = MASTER ] && fw_has_vips '"$m"' && ! fw_has_vips '"$b"' &&
                 case "$(fw_state '"$b"')" in BACKUP|FAULT) true ;; *) false ;; esac'
}

# ---- failures ---------------------------------------------------------------------------------

# fw_fail SIDE: the firewall loses both LAN links (its keepalived goes to FAULT)
fw_fail() { ip -n "${NS_FW[$1]}" link set lan0 down; ip -n "${NS_FW[$1]}" link set wan0 down; }
fw_repair() { ip -n "${NS_FW[$1]}" link set lan0 up; ip -n "${NS_FW[$1]}" link set wan0 up; }

# fw_drops SIDE: "N invalid, M other" packets its forward chain dropped so far
fw_drops() {
        in_fw "$1" nft list chain inet halab forward 2>/dev/null | awk '
                /ct state invalid counter/ { for (i = 1; i <= NF; i++) if ($i == "packets") inv = $(i + 1) }
                /comment "dropped/ { for (i = 1; i <= NF; i++) if ($i == "packets") oth = $(i + 1) }
                END { printf "%d invalid, %d not allowed as new\n", inv, oth }'
}

# lab_set_impl SIDE IMPL: replace SIDE's conntrackd by another implementation (rolling upgrade);
# its notify script follows
lab_set_impl() {
        local s=$1
        lab_ctd_stop "$s"
        printf -v "LAB_IMPL$s" %s "$2"
        sed -i "s/^LAB_IMPL$s=.*/LAB_IMPL$s=$2/" "$LAB_DIR/lab.env"
        lab_notify_env "$s"
        lab_ctd_start "$s"
}

# ---- traffic ----------------------------------------------------------------------------------

lab_server_start() {
        lab_spawn server "$NS_SERVER" "$LAB_PY" "$LAB_LIB_DIR/traffic.py" server "$LAB_DIR/ftp-root"
        lab_wait "the traffic server" 15 'grep -q ready "$LAB_DIR/server.log"' || {
                cat "$LAB_DIR/server.log" >&2
                return 1
        }
}

# traffic_start [client options]: start the flows, wait until all are up
traffic_start() {
        rm -f "$LAB_DIR/traffic.json" "$LAB_DIR/traffic.json.full"
        lab_spawn traffic "$NS_CLIENT" "$LAB_PY" "$LAB_LIB_DIR/traffic.py" client \
                "$LAB_DIR/traffic.json" --v4 10.0.2.10 --v6 fd00:2::10 "$@"
        lab_wait "the client's flows to be up" 15 'traffic_check 0' || {
                traffic_summary >&2 || true
                tail -n 20 "$LAB_DIR/traffic.log" >&2
                return 1
        }
}

# traffic_check SINCE_MS [KIND...]: every flow (of KIND) received something after SINCE_MS
traffic_check() {
        [ -s "$LAB_DIR/traffic.json" ] || return 1
        "$LAB_PY" "$LAB_LIB_DIR/traffic.py" check "$LAB_DIR/traffic.json" "$@" >/dev/null
}
traffic_count() { "$LAB_PY" "$LAB_LIB_DIR/traffic.py" check "$LAB_DIR/traffic.json" "$@" || true; }
traffic_summary() {
        "$LAB_PY" - "$LAB_DIR/traffic.json" <<'PY'
import json, sys
for f in json.load(open(sys.argv[1]))["flows"]:
    print("  %-7s up=%s rx=%s err=%s %s" % (f["name"], f["up"], f["rx"], f["err"], f.get("post") or ""))
PY
}

# traffic_stop: end the flows (runs the FTP post-check), keep $LAB_DIR/traffic.json.full
traffic_stop() {
        lab_alive traffic || return 0
        kill -TERM "$(lab_pid traffic)"
        lab_wait "the traffic client to finish" 15 '! lab_alive traffic' || lab_stop traffic
        rm -f "$LAB_DIR/traffic.pid"
}

# traffic_report EVENT_MS [UNTIL_MS]: per-flow JSON lines and a summary (traffic.py report)
traffic_report() { "$LAB_PY" "$LAB_LIB_DIR/traffic.py" report "$LAB_DIR/traffic.json.full" "$@"; }

# the number of flows the client runs, and their conntrack entries in a firewall's kernel table
lab_flow_count() {
        "$LAB_PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["flows"]))' \
                "$LAB_DIR/traffic.json"
}

# lab_flows_in SIDE internal|external|kernel: how many of the client's flows SIDE has (by the
# client-side address and port of each flow)
lab_flows_in() {
        local s=$1 where=$2 dump
        case "$where" in
        internal) dump=$(ctd "$s" -i ct 2>/dev/null) ;;
        external) dump=$(ctd "$s" -e ct 2>/dev/null) ;;
        kernel) dump=$(in_fw "$s" conntrack -L 2>/dev/null; in_fw "$s" conntrack -L -f ipv6 2>/dev/null) ;;
        esac
        DUMP=$dump "$LAB_PY" - "$LAB_DIR/traffic.json" <<'PY'
import json, os, re, sys
dump = os.environ["DUMP"]
n = 0
for f in json.load(open(sys.argv[1]))["flows"]:
    host, port = f["local"].rsplit(":", 1)
    h, p = re.escape(host), port
    # the client's end is the original source, or the reply destination (FTP active data)
    if re.search(r"src=%s dst=\S+ sport=%s |src=\S+ dst=%s sport=\d+ dport=%s " % (h, p, h, p), dump):
        n += 1
print(n)
PY
}

# ---- whole lab --------------------------------------------------------------------------------

# lab_up: everything, fw1 MASTER and fw2 BACKUP at the end
lab_up() {
        local missing
        missing=$(lab_missing)
        [ -z "$missing" ] || { lab_error "missing: $(echo "$missing" | paste -sd ';' | sed 's/;/; /g')"; return 1; }
        [ ! -e "$LAB_DIR" ] || { lab_error "lab $LAB_ID exists already ($LAB_DIR)"; return 1; }
        mkdir -p "$LAB_DIR"
        chmod 700 "$LAB_DIR"
        cat > "$LAB_DIR/lab.env" <<ENV
LAB_IMPL1=$LAB_IMPL1
LAB_IMPL2=$LAB_IMPL2
LAB_SCRIPTS=$LAB_SCRIPTS
CONNTRACKD=$CONNTRACKD
CONNTRACKCTL=$CONNTRACKCTL
ENV
        lab_topology
        lab_nft
        local s
        if lab_signals; then
                for s in 1 2; do lab_bus_start "$s"; done
        fi
        for s in 1 2; do
                lab_ctd_conf "$s"
                lab_ctd_start "$s"
                lab_keepalived_conf "$s"
        done
        # fw1 first: alone, it is MASTER after one master-down interval, where starting both at
        # once would make fw2 MASTER until fw1's preempt delay is over
        lab_keepalived_start 1
        lab_server_start
        lab_wait "fw1 to become MASTER" 15 '[ "$(fw_state 1)" = MASTER ] && fw_has_vips 1'
        # fw1 became MASTER alone with the vrrp_script's penalty (its Demote as BACKUP at start
        # asked for a resync); fw2 comes once fw1's Promote lifted it, not to preempt fw1
        if lab_insync_tracked; then
                lab_wait "fw1's vrrp_script conntrackd_insync to pass" 5 'lab_ka_insync_ok 1'
        fi
        lab_keepalived_start 2
        lab_wait_roles 1 15
}

# lab_load ID: lab_init + the variant settings lab_up recorded
lab_load() {
        lab_init "$1"
        [ -f "$LAB_DIR/lab.env" ] || { lab_error "no lab $1 (under $LAB_ROOT)"; return 1; }
        # shellcheck disable=SC1091
        source "$LAB_DIR/lab.env"
}

# lab_down: remove lab $LAB_ID: its processes, namespaces and directory; safe to run twice and
# on a half-built lab
lab_down() {
        local n p f
        for f in "$LAB_DIR"/*.pid; do
                [ -e "$f" ] || continue
                p=$(cat "$f" 2>/dev/null) || continue
                if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
        done
        local all=("${LAB_NAMESPACES[@]}")
        if [ -f "$LAB_DIR/namespaces" ]; then
                mapfile -t -O "${#all[@]}" all < "$LAB_DIR/namespaces"
        fi
        for n in "${all[@]}"; do
                [ -e "/run/netns/$n" ] || continue
                # everything still running in a lab namespace was started by the lab
                for p in $(ip netns pids "$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
        done
        for n in "${all[@]}"; do
                [ -e "/run/netns/$n" ] || continue
                for _ in $(seq 40); do [ -z "$(ip netns pids "$n" 2>/dev/null)" ] && break; sleep 0.05; done
                for p in $(ip netns pids "$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
                ip netns del "$n" 2>/dev/null || true
        done
        for f in "$LAB_DIR"/*.pid; do
                [ -e "$f" ] || continue
                p=$(cat "$f" 2>/dev/null) || continue
                if [ -n "$p" ]; then kill -9 "$p" 2>/dev/null || true; fi
        done
        [ -n "$LAB_DIR" ] && [ "$LAB_DIR" != / ] && rm -rf "$LAB_DIR"
        rmdir "$LAB_ROOT" 2>/dev/null || true
}
