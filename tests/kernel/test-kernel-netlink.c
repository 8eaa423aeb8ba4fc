/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The netlink kernel boundary against the real kernel, in a network namespace of its own
 * (unshare(CLONE_NEWNET) at the start of main; skipped with the reason when that is impossible):
 * events and their origin, dumps, writes, zones, IPv6, NAT, expectations, flushes, overruns and
 * buffer growth, the kernel-side filter, the per-wake-up event limit.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <glib.h>
#include <sched.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netlink.h>

#include "kernel.h"

#define WAIT_USEC (10 * USEC_PER_SEC)

static const char *skip_reason;

typedef struct CtEvent {
        KernelEventType type;
        bool self;
        CtEntry e;
} CtEvent;

typedef struct ExpEvent {
        KernelEventType type;
        bool self;
        CtExpect x;
} ExpEvent;

typedef struct Fixture {
        sd_event *event;
        Kernel *k;
        GArray *ct_events;      /* CtEvent */
        GArray *exp_events;     /* ExpEvent */
        unsigned overruns;
} Fixture;

/* ---- the namespace ---- */

static bool write_file(const char *path, const char *text) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        bool ok;

        if (fd < 0)
                return false;
        ok = write(fd, text, strlen(text)) == (ssize_t) strlen(text);
        close(fd);
        return ok;
}

static void setup_namespace(void) {
        if (geteuid() != 0) {
                skip_reason = "not root: the conntrack table needs CAP_NET_ADMIN";
                return;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                skip_reason = g_strdup_printf("unshare(CLONE_NEWNET) failed: %s", g_strerror(errno));
                return;
        }
        if (access("/proc/net/nf_conntrack", F_OK) < 0 &&
            access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) < 0) {
                /* try the modules; built-in kernels need nothing */
                (void) g_spawn_command_line_sync("modprobe -q nf_conntrack_netlink", NULL, NULL,
                                                 NULL, NULL);
                if (access("/proc/sys/net/netfilter/nf_conntrack_max", F_OK) < 0) {
                        skip_reason = "no connection tracking in this kernel (nf_conntrack)";
                        return;
                }
        }
        /* events for every conntrack, not only for those created while a listener exists */
        (void) write_file("/proc/sys/net/netfilter/nf_conntrack_events", "1");
}

#define SKIP_IF_NEEDED()                                \
        do {                                            \
                if (skip_reason) {                      \
                        g_test_skip(skip_reason);       \
                        return;                         \
                }                                       \
        } while (0)

/* ---- entries ---- */

static CtAddr addr(int family, const char *s) {
        CtAddr a = {};

        g_assert_cmpint(inet_pton(family, s, &a), ==, 1);
        return a;
}

static CtTuple tuple(int family, uint8_t l4, const char *src, const char *dst, uint16_t sport,
                     uint16_t dport) {
        CtTuple t = { .l3 = (uint8_t) family, .l4 = l4 };

        t.src = addr(family, src);
        t.dst = addr(family, dst);
        if (ct_proto_is_icmp(l4)) {
                t.icmp.type = (uint8_t) sport;
                t.icmp.id = dport;
        } else {
                t.sport = sport;
                t.dport = dport;
        }
        return t;
}

/* An established flow with its reply tuple, as a local kernel would have it. */
static CtEntry flow(int family, uint8_t l4, const char *src, const char *dst, uint16_t sport,
                    uint16_t dport) {
        CtEntry e = {
                .orig = tuple(family, l4, src, dst, sport, dport),
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK,
                .status = IPS_SEEN_REPLY | IPS_ASSURED,
                .timeout = 300,
        };

        ct_tuple_invert(&e.orig, &e.reply);
        if (l4 == IPPROTO_TCP) {
                e.attrs |= CT_ATTR_TCP_STATE;
                e.tcp.state = CT_TCP_ESTABLISHED;
        }
        return e;
}

static CtEntry tcp4(const char *src, const char *dst, uint16_t sport, uint16_t dport) {
        return flow(AF_INET, IPPROTO_TCP, src, dst, sport, dport);
}

/* ---- the fixture ---- */

static void on_ct(Kernel *k, KernelEventType type, const CtEntry *e, bool self, void *userdata) {
        Fixture *f = userdata;
        CtEvent ev = { .type = type, .self = self, .e = *e };

        g_array_append_val(f->ct_events, ev);
}

static void on_expect(Kernel *k, KernelEventType type, const CtExpect *x, bool self, void *userdata) {
        Fixture *f = userdata;
        ExpEvent ev = { .type = type, .self = self, .x = *x };

        g_array_append_val(f->exp_events, ev);
}

static void on_overrun(Kernel *k, void *userdata) {
        Fixture *f = userdata;

        f->overruns++;
}

