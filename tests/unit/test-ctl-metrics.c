/* SPDX-License-Identifier: GPL-2.0-or-later */
/* conntrackctl stats --format=prometheus|openmetrics: the rendering of a statistics table. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl-metrics.h"

typedef struct Row {
        const char *key;
        uint64_t value;
        const char *string;     /* non-NULL: a string entry */
} Row;

static StatsTable *table_from(const Row *rows, size_t n) {
        StatsTable *t = NULL;

        g_assert_cmpint(stats_table_new(&t), ==, 0);
        for (size_t i = 0; i < n; i++)
                if (rows[i].string)
                        g_assert_cmpint(stats_table_set_string(t, rows[i].key, rows[i].string),
                                        ==, 0);
                else
                        g_assert_cmpint(stats_table_set_uint(t, rows[i].key, rows[i].value), ==, 0);
        return t;
}

static char *render(const StatsTable *t, MetricsFormat format) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        g_assert_nonnull(f);
        g_assert_cmpint(metrics_render(f, t, format), ==, 0);
        g_assert_cmpint(fclose(f), ==, 0);
        return buf;
}

static char *render_rows(const Row *rows, size_t n, MetricsFormat format) {
        _cleanup_(stats_table_freep) StatsTable *t = table_from(rows, n);

        stats_table_sort(t);
        return render(t, format);
}

/* A small daemon in FT-FW mode, in the order GetStatistics gives (the renderer sorts). */
static const Row ftfw_rows[] = {
        { "mode", 0, "ftfw" },
        { "internal.objects", 3, NULL },
        { "internal.add_ok", 7, NULL },
        { "internal-expect.add_fail_nospace", 2, NULL },
        { "runtime.uptime", 3725, NULL },
        { "netlink.events_new", 11, NULL },
        { "netlink.buffer_size", 262144, NULL },
        { "peer.state", 0, "alive" },
        { "peer.last_seen_usec", 1700000000123456, NULL },
        { "commit.duration_usec", 2500000, NULL },
        { "commit.last_duration_usec", 1000001, NULL },
        { "link0.type", 0, "udp" },
        { "link0.device", 0, "eth1" },
        { "link0.status", 0, "RUNNING" },
        { "link0.role", 0, "ACTIVE" },
        { "link0.bytes_sent", 1000, NULL },
        { "link1.type", 0, "tcp" },
        { "link1.device", 0, "eth2" },
        { "link1.status", 0, "DOWN" },
        { "link1.role", 0, "BACKUP" },
        { "link1.server", 0, "disconnected" },
        { "link1.client", 0, "connected" },
        { "link1.bytes_sent", 0, NULL },
        { "rsqueue.current", 4, NULL },
        { "rsqueue.nospace", 1, NULL },
};

/* Families sorted by name: "conntrackd" (conntrackd_info) first, "conntrackd_link" (info) before
 * "conntrackd_link_bytes_sent". */
