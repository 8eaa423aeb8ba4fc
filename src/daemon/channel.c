/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dedicated links (spec §3): UDP unicast, IPv4/IPv6 multicast and TCP channels, the bounded
 * queue of datagrams that could not be written yet, and the rtnetlink watcher behind link
 * failover (spec §3.5).
 *
 * Sockets per link:
 *   UDP/multicast  recv_fd  bound datagram socket (group:port for multicast, joined on the link)
 *                  send_fd  unbound datagram socket, sendto() the destination / group
 *   TCP            recv_fd  listening socket; conn_fd the one accepted peer (what we read)
 *                  send_fd  our client connection to Destination:Port (what we write)
 *   socketpair     recv_fd == send_fd, a connected SOCK_SEQPACKET/SOCK_DGRAM socket
 *
 * The send queue belongs to the set, not to a link: what waits is written to whichever link is
 * active when the socket can take it, in the order channel_set_send() was called. A TCP
 * datagram that was written in part stays at the head with the offset reached; it is restarted
 * from its first byte on a new connection (the receiver drops the partial message with the old
 * connection).
 *
 * TCP carries a byte stream with no datagram boundaries (1.4.x peers add no framing of their
 * own): the receiver cuts it at message boundaries, from the length in each 8-byte header, and
 * hands every run of complete messages that one read brought to the receive callback; a
 * trailing partial message waits for the next read (spec §1.1).
 */

#include <arpa/inet.h>
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "channel.h"
#include "log.h"
#include "string-table.h"
#include "sync-auth.h"
#include "wire.h"

#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif

#define CHANNEL_UDP_QUEUE_MAX           4096u   /* datagrams waiting for a full socket */
#define CHANNEL_TCP_QUEUE_DEFAULT       128u    /* ErrorQueueLength when none is given */
#define CHANNEL_RCV_BUFFER_DEFAULT      (8u << 20)      /* RcvSocketBuffer when none is given */
#define CHANNEL_RECV_BURST              64u     /* reads per wake-up, for fairness */
#define CHANNEL_DRAIN_BURST             256u    /* queued datagrams written per wake-up */
#define CHANNEL_RECONNECT_USEC          USEC_PER_SEC
#define CHANNEL_ENOBUFS_RETRY_USEC      (10 * USEC_PER_MSEC)
#define RTNL_RECV_SIZE                  32768u

static const char *const channel_link_status_table[_CHANNEL_LINK_STATUS_MAX] = {
        [CHANNEL_LINK_RUNNING] = "RUNNING",
        [CHANNEL_LINK_NO_CARRIER] = "NO-CARRIER",
        [CHANNEL_LINK_DOWN] = "DOWN",
};

DEFINE_STRING_TABLE(channel_link_status, ChannelLinkStatus);

typedef union SockAddr {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage storage;
} SockAddr;

typedef struct QueueItem {
        size_t size;
        uint8_t data[];
} QueueItem;

/* A ring of datagrams, grown by doubling up to the bound of the set. */
typedef struct SendQueue {
        QueueItem **items;
        size_t allocated, head, n;
        size_t offset;          /* bytes of the head already written (TCP) ... */
        unsigned offset_link;   /* ... into this link's client connection */
        uint64_t nospace;
} SendQueue;

typedef struct ChannelLink {
        ChannelSet *set;
        unsigned index;
        ChannelConfig config;
        bool socketpair;
        bool seqpacket;
        bool peer_closed;               /* socketpair: the other end is gone */

        char label[64];                 /* "UDP link 0 (eth0)" */
        char field_channel[32];         /* "CHANNEL=udp0" */
        char field_device[48];          /* "INTERFACE=eth0" */
        char device[IF_NAMESIZE];
        int ifindex;
        unsigned mtu;
        unsigned flags;                 /* IFF_* as rtnetlink reports them */

        SockAddr dest;
        socklen_t dest_len;

        int recv_fd, send_fd, conn_fd;
        bool recv_fd_activated;
        sd_event_source *recv_source, *send_source, *conn_source, *reconnect_timer;

        /* TCP client */
        bool client_connecting, client_connected;
        uint64_t last_attempt_usec;
        bool connect_error_logged;
        /* TCP server side: the stream being cut into messages */
        uint8_t *rx;
        size_t rx_len;

        ChannelStats stats;
        RateLimit send_ratelimit, recv_ratelimit;
} ChannelLink;

struct ChannelSet {
        sd_event *event;
        ChannelLink links[CONFIG_CHANNELS_MAX];
        size_t n_links;
        unsigned active;
        bool no_link_logged;
        size_t payload;                 /* socketpair: as given */

        ChannelRecvFunc recv;
        void *userdata;
        uint8_t *buf;                   /* WIRE_RECV_BUFFER_SIZE, datagram links */

        SendQueue queue;
        size_t queue_max;
        sd_event_source *retry_timer;   /* after ENOBUFS: try again a little later */
        bool backoff;

        int rtnl_fd;
        sd_event_source *rtnl_source;
        uint8_t *rtnl_buf;

        SyncAuth *auth;                 /* AuthKeyFile: every unit sealed and checked */
        uint8_t *seal_buf;              /* WIRE_RECV_BUFFER_SIZE + SYNC_AUTH_OVERHEAD */
        RateLimit auth_ratelimit;
};

#define log_link_errno(l, level, error, fmt, ...)                                               \
        log_full_errno_fields(level, error, LOG_FIELDS((l)->field_channel, (l)->field_device),   \
                              "%s: " fmt, (l)->label, ##__VA_ARGS__)
#define log_link(l, level, fmt, ...) (void) log_link_errno(l, level, 0, fmt, ##__VA_ARGS__)

static const char *const type_label[_CHANNEL_TYPE_MAX] = {
        [CHANNEL_MULTICAST] = "Multicast",
        [CHANNEL_UDP] = "UDP",
        [CHANNEL_TCP] = "TCP",
};

static void link_arm_send(ChannelLink *l);
static void set_drain(ChannelSet *s);
static void tcp_client_lost(ChannelLink *l, int error);

/* ---- small helpers ---- */

static bool is_tcp(const ChannelLink *l) {
        return l->config.type == CHANNEL_TCP && !l->socketpair;
}

static bool is_multicast(const ChannelLink *l) {
        return l->config.type == CHANNEL_MULTICAST && !l->socketpair;
}

static socklen_t sockaddr_make(SockAddr *ret, int family, const CtAddr *a, uint16_t port,
                               int ifindex) {
        *ret = (SockAddr) {};
        if (family == AF_INET6) {
                ret->in6.sin6_family = AF_INET6;
                ret->in6.sin6_port = htons(port);
                if (a)
                        ret->in6.sin6_addr = a->in6;
                ret->in6.sin6_scope_id = (uint32_t) MAX(ifindex, 0);
                return sizeof ret->in6;
        }
        ret->in.sin_family = AF_INET;
        ret->in.sin_port = htons(port);
        if (a)
                ret->in.sin_addr.s_addr = a->ip;
        return sizeof ret->in;
}

static const char *sockaddr_to_string(const SockAddr *a, char *buf, size_t size) {
        char host[INET6_ADDRSTRLEN] = "?";

        if (a->sa.sa_family == AF_INET6) {
                (void) inet_ntop(AF_INET6, &a->in6.sin6_addr, host, sizeof host);
                snprintf(buf, size, "[%s]:%u", host, ntohs(a->in6.sin6_port));
        } else {
                (void) inet_ntop(AF_INET, &a->in.sin_addr, host, sizeof host);
                snprintf(buf, size, "%s:%u", host, ntohs(a->in.sin_port));
        }
        return buf;
}

static int set_int_option(int fd, int level, int name, int value) {
        return RET_NERRNO(setsockopt(fd, level, name, &value, sizeof value));
}

static int get_int_option(int fd, int level, int name, int *ret) {
        socklen_t len = sizeof *ret;

        return RET_NERRNO(getsockopt(fd, level, name, ret, &len));
}

/* SO_SNDBUFFORCE / SO_RCVBUFFORCE, or the capped option without the privilege. Warns only: the
 * link works with the kernel default. */
/*
 * SndSocketBuffer / RcvSocketBuffer; 0 is "not set". A receive buffer not set is
 * CHANNEL_RCV_BUFFER_DEFAULT, not the kernel's ~200 KiB: a bulk send or an event burst of the
 * peer arrives faster than one loop iteration reads it, and every datagram dropped there costs
 * a NACK and a resend (or, in NOTRACK, a lost state). The kernel takes the memory only while
 * datagrams wait.
 */
static void link_set_buffer(ChannelLink *l, int fd, bool send, uint32_t size) {
        int value, r;

        if (size == 0 && !send)
                size = CHANNEL_RCV_BUFFER_DEFAULT;
        if (size == 0)
                return;
        value = (int) MIN(size, (uint32_t) INT_MAX / 2);
        r = set_int_option(fd, SOL_SOCKET, send ? SO_SNDBUFFORCE : SO_RCVBUFFORCE, value);
        if (r == -EPERM)
                r = set_int_option(fd, SOL_SOCKET, send ? SO_SNDBUF : SO_RCVBUF, value);
        if (r < 0)
                log_link_errno(l, LOG_WARNING, r, "cannot set %s to %" PRIu32 " bytes: %m",
                               send ? "SndSocketBuffer" : "RcvSocketBuffer", size);
}

static int fd_make_nonblocking_cloexec(int fd) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return negative_errno();
        if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return negative_errno();
        flags = fcntl(fd, F_GETFD);
        if (flags < 0)
                return negative_errno();
        if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
                return negative_errno();
        return 0;
}

