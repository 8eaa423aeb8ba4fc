#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The files that integrate conntrackd with systemd and D-Bus, checked the way the system will read
# them: systemd-analyze verify on the units (ExecStart/ExecReload pointing at the build's binary,
# Documentation= resolved against the man pages of the build), the sandbox of the service (every
# hardening setting that systemd-analyze security knows is set, but for a fixed list of known
# exceptions), the reload command against a good and a bad file, the tmpfiles.d line applied to a
# scratch root, the policy file parsed as XML, the names and paths that tie the files together, and
# the examples of conntrackd.conf(5) accepted without a warning.
source "$(dirname "$0")/lib.sh"
: "${TOP_SRCDIR:?set by meson}" "${TOP_BUILDDIR:?set by meson}"
command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"

service_in=$TOP_BUILDDIR/units/conntrackd.service      # configured by meson
socket_in=$TOP_SRCDIR/units/conntrackd.socket
tmpfiles=$TOP_SRCDIR/tmpfiles.d/conntrackd.conf
policy=$TOP_SRCDIR/dbus/org.netfilter.conntrackd1.conf
activation=$TOP_SRCDIR/dbus/org.netfilter.conntrackd1.service
for f in "$service_in" "$socket_in" "$tmpfiles" "$policy" "$activation"; do
        test -f "$f" || fail "missing $f"
done

# key FILE KEY: the values of KEY= in FILE, one per line
key() { sed -n "s/^$2=//p" "$1"; }
# the only value of KEY= in FILE
key1() {
        local v
        v=$(key "$1" "$2")
        [ -n "$v" ] || fail "$(basename "$1"): no $2="
        [ "$(printf '%s\n' "$v" | wc -l)" -eq 1 ] || fail "$(basename "$1"): $2= given more than once"
        printf '%s\n' "$v"
}

