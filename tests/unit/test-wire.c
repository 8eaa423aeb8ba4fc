/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The replication wire format against conntrackd 1.4.7's own traffic (tests/data/wire/, extracted
 * from spec/captures by tools/pcap-extract.py) and against hand-made malformed messages.
 */

#include <arpa/inet.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "wire.h"

/* ---- helpers ---- */

static GBytes *hex_to_bytes(const char *hex) {
        GByteArray *a = g_byte_array_new();
        int hi = -1;

        for (const char *p = hex; *p; p++) {
                int v = g_ascii_xdigit_value(*p);

                if (v < 0) {
                        g_assert_true(g_ascii_isspace(*p));
                        continue;
                }
                if (hi < 0)
                        hi = v;
                else {
                        guint8 b = (guint8) (hi << 4 | v);

                        g_byte_array_append(a, &b, 1);
                        hi = -1;
                }
        }
        g_assert_cmpint(hi, ==, -1);
        return g_byte_array_free_to_bytes(a);
}

static char *data_dir(void) {
        const char *top = g_getenv("TOP_SRCDIR");

        if (!top)
                return NULL;
        return g_build_filename(top, "tests", "data", "wire", NULL);
}

/* The datagram of tests/data/wire/<name>.hex, or NULL (test skipped) without TOP_SRCDIR. */
static GBytes *load_vector(const char *name) {
        g_autofree char *dir = data_dir(), *file = NULL, *path = NULL, *text = NULL;
        g_autoptr(GError) error = NULL;

        if (!dir) {
                g_test_skip("TOP_SRCDIR is not set (run with meson test): no test vectors");
                return NULL;
        }
        file = g_strconcat(name, ".hex", NULL);
        path = g_build_filename(dir, file, NULL);
        g_assert_true(g_file_get_contents(path, &text, NULL, &error));
        g_assert_no_error(error);
        return hex_to_bytes(text);
}

static int cmp_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Sorted names (without .hex) of the vectors whose name starts with prefix. */
static GPtrArray *list_vectors(const char *prefix) {
        g_autofree char *dir = data_dir();
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) d = NULL;
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *n;

        g_assert_nonnull(dir);
        d = g_dir_open(dir, 0, &error);
        g_assert_no_error(error);
        while ((n = g_dir_read_name(d)))
                if (g_str_has_prefix(n, prefix) && g_str_has_suffix(n, ".hex"))
                        g_ptr_array_add(names, g_strndup(n, strlen(n) - 4));
        g_ptr_array_sort(names, cmp_names);
        return names;
}

static bool contains(const uint8_t *buf, size_t size, const void *needle, size_t n) {
        for (size_t i = 0; i + n <= size; i++)
                if (memcmp(buf + i, needle, n) == 0)
                        return true;
        return false;
}

/* The attribute ids of a message, in order. */
static GArray *attr_ids(const uint8_t *msg, size_t len) {
        GArray *ids = g_array_new(FALSE, FALSE, sizeof(int));

        for (size_t off = WIRE_HEADER_SIZE; off + 4 <= len;) {
                int id = msg[off + 2] << 8 | msg[off + 3];
                size_t alen = (size_t) (msg[off] << 8 | msg[off + 1]);

                g_array_append_val(ids, id);
                g_assert_cmpuint(alen, >=, 4);
                off += WIRE_ALIGN(alen);
        }
        return ids;
}

static void assert_ids(const uint8_t *msg, size_t len, const int *expected, size_t n) {
        g_autoptr(GArray) ids = attr_ids(msg, len);

        g_assert_cmpuint(ids->len, ==, n);
        for (size_t i = 0; i < n; i++)
                g_assert_cmpint(g_array_index(ids, int, i), ==, expected[i]);
}

/* Re-encode a decoded message as 1.4.7 would (options taken from what the message carries). */
static int reencode(const WireMessage *m, uint8_t *buf, size_t size) {
        WireEncodeOptions o = { .timeout = true, .tcp_wscale = true };

        switch (m->kind) {
        case WIRE_KIND_CT:
                return wire_encode_ct(buf, size, m->hdr.type, m->hdr.flags, m->hdr.seq, &m->ct, &o);
        case WIRE_KIND_EXPECT:
                return wire_encode_expect(buf, size, m->hdr.type, m->hdr.flags, m->hdr.seq, &m->exp,
                                          &o);
        case WIRE_KIND_CONTROL:
                return wire_encode_control(buf, size, m->hdr.flags, m->hdr.seq, m->control.from,
                                           m->control.to);
        default:
                g_assert_not_reached();
        }
}

typedef struct Walk {
        unsigned n_ct, n_exp, n_control;
        GPtrArray *messages;    /* GBytes of the re-encoded data messages, if not NULL */
} Walk;

static int on_message_roundtrip(const WireMessage *m, const WireFrame *f, void *userdata) {
        Walk *w = userdata;
        uint8_t buf[WIRE_MESSAGE_MAX];
        int r;

        r = reencode(m, buf, sizeof buf);
        g_assert_cmpint(r, >, 0);
        if ((size_t) r != f->size || memcmp(buf, f->data, f->size) != 0) {
                GString *a = g_string_new(NULL), *b = g_string_new(NULL);

                for (size_t i = 0; i < f->size; i++)
                        g_string_append_printf(a, "%02x", f->data[i]);
                for (int i = 0; i < r; i++)
                        g_string_append_printf(b, "%02x", buf[i]);
                g_test_message("captured: %s", a->str);
                g_test_message("encoded:  %s", b->str);
                g_string_free(a, TRUE);
                g_string_free(b, TRUE);
        }
        g_assert_cmpmem(buf, r, f->data, f->size);

        switch (m->kind) {
        case WIRE_KIND_CT:
                w->n_ct++;
                break;
        case WIRE_KIND_EXPECT:
                w->n_exp++;
                break;
        default:
                w->n_control++;
                break;
        }
        if (w->messages && m->kind != WIRE_KIND_CONTROL)
                g_ptr_array_add(w->messages, g_bytes_new(buf, r));
        return 0;
}

/* ---- string tables ---- */

