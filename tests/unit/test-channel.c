/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The channel set over a socketpair (no privileges, no network): datagrams both ways, counters,
 * the send queue when the peer does not read (bound, nospace, order kept while draining), a
 * peer that goes away, wrong sockets and configurations refused without leaking anything, and
 * the link status string table. Real links (UDP, multicast, TCP, failover) are in
 * tests/kernel/test-channel-netns.c.
 */

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"

#define WAIT_USEC (10 * USEC_PER_SEC)

typedef struct Received {
        unsigned index;
        GBytes *data;
} Received;

typedef struct Peer {
        sd_event *event;
        ChannelSet *set;
        GArray *received;       /* Received */
} Peer;

static void on_recv(ChannelSet *s, unsigned index, const uint8_t *buf, size_t size,
                    void *userdata) {
        Peer *p = userdata;
        Received r = { index, g_bytes_new(buf, size) };

        g_assert_true(p->set == NULL || p->set == s);
        g_array_append_val(p->received, r);
}

static void received_clear(gpointer data) {
        Received *r = data;

        g_bytes_unref(r->data);
}

static void peer_init(Peer *p, sd_event *e) {
        *p = (Peer) {
                .event = sd_event_ref(e),
                .received = g_array_new(false, true, sizeof(Received)),
        };
        g_array_set_clear_func(p->received, received_clear);
}

static void peer_done(Peer *p) {
        p->set = channel_set_free(p->set);
        g_array_unref(p->received);
        p->event = sd_event_unref(p->event);
}

/* A datagram with a wire-like header: version 1, the length, 'seq' in the last 4 header bytes. */
static GBytes *datagram(uint32_t seq, size_t size) {
        uint8_t *b = g_malloc0(size);

        g_assert_cmpuint(size, >=, 8);
        b[0] = 0x10;
        b[2] = (uint8_t) (size >> 8);
        b[3] = (uint8_t) size;
        b[4] = (uint8_t) (seq >> 24);
        b[5] = (uint8_t) (seq >> 16);
        b[6] = (uint8_t) (seq >> 8);
        b[7] = (uint8_t) seq;
        for (size_t i = 8; i < size; i++)
                b[i] = (uint8_t) (seq + i);
        return g_bytes_new_take(b, size);
}

static uint32_t datagram_seq(GBytes *b) {
        const uint8_t *p = g_bytes_get_data(b, NULL);

        return (uint32_t) p[4] << 24 | (uint32_t) p[5] << 16 | (uint32_t) p[6] << 8 | p[7];
}

static int send_bytes(ChannelSet *s, GBytes *b) {
        gsize size;
        const uint8_t *p = g_bytes_get_data(b, &size);

        return channel_set_send(s, p, size);
}

static bool run_until_received(sd_event *e, Peer *p, guint n) {
        gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

        while (p->received->len < n) {
                if (g_get_monotonic_time() > deadline)
                        return false;
                g_assert_cmpint(sd_event_run(e, 100 * USEC_PER_MSEC), >=, 0);
        }
        return true;
}

