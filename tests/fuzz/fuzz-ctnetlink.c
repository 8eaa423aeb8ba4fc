/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the reader of ctnetlink conntrack messages (ct_entry_from_nlmsg(), which
 * reads every kernel event, dump part and get reply). The input is one netlink message, its length
 * field set to the input's size. Besides "no crash, no leak, no UB" it checks: a rejection is one
 * of the documented errors; whatever is read, written back as the kernel's message and read again,
 * gives the same entry (reading is a fixed point after one pass).
 */

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "nfct-convert.h"

typedef union Buffer {
        char buf[8192];
        struct nlmsghdr align;
} Buffer;

static bool tuple_equal(const CtTuple *a, const CtTuple *b) {
        size_t alen = a->l3 == AF_INET ? 4 : 16;

        return a->l3 == b->l3 && a->l4 == b->l4 && memcmp(&a->src, &b->src, alen) == 0 &&
               memcmp(&a->dst, &b->dst, alen) == 0 && a->sport == b->sport && a->dport == b->dport;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Buffer in, out;
        CtEntry e, again;
        struct nlmsghdr *nlh;
        int r;

        if (size < sizeof(struct nlmsghdr) || size > sizeof(in.buf))
                return 0;
        /* a copy of exactly the input's size, so that ASan sees any read beyond it */
        {
                char *copy = malloc(size);

                check(copy);
                memcpy(copy, data, size);
                ((struct nlmsghdr *) copy)->nlmsg_len = (uint32_t) size;
                r = ct_entry_from_nlmsg((const struct nlmsghdr *) copy, &e);
                free(copy);
        }
        if (r < 0) {
                check(r == -EBADMSG || r == -EAFNOSUPPORT);
                return 0;
        }
        check(e.orig.l3 == AF_INET || e.orig.l3 == AF_INET6);
        check(e.helper[sizeof(e.helper) - 1] == 0);

        memset(&out, 0, sizeof(out));
        nlh = mnl_nlmsg_put_header(out.buf);
        ct_entry_put_message(nlh, &e);
        check(ct_entry_from_nlmsg(nlh, &again) == 0);
        check(again.attrs == e.attrs);
        check(tuple_equal(&again.orig, &e.orig));
        if (e.attrs & CT_ATTR_REPLY)
                check(tuple_equal(&again.reply, &e.reply));
        check(again.zone == e.zone && again.status == e.status && again.timeout == e.timeout &&
              again.mark == e.mark && again.id == e.id);
        check(memcmp(&again.counters, &e.counters, sizeof(e.counters)) == 0);
        check(memcmp(again.labels, e.labels, sizeof(e.labels)) == 0);
        check(strcmp(again.helper, e.helper) == 0);
        check(memcmp(&again.seq_adj, &e.seq_adj, sizeof(e.seq_adj)) == 0);
        check(again.timestamp.start == e.timestamp.start && again.timestamp.stop == e.timestamp.stop);
        return 0;
}
