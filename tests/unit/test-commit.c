/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The commit of the external cache into the kernel (commit.c) on the fake kernel: what is written
 * (timeout estimate, status, reply tuple, TCP "be liberal"), in which order, EEXIST replacement,
 * failures, slices that leave the loop to other sources, progress and cancellation.
 */
#include <arpa/inet.h>
#include <glib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "cache.h"
#include "commit.h"
#include "fake-kernel.h"
#include "log.h"

#define T0_USEC         (1000 * USEC_PER_SEC)   /* the caches' clock when objects arrive */
#define DEADLINE_USEC   (10 * G_USEC_PER_SEC)

#define IPS_EXPECTED    (1u << 0)
#define IPS_SEEN_REPLY  (1u << 1)
#define IPS_ASSURED     (1u << 2)
#define IPS_CONFIRMED   (1u << 3)
#define TCP_BE_LIBERAL  0x08

typedef struct Fixture {
        sd_event *event;
        Kernel *kernel;
        Cache *ct, *exp;
        Commit *commit;
        bool done;
        unsigned done_calls;
        CommitResult result;
} Fixture;

static void fixture_setup_ops(Fixture *f, const KernelOps *ops) {
        *f = (Fixture) {};
        g_assert_cmpint(sd_event_new(&f->event), >=, 0);
        g_assert_cmpint(kernel_new(ops, NULL, NULL, &f->kernel), ==, 0);
        g_assert_cmpint(cache_new("external", CT_KIND_CT, 1024, 1000000, &f->ct), ==, 0);
        g_assert_cmpint(cache_new("external", CT_KIND_EXPECT, 256, 10000, &f->exp), ==, 0);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        fixture_setup_ops(f, data ? data : &fake_kernel_ops);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        commit_free(f->commit);
        cache_free(f->ct);
        cache_free(f->exp);
        kernel_free(f->kernel);
        sd_event_unref(f->event);
}

static void on_done(Commit *c, const CommitResult *r, void *userdata) {
        Fixture *f = userdata;

        g_assert_true(c == f->commit);
        g_assert_true(commit_is_done(c));
        f->done = true;
        f->done_calls++;
        f->result = *r;
}

static void start(Fixture *f, const CommitOptions *o) {
        CommitOptions opts = *o;

        opts.done = on_done;
        opts.userdata = f;
        if (opts.now_usec == 0)
                opts.now_usec = T0_USEC;
        g_assert_cmpint(commit_new(f->event, f->kernel, &opts, &f->commit), ==, 0);
        /* never from commit_new() itself */
        g_assert_false(f->done);
        g_assert_false(commit_is_done(f->commit));
}

static void run_until_done(Fixture *f) {
        gint64 deadline = g_get_monotonic_time() + DEADLINE_USEC;

        while (!f->done) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(f->event, 100 * USEC_PER_MSEC), >=, 0);
        }
        g_assert_cmpuint(f->done_calls, ==, 1);
}

static void commit_all(Fixture *f, const CommitOptions *o) {
        start(f, o);
        run_until_done(f);
}

static void add_ct(Fixture *f, const CtEntry *e, uint64_t when) {
        g_assert_cmpint(cache_add(f->ct, e, when, NULL), ==, 0);
}

static void add_flows(Fixture *f, unsigned first, unsigned n) {
        for (unsigned i = first; i < first + n; i++) {
                CtEntry e;

                fake_ct_make_tcp(&e, i);
                /* as peers send them: no reply tuple */
                e.attrs &= ~(uint64_t) CT_ATTR_REPLY;
                e.reply = (CtTuple) {};
                add_ct(f, &e, T0_USEC);
        }
}

static CtEntry kernel_ct(Fixture *f, const CtEntry *e) {
        CtEntry got;

        g_assert_cmpint(kernel_get(f->kernel, CT_KIND_CT, e, &got), ==, 0);
        return got;
}