static void test_tables(void) {
        unsigned n = 0;

        for (WireType t = 0; t < _WIRE_TYPE_MAX; t++) {
                const char *s = wire_type_to_string(t);

                if (!s)
                        continue;
                n++;
                g_assert_cmpint(wire_type_from_string(s), ==, t);
        }
        g_assert_cmpuint(n, ==, 7);
        g_assert_null(wire_type_to_string(7));
        g_assert_cmpint(wire_type_from_string("bogus"), ==, -EINVAL);

        for (WireFlagBit b = 0; b < _WIRE_FLAG_BIT_MAX; b++)
                g_assert_cmpint(wire_flag_bit_from_string(wire_flag_bit_to_string(b)), ==, b);
        g_assert_cmpint(wire_flag_bit_from_string(NULL), ==, -EINVAL);

        for (WireReason r = 0; r < _WIRE_REASON_MAX; r++) {
                int e = wire_reason_to_errno(r);

                g_assert_cmpint(wire_reason_from_string(wire_reason_to_string(r)), ==, r);
                g_assert_cmpint(e, <, 0);
                /* every reason has its own errno */
                g_assert_cmpint(wire_reason_from_errno(e), ==, r);
        }
        g_assert_cmpint(wire_reason_from_errno(-ENOBUFS), ==, _WIRE_REASON_INVALID);

        char buf[64];
        g_assert_cmpstr(wire_flags_to_string(WIRE_F_ACK | WIRE_F_HELLO | WIRE_F_HELLO_BACK, buf,
                                             sizeof buf), ==, "ack|hello|hello-back");
        g_assert_cmpstr(wire_flags_to_string(0x80 | WIRE_F_ALIVE, buf, sizeof buf), ==,
                        "alive|0x80");
        g_assert_cmpstr(wire_flags_to_string(0, buf, sizeof buf), ==, "");
}

/* ---- the captures ---- */

/* Datagrams a fake peer injected into cap1 to probe the receiver (spec appendix A): what each
 * must give. Every other datagram of every capture must decode without any error. */
typedef struct Injected {
        const char *name;
        WireReason reason;
        unsigned good;          /* messages that still decode */
        WireStats stats;
} Injected;

#define ST(field) { .malformed = 1, .field = 1 }

static const Injected injected[] = {
        { "cap1-260", WIRE_REASON_BAD_VERSION,      0, ST(bad_version) },   /* version 2 */
        { "cap1-261", WIRE_REASON_UNKNOWN_ATTR,     0, ST(bad_payload) },   /* attribute 40 */
        { "cap1-263", WIRE_REASON_UNKNOWN_ATTR,     0, ST(bad_payload) },   /* attribute 33 */
        { "cap1-264", WIRE_REASON_ATTR_SIZE,        0, ST(bad_payload) },   /* MARK, 12 bytes */
        { "cap1-268", WIRE_REASON_HELPER_TOO_LONG,  0, ST(bad_payload) },   /* 12-char helper */
        { "cap1-269", WIRE_REASON_BAD_HEADER,       0, ST(bad_header) },    /* type 7 */
        { "cap1-273", WIRE_REASON_OVERSIZED,        0, ST(bad_size) },      /* len > datagram */
        { "cap1-274", WIRE_REASON_ZERO_SIZE,        0, ST(bad_size) },      /* len 0 */
        { "cap1-275", WIRE_REASON_TRUNCATED,        1, ST(truncated) },     /* 3 trailing bytes */
        { "cap1-277", WIRE_REASON_BAD_HEADER,       0, ST(bad_header) },    /* flag 0x01 on data */
        /* IPV4 only: 1.4.7 accepts these (and can crash later, spec §7.15); we do not */
        { "cap1-280", WIRE_REASON_MISSING_L4PROTO,  0, ST(bad_payload) },
        { "cap1-300", WIRE_REASON_MISSING_L4PROTO,  0, ST(bad_payload) },
        { "cap1-334", WIRE_REASON_MISSING_L4PROTO,  0, ST(bad_payload) },
};

static const Injected *find_injected(const char *name) {
        for (size_t i = 0; i < G_N_ELEMENTS(injected); i++)
                if (streq(injected[i].name, name))
                        return &injected[i];
        return NULL;
}

/* The reason of the first rejection in a datagram, -1 if none. */
static int first_reason(const uint8_t *buf, size_t size) {
        size_t offset = 0;
        int r;

        for (;;) {
                WireMessage m;
                WireFrame f;

                r = wire_frame_next(buf, size, &offset, &f, NULL);
                if (r == 0)
                        return -1;
                if (r < 0)
                        return wire_reason_from_errno(r);
                r = wire_frame_decode(&f, WIRE_CLASSIFY_FULL, &m, NULL);
                if (r < 0)
                        return wire_reason_from_errno(r);
        }
}

typedef struct CaptureCase {
        const char *prefix;
        unsigned n_ct, n_exp, n_control;       /* good messages it holds */
} CaptureCase;

static const CaptureCase capture_cases[] = {
        { "cap1-",         45, 0, 315 },
        { "cap_notrack-",   3, 0,  10 },
        { "cap_bulk-",    200, 0,   3 },
        { "cap_udp6-",      3, 0,   6 },
        { "cap_exp-",       1, 0,  18 },
        { "cap_exp2-",      1, 0,   5 },
        { "cap_exp3-",      6, 1,   4 },
        { "cap_alarm-",     6, 0,   0 },
        { "cap_bypass-",    3, 0,   8 },
};

