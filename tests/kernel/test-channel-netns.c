/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dedicated links against the real kernel, in a network namespace of the test's own
 * (unshare(CLONE_NEWNET) at the start of main; skipped with the reason when that is impossible).
 * Two channel sets in one process talk over veth pairs: UDP over IPv4 and IPv6, IPv4 and IPv6
 * multicast, TCP (a client that starts before its server, replay of what was queued,
 * reconnection after the server went away, partial writes, the error queue bound), link
 * failover driven by rtnetlink, a valid message making a link active, socket-activated receive
 * sockets, and errors that leave nothing open.
 *
 *   va0 10.0.0.1 fd00::1 ---- vb0 10.0.0.2 fd00::2
 *   va1 10.0.1.1          ---- vb1 10.0.1.2
 *   ma0 10.0.2.1 fd02::1 ---- mb0 10.0.2.2 fd02::2   (groups 225.0.0.50, ff02::50)
 */

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "log.h"

#define WAIT_USEC (15 * USEC_PER_SEC)

static const char *skip_reason;
static int log_fd = -1;         /* the log file, unlinked at once: nothing left behind */

/* ---- the namespace ---- */

static bool sh(const char *cmd) {
        int r = system(cmd);

        if (r != 0)
                g_message("'%s' failed (status %d)", cmd, r);
        return r == 0;
}

/* IFF_UP and IFF_RUNNING (/sys/class/net shows the namespace sysfs was mounted in, not ours). */
static bool interface_running(const char *ifname) {
        struct ifreq ifr = {};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        bool up;

        g_assert_cmpint(fd, >=, 0);
        g_strlcpy(ifr.ifr_name, ifname, sizeof ifr.ifr_name);
        up = ioctl(fd, SIOCGIFFLAGS, &ifr) >= 0 &&
             (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING);
        close(fd);
        return up;
}

static const char *const interfaces[] = { "va0", "vb0", "va1", "vb1", "ma0", "mb0" };

/* veth carrier comes up asynchronously (linkwatch): wait for it, with a deadline. */
static bool wait_interfaces_up(void) {
        gint64 deadline = g_get_monotonic_time() + WAIT_USEC;

        for (;;) {
                bool all = true;

                for (size_t i = 0; i < G_N_ELEMENTS(interfaces); i++)
                        all = all && interface_running(interfaces[i]);
                if (all)
                        return true;
                if (g_get_monotonic_time() > deadline)
                        return false;
                g_usleep(10000);
        }
}

static void setup_namespace(void) {
        static const char *const cmds[] = {
                "ip link set lo up",
                "ip link add va0 type veth peer name vb0",
                "ip link add va1 type veth peer name vb1",
                "ip link add ma0 type veth peer name mb0",
                "ip addr add 10.0.0.1/24 dev va0",
                "ip addr add 10.0.0.2/24 dev vb0",
                "ip addr add 10.0.1.1/24 dev va1",
                "ip addr add 10.0.1.2/24 dev vb1",
                "ip addr add 10.0.2.1/24 dev ma0",
                "ip addr add 10.0.2.2/24 dev mb0",
                "ip -6 addr add fd00::1/64 dev va0 nodad",
                "ip -6 addr add fd00::2/64 dev vb0 nodad",
                "ip -6 addr add fd02::1/64 dev ma0 nodad",
                "ip -6 addr add fd02::2/64 dev mb0 nodad",
                /* multicast between two interfaces of one namespace: the source address is a
                 * local one, which the receiving side must accept */
                "sysctl -q -w net.ipv4.conf.all.rp_filter=0",
                "sysctl -q -w net.ipv4.conf.ma0.accept_local=1",
                "sysctl -q -w net.ipv4.conf.mb0.accept_local=1",
                "ip link set va0 up", "ip link set vb0 up", "ip link set va1 up",
                "ip link set vb1 up", "ip link set ma0 up", "ip link set mb0 up",
        };
        g_autofree char *ip = NULL;

        if (geteuid() != 0) {
                skip_reason = "not root: a network namespace needs CAP_SYS_ADMIN";
                return;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                skip_reason = g_strdup_printf("unshare(CLONE_NEWNET) failed: %s", g_strerror(errno));
                return;
        }
        ip = g_find_program_in_path("ip");
        if (!ip) {
                skip_reason = "no ip(8) (iproute2)";
                return;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(cmds); i++)
                if (!sh(cmds[i])) {
                        skip_reason = g_strdup_printf("cannot set up the namespace: '%s' failed",
                                                      cmds[i]);
                        return;
                }
        if (!wait_interfaces_up())
                skip_reason = "the veth pairs did not come up";
}

