#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# conntrackctl stats --format=openmetrics|prometheus|json against two real daemons: fw1 and fw2
# in two network namespaces joined by a veth pair, replicating with FT-FW over UDP. Flows are
# created, updated and deleted in fw1's kernel table with conntrack(8), fw2 commits what it got.
# check-metrics.py parses the output of both daemons with prometheus_client's OpenMetrics and
# classic text parsers, finds every GetStatistics key in it with its value, and checks the
# counters of issue 6 (events by type, peer state and last-seen time, link counters, commits).
source "$(dirname "$0")/lib.sh"
need_root
command -v conntrack >/dev/null || skip "conntrack (the conntrack package) is not installed"
/usr/bin/python3 -c 'import prometheus_client.openmetrics.parser, prometheus_client.parser' \
        2>/dev/null || skip "python3-prometheus-client is not installed"
/usr/bin/python3 -c 'import dbus' 2>/dev/null || skip "python3-dbus is not installed"
checker=$(dirname "$0")/check-metrics.py

new_netns ctd-met1
ns1=$NS
new_netns ctd-met2
ns2=$NS
ip link add ctdm1-$$ netns "$ns1" type veth peer name ctdm2-$$ netns "$ns2"
ip -n "$ns1" addr add 10.203.0.1/24 dev ctdm1-$$
ip -n "$ns2" addr add 10.203.0.2/24 dev ctdm2-$$
ip -n "$ns1" link set ctdm1-$$ up
ip -n "$ns2" link set ctdm2-$$ up

# config NAME LOCAL PEER DEV
config() {
        cat > "$TMP/$1.conf" <<CONF
General {
        HashSize 1024
        HashLimit 8192
        LockFile $TMP/$1.lock
        UNIX { Path $TMP/$1.sock }
        Systemd off
}
Sync {
        Mode FTFW { }
        UDP {
                IPv4_address $2
                IPv4_Destination_Address $3
                Port 3780
                Interface $4
        }
}
CONF
        "$CONNTRACKD" -C "$TMP/$1.conf" --check-config
}
config fw1 10.203.0.1 10.203.0.2 ctdm1-$$
config fw2 10.203.0.2 10.203.0.1 ctdm2-$$

start=$(date +%s)
start_daemon "$ns1" "$TMP/fw1.conf"
start_daemon "$ns2" "$TMP/fw2.conf"
ctl1() { "$CONNTRACKCTL" -C "$TMP/fw1.conf" "$@"; }
ctl2() { "$CONNTRACKCTL" -C "$TMP/fw2.conf" "$@"; }

# Format options: the aliases and the refusals.
ctl1 stats --format=text runtime | grep -q '^netlink.events_new ' || fail "--format=text"
ctl1 stats --json runtime | grep -q '"netlink.events_new":' || fail "--json"
ctl1 stats --json --format=json runtime >/dev/null || fail "--json --format=json"
ctl1 stats --format=bogus 2>/dev/null && fail "--format=bogus accepted"
ctl1 stats --json --format=openmetrics 2>/dev/null && fail "--json --format=openmetrics accepted"
ctl1 status --format=openmetrics 2>/dev/null && fail "status --format=openmetrics accepted"
ctl1 stats --format=openmetrics runtime | tail -1 | grep -qx '# EOF' || fail "section runtime"

# Flows in fw1's table: NEW, UPDATE (a new mark) and DESTROY events.
in1() { ip netns exec "$ns1" "$@"; }
for i in 1 2 3 4 5; do
        in1 conntrack -I -p tcp -s 172.16.1.$i -d 172.16.2.1 --sport $((1000 + i)) --dport 80 \
                --state ESTABLISHED -t 600 -u SEEN_REPLY,ASSURED >/dev/null
done
in1 conntrack -U -p tcp -s 172.16.1.1 -m 42 >/dev/null
in1 conntrack -D -p tcp -s 172.16.1.5 >/dev/null

