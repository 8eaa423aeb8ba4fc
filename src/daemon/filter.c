/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Filter clause (spec §4.5): three independent sets, protocol, address and TCP state, each with
 * its own Accept/Ignore policy; an object passes when it passes every set that was configured.
 */

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "filter.h"
#include "string-table.h"

static const char *const filter_policy_table[_FILTER_POLICY_MAX] = {
        [FILTER_NONE] = "none",
        [FILTER_ACCEPT] = "accept",
        [FILTER_IGNORE] = "ignore",
};

DEFINE_STRING_TABLE(filter_policy, FilterPolicy);

int filter_config_new(FilterConfig **ret) {
        FilterConfig *f;

        if (!ret)
                return -EINVAL;

        f = malloc(sizeof(*f));
        if (!f)
                return -ENOMEM;
        *f = (FilterConfig) {
                .protocol_policy = FILTER_NONE,
                .address_policy = FILTER_NONE,
                .state_policy = FILTER_NONE,
        };
        *ret = f;
        return 0;
}

FilterConfig *filter_config_free(FilterConfig *f) {
        if (!f)
                return NULL;
        free(f->networks);
        free(f);
        return NULL;
}

int filter_config_dup(const FilterConfig *f, FilterConfig **ret) {
        _cleanup_(filter_config_freep) FilterConfig *n = NULL;

        if (!f || !ret)
                return -EINVAL;

        n = malloc(sizeof(*n));
        if (!n)
                return -ENOMEM;
        *n = *f;
        n->networks = NULL;
        if (f->n_networks > 0) {
                n->networks = malloc(f->n_networks * sizeof(FilterNetwork));
                if (!n->networks)
                        return -ENOMEM;
                memcpy(n->networks, f->networks, f->n_networks * sizeof(FilterNetwork));
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static unsigned family_bits(int family) {
        return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

/* Clear every bit after the first 'prefixlen' ones. Works on the bytes in network order, so it is
 * the same for both families (an IPv4 address is the first 4 bytes of the union). */
static void addr_apply_prefix(CtAddr *a, unsigned bits, unsigned prefixlen) {
        uint8_t *b = (uint8_t *) a;

        for (unsigned i = 0; i < bits / 8; i++) {
                if (prefixlen >= 8 * (i + 1))
                        continue;
                if (prefixlen <= 8 * i)
                        b[i] = 0;
                else
                        b[i] &= (uint8_t) (0xff << (8 - (prefixlen - 8 * i)));
        }
        /* keep the unused tail of an IPv4 address zero, so memcmp() based users can rely on it */
        if (bits == 32)
                memset(b + 4, 0, sizeof(*a) - 4);
}

int filter_config_add_network(FilterConfig *f, const FilterNetwork *n) {
        unsigned bits;

        if (!f || !n)
                return -EINVAL;
        bits = family_bits(n->family);
        if (bits == 0 || n->prefixlen > bits)
                return -EINVAL;

        /* Grow by doubling: the capacity is implied by the count (4, 8, 16, ...). */
        if (f->n_networks == 0 || (f->n_networks >= 4 && (f->n_networks & (f->n_networks - 1)) == 0)) {
                size_t cap = f->n_networks == 0 ? 4 : f->n_networks * 2;
                FilterNetwork *a;

                if (cap > SIZE_MAX / sizeof(FilterNetwork))
                        return -ENOMEM;
                a = realloc(f->networks, cap * sizeof(FilterNetwork));
                if (!a)
                        return -ENOMEM;
                f->networks = a;
        }

        FilterNetwork *dst = &f->networks[f->n_networks++];
        memset(dst, 0, sizeof *dst);    /* padding too: copies compare equal byte for byte */
        dst->family = n->family;
        dst->addr = n->addr;
        dst->prefixlen = n->prefixlen;
        addr_apply_prefix(&dst->addr, bits, dst->prefixlen);
        return 0;
}

int filter_network_parse(const char *s, FilterNetwork *ret) {
        char buf[INET6_ADDRSTRLEN];
        const char *slash;
        unsigned prefixlen, bits;
        size_t len;
        CtAddr addr = {};
        int family;

        if (!s)
                return -EINVAL;

        slash = strchr(s, '/');
        len = slash ? (size_t) (slash - s) : strlen(s);
        if (len == 0 || len >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, len);
        buf[len] = 0;

        family = memchr(buf, ':', len) ? AF_INET6 : AF_INET;
        if (inet_pton(family, buf, &addr) != 1)
                return -EINVAL;
        bits = family_bits(family);

        if (slash) {
                const char *p = slash + 1;

                /* plain decimal, 1 to 3 digits: no sign, no blanks, no hex */
                if (*p == 0 || strlen(p) > 3)
                        return -EINVAL;
                prefixlen = 0;
                for (; *p; p++) {
                        if (*p < '0' || *p > '9')
                                return -EINVAL;
                        prefixlen = prefixlen * 10 + (unsigned) (*p - '0');
                }
                if (prefixlen > bits)
                        return -EINVAL;
        } else
                prefixlen = bits;

        addr_apply_prefix(&addr, bits, prefixlen);
        if (ret) {
                /* padding zeroed too: networks are compared and hashed as bytes */
                memset(ret, 0, sizeof *ret);
                ret->family = family;
                ret->addr = addr;
                ret->prefixlen = (uint8_t) prefixlen;
        }
        return 0;
}

static bool network_contains(const FilterNetwork *n, int family, const CtAddr *a) {
        const uint8_t *x = (const uint8_t *) &n->addr, *y = (const uint8_t *) a;
        unsigned full, rest;

        if (n->family != family)
                return false;

        full = n->prefixlen / 8;
        rest = n->prefixlen % 8;
        if (memcmp(x, y, full) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((x[full] ^ y[full]) & (uint8_t) (0xff << (8 - rest))) == 0;
}

static bool filter_match_address(const FilterConfig *f, int family, const CtAddr *a) {
        for (size_t i = 0; i < f->n_networks; i++)
                if (network_contains(&f->networks[i], family, a))
                        return true;
        return false;
}

/* A set passes an object when the match agrees with the policy: Accept wants a match, Ignore
 * wants none. */
static bool policy_passes(FilterPolicy p, bool match) {
        return p == FILTER_ACCEPT ? match : !match;
}

bool filter_match_ct(const FilterConfig *f, const CtEntry *e) {
        if (!f)
                return true;
        if (!e)
                return false;

        if (f->protocol_policy != FILTER_NONE &&
            !policy_passes(f->protocol_policy, f->protocols[e->orig.l4]))
                return false;

        if (f->address_policy != FILTER_NONE) {
                /* The two real endpoints: the original source and, behind any NAT, the reply
                 * source. Both tuples of a flow have the same layer 3 protocol. */
                bool match = filter_match_address(f, e->orig.l3, &e->orig.src) ||
                             ((e->attrs & CT_ATTR_REPLY) &&
                              filter_match_address(f, e->orig.l3, &e->reply.src));

                if (!policy_passes(f->address_policy, match))
                        return false;
        }

        /* The state set only speaks about TCP flows that carry a state; others pass it. */
        if (f->state_policy != FILTER_NONE && e->orig.l4 == IPPROTO_TCP &&
            (e->attrs & CT_ATTR_TCP_STATE)) {
                bool match = e->tcp.state < _CT_TCP_MAX && f->tcp_states[e->tcp.state];

                if (!policy_passes(f->state_policy, match))
                        return false;
        }

        return true;
}

bool filter_match_expect(const FilterConfig *f, const CtExpect *x) {
        CtEntry e;

        if (!f)
                return true;
        if (!x)
                return false;

        /* Judge the master conntrack as seen from its original tuple: its reply source is the
         * original destination. No TCP state, so the state set never drops an expectation. */
        e = (CtEntry) {
                .orig = x->master,
                .zone = x->zone,
                .attrs = CT_ATTR_REPLY,
        };
        ct_tuple_invert(&x->master, &e.reply);
        return filter_match_ct(f, &e);
}
