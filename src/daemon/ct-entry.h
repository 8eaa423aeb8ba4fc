/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Our own representation of a conntrack flow and of an expectation: every attribute that the
 * kernel reports and that replication carries (spec §1.7, §1.8). Pure: no I/O, no libraries.
 *
 * Conventions: addresses in network byte order (as on the wire and in the kernel), ports, ICMP
 * ids and every other number in host byte order. 'attrs' says which optional attributes are
 * present (CT_ATTR_*); the original tuple, l3/l4 protocol and zone are always present.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef union CtAddr {
        uint32_t ip;            /* IPv4, network order */
        uint32_t ip6[4];        /* IPv6, network order */
        struct in6_addr in6;
} CtAddr;

typedef struct CtTuple {
        uint8_t l3;             /* AF_INET or AF_INET6 */
        uint8_t l4;             /* IPPROTO_* */
        CtAddr src, dst;
        union {
                struct {
                        uint16_t sport, dport;  /* TCP, UDP, UDPLITE, SCTP, DCCP; host order */
                };
                struct {
                        uint8_t type, code;     /* ICMP, ICMPv6 */
                        uint16_t id;            /* host order */
                } icmp;
        };
} CtTuple;

/* Presence bits of the optional attributes of a CtEntry. */
typedef enum CtAttr {
        CT_ATTR_REPLY           = 1ULL << 0,    /* reply tuple */
        CT_ATTR_STATUS          = 1ULL << 1,
        CT_ATTR_TIMEOUT         = 1ULL << 2,
        CT_ATTR_MARK            = 1ULL << 3,
        CT_ATTR_SECMARK         = 1ULL << 4,
        CT_ATTR_ID              = 1ULL << 5,
        CT_ATTR_TCP_STATE       = 1ULL << 6,
        CT_ATTR_TCP_WSCALE      = 1ULL << 7,    /* wscale_orig and wscale_repl */
        CT_ATTR_TCP_FLAGS       = 1ULL << 8,    /* flags_orig/repl and their masks */
        CT_ATTR_SCTP_STATE      = 1ULL << 9,    /* with both vtags */
        CT_ATTR_DCCP_STATE      = 1ULL << 10,   /* with role */
        CT_ATTR_MASTER          = 1ULL << 11,   /* master tuple (related flows) */
        CT_ATTR_NAT_SEQ_ADJ     = 1ULL << 12,   /* all six */
        CT_ATTR_HELPER          = 1ULL << 13,
        CT_ATTR_LABELS          = 1ULL << 14,
        CT_ATTR_SYNPROXY        = 1ULL << 15,
        CT_ATTR_COUNTERS        = 1ULL << 16,   /* packets/bytes per direction */
        CT_ATTR_TIMESTAMP       = 1ULL << 17,   /* start (and stop, if non-zero) */
        CT_ATTR_USE             = 1ULL << 18,
        CT_ATTR_SNAT            = 1ULL << 19,   /* nat.snat_addr (wire: reply dst address) */
        CT_ATTR_DNAT            = 1ULL << 20,   /* nat.dnat_addr (wire: reply src address) */
        CT_ATTR_SPAT            = 1ULL << 21,   /* nat.spat_port */
        CT_ATTR_DPAT            = 1ULL << 22,   /* nat.dpat_port */
} CtAttr;

#define CT_HELPER_NAME_MAX 16   /* including the NUL; kernel NF_CT_HELPER_NAME_LEN */
#define CT_LABELS_WORDS    4    /* 128 label bits, the kernel's maximum */

typedef struct CtEntry {
        CtTuple orig;
        CtTuple reply;          /* CT_ATTR_REPLY */
        uint16_t zone;          /* 0 = default zone */
        uint64_t attrs;         /* CtAttr bits */

        uint32_t status;        /* IPS_* bits */
        uint32_t timeout;       /* seconds left */
        uint32_t mark;
        uint32_t secmark;
        uint32_t id;            /* kernel conntrack id (not part of identity) */
        uint32_t use;

        struct {
                uint8_t state;          /* TCP_CONNTRACK_* */
                uint8_t wscale_orig, wscale_repl;
                uint8_t flags_orig, flags_repl;
                uint8_t mask_orig, mask_repl;
        } tcp;
        struct {
                uint8_t state;
                uint32_t vtag_orig, vtag_repl;
        } sctp;
        struct {
                uint8_t state;
                uint8_t role;
        } dccp;

        CtTuple master;         /* CT_ATTR_MASTER: the master's original tuple */

        struct {
                CtAddr snat_addr, dnat_addr;            /* CT_ATTR_SNAT / CT_ATTR_DNAT */
                uint16_t spat_port, dpat_port;          /* host order */
        } nat;
        struct {
                uint32_t orig_pos, orig_before, orig_after;
                uint32_t repl_pos, repl_before, repl_after;
        } seq_adj;

        char helper[CT_HELPER_NAME_MAX];
        uint32_t labels[CT_LABELS_WORDS];               /* bit b of word i = label 32*i+b */
        struct {
                uint32_t isn, its, tsoff;
        } synproxy;

        struct {
                uint64_t packets_orig, bytes_orig;
                uint64_t packets_repl, bytes_repl;
        } counters;
        struct {
                uint64_t start, stop;                   /* ns since the epoch */
        } timestamp;
} CtEntry;

