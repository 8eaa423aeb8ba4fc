/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "string-table.h"
#include "sync.h"

#define ALIVE_USEC_DEFAULT USEC_PER_SEC
#define PEER_TIMEOUT_ALIVES 3   /* ALIVE intervals of silence before the peer counts as lost */

static const char *const sync_peer_state_table[_SYNC_PEER_STATE_MAX] = {
        [SYNC_PEER_UNKNOWN] = "unknown",
        [SYNC_PEER_ALIVE] = "alive",
        [SYNC_PEER_LOST] = "lost",
};

DEFINE_STRING_TABLE(sync_peer_state, SyncPeerState);

typedef enum HelloState {
        HELLO_INIT,             /* nothing sent yet */
        HELLO_SAY,              /* every message carries HELLO until a HELLO_BACK arrives */
        HELLO_DONE,
} HelloState;

/* One message that went out in FT-FW and waits for an ACK. Data messages keep their encoded
 * bytes (about 100 bytes a flow), which is enough to find the object again for a resend. */
typedef struct RsChunk RsChunk;

typedef struct RsEntry {
        uint32_t seq;
        bool live;              /* false: acknowledged or resent, slot not reclaimed yet */
        bool control;
        uint8_t flags;          /* control: ACK/NACK/RESYNC */
        uint32_t from, to;      /* control range */
        uint16_t len;
        uint8_t *msg;           /* data: the message as sent, in chunk */
        RsChunk *chunk;
} RsEntry;

/* The bytes of the queued messages: appended to chunks of RS_CHUNK_SIZE, a chunk freed (or, the
 * current one, reused) once none of its messages is referenced any more. One allocation per few
 * hundred messages instead of one each: under an event burst malloc/free of every message was
 * a large share of the daemon's time. */
#define RS_CHUNK_SIZE (64u * 1024u)

struct RsChunk {
        size_t used;
        size_t refs;
        uint8_t data[];
};

struct Sync {
        sd_event *event;
        SyncSettings settings;
        SyncHandlers handlers;
        SyncStats stats;

        /* sending */
        uint32_t next_seq;
        bool seq_started;
        uint8_t *buf;
        WireBuilder builder;
        sd_event_source *flush_source;
        sd_event_source *alive_source;
        sd_event_source *bulk_source;   /* a peer's RESYNC, deferred (one per interval) */
        uint64_t last_bulk_usec;
        bool in_bulk;

        /* FT-FW */
        HelloState hello;
        bool say_hello_back;
        bool peer_saying_hello;         /* the peer's messages carry HELLO (its handshake) */
        bool peer_restarted;            /* purge what its first ACK shows it will never ask for */
        RsEntry *rs;            /* ring */
        size_t rs_capacity, rs_head, rs_count, rs_live;
        RsChunk *rs_chunk;              /* where the next queued message goes */
        uint32_t ack_from;
        bool ack_from_set;
        uint32_t window;

        /* receiving */
        uint32_t last_seq_recv;
        bool seq_known;
        /* FT-FW: after a jump far ahead, the sequence we had, until the jump is confirmed by
         * messages that follow it (a forged or corrupted number must not poison the sequence) */
        uint32_t jump_from;
        bool jump_pending;
        unsigned jump_confirmations;
        uint64_t jump_lost, jump_gaps;  /* counted since: taken back if the jump is undone */
        /* after a RESYNC of ours: the peers' bulk refreshes the external cache, what it did not
         * refresh is purged once the link is quiet (refresh_begin/refresh_end handlers) */
        bool refresh_pending;
        bool refresh_data_seen;         /* data messages came since the request */
        bool refresh_acked;             /* FT-FW: the peer acknowledged our RESYNC */
        bool refresh_heard;             /* a valid message came since the request */
        uint32_t refresh_seq;           /* the sequence number of our RESYNC */
        uint64_t refresh_last_mono;     /* the last of those, CLOCK_MONOTONIC */
        sd_event_source *refresh_source;

        /* InSync: a complete bulk of the peers arrived since we started or met them again */
        bool in_sync;
        bool peer_lost;
        bool peer_seen;
        uint64_t peer_last_seen_mono;   /* CLOCK_MONOTONIC of the last valid message */
};