static void test_capture(gconstpointer data) {
        const CaptureCase *c = data;
        g_autofree char *dir = data_dir();
        g_autoptr(GPtrArray) names = NULL;
        Walk w = {};

        if (!dir) {
                g_test_skip("TOP_SRCDIR is not set (run with meson test): no test vectors");
                return;
        }
        names = list_vectors(c->prefix);
        g_assert_cmpuint(names->len, >, 0);
        for (guint i = 0; i < names->len; i++) {
                const char *name = names->pdata[i];
                const Injected *inj = find_injected(name);
                g_autoptr(GBytes) b = load_vector(name);
                const uint8_t *p;
                WireStats st = {};
                size_t n;
                int r;

                p = g_bytes_get_data(b, &n);
                r = wire_datagram_decode(p, n, WIRE_CLASSIFY_FULL, &st, on_message_roundtrip, &w);
                if (!inj) {
                        if (st.malformed != 0)
                                g_test_message("%s: reason %s", name,
                                               wire_reason_to_string(first_reason(p, n)));
                        g_assert_cmpuint(st.malformed, ==, 0);
                        g_assert_cmpint(r, >, 0);
                        continue;
                }
                g_test_message("%s: %s", name, wire_reason_to_string(inj->reason));
                g_assert_cmpint(r, ==, (int) inj->good);
                g_assert_cmpmem(&st, sizeof st, &inj->stats, sizeof inj->stats);
                g_assert_cmpint(first_reason(p, n), ==, inj->reason);
        }
        g_test_message("%s: %u ct, %u expect, %u control messages", c->prefix, w.n_ct, w.n_exp,
                       w.n_control);
        g_assert_cmpuint(w.n_ct, ==, c->n_ct);
        g_assert_cmpuint(w.n_exp, ==, c->n_exp);
        g_assert_cmpuint(w.n_control, ==, c->n_control);
}

/* The same captured type 7 message under ALARM's flags-only classification: bad message type. */
static void test_capture_alarm_bad_type(void) {
        g_autoptr(GBytes) b = load_vector("cap1-269");
        WireStats st = {};
        const uint8_t *p;
        size_t n;

        if (!b)
                return;
        p = g_bytes_get_data(b, &n);
        g_assert_cmpint(wire_datagram_decode(p, n, WIRE_CLASSIFY_FLAGS_ONLY, &st, NULL, NULL), ==,
                        0);
        g_assert_cmpuint(st.bad_type, ==, 1);
        g_assert_cmpuint(st.malformed, ==, 1);
        g_assert_cmpuint(st.bad_header, ==, 0);
}

static int on_message_keep(const WireMessage *m, const WireFrame *f, void *userdata) {
        WireMessage *out = userdata;

        (void) f;
        *out = *m;
        return 0;
}

static void decode_single(const char *name, WireMessage *ret) {
        g_autoptr(GBytes) b = load_vector(name);
        WireStats st = {};
        const uint8_t *p;
        size_t n;

        g_assert_nonnull(b);
        p = g_bytes_get_data(b, &n);
        g_assert_cmpint(wire_datagram_decode(p, n, WIRE_CLASSIFY_FULL, &st, on_message_keep, ret),
                        ==, 1);
        g_assert_cmpuint(st.malformed, ==, 0);
}

/* What 1.4.7 put on the wire means what the spec says it means. */
static void test_capture_values(void) {
        WireMessage m;
        char buf[INET6_ADDRSTRLEN];

        if (!g_getenv("TOP_SRCDIR")) {
                g_test_skip("TOP_SRCDIR is not set (run with meson test): no test vectors");
                return;
        }

        /* ICMP echo with id 4660, on the wire as 34 12 */
        decode_single("cap1-091", &m);
        g_assert_cmpint(m.kind, ==, WIRE_KIND_CT);
        g_assert_cmpuint(m.hdr.type, ==, WIRE_CT_NEW);
        g_assert_cmpuint(m.ct.orig.l4, ==, IPPROTO_ICMP);
        g_assert_cmpuint(m.ct.orig.icmp.type, ==, 8);
        g_assert_cmpuint(m.ct.orig.icmp.id, ==, 4660);
        g_assert_cmpuint(m.ct.timeout, ==, 30);

        /* UDP with SNAT to 203.0.113.9 port 2222 (ae 08 on the wire) */
        decode_single("cap1-092", &m);
        g_assert_cmpuint(m.ct.orig.l4, ==, IPPROTO_UDP);
        g_assert_cmpuint(m.ct.orig.sport, ==, 1111);
        g_assert_cmpuint(m.ct.orig.dport, ==, 53);
        g_assert_true(m.ct.attrs & CT_ATTR_SNAT);
        g_assert_true(m.ct.attrs & CT_ATTR_SPAT);
        g_assert_false(m.ct.attrs & (CT_ATTR_DNAT | CT_ATTR_DPAT));
        g_assert_cmpstr(ct_addr_to_string(AF_INET, &m.ct.nat.snat_addr, buf, sizeof buf), ==,
                        "203.0.113.9");
        g_assert_cmpuint(m.ct.nat.spat_port, ==, 2222);
        g_assert_true(m.ct.attrs & CT_ATTR_SYNPROXY);

        /* DNAT to port 5353 (e9 14 on the wire) */
        decode_single("cap1-093", &m);
        g_assert_true(m.ct.attrs & CT_ATTR_DNAT);
        g_assert_true(m.ct.attrs & CT_ATTR_DPAT);
        g_assert_false(m.ct.attrs & (CT_ATTR_SNAT | CT_ATTR_SPAT));
        g_assert_cmpuint(m.ct.nat.dpat_port, ==, 5353);

        /* the exp3 EXP_UPD: an FTP expectation */
        {
                g_autoptr(GPtrArray) names = list_vectors("cap_exp3-");
                bool found = false;

                for (guint i = 0; i < names->len && !found; i++) {
                        g_autoptr(GBytes) b = load_vector(names->pdata[i]);
                        const uint8_t *p;
                        size_t n, off = 0;
                        WireFrame f;

                        p = g_bytes_get_data(b, &n);
                        while (wire_frame_next(p, n, &off, &f, NULL) > 0) {
                                if (f.hdr.type != WIRE_EXP_UPD)
                                        continue;
                                g_assert_cmpint(wire_frame_decode(&f, WIRE_CLASSIFY_FULL, &m, NULL),
                                                ==, 0);
                                found = true;
                        }
                }
                g_assert_true(found);
                g_assert_cmpint(m.kind, ==, WIRE_KIND_EXPECT);
                g_assert_cmpuint(m.exp.master.l4, ==, IPPROTO_TCP);
                g_assert_cmpuint(m.exp.master.dport, ==, 21);
                g_assert_cmpuint(m.exp.mask.dport, ==, 0xffff);
                g_assert_true(m.exp.attrs & CT_EXP_ATTR_HELPER);
                g_assert_cmpstr(m.exp.helper, ==, "ftp");
        }
}

/* 1.4.7 packed a bulk of 200 flows into datagrams of 19 (1444 bytes, MTU 1500) and one of 10:
 * our builder, fed the same messages, produces the very same datagrams. */