#define SKIP_IF_NEEDED()                                \
        do {                                            \
                if (skip_reason) {                      \
                        g_test_skip(skip_reason);       \
                        return;                         \
                }                                       \
        } while (0)

static bool log_contains(const char *needle) {
        g_autoptr(GString) text = g_string_new(NULL);
        char buf[4096];
        off_t off = 0;
        ssize_t n;

        while ((n = pread(log_fd, buf, sizeof buf, off)) > 0) {
                g_string_append_len(text, buf, n);
                off += n;
        }
        return strstr(text->str, needle) != NULL;
}

/* ---- peers ---- */

typedef struct Received {
        unsigned index;
        GBytes *data;
} Received;

typedef struct Peer {
        const char *name;
        ChannelSet *set;
        GArray *received;       /* Received */
        GByteArray *stream;     /* everything received, concatenated */
        bool mark_valid;        /* act like the sync layer: every datagram is valid */
} Peer;

typedef struct Fixture {
        sd_event *event;
        Peer a, b;
} Fixture;

/* Each callback carries whole messages: the header lengths chain exactly to its end. */
static void assert_whole_messages(const uint8_t *buf, size_t size) {
        size_t p = 0;

        while (p < size) {
                size_t len;

                g_assert_cmpuint(size - p, >=, 8);
                len = (size_t) buf[p + 2] << 8 | buf[p + 3];
                g_assert_cmpuint(len, >=, 8);
                g_assert_cmpuint(len, <=, size - p);
                p += len;
        }
}

static void on_recv(ChannelSet *s, unsigned index, const uint8_t *buf, size_t size,
                    void *userdata) {
        Peer *p = userdata;
        Received r = { index, g_bytes_new(buf, size) };

        g_assert_true(p->set == s);
        assert_whole_messages(buf, size);
        g_array_append_val(p->received, r);
        g_byte_array_append(p->stream, buf, (guint) size);
        if (p->mark_valid)
                channel_set_mark_valid(s, index);
}

static void received_clear(gpointer data) {
        Received *r = data;

        g_bytes_unref(r->data);
}

static void peer_init(Peer *p, const char *name) {
        *p = (Peer) {
                .name = name,
                .received = g_array_new(false, true, sizeof(Received)),
                .stream = g_byte_array_new(),
        };
        g_array_set_clear_func(p->received, received_clear);
}

static void peer_reset(Peer *p) {
        g_array_set_size(p->received, 0);
        g_byte_array_set_size(p->stream, 0);
}