static uint32_t be32_at(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* FT-FW: a sequence number this far ahead of the expected one is a jump: until JUMP_CONFIRM
 * messages have followed it in order, the message that continues the sequence we had proves it
 * forged or corrupted, and we go back to that sequence (1.4.7 follows the jump and then drops
 * everything its peer sends as "before", for good). */
#define JUMP_GAP_MIN 1024u
#define JUMP_CONFIRM 8u
/* After a RESYNC of ours: the bulk is over when no data message came for this long (a peer
 * defers a bulk by up to BULK_INTERVAL_USEC, 1 s, when it did one just before). */
#define REFRESH_QUIET_USEC (2 * USEC_PER_SEC)

/* Serial number arithmetic (RFC 1982 style): is a before b? */
static bool seq_before(uint32_t a, uint32_t b) {
        return (int32_t) (a - b) < 0;
}

static bool seq_after(uint32_t a, uint32_t b) {
        return (int32_t) (b - a) < 0;
}

ConfigMode sync_mode(const Sync *s) {
        return s->settings.mode;
}

const SyncStats *sync_stats(const Sync *s) {
        return &s->stats;
}

bool sync_hello_done(const Sync *s) {
        return s->hello == HELLO_DONE;
}

SyncPeerState sync_peer_state(const Sync *s) {
        uint64_t now;

        if (!s->peer_seen)
                return SYNC_PEER_UNKNOWN;
        if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
                return SYNC_PEER_UNKNOWN;
        return now - s->peer_last_seen_mono > s->settings.peer_timeout_usec ? SYNC_PEER_LOST :
                                                                               SYNC_PEER_ALIVE;
}

/* A valid message came from the peer. */
static void peer_seen(Sync *s) {
        uint64_t mono, real;

        if (sd_event_now(s->event, CLOCK_MONOTONIC, &mono) < 0 ||
            sd_event_now(s->event, CLOCK_REALTIME, &real) < 0)
                return;
        s->peer_seen = true;
        s->peer_last_seen_mono = mono;
        s->stats.peer_last_seen_usec = real;
}

/* ---- resend queue (FT-FW) ---- */

static RsEntry *rs_at(const Sync *s, size_t i) {
        return &s->rs[(s->rs_head + i) % s->rs_capacity];
}

/* Room for len bytes of a message; NULL on ENOMEM. */
static uint8_t *rs_msg_alloc(Sync *s, size_t len, RsChunk **ret_chunk) {
        RsChunk *c = s->rs_chunk;
        uint8_t *p;

        assert(len <= RS_CHUNK_SIZE);
        if (c && c->refs == 0)
                c->used = 0;
        if (!c || c->used + len > RS_CHUNK_SIZE) {
                c = malloc(sizeof(RsChunk) + RS_CHUNK_SIZE);
                if (!c)
                        return NULL;
                *c = (RsChunk) {};
                /* the previous current chunk goes when its last message does */
                if (s->rs_chunk && s->rs_chunk->refs == 0)
                        free(s->rs_chunk);
                s->rs_chunk = c;
        }
        p = c->data + c->used;
        c->used += len;
        c->refs++;
        *ret_chunk = c;
        return p;
}

static void rs_msg_release(Sync *s, RsEntry *e) {
        RsChunk *c = e->chunk;

        if (!c)
                return;
        e->chunk = NULL;
        e->msg = NULL;
        assert(c->refs > 0);
        if (--c->refs == 0 && c != s->rs_chunk)
                free(c);
}

static void rs_entry_clear(Sync *s, RsEntry *e) {
        if (e->live)
                s->rs_live--;
        rs_msg_release(s, e);
        *e = (RsEntry) {};
}

static void rs_pop_front(Sync *s) {
        assert(s->rs_count > 0);
        rs_entry_clear(s, rs_at(s, 0));
        s->rs_head = (s->rs_head + 1) % s->rs_capacity;
        s->rs_count--;
}

static void rs_trim_front(Sync *s) {
        while (s->rs_count > 0 && !rs_at(s, 0)->live)
                rs_pop_front(s);
}

static void rs_clear(Sync *s) {
        while (s->rs_count > 0)
                rs_pop_front(s);
}

static int rs_grow(Sync *s) {
        size_t max = MAX(s->settings.resend_queue_size, 1u), n;
        RsEntry *a;

        n = s->rs_capacity ? MIN(s->rs_capacity * 2, max) : MIN((size_t) 1024, max);
        if (n <= s->rs_capacity)
                return 0;
        a = calloc(n, sizeof *a);
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < s->rs_count; i++)
                a[i] = *rs_at(s, i);
        free(s->rs);
        s->rs = a;
        s->rs_capacity = n;
        s->rs_head = 0;
        return 0;
}

/* Append; when the queue is at ResendQueueSize the oldest entry goes (as 1.4.7). */
static void rs_append(Sync *s, RsEntry *e) {
        if (s->rs_count == s->rs_capacity && rs_grow(s) < 0 && s->rs_count == 0) {
                rs_msg_release(s, (RsEntry *) e);
                s->stats.rsqueue_dropped++;
                return;
        }
        if (s->rs_count == s->rs_capacity) {
                if (rs_at(s, 0)->live)
                        s->stats.rsqueue_dropped++;
                rs_pop_front(s);
        }
        *rs_at(s, s->rs_count) = *e;
        s->rs_count++;
        s->rs_live++;
}

