/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel boundary over ctnetlink (libmnl + libnetfilter_conntrack): the only code that
 * talks netlink. libmnl's -1 + errno becomes -errno here, once.
 *
 * Three sockets, so that no answer can be mistaken for another:
 *   events  subscribed to the conntrack (and expectation) groups, non-blocking, on the loop;
 *   dump    synchronous NLM_F_DUMP requests;
 *   write   create / update / delete / get / flush, each acknowledged. Its port id is how our
 *           own changes are recognised in the events (spec §0, origin tracking).
 *
 * Buffer sizes: the kernel books twice the SO_RCVBUF asked for (its own overhead) and reports
 * that doubled figure. Sizes here (NetlinkBufferSize, the maximum growth, k->buffer_size) are the
 * figure asked for, as in 1.4.x, so the same configuration gets the same buffer: a granted size
 * is halved back.
 */

#include <assert.h>
#include <limits.h>
#include <linux/netlink.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "kernel.h"
#include "log.h"
#include "nfct-convert.h"

/* The kernel builds dump datagrams of up to 32 KiB; events are far smaller. */
#define NETLINK_RECV_SIZE (64u * 1024u)
/* Events are read EVENT_BATCH datagrams per recvmmsg(): a ctnetlink event is one datagram of
 * well under 1 KiB (every attribute, IPv6, labels), and a system call per event is most of the
 * cost of an event burst. A datagram larger than its slot is counted as failed, as before. */
#define EVENT_BATCH 64u
#define EVENT_SLOT_SIZE (4u * 1024u)
#define NETLINK_SEND_SIZE 4096u
/* NLM_F_DUMP_INTR: the table changed under the dump; start over, but not forever. */
#define DUMP_MAX_ATTEMPTS 8
/* Batched creates: requests per sendmsg() are bounded by this buffer (and by the socket's send
 * buffer, which the kernel checks against the whole datagram). */
#define BATCH_BUFFER_SIZE (256u * 1024u)
/* The write socket's receive buffer, asked for (with the privilege to exceed rmem_max) so that
 * the error answers of a whole batch fit; a batch that overflows it is redone one by one. */
#define WRITE_RCVBUF_SIZE (4u * 1024u * 1024u)

DEFINE_CLEANUP_FUNC(struct nf_conntrack *, nfct_destroy);
DEFINE_CLEANUP_FUNC(struct nf_expect *, nfexp_destroy);
DEFINE_CLEANUP_FUNC(struct nfct_filter *, nfct_filter_destroy);

typedef struct NetlinkSocket {
        struct mnl_socket *nl;
        uint32_t portid;
        uint8_t *buf;           /* NETLINK_RECV_SIZE */
        bool busy;              /* a transaction is running (guards against re-entry) */
} NetlinkSocket;

typedef struct NetlinkKernel {
        NetlinkSocket events, dump, write;
        sd_event_source *event_source;
        uint32_t seq;
        RateLimit parse_ratelimit;
        RateLimit recv_ratelimit;
        uint8_t *batch_buf;             /* BATCH_BUFFER_SIZE, allocated on first use */
        uint8_t *event_buf;             /* EVENT_BATCH slots of EVENT_SLOT_SIZE */
        struct mmsghdr event_msgs[EVENT_BATCH];
        struct iovec event_iov[EVENT_BATCH];
        struct sockaddr_nl event_addr[EVENT_BATCH];
        size_t batch_max;               /* bytes per batch datagram (send buffer bound) */
} NetlinkKernel;

typedef union RequestBuffer {
        uint8_t buf[NETLINK_SEND_SIZE];
        struct nlmsghdr align;
} RequestBuffer;

static NetlinkKernel *nk(Kernel *k) {
        return k->data;
}

/* ---- sockets ---- */

static void netlink_socket_close(NetlinkSocket *s) {
        if (s->nl)
                mnl_socket_close(s->nl);
        free(s->buf);
        *s = (NetlinkSocket) {};
}

static int netlink_socket_open(NetlinkSocket *s, bool nonblock) {
        struct mnl_socket *nl;
        int r;

        nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0));
        if (!nl)
                return negative_errno();
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                r = negative_errno();
                mnl_socket_close(nl);
                return r;
        }
        *s = (NetlinkSocket) {
                .nl = nl,
                .portid = mnl_socket_get_portid(nl),
                .buf = malloc(NETLINK_RECV_SIZE),
        };
        if (!s->buf) {
                netlink_socket_close(s);
                return -ENOMEM;
        }
        return 0;
}

static int netlink_socket_reopen(NetlinkSocket *s) {
        netlink_socket_close(s);
        return netlink_socket_open(s, false);
}

/*
 * The write socket: error answers carry only the header of the failed request (NETLINK_CAP_ACK;
 * the sequence number says which one it was), and its receive buffer holds the answers of a
 * whole batch. Both best effort: a smaller buffer makes batches slower, not wrong.
 */
static void netlink_write_socket_setup(NetlinkKernel *n) {
        int fd = mnl_socket_get_fd(n->write.nl), one = 1, v = WRITE_RCVBUF_SIZE / 2, sndbuf = 0;
        socklen_t l = sizeof(sndbuf);

        if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
                log_debug_errno(negative_errno(), "Failed to set NETLINK_CAP_ACK: %m");
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0 &&
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0)
                log_debug_errno(negative_errno(), "Failed to enlarge the write socket's receive "
                                "buffer: %m");

        /* the kernel refuses datagrams longer than the send buffer minus 32 bytes */
        if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &l) < 0 || sndbuf <= 0)
                sndbuf = 0;
        n->batch_max = sndbuf > (int) (2 * NETLINK_SEND_SIZE) ?
                       MIN((size_t) sndbuf - 64, (size_t) BATCH_BUFFER_SIZE) : 0;
}