static const char ftfw_prometheus[] =
        "# HELP conntrackd_info The daemon: its settings as labels (mode)\n"
        "# TYPE conntrackd_info gauge\n"
        "conntrackd_info{mode=\"ftfw\"} 1\n"
        "# HELP conntrackd_commit_duration_seconds_total Time spent in finished commits (commit.duration_usec)\n"
        "# TYPE conntrackd_commit_duration_seconds_total counter\n"
        "conntrackd_commit_duration_seconds_total 2.500000\n"
        "# HELP conntrackd_commit_last_duration_seconds Duration of the last commit (commit.last_duration_usec)\n"
        "# TYPE conntrackd_commit_last_duration_seconds gauge\n"
        "conntrackd_commit_last_duration_seconds 1.000001\n"
        "# HELP conntrackd_internal_add_ok_total Objects added to the cache (internal.add_ok)\n"
        "# TYPE conntrackd_internal_add_ok_total counter\n"
        "conntrackd_internal_add_ok_total 7\n"
        "# HELP conntrackd_internal_expect_add_fail_nospace_total Objects not added: the cache was full (HashLimit) (internal-expect.add_fail_nospace)\n"
        "# TYPE conntrackd_internal_expect_add_fail_nospace_total counter\n"
        "conntrackd_internal_expect_add_fail_nospace_total 2\n"
        "# HELP conntrackd_internal_objects Objects in the cache (internal.objects)\n"
        "# TYPE conntrackd_internal_objects gauge\n"
        "conntrackd_internal_objects 3\n"
        "# HELP conntrackd_link_info Each replication link: its type, device and state as labels (link<N>.*)\n"
        "# TYPE conntrackd_link_info gauge\n"
        "conntrackd_link_info{link=\"0\",type=\"udp\",device=\"eth1\",role=\"ACTIVE\",status=\"RUNNING\"} 1\n"
        "conntrackd_link_info{link=\"1\",type=\"tcp\",device=\"eth2\",client=\"connected\",role=\"BACKUP\",server=\"disconnected\",status=\"DOWN\"} 1\n"
        "# HELP conntrackd_link_bytes_sent_total Bytes sent on the link (link<N>.bytes_sent)\n"
        "# TYPE conntrackd_link_bytes_sent_total counter\n"
        "conntrackd_link_bytes_sent_total{link=\"0\",type=\"udp\",device=\"eth1\"} 1000\n"
        "conntrackd_link_bytes_sent_total{link=\"1\",type=\"tcp\",device=\"eth2\"} 0\n"
        "# HELP conntrackd_netlink_buffer_size Receive buffer of the event socket in bytes (netlink.buffer_size)\n"
        "# TYPE conntrackd_netlink_buffer_size gauge\n"
        "conntrackd_netlink_buffer_size 262144\n"
        "# HELP conntrackd_netlink_events_new_total Conntrack NEW events handled (netlink.events_new)\n"
        "# TYPE conntrackd_netlink_events_new_total counter\n"
        "conntrackd_netlink_events_new_total 11\n"
        "# HELP conntrackd_peer_last_seen_seconds Time (Unix epoch) of the last valid message from the peer; 0 = never (peer.last_seen_usec)\n"
        "# TYPE conntrackd_peer_last_seen_seconds gauge\n"
        "conntrackd_peer_last_seen_seconds 1700000000.123456\n"
        "# HELP conntrackd_peer_state The peer as the sync engine knows it: 1 for the current state (peer.state)\n"
        "# TYPE conntrackd_peer_state gauge\n"
        "conntrackd_peer_state{state=\"unknown\"} 0\n"
        "conntrackd_peer_state{state=\"alive\"} 1\n"
        "conntrackd_peer_state{state=\"lost\"} 0\n"
        "# HELP conntrackd_rsqueue_current Entries in the queue (rsqueue.current)\n"
        "# TYPE conntrackd_rsqueue_current gauge\n"
        "conntrackd_rsqueue_current 4\n"
        "# HELP conntrackd_rsqueue_nospace_total Entries dropped: the queue was full (rsqueue.nospace)\n"
        "# TYPE conntrackd_rsqueue_nospace_total counter\n"
        "conntrackd_rsqueue_nospace_total 1\n"
        "# HELP conntrackd_runtime_uptime_seconds Time since the daemon started (runtime.uptime)\n"
        "# TYPE conntrackd_runtime_uptime_seconds gauge\n"
        "conntrackd_runtime_uptime_seconds 3725\n";

static void test_prometheus(void) {
        g_autofree char *out = render_rows(ftfw_rows, G_N_ELEMENTS(ftfw_rows),
                                           METRICS_FORMAT_PROMETHEUS);

        g_assert_cmpstr(out, ==, ftfw_prometheus);
}

