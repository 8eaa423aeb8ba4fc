/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Renderings of flows and expectations: the -i/-e plain and -x XML lines of conntrackd 1.4.7,
 * byte for byte (spec §5.3), and our JSON.
 */

#include <arpa/inet.h>
#include <glib.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <stdio.h>
#include <sys/socket.h>

#include "ct-format.h"

static void addr(int family, const char *s, CtAddr *ret) {
        *ret = (CtAddr) {};
        g_assert_cmpint(inet_pton(family, s, ret), ==, 1);
}

static CtTuple tuple(int family, uint8_t l4, const char *src, const char *dst, uint16_t sport,
                     uint16_t dport) {
        CtTuple t = { .l3 = (uint8_t) family, .l4 = l4, .sport = sport, .dport = dport };

        addr(family, src, &t.src);
        addr(family, dst, &t.dst);
        return t;
}

/* Render into a string with open_memstream(). */
static char *render_entry(const CtEntry *e, CtFormat format, const CtFormatExtra *extra) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        g_assert_nonnull(f);
        g_assert_cmpint(ct_format_entry(f, e, format, extra), ==, 0);
        g_assert_cmpint(fclose(f), ==, 0);
        return buf;
}

static char *render_expect(const CtExpect *x, CtFormat format, const CtFormatExtra *extra) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        g_assert_nonnull(f);
        g_assert_cmpint(ct_format_expect(f, x, format, extra), ==, 0);
        g_assert_cmpint(fclose(f), ==, 0);
        return buf;
}

static void assert_entry_renders(const CtEntry *e, CtFormat format, const CtFormatExtra *extra,
                                 const char *expected) {
        g_autofree char *s = render_entry(e, format, extra);

        g_assert_cmpstr(s, ==, expected);
}

static void test_format_table(void) {
        for (CtFormat f = 0; f < _CT_FORMAT_MAX; f++)
                g_assert_cmpint(ct_format_from_string(ct_format_to_string(f)), ==, f);
        g_assert_cmpstr(ct_format_to_string(CT_FORMAT_XML), ==, "xml");
        g_assert_cmpint(ct_format_from_string("XML"), ==, -EINVAL);
        g_assert_cmpint(ct_format_from_string(NULL), ==, -EINVAL);
        g_assert_null(ct_format_to_string(_CT_FORMAT_MAX));
}

/* The internal cache entry of §5.3: masqueraded, assured, with what the kernel reports (timeout,
 * id and use are not shown in plain). */
static CtEntry internal_tcp(void) {
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "192.168.1.13", "9.9.9.9", 50000, 80),
                .reply = tuple(AF_INET, IPPROTO_TCP, "9.9.9.9", "203.0.113.5", 80, 50000),
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK |
                         CT_ATTR_ID | CT_ATTR_USE | CT_ATTR_TCP_STATE | CT_ATTR_SNAT,
                .status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED | IPS_SRC_NAT |
                          IPS_SRC_NAT_DONE,
                .timeout = 431998,
                .mark = 0,
                .id = 3303411414u,
                .use = 1,
                .tcp.state = CT_TCP_ESTABLISHED,
        };

        addr(AF_INET, "203.0.113.5", &e.nat.snat_addr);
        return e;
}

static void test_plain_internal(void) {
        CtEntry e = internal_tcp();

        assert_entry_renders(&e, CT_FORMAT_PLAIN,
                &(CtFormatExtra) { .show_reply = true, .active_since_sec = 2, .expires_in_sec = -1 },
                "tcp      6 ESTABLISHED src=192.168.1.13 dst=9.9.9.9 sport=50000 dport=80 "
                "src=9.9.9.9 dst=203.0.113.5 sport=80 dport=50000 [ASSURED] mark=0 "
                "[active since 2s]\n");

        /* the caller's entry is untouched */
        g_assert_true(e.attrs & CT_ATTR_TIMEOUT);
        g_assert_true(e.attrs & CT_ATTR_ID);
}

