/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Two managers in one process, each with a fake kernel, replicating over a socketpair: what one
 * kernel has reaches the other's external cache, deletions follow, a commit writes it into the
 * other kernel, and the failover operations (bulk, resync request, flush) behave. */
#include <arpa/inet.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake-kernel.h"
#include "manager.h"

typedef struct Pair {
        Manager *a, *b;
        char *dir;
        bool committed;
        CommitResult result;
} Pair;

#define CONFIG_FMT                                                                              \
        "General { HashSize 4096\n HashLimit 200000\n LockFile %s/lock-%c\n }\n"                 \
        "Sync {\n"                                                                              \
        "  Mode %s { %s }\n"                                                                    \
        "  UDP { IPv4_address 10.0.0.1\n IPv4_Destination_Address 10.0.0.2\n Port 3780\n"       \
        "        Interface lo }\n"                                                              \
        "  %s\n"                                                                                \
        "}\n"

static Manager *start(Pair *p, char which, const char *mode, const char *mode_opts,
                      const char *sync_opts, int fd) {
        g_autofree char *text = g_strdup_printf(CONFIG_FMT, p->dir, which, mode, mode_opts, sync_opts);
        g_autofree char *path = g_strdup_printf("%s/conntrackd-%c.conf", p->dir, which);
        ConfigDiagnostics d = {};
        Config *c = NULL;
        Manager *m = NULL;

        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        g_assert_cmpint(config_load_file(path, &c, &d), ==, 0);
        config_diagnostics_clear(&d);
        g_assert_cmpint(manager_new(&(ManagerOptions) {
                                            .config_path = path,
                                            .config = c,
                                            .kernel_ops = &fake_kernel_ops,
                                            .sync_fd_set = true,
                                            .sync_fd = fd,
                                    },
                                    &m), ==, 0);
        g_assert_cmpint(manager_start(m), ==, 0);
        return m;
}

static void pair_start(Pair *p, const char *mode, const char *mode_opts, const char *sync_opts) {
        int sv[2];

        memset(p, 0, sizeof *p);
        p->dir = g_dir_make_tmp("test-replication-XXXXXX", NULL);
        g_assert_nonnull(p->dir);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), ==, 0);
        p->a = start(p, 'a', mode, mode_opts, sync_opts, sv[0]);
        p->b = start(p, 'b', mode, mode_opts, sync_opts, sv[1]);
}

static void pair_stop(Pair *p) {
        g_autofree char *cmd = NULL;

        p->a = manager_free(p->a);
        p->b = manager_free(p->b);
        cmd = g_strdup_printf("rm -rf '%s'", p->dir);
        g_assert_cmpint(system(cmd), ==, 0);
        g_free(p->dir);
}

/* Run both loops until cond() holds or the deadline passes. */
static bool run_until(Pair *p, bool (*cond)(Pair *p), uint64_t timeout_usec) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_usec;

        while (!cond(p)) {
                if (g_get_monotonic_time() > deadline)
                        return false;
                g_assert_cmpint(sd_event_run(p->a->event, 1 * USEC_PER_MSEC), >=, 0);
                g_assert_cmpint(sd_event_run(p->b->event, 1 * USEC_PER_MSEC), >=, 0);
        }
        return true;
}

static void run_for(Pair *p, uint64_t usec) {
        gint64 end = g_get_monotonic_time() + (gint64) usec;

        while (g_get_monotonic_time() < end) {
                g_assert_cmpint(sd_event_run(p->a->event, 1 * USEC_PER_MSEC), >=, 0);
                g_assert_cmpint(sd_event_run(p->b->event, 1 * USEC_PER_MSEC), >=, 0);
        }
}

static Cache *cache(Manager *m, CacheWhich w) {
        return manager_get_cache(m, w, CT_KIND_CT);
}

/* B's external cache holds exactly what A's internal cache holds, attribute by attribute. */
static int compare_one(Cache *c, CacheObject *o, void *userdata) {
        Cache *other = userdata;
        CtEntry oe = cache_object_ct_value(o), xe;
        CacheObject *x = cache_find(other, &oe);

        if (!x)
                return -ENOENT;
        xe = cache_object_ct_value(x);
        if (xe.mark != oe.mark || xe.status != oe.status || xe.tcp.state != oe.tcp.state)
                return -EINVAL;
        return 0;
}

static bool converged(Pair *p) {
        Cache *in = cache(p->a, CACHE_INTERNAL), *ex = cache(p->b, CACHE_EXTERNAL);

        return cache_size(in) == cache_size(ex) && cache_foreach(in, compare_one, ex) == 0;
}

static void add_flows(Manager *m, unsigned from, unsigned to, uint32_t mark) {
        for (unsigned i = from; i < to; i++) {
                CtEntry e;

                fake_ct_make_tcp(&e, i);
                e.mark = mark;
                g_assert_cmpint(fake_kernel_add_ct(m->kernel, &e, false), ==, 0);
        }
}

