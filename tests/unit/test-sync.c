/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The sync protocols (FT-FW, NOTRACK, ALARM) between two Sync objects in one loop, over an
 * in-memory link that can lose, reorder or replay datagrams. */
#include <arpa/inet.h>
#include <glib.h>
#include <string.h>

#include "sync.h"
#include "wire.h"

#define MAX_FLOWS 4096

typedef struct Datagram {
        uint8_t *data;
        size_t size;
} Datagram;

typedef struct Node Node;

struct Node {
        Sync *sync;
        Node *peer;
        GQueue *outbox;                 /* datagrams on their way to the peer */
        /* what this node's peers told it: its "external cache" */
        CtEntry ext[MAX_FLOWS];
        bool ext_present[MAX_FLOWS];
        bool ext_stale[MAX_FLOWS];      /* not refreshed since refresh_begin */
        unsigned n_new, n_upd, n_del, n_messages;
        /* this node's "internal cache" */
        CtEntry internal[MAX_FLOWS];
        bool internal_present[MAX_FLOWS];
        unsigned bulks;
        unsigned in_sync_changes;
        bool in_sync;
        /* link behaviour */
        unsigned drop_every;            /* drop datagram k*drop_every (0: none) */
        unsigned sent;
        bool drop_all;
};

static uint16_t flow_index(const CtEntry *e) {
        return e->orig.sport;
}

static void make_flow(CtEntry *e, uint16_t i, uint32_t mark) {
        *e = (CtEntry) {
                .orig = {
                        .l3 = AF_INET,
                        .l4 = IPPROTO_TCP,
                        .src.ip = htonl(0x0a000001),
                        .dst.ip = htonl(0x0a000002),
                        .sport = i,
                        .dport = 80,
                },
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK | CT_ATTR_TCP_STATE,
                .status = 0x0e,
                .timeout = 600,
                .mark = mark,
                .tcp.state = 3,
        };
}

static int node_send(Sync *s, const uint8_t *buf, size_t size, void *userdata) {
        Node *n = userdata;
        Datagram *d;

        n->sent++;
        if (n->drop_all || (n->drop_every && n->sent % n->drop_every == 0))
                return 0;       /* lost on the wire: the sender does not know */
        d = g_new0(Datagram, 1);
        d->data = g_memdup2(buf, size);
        d->size = size;
        g_queue_push_tail(n->outbox, d);
        return 0;
}

static void node_message(Sync *s, const WireMessage *m, void *userdata) {
        Node *n = userdata;
        uint16_t i;

        g_assert_cmpint(m->kind, ==, WIRE_KIND_CT);
        i = flow_index(&m->ct);
        g_assert_cmpuint(i, <, MAX_FLOWS);
        n->n_messages++;
        switch (m->hdr.type) {
        case WIRE_CT_NEW:
                n->ext_stale[i] = false;
                n->n_new++;
                n->ext[i] = m->ct;
                n->ext_present[i] = true;
                break;
        case WIRE_CT_UPD:
                n->ext_stale[i] = false;
                n->n_upd++;
                n->ext[i] = m->ct;
                n->ext_present[i] = true;
                break;
        case WIRE_CT_DEL:
                n->n_del++;
                n->ext_present[i] = false;
                break;
        default:
                g_assert_not_reached();
        }
}

static bool node_lookup(Sync *s, CtKind kind, const void *identity, void *ret, void *userdata) {
        Node *n = userdata;
        uint16_t i = flow_index(identity);

        if (!n->internal_present[i])
                return false;
        *(CtEntry *) ret = n->internal[i];
        return true;
}

static void node_bulk(Sync *s, void *userdata) {
        Node *n = userdata;

        n->bulks++;
        for (unsigned i = 0; i < MAX_FLOWS; i++)
                if (n->internal_present[i])
                        g_assert_cmpint(sync_queue_ct(s, WIRE_CT_UPD, &n->internal[i]), ==, 0);
}

/* The external cache's generations, as the manager keeps them */
static void node_refresh_begin(Sync *s, void *userdata) {
        Node *n = userdata;

        memcpy(n->ext_stale, n->ext_present, sizeof n->ext_stale);
}

static size_t node_refresh_end(Sync *s, void *userdata) {
        Node *n = userdata;
        size_t purged = 0;

        for (unsigned i = 0; i < MAX_FLOWS; i++)
                if (n->ext_present[i] && n->ext_stale[i]) {
                        n->ext_present[i] = false;
                        purged++;
                }
        return purged;
}

