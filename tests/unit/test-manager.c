/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake-kernel.h"
#include "manager.h"

typedef struct Fixture {
        Manager *m;
        char *dir;
        char *conf;
        int peer_fd;            /* the other end of the sync socketpair (Sync configs) */
} Fixture;

static void write_config(Fixture *f, const char *text) {
        g_assert_true(g_file_set_contents(f->conf, text, -1, NULL));
}

static const char *base_config =
        "General {\n"
        "  HashSize 1024\n"
        "  HashLimit 100000\n"
        "  NetlinkOverrunResync 1\n"
        "}\n"
        "Sync {\n"
        "  Mode FTFW { }\n"
        "  UDP { IPv4_address 10.0.0.1\n IPv4_Destination_Address 10.0.0.2\n Port 3780\n Interface lo }\n"
        "}\n";

static void start_manager(Fixture *f, const char *text) {
        Config *c = NULL;
        ConfigDiagnostics d = {};

        write_config(f, text);
        int sv[2] = { -1, -1 };
        bool sync;

        g_assert_cmpint(config_load_file(f->conf, &c, &d), ==, 0);
        config_diagnostics_clear(&d);
        /* Replication goes over a socketpair: no address of the test machine is needed. */
        sync = c->mode != CONFIG_MODE_STATS;
        if (sync)
                g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                                           sv), ==, 0);
        g_assert_cmpint(manager_new(&(ManagerOptions) {
                                            .config_path = f->conf,
                                            .config = c,
                                            .kernel_ops = &fake_kernel_ops,
                                            .sync_fd_set = sync,
                                            .sync_fd = sv[0],
                                    },
                                    &f->m),
                        ==, 0);
        if (f->peer_fd >= 0)
                close(f->peer_fd);
        f->peer_fd = sv[1];
        g_assert_cmpint(manager_start(f->m), ==, 0);
        g_assert_cmpint(f->m->state, ==, MANAGER_RUNNING);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        f->peer_fd = -1;
        f->dir = g_dir_make_tmp("test-manager-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        f->conf = g_build_filename(f->dir, "conntrackd.conf", NULL);
        start_manager(f, data ?: base_config);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        f->m = manager_free(f->m);
        if (f->peer_fd >= 0)
                close(f->peer_fd);
        g_unlink(f->conf);
        g_rmdir(f->dir);
        g_free(f->conf);
        g_free(f->dir);
}

static Cache *internal(Fixture *f) {
        return manager_get_cache(f->m, CACHE_INTERNAL, CT_KIND_CT);
}

/* Run the loop until cond() holds or a deadline passes. */
static bool run_until(Fixture *f, bool (*cond)(Fixture *f), uint64_t timeout_usec) {
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_usec;

        while (!cond(f)) {
                if (g_get_monotonic_time() > deadline)
                        return false;
                g_assert_cmpint(sd_event_run(f->m->event, 100 * USEC_PER_MSEC), >=, 0);
        }
        return true;
}

static void test_caches_per_mode(Fixture *f, gconstpointer data) {
        g_assert_nonnull(manager_get_cache(f->m, CACHE_INTERNAL, CT_KIND_CT));
        g_assert_nonnull(manager_get_cache(f->m, CACHE_EXTERNAL, CT_KIND_CT));
        g_assert_null(manager_get_cache(f->m, CACHE_INTERNAL, CT_KIND_EXPECT));
        g_assert_cmpint(manager_flush_cache(f->m, CACHE_EXTERNAL, CT_KIND_EXPECT), ==, -EOPNOTSUPP);
}

