/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replication messages of conntrackd 1.4.7 (spec §1): encoding, framing and defensive decoding.
 * Nothing here trusts a length it reads: every read is bounded by the message it belongs to.
 */

#include <arpa/inet.h>
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "string-table.h"
#include "wire.h"

/* Conntrack attribute ids (spec §1.7). */
enum {
        NTA_IPV4 = 0,
        NTA_IPV6,
        NTA_L4PROTO,
        NTA_PORT,
        NTA_TCP_STATE,
        NTA_STATUS,
        NTA_TIMEOUT,
        NTA_MARK,
        NTA_MASTER_IPV4,
        NTA_MASTER_IPV6,
        NTA_MASTER_L4PROTO,
        NTA_MASTER_PORT,
        NTA_SNAT_IPV4,
        NTA_DNAT_IPV4,
        NTA_SPAT_PORT,
        NTA_DPAT_PORT,
        NTA_NAT_SEQ_ADJ,
        NTA_SCTP_STATE,
        NTA_SCTP_VTAG_ORIG,
        NTA_SCTP_VTAG_REPL,
        NTA_DCCP_STATE,
        NTA_DCCP_ROLE,
        NTA_ICMP_TYPE,
        NTA_ICMP_CODE,
        NTA_ICMP_ID,
        NTA_TCP_WSCALE_ORIG,
        NTA_TCP_WSCALE_REPL,
        NTA_HELPER_NAME,
        NTA_LABELS,
        NTA_SNAT_IPV6,
        NTA_DNAT_IPV6,
        NTA_SYNPROXY,
        NTA_ZONE,
        _NTA_MAX,
};

/* Expectation attribute ids (spec §1.8). */
enum {
        NTA_EXP_MASTER_IPV4 = 0,
        NTA_EXP_MASTER_IPV6,
        NTA_EXP_MASTER_L4PROTO,
        NTA_EXP_MASTER_PORT,
        NTA_EXP_EXPECT_IPV4,
        NTA_EXP_EXPECT_IPV6,
        NTA_EXP_EXPECT_L4PROTO,
        NTA_EXP_EXPECT_PORT,
        NTA_EXP_MASK_IPV4,
        NTA_EXP_MASK_IPV6,
        NTA_EXP_MASK_L4PROTO,
        NTA_EXP_MASK_PORT,
        NTA_EXP_TIMEOUT,
        NTA_EXP_FLAGS,
        NTA_EXP_CLASS,
        NTA_EXP_NAT_IPV4,
        NTA_EXP_NAT_PORT,
        NTA_EXP_NAT_L4PROTO,
        NTA_EXP_NAT_DIR,
        NTA_EXP_HELPER_NAME,
        NTA_EXP_FN,
        _NTA_EXP_MAX,
};

#define HELPER_NTA_MAX  16      /* receiver limit: 11 characters + NUL, padded */
#define LABELS_NTA_MAX  1028    /* 256 words */
#define FN_NTA_MAX      32

/* How an attribute's nta_len is checked: exactly 'len', or at most 'len' when 'variable'. */
typedef struct AttrSize {
        uint16_t len;
        bool variable;
        WireReason too_long;
} AttrSize;

#define FIXED(n)        { .len = (n) }
#define UPTO(n, r)      { .len = (n), .variable = true, .too_long = (r) }

static const AttrSize ct_attr_size[_NTA_MAX] = {
        [NTA_IPV4]              = FIXED(12),
        [NTA_IPV6]              = FIXED(36),
        [NTA_L4PROTO]           = FIXED(5),
        [NTA_PORT]              = FIXED(8),
        [NTA_TCP_STATE]         = FIXED(5),
        [NTA_STATUS]            = FIXED(8),
        [NTA_TIMEOUT]           = FIXED(8),
        [NTA_MARK]              = FIXED(8),
        [NTA_MASTER_IPV4]       = FIXED(12),
        [NTA_MASTER_IPV6]       = FIXED(36),
        [NTA_MASTER_L4PROTO]    = FIXED(5),
        [NTA_MASTER_PORT]       = FIXED(8),
        [NTA_SNAT_IPV4]         = FIXED(8),
        [NTA_DNAT_IPV4]         = FIXED(8),
        [NTA_SPAT_PORT]         = FIXED(6),
        [NTA_DPAT_PORT]         = FIXED(6),
        [NTA_NAT_SEQ_ADJ]       = FIXED(28),
        [NTA_SCTP_STATE]        = FIXED(5),
        [NTA_SCTP_VTAG_ORIG]    = FIXED(8),
        [NTA_SCTP_VTAG_REPL]    = FIXED(8),
        [NTA_DCCP_STATE]        = FIXED(5),
        [NTA_DCCP_ROLE]         = FIXED(5),
        [NTA_ICMP_TYPE]         = FIXED(5),
        [NTA_ICMP_CODE]         = FIXED(5),
        [NTA_ICMP_ID]           = FIXED(6),
        [NTA_TCP_WSCALE_ORIG]   = FIXED(5),
        [NTA_TCP_WSCALE_REPL]   = FIXED(5),
        [NTA_HELPER_NAME]       = UPTO(HELPER_NTA_MAX, WIRE_REASON_HELPER_TOO_LONG),
        [NTA_LABELS]            = UPTO(LABELS_NTA_MAX, WIRE_REASON_LABELS_TOO_LONG),
        [NTA_SNAT_IPV6]         = FIXED(20),
        [NTA_DNAT_IPV6]         = FIXED(20),
        [NTA_SYNPROXY]          = FIXED(16),
        [NTA_ZONE]              = FIXED(6),
};

