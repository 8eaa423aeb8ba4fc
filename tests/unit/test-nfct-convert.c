/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * CtEntry / CtExpect <-> libnetfilter_conntrack: round trips through the library's objects, and
 * ctnetlink messages built in memory (as the kernel sends them) parsed into our structs.
 */

#include <arpa/inet.h>
#include <endian.h>
#include <glib.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <sys/socket.h>

#include "nfct-convert.h"

static void addr(int family, const char *s, CtAddr *ret) {
        *ret = (CtAddr) {};
        g_assert_cmpint(inet_pton(family, s, ret), ==, 1);
}

static CtTuple tuple(int family, uint8_t l4, const char *src, const char *dst, uint16_t sport,
                     uint16_t dport) {
        CtTuple t = { .l3 = (uint8_t) family, .l4 = l4 };

        addr(family, src, &t.src);
        addr(family, dst, &t.dst);
        if (ct_proto_is_icmp(l4)) {
                t.icmp.type = (uint8_t) sport;
                t.icmp.code = 0;
                t.icmp.id = dport;
        } else if (ct_proto_has_ports(l4)) {
                t.sport = sport;
                t.dport = dport;
        }
        return t;
}

static void assert_tuple_equal(const CtTuple *a, const CtTuple *b) {
        g_assert_cmpuint(a->l3, ==, b->l3);
        g_assert_cmpuint(a->l4, ==, b->l4);
        g_assert_cmpmem(&a->src, a->l3 == AF_INET6 ? 16 : 4, &b->src, b->l3 == AF_INET6 ? 16 : 4);
        g_assert_cmpmem(&a->dst, a->l3 == AF_INET6 ? 16 : 4, &b->dst, b->l3 == AF_INET6 ? 16 : 4);
        if (ct_proto_is_icmp(a->l4)) {
                g_assert_cmpuint(a->icmp.type, ==, b->icmp.type);
                g_assert_cmpuint(a->icmp.code, ==, b->icmp.code);
                g_assert_cmpuint(a->icmp.id, ==, b->icmp.id);
        } else if (ct_proto_has_ports(a->l4)) {
                g_assert_cmpuint(a->sport, ==, b->sport);
                g_assert_cmpuint(a->dport, ==, b->dport);
        }
}

/* Every field that the presence bits say is there. */
static void assert_entry_equal(const CtEntry *a, const CtEntry *b) {
        uint64_t x = a->attrs;

        g_assert_cmphex(a->attrs, ==, b->attrs);
        assert_tuple_equal(&a->orig, &b->orig);
        g_assert_cmpuint(a->zone, ==, b->zone);
        if (x & CT_ATTR_REPLY)
                assert_tuple_equal(&a->reply, &b->reply);
        if (x & CT_ATTR_MASTER)
                assert_tuple_equal(&a->master, &b->master);
        if (x & CT_ATTR_STATUS)
                g_assert_cmphex(a->status, ==, b->status);
        if (x & CT_ATTR_TIMEOUT)
                g_assert_cmpuint(a->timeout, ==, b->timeout);
        if (x & CT_ATTR_MARK)
                g_assert_cmpuint(a->mark, ==, b->mark);
        if (x & CT_ATTR_SECMARK)
                g_assert_cmpuint(a->secmark, ==, b->secmark);
        if (x & CT_ATTR_ID)
                g_assert_cmpuint(a->id, ==, b->id);
        if (x & CT_ATTR_USE)
                g_assert_cmpuint(a->use, ==, b->use);
        if (x & CT_ATTR_TCP_STATE)
                g_assert_cmpuint(a->tcp.state, ==, b->tcp.state);
        if (x & CT_ATTR_TCP_WSCALE) {
                g_assert_cmpuint(a->tcp.wscale_orig, ==, b->tcp.wscale_orig);
                g_assert_cmpuint(a->tcp.wscale_repl, ==, b->tcp.wscale_repl);
        }
        if (x & CT_ATTR_TCP_FLAGS) {
                g_assert_cmpuint(a->tcp.flags_orig, ==, b->tcp.flags_orig);
                g_assert_cmpuint(a->tcp.flags_repl, ==, b->tcp.flags_repl);
                g_assert_cmpuint(a->tcp.mask_orig, ==, b->tcp.mask_orig);
                g_assert_cmpuint(a->tcp.mask_repl, ==, b->tcp.mask_repl);
        }
        if (x & CT_ATTR_SCTP_STATE) {
                g_assert_cmpuint(a->sctp.state, ==, b->sctp.state);
                g_assert_cmpuint(a->sctp.vtag_orig, ==, b->sctp.vtag_orig);
                g_assert_cmpuint(a->sctp.vtag_repl, ==, b->sctp.vtag_repl);
        }
        if (x & CT_ATTR_DCCP_STATE) {
                g_assert_cmpuint(a->dccp.state, ==, b->dccp.state);
                g_assert_cmpuint(a->dccp.role, ==, b->dccp.role);
        }
        if (x & CT_ATTR_SNAT)
                g_assert_cmpmem(&a->nat.snat_addr, sizeof(CtAddr), &b->nat.snat_addr, sizeof(CtAddr));
        if (x & CT_ATTR_DNAT)
                g_assert_cmpmem(&a->nat.dnat_addr, sizeof(CtAddr), &b->nat.dnat_addr, sizeof(CtAddr));
        if (x & CT_ATTR_SPAT)
                g_assert_cmpuint(a->nat.spat_port, ==, b->nat.spat_port);
        if (x & CT_ATTR_DPAT)
                g_assert_cmpuint(a->nat.dpat_port, ==, b->nat.dpat_port);
        if (x & CT_ATTR_NAT_SEQ_ADJ)
                g_assert_cmpmem(&a->seq_adj, sizeof(a->seq_adj), &b->seq_adj, sizeof(b->seq_adj));
        if (x & CT_ATTR_HELPER)
                g_assert_cmpstr(a->helper, ==, b->helper);
        if (x & CT_ATTR_LABELS)
                g_assert_cmpmem(a->labels, sizeof(a->labels), b->labels, sizeof(b->labels));
        if (x & CT_ATTR_SYNPROXY) {
                g_assert_cmpuint(a->synproxy.isn, ==, b->synproxy.isn);
                g_assert_cmpuint(a->synproxy.its, ==, b->synproxy.its);
                g_assert_cmpuint(a->synproxy.tsoff, ==, b->synproxy.tsoff);
        }
        if (x & CT_ATTR_COUNTERS)
                g_assert_cmpmem(&a->counters, sizeof(a->counters), &b->counters, sizeof(b->counters));
        if (x & CT_ATTR_TIMESTAMP) {
                g_assert_cmpuint(a->timestamp.start, ==, b->timestamp.start);
                g_assert_cmpuint(a->timestamp.stop, ==, b->timestamp.stop);
        }
}

