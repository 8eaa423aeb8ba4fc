/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CtEntry / CtExpect <-> libnetfilter_conntrack.
 *
 * Several attributes of an nf_conntrack cannot be set through nfct_set_attr() (id, use, counters,
 * timestamps) and the ICMP fields of the reply tuple have no attribute at all, yet the 1.4.7
 * renderings show them. So CtEntry -> nf_conntrack goes through the one door that fills all of
 * them: we write the entry as the ctnetlink message the kernel would send and let the library
 * parse it. Our own small readers of nested tuples fill the gaps in the other direction.
 */

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "nfct-convert.h"

/* Large enough for every attribute of a CtEntry (about 600 bytes with IPv6 and labels). */
#define CT_MSG_BUFFER_SIZE 4096

DEFINE_CLEANUP_FUNC(struct nf_conntrack *, nfct_destroy);
DEFINE_CLEANUP_FUNC(struct nf_expect *, nfexp_destroy);

static bool l3_valid(uint8_t l3) {
        return l3 == AF_INET || l3 == AF_INET6;
}

/* ---- writing ctnetlink attributes ---- */

static void put_tuple(struct nlmsghdr *nlh, uint16_t type, const CtTuple *t) {
        struct nlattr *nest, *ip, *proto;

        nest = mnl_attr_nest_start(nlh, type);

        ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
        if (t->l3 == AF_INET) {
                mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, t->src.ip);
                mnl_attr_put_u32(nlh, CTA_IP_V4_DST, t->dst.ip);
        } else {
                mnl_attr_put(nlh, CTA_IP_V6_SRC, sizeof(struct in6_addr), &t->src.in6);
                mnl_attr_put(nlh, CTA_IP_V6_DST, sizeof(struct in6_addr), &t->dst.in6);
        }
        mnl_attr_nest_end(nlh, ip);

        proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
        mnl_attr_put_u8(nlh, CTA_PROTO_NUM, t->l4);
        if (t->l4 == IPPROTO_ICMP) {
                mnl_attr_put_u16(nlh, CTA_PROTO_ICMP_ID, htons(t->icmp.id));
                mnl_attr_put_u8(nlh, CTA_PROTO_ICMP_TYPE, t->icmp.type);
                mnl_attr_put_u8(nlh, CTA_PROTO_ICMP_CODE, t->icmp.code);
        } else if (t->l4 == IPPROTO_ICMPV6) {
                mnl_attr_put_u16(nlh, CTA_PROTO_ICMPV6_ID, htons(t->icmp.id));
                mnl_attr_put_u8(nlh, CTA_PROTO_ICMPV6_TYPE, t->icmp.type);
                mnl_attr_put_u8(nlh, CTA_PROTO_ICMPV6_CODE, t->icmp.code);
        } else if (ct_proto_has_ports(t->l4)) {
                mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
                mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
        }
        mnl_attr_nest_end(nlh, proto);

        mnl_attr_nest_end(nlh, nest);
}

static void put_u32_be(struct nlmsghdr *nlh, uint16_t type, uint32_t v) {
        mnl_attr_put_u32(nlh, type, htonl(v));
}

static void put_u64_be(struct nlmsghdr *nlh, uint16_t type, uint64_t v) {
        mnl_attr_put_u64(nlh, type, htobe64(v));
}

static void put_protoinfo(struct nlmsghdr *nlh, const CtEntry *e) {
        struct nlattr *nest, *inner;
        uint64_t a = e->attrs;

        switch (e->orig.l4) {
        case IPPROTO_TCP:
                if (!(a & (CT_ATTR_TCP_STATE | CT_ATTR_TCP_WSCALE | CT_ATTR_TCP_FLAGS)))
                        return;
                nest = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
                inner = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
                if (a & CT_ATTR_TCP_STATE)
                        mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, e->tcp.state);
                if (a & CT_ATTR_TCP_WSCALE) {
                        mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_ORIGINAL, e->tcp.wscale_orig);
                        mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_WSCALE_REPLY, e->tcp.wscale_repl);
                }
                if (a & CT_ATTR_TCP_FLAGS) {
                        /* struct nf_ct_tcp_flags: the flags byte, then the mask byte */
                        const uint8_t o[2] = { e->tcp.flags_orig, e->tcp.mask_orig };
                        const uint8_t r[2] = { e->tcp.flags_repl, e->tcp.mask_repl };

                        mnl_attr_put(nlh, CTA_PROTOINFO_TCP_FLAGS_ORIGINAL, sizeof(o), &o);
                        mnl_attr_put(nlh, CTA_PROTOINFO_TCP_FLAGS_REPLY, sizeof(r), &r);
                }
                break;
        case IPPROTO_SCTP:
                if (!(a & CT_ATTR_SCTP_STATE))
                        return;
                nest = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
                inner = mnl_attr_nest_start(nlh, CTA_PROTOINFO_SCTP);
                mnl_attr_put_u8(nlh, CTA_PROTOINFO_SCTP_STATE, e->sctp.state);
                put_u32_be(nlh, CTA_PROTOINFO_SCTP_VTAG_ORIGINAL, e->sctp.vtag_orig);
                put_u32_be(nlh, CTA_PROTOINFO_SCTP_VTAG_REPLY, e->sctp.vtag_repl);
                break;
        case IPPROTO_DCCP:
                if (!(a & CT_ATTR_DCCP_STATE))
                        return;
                nest = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
                inner = mnl_attr_nest_start(nlh, CTA_PROTOINFO_DCCP);
                mnl_attr_put_u8(nlh, CTA_PROTOINFO_DCCP_STATE, e->dccp.state);
                mnl_attr_put_u8(nlh, CTA_PROTOINFO_DCCP_ROLE, e->dccp.role);
                break;
        default:
                return;
        }
        mnl_attr_nest_end(nlh, inner);
        mnl_attr_nest_end(nlh, nest);
}

static void put_seq_adj(struct nlmsghdr *nlh, uint16_t type, uint32_t pos, uint32_t before,
                        uint32_t after) {
        struct nlattr *nest = mnl_attr_nest_start(nlh, type);

        put_u32_be(nlh, CTA_NAT_SEQ_CORRECTION_POS, pos);
        put_u32_be(nlh, CTA_NAT_SEQ_OFFSET_BEFORE, before);
        put_u32_be(nlh, CTA_NAT_SEQ_OFFSET_AFTER, after);
        mnl_attr_nest_end(nlh, nest);
}

static void put_counters(struct nlmsghdr *nlh, uint16_t type, uint64_t packets, uint64_t bytes) {
        struct nlattr *nest = mnl_attr_nest_start(nlh, type);

        put_u64_be(nlh, CTA_COUNTERS_PACKETS, packets);
        put_u64_be(nlh, CTA_COUNTERS_BYTES, bytes);
        mnl_attr_nest_end(nlh, nest);
}