static void test_modes(gconstpointer data) {
        const char *mode = data;
        Pair p;
        CtEntry e, u = {};

        pair_start(&p, mode, "", "");
        add_flows(p.a, 0, 2000, 1);
        g_assert_true(run_until(&p, converged, 10 * USEC_PER_SEC));
        g_assert_cmpuint(cache_size(cache(p.b, CACHE_EXTERNAL)), ==, 2000);

        /* an update and a few deletions follow */
        fake_ct_make_tcp(&e, 7);
        u.orig = e.orig;
        u.attrs = CT_ATTR_MARK;
        u.mark = 0x1234;
        g_assert_cmpint(fake_kernel_update_ct(p.a->kernel, &u, false), ==, 0);
        for (unsigned i = 100; i < 150; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_del_ct(p.a->kernel, &e, false), ==, 0);
        }
        g_assert_true(run_until(&p, converged, 10 * USEC_PER_SEC));
        fake_ct_make_tcp(&e, 7);
        g_assert_cmpuint(cache_object_ct_value(cache_find(cache(p.b, CACHE_EXTERNAL), &e)).mark, ==, 0x1234);
        g_assert_cmpuint(cache_size(cache(p.b, CACHE_EXTERNAL)), ==, 1950);
        /* replication is one-way here: A's external cache stays empty */
        g_assert_cmpuint(cache_size(cache(p.a, CACHE_EXTERNAL)), ==, 0);
        pair_stop(&p);
}

static bool external_empty(Pair *p) {
        return cache_size(cache(p->b, CACHE_EXTERNAL)) == 0;
}

/* ALARM: A refreshes its objects every RefreshTime, so B keeps them past CacheTimeout; once A
 * is gone, B's copies expire after CacheTimeout (the sync timer ticks every second for good). */
static void test_alarm_refresh_expire(void) {
        Pair p;

        pair_start(&p, "ALARM", "RefreshTime 1\n CacheTimeout 3", "");
        add_flows(p.a, 0, 20, 1);
        g_assert_true(run_until(&p, converged, 10 * USEC_PER_SEC));
        run_for(&p, 4500 * USEC_PER_MSEC);
        g_assert_cmpuint(cache_size(cache(p.b, CACHE_EXTERNAL)), ==, 20);
        g_assert_cmpuint(p.b->sync_counters.external_expired, ==, 0);

        p.a = manager_free(p.a);
        {
                gint64 deadline = g_get_monotonic_time() + 8 * G_USEC_PER_SEC;

                while (!external_empty(&p) && g_get_monotonic_time() < deadline)
                        g_assert_cmpint(sd_event_run(p.b->event, 10 * USEC_PER_MSEC), >=, 0);
        }
        g_assert_cmpuint(cache_size(cache(p.b, CACHE_EXTERNAL)), ==, 0);
        g_assert_cmpuint(p.b->sync_counters.external_expired, ==, 20);
        pair_stop(&p);
}

static void on_commit_done(Manager *m, const CommitResult *r, void *userdata) {
        Pair *p = userdata;

        p->committed = true;
        p->result = *r;
}

static bool commit_finished(Pair *p) {
        return p->committed;
}

static void test_commit(void) {
        Pair p;

        pair_start(&p, "FTFW", "", "");
        add_flows(p.a, 0, 3000, 5);
        g_assert_true(run_until(&p, converged, 10 * USEC_PER_SEC));

        g_assert_cmpuint(fake_kernel_count(p.b->kernel, CT_KIND_CT), ==, 0);
        g_assert_cmpint(manager_commit(p.b, -1, on_commit_done, &p), ==, 0);
        g_assert_true(manager_commit_running(p.b));
        /* one at a time; the external cache cannot be flushed meanwhile */
        g_assert_cmpint(manager_commit(p.b, -1, NULL, NULL), ==, -EBUSY);
        g_assert_cmpint(manager_flush_cache(p.b, CACHE_EXTERNAL, CT_KIND_CT), ==, -EBUSY);
        g_assert_true(run_until(&p, commit_finished, 10 * USEC_PER_SEC));
        g_assert_false(manager_commit_running(p.b));
        g_assert_cmpuint(p.result.ct_ok, ==, 3000);
        g_assert_cmpuint(p.result.ct_failed, ==, 0);
        g_assert_cmpuint(fake_kernel_count(p.b->kernel, CT_KIND_CT), ==, 3000);
        /* B's own commit is not sent back to A (self events) */
        run_for(&p, 100 * USEC_PER_MSEC);
        g_assert_cmpuint(cache_size(cache(p.a, CACHE_EXTERNAL)), ==, 0);
        g_assert_cmpuint(cache_size(cache(p.b, CACHE_INTERNAL)), ==, 3000);
        g_assert_cmpint(manager_flush_cache(p.b, CACHE_EXTERNAL, CT_KIND_CT), ==, 0);
        pair_stop(&p);
}

