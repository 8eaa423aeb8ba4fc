# SPDX-License-Identifier: GPL-2.0-or-later
"""Check `conntrackctl stats --format=openmetrics|prometheus` against the daemon.

Reads GetStatistics("") over the daemon's private socket (python3-dbus, independent of
conntrackctl), runs conntrackctl for JSON, OpenMetrics and the classic Prometheus format, reads
GetStatistics again, and checks:
  - the OpenMetrics output passes prometheus_client's OpenMetrics parser (strict: # EOF, types,
    units, suffixes), the classic output prometheus_client's text parser, with every family typed
    (no untyped sample) and both giving the same samples;
  - every key of GetStatistics is in the JSON output and becomes the sample that the documented
    mapping names (conntrackctl(8)), with the value in between the two D-Bus snapshots;
  - the counters of issue 6 are there, with their types;
  - the expectations given as arguments: 'SAMPLE{label=value,...} OP NUMBER' (OP: == >= > <=).
Counters move while it runs (ALIVE messages every second): a capture whose values do not fall
between the snapshots is taken again, up to 5 times.

usage: check-metrics.py CONNTRACKCTL CONF SOCKET [EXPECTATION...]
"""
import json
import math
import re
import subprocess
import sys

import dbus
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
from prometheus_client.parser import text_string_to_metric_families as classic_parse

# The counters the issue asks for: family name -> type (as the OpenMetrics parser reports it).
REQUIRED = {
    "conntrackd_netlink_events_new": "counter",
    "conntrackd_netlink_events_update": "counter",
    "conntrackd_netlink_events_destroy": "counter",
    "conntrackd_netlink_events_received": "counter",
    "conntrackd_netlink_overruns": "counter",
    "conntrackd_netlink_kernel_resyncs": "counter",
    "conntrackd_netlink_overrun_resyncs": "counter",
    "conntrackd_network_resyncs_sent": "counter",
    "conntrackd_network_resyncs_recv": "counter",
    "conntrackd_internal_objects": "gauge",
    "conntrackd_external_objects": "gauge",
    "conntrackd_internal_limit": "gauge",
    "conntrackd_netlink_cache_full": "counter",
    "conntrackd_internal_add_fail_nospace": "counter",
    "conntrackd_link_pkts_sent": "counter",
    "conntrackd_link_pkts_recv": "counter",
    "conntrackd_link_bytes_sent": "counter",
    "conntrackd_link_bytes_recv": "counter",
    "conntrackd_link_err_sent": "counter",
    "conntrackd_link_err_recv": "counter",
    "conntrackd_link": "info",
    "conntrackd_sequence_gaps": "counter",
    "conntrackd_sequence_lost": "counter",
    "conntrackd_network_nacks_sent": "counter",
    "conntrackd_network_nacks_recv": "counter",
    "conntrackd_network_resent": "counter",
    "conntrackd_peer_state": "gauge",
    "conntrackd_peer_last_seen_seconds": "gauge",
    "conntrackd_commit_started": "counter",
    "conntrackd_commit_finished": "counter",
    "conntrackd_commit_objects_ok": "counter",
    "conntrackd_commit_objects_failed": "counter",
    "conntrackd_commit_duration_seconds": "counter",
    "conntrackd_commit_last_duration_seconds": "gauge",
    "conntrackd_rsqueue_current": "gauge",
    "conntrackd_txqueue_current": "gauge",
    "conntrackd_runtime_uptime_seconds": "gauge",
    "conntrackd": "info",
}

PEER_STATES = ("unknown", "alive", "lost")


class Retry(Exception):
    """Values moved between the snapshots in a way the bounds do not cover: capture again."""


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def sanitize(s):
    return re.sub(r"[^a-zA-Z0-9_]", "_", s)


def label_name(s):
    n = sanitize(s)
    if not s or s[0].isdigit() or s.startswith("__"):
        n = "l" + n
    return n