/* The entry as the kernel reports it in a ctnetlink message. */
void ct_entry_put_message(struct nlmsghdr *nlh, const CtEntry *e) {
        struct nfgenmsg *nfg;
        struct nlattr *nest;
        uint64_t a = e->attrs;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = e->orig.l3;
        nfg->version = NFNETLINK_V0;
        nfg->res_id = 0;

        put_tuple(nlh, CTA_TUPLE_ORIG, &e->orig);
        if (a & CT_ATTR_REPLY)
                put_tuple(nlh, CTA_TUPLE_REPLY, &e->reply);
        if (a & CT_ATTR_MASTER)
                put_tuple(nlh, CTA_TUPLE_MASTER, &e->master);
        if (a & CT_ATTR_STATUS)
                put_u32_be(nlh, CTA_STATUS, e->status);
        if (a & CT_ATTR_TIMEOUT)
                put_u32_be(nlh, CTA_TIMEOUT, e->timeout);
        if (a & CT_ATTR_MARK)
                put_u32_be(nlh, CTA_MARK, e->mark);
        if (a & CT_ATTR_SECMARK)
                put_u32_be(nlh, CTA_SECMARK, e->secmark);
        if (a & CT_ATTR_ID)
                put_u32_be(nlh, CTA_ID, e->id);
        if (a & CT_ATTR_USE)
                put_u32_be(nlh, CTA_USE, e->use);
        put_protoinfo(nlh, e);
        if (a & CT_ATTR_NAT_SEQ_ADJ) {
                put_seq_adj(nlh, CTA_NAT_SEQ_ADJ_ORIG, e->seq_adj.orig_pos, e->seq_adj.orig_before,
                            e->seq_adj.orig_after);
                put_seq_adj(nlh, CTA_NAT_SEQ_ADJ_REPLY, e->seq_adj.repl_pos, e->seq_adj.repl_before,
                            e->seq_adj.repl_after);
        }
        if ((a & CT_ATTR_HELPER) && e->helper[0]) {
                char name[CT_HELPER_NAME_MAX];

                /* NUL-terminated whatever the caller left in the array */
                memcpy(name, e->helper, sizeof(name));
                name[sizeof(name) - 1] = 0;
                nest = mnl_attr_nest_start(nlh, CTA_HELP);
                mnl_attr_put_strz(nlh, CTA_HELP_NAME, name);
                mnl_attr_nest_end(nlh, nest);
        }
        if (a & CT_ATTR_COUNTERS) {
                put_counters(nlh, CTA_COUNTERS_ORIG, e->counters.packets_orig,
                             e->counters.bytes_orig);
                put_counters(nlh, CTA_COUNTERS_REPLY, e->counters.packets_repl,
                             e->counters.bytes_repl);
        }
        if (a & CT_ATTR_TIMESTAMP) {
                nest = mnl_attr_nest_start(nlh, CTA_TIMESTAMP);
                put_u64_be(nlh, CTA_TIMESTAMP_START, e->timestamp.start);
                if (e->timestamp.stop != 0)
                        put_u64_be(nlh, CTA_TIMESTAMP_STOP, e->timestamp.stop);
                mnl_attr_nest_end(nlh, nest);
        }
        if (a & CT_ATTR_LABELS) {
                /* the kernel's bitmap: 128 bits, bit b of 32-bit word i = label 32*i+b */
                mnl_attr_put(nlh, CTA_LABELS, sizeof(e->labels), e->labels);
        }
        if (a & CT_ATTR_SYNPROXY) {
                nest = mnl_attr_nest_start(nlh, CTA_SYNPROXY);
                put_u32_be(nlh, CTA_SYNPROXY_ISN, e->synproxy.isn);
                put_u32_be(nlh, CTA_SYNPROXY_ITS, e->synproxy.its);
                put_u32_be(nlh, CTA_SYNPROXY_TSOFF, e->synproxy.tsoff);
                mnl_attr_nest_end(nlh, nest);
        }
        if (e->zone != 0)
                mnl_attr_put_u16(nlh, CTA_ZONE, htons(e->zone));
}

/* Parse the attributes of a ctnetlink conntrack message. nfct_nlmsg_parse() of some library
 * versions hands the whole message length to the attribute walker, which then runs into the
 * next message of a multi-part datagram; the payload variant with the exact length does not. */
static int parse_ct_message(const struct nlmsghdr *nlh, struct nf_conntrack *ct) {
        const struct nfgenmsg *nfg;
        size_t len;

        if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*nfg)))
                return -EBADMSG;
        nfg = mnl_nlmsg_get_payload(nlh);
        len = mnl_nlmsg_get_payload_len(nlh) - MNL_ALIGN(sizeof(*nfg));
        if (nfct_payload_parse(mnl_nlmsg_get_payload_offset(nlh, sizeof(*nfg)), len,
                               nfg->nfgen_family, ct) < 0)
                return -EBADMSG;
        return 0;
}

static void set_nat_requests(struct nf_conntrack *ct, const CtEntry *e) {
        bool v6 = e->orig.l3 == AF_INET6;

        if (e->attrs & CT_ATTR_SNAT) {
                if (v6)
                        nfct_set_attr(ct, ATTR_SNAT_IPV6, &e->nat.snat_addr.in6);
                else
                        nfct_set_attr_u32(ct, ATTR_SNAT_IPV4, e->nat.snat_addr.ip);
        }
        if (e->attrs & CT_ATTR_DNAT) {
                if (v6)
                        nfct_set_attr(ct, ATTR_DNAT_IPV6, &e->nat.dnat_addr.in6);
                else
                        nfct_set_attr_u32(ct, ATTR_DNAT_IPV4, e->nat.dnat_addr.ip);
        }
        if (e->attrs & CT_ATTR_SPAT)
                nfct_set_attr_u16(ct, ATTR_SNAT_PORT, htons(e->nat.spat_port));
        if (e->attrs & CT_ATTR_DPAT)
                nfct_set_attr_u16(ct, ATTR_DNAT_PORT, htons(e->nat.dpat_port));
}

int ct_entry_to_nfct(const CtEntry *e, struct nf_conntrack **ret) {
        _cleanup_(nfct_destroyp) struct nf_conntrack *ct = NULL;
        union {
                char buf[CT_MSG_BUFFER_SIZE];
                struct nlmsghdr align;
        } u;
        struct nlmsghdr *nlh;
        int r;

        if (!e || !ret)
                return -EINVAL;
        if (!l3_valid(e->orig.l3) ||
            ((e->attrs & CT_ATTR_REPLY) && e->reply.l3 != e->orig.l3) ||
            ((e->attrs & CT_ATTR_MASTER) && !l3_valid(e->master.l3)))
                return -EAFNOSUPPORT;

        memset(u.buf, 0, sizeof(u.buf));
        nlh = mnl_nlmsg_put_header(u.buf);
        ct_entry_put_message(nlh, e);

        ct = nfct_new();
        if (!ct)
                return -ENOMEM;
        r = parse_ct_message(nlh, ct);
        if (r < 0)
                return r;
        set_nat_requests(ct, e);

        *ret = TAKE_PTR(ct);
        return 0;
}

/* ---- reading ----
 *
 * Small inline readers of netlink attributes rather than libmnl's out-of-line getters: every
 * event goes through here. An attribute is used only when its header and declared length fit
 * in what contains it; a walk stops at the first one that does not (as libmnl's walkers do). */

static inline uint16_t nla_type_of(const struct nlattr *a) {
        return a->nla_type & NLA_TYPE_MASK;
}

static inline const void *nla_data(const struct nlattr *a) {
        return (const char *) a + NLA_HDRLEN;
}

static inline size_t nla_payload_len(const struct nlattr *a) {
        return a->nla_len - NLA_HDRLEN;
}

static inline uint8_t nla_u8(const struct nlattr *a) {
        return *(const uint8_t *) nla_data(a);
}

static inline uint16_t nla_u16(const struct nlattr *a) {
        uint16_t v;

        memcpy(&v, nla_data(a), sizeof(v));
        return v;
}

static inline uint32_t nla_u32(const struct nlattr *a) {
        uint32_t v;

        memcpy(&v, nla_data(a), sizeof(v));
        return v;
}

static inline uint64_t nla_u64(const struct nlattr *a) {
        uint64_t v;

        memcpy(&v, nla_data(a), sizeof(v));
        return v;
}

/* Fill tb[type] for each well-formed attribute of the len bytes at data (type <= max). */
static void attrs_fill(const void *data, size_t len, const struct nlattr **tb, unsigned max) {
        const char *p = data;

        while (len >= NLA_HDRLEN) {
                const struct nlattr *a = (const struct nlattr *) p;
                size_t step;

                if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
                        return;
                if (nla_type_of(a) <= max)
                        tb[nla_type_of(a)] = a;
                step = NLA_ALIGN(a->nla_len);
                if (step >= len)
                        return;
                p += step;
                len -= step;
        }
}

/* The attributes of a nest (a malformed one ends the walk, as everywhere here). */
static void parse_nested(const struct nlattr *nest, const struct nlattr **tb, unsigned max) {
        attrs_fill(nla_data(nest), nla_payload_len(nest), tb, max);
}

/* The top-level attributes of a ctnetlink message, after its nfgenmsg header. */
static void nlmsg_attrs_fill(const struct nlmsghdr *nlh, const struct nlattr **tb, unsigned max) {
        size_t off = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg));

        if (nlh->nlmsg_len > off)
                attrs_fill((const char *) nlh + off, nlh->nlmsg_len - off, tb, max);
}

static bool attr_len_ok(const struct nlattr *a, size_t len) {
        return a && nla_payload_len(a) >= len;
}