static const AttrSize exp_attr_size[_NTA_EXP_MAX] = {
        [NTA_EXP_MASTER_IPV4]   = FIXED(12),
        [NTA_EXP_MASTER_IPV6]   = FIXED(36),
        [NTA_EXP_MASTER_L4PROTO] = FIXED(5),
        [NTA_EXP_MASTER_PORT]   = FIXED(8),
        [NTA_EXP_EXPECT_IPV4]   = FIXED(12),
        [NTA_EXP_EXPECT_IPV6]   = FIXED(36),
        [NTA_EXP_EXPECT_L4PROTO] = FIXED(5),
        [NTA_EXP_EXPECT_PORT]   = FIXED(8),
        [NTA_EXP_MASK_IPV4]     = FIXED(12),
        [NTA_EXP_MASK_IPV6]     = FIXED(36),
        [NTA_EXP_MASK_L4PROTO]  = FIXED(5),
        [NTA_EXP_MASK_PORT]     = FIXED(8),
        [NTA_EXP_TIMEOUT]       = FIXED(8),
        [NTA_EXP_FLAGS]         = FIXED(8),
        [NTA_EXP_CLASS]         = FIXED(8),
        [NTA_EXP_NAT_IPV4]      = FIXED(12),
        [NTA_EXP_NAT_PORT]      = FIXED(8),
        [NTA_EXP_NAT_L4PROTO]   = FIXED(5),
        [NTA_EXP_NAT_DIR]       = FIXED(8),
        [NTA_EXP_HELPER_NAME]   = UPTO(HELPER_NTA_MAX, WIRE_REASON_HELPER_TOO_LONG),
        [NTA_EXP_FN]            = UPTO(FN_NTA_MAX, WIRE_REASON_ATTR_SIZE),
};

/* ---- string tables ---- */

static const char *const wire_type_table[_WIRE_TYPE_MAX] = {
        [WIRE_CT_NEW]   = "ct-new",
        [WIRE_CT_UPD]   = "ct-upd",
        [WIRE_CT_DEL]   = "ct-del",
        [WIRE_EXP_NEW]  = "exp-new",
        [WIRE_EXP_UPD]  = "exp-upd",
        [WIRE_EXP_DEL]  = "exp-del",
        [WIRE_CTL]      = "ctl",
};

DEFINE_STRING_TABLE(wire_type, WireType);

static const char *const wire_flag_bit_table[_WIRE_FLAG_BIT_MAX] = {
        [WIRE_FLAG_BIT_UNUSED]          = "unused",
        [WIRE_FLAG_BIT_RESYNC]          = "resync",
        [WIRE_FLAG_BIT_NACK]            = "nack",
        [WIRE_FLAG_BIT_ACK]             = "ack",
        [WIRE_FLAG_BIT_ALIVE]           = "alive",
        [WIRE_FLAG_BIT_HELLO]           = "hello",
        [WIRE_FLAG_BIT_HELLO_BACK]      = "hello-back",
};

DEFINE_STRING_TABLE(wire_flag_bit, WireFlagBit);

static const char *const wire_reason_table[_WIRE_REASON_MAX] = {
        [WIRE_REASON_TRUNCATED]         = "truncated",
        [WIRE_REASON_ZERO_SIZE]         = "zero-size",
        [WIRE_REASON_OVERSIZED]         = "oversized",
        [WIRE_REASON_UNDERSIZED]        = "undersized",
        [WIRE_REASON_BAD_VERSION]       = "bad-version",
        [WIRE_REASON_BAD_HEADER]        = "bad-header",
        [WIRE_REASON_BAD_TYPE]          = "bad-type",
        [WIRE_REASON_ATTR_TRUNCATED]    = "attribute-truncated",
        [WIRE_REASON_ATTR_SHORT]        = "attribute-short",
        [WIRE_REASON_UNKNOWN_ATTR]      = "unknown-attribute",
        [WIRE_REASON_ATTR_SIZE]         = "attribute-size",
        [WIRE_REASON_HELPER_TOO_LONG]   = "helper-too-long",
        [WIRE_REASON_LABELS_TOO_LONG]   = "labels-too-long",
        [WIRE_REASON_MISSING_L4PROTO]   = "missing-l4proto",
        [WIRE_REASON_MISSING_ADDRESS]   = "missing-address",
};

DEFINE_STRING_TABLE(wire_reason, WireReason);

static const int wire_reason_errno_table[_WIRE_REASON_MAX] = {
        [WIRE_REASON_TRUNCATED]         = ENODATA,
        [WIRE_REASON_ZERO_SIZE]         = ENOMSG,
        [WIRE_REASON_OVERSIZED]         = EMSGSIZE,
        [WIRE_REASON_UNDERSIZED]        = EBADMSG,
        [WIRE_REASON_BAD_VERSION]       = EPROTONOSUPPORT,
        [WIRE_REASON_BAD_HEADER]        = EPROTO,
        [WIRE_REASON_BAD_TYPE]          = EOPNOTSUPP,
        [WIRE_REASON_ATTR_TRUNCATED]    = EOVERFLOW,
        [WIRE_REASON_ATTR_SHORT]        = ERANGE,
        [WIRE_REASON_UNKNOWN_ATTR]      = ENOPROTOOPT,
        [WIRE_REASON_ATTR_SIZE]         = EINVAL,
        [WIRE_REASON_HELPER_TOO_LONG]   = ENAMETOOLONG,
        [WIRE_REASON_LABELS_TOO_LONG]   = E2BIG,
        [WIRE_REASON_MISSING_L4PROTO]   = EPFNOSUPPORT,
        [WIRE_REASON_MISSING_ADDRESS]   = EDESTADDRREQ,
};

int wire_reason_to_errno(WireReason r) {
        assert(r >= 0 && r < _WIRE_REASON_MAX);
        return -wire_reason_errno_table[r];
}

WireReason wire_reason_from_errno(int error) {
        for (WireReason r = 0; r < _WIRE_REASON_MAX; r++)
                if (-wire_reason_errno_table[r] == error)
                        return r;
        return _WIRE_REASON_INVALID;
}

const char *wire_flags_to_string(uint8_t flags, char *buf, size_t size) {
        size_t n = 0;

        assert(buf && size > 0);
        buf[0] = 0;
        for (unsigned bit = 0; bit < 8; bit++) {
                char tmp[8];
                const char *name;
                int k;

                if (!(flags & (1u << bit)))
                        continue;
                name = wire_flag_bit_to_string((WireFlagBit) bit);
                if (!name) {
                        (void) snprintf(tmp, sizeof tmp, "0x%02x", 1u << bit);
                        name = tmp;
                }
                k = snprintf(buf + n, size - n, "%s%s", n > 0 ? "|" : "", name);
                if (k < 0 || (size_t) k >= size - n)
                        break;  /* truncated output, still NUL-terminated */
                n += (size_t) k;
        }
        return buf;
}