static int netlink_open(Kernel *k) {
        NetlinkKernel *n;
        int r;

        n = calloc(1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        k->data = n;
        n->seq = (uint32_t) time(NULL);
        n->parse_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 10);
        n->recv_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 5);

        r = netlink_socket_open(&n->dump, false);
        if (r < 0)
                return log_error_errno(r, "Failed to open the ctnetlink dump socket: %m");
        r = netlink_socket_open(&n->write, false);
        if (r < 0)
                return log_error_errno(r, "Failed to open the ctnetlink write socket: %m");
        netlink_write_socket_setup(n);
        return 0;
}

static void netlink_close(Kernel *k) {
        NetlinkKernel *n = nk(k);

        if (!n)
                return;
        n->event_source = sd_event_source_disable_unref(n->event_source);
        netlink_socket_close(&n->events);
        netlink_socket_close(&n->dump);
        netlink_socket_close(&n->write);
        free(n->batch_buf);
        free(n->event_buf);
        free(n);
        k->data = NULL;
}

/*
 * One datagram. Only the kernel's count: any process may send to a netlink port id, and a forged
 * "event" must not become a flow (-ESRCH). -ENOSPC for a truncated datagram.
 */
static ssize_t netlink_recv(NetlinkSocket *s) {
        struct sockaddr_nl addr = {};
        struct iovec iov = { .iov_base = s->buf, .iov_len = NETLINK_RECV_SIZE };
        struct msghdr msg = {
                .msg_name = &addr,
                .msg_namelen = sizeof(addr),
                .msg_iov = &iov,
                .msg_iovlen = 1,
        };
        ssize_t n;

        n = recvmsg(mnl_socket_get_fd(s->nl), &msg, 0);
        if (n < 0)
                return negative_errno();
        if (msg.msg_flags & MSG_TRUNC)
                return -ENOSPC;
        if (msg.msg_namelen != sizeof(addr) || addr.nl_pid != 0)
                return -ESRCH;
        return n;
}

/* ---- requests ---- */

static struct nlmsghdr *request_new(NetlinkKernel *n, RequestBuffer *b, uint8_t subsys,
                                    uint8_t type, uint16_t flags, uint8_t family) {
        struct nlmsghdr *nlh;
        struct nfgenmsg *nfg;

        memset(b, 0, sizeof(*b));
        nlh = mnl_nlmsg_put_header(b->buf);
        nlh->nlmsg_type = (uint16_t) (subsys << 8 | type);
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        nlh->nlmsg_seq = ++n->seq;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = family;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = 0;
        return nlh;
}

typedef int (*MessageFunc)(Kernel *k, const struct nlmsghdr *nlh, void *userdata);

/*
 * Send one request and read its answer up to the acknowledgement, NLMSG_DONE or an error.
 * Messages of other sequence numbers (left over from an interrupted exchange) are skipped.
 * The first negative return of f stops further calls; the rest of the answer is drained so the
 * socket stays usable, and that error is returned. *ret_intr reports NLM_F_DUMP_INTR.
 */
static int netlink_transact(Kernel *k, NetlinkSocket *s, struct nlmsghdr *req, MessageFunc f,
                            void *userdata, bool *ret_intr) {
        uint32_t seq = req->nlmsg_seq;
        bool intr = false;
        int cb_error = 0;

        if (!s->nl)
                return -ENOTCONN;
        if (s->busy)
                return -EBUSY;
        if (mnl_socket_sendto(s->nl, req, req->nlmsg_len) < 0)
                return negative_errno();

        s->busy = true;
        for (;;) {
                const struct nlmsghdr *nlh;
                ssize_t n;
                int len;

                n = netlink_recv(s);
                if (n < 0) {
                        /* interrupted, or a datagram from a process, not the kernel: dropped */
                        if (n == -EINTR || n == -ESRCH)
                                continue;
                        s->busy = false;
                        return (int) n;
                }

                len = (int) n;
                for (nlh = (const struct nlmsghdr *) s->buf; mnl_nlmsg_ok(nlh, len);
                     nlh = mnl_nlmsg_next(nlh, &len)) {
                        if (nlh->nlmsg_seq != seq)
                                continue;
                        if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
                                intr = true;

                        switch (nlh->nlmsg_type) {
                        case NLMSG_ERROR: {
                                const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);

                                s->busy = false;
                                if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*err))
                                        return -EBADMSG;
                                if (err->error != 0)
                                        return err->error < 0 ? err->error : -err->error;
                                if (ret_intr)
                                        *ret_intr = intr;
                                return cb_error;        /* the acknowledgement */
                        }
                        case NLMSG_DONE: {
                                s->busy = false;
                                if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
                                        int e;

                                        memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
                                        if (e < 0)
                                                return e;
                                }
                                if (ret_intr)
                                        *ret_intr = intr;
                                return cb_error;
                        }
                        case NLMSG_NOOP:
                        case NLMSG_OVERRUN:
                                break;
                        default:
                                if (f && cb_error == 0) {
                                        int r = f(k, nlh, userdata);
                                        if (r < 0)
                                                cb_error = r;
                                }
                                if (!(nlh->nlmsg_flags & NLM_F_MULTI) &&
                                    !(req->nlmsg_flags & NLM_F_ACK)) {
                                        /* a single answer and no acknowledgement asked for */
                                        s->busy = false;
                                        return cb_error;
                                }
                        }
                }
        }
}