/* A CTA_TUPLE_* nest of the given family into a CtTuple. */
static int tuple_from_nest(const struct nlattr *nest, uint8_t l3, CtTuple *ret) {
        const struct nlattr *tb[CTA_TUPLE_MAX + 1] = {}, *ip[CTA_IP_MAX + 1] = {},
                            *pr[CTA_PROTO_MAX + 1] = {};
        CtTuple t = { .l3 = l3 };

        parse_nested(nest, tb, CTA_TUPLE_MAX);
        if (!tb[CTA_TUPLE_IP] || !tb[CTA_TUPLE_PROTO])
                return -EBADMSG;
        parse_nested(tb[CTA_TUPLE_IP], ip, CTA_IP_MAX);
        parse_nested(tb[CTA_TUPLE_PROTO], pr, CTA_PROTO_MAX);

        if (l3 == AF_INET) {
                if (!attr_len_ok(ip[CTA_IP_V4_SRC], 4) || !attr_len_ok(ip[CTA_IP_V4_DST], 4))
                        return -EBADMSG;
                memcpy(&t.src.ip, nla_data(ip[CTA_IP_V4_SRC]), 4);
                memcpy(&t.dst.ip, nla_data(ip[CTA_IP_V4_DST]), 4);
        } else if (l3 == AF_INET6) {
                if (!attr_len_ok(ip[CTA_IP_V6_SRC], 16) || !attr_len_ok(ip[CTA_IP_V6_DST], 16))
                        return -EBADMSG;
                memcpy(&t.src.in6, nla_data(ip[CTA_IP_V6_SRC]), 16);
                memcpy(&t.dst.in6, nla_data(ip[CTA_IP_V6_DST]), 16);
        } else
                return -EAFNOSUPPORT;

        if (!attr_len_ok(pr[CTA_PROTO_NUM], 1))
                return -EBADMSG;
        t.l4 = nla_u8(pr[CTA_PROTO_NUM]);
        if (ct_proto_is_icmp(t.l4)) {
                bool v4 = t.l4 == IPPROTO_ICMP;
                const struct nlattr *type = pr[v4 ? CTA_PROTO_ICMP_TYPE : CTA_PROTO_ICMPV6_TYPE],
                                    *code = pr[v4 ? CTA_PROTO_ICMP_CODE : CTA_PROTO_ICMPV6_CODE],
                                    *id = pr[v4 ? CTA_PROTO_ICMP_ID : CTA_PROTO_ICMPV6_ID];

                if (attr_len_ok(type, 1))
                        t.icmp.type = nla_u8(type);
                if (attr_len_ok(code, 1))
                        t.icmp.code = nla_u8(code);
                if (attr_len_ok(id, 2))
                        t.icmp.id = ntohs(nla_u16(id));
        } else if (ct_proto_has_ports(t.l4)) {
                if (attr_len_ok(pr[CTA_PROTO_SRC_PORT], 2))
                        t.sport = ntohs(nla_u16(pr[CTA_PROTO_SRC_PORT]));
                if (attr_len_ok(pr[CTA_PROTO_DST_PORT], 2))
                        t.dport = ntohs(nla_u16(pr[CTA_PROTO_DST_PORT]));
        }
        *ret = t;
        return 0;
}

/* One top-level attribute of a ctnetlink message (after the nfgenmsg header), or NULL. */
static const struct nlattr *nlmsg_find_attr(const struct nlmsghdr *nlh, uint16_t type) {
        const struct nlattr *tb[CTA_MAX + 1] = {};

        /* every message type read here has fewer attribute types than CTA_MAX */
        nlmsg_attrs_fill(nlh, tb, CTA_MAX);
        return type <= CTA_MAX ? tb[type] : NULL;
}

typedef enum TupleKind {
        TUPLE_ORIG,
        TUPLE_REPLY,
        TUPLE_MASTER,
} TupleKind;

static bool tuple_present(const struct nf_conntrack *ct, TupleKind k) {
        static const enum nf_conntrack_attr l4[] = {
                [TUPLE_ORIG] = ATTR_ORIG_L4PROTO,
                [TUPLE_REPLY] = ATTR_REPL_L4PROTO,
                [TUPLE_MASTER] = ATTR_MASTER_L4PROTO,
        };
        return nfct_attr_is_set(ct, l4[k]) > 0;
}

/* The address and port parts of a tuple through the library's getters. ICMP fields only exist
 * for the original tuple there; the reply's are filled by the caller. */
static void get_tuple(const struct nf_conntrack *ct, TupleKind k, uint8_t l3, CtTuple *ret) {
        static const struct {
                enum nf_conntrack_attr l4, v4src, v4dst, v6src, v6dst, sport, dport;
        } map[] = {
                [TUPLE_ORIG] = { ATTR_ORIG_L4PROTO, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST,
                                 ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST, ATTR_ORIG_PORT_SRC,
                                 ATTR_ORIG_PORT_DST },
                [TUPLE_REPLY] = { ATTR_REPL_L4PROTO, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV4_DST,
                                  ATTR_REPL_IPV6_SRC, ATTR_REPL_IPV6_DST, ATTR_REPL_PORT_SRC,
                                  ATTR_REPL_PORT_DST },
                [TUPLE_MASTER] = { ATTR_MASTER_L4PROTO, ATTR_MASTER_IPV4_SRC, ATTR_MASTER_IPV4_DST,
                                   ATTR_MASTER_IPV6_SRC, ATTR_MASTER_IPV6_DST, ATTR_MASTER_PORT_SRC,
                                   ATTR_MASTER_PORT_DST },
        };
        CtTuple t = { .l3 = l3, .l4 = nfct_get_attr_u8(ct, map[k].l4) };

        if (l3 == AF_INET) {
                t.src.ip = nfct_get_attr_u32(ct, map[k].v4src);
                t.dst.ip = nfct_get_attr_u32(ct, map[k].v4dst);
        } else {
                const void *p;

                p = nfct_get_attr(ct, map[k].v6src);
                if (p)
                        memcpy(&t.src.in6, p, 16);
                p = nfct_get_attr(ct, map[k].v6dst);
                if (p)
                        memcpy(&t.dst.in6, p, 16);
        }
        if (ct_proto_is_icmp(t.l4)) {
                if (k == TUPLE_ORIG) {
                        t.icmp.type = nfct_get_attr_u8(ct, ATTR_ICMP_TYPE);
                        t.icmp.code = nfct_get_attr_u8(ct, ATTR_ICMP_CODE);
                        t.icmp.id = ntohs(nfct_get_attr_u16(ct, ATTR_ICMP_ID));
                }
        } else if (ct_proto_has_ports(t.l4)) {
                t.sport = ntohs(nfct_get_attr_u16(ct, map[k].sport));
                t.dport = ntohs(nfct_get_attr_u16(ct, map[k].dport));
        }
        *ret = t;
}

/* The reply tuple's ICMP fields, which the library keeps but offers no attribute for: read them
 * back from the message the library builds of the object. */
static int get_reply_icmp(const struct nf_conntrack *ct, uint8_t l3, CtTuple *reply) {
        union {
                char buf[CT_MSG_BUFFER_SIZE];
                struct nlmsghdr align;
        } u;
        const struct nlattr *a;
        struct nlmsghdr *nlh;
        struct nfgenmsg *nfg;

        memset(u.buf, 0, sizeof(u.buf));
        nlh = mnl_nlmsg_put_header(u.buf);
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = l3;
        if (nfct_nlmsg_build(nlh, ct) < 0)
                return -EINVAL;
        a = nlmsg_find_attr(nlh, CTA_TUPLE_REPLY);
        if (!a)
                return -EBADMSG;
        return tuple_from_nest(a, l3, reply);
}

static bool all_set(const struct nf_conntrack *ct, const enum nf_conntrack_attr *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (nfct_attr_is_set(ct, a[i]) <= 0)
                        return false;
        return true;
}

static bool any_set(const struct nf_conntrack *ct, const enum nf_conntrack_attr *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (nfct_attr_is_set(ct, a[i]) > 0)
                        return true;
        return false;
}