/* ---- counters ---- */

void wire_stats_count(WireStats *s, WireReason r) {
        if (!s)
                return;
        s->malformed++;
        switch (r) {
        case WIRE_REASON_TRUNCATED:
                s->truncated++;
                break;
        case WIRE_REASON_ZERO_SIZE:
        case WIRE_REASON_OVERSIZED:
        case WIRE_REASON_UNDERSIZED:
                s->bad_size++;
                break;
        case WIRE_REASON_BAD_VERSION:
                s->bad_version++;
                break;
        case WIRE_REASON_BAD_HEADER:
                s->bad_header++;
                break;
        case WIRE_REASON_BAD_TYPE:
                s->bad_type++;
                break;
        default:
                s->bad_payload++;
                break;
        }
}

static int reject(WireStats *s, WireReason r) {
        wire_stats_count(s, r);
        return wire_reason_to_errno(r);
}

/* ---- byte helpers ---- */

static uint16_t get_be16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* 1.4.7 applies htons() to a value already in network order: on the little-endian hosts it runs
 * on, the 16-bit value appears little-endian on the wire (spec §1.7, "host-order-u16"). */
static uint16_t get_quirk16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static void put_be16(uint8_t *p, uint16_t v) {
        p[0] = v >> 8;
        p[1] = v & 0xff;
}

static void put_be32(uint8_t *p, uint32_t v) {
        p[0] = v >> 24;
        p[1] = (v >> 16) & 0xff;
        p[2] = (v >> 8) & 0xff;
        p[3] = v & 0xff;
}

static void put_quirk16(uint8_t *p, uint16_t v) {
        p[0] = v & 0xff;
        p[1] = v >> 8;
}

/* ---- headers and framing ---- */

void wire_header_parse(const uint8_t *p, WireHeader *ret) {
        assert(p && ret);
        *ret = (WireHeader) {
                .version = p[0] >> 4,
                .type = p[0] & 0x0f,
                .flags = p[1],
                .len = get_be16(p + 2),
                .seq = get_be32(p + 4),
        };
}

static bool header_is_range_control(const WireHeader *h) {
        return h->type == WIRE_CTL && (h->flags & WIRE_F_RANGE_MASK);
}

WireClass wire_header_classify(const WireHeader *h, WireClassify how) {
        uint8_t ctl = h->flags & ~WIRE_F_HELLO_MASK;
        bool control = (ctl & (WIRE_F_RANGE_MASK | WIRE_F_ALIVE)) && !(ctl & WIRE_F_UNUSED);

        assert(h);
        /* ALARM takes any message without control flags for data: its type is checked later */
        if (ctl == 0 && (how == WIRE_CLASSIFY_FLAGS_ONLY || h->type <= WIRE_EXP_DEL))
                return WIRE_CLASS_DATA;
        if (h->type == WIRE_CTL && control)
                return WIRE_CLASS_CONTROL;
        return WIRE_CLASS_BAD;
}

int wire_frame_next(const uint8_t *buf, size_t size, size_t *offset, WireFrame *ret,
                    WireStats *stats) {
        WireHeader h;
        size_t left;

        assert(buf || size == 0);
        assert(offset && ret);

        if (*offset >= size)
                return 0;
        left = size - *offset;

#define STOP(reason) ({ *offset = size; reject(stats, (reason)); })
        if (left < WIRE_HEADER_SIZE)
                return STOP(WIRE_REASON_TRUNCATED);
        wire_header_parse(buf + *offset, &h);
        if (h.len == 0)
                return STOP(WIRE_REASON_ZERO_SIZE);
        if (h.len > left)
                return STOP(WIRE_REASON_OVERSIZED);
        if (header_is_range_control(&h)) {
                if (left < WIRE_CONTROL_SIZE)
                        return STOP(WIRE_REASON_TRUNCATED);
                if (h.len < WIRE_CONTROL_SIZE)
                        return STOP(WIRE_REASON_UNDERSIZED);
        } else if (h.len < WIRE_HEADER_SIZE)
                return STOP(WIRE_REASON_UNDERSIZED);
#undef STOP

        *ret = (WireFrame) {
                .hdr = h,
                .data = buf + *offset,
                .size = h.len,
        };
        *offset += h.len;
        if (h.version != WIRE_VERSION)
                return reject(stats, WIRE_REASON_BAD_VERSION);
        return 1;
}

/* ---- TLV walking ---- */

/* Protocols whose ports 1.4.7 sends (PORT attribute): not UDPLITE, GRE or others. */
static bool wire_proto_has_ports(uint8_t l4) {
        switch (l4) {
        case IPPROTO_TCP:
        case IPPROTO_UDP:
        case IPPROTO_SCTP:
        case IPPROTO_DCCP:
                return true;
        default:
                return false;
        }
}

/* Ports 1.4.7 would never send (the protocol has none) are not part of what we decoded either:
 * dropping them keeps decode(encode(decode(x))) == decode(x). */
static void tuple_drop_ports(CtTuple *t) {
        t->sport = t->dport = 0;
}


typedef int (*AttrFunc)(unsigned id, const uint8_t *p, size_t n, void *userdata);

static int attrs_walk(const uint8_t *body, size_t size, const AttrSize *table, unsigned max,
                      AttrFunc f, void *userdata) {
        size_t off = 0;

        /* like 1.4.7: attributes while more than 4 bytes remain, a shorter tail is ignored */
        while (off < size && size - off > WIRE_ATTR_HEADER_SIZE) {
                size_t remaining = size - off;
                uint16_t len = get_be16(body + off);
                uint16_t id = get_be16(body + off + 2);
                int r;

                if (len > remaining)
                        return wire_reason_to_errno(WIRE_REASON_ATTR_TRUNCATED);
                if (len < WIRE_ATTR_HEADER_SIZE)
                        return wire_reason_to_errno(WIRE_REASON_ATTR_SHORT);
                if (id >= max)
                        return wire_reason_to_errno(WIRE_REASON_UNKNOWN_ATTR);
                if (table[id].variable) {
                        if (len > table[id].len)
                                return wire_reason_to_errno(table[id].too_long);
                } else if (len != table[id].len)
                        return wire_reason_to_errno(WIRE_REASON_ATTR_SIZE);

                r = f(id, body + off + WIRE_ATTR_HEADER_SIZE, len - WIRE_ATTR_HEADER_SIZE,
                      userdata);
                if (r < 0)
                        return r;
                off += WIRE_ALIGN(len);
        }
        return 0;
}