# --- the units, as installed but with the build's binary ---
units=$TMP/units
mkdir "$units"
exec_start=$(key1 "$service_in" ExecStart)
installed_bin=${exec_start%% *}
case "$installed_bin" in
/*/conntrackd) ;;
*) fail "ExecStart= does not run an absolute .../conntrackd: $exec_start" ;;
esac
grep -q '@[A-Za-z_]*@' "$service_in" && fail "unsubstituted @...@ in $service_in"
sed "s|$installed_bin|$CONNTRACKD|g" "$service_in" > "$units/conntrackd.service"
cp "$socket_in" "$units/conntrackd.socket"

# Documentation=man:... is checked against the pages of this build when they were built.
verify_man=no
pages=$(key "$service_in" Documentation; key "$socket_in" Documentation)
pages=$(printf '%s\n' "$pages" | tr ' ' '\n' | sed -n 's/^man:\(.*\)(\([0-9]\))$/\1.\2/p' | sort -u)
[ -n "$pages" ] || fail "the units have no Documentation=man:..."
if command -v man >/dev/null && [ -f "$TOP_BUILDDIR/man/conntrackd.8" ]; then
        mkdir -p "$TMP/man/man5" "$TMP/man/man8"
        for p in $pages; do
                test -f "$TOP_BUILDDIR/man/$p" || fail "Documentation= names $p, which is not built"
                ln -s "$TOP_BUILDDIR/man/$p" "$TMP/man/man${p##*.}/$p"
        done
        verify_man=yes
else
        info "man pages not built (no rst2man) or man not installed: Documentation= not checked"
fi

( cd "$units" && MANPATH=$TMP/man systemd-analyze verify --man=$verify_man \
        ./conntrackd.service ./conntrackd.socket ) > "$TMP/verify.log" 2>&1 ||
        { cat "$TMP/verify.log" >&2; fail "systemd-analyze verify failed"; }
# verify exits 0 on some complaints: it must have nothing to say at all
[ ! -s "$TMP/verify.log" ] || { cat "$TMP/verify.log" >&2; fail "systemd-analyze verify is not clean"; }
info "systemd-analyze verify: clean (man pages checked: $verify_man)"

# --- the sandbox ---
# Every setting systemd-analyze security rates must be set, but those the daemon needs: it runs as
# root with the network capabilities, talks netlink, D-Bus and (sync) IP, and needs the host's
# network. A setting dropped from the unit shows up here by name.
( cd "$units" && systemd-analyze security --offline=yes --json=short ./conntrackd.service ) \
        > "$TMP/security.json" 2> "$TMP/security.log" ||
        { cat "$TMP/security.log" >&2; fail "systemd-analyze security failed"; }
/usr/bin/python3 - "$TMP/security.json" <<'PY' || fail "the service's sandbox lost settings"
import json, sys
allowed = {
    "UserOrDynamicUser", "SupplementaryGroups", "RemoveIPC",         # runs as root
    "RootDirectoryOrRootImage", "PrivateNetwork", "PrivateUsers", "IPAddressDeny",
    "RestrictAddressFamilies_AF_NETLINK", "RestrictAddressFamilies_AF_UNIX",
    "RestrictAddressFamilies_AF_INET_INET6",
    "CapabilityBoundingSet_CAP_NET_ADMIN",
    "CapabilityBoundingSet_CAP_NET_BIND_SERVICE_BROADCAST_RAW)",     # sic, systemd 252's name
    "CapabilityBoundingSet_CAP_NET_BIND_SERVICE_BROADCAST_RAW",
    "ProtectProc",          # hidepid would hide root callers from the daemon's credential checks
    "ProcSubset",
    "DeviceAllow",          # char-rtc:r, from ProtectClock=
}
entries = json.load(open(sys.argv[1]))
if len(entries) < 50:
    sys.exit(f"only {len(entries)} entries in the security report")
unset = sorted(e["name"] for e in entries if not e["set"] and e["json_field"] not in allowed)
for name in unset:
    print(f"not set: {name}", file=sys.stderr)
sys.exit(1 if unset else 0)
PY
( cd "$units" && systemd-analyze security --offline=yes --threshold=21 ./conntrackd.service ) \
        > "$TMP/security.txt" 2>&1 ||
        { tail -n 25 "$TMP/security.txt" >&2; fail "exposure level of the service above 2.1"; }
info "$(grep -o 'Overall exposure level.*' "$TMP/security.txt")"

grep -qx 'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE' \
        "$units/conntrackd.service" || fail "unexpected CapabilityBoundingSet="
grep -qx 'RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6' "$units/conntrackd.service" ||
        fail "unexpected RestrictAddressFamilies="

# --- service semantics ---
[ "$(key1 "$service_in" Type)" = notify ] || fail "Type= is not notify"
[ "$(key1 "$service_in" NotifyAccess)" = main ] || fail "NotifyAccess= is not main"
[ -n "$(key1 "$service_in" WatchdogSec)" ] || fail "no WatchdogSec="
[ "$(key1 "$service_in" Restart)" = on-failure ] || fail "Restart= is not on-failure"
config=$(sed -n 's/.* -C \([^ ]*\).*/\1/p' <<< "$exec_start")
[ "$config" = /etc/conntrackd/conntrackd.conf ] ||
        fail "ExecStart= does not read /etc/conntrackd/conntrackd.conf"
grep -q -- ' -d' <<< "$exec_start" && fail "ExecStart= detaches (-d) in a Type=notify unit"

# ExecReload: first the check of the same file, then SIGHUP. Run the check as the unit would, on
# a good and on a bad file.
mapfile -t reload < <(key "$units/conntrackd.service" ExecReload)
[ "${#reload[@]}" -eq 2 ] || fail "expected two ExecReload= lines, got ${#reload[@]}"
[[ "${reload[0]}" == "$CONNTRACKD -C $config --check-config" ]] ||
        fail "the first ExecReload= does not check the ExecStart= file: ${reload[0]}"
[[ "${reload[1]}" == "/bin/kill -HUP \$MAINPID" ]] ||
        fail "the second ExecReload= is not SIGHUP: ${reload[1]}"
