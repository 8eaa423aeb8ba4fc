/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "ct-entry.h"
#include "string-table.h"

static const char *const ct_kind_table[_CT_KIND_MAX] = {
        [CT_KIND_CT] = "ct",
        [CT_KIND_EXPECT] = "expect",
};

DEFINE_STRING_TABLE(ct_kind, CtKind);

static const char *const ct_tcp_state_table[_CT_TCP_MAX] = {
        [CT_TCP_NONE] = "NONE",
        [CT_TCP_SYN_SENT] = "SYN_SENT",
        [CT_TCP_SYN_RECV] = "SYN_RECV",
        [CT_TCP_ESTABLISHED] = "ESTABLISHED",
        [CT_TCP_FIN_WAIT] = "FIN_WAIT",
        [CT_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
        [CT_TCP_LAST_ACK] = "LAST_ACK",
        [CT_TCP_TIME_WAIT] = "TIME_WAIT",
        [CT_TCP_CLOSE] = "CLOSE",
        [CT_TCP_SYN_SENT2] = "LISTEN",
};

DEFINE_STRING_TABLE(ct_tcp_state, CtTcpState);

bool ct_proto_has_ports(uint8_t l4) {
        switch (l4) {
        case IPPROTO_TCP:
        case IPPROTO_UDP:
        case IPPROTO_UDPLITE:
        case IPPROTO_SCTP:
        case IPPROTO_DCCP:
                return true;
        default:
                return false;
        }
}

bool ct_proto_is_icmp(uint8_t l4) {
        return l4 == IPPROTO_ICMP || l4 == IPPROTO_ICMPV6;
}

const char *ct_proto_to_string(uint8_t l4) {
        switch (l4) {
        case IPPROTO_TCP:
                return "tcp";
        case IPPROTO_UDP:
                return "udp";
        case IPPROTO_UDPLITE:
                return "udplite";
        case IPPROTO_SCTP:
                return "sctp";
        case IPPROTO_DCCP:
                return "dccp";
        case IPPROTO_ICMP:
                return "icmp";
        case IPPROTO_ICMPV6:
                return "icmpv6";
        case IPPROTO_GRE:
                return "gre";
        default:
                return "unknown";
        }
}

/* FNV-1a over the identity fields only, in a fixed order (padding never hashed). */
static uint32_t fnv1a(uint32_t h, const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= 16777619u;
        }
        return h;
}

static size_t addr_len(uint8_t l3) {
        return l3 == AF_INET6 ? 16 : 4;
}

uint32_t ct_tuple_hash(const CtTuple *t, uint16_t zone, uint32_t seed) {
        uint32_t h = 2166136261u ^ seed;

        h = fnv1a(h, &t->l3, 1);
        h = fnv1a(h, &t->l4, 1);
        h = fnv1a(h, &t->src, addr_len(t->l3));
        h = fnv1a(h, &t->dst, addr_len(t->l3));
        if (ct_proto_is_icmp(t->l4)) {
                h = fnv1a(h, &t->icmp.type, 1);
                h = fnv1a(h, &t->icmp.code, 1);
                h = fnv1a(h, &t->icmp.id, 2);
        } else if (ct_proto_has_ports(t->l4)) {
                h = fnv1a(h, &t->sport, 2);
                h = fnv1a(h, &t->dport, 2);
        }
        h = fnv1a(h, &zone, 2);
        /* final avalanche so that low bits (bucket index) depend on every byte */
        h ^= h >> 16;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        h *= 0xc2b2ae35u;
        h ^= h >> 16;
        return h;
}

bool ct_tuple_equal(const CtTuple *a, const CtTuple *b) {
        if (a->l3 != b->l3 || a->l4 != b->l4)
                return false;
        if (memcmp(&a->src, &b->src, addr_len(a->l3)) != 0 ||
            memcmp(&a->dst, &b->dst, addr_len(a->l3)) != 0)
                return false;
        if (ct_proto_is_icmp(a->l4))
                return a->icmp.type == b->icmp.type && a->icmp.code == b->icmp.code &&
                       a->icmp.id == b->icmp.id;
        if (ct_proto_has_ports(a->l4))
                return a->sport == b->sport && a->dport == b->dport;
        return true;
}

uint32_t ct_entry_hash(const CtEntry *e, uint32_t seed) {
        return ct_tuple_hash(&e->orig, e->zone, seed);
}

bool ct_entry_same(const CtEntry *a, const CtEntry *b) {
        return a->zone == b->zone && ct_tuple_equal(&a->orig, &b->orig);
}

uint32_t ct_expect_hash(const CtExpect *x, uint32_t seed) {
        return ct_tuple_hash(&x->expected, x->zone, seed);
}

bool ct_expect_same(const CtExpect *a, const CtExpect *b) {
        return a->zone == b->zone && ct_tuple_equal(&a->expected, &b->expected);
}

