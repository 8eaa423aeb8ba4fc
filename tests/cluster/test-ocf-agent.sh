#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Pacemaker's OCF agent for conntrackd (Debian's resource-agents,
# /usr/lib/ocf/resource.d/heartbeat/conntrackd), run directly with the OCF environment inside
# firewall fw2's network namespace, against a conntrackd of implementation IMPL:
#   test-ocf-agent.sh [ours|debian]
# 'debian' runs Debian's conntrackd 1.4.7 on both firewalls and proves that every expectation
# below is the agent's own. fw1 (started by hand) is fw2's FT-FW peer over UDP on a veth sync link;
# fw2's daemon is started, promoted, demoted, notified and stopped by the agent only.
#
# Pacemaker is not installed: fakes of crm_master and crm_attribute (in HA_SBIN_DIR and on PATH)
# record the promotion scores the agent sets. OCF_RESKEY_binary is a wrapper that records the
# arguments of each call and execs the real binary (same process, same stdio), so that every
# action is checked both for the exact 1.4.7 commands the agent ran and for their effect on the
# daemons: caches (-i/-e, and conntrackctl for ours), kernel tables (conntrack -L) and files.
source "$(dirname "$0")/../interop/lib-interop.sh"

IMPL=${1:-ours}
AGENT=${OCF_AGENT:-/usr/lib/ocf/resource.d/heartbeat/conntrackd}
T=10
# the agent's own return codes (ocf-returncodes)
OCF_SUCCESS=0 OCF_ERR_GENERIC=1 OCF_ERR_INSTALLED=5 OCF_ERR_CONFIGURED=6 OCF_NOT_RUNNING=7
OCF_RUNNING_MASTER=8

[ -x "$AGENT" ] || skip "pacemaker's OCF agent is not installed ($AGENT; package resource-agents)"
[ -r /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs ] || skip "ocf-shellfuncs missing (resource-agents)"
command -v xmllint >/dev/null || skip "xmllint is not installed (package libxml2-utils)"
interop_setup "$IMPL" "$IMPL"

SELF=$(hostname)
OTHER=peer-node-$$
HA_SBIN=$TMP/sbin
RSCTMP=$TMP/rsctmp
STATEFILE=$RSCTMP/conntrackd.fw.master
CALLS=$TMP/calls.log
CRM=$TMP/crm.log
mkdir -p "$HA_SBIN" "$RSCTMP"
: > "$CALLS"
: > "$CRM"
for tool in crm_master crm_attribute; do
        printf '#!/bin/sh\necho "%s $*" >> "%s"\n' "$tool" "$CRM" > "$HA_SBIN/$tool"
        chmod +x "$HA_SBIN/$tool"
done
# the binary the agent runs: records "<args after -C CONF>" then becomes the real daemon/client
WRAP=$TMP/conntrackd-$IMPL
cat > "$WRAP" <<WRAP
#!/bin/sh
shift 2
printf "%s\\n" "\$*" >> "$CALLS"
exec "${BIN[2]}" -C "${CONF[2]}" "\$@"
WRAP
chmod +x "$WRAP"

for s in 1 2; do
        write_conf "$s" ftfw udp "PurgeTimeout 2"
        # the agent finds the control socket with awk over a multi-line UNIX block, as the
        # shipped example configurations write it
        sed -i -E 's|^([[:space:]]*)UNIX \{ Path (.*) \}$|\1UNIX {\n\1        Path \2\n\1}|' "${CONF[$s]}"
        grep -q -E '^[[:space:]]+Path ' "${CONF[$s]}" || fail "could not rewrite the UNIX block"
done
# fw2's daemon detaches (-d): its messages go to its log file
sed -i -E "0,/^General \\{/s||General {\\n        LogFile ${LOG[2]}|" "${CONF[2]}"
sock=$(awk '/^[ \t]*UNIX[ \t]*{/,/^[ \t]*}/ { if ($1 == "Path") { print $2 } }' "${CONF[2]}")
[ "$sock" = "${SOCK[2]}" ] || fail "the agent's awk finds '$sock' as the socket, not ${SOCK[2]}"

