/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "conntrackd -s" layouts rendered from hand-built tables, compared byte for byte with the
 * layouts of spec §5.3 (expected texts transcribed from the spec's notation: TAB for each "⇥",
 * {n:12} and {n:20} right-aligned fields), and the small formatting helpers of conntrackctl.
 */
#include <glib.h>
#include <stdio.h>

#include "ctl-output.h"
#include "legacy-output.h"

typedef struct KV {
        const char *key;
        uint64_t value;
        const char *string;             /* non-NULL: a string entry */
} KV;

#define KV_END { NULL, 0, NULL }

static StatsTable *table_from(const KV *kv) {
        StatsTable *t = NULL;

        g_assert_cmpint(stats_table_new(&t), ==, 0);
        for (; kv->key; kv++) {
                if (kv->string)
                        g_assert_cmpint(stats_table_set_string(t, kv->key, kv->string), ==, 0);
                else
                        g_assert_cmpint(stats_table_set_uint(t, kv->key, kv->value), ==, 0);
        }
        return t;
}

static char *render(const StatsTable *t, const char *section) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        g_assert_nonnull(f);
        g_assert_cmpint(legacy_format_stats(f, t, section), ==, 0);
        g_assert_cmpint(fclose(f), ==, 0);
        return buf;
}

static void assert_renders(const KV *kv, const char *section, const char *expected) {
        _cleanup_(stats_table_freep) StatsTable *t = table_from(kv);
        _cleanup_free_ char *out = render(t, section);

        g_assert_cmpstr(out, ==, expected);
}

#define CACHE_KV(group, active, add_ok, add_fail, upd_ok, upd_fail, del_ok, del_fail) \
        { group ".active", active, NULL }, { group ".add_ok", add_ok, NULL },         \
        { group ".add_fail", add_fail, NULL }, { group ".upd_ok", upd_ok, NULL },     \
        { group ".upd_fail", upd_fail, NULL }, { group ".del_ok", del_ok, NULL },     \
        { group ".del_fail", del_fail, NULL }

/* The spec's real example (FT-FW over UDP, a few flows). */
static const char general_ftfw[] =
        "cache internal:\n"
        "current active connections:\t           8\n"
        "connections created:\t\t          10\tfailed:\t           0\n"
        "connections updated:\t\t           1\tfailed:\t           0\n"
        "connections destroyed:\t\t           2\tfailed:\t           0\n"
        "\n"
        "cache external:\n"
        "current active connections:\t           0\n"
        "connections created:\t\t           0\tfailed:\t           0\n"
        "connections updated:\t\t           0\tfailed:\t           0\n"
        "connections destroyed:\t\t           0\tfailed:\t           0\n"
        "\n"
        "traffic processed:\n"
        "                   0 Bytes                         0 Pckts\n"
        "\n"
        "UDP traffic (active device=vA):\n"
        "                1848 Bytes sent                  800 Bytes recv\n"
        "                  61 Pckts sent                   50 Pckts recv\n"
        "                   0 Error send                    0 Error recv\n"
        "\n"
        "message tracking:\n"
        "                   0 Malformed msgs                    0 Lost msgs\n"
        "\n";

static void test_general_sync(void) {
        const KV kv[] = {
                { "mode", 0, "ftfw" },
                CACHE_KV("internal", 8, 10, 0, 1, 0, 2, 0),
                CACHE_KV("external", 0, 0, 0, 0, 0, 0, 0),
                { "traffic.bytes", 0, NULL }, { "traffic.packets", 0, NULL },
                { "link0.type", 0, "udp" }, { "link0.device", 0, "vA" },
                { "link0.status", 0, "RUNNING" }, { "link0.role", 0, "ACTIVE" },
                { "link0.bytes_sent", 1848, NULL }, { "link0.bytes_recv", 800, NULL },
                { "link0.pkts_sent", 61, NULL }, { "link0.pkts_recv", 50, NULL },
                { "message.malformed", 0, NULL }, { "message.lost", 0, NULL },
                KV_END
        };

        assert_renders(kv, NULL, general_ftfw);
        assert_renders(kv, "general", general_ftfw);
}