#define ATTR_LIST(...) ((const enum nf_conntrack_attr[]) { __VA_ARGS__ })
#define ATTR_COUNT(...) (sizeof(ATTR_LIST(__VA_ARGS__)) / sizeof(enum nf_conntrack_attr))
#define ALL_SET(ct, ...) all_set((ct), ATTR_LIST(__VA_ARGS__), ATTR_COUNT(__VA_ARGS__))
#define ANY_SET(ct, ...) any_set((ct), ATTR_LIST(__VA_ARGS__), ATTR_COUNT(__VA_ARGS__))

static bool is_set(const struct nf_conntrack *ct, enum nf_conntrack_attr a) {
        return nfct_attr_is_set(ct, a) > 0;
}

/* Everything but the reply tuple's ICMP fields (see callers). */
static int ct_entry_from_nfct_internal(const struct nf_conntrack *ct, CtEntry *ret) {
        CtEntry e = {};
        uint8_t l3;

        if (!is_set(ct, ATTR_ORIG_L3PROTO) || !is_set(ct, ATTR_ORIG_L4PROTO))
                return -EBADMSG;
        l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
        if (!l3_valid(l3))
                return -EAFNOSUPPORT;
        if (l3 == AF_INET ? !ALL_SET(ct, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST) :
                            !ALL_SET(ct, ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST))
                return -EBADMSG;

        get_tuple(ct, TUPLE_ORIG, l3, &e.orig);
        if (tuple_present(ct, TUPLE_REPLY)) {
                get_tuple(ct, TUPLE_REPLY, l3, &e.reply);
                e.attrs |= CT_ATTR_REPLY;
        }
        if (tuple_present(ct, TUPLE_MASTER)) {
                uint8_t ml3 = is_set(ct, ATTR_MASTER_L3PROTO) ?
                              nfct_get_attr_u8(ct, ATTR_MASTER_L3PROTO) : l3;

                if (l3_valid(ml3)) {
                        get_tuple(ct, TUPLE_MASTER, ml3, &e.master);
                        e.attrs |= CT_ATTR_MASTER;
                }
        }
        if (is_set(ct, ATTR_ZONE))
                e.zone = nfct_get_attr_u16(ct, ATTR_ZONE);

        if (is_set(ct, ATTR_STATUS)) {
                e.status = nfct_get_attr_u32(ct, ATTR_STATUS);
                e.attrs |= CT_ATTR_STATUS;
        }
        if (is_set(ct, ATTR_TIMEOUT)) {
                e.timeout = nfct_get_attr_u32(ct, ATTR_TIMEOUT);
                e.attrs |= CT_ATTR_TIMEOUT;
        }
        if (is_set(ct, ATTR_MARK)) {
                e.mark = nfct_get_attr_u32(ct, ATTR_MARK);
                e.attrs |= CT_ATTR_MARK;
        }
        if (is_set(ct, ATTR_SECMARK)) {
                e.secmark = nfct_get_attr_u32(ct, ATTR_SECMARK);
                e.attrs |= CT_ATTR_SECMARK;
        }
        if (is_set(ct, ATTR_ID)) {
                e.id = nfct_get_attr_u32(ct, ATTR_ID);
                e.attrs |= CT_ATTR_ID;
        }
        if (is_set(ct, ATTR_USE)) {
                e.use = nfct_get_attr_u32(ct, ATTR_USE);
                e.attrs |= CT_ATTR_USE;
        }

        if (is_set(ct, ATTR_TCP_STATE)) {
                e.tcp.state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
                e.attrs |= CT_ATTR_TCP_STATE;
        }
        if (ANY_SET(ct, ATTR_TCP_WSCALE_ORIG, ATTR_TCP_WSCALE_REPL)) {
                e.tcp.wscale_orig = nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_ORIG);
                e.tcp.wscale_repl = nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_REPL);
                e.attrs |= CT_ATTR_TCP_WSCALE;
        }
        if (ANY_SET(ct, ATTR_TCP_FLAGS_ORIG, ATTR_TCP_FLAGS_REPL)) {
                e.tcp.flags_orig = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_ORIG);
                e.tcp.flags_repl = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_REPL);
                e.tcp.mask_orig = nfct_get_attr_u8(ct, ATTR_TCP_MASK_ORIG);
                e.tcp.mask_repl = nfct_get_attr_u8(ct, ATTR_TCP_MASK_REPL);
                e.attrs |= CT_ATTR_TCP_FLAGS;
        }
        if (is_set(ct, ATTR_SCTP_STATE)) {
                e.sctp.state = nfct_get_attr_u8(ct, ATTR_SCTP_STATE);
                e.sctp.vtag_orig = nfct_get_attr_u32(ct, ATTR_SCTP_VTAG_ORIG);
                e.sctp.vtag_repl = nfct_get_attr_u32(ct, ATTR_SCTP_VTAG_REPL);
                e.attrs |= CT_ATTR_SCTP_STATE;
        }
        if (is_set(ct, ATTR_DCCP_STATE)) {
                e.dccp.state = nfct_get_attr_u8(ct, ATTR_DCCP_STATE);
                e.dccp.role = nfct_get_attr_u8(ct, ATTR_DCCP_ROLE);
                e.attrs |= CT_ATTR_DCCP_STATE;
        }

        /* NAT requests (what peers send and commits carry) */
        if (is_set(ct, ATTR_SNAT_IPV4) && l3 == AF_INET) {
                e.nat.snat_addr.ip = nfct_get_attr_u32(ct, ATTR_SNAT_IPV4);
                e.attrs |= CT_ATTR_SNAT;
        } else if (is_set(ct, ATTR_SNAT_IPV6) && l3 == AF_INET6) {
                memcpy(&e.nat.snat_addr.in6, nfct_get_attr(ct, ATTR_SNAT_IPV6), 16);
                e.attrs |= CT_ATTR_SNAT;
        }
        if (is_set(ct, ATTR_DNAT_IPV4) && l3 == AF_INET) {
                e.nat.dnat_addr.ip = nfct_get_attr_u32(ct, ATTR_DNAT_IPV4);
                e.attrs |= CT_ATTR_DNAT;
        } else if (is_set(ct, ATTR_DNAT_IPV6) && l3 == AF_INET6) {
                memcpy(&e.nat.dnat_addr.in6, nfct_get_attr(ct, ATTR_DNAT_IPV6), 16);
                e.attrs |= CT_ATTR_DNAT;
        }
        if (is_set(ct, ATTR_SNAT_PORT)) {
                e.nat.spat_port = ntohs(nfct_get_attr_u16(ct, ATTR_SNAT_PORT));
                e.attrs |= CT_ATTR_SPAT;
        }
        if (is_set(ct, ATTR_DNAT_PORT)) {
                e.nat.dpat_port = ntohs(nfct_get_attr_u16(ct, ATTR_DNAT_PORT));
                e.attrs |= CT_ATTR_DPAT;
        }

        if (ALL_SET(ct, ATTR_ORIG_NAT_SEQ_CORRECTION_POS, ATTR_ORIG_NAT_SEQ_OFFSET_BEFORE,
                    ATTR_ORIG_NAT_SEQ_OFFSET_AFTER, ATTR_REPL_NAT_SEQ_CORRECTION_POS,
                    ATTR_REPL_NAT_SEQ_OFFSET_BEFORE, ATTR_REPL_NAT_SEQ_OFFSET_AFTER)) {
                e.seq_adj.orig_pos = nfct_get_attr_u32(ct, ATTR_ORIG_NAT_SEQ_CORRECTION_POS);
                e.seq_adj.orig_before = nfct_get_attr_u32(ct, ATTR_ORIG_NAT_SEQ_OFFSET_BEFORE);
                e.seq_adj.orig_after = nfct_get_attr_u32(ct, ATTR_ORIG_NAT_SEQ_OFFSET_AFTER);
                e.seq_adj.repl_pos = nfct_get_attr_u32(ct, ATTR_REPL_NAT_SEQ_CORRECTION_POS);
                e.seq_adj.repl_before = nfct_get_attr_u32(ct, ATTR_REPL_NAT_SEQ_OFFSET_BEFORE);
                e.seq_adj.repl_after = nfct_get_attr_u32(ct, ATTR_REPL_NAT_SEQ_OFFSET_AFTER);
                e.attrs |= CT_ATTR_NAT_SEQ_ADJ;
        }

        if (is_set(ct, ATTR_HELPER_NAME)) {
                const char *name = nfct_get_attr(ct, ATTR_HELPER_NAME);

                if (name && name[0]) {
                        strncpy(e.helper, name, sizeof(e.helper) - 1);
                        e.attrs |= CT_ATTR_HELPER;
                }
        }

        if (is_set(ct, ATTR_CONNLABELS)) {
                const struct nfct_bitmask *b = nfct_get_attr(ct, ATTR_CONNLABELS);

                if (b) {
                        unsigned max = nfct_bitmask_maxbit(b);

                        for (unsigned i = 0; i <= max && i < 32 * CT_LABELS_WORDS; i++)
                                if (nfct_bitmask_test_bit(b, i))
                                        e.labels[i / 32] |= 1u << (i % 32);
                        e.attrs |= CT_ATTR_LABELS;
                }
        }

        if (ALL_SET(ct, ATTR_SYNPROXY_ISN, ATTR_SYNPROXY_ITS, ATTR_SYNPROXY_TSOFF)) {
                e.synproxy.isn = nfct_get_attr_u32(ct, ATTR_SYNPROXY_ISN);
                e.synproxy.its = nfct_get_attr_u32(ct, ATTR_SYNPROXY_ITS);
                e.synproxy.tsoff = nfct_get_attr_u32(ct, ATTR_SYNPROXY_TSOFF);
                e.attrs |= CT_ATTR_SYNPROXY;
        }

        if (ANY_SET(ct, ATTR_ORIG_COUNTER_PACKETS, ATTR_ORIG_COUNTER_BYTES,
                    ATTR_REPL_COUNTER_PACKETS, ATTR_REPL_COUNTER_BYTES)) {
                e.counters.packets_orig = nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS);
                e.counters.bytes_orig = nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES);
                e.counters.packets_repl = nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_PACKETS);
                e.counters.bytes_repl = nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES);
                e.attrs |= CT_ATTR_COUNTERS;
        }
        if (is_set(ct, ATTR_TIMESTAMP_START)) {
                e.timestamp.start = nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START);
                e.timestamp.stop = nfct_get_attr_u64(ct, ATTR_TIMESTAMP_STOP);
                e.attrs |= CT_ATTR_TIMESTAMP;
        }

        *ret = e;
        return 0;
}