static void assert_expect_equal(const CtExpect *a, const CtExpect *b) {
        g_assert_cmphex(a->attrs, ==, b->attrs);
        assert_tuple_equal(&a->master, &b->master);
        assert_tuple_equal(&a->expected, &b->expected);
        assert_tuple_equal(&a->mask, &b->mask);
        g_assert_cmpuint(a->zone, ==, b->zone);
        if (a->attrs & CT_EXP_ATTR_TIMEOUT)
                g_assert_cmpuint(a->timeout, ==, b->timeout);
        if (a->attrs & CT_EXP_ATTR_FLAGS)
                g_assert_cmpuint(a->flags, ==, b->flags);
        if (a->attrs & CT_EXP_ATTR_CLASS)
                g_assert_cmpuint(a->class, ==, b->class);
        if (a->attrs & CT_EXP_ATTR_ID)
                g_assert_cmpuint(a->id, ==, b->id);
        if (a->attrs & CT_EXP_ATTR_NAT) {
                assert_tuple_equal(&a->nat_tuple, &b->nat_tuple);
                g_assert_cmpuint(a->nat_dir, ==, b->nat_dir);
        }
        if (a->attrs & CT_EXP_ATTR_HELPER)
                g_assert_cmpstr(a->helper, ==, b->helper);
        if (a->attrs & CT_EXP_ATTR_FN)
                g_assert_cmpstr(a->fn, ==, b->fn);
}

static void roundtrip(const CtEntry *e) {
        struct nf_conntrack *ct = NULL;
        CtEntry back;

        g_assert_cmpint(ct_entry_to_nfct(e, &ct), ==, 0);
        g_assert_nonnull(ct);
        g_assert_cmpint(ct_entry_from_nfct(ct, &back), ==, 0);
        assert_entry_equal(e, &back);
        nfct_destroy(ct);
}

/* A masqueraded and port-forwarded TCP flow with every attribute the kernel can report. */
static CtEntry make_tcp_nat(void) {
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "192.168.1.13", "203.0.113.80", 50000, 80),
                .reply = tuple(AF_INET, IPPROTO_TCP, "10.0.0.80", "198.51.100.5", 8080, 61000),
                .zone = 5,
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK |
                         CT_ATTR_SECMARK | CT_ATTR_ID | CT_ATTR_USE | CT_ATTR_TCP_STATE |
                         CT_ATTR_TCP_WSCALE | CT_ATTR_TCP_FLAGS | CT_ATTR_NAT_SEQ_ADJ |
                         CT_ATTR_HELPER | CT_ATTR_LABELS | CT_ATTR_SYNPROXY | CT_ATTR_COUNTERS |
                         CT_ATTR_TIMESTAMP,
                .status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED | IPS_SRC_NAT | IPS_DST_NAT |
                          IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE | IPS_SEQ_ADJUST,
                .timeout = 431999,
                .mark = 0xdeadbeef,
                .secmark = 12,
                .id = 3303411414u,
                .use = 2,
                .tcp = { .state = CT_TCP_ESTABLISHED, .wscale_orig = 7, .wscale_repl = 9,
                         .flags_orig = 0x23, .flags_repl = 0x03, .mask_orig = 0x23, .mask_repl = 0x03 },
                .seq_adj = { .orig_pos = 1000, .orig_before = 1, .orig_after = 2,
                             .repl_pos = 2000, .repl_before = 3, .repl_after = 4 },
                .helper = "ftp",
                .labels = { 0x1, 0, 0x80000000u, 0x10 },
                .synproxy = { .isn = 11, .its = 22, .tsoff = 33 },
                .counters = { .packets_orig = 10, .bytes_orig = 1000000000000ull,
                              .packets_repl = 20, .bytes_repl = 4096 },
                .timestamp = { .start = 1700000000123456789ull, .stop = 1700000100987654321ull },
        };

        ct_entry_derive_nat(&e);
        return e;
}