/* The active link is the one whose role is ACTIVE, not the first. */
static void test_general_active_link(void) {
        const KV kv[] = {
                { "mode", 0, "notrack" },
                CACHE_KV("internal", 8, 10, 0, 1, 0, 2, 0),
                CACHE_KV("external", 0, 0, 0, 0, 0, 0, 0),
                { "link0.type", 0, "udp" }, { "link0.device", 0, "vX" },
                { "link0.role", 0, "BACKUP" }, { "link0.bytes_sent", 5, NULL },
                { "link1.type", 0, "udp" }, { "link1.device", 0, "vA" },
                { "link1.role", 0, "ACTIVE" },
                { "link1.bytes_sent", 1848, NULL }, { "link1.bytes_recv", 800, NULL },
                { "link1.pkts_sent", 61, NULL }, { "link1.pkts_recv", 50, NULL },
                KV_END
        };

        assert_renders(kv, NULL, general_ftfw);
}

/* No link keys (no channel yet): the link block is left out; absent counters print 0. */
static void test_general_no_link(void) {
        const KV kv[] = {
                { "mode", 0, "alarm" },
                CACHE_KV("internal", 3, 4, 5, 6, 7, 8, 9),
                CACHE_KV("external", 11, 12, 13, 14, 15, 16, 17),
                { "traffic.bytes", 123456789012ULL, NULL }, { "traffic.packets", 987654, NULL },
                { "message.malformed", 21, NULL }, { "message.lost", 22, NULL },
                KV_END
        };

        assert_renders(kv, NULL,
                "cache internal:\n"
                "current active connections:\t           3\n"
                "connections created:\t\t           4\tfailed:\t           5\n"
                "connections updated:\t\t           6\tfailed:\t           7\n"
                "connections destroyed:\t\t           8\tfailed:\t           9\n"
                "\n"
                "cache external:\n"
                "current active connections:\t          11\n"
                "connections created:\t\t          12\tfailed:\t          13\n"
                "connections updated:\t\t          14\tfailed:\t          15\n"
                "connections destroyed:\t\t          16\tfailed:\t          17\n"
                "\n"
                "traffic processed:\n"
                "        123456789012 Bytes                    987654 Pckts\n"
                "\n"
                "message tracking:\n"
                "                  21 Malformed msgs                   22 Lost msgs\n"
                "\n");
}

static void test_general_stats_mode(void) {
        const KV kv[] = {
                { "mode", 0, "stats" },
                CACHE_KV("internal", 5, 6, 7, 8, 9, 10, 11),
                { "traffic.bytes", 1000, NULL }, { "traffic.packets", 10, NULL },
                KV_END
        };

        assert_renders(kv, NULL,
                "cache stats:\n"
                "current active connections:\t           5\n"
                "connections created:\t\t           6\tfailed:\t           7\n"
                "connections updated:\t\t           8\tfailed:\t           9\n"
                "connections destroyed:\t\t          10\tfailed:\t          11\n"
                "\n"
                "traffic processed:\n"
                "                1000 Bytes                        10 Pckts\n"
                "\n");
        /* Stats mode has no expectation cache: 1.4.7 answers nothing. */
        assert_renders(kv, "expect", "");
}

/* DisableInternalCache / DisableExternalCache: the bypass and inject blocks. */
static void test_general_bypass_inject(void) {
        const KV kv[] = {
                { "mode", 0, "ftfw" },
                { "internal-bypass.new", 1, NULL }, { "internal-bypass.upd", 2, NULL },
                { "internal-bypass.del", 3, NULL },
                { "external-inject.add_ok", 4, NULL }, { "external-inject.add_fail", 5, NULL },
                { "external-inject.upd_ok", 6, NULL }, { "external-inject.upd_fail", 7, NULL },
                { "external-inject.del_ok", 8, NULL }, { "external-inject.del_fail", 9, NULL },
                KV_END
        };

        assert_renders(kv, NULL,
                "internal bypass:\n"
                "connections new:\t\t           1\n"
                "connections updated:\t\t           2\n"
                "connections destroyed:\t\t           3\n"
                "\n"
                "external inject:\n"
                "connections created:\t\t           4\tfailed:\t           5\n"
                "connections updated:\t\t           6\tfailed:\t           7\n"
                "connections destroyed:\t\t           8\tfailed:\t           9\n"
                "\n"
                "traffic processed:\n"
                "                   0 Bytes                         0 Pckts\n"
                "\n"
                "message tracking:\n"
                "                   0 Malformed msgs                    0 Lost msgs\n"
                "\n");
}

