/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <glib.h>
#include <sys/socket.h>

#include "filter.h"

/* A flow src -> dst of the given family and protocol; reply = inverted original unless NAT is
 * simulated with 'reply_src'. */
static CtEntry make_ct(int family, uint8_t l4, const char *src, const char *dst, const char *reply_src) {
        CtEntry e = { .attrs = CT_ATTR_REPLY };

        e.orig = (CtTuple) { .l3 = (uint8_t) family, .l4 = l4, .sport = 1234, .dport = 80 };
        g_assert_cmpint(inet_pton(family, src, &e.orig.src), ==, 1);
        g_assert_cmpint(inet_pton(family, dst, &e.orig.dst), ==, 1);
        ct_tuple_invert(&e.orig, &e.reply);
        if (reply_src)
                g_assert_cmpint(inet_pton(family, reply_src, &e.reply.src), ==, 1);
        return e;
}

static FilterConfig *new_filter(void) {
        FilterConfig *f = NULL;

        g_assert_cmpint(filter_config_new(&f), ==, 0);
        g_assert_nonnull(f);
        return f;
}

static void add_net(FilterConfig *f, const char *s) {
        FilterNetwork n;

        g_assert_cmpint(filter_network_parse(s, &n), ==, 0);
        g_assert_cmpint(filter_config_add_network(f, &n), ==, 0);
}

static void test_policy_table(void) {
        for (FilterPolicy p = 0; p < _FILTER_POLICY_MAX; p++)
                g_assert_cmpint(filter_policy_from_string(filter_policy_to_string(p)), ==, p);
        g_assert_cmpstr(filter_policy_to_string(FILTER_IGNORE), ==, "ignore");
        g_assert_cmpint(filter_policy_from_string("Accept"), ==, -EINVAL);
        g_assert_cmpint(filter_policy_from_string(NULL), ==, -EINVAL);
        g_assert_null(filter_policy_to_string(_FILTER_POLICY_MAX));
}

static void test_network_parse(void) {
        FilterNetwork n;
        char buf[INET6_ADDRSTRLEN];

        g_assert_cmpint(filter_network_parse("10.1.2.3/8", &n), ==, 0);
        g_assert_cmpint(n.family, ==, AF_INET);
        g_assert_cmpuint(n.prefixlen, ==, 8);
        g_assert_cmpstr(inet_ntop(AF_INET, &n.addr, buf, sizeof(buf)), ==, "10.0.0.0");

        g_assert_cmpint(filter_network_parse("192.168.1.1", &n), ==, 0);
        g_assert_cmpuint(n.prefixlen, ==, 32);
        g_assert_cmpstr(inet_ntop(AF_INET, &n.addr, buf, sizeof(buf)), ==, "192.168.1.1");

        g_assert_cmpint(filter_network_parse("192.168.1.77/27", &n), ==, 0);
        g_assert_cmpstr(inet_ntop(AF_INET, &n.addr, buf, sizeof(buf)), ==, "192.168.1.64");

        g_assert_cmpint(filter_network_parse("1.2.3.4/0", &n), ==, 0);
        g_assert_cmpuint(n.prefixlen, ==, 0);
        g_assert_cmpuint(n.addr.ip, ==, 0);

        g_assert_cmpint(filter_network_parse("fe80::1:2/10", &n), ==, 0);
        g_assert_cmpint(n.family, ==, AF_INET6);
        g_assert_cmpuint(n.prefixlen, ==, 10);
        g_assert_cmpstr(inet_ntop(AF_INET6, &n.addr, buf, sizeof(buf)), ==, "fe80::");

        g_assert_cmpint(filter_network_parse("2001:db8::ffff/127", &n), ==, 0);
        g_assert_cmpstr(inet_ntop(AF_INET6, &n.addr, buf, sizeof(buf)), ==, "2001:db8::fffe");

        g_assert_cmpint(filter_network_parse("::1", &n), ==, 0);
        g_assert_cmpuint(n.prefixlen, ==, 128);

        static const char *const bad[] = {
                "", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/0x8",
                "10.0.0.0/8/8", "10.0.0", "10.0.0.256", "fe80::/129", "fe80:::1", "host.example",
                "10.0.0.0/0008", "10.0.0.0 /8",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                if (filter_network_parse(bad[i], &n) != -EINVAL)
                        g_error("'%s' should be rejected", bad[i]);
        }
        g_assert_cmpint(filter_network_parse(NULL, &n), ==, -EINVAL);
}