# agent ACTION [VAR=VALUE...]: runs the agent in fw2's namespace with a clean OCF environment;
# sets RC. Its output goes through a pipe, as under pacemaker-execd: a daemon that kept the
# agent's stdout/stderr open after -d would never let that pipe close.
RC=
agent() {
        local action=$1 reader; shift
        echo "== $action $*" >> "$TMP/agent.out"
        rm -f "$TMP/rc"
        ( set +e
          ns 2 env -i PATH="$HA_SBIN:/usr/sbin:/usr/bin:/sbin:/bin" \
                OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE="fw:0" \
                HA_SBIN_DIR="$HA_SBIN" HA_RSCTMP="$RSCTMP" \
                OCF_RESKEY_binary="$WRAP" OCF_RESKEY_config="${CONF[2]}" \
                OCF_RESKEY_CRM_meta_master_max=1 OCF_RESKEY_CRM_meta_master_node_max=1 \
                OCF_RESKEY_CRM_meta_clone_max=2 OCF_RESKEY_CRM_meta_clone_node_max=1 \
                OCF_RESKEY_CRM_meta_notify=true OCF_RESKEY_CRM_meta_interval=10000 \
                OCF_RESKEY_CRM_meta_timeout=30000 \
                "$@" timeout 60 "$AGENT" "$action"
          echo $? > "$TMP/rc.tmp" && mv "$TMP/rc.tmp" "$TMP/rc" ) 2>&1 | cat >> "$TMP/agent.out" &
        reader=$!
        wait_for "the agent's $action to return" 70 test -s "$TMP/rc"
        wait_for "the agent's output pipe to close after $action (does a daemon hold it open?)" \
                $T bash -c "! kill -0 $reader"
        wait "$reader" || true
        RC=$(cat "$TMP/rc")
}

# calls_since N: the wrapper's calls after the first N, on one line
calls_since() { tail -n "+$(( $1 + 1 ))" "$CALLS" | paste -s -d '|' -; }
ncalls() { wc -l < "$CALLS"; }
crm_last() { tail -n 1 "$CRM"; }

# act WANT_RC WANT_CALLS ACTION [VAR=VALUE...]: the action returns WANT_RC and runs exactly the
# conntrackd commands WANT_CALLS ("-d|-s|-n": arguments after -C CONF, in order; "" for none)
act() {
        local want=$1 want_calls=$2 action=$3 before got; shift 3
        before=$(ncalls)
        agent "$action" "$@"
        got=$(calls_since "$before")
        if [ "$RC" != "$want" ]; then
                tail -n 20 "$TMP/agent.out" >&2
                fail "agent $action${*:+ ($*)} returned $RC, expected $want (it ran: '$got')"
        fi
        if [ "$got" != "$want_calls" ]; then
                tail -n 20 "$TMP/agent.out" >&2
                echo "--- calls:" >&2; cat -A "$CALLS" >&2
                fail "agent $action${*:+ ($*)} ran conntrackd '$got', expected '$want_calls'"
        fi
        local args="$*"
        info "$action${args:+ (${args//OCF_RESKEY_CRM_meta_/})}: rc $RC, ran '$got'"
}