/* OpenMetrics: families named without _total/_info, info type, # UNIT, # EOF. */
static void test_openmetrics(void) {
        g_autofree char *out = render_rows(ftfw_rows, G_N_ELEMENTS(ftfw_rows),
                                           METRICS_FORMAT_OPENMETRICS);
        static const char *const want_lines[] = {
                "# HELP conntrackd_commit_duration_seconds Time spent in finished commits (commit.duration_usec)",
                "# TYPE conntrackd_commit_duration_seconds counter",
                "# UNIT conntrackd_commit_duration_seconds seconds",
                "conntrackd_commit_duration_seconds_total 2.500000",
                "# TYPE conntrackd info",
                "conntrackd_info{mode=\"ftfw\"} 1",
                "# TYPE conntrackd_internal_add_ok counter",
                "conntrackd_internal_add_ok_total 7",
                "# TYPE conntrackd_internal_objects gauge",
                "# TYPE conntrackd_link_bytes_sent counter",
                "conntrackd_link_bytes_sent_total{link=\"1\",type=\"tcp\",device=\"eth2\"} 0",
                "# TYPE conntrackd_link info",
                "# UNIT conntrackd_peer_last_seen_seconds seconds",
                "# UNIT conntrackd_runtime_uptime_seconds seconds",
                "conntrackd_runtime_uptime_seconds 3725",
        };
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        guint n = g_strv_length(lines);

        for (size_t i = 0; i < G_N_ELEMENTS(want_lines); i++)
                if (!g_strv_contains((const char *const *) lines, want_lines[i]))
                        g_error("missing line \"%s\" in:\n%s", want_lines[i], out);
        /* the last line, and only there */
        g_assert_cmpuint(n, >=, 2);
        g_assert_cmpstr(lines[n - 1], ==, "");
        g_assert_cmpstr(lines[n - 2], ==, "# EOF");
        g_assert_true(strstr(out, "# EOF") == out + strlen(out) - strlen("# EOF\n"));
        /* no classic metadata names */
        g_assert_null(strstr(out, "# TYPE conntrackd_internal_add_ok_total"));
        g_assert_null(strstr(out, "# TYPE conntrackd_info"));
        /* the classic format has neither # UNIT nor # EOF */
        {
                g_autofree char *classic = render_rows(ftfw_rows, G_N_ELEMENTS(ftfw_rows),
                                                       METRICS_FORMAT_PROMETHEUS);

                g_assert_null(strstr(classic, "# UNIT"));
                g_assert_null(strstr(classic, "# EOF"));
        }
}

/* Label values and help texts escape backslash, quote and newline as each format wants. */
static void test_escaping(void) {
        static const Row rows[] = {
                { "link0.type", 0, "udp" },
                { "link0.device", 0, "we\"ird\\dev\nice" },
                { "link0.pkts_recv", 5, NULL },
                { "odd.na\"me\\x", 1, NULL },
        };
        g_autofree char *prom = render_rows(rows, G_N_ELEMENTS(rows), METRICS_FORMAT_PROMETHEUS);
        g_autofree char *om = render_rows(rows, G_N_ELEMENTS(rows), METRICS_FORMAT_OPENMETRICS);

        g_assert_nonnull(strstr(prom, "conntrackd_link_pkts_recv_total{link=\"0\",type=\"udp\","
                                      "device=\"we\\\"ird\\\\dev\\nice\"} 5\n"));
        g_assert_nonnull(strstr(prom, "conntrackd_link_info{link=\"0\",type=\"udp\","
                                      "device=\"we\\\"ird\\\\dev\\nice\"} 1\n"));
        /* the name is sanitized; the key in the help keeps its characters, escaped per format */
        g_assert_nonnull(strstr(prom, "# HELP conntrackd_odd_na_me_x_total conntrackd statistic "
                                      "(odd.na\"me\\\\x)\n"));
        g_assert_nonnull(strstr(om, "# HELP conntrackd_odd_na_me_x conntrackd statistic "
                                    "(odd.na\\\"me\\\\x)\n"));
        g_assert_nonnull(strstr(prom, "\nconntrackd_odd_na_me_x_total 1\n"));
        /* no raw newline inside a line: every line is metadata or a sample */
        {
                g_auto(GStrv) lines = g_strsplit(prom, "\n", -1);

                for (char **l = lines; *l; l++)
                        g_assert_true(**l == '\0' || g_str_has_prefix(*l, "# ") ||
                                      g_str_has_prefix(*l, "conntrackd_"));
        }
}

