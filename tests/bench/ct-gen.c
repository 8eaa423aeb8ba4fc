/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct-gen: fill (or empty) the kernel conntrack table of the current network namespace as fast as
 * netlink allows, for benchmarks. Many IPCTNL_MSG_CT_NEW (or IPCTNL_MSG_CT_DELETE) messages are
 * packed into each sendmsg() with libmnl's batch helper. The kernel handles a write to a netlink
 * socket synchronously, in the writer's context, so the time from the first sendmsg() until the
 * last one returns is the time the kernel took to insert the flows (and to emit their events).
 *
 *   ct-gen create N [--base B] [--timeout SECS] [--batch BYTES]
 *   ct-gen delete N [--base B] [--batch BYTES]
 *
 * Flow i of base B: TCP ESTABLISHED, ASSURED, 10.B.(i/256%256).(i%256):(1024 + i/65536) ->
 * 192.168.0.1:80, reply tuple mirrored, default timeout 600 s. Distinct bases give disjoint sets.
 *
 * Prints one line of key=value figures:
 *   create flows=N ok=N failed=F seconds=S rate=R sys_seconds=S start_ns=T0 end_ns=T1
 * seconds = T1 - T0 (wall time of the sendmsg() calls), sys_seconds = kernel CPU time spent on
 * our behalf; T0/T1 are CLOCK_MONOTONIC, comparable with any other process's monotonic clock.
 * Exit status: 0 if every message succeeded, 1 if some failed, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "macro.h"

#define FLOWS_MAX (UINT32_C(65536) * 1024)      /* source ports 1024..2047 */
#define DEFAULT_BATCH_BYTES (256u * 1024u)
#define DEFAULT_TIMEOUT_SEC 600u

typedef enum GenOp {
        GEN_CREATE,
        GEN_DELETE,
} GenOp;

typedef struct Gen {
        struct mnl_socket *nl;
        struct mnl_nlmsg_batch *batch;
        char *buf;
        size_t batch_bytes;
        char *rbuf;
        size_t rbuf_size;
        uint32_t seq;
        uint64_t sent;
        uint64_t failed;
        uint64_t overruns;      /* error reports lost because our receive buffer overflowed */
        int first_error;        /* negative errno of the first failed message, 0 if none */
} Gen;

static Gen *gen_free(Gen *g) {
        if (!g)
                return NULL;
        if (g->batch)
                mnl_nlmsg_batch_stop(g->batch);
        if (g->nl)
                mnl_socket_close(g->nl);
        free(g->buf);
        free(g->rbuf);
        free(g);
        return NULL;
}
DEFINE_CLEANUP_FUNC(Gen *, gen_free);