static void open_kernel(Fixture *f, const KernelSettings *s) {
        g_assert_cmpint(kernel_new(&kernel_netlink_ops, s,
                                   &(KernelHandlers) {
                                           .ct_event = on_ct,
                                           .expect_event = on_expect,
                                           .overrun = on_overrun,
                                           .userdata = f,
                                   },
                                   &f->k), ==, 0);
        g_assert_cmpint(kernel_subscribe(f->k, f->event), ==, 0);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        Kernel *cleaner = NULL;

        *f = (Fixture) {
                .ct_events = g_array_new(false, true, sizeof(CtEvent)),
                .exp_events = g_array_new(false, true, sizeof(ExpEvent)),
        };
        if (skip_reason)
                return;

        /* every test starts from empty tables */
        g_assert_cmpint(kernel_new(&kernel_netlink_ops, NULL, NULL, &cleaner), ==, 0);
        g_assert_cmpint(kernel_flush(cleaner, CT_KIND_EXPECT, NULL, NULL), ==, 0);
        g_assert_cmpint(kernel_flush(cleaner, CT_KIND_CT, NULL, NULL), ==, 0);
        kernel_free(cleaner);

        g_assert_cmpint(sd_event_new(&f->event), ==, 0);
        if (data)
                open_kernel(f, data);
        else
                open_kernel(f, &(KernelSettings) {
                        .expectations = true,
                        .event_iteration_limit = 100,
                });
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        f->k = kernel_free(f->k);
        f->event = sd_event_unref(f->event);
        g_array_unref(f->ct_events);
        g_array_unref(f->exp_events);
}

/* Drive the loop until cond holds; false after the deadline. */
static bool run_until(Fixture *f, bool (*cond)(Fixture *f, const void *data), const void *data) {
        gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

        while (!cond(f, data)) {
                if (g_get_monotonic_time() > deadline)
                        return false;
                g_assert_cmpint(sd_event_run(f->event, 100 * USEC_PER_MSEC), >=, 0);
        }
        return true;
}

typedef struct EventMatch {
        KernelEventType type;
        CtTuple orig;
        uint16_t zone;
} EventMatch;

static const CtEvent *find_ct_event(Fixture *f, KernelEventType type, const CtTuple *orig,
                                    uint16_t zone) {
        for (guint i = 0; i < f->ct_events->len; i++) {
                const CtEvent *ev = &g_array_index(f->ct_events, CtEvent, i);

                if (ev->type == type && ev->e.zone == zone && ct_tuple_equal(&ev->e.orig, orig))
                        return ev;
        }
        return NULL;
}

static bool has_ct_event(Fixture *f, const void *data) {
        const EventMatch *m = data;

        return find_ct_event(f, m->type, &m->orig, m->zone) != NULL;
}

/* Wait for an event of this type for this flow and return (a copy of) the first one recorded. */
static CtEvent wait_ct_event(Fixture *f, KernelEventType type, const CtEntry *e) {
        EventMatch m = { type, e->orig, e->zone };

        if (!run_until(f, has_ct_event, &m))
                g_error("no %s event for the flow within %u s", kernel_event_type_to_string(type),
                        (unsigned) (WAIT_USEC / USEC_PER_SEC));
        return *find_ct_event(f, type, &e->orig, e->zone);
}

/* Run the loop until nothing is left to read, with a small grace period for the kernel. */
static void drain(Fixture *f) {
        for (unsigned idle = 0; idle < 3;) {
                int r = sd_event_run(f->event, 20 * USEC_PER_MSEC);

                g_assert_cmpint(r, >=, 0);
                idle = r == 0 ? idle + 1 : 0;
        }
}

static void clear_events(Fixture *f) {
        g_array_set_size(f->ct_events, 0);
        g_array_set_size(f->exp_events, 0);
}

static int dump_collect(const void *obj, void *userdata) {
        GArray *a = userdata;

        g_array_append_vals(a, obj, 1);
        return 0;
}

static GArray *dump_ct(Fixture *f) {
        GArray *a = g_array_new(false, true, sizeof(CtEntry));

        g_assert_cmpint(kernel_dump(f->k, CT_KIND_CT, dump_collect, a), ==, 0);
        return a;
}

static const CtEntry *find_entry(GArray *a, const CtTuple *orig, uint16_t zone) {
        for (guint i = 0; i < a->len; i++) {
                const CtEntry *e = &g_array_index(a, CtEntry, i);

                if (e->zone == zone && ct_tuple_equal(&e->orig, orig))
                        return e;
        }
        return NULL;
}

/* ---- tests ---- */

static void test_tables(void) {
        for (KernelEventType t = 0; t < _KERNEL_EVENT_MAX; t++)
                g_assert_cmpint(kernel_event_type_from_string(kernel_event_type_to_string(t)), ==, t);
        g_assert_cmpstr(kernel_event_type_to_string(KERNEL_EVENT_DESTROY), ==, "destroy");
        g_assert_cmpint(kernel_event_type_from_string("NEW"), ==, -EINVAL);
        g_assert_null(kernel_event_type_to_string(_KERNEL_EVENT_MAX));
}

