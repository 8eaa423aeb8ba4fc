#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The systemd side: readiness, STATUS=, watchdog pings, RELOADING=1/READY=1 around SIGHUP (a bad
# file keeps the old config), STOPPING=1 on SIGTERM, on a NOTIFY_SOCKET this test owns; socket
# activation of the control socket through systemd-socket-activate; -d returning once ready; the
# lock file.
source "$(dirname "$0")/lib.sh"
need_root
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"

new_netns ctd-sd
ns=$NS
conf=$TMP/conntrackd.conf
sock=$TMP/ctl.sock
write_conf() {
        cat > "$conf" <<CONF
General {
        HashSize 1024
        HashLimit ${1:-4096}
        LockFile $TMP/lock
        UNIX { Path $sock }
}
Stats { }
CONF
}
write_conf

# --- sd_notify ---
notify=$TMP/notify.sock
/usr/bin/python3 - "$notify" > "$TMP/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
t0 = time.monotonic()
while True:
    msg = s.recv(4096).decode()
    for line in msg.split("\n"):
        print(f"{time.monotonic() - t0:.3f} {line}", flush=True)
PY
PIDS+=($!)
wait_for "the notify listener" 10 test -S "$notify"

NOTIFY_SOCKET=$notify WATCHDOG_USEC=1000000 start_daemon "$ns" "$conf"
has() { grep -q -- "$1" "$TMP/notify.log"; }
count() { grep -c -- "$1" "$TMP/notify.log" || true; }
pings() { count ' WATCHDOG=1$'; }
readies() { count ' READY=1$'; }
wait_for "READY=1" 10 has ' READY=1$'
wait_for "STATUS=" 10 has ' STATUS=running, mode stats'
wait_for "two watchdog pings" 10 'test "$(pings)" -ge 2'
info "readiness and watchdog: $(count ' WATCHDOG=1$') pings so far"

kill -HUP "$DAEMON_PID"
wait_for "RELOADING=1" 10 has ' RELOADING=1$'
wait_for "READY=1 after the reload" 10 'test "$(readies)" -ge 2'
grep -q 'MONOTONIC_USEC=' "$TMP/notify.log" || fail "RELOADING=1 without MONOTONIC_USEC="

# a bad file: the daemon keeps running with the old config
echo "General { HashLimit many }" > "$conf"
kill -HUP "$DAEMON_PID"
wait_for "the bad reload to be reported" 10 grep -q "rejected" "$TMP/daemon.log"
kill -0 "$DAEMON_PID" || fail "daemon died on a bad config"
grep -q "conntrackd.conf:1:" "$TMP/daemon.log" || fail "no FILE:LINE for the bad config"
wait_for "READY=1 after the failed reload" 10 'test "$(readies)" -ge 3'
write_conf

kill -TERM "$DAEMON_PID"
wait_for "the daemon to exit" 10 bash -c "! kill -0 $DAEMON_PID"
wait "$DAEMON_PID" || fail "daemon exit status $? after SIGTERM"
has ' STOPPING=1$' || fail "no STOPPING=1"
test ! -e "$sock" || fail "control socket left after SIGTERM"

# --- socket activation of the control socket ---
asock=$TMP/activated.sock
sed -i "s|UNIX { Path $sock }|UNIX { Path $asock }|" "$conf"
ip netns exec "$ns" systemd-socket-activate -l "$asock" --fdname=control \
        "$CONNTRACKD" -C "$conf" >>"$TMP/daemon.log" 2>&1 &
act=$!
PIDS+=("$act")
wait_for "the activation socket" 10 test -S "$asock"
# the first connection starts the daemon, which takes over the listening socket
"$CONNTRACKCTL" --address="unix:path=$asock" status > "$TMP/status" || { cat "$TMP/daemon.log" >&2; fail "status through an activated socket"; }
grep -qi "stats" "$TMP/status" || fail "status does not show the mode"
grep -q "Failed\|ERROR" "$TMP/daemon.log" && { cat "$TMP/daemon.log" >&2; fail "errors with socket activation"; }
"$CONNTRACKCTL" --address="unix:path=$asock" quit
wait_for "the activated daemon to exit" 10 bash -c "! kill -0 $act"
test -S "$asock" || fail "the daemon removed a socket it did not create"
rm -f "$asock"
sed -i "s|UNIX { Path $asock }|UNIX { Path $sock }|" "$conf"

# --- -d: returns once ready ---
ip netns exec "$ns" "$CONNTRACKD" -d -C "$conf" || fail "conntrackd -d failed"
test -S "$sock" || fail "-d returned before the control socket existed"
"$CONNTRACKD" -C "$conf" -s runtime | grep -q '^daemon uptime:' || fail "-s runtime after -d"

# a second daemon with the same lock file is refused, and says why
if ip netns exec "$ns" "$CONNTRACKD" -C "$conf" 2>"$TMP/second.err"; then
        fail "a second daemon started with the same lock file"
fi
grep -q "another conntrackd" "$TMP/second.err" || { cat "$TMP/second.err" >&2; fail "no reason given for the lock refusal"; }

"$CONNTRACKD" -C "$conf" -k
wait_for "the detached daemon to exit" 10 bash -c "! test -S $sock"

# a lock file left behind by a crash does not block a restart
touch "$TMP/lock"
start_daemon "$ns" "$conf"
"$CONNTRACKD" -C "$conf" -k
echo "PASS"