/* Names and label names: only [a-zA-Z0-9_], label names not starting with a digit or "__". */
static void test_sanitize(void) {
        static const Row rows[] = {
                { "internal-expect.active", 2, NULL },
                { "a:b.c-d e", 3, NULL },
                { "grp.9lives", 0, "x" },
                { "grp.__reserved", 0, "y" },
                { "grp.ok-name", 0, "z" },
                { "nodot", 4, NULL },
                { ".empty_group", 5, NULL },
                { "empty_name.", 6, NULL },
        };
        g_autofree char *out = render_rows(rows, G_N_ELEMENTS(rows), METRICS_FORMAT_PROMETHEUS);

        g_assert_nonnull(strstr(out, "\nconntrackd_internal_expect_active 2\n"));
        g_assert_nonnull(strstr(out, "# TYPE conntrackd_internal_expect_active gauge\n"));
        g_assert_nonnull(strstr(out, "\nconntrackd_a_b_c_d_e_total 3\n"));
        g_assert_nonnull(strstr(out, "\nconntrackd_grp_info{l9lives=\"x\",l__reserved=\"y\","
                                     "ok_name=\"z\"} 1\n"));
        g_assert_nonnull(strstr(out, "\nconntrackd_nodot_total 4\n"));
        /* keys without a group or a name cannot be named: left out */
        g_assert_null(strstr(out, "empty"));
}

/* Two keys that sanitize to one name: one sample; of different types: the first type wins. */
static void test_collisions(void) {
        static const Row rows[] = {
                { "a-b.c", 1, NULL },
                { "a_b.c", 2, NULL },
                { "x.current", 3, NULL },       /* not a queue: a counter */
                { "x-y.z", 0, "s" },            /* info conntrackd_x_y */
                { "rsqueue.current", 4, NULL },
                { "rsqueue_current.x", 0, "s" },  /* sorts after rsqueue.current */
        };
        g_autofree char *out = render_rows(rows, G_N_ELEMENTS(rows), METRICS_FORMAT_OPENMETRICS);
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
        unsigned types = 0, samples_ab = 0;

        for (char **l = lines; *l; l++) {
                types += g_str_has_prefix(*l, "# TYPE conntrackd_a_b_c ");
                samples_ab += g_str_has_prefix(*l, "conntrackd_a_b_c_total ");
        }
        g_assert_cmpuint(types, ==, 1);
        g_assert_cmpuint(samples_ab, ==, 1);
        g_assert_nonnull(strstr(out, "\nconntrackd_a_b_c_total 1\n"));
        g_assert_nonnull(strstr(out, "# TYPE conntrackd_x_current counter\n"));
        g_assert_nonnull(strstr(out, "# TYPE conntrackd_rsqueue_current gauge\n"));
        g_assert_nonnull(strstr(out, "# TYPE conntrackd_x_y info\n"));
        /* "rsqueue_current" as an info family has the name of the gauge: left out */
        g_assert_null(strstr(out, "# TYPE conntrackd_rsqueue_current info"));
}

/* A peer state of a later version is a sample of its own, after the known ones. */
static void test_peer_state(void) {
        static const Row unknown_rows[] = { { "peer.state", 0, "unknown" } };
        static const Row later_rows[] = { { "peer.state", 0, "degraded" } };
        g_autofree char *a = render_rows(unknown_rows, 1, METRICS_FORMAT_OPENMETRICS);
        g_autofree char *b = render_rows(later_rows, 1, METRICS_FORMAT_OPENMETRICS);

        g_assert_cmpstr(a, ==,
                        "# HELP conntrackd_peer_state The peer as the sync engine knows it: 1 for "
                        "the current state (peer.state)\n"
                        "# TYPE conntrackd_peer_state gauge\n"
                        "conntrackd_peer_state{state=\"unknown\"} 1\n"
                        "conntrackd_peer_state{state=\"alive\"} 0\n"
                        "conntrackd_peer_state{state=\"lost\"} 0\n"
                        "# EOF\n");
        g_assert_nonnull(strstr(b, "conntrackd_peer_state{state=\"unknown\"} 0\n"
                                   "conntrackd_peer_state{state=\"alive\"} 0\n"
                                   "conntrackd_peer_state{state=\"lost\"} 0\n"
                                   "conntrackd_peer_state{state=\"degraded\"} 1\n"));
}