static void test_own_writes(Fixture *f, gconstpointer data) {
        CtEntry e = tcp4("10.1.0.1", "10.1.0.2", 1000, 80), got;
        CtEvent ev;
        int r;

        SKIP_IF_NEEDED();

        e.mark = 5;
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &e), ==, 0);
        ev = wait_ct_event(f, KERNEL_EVENT_NEW, &e);
        g_assert_true(ev.self);
        g_assert_true(ev.e.attrs & CT_ATTR_REPLY);
        g_assert_true(ct_tuple_equal(&ev.e.reply, &e.reply));
        g_assert_cmpuint(ev.e.mark, ==, 5);
        g_assert_cmpuint(ev.e.tcp.state, ==, CT_TCP_ESTABLISHED);
        g_assert_true(ev.e.status & IPS_ASSURED);
        g_assert_true(ev.e.status & IPS_SEEN_REPLY);
        g_assert_true(ev.e.attrs & CT_ATTR_ID);
        g_assert_true(ev.e.attrs & CT_ATTR_TIMEOUT);
        g_assert_cmpuint(ev.e.timeout, <=, 300);
        g_assert_cmpuint(ev.e.timeout, >=, 290);
        /* no NAT: nothing derived */
        g_assert_false(ev.e.attrs & (CT_ATTR_SNAT | CT_ATTR_DNAT | CT_ATTR_SPAT | CT_ATTR_DPAT));
        g_assert_cmpuint(f->k->stats.events_received, >=, 1);

        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &e), ==, -EEXIST);

        /* update: a new mark, nothing else */
        {
                CtEntry u = { .orig = e.orig, .attrs = CT_ATTR_MARK, .mark = 7 };

                g_assert_cmpint(kernel_update(f->k, CT_KIND_CT, &u), ==, 0);
                ev = wait_ct_event(f, KERNEL_EVENT_UPDATE, &e);
                g_assert_true(ev.self);
                g_assert_cmpuint(ev.e.mark, ==, 7);
        }

        r = kernel_get(f->k, CT_KIND_CT, &e, &got);
        g_assert_cmpint(r, ==, 0);
        g_assert_true(ct_entry_same(&got, &e));
        g_assert_cmpuint(got.mark, ==, 7);
        g_assert_true(got.attrs & CT_ATTR_REPLY);
        g_assert_cmpuint(got.id, ==, ev.e.id);

        g_assert_cmpint(kernel_delete(f->k, CT_KIND_CT, &e), ==, 0);
        ev = wait_ct_event(f, KERNEL_EVENT_DESTROY, &e);
        g_assert_true(ev.self);
        g_assert_cmpuint(ev.e.mark, ==, 7);

        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &e, &got), ==, -ENOENT);
        g_assert_cmpint(kernel_delete(f->k, CT_KIND_CT, &e), ==, -ENOENT);
        g_assert_cmpint(kernel_update(f->k, CT_KIND_CT, &e), ==, -ENOENT);
        g_assert_cmpuint(f->k->stats.events_failed, ==, 0);
        g_assert_cmpuint(f->k->stats.events_unknown, ==, 0);
}

static bool run_conntrack(const char *args, char **ret_error) {
        g_autofree char *cmd = g_strdup_printf("conntrack %s", args);
        g_autofree char *out = NULL, *err = NULL;
        int status = 0;

        /* (its output must not end up in the TAP stream) */
        if (!g_spawn_command_line_sync(cmd, &out, &err, &status, NULL) ||
            !g_spawn_check_wait_status(status, NULL)) {
                if (ret_error)
                        *ret_error = g_strdup_printf("'%s' failed: %s", cmd, err ? err : "");
                return false;
        }
        return true;
}

static void test_foreign_writes(Fixture *f, gconstpointer data) {
        CtEntry e = tcp4("10.2.0.1", "10.2.0.2", 2000, 443);
        g_autofree char *error = NULL;
        g_autofree char *path = g_find_program_in_path("conntrack");
        CtEvent ev;

        SKIP_IF_NEEDED();
        if (!path) {
                g_test_skip("the conntrack tool is not installed");
                return;
        }

        /* (conntrack 1.4.7 takes a -u after -m for the mark: keep this order) */
        if (!run_conntrack("-I -p tcp -s 10.2.0.1 -d 10.2.0.2 --sport 2000 --dport 443 "
                           "--state ESTABLISHED -u SEEN_REPLY,ASSURED -t 200 -m 3", &error))
                g_error("%s", error);
        ev = wait_ct_event(f, KERNEL_EVENT_NEW, &e);
        g_assert_false(ev.self);
        g_assert_cmpuint(ev.e.mark, ==, 3);
        g_assert_cmpuint(ev.e.tcp.state, ==, CT_TCP_ESTABLISHED);
        g_assert_true(ct_tuple_equal(&ev.e.reply, &e.reply));

        if (!run_conntrack("-U -p tcp -s 10.2.0.1 -d 10.2.0.2 --sport 2000 --dport 443 -m 4", &error))
                g_error("%s", error);
        ev = wait_ct_event(f, KERNEL_EVENT_UPDATE, &e);
        g_assert_false(ev.self);
        g_assert_cmpuint(ev.e.mark, ==, 4);

        /* a foreign UDP flow in a zone, then gone */
        {
                CtEntry u = flow(AF_INET, IPPROTO_UDP, "10.2.0.3", "10.2.0.4", 53, 5353);

                u.zone = 3;
                if (!run_conntrack("-I -p udp -s 10.2.0.3 -d 10.2.0.4 --sport 53 --dport 5353 "
                                   "-t 30 -w 3", &error))
                        g_error("%s", error);
                ev = wait_ct_event(f, KERNEL_EVENT_NEW, &u);
                g_assert_false(ev.self);
                g_assert_cmpuint(ev.e.zone, ==, 3);
        }

        if (!run_conntrack("-D -p tcp -s 10.2.0.1 -d 10.2.0.2 --sport 2000 --dport 443", &error))
                g_error("%s", error);
        ev = wait_ct_event(f, KERNEL_EVENT_DESTROY, &e);
        g_assert_false(ev.self);
}