static void test_derive_nat(void) {
        CtEntry e = make_tcp_nat(), f;
        char buf[INET6_ADDRSTRLEN];

        /* SNAT to 198.51.100.5:61000, DNAT to 10.0.0.80:8080 */
        g_assert_true(e.attrs & CT_ATTR_SNAT);
        g_assert_true(e.attrs & CT_ATTR_DNAT);
        g_assert_true(e.attrs & CT_ATTR_SPAT);
        g_assert_true(e.attrs & CT_ATTR_DPAT);
        g_assert_cmpstr(ct_addr_to_string(AF_INET, &e.nat.snat_addr, buf, sizeof(buf)), ==,
                        "198.51.100.5");
        g_assert_cmpstr(ct_addr_to_string(AF_INET, &e.nat.dnat_addr, buf, sizeof(buf)), ==,
                        "10.0.0.80");
        g_assert_cmpuint(e.nat.spat_port, ==, 61000);
        g_assert_cmpuint(e.nat.dpat_port, ==, 8080);

        /* the NAT_DONE bits decide; without a status any difference counts */
        f = make_tcp_nat();
        f.attrs &= ~(uint64_t) (CT_ATTR_SNAT | CT_ATTR_DNAT | CT_ATTR_SPAT | CT_ATTR_DPAT);
        f.status &= ~(uint32_t) IPS_DST_NAT_DONE;
        ct_entry_derive_nat(&f);
        g_assert_true(f.attrs & CT_ATTR_SNAT);
        g_assert_true(f.attrs & CT_ATTR_SPAT);
        g_assert_false(f.attrs & CT_ATTR_DNAT);
        g_assert_false(f.attrs & CT_ATTR_DPAT);

        f.attrs &= ~(uint64_t) (CT_ATTR_SNAT | CT_ATTR_SPAT | CT_ATTR_STATUS);
        ct_entry_derive_nat(&f);
        g_assert_true(f.attrs & CT_ATTR_SNAT);
        g_assert_true(f.attrs & CT_ATTR_DNAT);

        /* no translation: nothing */
        f = (CtEntry) {
                .orig = tuple(AF_INET, IPPROTO_UDP, "10.1.1.1", "10.2.2.2", 53, 5353),
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS,
                .status = IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE,
        };
        ct_tuple_invert(&f.orig, &f.reply);
        ct_entry_derive_nat(&f);
        g_assert_cmphex(f.attrs, ==, CT_ATTR_REPLY | CT_ATTR_STATUS);

        /* ICMP: no port translation from the raw l4 fields */
        f = (CtEntry) {
                .orig = tuple(AF_INET, IPPROTO_ICMP, "10.1.1.1", "10.2.2.2", 8, 4660),
                .attrs = CT_ATTR_REPLY,
        };
        ct_tuple_invert(&f.orig, &f.reply);
        addr(AF_INET, "192.0.2.1", &f.reply.dst);
        ct_entry_derive_nat(&f);
        g_assert_cmphex(f.attrs, ==, CT_ATTR_REPLY | CT_ATTR_SNAT);

        /* no reply tuple: nothing to derive from */
        f = (CtEntry) { .orig = tuple(AF_INET, IPPROTO_TCP, "10.1.1.1", "10.2.2.2", 1, 2) };
        ct_entry_derive_nat(&f);
        g_assert_cmphex(f.attrs, ==, 0);
}