def get_statistics(sock):
    conn = dbus.connection.Connection("unix:path=" + sock)
    obj = conn.get_object(None, "/org/netfilter/conntrackd1", introspect=False)
    stats = obj.GetStatistics("", dbus_interface="org.netfilter.conntrackd1.Manager")
    out = {}
    for k, v in stats.items():
        out[str(k)] = str(v) if isinstance(v, dbus.String) else int(v)
    conn.close()
    return out


def run(ctl, conf, fmt):
    p = subprocess.run([ctl, "-C", conf, "stats", "--format=" + fmt], capture_output=True,
                       text=True, check=False)
    if p.returncode != 0:
        fail("conntrackctl stats --format=%s: exit %d: %s" % (fmt, p.returncode, p.stderr))
    return p.stdout


def samples_of(families):
    """{(sample name, frozenset(labels)): value} and {family name: type}"""
    samples, types = {}, {}
    for fam in families:
        if fam.name in types:
            fail("family %s twice" % fam.name)
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            if key in samples:
                fail("sample %s%s twice" % (s.name, dict(s.labels)))
            samples[key] = s.value
    return samples, types


def expected_sample(key, value, stats):
    """The (sample name, labels, value, family, is_string) that conntrackctl(8) documents."""
    group, dot, name = key.partition(".")
    if not dot:
        group, name = "", key
    link = re.fullmatch(r"link(\d+)", group)
    labels = {}
    if link:
        labels["link"] = link.group(1)
        for ident in ("type", "device"):
            v = stats.get("%s.%s" % (group, ident))
            if isinstance(v, str):
                labels[ident] = v
    fam_group = "link" if link else sanitize(group)
    if isinstance(value, str):
        if key == "peer.state":
            return ("conntrackd_peer_state", {"state": value}, 1.0, "conntrackd_peer_state")
        fam = "conntrackd" + ("_" + fam_group if group else "")
        labels[label_name(name)] = value
        return (fam + "_info", labels, 1.0, fam)
    usec = name.endswith("_usec")
    stem = name[:-5] if usec else name
    fam = "conntrackd_" + (fam_group + "_" if group else "") + sanitize(stem)
    if usec or key == "runtime.uptime":
        fam += "_seconds"
    return (fam, labels, value / 1e6 if usec else float(value), fam)


def find_sample(samples, name, want_labels, subset):
    """The value of the sample 'name' with these labels (subset: it may have more), or None."""
    for (sname, slabels), v in samples.items():
        d = dict(slabels)
        if sname == name and (d == want_labels or
                              (subset and all(d.get(k) == v2 for k, v2 in want_labels.items()))):
            return v
    return None


def within(v, a, b):
    lo, hi = min(a, b), max(a, b)
    return lo - 1e-9 <= v <= hi + 1e-9