static int stop_at_third(const void *obj, void *userdata) {
        int *calls = userdata;

        return ++*calls == 3 ? -ECANCELED : 0;
}

static void test_dump(Fixture *f, gconstpointer data) {
        g_autoptr(GArray) a = NULL;
        CtEntry flows[4] = {
                tcp4("10.3.0.1", "10.3.0.2", 1, 2),
                flow(AF_INET, IPPROTO_UDP, "10.3.0.1", "10.3.0.3", 53, 53),
                flow(AF_INET, IPPROTO_ICMP, "10.3.0.1", "10.3.0.4", 8, 4660),
                flow(AF_INET6, IPPROTO_TCP, "fd03::1", "fd03::2", 40000, 22),
        };
        unsigned n = 0;

        SKIP_IF_NEEDED();

        flows[1].mark = 11;
        for (size_t i = 0; i < G_N_ELEMENTS(flows); i++)
                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &flows[i]), ==, 0);
        for (unsigned i = 0; i < 200; i++) {
                CtEntry e = tcp4("10.3.1.1", "10.3.2.2", (uint16_t) (1000 + i), 80);

                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &e), ==, 0);
        }

        a = dump_ct(f);
        g_assert_cmpuint(a->len, ==, 204);
        for (size_t i = 0; i < G_N_ELEMENTS(flows); i++) {
                const CtEntry *e = find_entry(a, &flows[i].orig, 0);

                g_assert_nonnull(e);
                g_assert_true(e->attrs & CT_ATTR_REPLY);
                g_assert_true(ct_tuple_equal(&e->reply, &flows[i].reply));
                g_assert_cmpuint(e->mark, ==, flows[i].mark);
                g_assert_true(e->attrs & CT_ATTR_ID);
                n++;
        }
        g_assert_cmpuint(n, ==, 4);
        g_assert_cmpuint(f->k->stats.dump_unknown, ==, 0);

        /* a callback error ends the dump with that error, and the next dump works */
        {
                int calls = 0;

                g_assert_cmpint(kernel_dump(f->k, CT_KIND_CT, stop_at_third, &calls), ==, -ECANCELED);
                g_assert_cmpint(calls, ==, 3);
                g_array_unref(a);
                a = dump_ct(f);
                g_assert_cmpuint(a->len, ==, 204);
        }

        /* no expectations */
        {
                g_autoptr(GArray) x = g_array_new(false, true, sizeof(CtExpect));

                g_assert_cmpint(kernel_dump(f->k, CT_KIND_EXPECT, dump_collect, x), ==, 0);
                g_assert_cmpuint(x->len, ==, 0);
        }
}

static void test_zones(Fixture *f, gconstpointer data) {
        CtEntry a = tcp4("10.4.0.1", "10.4.0.2", 3000, 80), b = a, got;
        CtEvent ev;

        SKIP_IF_NEEDED();

        b.zone = 7;
        b.mark = 77;
        a.mark = 1;
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &a), ==, 0);
        /* the same tuple in another zone is another flow */
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &b), ==, 0);
        ev = wait_ct_event(f, KERNEL_EVENT_NEW, &b);
        g_assert_cmpuint(ev.e.zone, ==, 7);
        g_assert_cmpuint(ev.e.mark, ==, 77);
        ev = wait_ct_event(f, KERNEL_EVENT_NEW, &a);
        g_assert_cmpuint(ev.e.zone, ==, 0);

        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &b, &got), ==, 0);
        g_assert_cmpuint(got.zone, ==, 7);
        g_assert_cmpuint(got.mark, ==, 77);
        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &a, &got), ==, 0);
        g_assert_cmpuint(got.zone, ==, 0);
        g_assert_cmpuint(got.mark, ==, 1);

        g_assert_cmpint(kernel_delete(f->k, CT_KIND_CT, &b), ==, 0);
        ev = wait_ct_event(f, KERNEL_EVENT_DESTROY, &b);
        g_assert_cmpuint(ev.e.zone, ==, 7);
        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &b, &got), ==, -ENOENT);
        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &a, &got), ==, 0);
}

static void test_ipv6(Fixture *f, gconstpointer data) {
        CtEntry t = flow(AF_INET6, IPPROTO_TCP, "fd05::1", "2001:db8::5", 50000, 443);
        CtEntry i = flow(AF_INET6, IPPROTO_ICMPV6, "fd05::1", "2001:db8::6", 128, 99);
        CtEntry got;
        CtEvent ev;

        SKIP_IF_NEEDED();

        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &t), ==, 0);
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &i), ==, 0);
        ev = wait_ct_event(f, KERNEL_EVENT_NEW, &t);
        g_assert_cmpuint(ev.e.orig.l3, ==, AF_INET6);
        g_assert_true(ct_tuple_equal(&ev.e.reply, &t.reply));
        ev = wait_ct_event(f, KERNEL_EVENT_NEW, &i);
        g_assert_true(ev.e.attrs & CT_ATTR_REPLY);
        g_assert_cmpuint(ev.e.reply.icmp.type, ==, 129);
        g_assert_cmpuint(ev.e.reply.icmp.id, ==, 99);
        g_assert_true(ev.self);

        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &i, &got), ==, 0);
        g_assert_true(ct_tuple_equal(&got.orig, &i.orig));
        g_assert_cmpint(kernel_delete(f->k, CT_KIND_CT, &t), ==, 0);
        wait_ct_event(f, KERNEL_EVENT_DESTROY, &t);
}