static void get_addr_pair(const uint8_t *p, int family, CtTuple *t) {
        size_t n = family == AF_INET ? 4 : 16;

        t->l3 = family;
        memset(&t->src, 0, sizeof t->src);
        memset(&t->dst, 0, sizeof t->dst);
        memcpy(&t->src, p, n);
        memcpy(&t->dst, p + n, n);
}

static void get_ports(const uint8_t *p, CtTuple *t) {
        t->sport = get_be16(p);
        t->dport = get_be16(p + 2);
}

/* A NUL-terminated string of at most n payload bytes; an unterminated one is taken whole. */
static void get_string(const uint8_t *p, size_t n, char *buf, size_t size) {
        size_t k = strnlen((const char *) p, n);

        assert(k < size);
        memcpy(buf, p, k);
        memset(buf + k, 0, size - k);
}

/* A helper name and its NUL within the receiver's limit: a name that fills the whole attribute
 * without a NUL would not fit when sent on. */
static bool helper_name_fits(const uint8_t *p, size_t n) {
        return strnlen((const char *) p, n) < HELPER_NTA_MAX - WIRE_ATTR_HEADER_SIZE;
}

typedef struct CtDecode {
        CtEntry e;
        bool have_addr, have_l4;
} CtDecode;

static int ct_attr(unsigned id, const uint8_t *p, size_t n, void *userdata) {
        CtDecode *d = userdata;
        CtEntry *e = &d->e;

        switch (id) {
        case NTA_IPV4:
        case NTA_IPV6:
                get_addr_pair(p, id == NTA_IPV4 ? AF_INET : AF_INET6, &e->orig);
                d->have_addr = true;
                break;
        case NTA_L4PROTO:
                e->orig.l4 = p[0];
                d->have_l4 = true;
                break;
        case NTA_PORT:
                get_ports(p, &e->orig);
                break;
        case NTA_TCP_STATE:
                e->tcp.state = p[0];
                e->attrs |= CT_ATTR_TCP_STATE;
                break;
        case NTA_STATUS:
                e->status = get_be32(p);
                e->attrs |= CT_ATTR_STATUS;
                break;
        case NTA_TIMEOUT:
                e->timeout = get_be32(p);
                e->attrs |= CT_ATTR_TIMEOUT;
                break;
        case NTA_MARK:
                e->mark = get_be32(p);
                e->attrs |= CT_ATTR_MARK;
                break;
        case NTA_MASTER_IPV4:
        case NTA_MASTER_IPV6:
                get_addr_pair(p, id == NTA_MASTER_IPV4 ? AF_INET : AF_INET6, &e->master);
                e->attrs |= CT_ATTR_MASTER;
                break;
        case NTA_MASTER_L4PROTO:
                e->master.l4 = p[0];
                e->attrs |= CT_ATTR_MASTER;
                break;
        case NTA_MASTER_PORT:
                get_ports(p, &e->master);
                e->attrs |= CT_ATTR_MASTER;
                break;
        case NTA_SNAT_IPV4:
                memset(&e->nat.snat_addr, 0, sizeof e->nat.snat_addr);
                memcpy(&e->nat.snat_addr.ip, p, 4);
                e->attrs |= CT_ATTR_SNAT;
                break;
        case NTA_DNAT_IPV4:
                memset(&e->nat.dnat_addr, 0, sizeof e->nat.dnat_addr);
                memcpy(&e->nat.dnat_addr.ip, p, 4);
                e->attrs |= CT_ATTR_DNAT;
                break;
        case NTA_SNAT_IPV6:
                memcpy(&e->nat.snat_addr, p, 16);
                e->attrs |= CT_ATTR_SNAT;
                break;
        case NTA_DNAT_IPV6:
                memcpy(&e->nat.dnat_addr, p, 16);
                e->attrs |= CT_ATTR_DNAT;
                break;
        case NTA_SPAT_PORT:
                e->nat.spat_port = get_quirk16(p);
                e->attrs |= CT_ATTR_SPAT;
                break;
        case NTA_DPAT_PORT:
                e->nat.dpat_port = get_quirk16(p);
                e->attrs |= CT_ATTR_DPAT;
                break;
        case NTA_NAT_SEQ_ADJ:
                e->seq_adj.orig_pos = get_be32(p);
                e->seq_adj.orig_before = get_be32(p + 4);
                e->seq_adj.orig_after = get_be32(p + 8);
                e->seq_adj.repl_pos = get_be32(p + 12);
                e->seq_adj.repl_before = get_be32(p + 16);
                e->seq_adj.repl_after = get_be32(p + 20);
                e->attrs |= CT_ATTR_NAT_SEQ_ADJ;
                break;
        case NTA_SCTP_STATE:
                e->sctp.state = p[0];
                e->attrs |= CT_ATTR_SCTP_STATE;
                break;
        case NTA_SCTP_VTAG_ORIG:
                e->sctp.vtag_orig = get_be32(p);
                break;
        case NTA_SCTP_VTAG_REPL:
                e->sctp.vtag_repl = get_be32(p);
                break;
        case NTA_DCCP_STATE:
                e->dccp.state = p[0];
                e->attrs |= CT_ATTR_DCCP_STATE;
                break;
        case NTA_DCCP_ROLE:
                e->dccp.role = p[0];
                break;
        case NTA_ICMP_TYPE:
                e->orig.icmp.type = p[0];
                break;
        case NTA_ICMP_CODE:
                e->orig.icmp.code = p[0];
                break;
        case NTA_ICMP_ID:
                e->orig.icmp.id = get_quirk16(p);
                break;
        case NTA_TCP_WSCALE_ORIG:
                e->tcp.wscale_orig = p[0];
                e->attrs |= CT_ATTR_TCP_WSCALE;
                break;
        case NTA_TCP_WSCALE_REPL:
                e->tcp.wscale_repl = p[0];
                e->attrs |= CT_ATTR_TCP_WSCALE;
                break;
        case NTA_HELPER_NAME:
                if (!helper_name_fits(p, n))
                        return wire_reason_to_errno(WIRE_REASON_HELPER_TOO_LONG);
                get_string(p, n, e->helper, sizeof e->helper);
                if (e->helper[0])
                        e->attrs |= CT_ATTR_HELPER;
                else
                        e->attrs &= ~(uint64_t) CT_ATTR_HELPER;
                break;
        case NTA_LABELS:
                /* whole words only; bits past the kernel's 128 cannot be set on any kernel */
                if (n % 4 != 0)
                        return wire_reason_to_errno(WIRE_REASON_ATTR_SIZE);
                memset(e->labels, 0, sizeof e->labels);
                for (size_t i = 0; i < n / 4 && i < CT_LABELS_WORDS; i++)
                        e->labels[i] = get_be32(p + 4 * i);
                e->attrs |= CT_ATTR_LABELS;
                break;
        case NTA_SYNPROXY:
                e->synproxy.its = get_be32(p);
                e->synproxy.isn = get_be32(p + 4);
                e->synproxy.tsoff = get_be32(p + 8);
                e->attrs |= CT_ATTR_SYNPROXY;
                break;
        case NTA_ZONE:
                e->zone = get_be16(p);
                break;
        default:
                /* in range but without a decoder: skipped, as 1.4.7 would (there are none) */
                break;
        }
        return 0;
}

