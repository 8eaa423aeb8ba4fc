#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The system bus policy, enforced by a real dbus-daemon: a private system-type bus that includes
# only dbus/org.netfilter.conntrackd1.conf of the source tree (none of the host's policies), the
# daemon in a fresh network namespace on that bus. Root owns the name and may call everything;
# user nobody may introspect, ping, read properties, call GetStatistics and DumpCache, and gets
# AccessDenied from the bus for every other call (which never reaches the daemon: its counter of
# refused calls does not move, and the calls have no effect) and for owning the name.
source "$(dirname "$0")/lib.sh"
need_root
: "${TOP_SRCDIR:?set by meson}"
for c in dbus-daemon busctl dbus-send setpriv conntrack; do
        command -v "$c" >/dev/null || skip "$c not installed"
done
{ id -u nobody && getent group nogroup; } > /dev/null 2>&1 || skip "no user nobody or group nogroup"
/usr/bin/python3 -c 'import dbus' 2>/dev/null || skip "python3-dbus not installed"

policy=$TOP_SRCDIR/dbus/org.netfilter.conntrackd1.conf
NAME=org.netfilter.conntrackd1
OBJ=/org/netfilter/conntrackd1
IFACE=org.netfilter.conntrackd1.Manager
cd /

# --- a private system bus with our policy and nothing else of the host ---
# nobody must reach the bus socket: the temp dir is traversable, the bus lives in its own directory
chmod 0711 "$TMP"
mkdir -m 0755 "$TMP/bus"
bus=unix:path=$TMP/bus/system_bus_socket
"$TOP_SRCDIR/tools/dbus-test-config" "$bus" "$policy" > "$TMP/bus/system.conf"
dbus-daemon --config-file="$TMP/bus/system.conf" --nofork --nopidfile --nosyslog \
        > "$TMP/bus.log" 2>&1 &
PIDS+=($!)
bus_pid=$!
bus_up() {
        kill -0 "$bus_pid" 2>/dev/null || { cat "$TMP/bus.log" >&2; fail "dbus-daemon exited"; }
        test -S "$TMP/bus/system_bus_socket"
}
deadline=$(( $(date +%s) + 20 ))
until bus_up; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "timed out waiting for the test bus"
        sleep 0.05
done
info "test bus at $bus"

# --- the daemon, in a namespace with one flow in its table, on that bus ---
new_netns ctd-policy
ns=$NS
ip netns exec "$ns" conntrack -I -p tcp -s 192.0.2.1 -d 192.0.2.2 --sport 40000 --dport 443 \
        --state ESTABLISHED -t 300 -u ASSURED > /dev/null 2>&1 || fail "conntrack -I in $ns"
conf=$TMP/conntrackd.conf
cat > "$conf" <<CONF
General {
        HashSize 1024
        HashLimit 4096
        LockFile $TMP/lock
        UNIX { Path $TMP/ctl.sock }
}
Stats { }
CONF
ip netns exec "$ns" env DBUS_SYSTEM_BUS_ADDRESS="$bus" "$CONNTRACKD" -C "$conf" \
        >> "$TMP/daemon.log" 2>&1 &
DAEMON_PID=$!
PIDS+=("$DAEMON_PID")

as_root() { busctl --address="$bus" "$@"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }

name_owned() {
        kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$TMP/daemon.log" >&2; fail "the daemon exited"; }
        [ "$(as_root call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                NameHasOwner s "$NAME" 2>/dev/null)" = "b true" ]
}
deadline=$(( $(date +%s) + 20 ))
until name_owned; do
        [ "$(date +%s)" -lt "$deadline" ] ||
                { cat "$TMP/daemon.log" >&2; fail "timed out waiting for the daemon to own $NAME"; }
        sleep 0.05
done
info "the daemon owns $NAME"