static void test_nat(Fixture *f, gconstpointer data) {
        /* as a peer sends it: no reply tuple, the NAT binding as attributes (a commit) */
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "192.168.6.10", "198.51.100.7", 40000, 80),
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_TCP_STATE | CT_ATTR_SNAT |
                         CT_ATTR_SPAT,
                .status = IPS_SEEN_REPLY | IPS_ASSURED,
                .timeout = 120,
                .tcp.state = CT_TCP_ESTABLISHED,
                .nat = { .snat_addr = addr(AF_INET, "203.0.113.5"), .spat_port = 2222 },
        };
        CtEvent ev;
        g_autofree char *error = NULL;

        SKIP_IF_NEEDED();

        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &e), ==, 0);
        ev = wait_ct_event(f, KERNEL_EVENT_NEW, &e);
        g_assert_true(ev.e.attrs & CT_ATTR_REPLY);
        g_assert_true(ev.e.status & IPS_SRC_NAT_DONE);
        /* the binding, seen from the reply tuple */
        g_assert_true(ev.e.attrs & CT_ATTR_SNAT);
        g_assert_cmpuint(ev.e.nat.snat_addr.ip, ==, e.nat.snat_addr.ip);
        g_assert_true(ev.e.attrs & CT_ATTR_SPAT);
        g_assert_cmpuint(ev.e.nat.spat_port, ==, 2222);
        g_assert_false(ev.e.attrs & (CT_ATTR_DNAT | CT_ATTR_DPAT));
        g_assert_cmpuint(ev.e.reply.dst.ip, ==, e.nat.snat_addr.ip);
        g_assert_cmpuint(ev.e.reply.dport, ==, 2222);
}

static CtEntry ftp_master(void) {
        CtEntry m = tcp4("10.6.0.1", "10.6.0.2", 40000, 21);

        m.attrs |= CT_ATTR_HELPER;
        snprintf(m.helper, sizeof(m.helper), "ftp");
        return m;
}

static CtExpect ftp_expectation(const CtEntry *m) {
        CtExpect x = {
                .master = m->orig,
                .expected = tuple(AF_INET, IPPROTO_TCP, "10.6.0.2", "10.6.0.1", 0, 50001),
                .mask = tuple(AF_INET, IPPROTO_TCP, "255.255.255.255", "255.255.255.255", 0, 65535),
                .attrs = CT_EXP_ATTR_TIMEOUT | CT_EXP_ATTR_HELPER | CT_EXP_ATTR_CLASS |
                         CT_EXP_ATTR_FLAGS,
                .timeout = 300,
                .helper = "ftp",
        };
        return x;
}

static bool has_exp_event(Fixture *f, const void *data) {
        const KernelEventType *t = data;

        for (guint i = 0; i < f->exp_events->len; i++)
                if (g_array_index(f->exp_events, ExpEvent, i).type == *t)
                        return true;
        return false;
}

static ExpEvent wait_exp_event(Fixture *f, KernelEventType t) {
        if (!run_until(f, has_exp_event, &t))
                g_error("no expectation %s event", kernel_event_type_to_string(t));
        for (guint i = 0; i < f->exp_events->len; i++)
                if (g_array_index(f->exp_events, ExpEvent, i).type == t)
                        return g_array_index(f->exp_events, ExpEvent, i);
        g_assert_not_reached();
}

static void test_expectations(Fixture *f, gconstpointer data) {
        CtEntry m = ftp_master(), got_m;
        CtExpect x, got;
        ExpEvent ev;
        g_autoptr(GArray) all = g_array_new(false, true, sizeof(CtExpect));
        uint64_t deleted = 0;
        int r;

        SKIP_IF_NEEDED();

        r = kernel_create(f->k, CT_KIND_CT, &m);
        if (r == -ENOENT || r == -EOPNOTSUPP) {
                g_test_skip("the kernel has no ftp conntrack helper: cannot create expectations");
                return;
        }
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpint(kernel_get(f->k, CT_KIND_CT, &m, &got_m), ==, 0);
        g_assert_true(got_m.attrs & CT_ATTR_HELPER);
        g_assert_cmpstr(got_m.helper, ==, "ftp");

        x = ftp_expectation(&m);
        g_assert_cmpint(kernel_create(f->k, CT_KIND_EXPECT, &x), ==, 0);
        ev = wait_exp_event(f, KERNEL_EVENT_NEW);
        g_assert_true(ev.self);
        g_assert_true(ct_tuple_equal(&ev.x.expected, &x.expected));
        g_assert_true(ct_tuple_equal(&ev.x.master, &x.master));
        g_assert_cmpstr(ev.x.helper, ==, "ftp");
        g_assert_true(ev.x.attrs & CT_EXP_ATTR_ID);
        g_assert_true(ev.x.attrs & CT_EXP_ATTR_CLASS);

        g_assert_cmpint(kernel_create(f->k, CT_KIND_EXPECT, &x), ==, -EEXIST);

        g_assert_cmpint(kernel_dump(f->k, CT_KIND_EXPECT, dump_collect, all), ==, 0);
        g_assert_cmpuint(all->len, ==, 1);
        g_assert_true(ct_expect_same(&g_array_index(all, CtExpect, 0), &x));
        g_assert_cmpuint(g_array_index(all, CtExpect, 0).mask.dport, ==, 65535);

        g_assert_cmpint(kernel_get(f->k, CT_KIND_EXPECT, &x, &got), ==, 0);
        g_assert_true(ct_expect_same(&got, &x));
        g_assert_cmpuint(got.timeout, <=, 300);
        g_assert_cmpuint(got.timeout, >, 200);

        g_assert_cmpint(kernel_delete(f->k, CT_KIND_EXPECT, &x), ==, 0);
        ev = wait_exp_event(f, KERNEL_EVENT_DESTROY);
        g_assert_true(ev.self);
        g_assert_cmpint(kernel_get(f->k, CT_KIND_EXPECT, &x, &got), ==, -ENOENT);
        g_assert_cmpint(kernel_delete(f->k, CT_KIND_EXPECT, &x), ==, -ENOENT);

        /* whole-table flush; ftp allows one expectation per master: a second master */
        g_assert_cmpint(kernel_create(f->k, CT_KIND_EXPECT, &x), ==, 0);
        m.orig.sport++;
        ct_tuple_invert(&m.orig, &m.reply);
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &m), ==, 0);
        x = ftp_expectation(&m);
        x.expected.dport = 50002;
        g_assert_cmpint(kernel_create(f->k, CT_KIND_EXPECT, &x), ==, 0);
        g_assert_cmpint(kernel_flush(f->k, CT_KIND_EXPECT, NULL, &deleted), ==, 0);
        g_assert_cmpuint(deleted, ==, 2);
        g_array_set_size(all, 0);
        g_assert_cmpint(kernel_dump(f->k, CT_KIND_EXPECT, dump_collect, all), ==, 0);
        g_assert_cmpuint(all->len, ==, 0);
}