int ct_entry_from_nfct(const struct nf_conntrack *ct, CtEntry *ret) {
        CtEntry e;
        int r;

        if (!ct || !ret)
                return -EINVAL;
        r = ct_entry_from_nfct_internal(ct, &e);
        if (r < 0)
                return r;
        if ((e.attrs & CT_ATTR_REPLY) && ct_proto_is_icmp(e.reply.l4)) {
                r = get_reply_icmp(ct, e.orig.l3, &e.reply);
                if (r < 0)
                        return r;
        }
        *ret = e;
        return 0;
}

void ct_entry_derive_nat(CtEntry *e) {
        bool status_known, v6;
        size_t alen;

        if (!e || !(e->attrs & CT_ATTR_REPLY))
                return;

        status_known = e->attrs & CT_ATTR_STATUS;
        v6 = e->orig.l3 == AF_INET6;
        alen = v6 ? 16 : 4;

        if ((!status_known || (e->status & IPS_SRC_NAT_DONE))) {
                if (memcmp(&e->reply.dst, &e->orig.src, alen) != 0) {
                        e->nat.snat_addr = e->reply.dst;
                        e->attrs |= CT_ATTR_SNAT;
                }
                if (ct_proto_has_ports(e->orig.l4) && e->reply.dport != e->orig.sport) {
                        e->nat.spat_port = e->reply.dport;
                        e->attrs |= CT_ATTR_SPAT;
                }
        }
        if ((!status_known || (e->status & IPS_DST_NAT_DONE))) {
                if (memcmp(&e->reply.src, &e->orig.dst, alen) != 0) {
                        e->nat.dnat_addr = e->reply.src;
                        e->attrs |= CT_ATTR_DNAT;
                }
                if (ct_proto_has_ports(e->orig.l4) && e->reply.sport != e->orig.dport) {
                        e->nat.dpat_port = e->reply.sport;
                        e->attrs |= CT_ATTR_DPAT;
                }
        }
}

/* Timestamps straight from the message: some library versions store the start time as the stop
 * time when both are present. */
static void timestamp_from_nest(const struct nlattr *nest, CtEntry *e) {
        const struct nlattr *tb[CTA_TIMESTAMP_MAX + 1] = {};

        e->attrs &= ~(uint64_t) CT_ATTR_TIMESTAMP;
        e->timestamp.start = e->timestamp.stop = 0;
        if (!nest)
                return;
        parse_nested(nest, tb, CTA_TIMESTAMP_MAX);
        if (!attr_len_ok(tb[CTA_TIMESTAMP_START], 8))
                return;
        e->timestamp.start = be64toh(nla_u64(tb[CTA_TIMESTAMP_START]));
        if (attr_len_ok(tb[CTA_TIMESTAMP_STOP], 8))
                e->timestamp.stop = be64toh(nla_u64(tb[CTA_TIMESTAMP_STOP]));
        e->attrs |= CT_ATTR_TIMESTAMP;
}

static void timestamp_from_nlmsg(const struct nlmsghdr *nlh, CtEntry *e) {
        timestamp_from_nest(nlmsg_find_attr(nlh, CTA_TIMESTAMP), e);
}

int ct_entry_from_nlmsg_nfct(const struct nlmsghdr *nlh, CtEntry *ret) {
        _cleanup_(nfct_destroyp) struct nf_conntrack *ct = NULL;
        CtEntry e;
        int r;

        if (!nlh || !ret)
                return -EINVAL;

        ct = nfct_new();
        if (!ct)
                return -ENOMEM;
        r = parse_ct_message(nlh, ct);
        if (r < 0)
                return r;
        r = ct_entry_from_nfct_internal(ct, &e);
        if (r < 0)
                return r;

        if ((e.attrs & CT_ATTR_REPLY) && ct_proto_is_icmp(e.reply.l4)) {
                const struct nlattr *a = nlmsg_find_attr(nlh, CTA_TUPLE_REPLY);

                if (!a)
                        return -EBADMSG;
                r = tuple_from_nest(a, e.orig.l3, &e.reply);
                if (r < 0)
                        return r;
        }
        timestamp_from_nlmsg(nlh, &e);
        ct_entry_derive_nat(&e);

        *ret = e;
        return 0;
}

/* ---- the event path: ctnetlink messages read directly ----
 *
 * Every conntrack event, dump part and get reply goes through here, so this reads the message
 * itself with libmnl instead of building an nf_conntrack (an allocation, a full parse and some
 * forty getter calls per event, the largest share of the daemon's CPU time under an event burst).
 * It reads what ct_entry_put_message() writes, which is what the kernel sends; the library's reading
 * stays as ct_entry_from_nlmsg_nfct(), the reference the unit tests compare this with. */

static uint32_t attr_be32(const struct nlattr *a) {
        return be32toh(nla_u32(a));
}