# the pid of fw2's daemon, from the pids of fw2's namespace
fw2_pid() {
        local p
        for p in $(ip netns pids "${NSN[2]}" 2>/dev/null); do
                [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(readlink -f "${BIN[2]}")" ] && echo "$p"
        done
}
count() { grep -c . || true; }
# notify TYPE OPERATION [VAR=VALUE...]
notify() { local ty=$1 op=$2; shift 2
        NOTIFY=(OCF_RESKEY_CRM_meta_notify_type="$ty" OCF_RESKEY_CRM_meta_notify_operation="$op" "$@"); }

start_side 1

# ---- meta-data and validate-all: no daemon involved -------------------------------------------
act $OCF_SUCCESS "" meta-data
sed -n '/^== meta-data/,$p' "$TMP/agent.out" | sed 1d > "$TMP/meta.xml"
xmllint --noout "$TMP/meta.xml" || fail "meta-data is not well-formed XML"
for a in start stop promote demote notify monitor validate-all; do
        grep -q "<action name=\"$a\"" "$TMP/meta.xml" || fail "meta-data lacks the action $a"
done
act $OCF_SUCCESS "" validate-all
act $OCF_ERR_INSTALLED "" validate-all OCF_RESKEY_config="$TMP/missing.conf"
act $OCF_ERR_INSTALLED "" validate-all OCF_RESKEY_binary="$TMP/no-such-conntrackd"
act $OCF_ERR_CONFIGURED "" validate-all OCF_RESKEY_CRM_meta_master_max=2
act $OCF_ERR_CONFIGURED "" validate-all OCF_RESKEY_CRM_meta_clone_node_max=2

# ---- probe of a stopped resource: no socket, no query, no score -------------------------------
act $OCF_NOT_RUNNING "" monitor OCF_RESKEY_CRM_meta_interval=0
[ ! -s "$CRM" ] || fail "a probe of a stopped resource set a score: $(cat "$CRM")"

# ---- start: -d (detaches once ready), monitor's -s, then -n pulls fw1's states ----------------
# flows made in fw1 before fw2 exists: only fw2's resync request (-n) brings them over
make_flows
wait_for "fw1's internal cache to hold its $FLOWS_MADE flows" $T \
        'test "$(cache 1 internal | count)" -eq "$FLOWS_MADE"'
act $OCF_SUCCESS "-d|-s|-n" start
pid=$(fw2_pid)
[ -n "$pid" ] && [ "$(echo "$pid" | count)" -eq 1 ] || fail "not one daemon in fw2 after start: '$pid'"
DPID[2]=$pid
[ "$(crm_last)" = "crm_master -Q -l reboot -v 100" ] || fail "start set '$(crm_last)', not the slave score"
[ ! -e "$STATEFILE" ] || fail "start left a master state file"
wait_converged "start-resync" $T
info "start: fw2's external cache holds fw1's $FLOWS_MADE flows (-n)"
if [ "$IMPL" = ours ]; then
        n=$(ns 2 "$CONNTRACKCTL" -C "${CONF[2]}" dump external ct | count)
        [ "$n" -eq "$FLOWS_MADE" ] || fail "conntrackctl dump external shows $n flows, not $FLOWS_MADE"
fi

# start again: running, so only -s and -n; the same daemon
act $OCF_SUCCESS "-s|-n" start
[ "$(fw2_pid)" = "$pid" ] || fail "a second start replaced or added a daemon: $(fw2_pid | paste -s -)"

# ---- monitor as a slave ------------------------------------------------------------------------
: > "$CRM"
act $OCF_SUCCESS "-s" monitor
[ ! -s "$CRM" ] || fail "a recurring monitor set a score: $(cat "$CRM")"
act $OCF_SUCCESS "-s" monitor OCF_RESKEY_CRM_meta_interval=0
[ "$(crm_last)" = "crm_master -Q -l reboot -v 100" ] || fail "a slave's probe set '$(crm_last)'"

# ---- promote: -c -f -R -B -------------------------------------------------------------------
ctd 1 -f external >/dev/null || fail "fw1: -f external failed"
test "$(cache 1 external | count)" -eq 0 || fail "fw1's external cache is not empty after -f"
[ "$(kernel 2 | count)" -eq 0 ] || fail "fw2's kernel table has flows before the promotion"
act $OCF_SUCCESS "-c|-f|-R|-B" promote
[ -e "$STATEFILE" ] || fail "promote left no master state file"
[ "$(crm_last)" = "crm_master -Q -l reboot -v 1000" ] || fail "promote set '$(crm_last)'"
# -c: the external cache is in fw2's kernel table
wait_same "fw2's kernel table after promote (-c)" $T "$TMP/k1" "$TMP/k2" 'kernel 1' 'kernel 2'
info "promote: fw2's kernel table holds fw1's $FLOWS_MADE flows (-c)"
# -f then -R: the external cache is empty, the internal one is the kernel's table
test "$(cache 2 external | count)" -eq 0 || fail "fw2's external cache is not empty after -f"
wait_for "fw2's internal cache to hold the committed flows (-R)" $T \
        'test "$(cache 2 internal | count)" -eq "$FLOWS_MADE"'
# -B: fw2's internal cache reaches fw1's external cache
wait_for "fw1's external cache to get fw2's bulk update (-B)" $T \
        'test "$(cache 1 external | count)" -eq "$FLOWS_MADE"'
info "promote: -f emptied fw2's external cache, -R filled its internal one, -B reached fw1"

act $OCF_RUNNING_MASTER "-s" monitor
act $OCF_RUNNING_MASTER "-s" monitor OCF_RESKEY_CRM_meta_interval=0
[ "$(crm_last)" = "crm_master -Q -l reboot -v 1000" ] || fail "a master's probe set '$(crm_last)'"
# already master: nothing to do
act $OCF_SUCCESS "" promote

# ---- notify ----------------------------------------------------------------------------------
# -B only if this node is master and another one was just started (post start), or if another
# node is about to be promoted (pre promote); every other notification runs nothing
# notify_bulk VAR=VALUE...: the notification sends fw2's internal cache to fw1 (-B)
notify_bulk() {
        ctd 1 -f external >/dev/null || fail "fw1: -f external failed"
        test "$(cache 1 external | count)" -eq 0 || fail "fw1's external cache is not empty after -f"
        act $OCF_SUCCESS "-B" notify "$@"
        wait_for "fw1's external cache to get fw2's bulk update" $T \
                'test "$(cache 1 external | count)" -eq "$FLOWS_MADE"'
}
notify post start OCF_RESKEY_CRM_meta_notify_master_uname="$SELF" \
        OCF_RESKEY_CRM_meta_notify_start_uname="$OTHER"
notify_bulk "${NOTIFY[@]}"
notify pre promote OCF_RESKEY_CRM_meta_notify_promote_uname="$OTHER"
notify_bulk "${NOTIFY[@]}"
notify post start OCF_RESKEY_CRM_meta_notify_master_uname="$SELF" \
        OCF_RESKEY_CRM_meta_notify_start_uname="$SELF"
act $OCF_SUCCESS "" notify "${NOTIFY[@]}"
notify pre start OCF_RESKEY_CRM_meta_notify_master_uname="$SELF" \
        OCF_RESKEY_CRM_meta_notify_start_uname="$OTHER"
act $OCF_SUCCESS "" notify "${NOTIFY[@]}"
notify post start OCF_RESKEY_CRM_meta_notify_master_uname="$OTHER" \
        OCF_RESKEY_CRM_meta_notify_start_uname="$OTHER"
act $OCF_SUCCESS "" notify "${NOTIFY[@]}"
notify pre promote OCF_RESKEY_CRM_meta_notify_promote_uname="$SELF"
act $OCF_SUCCESS "" notify "${NOTIFY[@]}"
notify post promote OCF_RESKEY_CRM_meta_notify_promote_uname="$OTHER"
act $OCF_SUCCESS "" notify "${NOTIFY[@]}"
for ty in pre post; do
        for op in demote stop; do
                notify "$ty" "$op" OCF_RESKEY_CRM_meta_notify_master_uname="$SELF"
                act $OCF_SUCCESS "" notify "${NOTIFY[@]}"
        done
done
[ "$(fw2_pid)" = "$pid" ] || fail "fw2's daemon changed during the notifications"

# ---- demote: -t (kernel timers cut to PurgeTimeout 2 s), -n (fw1's states come back) ----------
ctd 2 -f external >/dev/null || fail "fw2: -f external failed"
test "$(cache 2 external | count)" -eq 0 || fail "fw2's external cache is not empty after -f"
act $OCF_SUCCESS "-t|-n" demote
[ ! -e "$STATEFILE" ] || fail "demote left the master state file"
[ "$(crm_last)" = "crm_master -Q -l reboot -v 100" ] || fail "demote set '$(crm_last)'"
wait_converged "demote-resync" $T
info "demote: fw2's external cache holds fw1's flows again (-n)"
wait_for "fw2's kernel table to be purged after PurgeTimeout (-t)" $T \
        'test "$(kernel 2 | count)" -eq 0'
info "demote: fw2's kernel table purged (-t)"
act $OCF_SUCCESS "-s" monitor
# not master: nothing to do
act $OCF_SUCCESS "" demote

# ---- start of an instance still marked master (the state file of a lost node): demoted, -n ----
act $OCF_SUCCESS "-c|-f|-R|-B" promote
act $OCF_SUCCESS "-s|-s|-n" start
[ ! -e "$STATEFILE" ] || fail "start left the master state file"
act $OCF_SUCCESS "-s" monitor
[ "$(fw2_pid)" = "$pid" ] || fail "fw2's daemon changed"

# ---- stop: -k; the daemon, its socket and its lock file are gone -----------------------------
act $OCF_SUCCESS "-s|-k" stop
wait_for "fw2's daemon to exit" $T bash -c "! kill -0 $pid"
[ ! -e "${SOCK[2]}" ] || fail "stop left the control socket"
[ ! -e "$TMP/fw2.lock" ] || fail "stop left the lock file"
act $OCF_NOT_RUNNING "" monitor
act $OCF_NOT_RUNNING "" monitor OCF_RESKEY_CRM_meta_interval=0
act $OCF_SUCCESS "" stop

# ---- restarts: pacemaker runs start right after stop returns. The old daemon must be done with
# its lock file, socket and sync port by then, or the agent's first -d fails and it loops on -d.
act $OCF_SUCCESS "-d|-s|-n" start
for round in 1 2 3 4 5; do
        old=$(fw2_pid)
        [ -n "$old" ] || fail "no daemon in fw2 before restart $round"
        act $OCF_SUCCESS "-s|-k" stop
        act $OCF_SUCCESS "-d|-s|-n" start
        pid=$(fw2_pid)
        [ "$(echo "$pid" | count)" -eq 1 ] && [ "$pid" != "$old" ] || \
                fail "restart $round: not one new daemon in fw2: '$pid' (old $old)"
        [ -S "${SOCK[2]}" ] || fail "restart $round: the new daemon's socket is gone"
done
DPID[2]=$pid
act $OCF_SUCCESS "-s" monitor
wait_converged "restart-resync" $T
info "restart: stop then start at once, 5 times: one -d each, a new daemon, resynced"

# ---- a daemon killed with SIGKILL: its socket stays, -s fails, monitor reports the failure -----
kill -9 "$pid"
wait_for "fw2's daemon to die" $T bash -c "! kill -0 $pid"
[ -S "${SOCK[2]}" ] || fail "the socket of a killed daemon is gone: the test cannot check monitor"
act $OCF_ERR_GENERIC "-s" monitor
grep -q "conntrackd is running but not responding to queries" "$TMP/agent.out" || \
        fail "the agent did not give the reason of the failed monitor"
# an administrator cleans up after the crash; then the resource is stopped again
rm -f "${SOCK[2]}" "$TMP/fw2.lock"
act $OCF_NOT_RUNNING "" monitor
DPID[2]=

stop_side 1
info "PASS ($IMPL): the agent's actions return what it expects and have their effect"