/* ---- dump ---- */

typedef struct DumpContext {
        CtKind kind;
        KernelDumpFunc f;
        void *userdata;
        bool aborted;           /* stopped by us: the exchange itself completed */
} DumpContext;

static bool message_is(const struct nlmsghdr *nlh, uint8_t subsys, uint8_t type) {
        return (nlh->nlmsg_type >> 8) == subsys && (nlh->nlmsg_type & 0xff) == type;
}

static int dump_one_object(Kernel *k, const struct nlmsghdr *nlh, void *userdata) {
        DumpContext *d = userdata;
        int r;

        if (d->kind == CT_KIND_CT) {
                CtEntry e;

                if (!message_is(nlh, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW)) {
                        k->stats.dump_unknown++;
                        return 0;
                }
                r = ct_entry_from_nlmsg(nlh, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        k->stats.dump_unknown++;
                        if (ratelimit_below(&nk(k)->parse_ratelimit))
                                log_debug_errno(r, "Failed to parse a conntrack of the dump: %m");
                        return 0;
                }
                return d->f(&e, d->userdata);
        } else {
                CtExpect x;

                if (!message_is(nlh, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW)) {
                        k->stats.dump_unknown++;
                        return 0;
                }
                r = ct_expect_from_nlmsg(nlh, &x);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        k->stats.dump_unknown++;
                        if (ratelimit_below(&nk(k)->parse_ratelimit))
                                log_debug_errno(r, "Failed to parse an expectation of the "
                                                "dump: %m");
                        return 0;
                }
                return d->f(&x, d->userdata);
        }
}

static int dump_one(Kernel *k, const struct nlmsghdr *nlh, void *userdata) {
        DumpContext *d = userdata;
        int r = dump_one_object(k, nlh, userdata);

        if (r < 0)
                d->aborted = true;
        return r;
}

static int netlink_dump(Kernel *k, CtKind kind, KernelDumpFunc f, void *userdata) {
        NetlinkKernel *n = nk(k);
        DumpContext d = { .kind = kind, .f = f, .userdata = userdata };
        int r = -EINTR;

        if (n->dump.busy)
                return -EBUSY;
        if (!n->dump.nl) {
                /* a failed reopen after an earlier error */
                r = netlink_socket_open(&n->dump, false);
                if (r < 0)
                        return r;
        }

        for (unsigned attempt = 0; attempt < DUMP_MAX_ATTEMPTS; attempt++) {
                RequestBuffer b;
                struct nlmsghdr *nlh;
                bool intr = false;

                nlh = kind == CT_KIND_CT ?
                      request_new(n, &b, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET, NLM_F_DUMP,
                                  AF_UNSPEC) :
                      request_new(n, &b, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET, NLM_F_DUMP,
                                  AF_UNSPEC);
                r = netlink_transact(k, &n->dump, nlh, dump_one, &d, &intr);
                if (r < 0 && d.aborted)
                        return r;       /* the rest of the answer was read and dropped */
                if (r < 0 && r != -EINTR) {
                        /* the kernel may still hold the rest of the dump for this socket */
                        int q = netlink_socket_reopen(&n->dump);
                        if (q < 0)
                                log_error_errno(q, "Failed to reopen the ctnetlink dump "
                                                "socket: %m");
                        return r;
                }
                if (r == 0 && !intr)
                        return 0;
                /* interrupted: the objects seen so far may be seen again, callers cope */
                log_debug("Kernel %s dump interrupted by concurrent changes, restarting",
                          ct_kind_to_string(kind));
                r = -EINTR;
        }
        return r;
}

/* ---- writes ---- */

static int netlink_write(Kernel *k, CtKind kind, uint8_t ct_type, uint8_t exp_type, uint16_t flags,
                         const void *obj, MessageFunc f, void *userdata) {
        NetlinkKernel *n = nk(k);
        struct nlmsghdr *nlh;
        RequestBuffer b;
        int r;

        if (kind == CT_KIND_CT) {
                const CtEntry *e = obj;

                nlh = request_new(n, &b, NFNL_SUBSYS_CTNETLINK, ct_type, NLM_F_ACK | flags,
                                  e->orig.l3);
                r = ct_entry_put_request(nlh, e);
        } else {
                const CtExpect *x = obj;

                nlh = request_new(n, &b, NFNL_SUBSYS_CTNETLINK_EXP, exp_type, NLM_F_ACK | flags,
                                  x->master.l3);
                r = ct_expect_put_request(nlh, x);
        }
        if (r < 0)
                return r;
        return netlink_transact(k, &n->write, nlh, f, userdata, NULL);
}

/* What identifies an object to the kernel: the original (expected) tuple and the zone. Nothing
 * else, so that an id or a stale attribute never makes the lookup miss, and for expectations
 * no master or mask, which would widen a delete to every expectation of the master. */
static void identity_ct(const CtEntry *e, CtEntry *ret) {
        *ret = (CtEntry) { .orig = e->orig, .zone = e->zone };
}