static void protoinfo_from_nest(const struct nlattr *nest, uint8_t l4, CtEntry *e) {
        const struct nlattr *tb[CTA_PROTOINFO_MAX + 1] = {};

        parse_nested(nest, tb, CTA_PROTOINFO_MAX);

        if (l4 == IPPROTO_TCP && tb[CTA_PROTOINFO_TCP]) {
                const struct nlattr *t[CTA_PROTOINFO_TCP_MAX + 1] = {};
                const struct nlattr *fo, *fr;

                parse_nested(tb[CTA_PROTOINFO_TCP], t, CTA_PROTOINFO_TCP_MAX);
                if (attr_len_ok(t[CTA_PROTOINFO_TCP_STATE], 1)) {
                        e->tcp.state = nla_u8(t[CTA_PROTOINFO_TCP_STATE]);
                        e->attrs |= CT_ATTR_TCP_STATE;
                }
                if (attr_len_ok(t[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL], 1) ||
                    attr_len_ok(t[CTA_PROTOINFO_TCP_WSCALE_REPLY], 1)) {
                        if (attr_len_ok(t[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL], 1))
                                e->tcp.wscale_orig = nla_u8(t[CTA_PROTOINFO_TCP_WSCALE_ORIGINAL]);
                        if (attr_len_ok(t[CTA_PROTOINFO_TCP_WSCALE_REPLY], 1))
                                e->tcp.wscale_repl = nla_u8(t[CTA_PROTOINFO_TCP_WSCALE_REPLY]);
                        e->attrs |= CT_ATTR_TCP_WSCALE;
                }
                /* struct nf_ct_tcp_flags: the flags byte, then the mask byte */
                fo = t[CTA_PROTOINFO_TCP_FLAGS_ORIGINAL];
                fr = t[CTA_PROTOINFO_TCP_FLAGS_REPLY];
                if (attr_len_ok(fo, 2) || attr_len_ok(fr, 2)) {
                        if (attr_len_ok(fo, 2)) {
                                const uint8_t *b = nla_data(fo);

                                e->tcp.flags_orig = b[0];
                                e->tcp.mask_orig = b[1];
                        }
                        if (attr_len_ok(fr, 2)) {
                                const uint8_t *b = nla_data(fr);

                                e->tcp.flags_repl = b[0];
                                e->tcp.mask_repl = b[1];
                        }
                        e->attrs |= CT_ATTR_TCP_FLAGS;
                }
        } else if (l4 == IPPROTO_SCTP && tb[CTA_PROTOINFO_SCTP]) {
                const struct nlattr *t[CTA_PROTOINFO_SCTP_MAX + 1] = {};

                parse_nested(tb[CTA_PROTOINFO_SCTP], t, CTA_PROTOINFO_SCTP_MAX);
                if (attr_len_ok(t[CTA_PROTOINFO_SCTP_STATE], 1)) {
                        e->sctp.state = nla_u8(t[CTA_PROTOINFO_SCTP_STATE]);
                        if (attr_len_ok(t[CTA_PROTOINFO_SCTP_VTAG_ORIGINAL], 4))
                                e->sctp.vtag_orig = attr_be32(t[CTA_PROTOINFO_SCTP_VTAG_ORIGINAL]);
                        if (attr_len_ok(t[CTA_PROTOINFO_SCTP_VTAG_REPLY], 4))
                                e->sctp.vtag_repl = attr_be32(t[CTA_PROTOINFO_SCTP_VTAG_REPLY]);
                        e->attrs |= CT_ATTR_SCTP_STATE;
                }
        } else if (l4 == IPPROTO_DCCP && tb[CTA_PROTOINFO_DCCP]) {
                const struct nlattr *t[CTA_PROTOINFO_DCCP_MAX + 1] = {};

                parse_nested(tb[CTA_PROTOINFO_DCCP], t, CTA_PROTOINFO_DCCP_MAX);
                if (attr_len_ok(t[CTA_PROTOINFO_DCCP_STATE], 1)) {
                        e->dccp.state = nla_u8(t[CTA_PROTOINFO_DCCP_STATE]);
                        if (attr_len_ok(t[CTA_PROTOINFO_DCCP_ROLE], 1))
                                e->dccp.role = nla_u8(t[CTA_PROTOINFO_DCCP_ROLE]);
                        e->attrs |= CT_ATTR_DCCP_STATE;
                }
        }
}

/* One CTA_NAT_SEQ_ADJ_* nest: all three values, or false. */
static bool seq_adj_from_nest(const struct nlattr *nest, uint32_t *pos, uint32_t *before,
                              uint32_t *after) {
        const struct nlattr *tb[CTA_NAT_SEQ_MAX + 1] = {};

        if (!nest)
                return false;
        parse_nested(nest, tb, CTA_NAT_SEQ_MAX);
        if (!attr_len_ok(tb[CTA_NAT_SEQ_CORRECTION_POS], 4) ||
            !attr_len_ok(tb[CTA_NAT_SEQ_OFFSET_BEFORE], 4) ||
            !attr_len_ok(tb[CTA_NAT_SEQ_OFFSET_AFTER], 4))
                return false;
        *pos = attr_be32(tb[CTA_NAT_SEQ_CORRECTION_POS]);
        *before = attr_be32(tb[CTA_NAT_SEQ_OFFSET_BEFORE]);
        *after = attr_be32(tb[CTA_NAT_SEQ_OFFSET_AFTER]);
        return true;
}

/* One CTA_COUNTERS_* nest (64-bit values, or the old 32-bit ones); false if it has neither. */
static bool counters_from_nest(const struct nlattr *nest, uint64_t *packets, uint64_t *bytes) {
        const struct nlattr *tb[CTA_COUNTERS_MAX + 1] = {};
        bool any = false;

        if (!nest)
                return false;
        parse_nested(nest, tb, CTA_COUNTERS_MAX);
        if (attr_len_ok(tb[CTA_COUNTERS_PACKETS], 8)) {
                *packets = be64toh(nla_u64(tb[CTA_COUNTERS_PACKETS]));
                any = true;
        } else if (attr_len_ok(tb[CTA_COUNTERS32_PACKETS], 4)) {
                *packets = attr_be32(tb[CTA_COUNTERS32_PACKETS]);
                any = true;
        }
        if (attr_len_ok(tb[CTA_COUNTERS_BYTES], 8)) {
                *bytes = be64toh(nla_u64(tb[CTA_COUNTERS_BYTES]));
                any = true;
        } else if (attr_len_ok(tb[CTA_COUNTERS32_BYTES], 4)) {
                *bytes = attr_be32(tb[CTA_COUNTERS32_BYTES]);
                any = true;
        }
        return any;
}

int ct_entry_from_nlmsg(const struct nlmsghdr *nlh, CtEntry *ret) {
        const struct nlattr *tb[CTA_MAX + 1] = {};
        const struct nfgenmsg *nfg;
        CtEntry e = {};
        uint8_t l3;
        int r;

        if (!nlh || !ret)
                return -EINVAL;
        if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*nfg)))
                return -EBADMSG;
        nfg = mnl_nlmsg_get_payload(nlh);
        l3 = nfg->nfgen_family;
        if (!l3_valid(l3))
                return -EAFNOSUPPORT;

        nlmsg_attrs_fill(nlh, tb, CTA_MAX);

        if (!tb[CTA_TUPLE_ORIG])
                return -EBADMSG;
        r = tuple_from_nest(tb[CTA_TUPLE_ORIG], l3, &e.orig);
        if (r < 0)
                return r;
        if (tb[CTA_TUPLE_REPLY]) {
                r = tuple_from_nest(tb[CTA_TUPLE_REPLY], l3, &e.reply);
                if (r < 0)
                        return r;
                e.attrs |= CT_ATTR_REPLY;
        }
        if (tb[CTA_TUPLE_MASTER] && tuple_from_nest(tb[CTA_TUPLE_MASTER], l3, &e.master) >= 0)
                e.attrs |= CT_ATTR_MASTER;

        if (attr_len_ok(tb[CTA_ZONE], 2))
                e.zone = be16toh(nla_u16(tb[CTA_ZONE]));

#define BE32_ATTR(cta, field, bit)                                      \
        if (attr_len_ok(tb[cta], 4)) {                                  \
                e.field = attr_be32(tb[cta]);                           \
                e.attrs |= (bit);                                       \
        }
        BE32_ATTR(CTA_STATUS, status, CT_ATTR_STATUS);
        BE32_ATTR(CTA_TIMEOUT, timeout, CT_ATTR_TIMEOUT);
        BE32_ATTR(CTA_MARK, mark, CT_ATTR_MARK);
        BE32_ATTR(CTA_SECMARK, secmark, CT_ATTR_SECMARK);
        BE32_ATTR(CTA_ID, id, CT_ATTR_ID);
        BE32_ATTR(CTA_USE, use, CT_ATTR_USE);