def check_once(ctl, conf, sock, expectations):
    before = get_statistics(sock)
    js = json.loads(run(ctl, conf, "json"))
    om_text = run(ctl, conf, "openmetrics")
    classic_text = run(ctl, conf, "prometheus")
    after = get_statistics(sock)

    # --- the parsers ---
    if not om_text.endswith("# EOF\n"):
        fail("OpenMetrics output does not end with # EOF")
    try:
        om_samples, om_types = samples_of(om_parse(om_text))
    except ValueError as e:
        fail("the OpenMetrics parser rejects the output: %s" % e)
    try:
        classic_families = list(classic_parse(classic_text))
    except ValueError as e:
        fail("the Prometheus text parser rejects the output: %s" % e)
    for fam in classic_families:
        if fam.type not in ("counter", "gauge"):
            fail("classic output: family %s is %s (a sample without # TYPE?)" % (fam.name, fam.type))
        if not fam.documentation:
            fail("classic output: family %s has no # HELP" % fam.name)
    classic_samples, _ = samples_of(classic_families)
    if "# EOF" in classic_text or "# UNIT" in classic_text:
        fail("classic output has OpenMetrics-only lines")
    for line in om_text.splitlines():
        if line.startswith("# UNIT ") and not line.split()[2].endswith("_seconds"):
            fail("unexpected unit line %r" % line)

    # Both formats give the same samples (values may move between the runs).
    if set(om_samples) != set(classic_samples):
        fail("OpenMetrics and classic samples differ: %s" %
             sorted(set(om_samples) ^ set(classic_samples))[:10])

    # --- every key of GetStatistics ---
    keys = set(before) | set(after)
    if set(before) != set(after):
        raise Retry("keys changed between the snapshots")
    if set(js) != keys:
        fail("JSON keys differ from GetStatistics: %s" % sorted(set(js) ^ keys))
    matched = set()
    for key in sorted(keys):
        name, labels, _, family = expected_sample(key, before[key], before)
        typ = om_types.get(family)
        if typ is None:
            fail("key %s: no family %s" % (key, family))
        if typ == "counter":
            name += "_total"
        subset = typ == "info" or key == "peer.state"
        v = find_sample(om_samples, name, labels, subset)
        if v is None:
            fail("key %s: no sample %s%s (family %s: %s)" % (key, name, labels, family, typ))
        cv = find_sample(classic_samples, name, labels, subset)
        if cv is None:
            fail("key %s: not in the classic output" % key)
        matched.add(family)
        a, b = before[key], after[key]
        if isinstance(a, str):
            if js[key] not in (a, b):
                fail("key %s: JSON %r, D-Bus %r/%r" % (key, js[key], a, b))
            if key == "peer.state":
                for st in PEER_STATES + ((a,) if a not in PEER_STATES else ()):
                    sv = find_sample(om_samples, name, {"state": st}, False)
                    if sv not in (0.0, 1.0):
                        fail("peer state %s: %r" % (st, sv))
                if a == b and v != 1.0:
                    fail("peer.state %s not 1" % a)
            continue
        scale = 1e6 if key.endswith("_usec") else 1
        if not within(js[key], a, b):
            raise Retry("key %s: JSON %d not in [%d, %d]" % (key, js[key], a, b))
        for what, val in (("OpenMetrics", v), ("classic", cv)):
            if not within(val, a / scale, b / scale):
                raise Retry("key %s: %s %r not in [%r, %r]" % (key, what, val, a / scale,
                                                               b / scale))
            if a == b and val != a / scale and not math.isclose(val, a / scale, rel_tol=1e-15):
                fail("key %s: %s %r, D-Bus %r" % (key, what, val, a / scale))

    # Nothing more in the output than the keys.
    extra = set(om_types) - matched
    if extra:
        fail("families without a key: %s" % sorted(extra))

    # --- the counters ---
    for fam, typ in REQUIRED.items():
        if om_types.get(fam) != typ:
            fail("required metric %s: %s, want %s" % (fam, om_types.get(fam), typ))

    # --- the caller's expectations ---
    for e in expectations:
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s*(==|>=|<=|>)\s*([0-9.e+-]+)", e)
        if not m:
            fail("bad expectation %r" % e)
        name, lab, op, num = m.group(1), m.group(2), m.group(3), float(m.group(4))
        want = dict(kv.split("=", 1) for kv in lab.split(",")) if lab else {}
        want = {k: v.strip('"') for k, v in want.items()}
        found = [v for (sn, sl), v in om_samples.items()
                 if sn == name and all(dict(sl).get(k) == v2 for k, v2 in want.items())]
        if not found:
            fail("expectation %s: no sample %s%s" % (e, name, want))
        ok = {"==": lambda x: x == num, ">=": lambda x: x >= num, "<=": lambda x: x <= num,
              ">": lambda x: x > num}[op]
        if not all(ok(x) for x in found):
            fail("expectation %s: got %s" % (e, found))
        print("# ok: %s (%s)" % (e, ", ".join("%g" % x for x in found)))

    print("# %d keys, %d families, %d samples: both parsers agree" %
          (len(keys), len(om_types), len(om_samples)))


def main():
    if len(sys.argv) < 4:
        fail(__doc__)
    ctl, conf, sock = sys.argv[1:4]
    for attempt in range(5):
        try:
            check_once(ctl, conf, sock, sys.argv[4:])
            return
        except Retry as e:
            print("# capture %d: %s; again" % (attempt + 1, e))
    fail("values never fell between two GetStatistics snapshots in 5 captures")


if __name__ == "__main__":
    main()