static void node_in_sync_changed(Sync *s, bool in_sync, void *userdata) {
        Node *n = userdata;

        g_assert_true(in_sync != n->in_sync);
        g_assert_true(in_sync == sync_in_sync(s));
        n->in_sync = in_sync;
        n->in_sync_changes++;
}

typedef struct Pair {
        sd_event *event;
        Node a, b;
} Pair;

static void pair_init(Pair *p, ConfigMode mode, uint32_t window) {
        SyncSettings st = {
                .mode = mode,
                .resend_queue_size = 131072,
                .ack_window_size = window,
                .payload = 1472,
                .encode = { .timeout = true },
                .alive_usec = 20 * USEC_PER_MSEC,
        };

        memset(p, 0, sizeof *p);
        g_assert_cmpint(sd_event_new(&p->event), >=, 0);
        p->a.peer = &p->b;
        p->b.peer = &p->a;
        p->a.outbox = g_queue_new();
        p->b.outbox = g_queue_new();
        for (Node *n = &p->a; n; n = n == &p->a ? &p->b : NULL)
                g_assert_cmpint(sync_new(p->event, &st,
                                         &(SyncHandlers) {
                                                 .send = node_send,
                                                 .message = node_message,
                                                 .lookup = node_lookup,
                                                 .bulk = node_bulk,
                                                 .refresh_begin = node_refresh_begin,
                                                 .refresh_end = node_refresh_end,
                                                 .in_sync_changed = node_in_sync_changed,
                                                 .userdata = n,
                                         },
                                         &n->sync), ==, 0);
}

static void datagram_free(gpointer p) {
        Datagram *d = p;

        g_free(d->data);
        g_free(d);
}

static void pair_done(Pair *p) {
        p->a.sync = sync_free(p->a.sync);
        p->b.sync = sync_free(p->b.sync);
        g_queue_free_full(p->a.outbox, datagram_free);
        g_queue_free_full(p->b.outbox, datagram_free);
        p->event = sd_event_unref(p->event);
}

/* Deliver everything in flight, and run the loop (flushes, alive timers) for 'usec'. */
static void pair_run(Pair *p, uint64_t usec) {
        uint64_t end = g_get_monotonic_time() + usec;

        do {
                for (Node *n = &p->a; n; n = n == &p->a ? &p->b : NULL) {
                        Datagram *d;

                        while ((d = g_queue_pop_head(n->outbox))) {
                                (void) sync_receive(n->peer->sync, d->data, d->size);
                                datagram_free(d);
                        }
                }
                g_assert_cmpint(sd_event_run(p->event, 5 * USEC_PER_MSEC), >=, 0);
        } while ((uint64_t) g_get_monotonic_time() < end);
}

static void node_set(Node *n, uint16_t i, uint32_t mark, WireType type) {
        make_flow(&n->internal[i], i, mark);
        n->internal_present[i] = true;
        g_assert_cmpint(sync_queue_ct(n->sync, type, &n->internal[i]), ==, 0);
}

static void node_del(Node *n, uint16_t i) {
        g_assert_true(n->internal_present[i]);
        n->internal_present[i] = false;
        g_assert_cmpint(sync_queue_ct(n->sync, WIRE_CT_DEL, &n->internal[i]), ==, 0);
}

static int count_data(bool control, uint32_t seq, uint8_t flags, void *userdata) {
        if (!control)
                (*(unsigned *) userdata)++;
        return 0;
}

/* Data messages still waiting for an ACK (idle peers keep one ACK in flight forever). */
static unsigned rsqueue_data(Sync *s) {
        unsigned n = 0;

        g_assert_cmpint(sync_rsqueue_foreach(s, count_data, &n), ==, 0);
        return n;
}

static void assert_converged(Node *from, Node *to) {
        for (unsigned i = 0; i < MAX_FLOWS; i++) {
                g_assert_cmpint(from->internal_present[i], ==, to->ext_present[i]);
                if (from->internal_present[i])
                        g_assert_cmpuint(from->internal[i].mark, ==, to->ext[i].mark);
        }
}

static void test_ftfw_basic(void) {
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        for (uint16_t i = 0; i < 10; i++)
                node_set(&p.a, i, i, WIRE_CT_NEW);
        node_set(&p.a, 3, 333, WIRE_CT_UPD);
        node_del(&p.a, 5);
        pair_run(&p, 100 * USEC_PER_MSEC);

        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(p.b.n_new, ==, 10);
        g_assert_cmpuint(p.b.n_upd, ==, 1);
        g_assert_cmpuint(p.b.n_del, ==, 1);
        /* Hello handshake done both ways; the alive timer's ACKs emptied the resend queues. */
        g_assert_true(sync_hello_done(p.a.sync));
        g_assert_true(sync_hello_done(p.b.sync));
        g_assert_cmpuint(rsqueue_data(p.a.sync), ==, 0);
        g_assert_cmpuint(sync_rsqueue_size(p.a.sync), <=, 2);
        g_assert_cmpuint(sync_stats(p.b.sync)->acks_sent, >, 0);
        g_assert_cmpuint(sync_stats(p.a.sync)->acks_recv, >, 0);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_lost, ==, 0);
        g_assert_cmpuint(sync_stats(p.b.sync)->wire.malformed, ==, 0);
        pair_done(&p);
}