static unsigned count_open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        unsigned n = 0;

        g_assert_nonnull(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static bool fd_is_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* ---- tests ---- */

static void test_status_table(void) {
        for (ChannelLinkStatus st = 0; st < _CHANNEL_LINK_STATUS_MAX; st++) {
                const char *name = channel_link_status_to_string(st);

                g_assert_nonnull(name);
                g_assert_cmpint(channel_link_status_from_string(name), ==, st);
        }
        g_assert_cmpstr(channel_link_status_to_string(CHANNEL_LINK_RUNNING), ==, "RUNNING");
        g_assert_cmpstr(channel_link_status_to_string(CHANNEL_LINK_NO_CARRIER), ==, "NO-CARRIER");
        g_assert_cmpstr(channel_link_status_to_string(CHANNEL_LINK_DOWN), ==, "DOWN");
        g_assert_null(channel_link_status_to_string(_CHANNEL_LINK_STATUS_MAX));
        g_assert_null(channel_link_status_to_string(_CHANNEL_LINK_STATUS_INVALID));
        g_assert_cmpint(channel_link_status_from_string("running"), ==,
                        _CHANNEL_LINK_STATUS_INVALID);
        g_assert_cmpint(channel_link_status_from_string(NULL), ==, _CHANNEL_LINK_STATUS_INVALID);
}

/* Both socket types a socketpair set takes. */
static void test_send_recv(gconstpointer data) {
        int type = GPOINTER_TO_INT(data);
        g_autoptr(GPtrArray) sent_a = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        g_autoptr(GPtrArray) sent_b = g_ptr_array_new_with_free_func((GDestroyNotify) g_bytes_unref);
        uint64_t bytes_a = 0, bytes_b = 0;
        sd_event *e = NULL;
        Peer a, b;
        int sv[2];

        g_assert_cmpint(sd_event_new(&e), ==, 0);
        peer_init(&a, e);
        peer_init(&b, e);
        g_assert_cmpint(socketpair(AF_UNIX, type, 0, sv), ==, 0);
        g_assert_cmpint(channel_set_new_socketpair(e, sv[0], 1472, on_recv, &a, &a.set), ==, 0);
        g_assert_cmpint(channel_set_new_socketpair(e, sv[1], 1000, on_recv, &b, &b.set), ==, 0);
        /* the set owns the fd and made it non-blocking and close-on-exec */
        g_assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);
        g_assert_true(fcntl(sv[0], F_GETFD) & FD_CLOEXEC);

        g_assert_cmpuint(channel_set_count(a.set), ==, 1);
        g_assert_cmpuint(channel_set_active(a.set), ==, 0);
        g_assert_cmpuint(channel_set_payload(a.set), ==, 1472);
        g_assert_cmpuint(channel_set_payload(b.set), ==, 1000);
        g_assert_cmpint(channel_set_type(a.set, 0), ==, CHANNEL_UDP);
        g_assert_cmpstr(channel_set_device(a.set, 0), ==, "socketpair");
        g_assert_cmpint(channel_set_link_status(a.set, 0), ==, CHANNEL_LINK_RUNNING);
        g_assert_false(channel_set_tcp_client_connected(a.set, 0));
        g_assert_false(channel_set_tcp_server_connected(a.set, 0));
        /* out of range */
        g_assert_cmpint(channel_set_type(a.set, 1), ==, _CHANNEL_TYPE_INVALID);
        g_assert_null(channel_set_device(a.set, 1));
        g_assert_cmpint(channel_set_link_status(a.set, 1), ==, _CHANNEL_LINK_STATUS_INVALID);
        g_assert_null(channel_set_stats(a.set, 1));
        channel_set_mark_valid(a.set, 3);
        g_assert_cmpuint(channel_set_active(a.set), ==, 0);

        for (uint32_t i = 0; i < 20; i++) {
                GBytes *da = datagram(i, 8 + i * 70), *db = datagram(1000 + i, 1000 - i);

                g_assert_cmpint(send_bytes(a.set, da), ==, 0);
                g_assert_cmpint(send_bytes(b.set, db), ==, 0);
                bytes_a += g_bytes_get_size(da);
                bytes_b += g_bytes_get_size(db);
                g_ptr_array_add(sent_a, da);
                g_ptr_array_add(sent_b, db);
                /* read as we go: a SOCK_DGRAM pair holds only a few datagrams */
                g_assert_true(run_until_received(e, &b, i + 1));
                g_assert_true(run_until_received(e, &a, i + 1));
        }
        /* an empty datagram is nothing to send */
        g_assert_cmpint(channel_set_send(a.set, (const uint8_t *) "", 0), ==, 0);

        g_assert_cmpuint(b.received->len, ==, 20);
        g_assert_cmpuint(a.received->len, ==, 20);
        for (guint i = 0; i < 20; i++) {
                Received *rb = &g_array_index(b.received, Received, i);
                Received *ra = &g_array_index(a.received, Received, i);

                g_assert_cmpuint(rb->index, ==, 0);
                g_assert_true(g_bytes_equal(rb->data, sent_a->pdata[i]));
                g_assert_cmpuint(ra->index, ==, 0);
                g_assert_true(g_bytes_equal(ra->data, sent_b->pdata[i]));
        }

        g_assert_cmpuint(channel_set_stats(a.set, 0)->pkts_sent, ==, 20);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->bytes_sent, ==, bytes_a);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->pkts_recv, ==, 20);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->bytes_recv, ==, bytes_b);
        g_assert_cmpuint(channel_set_stats(b.set, 0)->pkts_sent, ==, 20);
        g_assert_cmpuint(channel_set_stats(b.set, 0)->bytes_sent, ==, bytes_b);
        g_assert_cmpuint(channel_set_stats(b.set, 0)->pkts_recv, ==, 20);
        g_assert_cmpuint(channel_set_stats(b.set, 0)->bytes_recv, ==, bytes_a);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->err_sent, ==, 0);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->err_recv, ==, 0);

        peer_done(&a);
        peer_done(&b);
        /* freeing the sets closed their fds */
        g_assert_false(fd_is_open(sv[0]));
        g_assert_false(fd_is_open(sv[1]));
        sd_event_unref(e);
}