# prop_nobody NAME: a property as user nobody reads it
prop_nobody() { as_nobody busctl --address="$bus" get-property "$NAME" "$OBJ" "$IFACE" "$1"; }
# refused: the daemon's count of refused calls
refused() {
        as_root call "$NAME" "$OBJ" "$IFACE" GetStatistics s runtime --json=short |
                /usr/bin/python3 -c 'import json, sys
print(json.load(sys.stdin)["data"][0]["runtime.local_unknown_request"]["data"])'
}

# --- what everybody may do ---
[ "$(prop_nobody InternalCacheSize)" = "t 1" ] ||
        fail "nobody reads InternalCacheSize $(prop_nobody InternalCacheSize), not t 1"
[ "$(prop_nobody Mode)" = 's "stats"' ] || fail "nobody cannot read Mode"
as_nobody busctl --address="$bus" introspect "$NAME" "$OBJ" "$IFACE" > "$TMP/introspect" ||
        fail "nobody cannot introspect (Introspect, GetAll)"
grep -q '^\.ResyncKernel ' "$TMP/introspect" || fail "the introspection lacks ResyncKernel"
grep -q '^\.State .*"running"' "$TMP/introspect" || fail "GetAll did not give State"
as_nobody busctl --address="$bus" call "$NAME" "$OBJ" org.freedesktop.DBus.Peer Ping ||
        fail "nobody cannot ping"
as_nobody busctl --address="$bus" call "$NAME" "$OBJ" "$IFACE" GetStatistics s general \
        > "$TMP/stats" || fail "nobody cannot call GetStatistics"
grep -q '"internal.active" t 1' "$TMP/stats" ||
        { cat "$TMP/stats" >&2; fail "GetStatistics: no internal.active 1"; }
as_nobody /usr/bin/python3 - "$bus" > "$TMP/dump" <<'PY' || fail "nobody cannot call DumpCache"
import dbus, os, sys
bus = dbus.bus.BusConnection(sys.argv[1])
m = dbus.Interface(bus.get_object("org.netfilter.conntrackd1", "/org/netfilter/conntrackd1"),
                   "org.netfilter.conntrackd1.Manager")
with os.fdopen(m.DumpCache("internal", "ct", "plain").take()) as f:
    sys.stdout.write(f.read())
PY
grep -q 'src=192.0.2.1 dst=192.0.2.2 sport=40000 dport=443' "$TMP/dump" ||
        { cat "$TMP/dump" >&2; fail "DumpCache for nobody lacks the flow"; }
info "nobody: properties, introspection, Ping, GetStatistics, DumpCache allowed"

# --- what only root may do: refused by the bus, never reaching the daemon ---
before=$(refused)
# denied WHAT ARGS...: dbus-send ARGS as nobody must fail with AccessDenied
denied() {
        local what=$1; shift
        if as_nobody dbus-send --bus="$bus" --print-reply "$@" > "$TMP/denied" 2>&1; then
                fail "nobody may $what"
        fi
        grep -q '^Error org.freedesktop.DBus.Error.AccessDenied' "$TMP/denied" ||
                { cat "$TMP/denied" >&2; fail "$what as nobody: not AccessDenied"; }
        # by dbus-daemon's policy, not by sd-bus' or the daemon's own checks behind it
        grep -q 'Rejected send message' "$TMP/denied" ||
                { cat "$TMP/denied" >&2; fail "$what as nobody: refused by the daemon, not by the bus"; }
        [ "$(refused)" = "$before" ] || fail "$what as nobody reached the daemon"
}
call=(--dest="$NAME" "$OBJ")
denied "flush the internal cache" "${call[@]}" "$IFACE.FlushCache" string:internal string:ct
denied "flush all caches" "${call[@]}" "$IFACE.FlushCache" string:all string:all
denied "flush the kernel table" "${call[@]}" "$IFACE.FlushKernel" string:ct
denied "resync with the kernel" "${call[@]}" "$IFACE.ResyncKernel" string:ct
denied "commit" "${call[@]}" "$IFACE.Commit" string:
denied "send a bulk update" "${call[@]}" "$IFACE.SendBulk"
denied "request a resync" "${call[@]}" "$IFACE.RequestResync"
denied "schedule a kernel flush" "${call[@]}" "$IFACE.ResetTimers"
denied "reload" "${call[@]}" "$IFACE.Reload"
denied "quit" "${call[@]}" "$IFACE.Quit"
denied "call an unknown method" "${call[@]}" "$IFACE.Frobnicate"
denied "set a property" "${call[@]}" org.freedesktop.DBus.Properties.Set \
        string:"$IFACE" string:Mode variant:string:ftfw
