/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ct-flood: create (and optionally destroy) many conntrack entries as fast as netlink allows, to
 * provoke event storms. Test helper only.
 *   ct-flood create N [BASE]    TCP flows 10.<b>.<x>.<y>:port -> 192.168.0.1:80, ESTABLISHED
 *   ct-flood delete N [BASE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

static void fill(struct nf_conntrack *ct, unsigned i, unsigned base) {
        uint32_t src = htonl(0x0a000000u | ((base & 0xffu) << 16) | (i & 0xffffu));

        nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
        nfct_set_attr_u32(ct, ATTR_IPV4_SRC, src);
        nfct_set_attr_u32(ct, ATTR_IPV4_DST, htonl(0xc0a80001u));
        nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_TCP);
        nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons((uint16_t) (1024 + (i >> 16))));
        nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(80));
        nfct_setobjopt(ct, NFCT_SOPT_SETUP_REPLY);
        nfct_set_attr_u8(ct, ATTR_TCP_STATE, TCP_CONNTRACK_ESTABLISHED);
        nfct_set_attr_u32(ct, ATTR_TIMEOUT, 600);
        nfct_set_attr_u32(ct, ATTR_STATUS, IPS_ASSURED | IPS_SEEN_REPLY);
}

int main(int argc, char **argv) {
        struct nfct_handle *h;
        unsigned n, base, failed = 0;
        bool create;

        if (argc < 3 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "delete") != 0)) {
                fprintf(stderr, "usage: ct-flood create|delete N [BASE]\n");
                return 2;
        }
        create = strcmp(argv[1], "create") == 0;
        n = (unsigned) strtoul(argv[2], NULL, 10);
        base = argc > 3 ? (unsigned) strtoul(argv[3], NULL, 10) : 1;

        h = nfct_open(CONNTRACK, 0);
        if (!h) {
                perror("nfct_open");
                return 1;
        }
        for (unsigned i = 0; i < n; i++) {
                struct nf_conntrack *ct = nfct_new();

                if (!ct)
                        return 1;
                fill(ct, i, base);
                if (nfct_query(h, create ? NFCT_Q_CREATE : NFCT_Q_DESTROY, ct) < 0)
                        failed++;
                nfct_destroy(ct);
        }
        nfct_close(h);
        printf("%s %u flows, %u failed\n", create ? "created" : "deleted", n - failed, failed);
        return 0;
}