static void test_expect(void) {
        const KV without[] = {
                { "mode", 0, "ftfw" },
                { "traffic.bytes", 0, NULL }, { "traffic.packets", 0, NULL },
                KV_END
        };
        const KV with[] = {
                { "mode", 0, "ftfw" },
                CACHE_KV("internal-expect", 8, 10, 0, 1, 0, 2, 0),
                CACHE_KV("external-expect", 0, 0, 0, 0, 0, 0, 0),
                { "link0.type", 0, "udp" }, { "link0.device", 0, "vA" },
                { "link0.role", 0, "ACTIVE" },
                { "link0.bytes_sent", 1848, NULL }, { "link0.bytes_recv", 800, NULL },
                { "link0.pkts_sent", 61, NULL }, { "link0.pkts_recv", 50, NULL },
                KV_END
        };

        /* Without ExpectationSync there is no expectation cache: nothing, as 1.4.7. */
        assert_renders(without, "expect", "");
        /* The same blocks as "-s", for the expectation caches. */
        assert_renders(with, "expect", general_ftfw);
}

#define EXT_KV(group, base)                                                                     \
        { group ".objects", base + 1, NULL }, { group ".active", base + 2, NULL },              \
        { group ".hashed", base + 3, NULL }, { group ".add_ok", base + 4, NULL },               \
        { group ".add_fail", base + 5, NULL }, { group ".add_fail_nomem", base + 6, NULL },     \
        { group ".add_fail_nospace", base + 7, NULL }, { group ".upd_ok", base + 8, NULL },     \
        { group ".upd_fail", base + 9, NULL }, { group ".upd_fail_enoent", base + 10, NULL },   \
        { group ".del_ok", base + 11, NULL }, { group ".del_fail", base + 12, NULL },           \
        { group ".del_fail_enoent", base + 13, NULL }, { group ".limit", 262144, NULL },        \
        { group ".buckets", 65536, NULL }

static void test_cache(void) {
        const KV sync[] = {
                { "mode", 0, "ftfw" },
                EXT_KV("internal", 0),
                EXT_KV("external", 100),
                KV_END
        };
        const KV stats[] = {
                { "mode", 0, "stats" },
                EXT_KV("internal", 0),
                KV_END
        };

        assert_renders(sync, "cache",
                "cache:internal\tactive objects:\t\t           1\n"
                "\tactive/total entries:\t\t           2/           3\n"
                "\tcreation OK/failed:\t\t           4/           5\n"
                "\t\tno memory available:\t           6\n"
                "\t\tno space left in cache:\t           7\n"
                "\tupdate OK/failed:\t\t           8/           9\n"
                "\t\tentry not found:\t          10\n"
                "\tdeletion created/failed:\t          11/          12\n"
                "\t\tentry not found:\t          13\n"
                "\n"
                "cache:external\tactive objects:\t\t         101\n"
                "\tactive/total entries:\t\t         102/         103\n"
                "\tcreation OK/failed:\t\t         104/         105\n"
                "\t\tno memory available:\t         106\n"
                "\t\tno space left in cache:\t         107\n"
                "\tupdate OK/failed:\t\t         108/         109\n"
                "\t\tentry not found:\t         110\n"
                "\tdeletion created/failed:\t         111/         112\n"
                "\t\tentry not found:\t         113\n"
                "\n");
        assert_renders(stats, "cache",
                "cache:stats\tactive objects:\t\t           1\n"
                "\tactive/total entries:\t\t           2/           3\n"
                "\tcreation OK/failed:\t\t           4/           5\n"
                "\t\tno memory available:\t           6\n"
                "\t\tno space left in cache:\t           7\n"
                "\tupdate OK/failed:\t\t           8/           9\n"
                "\t\tentry not found:\t          10\n"
                "\tdeletion created/failed:\t          11/          12\n"
                "\t\tentry not found:\t          13\n"
                "\n");
}