int wire_decode_ct(const uint8_t *body, size_t size, CtEntry *ret) {
        CtDecode d = {};
        int r;

        assert(body || size == 0);
        assert(ret);

        r = attrs_walk(body, size, ct_attr_size, _NTA_MAX, ct_attr, &d);
        if (r < 0)
                return r;
        if (!d.have_l4)
                return wire_reason_to_errno(WIRE_REASON_MISSING_L4PROTO);
        if (!d.have_addr)
                return wire_reason_to_errno(WIRE_REASON_MISSING_ADDRESS);
        if (!wire_proto_has_ports(d.e.orig.l4) && !ct_proto_is_icmp(d.e.orig.l4))
                tuple_drop_ports(&d.e.orig);
        if (!wire_proto_has_ports(d.e.master.l4))
                tuple_drop_ports(&d.e.master);
        /* a master tuple without its address attribute shares the flow's family */
        if ((d.e.attrs & CT_ATTR_MASTER) && d.e.master.l3 == 0)
                d.e.master.l3 = d.e.orig.l3;
        *ret = d.e;
        return 0;
}

typedef struct ExpDecode {
        CtExpect x;
        bool have_master_addr, have_master_l4, have_expect_addr, have_expect_l4;
} ExpDecode;

static int exp_attr(unsigned id, const uint8_t *p, size_t n, void *userdata) {
        ExpDecode *d = userdata;
        CtExpect *x = &d->x;

        switch (id) {
        case NTA_EXP_MASTER_IPV4:
        case NTA_EXP_MASTER_IPV6:
                get_addr_pair(p, id == NTA_EXP_MASTER_IPV4 ? AF_INET : AF_INET6, &x->master);
                d->have_master_addr = true;
                break;
        case NTA_EXP_MASTER_L4PROTO:
                x->master.l4 = p[0];
                d->have_master_l4 = true;
                break;
        case NTA_EXP_MASTER_PORT:
                get_ports(p, &x->master);
                break;
        case NTA_EXP_EXPECT_IPV4:
        case NTA_EXP_EXPECT_IPV6:
                get_addr_pair(p, id == NTA_EXP_EXPECT_IPV4 ? AF_INET : AF_INET6, &x->expected);
                d->have_expect_addr = true;
                break;
        case NTA_EXP_EXPECT_L4PROTO:
                x->expected.l4 = p[0];
                d->have_expect_l4 = true;
                break;
        case NTA_EXP_EXPECT_PORT:
                get_ports(p, &x->expected);
                break;
        case NTA_EXP_MASK_IPV4:
        case NTA_EXP_MASK_IPV6:
                get_addr_pair(p, id == NTA_EXP_MASK_IPV4 ? AF_INET : AF_INET6, &x->mask);
                break;
        case NTA_EXP_MASK_L4PROTO:
                x->mask.l4 = p[0];
                break;
        case NTA_EXP_MASK_PORT:
                get_ports(p, &x->mask);
                break;
        case NTA_EXP_TIMEOUT:
                x->timeout = get_be32(p);
                x->attrs |= CT_EXP_ATTR_TIMEOUT;
                break;
        case NTA_EXP_FLAGS:
                x->flags = get_be32(p);
                x->attrs |= CT_EXP_ATTR_FLAGS;
                break;
        case NTA_EXP_CLASS:
                x->class = get_be32(p);
                x->attrs |= CT_EXP_ATTR_CLASS;
                break;
        case NTA_EXP_NAT_IPV4:
                get_addr_pair(p, AF_INET, &x->nat_tuple);
                x->attrs |= CT_EXP_ATTR_NAT;
                break;
        case NTA_EXP_NAT_PORT:
                get_ports(p, &x->nat_tuple);
                x->attrs |= CT_EXP_ATTR_NAT;
                break;
        case NTA_EXP_NAT_L4PROTO:
                x->nat_tuple.l4 = p[0];
                x->attrs |= CT_EXP_ATTR_NAT;
                break;
        case NTA_EXP_NAT_DIR:
                x->nat_dir = get_be32(p);
                x->attrs |= CT_EXP_ATTR_NAT;
                break;
        case NTA_EXP_HELPER_NAME:
                if (!helper_name_fits(p, n))
                        return wire_reason_to_errno(WIRE_REASON_HELPER_TOO_LONG);
                get_string(p, n, x->helper, sizeof x->helper);
                if (x->helper[0])
                        x->attrs |= CT_EXP_ATTR_HELPER;
                else
                        x->attrs &= ~(uint64_t) CT_EXP_ATTR_HELPER;
                break;
        case NTA_EXP_FN:
                get_string(p, n, x->fn, sizeof x->fn);
                if (x->fn[0])
                        x->attrs |= CT_EXP_ATTR_FN;
                else
                        x->attrs &= ~(uint64_t) CT_EXP_ATTR_FN;
                break;
        default:
                break;
        }
        return 0;
}