if as_nobody dbus-send --bus="$bus" --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.RequestName string:"$NAME" uint32:0 > "$TMP/denied" 2>&1; then
        fail "nobody may own $NAME"
fi
grep -q '^Error org.freedesktop.DBus.Error.AccessDenied' "$TMP/denied" ||
        { cat "$TMP/denied" >&2; fail "owning the name as nobody: not AccessDenied"; }
[ "$(prop_nobody InternalCacheSize)" = "t 1" ] || fail "a refused FlushCache flushed"
[ "$(ip netns exec "$ns" conntrack -C)" = 1 ] || fail "a refused FlushKernel flushed"
kill -0 "$DAEMON_PID" || fail "a refused Quit stopped the daemon"
name_owned || fail "the daemon lost its name"
info "nobody: FlushCache, FlushKernel, ResyncKernel, Commit, SendBulk, RequestResync," \
     "ResetTimers, Reload, Quit, Set, unknown methods" \
     "and the name refused by the bus"

# --- root may do everything ---
as_root call "$NAME" "$OBJ" "$IFACE" FlushCache ss internal ct ||
        { cat "$TMP/daemon.log" >&2; fail "root cannot call FlushCache"; }
[ "$(prop_nobody InternalCacheSize)" = "t 0" ] || fail "FlushCache by root did not flush"
[ "$(as_root call "$NAME" "$OBJ" "$IFACE" ResyncKernel s ct)" = "t 1" ] ||
        { cat "$TMP/daemon.log" >&2; fail "root cannot call ResyncKernel"; }
[ "$(prop_nobody InternalCacheSize)" = "t 1" ] || fail "ResyncKernel by root did not resync"
as_root call "$NAME" "$OBJ" "$IFACE" Reload || fail "root cannot call Reload"
# Replication calls reach the daemon for root, which answers that Stats mode has none of it.
for m in "Commit s all" SendBulk RequestResync ResetTimers; do
        # shellcheck disable=SC2086 # method and its arguments
        if as_root call "$NAME" "$OBJ" "$IFACE" $m > "$TMP/repl" 2>&1; then
                fail "$m succeeded in Stats mode"
        fi
        grep -q -e "Stats mode" -e "external" "$TMP/repl" ||
                { cat "$TMP/repl" >&2; fail "$m by root: not the daemon's NotSupported"; }
done
[ "$(as_root call "$NAME" "$OBJ" "$IFACE" FlushKernel s ct)" = "t 1" ] ||
        fail "root cannot call FlushKernel"
[ "$(ip netns exec "$ns" conntrack -C)" = 0 ] ||
        fail "FlushKernel by root did not flush the kernel table"
[ "$(refused)" = "$before" ] || fail "the daemon refused calls of root"
as_root call "$NAME" "$OBJ" "$IFACE" Quit || fail "root cannot call Quit"
deadline=$(( $(date +%s) + 20 ))
while kill -0 "$DAEMON_PID" 2>/dev/null; do
        [ "$(date +%s)" -lt "$deadline" ] || fail "the daemon did not exit after Quit"
        sleep 0.05
done
wait "$DAEMON_PID" || fail "the daemon exited with status $? after Quit"
info "root: FlushCache, ResyncKernel, Reload, Commit/SendBulk/RequestResync/ResetTimers" \
     "(NotSupported in Stats mode), FlushKernel, Quit"

echo "PASS"