static bool b_has_3000(Pair *p) {
        return cache_size(cache(p->b, CACHE_EXTERNAL)) == 3000;
}

/* A node that joins late gets everything with a resync request (-n) or a bulk send (-B). */
static void test_resync_and_bulk(void) {
        Pair p;

        pair_start(&p, "FTFW", "", "");
        add_flows(p.a, 0, 3000, 9);
        g_assert_true(run_until(&p, converged, 10 * USEC_PER_SEC));

        g_assert_cmpint(manager_flush_cache(p.b, CACHE_EXTERNAL, CT_KIND_CT), ==, 0);
        g_assert_cmpuint(cache_size(cache(p.b, CACHE_EXTERNAL)), ==, 0);
        g_assert_cmpint(manager_request_resync(p.b), ==, 0);
        g_assert_true(run_until(&p, b_has_3000, 10 * USEC_PER_SEC));

        g_assert_cmpint(manager_flush_cache(p.b, CACHE_EXTERNAL, CT_KIND_CT), ==, 0);
        g_assert_cmpint(manager_send_bulk(p.a), ==, 0);
        g_assert_true(run_until(&p, b_has_3000, 10 * USEC_PER_SEC));
        pair_stop(&p);
}

static bool a_resynced(Pair *p) {
        return p->a->counters.kernel_resyncs > 0;
}

/* Events lost on A (an overrun): the resync that follows sends what changed meanwhile. */
static void test_overrun_resync_replicates(void) {
        Pair p;

        pair_start(&p, "FTFW", "", "");
        p.a->config->netlink_overrun_resync = 1;
        add_flows(p.a, 0, 500, 1);
        g_assert_true(run_until(&p, converged, 10 * USEC_PER_SEC));
        for (unsigned i = 500; i < 600; i++) {
                CtEntry e;

                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_add_ct(p.a->kernel, &e, true), ==, 0);
        }
        for (unsigned i = 0; i < 50; i++) {
                CtEntry e;

                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_del_ct(p.a->kernel, &e, true), ==, 0);
        }
        fake_kernel_overrun(p.a->kernel);
        g_assert_true(run_until(&p, a_resynced, 10 * USEC_PER_SEC));
        g_assert_true(run_until(&p, converged, 10 * USEC_PER_SEC));
        g_assert_cmpuint(cache_size(cache(p.b, CACHE_EXTERNAL)), ==, 550);
        pair_stop(&p);
}

/* DisableExternalCache: what peers send goes straight into the kernel. */
static bool b_kernel_has_100(Pair *p) {
        return fake_kernel_count(p->b->kernel, CT_KIND_CT) == 100;
}

static void test_direct_inject(void) {
        Pair p;

        pair_start(&p, "NOTRACK", "DisableExternalCache on", "");
        g_assert_null(cache(p.b, CACHE_EXTERNAL));
        add_flows(p.a, 0, 100, 3);
        g_assert_true(run_until(&p, b_kernel_has_100, 10 * USEC_PER_SEC));
        g_assert_cmpint(manager_commit(p.b, -1, NULL, NULL), ==, -EOPNOTSUPP);
        pair_stop(&p);
}

/* -t: after PurgeTimeout the kernel table and the internal cache are flushed. */
static bool purged(Pair *p) {
        return fake_kernel_count(p->a->kernel, CT_KIND_CT) == 0 &&
               cache_size(cache(p->a, CACHE_INTERNAL)) == 0;
}

static void test_reset_timers(void) {
        Pair p;

        pair_start(&p, "FTFW", "PurgeTimeout 1", "");
        add_flows(p.a, 0, 50, 3);
        g_assert_cmpint(manager_reset_timers(p.a), ==, 0);
        g_assert_cmpint(manager_reset_timers(p.a), ==, -EALREADY);
        g_assert_true(run_until(&p, purged, 5 * USEC_PER_SEC));
        pair_stop(&p);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_data_func("/replication/ftfw", "FTFW", test_modes);
        g_test_add_data_func("/replication/notrack", "NOTRACK", test_modes);
        g_test_add_data_func("/replication/alarm", "ALARM", test_modes);
        g_test_add_func("/replication/alarm-refresh-expire", test_alarm_refresh_expire);
        g_test_add_func("/replication/commit", test_commit);
        g_test_add_func("/replication/resync-and-bulk", test_resync_and_bulk);
        g_test_add_func("/replication/overrun-resync", test_overrun_resync_replicates);
        g_test_add_func("/replication/direct-inject", test_direct_inject);
        g_test_add_func("/replication/reset-timers", test_reset_timers);
        return g_test_run();
}