static void test_capture_bulk_packing(void) {
        GDestroyNotify unref = (GDestroyNotify) g_bytes_unref;
        g_autoptr(GPtrArray) names = NULL, msgs = g_ptr_array_new_with_free_func(unref);
        g_autoptr(GPtrArray) data_dgrams = g_ptr_array_new_with_free_func(unref);
        uint8_t dgram[1472];
        WireBuilder b;
        Walk w = { .messages = msgs };
        guint k = 0;

        if (!g_getenv("TOP_SRCDIR")) {
                g_test_skip("TOP_SRCDIR is not set (run with meson test): no test vectors");
                return;
        }
        names = list_vectors("cap_bulk-");
        for (guint i = 0; i < names->len; i++) {
                GBytes *v = load_vector(names->pdata[i]);
                unsigned before = msgs->len;
                const uint8_t *p;
                size_t n;

                p = g_bytes_get_data(v, &n);
                g_assert_cmpint(wire_datagram_decode(p, n, WIRE_CLASSIFY_FULL, NULL,
                                                     on_message_roundtrip, &w), >, 0);
                if (msgs->len > before)
                        g_ptr_array_add(data_dgrams, v);
                else
                        g_bytes_unref(v);
        }
        g_assert_cmpuint(msgs->len, ==, 200);
        g_assert_cmpuint(wire_mtu_payload(1500, false), ==, sizeof dgram);

        wire_builder_init(&b, dgram, wire_mtu_payload(1500, false));
        for (guint i = 0; i <= msgs->len; i++) {
                int r = -ENOSPC;

                if (i < msgs->len) {
                        size_t n;
                        const uint8_t *p = g_bytes_get_data(msgs->pdata[i], &n);

                        r = wire_builder_append(&b, p, n);
                        if (r == 0)
                                continue;
                        g_assert_cmpint(r, ==, -ENOSPC);
                }
                /* flush: compare with the next captured data datagram */
                g_assert_cmpuint(k, <, data_dgrams->len);
                {
                        size_t n;
                        const uint8_t *p = g_bytes_get_data(data_dgrams->pdata[k++], &n);

                        g_assert_cmpmem(dgram, b.len, p, n);
                }
                wire_builder_reset(&b);
                if (i < msgs->len) {
                        size_t n;
                        const uint8_t *p = g_bytes_get_data(msgs->pdata[i], &n);

                        g_assert_cmpint(wire_builder_append(&b, p, n), ==, 0);
                }
        }
        g_assert_cmpuint(k, ==, data_dgrams->len);
        g_assert_cmpuint(k, ==, 11);
}

/* ---- encoding ---- */

static void make_tcp(CtEntry *e) {
        *e = (CtEntry) {
                .orig = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .sport = 40000, .dport = 443 },
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK | CT_ATTR_TCP_STATE |
                         CT_ATTR_SYNPROXY,
                .status = 0x0e,
                .timeout = 3600,
                .mark = 0x1234,
                .tcp.state = CT_TCP_ESTABLISHED,
        };
        e->orig.src.ip = htonl(0xc0a8010a);
        e->orig.dst.ip = htonl(0x08080808);
}

/* The CT_NEW example of spec §1.4, byte for byte. */
static void test_encode_spec_example(void) {
        g_autoptr(GBytes) want = hex_to_bytes(
                "10000054 6b0a6570 000c0000 c0a8010a 08080808 00080005 0000000e 00050002 06000000"
                "00080003 9c4001bb 00050004 03000000 00080006 00000e10 00080007 00001234"
                "0010001f 00000000 00000000 00000000");
        WireEncodeOptions o = { .timeout = true };
        uint8_t buf[256];
        CtEntry e, d;
        int r;

        make_tcp(&e);
        r = wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 0x6b0a6570, &e, &o);
        g_assert_cmpint(r, ==, 84);
        g_assert_cmpmem(buf, r, g_bytes_get_data(want, NULL), g_bytes_get_size(want));

        g_assert_cmpint(wire_decode_ct(buf + 8, r - 8, &d), ==, 0);
        g_assert_true(ct_entry_same(&e, &d));
        g_assert_cmpuint(d.attrs, ==, e.attrs);
        g_assert_cmpuint(d.mark, ==, 0x1234);
        g_assert_cmpuint(d.timeout, ==, 3600);

        /* every size short of the message fails cleanly */
        for (size_t n = 0; n < (size_t) r; n++)
                g_assert_cmpint(wire_encode_ct(buf, n, WIRE_CT_NEW, 0, 1, &e, &o), ==, -ENOBUFS);
        /* wrong types and flags */
        g_assert_cmpint(wire_encode_ct(buf, sizeof buf, WIRE_EXP_NEW, 0, 1, &e, &o), ==, -EINVAL);
        g_assert_cmpint(wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, WIRE_F_ACK, 1, &e, &o), ==,
                        -EINVAL);
}

static void test_encode_options(void) {
        WireEncodeOptions o = {};
        uint8_t buf[256];
        CtEntry e;
        int r;

        make_tcp(&e);
        e.attrs |= CT_ATTR_TCP_WSCALE;
        e.tcp.wscale_orig = 7;
        e.tcp.wscale_repl = 9;

        /* CommitTimeout set, no TCPWindowTracking: neither TIMEOUT nor WSCALE */
        r = wire_encode_ct(buf, sizeof buf, WIRE_CT_UPD, 0, 1, &e, &o);
        g_assert_cmpint(r, >, 0);
        assert_ids(buf, r, (const int[]) { 0, 5, 2, 3, 4, 7, 31 }, 7);
        g_assert_cmpuint(buf[0], ==, 0x11);

        o = (WireEncodeOptions) { .timeout = true, .tcp_wscale = true };
        r = wire_encode_ct(buf, sizeof buf, WIRE_CT_DEL, WIRE_F_HELLO, 1, &e, &o);
        g_assert_cmpint(r, >, 0);
        assert_ids(buf, r, (const int[]) { 0, 5, 2, 3, 4, 25, 26, 6, 7, 31 }, 10);
        g_assert_cmpuint(buf[0], ==, 0x12);
        g_assert_cmpuint(buf[1], ==, WIRE_F_HELLO);
        g_assert_cmpuint(r % 4, ==, 0);
}

