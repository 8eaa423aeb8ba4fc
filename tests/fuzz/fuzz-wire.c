/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the replication wire decoder. Besides "no crash, no leak, no UB" it checks
 * the decoder's promises: the counters add up, every rejection is one of the documented reasons,
 * whatever decodes re-encodes, the re-encoded message decodes to the same object and encodes to
 * the same bytes again (encoding is a fixed point after one decode), and control messages come
 * back byte for byte.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"

static const WireEncodeOptions all = { .timeout = true, .tcp_wscale = true };

static int encode(const WireMessage *m, uint8_t *buf, size_t size) {
        switch (m->kind) {
        case WIRE_KIND_CT:
                return wire_encode_ct(buf, size, m->hdr.type, m->hdr.flags, m->hdr.seq, &m->ct,
                                      &all);
        case WIRE_KIND_EXPECT:
                return wire_encode_expect(buf, size, m->hdr.type, m->hdr.flags, m->hdr.seq, &m->exp,
                                          &all);
        case WIRE_KIND_CONTROL:
                return wire_encode_control(buf, size, m->hdr.flags, m->hdr.seq, m->control.from,
                                           m->control.to);
        default:
                check(!"unknown message kind");
                return -EINVAL;
        }
}

static int on_message(const WireMessage *m, const WireFrame *f, void *userdata) {
        static uint8_t a[WIRE_MESSAGE_MAX], b[WIRE_MESSAGE_MAX];
        unsigned *n = userdata;
        WireStats st = {};
        WireMessage m2;
        WireFrame f2;
        size_t off = 0;
        char flags[16];
        int ra, rb;

        (*n)++;
        check(f->hdr.version == WIRE_VERSION);
        check(f->size == f->hdr.len && f->size >= WIRE_HEADER_SIZE);
        (void) wire_flags_to_string(m->hdr.flags, flags, sizeof flags);
        check(strlen(flags) < sizeof flags);

        ra = encode(m, a, sizeof a);
        check(ra >= WIRE_HEADER_SIZE && ra % 4 == 0);

        /* the re-encoded message is one good message of the same kind, type and seq */
        check(wire_frame_next(a, ra, &off, &f2, &st) == 1);
        check(off == (size_t) ra);
        check(wire_frame_decode(&f2, WIRE_CLASSIFY_FULL, &m2, &st) == 0);
        check(st.malformed == 0);
        check(m2.kind == m->kind && m2.hdr.type == m->hdr.type && m2.hdr.seq == m->hdr.seq);
        check(m2.hdr.flags == m->hdr.flags);

        switch (m->kind) {
        case WIRE_KIND_CONTROL:
                check(m2.control.from == m->control.from && m2.control.to == m->control.to);
                /* a control message of the canonical length comes back byte for byte */
                if (f->size == (size_t) ra)
                        check(memcmp(a, f->data, ra) == 0);
                break;
        case WIRE_KIND_CT:
                check(ct_entry_same(&m->ct, &m2.ct));
                break;
        case WIRE_KIND_EXPECT:
                check(ct_expect_same(&m->exp, &m2.exp));
                break;
        default:
                break;
        }

        rb = encode(&m2, b, sizeof b);
        check(rb == ra && memcmp(a, b, ra) == 0);
        return 0;
}

static void check_stats(const WireStats *s) {
        check(s->malformed == s->bad_version + s->bad_header + s->bad_payload + s->bad_type +
                              s->truncated + s->bad_size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const WireClassify modes[] = { WIRE_CLASSIFY_FULL, WIRE_CLASSIFY_FLAGS_ONLY };

        if (size > WIRE_RECV_BUFFER_SIZE)
                return 0;

        for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
                WireStats st = {};
                unsigned n = 0, frames = 0, errors = 0;
                size_t off = 0;
                int r;

                r = wire_datagram_decode(data, size, modes[i], &st, on_message, &n);
                check(r >= 0 && (unsigned) r == n);
                check_stats(&st);

                /* the same walk by hand: every step either frames or gives one of our reasons */
                for (;;) {
                        WireFrame f;
                        WireMessage m;

                        r = wire_frame_next(data, size, &off, &f, NULL);
                        if (r == 0)
                                break;
                        check(off <= size);
                        if (r < 0) {
                                check(wire_reason_from_errno(r) >= 0);
                                errors++;
                                continue;
                        }
                        frames++;
                        r = wire_frame_decode(&f, modes[i], &m, NULL);
                        if (r < 0) {
                                check(wire_reason_from_errno(r) >= 0);
                                errors++;
                        }
                }
                check(frames >= n);
                check(st.malformed == errors);
                check(frames - n + (st.malformed - st.bad_header - st.bad_type - st.bad_payload) ==
                      errors);
        }
        return 0;
}