int wire_decode_expect(const uint8_t *body, size_t size, CtExpect *ret) {
        ExpDecode d = {};
        int r;

        assert(body || size == 0);
        assert(ret);

        r = attrs_walk(body, size, exp_attr_size, _NTA_EXP_MAX, exp_attr, &d);
        if (r < 0)
                return r;
        if (!d.have_master_l4 || !d.have_expect_l4)
                return wire_reason_to_errno(WIRE_REASON_MISSING_L4PROTO);
        if (!d.have_master_addr || !d.have_expect_addr)
                return wire_reason_to_errno(WIRE_REASON_MISSING_ADDRESS);
        /* the ports of all four tuples follow the master's protocol (spec §1.8) */
        if (!wire_proto_has_ports(d.x.master.l4)) {
                tuple_drop_ports(&d.x.master);
                tuple_drop_ports(&d.x.expected);
                tuple_drop_ports(&d.x.mask);
                tuple_drop_ports(&d.x.nat_tuple);
        }
        *ret = d.x;
        return 0;
}

int wire_frame_decode(const WireFrame *f, WireClassify how, WireMessage *ret, WireStats *stats) {
        const uint8_t *body;
        size_t size;
        int r;

        assert(f && ret);
        assert(f->size >= WIRE_HEADER_SIZE && f->size == f->hdr.len);

        switch (wire_header_classify(&f->hdr, how)) {
        case WIRE_CLASS_CONTROL:
                *ret = (WireMessage) { .hdr = f->hdr, .kind = WIRE_KIND_CONTROL };
                if (header_is_range_control(&f->hdr)) {
                        assert(f->size >= WIRE_CONTROL_SIZE);
                        ret->control.from = get_be32(f->data + 8);
                        ret->control.to = get_be32(f->data + 12);
                }
                return 0;
        case WIRE_CLASS_DATA:
                break;
        default:
                return reject(stats, WIRE_REASON_BAD_HEADER);
        }

        if (f->hdr.type > WIRE_EXP_DEL)
                return reject(stats, WIRE_REASON_BAD_TYPE);

        body = f->data + WIRE_HEADER_SIZE;
        size = f->size - WIRE_HEADER_SIZE;
        if (f->hdr.type <= WIRE_CT_DEL) {
                CtEntry e;

                r = wire_decode_ct(body, size, &e);
                if (r < 0)
                        return reject(stats, wire_reason_from_errno(r));
                *ret = (WireMessage) { .hdr = f->hdr, .kind = WIRE_KIND_CT, .ct = e };
        } else {
                CtExpect x;

                r = wire_decode_expect(body, size, &x);
                if (r < 0)
                        return reject(stats, wire_reason_from_errno(r));
                *ret = (WireMessage) { .hdr = f->hdr, .kind = WIRE_KIND_EXPECT, .exp = x };
        }
        return 0;
}

int wire_datagram_decode(const uint8_t *buf, size_t size, WireClassify how, WireStats *stats,
                         WireMessageFunc cb, void *userdata) {
        size_t offset = 0;
        int n = 0, r;

        for (;;) {
                WireMessage m;
                WireFrame f;

                r = wire_frame_next(buf, size, &offset, &f, stats);
                if (r == 0)
                        break;
                if (r < 0)
                        continue;
                if (wire_frame_decode(&f, how, &m, stats) < 0)
                        continue;
                if (cb) {
                        r = cb(&m, &f, userdata);
                        if (r < 0)
                                return r;
                }
                n++;
        }
        return n;
}

/* ---- encoding ---- */

typedef struct Writer {
        uint8_t *buf;
        size_t size, len;
        bool overflow;
} Writer;

static uint8_t *put_attr(Writer *w, uint16_t id, size_t n) {
        size_t total = WIRE_ALIGN(WIRE_ATTR_HEADER_SIZE + n);
        uint8_t *p;

        assert(n <= UINT16_MAX - WIRE_ATTR_HEADER_SIZE);
        if (w->overflow || total > w->size - w->len) {
                w->overflow = true;
                return NULL;
        }
        p = w->buf + w->len;
        memset(p, 0, total);
        put_be16(p, (uint16_t) (WIRE_ATTR_HEADER_SIZE + n));
        put_be16(p + 2, id);
        w->len += total;
        return p + WIRE_ATTR_HEADER_SIZE;
}

static void put_u8(Writer *w, uint16_t id, uint8_t v) {
        uint8_t *p = put_attr(w, id, 1);

        if (p)
                p[0] = v;
}

static void put_u16_be(Writer *w, uint16_t id, uint16_t v) {
        uint8_t *p = put_attr(w, id, 2);

        if (p)
                put_be16(p, v);
}

static void put_u16_quirk(Writer *w, uint16_t id, uint16_t v) {
        uint8_t *p = put_attr(w, id, 2);

        if (p)
                put_quirk16(p, v);
}

static void put_u32(Writer *w, uint16_t id, uint32_t v) {
        uint8_t *p = put_attr(w, id, 4);

        if (p)
                put_be32(p, v);
}

static void put_addr_pair(Writer *w, uint16_t id4, uint16_t id6, const CtTuple *t) {
        size_t n = t->l3 == AF_INET6 ? 16 : 4;
        uint8_t *p = put_attr(w, t->l3 == AF_INET6 ? id6 : id4, 2 * n);

        if (p) {
                memcpy(p, &t->src, n);
                memcpy(p + n, &t->dst, n);
        }
}

static void put_ports(Writer *w, uint16_t id, const CtTuple *t) {
        uint8_t *p = put_attr(w, id, 4);

        if (p) {
                put_be16(p, t->sport);
                put_be16(p + 2, t->dport);
        }
}

static void put_string(Writer *w, uint16_t id, const char *s, size_t max) {
        size_t n = strnlen(s, max - 1);
        uint8_t *p = put_attr(w, id, n + 1);

        if (p)
                memcpy(p, s, n);        /* the NUL is the zeroed padding */
}