static void test_flush(Fixture *f, gconstpointer data) {
        _cleanup_(filter_config_freep) FilterConfig *filter = NULL;
        g_autoptr(GArray) a = NULL;
        FilterNetwork net;
        uint64_t deleted = 0;
        unsigned destroys = 0;

        SKIP_IF_NEEDED();

        for (unsigned i = 0; i < 5; i++) {
                CtEntry x = tcp4("10.7.1.1", "10.7.9.9", (uint16_t) (100 + i), 80);
                CtEntry y = tcp4("10.7.2.1", "10.7.9.9", (uint16_t) (100 + i), 80);

                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &x), ==, 0);
                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &y), ==, 0);
        }

        /* only what passes the filter goes: Accept 10.7.1.0/24 */
        g_assert_cmpint(filter_config_new(&filter), ==, 0);
        filter->address_policy = FILTER_ACCEPT;
        g_assert_cmpint(filter_network_parse("10.7.1.0/24", &net), ==, 0);
        g_assert_cmpint(filter_config_add_network(filter, &net), ==, 0);
        g_assert_cmpint(kernel_flush(f->k, CT_KIND_CT, filter, &deleted), ==, 0);
        g_assert_cmpuint(deleted, ==, 5);

        a = dump_ct(f);
        g_assert_cmpuint(a->len, ==, 5);
        for (guint i = 0; i < a->len; i++)
                g_assert_cmpuint(g_array_index(a, CtEntry, i).orig.src.ip, ==,
                                 addr(AF_INET, "10.7.2.1").ip);

        /* and the rest, unfiltered: our own DESTROY events */
        drain(f);
        clear_events(f);
        g_assert_cmpint(kernel_flush(f->k, CT_KIND_CT, NULL, &deleted), ==, 0);
        g_assert_cmpuint(deleted, ==, 5);
        g_array_unref(a);
        a = dump_ct(f);
        g_assert_cmpuint(a->len, ==, 0);
        drain(f);
        for (guint i = 0; i < f->ct_events->len; i++) {
                const CtEvent *ev = &g_array_index(f->ct_events, CtEvent, i);

                g_assert_cmpint(ev->type, ==, KERNEL_EVENT_DESTROY);
                g_assert_true(ev->self);
                destroys++;
        }
        g_assert_cmpuint(destroys, ==, 5);
}

static bool overran(Fixture *f, const void *data) {
        return f->overruns > 0;
}

static const KernelSettings small_buffer = {
        .buffer_size = 8192,
        .event_iteration_limit = 100,
};

static void test_overrun(Fixture *f, gconstpointer data) {
        uint32_t before;
        int r;

        SKIP_IF_NEEDED();

        /* granted as asked for (the kernel books twice what setsockopt() is given) */
        g_assert_cmpuint(f->k->buffer_size, >=, 4096);
        g_assert_cmpuint(f->k->buffer_size, <=, 8192);

        /* thousands of events while nobody reads */
        for (unsigned i = 0; i < 3000; i++) {
                CtEntry e = tcp4("10.8.0.1", "10.8.0.2", (uint16_t) (10000 + i), 80);

                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &e), ==, 0);
        }
        g_assert_true(run_until(f, overran, NULL));
        g_assert_cmpuint(f->k->stats.overruns, >, 0);
        g_assert_cmpuint(f->k->stats.overruns, ==, f->overruns);
        g_assert_cmpuint(f->k->stats.events_received, <, 3000);
        drain(f);

        /* growth doubles up to the maximum, then stops */
        before = f->k->buffer_size;
        g_assert_cmpint(kernel_grow_buffer(f->k, 0), ==, 0);
        g_assert_cmpuint(f->k->buffer_size, ==, before);
        g_assert_cmpint(kernel_grow_buffer(f->k, 65536), ==, 1);
        g_assert_cmpuint(f->k->buffer_size, ==, 2 * before);
        for (unsigned i = 0; i < 10; i++) {
                r = kernel_grow_buffer(f->k, 65536);
                g_assert_cmpint(r, >=, 0);
                if (r == 0)
                        break;
        }
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(f->k->buffer_size, ==, 65536);
        g_assert_cmpint(kernel_grow_buffer(f->k, 65536), ==, 0);

        /* an explicit size */
        g_assert_cmpint(kernel_set_buffer_size(f->k, 1 << 20), ==, 0);
        g_assert_cmpuint(f->k->buffer_size, ==, 1 << 20);
}