#undef BE32_ATTR

        if (tb[CTA_PROTOINFO])
                protoinfo_from_nest(tb[CTA_PROTOINFO], e.orig.l4, &e);

        if (seq_adj_from_nest(tb[CTA_NAT_SEQ_ADJ_ORIG], &e.seq_adj.orig_pos, &e.seq_adj.orig_before,
                              &e.seq_adj.orig_after) &&
            seq_adj_from_nest(tb[CTA_NAT_SEQ_ADJ_REPLY], &e.seq_adj.repl_pos, &e.seq_adj.repl_before,
                              &e.seq_adj.repl_after))
                e.attrs |= CT_ATTR_NAT_SEQ_ADJ;
        else
                memset(&e.seq_adj, 0, sizeof(e.seq_adj));

        if (tb[CTA_HELP]) {
                const struct nlattr *h[CTA_HELP_MAX + 1] = {};

                parse_nested(tb[CTA_HELP], h, CTA_HELP_MAX);
                if (h[CTA_HELP_NAME]) {
                        const char *name = nla_data(h[CTA_HELP_NAME]);
                        size_t n = strnlen(name, MIN((size_t) nla_payload_len(h[CTA_HELP_NAME]),
                                                     sizeof(e.helper) - 1));

                        if (n > 0) {
                                memcpy(e.helper, name, n);
                                e.attrs |= CT_ATTR_HELPER;
                        }
                }
        }

        if (tb[CTA_LABELS]) {
                /* the kernel's bitmap in 32-bit words; what lies beyond 128 bits is not kept */
                size_t n = MIN((size_t) nla_payload_len(tb[CTA_LABELS]) / 4 * 4,
                               sizeof(e.labels));

                memcpy(e.labels, nla_data(tb[CTA_LABELS]), n);
                e.attrs |= CT_ATTR_LABELS;
        }

        if (tb[CTA_SYNPROXY]) {
                const struct nlattr *sp[CTA_SYNPROXY_MAX + 1] = {};

                parse_nested(tb[CTA_SYNPROXY], sp, CTA_SYNPROXY_MAX);
                if (attr_len_ok(sp[CTA_SYNPROXY_ISN], 4) && attr_len_ok(sp[CTA_SYNPROXY_ITS], 4) &&
                    attr_len_ok(sp[CTA_SYNPROXY_TSOFF], 4)) {
                        e.synproxy.isn = attr_be32(sp[CTA_SYNPROXY_ISN]);
                        e.synproxy.its = attr_be32(sp[CTA_SYNPROXY_ITS]);
                        e.synproxy.tsoff = attr_be32(sp[CTA_SYNPROXY_TSOFF]);
                        e.attrs |= CT_ATTR_SYNPROXY;
                }
        }

        {
                /* both directions read, whichever has counters */
                bool o = counters_from_nest(tb[CTA_COUNTERS_ORIG], &e.counters.packets_orig,
                                            &e.counters.bytes_orig);
                bool r2 = counters_from_nest(tb[CTA_COUNTERS_REPLY], &e.counters.packets_repl,
                                             &e.counters.bytes_repl);

                if (o || r2)
                        e.attrs |= CT_ATTR_COUNTERS;
        }

        timestamp_from_nest(tb[CTA_TIMESTAMP], &e);
        ct_entry_derive_nat(&e);

        *ret = e;
        return 0;
}

/* ---- expectations ---- */

/* A conntrack object carrying only a tuple (as its original tuple), for the expectation's
 * master, expected, mask and NAT tuples. */
static int tuple_to_nfct(const CtTuple *t, struct nf_conntrack **ret) {
        CtEntry e = { .orig = *t };

        return ct_entry_to_nfct(&e, ret);
}

static int tuple_from_nfct(const struct nf_conntrack *ct, uint8_t l3, CtTuple *ret) {
        if (!ct)
                return -EBADMSG;
        if (is_set(ct, ATTR_ORIG_L3PROTO) && l3_valid(nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO)))
                l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
        if (!l3_valid(l3))
                return -EAFNOSUPPORT;
        get_tuple(ct, TUPLE_ORIG, l3, ret);
        return 0;
}

int ct_expect_to_nfexp(const CtExpect *x, struct nf_expect **ret) {
        _cleanup_(nfexp_destroyp) struct nf_expect *exp = NULL;
        int r;

        if (!x || !ret)
                return -EINVAL;

        const struct {
                const CtTuple *t;
                enum nf_expect_attr attr;
                bool present;
        } tuples[] = {
                { &x->master, ATTR_EXP_MASTER, true },
                { &x->expected, ATTR_EXP_EXPECTED, true },
                { &x->mask, ATTR_EXP_MASK, true },
                { &x->nat_tuple, ATTR_EXP_NAT_TUPLE, x->attrs & CT_EXP_ATTR_NAT },
        };

        exp = nfexp_new();
        if (!exp)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(tuples); i++) {
                _cleanup_(nfct_destroyp) struct nf_conntrack *ct = NULL;

                if (!tuples[i].present)
                        continue;
                r = tuple_to_nfct(tuples[i].t, &ct);
                if (r < 0)
                        return r;
                nfexp_set_attr(exp, tuples[i].attr, ct);
        }
        if (x->attrs & CT_EXP_ATTR_NAT)
                nfexp_set_attr_u32(exp, ATTR_EXP_NAT_DIR, x->nat_dir);
        if (x->zone != 0)
                nfexp_set_attr_u16(exp, ATTR_EXP_ZONE, x->zone);
        if (x->attrs & CT_EXP_ATTR_TIMEOUT)
                nfexp_set_attr_u32(exp, ATTR_EXP_TIMEOUT, x->timeout);
        if (x->attrs & CT_EXP_ATTR_FLAGS)
                nfexp_set_attr_u32(exp, ATTR_EXP_FLAGS, x->flags);
        if (x->attrs & CT_EXP_ATTR_CLASS)
                nfexp_set_attr_u32(exp, ATTR_EXP_CLASS, x->class);
        if ((x->attrs & CT_EXP_ATTR_HELPER) && x->helper[0]) {
                char name[CT_HELPER_NAME_MAX];

                memcpy(name, x->helper, sizeof(name));
                name[sizeof(name) - 1] = 0;
                nfexp_set_attr(exp, ATTR_EXP_HELPER_NAME, name);
        }
        if ((x->attrs & CT_EXP_ATTR_FN) && x->fn[0]) {
                char fn[CT_EXP_FN_MAX];

                memcpy(fn, x->fn, sizeof(fn));
                fn[sizeof(fn) - 1] = 0;
                nfexp_set_attr(exp, ATTR_EXP_FN, fn);
        }

        *ret = TAKE_PTR(exp);
        return 0;
}

static int ct_expect_from_nfexp_family(const struct nf_expect *exp, uint8_t l3, CtExpect *ret) {
        CtExpect x = {};
        int r;

        if (nfexp_attr_is_set(exp, ATTR_EXP_MASTER) <= 0 ||
            nfexp_attr_is_set(exp, ATTR_EXP_EXPECTED) <= 0 ||
            nfexp_attr_is_set(exp, ATTR_EXP_MASK) <= 0)
                return -EBADMSG;

        r = tuple_from_nfct(nfexp_get_attr(exp, ATTR_EXP_MASTER), l3, &x.master);
        if (r < 0)
                return r;
        r = tuple_from_nfct(nfexp_get_attr(exp, ATTR_EXP_EXPECTED), x.master.l3, &x.expected);
        if (r < 0)
                return r;
        r = tuple_from_nfct(nfexp_get_attr(exp, ATTR_EXP_MASK), x.master.l3, &x.mask);
        if (r < 0)
                return r;

        if (nfexp_attr_is_set(exp, ATTR_EXP_NAT_TUPLE) > 0) {
                r = tuple_from_nfct(nfexp_get_attr(exp, ATTR_EXP_NAT_TUPLE), x.master.l3,
                                    &x.nat_tuple);
                if (r < 0)
                        return r;
                x.nat_dir = nfexp_get_attr_u32(exp, ATTR_EXP_NAT_DIR);
                x.attrs |= CT_EXP_ATTR_NAT;
        }
        if (nfexp_attr_is_set(exp, ATTR_EXP_ZONE) > 0)
                x.zone = nfexp_get_attr_u16(exp, ATTR_EXP_ZONE);
        if (nfexp_attr_is_set(exp, ATTR_EXP_TIMEOUT) > 0) {
                x.timeout = nfexp_get_attr_u32(exp, ATTR_EXP_TIMEOUT);
                x.attrs |= CT_EXP_ATTR_TIMEOUT;
        }
        if (nfexp_attr_is_set(exp, ATTR_EXP_FLAGS) > 0) {
                x.flags = nfexp_get_attr_u32(exp, ATTR_EXP_FLAGS);
                x.attrs |= CT_EXP_ATTR_FLAGS;
        }
        if (nfexp_attr_is_set(exp, ATTR_EXP_CLASS) > 0) {
                x.class = nfexp_get_attr_u32(exp, ATTR_EXP_CLASS);
                x.attrs |= CT_EXP_ATTR_CLASS;
        }
        if (nfexp_attr_is_set(exp, ATTR_EXP_HELPER_NAME) > 0) {
                const char *name = nfexp_get_attr(exp, ATTR_EXP_HELPER_NAME);

                if (name && name[0]) {
                        strncpy(x.helper, name, sizeof(x.helper) - 1);
                        x.attrs |= CT_EXP_ATTR_HELPER;
                }
        }
        if (nfexp_attr_is_set(exp, ATTR_EXP_FN) > 0) {
                const char *fn = nfexp_get_attr(exp, ATTR_EXP_FN);

                if (fn && fn[0]) {
                        strncpy(x.fn, fn, sizeof(x.fn) - 1);
                        x.attrs |= CT_EXP_ATTR_FN;
                }
        }

        *ret = x;
        return 0;
}