cat > "$TMP/good.conf" <<CONF
General { LockFile $TMP/lock UNIX { Path $TMP/ctl.sock } }
Stats { }
CONF
echo "General { HashLimit many }" > "$TMP/bad.conf"
check=${reload[0]/$config/$TMP/good.conf}
$check > "$TMP/check.out" 2>&1 ||
        { cat "$TMP/check.out" >&2; fail "the reload check rejects a good file"; }
check=${reload[0]/$config/$TMP/bad.conf}
if $check > "$TMP/check.out" 2>&1; then
        fail "the reload check accepts a bad file"
fi
grep -q "bad.conf:1:" "$TMP/check.out" ||
        { cat "$TMP/check.out" >&2; fail "the reload check does not name FILE:LINE"; }

# --- the runtime directory, the socket unit and tmpfiles.d agree ---
rundir=/run/$(key1 "$service_in" RuntimeDirectory)
rundir_mode=$(key1 "$service_in" RuntimeDirectoryMode)
[ "$(key1 "$service_in" RuntimeDirectoryPreserve)" = yes ] ||
        fail "RuntimeDirectoryPreserve= is not yes: a stop would delete the socket unit's socket"
listen=$(key1 "$socket_in" ListenStream)
[ "$(dirname "$listen")" = "$rundir" ] || fail "ListenStream= $listen is not in $rundir"
[ "$(key1 "$socket_in" FileDescriptorName)" = control ] || fail "FileDescriptorName= is not control"
[ "$(key1 "$socket_in" SocketMode)" = 0600 ] || fail "SocketMode= is not 0600"
[ "$(key1 "$socket_in" DirectoryMode)" = "$rundir_mode" ] ||
        fail "DirectoryMode= of the socket differs from RuntimeDirectoryMode="
read -r type path mode user group _ < <(grep -v '^[[:space:]]*\(#\|$\)' "$tmpfiles")
[ "$type $path $mode $user $group" = "d $rundir $rundir_mode root root" ] ||
        fail "tmpfiles.d: '$type $path $mode $user $group', the unit: $rundir $rundir_mode"
[ "$(grep -vc '^[[:space:]]*\(#\|$\)' "$tmpfiles")" -eq 1 ] || fail "unexpected lines in $tmpfiles"

# the tmpfiles.d file as systemd-tmpfiles applies it
if command -v systemd-tmpfiles >/dev/null && [ "$(id -u)" -eq 0 ]; then
        root=$TMP/root
        mkdir "$root"
        systemd-tmpfiles --create --root="$root" "$tmpfiles" > "$TMP/tmpfiles.log" 2>&1 ||
                { cat "$TMP/tmpfiles.log" >&2; fail "systemd-tmpfiles rejects $tmpfiles"; }
        [ "$(stat -c '%F %a %u %g' "$root$rundir")" = "directory ${rundir_mode#0} 0 0" ] ||
                fail "systemd-tmpfiles made $(stat -c '%F %a %u %g' "$root$rundir") of $rundir"
        # and a second run changes nothing and does not fail
        systemd-tmpfiles --create --root="$root" "$tmpfiles" > "$TMP/tmpfiles.log" 2>&1 ||
                { cat "$TMP/tmpfiles.log" >&2; fail "systemd-tmpfiles fails on the second run"; }
else
        info "not root or no systemd-tmpfiles: the tmpfiles.d line is checked as text only"
fi

# --- D-Bus: the policy parses, and names agree across the files ---
if command -v xmllint >/dev/null; then
        xmllint --noout --nonet "$policy" || fail "$policy is not well-formed XML"
else
        /usr/bin/python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' \
                "$policy" || fail "$policy is not well-formed XML"