static void test_runtime(void) {
        const KV kv[] = {
                { "mode", 0, "stats" },
                { "runtime.uptime", 4140, NULL },
                { "netlink.events_received", 1, NULL },
                { "netlink.events_filtered", 2, NULL },
                { "netlink.events_unknown", 3, NULL },
                { "netlink.catch_event_failed", 4, NULL },
                { "netlink.dump_unknown", 5, NULL },
                { "netlink.overruns", 6, NULL },
                { "netlink.kernel_flushes", 7, NULL },
                { "netlink.kernel_resyncs", 8, NULL },
                { "netlink.buffer_size", 9, NULL },
                { "netlink.overrun_resyncs", 99, NULL },        /* not in the 1.4.7 layout */
                { "runtime.child_failed", 10, NULL },
                { "runtime.child_segfault", 11, NULL },
                { "runtime.child_termsig", 12, NULL },
                { "runtime.select_failed", 13, NULL },
                { "runtime.wait_failed", 14, NULL },
                { "runtime.local_read_failed", 15, NULL },
                { "runtime.local_unknown_request", 16, NULL },
                KV_END
        };

        /* Printed in every mode. */
        assert_renders(kv, "runtime",
                "daemon uptime: 1 h 9 min\n"
                "\n"
                "netlink stats:\n"
                "\tevents received:\t                   1\n"
                "\tevents filtered:\t                   2\n"
                "\tevents unknown type:\t\t           3\n"
                "\tcatch event failed:\t\t           4\n"
                "\tdump unknown type:\t\t           5\n"
                "\tnetlink overrun:\t\t           6\n"
                "\tflush kernel table:\t\t           7\n"
                "\tresync with kernel table:\t           8\n"
                "\tcurrent buffer size (in bytes):\t           9\n"
                "\n"
                "runtime stats:\n"
                "\tchild process failed:\t\t          10\n"
                "\t\tchild process segfault:\t          11\n"
                "\t\tchild process termsig:\t          12\n"
                "\tselect failed:\t\t\t          13\n"
                "\twait failed:\t\t\t          14\n"
                "\tlocal read failed:\t\t          15\n"
                "\tlocal unknown request:\t\t          16\n"
                "\n");
}

static void test_network(void) {
        const KV sync[] = {
                { "mode", 0, "ftfw" },
                { "network.recv_malformed", 1, NULL },
                { "network.recv_bad_version", 2, NULL },
                { "network.recv_bad_header", 3, NULL },
                { "network.recv_bad_payload", 4, NULL },
                { "network.recv_bad_type", 5, NULL },
                { "network.recv_truncated", 6, NULL },
                { "network.recv_bad_size", 7, NULL },
                { "network.send_malformed", 8, NULL },
                { "sequence.lost", 9, NULL },
                { "sequence.before", 10, NULL },
                { "link0.type", 0, "multicast" }, { "link0.device", 0, "eth1" },
                { "link0.role", 0, "ACTIVE" }, { "link0.status", 0, "RUNNING" },
                { "link0.bytes_sent", 1, NULL }, { "link0.bytes_recv", 2, NULL },
                { "link0.pkts_sent", 3, NULL }, { "link0.pkts_recv", 4, NULL },
                { "link0.err_sent", 5, NULL }, { "link0.err_recv", 6, NULL },
                KV_END
        };
        const KV stats[] = { { "mode", 0, "stats" }, KV_END };

        assert_renders(sync, "network",
                "network statistics:\n"
                "\trecv:\n"
                "\t\tMalformed messages:\t                   1\n"
                "\t\tWrong protocol version:\t                   2\n"
                "\t\tMalformed header:\t                   3\n"
                "\t\tMalformed payload:\t                   4\n"
                "\t\tBad message type:\t                   5\n"
                "\t\tTruncated message:\t                   6\n"
                "\t\tBad message size:\t                   7\n"
                "\tsend:\n"
                "\t\tMalformed messages:\t                   8\n"
                "\n"
                "sequence tracking statistics:\n"
                "\trecv:\n"
                "\t\tPackets lost:\t\t                   9\n"
                "\t\tPackets before:\t\t                  10\n"
                "\n"
                "multicast traffic (active device=eth1):\n"
                "                   1 Bytes sent                    2 Bytes recv\n"
                "                   3 Pckts sent                    4 Pckts recv\n"
                "                   5 Error send                    6 Error recv\n"
                "\n");
        assert_renders(stats, "network", "");
}