static int identity_request(Kernel *k, CtKind kind, uint8_t ct_type, uint8_t exp_type,
                            const void *obj, MessageFunc f, void *userdata) {
        NetlinkKernel *n = nk(k);
        struct nlmsghdr *nlh;
        RequestBuffer b;
        int r;

        if (kind == CT_KIND_CT) {
                CtEntry id;

                identity_ct(obj, &id);
                nlh = request_new(n, &b, NFNL_SUBSYS_CTNETLINK, ct_type, NLM_F_ACK, id.orig.l3);
                r = ct_entry_put_request(nlh, &id);
        } else {
                _cleanup_(nfexp_destroyp) struct nf_expect *exp = NULL;
                _cleanup_(nfct_destroyp) struct nf_conntrack *t = NULL;
                const CtExpect *x = obj;

                nlh = request_new(n, &b, NFNL_SUBSYS_CTNETLINK_EXP, exp_type, NLM_F_ACK,
                                  x->expected.l3);
                exp = nfexp_new();
                if (!exp)
                        return -ENOMEM;
                r = ct_entry_to_nfct(&(CtEntry) { .orig = x->expected }, &t);
                if (r < 0)
                        return r;
                nfexp_set_attr(exp, ATTR_EXP_EXPECTED, t);
                if (x->zone != 0)
                        nfexp_set_attr_u16(exp, ATTR_EXP_ZONE, x->zone);
                r = nfexp_nlmsg_build(nlh, exp) < 0 ? negative_errno() : 0;
        }
        if (r < 0)
                return r;
        return netlink_transact(k, &n->write, nlh, f, userdata, NULL);
}

typedef struct GetContext {
        CtKind kind;
        void *ret_obj;
        bool found;
        int error;
} GetContext;

static int get_one(Kernel *k, const struct nlmsghdr *nlh, void *userdata) {
        GetContext *g = userdata;
        int r;

        if (g->found)
                return 0;
        if (g->kind == CT_KIND_CT) {
                if (!message_is(nlh, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_NEW))
                        return 0;
                r = ct_entry_from_nlmsg(nlh, g->ret_obj);
        } else {
                if (!message_is(nlh, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_NEW))
                        return 0;
                r = ct_expect_from_nlmsg(nlh, g->ret_obj);
        }
        if (r < 0)
                g->error = r;
        else
                g->found = true;
        return 0;
}

static int netlink_get(Kernel *k, CtKind kind, const void *obj, void *ret_obj) {
        GetContext g = { .kind = kind };
        union {
                CtEntry e;
                CtExpect x;
        } result;
        int r;

        g.ret_obj = &result;
        r = identity_request(k, kind, IPCTNL_MSG_CT_GET, IPCTNL_MSG_EXP_GET, obj, get_one, &g);
        if (r < 0)
                return r;
        if (!g.found)
                return g.error < 0 ? g.error : -ENOENT;
        if (kind == CT_KIND_CT)
                *(CtEntry *) ret_obj = result.e;
        else
                *(CtExpect *) ret_obj = result.x;
        return 0;
}

/* The kernel wants both tuples to create a flow. Peers do not send the reply tuple (spec §1.7):
 * it is the inverse of the original, and NAT is asked for through the SNAT/DNAT attributes, from
 * which the kernel computes the real reply tuple. Returns e itself, or 'buf' completed. */
static const CtEntry *ct_with_reply(const CtEntry *e, CtEntry *buf) {
        if (e->attrs & CT_ATTR_REPLY)
                return e;
        *buf = *e;
        ct_tuple_invert(&buf->orig, &buf->reply);
        buf->attrs |= CT_ATTR_REPLY;
        return buf;
}

static int netlink_create(Kernel *k, CtKind kind, const void *obj) {
        if (kind == CT_KIND_CT) {
                CtEntry c;

                return netlink_write(k, kind, IPCTNL_MSG_CT_NEW, 0, NLM_F_CREATE | NLM_F_EXCL,
                                     ct_with_reply(obj, &c), NULL, NULL);
        }
        return netlink_write(k, kind, IPCTNL_MSG_CT_NEW, IPCTNL_MSG_EXP_NEW,
                             NLM_F_CREATE | NLM_F_EXCL, obj, NULL, NULL);
}

/* ---- batched creates ---- */

/*
 * One datagram of create requests: objs[0..n) into the batch buffer, each request with its own
 * sequence number (first_seq + i) and no acknowledgement asked for, then an NLMSG_NOOP with
 * NLM_F_ACK. The kernel handles the requests of a datagram one after the other, inside our
 * sendmsg(), and answers only the failed ones (NLMSG_ERROR with the request's sequence number),
 * then the NOOP: when its answer is read, every error is known. Returns the number of requests
 * put in; *ret_consumed is that, plus one when the datagram was cut at an object that could not
 * be converted (its error is set); *ret_len the datagram's length (0 without requests).
 */