static int gen_new(size_t batch_bytes, Gen **ret) {
        _cleanup_(gen_freep) Gen *g = NULL;
        int one = 1, sz;

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        *g = (Gen) {
                .batch_bytes = batch_bytes,
                .rbuf_size = MNL_SOCKET_BUFFER_SIZE * 4,
                .seq = (uint32_t) time(NULL),
        };

        /* libmnl lets the message that does not fit any more spill past the limit: room for two */
        g->buf = malloc(batch_bytes * 2);
        g->rbuf = malloc(g->rbuf_size);
        if (!g->buf || !g->rbuf)
                return -ENOMEM;
        g->batch = mnl_nlmsg_batch_start(g->buf, batch_bytes);
        if (!g->batch)
                return -ENOMEM;

        g->nl = mnl_socket_open(NETLINK_NETFILTER);
        if (!g->nl)
                return negative_errno();
        if (mnl_socket_bind(g->nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return negative_errno();

        /* Error reports without the echoed request: 36 bytes each instead of ~200. */
        (void) mnl_socket_setsockopt(g->nl, NETLINK_CAP_ACK, &one, sizeof(one));

        /* A batch must fit the send buffer; failures are reported back, so make room for them
         * too. The FORCE variants need CAP_NET_ADMIN and ignore net.core.[rw]mem_max. */
        sz = (int) MIN(batch_bytes * 4, (size_t) INT32_MAX / 2);
        if (setsockopt(mnl_socket_get_fd(g->nl), SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
                (void) setsockopt(mnl_socket_get_fd(g->nl), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        sz = 64 * 1024 * 1024;
        if (setsockopt(mnl_socket_get_fd(g->nl), SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
                (void) setsockopt(mnl_socket_get_fd(g->nl), SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));

        *ret = TAKE_PTR(g);
        return 0;
}

static void flow_tuple(uint32_t i, unsigned base, uint32_t *ret_src, uint16_t *ret_sport) {
        *ret_src = htonl(UINT32_C(0x0a000000) | (uint32_t) (base & 0xffu) << 16 | (i & 0xffffu));
        *ret_sport = htons((uint16_t) (1024u + (i >> 16)));
}

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, uint32_t src, uint32_t dst,
                      uint16_t sport, uint16_t dport) {
        struct nlattr *tuple, *ip, *proto;

        tuple = mnl_attr_nest_start(nlh, NLA_F_NESTED | type);
        ip = mnl_attr_nest_start(nlh, NLA_F_NESTED | CTA_TUPLE_IP);
        mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, src);
        mnl_attr_put_u32(nlh, CTA_IP_V4_DST, dst);
        mnl_attr_nest_end(nlh, ip);
        proto = mnl_attr_nest_start(nlh, NLA_F_NESTED | CTA_TUPLE_PROTO);
        mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_TCP);
        mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, sport);
        mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, dport);
        mnl_attr_nest_end(nlh, proto);
        mnl_attr_nest_end(nlh, tuple);
}

static void gen_put_flow(Gen *g, GenOp op, uint32_t i, unsigned base, uint32_t timeout) {
        const uint32_t dst = htonl(UINT32_C(0xc0a80001));
        const uint16_t dport = htons(80);
        struct nlmsghdr *nlh;
        struct nfgenmsg *nfg;
        struct nlattr *pinfo, *tcp;
        uint32_t src;
        uint16_t sport;

        flow_tuple(i, base, &src, &sport);

        nlh = mnl_nlmsg_put_header(mnl_nlmsg_batch_current(g->batch));
        nlh->nlmsg_type = NFNL_SUBSYS_CTNETLINK << 8 |
                (op == GEN_CREATE ? IPCTNL_MSG_CT_NEW : IPCTNL_MSG_CT_DELETE);
        nlh->nlmsg_flags = NLM_F_REQUEST | (op == GEN_CREATE ? NLM_F_CREATE | NLM_F_EXCL : 0);
        nlh->nlmsg_seq = g->seq++;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_INET;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = 0;

        put_tuple(nlh, CTA_TUPLE_ORIG, src, dst, sport, dport);
        if (op == GEN_CREATE) {
                put_tuple(nlh, CTA_TUPLE_REPLY, dst, src, dport, sport);
                /* CONFIRMED as the kernel has it already: asking to change that bit is EBUSY */
                mnl_attr_put_u32(nlh, CTA_STATUS,
                                 htonl(IPS_CONFIRMED | IPS_ASSURED | IPS_SEEN_REPLY));
                mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(timeout));
                pinfo = mnl_attr_nest_start(nlh, NLA_F_NESTED | CTA_PROTOINFO);
                tcp = mnl_attr_nest_start(nlh, NLA_F_NESTED | CTA_PROTOINFO_TCP);
                mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
                mnl_attr_nest_end(nlh, tcp);
                mnl_attr_nest_end(nlh, pinfo);
        }
        g->sent++;
}

/* Read the error reports the kernel queued while handling our writes, without blocking: they are
 * all there already, since the kernel processes a netlink write before sendmsg() returns. */
static int gen_drain(Gen *g) {
        for (;;) {
                ssize_t n = recv(mnl_socket_get_fd(g->nl), g->rbuf, g->rbuf_size, MSG_DONTWAIT);
                int len;

                if (n < 0) {
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                return 0;
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOBUFS) {
                                g->overruns++;
                                continue;
                        }
                        return negative_errno();
                }
                len = (int) n;
                for (const struct nlmsghdr *nlh = (const struct nlmsghdr *) g->rbuf;
                     mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                        const struct nlmsgerr *err;

                        if (nlh->nlmsg_type != NLMSG_ERROR)
                                continue;
                        if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err)))
                                continue;
                        err = mnl_nlmsg_get_payload(nlh);
                        if (err->error == 0)
                                continue;
                        g->failed++;
                        if (g->first_error == 0)
                                g->first_error = err->error;
                }
        }
}

static int gen_flush(Gen *g) {
        size_t size = mnl_nlmsg_batch_size(g->batch);

        if (size > 0) {
                for (;;) {
                        if (mnl_socket_sendto(g->nl, mnl_nlmsg_batch_head(g->batch), size) >= 0)
                                break;
                        if (errno != EINTR)
                                return negative_errno();
                }
        }
        mnl_nlmsg_batch_reset(g->batch);
        return gen_drain(g);
}

static uint64_t now_ns(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);       /* cannot fail for the clocks used here */
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

static int gen_run(Gen *g, GenOp op, uint32_t n, unsigned base, uint32_t timeout) {
        int r;

        for (uint32_t i = 0; i < n; i++) {
                gen_put_flow(g, op, i, base, timeout);
                if (!mnl_nlmsg_batch_next(g->batch)) {
                        /* The message just built did not fit: send the others, keep it. */
                        r = gen_flush(g);
                        if (r < 0)
                                return r;
                }
        }
        /* the rest, including a message that spilled over and was moved to the front */
        return gen_flush(g);
}