static void test_link(void) {
        const KV kv[] = {
                { "mode", 0, "ftfw" },
                { "link0.type", 0, "udp" }, { "link0.device", 0, "vA" },
                { "link0.status", 0, "RUNNING" }, { "link0.role", 0, "ACTIVE" },
                { "link0.bytes_sent", 1848, NULL }, { "link0.bytes_recv", 800, NULL },
                { "link0.pkts_sent", 61, NULL }, { "link0.pkts_recv", 50, NULL },
                { "link1.type", 0, "udp" }, { "link1.device", 0, "vB" },
                { "link1.status", 0, "NO-CARRIER" }, { "link1.role", 0, "BACKUP" },
                KV_END
        };
        const KV none[] = { { "mode", 0, "ftfw" }, KV_END };

        assert_renders(kv, "link",
                "UDP traffic device=vA status=RUNNING role=ACTIVE:\n"
                "                1848 Bytes sent                  800 Bytes recv\n"
                "                  61 Pckts sent                   50 Pckts recv\n"
                "                   0 Error send                    0 Error recv\n"
                "\n"
                "UDP traffic device=vB status=NO-CARRIER role=BACKUP:\n"
                "                   0 Bytes sent                    0 Bytes recv\n"
                "                   0 Pckts sent                    0 Pckts recv\n"
                "                   0 Error send                    0 Error recv\n"
                "\n");
        assert_renders(none, "link", "");
}

static void test_tcp_link_title(void) {
        const KV kv[] = {
                { "mode", 0, "ftfw" },
                CACHE_KV("internal", 0, 0, 0, 0, 0, 0, 0),
                CACHE_KV("external", 0, 0, 0, 0, 0, 0, 0),
                { "link0.type", 0, "tcp" }, { "link0.device", 0, "eth2" },
                { "link0.role", 0, "ACTIVE" }, { "link0.server", 0, "connected" },
                { "link0.client", 0, "disconnected" },
                KV_END
        };
        _cleanup_(stats_table_freep) StatsTable *t = table_from(kv);
        _cleanup_free_ char *out = render(t, NULL);

        g_assert_nonnull(strstr(out, "\n\nTCP traffic (active device=eth2) server=connected "
                                     "client=disconnected:\n"
                                     "                   0 Bytes sent                    0 Bytes recv\n"));
}

static void test_queue(void) {
        const KV kv[] = {
                { "mode", 0, "ftfw" },
                { "queue.allocated_nodes", 7, NULL },
                { "txqueue.current", 1, NULL }, { "txqueue.max", 2147483647, NULL },
                { "txqueue.nospace", 2, NULL },
                { "errorq.current", 3, NULL }, { "errorq.max", 128, NULL },
                { "errorq.nospace", 4, NULL },
                { "rsqueue.current", 5, NULL }, { "rsqueue.max", 131072, NULL },
                { "rsqueue.nospace", 6, NULL },
                KV_END
        };
        const KV stats[] = { { "mode", 0, "stats" }, KV_END };
        const KV no_replication[] = { { "mode", 0, "ftfw" }, KV_END };

        assert_renders(no_replication, "queue", "");
        assert_renders(kv, "queue",
                "allocated queue nodes:\t\t           7\n"
                "\n"
                "queue txqueue:\n"
                "current elements:\t\t           1\n"
                "maximum elements:\t\t  2147483647\n"
                "not enough space errors:\t           2\n"
                "\n"
                "queue errorq:\n"
                "current elements:\t\t           3\n"
                "maximum elements:\t\t         128\n"
                "not enough space errors:\t           4\n"
                "\n"
                "queue rsqueue:\n"
                "current elements:\t\t           5\n"
                "maximum elements:\t\t      131072\n"
                "not enough space errors:\t           6\n"
                "\n");
        assert_renders(stats, "queue", "");
}