static void peer_done(Peer *p) {
        p->set = channel_set_free(p->set);
        g_array_unref(p->received);
        g_byte_array_unref(p->stream);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        *f = (Fixture) {};
        peer_init(&f->a, "A");
        peer_init(&f->b, "B");
        if (skip_reason)
                return;
        g_assert_cmpint(sd_event_new(&f->event), ==, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        peer_done(&f->a);
        peer_done(&f->b);
        f->event = sd_event_unref(f->event);
        /* whatever a test did to the links, the next one starts with all of them up */
        if (!skip_reason) {
                for (size_t i = 0; i < G_N_ELEMENTS(interfaces); i++) {
                        g_autofree char *cmd = g_strdup_printf("ip link set %s up mtu 1500",
                                                               interfaces[i]);

                        g_assert_true(sh(cmd));
                }
                g_assert_true(wait_interfaces_up());
        }
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

typedef struct StreamWait {
        const Peer *peer;
        guint bytes;
} StreamWait;

static bool stream_has(Fixture *f, const void *data) {
        const StreamWait *w = data;

        return w->peer->stream->len >= w->bytes;
}

static void wait_bytes(Fixture *f, const Peer *p, guint bytes) {
        StreamWait w = { p, bytes };

        if (!run_until(f, stream_has, &w))
                g_error("%s received %u of %u bytes within the deadline", p->name, p->stream->len,
                        bytes);
}

typedef struct ActiveWait {
        const Peer *peer;
        unsigned active;
} ActiveWait;

static bool active_is(Fixture *f, const void *data) {
        const ActiveWait *w = data;

        return channel_set_active(w->peer->set) == w->active;
}

static void wait_active(Fixture *f, const Peer *p, unsigned active) {
        ActiveWait w = { p, active };

        if (!run_until(f, active_is, &w))
                g_error("%s: link %u did not become active (link %u is)", p->name, active,
                        channel_set_active(p->set));
}

typedef struct StatusWait {
        const Peer *peer;
        unsigned index;
        ChannelLinkStatus status;
} StatusWait;

static bool status_is(Fixture *f, const void *data) {
        const StatusWait *w = data;

        return channel_set_link_status(w->peer->set, w->index) == w->status;
}

static void wait_status(Fixture *f, const Peer *p, unsigned index, ChannelLinkStatus status) {
        StatusWait w = { p, index, status };

        if (!run_until(f, status_is, &w))
                g_error("%s: link %u is %s, not %s", p->name, index,
                        channel_link_status_to_string(channel_set_link_status(p->set, index)),
                        channel_link_status_to_string(status));
}

typedef struct TcpWait {
        const Peer *peer;
        bool client, server;
} TcpWait;

static bool tcp_is(Fixture *f, const void *data) {
        const TcpWait *w = data;

        return channel_set_tcp_client_connected(w->peer->set, 0) == w->client &&
               channel_set_tcp_server_connected(w->peer->set, 0) == w->server;
}

static void wait_tcp(Fixture *f, const Peer *p, bool client, bool server) {
        TcpWait w = { p, client, server };

        if (!run_until(f, tcp_is, &w))
                g_error("%s: TCP client %s / server %s, expected %s / %s", p->name,
                        yes_no(channel_set_tcp_client_connected(p->set, 0)),
                        yes_no(channel_set_tcp_server_connected(p->set, 0)), yes_no(client),
                        yes_no(server));
}

/* ---- configurations ---- */

static CtAddr addr(int family, const char *s) {
        CtAddr a = {};

        g_assert_cmpint(inet_pton(family, s, &a), ==, 1);
        return a;
}

static ChannelConfig link_config(ChannelType type, int family, const char *ifname,
                                 const char *address, const char *destination, uint16_t port) {
        ChannelConfig c = {
                .type = type,
                .family = family,
                .port = port,
                .checksum = true,
        };

        g_strlcpy(c.interface, ifname, sizeof c.interface);
        if (address) {
                c.address = addr(family, address);
                c.has_address = true;
        }
        if (destination) {
                c.destination = addr(family, destination);
                c.has_destination = true;
        }
        return c;
}

static int open_set(Fixture *f, Peer *p, const ChannelConfig *configs, size_t n,
                    const int *activated, uint32_t error_queue_length) {
        return channel_set_new(f->event,
                               &(ChannelSetOptions) {
                                       .configs = configs,
                                       .n_configs = n,
                                       .activated_fds = activated,
                                       .error_queue_length = error_queue_length,
                                       .recv = on_recv,
                                       .userdata = p,
                               },
                               &p->set);
}

/* A message-shaped datagram: header with length and 'seq', then a pattern. */
static GBytes *datagram(uint32_t seq, size_t size) {
        uint8_t *b = g_malloc0(size);

        g_assert_cmpuint(size, >=, 8);
        g_assert_cmpuint(size, <=, 65535);
        b[0] = 0x10;
        b[2] = (uint8_t) (size >> 8);
        b[3] = (uint8_t) size;
        b[4] = (uint8_t) (seq >> 24);
        b[5] = (uint8_t) (seq >> 16);
        b[6] = (uint8_t) (seq >> 8);
        b[7] = (uint8_t) seq;
        for (size_t i = 8; i < size; i++)
                b[i] = (uint8_t) (seq * 7 + i);
        return g_bytes_new_take(b, size);
}

/* Send 'n' datagrams from 'from', appending them to 'expect'; each must be accepted. */
static void send_n(Peer *from, GByteArray *expect, uint32_t first, unsigned n, size_t size) {
        for (unsigned i = 0; i < n; i++) {
                g_autoptr(GBytes) d = datagram(first + i, size);
                gsize len;
                const uint8_t *p = g_bytes_get_data(d, &len);

                g_assert_cmpint(channel_set_send(from->set, p, len), ==, 0);
                if (expect)
                        g_byte_array_append(expect, p, (guint) len);
        }
}

static void assert_stream(const Peer *p, const GByteArray *expect) {
        g_assert_cmpuint(p->stream->len, ==, expect->len);
        g_assert_cmpmem(p->stream->data, p->stream->len, expect->data, expect->len);
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

/* ---- tests ---- */

/* Datagrams both ways over one UDP link; one datagram, one callback, same bytes. */
static void exchange_datagrams(Fixture *f, size_t size) {
        g_autoptr(GByteArray) to_b = g_byte_array_new(), to_a = g_byte_array_new();

        for (uint32_t i = 0; i < 10; i++) {
                send_n(&f->a, to_b, i, 1, size + i);
                send_n(&f->b, to_a, 100 + i, 1, size - i);
        }
        wait_bytes(f, &f->b, to_b->len);
        wait_bytes(f, &f->a, to_a->len);
        assert_stream(&f->b, to_b);
        assert_stream(&f->a, to_a);
        g_assert_cmpuint(f->b.received->len, ==, 10);
        g_assert_cmpuint(f->a.received->len, ==, 10);
        for (guint i = 0; i < 10; i++) {
                g_assert_cmpuint(g_array_index(f->b.received, Received, i).index, ==, 0);
                g_assert_cmpuint(g_bytes_get_size(g_array_index(f->b.received, Received, i).data),
                                 ==, size + i);
        }
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->pkts_sent, ==, 10);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->bytes_sent, ==, to_b->len);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->pkts_recv, ==, 10);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->bytes_recv, ==, to_a->len);
        g_assert_cmpuint(channel_set_stats(f->b.set, 0)->pkts_recv, ==, 10);
        g_assert_cmpuint(channel_set_stats(f->b.set, 0)->bytes_recv, ==, to_b->len);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->err_sent, ==, 0);
        g_assert_cmpuint(channel_set_stats(f->b.set, 0)->err_recv, ==, 0);
}