/* The peer does not read: the socket fills, datagrams wait in the queue up to its bound, the
 * rest is refused and counted; once the peer reads, the queue drains in order. */
static void test_queue(gconstpointer data) {
        int type = GPOINTER_TO_INT(data);
        ChannelQueueStats q;
        sd_event *e = NULL;
        uint32_t accepted = 0, refused = 0, first_queued = UINT32_MAX;
        Peer a, b;
        int sv[2], small = 4096;

        g_assert_cmpint(sd_event_new(&e), ==, 0);
        peer_init(&a, e);
        peer_init(&b, e);
        g_assert_cmpint(socketpair(AF_UNIX, type, 0, sv), ==, 0);
        g_assert_cmpint(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), ==, 0);
        g_assert_cmpint(channel_set_new_socketpair(e, sv[0], 1472, on_recv, &a, &a.set), ==, 0);

        channel_set_queue_stats(a.set, &q);
        g_assert_cmpuint(q.current, ==, 0);
        g_assert_cmpuint(q.max, ==, 4096);
        g_assert_cmpuint(q.nospace, ==, 0);

        for (uint32_t i = 0; refused < 10; i++) {
                GBytes *d = datagram(i, 200);
                int r = send_bytes(a.set, d);

                g_bytes_unref(d);
                if (r == 0) {
                        g_assert_cmpuint(refused, ==, 0);       /* no gaps: refused only at the end */
                        accepted++;
                        channel_set_queue_stats(a.set, &q);
                        if (q.current > 0 && first_queued == UINT32_MAX)
                                first_queued = i;
                } else {
                        g_assert_cmpint(r, ==, -ENOBUFS);
                        refused++;
                }
                /* the loop runs in between: nothing drains while the peer does not read */
                g_assert_cmpint(sd_event_run(e, 0), >=, 0);
                g_assert_cmpuint(i, <, 100000);
        }
        g_assert_cmpuint(first_queued, >, 0);           /* some went straight to the socket */
        g_assert_cmpuint(first_queued, <, 1000);
        channel_set_queue_stats(a.set, &q);
        g_assert_cmpuint(q.current, ==, 4096);
        g_assert_cmpuint(q.nospace, ==, 10);
        g_assert_cmpuint(accepted, ==, first_queued + 4096);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->pkts_sent, ==, first_queued);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->err_sent, ==, 0);

        /* now the peer reads: all that was accepted arrives, in order */
        g_assert_cmpint(channel_set_new_socketpair(e, sv[1], 1472, on_recv, &b, &b.set), ==, 0);
        g_assert_true(run_until_received(e, &b, accepted));
        g_assert_cmpint(sd_event_run(e, 10 * USEC_PER_MSEC), >=, 0);
        g_assert_cmpuint(b.received->len, ==, accepted);
        for (guint i = 0; i < b.received->len; i++) {
                Received *r = &g_array_index(b.received, Received, i);

                g_assert_cmpuint(datagram_seq(r->data), ==, i);
                g_assert_cmpuint(g_bytes_get_size(r->data), ==, 200);
        }
        channel_set_queue_stats(a.set, &q);
        g_assert_cmpuint(q.current, ==, 0);
        g_assert_cmpuint(q.nospace, ==, 10);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->pkts_sent, ==, accepted);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->bytes_sent, ==, (uint64_t) accepted * 200);

        /* an empty queue asks for no EPOLLOUT: the loop goes idle */
        g_assert_cmpint(sd_event_run(e, 0), ==, 0);

        /* and new datagrams go straight out again */
        {
                GBytes *d = datagram(accepted, 200);

                g_assert_cmpint(send_bytes(a.set, d), ==, 0);
                g_bytes_unref(d);
                channel_set_queue_stats(a.set, &q);
                g_assert_cmpuint(q.current, ==, 0);
                g_assert_true(run_until_received(e, &b, accepted + 1));
        }

        peer_done(&a);
        peer_done(&b);
        sd_event_unref(e);
}