static void test_roundtrip_tcp_nat(void) {
        CtEntry e = make_tcp_nat();
        struct nf_conntrack *ct = NULL;

        roundtrip(&e);

        /* the library sees what the kernel would have said */
        g_assert_cmpint(ct_entry_to_nfct(&e, &ct), ==, 0);
        g_assert_cmpuint(nfct_get_attr_u32(ct, ATTR_ID), ==, 3303411414u);
        g_assert_cmpuint(nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES), ==, 1000000000000ull);
        g_assert_cmpuint(nfct_get_attr_u16(ct, ATTR_ZONE), ==, 5);
        g_assert_cmpuint(ntohs(nfct_get_attr_u16(ct, ATTR_PORT_SRC)), ==, 50000);
        g_assert_cmpuint(ntohs(nfct_get_attr_u16(ct, ATTR_SNAT_PORT)), ==, 61000);
        g_assert_cmpstr(nfct_get_attr(ct, ATTR_HELPER_NAME), ==, "ftp");
        g_assert_true(nfct_bitmask_test_bit(nfct_get_attr(ct, ATTR_CONNLABELS), 0));
        g_assert_true(nfct_bitmask_test_bit(nfct_get_attr(ct, ATTR_CONNLABELS), 95));
        g_assert_true(nfct_bitmask_test_bit(nfct_get_attr(ct, ATTR_CONNLABELS), 100));
        g_assert_false(nfct_bitmask_test_bit(nfct_get_attr(ct, ATTR_CONNLABELS), 1));
        nfct_destroy(ct);
}

static void test_roundtrip_icmpv6(void) {
        CtEntry e = {
                .orig = tuple(AF_INET6, IPPROTO_ICMPV6, "fd00::1", "2001:db8::53", 128, 4660),
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_MARK | CT_ATTR_TIMEOUT,
                .status = IPS_SEEN_REPLY | IPS_CONFIRMED,
                .timeout = 30,
                .mark = 1,
        };

        ct_tuple_invert(&e.orig, &e.reply);
        g_assert_cmpuint(e.reply.icmp.type, ==, 129);
        /* an id that NAT changed: the reply's own fields must survive, not be re-derived */
        e.reply.icmp.id = 999;
        roundtrip(&e);
}

static void test_roundtrip_sctp_dccp(void) {
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_SCTP, "10.0.0.1", "10.0.0.2", 36412, 36412),
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_SCTP_STATE,
                .status = IPS_CONFIRMED,
                .sctp = { .state = 3, .vtag_orig = 0x12345678, .vtag_repl = 0x9abcdef0 },
        };

        ct_tuple_invert(&e.orig, &e.reply);
        roundtrip(&e);

        e = (CtEntry) {
                .orig = tuple(AF_INET6, IPPROTO_DCCP, "fd00::1", "fd00::2", 5000, 6000),
                .zone = 65535,
                .attrs = CT_ATTR_DCCP_STATE | CT_ATTR_MARK,
                .dccp = { .state = 4, .role = 1 },
                .mark = 7,
        };
        roundtrip(&e);
}

static void test_roundtrip_related(void) {
        /* an FTP data connection: master tuple and the helper's expectation class */
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "10.0.0.2", "10.0.0.1", 20, 50001),
                .master = tuple(AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 39798, 21),
                .attrs = CT_ATTR_REPLY | CT_ATTR_MASTER | CT_ATTR_STATUS | CT_ATTR_TCP_STATE,
                .status = IPS_EXPECTED | IPS_CONFIRMED,
                .tcp.state = CT_TCP_SYN_SENT,
        };

        ct_tuple_invert(&e.orig, &e.reply);
        roundtrip(&e);
}

static void test_no_reply(void) {
        /* as a peer sends it: no reply tuple, NAT as attributes */
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_UDP, "192.168.1.5", "8.8.8.8", 5353, 53),
                .zone = 7,
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_SNAT | CT_ATTR_SPAT |
                         CT_ATTR_DNAT | CT_ATTR_DPAT,
                .status = IPS_SRC_NAT | IPS_SRC_NAT_DONE,
                .timeout = 120,
                .nat = { .spat_port = 2222, .dpat_port = 5353 },
        };
        struct nf_conntrack *ct = NULL;

        addr(AF_INET, "203.0.113.5", &e.nat.snat_addr);
        addr(AF_INET, "10.9.9.9", &e.nat.dnat_addr);
        roundtrip(&e);

        /* nothing synthesised */
        g_assert_cmpint(ct_entry_to_nfct(&e, &ct), ==, 0);
        g_assert_false(nfct_attr_is_set(ct, ATTR_REPL_L3PROTO));
        g_assert_false(nfct_attr_is_set(ct, ATTR_REPL_IPV4_SRC));
        g_assert_false(nfct_attr_is_set(ct, ATTR_MARK));
        g_assert_cmpuint(nfct_get_attr_u32(ct, ATTR_SNAT_IPV4), ==, e.nat.snat_addr.ip);
        nfct_destroy(ct);

        /* IPv6 NAT addresses */
        e = (CtEntry) {
                .orig = tuple(AF_INET6, IPPROTO_TCP, "fd00::5", "2001:db8::1", 40000, 443),
                .attrs = CT_ATTR_SNAT | CT_ATTR_DNAT,
        };
        addr(AF_INET6, "2001:db8:ffff::1", &e.nat.snat_addr);
        addr(AF_INET6, "fd00::80", &e.nat.dnat_addr);
        roundtrip(&e);
}