static void put_header(uint8_t *buf, uint8_t type, uint8_t flags, uint16_t len, uint32_t seq) {
        buf[0] = (uint8_t) (WIRE_VERSION << 4 | (type & 0x0f));
        buf[1] = flags;
        put_be16(buf + 2, len);
        put_be32(buf + 4, seq);
}

static int writer_finish(Writer *w, uint8_t type, uint8_t flags, uint32_t seq) {
        if (w->overflow)
                return -ENOBUFS;
        if (w->len > UINT16_MAX)
                return -EMSGSIZE;
        put_header(w->buf, type, flags, (uint16_t) w->len, seq);
        return (int) w->len;
}

static bool labels_last_word(const uint32_t *labels, size_t *ret) {
        for (size_t i = CT_LABELS_WORDS; i > 0; i--)
                if (labels[i - 1] != 0) {
                        *ret = i;
                        return true;
                }
        return false;
}

int wire_encode_ct(uint8_t *buf, size_t size, WireType type, uint8_t flags, uint32_t seq,
                   const CtEntry *e, const WireEncodeOptions *o) {
        static const WireEncodeOptions defaults = { .timeout = true };
        Writer w = { .buf = buf, .size = size, .len = WIRE_HEADER_SIZE };
        uint8_t *p;
        size_t n;

        assert(buf && e);
        if (!o)
                o = &defaults;
        if (type < WIRE_CT_NEW || type > WIRE_CT_DEL || (flags & ~WIRE_F_HELLO_MASK))
                return -EINVAL;
        if (e->orig.l3 != AF_INET && e->orig.l3 != AF_INET6)
                return -EINVAL;
        if (size < WIRE_HEADER_SIZE)
                return -ENOBUFS;

        put_addr_pair(&w, NTA_IPV4, NTA_IPV6, &e->orig);
        if (e->attrs & CT_ATTR_STATUS)
                put_u32(&w, NTA_STATUS, e->status);
        put_u8(&w, NTA_L4PROTO, e->orig.l4);

        switch (e->orig.l4) {
        case IPPROTO_TCP:
                put_ports(&w, NTA_PORT, &e->orig);
                if (e->attrs & CT_ATTR_TCP_STATE)
                        put_u8(&w, NTA_TCP_STATE, e->tcp.state);
                if (o->tcp_wscale && (e->attrs & CT_ATTR_TCP_WSCALE)) {
                        put_u8(&w, NTA_TCP_WSCALE_ORIG, e->tcp.wscale_orig);
                        put_u8(&w, NTA_TCP_WSCALE_REPL, e->tcp.wscale_repl);
                }
                break;
        case IPPROTO_SCTP:
                put_ports(&w, NTA_PORT, &e->orig);
                if (e->attrs & CT_ATTR_SCTP_STATE) {
                        put_u8(&w, NTA_SCTP_STATE, e->sctp.state);
                        put_u32(&w, NTA_SCTP_VTAG_ORIG, e->sctp.vtag_orig);
                        put_u32(&w, NTA_SCTP_VTAG_REPL, e->sctp.vtag_repl);
                }
                break;
        case IPPROTO_DCCP:
                put_ports(&w, NTA_PORT, &e->orig);
                if (e->attrs & CT_ATTR_DCCP_STATE) {
                        put_u8(&w, NTA_DCCP_STATE, e->dccp.state);
                        put_u8(&w, NTA_DCCP_ROLE, e->dccp.role);
                }
                break;
        case IPPROTO_UDP:
                put_ports(&w, NTA_PORT, &e->orig);
                break;
        case IPPROTO_ICMP:
        case IPPROTO_ICMPV6:
                put_u8(&w, NTA_ICMP_TYPE, e->orig.icmp.type);
                put_u8(&w, NTA_ICMP_CODE, e->orig.icmp.code);
                put_u16_quirk(&w, NTA_ICMP_ID, e->orig.icmp.id);
                break;
        default:
                break;
        }

        if (o->timeout && (e->attrs & CT_ATTR_TIMEOUT))
                put_u32(&w, NTA_TIMEOUT, e->timeout);
        if (e->attrs & CT_ATTR_MARK)
                put_u32(&w, NTA_MARK, e->mark);

        if (e->attrs & CT_ATTR_MASTER) {
                put_addr_pair(&w, NTA_MASTER_IPV4, NTA_MASTER_IPV6, &e->master);
                put_u8(&w, NTA_MASTER_L4PROTO, e->master.l4);
                if (wire_proto_has_ports(e->master.l4))
                        put_ports(&w, NTA_MASTER_PORT, &e->master);
        }

        if (e->attrs & CT_ATTR_SNAT) {
                p = put_attr(&w, e->orig.l3 == AF_INET6 ? NTA_SNAT_IPV6 : NTA_SNAT_IPV4,
                             e->orig.l3 == AF_INET6 ? 16 : 4);
                if (p)
                        memcpy(p, &e->nat.snat_addr, e->orig.l3 == AF_INET6 ? 16 : 4);
        }
        if (e->attrs & CT_ATTR_DNAT) {
                p = put_attr(&w, e->orig.l3 == AF_INET6 ? NTA_DNAT_IPV6 : NTA_DNAT_IPV4,
                             e->orig.l3 == AF_INET6 ? 16 : 4);
                if (p)
                        memcpy(p, &e->nat.dnat_addr, e->orig.l3 == AF_INET6 ? 16 : 4);
        }
        if (e->attrs & CT_ATTR_SPAT)
                put_u16_quirk(&w, NTA_SPAT_PORT, e->nat.spat_port);
        if (e->attrs & CT_ATTR_DPAT)
                put_u16_quirk(&w, NTA_DPAT_PORT, e->nat.dpat_port);

        if (e->attrs & CT_ATTR_NAT_SEQ_ADJ) {
                p = put_attr(&w, NTA_NAT_SEQ_ADJ, 24);
                if (p) {
                        put_be32(p, e->seq_adj.orig_pos);
                        put_be32(p + 4, e->seq_adj.orig_before);
                        put_be32(p + 8, e->seq_adj.orig_after);
                        put_be32(p + 12, e->seq_adj.repl_pos);
                        put_be32(p + 16, e->seq_adj.repl_before);
                        put_be32(p + 20, e->seq_adj.repl_after);
                }
        }

        if ((e->attrs & CT_ATTR_HELPER) && e->helper[0])
                put_string(&w, NTA_HELPER_NAME, e->helper, sizeof e->helper);

        if ((e->attrs & CT_ATTR_LABELS) && labels_last_word(e->labels, &n)) {
                p = put_attr(&w, NTA_LABELS, 4 * n);
                if (p)
                        for (size_t i = 0; i < n; i++)
                                put_be32(p + 4 * i, e->labels[i]);
        }

        if (e->attrs & CT_ATTR_SYNPROXY) {
                p = put_attr(&w, NTA_SYNPROXY, 12);
                if (p) {
                        put_be32(p, e->synproxy.its);
                        put_be32(p + 4, e->synproxy.isn);
                        put_be32(p + 8, e->synproxy.tsoff);
                }
        }

        if (e->zone != 0)
                put_u16_be(&w, NTA_ZONE, e->zone);

        return writer_finish(&w, (uint8_t) type, flags, seq);
}

