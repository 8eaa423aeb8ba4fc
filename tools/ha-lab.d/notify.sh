#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# keepalived's notify script of the HA lab: drives the firewall's conntrackd on VRRP transitions.
#   notify.sh ENV_FILE primary|backup|fault
# ENV_FILE (written by lab.sh) names the side, its conntrackd binary and config, and the variant:
#   legacy  the conntrackd 1.4.x client flags, in the order of conntrack-tools' primary-backup.sh:
#           primary: -c (commit the external cache), -f (flush the caches), -R (resync the internal
#           cache with the kernel), -B (bulk-send it to the backup);
#           backup: -s (alive? if not, remove a stale lock file and start it with -d), -t (flush
#           the kernel table after PurgeTimeout), -n (ask the new master for a full resync);
#           fault: -t
#   dbus    the same steps as D-Bus calls with conntrackctl on the daemon's private socket:
#           commit, flush all, resync, send-bulk / status, reset-timers, request-resync /
#           reset-timers
#   promote the whole sequence as one D-Bus call each (conntrackctl promote / demote), which
#           answers when every step is done, in order, or names the step that failed:
#           primary: promote; backup: status (as above), demote; fault: reset-timers
# A failing step is logged and the next one still runs, as primary-backup.sh does. Each step is
# recorded with its exit status and duration in $EVENTS; $STATE holds the last finished transition.
set -u
PATH=/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck disable=SC1090
source "$1"
transition=$2

ms() { date +%s%3N; }
log() { echo "$(ms) $transition $*" >> "$EVENTS"; }

# step NAME CMD...: run one step, record status and duration
step() {
        local name=$1 t0 rc out; shift
        t0=$(ms)
        out=$("$@" 2>&1)
        rc=$?
        log "$name rc=$rc $(( $(ms) - t0 ))ms${out:+ $(echo "$out" | tail -n 1)}"
        return $rc
}

legacy() { step "conntrackd $*" "$BIN" -C "$CONF" "$@"; }
dbus() { step "conntrackctl $*" "$CTL" --address="unix:path=$SOCK" "$@"; }

# keepalived may start the scripts of two quick transitions at once: one at a time, in order
exec 9>>"$STATE.lock"
flock 9
log begin

if [ "$IMPL" = none ]; then
        log "no conntrackd on this firewall"
elif [ "$VARIANT" = legacy ] || [ "$IMPL" = debian ]; then
        case "$transition" in
        primary)
                legacy -c
                legacy -f
                legacy -R
                legacy -B
                ;;
        backup)
                if ! legacy -s; then
                        [ -f "$LOCK" ] && log "conntrackd was not stopped cleanly, removing $LOCK"
                        rm -f "$LOCK"
                        legacy -d
                fi
                legacy -t
                legacy -n
                ;;
        fault)
                legacy -t
                ;;
        esac
elif [ "$VARIANT" = promote ]; then
        case "$transition" in
        primary)
                dbus promote
                ;;
        backup)
                if ! dbus status; then
                        rm -f "$LOCK"
                        legacy -d
                fi
                dbus demote
                ;;
        fault)
                dbus reset-timers
                ;;
        esac
else
        case "$transition" in
        primary)
                dbus commit
                dbus flush all
                dbus resync
                dbus send-bulk
                ;;
        backup)
                if ! dbus status; then
                        rm -f "$LOCK"
                        legacy -d
                fi
                dbus reset-timers
                dbus request-resync
                ;;
        fault)
                dbus reset-timers
                ;;
        esac
fi

case "$transition" in
primary) echo MASTER ;;
backup) echo BACKUP ;;
fault) echo FAULT ;;
esac > "$STATE.tmp"
mv "$STATE.tmp" "$STATE"
log end
exit 0