static size_t batch_build(NetlinkKernel *n, CtKind kind, const void *const *objs, size_t count,
                          int *ret_errors, uint32_t first_seq, size_t *ret_len,
                          size_t *ret_consumed) {
        bool cut = false;
        size_t off = 0, i;

        for (i = 0; i < count; i++) {
                struct nlmsghdr *nlh;
                struct nfgenmsg *nfg;
                uint8_t family;
                CtEntry c;
                int r;

                /* room for the largest request and the closing NOOP */
                if (off + NETLINK_SEND_SIZE + MNL_NLMSG_HDRLEN > n->batch_max)
                        break;

                if (kind == CT_KIND_CT)
                        family = ((const CtEntry *) objs[i])->orig.l3;
                else
                        family = ((const CtExpect *) objs[i])->master.l3;

                nlh = mnl_nlmsg_put_header(n->batch_buf + off);
                nlh->nlmsg_type = kind == CT_KIND_CT ?
                                  (NFNL_SUBSYS_CTNETLINK << 8 | IPCTNL_MSG_CT_NEW) :
                                  (NFNL_SUBSYS_CTNETLINK_EXP << 8 | IPCTNL_MSG_EXP_NEW);
                nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
                nlh->nlmsg_seq = first_seq + (uint32_t) i;
                nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
                nfg->nfgen_family = family;
                nfg->version = NFNETLINK_V0;
                nfg->res_id = 0;

                r = kind == CT_KIND_CT ? ct_entry_put_request(nlh, ct_with_reply(objs[i], &c)) :
                                         ct_expect_put_request(nlh, objs[i]);
                if (r < 0) {
                        /* this object cannot be expressed: it fails alone, the datagram is cut
                         * before it and the caller goes on after it */
                        ret_errors[i] = r;
                        cut = true;
                        break;
                }
                ret_errors[i] = 0;
                off += NLMSG_ALIGN(nlh->nlmsg_len);
        }

        if (off > 0) {
                struct nlmsghdr *noop = mnl_nlmsg_put_header(n->batch_buf + off);

                noop->nlmsg_type = NLMSG_NOOP;
                noop->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
                noop->nlmsg_seq = first_seq + (uint32_t) i;
                off += NLMSG_ALIGN(noop->nlmsg_len);
        }
        *ret_len = off;
        *ret_consumed = i + (cut ? 1 : 0);
        return i;
}

/*
 * Read the answers to a batch of n requests (sequence numbers first_seq...) up to the NOOP's.
 * Everything was queued during sendmsg(): nothing more will come, so the reads do not block.
 * Returns 0 when the NOOP's answer was read (every error is in ret_errors), -ENOBUFS when answers
 * were lost (the socket overflowed: the outcome of the requests without an error is unknown).
 */
static int batch_read_answers(NetlinkSocket *s, uint32_t first_seq, size_t n, int *ret_errors) {
        bool lost = false;

        for (;;) {
                const struct nlmsghdr *nlh;
                ssize_t got;
                int len;

                got = recv(mnl_socket_get_fd(s->nl), s->buf, NETLINK_RECV_SIZE, MSG_DONTWAIT);
                if (got < 0) {
                        int r = negative_errno();

                        if (r == -EINTR)
                                continue;
                        if (r == -ENOBUFS) {
                                lost = true;
                                continue;
                        }
                        return r == -EAGAIN ? -ENOBUFS : r;
                }

                len = (int) got;
                for (nlh = (const struct nlmsghdr *) s->buf; mnl_nlmsg_ok(nlh, len);
                     nlh = mnl_nlmsg_next(nlh, &len)) {
                        const struct nlmsgerr *err;
                        uint32_t idx = nlh->nlmsg_seq - first_seq;

                        if (nlh->nlmsg_type != NLMSG_ERROR || idx > n ||
                            mnl_nlmsg_get_payload_len(nlh) < sizeof(*err))
                                continue;       /* not ours (a leftover), or malformed */
                        err = mnl_nlmsg_get_payload(nlh);
                        if (idx == n)
                                return lost ? -ENOBUFS : 0;     /* the NOOP: the end */
                        if (err->error != 0)
                                ret_errors[idx] = err->error < 0 ? err->error : -err->error;
                }
        }
}

static int netlink_create_batch(Kernel *k, CtKind kind, const void *const *objs, size_t count,
                                int *ret_errors) {
        NetlinkKernel *n = nk(k);
        size_t done = 0;

        if (!n->write.nl)
                return -ENOTCONN;
        if (n->write.busy)
                return -EBUSY;

        if (n->batch_max == 0) {
                /* a send buffer too small to batch anything */
                for (size_t i = 0; i < count; i++)
                        ret_errors[i] = netlink_create(k, kind, objs[i]);
                return 0;
        }
        if (!n->batch_buf) {
                n->batch_buf = malloc(BATCH_BUFFER_SIZE);
                if (!n->batch_buf)
                        return -ENOMEM;
        }

        while (done < count) {
                uint32_t first_seq = n->seq + 1;
                size_t len, built, consumed;
                int r;

                built = batch_build(n, kind, objs + done, count - done, ret_errors + done,
                                    first_seq, &len, &consumed);
                assert(consumed > 0);
                if (built > 0) {
                        n->seq += (uint32_t) built + 1;

                        n->write.busy = true;
                        if (mnl_socket_sendto(n->write.nl, n->batch_buf, len) < 0)
                                r = negative_errno();
                        else
                                r = batch_read_answers(&n->write, first_seq, built,
                                                       ret_errors + done);
                        n->write.busy = false;

                        if (r < 0) {
                                /* Not sent, or answers lost: what became of the requests
                                 * without an error is unknown. Each is done again alone; one
                                 * that the batch did create answers EEXIST now, which the
                                 * caller handles like any existing flow (replacing it by the
                                 * same flow). */
                                if (ratelimit_below(&n->recv_ratelimit))
                                        log_debug_errno(r, "Batch of %zu creates failed, retrying "
                                                        "them one by one: %m", built);
                                for (size_t i = 0; i < built; i++)
                                        if (ret_errors[done + i] == 0)
                                                ret_errors[done + i] =
                                                        netlink_create(k, kind, objs[done + i]);
                        }
                }
                done += consumed;
        }
        return 0;
}

static int netlink_update(Kernel *k, CtKind kind, const void *obj) {
        /* without NLM_F_CREATE the kernel answers ENOENT for an unknown tuple */
        return netlink_write(k, kind, IPCTNL_MSG_CT_NEW, IPCTNL_MSG_EXP_NEW, 0, obj, NULL, NULL);
}