static void test_add_network(void) {
        FilterConfig *f = new_filter();
        FilterNetwork n = { .family = AF_INET, .prefixlen = 24 };

        /* host bits are cleared on insertion too */
        inet_pton(AF_INET, "10.9.8.7", &n.addr);
        g_assert_cmpint(filter_config_add_network(f, &n), ==, 0);
        g_assert_cmpuint(f->networks[0].addr.ip, ==, htonl(0x0a090800));

        n.prefixlen = 33;
        g_assert_cmpint(filter_config_add_network(f, &n), ==, -EINVAL);
        n.family = AF_UNIX;
        n.prefixlen = 8;
        g_assert_cmpint(filter_config_add_network(f, &n), ==, -EINVAL);

        /* many networks: growth keeps every entry */
        for (unsigned i = 0; i < 1000; i++) {
                FilterNetwork m = { .family = AF_INET, .prefixlen = 32, .addr.ip = htonl(0xc0000000 + i) };
                g_assert_cmpint(filter_config_add_network(f, &m), ==, 0);
        }
        g_assert_cmpuint(f->n_networks, ==, 1001);
        for (unsigned i = 0; i < 1000; i++)
                g_assert_cmpuint(f->networks[i + 1].addr.ip, ==, htonl(0xc0000000 + i));
        filter_config_free(f);
}

static void test_null_filter(void) {
        CtEntry e = make_ct(AF_INET, IPPROTO_TCP, "1.2.3.4", "5.6.7.8", NULL);
        CtExpect x = { .master = e.orig };

        g_assert_true(filter_match_ct(NULL, &e));
        g_assert_true(filter_match_expect(NULL, &x));
        g_assert_null(filter_config_free(NULL));

        /* an empty clause (no set) lets everything through */
        FilterConfig *f = new_filter();
        g_assert_true(filter_match_ct(f, &e));
        g_assert_true(filter_match_expect(f, &x));
        filter_config_free(f);
}

static void test_cidr_v4(void) {
        FilterConfig *f = new_filter();
        CtEntry e;

        f->address_policy = FILTER_ACCEPT;
        add_net(f, "10.0.0.0/8");
        add_net(f, "192.168.1.7");

        e = make_ct(AF_INET, IPPROTO_UDP, "10.200.3.4", "8.8.8.8", NULL);
        g_assert_true(filter_match_ct(f, &e));
        e = make_ct(AF_INET, IPPROTO_UDP, "11.0.0.1", "8.8.8.8", NULL);
        g_assert_false(filter_match_ct(f, &e));
        /* /32: only that address */
        e = make_ct(AF_INET, IPPROTO_UDP, "192.168.1.7", "8.8.8.8", NULL);
        g_assert_true(filter_match_ct(f, &e));
        e = make_ct(AF_INET, IPPROTO_UDP, "192.168.1.8", "8.8.8.8", NULL);
        g_assert_false(filter_match_ct(f, &e));
        /* an IPv6 flow never matches IPv4 networks */
        e = make_ct(AF_INET6, IPPROTO_UDP, "::a00:1", "::1", NULL);
        g_assert_false(filter_match_ct(f, &e));
        filter_config_free(f);

        /* /0 matches every IPv4 address and no IPv6 one */
        f = new_filter();
        f->address_policy = FILTER_ACCEPT;
        add_net(f, "0.0.0.0/0");
        e = make_ct(AF_INET, IPPROTO_UDP, "255.255.255.255", "1.1.1.1", NULL);
        g_assert_true(filter_match_ct(f, &e));
        e = make_ct(AF_INET6, IPPROTO_UDP, "2001:db8::1", "2001:db8::2", NULL);
        g_assert_false(filter_match_ct(f, &e));
        filter_config_free(f);

        /* odd prefix lengths */
        f = new_filter();
        f->address_policy = FILTER_ACCEPT;
        add_net(f, "172.16.0.0/12");
        e = make_ct(AF_INET, IPPROTO_UDP, "172.31.255.255", "1.1.1.1", NULL);
        g_assert_true(filter_match_ct(f, &e));
        e = make_ct(AF_INET, IPPROTO_UDP, "172.32.0.0", "1.1.1.1", NULL);
        g_assert_false(filter_match_ct(f, &e));
        e = make_ct(AF_INET, IPPROTO_UDP, "172.15.255.255", "1.1.1.1", NULL);
        g_assert_false(filter_match_ct(f, &e));
        filter_config_free(f);
}