static void test_events(Fixture *f, gconstpointer data) {
        CtEntry e, u = {};
        CacheObject *o;

        for (unsigned i = 0; i < 100; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        }
        g_assert_cmpuint(cache_size(internal(f)), ==, 100);

        fake_ct_make_tcp(&e, 5);
        u.orig = e.orig;
        u.attrs = CT_ATTR_MARK;
        u.mark = 77;
        g_assert_cmpint(fake_kernel_update_ct(f->m->kernel, &u, false), ==, 0);
        o = cache_find(internal(f), &e);
        g_assert_nonnull(o);
        g_assert_cmpuint(cache_object_ct_value(o).mark, ==, 77);

        g_assert_cmpint(fake_kernel_del_ct(f->m->kernel, &e, false), ==, 0);
        g_assert_null(cache_find(internal(f), &e));
        g_assert_cmpuint(cache_size(internal(f)), ==, 99);
        /* a DESTROY for an unknown flow changes nothing */
        fake_ct_make_tcp(&e, 5000);
        g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, true), ==, 0);
        g_assert_cmpint(fake_kernel_del_ct(f->m->kernel, &e, false), ==, 0);
        g_assert_cmpuint(cache_size(internal(f)), ==, 99);
}

/* Sync mode keeps neither counters nor use; Stats mode keeps counters but no timeout. */
static void test_stripped_attributes(Fixture *f, gconstpointer data) {
        bool stats = f->m->config->mode == CONFIG_MODE_STATS;
        CtEntry e;
        CacheObject *o;

        fake_ct_make_tcp(&e, 1);
        e.attrs |= CT_ATTR_COUNTERS | CT_ATTR_USE;
        e.counters.packets_orig = 3;
        e.counters.bytes_orig = 180;
        e.use = 1;
        g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        o = cache_find(internal(f), &e);
        g_assert_nonnull(o);
        g_assert_false(cache_object_ct_value(o).attrs & CT_ATTR_USE);
        g_assert_cmpint(!!(cache_object_ct_value(o).attrs & CT_ATTR_COUNTERS), ==, stats);
        g_assert_cmpint(!!(cache_object_ct_value(o).attrs & CT_ATTR_TIMEOUT), ==, !stats);
        /* the counters of a destroyed flow feed "traffic processed" either way */
        g_assert_cmpint(fake_kernel_del_ct(f->m->kernel, &e, false), ==, 0);
        g_assert_cmpuint(f->m->counters.traffic_bytes, ==, 180);
        g_assert_cmpuint(f->m->counters.traffic_packets, ==, 3);
}

static bool resync_happened(Fixture *f) {
        return f->m->counters.kernel_resyncs > 0;
}

static void test_overrun_resync(Fixture *f, gconstpointer data) {
        CtEntry e;

        for (unsigned i = 0; i < 50; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        }
        /* events get lost: 20 new flows and 10 deletions nobody was told about */
        for (unsigned i = 50; i < 70; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, true), ==, 0);
        }
        for (unsigned i = 0; i < 10; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_del_ct(f->m->kernel, &e, true), ==, 0);
        }
        g_assert_cmpuint(cache_size(internal(f)), ==, 50);
        fake_kernel_overrun(f->m->kernel);
        g_assert_nonnull(f->m->resync_timer);
        g_assert_cmpuint(f->m->counters.overrun_resyncs, ==, 1);
        /* a second overrun does not schedule a second resync */
        fake_kernel_overrun(f->m->kernel);
        g_assert_cmpuint(f->m->counters.overrun_resyncs, ==, 1);

        g_assert_true(run_until(f, resync_happened, 5 * USEC_PER_SEC));
        g_assert_cmpuint(cache_size(internal(f)), ==, fake_kernel_count(f->m->kernel, CT_KIND_CT));
        g_assert_cmpuint(cache_size(internal(f)), ==, 60);
        fake_ct_make_tcp(&e, 3);
        g_assert_null(cache_find(internal(f), &e));
        fake_ct_make_tcp(&e, 65);
        g_assert_nonnull(cache_find(internal(f), &e));
}

static const char *full_config =
        "General { HashSize 16\n HashLimit 10\n }\n"
        "Sync { Mode NOTRACK { }\n UDP { IPv4_address 10.0.0.1\n IPv4_Destination_Address 10.0.0.2\n"
        " Port 3780\n Interface lo } }\n";