static int netlink_delete(Kernel *k, CtKind kind, const void *obj) {
        return identity_request(k, kind, IPCTNL_MSG_CT_DELETE, IPCTNL_MSG_EXP_DELETE, obj, NULL,
                                NULL);
}

static int netlink_flush(Kernel *k, CtKind kind) {
        NetlinkKernel *n = nk(k);
        struct nlmsghdr *nlh;
        RequestBuffer b;

        /* a delete without any tuple is a flush of the whole table (all families) */
        nlh = kind == CT_KIND_CT ?
              request_new(n, &b, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, NLM_F_ACK,
                          AF_UNSPEC) :
              request_new(n, &b, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_DELETE, NLM_F_ACK,
                          AF_UNSPEC);
        return netlink_transact(k, &n->write, nlh, NULL, NULL, NULL);
}

/* ---- events ---- */

static void handle_event(Kernel *k, const struct nlmsghdr *nlh) {
        NetlinkKernel *n = nk(k);
        uint8_t subsys = nlh->nlmsg_type >> 8, type = nlh->nlmsg_type & 0xff;
        bool self = nlh->nlmsg_pid != 0 && nlh->nlmsg_pid == n->write.portid;
        bool created = nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL);
        KernelEventType t;
        int r;

        k->stats.events_received++;

        if (subsys == NFNL_SUBSYS_CTNETLINK &&
            (type == IPCTNL_MSG_CT_NEW || type == IPCTNL_MSG_CT_DELETE)) {
                CtEntry e;

                t = type == IPCTNL_MSG_CT_DELETE ? KERNEL_EVENT_DESTROY :
                    created ? KERNEL_EVENT_NEW : KERNEL_EVENT_UPDATE;
                r = ct_entry_from_nlmsg(nlh, &e);
                if (r < 0) {
                        k->stats.events_failed++;
                        if (ratelimit_below(&n->parse_ratelimit))
                                log_debug_errno(r, "Failed to parse a conntrack event: %m");
                        return;
                }
                if (k->handlers.ct_event)
                        k->handlers.ct_event(k, t, &e, self, k->handlers.userdata);
        } else if (subsys == NFNL_SUBSYS_CTNETLINK_EXP &&
                   (type == IPCTNL_MSG_EXP_NEW || type == IPCTNL_MSG_EXP_DELETE)) {
                CtExpect x;

                t = type == IPCTNL_MSG_EXP_DELETE ? KERNEL_EVENT_DESTROY :
                    created ? KERNEL_EVENT_NEW : KERNEL_EVENT_UPDATE;
                r = ct_expect_from_nlmsg(nlh, &x);
                if (r < 0) {
                        k->stats.events_failed++;
                        if (ratelimit_below(&n->parse_ratelimit))
                                log_debug_errno(r, "Failed to parse an expectation event: %m");
                        return;
                }
                if (k->handlers.expect_event)
                        k->handlers.expect_event(k, t, &x, self, k->handlers.userdata);
        } else
                k->stats.events_unknown++;
}

/* Up to max (at most EVENT_BATCH) datagrams of the event socket; their count, or a negative
 * errno (-EAGAIN when there is nothing). */
static int netlink_recv_events(NetlinkKernel *n, unsigned max) {
        int got;

        max = MIN(MAX(max, 1u), EVENT_BATCH);
        for (unsigned i = 0; i < max; i++) {
                n->event_iov[i] = (struct iovec) {
                        .iov_base = n->event_buf + (size_t) i * EVENT_SLOT_SIZE,
                        .iov_len = EVENT_SLOT_SIZE,
                };
                n->event_msgs[i] = (struct mmsghdr) {
                        .msg_hdr = {
                                .msg_name = &n->event_addr[i],
                                .msg_namelen = sizeof(n->event_addr[i]),
                                .msg_iov = &n->event_iov[i],
                                .msg_iovlen = 1,
                        },
                };
        }
        got = recvmmsg(mnl_socket_get_fd(n->events.nl), n->event_msgs, max, MSG_DONTWAIT, NULL);
        if (got < 0)
                return negative_errno();
        return got;
}

static int kernel_on_readable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Kernel *k = userdata;
        NetlinkKernel *n = nk(k);
        uint32_t limit = k->settings.event_iteration_limit, handled = 0;

        /* Level triggered: whatever is left after the limit wakes us up again. */
        while (limit == 0 || handled < limit) {
                /* an event is a datagram: never more than the limit leaves */
                unsigned want = limit == 0 ? EVENT_BATCH : limit - handled;
                int got = netlink_recv_events(n, want);

                if (got < 0) {
                        int r = got;

                        if (r == -EAGAIN || r == -EWOULDBLOCK)
                                break;
                        if (r == -EINTR)
                                continue;
                        if (r == -ENOBUFS) {
                                /* events were dropped; the socket itself is fine */
                                k->stats.overruns++;
                                if (k->handlers.overrun)
                                        k->handlers.overrun(k, k->handlers.userdata);
                                continue;
                        }
                        if (ratelimit_below(&n->recv_ratelimit))
                                log_warning_errno(r, "Failed to read from the ctnetlink event "
                                                  "socket: %m");
                        break;
                }

                for (int i = 0; i < got; i++) {
                        const struct msghdr *mh = &n->event_msgs[i].msg_hdr;
                        const struct nlmsghdr *nlh;
                        int len = (int) n->event_msgs[i].msg_len;

                        if (mh->msg_flags & MSG_TRUNC) {
                                /* truncated datagram: its events are lost */
                                k->stats.events_failed++;
                                handled++;
                                continue;
                        }
                        if (mh->msg_namelen != sizeof(struct sockaddr_nl) ||
                            n->event_addr[i].nl_pid != 0) {
                                /* Only the kernel's count: any process may send to a netlink
                                 * port id, and a forged "event" must not become a flow
                                 * (counted against the limit, so a flood cannot starve the
                                 * loop). */
                                k->stats.events_unknown++;
                                handled++;
                                continue;
                        }
                        for (nlh = (const struct nlmsghdr *) mh->msg_iov->iov_base;
                             mnl_nlmsg_ok(nlh, len); nlh = mnl_nlmsg_next(nlh, &len)) {
                                handle_event(k, nlh);
                                handled++;
                        }
                }
                if ((unsigned) got < MIN(want, EVENT_BATCH))
                        break;  /* drained: the next wake-up says when there is more */
        }
        return 0;
}