/* Presence bits of the optional attributes of a CtExpect. */
typedef enum CtExpAttr {
        CT_EXP_ATTR_TIMEOUT     = 1ULL << 0,
        CT_EXP_ATTR_FLAGS       = 1ULL << 1,
        CT_EXP_ATTR_CLASS       = 1ULL << 2,
        CT_EXP_ATTR_NAT         = 1ULL << 3,    /* nat_tuple and nat_dir */
        CT_EXP_ATTR_HELPER      = 1ULL << 4,
        CT_EXP_ATTR_FN          = 1ULL << 5,
        CT_EXP_ATTR_ID          = 1ULL << 6,
} CtExpAttr;

#define CT_EXP_FN_MAX 32

typedef struct CtExpect {
        CtTuple master;         /* original tuple of the master conntrack */
        CtTuple expected;
        CtTuple mask;
        uint16_t zone;
        uint64_t attrs;         /* CtExpAttr bits */

        uint32_t timeout;
        uint32_t flags;
        uint32_t class;
        uint32_t id;
        CtTuple nat_tuple;
        uint32_t nat_dir;
        char helper[CT_HELPER_NAME_MAX];
        char fn[CT_EXP_FN_MAX];
} CtExpect;

/* The two kinds of objects every cache, dump and kernel call deals with. */
typedef enum CtKind {
        CT_KIND_CT,
        CT_KIND_EXPECT,
        _CT_KIND_MAX,
        _CT_KIND_INVALID = -EINVAL,
} CtKind;

/* "ct", "expect" */
const char *ct_kind_to_string(CtKind k);
CtKind ct_kind_from_string(const char *s);

/* TCP conntrack states, as the kernel numbers them (TCP_CONNTRACK_*). */
typedef enum CtTcpState {
        CT_TCP_NONE,
        CT_TCP_SYN_SENT,
        CT_TCP_SYN_RECV,
        CT_TCP_ESTABLISHED,
        CT_TCP_FIN_WAIT,
        CT_TCP_CLOSE_WAIT,
        CT_TCP_LAST_ACK,
        CT_TCP_TIME_WAIT,
        CT_TCP_CLOSE,
        CT_TCP_SYN_SENT2,       /* shown as LISTEN by conntrack-tools */
        _CT_TCP_MAX,
        _CT_TCP_INVALID = -EINVAL,
} CtTcpState;

/* "NONE", "SYN_SENT", ... "CLOSE", "LISTEN" (SYN_SENT2) — the names of conntrack -L */
const char *ct_tcp_state_to_string(CtTcpState s);
CtTcpState ct_tcp_state_from_string(const char *s);

/* True for protocols whose tuple carries ports (TCP, UDP, UDPLITE, SCTP, DCCP). */
bool ct_proto_has_ports(uint8_t l4);
/* True for ICMP and ICMPv6. */
bool ct_proto_is_icmp(uint8_t l4);
/* Protocol name as conntrack -L prints it ("tcp", "udp", "icmp", "icmpv6", ..., "unknown"). */
const char *ct_proto_to_string(uint8_t l4);

/* Identity (spec §2.1): the original tuple and the zone. */
uint32_t ct_tuple_hash(const CtTuple *t, uint16_t zone, uint32_t seed);
bool ct_tuple_equal(const CtTuple *a, const CtTuple *b);
uint32_t ct_entry_hash(const CtEntry *e, uint32_t seed);
bool ct_entry_same(const CtEntry *a, const CtEntry *b);        /* same identity */
/* Expectations are identified by their expected tuple and zone. */
uint32_t ct_expect_hash(const CtExpect *x, uint32_t seed);
bool ct_expect_same(const CtExpect *a, const CtExpect *b);

/* Invert a tuple (src<->dst, sport<->dport; ICMP echo request<->reply). */
void ct_tuple_invert(const CtTuple *t, CtTuple *ret);

/* Copy the attributes present in 'src' over 'dst' (an update); identity stays. */
void ct_entry_update(CtEntry *dst, const CtEntry *src);
void ct_expect_update(CtExpect *dst, const CtExpect *src);

/* Format an address of the given family into buf (INET6_ADDRSTRLEN bytes at least). */
const char *ct_addr_to_string(int family, const CtAddr *a, char *buf, size_t size);