static void test_reliable(Fixture *f, gconstpointer data) {
        CtEntry e = tcp4("10.9.0.1", "10.9.0.2", 1, 2);

        SKIP_IF_NEEDED();

        /* the options are accepted and events still flow */
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &e), ==, 0);
        wait_ct_event(f, KERNEL_EVENT_NEW, &e);
        g_assert_cmpuint(f->k->stats.overruns, ==, 0);
}

static const KernelSettings reliable = {
        .events_reliable = true,
        .buffer_size = 1 << 20,
};

static void test_bpf(Fixture *f, gconstpointer data) {
        _cleanup_(filter_config_freep) FilterConfig *filter = NULL;
        FilterNetwork net;
        CtEntry ignored[] = {
                flow(AF_INET, IPPROTO_UDP, "10.10.0.1", "10.10.0.2", 53, 53),            /* protocol */
                tcp4("10.99.1.1", "10.10.0.2", 1, 2),                                   /* address */
                flow(AF_INET6, IPPROTO_TCP, "fd99::1", "fd10::2", 1, 2),                 /* address */
                tcp4("10.10.0.5", "10.10.0.6", 7, 8),                                   /* state */
        };
        CtEntry passed = tcp4("10.10.0.3", "10.10.0.4", 3, 4);
        CtEvent ev;

        SKIP_IF_NEEDED();

        g_assert_cmpint(filter_config_new(&filter), ==, 0);
        filter->kernelspace = true;
        filter->protocol_policy = FILTER_IGNORE;
        filter->protocols[IPPROTO_UDP] = true;
        filter->address_policy = FILTER_IGNORE;
        g_assert_cmpint(filter_network_parse("10.99.0.0/16", &net), ==, 0);
        g_assert_cmpint(filter_config_add_network(filter, &net), ==, 0);
        g_assert_cmpint(filter_network_parse("fd99::/16", &net), ==, 0);
        g_assert_cmpint(filter_config_add_network(filter, &net), ==, 0);
        filter->state_policy = FILTER_IGNORE;
        filter->tcp_states[CT_TCP_SYN_SENT] = true;
        ignored[3].tcp.state = CT_TCP_SYN_SENT;
        ignored[3].status = 0;

        /* a second subscriber with the filter; the fixture's own sees everything */
        {
                Fixture g = {
                        .event = sd_event_ref(f->event),
                        .ct_events = g_array_new(false, true, sizeof(CtEvent)),
                        .exp_events = g_array_new(false, true, sizeof(ExpEvent)),
                };

                open_kernel(&g, &(KernelSettings) {
                        .bpf_filter = filter,
                        .event_iteration_limit = 100,
                });
                for (size_t i = 0; i < G_N_ELEMENTS(ignored); i++)
                        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &ignored[i]), ==, 0);
                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &passed), ==, 0);

                /* events arrive in order: once the last one is in, the others would be too */
                ev = wait_ct_event(&g, KERNEL_EVENT_NEW, &passed);
                g_assert_false(ev.self);       /* written through another Kernel's socket */
                wait_ct_event(f, KERNEL_EVENT_NEW, &passed);
                drain(f);
                g_assert_cmpuint(g.k->stats.events_received, ==, 1);
                g_assert_cmpuint(g.ct_events->len, ==, 1);
                for (size_t i = 0; i < G_N_ELEMENTS(ignored); i++)
                        g_assert_nonnull(find_ct_event(f, KERNEL_EVENT_NEW, &ignored[i].orig, 0));

                /* destroy events of the ignored flows are dropped too */
                clear_events(&g);
                for (size_t i = 0; i < G_N_ELEMENTS(ignored) - 1; i++)
                        g_assert_cmpint(kernel_delete(f->k, CT_KIND_CT, &ignored[i]), ==, 0);
                g_assert_cmpint(kernel_delete(f->k, CT_KIND_CT, &passed), ==, 0);
                wait_ct_event(&g, KERNEL_EVENT_DESTROY, &passed);
                drain(f);
                g_assert_cmpuint(g.ct_events->len, ==, 1);

                fixture_teardown(&g, NULL);
        }
}

/* The port id of the (only) socket of this namespace subscribed to netfilter groups. */
static uint32_t event_socket_portid(void) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        uint32_t found = 0;

        g_assert_true(g_file_get_contents("/proc/net/netlink", &text, NULL, NULL));
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines + 1; *l && **l; l++) {
                unsigned long long sk;
                unsigned eth, pid, groups;

                if (sscanf(*l, "%llx %u %u %x", &sk, &eth, &pid, &groups) != 4)
                        continue;
                if (eth == NETLINK_NETFILTER && groups != 0) {
                        g_assert_cmpuint(found, ==, 0);
                        found = pid;
                }
        }
        g_assert_cmpuint(found, !=, 0);
        return found;
}