static CtEntry udp_flow(unsigned i) {
        CtEntry e = {
                .orig = {
                        .l3 = AF_INET,
                        .l4 = IPPROTO_UDP,
                        .src.ip = htonl(0x0a010000u + i),
                        .dst.ip = htonl(0x0a020001u),
                        .sport = (uint16_t) (2000 + i),
                        .dport = 53,
                },
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT,
                .status = IPS_CONFIRMED,
                .timeout = 30,
        };
        return e;
}

static CtExpect expectation_of(const CtEntry *master, uint16_t port) {
        CtExpect x = {
                .master = master->orig,
                .expected = {
                        .l3 = AF_INET,
                        .l4 = IPPROTO_TCP,
                        .src.ip = master->orig.src.ip,
                        .dst.ip = master->orig.dst.ip,
                        .dport = port,
                },
                .mask = {
                        .l3 = AF_INET,
                        .l4 = IPPROTO_TCP,
                        .src.ip = 0xffffffffu,
                        .dst.ip = 0xffffffffu,
                        .dport = 0xffff,
                },
                .attrs = CT_EXP_ATTR_TIMEOUT | CT_EXP_ATTR_HELPER,
                .timeout = 300,
                .helper = "ftp",
        };
        return x;
}

/* ---- tests ---- */

static void test_empty(Fixture *f, gconstpointer data) {
        uint64_t done = 1, total = 1;

        commit_all(f, &(CommitOptions) { .ct = f->ct, .exp = f->exp });
        g_assert_cmpuint(f->result.ct_ok + f->result.ct_failed + f->result.exp_ok +
                         f->result.exp_failed, ==, 0);
        g_assert_cmpint(f->result.first_error, ==, 0);
        commit_progress(f->commit, &done, &total);
        g_assert_cmpuint(done, ==, 0);
        g_assert_cmpuint(total, ==, 0);
}

static void test_flows(Fixture *f, gconstpointer data) {
        add_flows(f, 0, 5000);
        commit_all(f, &(CommitOptions) { .ct = f->ct, .batch = 1000 });
        g_assert_cmpuint(f->result.ct_ok, ==, 5000);
        g_assert_cmpuint(f->result.ct_failed, ==, 0);
        g_assert_cmpuint(f->result.exp_ok, ==, 0);
        g_assert_cmpuint(fake_kernel_count(f->kernel, CT_KIND_CT), ==, 5000);
        if (data != &fake_kernel_ops_unbatched)
                /* one batch per slice */
                g_assert_cmpuint(fake_kernel_batches(f->kernel), ==, 5);
        else
                g_assert_cmpuint(fake_kernel_batches(f->kernel), ==, 0);
}