/* Index of the first entry whose seq is not before 'seq' (the queue is sorted by seq). */
static size_t rs_lower_bound(const Sync *s, uint32_t seq) {
        size_t lo = 0, hi = s->rs_count;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (seq_before(rs_at(s, mid)->seq, seq))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

size_t sync_rsqueue_size(const Sync *s) {
        return s->rs_live;
}

int sync_rsqueue_foreach(const Sync *s, SyncRsqueueFunc f, void *userdata) {
        for (size_t i = 0; i < s->rs_count; i++) {
                const RsEntry *e = rs_at(s, i);
                int r;

                if (!e->live)
                        continue;
                r = f(e->control, e->seq, e->control ? e->flags : e->msg[1], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- sending ---- */

static void alive_rearm(Sync *s) {
        uint64_t now;

        if (!s->alive_source)
                return;
        if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        (void) sd_event_source_set_time(s->alive_source, now + s->settings.alive_usec);
        (void) sd_event_source_set_enabled(s->alive_source, SD_EVENT_ONESHOT);
}

void sync_flush(Sync *s) {
        int r;

        if (s->builder.len == 0)
                return;
        r = s->handlers.send ? s->handlers.send(s, s->builder.buf, s->builder.len,
                                                s->handlers.userdata) : -ENOTCONN;
        if (r < 0)
                s->stats.send_failed++;
        else
                s->stats.datagrams_sent++;
        wire_builder_reset(&s->builder);
        alive_rearm(s);
}

static int on_flush(sd_event_source *es, void *userdata) {
        sync_flush(userdata);
        return 0;
}

static void schedule_flush(Sync *s) {
        if (s->flush_source)
                (void) sd_event_source_set_enabled(s->flush_source, SD_EVENT_ONESHOT);
}

static uint32_t seq_next(Sync *s) {
        if (!s->seq_started) {
                /* 1.4.7 starts at the time of the first message; peers expect no particular
                 * value, but a restarted node then never reuses a recent sequence number. */
                s->next_seq = (uint32_t) time(NULL);
                s->seq_started = true;
        }
        return s->next_seq++;
}

/* The HELLO bits of the next outgoing message (FT-FW only). */
static uint8_t hello_flags(Sync *s) {
        uint8_t flags = 0;

        if (s->settings.mode != CONFIG_MODE_FTFW)
                return 0;
        if (s->hello == HELLO_INIT)
                s->hello = HELLO_SAY;
        if (s->hello == HELLO_SAY)
                flags |= WIRE_F_HELLO;
        if (s->say_hello_back) {
                flags |= WIRE_F_HELLO_BACK;
                s->say_hello_back = false;
        }
        return flags;
}

/* Put one encoded message into the datagram being filled; send it first if it is full. */
static int put_message(Sync *s, const uint8_t *msg, size_t len) {
        int r;

        r = wire_builder_append(&s->builder, msg, len);
        if (r == -ENOSPC) {
                sync_flush(s);
                r = wire_builder_append(&s->builder, msg, len);
        }
        if (r < 0)
                return r;
        s->stats.msgs_sent++;
        schedule_flush(s);
        return 0;
}

static int send_control(Sync *s, uint8_t flags, uint32_t from, uint32_t to) {
        uint8_t msg[WIRE_CONTROL_SIZE];
        uint32_t seq;
        int len, r;

        flags |= hello_flags(s);
        seq = seq_next(s);
        len = wire_encode_control(msg, sizeof msg, flags, seq, from, to);
        if (len < 0)
                return len;
        r = put_message(s, msg, (size_t) len);
        if (r < 0)
                return r;
        if (flags & WIRE_F_ACK)
                s->stats.acks_sent++;
        if (flags & WIRE_F_NACK)
                s->stats.nacks_sent++;
        if (flags & WIRE_F_RESYNC)
                s->stats.resyncs_sent++;
        if (flags & WIRE_F_ALIVE)
                s->stats.alives_sent++;
        /* ACK, NACK and RESYNC are kept for a resend as well (not ALIVE). */
        if (s->settings.mode == CONFIG_MODE_FTFW && (flags & WIRE_F_RANGE_MASK))
                rs_append(s, &(RsEntry) { .seq = seq, .live = true, .control = true,
                                          .flags = flags & WIRE_F_RANGE_MASK,
                                          .from = from, .to = to });
        return 0;
}

static int encode_object(Sync *s, uint8_t *buf, WireType type, CtKind kind, const void *obj,
                         uint8_t flags, uint32_t seq) {
        if (kind == CT_KIND_CT)
                return wire_encode_ct(buf, WIRE_MESSAGE_MAX, type, flags, seq, obj,
                                      &s->settings.encode);
        return wire_encode_expect(buf, WIRE_MESSAGE_MAX, type, flags, seq, obj,
                                  &s->settings.encode);
}

static int send_object(Sync *s, WireType type, CtKind kind, const void *obj) {
        uint8_t msg[WIRE_MESSAGE_MAX];
        uint8_t flags;
        uint32_t seq;
        int len, r;

        flags = hello_flags(s);
        seq = seq_next(s);
        len = encode_object(s, msg, type, kind, obj, flags, seq);
        if (len < 0) {
                s->stats.encode_failed++;
                return len;
        }
        r = put_message(s, msg, (size_t) len);
        if (r < 0) {
                s->stats.encode_failed++;
                return r;
        }
        if (s->settings.mode == CONFIG_MODE_FTFW) {
                RsChunk *chunk;
                uint8_t *copy = rs_msg_alloc(s, (size_t) len, &chunk);

                if (!copy)
                        return -ENOMEM;
                memcpy(copy, msg, (size_t) len);
                rs_append(s, &(RsEntry) { .seq = seq, .live = true, .len = (uint16_t) len,
                                          .msg = copy, .chunk = chunk });
        }
        return 0;
}

int sync_queue_ct(Sync *s, WireType type, const CtEntry *e) {
        if (type > WIRE_CT_DEL)
                return -EINVAL;
        return send_object(s, type, CT_KIND_CT, e);
}

int sync_queue_expect(Sync *s, WireType type, const CtExpect *x) {
        if (type < WIRE_EXP_NEW || type > WIRE_EXP_DEL)
                return -EINVAL;
        return send_object(s, type, CT_KIND_EXPECT, x);
}

/* Retransmit one data message of the resend queue with the object's current state and a new
 * sequence number: what is still in the internal cache goes as it is now (NEW stays NEW,
 * otherwise UPD); what is gone goes as DEL with the last state we sent. */
static void resend_data(Sync *s, const RsEntry *e) {
        WireFrame f;
        WireMessage m;
        size_t off = 0;

        if (wire_frame_next(e->msg, e->len, &off, &f, NULL) <= 0 ||
            wire_frame_decode(&f, WIRE_CLASSIFY_FULL, &m, NULL) < 0) {
                s->stats.encode_failed++;
                return;
        }
        if (m.kind == WIRE_KIND_CT) {
                WireType t = m.hdr.type;
                CtEntry cur;

                if (s->handlers.lookup) {
                        if (s->handlers.lookup(s, CT_KIND_CT, &m.ct, &cur, s->handlers.userdata))
                                t = t == WIRE_CT_NEW ? WIRE_CT_NEW : WIRE_CT_UPD;
                        else {
                                cur = m.ct;
                                t = WIRE_CT_DEL;
                        }
                } else
                        cur = m.ct;
                (void) send_object(s, t, CT_KIND_CT, &cur);
        } else {
                WireType t = m.hdr.type;
                CtExpect cur;

                if (s->handlers.lookup) {
                        if (s->handlers.lookup(s, CT_KIND_EXPECT, &m.exp, &cur, s->handlers.userdata))
                                t = t == WIRE_EXP_NEW ? WIRE_EXP_NEW : WIRE_EXP_UPD;
                        else {
                                cur = m.exp;
                                t = WIRE_EXP_DEL;
                        }
                } else
                        cur = m.exp;
                (void) send_object(s, t, CT_KIND_EXPECT, &cur);
        }
        s->stats.resent++;
}

/* The peer has it: free the message, leave a tombstone for rs_trim_front(). */
static bool rs_entry_done(Sync *s, RsEntry *e) {
        if (!e->live)
                return false;
        rs_msg_release(s, e);
        e->live = false;
        s->rs_live--;
        return true;
}

/* ACK(from, to): forget what the peer has. */
static void refresh_note(Sync *s, bool data);

static void handle_ack(Sync *s, uint32_t from, uint32_t to) {
        if (s->refresh_pending && !s->refresh_acked && !seq_before(s->refresh_seq, from) &&
            !seq_after(s->refresh_seq, to)) {
                s->refresh_acked = true;
                refresh_note(s, false);
        } else if (s->refresh_pending && !s->refresh_acked && !s->refresh_data_seen &&
                   seq_after(from, s->refresh_seq)) {
                /* The peer acknowledges what we sent after our RESYNC but not the RESYNC: it
                 * went out before the peer listened (the first node to start), and a fresh
                 * peer never asks for what came before its start. Ask again. */
                log_info("the peer never got our resync request: asking again");
                (void) sync_request_resync(s);
        }
        if (s->peer_restarted) {
                size_t stale = rs_lower_bound(s, from), n = 0;

                for (size_t i = 0; i < stale; i++)
                        n += rs_entry_done(s, rs_at(s, i));
                if (n > 0)
                        log_debug("FT-FW: peer (re)started, %zu older messages dropped from the "
                                  "resend queue", n);
                s->peer_restarted = false;
        }
        for (size_t i = rs_lower_bound(s, from); i < s->rs_count; i++) {
                RsEntry *e = rs_at(s, i);

                if (seq_after(e->seq, to))
                        break;
                (void) rs_entry_done(s, e);
        }
        rs_trim_front(s);
}

/* NACK(from, to): send again what the peer lost, with new sequence numbers. */
static void handle_nack(Sync *s, uint32_t from, uint32_t to) {
        size_t begin = rs_lower_bound(s, from), end = begin, n;
        RsEntry *taken;

        while (end < s->rs_count && !seq_after(rs_at(s, end)->seq, to))
                end++;
        if (end == begin)
                return;

        /* Take the entries out first: resending appends to the same queue. */
        n = end - begin;
        taken = calloc(n, sizeof *taken);
        if (!taken)
                return;
        for (size_t i = 0; i < n; i++) {
                RsEntry *e = rs_at(s, begin + i);

                taken[i] = *e;
                if (e->live)
                        s->rs_live--;
                *e = (RsEntry) { .seq = e->seq };
        }
        for (size_t i = 0; i < n; i++) {
                if (!taken[i].live)
                        continue;
                if (taken[i].control) {
                        (void) send_control(s, taken[i].flags, taken[i].from, taken[i].to);
                        s->stats.resent++;
                } else
                        resend_data(s, &taken[i]);
                rs_msg_release(s, &taken[i]);
        }
        free(taken);
        rs_trim_front(s);
}

static int do_bulk(Sync *s) {
        log_info("sending bulk update");
        s->stats.bulks++;
        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &s->last_bulk_usec);
        if (s->handlers.bulk) {
                s->in_bulk = true;
                s->handlers.bulk(s, s->handlers.userdata);
                s->in_bulk = false;
        }
        return 0;
}

static int on_peer_bulk(sd_event_source *es, uint64_t usec, void *userdata) {
        return do_bulk(userdata);
}

/* A peer's RESYNC costs a bulk of the whole cache: at most one per BULK_INTERVAL_USEC, so that a
 * flood of RESYNC messages (a confused or hostile peer) cannot keep us sending. Requests that
 * come meanwhile are served by one bulk at the end of the interval. */
#define BULK_INTERVAL_USEC USEC_PER_SEC

static void schedule_peer_bulk(Sync *s) {
        uint64_t now = 0, when;
        int enabled = SD_EVENT_OFF;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        log_info("resync requested by other node");
        if (s->bulk_source && sd_event_source_get_enabled(s->bulk_source, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF) {
                s->stats.resyncs_coalesced++;
                return;
        }
        when = s->stats.bulks > 0 && now < s->last_bulk_usec + BULK_INTERVAL_USEC ?
                       s->last_bulk_usec + BULK_INTERVAL_USEC : now;
        if (!s->bulk_source) {
                if (sd_event_add_time(s->event, &s->bulk_source, CLOCK_MONOTONIC, when, 0,
                                      on_peer_bulk, s) < 0) {
                        (void) do_bulk(s);
                        return;
                }
                (void) sd_event_source_set_description(s->bulk_source, "sync-peer-bulk");
        } else
                (void) sd_event_source_set_time(s->bulk_source, when);
        (void) sd_event_source_set_enabled(s->bulk_source, SD_EVENT_ONESHOT);
}

/* ---- receiving ---- */

typedef enum SeqClass {
        SEQ_UNSET,
        SEQ_IN_SYNC,
        SEQ_AFTER,
        SEQ_BEFORE,
} SeqClass;

static SeqClass seq_classify(Sync *s, uint32_t seq) {
        if (!s->seq_known)
                return SEQ_UNSET;
        if (seq == s->last_seq_recv + 1)
                return SEQ_IN_SYNC;
        if (seq_after(seq, s->last_seq_recv + 1))
                return SEQ_AFTER;
        return SEQ_BEFORE;
}

static void window_step(Sync *s, uint32_t seq) {
        if (!s->ack_from_set) {
                s->ack_from = seq;
                s->ack_from_set = true;
        }
        if (s->window > 0)
                s->window--;
        if (s->window == 0) {
                (void) send_control(s, WIRE_F_ACK, s->ack_from, seq);
                s->window = MAX(s->settings.ack_window_size, 1u);
                s->ack_from_set = false;
        }
}

/* FT-FW's view of one message header: true if it is to be processed. */
static bool ftfw_accept(Sync *s, const WireHeader *h) {
        SeqClass c;

        if (h->flags & WIRE_F_HELLO_BACK && s->hello == HELLO_SAY) {
                s->hello = HELLO_DONE;
                log_debug("FT-FW: hello handshake done");
        }
        /* Only the first HELLO of a handshake starts a new sequence space; the peer goes on
         * saying HELLO until our HELLO_BACK arrives, and gaps meanwhile are real losses that
         * 1.4.7 would never notice. */
        if ((h->flags & WIRE_F_HELLO) && s->peer_saying_hello && s->seq_known &&
            !seq_before(h->seq, s->last_seq_recv + 1))
                s->say_hello_back = true;
        else if (h->flags & WIRE_F_HELLO) {
                /* The peer (re)started: its sequence numbers begin anew, and what it never
                 * acknowledged from before cannot be asked for any more. Only at the first HELLO
                 * of its handshake: it says HELLO on everything until our HELLO_BACK arrives,
                 * and on a lossy link that may take a while (1.4.7 drops the queue each time,
                 * losing what was sent meanwhile). What was sent before it started is dropped
                 * at its first ACK: it starts counting at the first message it got, so it will
                 * never ask for anything before that. */
                s->say_hello_back = true;
                if (s->ack_from_set && seq_before(h->seq, s->ack_from))
                        s->ack_from = h->seq;
                if (!s->peer_saying_hello) {
                        /* a new sequence space of a peer we knew: it restarted. What it
                         * destroyed while it was down was never sent: ask for its whole cache,
                         * and what that does not refresh goes (refresh_end). */
                        bool restarted = s->seq_known;

                        s->stats.peer_restarts += restarted;
                        s->peer_restarted = true;
                        s->peer_saying_hello = true;
                        s->jump_pending = false;
                        if (restarted)
                                (void) sync_request_resync(s);
                }
                window_step(s, h->seq);
                return true;
        } else
                s->peer_saying_hello = false;

        c = seq_classify(s, h->seq);
        switch (c) {
        case SEQ_UNSET:
        case SEQ_IN_SYNC:
                if (s->jump_pending && ++s->jump_confirmations >= JUMP_CONFIRM)
                        s->jump_pending = false;
                window_step(s, h->seq);
                return true;
        case SEQ_AFTER: {
                uint32_t expected = s->last_seq_recv + 1;

                if (h->seq - expected >= JUMP_GAP_MIN) {
                        if (!s->jump_pending) {
                                s->jump_from = s->last_seq_recv;
                                s->jump_lost = s->jump_gaps = 0;
                        }
                        s->jump_pending = true;
                        s->jump_confirmations = 0;
                }
                if (s->jump_pending) {
                        s->jump_lost += h->seq - expected;
                        s->jump_gaps++;
                }

                s->stats.seq_lost += h->seq - expected;
                s->stats.seq_gaps++;
                if (s->ack_from_set)
                        (void) send_control(s, WIRE_F_ACK, s->ack_from, expected - 1);
                (void) send_control(s, WIRE_F_NACK, expected, h->seq - 1);
                s->ack_from = h->seq;
                s->ack_from_set = true;
                s->window = MAX(s->settings.ack_window_size, 2u) - 1;
                return true;
        }
        case SEQ_BEFORE:
        default:
                if (s->jump_pending && h->seq == s->jump_from + 1) {
                        /* the sequence we had goes on: the jump was not the peer's */
                        s->stats.seq_jumps_undone++;
                        s->stats.seq_lost -= MIN(s->jump_lost, s->stats.seq_lost);
                        s->stats.seq_gaps -= MIN(s->jump_gaps, s->stats.seq_gaps);
                        log_warning("FT-FW: a message numbered %" PRIu32 " jumped ahead of the "
                                    "peer's sequence, which goes on at %" PRIu32 ": ignoring the "
                                    "jump", s->last_seq_recv, h->seq);
                        s->jump_pending = false;
                        s->ack_from_set = false;
                        s->window = MAX(s->settings.ack_window_size, 1u);
                        window_step(s, h->seq);
                        return true;
                }
                s->stats.seq_before++;
                return false;
        }
}

static void notrack_count(Sync *s, const WireHeader *h) {
        switch (seq_classify(s, h->seq)) {
        case SEQ_AFTER:
                s->stats.seq_lost += h->seq - (s->last_seq_recv + 1);
                s->stats.seq_gaps++;
                break;
        case SEQ_BEFORE:
                s->stats.seq_before++;
                break;
        default:
                break;
        }
}

static void count_bad_header(Sync *s) {
        wire_stats_count(&s->stats.wire, WIRE_REASON_BAD_HEADER);
}

/* Protocol stage (spec §1.6 step 6) for FT-FW and NOTRACK: true = go on with the message. */
static bool protocol_accept(Sync *s, const WireFrame *f, WireClass cls) {
        const WireHeader *h = &f->hdr;

        if (cls == WIRE_CLASS_CONTROL && (h->flags & (WIRE_F_ACK | WIRE_F_NACK))) {
                uint32_t from, to;

                if (s->settings.mode != CONFIG_MODE_FTFW) {
                        count_bad_header(s);
                        return false;
                }
                from = be32_at(f->data + 8);
                to = be32_at(f->data + 12);
                if (seq_before(to, from)) {
                        count_bad_header(s);
                        return false;
                }
        }

        if (s->settings.mode == CONFIG_MODE_FTFW) {
                if (!ftfw_accept(s, h))
                        return false;
        } else
                notrack_count(s, h);

        s->last_seq_recv = h->seq;
        s->seq_known = true;
        return true;
}

static void handle_control(Sync *s, const WireMessage *m) {
        uint8_t flags = m->hdr.flags;

        if (flags & WIRE_F_ACK) {
                s->stats.acks_recv++;
                handle_ack(s, m->control.from, m->control.to);
        } else if (flags & WIRE_F_NACK) {
                s->stats.nacks_recv++;
                handle_nack(s, m->control.from, m->control.to);
        } else if (flags & WIRE_F_RESYNC) {
                s->stats.resyncs_recv++;
                schedule_peer_bulk(s);
        }
        /* ALIVE: nothing to do, its sequence number was noted. */
}

/* ---- the refresh after a RESYNC of ours, and InSync ---- */

static void set_in_sync(Sync *s, bool in_sync) {
        if (s->in_sync == in_sync)
                return;
        s->in_sync = in_sync;
        log_info("%s", in_sync ? "in sync: the peers' states are all here" :
                                 "not in sync until the peers' states are all here again");
        if (s->handlers.in_sync_changed)
                s->handlers.in_sync_changed(s, in_sync, s->handlers.userdata);
}

/* Proof that the peers are answering our RESYNC. FT-FW: their ACK of it (the RESYNC is sent
 * reliably, and a peer queues its bulk when it takes the RESYNC). NOTRACK, which has no ACK:
 * their data, or for InSync alone (no purge) any message. */
static bool refresh_answered(const Sync *s, bool for_purge) {
        if (s->settings.mode == CONFIG_MODE_FTFW)
                return s->refresh_acked;
        return s->refresh_data_seen || (!for_purge && s->refresh_heard);
}

static int on_refresh_quiet(sd_event_source *es, uint64_t usec, void *userdata) {
        Sync *s = userdata;
        uint64_t now = usec;
        size_t purged = 0;
        bool purge;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (!s->refresh_pending || !refresh_answered(s, false))
                return 0;       /* the next evidence arms the timer again */
        if (now < s->refresh_last_mono + REFRESH_QUIET_USEC) {
                (void) sd_event_source_set_time(es, s->refresh_last_mono + REFRESH_QUIET_USEC);
                (void) sd_event_source_set_enabled(es, SD_EVENT_ONESHOT);
                return 0;
        }
        s->refresh_pending = false;
        purge = refresh_answered(s, true) && s->handlers.refresh_end;
        if (purge)
                purged = s->handlers.refresh_end(s, s->handlers.userdata);
        s->stats.refreshes++;
        s->stats.refresh_purged += purged;
        if (purge)
                log_info("resync from the peers done: %zu objects they no longer have removed "
                         "from the external cache", purged);
        else
                log_info("resync from the peers done");
        set_in_sync(s, true);
        return 0;
}

/* Something of the peers' answer came: the bulk is over REFRESH_QUIET_USEC after the last. */
static void refresh_note(Sync *s, bool data) {
        uint64_t now;

        if (!s->refresh_pending)
                return;
        if (sd_event_now(s->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        s->refresh_data_seen |= data;
        s->refresh_heard = true;
        s->refresh_last_mono = now;
        if (!s->refresh_source) {
                if (sd_event_add_time(s->event, &s->refresh_source, CLOCK_MONOTONIC,
                                      now + REFRESH_QUIET_USEC, 0, on_refresh_quiet, s) < 0)
                        return;
                (void) sd_event_source_set_description(s->refresh_source, "sync-refresh");
                return;
        }
        {
                int enabled = SD_EVENT_OFF;

                /* armed: it looks at refresh_last_mono when it fires */
                if (sd_event_source_get_enabled(s->refresh_source, &enabled) >= 0 &&
                    enabled != SD_EVENT_OFF)
                        return;
        }
        (void) sd_event_source_set_time(s->refresh_source, now + REFRESH_QUIET_USEC);
        (void) sd_event_source_set_enabled(s->refresh_source, SD_EVENT_ONESHOT);
}

static void refresh_begin(Sync *s) {
        if (s->handlers.refresh_begin)
                s->handlers.refresh_begin(s, s->handlers.userdata);
        s->refresh_pending = true;
        s->refresh_data_seen = s->refresh_acked = s->refresh_heard = false;
        if (s->refresh_source)
                (void) sd_event_source_set_enabled(s->refresh_source, SD_EVENT_OFF);
        set_in_sync(s, false);
}

bool sync_in_sync(const Sync *s) {
        return s->in_sync;
}

void sync_assume_in_sync(Sync *s) {
        if (!s->refresh_pending)
                set_in_sync(s, true);
}

void sync_check_peer(Sync *s) {
        if (s->peer_lost || sync_peer_state(s) != SYNC_PEER_LOST)
                return;
        s->peer_lost = true;
        log_warning("peer lost: nothing valid from it for %" PRIu64 " ms",
                    s->settings.peer_timeout_usec / USEC_PER_MSEC);
        set_in_sync(s, false);
}

int sync_receive(Sync *s, const uint8_t *buf, size_t size) {
        WireClassify how = s->settings.mode == CONFIG_MODE_ALARM ? WIRE_CLASSIFY_FLAGS_ONLY :
                                                                   WIRE_CLASSIFY_FULL;
        size_t offset = 0;
        int valid = 0;

        for (;;) {
                WireMessage m;
                WireFrame f;
                WireClass cls;
                int r;

                r = wire_frame_next(buf, size, &offset, &f, &s->stats.wire);
                if (r == 0)
                        break;
                if (r < 0)
                        continue;

                if (s->settings.mode == CONFIG_MODE_ALARM) {
                        /* ALARM knows no control messages: anything with a flag is ignored. */
                        if (f.hdr.flags != 0)
                                continue;
                        cls = WIRE_CLASS_DATA;
                } else {
                        cls = wire_header_classify(&f.hdr, how);
                        if (cls == WIRE_CLASS_BAD) {
                                count_bad_header(s);
                                continue;
                        }
                        if (!protocol_accept(s, &f, cls))
                                continue;
                }
                valid++;
                s->stats.msgs_recv++;

                if (wire_frame_decode(&f, how, &m, &s->stats.wire) < 0)
                        continue;
                if (m.kind == WIRE_KIND_CONTROL)
                        handle_control(s, &m);
                else {
                        if (s->refresh_pending)
                                refresh_note(s, true);
                        if (s->handlers.message)
                                s->handlers.message(s, &m, s->handlers.userdata);
                }
        }
        if (valid > 0) {
                bool first_contact = !s->peer_seen;

                peer_seen(s);
                if (s->refresh_pending && !s->refresh_heard)
                        refresh_note(s, false);
                /* NOTRACK (no ACK to tell): our RESYNC may have gone out before the peer
                 * listened (the first node to start): ask again at the first contact. FT-FW
                 * learns it from the peer's ACKs (handle_ack()). */
                if (first_contact && s->refresh_pending && !s->refresh_data_seen &&
                    s->settings.mode == CONFIG_MODE_NOTRACK) {
                        log_info("peer seen for the first time: asking again for its states");
                        (void) sync_request_resync(s);
                }
                if (s->peer_lost) {
                        s->peer_lost = false;
                        log_info("peer back");
                        /* what changed meanwhile may be lost for good: ask for everything */
                        if (s->settings.mode != CONFIG_MODE_ALARM)
                                (void) sync_request_resync(s);
                }
                /* ALARM has no RESYNC: its peers send everything again every RefreshTime */
                if (s->settings.mode == CONFIG_MODE_ALARM)
                        set_in_sync(s, true);
        }
        return valid;
}

/* ---- alive timer ---- */

static int on_alive(sd_event_source *es, uint64_t usec, void *userdata) {
        Sync *s = userdata;

        if (s->settings.mode == CONFIG_MODE_FTFW && s->ack_from_set && s->seq_known) {
                (void) send_control(s, WIRE_F_ACK, s->ack_from, s->last_seq_recv);
                s->ack_from_set = false;
        } else
                (void) send_control(s, WIRE_F_ALIVE, 0, 0);
        sync_flush(s);  /* re-arms the timer */
        return 0;
}

/* ---- operations ---- */

int sync_request_resync(Sync *s) {
        int r;

        if (s->settings.mode == CONFIG_MODE_ALARM)
                return -EOPNOTSUPP;
        log_info("resync requested");
        /* What the peers send from now on is taken as it comes: a wrong sequence number noted
         * before (a forged message far ahead) must not make us drop their answer. */
        s->seq_known = false;
        s->jump_pending = false;
        refresh_begin(s);
        r = send_control(s, WIRE_F_RESYNC, 0, 0);
        s->refresh_seq = s->next_seq - 1;
        return r;
}

int sync_send_bulk(Sync *s) {
        if (s->settings.mode == CONFIG_MODE_ALARM)
                return -EOPNOTSUPP;
        if (s->in_bulk)
                return -EBUSY;
        return do_bulk(s);
}

/* ---- life cycle ---- */

int sync_new(sd_event *e, const SyncSettings *st, const SyncHandlers *h, Sync **ret) {
        _cleanup_(sync_freep) Sync *s = NULL;
        int r;

        assert(e && st && h && ret);
        if (st->mode != CONFIG_MODE_FTFW && st->mode != CONFIG_MODE_NOTRACK &&
            st->mode != CONFIG_MODE_ALARM)
                return -EINVAL;
        if (st->payload < WIRE_CONTROL_SIZE)
                return -EINVAL;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->settings = *st;
        if (s->settings.alive_usec == 0)
                s->settings.alive_usec = ALIVE_USEC_DEFAULT;
        if (s->settings.peer_timeout_usec == 0)
                s->settings.peer_timeout_usec = PEER_TIMEOUT_ALIVES * s->settings.alive_usec;
        s->handlers = *h;
        s->window = MAX(st->ack_window_size, 1u);

        s->buf = malloc(st->payload);
        if (!s->buf)
                return -ENOMEM;
        wire_builder_init(&s->builder, s->buf, st->payload);

        r = sd_event_add_defer(e, &s->flush_source, on_flush, s);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(s->flush_source, SD_EVENT_OFF);
        /* Lower priority than the sockets: fill datagrams from everything that is ready first. */
        (void) sd_event_source_set_priority(s->flush_source, SD_EVENT_PRIORITY_IDLE);
        (void) sd_event_source_set_description(s->flush_source, "sync-flush");

        if (st->mode != CONFIG_MODE_ALARM) {
                r = sd_event_add_time_relative(e, &s->alive_source, CLOCK_MONOTONIC,
                                               s->settings.alive_usec, 0, on_alive, s);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(s->alive_source, "sync-alive");
        }

        *ret = TAKE_PTR(s);
        return 0;
}

Sync *sync_free(Sync *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->flush_source);
        sd_event_source_disable_unref(s->alive_source);
        sd_event_source_disable_unref(s->bulk_source);
        sd_event_source_disable_unref(s->refresh_source);
        rs_clear(s);
        free(s->rs_chunk);
        free(s->rs);
        free(s->buf);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
