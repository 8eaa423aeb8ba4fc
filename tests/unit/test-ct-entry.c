/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <glib.h>
#include <sys/socket.h>

#include "ct-entry.h"
#include "fake-kernel.h"

static void test_kind_table(void) {
        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                g_assert_cmpint(ct_kind_from_string(ct_kind_to_string(k)), ==, k);
        g_assert_cmpint(ct_kind_from_string("bogus"), ==, -EINVAL);
        g_assert_cmpint(ct_kind_from_string(NULL), ==, -EINVAL);
        g_assert_null(ct_kind_to_string(_CT_KIND_MAX));
}

static void test_tcp_state_table(void) {
        for (CtTcpState s = 0; s < _CT_TCP_MAX; s++)
                g_assert_cmpint(ct_tcp_state_from_string(ct_tcp_state_to_string(s)), ==, s);
        g_assert_cmpstr(ct_tcp_state_to_string(CT_TCP_SYN_SENT2), ==, "LISTEN");
        g_assert_cmpint(ct_tcp_state_from_string("established"), ==, -EINVAL);
}

static void test_identity(void) {
        CtEntry a, b;

        fake_ct_make_tcp(&a, 7);
        fake_ct_make_tcp(&b, 7);
        /* attributes outside the identity do not matter */
        b.mark = 99;
        b.id = 1234;
        b.timeout = 1;
        g_assert_true(ct_entry_same(&a, &b));
        g_assert_cmpuint(ct_entry_hash(&a, 1), ==, ct_entry_hash(&b, 1));
        /* the zone does */
        b.zone = 7;
        g_assert_false(ct_entry_same(&a, &b));
        b.zone = 0;
        b.orig.sport++;
        g_assert_false(ct_entry_same(&a, &b));
        fake_ct_make_tcp(&b, 8);
        g_assert_false(ct_entry_same(&a, &b));
}

static void test_icmp_identity_and_invert(void) {
        CtTuple t = { .l3 = AF_INET, .l4 = IPPROTO_ICMP, .icmp = { .type = 8, .code = 0, .id = 4660 } }, r;

        t.src.ip = htonl(0xc0a80114);
        t.dst.ip = htonl(0x01000002);
        ct_tuple_invert(&t, &r);
        g_assert_cmpuint(r.icmp.type, ==, 0);
        g_assert_cmpuint(r.icmp.id, ==, 4660);
        g_assert_cmpuint(r.src.ip, ==, t.dst.ip);
        g_assert_cmpuint(r.dst.ip, ==, t.src.ip);

        CtTuple u = t;
        u.icmp.id = 1;
        g_assert_false(ct_tuple_equal(&t, &u));

        CtTuple v6 = { .l3 = AF_INET6, .l4 = IPPROTO_ICMPV6, .icmp = { .type = 128 } }, v6r;
        inet_pton(AF_INET6, "fd00::1", &v6.src.in6);
        inet_pton(AF_INET6, "fd00::2", &v6.dst.in6);
        ct_tuple_invert(&v6, &v6r);
        g_assert_cmpuint(v6r.icmp.type, ==, 129);
        g_assert_true(memcmp(&v6r.src, &v6.dst, 16) == 0);
}

static void test_tcp_invert(void) {
        CtEntry e;

        fake_ct_make_tcp(&e, 3);
        g_assert_cmpuint(e.reply.sport, ==, e.orig.dport);
        g_assert_cmpuint(e.reply.dport, ==, e.orig.sport);
}

static void test_update(void) {
        CtEntry a, upd = { 0 };

        fake_ct_make_tcp(&a, 1);
        upd.orig = a.orig;
        upd.attrs = CT_ATTR_MARK | CT_ATTR_HELPER;
        upd.mark = 5;
        strcpy(upd.helper, "ftp");
        upd.timeout = 1;        /* not present: must not be copied */
        ct_entry_update(&a, &upd);
        g_assert_cmpuint(a.mark, ==, 5);
        g_assert_cmpstr(a.helper, ==, "ftp");
        g_assert_cmpuint(a.timeout, ==, 432000);
        g_assert_true(a.attrs & CT_ATTR_HELPER);
        g_assert_true(a.attrs & CT_ATTR_TIMEOUT);
}

static void test_proto(void) {
        g_assert_true(ct_proto_has_ports(IPPROTO_SCTP));
        g_assert_false(ct_proto_has_ports(IPPROTO_GRE));
        g_assert_true(ct_proto_is_icmp(IPPROTO_ICMPV6));
        g_assert_cmpstr(ct_proto_to_string(IPPROTO_ICMPV6), ==, "icmpv6");
        g_assert_cmpstr(ct_proto_to_string(253), ==, "unknown");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ct-entry/kind-table", test_kind_table);
        g_test_add_func("/ct-entry/tcp-state-table", test_tcp_state_table);
        g_test_add_func("/ct-entry/identity", test_identity);
        g_test_add_func("/ct-entry/icmp", test_icmp_identity_and_invert);
        g_test_add_func("/ct-entry/tcp-invert", test_tcp_invert);
        g_test_add_func("/ct-entry/update", test_update);
        g_test_add_func("/ct-entry/proto", test_proto);
        return g_test_run();
}