static void test_invalid(void) {
        CtEntry e = { .orig = { .l3 = 0, .l4 = IPPROTO_TCP } };
        struct nf_conntrack *ct = NULL;
        CtEntry out;

        g_assert_cmpint(ct_entry_to_nfct(&e, &ct), ==, -EAFNOSUPPORT);
        g_assert_null(ct);

        /* an object without an original tuple */
        ct = nfct_new();
        nfct_set_attr_u32(ct, ATTR_MARK, 1);
        g_assert_cmpint(ct_entry_from_nfct(ct, &out), ==, -EBADMSG);
        nfct_destroy(ct);
}

/* ---- messages ---- */

typedef union MsgBuffer {
        char buf[8192];
        struct nlmsghdr align;
} MsgBuffer;

/* The message the kernel sends for an entry (the library's builder adds the same attributes
 * ours parse; id, use, counters and timestamps are added by hand as the kernel would). */
static struct nlmsghdr *put_ct_message(void *buf, const CtEntry *e, uint16_t flags) {
        struct nf_conntrack *ct = NULL;
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
        struct nfgenmsg *nfg;
        struct nlattr *nest;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        nlh->nlmsg_flags = flags;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = e->orig.l3;
        g_assert_cmpint(ct_entry_to_nfct(e, &ct), ==, 0);
        /* the kernel never sends NAT requests */
        nfct_attr_unset(ct, ATTR_SNAT_IPV4);
        nfct_attr_unset(ct, ATTR_DNAT_IPV4);
        nfct_attr_unset(ct, ATTR_SNAT_PORT);
        nfct_attr_unset(ct, ATTR_DNAT_PORT);
        g_assert_cmpint(nfct_nlmsg_build(nlh, ct), ==, 0);
        nfct_destroy(ct);

        if (e->attrs & CT_ATTR_ID)
                mnl_attr_put_u32(nlh, CTA_ID, htonl(e->id));
        if (e->attrs & CT_ATTR_USE)
                mnl_attr_put_u32(nlh, CTA_USE, htonl(e->use));
        if (e->attrs & CT_ATTR_COUNTERS) {
                nest = mnl_attr_nest_start(nlh, CTA_COUNTERS_ORIG);
                mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(e->counters.packets_orig));
                mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(e->counters.bytes_orig));
                mnl_attr_nest_end(nlh, nest);
                nest = mnl_attr_nest_start(nlh, CTA_COUNTERS_REPLY);
                mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(e->counters.packets_repl));
                mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(e->counters.bytes_repl));
                mnl_attr_nest_end(nlh, nest);
        }
        if (e->attrs & CT_ATTR_TIMESTAMP) {
                nest = mnl_attr_nest_start(nlh, CTA_TIMESTAMP);
                mnl_attr_put_u64(nlh, CTA_TIMESTAMP_START, htobe64(e->timestamp.start));
                mnl_attr_put_u64(nlh, CTA_TIMESTAMP_STOP, htobe64(e->timestamp.stop));
                mnl_attr_nest_end(nlh, nest);
        }
        return nlh;
}

static void test_parse_message(void) {
        CtEntry e = make_tcp_nat(), out;
        MsgBuffer b = {};
        struct nlmsghdr *nlh;

        nlh = put_ct_message(b.buf, &e, NLM_F_CREATE | NLM_F_EXCL);
        g_assert_cmpint(ct_entry_from_nlmsg(nlh, &out), ==, 0);
        /* NAT attributes derived from the reply tuple, as the kernel gives no others */
        assert_entry_equal(&e, &out);
}

static void test_parse_multipart(void) {
        /* Two messages in one datagram, the second with attributes the first lacks: the parse of
         * the first must stop at its own end. */
        CtEntry a = {
                .orig = tuple(AF_INET, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 1000, 2000),
                .attrs = CT_ATTR_STATUS,
                .status = IPS_CONFIRMED,
        };
        CtEntry b2 = make_tcp_nat(), out;
        MsgBuffer b = {};
        struct nlmsghdr *first, *second;

        first = put_ct_message(b.buf, &a, NLM_F_MULTI);
        second = put_ct_message((char *) first + first->nlmsg_len, &b2, NLM_F_MULTI);

        g_assert_cmpint(ct_entry_from_nlmsg(first, &out), ==, 0);
        assert_entry_equal(&a, &out);
        g_assert_cmpint(ct_entry_from_nlmsg(second, &out), ==, 0);
        assert_entry_equal(&b2, &out);
}

static void test_parse_icmp_reply(void) {
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_ICMP, "192.168.1.20", "1.0.0.2", 8, 4660),
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_TIMEOUT,
                .status = IPS_SEEN_REPLY | IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE,
                .timeout = 29,
        }, out;
        MsgBuffer b = {};
        struct nlmsghdr *nlh;

        ct_tuple_invert(&e.orig, &e.reply);
        addr(AF_INET, "203.0.113.9", &e.reply.dst);
        e.reply.icmp.id = 17;
        ct_entry_derive_nat(&e);
        nlh = put_ct_message(b.buf, &e, 0);
        g_assert_cmpint(ct_entry_from_nlmsg(nlh, &out), ==, 0);
        assert_entry_equal(&e, &out);
        g_assert_cmpuint(out.reply.icmp.type, ==, 0);
        g_assert_cmpuint(out.reply.icmp.id, ==, 17);
}