typedef struct PayloadWait {
        const Peer *peer;
        size_t payload;
} PayloadWait;

static bool payload_is(Fixture *f, const void *data) {
        const PayloadWait *w = data;

        return channel_set_payload(w->peer->set) == w->payload;
}

static void test_udp4(Fixture *f, gconstpointer data) {
        ChannelConfig ca = link_config(CHANNEL_UDP, AF_INET, "va0", "10.0.0.1", "10.0.0.2", 3780);
        ChannelConfig cb = link_config(CHANNEL_UDP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3780);

        SKIP_IF_NEEDED();
        ca.checksum = false;    /* SO_NO_CHECK on the sending socket: still delivered */
        g_assert_cmpint(open_set(f, &f->a, &ca, 1, NULL, 0), ==, 0);
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, NULL, 0), ==, 0);
        g_assert_cmpint(channel_set_type(f->a.set, 0), ==, CHANNEL_UDP);
        g_assert_cmpstr(channel_set_device(f->a.set, 0), ==, "va0");
        g_assert_cmpint(channel_set_link_status(f->a.set, 0), ==, CHANNEL_LINK_RUNNING);
        g_assert_cmpuint(channel_set_payload(f->a.set), ==, 1500 - 28);

        exchange_datagrams(f, 1000);

        /* the MTU follows the interface (rtnetlink) */
        g_assert_true(sh("ip link set dev va0 mtu 1400"));
        if (!run_until(f, payload_is, &(PayloadWait) { &f->a, 1400 - 28 }))
                g_error("payload did not follow the MTU: %zu", channel_set_payload(f->a.set));
}

static void test_udp6(Fixture *f, gconstpointer data) {
        ChannelConfig ca = link_config(CHANNEL_UDP, AF_INET6, "va0", "fd00::1", "fd00::2", 3790);
        ChannelConfig cb = link_config(CHANNEL_UDP, AF_INET6, "vb0", "fd00::2", "fd00::1", 3790);

        SKIP_IF_NEEDED();
        g_assert_cmpint(open_set(f, &f->a, &ca, 1, NULL, 0), ==, 0);
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, NULL, 0), ==, 0);
        /* the IPv6 underlay keeps the 28-byte reservation of 1.4.x */
        g_assert_cmpuint(channel_set_payload(f->a.set), ==, 1500 - 28);
        exchange_datagrams(f, 1200);
}