/* Every attribute at once: 1.4.7's order, and each value back after decoding. */
static void test_encode_all(void) {
        WireEncodeOptions o = { .timeout = true, .tcp_wscale = true };
        uint8_t buf[WIRE_MESSAGE_MAX];
        CtEntry e, d;
        int r;

        make_tcp(&e);
        e.attrs |= CT_ATTR_TCP_WSCALE | CT_ATTR_MASTER | CT_ATTR_SNAT | CT_ATTR_DNAT |
                   CT_ATTR_SPAT | CT_ATTR_DPAT | CT_ATTR_NAT_SEQ_ADJ | CT_ATTR_HELPER |
                   CT_ATTR_LABELS;
        e.tcp.wscale_orig = 7;
        e.tcp.wscale_repl = 8;
        e.master = (CtTuple) { .l3 = AF_INET, .l4 = IPPROTO_TCP, .sport = 1025, .dport = 21 };
        e.master.src.ip = htonl(0x0a000001);
        e.master.dst.ip = htonl(0x0a000002);
        e.nat.snat_addr.ip = htonl(0xcb007109);
        e.nat.dnat_addr.ip = htonl(0xc0a80101);
        e.nat.spat_port = 2222;
        e.nat.dpat_port = 5353;
        e.seq_adj.orig_pos = 1;
        e.seq_adj.orig_before = 2;
        e.seq_adj.orig_after = 3;
        e.seq_adj.repl_pos = 4;
        e.seq_adj.repl_before = 5;
        e.seq_adj.repl_after = 6;
        strcpy(e.helper, "ftp");
        e.labels[0] = 0x5;
        e.labels[2] = 0x80000000;       /* label 95: 3 words */
        e.synproxy.isn = 11;
        e.synproxy.its = 22;
        e.synproxy.tsoff = 33;
        e.zone = 9;

        r = wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 77, &e, &o);
        g_assert_cmpint(r, >, 0);
        assert_ids(buf, r, (const int[]) { 0, 5, 2, 3, 4, 25, 26, 6, 7, 8, 10, 11, 12, 13, 14, 15,
                                           16, 27, 28, 31, 32 }, 21);

        /* the host-order quirk: 2222 -> ae 08, 5353 -> e9 14; zone big-endian */
        g_assert_true(contains(buf, r, "\x00\x06\x00\x0e\xae\x08\x00\x00", 8));
        g_assert_true(contains(buf, r, "\x00\x06\x00\x0f\xe9\x14\x00\x00", 8));
        g_assert_true(contains(buf, r, "\x00\x06\x00\x20\x00\x09\x00\x00", 8));
        /* labels: 3 big-endian words; synproxy: its, isn, tsoff */
        g_assert_true(contains(buf, r, "\x00\x10\x00\x1c\x00\x00\x00\x05\x00\x00\x00\x00\x80\x00"
                                        "\x00\x00", 16));
        g_assert_true(contains(buf, r, "\x00\x10\x00\x1f\x00\x00\x00\x16\x00\x00\x00\x0b\x00\x00"
                                        "\x00\x21", 16));
        /* helper "ftp\0", nta_len 8 */
        g_assert_true(contains(buf, r, "\x00\x08\x00\x1b" "ftp\0", 8));

        g_assert_cmpint(wire_decode_ct(buf + 8, r - 8, &d), ==, 0);
        g_assert_true(ct_entry_same(&e, &d));
        g_assert_cmpuint(d.attrs, ==, e.attrs);
        g_assert_true(ct_tuple_equal(&d.master, &e.master));
        g_assert_cmpmem(&d.nat, sizeof d.nat, &e.nat, sizeof e.nat);
        g_assert_cmpmem(&d.seq_adj, sizeof d.seq_adj, &e.seq_adj, sizeof e.seq_adj);
        g_assert_cmpmem(&d.tcp, sizeof d.tcp, &e.tcp, sizeof e.tcp);
        g_assert_cmpmem(&d.synproxy, sizeof d.synproxy, &e.synproxy, sizeof e.synproxy);
        g_assert_cmpmem(d.labels, sizeof d.labels, e.labels, sizeof e.labels);
        g_assert_cmpstr(d.helper, ==, "ftp");
        g_assert_cmpuint(d.zone, ==, 9);
}

static void test_encode_icmp_quirk(void) {
        CtEntry e = {
                .orig = { .l3 = AF_INET, .l4 = IPPROTO_ICMP, .icmp = { .type = 8, .id = 4660 } },
                .attrs = CT_ATTR_STATUS,
        }, d;
        uint8_t buf[128];
        int r;

        r = wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 1, &e, NULL);
        g_assert_cmpint(r, >, 0);
        assert_ids(buf, r, (const int[]) { 0, 5, 2, 22, 23, 24 }, 6);
        g_assert_true(contains(buf, r, "\x00\x06\x00\x18\x34\x12\x00\x00", 8));
        g_assert_cmpint(wire_decode_ct(buf + 8, r - 8, &d), ==, 0);
        g_assert_cmpuint(d.orig.icmp.id, ==, 4660);
        g_assert_cmpuint(d.orig.icmp.type, ==, 8);
}

static void test_encode_nat_ipv6(void) {
        CtEntry e = {
                .orig = { .l3 = AF_INET6, .l4 = IPPROTO_UDP, .sport = 5000, .dport = 53 },
                .attrs = CT_ATTR_STATUS | CT_ATTR_SNAT | CT_ATTR_SPAT | CT_ATTR_DNAT,
                .nat.spat_port = 2222,
        }, d;
        uint8_t buf[256];
        int r;

        g_assert_cmpint(inet_pton(AF_INET6, "fd00::1", &e.orig.src), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, "fd00::2", &e.orig.dst), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::9", &e.nat.snat_addr), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::53", &e.nat.dnat_addr), ==, 1);
        r = wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 1, &e, NULL);
        g_assert_cmpint(r, >, 0);
        assert_ids(buf, r, (const int[]) { 1, 5, 2, 3, 29, 30, 14 }, 7);
        g_assert_cmpint(wire_decode_ct(buf + 8, r - 8, &d), ==, 0);
        g_assert_cmpuint(d.attrs, ==, e.attrs);
        g_assert_cmpmem(&d.nat, sizeof d.nat, &e.nat, sizeof e.nat);
        g_assert_true(ct_entry_same(&d, &e));

        /* UDPLITE: no PORT attribute in 1.4.7 */
        e.orig.l4 = IPPROTO_UDPLITE;
        e.attrs = CT_ATTR_STATUS;
        r = wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 1, &e, NULL);
        assert_ids(buf, r, (const int[]) { 1, 5, 2 }, 3);
}