/* The other end closes: no busy loop on a socket that stays readable, sends fail and count. */
static void test_peer_closed(void) {
        ChannelQueueStats q;
        sd_event *e = NULL;
        Peer a;
        int sv[2], small = 4096, r;
        GBytes *d = datagram(1, 300);

        g_assert_cmpint(sd_event_new(&e), ==, 0);
        peer_init(&a, e);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), ==, 0);
        g_assert_cmpint(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), ==, 0);
        g_assert_cmpint(channel_set_new_socketpair(e, sv[0], 1472, on_recv, &a, &a.set), ==, 0);

        /* something waits in the queue when the peer goes */
        for (unsigned i = 0; i < 1000; i++) {
                g_assert_cmpint(send_bytes(a.set, d), ==, 0);
                channel_set_queue_stats(a.set, &q);
                if (q.current >= 3)
                        break;
        }
        g_assert_cmpuint(q.current, >=, 3);
        close(sv[1]);

        /* a few iterations settle it; then the loop has nothing to do */
        for (unsigned i = 0; i < 5; i++)
                g_assert_cmpint(sd_event_run(e, 10 * USEC_PER_MSEC), >=, 0);
        g_assert_cmpint(sd_event_run(e, 0), ==, 0);
        channel_set_queue_stats(a.set, &q);
        g_assert_cmpuint(q.current, ==, 0);
        g_assert_cmpuint(channel_set_stats(a.set, 0)->err_sent, >=, 3);
        g_assert_cmpuint(a.received->len, ==, 0);

        r = send_bytes(a.set, d);
        g_assert_cmpint(r, ==, -EPIPE);
        g_assert_cmpint(channel_set_link_status(a.set, 0), ==, CHANNEL_LINK_RUNNING);

        g_bytes_unref(d);
        peer_done(&a);
        sd_event_unref(e);
}

static void test_wrong_socket(void) {
        sd_event *e = NULL;
        ChannelSet *s = NULL;
        int sv[2];

        g_assert_cmpint(sd_event_new(&e), ==, 0);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
        g_assert_cmpint(channel_set_new_socketpair(e, sv[0], 1472, on_recv, NULL, &s), ==,
                        -EPROTOTYPE);
        g_assert_null(s);
        /* refused: the fd is still the caller's */
        g_assert_true(fd_is_open(sv[0]));
        g_assert_cmpint(channel_set_new_socketpair(e, -1, 1472, on_recv, NULL, &s), ==, -EBADF);
        close(sv[0]);
        close(sv[1]);

        g_assert_cmpint(channel_set_send(NULL, (const uint8_t *) "x", 1), ==, -ENOLINK);
        g_assert_cmpuint(channel_set_count(NULL), ==, 0);
        g_assert_cmpuint(channel_set_payload(NULL), ==, 0);
        sd_event_unref(e);
}