statval() { "$CONNTRACKCTL" -C "$TMP/$1.conf" stats --format=json | /usr/bin/python3 -c \
        'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }
wait_for "4 flows in fw1's internal cache" 20 'test "$(statval fw1 internal.objects)" -eq 4'
wait_for "4 flows in fw2's external cache" 20 'test "$(statval fw2 external.objects)" -eq 4'
wait_for "fw1's peer alive" 20 'test "$(statval fw1 peer.state)" = alive'
wait_for "fw2's peer alive" 20 'test "$(statval fw2 peer.state)" = alive'

# fw2 takes over: a commit of the 4 flows into its table.
ctl2 commit >/dev/null || fail "commit on fw2"

info "fw1 (events, link, peer)"
/usr/bin/python3 "$checker" "$CONNTRACKCTL" "$TMP/fw1.conf" "$TMP/fw1.sock" \
        'conntrackd_netlink_events_new_total >= 5' \
        'conntrackd_netlink_events_update_total >= 1' \
        'conntrackd_netlink_events_destroy_total >= 1' \
        'conntrackd_internal_objects == 4' \
        'conntrackd_peer_state{state=alive} == 1' \
        'conntrackd_peer_state{state=lost} == 0' \
        "conntrackd_peer_last_seen_seconds >= $start" \
        "conntrackd_link_pkts_sent_total{link=0,type=udp,device=ctdm1-$$} > 0" \
        "conntrackd_link_pkts_recv_total{link=0,type=udp,device=ctdm1-$$} > 0" \
        "conntrackd_link_info{link=0,status=RUNNING,role=ACTIVE} == 1" \
        'conntrackd_info{mode=ftfw} == 1' \
        'conntrackd_commit_started_total == 0' ||
        fail "fw1's metrics"

info "fw2 (external cache, commit)"
/usr/bin/python3 "$checker" "$CONNTRACKCTL" "$TMP/fw2.conf" "$TMP/fw2.sock" \
        'conntrackd_external_objects == 4' \
        'conntrackd_commit_started_total == 1' \
        'conntrackd_commit_finished_total == 1' \
        'conntrackd_commit_running == 0' \
        'conntrackd_commit_objects_ok_total == 4' \
        'conntrackd_commit_objects_failed_total == 0' \
        'conntrackd_commit_duration_seconds_total > 0' \
        'conntrackd_commit_last_duration_seconds > 0' \
        "conntrackd_commit_last_finished_seconds >= $start" \
        'conntrackd_peer_state{state=alive} == 1' \
        'conntrackd_network_msgs_recv_total > 0' ||
        fail "fw2's metrics"

# InSync: fw2 asks fw1 for its states (-n); once fw1 acknowledged and its bulk is over (2 s
# without data), fw2 is in sync. conntrackctl status shows it with the peer and the commit.
insync() { busctl --address="unix:path=$TMP/$1.sock" get-property org.netfilter.conntrackd1 \
        /org/netfilter/conntrackd1 org.netfilter.conntrackd1.Manager InSync; }
test "$(insync fw2)" = "b false" || fail "fw2 in sync before any resync: $(insync fw2)"
ctl2 request-resync || fail "request-resync on fw2"
wait_for "fw2 in sync" 20 'test "$(insync fw2)" = "b true"'
wait_for "resync.in_sync 1 in fw2's metrics" 10 \
        'ctl2 stats --format=openmetrics | grep -qx "conntrackd_resync_in_sync 1"'
ctl2 status > "$TMP/status2"
sed 's/^/# /' "$TMP/status2"
grep -q "^ *Role: unknown, in sync with the peers" "$TMP/status2" || fail "status: no InSync line"
grep -q "^ *Peer: alive, last heard" "$TMP/status2" || fail "status: no peer line"
grep -q "^ *Last commit: .* ago, took" "$TMP/status2" || fail "status: no last commit line"

# The peer goes away: fw2 sees it lost after 3 ALIVE intervals (3 s), and is no longer in sync.
ctl1 quit
wait_for "fw2's peer lost" 20 'test "$(statval fw2 peer.state)" = lost'
ctl2 stats --format=openmetrics | grep -qx 'conntrackd_peer_state{state="lost"} 1' ||
        fail "peer state lost not in the metrics"
wait_for "fw2 not in sync without its peer" 5 'test "$(insync fw2)" = "b false"'
ctl2 status | grep -q "^ *Peer: lost" || fail "status: the peer is not shown lost"
info "all good"