static void test_timeout(Fixture *f, gconstpointer data) {
        static const struct {
                bool has_timeout;
                uint32_t received;
                uint64_t age_sec;
                uint32_t commit_timeout;
                uint32_t want;
        } cases[] = {
                { true, 100, 30, 0, 70 },       /* received minus the time in the cache */
                { true, 100, 0, 0, 100 },
                { true, 10, 30, 0, 60 },        /* negative: 60 s */
                { true, 30, 30, 0, 60 },        /* zero: 60 s, not "no timeout" */
                { false, 0, 0, 0, 60 },         /* the sender had CommitTimeout: nothing sent */
                { false, 0, 5, 0, 60 },
                { true, 100, 30, 180, 180 },    /* CommitTimeout wins */
                { false, 0, 30, 180, 180 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                CtEntry e = udp_flow((unsigned) i), got;

                if (!cases[i].has_timeout)
                        e.attrs &= ~(uint64_t) CT_ATTR_TIMEOUT;
                e.timeout = cases[i].received;
                cache_flush(f->ct);
                add_ct(f, &e, T0_USEC);

                f->done = false;
                f->done_calls = 0;
                f->commit = commit_free(f->commit);
                commit_all(f, &(CommitOptions) {
                                .ct = f->ct,
                                .commit_timeout = cases[i].commit_timeout,
                                .now_usec = T0_USEC + cases[i].age_sec * USEC_PER_SEC +
                                            USEC_PER_SEC / 2,
                        });
                g_assert_cmpuint(f->result.ct_ok, ==, 1);
                got = kernel_ct(f, &e);
                g_assert_true(got.attrs & CT_ATTR_TIMEOUT);
                g_assert_cmpuint(got.timeout, ==, cases[i].want);
        }
}

static void test_status_reply(Fixture *f, gconstpointer data) {
        CtEntry e = udp_flow(1), got;
        CtTuple inverted;

        e.status = IPS_EXPECTED | IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED;
        e.attrs |= CT_ATTR_MARK | CT_ATTR_ID | CT_ATTR_COUNTERS | CT_ATTR_HELPER;
        e.mark = 0x99;
        e.id = 1234;
        e.counters.packets_orig = 5;
        g_strlcpy(e.helper, "tftp", sizeof e.helper);
        add_ct(f, &e, T0_USEC);

        commit_all(f, &(CommitOptions) { .ct = f->ct });
        got = kernel_ct(f, &e);
        g_assert_cmpuint(got.status, ==, IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED);
        g_assert_true(got.attrs & CT_ATTR_REPLY);
        ct_tuple_invert(&e.orig, &inverted);
        g_assert_true(ct_tuple_equal(&got.reply, &inverted));
        /* passed through */
        g_assert_cmpuint(got.mark, ==, 0x99);
        g_assert_cmpstr(got.helper, ==, "tftp");
        /* what a create does not take */
        g_assert_false(got.attrs & (CT_ATTR_ID | CT_ATTR_COUNTERS));
        /* UDP: no TCP flags */
        g_assert_false(got.attrs & CT_ATTR_TCP_FLAGS);
}

static void test_liberal(Fixture *f, gconstpointer data) {
        CtEntry a, b, got;

        fake_ct_make_tcp(&a, 1);
        fake_ct_make_tcp(&b, 2);
        b.attrs |= CT_ATTR_TCP_FLAGS;
        b.tcp.flags_orig = 0x03;
        b.tcp.mask_orig = 0x03;
        b.tcp.flags_repl = 0x01;
        b.tcp.mask_repl = 0x01;
        add_ct(f, &a, T0_USEC);
        add_ct(f, &b, T0_USEC);

        commit_all(f, &(CommitOptions) { .ct = f->ct });
        got = kernel_ct(f, &a);
        g_assert_true(got.attrs & CT_ATTR_TCP_FLAGS);
        g_assert_cmphex(got.tcp.flags_orig, ==, TCP_BE_LIBERAL);
        g_assert_cmphex(got.tcp.mask_orig, ==, TCP_BE_LIBERAL);
        g_assert_cmphex(got.tcp.flags_repl, ==, TCP_BE_LIBERAL);
        g_assert_cmphex(got.tcp.mask_repl, ==, TCP_BE_LIBERAL);
        got = kernel_ct(f, &b);
        g_assert_cmphex(got.tcp.flags_orig, ==, 0x03 | TCP_BE_LIBERAL);
        g_assert_cmphex(got.tcp.mask_orig, ==, 0x03 | TCP_BE_LIBERAL);
        g_assert_cmphex(got.tcp.flags_repl, ==, 0x01 | TCP_BE_LIBERAL);
        g_assert_cmphex(got.tcp.mask_repl, ==, 0x01 | TCP_BE_LIBERAL);
        g_assert_cmpuint(got.tcp.state, ==, CT_TCP_ESTABLISHED);
}

static void test_window_tracking(Fixture *f, gconstpointer data) {
        CtEntry a, b, got;

        fake_ct_make_tcp(&a, 1);
        fake_ct_make_tcp(&b, 2);
        b.attrs |= CT_ATTR_TCP_FLAGS;
        b.tcp.flags_orig = 0x03;
        b.tcp.mask_orig = 0x03;
        add_ct(f, &a, T0_USEC);
        add_ct(f, &b, T0_USEC);

        commit_all(f, &(CommitOptions) { .ct = f->ct, .tcp_window_tracking = true });
        got = kernel_ct(f, &a);
        g_assert_false(got.attrs & CT_ATTR_TCP_FLAGS);
        got = kernel_ct(f, &b);
        g_assert_cmphex(got.tcp.flags_orig, ==, 0x03);
        g_assert_cmphex(got.tcp.mask_orig, ==, 0x03);
}

static void test_order(Fixture *f, gconstpointer data) {
        CtEntry masters[20];
        unsigned n_related = 0;

        /* Related flows enter the cache before their masters, expectations before both: the
         * fake kernel, like the real one, refuses a related flow or an expectation whose master
         * it does not have. */
        for (unsigned i = 0; i < G_N_ELEMENTS(masters); i++) {
                CtExpect x;
                CtEntry rel = udp_flow(100 + i);

                fake_ct_make_tcp(&masters[i], 500 + i);
                x = expectation_of(&masters[i], (uint16_t) (40000 + i));
                g_assert_cmpint(cache_add(f->exp, &x, T0_USEC, NULL), ==, 0);
                if (i % 2 == 0) {
                        rel.attrs |= CT_ATTR_MASTER;
                        rel.master = masters[i].orig;
                        add_ct(f, &rel, T0_USEC);
                        n_related++;
                }
        }
        for (unsigned i = 0; i < G_N_ELEMENTS(masters); i++)
                add_ct(f, &masters[i], T0_USEC);

        commit_all(f, &(CommitOptions) { .ct = f->ct, .exp = f->exp, .batch = 7 });
        g_assert_cmpuint(f->result.ct_ok, ==, G_N_ELEMENTS(masters) + n_related);
        g_assert_cmpuint(f->result.ct_failed, ==, 0);
        g_assert_cmpuint(f->result.exp_ok, ==, G_N_ELEMENTS(masters));
        g_assert_cmpuint(f->result.exp_failed, ==, 0);
        g_assert_cmpuint(fake_kernel_count(f->kernel, CT_KIND_EXPECT), ==, G_N_ELEMENTS(masters));
}

static void test_expect_only(Fixture *f, gconstpointer data) {
        CtEntry master, e;
        CtExpect x, got;

        fake_ct_make_tcp(&master, 1);
        g_assert_cmpint(fake_kernel_add_ct(f->kernel, &master, true), ==, 0);
        x = expectation_of(&master, 40000);
        x.attrs &= ~(uint64_t) CT_EXP_ATTR_TIMEOUT;
        g_assert_cmpint(cache_add(f->exp, &x, T0_USEC, NULL), ==, 0);
        /* a flow in the conntrack cache stays out of an expectation commit */
        e = udp_flow(1);
        add_ct(f, &e, T0_USEC);

        commit_all(f, &(CommitOptions) { .exp = f->exp, .now_usec = T0_USEC + USEC_PER_SEC });
        g_assert_cmpuint(f->result.exp_ok, ==, 1);
        g_assert_cmpuint(f->result.ct_ok + f->result.ct_failed, ==, 0);
        g_assert_cmpuint(fake_kernel_count(f->kernel, CT_KIND_CT), ==, 1);
        g_assert_cmpint(kernel_get(f->kernel, CT_KIND_EXPECT, &x, &got), ==, 0);
        g_assert_true(got.attrs & CT_EXP_ATTR_TIMEOUT);
        g_assert_cmpuint(got.timeout, ==, 60);
}

static void test_expect_without_master(Fixture *f, gconstpointer data) {
        CtEntry master;
        CtExpect x;

        fake_ct_make_tcp(&master, 1);
        x = expectation_of(&master, 40000);
        g_assert_cmpint(cache_add(f->exp, &x, T0_USEC, NULL), ==, 0);
        commit_all(f, &(CommitOptions) { .ct = f->ct, .exp = f->exp });
        g_assert_cmpuint(f->result.exp_ok, ==, 0);
        g_assert_cmpuint(f->result.exp_failed, ==, 1);
        g_assert_cmpint(f->result.first_error, ==, -ENOENT);
}

static void test_eexist(Fixture *f, gconstpointer data) {
        CtEntry old, new, got;

        fake_ct_make_tcp(&old, 7);
        old.attrs |= CT_ATTR_MARK;
        old.mark = 1;
        g_assert_cmpint(fake_kernel_add_ct(f->kernel, &old, true), ==, 0);

        new = old;
        new.mark = 2;
        add_ct(f, &new, T0_USEC);
        add_flows(f, 100, 10);

        commit_all(f, &(CommitOptions) { .ct = f->ct });
        g_assert_cmpuint(f->result.ct_ok, ==, 11);
        g_assert_cmpuint(f->result.ct_failed, ==, 0);
        g_assert_cmpuint(fake_kernel_count(f->kernel, CT_KIND_CT), ==, 11);
        got = kernel_ct(f, &new);
        g_assert_cmpuint(got.mark, ==, 2);
}

static void test_eexist_twice(Fixture *f, gconstpointer data) {
        CtEntry e;

        fake_ct_make_tcp(&e, 7);
        add_ct(f, &e, T0_USEC);
        /* the batch's create, then the delete of the retry: the retry is done once only */
        fake_kernel_fail_next(f->kernel, 2, -EEXIST);
        commit_all(f, &(CommitOptions) { .ct = f->ct });
        g_assert_cmpuint(f->result.ct_ok, ==, 0);
        g_assert_cmpuint(f->result.ct_failed, ==, 1);
        g_assert_cmpint(f->result.first_error, ==, -EEXIST);
}

static void test_failures(Fixture *f, gconstpointer data) {
        add_flows(f, 0, 50);
        fake_kernel_fail_next(f->kernel, 3, -ENOMEM);
        commit_all(f, &(CommitOptions) { .ct = f->ct, .batch = 16 });
        g_assert_cmpuint(f->result.ct_ok, ==, 47);
        g_assert_cmpuint(f->result.ct_failed, ==, 3);
        g_assert_cmpint(f->result.first_error, ==, -ENOMEM);
        g_assert_cmpuint(fake_kernel_count(f->kernel, CT_KIND_CT), ==, 47);
}

/* The cache may change during the commit: the commit writes what was there when it began. */
static void test_snapshot(Fixture *f, gconstpointer data) {
        add_flows(f, 0, 100);
        start(f, &(CommitOptions) { .ct = f->ct, .batch = 10 });
        cache_flush(f->ct);
        add_flows(f, 1000, 5);
        run_until_done(f);
        g_assert_cmpuint(f->result.ct_ok, ==, 100);
        g_assert_cmpuint(fake_kernel_count(f->kernel, CT_KIND_CT), ==, 100);
}

typedef struct Observer {
        Fixture *f;
        unsigned runs;
        GArray *seen;           /* batches done when the other source ran */
} Observer;

static int on_other_source(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Observer *o = userdata;
        unsigned b = fake_kernel_batches(o->f->kernel);

        o->runs++;
        g_array_append_val(o->seen, b);
        return 0;
}

static void test_interleave(Fixture *f, gconstpointer data) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *other = NULL;
        Observer o = { .f = f, .seen = g_array_new(FALSE, FALSE, sizeof(unsigned)) };
        _cleanup_close_ int efd = -EBADF;
        unsigned distinct = 0, last = UINT_MAX;
        uint64_t done, total, prev = 0;

        add_flows(f, 0, 1000);
        start(f, &(CommitOptions) { .ct = f->ct, .batch = 100 });
        /* a socket with data waiting all along, as the kernel's event socket in a storm */
        efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
        g_assert_cmpint(efd, >=, 0);
        g_assert_cmpint(sd_event_add_io(f->event, &other, efd, EPOLLIN, on_other_source, &o),
                        >=, 0);

        commit_progress(f->commit, &done, &total);
        g_assert_cmpuint(done, ==, 0);
        g_assert_cmpuint(total, ==, 1000);
        while (!f->done) {
                g_assert_cmpint(sd_event_run(f->event, 0), >=, 0);
                commit_progress(f->commit, &done, &total);
                g_assert_cmpuint(done, >=, prev);
                g_assert_cmpuint(done, <=, total);
                g_assert_cmpuint(done % 100, ==, 0);
                prev = done;
        }
        g_assert_cmpuint(done, ==, 1000);
        g_assert_cmpuint(fake_kernel_batches(f->kernel), ==, 10);

        /* the other source ran between the slices, not only before or after the commit */
        for (unsigned i = 0; i < o.seen->len; i++) {
                unsigned b = g_array_index(o.seen, unsigned, i);

                if (b != last && b > 0 && b < 10)
                        distinct++;
                last = b;
        }
        g_assert_cmpuint(distinct, >=, 9);
        g_array_unref(o.seen);
}