static void test_encode_expect(void) {
        CtExpect x = {
                .master = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .sport = 39798, .dport = 21 },
                .expected = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .sport = 0, .dport = 50001 },
                .mask = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .sport = 0, .dport = 0xffff },
                .attrs = CT_EXP_ATTR_TIMEOUT | CT_EXP_ATTR_FLAGS | CT_EXP_ATTR_CLASS |
                         CT_EXP_ATTR_HELPER,
                .timeout = 237,
                .helper = "ftp",
        }, d;
        g_autoptr(GBytes) want = hex_to_bytes(
                "1400007c 6b0a671a 000c0000 7f000001 7f000001 00050002 06000000 00080003 9b760015"
                "000c0004 7f000001 7f000001 00050006 06000000 00080007 0000c351"
                "000c0008 ffffffff ffffffff 0005000a 06000000 0008000b 0000ffff"
                "0008000c 000000ed 0008000d 00000000 0008000e 00000000 00080013 66747000");
        WireEncodeOptions o = { .timeout = true };
        uint8_t buf[512];
        int r;

        x.master.src.ip = x.master.dst.ip = htonl(0x7f000001);
        x.expected.src.ip = x.expected.dst.ip = htonl(0x7f000001);
        x.mask.src.ip = x.mask.dst.ip = 0xffffffff;

        /* the EXP_UPD example of spec §1.4 */
        r = wire_encode_expect(buf, sizeof buf, WIRE_EXP_UPD, 0, 0x6b0a671a, &x, &o);
        g_assert_cmpmem(buf, r, g_bytes_get_data(want, NULL), g_bytes_get_size(want));
        g_assert_cmpint(wire_decode_expect(buf + 8, r - 8, &d), ==, 0);
        g_assert_true(ct_expect_same(&x, &d));
        g_assert_cmpuint(d.attrs, ==, x.attrs);
        g_assert_cmpuint(d.timeout, ==, 237);
        g_assert_true(ct_tuple_equal(&d.master, &x.master));
        g_assert_true(ct_tuple_equal(&d.mask, &x.mask));

        /* NAT tuple and expectation function; no TIMEOUT with CommitTimeout */
        x.attrs |= CT_EXP_ATTR_NAT | CT_EXP_ATTR_FN;
        x.nat_tuple = (CtTuple) { .l3 = AF_INET, .l4 = IPPROTO_TCP, .sport = 1, .dport = 2 };
        x.nat_tuple.src.ip = htonl(0x0a000001);
        x.nat_dir = 1;
        strcpy(x.fn, "nat-follow-master");
        o.timeout = false;
        r = wire_encode_expect(buf, sizeof buf, WIRE_EXP_NEW, 0, 1, &x, &o);
        g_assert_cmpint(r, >, 0);
        assert_ids(buf, r, (const int[]) { 0, 2, 3, 4, 6, 7, 8, 10, 11, 13, 14, 15, 16, 17, 18,
                                           19, 20 }, 17);
        g_assert_cmpint(wire_decode_expect(buf + 8, r - 8, &d), ==, 0);
        g_assert_cmpuint(d.attrs, ==, x.attrs & ~(uint64_t) CT_EXP_ATTR_TIMEOUT);
        g_assert_true(ct_tuple_equal(&d.nat_tuple, &x.nat_tuple));
        g_assert_cmpuint(d.nat_dir, ==, 1);
        g_assert_cmpstr(d.fn, ==, "nat-follow-master");

        g_assert_cmpint(wire_encode_expect(buf, sizeof buf, WIRE_CT_NEW, 0, 1, &x, &o), ==,
                        -EINVAL);
}

static void test_encode_control(void) {
        uint8_t buf[16];
        WireMessage m;
        WireFrame f;
        size_t off = 0;

        g_assert_cmpint(wire_encode_control(buf, sizeof buf, WIRE_F_ALIVE, 0x6b0a65cd, 0, 0), ==,
                        8);
        g_assert_cmpmem(buf, 8, "\x1a\x10\x00\x08\x6b\x0a\x65\xcd", 8);

        g_assert_cmpint(wire_encode_control(buf, sizeof buf, WIRE_F_NACK, 0x6b0a65e0, 1002, 1004),
                        ==, 16);
        g_assert_cmpmem(buf, 16, "\x1a\x04\x00\x10\x6b\x0a\x65\xe0\x00\x00\x03\xea\x00\x00\x03\xec",
                        16);
        g_assert_cmpint(wire_frame_next(buf, 16, &off, &f, NULL), ==, 1);
        g_assert_cmpint(wire_frame_decode(&f, WIRE_CLASSIFY_FULL, &m, NULL), ==, 0);
        g_assert_cmpint(m.kind, ==, WIRE_KIND_CONTROL);
        g_assert_cmpuint(m.hdr.flags, ==, WIRE_F_NACK);
        g_assert_cmpuint(m.control.from, ==, 1002);
        g_assert_cmpuint(m.control.to, ==, 1004);

        g_assert_cmpint(wire_encode_control(buf, sizeof buf, WIRE_F_ACK | WIRE_F_HELLO |
                                            WIRE_F_HELLO_BACK, 1, 2, 3), ==, 16);
        g_assert_cmpuint(buf[1], ==, 0x68);
        g_assert_cmpint(wire_encode_control(buf, sizeof buf, WIRE_F_RESYNC, 1, 0, 0), ==, 16);
        g_assert_cmpint(wire_encode_control(buf, 15, WIRE_F_RESYNC, 1, 0, 0), ==, -ENOBUFS);
        g_assert_cmpint(wire_encode_control(buf, sizeof buf, WIRE_F_HELLO, 1, 0, 0), ==, -EINVAL);
        g_assert_cmpint(wire_encode_control(buf, sizeof buf, 0, 1, 0, 0), ==, -EINVAL);
}

