#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Pacemaker's OCF agent for conntrackd (Debian's resource-agents,
# /usr/lib/ocf/resource.d/heartbeat/conntrackd) run directly, with the OCF environment, against a
# daemon of implementation IMPL (ours, or debian to show the expectations are the agent's own):
#   test-ocf.sh [ours|debian]
# fw1 runs the same implementation as a peer, started by hand; fw2's daemon is managed by the
# agent. Pacemaker's crm_master is absent here: a fake on HA_SBIN_DIR records its calls. Checks
# every action's return code (OCF_SUCCESS 0, OCF_NOT_RUNNING 7, OCF_RUNNING_MASTER 8) and effect:
#   meta-data (valid XML), validate-all, monitor (7), start (daemon up, -n, slave score), start
#   again, monitor (0), flows of fw1 in fw2's external cache, promote (-c -f -R -B: fw2's kernel
#   holds them; master score; monitor 8), notify pre-promote of another node (-B: fw1's external
#   cache gets fw2's states), demote (-t -n: fw2's kernel table is purged after PurgeTimeout;
#   monitor 0), stop (daemon gone, monitor 7), stop again.
source "$(dirname "$0")/../interop/lib-interop.sh"

IMPL=${1:-ours}
AGENT=${OCF_AGENT:-/usr/lib/ocf/resource.d/heartbeat/conntrackd}
T=10

[ -x "$AGENT" ] || skip "pacemaker's OCF agent is not installed ($AGENT; package resource-agents)"
interop_setup "$IMPL" "$IMPL"

mkdir -p "$TMP/sbin" "$TMP/rsctmp"
cat > "$TMP/sbin/crm_master" <<CRM
#!/bin/sh
echo "crm_master \$*" >> "$TMP/crm.log"
CRM
chmod +x "$TMP/sbin/crm_master"
: > "$TMP/crm.log"

# agent ACTION [VAR=VALUE...]: the agent in fw2's namespace; prints its exit status
agent() {
        local action=$1; shift
        set +e
        ns 2 env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
                OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="conntrackd:0" \
                HA_SBIN_DIR="$TMP/sbin" HA_RSCTMP="$TMP/rsctmp" \
                OCF_RESKEY_binary="${BIN[2]}" OCF_RESKEY_config="${CONF[2]}" \
                OCF_RESKEY_CRM_meta_master_node_max=1 OCF_RESKEY_CRM_meta_master_max=1 \
                OCF_RESKEY_CRM_meta_clone_node_max=1 OCF_RESKEY_CRM_meta_interval=10000 \
                OCF_RESKEY_CRM_meta_timeout=20000 \
                "$@" timeout 60 "$AGENT" "$action" >>"$TMP/agent.out" 2>&1
        echo $?
        set -e
}

# expect_rc ACTION WANT [VAR=VALUE...]
expect_rc() {
        local action=$1 want=$2 rc; shift 2
        echo "== $action $*" >> "$TMP/agent.out"
        rc=$(agent "$action" "$@")
        if [ "$rc" != "$want" ]; then
                tail -n 20 "$TMP/agent.out" >&2
                fail "agent $action returned $rc, expected $want"
        fi
        info "$action${*:+ ($*)}: $rc"
}

# pid of fw2's daemon (the one the agent started), or nothing
fw2_pid() {
        pgrep -f -- "-C ${CONF[2]}( |$)" | while read -r p; do
                [ "$(ip netns identify "$p" 2>/dev/null)" = "${NSN[2]}" ] && echo "$p"
        done | head -n 1
}

for s in 1 2; do
        write_conf "$s" ftfw udp "PurgeTimeout 2"
        # the agent finds the socket with awk on a multi-line UNIX block, as the shipped examples
        # write it
        sed -i -E 's|^([[:space:]]*)UNIX \{ Path (.*) \}$|\1UNIX {\n\1        Path \2\n\1}|' "${CONF[$s]}"
        grep -q -E '^[[:space:]]+Path ' "${CONF[$s]}" || fail "could not rewrite the UNIX block"
done
start_side 1

OCF_ROOT=/usr/lib/ocf "$AGENT" meta-data 2>/dev/null > "$TMP/meta.xml" || true
xmllint --noout "$TMP/meta.xml" || fail "meta-data is not well-formed XML"
grep -q '<resource-agent name="conntrackd"' "$TMP/meta.xml" || fail "meta-data is not the agent's"
expect_rc meta-data 0
expect_rc validate-all 0
expect_rc monitor 7 OCF_RESKEY_CRM_meta_interval=0

# start: the daemon comes up (-d), then -n; slave score
expect_rc start 0
pid=$(fw2_pid)
[ -n "$pid" ] || fail "no daemon running in fw2 after start"
DPID[2]=$pid
PIDS+=("$pid")
grep -q "crm_master -Q -l reboot -v 100" "$TMP/crm.log" || fail "start did not set the slave score"
expect_rc start 0
[ "$(fw2_pid)" = "$pid" ] || fail "a second start replaced the daemon"
expect_rc monitor 0
expect_rc monitor 0 OCF_RESKEY_CRM_meta_interval=0

# states of fw1 reach fw2's external cache
make_flows
want=$FLOWS_MADE
wait_for "fw2's external cache to hold fw1's $want flows" $T \
        'test "$(cache 2 external | wc -l)" -eq "$want"'

# promote: -c -f -R -B; fw2's kernel has what fw1's has
expect_rc promote 0
wait_same "fw2's kernel table after promote" $T "$TMP/k1" "$TMP/k2" 'kernel 1' 'kernel 2'
test -f "$TMP/rsctmp/conntrackd.conntrackd.master" || fail "promote left no master state file"
grep -q "crm_master -Q -l reboot -v 1000" "$TMP/crm.log" || fail "promote did not set the master score"
expect_rc monitor 8
test "$(cache 2 internal | wc -l)" -ge "$want" || fail "after -R fw2's internal cache lacks the committed flows"

# notify: another node is to be promoted: -B from fw2 (its internal cache) reaches fw1
ctd 1 -f external >/dev/null || fail "fw1: -f external failed"
expect_rc notify 0 OCF_RESKEY_CRM_meta_notify_type=pre OCF_RESKEY_CRM_meta_notify_operation=promote \
        "OCF_RESKEY_CRM_meta_notify_promote_uname=other-node-$$"
wait_for "fw1's external cache to get fw2's bulk" $T 'test "$(cache 1 external | wc -l)" -ge "$want"'

# demote: -t (fw2's kernel purged after PurgeTimeout 2 s) and -n
expect_rc demote 0
test ! -f "$TMP/rsctmp/conntrackd.conntrackd.master" || fail "demote left the master state file"
grep -q "crm_master -Q -l reboot -v 100" <(tail -n 1 "$TMP/crm.log") || fail "demote did not set the slave score"
expect_rc monitor 0
wait_for "fw2's kernel table to be purged (-t)" $T 'test "$(kernel 2 | wc -l)" -eq 0'
info "demote: -t purged fw2's kernel table"

# stop, and again
expect_rc stop 0
wait_for "fw2's daemon to exit" $T "! kill -0 $pid"
test ! -S "${SOCK[2]}" || fail "stop left the control socket"
expect_rc monitor 7
expect_rc stop 0
stop_side 1
info "PASS ($IMPL)"
