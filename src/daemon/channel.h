/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The dedicated links of the Sync section (spec §3): up to four channels of one type (UDP
 * unicast, IPv4/IPv6 multicast or TCP), all receiving all the time, one of them active for
 * sending. A ChannelSet owns the sockets, their sd-event sources, the per-link counters, a
 * bounded queue of datagrams that could not be written yet, and an rtnetlink watcher that moves
 * the active role away from a link that goes down (as 1.4.x does).
 *
 * The set knows nothing of the sync protocol: it moves whole datagrams (UDP) or a byte stream
 * cut back into the same datagrams (TCP: each buffer handed to channel_set_send() arrives as one
 * call of the receive callback on the other side, reassembled from the 8-byte message headers
 * it carries, spec §1.1).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "macro.h"

typedef struct ChannelSet ChannelSet;

/* Per link, as `conntrackd -s link` shows them (stats-keys.h "link<N>.*"). */
typedef struct ChannelStats {
        uint64_t bytes_sent, bytes_recv;
        uint64_t pkts_sent, pkts_recv;
        uint64_t err_sent, err_recv;
} ChannelStats;

typedef enum ChannelLinkStatus {
        CHANNEL_LINK_RUNNING,           /* "RUNNING": IFF_UP and IFF_RUNNING */
        CHANNEL_LINK_NO_CARRIER,        /* "NO-CARRIER": up, no carrier */
        CHANNEL_LINK_DOWN,              /* "DOWN" */
        _CHANNEL_LINK_STATUS_MAX,
        _CHANNEL_LINK_STATUS_INVALID = -EINVAL,
} ChannelLinkStatus;

const char *channel_link_status_to_string(ChannelLinkStatus s);
ChannelLinkStatus channel_link_status_from_string(const char *s);

/* Queue of datagrams accepted by channel_set_send() but not written yet (socket buffer full,
 * TCP peer not connected): "txqueue"/"errorq" of `-s queue`. */
typedef struct ChannelQueueStats {
        uint64_t current;               /* datagrams waiting */
        uint64_t max;                   /* bound */
        uint64_t nospace;               /* datagrams dropped because the queue was full */
} ChannelQueueStats;

/*
 * Called for every datagram received on link 'index' (TCP: every reassembled datagram). The
 * buffer is valid during the call only. The callback tells the set, with
 * channel_set_mark_valid(), when the datagram held a valid message, which makes that link the
 * active one (spec §3.5).
 */
typedef void (*ChannelRecvFunc)(ChannelSet *s, unsigned index, const uint8_t *buf, size_t size,
                                void *userdata);

typedef struct ChannelSetOptions {
        const ChannelConfig *configs;   /* Sync's channel blocks, config order */
        size_t n_configs;
        /* Already bound receive sockets from socket activation, one per config (-1: open our
         * own). Ownership passes to the set on success. NULL = none. */
        const int *activated_fds;
        uint32_t error_queue_length;    /* TCP: ErrorQueueLength (buffers kept while down) */
        ChannelRecvFunc recv;
        void *userdata;
} ChannelSetOptions;

/* Open every channel and attach it to the loop. Errors name the link ("UDP link 1 (eth1):
 * cannot bind 10.0.0.1:3780: Address in use") in the log, and nothing stays open. */
int channel_set_new(sd_event *e, const ChannelSetOptions *o, ChannelSet **ret);
/* A set of one channel over an fd of a SOCK_SEQPACKET/SOCK_DGRAM socketpair (tests: two
 * managers in one process). payload = the datagram capacity to report. */
int channel_set_new_socketpair(sd_event *e, int fd, size_t payload, ChannelRecvFunc recv,
                               void *userdata, ChannelSet **ret);
ChannelSet *channel_set_free(ChannelSet *s);
DEFINE_CLEANUP_FUNC(ChannelSet *, channel_set_free);

/* Send one datagram on the active link. 0 when written or queued; -ENOBUFS when the queue is
 * full (counted in nospace); -ENOLINK when no link is usable. Never blocks. */
int channel_set_send(ChannelSet *s, const uint8_t *buf, size_t size);
/* Capacity of one datagram on the active link: MTU - 28 (UDP/multicast) or - 40 (TCP), as
 * wire_mtu_payload(); what the sync layer fills a datagram up to. */
size_t channel_set_payload(const ChannelSet *s);
/* AuthKeyFile: from now on every unit sent is sealed and every unit received must be authentic
 * (sync-auth.h); the set owns auth. */
typedef struct SyncAuth SyncAuth;
int channel_set_set_auth(ChannelSet *s, SyncAuth *auth);
SyncAuth *channel_set_auth(const ChannelSet *s);     /* NULL when off */
/* A valid message arrived on link 'index': make it the active link if it is not. */
void channel_set_mark_valid(ChannelSet *s, unsigned index);

size_t channel_set_count(const ChannelSet *s);
unsigned channel_set_active(const ChannelSet *s);
ChannelType channel_set_type(const ChannelSet *s, unsigned index);
const char *channel_set_device(const ChannelSet *s, unsigned index);     /* Interface */
ChannelLinkStatus channel_set_link_status(const ChannelSet *s, unsigned index);
const ChannelStats *channel_set_stats(const ChannelSet *s, unsigned index);
/* TCP only: whether our client connection / the accepted server connection is up. */
bool channel_set_tcp_client_connected(const ChannelSet *s, unsigned index);
bool channel_set_tcp_server_connected(const ChannelSet *s, unsigned index);
void channel_set_queue_stats(const ChannelSet *s, ChannelQueueStats *ret);