static void test_cancel(Fixture *f, gconstpointer data) {
        uint64_t done, total;
        size_t n;

        add_flows(f, 0, 1000);
        start(f, &(CommitOptions) { .ct = f->ct, .batch = 100 });
        for (unsigned i = 0; i < 3; i++)
                g_assert_cmpint(sd_event_run(f->event, 0), >=, 0);
        commit_progress(f->commit, &done, &total);
        g_assert_cmpuint(done, >, 0);
        g_assert_cmpuint(done, <, 1000);
        n = fake_kernel_count(f->kernel, CT_KIND_CT);
        g_assert_cmpuint(n, ==, done);

        f->commit = commit_free(f->commit);
        for (unsigned i = 0; i < 20; i++)
                g_assert_cmpint(sd_event_run(f->event, 0), >=, 0);
        g_assert_false(f->done);
        g_assert_cmpuint(fake_kernel_count(f->kernel, CT_KIND_CT), ==, n);
}

/* The done callback may free the commit (the manager replaces it by the next one). */
static void on_done_free(Commit *c, const CommitResult *r, void *userdata) {
        Fixture *f = userdata;

        f->done = true;
        f->done_calls++;
        f->result = *r;
        f->commit = commit_free(f->commit);
}

static void test_free_in_done(Fixture *f, gconstpointer data) {
        add_flows(f, 0, 10);
        g_assert_cmpint(commit_new(f->event, f->kernel,
                                   &(CommitOptions) {
                                           .ct = f->ct,
                                           .now_usec = T0_USEC,
                                           .done = on_done_free,
                                           .userdata = f,
                                   },
                                   &f->commit),
                        ==, 0);
        run_until_done(f);
        g_assert_null(f->commit);
        g_assert_cmpuint(f->result.ct_ok, ==, 10);
}

