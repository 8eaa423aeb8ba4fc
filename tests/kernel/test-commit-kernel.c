/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The commit (commit.c) and the batched creates of kernel-netlink.c against the real kernel, in a
 * network namespace of its own (unshare(CLONE_NEWNET) at the start of main; skipped with the
 * reason when that is impossible): flows as peers send them (no reply tuple, NAT as attributes)
 * land in the table as asked, EEXIST replaces, related flows follow their masters, the errors of
 * a batch come back to the right objects. How long 100k flows take is printed, not asserted.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <glib.h>
#include <inttypes.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache.h"
#include "commit.h"
#include "kernel.h"
#include "log.h"

#define T0_USEC         (1000 * USEC_PER_SEC)
#define DEADLINE_USEC   (120 * G_USEC_PER_SEC)

#define IPS_EXPECTED            (1u << 0)
#define IPS_SEEN_REPLY          (1u << 1)
#define IPS_ASSURED             (1u << 2)
#define IPS_CONFIRMED           (1u << 3)
#define IPS_SRC_NAT_DONE        (1u << 7)
#define IPS_DST_NAT_DONE        (1u << 8)
#define TCP_BE_LIBERAL          0x08

static const char *skip_reason;

/* ---- the namespace ---- */

static void setup_namespace(void) {
        if (geteuid() != 0) {
                skip_reason = "not root: the conntrack table needs CAP_NET_ADMIN";
                return;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                skip_reason = g_strdup_printf("unshare(CLONE_NEWNET) failed: %s",
                                              g_strerror(errno));
                return;
        }
        if (access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) < 0) {
                (void) g_spawn_command_line_sync("modprobe -q nf_conntrack_netlink", NULL, NULL,
                                                 NULL, NULL);
                if (access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) < 0)
                        skip_reason = "no connection tracking in this kernel (nf_conntrack)";
        }
}

static uint64_t conntrack_max(void) {
        g_autofree char *text = NULL;

        if (!g_file_get_contents("/proc/sys/net/netfilter/nf_conntrack_max", &text, NULL, NULL))
                return 0;
        return g_ascii_strtoull(text, NULL, 10);
}

/* ---- fixture ---- */

typedef struct Fixture {
        sd_event *event;
        Kernel *k;
        Cache *ct;
        Commit *commit;
        bool done;
        CommitResult result;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        *f = (Fixture) {};
        if (skip_reason)
                return;
        g_assert_cmpint(sd_event_new(&f->event), ==, 0);
        g_assert_cmpint(kernel_new(&kernel_netlink_ops, NULL, NULL, &f->k), ==, 0);
        g_assert_cmpint(kernel_flush(f->k, CT_KIND_EXPECT, NULL, NULL), ==, 0);
        g_assert_cmpint(kernel_flush(f->k, CT_KIND_CT, NULL, NULL), ==, 0);
        g_assert_cmpint(cache_new("external", CT_KIND_CT, 65536, 262144, &f->ct), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        commit_free(f->commit);
        if (f->k)
                (void) kernel_flush(f->k, CT_KIND_CT, NULL, NULL);
        cache_free(f->ct);
        kernel_free(f->k);
        sd_event_unref(f->event);
}

#define SKIP_IF_NEEDED()                                \
        do {                                            \
                if (skip_reason) {                      \
                        g_test_skip(skip_reason);       \
                        return;                         \
                }                                       \
        } while (0)

static void on_done(Commit *c, const CommitResult *r, void *userdata) {
        Fixture *f = userdata;

        f->done = true;
        f->result = *r;
}

static void commit_cache(Fixture *f, uint32_t commit_timeout) {
        gint64 deadline = g_get_monotonic_time() + DEADLINE_USEC;

        g_assert_cmpint(commit_new(f->event, f->k,
                                   &(CommitOptions) {
                                           .ct = f->ct,
                                           .commit_timeout = commit_timeout,
                                           .now_usec = T0_USEC,
                                           .done = on_done,
                                           .userdata = f,
                                   },
                                   &f->commit),
                        ==, 0);
        while (!f->done) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                g_assert_cmpint(sd_event_run(f->event, 100 * USEC_PER_MSEC), >=, 0);
        }
}