/* The ACK window: with ACKWindowSize 5 the receiver acknowledges every 5 messages. */
static void test_ftfw_ack_window(void) {
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 5);
        for (uint16_t i = 0; i < 50; i++) {
                node_set(&p.a, i, 1, WIRE_CT_NEW);
                sync_flush(p.a.sync);
        }
        /* Deliver without letting alive timers fire. */
        for (Datagram *d; (d = g_queue_pop_head(p.a.outbox)); datagram_free(d))
                (void) sync_receive(p.b.sync, d->data, d->size);
        sync_flush(p.b.sync);
        g_assert_cmpuint(sync_stats(p.b.sync)->acks_sent, >=, 9);
        for (Datagram *d; (d = g_queue_pop_head(p.b.outbox)); datagram_free(d))
                (void) sync_receive(p.a.sync, d->data, d->size);
        g_assert_cmpuint(sync_rsqueue_size(p.a.sync), <, 5);
        pair_done(&p);
}

/* A lossy link: every 7th datagram of A is lost; NACKs and resends make B converge. */
static void test_ftfw_lossy(void) {
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        p.a.drop_every = 7;
        for (unsigned round = 0; round < 20; round++) {
                for (uint16_t i = 0; i < 200; i++)
                        node_set(&p.a, (uint16_t) (round * 50 + i) % 2000, round, WIRE_CT_UPD);
                for (uint16_t i = 0; i < 20; i++)
                        if (p.a.internal_present[(round * 97 + i) % 2000])
                                node_del(&p.a, (uint16_t) ((round * 97 + i) % 2000));
                pair_run(&p, 10 * USEC_PER_MSEC);
        }
        p.a.drop_every = 0;
        pair_run(&p, 200 * USEC_PER_MSEC);

        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(sync_stats(p.b.sync)->nacks_sent, >, 0);
        g_assert_cmpuint(sync_stats(p.a.sync)->nacks_recv, >, 0);
        g_assert_cmpuint(sync_stats(p.a.sync)->resent, >, 0);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_lost, >, 0);
        /* every gap is at least one lost message, and each gap was asked for */
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_gaps, >, 0);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_gaps, <=, sync_stats(p.b.sync)->seq_lost);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_gaps, <=, sync_stats(p.b.sync)->nacks_sent);
        g_assert_cmpuint(rsqueue_data(p.a.sync), ==, 0);
        g_assert_cmpuint(sync_rsqueue_size(p.a.sync), <=, 2);
        pair_done(&p);
}

/* Keep a copy of the first datagram in flight from n (for a replay). */
static void save_first(Node *n, GQueue *saved) {
        Datagram *d = g_queue_peek_head(n->outbox), *c = g_new0(Datagram, 1);

        c->data = g_memdup2(d->data, d->size);
        c->size = d->size;
        g_queue_push_tail(saved, c);
}

/* Old sequence numbers (a replay) are dropped in FT-FW and not applied. */
static void test_ftfw_replay(void) {
        GQueue *saved = g_queue_new();
        unsigned before;
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        node_set(&p.a, 1, 1, WIRE_CT_NEW);
        sync_flush(p.a.sync);
        save_first(&p.a, saved);
        pair_run(&p, 60 * USEC_PER_MSEC);
        node_del(&p.a, 1);
        pair_run(&p, 60 * USEC_PER_MSEC);
        g_assert_false(p.b.ext_present[1]);

        /* The replayed datagram carries HELLO (the handshake was in progress): like a restarted
         * peer it is taken. A replay of a later, hello-less message is not: */
        node_set(&p.a, 2, 2, WIRE_CT_NEW);
        sync_flush(p.a.sync);
        save_first(&p.a, saved);
        pair_run(&p, 60 * USEC_PER_MSEC);
        node_del(&p.a, 2);
        pair_run(&p, 60 * USEC_PER_MSEC);
        g_assert_false(p.b.ext_present[2]);

        before = p.b.n_messages;
        {
                Datagram *d = g_queue_peek_tail(saved);

                g_assert_cmpint(d->data[1] & WIRE_F_HELLO, ==, 0);
                (void) sync_receive(p.b.sync, d->data, d->size);
        }
        g_assert_cmpuint(p.b.n_messages, ==, before);
        g_assert_false(p.b.ext_present[2]);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_before, >, 0);
        g_queue_free_full(saved, datagram_free);
        pair_done(&p);
}