/* ---- the queue ---- */

static size_t queue_index(const SendQueue *q, size_t i) {
        return (q->head + i) % q->allocated;
}

static QueueItem *queue_head(const SendQueue *q) {
        return q->n > 0 ? q->items[q->head] : NULL;
}

static int queue_push(SendQueue *q, const uint8_t *buf, size_t size) {
        QueueItem *item;

        if (q->n == q->allocated) {
                size_t allocated = MAX(q->allocated * 2, (size_t) 16);
                QueueItem **items = calloc(allocated, sizeof *items);

                if (!items)
                        return -ENOMEM;
                for (size_t i = 0; i < q->n; i++)
                        items[i] = q->items[queue_index(q, i)];
                free(q->items);
                q->items = items;
                q->allocated = allocated;
                q->head = 0;
        }
        item = malloc(sizeof *item + size);
        if (!item)
                return -ENOMEM;
        item->size = size;
        memcpy(item->data, buf, size);
        q->items[queue_index(q, q->n)] = item;
        q->n++;
        return 0;
}

static void queue_pop(SendQueue *q) {
        assert(q->n > 0);
        free(q->items[q->head]);
        q->items[q->head] = NULL;
        q->head = (q->head + 1) % q->allocated;
        q->n--;
        q->offset = 0;
}

static void queue_clear(SendQueue *q) {
        while (q->n > 0)
                queue_pop(q);
        free(q->items);
        *q = (SendQueue) {};
}

/* ---- interfaces ---- */

static int interface_query(const char *name, int *ret_ifindex, unsigned *ret_mtu,
                           unsigned *ret_flags) {
        _cleanup_close_ int fd = -EBADF;
        struct ifreq ifr = {};

        if (strlen(name) >= sizeof ifr.ifr_name)
                return -ENODEV;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        strncpy(ifr.ifr_name, name, sizeof ifr.ifr_name - 1);
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
                return errno == ENODEV || errno == ENXIO ? -ENODEV : negative_errno();
        if (ret_ifindex)
                *ret_ifindex = ifr.ifr_ifindex;
        if (ioctl(fd, SIOCGIFMTU, &ifr) < 0)
                return negative_errno();
        if (ret_mtu)
                *ret_mtu = (unsigned) MAX(ifr.ifr_mtu, 0);
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return negative_errno();
        if (ret_flags)
                *ret_flags = (unsigned short) ifr.ifr_flags;
        return 0;
}

static ChannelLinkStatus link_status(const ChannelLink *l) {
        if (l->socketpair)
                return CHANNEL_LINK_RUNNING;
        if (!(l->flags & IFF_UP))
                return CHANNEL_LINK_DOWN;
        if (!(l->flags & IFF_RUNNING))
                return CHANNEL_LINK_NO_CARRIER;
        return CHANNEL_LINK_RUNNING;
}

/* ---- active link ---- */

static void set_active(ChannelSet *s, unsigned index) {
        ChannelLink *old = &s->links[s->active];

        if (index == s->active)
                return;
        /* Part of the head datagram went into the old link's stream: that connection carries a
         * broken message now; start over on a fresh one later, and send the whole datagram on
         * the new link. */
        if (s->queue.offset > 0 && is_tcp(old) && s->queue.offset_link == old->index)
                tcp_client_lost(old, 0);
        s->queue.offset = 0;
        s->active = index;
        link_arm_send(old);
        link_arm_send(&s->links[index]);
        set_drain(s);
}

/* Spec §3.5: on every link event, the active link is checked; when it is not both UP and
 * RUNNING, the first other link with UP or RUNNING takes over. */
static void set_check_active(ChannelSet *s) {
        ChannelLink *a = &s->links[s->active];

        if ((a->flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING)) {
                s->no_link_logged = false;
                return;
        }
        for (unsigned i = 0; i < s->n_links; i++) {
                ChannelLink *l = &s->links[i];

                if (i == s->active || !(l->flags & (IFF_UP | IFF_RUNNING)))
                        continue;
                set_active(s, i);
                s->no_link_logged = false;
                log_full_errno_fields(LOG_NOTICE, 0, LOG_FIELDS(l->field_channel, l->field_device),
                                      "device `%s' becomes dedicated link", l->device);
                return;
        }
        if (!s->no_link_logged)
                log_full_errno_fields(LOG_WARNING, 0, LOG_FIELDS(a->field_channel, a->field_device),
                                      "no dedicated links available!");
        s->no_link_logged = true;
}

void channel_set_mark_valid(ChannelSet *s, unsigned index) {
        ChannelLink *l;

        if (!s || index >= s->n_links || index == s->active)
                return;
        l = &s->links[index];
        log_link(l, LOG_INFO, "a valid message arrived, this link becomes the active one");
        set_active(s, index);
}

/* ---- sending ---- */

static size_t set_queue_bound(const ChannelSet *s) {
        return s->queue_max;
}

/*
 * Write bytes to a link. Returns the number written, -EAGAIN when the socket is full, -ENOBUFS
 * when the kernel is short of buffers, -ENOTCONN when TCP has no connection (a lost connection
 * is closed here and a new one scheduled), or another negative errno for a datagram that could
 * not be sent.
 */
