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
        /* A RESYNC of ours went out: start a new generation of the external caches, and when
         * the peers' bulk is over (the link quiet for 2 s after their data came), purge what it
         * did not refresh; returns how many objects went. NULL: no purge (no external cache). */
        void (*refresh_begin)(Sync *s, void *userdata);
        size_t (*refresh_end)(Sync *s, void *userdata);
        /* InSync changed (sync_in_sync()). */
        void (*in_sync_changed)(Sync *s, bool in_sync, void *userdata);
        void *userdata;
} SyncHandlers;

typedef struct SyncSettings {
        ConfigMode mode;                /* FTFW, NOTRACK or ALARM */
        uint32_t resend_queue_size;     /* FT-FW: ResendQueueSize */
        uint32_t ack_window_size;       /* FT-FW: ACKWindowSize */
        size_t payload;                 /* datagram capacity (channel_set_payload) */
        WireEncodeOptions encode;       /* TIMEOUT / TCP window scale attributes */
        uint64_t alive_usec;            /* TX silence before ALIVE/ACK; 0 = 1 s */
        uint64_t peer_timeout_usec;     /* silence after which the peer counts as lost;
                                         * 0 = 3 x alive_usec (the peer's ALIVE interval
                                         * is the same as ours by default) */
} SyncSettings;

/* The peer as the sync engine knows it: "unknown" until a valid message came, "alive" while
 * messages keep coming, "lost" after peer_timeout_usec of silence. */
typedef enum SyncPeerState {
        SYNC_PEER_UNKNOWN,
        SYNC_PEER_ALIVE,
        SYNC_PEER_LOST,
        _SYNC_PEER_STATE_MAX,
        _SYNC_PEER_STATE_INVALID = -EINVAL,
} SyncPeerState;

/* "unknown", "alive", "lost" */
const char *sync_peer_state_to_string(SyncPeerState s);
SyncPeerState sync_peer_state_from_string(const char *s);

typedef struct SyncStats {
        WireStats wire;                 /* receive-side rejections */
        uint64_t seq_lost;              /* messages missing in sequence gaps */
        uint64_t seq_before;            /* messages with an old sequence number (dropped) */
        uint64_t seq_gaps;              /* sequence gaps seen (each adds to seq_lost) */
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
        uint64_t peer_restarts;         /* FT-FW: the peer started a new sequence space (HELLO) */
        uint64_t seq_jumps_undone;      /* FT-FW: jumps far ahead that the sequence disproved */
        uint64_t refreshes;             /* resyncs of ours answered and finished */
        uint64_t refresh_purged;        /* external objects the peers' bulks no longer had */
        uint64_t peer_last_seen_usec;   /* CLOCK_REALTIME of the last valid message; 0 = never */
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
/*
 * InSync: true once a complete bulk of the peers arrived after our RESYNC (StartupResync, -n,
 * their restart, their return after being lost), false while that resync is under way and while
 * the peer is lost. 1.4.x sends no end-of-bulk marker: the bulk is complete when the peers
 * answered (FT-FW: they acknowledged our RESYNC; NOTRACK: their data came) and then sent no data
 * for 2 s. ALARM (no RESYNC): true while the peer is heard.
 */
bool sync_in_sync(const Sync *s);
/* The states are here without a bulk (restored from systemd's fd store): InSync unless a resync
 * is under way. */
void sync_assume_in_sync(Sync *s);
/* Call regularly (every second): notices a peer that went silent (InSync false). */
void sync_check_peer(Sync *s);
/* Whether the HELLO handshake with the peer finished (FT-FW). */
bool sync_hello_done(const Sync *s);
/* The peer's state now (the loop's CLOCK_MONOTONIC time against the last valid message). */
SyncPeerState sync_peer_state(const Sync *s);