/* RESYNC asks the peer for a bulk of its internal cache. */
static void test_resync_request(void) {
        for (ConfigMode mode = CONFIG_MODE_FTFW; mode <= CONFIG_MODE_NOTRACK; mode++) {
                static Pair p;  /* megabytes: not on the stack */

                pair_init(&p, mode, 300);
                for (uint16_t i = 0; i < 100; i++) {
                        make_flow(&p.a.internal[i], i, 7);
                        p.a.internal_present[i] = true;
                }
                g_assert_cmpint(sync_request_resync(p.b.sync), ==, 0);
                pair_run(&p, 80 * USEC_PER_MSEC);
                g_assert_cmpuint(p.a.bulks, ==, 1);
                assert_converged(&p.a, &p.b);
                g_assert_cmpuint(sync_stats(p.a.sync)->resyncs_recv, ==, 1);
                pair_done(&p);
        }
}

/* A flood of RESYNC requests costs at most one bulk per second. */
static void test_resync_flood(void) {
        uint8_t msg[WIRE_CONTROL_SIZE];
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_NOTRACK, 300);
        for (uint32_t i = 0; i < 100; i++) {
                g_assert_cmpint(wire_encode_control(msg, sizeof msg, WIRE_F_RESYNC, 1000 + i, 0, 0), ==, 16);
                g_assert_cmpint(sync_receive(p.a.sync, msg, sizeof msg), ==, 1);
                pair_run(&p, 2 * USEC_PER_MSEC);
        }
        pair_run(&p, 50 * USEC_PER_MSEC);
        g_assert_cmpuint(p.a.bulks, >=, 1);
        g_assert_cmpuint(p.a.bulks, <=, 2);
        g_assert_cmpuint(sync_stats(p.a.sync)->resyncs_recv, ==, 100);
        g_assert_cmpuint(sync_stats(p.a.sync)->resyncs_coalesced, >=, 98);
        pair_done(&p);
}

/* NOTRACK: no resend queue; ACK/NACK are malformed headers; gaps are only counted. */
static void test_notrack(void) {
        uint8_t ack[WIRE_CONTROL_SIZE];
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_NOTRACK, 300);
        for (uint16_t i = 0; i < 30; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        pair_run(&p, 50 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(rsqueue_data(p.a.sync), ==, 0);
        g_assert_cmpuint(sync_rsqueue_size(p.a.sync), <=, 2);
        g_assert_cmpuint(sync_stats(p.b.sync)->acks_sent, ==, 0);
        g_assert_cmpuint(sync_stats(p.a.sync)->alives_sent, >, 0);

        g_assert_cmpint(wire_encode_control(ack, sizeof ack, WIRE_F_ACK, 5, 1, 2), ==, 16);
        g_assert_cmpint(sync_receive(p.b.sync, ack, sizeof ack), ==, 0);
        g_assert_cmpuint(sync_stats(p.b.sync)->wire.bad_header, ==, 1);

        /* lost datagrams: counted, not recovered */
        p.a.drop_every = 2;
        for (uint16_t i = 100; i < 140; i++) {
                node_set(&p.a, i, 1, WIRE_CT_NEW);
                sync_flush(p.a.sync);
        }
        pair_run(&p, 30 * USEC_PER_MSEC);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_lost, >, 0);
        /* every other datagram lost, one message each: as many gaps as messages lost */
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_gaps, >, 0);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_gaps, ==, sync_stats(p.b.sync)->seq_lost);
        g_assert_cmpuint(sync_stats(p.b.sync)->nacks_sent, ==, 0);
        pair_done(&p);
}