static void test_plain_external(void) {
        /* no reply tuple (not replicated), a zone */
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "192.168.1.14", "9.9.9.10", 50001, 80),
                .zone = 7,
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK | CT_ATTR_TCP_STATE,
                .status = IPS_CONFIRMED,
                .timeout = 120,
                .tcp.state = CT_TCP_SYN_SENT,
        };

        assert_entry_renders(&e, CT_FORMAT_PLAIN,
                &(CtFormatExtra) { .show_reply = false, .active_since_sec = 2, .expires_in_sec = -1 },
                "tcp      6 SYN_SENT src=192.168.1.14 dst=9.9.9.10 sport=50001 dport=80 "
                "[UNREPLIED] mark=0 zone=7 [active since 2s]\n");
}

static void test_plain_icmp(void) {
        CtEntry e = {
                .orig = { .l3 = AF_INET, .l4 = IPPROTO_ICMP,
                          .icmp = { .type = 8, .code = 0, .id = 4660 } },
                .attrs = CT_ATTR_STATUS | CT_ATTR_MARK,
                .status = IPS_CONFIRMED,
        };

        addr(AF_INET, "192.168.1.20", &e.orig.src);
        addr(AF_INET, "1.0.0.2", &e.orig.dst);
        assert_entry_renders(&e, CT_FORMAT_PLAIN,
                &(CtFormatExtra) { .show_reply = false, .active_since_sec = 3, .expires_in_sec = -1 },
                "icmp     1 src=192.168.1.20 dst=1.0.0.2 type=8 code=0 id=4660 [UNREPLIED] mark=0 "
                "[active since 3s]\n");

        /* with its reply, the reply's own ICMP fields */
        e.attrs |= CT_ATTR_REPLY;
        e.status |= IPS_SEEN_REPLY;
        ct_tuple_invert(&e.orig, &e.reply);
        assert_entry_renders(&e, CT_FORMAT_PLAIN,
                &(CtFormatExtra) { .show_reply = true, .active_since_sec = 0, .expires_in_sec = -1 },
                "icmp     1 src=192.168.1.20 dst=1.0.0.2 type=8 code=0 id=4660 "
                "src=1.0.0.2 dst=192.168.1.20 type=0 code=0 id=4660 mark=0 [active since 0s]\n");
}

static void test_plain_alarm(void) {
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "192.168.6.1", "8.8.8.8", 1, 2),
                .attrs = CT_ATTR_STATUS | CT_ATTR_MARK | CT_ATTR_TCP_STATE,
                .status = IPS_ASSURED | IPS_CONFIRMED,
                .tcp.state = CT_TCP_ESTABLISHED,
        };

        assert_entry_renders(&e, CT_FORMAT_PLAIN,
                &(CtFormatExtra) { .show_reply = false, .active_since_sec = 3, .expires_in_sec = 5 },
                "tcp      6 ESTABLISHED src=192.168.6.1 dst=8.8.8.8 sport=1 dport=2 [UNREPLIED] "
                "[ASSURED] mark=0 [expires in 5s] [active since 3s]\n");
}

static void test_plain_stats(void) {
        /* the Stats mode line: counters, no cache bookkeeping (NULL extra) */
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "192.168.9.1", "8.8.8.8", 1, 2),
                .reply = tuple(AF_INET, IPPROTO_TCP, "8.8.8.8", "192.168.9.1", 2, 1),
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_MARK | CT_ATTR_TCP_STATE |
                         CT_ATTR_COUNTERS,
                .status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED,
                .mark = 7,
                .tcp.state = CT_TCP_ESTABLISHED,
                .counters = { .packets_orig = 3, .bytes_orig = 180,
                              .packets_repl = 2, .bytes_repl = 120 },
        };

        assert_entry_renders(&e, CT_FORMAT_PLAIN, NULL,
                "tcp      6 ESTABLISHED src=192.168.9.1 dst=8.8.8.8 sport=1 dport=2 "
                "packets=3 bytes=180 "
                "src=8.8.8.8 dst=192.168.9.1 sport=2 dport=1 packets=2 bytes=120 [ASSURED] mark=7\n");
}