static ssize_t link_write(ChannelLink *l, const uint8_t *buf, size_t size) {
        ssize_t n;

        if (is_tcp(l)) {
                if (!l->client_connected)
                        return -ENOTCONN;
                n = send(l->send_fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n >= 0)
                        return n;
                n = negative_errno();
                if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
                        return -EAGAIN;
                if (n == -ENOBUFS || n == -ENOMEM)
                        return -ENOBUFS;
                l->stats.err_sent++;
                tcp_client_lost(l, (int) n);
                return -ENOTCONN;
        }

        if (l->socketpair)
                n = send(l->send_fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL);
        else
                n = sendto(l->send_fd, buf, size, MSG_DONTWAIT | MSG_NOSIGNAL, &l->dest.sa,
                           l->dest_len);
        if (n >= 0)
                return n;
        n = negative_errno();
        if (n == -EAGAIN || n == -EWOULDBLOCK || n == -EINTR)
                return -EAGAIN;
        if (n == -ENOBUFS || n == -ENOMEM)
                return -ENOBUFS;
        return n;
}

static void link_count_send_error(ChannelLink *l, int error, size_t size) {
        char dst[64];

        l->stats.err_sent++;
        if (!ratelimit_below(&l->send_ratelimit))
                return;
        if (l->socketpair)
                log_link_errno(l, LOG_WARNING, error, "cannot send a datagram of %zu bytes: %m",
                               size);
        else
                log_link_errno(l, LOG_WARNING, error,
                               "cannot send a datagram of %zu bytes to %s: %m", size,
                               sockaddr_to_string(&l->dest, dst, sizeof dst));
}

/* Ask for EPOLLOUT on the link's writing socket exactly while it is active and something waits
 * for it; a TCP client that is connecting keeps EPOLLOUT (that is how the connect completes). */