static void test_builder(void) {
        uint8_t msg[76] = {}, small[8] = {}, dgram[1472];
        WireBuilder b;

        wire_builder_init(&b, dgram, wire_mtu_payload(1500, false));
        for (unsigned i = 0; i < 19; i++)
                g_assert_cmpint(wire_builder_append(&b, msg, sizeof msg), ==, 0);
        /* 20 messages would make 1520 >= 1472 */
        g_assert_cmpint(wire_builder_append(&b, msg, sizeof msg), ==, -ENOSPC);
        g_assert_cmpuint(b.len, ==, 1444);
        g_assert_cmpuint(b.n_messages, ==, 19);
        /* strictly less: filling up to exactly the capacity is refused */
        wire_builder_reset(&b);
        b.capacity = 16;
        g_assert_cmpint(wire_builder_append(&b, small, 8), ==, 0);
        g_assert_cmpint(wire_builder_append(&b, small, 8), ==, -ENOSPC);
        g_assert_cmpint(wire_builder_append(&b, msg, 16), ==, -EMSGSIZE);

        g_assert_cmpuint(wire_mtu_payload(1500, true), ==, 1460);
        g_assert_cmpuint(wire_mtu_payload(20, false), ==, 0);
}

/* ---- malformed input ---- */

/* A valid CT_NEW (IPV4, L4PROTO tcp, PORT) followed by 'extra' TLV bytes; header len fixed up to
 * the total, unless 'len' is given. */
static GBytes *ct_message(const char *extra_hex, int len) {
        g_autofree char *hex = g_strconcat("10000000 00000001 000c0000 0a000001 0a000002"
                                           "00050002 06000000 00080003 9c4001bb ",
                                           extra_hex, NULL);
        GBytes *b = hex_to_bytes(hex);
        gsize n;
        guint8 *p = g_bytes_unref_to_data(b, &n);

        if (len < 0)
                len = (int) n;
        p[2] = (guint8) (len >> 8);
        p[3] = (guint8) len;
        return g_bytes_new_take(p, n);
}

typedef struct MalformedCase {
        const char *name;
        const char *hex;        /* whole datagram, or NULL */
        const char *extra;      /* with hex == NULL: ct_message(extra, len) */
        int len;
        WireClassify how;
        WireReason reason;
        size_t counter;         /* offsetof the WireStats field that counts it */
        unsigned good;
} MalformedCase;

#define FIELD(f) offsetof(WireStats, f)

static const MalformedCase malformed_cases[] = {
        { "truncated-header", "1a100008 6b0a", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_TRUNCATED, FIELD(truncated), 0 },
        { "trailing-bytes", "1a100008 6b0a65cd 616263", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_TRUNCATED, FIELD(truncated), 1 },
        { "zero-length", "1a100000 6b0a65cd 1a100008 6b0a65ce", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_ZERO_SIZE, FIELD(bad_size), 0 },
        { "length-beyond-datagram", "1a10000c 6b0a65cd", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_OVERSIZED, FIELD(bad_size), 0 },
        { "length-below-header", "1a100004 6b0a65cd", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_UNDERSIZED, FIELD(bad_size), 0 },
        { "ack-len-8", "1a080008 6b0a65cd 00000000 00000000", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_UNDERSIZED, FIELD(bad_size), 0 },
        { "ack-truncated", "1a08000c 6b0a65cd 00000000", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_TRUNCATED, FIELD(truncated), 0 },
        { "bad-version", "2a100008 6b0a65cd 1a100008 6b0a65ce", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_BAD_VERSION, FIELD(bad_version), 1 },
        { "type-7", "17000008 6b0a65cd", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_BAD_HEADER, FIELD(bad_header), 0 },
        { "type-7-alarm", "17000008 6b0a65cd", NULL, 0, WIRE_CLASSIFY_FLAGS_ONLY,
          WIRE_REASON_BAD_TYPE, FIELD(bad_type), 0 },
        { "ctl-without-flags", "1a000008 6b0a65cd", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_BAD_HEADER, FIELD(bad_header), 0 },
        { "data-flag-0x01", "10010008 6b0a65cd", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_BAD_HEADER, FIELD(bad_header), 0 },
        { "data-with-ack-flag", "10080008 6b0a65cd", NULL, 0, WIRE_CLASSIFY_FULL,
          WIRE_REASON_BAD_HEADER, FIELD(bad_header), 0 },
        { "unknown-attr-33", NULL, "00080021 00000000", -1, WIRE_CLASSIFY_FULL,
          WIRE_REASON_UNKNOWN_ATTR, FIELD(bad_payload), 0 },
        { "attr-len-below-4", NULL, "00020007 00000000", -1, WIRE_CLASSIFY_FULL,
          WIRE_REASON_ATTR_SHORT, FIELD(bad_payload), 0 },
        { "attr-len-beyond-message", NULL, "00100007 00000000", -1, WIRE_CLASSIFY_FULL,
          WIRE_REASON_ATTR_TRUNCATED, FIELD(bad_payload), 0 },
        { "mark-wrong-size", NULL, "00070007 00000000", -1, WIRE_CLASSIFY_FULL,
          WIRE_REASON_ATTR_SIZE, FIELD(bad_payload), 0 },
        { "icmp-id-wrong-size", NULL, "00080018 00000000", -1, WIRE_CLASSIFY_FULL,
          WIRE_REASON_ATTR_SIZE, FIELD(bad_payload), 0 },
        { "helper-12-chars", NULL, "0011001b 61626364 65666768 696a6b6c 00000000", -1,
          WIRE_CLASSIFY_FULL, WIRE_REASON_HELPER_TOO_LONG, FIELD(bad_payload), 0 },
        /* 12 characters filling the attribute without a NUL (found by fuzzing: accepted, it
         * could not be sent on) */
        { "helper-12-chars-no-nul", NULL, "0010001b 1b1b1b1b 1b1b1b1b 1b1b1b1b", -1,
          WIRE_CLASSIFY_FULL, WIRE_REASON_HELPER_TOO_LONG, FIELD(bad_payload), 0 },
        { "labels-too-long", NULL, NULL, -1, WIRE_CLASSIFY_FULL,
          WIRE_REASON_LABELS_TOO_LONG, FIELD(bad_payload), 0 },
        { "missing-l4proto", "10000014 00000001 000c0000 0a000001 0a000002", NULL, 0,
          WIRE_CLASSIFY_FULL, WIRE_REASON_MISSING_L4PROTO, FIELD(bad_payload), 0 },
        { "missing-address", "10000010 00000001 00050002 06000000", NULL, 0,
          WIRE_CLASSIFY_FULL, WIRE_REASON_MISSING_ADDRESS, FIELD(bad_payload), 0 },
        { "exp-fn-too-long", NULL, NULL, -1, WIRE_CLASSIFY_FULL,
          WIRE_REASON_ATTR_SIZE, FIELD(bad_payload), 0 },
        { "exp-unknown-attr-21", "1300001c 00000001 000c0000 0a000001 0a000002 00080015 00000000",
          NULL, 0, WIRE_CLASSIFY_FULL, WIRE_REASON_UNKNOWN_ATTR, FIELD(bad_payload), 0 },
};