static void test_cache_full(Fixture *f, gconstpointer data) {
        CtEntry e;

        for (unsigned i = 0; i < 25; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        }
        g_assert_cmpuint(cache_size(internal(f)), ==, 10);
        g_assert_cmpuint(f->m->counters.cache_full, ==, 15);
        g_assert_cmpuint(cache_stats(internal(f))->add_fail_nospace, ==, 15);
}

static const char *filter_config =
        "General { HashSize 64\n Filter From Userspace {\n"
        "  Protocol Ignore { UDP }\n"
        "  Address Ignore { IPv4_address 10.0.0.3 }\n"
        " } }\n"
        "Stats { }\n";

static void test_filter(Fixture *f, gconstpointer data) {
        CtEntry e;
        uint64_t deleted = 0;

        fake_ct_make_tcp(&e, 1);
        g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        fake_ct_make_tcp(&e, 2);
        e.orig.l4 = e.reply.l4 = IPPROTO_UDP;
        g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        fake_ct_make_tcp(&e, 3);        /* source 10.0.0.3: ignored */
        g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        g_assert_cmpuint(cache_size(internal(f)), ==, 1);
        g_assert_cmpuint(f->m->counters.events_filtered, ==, 2);

        /* a flush of the kernel table keeps what the filter ignores */
        g_assert_cmpint(manager_flush_kernel(f->m, CT_KIND_CT, &deleted), ==, 0);
        g_assert_cmpuint(deleted, ==, 1);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 2);
        g_assert_cmpuint(cache_size(internal(f)), ==, 0);
        /* Stats mode: no external cache */
        g_assert_null(manager_get_cache(f->m, CACHE_EXTERNAL, CT_KIND_CT));
}

static void test_dump(Fixture *f, gconstpointer data) {
        CtEntry e;
        int fd = -1;
        char buf[65536];
        ssize_t n;
        unsigned lines = 0;

        for (unsigned i = 0; i < 20; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        }
        g_assert_cmpint(manager_dump_cache(f->m, CACHE_INTERNAL, CT_KIND_CT, CT_FORMAT_PLAIN, &fd), ==, 0);
        n = read(fd, buf, sizeof buf - 1);
        g_assert_cmpint(n, >, 0);
        buf[n] = 0;
        for (char *p = buf; *p; p++)
                lines += *p == '\n';
        g_assert_cmpuint(lines, ==, 20);
        g_assert_nonnull(strstr(buf, "tcp      6 ESTABLISHED src=10.0.0.0 dst=192.168.0.1 sport=1000 dport=80"));
        g_assert_nonnull(strstr(buf, "[active since 0s]"));
        /* sealed: the client cannot change what the daemon wrote */
        g_assert_cmpint(write(fd, "x", 1), <, 0);
        close(fd);

        g_assert_cmpint(manager_dump_cache(f->m, CACHE_EXTERNAL, CT_KIND_CT, CT_FORMAT_XML, &fd), ==, 0);
        g_assert_cmpint(read(fd, buf, sizeof buf), ==, 0);     /* empty */
        close(fd);
        g_assert_cmpint(manager_dump_cache(f->m, CACHE_INTERNAL, CT_KIND_EXPECT, CT_FORMAT_XML, &fd),
                        ==, -EOPNOTSUPP);
}