static int netlink_set_buffer_size(Kernel *k, uint32_t size, uint32_t *ret_actual) {
        NetlinkKernel *n = nk(k);
        int fd, v, granted;
        socklen_t l = sizeof(granted);

        if (!n->events.nl)
                return -ENOTCONN;
        fd = mnl_socket_get_fd(n->events.nl);
        v = (int) MIN(MAX(size, 1u), (uint32_t) INT_MAX / 2);

        /* beyond net.core.rmem_max with CAP_NET_ADMIN, else as far as the limit allows */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0) {
                if (errno != EPERM)
                        return negative_errno();
                if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) < 0)
                        return negative_errno();
        }
        if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &l) < 0)
                return negative_errno();
        if (ret_actual)
                *ret_actual = granted > 0 ? (uint32_t) granted / 2 : 0;
        return 0;
}

static enum nfct_filter_logic filter_logic(FilterPolicy p) {
        return p == FILTER_ACCEPT ? NFCT_FILTER_LOGIC_POSITIVE : NFCT_FILTER_LOGIC_NEGATIVE;
}

/* IPv4 / IPv6 prefix masks as the BPF compiler of libnetfilter_conntrack wants them: host order
 * words. */
static uint32_t mask_word(unsigned prefixlen, unsigned word) {
        unsigned bits = prefixlen > 32 * word ? prefixlen - 32 * word : 0;

        if (bits >= 32)
                return UINT32_MAX;
        return bits == 0 ? 0 : UINT32_MAX << (32 - bits);
}

/*
 * The Filter clause as a BPF program on the event socket (From Kernelspace, spec §4.5). The
 * kernel program is a pre-filter: it only drops events that user space would drop too, which
 * always filters again. What it cannot express stays in user space:
 *   - protocol Accept/Ignore and TCP state Accept/Ignore: exact;
 *   - address Ignore: the original source only (the program sees the original tuple; the reply
 *     source, i.e. the real server behind a DNAT, is judged in user space);
 *   - address Accept: not at all (a flow passes when either endpoint matches, and one of them
 *     is in the reply tuple).
 */
static int netlink_attach_filter(Kernel *k, int fd, const FilterConfig *f) {
        _cleanup_(nfct_filter_destroyp) struct nfct_filter *flt = NULL;
        bool any = false;
        size_t n4 = 0, n6 = 0;

        flt = nfct_filter_create();
        if (!flt)
                return -ENOMEM;

        if (f->protocol_policy != FILTER_NONE) {
                unsigned count = 0;

                for (unsigned p = 0; p < 256; p++)
                        if (f->protocols[p]) {
                                nfct_filter_add_attr_u32(flt, NFCT_FILTER_L4PROTO, p);
                                count++;
                        }
                if (count > 0) {
                        nfct_filter_set_logic(flt, NFCT_FILTER_L4PROTO,
                                              filter_logic(f->protocol_policy));
                        any = true;
                } else
                        log_notice("Kernel filter: empty protocol set, filtered in user space "
                                   "only");
        }

        if (f->state_policy != FILTER_NONE) {
                unsigned count = 0;

                for (unsigned s = 0; s < _CT_TCP_MAX; s++)
                        if (f->tcp_states[s]) {
                                struct nfct_filter_proto p = {
                                        .proto = IPPROTO_TCP,
                                        .state = (uint16_t) s,
                                };

                                nfct_filter_add_attr(flt, NFCT_FILTER_L4PROTO_STATE, &p);
                                count++;
                        }
                if (count > 0) {
                        nfct_filter_set_logic(flt, NFCT_FILTER_L4PROTO_STATE,
                                              filter_logic(f->state_policy));
                        any = true;
                } else
                        log_notice("Kernel filter: empty TCP state set, filtered in user space "
                                   "only");
        }

        if (f->address_policy == FILTER_ACCEPT)
                log_notice("Kernel filter: 'Address Accept' matches either endpoint of a flow, "
                           "which the kernel cannot check; addresses are filtered in user space");
        else if (f->address_policy == FILTER_IGNORE) {
                for (size_t i = 0; i < f->n_networks; i++)
                        if (f->networks[i].family == AF_INET)
                                n4++;
                        else if (f->networks[i].family == AF_INET6)
                                n6++;
                /* the library's limits: 127 IPv4 and 20 IPv6 networks per direction */
                if (n4 > 127)
                        log_notice("Kernel filter: more than 127 IPv4 networks, IPv4 addresses "
                                   "are filtered in user space");
                if (n6 > 20)
                        log_notice("Kernel filter: more than 20 IPv6 networks, IPv6 addresses "
                                   "are filtered in user space");
                for (size_t i = 0; i < f->n_networks; i++) {
                        const FilterNetwork *net = &f->networks[i];

                        if (net->family == AF_INET && n4 <= 127) {
                                struct nfct_filter_ipv4 a = {
                                        .addr = ntohl(net->addr.ip),
                                        .mask = mask_word(net->prefixlen, 0),
                                };
                                nfct_filter_add_attr(flt, NFCT_FILTER_SRC_IPV4, &a);
                                any = true;
                        } else if (net->family == AF_INET6 && n6 <= 20) {
                                struct nfct_filter_ipv6 a = {};

                                for (unsigned w = 0; w < 4; w++) {
                                        a.addr[w] = ntohl(net->addr.ip6[w]);
                                        a.mask[w] = mask_word(net->prefixlen, w);
                                }
                                nfct_filter_add_attr(flt, NFCT_FILTER_SRC_IPV6, &a);
                                any = true;
                        }
                }
                nfct_filter_set_logic(flt, NFCT_FILTER_SRC_IPV4, NFCT_FILTER_LOGIC_NEGATIVE);
                nfct_filter_set_logic(flt, NFCT_FILTER_SRC_IPV6, NFCT_FILTER_LOGIC_NEGATIVE);
        }

        if (!any) {
                log_info("Kernel filter: nothing the kernel can evaluate, filtering in user space");
                return 0;
        }
        if (nfct_filter_attach(fd, flt) < 0)
                return negative_errno();
        log_info("Kernel filter attached to the event socket");
        return 1;
}