static void test_xml(void) {
        /* external: empty reply meta, no id */
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_TCP, "192.168.1.10", "8.8.8.8", 40000, 443),
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK | CT_ATTR_TCP_STATE,
                .status = IPS_SEEN_REPLY | IPS_ASSURED | IPS_CONFIRMED,
                .timeout = 100,
                .mark = 153,
                .tcp.state = CT_TCP_ESTABLISHED,
        };

        assert_entry_renders(&e, CT_FORMAT_XML,
                &(CtFormatExtra) { .show_reply = false, .active_since_sec = 9, .expires_in_sec = 4 },
                "<flow><meta direction=\"original\"><layer3 protonum=\"2\" protoname=\"ipv4\">"
                "<src>192.168.1.10</src><dst>8.8.8.8</dst></layer3><layer4 protonum=\"6\" "
                "protoname=\"tcp\"><sport>40000</sport><dport>443</dport></layer4></meta>"
                "<meta direction=\"reply\"><layer3 protonum=\"0\" protoname=\"unknown\"><src></src>"
                "<dst></dst></layer3><layer4 protonum=\"0\" protoname=\"unknown\"></layer4></meta>"
                "<meta direction=\"independent\"><state>ESTABLISHED</state><mark>153</mark>"
                "<assured/></meta></flow>\n");

        /* internal: the reply tuple and the kernel's id, still no timeout and no use */
        e = internal_tcp();
        assert_entry_renders(&e, CT_FORMAT_XML,
                &(CtFormatExtra) { .show_reply = true, .active_since_sec = 9, .expires_in_sec = -1 },
                "<flow><meta direction=\"original\"><layer3 protonum=\"2\" protoname=\"ipv4\">"
                "<src>192.168.1.13</src><dst>9.9.9.9</dst></layer3><layer4 protonum=\"6\" "
                "protoname=\"tcp\"><sport>50000</sport><dport>80</dport></layer4></meta>"
                "<meta direction=\"reply\"><layer3 protonum=\"2\" protoname=\"ipv4\">"
                "<src>9.9.9.9</src><dst>203.0.113.5</dst></layer3><layer4 protonum=\"6\" "
                "protoname=\"tcp\"><sport>80</sport><dport>50000</dport></layer4></meta>"
                "<meta direction=\"independent\"><state>ESTABLISHED</state><mark>0</mark>"
                "<id>3303411414</id><assured/></meta></flow>\n");
}

static CtExpect ftp_expect(void) {
        CtExpect x = {
                .master = tuple(AF_INET, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 39798, 21),
                .expected = tuple(AF_INET, IPPROTO_TCP, "127.0.0.1", "127.0.0.1", 0, 50001),
                .mask = tuple(AF_INET, IPPROTO_TCP, "255.255.255.255", "255.255.255.255", 0, 65535),
                .attrs = CT_EXP_ATTR_TIMEOUT | CT_EXP_ATTR_FLAGS | CT_EXP_ATTR_CLASS |
                         CT_EXP_ATTR_HELPER,
                .timeout = 297,
                .flags = 0,
                .class = 0,
                .helper = "ftp",
        };
        return x;
}

static void test_expect_legacy(void) {
        CtExpect x = ftp_expect();
        g_autofree char *plain = NULL, *xml = NULL;

        plain = render_expect(&x, CT_FORMAT_PLAIN,
                &(CtFormatExtra) { .show_reply = true, .active_since_sec = 64, .expires_in_sec = -1 });
        g_assert_cmpstr(plain, ==,
                "proto=6 src=127.0.0.1 dst=127.0.0.1 sport=0 dport=50001 mask-src=255.255.255.255 "
                "mask-dst=255.255.255.255 sport=0 dport=65535 master-src=127.0.0.1 "
                "master-dst=127.0.0.1 sport=39798 dport=21 class=0 helper=ftp [active since 64s]\n");

        xml = render_expect(&x, CT_FORMAT_XML,
                &(CtFormatExtra) { .show_reply = true, .active_since_sec = 64, .expires_in_sec = -1 });
        g_assert_cmpstr(xml, ==,
                "<flow><layer3 protonum=\"2\" protoname=\"ipv4\"><expected><src>127.0.0.1</src>"
                "<dst>127.0.0.1</dst></expected><mask><src>255.255.255.255</src>"
                "<dst>255.255.255.255</dst></mask><master><src>127.0.0.1</src><dst>127.0.0.1</dst>"
                "</master></layer3><layer4 protonum=\"6\" protoname=\"tcp\"><expected>"
                "<sport>0</sport><dport>50001</dport></expected><mask><sport>0</sport>"
                "<dport>65535</dport></mask><master><sport>39798</sport><dport>21</dport></master>"
                "</layer4><meta><helper-name>ftp</helper-name><class>0</class></meta></flow>\n");
}