/* ---- entries ---- */

static uint32_t ip4(uint32_t host_order) {
        return htonl(host_order);
}

/* Flow number i as a peer sends it: no reply tuple. Every 7th is SNATed (address and port),
 * every 11th DNATed, the rest plain; TCP and UDP alternate. */
static CtEntry peer_flow(unsigned i) {
        CtEntry e = {
                .orig = {
                        .l3 = AF_INET,
                        .l4 = i % 2 ? IPPROTO_UDP : IPPROTO_TCP,
                        .src.ip = ip4(0x0a000000u | (i & 0xffffffu)),
                        .dst.ip = ip4(0xc6336400u | (i % 200)),     /* 198.51.100.x */
                        .sport = (uint16_t) (1024 + i % 60000),
                        .dport = (uint16_t) (i % 2 ? 53 : 443),
                },
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK,
                .status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED,
                .timeout = 600,
                .mark = i,
        };

        if (e.orig.l4 == IPPROTO_TCP) {
                e.attrs |= CT_ATTR_TCP_STATE;
                e.tcp.state = CT_TCP_ESTABLISHED;
        }
        if (i % 7 == 0) {
                e.attrs |= CT_ATTR_SNAT | CT_ATTR_SPAT;
                e.status |= IPS_SRC_NAT_DONE;
                e.nat.snat_addr.ip = ip4(0xcb007100u | (i % 250 + 1));    /* 203.0.113.x */
                e.nat.spat_port = (uint16_t) (20000 + i % 30000);
        } else if (i % 11 == 0) {
                e.attrs |= CT_ATTR_DNAT;
                e.status |= IPS_DST_NAT_DONE;
                e.nat.dnat_addr.ip = ip4(0xc0a80a00u | (i % 250 + 1));    /* 192.168.10.x */
        }
        return e;
}

static void add_peer_flows(Fixture *f, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                CtEntry e = peer_flow(i);

                g_assert_cmpint(cache_add(f->ct, &e, T0_USEC, NULL), ==, 0);
        }
}

typedef struct Collected {
        GHashTable *by_mark;    /* mark -> CtEntry* */
        unsigned n;
} Collected;

static int collect_one(const void *obj, void *userdata) {
        Collected *c = userdata;
        const CtEntry *e = obj;

        c->n++;
        g_hash_table_insert(c->by_mark, GUINT_TO_POINTER(e->mark), g_memdup2(e, sizeof(*e)));
        return 0;
}

/* ---- tests ---- */