static void link_arm_send(ChannelLink *l) {
        ChannelSet *s = l->set;
        bool want = l->index == s->active && s->queue.n > 0 && !s->backoff;

        if (!l->send_source)
                return;
        if (is_tcp(l)) {
                uint32_t events = EPOLLIN | EPOLLRDHUP;

                if (l->client_connecting || (l->client_connected && want))
                        events |= EPOLLOUT;
                (void) sd_event_source_set_io_events(l->send_source, events);
                return;
        }
        if (l->socketpair) {
                /* one socket for both directions */
                /* a closed SOCK_SEQPACKET stays readable (EPOLLHUP) forever: stop watching */
                if (l->peer_closed)
                        (void) sd_event_source_set_enabled(l->send_source, SD_EVENT_OFF);
                else
                        (void) sd_event_source_set_io_events(l->send_source,
                                                             want ? EPOLLIN | EPOLLOUT : EPOLLIN);
                return;
        }
        (void) sd_event_source_set_enabled(l->send_source, want ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int set_on_retry(sd_event_source *es, uint64_t usec, void *userdata) {
        ChannelSet *s = userdata;

        s->backoff = false;
        set_drain(s);
        return 0;
}

static void set_start_backoff(ChannelSet *s) {
        uint64_t now;
        int r;

        s->backoff = true;
        r = sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                now = now_usec(CLOCK_MONOTONIC);
        if (!s->retry_timer) {
                r = sd_event_add_time(s->event, &s->retry_timer, CLOCK_MONOTONIC,
                                      now + CHANNEL_ENOBUFS_RETRY_USEC, 0, set_on_retry, s);
                if (r >= 0)
                        (void) sd_event_source_set_description(s->retry_timer, "channel-retry");
        } else {
                r = sd_event_source_set_time(s->retry_timer, now + CHANNEL_ENOBUFS_RETRY_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s->retry_timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                /* no timer: fall back to EPOLLOUT, which at worst wakes us early */
                s->backoff = false;
}

/* Write what waits, in order, to the active link, until the socket is full. */
static void set_drain(ChannelSet *s) {
        ChannelLink *l = &s->links[s->active];

        for (unsigned done = 0; s->queue.n > 0 && !s->backoff; done++) {
                QueueItem *item = queue_head(&s->queue);
                ssize_t n;

                if (done >= CHANNEL_DRAIN_BURST)
                        break;          /* EPOLLOUT stays on: the rest on the next wake-up */
                if (s->queue.offset > 0 && s->queue.offset_link != l->index)
                        s->queue.offset = 0;
                n = link_write(l, item->data + s->queue.offset, item->size - s->queue.offset);
                if (n >= 0) {
                        l->stats.bytes_sent += (uint64_t) n;
                        s->queue.offset += (size_t) n;
                        s->queue.offset_link = l->index;
                        if (s->queue.offset < item->size)
                                break;  /* TCP, part written: wait for room */
                        l->stats.pkts_sent++;
                        queue_pop(&s->queue);
                        continue;
                }
                if (n == -EAGAIN || n == -ENOTCONN)
                        break;
                if (n == -ENOBUFS) {
                        set_start_backoff(s);
                        break;
                }
                /* this datagram cannot leave (e.g. no route): drop it, go on with the next */
                link_count_send_error(l, (int) n, item->size);
                queue_pop(&s->queue);
        }
        for (unsigned i = 0; i < s->n_links; i++)
                link_arm_send(&s->links[i]);
}

static int set_enqueue(ChannelSet *s, const uint8_t *buf, size_t size) {
        int r;

        if (s->queue.n >= set_queue_bound(s)) {
                s->queue.nospace++;
                return -ENOBUFS;
        }
        r = queue_push(&s->queue, buf, size);
        if (r < 0)
                return r;
        link_arm_send(&s->links[s->active]);
        return 0;
}

int channel_set_send(ChannelSet *s, const uint8_t *buf, size_t size) {
        ChannelLink *l;
        ssize_t n;
        int r;

        if (!s || s->n_links == 0)
                return -ENOLINK;
        assert(buf || size == 0);
        if (size == 0)
                return 0;
        l = &s->links[s->active];

        if (s->auth) {
                r = sync_auth_seal(s->auth, buf, size, s->seal_buf,
                                   WIRE_RECV_BUFFER_SIZE + SYNC_AUTH_OVERHEAD);
                if (r < 0)
                        return r;
                buf = s->seal_buf;
                size = (size_t) r;
        }

        if (s->queue.n > 0 || s->backoff)
                return set_enqueue(s, buf, size);

        n = link_write(l, buf, size);
        if (n >= 0) {
                l->stats.bytes_sent += (uint64_t) n;
                if ((size_t) n == size) {
                        l->stats.pkts_sent++;
                        return 0;
                }
                /* TCP wrote a part: the rest must follow before anything else, whatever the
                 * bound says. */
                r = queue_push(&s->queue, buf, size);
                if (r < 0) {
                        /* the stream now holds a broken message: start it over */
                        tcp_client_lost(l, r);
                        return r;
                }
                s->queue.offset = (size_t) n;
                s->queue.offset_link = l->index;
                link_arm_send(l);
                return 0;
        }
        if (n == -EAGAIN || n == -ENOTCONN)
                return set_enqueue(s, buf, size);
        if (n == -ENOBUFS) {
                r = set_enqueue(s, buf, size);
                if (r >= 0)
                        set_start_backoff(s);
                return r;
        }
        link_count_send_error(l, (int) n, size);
        return (int) n;
}

static int link_on_writable(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ChannelLink *l = userdata;

        set_drain(l->set);
        return 0;
}

/* ---- receiving: datagrams ---- */

static void link_deliver_one(ChannelLink *l, const uint8_t *buf, size_t size) {
        ChannelSet *s = l->set;

        if (s->recv && size > 0)
                s->recv(s, l->index, buf, size, s->userdata);
}

/* AuthKeyFile: every sealed unit of buf checked, its body handed over; the rest dropped and
 * counted (in the SyncAuth statistics). */
static void link_deliver_sealed(ChannelLink *l, const uint8_t *buf, size_t size) {
        ChannelSet *s = l->set;

        for (size_t off = 0; off < size;) {
                size_t len = sync_auth_unit_length(buf + off, size - off);
                const uint8_t *body;
                size_t body_len;
                int r;

                if (len == 0 || len > size - off)
                        len = size - off;       /* not a unit of ours: all of the rest */
                r = sync_auth_open(s->auth, buf + off, len, &body, &body_len);
                if (r < 0) {
                        if (ratelimit_below(&s->auth_ratelimit))
                                log_link_errno(l, LOG_WARNING, r, "dropped %zu bytes that are not "
                                               "an authentic sync unit: %s", len,
                                               r == -EBADMSG ? "not sealed, or malformed" :
                                               r == -ENOKEY ? "unknown key id" :
                                               r == -EKEYREJECTED ? "wrong key or forged" :
                                               r == -EALREADY ? "replayed" :
                                               r == -ESTALE ? "replayed from an earlier run" :
                                               "refused");
                } else
                        link_deliver_one(l, body, body_len);
                off += len;
        }
}

static void link_deliver(ChannelLink *l, const uint8_t *buf, size_t size) {
        if (l->set->auth)
                link_deliver_sealed(l, buf, size);
        else
                link_deliver_one(l, buf, size);
}

static void link_count_recv_error(ChannelLink *l, int error, const char *what) {
        l->stats.err_recv++;
        if (ratelimit_below(&l->recv_ratelimit))
                log_link_errno(l, LOG_WARNING, error, "%s: %m", what);
}

static int link_on_datagram(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ChannelLink *l = userdata;
        ChannelSet *s = l->set;

        if (l->socketpair && (revents & EPOLLOUT))
                set_drain(s);
        if (!(revents & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                return 0;

        for (unsigned i = 0; i < CHANNEL_RECV_BURST; i++) {
                ssize_t n = recv(fd, s->buf, WIRE_RECV_BUFFER_SIZE, MSG_DONTWAIT | MSG_TRUNC);

                if (n < 0) {
                        int r = negative_errno();

                        if (r == -EAGAIN || r == -EWOULDBLOCK)
                                break;
                        if (r == -EINTR)
                                continue;
                        link_count_recv_error(l, r, "cannot receive");
                        break;
                }
                if (n == 0 && l->seqpacket && (revents & EPOLLHUP)) {
                        /* the other end is gone; stop listening to a socket that stays readable */
                        log_link(l, LOG_WARNING, "the peer closed the socketpair");
                        l->peer_closed = true;
                        set_drain(s);   /* what waits fails now, counted; then stop watching */
                        return 0;
                }
                l->stats.pkts_recv++;
                l->stats.bytes_recv += (uint64_t) n;
                if (n > WIRE_RECV_BUFFER_SIZE) {
                        link_count_recv_error(l, EMSGSIZE, "datagram larger than 65536 bytes dropped");
                        continue;
                }
                link_deliver(l, s->buf, (size_t) n);
        }
        return 0;
}

/* ---- TCP ---- */

static void tcp_close_conn(ChannelLink *l) {
        l->conn_source = sd_event_source_disable_unref(l->conn_source);
        l->conn_fd = safe_close(l->conn_fd);
        l->rx_len = 0;
}

/* Cut the stream into messages: hand over every complete one, keep a partial tail. */
static void tcp_deliver(ChannelLink *l) {
        size_t p = 0;

        while (l->rx_len - p >= WIRE_HEADER_SIZE) {
                size_t len = (size_t) l->rx[p + 2] << 8 | l->rx[p + 3];

                if (len < WIRE_HEADER_SIZE) {
                        /* no way to find the next message: drop the connection, the peer
                         * reconnects and starts at a message boundary */
                        if (p > 0) {
                                l->stats.pkts_recv++;
                                link_deliver(l, l->rx, p);
                        }
                        link_count_recv_error(l, EBADMSG,
                                              "message length below the header size, dropping "
                                              "the stream");
                        tcp_close_conn(l);
                        return;
                }
                if (len > l->rx_len - p)
                        break;
                p += len;
        }
        if (p == 0)
                return;
        l->stats.pkts_recv++;
        link_deliver(l, l->rx, p);
        if (l->conn_fd < 0)
                return;
        memmove(l->rx, l->rx + p, l->rx_len - p);
        l->rx_len -= p;
}

static int tcp_on_conn(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ChannelLink *l = userdata;

        for (unsigned i = 0; i < CHANNEL_RECV_BURST && l->conn_fd >= 0; i++) {
                ssize_t n = recv(fd, l->rx + l->rx_len, WIRE_RECV_BUFFER_SIZE - l->rx_len,
                                 MSG_DONTWAIT);

                if (n < 0) {
                        int r = negative_errno();

                        if (r == -EAGAIN || r == -EWOULDBLOCK)
                                break;
                        if (r == -EINTR)
                                continue;
                        link_count_recv_error(l, r, "connection from the peer lost");
                        tcp_close_conn(l);
                        break;
                }
                if (n == 0) {
                        log_link(l, LOG_INFO, "the peer closed its connection%s",
                                 l->rx_len > 0 ? " in the middle of a message" : "");
                        tcp_close_conn(l);
                        break;
                }
                l->stats.bytes_recv += (uint64_t) n;
                l->rx_len += (size_t) n;
                tcp_deliver(l);
        }
        return 0;
}

static int tcp_on_accept(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ChannelLink *l = userdata;

        for (unsigned i = 0; i < CHANNEL_RECV_BURST; i++) {
                SockAddr peer = {};
                socklen_t len = sizeof peer;
                char from[64];
                int cfd, r;

                cfd = accept4(fd, &peer.sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (cfd < 0) {
                        r = negative_errno();
                        if (r == -EAGAIN || r == -EWOULDBLOCK)
                                break;
                        if (r == -EINTR || r == -ECONNABORTED)
                                continue;
                        link_count_recv_error(l, r, "cannot accept a connection");
                        break;
                }
                if (l->conn_fd >= 0)
                        log_link(l, LOG_INFO, "a new connection from %s replaces the old one",
                                 sockaddr_to_string(&peer, from, sizeof from));
                else
                        log_link(l, LOG_INFO, "accepted a connection from %s",
                                 sockaddr_to_string(&peer, from, sizeof from));
                tcp_close_conn(l);
                l->conn_fd = cfd;
                (void) set_int_option(cfd, SOL_SOCKET, SO_KEEPALIVE, 1);
                link_set_buffer(l, cfd, false, l->config.rcv_buffer);
                r = sd_event_add_io(l->set->event, &l->conn_source, cfd, EPOLLIN | EPOLLRDHUP,
                                    tcp_on_conn, l);
                if (r < 0) {
                        log_link_errno(l, LOG_ERR, r, "cannot watch the accepted connection: %m");
                        tcp_close_conn(l);
                        continue;
                }
                (void) sd_event_source_set_description(l->conn_source, "channel-tcp-conn");
        }
        return 0;
}

static void tcp_schedule_connect(ChannelLink *l);

static int tcp_on_reconnect(sd_event_source *es, uint64_t usec, void *userdata);

static void tcp_client_close(ChannelLink *l) {
        ChannelSet *s = l->set;

        l->send_source = sd_event_source_disable_unref(l->send_source);
        l->send_fd = safe_close(l->send_fd);
        l->client_connected = l->client_connecting = false;
        if (s->queue.offset > 0 && s->queue.offset_link == l->index)
                s->queue.offset = 0;
}

/* The client connection broke (error < 0) or is given up on purpose (0): close it and try again
 * within the rate limit; what waits stays queued. */
static void tcp_client_lost(ChannelLink *l, int error) {
        char dst[64];

        if (error < 0)
                log_link_errno(l, LOG_NOTICE, error, "connection to %s lost: %m",
                               sockaddr_to_string(&l->dest, dst, sizeof dst));
        tcp_client_close(l);
        tcp_schedule_connect(l);
}

static void tcp_client_failed(ChannelLink *l, int error) {
        char dst[64];

        tcp_client_close(l);
        if (!l->connect_error_logged) {
                log_link_errno(l, LOG_NOTICE, error,
                               "cannot connect to %s: %m (trying again every second)",
                               sockaddr_to_string(&l->dest, dst, sizeof dst));
                l->connect_error_logged = true;
        } else
                log_link_errno(l, LOG_DEBUG, error, "cannot connect to %s: %m",
                               sockaddr_to_string(&l->dest, dst, sizeof dst));
        tcp_schedule_connect(l);
}

static void tcp_client_established(ChannelLink *l) {
        ChannelSet *s = l->set;
        char dst[64];

        l->client_connecting = false;
        l->client_connected = true;
        l->connect_error_logged = false;
        log_link(l, LOG_INFO, "connected to %s%s", sockaddr_to_string(&l->dest, dst, sizeof dst),
                 l->index == s->active && s->queue.n > 0 ? ", sending what was queued" : "");
        link_arm_send(l);
        if (l->index == s->active)
                set_drain(s);
}

static int tcp_on_client(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ChannelLink *l = userdata;

        if (l->client_connecting) {
                int error = 0, r;

                if (!(revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                        return 0;
                r = get_int_option(fd, SOL_SOCKET, SO_ERROR, &error);
                if (r < 0)
                        error = -r;
                if (error == 0 && (revents & (EPOLLERR | EPOLLHUP)))
                        error = ECONNREFUSED;
                if (error != 0)
                        tcp_client_failed(l, -error);
                else
                        tcp_client_established(l);
                return 0;
        }

        if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                /* The peer never writes on our client connection: readable means closed or
                 * reset (or a confused peer, whose bytes are dropped). */
                for (unsigned i = 0; i < CHANNEL_RECV_BURST; i++) {
                        ssize_t n = recv(fd, l->set->buf, WIRE_RECV_BUFFER_SIZE, MSG_DONTWAIT);

                        if (n > 0)
                                continue;
                        if (n == 0) {
                                char dst[64];

                                log_link(l, LOG_NOTICE, "%s closed our connection",
                                         sockaddr_to_string(&l->dest, dst, sizeof dst));
                                tcp_client_lost(l, 0);
                                return 0;
                        }
                        n = negative_errno();
                        if (n == -EINTR)
                                continue;
                        if (n != -EAGAIN && n != -EWOULDBLOCK) {
                                tcp_client_lost(l, (int) n);
                                return 0;
                        }
                        break;
                }
        }
        if (revents & EPOLLOUT)
                set_drain(l->set);
        return 0;
}

static int tcp_connect(ChannelLink *l) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        l->last_attempt_usec = now_usec(CLOCK_MONOTONIC);
        fd = socket(l->config.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (fd < 0)
                return negative_errno();
        (void) set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        link_set_buffer(l, fd, true, l->config.snd_buffer);

        r = connect(fd, &l->dest.sa, l->dest_len);
        if (r < 0 && errno != EINPROGRESS)
                return negative_errno();

        r = sd_event_add_io(l->set->event, &l->send_source, fd, EPOLLIN | EPOLLRDHUP | EPOLLOUT,
                            tcp_on_client, l);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(l->send_source, "channel-tcp-client");
        l->send_fd = TAKE_FD(fd);
        l->client_connecting = true;
        /* even a connect() that completed at once is finished from the loop (EPOLLOUT) */
        return 0;
}

static int tcp_on_reconnect(sd_event_source *es, uint64_t usec, void *userdata) {
        ChannelLink *l = userdata;
        int r;

        if (l->send_fd >= 0)
                return 0;
        r = tcp_connect(l);
        if (r < 0)
                tcp_client_failed(l, r);
        return 0;
}

/* One connect() attempt per second at most (1.4.x). */
static void tcp_schedule_connect(ChannelLink *l) {
        uint64_t when = l->last_attempt_usec + CHANNEL_RECONNECT_USEC;
        int r;

        if (!l->reconnect_timer) {
                r = sd_event_add_time(l->set->event, &l->reconnect_timer, CLOCK_MONOTONIC, when,
                                      10 * USEC_PER_MSEC, tcp_on_reconnect, l);
                if (r >= 0)
                        (void) sd_event_source_set_description(l->reconnect_timer,
                                                               "channel-tcp-reconnect");
        } else {
                r = sd_event_source_set_time(l->reconnect_timer, when);
                if (r >= 0)
                        r = sd_event_source_set_enabled(l->reconnect_timer, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_link_errno(l, LOG_ERR, r, "cannot schedule a new connection: %m");
}

/* ---- rtnetlink link watcher ---- */

static ChannelLink *set_find_link(ChannelSet *s, int ifindex, const char *name) {
        for (unsigned i = 0; i < s->n_links; i++)
                if (s->links[i].ifindex == ifindex)
                        return &s->links[i];
        for (unsigned i = 0; name && i < s->n_links; i++)
                if (streq(s->links[i].device, name))
                        return &s->links[i];
        return NULL;
}

static void set_refresh_all_links(ChannelSet *s) {
        for (unsigned i = 0; i < s->n_links; i++) {
                ChannelLink *l = &s->links[i];
                unsigned flags = 0, mtu = l->mtu;
                int ifindex = l->ifindex;

                if (interface_query(l->device, &ifindex, &mtu, &flags) >= 0) {
                        l->ifindex = ifindex;
                        l->mtu = mtu;
                }
                l->flags = flags;
        }
}

static void rtnl_handle(ChannelSet *s, const struct nlmsghdr *h) {
        const struct ifinfomsg *ifi;
        const struct rtattr *a;
        const char *name = NULL;
        unsigned mtu = 0;
        ChannelLink *l;
        int len;

        if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
                return;
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof *ifi))
                return;
        ifi = NLMSG_DATA(h);
        len = (int) (h->nlmsg_len - NLMSG_LENGTH(sizeof *ifi));
        for (a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
                size_t plen = RTA_PAYLOAD(a);

                if (a->rta_type == IFLA_IFNAME && plen > 0 &&
                    memchr(RTA_DATA(a), '\0', plen))
                        name = RTA_DATA(a);
                else if (a->rta_type == IFLA_MTU && plen >= sizeof(uint32_t))
                        memcpy(&mtu, RTA_DATA(a), sizeof(uint32_t));
        }
        l = set_find_link(s, ifi->ifi_index, name);
        if (!l)
                return;
        if (h->nlmsg_type == RTM_DELLINK) {
                if (l->ifindex == ifi->ifi_index) {
                        log_link(l, LOG_WARNING, "interface removed");
                        l->flags = 0;
                }
                return;
        }
        if (name && !streq(name, l->device))
                return;                 /* renamed away: treat it as gone at the next query */
        if (l->ifindex != ifi->ifi_index)
                log_link(l, LOG_NOTICE, "interface is back with index %d", ifi->ifi_index);
        l->ifindex = ifi->ifi_index;
        l->flags = ifi->ifi_flags;
        if (mtu > 0)
                l->mtu = mtu;
}

static int set_on_rtnl(sd_event_source *es, int fd, uint32_t revents, void *userdata) {
        ChannelSet *s = userdata;

        for (unsigned i = 0; i < CHANNEL_RECV_BURST; i++) {
                struct sockaddr_nl from = {};
                struct iovec iov = { s->rtnl_buf, RTNL_RECV_SIZE };
                struct msghdr mh = {
                        .msg_name = &from,
                        .msg_namelen = sizeof from,
                        .msg_iov = &iov,
                        .msg_iovlen = 1,
                };
                ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT);

                if (n < 0) {
                        int r = negative_errno();

                        if (r == -EAGAIN || r == -EWOULDBLOCK)
                                break;
                        if (r == -EINTR)
                                continue;
                        if (r == -ENOBUFS) {
                                /* events lost: read the state of every link again */
                                log_debug("Link watcher overrun, querying the links");
                                set_refresh_all_links(s);
                                continue;
                        }
                        log_error_errno(r, "Link watcher: cannot receive: %m");
                        break;
                }
                if (from.nl_pid != 0 || (mh.msg_flags & MSG_TRUNC))
                        continue;       /* not from the kernel, or cut */
                for (size_t p = 0; (size_t) n - p >= sizeof(struct nlmsghdr);) {
                        const struct nlmsghdr *h = (const struct nlmsghdr *) (s->rtnl_buf + p);

                        if (h->nlmsg_len < sizeof *h || h->nlmsg_len > (size_t) n - p)
                                break;
                        rtnl_handle(s, h);
                        p += NLMSG_ALIGN(h->nlmsg_len);
                }
        }
        set_check_active(s);
        return 0;
}

static int set_open_rtnl(ChannelSet *s) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
        int r;

        s->rtnl_buf = malloc(RTNL_RECV_SIZE);
        if (!s->rtnl_buf)
                return -ENOMEM;
        fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Cannot open the link watcher: %m");
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return log_error_errno(negative_errno(), "Cannot bind the link watcher: %m");
        r = sd_event_add_io(s->event, &s->rtnl_source, fd, EPOLLIN, set_on_rtnl, s);
        if (r < 0)
                return log_error_errno(r, "Cannot watch the link watcher socket: %m");
        (void) sd_event_source_set_description(s->rtnl_source, "channel-rtnl");
        s->rtnl_fd = TAKE_FD(fd);
        return 0;
}

/* ---- opening a link ---- */

static void link_init(ChannelSet *s, unsigned index, const ChannelConfig *c) {
        ChannelLink *l = &s->links[index];
        const char *type = c->type >= 0 && c->type < _CHANNEL_TYPE_MAX ? type_label[c->type] : "?";
        ChannelConfig config = *c;

        *l = (ChannelLink) {
                .set = s,
                .index = index,
                .config = config,
                .recv_fd = -EBADF,
                .send_fd = -EBADF,
                .conn_fd = -EBADF,
                .send_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 10),
                .recv_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 10),
        };
        char device[IF_NAMESIZE] = {};
        char label[sizeof l->label], field[sizeof l->field_device];

        memcpy(device, c->interface, MIN(strnlen(c->interface, sizeof c->interface),
                                         sizeof device - 1));
        memcpy(l->device, device, sizeof device);
        if (device[0])
                snprintf(label, sizeof label, "%s link %u (%s)", type, index, device);
        else
                snprintf(label, sizeof label, "%s link %u", type, index);
        memcpy(l->label, label, sizeof label);
        snprintf(field, sizeof field, "INTERFACE=%s", device);
        memcpy(l->field_device, field, sizeof field);
        snprintf(l->field_channel, sizeof l->field_channel, "CHANNEL=%s%u",
                 strna(channel_type_to_string(c->type)), index);
}

static bool addr_is_multicast(int family, const CtAddr *a) {
        if (family == AF_INET6)
                return IN6_IS_ADDR_MULTICAST(&a->in6);
        return IN_MULTICAST(ntohl(a->ip));
}

static int link_check_config(ChannelLink *l) {
        const ChannelConfig *c = &l->config;
        int r;

        if (c->family != AF_INET && c->family != AF_INET6)
                return log_link_errno(l, LOG_ERR, EAFNOSUPPORT, "no IPv4 or IPv6 address given");
        if (!l->device[0])
                return log_link_errno(l, LOG_ERR, ENODEV,
                                      "no Interface given; every dedicated link needs one");
        r = interface_query(l->device, &l->ifindex, &l->mtu, &l->flags);
        if (r == -ENODEV)
                return log_link_errno(l, LOG_ERR, r, "interface '%s' does not exist", l->device);
        if (r < 0)
                return log_link_errno(l, LOG_ERR, r, "cannot query interface '%s': %m", l->device);
        if (c->type == CHANNEL_MULTICAST) {
                if (!c->has_address || !addr_is_multicast(c->family, &c->address))
                        return log_link_errno(l, LOG_ERR, EINVAL,
                                              "the group address (IPv%c_address) must be a "
                                              "multicast address",
                                              c->family == AF_INET6 ? '6' : '4');
        } else if (!c->has_destination)
                return log_link_errno(l, LOG_ERR, EDESTADDRREQ,
                                      "no IPv%c_Destination_Address given",
                                      c->family == AF_INET6 ? '6' : '4');
        return 0;
}

/* An fd from socket activation: the right kind of socket for this link? */
static int link_check_activated(ChannelLink *l, int fd) {
        int type = 0, domain = 0, r;
        int want = is_tcp(l) ? SOCK_STREAM : SOCK_DGRAM;

        r = get_int_option(fd, SOL_SOCKET, SO_TYPE, &type);
        if (r < 0)
                return log_link_errno(l, LOG_ERR, r,
                                      "the socket passed by the service manager (fd %d) is "
                                      "unusable: %m", fd);
        if (type != want)
                return log_link_errno(l, LOG_ERR, EPROTOTYPE,
                                      "the socket passed by the service manager (fd %d) is a %s "
                                      "socket, a %s link needs a %s socket",
                                      fd, type == SOCK_STREAM ? "stream" :
                                          type == SOCK_DGRAM ? "datagram" : "non-IP",
                                      type_label[l->config.type],
                                      want == SOCK_STREAM ? "stream (ListenStream=)" :
                                                            "datagram (ListenDatagram=)");
        r = get_int_option(fd, SOL_SOCKET, SO_DOMAIN, &domain);
        if (r >= 0 && domain != l->config.family)
                return log_link_errno(l, LOG_ERR, EAFNOSUPPORT,
                                      "the socket passed by the service manager (fd %d) is not an "
                                      "IPv%c socket", fd, l->config.family == AF_INET6 ? '6' : '4');
        r = fd_make_nonblocking_cloexec(fd);
        if (r < 0)
                return log_link_errno(l, LOG_ERR, r, "cannot make fd %d non-blocking: %m", fd);
        return 0;
}

static int link_join_group(ChannelLink *l, int fd) {
        const ChannelConfig *c = &l->config;
        char group[INET6_ADDRSTRLEN] = "?";
        int r;

        (void) inet_ntop(c->family, &c->address, group, sizeof group);
        if (c->family == AF_INET) {
                struct ip_mreqn mr = {
                        .imr_multiaddr.s_addr = c->address.ip,
                        .imr_address.s_addr = c->has_interface_address ? c->interface_address.ip : 0,
                        .imr_ifindex = l->ifindex,
                };

                /* only what arrives on this link, not the group joined on another one */
                (void) set_int_option(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0);
                r = RET_NERRNO(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr));
        } else {
                struct ipv6_mreq mr = {
                        .ipv6mr_multiaddr = c->address.in6,
                        .ipv6mr_interface = (unsigned) l->ifindex,
                };

                (void) set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0);
                r = RET_NERRNO(setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr, sizeof mr));
        }
        if (r < 0 && r != -EADDRINUSE)  /* EADDRINUSE: an activated socket joined already */
                return log_link_errno(l, LOG_ERR, r, "cannot join the multicast group %s: %m",
                                      group);
        return 0;
}

static int link_open_recv(ChannelLink *l, int activated_fd) {
        const ChannelConfig *c = &l->config;
        _cleanup_close_ int fd = -EBADF;
        SockAddr sa;
        socklen_t len;
        char where[64];
        int r;

        if (activated_fd >= 0) {
                r = link_check_activated(l, activated_fd);
                if (r < 0)
                        return r;
                l->recv_fd = activated_fd;
                l->recv_fd_activated = true;
                if (is_tcp(l)) {
                        int listening = 0;

                        (void) set_int_option(activated_fd, SOL_SOCKET, SO_KEEPALIVE, 1);
                        if (get_int_option(activated_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) >= 0 &&
                            !listening && listen(activated_fd, 1) < 0)
                                return log_link_errno(l, LOG_ERR, negative_errno(),
                                                      "cannot listen on the activated socket: %m");
                } else {
                        link_set_buffer(l, activated_fd, false, c->rcv_buffer);
                        if (is_multicast(l))
                                return link_join_group(l, activated_fd);
                }
                return 0;
        }

        len = sockaddr_make(&sa, c->family, c->has_address ? &c->address : NULL, c->port,
                            l->ifindex);
        sockaddr_to_string(&sa, where, sizeof where);
        fd = socket(c->family, (is_tcp(l) ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
        if (fd < 0)
                return log_link_errno(l, LOG_ERR, negative_errno(), "cannot open a socket: %m");
        r = set_int_option(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (r < 0)
                return log_link_errno(l, LOG_ERR, r, "cannot set SO_REUSEADDR: %m");
        if (is_tcp(l))
                (void) set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
        link_set_buffer(l, fd, false, c->rcv_buffer);
        /* multicast: the group address, so that unicast to the port and other groups stay out
         * (1.4.7 bound the wildcard address) */
        if (bind(fd, &sa.sa, len) < 0)
                return log_link_errno(l, LOG_ERR, negative_errno(), "cannot bind %s: %m", where);
        if (is_tcp(l) && listen(fd, 1) < 0)
                return log_link_errno(l, LOG_ERR, negative_errno(), "cannot listen on %s: %m",
                                      where);
        if (is_multicast(l)) {
                r = link_join_group(l, fd);
                if (r < 0)
                        return r;
        }
        l->recv_fd = TAKE_FD(fd);
        return 0;
}

static int link_open_send(ChannelLink *l) {
        const ChannelConfig *c = &l->config;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (is_multicast(l))
                l->dest_len = sockaddr_make(&l->dest, c->family, &c->address, c->port, l->ifindex);
        else
                l->dest_len = sockaddr_make(&l->dest, c->family, &c->destination, c->port,
                                            l->ifindex);
        if (is_tcp(l))
                return 0;       /* the client connection is made from the loop */

        fd = socket(c->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_link_errno(l, LOG_ERR, negative_errno(), "cannot open a socket: %m");
        link_set_buffer(l, fd, true, c->snd_buffer);
        if (!c->checksum && c->family == AF_INET) {
                r = set_int_option(fd, SOL_SOCKET, SO_NO_CHECK, 1);
                if (r < 0)
                        log_link_errno(l, LOG_WARNING, r, "cannot turn UDP checksums off: %m");
        }
        if (is_multicast(l)) {
                if (c->family == AF_INET) {
                        struct ip_mreqn mr = {
                                .imr_address.s_addr = c->has_interface_address ?
                                                              c->interface_address.ip : 0,
                                .imr_ifindex = l->ifindex,
                        };

                        r = RET_NERRNO(setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr));
                        if (r >= 0)
                                r = set_int_option(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0);
                } else {
                        r = set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, l->ifindex);
                        if (r >= 0)
                                r = set_int_option(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0);
                }
                if (r < 0)
                        return log_link_errno(l, LOG_ERR, r,
                                              "cannot send multicast through the interface: %m");
        }
        l->send_fd = TAKE_FD(fd);
        return 0;
}

static int link_attach(ChannelLink *l) {
        ChannelSet *s = l->set;
        int r;

        if (is_tcp(l)) {
                r = sd_event_add_io(s->event, &l->recv_source, l->recv_fd, EPOLLIN, tcp_on_accept, l);
                if (r < 0)
                        return log_link_errno(l, LOG_ERR, r, "cannot watch the socket: %m");
                (void) sd_event_source_set_description(l->recv_source, "channel-tcp-listen");
                l->rx = malloc(WIRE_RECV_BUFFER_SIZE);
                if (!l->rx)
                        return log_oom();
                r = tcp_connect(l);
                if (r < 0)
                        tcp_client_failed(l, r);
                return 0;
        }

        r = sd_event_add_io(s->event, &l->recv_source, l->recv_fd, EPOLLIN, link_on_datagram, l);
        if (r < 0)
                return log_link_errno(l, LOG_ERR, r, "cannot watch the socket: %m");
        (void) sd_event_source_set_description(l->recv_source, "channel-recv");
        if (l->socketpair) {
                l->send_source = sd_event_source_ref(l->recv_source);
                return 0;
        }
        r = sd_event_add_io(s->event, &l->send_source, l->send_fd, EPOLLOUT, link_on_writable, l);
        if (r < 0)
                return log_link_errno(l, LOG_ERR, r, "cannot watch the socket: %m");
        (void) sd_event_source_set_description(l->send_source, "channel-send");
        return sd_event_source_set_enabled(l->send_source, SD_EVENT_OFF);
}

/* ---- the set ---- */

static void link_done(ChannelLink *l) {
        l->recv_source = sd_event_source_disable_unref(l->recv_source);
        l->send_source = sd_event_source_disable_unref(l->send_source);
        l->conn_source = sd_event_source_disable_unref(l->conn_source);
        l->reconnect_timer = sd_event_source_disable_unref(l->reconnect_timer);
        if (l->send_fd != l->recv_fd)
                l->send_fd = safe_close(l->send_fd);
        l->send_fd = -EBADF;
        l->recv_fd = safe_close(l->recv_fd);
        l->conn_fd = safe_close(l->conn_fd);
        free(l->rx);
        l->rx = NULL;
}

ChannelSet *channel_set_free(ChannelSet *s) {
        if (!s)
                return NULL;
        for (unsigned i = 0; i < s->n_links; i++)
                link_done(&s->links[i]);
        s->rtnl_source = sd_event_source_disable_unref(s->rtnl_source);
        s->rtnl_fd = safe_close(s->rtnl_fd);
        s->retry_timer = sd_event_source_disable_unref(s->retry_timer);
        queue_clear(&s->queue);
        free(s->rtnl_buf);
        free(s->buf);
        sync_auth_free(s->auth);
        free(s->seal_buf);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

static int set_alloc(sd_event *e, ChannelRecvFunc recv, void *userdata, ChannelSet **ret) {
        ChannelSet *s;

        s = malloc(sizeof *s);
        if (!s)
                return -ENOMEM;
        *s = (ChannelSet) {
                .event = sd_event_ref(e),
                .recv = recv,
                .userdata = userdata,
                .rtnl_fd = -EBADF,
                .queue_max = CHANNEL_UDP_QUEUE_MAX,
        };
        s->buf = malloc(WIRE_RECV_BUFFER_SIZE);
        if (!s->buf) {
                channel_set_free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

/* On failure the activated fds stay the caller's. */
static ChannelSet *set_free_keep_activated(ChannelSet *s) {
        if (!s)
                return NULL;
        for (unsigned i = 0; i < s->n_links; i++) {
                ChannelLink *l = &s->links[i];

                if (l->recv_fd_activated) {
                        l->recv_source = sd_event_source_disable_unref(l->recv_source);
                        l->send_source = sd_event_source_disable_unref(l->send_source);
                        if (l->send_fd == l->recv_fd)
                                l->send_fd = -EBADF;
                        l->recv_fd = -EBADF;
                }
        }
        return channel_set_free(s);
}

DEFINE_CLEANUP_FUNC(ChannelSet *, set_free_keep_activated);

int channel_set_new(sd_event *e, const ChannelSetOptions *o, ChannelSet **ret) {
        _cleanup_(set_free_keep_activatedp) ChannelSet *s = NULL;
        unsigned active = 0;
        int r;

        assert(e && o && ret);
        if (o->n_configs == 0 || o->n_configs > CONFIG_CHANNELS_MAX || !o->configs)
                return log_error_errno(EINVAL, "Between 1 and %d dedicated links are needed, "
                                       "not %zu", CONFIG_CHANNELS_MAX, o->n_configs);
        for (size_t i = 0; i < o->n_configs; i++) {
                ChannelType t = o->configs[i].type;

                if (t < 0 || t >= _CHANNEL_TYPE_MAX || t != o->configs[0].type)
                        return log_error_errno(EINVAL, "Dedicated links must all be of one "
                                               "kind (link %zu is not)", i);
        }

        r = set_alloc(e, o->recv, o->userdata, &s);
        if (r < 0)
                return log_oom();
        if (o->configs[0].type == CHANNEL_TCP)
                s->queue_max = o->error_queue_length > 0 ? o->error_queue_length :
                                                           CHANNEL_TCP_QUEUE_DEFAULT;

        /* Subscribe before the first query, so that no change falls in between. */
        r = set_open_rtnl(s);
        if (r < 0)
                return r;

        /* The initial active link: the first one marked Default, else the first one. */
        for (size_t i = o->n_configs; i > 0; i--) {
                link_init(s, (unsigned) (i - 1), &o->configs[i - 1]);
                if (o->configs[i - 1].is_default)
                        active = (unsigned) (i - 1);
        }
        s->n_links = o->n_configs;
        s->active = active;

        /* Every link checked before any socket is opened. */
        for (unsigned i = 0; i < s->n_links; i++) {
                r = link_check_config(&s->links[i]);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < s->n_links; i++) {
                ChannelLink *l = &s->links[i];
                int afd = o->activated_fds ? o->activated_fds[i] : -EBADF;

                r = link_open_recv(l, afd);
                if (r < 0)
                        return r;
                r = link_open_send(l);
                if (r < 0)
                        return r;
        }
        for (unsigned i = 0; i < s->n_links; i++) {
                r = link_attach(&s->links[i]);
                if (r < 0)
                        return r;
        }

        for (unsigned i = 0; i < s->n_links; i++) {
                ChannelLink *l = &s->links[i];

                log_link(l, LOG_DEBUG, "open, MTU %u, %s, %s", l->mtu,
                         channel_link_status_to_string(link_status(l)),
                         i == s->active ? "active" : "backup");
        }
        set_check_active(s);

        for (unsigned i = 0; i < s->n_links; i++)
                s->links[i].recv_fd_activated = false;  /* ours from now on */
        *ret = TAKE_PTR(s);
        return 0;
}

int channel_set_new_socketpair(sd_event *e, int fd, size_t payload, ChannelRecvFunc recv,
                               void *userdata, ChannelSet **ret) {
        _cleanup_(set_free_keep_activatedp) ChannelSet *s = NULL;
        ChannelLink *l;
        int type = 0, r;

        assert(e && ret);
        if (fd < 0)
                return -EBADF;
        r = get_int_option(fd, SOL_SOCKET, SO_TYPE, &type);
        if (r < 0)
                return r;
        if (type != SOCK_SEQPACKET && type != SOCK_DGRAM)
                return -EPROTOTYPE;
        r = fd_make_nonblocking_cloexec(fd);
        if (r < 0)
                return r;

        r = set_alloc(e, recv, userdata, &s);
        if (r < 0)
                return r;
        s->payload = payload;
        link_init(s, 0, &(ChannelConfig) { .type = CHANNEL_UDP, .family = AF_UNIX });
        s->n_links = 1;
        l = &s->links[0];
        l->socketpair = true;
        l->seqpacket = type == SOCK_SEQPACKET;
        snprintf(l->device, sizeof l->device, "socketpair");
        snprintf(l->label, sizeof l->label, "socketpair link 0");
        snprintf(l->field_device, sizeof l->field_device, "INTERFACE=socketpair");
        l->flags = IFF_UP | IFF_RUNNING;
        l->recv_fd = l->send_fd = fd;
        l->recv_fd_activated = true;

        r = link_attach(l);
        if (r < 0)
                return r;
        l->recv_fd_activated = false;
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- queries ---- */

size_t channel_set_payload(const ChannelSet *s) {
        const ChannelLink *l;
        size_t p;

        if (!s || s->n_links == 0)
                return 0;
        l = &s->links[s->active];
        if (l->socketpair)
                p = s->payload;
        else
                p = wire_mtu_payload(l->mtu, is_tcp(l));
        if (s->auth)
                p = p > 2 * SYNC_AUTH_OVERHEAD ? p - SYNC_AUTH_OVERHEAD : SYNC_AUTH_OVERHEAD;
        return p;
}

int channel_set_set_auth(ChannelSet *s, SyncAuth *auth) {
        if (!s || !auth)
                return -EINVAL;
        if (!s->seal_buf) {
                s->seal_buf = malloc(WIRE_RECV_BUFFER_SIZE + SYNC_AUTH_OVERHEAD);
                if (!s->seal_buf)
                        return -ENOMEM;
        }
        sync_auth_free(s->auth);
        s->auth = auth;
        s->auth_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 5);
        return 0;
}

SyncAuth *channel_set_auth(const ChannelSet *s) {
        return s ? s->auth : NULL;
}

size_t channel_set_count(const ChannelSet *s) {
        return s ? s->n_links : 0;
}

unsigned channel_set_active(const ChannelSet *s) {
        return s ? s->active : 0;
}

static const ChannelLink *set_link(const ChannelSet *s, unsigned index) {
        return s && index < s->n_links ? &s->links[index] : NULL;
}

ChannelType channel_set_type(const ChannelSet *s, unsigned index) {
        const ChannelLink *l = set_link(s, index);

        return l ? l->config.type : _CHANNEL_TYPE_INVALID;
}

const char *channel_set_device(const ChannelSet *s, unsigned index) {
        const ChannelLink *l = set_link(s, index);

        return l ? l->device : NULL;
}

ChannelLinkStatus channel_set_link_status(const ChannelSet *s, unsigned index) {
        const ChannelLink *l = set_link(s, index);

        return l ? link_status(l) : _CHANNEL_LINK_STATUS_INVALID;
}

const ChannelStats *channel_set_stats(const ChannelSet *s, unsigned index) {
        const ChannelLink *l = set_link(s, index);

        return l ? &l->stats : NULL;
}

bool channel_set_tcp_client_connected(const ChannelSet *s, unsigned index) {
        const ChannelLink *l = set_link(s, index);

        return l && is_tcp(l) && l->client_connected;
}

bool channel_set_tcp_server_connected(const ChannelSet *s, unsigned index) {
        const ChannelLink *l = set_link(s, index);

        return l && is_tcp(l) && l->conn_fd >= 0;
}

void channel_set_queue_stats(const ChannelSet *s, ChannelQueueStats *ret) {
        assert(ret);
        if (!s) {
                *ret = (ChannelQueueStats) {};
                return;
        }
        *ret = (ChannelQueueStats) {
                .current = s->queue.n,
                .max = set_queue_bound(s),
                .nospace = s->queue.nospace,
        };
}