static void test_multicast4(Fixture *f, gconstpointer data) {
        ChannelConfig ca = link_config(CHANNEL_MULTICAST, AF_INET, "ma0", "225.0.0.50", NULL, 3800);
        ChannelConfig cb = link_config(CHANNEL_MULTICAST, AF_INET, "mb0", "225.0.0.50", NULL, 3800);
        g_autoptr(GByteArray) none = g_byte_array_new();
        int fd;

        SKIP_IF_NEEDED();
        ca.interface_address = addr(AF_INET, "10.0.2.1");
        ca.has_interface_address = true;
        cb.interface_address = addr(AF_INET, "10.0.2.2");
        cb.has_interface_address = true;
        g_assert_cmpint(open_set(f, &f->a, &ca, 1, NULL, 0), ==, 0);
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, NULL, 0), ==, 0);

        /* each side gets the other's datagrams through the wire, never its own (loop off,
         * membership per interface) */
        exchange_datagrams(f, 900);

        /* the receive socket is bound to the group: unicast to the port stays out (1.4.7 bug) */
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        {
                struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(3800) };
                g_autoptr(GBytes) d = datagram(999, 100);

                to.sin_addr.s_addr = addr(AF_INET, "10.0.2.2").ip;
                g_assert_cmpint(sendto(fd, g_bytes_get_data(d, NULL), 100, 0,
                                       (struct sockaddr *) &to, sizeof to), ==, 100);
        }
        close(fd);
        /* a datagram that would arrive would come before this one, sent later */
        peer_reset(&f->b);
        send_n(&f->a, none, 1000, 1, 64);
        wait_bytes(f, &f->b, 64);
        g_assert_cmpuint(f->b.received->len, ==, 1);
        g_assert_cmpmem(f->b.stream->data, f->b.stream->len, none->data, none->len);
}

/* IPv6: the group joined on the Interface's index; a link-local scope group needs it */
static void test_multicast6(Fixture *f, gconstpointer data) {
        ChannelConfig ca = link_config(CHANNEL_MULTICAST, AF_INET6, "ma0", "ff02::50", NULL, 3801);
        ChannelConfig cb = link_config(CHANNEL_MULTICAST, AF_INET6, "mb0", "ff02::50", NULL, 3801);

        SKIP_IF_NEEDED();
        g_assert_cmpint(open_set(f, &f->a, &ca, 1, NULL, 0), ==, 0);
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, NULL, 0), ==, 0);
        exchange_datagrams(f, 900);
}

static void test_tcp(Fixture *f, gconstpointer data) {
        ChannelConfig ca = link_config(CHANNEL_TCP, AF_INET, "va0", "10.0.0.1", "10.0.0.2", 3781);
        ChannelConfig cb = link_config(CHANNEL_TCP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3781);
        g_autoptr(GByteArray) to_b = g_byte_array_new(), to_a = g_byte_array_new();
        ChannelQueueStats q;
        GBytes *d;

        SKIP_IF_NEEDED();
        /* small buffers (SndSocketBuffer, RcvSocketBuffer) so that the socket fills up */
        ca.snd_buffer = 16384;
        cb.rcv_buffer = 16384;
        /* A starts alone: its client cannot connect, what it sends waits */
        g_assert_cmpint(open_set(f, &f->a, &ca, 1, NULL, 64), ==, 0);
        g_assert_cmpuint(channel_set_payload(f->a.set), ==, 1500 - 40);
        g_assert_cmpint(channel_set_type(f->a.set, 0), ==, CHANNEL_TCP);
        send_n(&f->a, to_b, 0, 5, 300);
        channel_set_queue_stats(f->a.set, &q);
        g_assert_cmpuint(q.current, ==, 5);
        g_assert_cmpuint(q.max, ==, 64);
        g_assert_false(channel_set_tcp_client_connected(f->a.set, 0));
        g_assert_false(channel_set_tcp_server_connected(f->a.set, 0));

        /* B appears: both connections come up, what A kept arrives in order */
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, NULL, 64), ==, 0);
        wait_bytes(f, &f->b, to_b->len);
        assert_stream(&f->b, to_b);
        wait_tcp(f, &f->a, true, true);
        wait_tcp(f, &f->b, true, true);
        channel_set_queue_stats(f->a.set, &q);
        g_assert_cmpuint(q.current, ==, 0);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->pkts_sent, ==, 5);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->bytes_sent, ==, to_b->len);
        g_assert_cmpuint(channel_set_stats(f->b.set, 0)->bytes_recv, ==, to_b->len);

        /* the other way; a datagram sent alone arrives as one callback */
        peer_reset(&f->a);
        send_n(&f->b, to_a, 100, 1, 777);
        wait_bytes(f, &f->a, to_a->len);
        g_assert_cmpuint(f->a.received->len, ==, 1);
        assert_stream(&f->a, to_a);

        /* more than the socket takes at once: partial writes, the rest queued and finished in
         * order; the receiver cuts the stream at message boundaries */
        peer_reset(&f->b);
        g_byte_array_set_size(to_b, 0);
        send_n(&f->a, to_b, 1000, 60, 30000);
        channel_set_queue_stats(f->a.set, &q);
        g_assert_cmpuint(q.current, >, 0);
        wait_bytes(f, &f->b, to_b->len);
        assert_stream(&f->b, to_b);
        channel_set_queue_stats(f->a.set, &q);
        g_assert_cmpuint(q.current, ==, 0);
        g_assert_cmpuint(q.nospace, ==, 0);

        /* B goes away: A notices on both connections */
        f->b.set = channel_set_free(f->b.set);
        wait_tcp(f, &f->a, false, false);

        /* while disconnected, ErrorQueueLength buffers are kept, the rest refused */
        peer_reset(&f->b);
        g_byte_array_set_size(to_b, 0);
        send_n(&f->a, to_b, 2000, 64, 200);
        d = datagram(3000, 200);
        g_assert_cmpint(channel_set_send(f->a.set, g_bytes_get_data(d, NULL), 200), ==, -ENOBUFS);
        g_assert_cmpint(channel_set_send(f->a.set, g_bytes_get_data(d, NULL), 200), ==, -ENOBUFS);
        g_bytes_unref(d);
        channel_set_queue_stats(f->a.set, &q);
        g_assert_cmpuint(q.current, ==, 64);
        g_assert_cmpuint(q.nospace, ==, 2);

        /* B is back: A reconnects (within its one-per-second rate) and replays */
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, NULL, 64), ==, 0);
        wait_bytes(f, &f->b, to_b->len);
        assert_stream(&f->b, to_b);
        wait_tcp(f, &f->a, true, true);
        channel_set_queue_stats(f->a.set, &q);
        g_assert_cmpuint(q.current, ==, 0);
}