static void test_parse_malformed(void) {
        MsgBuffer b = {};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(b.buf);
        struct nfgenmsg *nfg;
        CtEntry out;
        CtExpect xout;

        /* shorter than the nfgenmsg header */
        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
        g_assert_cmpint(ct_entry_from_nlmsg(nlh, &out), ==, -EBADMSG);
        g_assert_cmpint(ct_expect_from_nlmsg(nlh, &xout), ==, -EBADMSG);

        /* no original tuple */
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_INET;
        mnl_attr_put_u32(nlh, CTA_MARK, htonl(5));
        g_assert_cmpint(ct_entry_from_nlmsg(nlh, &out), ==, -EBADMSG);
        g_assert_cmpint(ct_expect_from_nlmsg(nlh, &xout), ==, -EBADMSG);
}

/* ---- the direct reader against the library's ---- */

static void random_addr(uint8_t l3, CtAddr *a) {
        for (unsigned i = 0; i < (l3 == AF_INET ? 1u : 4u); i++)
                a->ip6[i] = g_test_rand_int();
}

static CtTuple random_tuple(uint8_t l3, uint8_t l4) {
        CtTuple t = { .l3 = l3, .l4 = l4 };

        random_addr(l3, &t.src);
        random_addr(l3, &t.dst);
        if (ct_proto_is_icmp(l4)) {
                t.icmp.type = g_test_rand_int_range(0, 256);
                t.icmp.code = g_test_rand_int_range(0, 256);
                t.icmp.id = g_test_rand_int_range(0, 65536);
        } else if (ct_proto_has_ports(l4)) {
                t.sport = g_test_rand_int_range(0, 65536);
                t.dport = g_test_rand_int_range(0, 65536);
        }
        return t;
}

/* A kernel-like entry with a random choice of attributes (those events carry; the NAT ones are
 * derived by both readers from the reply tuple). */
static CtEntry random_entry(void) {
        static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_SCTP,
                                          IPPROTO_DCCP, IPPROTO_UDPLITE, IPPROTO_GRE };
        uint8_t l3 = g_test_rand_bit() ? AF_INET : AF_INET6;
        uint8_t l4 = protos[g_test_rand_int_range(0, G_N_ELEMENTS(protos))];
        CtEntry e = {};

#define MAYBE(bit) (g_test_rand_bit() ? (e.attrs |= (bit), true) : false)
        if (l4 == IPPROTO_ICMP && l3 == AF_INET6)
                l4 = IPPROTO_ICMPV6;
        e.orig = random_tuple(l3, l4);
        if (MAYBE(CT_ATTR_REPLY)) {
                e.reply = random_tuple(l3, l4);
                if (g_test_rand_bit()) {
                        /* mostly the plain inverse, so that NAT is derived only sometimes */
                        ct_tuple_invert(&e.orig, &e.reply);
                }
        }
        if (MAYBE(CT_ATTR_MASTER))
                e.master = random_tuple(l3, g_test_rand_bit() ? IPPROTO_TCP : IPPROTO_UDP);
        if (g_test_rand_bit())
                e.zone = g_test_rand_int_range(1, 65536);
        if (MAYBE(CT_ATTR_STATUS))
                e.status = g_test_rand_int();
        if (MAYBE(CT_ATTR_TIMEOUT))
                e.timeout = g_test_rand_int();
        if (MAYBE(CT_ATTR_MARK))
                e.mark = g_test_rand_int();
        if (MAYBE(CT_ATTR_SECMARK))
                e.secmark = g_test_rand_int();
        if (MAYBE(CT_ATTR_ID))
                e.id = g_test_rand_int();
        if (MAYBE(CT_ATTR_USE))
                e.use = g_test_rand_int();
        if (l4 == IPPROTO_TCP) {
                if (MAYBE(CT_ATTR_TCP_STATE))
                        e.tcp.state = g_test_rand_int_range(0, 10);
                if (MAYBE(CT_ATTR_TCP_WSCALE)) {
                        e.tcp.wscale_orig = g_test_rand_int_range(0, 15);
                        e.tcp.wscale_repl = g_test_rand_int_range(0, 15);
                }
                if (MAYBE(CT_ATTR_TCP_FLAGS)) {
                        e.tcp.flags_orig = g_test_rand_int_range(0, 256);
                        e.tcp.flags_repl = g_test_rand_int_range(0, 256);
                        e.tcp.mask_orig = g_test_rand_int_range(0, 256);
                        e.tcp.mask_repl = g_test_rand_int_range(0, 256);
                }
        } else if (l4 == IPPROTO_SCTP && MAYBE(CT_ATTR_SCTP_STATE)) {
                e.sctp.state = g_test_rand_int_range(0, 10);
                e.sctp.vtag_orig = g_test_rand_int();
                e.sctp.vtag_repl = g_test_rand_int();
        } else if (l4 == IPPROTO_DCCP && MAYBE(CT_ATTR_DCCP_STATE)) {
                e.dccp.state = g_test_rand_int_range(0, 10);
                e.dccp.role = g_test_rand_int_range(0, 2);
        }
        if (MAYBE(CT_ATTR_NAT_SEQ_ADJ)) {
                e.seq_adj.orig_pos = g_test_rand_int();
                e.seq_adj.orig_before = g_test_rand_int();
                e.seq_adj.orig_after = g_test_rand_int();
                e.seq_adj.repl_pos = g_test_rand_int();
                e.seq_adj.repl_before = g_test_rand_int();
                e.seq_adj.repl_after = g_test_rand_int();
        }
        if (MAYBE(CT_ATTR_HELPER)) {
                int n = g_test_rand_int_range(1, CT_HELPER_NAME_MAX);

                for (int i = 0; i < n; i++)
                        e.helper[i] = (char) g_test_rand_int_range('a', 'z' + 1);
        }
        if (MAYBE(CT_ATTR_LABELS))
                for (unsigned i = 0; i < CT_LABELS_WORDS; i++)
                        e.labels[i] = g_test_rand_int();
        if (MAYBE(CT_ATTR_SYNPROXY)) {
                e.synproxy.isn = g_test_rand_int();
                e.synproxy.its = g_test_rand_int();
                e.synproxy.tsoff = g_test_rand_int();
        }
        if (MAYBE(CT_ATTR_COUNTERS)) {
                e.counters.packets_orig = (uint64_t) g_test_rand_int() << 20 | g_test_rand_int();
                e.counters.bytes_orig = (uint64_t) g_test_rand_int() << 24 | g_test_rand_int();
                e.counters.packets_repl = g_test_rand_int();
                e.counters.bytes_repl = (uint64_t) g_test_rand_int() << 32 | g_test_rand_int();
        }
        if (MAYBE(CT_ATTR_TIMESTAMP)) {
                e.timestamp.start = (uint64_t) g_test_rand_int() << 30 | g_test_rand_int();
                e.timestamp.stop = g_test_rand_bit() ? 0 : e.timestamp.start + g_test_rand_int();
        }