static GBytes *malformed_input(const MalformedCase *c) {
        if (c->hex)
                return hex_to_bytes(c->hex);
        if (c->extra)
                return ct_message(c->extra, c->len);
        if (streq(c->name, "labels-too-long")) {
                /* nta_len 1032: 257 words */
                GString *s = g_string_new("0408001c");
                GBytes *b;

                for (unsigned i = 0; i < 257; i++)
                        g_string_append(s, "00000001");
                b = ct_message(s->str, -1);
                g_string_free(s, TRUE);
                return b;
        }
        if (streq(c->name, "exp-fn-too-long")) {
                /* FN with nta_len 33: one more than the 32 1.4.7 accepts */
                GString *s = g_string_new("14000000 00000001 000c0000 0a000001 0a000002 00050002"
                                          "06000000 000c0004 0a000001 0a000002 00050006 06000000"
                                          "00210014");
                gsize n;
                guint8 *p;

                for (unsigned i = 0; i < 32; i++)
                        g_string_append(s, "61");
                g_string_append(s, "00000000");
                p = g_bytes_unref_to_data(hex_to_bytes(s->str), &n);
                g_string_free(s, TRUE);
                p[3] = (guint8) n;
                return g_bytes_new_take(p, n);
        }
        g_assert_not_reached();
}

static void test_malformed(gconstpointer data) {
        const MalformedCase *c = data;
        g_autoptr(GBytes) b = malformed_input(c);
        WireStats st = {}, want = { .malformed = 1 };
        const uint8_t *p;
        size_t n, off = 0;
        int r = 0;

        p = g_bytes_get_data(b, &n);
        *(uint64_t *) ((uint8_t *) &want + c->counter) += 1;
        g_assert_cmpint(wire_datagram_decode(p, n, c->how, &st, NULL, NULL), ==, (int) c->good);
        g_assert_cmpmem(&st, sizeof st, &want, sizeof want);

        /* the reason, as the distinct errno of the step that rejected it */
        for (;;) {
                WireMessage m;
                WireFrame f;

                r = wire_frame_next(p, n, &off, &f, NULL);
                if (r <= 0)
                        break;
                r = wire_frame_decode(&f, c->how, &m, NULL);
                if (r < 0)
                        break;
        }
        g_assert_cmpint(r, ==, wire_reason_to_errno(c->reason));
}

/* Shortening a good message anywhere never crashes and never passes as the full message. */
static void test_truncate_everywhere(void) {
        uint8_t buf[512];
        CtEntry e;
        int len;

        make_tcp(&e);
        e.attrs |= CT_ATTR_HELPER;
        strcpy(e.helper, "ftp");
        len = wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 1, &e, NULL);
        g_assert_cmpint(len, >, 0);
        for (int n = 1; n < len; n++) {
                WireStats st = {};

                g_assert_cmpint(wire_datagram_decode(buf, n, WIRE_CLASSIFY_FULL, &st, NULL, NULL),
                                ==, 0);
                g_assert_cmpuint(st.malformed, ==, 1);
                g_assert_cmpuint(st.truncated + st.bad_size, ==, 1);
        }
        /* a body cut short inside an attribute: the decoder itself refuses it */
        for (int n = 8; n < len; n++) {
                CtEntry d;
                int r = wire_decode_ct(buf + 8, n - 8, &d);

                /* cuts that drop only whole trailing attributes decode to fewer attributes */
                if (r == 0)
                        g_assert_true(d.attrs != e.attrs || !streq(d.helper, e.helper));
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/wire/tables", test_tables);
        for (size_t i = 0; i < G_N_ELEMENTS(capture_cases); i++) {
                g_autofree char *path = g_strdup_printf("/wire/capture/%.*s",
                                                        (int) strlen(capture_cases[i].prefix) - 1,
                                                        capture_cases[i].prefix);
                g_test_add_data_func(path, &capture_cases[i], test_capture);
        }
        g_test_add_func("/wire/capture-alarm-bad-type", test_capture_alarm_bad_type);
        g_test_add_func("/wire/capture-values", test_capture_values);
        g_test_add_func("/wire/capture-bulk-packing", test_capture_bulk_packing);
        g_test_add_func("/wire/encode-spec-example", test_encode_spec_example);
        g_test_add_func("/wire/encode-options", test_encode_options);
        g_test_add_func("/wire/encode-all-attributes", test_encode_all);
        g_test_add_func("/wire/encode-icmp-id-quirk", test_encode_icmp_quirk);
        g_test_add_func("/wire/encode-nat-ipv6", test_encode_nat_ipv6);
        g_test_add_func("/wire/encode-expect", test_encode_expect);
        g_test_add_func("/wire/encode-control", test_encode_control);
        g_test_add_func("/wire/builder-mtu", test_builder);
        for (size_t i = 0; i < G_N_ELEMENTS(malformed_cases); i++) {
                g_autofree char *path = g_strconcat("/wire/decode-malformed/",
                                                    malformed_cases[i].name, NULL);
                g_test_add_data_func(path, &malformed_cases[i], test_malformed);
        }
        g_test_add_func("/wire/decode-truncated-everywhere", test_truncate_everywhere);

        return g_test_run();
}