static void test_cidr_v6(void) {
        FilterConfig *f = new_filter();
        CtEntry e;

        f->address_policy = FILTER_ACCEPT;
        add_net(f, "fe80::/10");
        add_net(f, "2001:db8::5");

        e = make_ct(AF_INET6, IPPROTO_TCP, "febf::1", "2001:db8::1", NULL);
        g_assert_true(filter_match_ct(f, &e));
        e = make_ct(AF_INET6, IPPROTO_TCP, "fec0::1", "2001:db8::1", NULL);
        g_assert_false(filter_match_ct(f, &e));
        /* /128 */
        e = make_ct(AF_INET6, IPPROTO_TCP, "2001:db8::5", "2001:db8::1", NULL);
        g_assert_true(filter_match_ct(f, &e));
        e = make_ct(AF_INET6, IPPROTO_TCP, "2001:db8::4", "2001:db8::1", NULL);
        g_assert_false(filter_match_ct(f, &e));
        /* an IPv4 flow never matches IPv6 networks */
        e = make_ct(AF_INET, IPPROTO_TCP, "1.2.3.4", "5.6.7.8", NULL);
        g_assert_false(filter_match_ct(f, &e));
        filter_config_free(f);

        f = new_filter();
        f->address_policy = FILTER_ACCEPT;
        add_net(f, "::/0");
        e = make_ct(AF_INET6, IPPROTO_TCP, "ffff::1", "::1", NULL);
        g_assert_true(filter_match_ct(f, &e));
        e = make_ct(AF_INET, IPPROTO_TCP, "0.0.0.0", "5.6.7.8", NULL);
        g_assert_false(filter_match_ct(f, &e));
        filter_config_free(f);
}

static void test_accept_ignore(void) {
        FilterConfig *f = new_filter();
        CtEntry in = make_ct(AF_INET, IPPROTO_TCP, "127.0.0.1", "10.0.0.1", NULL);
        CtEntry out = make_ct(AF_INET, IPPROTO_TCP, "192.0.2.1", "198.51.100.1", NULL);

        add_net(f, "127.0.0.0/8");
        f->address_policy = FILTER_ACCEPT;
        g_assert_true(filter_match_ct(f, &in));
        g_assert_false(filter_match_ct(f, &out));
        f->address_policy = FILTER_IGNORE;
        g_assert_false(filter_match_ct(f, &in));
        g_assert_true(filter_match_ct(f, &out));
        filter_config_free(f);
}

static void test_reply_source(void) {
        FilterConfig *f = new_filter();
        CtEntry e;

        f->address_policy = FILTER_IGNORE;
        add_net(f, "10.0.0.1");

        /* the firewall's own address as the reply source (DNAT to it / traffic to it) */
        e = make_ct(AF_INET, IPPROTO_TCP, "192.0.2.9", "10.0.0.1", NULL);
        g_assert_false(filter_match_ct(f, &e));
        /* behind DNAT: original destination is a VIP, the real server answers */
        e = make_ct(AF_INET, IPPROTO_TCP, "192.0.2.9", "198.51.100.1", "10.0.0.1");
        g_assert_false(filter_match_ct(f, &e));
        /* without a reply tuple only the original source counts */
        e = make_ct(AF_INET, IPPROTO_TCP, "192.0.2.9", "10.0.0.1", NULL);
        e.attrs &= ~(uint64_t) CT_ATTR_REPLY;
        g_assert_true(filter_match_ct(f, &e));
        /* the original destination alone does not count: reply source rewritten by DNAT */
        e = make_ct(AF_INET, IPPROTO_TCP, "192.0.2.9", "10.0.0.1", "198.51.100.7");
        g_assert_true(filter_match_ct(f, &e));
        filter_config_free(f);
}