/* ALARM: nothing but data; control messages and flagged data are ignored. */
static void test_alarm(void) {
        uint8_t msg[WIRE_MESSAGE_MAX];
        CtEntry e;
        static Pair p;  /* megabytes: not on the stack */
        int len;

        pair_init(&p, CONFIG_MODE_ALARM, 300);
        for (uint16_t i = 0; i < 10; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        pair_run(&p, 50 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(sync_stats(p.a.sync)->alives_sent, ==, 0);
        g_assert_cmpint(sync_request_resync(p.a.sync), ==, -EOPNOTSUPP);
        g_assert_cmpint(sync_send_bulk(p.a.sync), ==, -EOPNOTSUPP);

        make_flow(&e, 77, 1);
        len = wire_encode_ct(msg, sizeof msg, WIRE_CT_NEW, WIRE_F_HELLO, 1, &e,
                             &(WireEncodeOptions) { .timeout = true });
        g_assert_cmpint(len, >, 0);
        g_assert_cmpint(sync_receive(p.b.sync, msg, (size_t) len), ==, 0);
        g_assert_false(p.b.ext_present[77]);
        len = wire_encode_control(msg, sizeof msg, WIRE_F_RESYNC, 2, 0, 0);
        g_assert_cmpint(sync_receive(p.b.sync, msg, (size_t) len), ==, 0);
        g_assert_cmpuint(p.b.bulks, ==, 0);
        pair_done(&p);
}

/* Hostile input: garbage never crashes and is counted. */
static void test_garbage(void) {
        uint8_t buf[2048];
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        for (unsigned round = 0; round < 2000; round++) {
                size_t n = g_random_int_range(0, sizeof buf);

                for (size_t i = 0; i < n; i++)
                        buf[i] = (uint8_t) g_random_int();
                if (n >= 8 && round % 2)
                        buf[0] = 0x10 | (buf[0] & 0x0f);        /* version 1 */
                if (n >= 4 && round % 3 == 0) {
                        buf[2] = (uint8_t) (n >> 8);
                        buf[3] = (uint8_t) n;
                }
                (void) sync_receive(p.b.sync, buf, n);
        }
        g_assert_cmpuint(sync_stats(p.b.sync)->wire.malformed, >, 0);
        pair_done(&p);
}

/* A peer that restarts (new HELLO, sequence numbers from scratch) is followed. */
static void test_ftfw_peer_restart(void) {
        SyncSettings st = {
                .mode = CONFIG_MODE_FTFW,
                .resend_queue_size = 1000,
                .ack_window_size = 300,
                .payload = 1472,
                .alive_usec = 20 * USEC_PER_MSEC,
        };
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        for (uint16_t i = 0; i < 10; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        pair_run(&p, 60 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(sync_stats(p.b.sync)->peer_restarts, ==, 0);

        /* A restarts: a fresh Sync, same node */
        p.a.sync = sync_free(p.a.sync);
        g_assert_cmpint(sync_new(p.event, &st,
                                 &(SyncHandlers) {
                                         .send = node_send,
                                         .message = node_message,
                                         .lookup = node_lookup,
                                         .bulk = node_bulk,
                                         .userdata = &p.a,
                                 },
                                 &p.a.sync), ==, 0);
        node_set(&p.a, 20, 5, WIRE_CT_NEW);
        node_del(&p.a, 3);
        pair_run(&p, 60 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);
        /* B saw A's new sequence space once; A (fresh) knew no B before */
        g_assert_cmpuint(sync_stats(p.b.sync)->peer_restarts, ==, 1);
        g_assert_cmpuint(sync_stats(p.a.sync)->peer_restarts, ==, 0);
        pair_done(&p);
}

static uint32_t datagram_seq(const Datagram *d) {
        return (uint32_t) d->data[4] << 24 | (uint32_t) d->data[5] << 16 |
               (uint32_t) d->data[6] << 8 | d->data[7];
}

/* A copy of d with every message's sequence number moved by 'delta' */
static Datagram *datagram_shifted(const Datagram *d, uint32_t delta) {
        Datagram *c = g_new0(Datagram, 1);

        c->data = g_memdup2(d->data, d->size);
        c->size = d->size;
        for (size_t off = 0; off + 8 <= c->size;) {
                uint16_t len = (uint16_t) (c->data[off + 2] << 8 | c->data[off + 3]);
                uint8_t *q = c->data + off + 4;
                uint32_t seq = ((uint32_t) q[0] << 24 | (uint32_t) q[1] << 16 |
                                (uint32_t) q[2] << 8 | q[3]) + delta;

                q[0] = seq >> 24;
                q[1] = seq >> 16;
                q[2] = seq >> 8;
                q[3] = seq;
                if (len < 8)
                        break;
                off += len;
        }
        return c;
}

/* A forged (or corrupted) message numbered far ahead does not poison the sequence: the peer's
 * next message continues the sequence we had, and the jump is undone (1.4.7 follows the jump and
 * drops its peer's messages as "before" from then on). */
static void test_ftfw_forged_jump(void) {
        static Pair p;  /* megabytes: not on the stack */
        Datagram *d, *forged;

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        for (uint16_t i = 0; i < 10; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        pair_run(&p, 60 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);

        node_set(&p.a, 11, 7, WIRE_CT_NEW);
        sync_flush(p.a.sync);
        d = g_queue_pop_head(p.a.outbox);
        g_assert_nonnull(d);
        forged = datagram_shifted(d, 1000000);
        g_assert_cmpuint(datagram_seq(forged), ==, datagram_seq(d) + 1000000);
        g_assert_cmpint(sync_receive(p.b.sync, forged->data, forged->size), >, 0);
        g_assert_cmpint(sync_receive(p.b.sync, d->data, d->size), >, 0);
        datagram_free(forged);
        datagram_free(d);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_jumps_undone, ==, 1);
        /* the bogus gap is not counted as lost */
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_lost, ==, 0);

        /* replication goes on */
        node_set(&p.a, 3, 33, WIRE_CT_UPD);
        node_del(&p.a, 4);
        pair_run(&p, 60 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_before, ==, 0);
        pair_done(&p);
}

/* A jump that the peer's next messages follow is taken (a long outage of the link). */
static void test_ftfw_real_jump(void) {
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        node_set(&p.a, 1, 1, WIRE_CT_NEW);
        pair_run(&p, 60 * USEC_PER_MSEC);
        /* 3000 messages lost on the wire */
        p.a.drop_all = true;
        for (unsigned k = 0; k < 3000; k++) {
                node_set(&p.a, 2, k, WIRE_CT_UPD);
                sync_flush(p.a.sync);
        }
        p.a.drop_all = false;
        for (uint16_t i = 10; i < 30; i++) {
                node_set(&p.a, i, 1, WIRE_CT_NEW);
                sync_flush(p.a.sync);
        }
        pair_run(&p, 200 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_jumps_undone, ==, 0);
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_gaps, >=, 1);
        pair_done(&p);
}

/* Poisoned for good (a run of forged messages far ahead, so the jump looked real): -n takes the
 * peer's answer whatever its numbers, and the pair converges again. */
static void test_ftfw_resync_after_poison(void) {
        static Pair p;  /* megabytes: not on the stack */
        Datagram *d;

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        for (uint16_t i = 0; i < 10; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        pair_run(&p, 60 * USEC_PER_MSEC);
        /* twelve forged datagrams, in order, far ahead of a's sequence */
        for (unsigned k = 0; k < 12; k++) {
                node_set(&p.a, 9, 1, WIRE_CT_UPD);
                sync_flush(p.a.sync);
                d = g_queue_pop_head(p.a.outbox);
                {
                        Datagram *forged = datagram_shifted(d, 5000000);

                        (void) sync_receive(p.b.sync, forged->data, forged->size);
                        datagram_free(forged);
                }
                datagram_free(d);
        }
        node_del(&p.a, 0);
        node_set(&p.a, 1, 99, WIRE_CT_UPD);
        pair_run(&p, 60 * USEC_PER_MSEC);
        g_assert_true(p.b.ext_present[0]);              /* dropped as "before" */
        g_assert_cmpuint(sync_stats(p.b.sync)->seq_before, >, 0);

        g_assert_cmpint(sync_request_resync(p.b.sync), ==, 0);
        pair_run(&p, 100 * USEC_PER_MSEC);
        g_assert_cmpuint(p.a.bulks, ==, 1);
        g_assert_cmpuint(p.b.ext[1].mark, ==, 99);
        node_set(&p.a, 2, 22, WIRE_CT_UPD);
        pair_run(&p, 60 * USEC_PER_MSEC);
        g_assert_cmpuint(p.b.ext[2].mark, ==, 22);
        pair_done(&p);
}

/* After a RESYNC of ours, what the peer's bulk did not refresh is purged once the link is quiet
 * (2 s); without any answer nothing is purged. */
static void test_ftfw_resync_purges(void) {
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        for (uint16_t i = 0; i < 10; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        pair_run(&p, 60 * USEC_PER_MSEC);
        /* a destroys 3 and 4 while b does not hear it */
        p.a.drop_all = true;
        node_del(&p.a, 3);
        node_del(&p.a, 4);
        sync_flush(p.a.sync);
        pair_run(&p, 30 * USEC_PER_MSEC);
        g_assert_true(p.b.ext_present[3]);

        /* a resync that nobody answers purges nothing */
        g_assert_cmpint(sync_request_resync(p.b.sync), ==, 0);
        pair_run(&p, 2500 * USEC_PER_MSEC);
        g_assert_true(p.b.ext_present[3]);
        g_assert_cmpuint(sync_stats(p.b.sync)->refreshes, ==, 0);

        /* answered: 3 and 4 go, the rest stays */
        p.a.drop_all = false;
        g_assert_cmpint(sync_request_resync(p.b.sync), ==, 0);
        pair_run(&p, 1000 * USEC_PER_MSEC);
        g_assert_true(p.b.ext_present[3]);              /* not before the link is quiet */
        pair_run(&p, 1600 * USEC_PER_MSEC);
        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(sync_stats(p.b.sync)->refreshes, ==, 1);
        g_assert_cmpuint(sync_stats(p.b.sync)->refresh_purged, ==, 2);
        pair_done(&p);
}

/* InSync: false until the peer's bulk is over (its ACK of our RESYNC, then 2 s without data),
 * false while the peer is lost, true again after the resync that its return brings. */
static void test_ftfw_in_sync(void) {
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        for (uint16_t i = 0; i < 50; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        pair_run(&p, 60 * USEC_PER_MSEC);
        g_assert_false(sync_in_sync(p.b.sync));         /* replicated, but no bulk asked for */

        g_assert_cmpint(sync_request_resync(p.b.sync), ==, 0);
        pair_run(&p, 1000 * USEC_PER_MSEC);
        g_assert_false(sync_in_sync(p.b.sync));
        pair_run(&p, 1300 * USEC_PER_MSEC);
        g_assert_true(sync_in_sync(p.b.sync));
        g_assert_cmpuint(p.b.in_sync_changes, ==, 1);
        g_assert_cmpuint(sync_stats(p.b.sync)->refreshes, ==, 1);

        /* the peer goes silent: lost, not in sync */
        p.a.drop_all = true;
        pair_run(&p, 100 * USEC_PER_MSEC);
        sync_check_peer(p.b.sync);
        g_assert_cmpint(sync_peer_state(p.b.sync), ==, SYNC_PEER_LOST);
        g_assert_false(sync_in_sync(p.b.sync));
        g_assert_cmpuint(p.b.in_sync_changes, ==, 2);

        /* back: b asks for everything by itself; what changed meanwhile arrives */
        node_del(&p.a, 7);
        node_set(&p.a, 8, 88, WIRE_CT_UPD);
        p.a.drop_all = false;
        pair_run(&p, 200 * USEC_PER_MSEC);
        g_assert_cmpuint(p.a.bulks, ==, 2);
        g_assert_false(sync_in_sync(p.b.sync));
        pair_run(&p, 2300 * USEC_PER_MSEC);
        g_assert_true(sync_in_sync(p.b.sync));
        assert_converged(&p.a, &p.b);
        g_assert_cmpuint(p.b.in_sync_changes, ==, 3);

        /* sync_assume_in_sync() (states restored without a bulk) only when no resync runs */
        g_assert_cmpint(sync_request_resync(p.b.sync), ==, 0);
        sync_assume_in_sync(p.b.sync);
        g_assert_false(sync_in_sync(p.b.sync));
        pair_done(&p);
}

/* The first node to start asks for a resync before its peer listens: the request is lost, and a
 * fresh peer never asks for what came before its start. The first contact makes it ask again. */
static void test_ftfw_resync_before_peer(void) {
        static Pair p;  /* megabytes: not on the stack */

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        p.a.drop_all = p.b.drop_all = true;
        for (uint16_t i = 0; i < 5; i++)
                node_set(&p.a, i, 1, WIRE_CT_NEW);
        g_assert_cmpint(sync_request_resync(p.b.sync), ==, 0);
        pair_run(&p, 100 * USEC_PER_MSEC);
        g_assert_cmpuint(p.a.bulks, ==, 0);

        p.a.drop_all = p.b.drop_all = false;
        pair_run(&p, 2600 * USEC_PER_MSEC);
        g_assert_cmpuint(p.a.bulks, ==, 1);
        assert_converged(&p.a, &p.b);
        g_assert_true(sync_in_sync(p.b.sync));
        pair_done(&p);
}

/* Run until b sees a in 'state', at most 'max_usec'. */
static bool pair_run_until_peer(Pair *p, SyncPeerState state, uint64_t max_usec) {
        uint64_t end = g_get_monotonic_time() + max_usec;

        while (sync_peer_state(p->b.sync) != state) {
                if ((uint64_t) g_get_monotonic_time() >= end)
                        return false;
                pair_run(p, 5 * USEC_PER_MSEC);
        }
        return true;
}

/* The peer: unknown before anything came, alive while ALIVE messages come, lost after three
 * ALIVE intervals of silence (20 ms each here), alive again; the last-seen time is wall clock. */
static void test_peer_state(void) {
        static Pair p;  /* megabytes: not on the stack */
        uint64_t before, seen;

        for (SyncPeerState i = 0; i < _SYNC_PEER_STATE_MAX; i++)
                g_assert_cmpint(sync_peer_state_from_string(sync_peer_state_to_string(i)), ==, i);
        g_assert_cmpint(sync_peer_state_from_string("dead"), ==, _SYNC_PEER_STATE_INVALID);
        g_assert_null(sync_peer_state_to_string(_SYNC_PEER_STATE_MAX));

        pair_init(&p, CONFIG_MODE_FTFW, 300);
        g_assert_cmpint(sync_peer_state(p.b.sync), ==, SYNC_PEER_UNKNOWN);
        g_assert_cmpuint(sync_stats(p.b.sync)->peer_last_seen_usec, ==, 0);

        before = (uint64_t) g_get_real_time() - 10 * USEC_PER_MSEC;   /* sd-event's cached time */
        g_assert_true(pair_run_until_peer(&p, SYNC_PEER_ALIVE, 2 * USEC_PER_SEC));
        seen = sync_stats(p.b.sync)->peer_last_seen_usec;
        g_assert_cmpuint(seen, >=, before);
        g_assert_cmpuint(seen, <=, (uint64_t) g_get_real_time());

        /* the link breaks: after 60 ms of silence the peer is lost, its last time stays */
        p.a.drop_all = true;
        pair_run(&p, 20 * USEC_PER_MSEC);
        seen = sync_stats(p.b.sync)->peer_last_seen_usec;
        g_assert_true(pair_run_until_peer(&p, SYNC_PEER_LOST, 2 * USEC_PER_SEC));
        g_assert_cmpuint(sync_stats(p.b.sync)->peer_last_seen_usec, ==, seen);
        /* a still hears b */
        g_assert_cmpint(sync_peer_state(p.a.sync), ==, SYNC_PEER_ALIVE);

        p.a.drop_all = false;
        g_assert_true(pair_run_until_peer(&p, SYNC_PEER_ALIVE, 2 * USEC_PER_SEC));
        g_assert_cmpuint(sync_stats(p.b.sync)->peer_last_seen_usec, >, seen);
        pair_done(&p);
}

/* The resend queue is bounded: the oldest entries go. */
static void test_rsqueue_bound(void) {
        SyncSettings st = {
                .mode = CONFIG_MODE_FTFW,
                .resend_queue_size = 50,
                .ack_window_size = 300,
                .payload = 1472,
                .alive_usec = 10 * USEC_PER_SEC,
        };
        sd_event *e = NULL;
        static Node n;  /* megabytes: not on the stack */
        Sync *s = NULL;

        memset(&n, 0, sizeof n);
        n.drop_all = true;
        g_assert_cmpint(sd_event_new(&e), >=, 0);
        n.outbox = g_queue_new();
        g_assert_cmpint(sync_new(e, &st, &(SyncHandlers) { .send = node_send, .userdata = &n }, &s),
                        ==, 0);
        n.sync = s;
        for (uint16_t i = 0; i < 120; i++)
                node_set(&n, i, 1, WIRE_CT_NEW);
        g_assert_cmpuint(sync_rsqueue_size(s), ==, 50);
        g_assert_cmpuint(sync_stats(s)->rsqueue_dropped, ==, 70);
        sync_free(s);
        g_queue_free_full(n.outbox, datagram_free);
        sd_event_unref(e);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/sync/ftfw/basic", test_ftfw_basic);
        g_test_add_func("/sync/ftfw/ack-window", test_ftfw_ack_window);
        g_test_add_func("/sync/ftfw/lossy", test_ftfw_lossy);
        g_test_add_func("/sync/ftfw/replay", test_ftfw_replay);
        g_test_add_func("/sync/ftfw/peer-restart", test_ftfw_peer_restart);
        g_test_add_func("/sync/ftfw/rsqueue-bound", test_rsqueue_bound);
        g_test_add_func("/sync/resync-request", test_resync_request);
        g_test_add_func("/sync/resync-flood", test_resync_flood);
        g_test_add_func("/sync/notrack", test_notrack);
        g_test_add_func("/sync/alarm", test_alarm);
        g_test_add_func("/sync/garbage", test_garbage);
        g_test_add_func("/sync/peer-state", test_peer_state);
        g_test_add_func("/sync/ftfw-forged-jump", test_ftfw_forged_jump);
        g_test_add_func("/sync/ftfw-real-jump", test_ftfw_real_jump);
        g_test_add_func("/sync/ftfw-resync-after-poison", test_ftfw_resync_after_poison);
        g_test_add_func("/sync/ftfw-resync-purges", test_ftfw_resync_purges);
        g_test_add_func("/sync/ftfw-in-sync", test_ftfw_in_sync);
        g_test_add_func("/sync/ftfw-resync-before-peer", test_ftfw_resync_before_peer);
        return g_test_run();
}