#undef MAYBE
        return e;
}

static struct nlmsghdr *put_event(MsgBuffer *b, const CtEntry *e) {
        struct nlmsghdr *nlh;

        memset(b, 0, sizeof(*b));
        nlh = mnl_nlmsg_put_header(b->buf);
        ct_entry_put_message(nlh, e);
        return nlh;
}

/* Thousands of random entries: the direct reader gives what libnetfilter_conntrack gives, and
 * what was written (with the NAT attributes derived). */
static void test_direct_matches_library(void) {
        for (unsigned i = 0; i < 20000; i++) {
                CtEntry e = random_entry(), direct, lib;
                MsgBuffer b;
                struct nlmsghdr *nlh = put_event(&b, &e);

                g_assert_cmpint(ct_entry_from_nlmsg(nlh, &direct), ==, 0);
                g_assert_cmpint(ct_entry_from_nlmsg_nfct(nlh, &lib), ==, 0);
                assert_entry_equal(&lib, &direct);
                ct_entry_derive_nat(&e);
                assert_entry_equal(&e, &direct);
        }
}

/* Every strict prefix of an event, and every single-byte corruption of its attributes: the
 * direct reader refuses or reads something, and never reads outside the message (ASan). */
static void test_direct_truncated_corrupt(void) {
        CtEntry e = make_tcp_nat();
        MsgBuffer b, c;
        struct nlmsghdr *nlh = put_event(&b, &e);
        uint32_t len = nlh->nlmsg_len;
        CtEntry out;

        for (uint32_t l = 0; l < len; l++) {
                _cleanup_free_ char *copy = g_malloc(MAX(l, 1u));

                memcpy(copy, b.buf, l);
                if (l >= sizeof(struct nlmsghdr))
                        ((struct nlmsghdr *) copy)->nlmsg_len = l;
                else
                        continue;
                (void) ct_entry_from_nlmsg((struct nlmsghdr *) copy, &out);
        }
        for (uint32_t at = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(struct nfgenmsg)); at < len; at++)
                for (unsigned v = 0; v < 256; v += 17) {
                        memcpy(&c, &b, sizeof(c));
                        c.buf[at] = (char) v;
                        (void) ct_entry_from_nlmsg((struct nlmsghdr *) c.buf, &out);
                }
}