static void test_tcp_states(void) {
        FilterConfig *f = new_filter();
        CtEntry e = make_ct(AF_INET, IPPROTO_TCP, "1.1.1.1", "2.2.2.2", NULL);
        CtEntry u = make_ct(AF_INET, IPPROTO_UDP, "1.1.1.1", "2.2.2.2", NULL);

        f->state_policy = FILTER_ACCEPT;
        f->tcp_states[CT_TCP_ESTABLISHED] = true;
        f->tcp_states[CT_TCP_CLOSE] = true;

        e.attrs |= CT_ATTR_TCP_STATE;
        e.tcp.state = CT_TCP_ESTABLISHED;
        g_assert_true(filter_match_ct(f, &e));
        e.tcp.state = CT_TCP_SYN_SENT;
        g_assert_false(filter_match_ct(f, &e));
        e.tcp.state = CT_TCP_CLOSE;
        g_assert_true(filter_match_ct(f, &e));
        /* a state the kernel may add later is never in the set */
        e.tcp.state = 200;
        g_assert_false(filter_match_ct(f, &e));
        /* TCP without a state: the set does not apply */
        e.attrs &= ~(uint64_t) CT_ATTR_TCP_STATE;
        e.tcp.state = CT_TCP_SYN_SENT;
        g_assert_true(filter_match_ct(f, &e));
        /* other protocols: never affected, even if the tcp field happens to hold something */
        u.attrs |= CT_ATTR_TCP_STATE;
        u.tcp.state = CT_TCP_SYN_SENT;
        g_assert_true(filter_match_ct(f, &u));

        f->state_policy = FILTER_IGNORE;
        e.attrs |= CT_ATTR_TCP_STATE;
        e.tcp.state = CT_TCP_ESTABLISHED;
        g_assert_false(filter_match_ct(f, &e));
        e.tcp.state = CT_TCP_TIME_WAIT;
        g_assert_true(filter_match_ct(f, &e));
        g_assert_true(filter_match_ct(f, &u));
        filter_config_free(f);
}

static void test_protocols(void) {
        FilterConfig *f = new_filter();
        CtEntry tcp = make_ct(AF_INET, IPPROTO_TCP, "1.1.1.1", "2.2.2.2", NULL);
        CtEntry udp = make_ct(AF_INET, IPPROTO_UDP, "1.1.1.1", "2.2.2.2", NULL);
        CtEntry sctp = make_ct(AF_INET6, IPPROTO_SCTP, "::1", "::2", NULL);

        f->protocol_policy = FILTER_ACCEPT;
        f->protocols[IPPROTO_TCP] = true;
        f->protocols[IPPROTO_SCTP] = true;
        g_assert_true(filter_match_ct(f, &tcp));
        g_assert_false(filter_match_ct(f, &udp));
        g_assert_true(filter_match_ct(f, &sctp));

        f->protocol_policy = FILTER_IGNORE;
        g_assert_false(filter_match_ct(f, &tcp));
        g_assert_true(filter_match_ct(f, &udp));
        g_assert_false(filter_match_ct(f, &sctp));

        /* Accept with an empty set: nothing passes */
        memset(f->protocols, 0, sizeof(f->protocols));
        f->protocol_policy = FILTER_ACCEPT;
        g_assert_false(filter_match_ct(f, &tcp));
        filter_config_free(f);
}

static void test_and(void) {
        FilterConfig *f = new_filter();
        CtEntry e = make_ct(AF_INET, IPPROTO_TCP, "10.1.1.1", "8.8.8.8", NULL);

        f->protocol_policy = FILTER_ACCEPT;
        f->protocols[IPPROTO_TCP] = true;
        f->address_policy = FILTER_ACCEPT;
        add_net(f, "10.0.0.0/8");
        f->state_policy = FILTER_ACCEPT;
        f->tcp_states[CT_TCP_ESTABLISHED] = true;
        e.attrs |= CT_ATTR_TCP_STATE;
        e.tcp.state = CT_TCP_ESTABLISHED;

        g_assert_true(filter_match_ct(f, &e));
        /* each set alone can veto */
        e.tcp.state = CT_TCP_SYN_RECV;
        g_assert_false(filter_match_ct(f, &e));
        e.tcp.state = CT_TCP_ESTABLISHED;
        e.orig.src.ip = htonl(0x0b010101);
        g_assert_false(filter_match_ct(f, &e));
        e.orig.src.ip = htonl(0x0a010101);
        e.orig.l4 = IPPROTO_UDP;
        g_assert_false(filter_match_ct(f, &e));
        /* UDP passes the state set but not the protocol set */
        f->protocols[IPPROTO_UDP] = true;
        g_assert_true(filter_match_ct(f, &e));
        filter_config_free(f);
}