static void test_reload(Fixture *f, gconstpointer data) {
        CtEntry e;

        /* a bad file changes nothing */
        write_config(f, "General { HashLimit lots }\n");
        g_assert_cmpint(manager_reload(f->m), ==, -EINVAL);
        g_assert_cmpuint(f->m->counters.reloads_failed, ==, 1);
        g_assert_cmpuint(f->m->config->hash_limit, ==, 100000);
        g_assert_cmpint(f->m->state, ==, MANAGER_RUNNING);

        /* a good one applies HashLimit and a new Filter at once */
        write_config(f, "General { HashSize 1024\n HashLimit 5\n Filter { Protocol Accept { TCP } } }\n"
                        "Sync { Mode FTFW { }\n UDP { IPv4_address 10.0.0.1\n"
                        " IPv4_Destination_Address 10.0.0.2\n Port 3780\n Interface lo } }\n");
        fake_ct_make_tcp(&e, 1);
        e.orig.l4 = e.reply.l4 = IPPROTO_UDP;
        g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        g_assert_cmpuint(cache_size(internal(f)), ==, 1);
        g_assert_cmpint(manager_reload(f->m), ==, 0);
        g_assert_cmpuint(f->m->config->hash_limit, ==, 5);
        g_assert_cmpuint(cache_hash_limit(internal(f)), ==, 5);
        /* the UDP flow left the cache with the resync that follows a reload */
        g_assert_cmpuint(cache_size(internal(f)), ==, 0);

        /* restart-only settings keep their running value */
        write_config(f, "General { HashSize 2048 }\nStats { }\n");
        g_assert_cmpint(manager_reload(f->m), ==, 0);
        g_assert_cmpint(f->m->config->mode, ==, CONFIG_MODE_FTFW);
        g_assert_cmpuint(f->m->config->hash_size, ==, 1024);

        /* so does the Keepalived block (the follower is made at start only) */
        write_config(f, "Sync { Mode FTFW { }\n UDP { IPv4_address 10.0.0.1\n"
                        " IPv4_Destination_Address 10.0.0.2\n Port 3780\n Interface lo }\n"
                        " Keepalived { Instance VI_1\n TrackFile /run/x } }\n");
        g_assert_cmpint(manager_reload(f->m), ==, 0);
        g_assert_null(f->m->config->keepalived.instance);
        g_assert_null(f->m->config->keepalived.track_file);
        g_assert_null(f->m->keepalived);
}

static void test_quit(Fixture *f, gconstpointer data) {
        g_assert_cmpint(manager_quit(f->m), ==, 0);
        g_assert_cmpint(f->m->state, ==, MANAGER_STOPPING);
        g_assert_cmpint(manager_run(f->m), ==, 0);
}

static void test_two_managers(void) {
        Fixture a = {}, b = {};
        CtEntry e;

        fixture_setup(&a, NULL);
        fixture_setup(&b, NULL);
        fake_ct_make_tcp(&e, 1);
        g_assert_cmpint(fake_kernel_add_ct(a.m->kernel, &e, false), ==, 0);
        g_assert_cmpuint(cache_size(manager_get_cache(a.m, CACHE_INTERNAL, CT_KIND_CT)), ==, 1);
        g_assert_cmpuint(cache_size(manager_get_cache(b.m, CACHE_INTERNAL, CT_KIND_CT)), ==, 0);
        fixture_teardown(&a, NULL);
        fixture_teardown(&b, NULL);
}

static void test_state_table(void) {
        for (ManagerState s = 0; s < _MANAGER_STATE_MAX; s++)
                g_assert_cmpint(manager_state_from_string(manager_state_to_string(s)), ==, s);
        for (CacheWhich w = 0; w < _CACHE_WHICH_MAX; w++)
                g_assert_cmpint(cache_which_from_string(cache_which_to_string(w)), ==, w);
        g_assert_cmpint(cache_which_from_string("both"), ==, -EINVAL);
}

#define ADD(path, fn, cfg) g_test_add(path, Fixture, cfg, fixture_setup, fn, fixture_teardown)

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        log_setup(LOG_TARGET_CONSOLE, LOG_WARNING);
        g_test_add_func("/manager/state-table", test_state_table);
        ADD("/manager/caches-per-mode", test_caches_per_mode, NULL);
        ADD("/manager/events", test_events, NULL);
        ADD("/manager/overrun-resync", test_overrun_resync, NULL);
        ADD("/manager/cache-full", test_cache_full, full_config);
        ADD("/manager/filter", test_filter, filter_config);
        ADD("/manager/dump", test_dump, NULL);
        ADD("/manager/stripped-attributes-sync", test_stripped_attributes, NULL);
        ADD("/manager/stripped-attributes-stats", test_stripped_attributes, filter_config);
        ADD("/manager/reload", test_reload, NULL);
        ADD("/manager/quit", test_quit, NULL);
        g_test_add_func("/manager/two-managers", test_two_managers);
        return g_test_run();
}