static void test_rsqueue(void) {
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        _cleanup_(stats_table_freep) StatsTable *notrack = NULL;
        _cleanup_free_ char *out = NULL, *out2 = NULL;

        g_assert_cmpint(stats_table_new(&t), ==, 0);
        g_assert_cmpint(stats_table_set_string(t, "mode", "ftfw"), ==, 0);
        g_assert_cmpint(stats_table_add_rsqueue(t, true, 17, 104), ==, 0);
        g_assert_cmpint(stats_table_add_rsqueue(t, false, 18, 0), ==, 0);
        out = render(t, "rsqueue");
        g_assert_cmpstr(out, ==,
                        "resent queue (len=2)\n"
                        "control -> seq:17 flags:104\n"
                        "object -> seq:18\n");

        /* FT-FW only. */
        g_assert_cmpint(stats_table_new(&notrack), ==, 0);
        g_assert_cmpint(stats_table_set_string(notrack, "mode", "notrack"), ==, 0);
        out2 = render(notrack, "rsqueue");
        g_assert_cmpstr(out2, ==, "");
}

static void test_process_and_unknown(void) {
        const KV kv[] = { { "mode", 0, "ftfw" }, KV_END };
        _cleanup_(stats_table_freep) StatsTable *t = table_from(kv);
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        /* No child processes: nothing to list. */
        assert_renders(kv, "process", "");

        f = open_memstream(&buf, &size);
        g_assert_nonnull(f);
        g_assert_cmpint(legacy_format_stats(f, t, "bogus"), ==, -EINVAL);
        fclose(f);
        free(buf);
}

typedef struct UptimeCase {
        uint64_t seconds;
        const char *expected;
} UptimeCase;

static const UptimeCase uptime_cases[] = {
        { 0, "0 min" },
        { 59, "0 min" },
        { 60, "1 min" },
        { 3599, "59 min" },
        { 3600, "1 h 0 min" },
        { 4140, "1 h 9 min" },
        { 86399, "23 h 59 min" },
        { 86400, "1 day 0 min" },
        { 86400 + 2 * 3600 + 3 * 60 + 4, "1 day 2 h 3 min" },
        { 2 * 86400 + 59, "2 days 0 min" },
        { 400 * 86400 + 60, "400 days 1 min" },
};

static void test_uptime(gconstpointer data) {
        const UptimeCase *c = data;
        char buf[LEGACY_UPTIME_MAX];

        g_assert_cmpstr(legacy_format_uptime(c->seconds, buf), ==, c->expected);
}

static void test_table(void) {
        _cleanup_(stats_table_freep) StatsTable *t = NULL;

        g_assert_cmpint(stats_table_new(&t), ==, 0);
        g_assert_cmpint(stats_table_set_uint(t, "internal-expect.active", 3), ==, 0);
        g_assert_cmpint(stats_table_set_uint(t, "b.x", 1), ==, 0);
        g_assert_cmpint(stats_table_set_string(t, "a.mode", "ftfw"), ==, 0);
        /* Replacing keeps one entry and may change the type. */
        g_assert_cmpint(stats_table_set_uint(t, "b.x", 2), ==, 0);
        g_assert_cmpint(stats_table_set_string(t, "internal-expect.active", "x"), ==, 0);
        g_assert_cmpint(stats_table_set_uint(t, "internal-expect.active", 4), ==, 0);
        g_assert_cmpuint(t->n_entries, ==, 3);
        g_assert_cmpuint(stats_table_get_uint(t, "b.x"), ==, 2);
        g_assert_cmpuint(stats_table_get_uint(t, "internal-expect.active"), ==, 4);
        g_assert_null(stats_table_get_string(t, "internal-expect.active"));
        g_assert_cmpuint(stats_table_get_uint(t, "a.mode"), ==, 0);
        g_assert_cmpstr(stats_table_get_string(t, "a.mode"), ==, "ftfw");
        g_assert_cmpuint(stats_table_get_uint(t, "absent"), ==, 0);
        g_assert_null(stats_table_find(t, "absent"));

        /* Groups are whole names before the dot. */
        g_assert_true(stats_table_has_group(t, "internal-expect"));
        g_assert_false(stats_table_has_group(t, "internal"));
        g_assert_false(stats_table_has_group(t, "internal-exp"));
        g_assert_true(stats_table_has_group(t, "b"));

        stats_table_sort(t);
        g_assert_cmpstr(t->entries[0].key, ==, "a.mode");
        g_assert_cmpstr(t->entries[1].key, ==, "b.x");
        g_assert_cmpstr(t->entries[2].key, ==, "internal-expect.active");
        g_assert_null(stats_table_free(NULL));
}