static void test_expect(void) {
        FilterConfig *f = new_filter();
        CtExpect x = {};
        CtEntry master = make_ct(AF_INET, IPPROTO_TCP, "192.0.2.1", "10.0.0.1", NULL);

        x.master = master.orig;
        x.expected = (CtTuple) { .l3 = AF_INET, .l4 = IPPROTO_TCP, .dport = 20000 };

        f->protocol_policy = FILTER_ACCEPT;
        f->protocols[IPPROTO_TCP] = true;
        g_assert_true(filter_match_expect(f, &x));
        f->protocols[IPPROTO_TCP] = false;
        f->protocols[IPPROTO_UDP] = true;
        g_assert_false(filter_match_expect(f, &x));
        f->protocol_policy = FILTER_NONE;

        /* master source or destination (the master's reply source) */
        f->address_policy = FILTER_IGNORE;
        add_net(f, "10.0.0.1");
        g_assert_false(filter_match_expect(f, &x));
        f->address_policy = FILTER_ACCEPT;
        g_assert_true(filter_match_expect(f, &x));
        x.master.dst.ip = htonl(0x0a000002);
        g_assert_false(filter_match_expect(f, &x));

        /* the state set never drops an expectation */
        f->address_policy = FILTER_NONE;
        f->state_policy = FILTER_ACCEPT;
        g_assert_true(filter_match_expect(f, &x));
        filter_config_free(f);
}

static void test_dup(void) {
        FilterConfig *f = new_filter(), *d = NULL;
        CtEntry e = make_ct(AF_INET, IPPROTO_TCP, "10.1.1.1", "8.8.8.8", NULL);

        f->kernelspace = true;
        f->address_policy = FILTER_IGNORE;
        add_net(f, "10.0.0.0/8");
        add_net(f, "fe80::/10");
        f->protocols[IPPROTO_GRE] = true;
        g_assert_cmpint(filter_config_dup(f, &d), ==, 0);
        g_assert_true(d->networks != f->networks);
        g_assert_cmpuint(d->n_networks, ==, 2);
        g_assert_true(memcmp(d->networks, f->networks, 2 * sizeof(FilterNetwork)) == 0);
        g_assert_true(d->kernelspace);
        g_assert_true(d->protocols[IPPROTO_GRE]);
        filter_config_free(f);
        /* the copy lives on its own */
        g_assert_false(filter_match_ct(d, &e));
        filter_config_free(d);

        f = new_filter();
        g_assert_cmpint(filter_config_dup(f, &d), ==, 0);
        g_assert_null(d->networks);
        filter_config_free(f);
        filter_config_free(d);
        g_assert_cmpint(filter_config_dup(NULL, &d), ==, -EINVAL);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/filter/policy-table", test_policy_table);
        g_test_add_func("/filter/network-parse", test_network_parse);
        g_test_add_func("/filter/add-network", test_add_network);
        g_test_add_func("/filter/null", test_null_filter);
        g_test_add_func("/filter/cidr-v4", test_cidr_v4);
        g_test_add_func("/filter/cidr-v6", test_cidr_v6);
        g_test_add_func("/filter/accept-ignore", test_accept_ignore);
        g_test_add_func("/filter/reply-source", test_reply_source);
        g_test_add_func("/filter/tcp-states", test_tcp_states);
        g_test_add_func("/filter/protocols", test_protocols);
        g_test_add_func("/filter/and", test_and);
        g_test_add_func("/filter/expect", test_expect);
        g_test_add_func("/filter/dup", test_dup);
        return g_test_run();
}