static void test_tcp_stream_errors(Fixture *f, gconstpointer data) {
        ChannelConfig cb = link_config(CHANNEL_TCP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3785);
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(3785) };
        /* a message split over two writes, then one with a length below the header size */
        static const uint8_t part1[] = { 0x10, 0, 0, 12, 0, 0, 0, 1, 0xaa };
        static const uint8_t part2[] = { 0xbb, 0xcc, 0xdd };
        static const uint8_t bad[] = { 0x10, 0, 0, 4, 0, 0, 0, 2 };
        int fd;

        SKIP_IF_NEEDED();
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, NULL, 8), ==, 0);
        to.sin_addr.s_addr = addr(AF_INET, "10.0.0.2").ip;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(connect(fd, (struct sockaddr *) &to, sizeof to), ==, 0);
        wait_tcp(f, &f->b, false, true);

        g_assert_cmpint(write(fd, part1, sizeof part1), ==, sizeof part1);
        for (unsigned i = 0; i < 5; i++)
                g_assert_cmpint(sd_event_run(f->event, 10 * USEC_PER_MSEC), >=, 0);
        g_assert_cmpuint(f->b.received->len, ==, 0);    /* incomplete: kept */
        g_assert_cmpint(write(fd, part2, sizeof part2), ==, sizeof part2);
        wait_bytes(f, &f->b, 12);
        g_assert_cmpuint(f->b.received->len, ==, 1);

        /* no way to find the next message: the connection is dropped and counted */
        g_assert_cmpint(write(fd, bad, sizeof bad), ==, sizeof bad);
        wait_tcp(f, &f->b, false, false);
        g_assert_cmpuint(channel_set_stats(f->b.set, 0)->err_recv, ==, 1);
        g_assert_cmpuint(f->b.received->len, ==, 1);
        close(fd);
}