static void test_json_entry(void) {
        CtEntry e = internal_tcp();

        e.attrs |= CT_ATTR_LABELS | CT_ATTR_COUNTERS | CT_ATTR_HELPER | CT_ATTR_TIMESTAMP;
        e.labels[0] = 0x5;
        e.labels[3] = 0x80000000u;
        e.counters = (typeof(e.counters)) { 1, 60, 2, 120 };
        e.timestamp.start = 1700000000000000000ull;
        snprintf(e.helper, sizeof(e.helper), "ftp");
        assert_entry_renders(&e, CT_FORMAT_JSON,
                &(CtFormatExtra) { .show_reply = true, .active_since_sec = 2, .expires_in_sec = -1 },
                "{\"family\":\"ipv4\",\"proto\":\"tcp\",\"protonum\":6,"
                "\"orig\":{\"src\":\"192.168.1.13\",\"dst\":\"9.9.9.9\",\"sport\":50000,\"dport\":80},"
                "\"reply\":{\"src\":\"9.9.9.9\",\"dst\":\"203.0.113.5\",\"sport\":80,\"dport\":50000},"
                "\"zone\":0,\"state\":\"ESTABLISHED\","
                "\"status\":[\"SEEN_REPLY\",\"ASSURED\",\"CONFIRMED\",\"SRC_NAT\",\"SRC_NAT_DONE\"],"
                "\"timeout\":431998,\"mark\":0,\"id\":3303411414,\"use\":1,\"helper\":\"ftp\","
                "\"labels\":[0,2,127],\"nat\":{\"snat\":\"203.0.113.5\"},"
                "\"counters\":{\"orig\":{\"packets\":1,\"bytes\":60},"
                "\"reply\":{\"packets\":2,\"bytes\":120}},"
                "\"timestamp\":{\"start\":1700000000000000000},\"active_since\":2}\n");

        /* external IPv6 ICMP: no reply (not shown even when present), zone, unknown status bit */
        e = (CtEntry) {
                .orig = { .l3 = AF_INET6, .l4 = IPPROTO_ICMPV6,
                          .icmp = { .type = 128, .code = 0, .id = 7 } },
                .zone = 9,
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS,
                .status = IPS_CONFIRMED | (1u << 20),
        };
        addr(AF_INET6, "fd00::1", &e.orig.src);
        addr(AF_INET6, "fd00::2", &e.orig.dst);
        ct_tuple_invert(&e.orig, &e.reply);
        assert_entry_renders(&e, CT_FORMAT_JSON,
                &(CtFormatExtra) { .show_reply = false, .active_since_sec = 0, .expires_in_sec = 12 },
                "{\"family\":\"ipv6\",\"proto\":\"icmpv6\",\"protonum\":58,"
                "\"orig\":{\"src\":\"fd00::1\",\"dst\":\"fd00::2\",\"type\":128,\"code\":0,\"id\":7},"
                "\"zone\":9,\"status\":[\"CONFIRMED\",\"BIT20\"],"
                "\"expires_in\":12,\"active_since\":0}\n");
}

static void test_json_escaping(void) {
        CtEntry e = {
                .orig = tuple(AF_INET, IPPROTO_SCTP, "10.0.0.1", "10.0.0.2", 1, 2),
                .attrs = CT_ATTR_HELPER | CT_ATTR_SCTP_STATE,
                .sctp = { .state = 3, .vtag_orig = 1, .vtag_repl = 2 },
        };

        /* names may come from peers: anything but NUL */
        memcpy(e.helper, "a\"b\\c\n\x01\xe9", 9);
        assert_entry_renders(&e, CT_FORMAT_JSON, NULL,
                "{\"family\":\"ipv4\",\"proto\":\"sctp\",\"protonum\":132,"
                "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\",\"sport\":1,\"dport\":2},"
                "\"zone\":0,\"state\":\"COOKIE_ECHOED\","
                "\"helper\":\"a\\\"b\\\\c\\u000a\\u0001\\u00e9\","
                "\"sctp\":{\"vtag_orig\":1,\"vtag_reply\":2}}\n");

        /* a helper name filling the whole array, without a terminator: bounded */
        memset(e.helper, 'x', sizeof(e.helper));
        e.attrs = CT_ATTR_HELPER;
        assert_entry_renders(&e, CT_FORMAT_JSON, NULL,
                "{\"family\":\"ipv4\",\"proto\":\"sctp\",\"protonum\":132,"
                "\"orig\":{\"src\":\"10.0.0.1\",\"dst\":\"10.0.0.2\",\"sport\":1,\"dport\":2},"
                "\"zone\":0,\"helper\":\"xxxxxxxxxxxxxxxx\"}\n");
}