/* Not a timed test: prints how much faster the direct reader is, for the record. */
static void test_direct_speed(void) {
        CtEntry e = make_tcp_nat(), out;
        MsgBuffer b;
        struct nlmsghdr *nlh = put_event(&b, &e);
        gint64 t0, t1, t2;
        unsigned n = 50000;

        t0 = g_get_monotonic_time();
        for (unsigned i = 0; i < n; i++)
                g_assert_cmpint(ct_entry_from_nlmsg(nlh, &out), ==, 0);
        t1 = g_get_monotonic_time();
        for (unsigned i = 0; i < n; i++)
                g_assert_cmpint(ct_entry_from_nlmsg_nfct(nlh, &out), ==, 0);
        t2 = g_get_monotonic_time();
        g_test_message("%u events: direct %.3f us each, libnetfilter_conntrack %.3f us each", n,
                       (double) (t1 - t0) / n, (double) (t2 - t1) / n);
}

/* ---- expectations ---- */

static CtExpect make_expect(void) {
        CtExpect x = {
                .master = tuple(AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2", 39798, 21),
                .expected = tuple(AF_INET, IPPROTO_TCP, "10.0.0.2", "10.0.0.1", 0, 50001),
                .mask = tuple(AF_INET, IPPROTO_TCP, "255.255.255.255", "255.255.255.255", 0, 65535),
                .zone = 3,
                .attrs = CT_EXP_ATTR_TIMEOUT | CT_EXP_ATTR_FLAGS | CT_EXP_ATTR_CLASS |
                         CT_EXP_ATTR_HELPER | CT_EXP_ATTR_NAT | CT_EXP_ATTR_FN,
                .timeout = 300,
                .flags = 0x3,
                .class = 1,
                .nat_tuple = tuple(AF_INET, IPPROTO_TCP, "0.0.0.0", "192.168.1.7", 0, 50001),
                .nat_dir = 1,
                .helper = "ftp",
                .fn = "nat-follow-master",
        };
        return x;
}

static void test_expect_roundtrip(void) {
        CtExpect x = make_expect(), back;
        struct nf_expect *exp = NULL;

        g_assert_cmpint(ct_expect_to_nfexp(&x, &exp), ==, 0);
        g_assert_cmpint(ct_expect_from_nfexp(exp, &back), ==, 0);
        assert_expect_equal(&x, &back);
        nfexp_destroy(exp);

        /* the minimum: the three tuples, IPv6 */
        x = (CtExpect) {
                .master = tuple(AF_INET6, IPPROTO_UDP, "fd00::1", "fd00::2", 5060, 5060),
                .expected = tuple(AF_INET6, IPPROTO_UDP, "fd00::2", "fd00::1", 0, 40000),
                .mask = tuple(AF_INET6, IPPROTO_UDP, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                              "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 65535),
        };
        g_assert_cmpint(ct_expect_to_nfexp(&x, &exp), ==, 0);
        g_assert_cmpint(ct_expect_from_nfexp(exp, &back), ==, 0);
        assert_expect_equal(&x, &back);
        nfexp_destroy(exp);
}

static void test_expect_message(void) {
        CtExpect x = make_expect(), back;
        MsgBuffer b = {};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(b.buf);
        struct nfgenmsg *nfg;

        nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK_EXP << 8) | IPCTNL_MSG_EXP_NEW;
        nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
        nfg->nfgen_family = AF_INET;
        /* the library's builder and our completion of it (class, NAT, function) */
        g_assert_cmpint(ct_expect_put_request(nlh, &x), ==, 0);
        /* the id, which only the kernel sends */
        mnl_attr_put_u32(nlh, CTA_EXPECT_ID, htonl(77));
        x.id = 77;
        x.attrs |= CT_EXP_ATTR_ID;

        g_assert_cmpint(ct_expect_from_nlmsg(nlh, &back), ==, 0);
        assert_expect_equal(&x, &back);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/nfct-convert/derive-nat", test_derive_nat);
        g_test_add_func("/nfct-convert/roundtrip-tcp-nat", test_roundtrip_tcp_nat);
        g_test_add_func("/nfct-convert/roundtrip-icmpv6", test_roundtrip_icmpv6);
        g_test_add_func("/nfct-convert/roundtrip-sctp-dccp", test_roundtrip_sctp_dccp);
        g_test_add_func("/nfct-convert/roundtrip-related", test_roundtrip_related);
        g_test_add_func("/nfct-convert/no-reply", test_no_reply);
        g_test_add_func("/nfct-convert/invalid", test_invalid);
        g_test_add_func("/nfct-convert/parse-message", test_parse_message);
        g_test_add_func("/nfct-convert/parse-multipart", test_parse_multipart);
        g_test_add_func("/nfct-convert/parse-icmp-reply", test_parse_icmp_reply);
        g_test_add_func("/nfct-convert/parse-malformed", test_parse_malformed);
        g_test_add_func("/nfct-convert/direct-matches-library", test_direct_matches_library);
        g_test_add_func("/nfct-convert/direct-truncated-corrupt", test_direct_truncated_corrupt);
        g_test_add_func("/nfct-convert/direct-speed", test_direct_speed);
        g_test_add_func("/nfct-convert/expect-roundtrip", test_expect_roundtrip);
        g_test_add_func("/nfct-convert/expect-message", test_expect_message);

        return g_test_run();
}