static void test_failover(Fixture *f, gconstpointer data) {
        ChannelConfig ca[2] = {
                link_config(CHANNEL_UDP, AF_INET, "va0", "10.0.0.1", "10.0.0.2", 3782),
                link_config(CHANNEL_UDP, AF_INET, "va1", "10.0.1.1", "10.0.1.2", 3782),
        };
        ChannelConfig cb[2] = {
                link_config(CHANNEL_UDP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3782),
                link_config(CHANNEL_UDP, AF_INET, "vb1", "10.0.1.2", "10.0.1.1", 3782),
        };
        g_autoptr(GByteArray) to_b = g_byte_array_new();

        SKIP_IF_NEEDED();
        g_assert_cmpint(open_set(f, &f->a, ca, 2, NULL, 0), ==, 0);
        g_assert_cmpint(open_set(f, &f->b, cb, 2, NULL, 0), ==, 0);
        g_assert_cmpuint(channel_set_count(f->a.set), ==, 2);
        g_assert_cmpuint(channel_set_active(f->a.set), ==, 0);
        g_assert_cmpstr(channel_set_device(f->a.set, 1), ==, "va1");

        send_n(&f->a, to_b, 0, 1, 100);
        wait_bytes(f, &f->b, to_b->len);
        g_assert_cmpuint(g_array_index(f->b.received, Received, 0).index, ==, 0);

        /* link 0 goes down: link 1 takes over, as the log says */
        g_assert_true(sh("ip link set dev va0 down"));
        wait_active(f, &f->a, 1);
        g_assert_cmpint(channel_set_link_status(f->a.set, 0), ==, CHANNEL_LINK_DOWN);
        g_assert_cmpint(channel_set_link_status(f->a.set, 1), ==, CHANNEL_LINK_RUNNING);
        g_assert_true(log_contains("device `va1' becomes dedicated link"));
        /* the other end of the veth lost its carrier */
        wait_status(f, &f->b, 0, CHANNEL_LINK_NO_CARRIER);
        wait_active(f, &f->b, 1);

        peer_reset(&f->b);
        g_byte_array_set_size(to_b, 0);
        send_n(&f->a, to_b, 1, 3, 100);
        wait_bytes(f, &f->b, to_b->len);
        for (guint i = 0; i < f->b.received->len; i++)
                g_assert_cmpuint(g_array_index(f->b.received, Received, i).index, ==, 1);
        g_assert_cmpuint(channel_set_stats(f->a.set, 1)->pkts_sent, ==, 3);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->pkts_sent, ==, 1);

        /* link 0 comes back: no switch back while link 1 is fine */
        g_assert_true(sh("ip link set dev va0 up"));
        wait_status(f, &f->a, 0, CHANNEL_LINK_RUNNING);
        wait_status(f, &f->b, 0, CHANNEL_LINK_RUNNING);
        g_assert_cmpuint(channel_set_active(f->a.set), ==, 1);

        /* link 1 goes down: back to 0 */
        g_assert_true(sh("ip link set dev va1 down"));
        wait_active(f, &f->a, 0);
        g_assert_true(log_contains("device `va0' becomes dedicated link"));

        /* and both down: nothing to move to */
        g_assert_true(sh("ip link set dev va0 down"));
        wait_status(f, &f->a, 0, CHANNEL_LINK_DOWN);
        g_assert_true(log_contains("no dedicated links available!"));
        g_assert_cmpuint(channel_set_active(f->a.set), ==, 0);
}

/* A valid message on link 1 makes link 1 active (the sync layer's mark_valid). */
static void test_mark_valid(Fixture *f, gconstpointer data) {
        ChannelConfig ca[2] = {
                link_config(CHANNEL_UDP, AF_INET, "va0", "10.0.0.1", "10.0.0.2", 3784),
                link_config(CHANNEL_UDP, AF_INET, "va1", "10.0.1.1", "10.0.1.2", 3784),
        };
        ChannelConfig cb[2] = {
                link_config(CHANNEL_UDP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3784),
                link_config(CHANNEL_UDP, AF_INET, "vb1", "10.0.1.2", "10.0.1.1", 3784),
        };
        g_autoptr(GByteArray) to_a = g_byte_array_new(), to_b = g_byte_array_new();

        SKIP_IF_NEEDED();
        cb[1].is_default = true;
        f->a.mark_valid = true;
        g_assert_cmpint(open_set(f, &f->a, ca, 2, NULL, 0), ==, 0);
        g_assert_cmpint(open_set(f, &f->b, cb, 2, NULL, 0), ==, 0);
        g_assert_cmpuint(channel_set_active(f->a.set), ==, 0);
        g_assert_cmpuint(channel_set_active(f->b.set), ==, 1);  /* "UDP Default" */

        send_n(&f->b, to_a, 0, 1, 100);
        wait_bytes(f, &f->a, to_a->len);
        g_assert_cmpuint(g_array_index(f->a.received, Received, 0).index, ==, 1);
        g_assert_cmpuint(channel_set_active(f->a.set), ==, 1);

        send_n(&f->a, to_b, 0, 1, 100);
        wait_bytes(f, &f->b, to_b->len);
        g_assert_cmpuint(g_array_index(f->b.received, Received, 0).index, ==, 1);
        g_assert_cmpuint(channel_set_stats(f->a.set, 0)->pkts_sent, ==, 0);
        g_assert_cmpuint(channel_set_stats(f->a.set, 1)->pkts_sent, ==, 1);
}

static int bound_socket(int type, const char *address, uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        sa.sin_addr.s_addr = addr(AF_INET, address).ip;
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
        if (type == SOCK_STREAM)
                g_assert_cmpint(listen(fd, 1), ==, 0);
        return fd;
}