static void test_flows(Fixture *f, gconstpointer data) {
        const unsigned n = 20000;
        Collected c = { .by_mark = g_hash_table_new_full(NULL, NULL, NULL, g_free) };

        SKIP_IF_NEEDED();

        add_peer_flows(f, n);
        commit_cache(f, 0);
        g_assert_cmpint(f->result.first_error, ==, 0);
        g_assert_cmpuint(f->result.ct_failed, ==, 0);
        g_assert_cmpuint(f->result.ct_ok, ==, n);

        g_assert_cmpint(kernel_dump(f->k, CT_KIND_CT, collect_one, &c), ==, 0);
        g_assert_cmpuint(c.n, ==, n);
        for (unsigned i = 0; i < n; i++) {
                CtEntry want = peer_flow(i), *got = g_hash_table_lookup(c.by_mark,
                                                                        GUINT_TO_POINTER(i));
                CtTuple inverted;

                g_assert_nonnull(got);
                g_assert_true(ct_tuple_equal(&got->orig, &want.orig));
                g_assert_true(got->attrs & CT_ATTR_REPLY);
                g_assert_cmpuint(got->timeout, <=, 600);
                g_assert_cmpuint(got->timeout, >=, 590);
                g_assert_false(got->status & IPS_EXPECTED);
                g_assert_true(got->status & IPS_ASSURED);
                ct_tuple_invert(&want.orig, &inverted);
                if (want.attrs & CT_ATTR_SNAT) {
                        /* the kernel computed the reply tuple from the NAT request */
                        g_assert_true(got->status & IPS_SRC_NAT_DONE);
                        g_assert_cmpuint(got->reply.dst.ip, ==, want.nat.snat_addr.ip);
                        g_assert_cmpuint(got->reply.dport, ==, want.nat.spat_port);
                        g_assert_cmpuint(got->reply.src.ip, ==, want.orig.dst.ip);
                } else if (want.attrs & CT_ATTR_DNAT) {
                        g_assert_true(got->status & IPS_DST_NAT_DONE);
                        g_assert_cmpuint(got->reply.src.ip, ==, want.nat.dnat_addr.ip);
                        g_assert_cmpuint(got->reply.dst.ip, ==, want.orig.src.ip);
                } else
                        g_assert_true(ct_tuple_equal(&got->reply, &inverted));
                if (want.orig.l4 == IPPROTO_TCP) {
                        g_assert_cmpuint(got->tcp.state, ==, CT_TCP_ESTABLISHED);
                        g_assert_true(got->attrs & CT_ATTR_TCP_FLAGS);
                        g_assert_true(got->tcp.flags_orig & TCP_BE_LIBERAL);
                        g_assert_true(got->tcp.flags_repl & TCP_BE_LIBERAL);
                }
        }
        g_hash_table_unref(c.by_mark);
}

static void test_window_tracking(Fixture *f, gconstpointer data) {
        CtEntry e = peer_flow(2), got;

        SKIP_IF_NEEDED();

        g_assert_cmpint(cache_add(f->ct, &e, T0_USEC, NULL), ==, 0);
        g_assert_cmpint(commit_new(f->event, f->k,
                                   &(CommitOptions) {
                                           .ct = f->ct,
                                           .tcp_window_tracking = true,
                                           .now_usec = T0_USEC,
                                           .done = on_done,
                                           .userdata = f,
                                   },
                                   &f->commit),
                        ==, 0);
        while (!f->done)
                g_assert_cmpint(sd_event_run(f->event, 100 * USEC_PER_MSEC), >=, 0);
        g_assert_cmpuint(f->result.ct_ok, ==, 1);
        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &e, &got), ==, 0);
        g_assert_false(got.tcp.flags_orig & TCP_BE_LIBERAL);
        g_assert_false(got.tcp.flags_repl & TCP_BE_LIBERAL);
}

static void test_eexist(Fixture *f, gconstpointer data) {
        CtEntry old = peer_flow(14), new, got;      /* SNATed */

        SKIP_IF_NEEDED();

        old.mark = 1;
        old.attrs &= ~(uint64_t) (CT_ATTR_SNAT | CT_ATTR_SPAT);
        old.status &= ~IPS_SRC_NAT_DONE;
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &old), ==, 0);

        new = peer_flow(14);
        new.mark = 2;
        g_assert_cmpint(cache_add(f->ct, &new, T0_USEC, NULL), ==, 0);
        for (unsigned i = 100; i < 110; i++) {
                CtEntry e = peer_flow(i);

                g_assert_cmpint(cache_add(f->ct, &e, T0_USEC, NULL), ==, 0);
        }
        commit_cache(f, 180);
        g_assert_cmpuint(f->result.ct_ok, ==, 11);
        g_assert_cmpuint(f->result.ct_failed, ==, 0);

        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &new, &got), ==, 0);
        g_assert_cmpuint(got.mark, ==, 2);
        g_assert_cmpuint(got.timeout, <=, 180);
        g_assert_cmpuint(got.timeout, >=, 170);
        g_assert_cmpuint(got.reply.dst.ip, ==, new.nat.snat_addr.ip);
}