int wire_encode_expect(uint8_t *buf, size_t size, WireType type, uint8_t flags, uint32_t seq,
                       const CtExpect *x, const WireEncodeOptions *o) {
        static const WireEncodeOptions defaults = { .timeout = true };
        Writer w = { .buf = buf, .size = size, .len = WIRE_HEADER_SIZE };
        bool ports = wire_proto_has_ports(x->master.l4);

        assert(buf && x);
        if (!o)
                o = &defaults;
        if (type < WIRE_EXP_NEW || type > WIRE_EXP_DEL || (flags & ~WIRE_F_HELLO_MASK))
                return -EINVAL;
        if ((x->master.l3 != AF_INET && x->master.l3 != AF_INET6) ||
            (x->expected.l3 != AF_INET && x->expected.l3 != AF_INET6))
                return -EINVAL;
        if (size < WIRE_HEADER_SIZE)
                return -ENOBUFS;

        put_addr_pair(&w, NTA_EXP_MASTER_IPV4, NTA_EXP_MASTER_IPV6, &x->master);
        put_u8(&w, NTA_EXP_MASTER_L4PROTO, x->master.l4);
        if (ports)
                put_ports(&w, NTA_EXP_MASTER_PORT, &x->master);

        put_addr_pair(&w, NTA_EXP_EXPECT_IPV4, NTA_EXP_EXPECT_IPV6, &x->expected);
        put_u8(&w, NTA_EXP_EXPECT_L4PROTO, x->expected.l4);
        if (ports)
                put_ports(&w, NTA_EXP_EXPECT_PORT, &x->expected);

        if (x->mask.l3 == AF_INET || x->mask.l3 == AF_INET6)
                put_addr_pair(&w, NTA_EXP_MASK_IPV4, NTA_EXP_MASK_IPV6, &x->mask);
        put_u8(&w, NTA_EXP_MASK_L4PROTO, x->mask.l4);
        if (ports)
                put_ports(&w, NTA_EXP_MASK_PORT, &x->mask);

        if (o->timeout && (x->attrs & CT_EXP_ATTR_TIMEOUT))
                put_u32(&w, NTA_EXP_TIMEOUT, x->timeout);
        if (x->attrs & CT_EXP_ATTR_FLAGS)
                put_u32(&w, NTA_EXP_FLAGS, x->flags);
        if (x->attrs & CT_EXP_ATTR_CLASS)
                put_u32(&w, NTA_EXP_CLASS, x->class);

        if (x->attrs & CT_EXP_ATTR_NAT) {
                if (x->nat_tuple.l3 == AF_INET)
                        put_addr_pair(&w, NTA_EXP_NAT_IPV4, NTA_EXP_NAT_IPV4, &x->nat_tuple);
                if (ports)
                        put_ports(&w, NTA_EXP_NAT_PORT, &x->nat_tuple);
                put_u8(&w, NTA_EXP_NAT_L4PROTO, x->nat_tuple.l4);
                put_u32(&w, NTA_EXP_NAT_DIR, x->nat_dir);
        }

        if ((x->attrs & CT_EXP_ATTR_HELPER) && x->helper[0])
                put_string(&w, NTA_EXP_HELPER_NAME, x->helper, sizeof x->helper);
        if ((x->attrs & CT_EXP_ATTR_FN) && x->fn[0])
                put_string(&w, NTA_EXP_FN, x->fn, sizeof x->fn);

        return writer_finish(&w, (uint8_t) type, flags, seq);
}

int wire_encode_control(uint8_t *buf, size_t size, uint8_t flags, uint32_t seq, uint32_t from,
                        uint32_t to) {
        size_t len = (flags & WIRE_F_RANGE_MASK) ? WIRE_CONTROL_SIZE : WIRE_HEADER_SIZE;

        assert(buf);
        if (!(flags & (WIRE_F_RANGE_MASK | WIRE_F_ALIVE)) || (flags & WIRE_F_UNUSED))
                return -EINVAL;
        if (size < len)
                return -ENOBUFS;
        put_header(buf, WIRE_CTL, flags, (uint16_t) len, seq);
        if (len == WIRE_CONTROL_SIZE) {
                put_be32(buf + 8, from);
                put_be32(buf + 12, to);
        }
        return (int) len;
}

/* ---- datagrams ---- */

size_t wire_mtu_payload(unsigned mtu, bool tcp) {
        unsigned overhead = tcp ? 40 : 28;

        return mtu > overhead ? mtu - overhead : 0;
}

void wire_builder_init(WireBuilder *b, uint8_t *buf, size_t capacity) {
        assert(b && buf);
        *b = (WireBuilder) { .buf = buf, .capacity = capacity };
}

void wire_builder_reset(WireBuilder *b) {
        assert(b);
        b->len = 0;
        b->n_messages = 0;
}

int wire_builder_append(WireBuilder *b, const uint8_t *msg, size_t len) {
        assert(b && msg);
        if (len >= b->capacity)
                return -EMSGSIZE;
        if (b->len + len >= b->capacity)
                return -ENOSPC;
        memcpy(b->buf + b->len, msg, len);
        b->len += len;
        b->n_messages++;
        return 0;
}