typedef struct BadConfig {
        const char *name;
        ChannelConfig configs[2];
        size_t n;
        int error;
} BadConfig;

static const BadConfig bad_configs[] = {
        {
                "no-interface",
                { { .type = CHANNEL_UDP, .family = AF_INET, .has_destination = true, .port = 3780 } },
                1, -ENODEV,
        },
        {
                "unknown-interface",
                { { .type = CHANNEL_UDP, .family = AF_INET, .has_destination = true, .port = 3780,
                    .interface = "nosuchif9" } },
                1, -ENODEV,
        },
        {
                "unknown-interface-second-link",
                { { .type = CHANNEL_UDP, .family = AF_INET, .has_destination = true, .port = 3780,
                    .interface = "lo" },
                  { .type = CHANNEL_UDP, .family = AF_INET, .has_destination = true, .port = 3781,
                    .interface = "nosuchif9" } },
                2, -ENODEV,
        },
        {
                "mixed-types",
                { { .type = CHANNEL_UDP, .family = AF_INET, .interface = "lo" },
                  { .type = CHANNEL_TCP, .family = AF_INET, .interface = "lo" } },
                2, -EINVAL,
        },
        {
                "udp-no-destination",
                { { .type = CHANNEL_UDP, .family = AF_INET, .port = 3780, .interface = "lo" } },
                1, -EDESTADDRREQ,
        },
        {
                "multicast-unicast-group",
                { { .type = CHANNEL_MULTICAST, .family = AF_INET, .has_address = true,
                    .address.ip = 0x0100007f, .port = 3780, .interface = "lo" } },
                1, -EINVAL,
        },
        {
                "no-family",
                { { .type = CHANNEL_TCP, .has_destination = true, .port = 3780,
                    .interface = "lo" } },
                1, -EAFNOSUPPORT,
        },
};

/* Refused before anything is bound (these never reach a bind()), with nothing left open. */
static void test_bad_config(gconstpointer data) {
        const BadConfig *c = data;
        unsigned fds = count_open_fds();
        ChannelSet *s = NULL;
        sd_event *e = NULL;

        g_assert_cmpint(sd_event_new(&e), ==, 0);
        g_assert_cmpint(channel_set_new(e,
                                        &(ChannelSetOptions) {
                                                .configs = c->configs,
                                                .n_configs = c->n,
                                                .recv = on_recv,
                                        },
                                        &s), ==, c->error);
        g_assert_null(s);
        sd_event_unref(e);
        g_assert_cmpuint(count_open_fds(), ==, fds);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        log_setup(LOG_TARGET_CONSOLE, g_test_verbose() ? LOG_DEBUG : LOG_ERR);

        g_test_add_func("/channel/link-status-table", test_status_table);
        g_test_add_data_func("/channel/socketpair/seqpacket/send-recv",
                             GINT_TO_POINTER(SOCK_SEQPACKET), test_send_recv);
        g_test_add_data_func("/channel/socketpair/dgram/send-recv", GINT_TO_POINTER(SOCK_DGRAM),
                             test_send_recv);
        g_test_add_data_func("/channel/socketpair/seqpacket/queue", GINT_TO_POINTER(SOCK_SEQPACKET),
                             test_queue);
        g_test_add_data_func("/channel/socketpair/dgram/queue", GINT_TO_POINTER(SOCK_DGRAM),
                             test_queue);
        g_test_add_func("/channel/socketpair/peer-closed", test_peer_closed);
        g_test_add_func("/channel/socketpair/wrong-socket", test_wrong_socket);
        for (size_t i = 0; i < G_N_ELEMENTS(bad_configs); i++) {
                g_autofree char *path = g_strdup_printf("/channel/bad-config/%s",
                                                        bad_configs[i].name);

                g_test_add_data_func(path, &bad_configs[i], test_bad_config);
        }
        return g_test_run();
}