/* ---- conntrackctl's helpers ---- */

static void test_timespan(void) {
        char buf[TIMESPAN_MAX];

        g_assert_cmpstr(format_timespan(0, buf), ==, "0s");
        g_assert_cmpstr(format_timespan(59, buf), ==, "59s");
        g_assert_cmpstr(format_timespan(60, buf), ==, "1min");
        g_assert_cmpstr(format_timespan(3661, buf), ==, "1h 1min 1s");
        g_assert_cmpstr(format_timespan(86400, buf), ==, "1d");
        g_assert_cmpstr(format_timespan(90061, buf), ==, "1d 1h 1min 1s");
}

static void test_json(void) {
        const KV kv[] = {
                { "mode", 0, "ft\"fw\\\n\t\x01" },
                { "internal.active", 18446744073709551615ULL, NULL },
                KV_END
        };
        _cleanup_(stats_table_freep) StatsTable *t = table_from(kv);
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        g_assert_nonnull(f);
        json_print_table(f, t);
        g_assert_cmpint(fclose(f), ==, 0);
        g_assert_cmpstr(buf, ==,
                        "{\"mode\":\"ft\\\"fw\\\\\\n\\t\\u0001\","
                        "\"internal.active\":18446744073709551615}");
        free(buf);
}

static void test_table_print(void) {
        const KV kv[] = {
                { "mode", 0, "ftfw" },
                { "internal.active", 8, NULL },
                KV_END
        };
        _cleanup_(stats_table_freep) StatsTable *t = table_from(kv);
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        table_print(f, t, "COUNTER", "VALUE", true);
        table_print(f, t, "COUNTER", "VALUE", false);
        g_assert_cmpint(fclose(f), ==, 0);
        g_assert_cmpstr(buf, ==,
                        "COUNTER         VALUE\n"
                        "mode            ftfw\n"
                        "internal.active 8\n"
                        "mode            ftfw\n"
                        "internal.active 8\n");
        free(buf);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/legacy-output/general-sync", test_general_sync);
        g_test_add_func("/legacy-output/general-active-link", test_general_active_link);
        g_test_add_func("/legacy-output/general-no-link", test_general_no_link);
        g_test_add_func("/legacy-output/general-stats-mode", test_general_stats_mode);
        g_test_add_func("/legacy-output/general-bypass-inject", test_general_bypass_inject);
        g_test_add_func("/legacy-output/expect", test_expect);
        g_test_add_func("/legacy-output/cache", test_cache);
        g_test_add_func("/legacy-output/runtime", test_runtime);
        g_test_add_func("/legacy-output/network", test_network);
        g_test_add_func("/legacy-output/link", test_link);
        g_test_add_func("/legacy-output/tcp-link-title", test_tcp_link_title);
        g_test_add_func("/legacy-output/queue", test_queue);
        g_test_add_func("/legacy-output/rsqueue", test_rsqueue);
        g_test_add_func("/legacy-output/process-and-unknown", test_process_and_unknown);
        for (size_t i = 0; i < G_N_ELEMENTS(uptime_cases); i++) {
                g_autofree char *path = g_strdup_printf("/legacy-output/uptime/%" G_GUINT64_FORMAT,
                                                        uptime_cases[i].seconds);

                g_test_add_data_func(path, &uptime_cases[i], test_uptime);
        }
        g_test_add_func("/legacy-output/table", test_table);
        g_test_add_func("/ctl-output/timespan", test_timespan);
        g_test_add_func("/ctl-output/json", test_json);
        g_test_add_func("/ctl-output/table-print", test_table_print);

        return g_test_run();
}