static void test_related(Fixture *f, gconstpointer data) {
        CtEntry master = peer_flow(2), related = peer_flow(3), got;

        SKIP_IF_NEEDED();

        related.attrs |= CT_ATTR_MASTER;
        related.master = master.orig;
        related.status |= IPS_EXPECTED;         /* as the master's side reported it */
        /* the related flow enters the cache first */
        g_assert_cmpint(cache_add(f->ct, &related, T0_USEC, NULL), ==, 0);
        g_assert_cmpint(cache_add(f->ct, &master, T0_USEC, NULL), ==, 0);
        commit_cache(f, 0);
        g_assert_cmpuint(f->result.ct_ok, ==, 2);
        g_assert_cmpuint(f->result.ct_failed, ==, 0);
        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &related, &got), ==, 0);
        g_assert_true(got.attrs & CT_ATTR_MASTER);
        g_assert_true(ct_tuple_equal(&got.master, &master.orig));
}

static void test_batch_errors(Fixture *f, gconstpointer data) {
        enum { N = 3000 };
        g_autofree CtEntry *objs = g_new0(CtEntry, N);
        g_autofree const void **ptrs = g_new0(const void *, N);
        g_autofree int *errors = g_new0(int, N);
        int failed;

        SKIP_IF_NEEDED();

        for (unsigned i = 0; i < N; i++) {
                objs[i] = peer_flow(i);
                ptrs[i] = &objs[i];
        }
        /* some exist already */
        for (unsigned i = 0; i < N; i += 100)
                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &objs[i]), ==, 0);
        /* one cannot be expressed at all */
        objs[1234].orig.l3 = 99;

        failed = kernel_create_batch(f->k, CT_KIND_CT, ptrs, N, errors);
        g_assert_cmpint(failed, ==, N / 100 + 1);
        for (unsigned i = 0; i < N; i++)
                if (i % 100 == 0)
                        g_assert_cmpint(errors[i], ==, -EEXIST);
                else if (i == 1234)
                        g_assert_cmpint(errors[i], ==, -EAFNOSUPPORT);
                else
                        g_assert_cmpint(errors[i], ==, 0);
}

static void test_speed(Fixture *f, gconstpointer data) {
        uint64_t max, n = 100000, t0, t_fill;

        SKIP_IF_NEEDED();

        max = conntrack_max();
        if (max > 0 && max < n + 1000)
                n = max - 1000;
        t0 = now_usec(CLOCK_MONOTONIC);
        add_peer_flows(f, (unsigned) n);
        t_fill = now_usec(CLOCK_MONOTONIC) - t0;
        commit_cache(f, 0);
        g_assert_cmpuint(f->result.ct_ok, ==, n);
        g_assert_cmpuint(f->result.ct_failed, ==, 0);
        g_test_message("commit of %" PRIu64 " flows (1 in 7 SNAT, 1 in 11 DNAT): %" PRIu64
                       ".%06" PRIu64 " s (filling the cache took %" PRIu64 " ms)", n,
                       f->result.duration_usec / USEC_PER_SEC,
                       f->result.duration_usec % USEC_PER_SEC, t_fill / 1000);
        g_printerr("# commit of %" PRIu64 " flows took %" PRIu64 ".%06" PRIu64 " s\n", n,
                   f->result.duration_usec / USEC_PER_SEC, f->result.duration_usec % USEC_PER_SEC);
}

int main(int argc, char **argv) {
        log_setup(LOG_TARGET_CONSOLE, LOG_WARNING);
        g_test_init(&argc, &argv, NULL);
        setup_namespace();

#define ADD(path, fn) g_test_add(path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
        ADD("/commit-kernel/flows", test_flows);
        ADD("/commit-kernel/window-tracking", test_window_tracking);
        ADD("/commit-kernel/eexist", test_eexist);
        ADD("/commit-kernel/related", test_related);
        ADD("/commit-kernel/batch-errors", test_batch_errors);
        ADD("/commit-kernel/speed", test_speed);
#undef ADD
        return g_test_run();
}