static double timeval_sec(const struct timeval *tv) {
        return (double) tv->tv_sec + (double) tv->tv_usec / 1e6;
}

static void usage(FILE *f) {
        fprintf(f,
                "Usage: ct-gen create|delete N [OPTIONS]\n"
                "Create or delete N TCP ESTABLISHED conntrack entries in this network namespace\n"
                "with batched netlink writes, and print how long the kernel took.\n\n"
                "  -b, --base B          flow set 0..255 (source 10.B.x.y), default 1\n"
                "  -t, --timeout SECS    timeout of created flows, default %u\n"
                "  -s, --batch BYTES     netlink bytes per sendmsg(), default %u\n"
                "  -h, --help            this text\n",
                DEFAULT_TIMEOUT_SEC, DEFAULT_BATCH_BYTES);
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "base",    required_argument, NULL, 'b' },
                { "timeout", required_argument, NULL, 't' },
                { "batch",   required_argument, NULL, 's' },
                { "help",    no_argument,       NULL, 'h' },
                {}
        };
        _cleanup_(gen_freep) Gen *g = NULL;
        uint32_t n, base = 1, timeout = DEFAULT_TIMEOUT_SEC, batch = DEFAULT_BATCH_BYTES;
        struct rusage ru0, ru1;
        uint64_t t0, t1;
        double secs, sys;
        GenOp op;
        int c, r;

        while ((c = getopt_long(argc, argv, "b:t:s:h", options, NULL)) >= 0) {
                switch (c) {
                case 'b':
                        if (parse_u32(optarg, 0, 255, &base) < 0) {
                                fprintf(stderr, "ct-gen: invalid base '%s' (0..255)\n", optarg);
                                return 2;
                        }
                        break;
                case 't':
                        if (parse_u32(optarg, 1, INT32_MAX, &timeout) < 0) {
                                fprintf(stderr, "ct-gen: invalid timeout '%s'\n", optarg);
                                return 2;
                        }
                        break;
                case 's':
                        if (parse_u32(optarg, 4096, 64u * 1024u * 1024u, &batch) < 0) {
                                fprintf(stderr, "ct-gen: invalid batch size '%s' (4096..64M)\n",
                                        optarg);
                                return 2;
                        }
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (argc - optind != 2) {
                usage(stderr);
                return 2;
        }
        if (streq(argv[optind], "create"))
                op = GEN_CREATE;
        else if (streq(argv[optind], "delete"))
                op = GEN_DELETE;
        else {
                usage(stderr);
                return 2;
        }
        if (parse_u32(argv[optind + 1], 1, FLOWS_MAX, &n) < 0) {
                fprintf(stderr, "ct-gen: invalid number of flows '%s' (1..%" PRIu32 ")\n",
                        argv[optind + 1], FLOWS_MAX);
                return 2;
        }

        r = gen_new(batch, &g);
        if (r < 0) {
                fprintf(stderr, "ct-gen: cannot open a ctnetlink socket: %s\n", strerror(-r));
                return 1;
        }

        (void) getrusage(RUSAGE_SELF, &ru0);
        t0 = now_ns(CLOCK_MONOTONIC);
        r = gen_run(g, op, n, base, timeout);
        t1 = now_ns(CLOCK_MONOTONIC);
        (void) getrusage(RUSAGE_SELF, &ru1);
        if (r < 0) {
                fprintf(stderr, "ct-gen: netlink write failed after %" PRIu64 " messages: %s\n",
                        g->sent, strerror(-r));
                return 1;
        }

        secs = (double) (t1 - t0) / 1e9;
        sys = timeval_sec(&ru1.ru_stime) - timeval_sec(&ru0.ru_stime);
        printf("%s flows=%" PRIu32 " ok=%" PRIu64 " failed=%" PRIu64
               " seconds=%.6f rate=%.0f sys_seconds=%.3f start_ns=%" PRIu64 " end_ns=%" PRIu64 "\n",
               op == GEN_CREATE ? "create" : "delete", n, (uint64_t) n - g->failed, g->failed,
               secs, secs > 0 ? (double) n / secs : 0.0, sys, t0, t1);
        if (g->first_error != 0)
                fprintf(stderr, "ct-gen: %" PRIu64 " of %" PRIu32 " failed, first error: %s\n",
                        g->failed, n, strerror(-g->first_error));
        if (g->overruns > 0)
                fprintf(stderr, "ct-gen: %" PRIu64 " receive overruns, failure count is a minimum\n",
                        g->overruns);
        return g->failed > 0 || g->overruns > 0 ? 1 : 0;
}