int ct_expect_from_nfexp(const struct nf_expect *exp, CtExpect *ret) {
        if (!exp || !ret)
                return -EINVAL;
        return ct_expect_from_nfexp_family(exp, 0, ret);
}

int ct_expect_from_nlmsg(const struct nlmsghdr *nlh, CtExpect *ret) {
        _cleanup_(nfexp_destroyp) struct nf_expect *exp = NULL;
        const struct nfgenmsg *nfg;
        const struct nlattr *a;
        CtExpect x;
        int r;

        if (!nlh || !ret)
                return -EINVAL;
        if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*nfg)))
                return -EBADMSG;
        nfg = mnl_nlmsg_get_payload(nlh);

        exp = nfexp_new();
        if (!exp)
                return -ENOMEM;
        if (nfexp_nlmsg_parse(nlh, exp) < 0)
                return -EBADMSG;
        r = ct_expect_from_nfexp_family(exp, nfg->nfgen_family, &x);
        if (r < 0)
                return r;

        /* the tuples' family is the message's, whatever the library recorded */
        if (l3_valid(nfg->nfgen_family)) {
                x.master.l3 = x.expected.l3 = x.mask.l3 = nfg->nfgen_family;
                if (x.attrs & CT_EXP_ATTR_NAT)
                        x.nat_tuple.l3 = nfg->nfgen_family;
        }

        /* what the library's parser leaves out */
        a = nlmsg_find_attr(nlh, CTA_EXPECT_ID);
        if (attr_len_ok(a, 4)) {
                x.id = ntohl(mnl_attr_get_u32(a));
                x.attrs |= CT_EXP_ATTR_ID;
        }
        a = nlmsg_find_attr(nlh, CTA_EXPECT_CLASS);
        if (attr_len_ok(a, 4)) {
                x.class = ntohl(mnl_attr_get_u32(a));
                x.attrs |= CT_EXP_ATTR_CLASS;
        }
        a = nlmsg_find_attr(nlh, CTA_EXPECT_NAT);
        if (a) {
                const struct nlattr *tb[CTA_EXPECT_NAT_MAX + 1] = {};

                parse_nested(a, tb, CTA_EXPECT_NAT_MAX);
                if (!attr_len_ok(tb[CTA_EXPECT_NAT_DIR], 4) || !tb[CTA_EXPECT_NAT_TUPLE])
                        return -EBADMSG;
                r = tuple_from_nest(tb[CTA_EXPECT_NAT_TUPLE], x.master.l3, &x.nat_tuple);
                if (r < 0)
                        return r;
                x.nat_dir = ntohl(mnl_attr_get_u32(tb[CTA_EXPECT_NAT_DIR]));
                x.attrs |= CT_EXP_ATTR_NAT;
        }
        a = nlmsg_find_attr(nlh, CTA_EXPECT_FN);
        if (a && mnl_attr_get_payload_len(a) > 0) {
                size_t len = MIN((size_t) mnl_attr_get_payload_len(a), sizeof(x.fn) - 1);

                memset(x.fn, 0, sizeof(x.fn));
                memcpy(x.fn, mnl_attr_get_payload(a), len);
                if (x.fn[0])
                        x.attrs |= CT_EXP_ATTR_FN;
        }

        *ret = x;
        return 0;
}

/* ---- requests ---- */

int ct_entry_put_request(struct nlmsghdr *nlh, const CtEntry *e) {
        _cleanup_(nfct_destroyp) struct nf_conntrack *ct = NULL;
        int r;

        if (!nlh || !e)
                return -EINVAL;
        r = ct_entry_to_nfct(e, &ct);
        if (r < 0)
                return r;
        if (nfct_nlmsg_build(nlh, ct) < 0)
                return negative_errno();
        return 0;
}

int ct_expect_put_request(struct nlmsghdr *nlh, const CtExpect *x) {
        _cleanup_(nfexp_destroyp) struct nf_expect *exp = NULL;
        int r;

        if (!nlh || !x)
                return -EINVAL;
        r = ct_expect_to_nfexp(x, &exp);
        if (r < 0)
                return r;
        if (nfexp_nlmsg_build(nlh, exp) < 0)
                return negative_errno();

        /* the library's builder stops at the helper name */
        if (x->attrs & CT_EXP_ATTR_CLASS)
                put_u32_be(nlh, CTA_EXPECT_CLASS, x->class);
        if (x->attrs & CT_EXP_ATTR_NAT) {
                struct nlattr *nest = mnl_attr_nest_start(nlh, CTA_EXPECT_NAT);

                put_u32_be(nlh, CTA_EXPECT_NAT_DIR, x->nat_dir);
                put_tuple(nlh, CTA_EXPECT_NAT_TUPLE, &x->nat_tuple);
                mnl_attr_nest_end(nlh, nest);
        }
        if ((x->attrs & CT_EXP_ATTR_FN) && x->fn[0]) {
                char fn[CT_EXP_FN_MAX];

                memcpy(fn, x->fn, sizeof(fn));
                fn[sizeof(fn) - 1] = 0;
                mnl_attr_put_strz(nlh, CTA_EXPECT_FN, fn);
        }
        return 0;
}

/* ---- rendering ---- */

typedef int (*RenderFunc)(char *buf, unsigned size, const void *obj, bool xml);

static int render_nfct(char *buf, unsigned size, const void *obj, bool xml) {
        return nfct_snprintf(buf, size, obj, NFCT_T_UNKNOWN, xml ? NFCT_O_XML : NFCT_O_DEFAULT, 0);
}

static int render_nfexp(char *buf, unsigned size, const void *obj, bool xml) {
        return nfexp_snprintf(buf, size, obj, NFCT_T_UNKNOWN, xml ? NFCT_O_XML : NFCT_O_DEFAULT, 0);
}

/* Grow the buffer until the library's rendering fits: like snprintf(), it returns the length it
 * wanted. That length leaves out the trailing blank of the default format, which is still in the
 * buffer: terminate at the returned length. */
static int render(RenderFunc f, const void *obj, bool xml, char **ret) {
        for (size_t size = 1024; size <= 1024 * 1024; size *= 4) {
                _cleanup_free_ char *buf = malloc(size);
                int n;

                if (!buf)
                        return -ENOMEM;
                n = f(buf, (unsigned) size, obj, xml);
                if (n < 0)
                        return -EINVAL;
                if ((size_t) n < size - 1) {
                        buf[n] = 0;
                        *ret = TAKE_PTR(buf);
                        return 0;
                }
        }
        return -E2BIG;
}

int ct_entry_render_nfct(const CtEntry *e, bool xml, char **ret) {
        _cleanup_(nfct_destroyp) struct nf_conntrack *ct = NULL;
        int r;

        if (!e || !ret)
                return -EINVAL;
        r = ct_entry_to_nfct(e, &ct);
        if (r < 0)
                return r;
        return render(render_nfct, ct, xml, ret);
}

int ct_expect_render_nfexp(const CtExpect *x, bool xml, char **ret) {
        _cleanup_(nfexp_destroyp) struct nf_expect *exp = NULL;
        int r;

        if (!x || !ret)
                return -EINVAL;
        r = ct_expect_to_nfexp(x, &exp);
        if (r < 0)
                return r;
        return render(render_nfexp, exp, xml, ret);
}