static void test_json_expect(void) {
        CtExpect x = ftp_expect();
        g_autofree char *s = NULL;

        x.flags = NF_CT_EXPECT_PERMANENT | NF_CT_EXPECT_USERSPACE;
        x.zone = 2;
        x.attrs |= CT_EXP_ATTR_NAT | CT_EXP_ATTR_FN | CT_EXP_ATTR_ID;
        x.nat_dir = 1;
        x.nat_tuple = (CtTuple) { .l3 = AF_INET, .l4 = IPPROTO_TCP, .dport = 50001 };
        addr(AF_INET, "192.168.1.7", &x.nat_tuple.dst);
        snprintf(x.fn, sizeof(x.fn), "nat-follow-master");
        x.id = 5;
        s = render_expect(&x, CT_FORMAT_JSON, NULL);
        g_assert_cmpstr(s, ==,
                "{\"family\":\"ipv4\",\"proto\":\"tcp\",\"protonum\":6,"
                "\"expected\":{\"src\":\"127.0.0.1\",\"dst\":\"127.0.0.1\","
                "\"sport\":0,\"dport\":50001},"
                "\"mask\":{\"src\":\"255.255.255.255\",\"dst\":\"255.255.255.255\","
                "\"sport\":0,\"dport\":65535},"
                "\"master\":{\"src\":\"127.0.0.1\",\"dst\":\"127.0.0.1\",\"sport\":39798,\"dport\":21},"
                "\"zone\":2,\"timeout\":297,\"flags\":[\"PERMANENT\",\"USERSPACE\"],"
                "\"class\":0,\"id\":5,"
                "\"helper\":\"ftp\",\"fn\":\"nat-follow-master\","
                "\"nat\":{\"dir\":1,\"tuple\":{\"src\":\"0.0.0.0\",\"dst\":\"192.168.1.7\","
                "\"sport\":0,\"dport\":50001}}}\n");
}

static void test_invalid(void) {
        CtEntry e = { .orig = { .l3 = 0 } };
        CtExpect x = {};
        char buf[64];
        FILE *f = fmemopen(buf, sizeof(buf), "w");

        g_assert_nonnull(f);
        g_assert_cmpint(ct_format_entry(f, &e, CT_FORMAT_PLAIN, NULL), ==, -EAFNOSUPPORT);
        g_assert_cmpint(ct_format_expect(f, &x, CT_FORMAT_JSON, NULL), ==, -EAFNOSUPPORT);
        e = internal_tcp();
        g_assert_cmpint(ct_format_entry(f, &e, _CT_FORMAT_MAX, NULL), ==, -EINVAL);
        g_assert_cmpint(ct_format_entry(NULL, &e, CT_FORMAT_PLAIN, NULL), ==, -EINVAL);
        fclose(f);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/ct-format/table", test_format_table);
        g_test_add_func("/ct-format/plain-internal", test_plain_internal);
        g_test_add_func("/ct-format/plain-external", test_plain_external);
        g_test_add_func("/ct-format/plain-icmp", test_plain_icmp);
        g_test_add_func("/ct-format/plain-alarm", test_plain_alarm);
        g_test_add_func("/ct-format/plain-stats", test_plain_stats);
        g_test_add_func("/ct-format/xml", test_xml);
        g_test_add_func("/ct-format/expect-legacy", test_expect_legacy);
        g_test_add_func("/ct-format/json-entry", test_json_entry);
        g_test_add_func("/ct-format/json-escaping", test_json_escaping);
        g_test_add_func("/ct-format/json-expect", test_json_expect);
        g_test_add_func("/ct-format/invalid", test_invalid);

        return g_test_run();
}