/* Large values and the seconds of _usec keys are exact. */
static void test_values(void) {
        static const Row rows[] = {
                { "network.msgs_sent", UINT64_MAX, NULL },
                { "peer.last_seen_usec", 0, NULL },
                { "commit.last_finished_usec", 999999, NULL },
                { "commit.duration_usec", UINT64_MAX, NULL },
        };
        g_autofree char *out = render_rows(rows, G_N_ELEMENTS(rows), METRICS_FORMAT_PROMETHEUS);

        g_assert_nonnull(strstr(out, "\nconntrackd_network_msgs_sent_total 18446744073709551615\n"));
        g_assert_nonnull(strstr(out, "\nconntrackd_peer_last_seen_seconds 0.000000\n"));
        g_assert_nonnull(strstr(out, "\nconntrackd_commit_last_finished_seconds 0.999999\n"));
        g_assert_nonnull(strstr(out, "\nconntrackd_commit_duration_seconds_total "
                                     "18446744073709.551615\n"));
}

static void test_empty(void) {
        _cleanup_(stats_table_freep) StatsTable *t = table_from(NULL, 0);
        g_autofree char *prom = render(t, METRICS_FORMAT_PROMETHEUS);
        g_autofree char *om = render(t, METRICS_FORMAT_OPENMETRICS);

        g_assert_cmpstr(prom, ==, "");
        g_assert_cmpstr(om, ==, "# EOF\n");
}

static void test_write_error(void) {
        _cleanup_(stats_table_freep) StatsTable *t = table_from(ftfw_rows, G_N_ELEMENTS(ftfw_rows));
        FILE *f = fopen("/dev/full", "we");

        if (!f) {
                g_test_skip("no /dev/full");
                return;
        }
        setvbuf(f, NULL, _IONBF, 0);
        g_assert_cmpint(metrics_render(f, t, METRICS_FORMAT_OPENMETRICS), ==, -EIO);
        fclose(f);
        g_assert_cmpint(metrics_render(stdout, t, _METRICS_FORMAT_MAX), ==, -EINVAL);
}

static void test_format_strings(void) {
        for (MetricsFormat i = 0; i < _METRICS_FORMAT_MAX; i++) {
                const char *s = metrics_format_to_string(i);

                g_assert_nonnull(s);
                g_assert_cmpint(metrics_format_from_string(s), ==, i);
        }
        g_assert_cmpint(metrics_format_from_string("text"), ==, _METRICS_FORMAT_INVALID);
        g_assert_cmpint(metrics_format_from_string(NULL), ==, _METRICS_FORMAT_INVALID);
        g_assert_null(metrics_format_to_string(_METRICS_FORMAT_MAX));
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/ctl-metrics/format-strings", test_format_strings);
        g_test_add_func("/ctl-metrics/prometheus", test_prometheus);
        g_test_add_func("/ctl-metrics/openmetrics", test_openmetrics);
        g_test_add_func("/ctl-metrics/escaping", test_escaping);
        g_test_add_func("/ctl-metrics/sanitize", test_sanitize);
        g_test_add_func("/ctl-metrics/collisions", test_collisions);
        g_test_add_func("/ctl-metrics/peer-state", test_peer_state);
        g_test_add_func("/ctl-metrics/values", test_values);
        g_test_add_func("/ctl-metrics/empty", test_empty);
        g_test_add_func("/ctl-metrics/write-error", test_write_error);
        return g_test_run();
}