/* The reply type of an ICMP/ICMPv6 query type (echo request <-> reply ...), or -1. */
static int icmp_invert_type(uint8_t l4, uint8_t type) {
        static const uint8_t pairs4[][2] = { { 8, 0 }, { 13, 14 }, { 15, 16 }, { 17, 18 } };
        static const uint8_t pairs6[][2] = { { 128, 129 }, { 130, 131 } };
        const uint8_t (*pairs)[2] = l4 == IPPROTO_ICMP ? pairs4 : pairs6;
        size_t n = l4 == IPPROTO_ICMP ? ELEMENTSOF(pairs4) : ELEMENTSOF(pairs6);

        for (size_t i = 0; i < n; i++) {
                if (pairs[i][0] == type)
                        return pairs[i][1];
                if (pairs[i][1] == type)
                        return pairs[i][0];
        }
        return -1;
}

void ct_tuple_invert(const CtTuple *t, CtTuple *ret) {
        CtTuple r = *t;

        r.src = t->dst;
        r.dst = t->src;
        if (ct_proto_is_icmp(t->l4)) {
                int inv = icmp_invert_type(t->l4, t->icmp.type);
                if (inv >= 0)
                        r.icmp.type = (uint8_t) inv;
        } else if (ct_proto_has_ports(t->l4)) {
                r.sport = t->dport;
                r.dport = t->sport;
        }
        *ret = r;
}

void ct_entry_update(CtEntry *dst, const CtEntry *src) {
        uint64_t a = src->attrs;

        if (a & CT_ATTR_REPLY)
                dst->reply = src->reply;
        if (a & CT_ATTR_STATUS)
                dst->status = src->status;
        if (a & CT_ATTR_TIMEOUT)
                dst->timeout = src->timeout;
        if (a & CT_ATTR_MARK)
                dst->mark = src->mark;
        if (a & CT_ATTR_SECMARK)
                dst->secmark = src->secmark;
        if (a & CT_ATTR_ID)
                dst->id = src->id;
        if (a & CT_ATTR_USE)
                dst->use = src->use;
        if (a & CT_ATTR_TCP_STATE)
                dst->tcp.state = src->tcp.state;
        if (a & CT_ATTR_TCP_WSCALE) {
                dst->tcp.wscale_orig = src->tcp.wscale_orig;
                dst->tcp.wscale_repl = src->tcp.wscale_repl;
        }
        if (a & CT_ATTR_TCP_FLAGS) {
                dst->tcp.flags_orig = src->tcp.flags_orig;
                dst->tcp.flags_repl = src->tcp.flags_repl;
                dst->tcp.mask_orig = src->tcp.mask_orig;
                dst->tcp.mask_repl = src->tcp.mask_repl;
        }
        if (a & CT_ATTR_SCTP_STATE)
                dst->sctp = src->sctp;
        if (a & CT_ATTR_DCCP_STATE)
                dst->dccp = src->dccp;
        if (a & CT_ATTR_MASTER)
                dst->master = src->master;
        if (a & CT_ATTR_SNAT)
                dst->nat.snat_addr = src->nat.snat_addr;
        if (a & CT_ATTR_DNAT)
                dst->nat.dnat_addr = src->nat.dnat_addr;
        if (a & CT_ATTR_SPAT)
                dst->nat.spat_port = src->nat.spat_port;
        if (a & CT_ATTR_DPAT)
                dst->nat.dpat_port = src->nat.dpat_port;
        if (a & CT_ATTR_NAT_SEQ_ADJ)
                dst->seq_adj = src->seq_adj;
        if (a & CT_ATTR_HELPER)
                memcpy(dst->helper, src->helper, sizeof dst->helper);
        if (a & CT_ATTR_LABELS)
                memcpy(dst->labels, src->labels, sizeof dst->labels);
        if (a & CT_ATTR_SYNPROXY)
                dst->synproxy = src->synproxy;
        if (a & CT_ATTR_COUNTERS)
                dst->counters = src->counters;
        if (a & CT_ATTR_TIMESTAMP)
                dst->timestamp = src->timestamp;
        dst->attrs |= a;
}

void ct_expect_update(CtExpect *dst, const CtExpect *src) {
        uint64_t a = src->attrs;

        dst->master = src->master;
        dst->mask = src->mask;
        if (a & CT_EXP_ATTR_TIMEOUT)
                dst->timeout = src->timeout;
        if (a & CT_EXP_ATTR_FLAGS)
                dst->flags = src->flags;
        if (a & CT_EXP_ATTR_CLASS)
                dst->class = src->class;
        if (a & CT_EXP_ATTR_ID)
                dst->id = src->id;
        if (a & CT_EXP_ATTR_NAT) {
                dst->nat_tuple = src->nat_tuple;
                dst->nat_dir = src->nat_dir;
        }
        if (a & CT_EXP_ATTR_HELPER)
                memcpy(dst->helper, src->helper, sizeof dst->helper);
        if (a & CT_EXP_ATTR_FN)
                memcpy(dst->fn, src->fn, sizeof dst->fn);
        dst->attrs |= a;
}

const char *ct_addr_to_string(int family, const CtAddr *a, char *buf, size_t size) {
        if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, a, buf, (socklen_t) size))
                snprintf(buf, size, "?");
        return buf;
}
