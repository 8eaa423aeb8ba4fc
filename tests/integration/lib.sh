# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the script tests: skip rules, a namespace and temp dir per test, cleanup whatever
# happens, waiting with a deadline, starting the daemon and talking to it.

set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
info() { echo "# $*"; }

need_root() {
        [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, netlink writes)"
        ip netns add "ctd-probe-$$" 2>/dev/null || skip "cannot create network namespaces here"
        ip netns del "ctd-probe-$$"
}

: "${CONNTRACKD:?set by meson}" "${CONNTRACKCTL:?set by meson}"

TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "/tmp/${TEST_NAME}.XXXXXX")
NAMESPACES=()
PIDS=()

cleanup() {
        local p n
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
        for p in "${PIDS[@]}"; do
                for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
                kill -9 "$p" 2>/dev/null || true
        done
        for n in "${NAMESPACES[@]}"; do
                # processes left in the namespace (conntrack, helpers) go too
                ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
                ip netns del "$n" 2>/dev/null || true
        done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# new_netns NAME: a fresh namespace named NAME-<pid>, with lo up; its name goes to $NS (not
# printed: a command substitution would run in a subshell and lose it from the cleanup list)
new_netns() {
        local n="$1-$$"
        NS=$n
        modprobe nf_conntrack 2>/dev/null || true
        modprobe nf_conntrack_netlink 2>/dev/null || true
        ip netns add "$n"
        NAMESPACES+=("$n")
        ip -n "$n" link set lo up
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds. With a single word the
# command is a shell expression evaluated anew at every try: wait_for x 5 'test "$(f)" -eq 3'
wait_for() {
        local what=$1 secs=$2; shift 2
        local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
        while true; do
                if [ $# -eq 1 ]; then
                        eval "$1" >/dev/null 2>&1 && return 0
                else
                        "$@" >/dev/null 2>&1 && return 0
                fi
                [ "$(date +%s%N)" -lt "$deadline" ] || fail "timed out after ${secs}s waiting for $what"
                sleep 0.05
        done
}

# start_daemon NS CONF [ARGS...]: runs conntrackd in NS, waits for its control socket; sets DAEMON_PID
start_daemon() {
        local ns=$1 conf=$2; shift 2
        local sock
        sock=$(sed -n 's/.*Path[[:space:]]\+\([^[:space:]}]*\).*/\1/p' "$conf" | head -1)
        ip netns exec "$ns" "$CONNTRACKD" -C "$conf" "$@" >>"$TMP/daemon.log" 2>&1 &
        DAEMON_PID=$!
        PIDS+=("$DAEMON_PID")
        wait_for "the daemon's control socket $sock" 20 test -S "$sock"
}

# prop SOCKET NAME: value of a property of the daemon, read over its private socket with
# python3-dbus (independent of conntrackctl's output)
prop() {
        /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, dbus
c = dbus.connection.Connection("unix:path=" + sys.argv[1])
o = c.get_object(None, "/org/netfilter/conntrackd1", introspect=False)
print(o.Get("org.netfilter.conntrackd1.Manager", sys.argv[2],
            dbus_interface="org.freedesktop.DBus.Properties"))
PY
}

# call SOCKET METHOD [ARGS...]: call a method of the daemon over its private socket
call() {
        local sock=$1; shift
        /usr/bin/python3 - "$sock" "$@" <<'PY'
import sys, dbus
c = dbus.connection.Connection("unix:path=" + sys.argv[1])
o = c.get_object(None, "/org/netfilter/conntrackd1", introspect=False)
r = o.get_dbus_method(sys.argv[2], "org.netfilter.conntrackd1.Manager")(*sys.argv[3:])
if r is not None:
    print(r)
PY
}