static void test_forged_events(Fixture *f, gconstpointer data) {
        CtEntry forged = tcp4("10.13.0.1", "10.13.0.2", 666, 22);
        CtEntry real = tcp4("10.13.0.3", "10.13.0.4", 1, 2);
        struct nf_conntrack *ct = NULL;
        union {
                char buf[4096];
                struct nlmsghdr align;
        } b = {};
        struct nlmsghdr *nlh;
        struct nfgenmsg *nfg;
        struct sockaddr_nl to = { .nl_family = AF_NETLINK };
        int fd;

        SKIP_IF_NEEDED();

        /* any process may send to a port id: a NEW "event" that the kernel never sent */
        nlh = mnl_nlmsg_put_header(b.buf);
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_INET;
        ct = nfct_new();
        nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
        nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_TCP);
        nfct_set_attr_u32(ct, ATTR_IPV4_SRC, forged.orig.src.ip);
        nfct_set_attr_u32(ct, ATTR_IPV4_DST, forged.orig.dst.ip);
        nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons(forged.orig.sport));
        nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(forged.orig.dport));
        g_assert_cmpint(nfct_nlmsg_build(nlh, ct), ==, 0);
        nfct_destroy(ct);

        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        g_assert_cmpint(fd, >=, 0);
        to.nl_pid = event_socket_portid();
        g_assert_cmpint(sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *) &to, sizeof(to)), ==,
                        (ssize_t) nlh->nlmsg_len);
        close(fd);

        /* then a real one: once it is in, the forged one has been read */
        g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &real), ==, 0);
        wait_ct_event(f, KERNEL_EVENT_NEW, &real);
        g_assert_null(find_ct_event(f, KERNEL_EVENT_NEW, &forged.orig, 0));
        g_assert_cmpuint(f->k->stats.events_unknown, ==, 1);
        g_assert_cmpuint(f->k->stats.events_received, ==, 1);
}

static bool received_at_least(Fixture *f, const void *data) {
        return f->k->stats.events_received >= *(const uint64_t *) data;
}

static void test_iteration_limit(Fixture *f, gconstpointer data) {
        uint64_t all = 20;

        SKIP_IF_NEEDED();

        for (unsigned i = 0; i < all; i++) {
                CtEntry e = tcp4("10.11.0.1", "10.11.0.2", (uint16_t) (100 + i), 80);

                g_assert_cmpint(kernel_create(f->k, CT_KIND_CT, &e), ==, 0);
        }
        /* one wake-up handles at most the limit, the rest the next ones */
        g_assert_cmpint(sd_event_run(f->event, WAIT_USEC), >, 0);
        g_assert_cmpuint(f->k->stats.events_received, ==, 5);
        g_assert_true(run_until(f, received_at_least, &all));
        g_assert_cmpuint(f->k->stats.events_received, ==, all);
}

static const KernelSettings limit5 = { .event_iteration_limit = 5 };

static void test_not_subscribed(void) {
        Kernel *k = NULL;
        CtEntry e = tcp4("10.12.0.1", "10.12.0.2", 1, 2);
        sd_event *ev = NULL;

        if (skip_reason) {
                g_test_skip(skip_reason);
                return;
        }
        /* writes and dumps do not need the event socket; buffer sizes do */
        g_assert_cmpint(kernel_new(&kernel_netlink_ops, NULL, NULL, &k), ==, 0);
        g_assert_cmpint(kernel_set_buffer_size(k, 65536), ==, -ENOTCONN);
        g_assert_cmpint(kernel_create(k, CT_KIND_CT, &e), ==, 0);
        g_assert_cmpint(kernel_delete(k, CT_KIND_CT, &e), ==, 0);
        g_assert_cmpint(kernel_create(k, (CtKind) 7, &e), ==, -EINVAL);
        g_assert_cmpint(sd_event_new(&ev), ==, 0);
        g_assert_cmpint(kernel_subscribe(k, ev), ==, 0);
        g_assert_cmpint(kernel_subscribe(k, ev), ==, -EBUSY);
        kernel_free(k);
        sd_event_unref(ev);
}

#define ADD(name, fn, settings) \
        g_test_add("/kernel-netlink/" name, Fixture, settings, fixture_setup, fn, fixture_teardown)

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        setup_namespace();

        g_test_add_func("/kernel-netlink/tables", test_tables);
        g_test_add_func("/kernel-netlink/not-subscribed", test_not_subscribed);
        ADD("own-writes", test_own_writes, NULL);
        ADD("foreign-writes", test_foreign_writes, NULL);
        ADD("dump", test_dump, NULL);
        ADD("zones", test_zones, NULL);
        ADD("ipv6", test_ipv6, NULL);
        ADD("nat", test_nat, NULL);
        ADD("expectations", test_expectations, NULL);
        ADD("flush", test_flush, NULL);
        ADD("overrun", test_overrun, &small_buffer);
        ADD("reliable", test_reliable, &reliable);
        ADD("bpf", test_bpf, NULL);
        ADD("iteration-limit", test_iteration_limit, &limit5);
        ADD("forged-events", test_forged_events, NULL);

        return g_test_run();
}