static void test_invalid(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Commit *c = NULL;

        g_assert_cmpint(sd_event_new(&e), >=, 0);
        g_assert_cmpint(commit_new(e, NULL, &(CommitOptions) {}, &c), ==, -EINVAL);
        g_assert_null(c);
        g_assert_null(commit_free(NULL));
}

int main(int argc, char **argv) {
        log_setup(LOG_TARGET_CONSOLE, LOG_WARNING);
        g_test_init(&argc, &argv, NULL);

#define ADD(path, fn, data) \
        g_test_add(path, Fixture, data, fixture_setup, fn, fixture_teardown)
        ADD("/commit/empty", test_empty, NULL);
        ADD("/commit/flows", test_flows, NULL);
        ADD("/commit/flows-unbatched", test_flows, &fake_kernel_ops_unbatched);
        ADD("/commit/timeout", test_timeout, NULL);
        ADD("/commit/status-reply", test_status_reply, NULL);
        ADD("/commit/liberal", test_liberal, NULL);
        ADD("/commit/window-tracking", test_window_tracking, NULL);
        ADD("/commit/order", test_order, NULL);
        ADD("/commit/order-unbatched", test_order, &fake_kernel_ops_unbatched);
        ADD("/commit/expect-only", test_expect_only, NULL);
        ADD("/commit/expect-without-master", test_expect_without_master, NULL);
        ADD("/commit/eexist", test_eexist, NULL);
        ADD("/commit/eexist-twice", test_eexist_twice, NULL);
        ADD("/commit/failures", test_failures, NULL);
        ADD("/commit/snapshot", test_snapshot, NULL);
        ADD("/commit/interleave", test_interleave, NULL);
        ADD("/commit/cancel", test_cancel, NULL);
        ADD("/commit/free-in-done", test_free_in_done, NULL);
#undef ADD
        g_test_add_func("/commit/invalid", test_invalid);

        return g_test_run();
}
