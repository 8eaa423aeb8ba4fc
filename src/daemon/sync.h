/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The replication protocol of conntrackd 1.4.x (spec §1.9, §2.2-2.4): FT-FW (sequence numbers,
 * ACK window, NACK, resend queue, HELLO handshake, alive timer), NOTRACK (best effort, ALIVE)
 * and ALARM (no control messages at all). A Sync turns local changes into wire messages packed
 * into datagrams up to the link payload, and received datagrams into messages for the caller
 * to apply. It owns no socket and no cache: datagrams leave through the 'send' handler, valid
 * data messages arrive through the 'message' handler, and the internal cache is reached through
 * 'lookup' (current state of an object to resend) and 'bulk' (queue everything).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "ct-entry.h"
#include "macro.h"
#include "wire.h"

typedef struct Sync Sync;

typedef struct SyncHandlers {
        /* Write one datagram to the peers. Negative: counted as a send error, nothing more. */
        int (*send)(Sync *s, const uint8_t *buf, size_t size, void *userdata);
        /* A valid data message (CT_* or EXP_*) to apply to the external cache or the kernel. */
        void (*message)(Sync *s, const WireMessage *m, void *userdata);
        /* The current internal state of the object with this identity (CtEntry / CtExpect),
         * for a retransmission. false: the object is gone (a DEL is resent). NULL handler: the
         * stored copy is resent as it was. */
        bool (*lookup)(Sync *s, CtKind kind, const void *identity, void *ret, void *userdata);
        /* Queue every object of the internal caches (sync_queue_*), for RESYNC and bulk sends. */
        void (*bulk)(Sync *s, void *userdata);
        void *userdata;
} SyncHandlers;

typedef struct SyncSettings {
        ConfigMode mode;                /* FTFW, NOTRACK or ALARM */
        uint32_t resend_queue_size;     /* FT-FW: ResendQueueSize */
        uint32_t ack_window_size;       /* FT-FW: ACKWindowSize */
        size_t payload;                 /* datagram capacity (channel_set_payload) */
        WireEncodeOptions encode;       /* TIMEOUT / TCP window scale attributes */
        uint64_t alive_usec;            /* TX silence before ALIVE/ACK; 0 = 1 s */
} SyncSettings;

typedef struct SyncStats {
        WireStats wire;                 /* receive-side rejections */
        uint64_t seq_lost;              /* messages missing in sequence gaps */
        uint64_t seq_before;            /* messages with an old sequence number (dropped) */
        uint64_t msgs_sent, msgs_recv;  /* messages, data and control */
        uint64_t datagrams_sent;
        uint64_t send_failed;           /* datagrams the send handler refused */
        uint64_t acks_sent, acks_recv;
        uint64_t nacks_sent, nacks_recv;
        uint64_t resyncs_sent, resyncs_recv;
        uint64_t alives_sent;
        uint64_t resent;                /* messages retransmitted after a NACK */
        uint64_t rsqueue_dropped;       /* oldest resend-queue entries dropped (queue full) */
        uint64_t encode_failed;         /* objects that could not be encoded */
        uint64_t bulks;                 /* bulk sends done */
        uint64_t resyncs_coalesced;     /* peer RESYNCs served by an already scheduled bulk */
} SyncStats;

int sync_new(sd_event *e, const SyncSettings *st, const SyncHandlers *h, Sync **ret);
Sync *sync_free(Sync *s);
DEFINE_CLEANUP_FUNC(Sync *, sync_free);

/* Local changes. type: WIRE_CT_NEW/UPD/DEL (or the EXP_ ones). The message is built at once and
 * leaves with the next datagram (at the latest at the end of this loop iteration). */
int sync_queue_ct(Sync *s, WireType type, const CtEntry *e);
int sync_queue_expect(Sync *s, WireType type, const CtExpect *x);
/* Write the datagram being filled now, if any. */
void sync_flush(Sync *s);

/* A datagram from a peer. Returns the number of valid messages (data or control) in it, so the
 * caller can make its link the active one; rejections are only counted. */
int sync_receive(Sync *s, const uint8_t *buf, size_t size);

/* -n: ask the peers for their internal caches. -EOPNOTSUPP in ALARM. */
int sync_request_resync(Sync *s);
/* -B: queue the whole internal cache (through the 'bulk' handler). -EOPNOTSUPP in ALARM. */
int sync_send_bulk(Sync *s);

const SyncStats *sync_stats(const Sync *s);
ConfigMode sync_mode(const Sync *s);
/* FT-FW resend queue: entries now, and each entry oldest first (control?, seq, flags). */
size_t sync_rsqueue_size(const Sync *s);
typedef int (*SyncRsqueueFunc)(bool control, uint32_t seq, uint8_t flags, void *userdata);
int sync_rsqueue_foreach(const Sync *s, SyncRsqueueFunc f, void *userdata);
/* Whether the HELLO handshake with the peer finished (FT-FW). */
bool sync_hello_done(const Sync *s);