/* Socket activation: the set receives on the socket it is given, and refuses a wrong one. */
static void test_activated(Fixture *f, gconstpointer data) {
        ChannelConfig ca = link_config(CHANNEL_UDP, AF_INET, "va0", "10.0.0.1", "10.0.0.2", 3786);
        ChannelConfig cb = link_config(CHANNEL_UDP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3786);
        ChannelConfig tb = link_config(CHANNEL_TCP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3787);
        g_autoptr(GByteArray) to_b = g_byte_array_new();
        unsigned fds;
        int wrong, good;

        SKIP_IF_NEEDED();
        /* a stream socket for a UDP link: refused, and still the caller's */
        wrong = bound_socket(SOCK_STREAM, "10.0.0.2", 3786);
        fds = count_open_fds();
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, &wrong, 0), ==, -EPROTOTYPE);
        g_assert_null(f->b.set);
        g_assert_cmpuint(count_open_fds(), ==, fds);
        g_assert_cmpint(fcntl(wrong, F_GETFD), >=, 0);
        /* the same for TCP: a datagram socket is no listening socket */
        close(wrong);
        wrong = bound_socket(SOCK_DGRAM, "10.0.0.2", 3787);
        g_assert_cmpint(open_set(f, &f->b, &tb, 1, &wrong, 0), ==, -EPROTOTYPE);
        g_assert_cmpint(fcntl(wrong, F_GETFD), >=, 0);
        close(wrong);

        good = bound_socket(SOCK_DGRAM, "10.0.0.2", 3786);
        g_assert_cmpint(open_set(f, &f->b, &cb, 1, &good, 0), ==, 0);
        g_assert_true(fcntl(good, F_GETFL) & O_NONBLOCK);
        g_assert_cmpint(open_set(f, &f->a, &ca, 1, NULL, 0), ==, 0);
        send_n(&f->a, to_b, 0, 3, 500);
        wait_bytes(f, &f->b, to_b->len);
        assert_stream(&f->b, to_b);
        /* the set owns it now */
        f->b.set = channel_set_free(f->b.set);
        g_assert_cmpint(fcntl(good, F_GETFD), <, 0);
}

/* A bind that fails names the link and leaves nothing open. */
static void test_bind_error(Fixture *f, gconstpointer data) {
        ChannelConfig ok = link_config(CHANNEL_TCP, AF_INET, "va0", "10.0.0.1", "10.0.0.2", 3788);
        ChannelConfig cb[2] = {
                link_config(CHANNEL_TCP, AF_INET, "vb0", "10.0.0.2", "10.0.0.1", 3789),
                /* the port A listens on already */
                link_config(CHANNEL_TCP, AF_INET, "va0", "10.0.0.1", "10.0.0.2", 3788),
        };
        unsigned fds;

        SKIP_IF_NEEDED();
        g_assert_cmpint(open_set(f, &f->a, &ok, 1, NULL, 0), ==, 0);
        fds = count_open_fds();
        g_assert_cmpint(open_set(f, &f->b, cb, 2, NULL, 0), ==, -EADDRINUSE);
        g_assert_null(f->b.set);
        g_assert_cmpuint(count_open_fds(), ==, fds);
        g_assert_true(log_contains("TCP link 1 (va0): cannot bind 10.0.0.1:3788"));
}

#define ADD(name, func) \
        g_test_add("/channel-netns/" name, Fixture, NULL, fixture_setup, func, fixture_teardown)

int main(int argc, char *argv[]) {
        g_autofree char *log_path = NULL;
        int r;

        g_test_init(&argc, &argv, NULL);
        log_setup(LOG_TARGET_CONSOLE, g_test_verbose() ? LOG_DEBUG : LOG_INFO);
        /* the log lines the tests look for go to a file as well */
        log_fd = g_file_open_tmp("test-channel-netns-XXXXXX.log", &log_path, NULL);
        g_assert_cmpint(log_fd, >=, 0);
        g_assert_cmpint(log_open_file(log_path), ==, 0);
        (void) g_unlink(log_path);
        setup_namespace();

        ADD("udp4", test_udp4);
        ADD("udp6", test_udp6);
        ADD("multicast4", test_multicast4);
        ADD("multicast6", test_multicast6);
        ADD("tcp", test_tcp);
        ADD("tcp-stream-errors", test_tcp_stream_errors);
        ADD("failover", test_failover);
        ADD("mark-valid", test_mark_valid);
        ADD("activated", test_activated);
        ADD("bind-error", test_bind_error);

        r = g_test_run();
        log_close_file();
        close(log_fd);
        return r;
}