fi
name=$(key1 "$service_in" BusName)
[ "$name" = org.netfilter.conntrackd1 ] || fail "BusName= is $name"
/usr/bin/python3 - "$policy" "$name" <<'PY' || fail "the policy does not match the bus name"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
name = sys.argv[2]
assert root.tag == "busconfig", root.tag
policies = {(tuple(p.attrib.items())): p for p in root.findall("policy")}
root_policy = policies.get((("user", "root"),))
default = policies.get((("context", "default"),))
assert root_policy is not None and default is not None, "need a user=root and a context=default policy"
assert set(policies) == {(("user", "root"),), (("context", "default"),)}, \
    f"other policies: {list(policies)}"
# root owns the name and may send it anything
assert any(r.tag == "allow" and r.attrib == {"own": name} for r in root_policy), \
    "root may not own the name"
assert any(r.tag == "allow" and r.attrib == {"send_destination": name} for r in root_policy), \
    "root may not call everything"
# nobody else may own it; the default denies everything first, then opens read-only members
rules = list(default)
assert rules[0].tag == "deny" and rules[1].tag == "deny", \
    "the default policy does not start with deny rules"
assert {"own": name} in [r.attrib for r in rules if r.tag == "deny"], "others are not denied the name"
assert {"send_destination": name} in [r.attrib for r in rules if r.tag == "deny"], "no default deny"
opened = set()
for r in rules:
    if r.tag != "allow" or r.get("send_destination") != name:
        continue
    opened.add((r.get("send_interface"), r.get("send_member")))
expected = {
    ("org.freedesktop.DBus.Introspectable", None),
    ("org.freedesktop.DBus.Peer", None),
    ("org.freedesktop.DBus.Properties", "Get"),
    ("org.freedesktop.DBus.Properties", "GetAll"),
    ("org.netfilter.conntrackd1.Manager", "GetStatistics"),
    ("org.netfilter.conntrackd1.Manager", "DumpCache"),
}
assert opened == expected, f"opened to everybody: {sorted(map(str, opened ^ expected))} differ"
PY
# the methods opened to everybody exist in the interface and are not mutating
xml=$TOP_SRCDIR/dbus/org.netfilter.conntrackd1.Manager.xml
for m in GetStatistics DumpCache; do
        grep -q "<method name=\"$m\">" "$xml" || fail "the policy opens $m, which the interface lacks"
done
grep -q "<interface name=\"$name.Manager\">" "$xml" || fail "the interface is not $name.Manager"

[ "$(key1 "$activation" Name)" = "$name" ] || fail "bus activation file: Name= is not $name"
[ "$(key1 "$activation" SystemdService)" = conntrackd.service ] ||
        fail "bus activation file: SystemdService= is not conntrackd.service"
[ "$(key1 "$activation" User)" = root ] || fail "bus activation file: User= is not root"
[ "$(key1 "$activation" Exec)" = /bin/false ] || fail "bus activation file: Exec= is not /bin/false"
grep -qx '\[D-BUS Service\]' "$activation" || fail "bus activation file: no [D-BUS Service] group"

# --- the examples of conntrackd.conf(5) are accepted by the daemon ---
/usr/bin/python3 - "$TOP_SRCDIR/man/conntrackd.conf.5.rst" "$TMP" <<'PY' || fail "no examples in conntrackd.conf(5)"
import re, sys
text = open(sys.argv[1]).read()
examples = text[text.index("EXAMPLES\n========"):text.index("SEE ALSO\n========")]
blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", examples)
for i, block in enumerate(blocks):
    with open(f"{sys.argv[2]}/example{i}.conf", "w") as f:
        f.write("\n".join(line[4:] for line in block.split("\n")))
sys.exit(0 if len(blocks) >= 2 else 1)
PY
for f in "$TMP"/example*.conf; do
        "$CONNTRACKD" -C "$f" --check-config > "$TMP/check.out" 2> "$TMP/check.err" ||
                { cat "$f" "$TMP/check.err" >&2; fail "an example of conntrackd.conf(5) is rejected"; }
        # not even a warning or a notice
        [ ! -s "$TMP/check.err" ] ||
                { cat "$f" "$TMP/check.err" >&2; fail "an example of conntrackd.conf(5) has warnings"; }
done

echo "PASS"