static int netlink_subscribe(Kernel *k, sd_event *e) {
        NetlinkKernel *n = nk(k);
        unsigned groups[6];
        size_t n_groups = 0;
        int fd, r, granted;
        socklen_t l = sizeof(granted);

        if (n->events.nl)
                return -EBUSY;

        r = netlink_socket_open(&n->events, true);
        if (r < 0)
                return log_error_errno(r, "Failed to open the ctnetlink event socket: %m");
        fd = mnl_socket_get_fd(n->events.nl);
        if (!n->event_buf) {
                n->event_buf = malloc((size_t) EVENT_BATCH * EVENT_SLOT_SIZE);
                if (!n->event_buf) {
                        netlink_socket_close(&n->events);
                        return log_oom();
                }
        }

        groups[n_groups++] = NFNLGRP_CONNTRACK_NEW;
        groups[n_groups++] = NFNLGRP_CONNTRACK_UPDATE;
        groups[n_groups++] = NFNLGRP_CONNTRACK_DESTROY;
        if (k->settings.expectations) {
                groups[n_groups++] = NFNLGRP_CONNTRACK_EXP_NEW;
                groups[n_groups++] = NFNLGRP_CONNTRACK_EXP_UPDATE;
                groups[n_groups++] = NFNLGRP_CONNTRACK_EXP_DESTROY;
        }
        for (size_t i = 0; i < n_groups; i++)
                if (mnl_socket_setsockopt(n->events.nl, NETLINK_ADD_MEMBERSHIP, &groups[i],
                                          sizeof(groups[i])) < 0) {
                        r = log_error_errno(negative_errno(),
                                            "Failed to join ctnetlink event group %u: %m",
                                            groups[i]);
                        goto fail;
                }

        if (k->settings.events_reliable) {
                int one = 1;

                if (mnl_socket_setsockopt(n->events.nl, NETLINK_BROADCAST_SEND_ERROR, &one,
                                          sizeof(one)) < 0 ||
                    mnl_socket_setsockopt(n->events.nl, NETLINK_NO_ENOBUFS, &one,
                                          sizeof(one)) < 0) {
                        r = log_error_errno(negative_errno(),
                                            "Failed to make the ctnetlink events reliable: %m");
                        goto fail;
                }
        }

        if (k->settings.buffer_size > 0) {
                uint32_t actual;

                r = netlink_set_buffer_size(k, k->settings.buffer_size, &actual);
                if (r < 0)
                        log_warning_errno(r, "Failed to set the event socket buffer to %u bytes, "
                                          "keeping the default: %m", k->settings.buffer_size);
        }
        if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &l) < 0) {
                r = negative_errno();
                goto fail;
        }
        k->buffer_size = granted > 0 ? (uint32_t) granted / 2 : 0;

        if (k->settings.bpf_filter && k->settings.bpf_filter->kernelspace) {
                r = netlink_attach_filter(k, fd, k->settings.bpf_filter);
                if (r < 0)
                        log_warning_errno(r, "Failed to attach the kernel event filter, filtering "
                                          "in user space only: %m");
        }

        r = sd_event_add_io(e, &n->event_source, fd, EPOLLIN, kernel_on_readable, k);
        if (r < 0) {
                log_error_errno(r, "Failed to watch the ctnetlink event socket: %m");
                goto fail;
        }
        (void) sd_event_source_set_description(n->event_source, "kernel-events");
        return 0;

fail:
        netlink_socket_close(&n->events);
        return r;
}

const KernelOps kernel_netlink_ops = {
        .name = "netlink",
        .open = netlink_open,
        .close = netlink_close,
        .subscribe = netlink_subscribe,
        .dump = netlink_dump,
        .get = netlink_get,
        .create = netlink_create,
        .update = netlink_update,
        .delete = netlink_delete,
        .flush = netlink_flush,
        .set_buffer_size = netlink_set_buffer_size,
        .create_batch = netlink_create_batch,
};
