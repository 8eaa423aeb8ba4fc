/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The caches serialized and parsed back (cache-store.[ch]): a round trip of many objects of every
 * kind, and every way a store can be wrong rejected as a whole, before any object is handed out.
 */

#include <arpa/inet.h>
#include <glib.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>

#include "cache-store.h"
#include "wire.h"

#define N_PER_CACHE 1500
#define NOW_USEC (100000 * USEC_PER_SEC)

/* ---- objects of every kind ---- */

static void make_ct(CtEntry *e, unsigned i) {
        static const uint8_t protos[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_SCTP,
                                          IPPROTO_DCCP, IPPROTO_GRE, IPPROTO_ICMPV6 };
        uint8_t l4 = protos[i % ELEMENTSOF(protos)];
        bool v6 = l4 == IPPROTO_ICMPV6 || i % 3 == 1;

        *e = (CtEntry) {
                .orig = { .l3 = v6 ? AF_INET6 : AF_INET, .l4 = l4 },
                .attrs = CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK,
                .status = 0x0e,
                .timeout = 100 + i,
                .mark = i * 7,
                .zone = (uint16_t) (i % 5 == 0 ? i % 100 : 0),
        };
        if (v6) {
                e->orig.src.ip6[0] = htonl(0xfd000001);
                e->orig.src.ip6[3] = htonl(i);
                e->orig.dst.ip6[0] = htonl(0xfd000002);
                e->orig.dst.ip6[3] = htonl(1);
        } else {
                e->orig.src.ip = htonl(0x0a000000 | i);
                e->orig.dst.ip = htonl(0xc0a80001);
        }
        if (ct_proto_is_icmp(l4))
                e->orig.icmp = (typeof(e->orig.icmp)) { .type = v6 ? 128 : 8, .id = (uint16_t) i };
        else if (l4 != IPPROTO_GRE) {
                e->orig.sport = (uint16_t) (1024 + i);
                e->orig.dport = 80;
        }
        switch (l4) {
        case IPPROTO_TCP:
                e->attrs |= CT_ATTR_TCP_STATE | CT_ATTR_TCP_WSCALE;
                e->tcp.state = CT_TCP_ESTABLISHED;
                e->tcp.wscale_orig = 7;
                e->tcp.wscale_repl = 3;
                break;
        case IPPROTO_SCTP:
                e->attrs |= CT_ATTR_SCTP_STATE;
                e->sctp.state = 3;
                e->sctp.vtag_orig = i;
                e->sctp.vtag_repl = ~i;
                break;
        case IPPROTO_DCCP:
                e->attrs |= CT_ATTR_DCCP_STATE;
                e->dccp.state = 4;
                e->dccp.role = 1;
                break;
        default:
                break;
        }
        if (i % 4 == 0 && !v6) {
                e->attrs |= CT_ATTR_SNAT | CT_ATTR_SPAT | CT_ATTR_NAT_SEQ_ADJ;
                e->nat.snat_addr.ip = htonl(0xc6336401);
                e->nat.spat_port = 2000;
                e->seq_adj.orig_pos = i;
                e->seq_adj.repl_after = 9;
        }
        if (i % 6 == 0) {
                e->attrs |= CT_ATTR_HELPER | CT_ATTR_LABELS | CT_ATTR_MASTER;
                strcpy(e->helper, "ftp");
                e->labels[0] = 0x5;
                e->labels[2] = 0x80000000;
                e->master = e->orig;
                e->master.sport = 21;
        }
}

static void make_expect(CtExpect *x, unsigned i) {
        *x = (CtExpect) {
                .master = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .sport = (uint16_t) (30000 + i),
                            .dport = 21 },
                .expected = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .dport = (uint16_t) (40000 + i) },
                .mask = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .dport = 0xffff },
                .attrs = CT_EXP_ATTR_TIMEOUT | CT_EXP_ATTR_FLAGS | CT_EXP_ATTR_CLASS |
                         CT_EXP_ATTR_HELPER,
                .timeout = 200 + i,
                .flags = i % 2,
                .helper = "ftp",
        };
        x->master.src.ip = x->expected.src.ip = htonl(0x0a630001);
        x->master.dst.ip = x->expected.dst.ip = htonl(0x0a630000 | (i + 2));
        x->mask.src.ip = x->mask.dst.ip = 0xffffffff;
        if (i % 2) {
                x->attrs |= CT_EXP_ATTR_NAT | CT_EXP_ATTR_FN;
                x->nat_tuple = x->expected;
                x->nat_dir = 1;
                strcpy(x->fn, "nat-follow-master");
        }
}

/* What an object looks like after one trip through the wire (what the external cache holds):
 * a store must give back exactly that. */
static void canonical_ct(CtEntry *e) {
        static const WireEncodeOptions all = { .timeout = true, .tcp_wscale = true };
        uint8_t buf[WIRE_MESSAGE_MAX];
        int n = wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 0, e, &all);

        g_assert_cmpint(n, >, 0);
        g_assert_cmpint(wire_decode_ct(buf + WIRE_HEADER_SIZE, n - WIRE_HEADER_SIZE, e), ==, 0);
}

static void canonical_expect(CtExpect *x) {
        static const WireEncodeOptions all = { .timeout = true, .tcp_wscale = true };
        uint8_t buf[WIRE_MESSAGE_MAX];
        int n = wire_encode_expect(buf, sizeof buf, WIRE_EXP_NEW, 0, 0, x, &all);

        g_assert_cmpint(n, >, 0);
        g_assert_cmpint(wire_decode_expect(buf + WIRE_HEADER_SIZE, n - WIRE_HEADER_SIZE, x), ==, 0);
}

/* Encoded bytes of an object: the comparison of two objects, padding aside. */
static GBytes *bytes_of(CtKind kind, const void *obj) {
        static const WireEncodeOptions all = { .timeout = true, .tcp_wscale = true };
        uint8_t buf[WIRE_MESSAGE_MAX];
        int n = kind == CT_KIND_CT ? wire_encode_ct(buf, sizeof buf, WIRE_CT_NEW, 0, 0, obj, &all)
                                   : wire_encode_expect(buf, sizeof buf, WIRE_EXP_NEW, 0, 0, obj,
                                                        &all);

        g_assert_cmpint(n, >, 0);
        return g_bytes_new(buf, (size_t) n);
}

/* ---- fixture: four caches, each filled with its own objects ---- */

typedef struct Fixture {
        Cache *caches[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX];
        uint8_t *buf;
        size_t size;
} Fixture;

static void fill(Fixture *f, unsigned n) {
        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                        g_assert_cmpint(cache_new("x", k, 256, 100000, &f->caches[s][k]), ==, 0);
                        for (unsigned i = 0; i < n; i++) {
                                unsigned id = i + 10000 * (2 * s + k);
                                CacheObject *o;

                                if (k == CT_KIND_CT) {
                                        CtEntry e;

                                        make_ct(&e, id);
                                        canonical_ct(&e);
                                        g_assert_cmpint(cache_add(f->caches[s][k], &e, 0, &o),
                                                        ==, 0);
                                } else {
                                        CtExpect x;

                                        make_expect(&x, id);
                                        canonical_expect(&x);
                                        g_assert_cmpint(cache_add(f->caches[s][k], &x, 0, &o),
                                                        ==, 0);
                                }
                                /* in the cache for i seconds at NOW_USEC */
                                o->added_usec = NOW_USEC - (uint64_t) i * USEC_PER_SEC;
                        }
                }
}

static void serialize(Fixture *f, const uint8_t *key, size_t key_size) {
        uint64_t skipped = 99;

        free(f->buf);
        f->buf = NULL;
        g_assert_cmpint(cache_store_serialize(&(CacheStoreSource) {
                                .caches = {
                                        { f->caches[0][0], f->caches[0][1] },
                                        { f->caches[1][0], f->caches[1][1] },
                                },
                                .now_usec = NOW_USEC,
                                .created_usec = 1700000000 * USEC_PER_SEC,
                                .writer = "2.0.0",
                                .key = key,
                                .key_size = key_size,
                        }, &f->buf, &f->size, &skipped), ==, 0);
        g_assert_cmpuint(skipped, ==, 0);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        *f = (Fixture) {};
        fill(f, GPOINTER_TO_UINT(data));
        serialize(f, NULL, 0);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        cache_free(f->caches[s][k]);
        free(f->buf);
}

/* ---- round trip ---- */

typedef struct Collect {
        Fixture *f;
        uint64_t n[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX];
        int stop_after;         /* > 0: return -ECANCELED from that call on */
        unsigned calls;
} Collect;

static int on_object(const CacheStoreObject *o, void *userdata) {
        Collect *c = userdata;
        Cache *cache;
        CacheObject *co;

        c->calls++;
        if (c->stop_after > 0 && c->calls >= (unsigned) c->stop_after)
                return -ECANCELED;
        g_assert_cmpint(o->slot, >=, 0);
        g_assert_cmpint(o->slot, <, _CACHE_STORE_SLOT_MAX);
        g_assert_cmpint(o->kind, >=, 0);
        g_assert_cmpint(o->kind, <, _CT_KIND_MAX);
        c->n[o->slot][o->kind]++;
        if (!c->f)
                return 0;

        /* the object is the one that was stored, in the cache it came from, with its age */
        cache = c->f->caches[o->slot][o->kind];
        co = cache_find(cache, o->kind == CT_KIND_CT ? (const void *) &o->ct : &o->exp);
        g_assert_nonnull(co);
        g_assert_cmpuint(o->age_sec, ==, (NOW_USEC - co->added_usec) / USEC_PER_SEC);
        {
                g_autoptr(GBytes) a = bytes_of(o->kind, o->kind == CT_KIND_CT ?
                                                        (const void *) &o->ct : &o->exp);
                CtEntry buf;
                g_autoptr(GBytes) b = bytes_of(o->kind, cache_object_get(cache, co, &buf));

                g_assert_true(g_bytes_equal(a, b));
        }
        if (o->kind == CT_KIND_CT) {
                g_assert_cmpuint(o->ct.attrs, ==, cache_object_ct_value(co).attrs);
                g_assert_cmpuint(o->ct.zone, ==, cache_object_ct_value(co).zone);
        } else
                g_assert_cmpuint(o->exp.attrs, ==, cache_object_expect(co)->attrs);
        return 0;
}

static void test_round_trip(Fixture *f, gconstpointer data) {
        unsigned n = GPOINTER_TO_UINT(data);
        Collect c = { .f = f };
        CacheStoreInfo info;

        g_assert_cmpint(cache_store_parse(f->buf, f->size, NULL, 0, &info, on_object, &c), ==, 0);
        g_assert_cmpuint(info.format, ==, CACHE_STORE_FORMAT);
        g_assert_cmpuint(info.flags, ==, 0);
        g_assert_cmpstr(info.writer, ==, "2.0.0");
        g_assert_cmpuint(info.created_usec, ==, 1700000000 * USEC_PER_SEC);
        g_assert_cmpuint(info.total, ==, 4 * n);
        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                        g_assert_cmpuint(info.counts[s][k], ==, n);
                        g_assert_cmpuint(c.n[s][k], ==, n);
                }

        /* the same caches serialize to the same bytes */
        {
                g_autofree uint8_t *again = g_memdup2(f->buf, f->size);
                size_t size = f->size;

                serialize(f, NULL, 0);
                g_assert_cmpmem(again, size, f->buf, f->size);
        }
}

/* Absent caches and empty ones: a store of nothing is a valid store. */
static void test_empty(void) {
        _cleanup_(cache_freep) Cache *ext = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        CacheStoreInfo info;
        Collect c = {};
        size_t size;

        g_assert_cmpint(cache_new("external", CT_KIND_CT, 16, 16, &ext), ==, 0);
        g_assert_cmpint(cache_store_serialize(&(CacheStoreSource) {
                                .caches = { [CACHE_STORE_EXTERNAL] = { ext } },
                                .writer = "x",
                        }, &buf, &size, NULL), ==, 0);
        g_assert_cmpuint(size, ==, CACHE_STORE_HEADER_SIZE + CACHE_STORE_HASH_SIZE);
        g_assert_cmpint(cache_store_parse(buf, size, NULL, 0, &info, on_object, &c), ==, 0);
        g_assert_cmpuint(info.total, ==, 0);
        g_assert_cmpuint(c.calls, ==, 0);
}

/* What cannot come back is left out at the writer, and counted; the rest of the store is good. */
static void test_skipped(void) {
        _cleanup_(cache_freep) Cache *in = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        CacheStoreInfo info;
        Collect c = {};
        uint64_t skipped = 0;
        size_t size;
        CtEntry e;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 16, 16, &in), ==, 0);
        make_ct(&e, 1);
        g_assert_cmpint(cache_add(in, &e, 0, NULL), ==, 0);
        /* a helper name of 15 characters: the kernel has them, the 1.4.x decoder refuses them */
        make_ct(&e, 2);
        e.attrs |= CT_ATTR_HELPER;
        strcpy(e.helper, "fifteen-chars-x");
        g_assert_cmpint(cache_add(in, &e, 0, NULL), ==, 0);

        g_assert_cmpint(cache_store_serialize(&(CacheStoreSource) {
                                .caches = { { in } },
                                .writer = "x",
                        }, &buf, &size, &skipped), ==, 0);
        g_assert_cmpuint(skipped, ==, 1);
        g_assert_cmpint(cache_store_parse(buf, size, NULL, 0, &info, on_object, &c), ==, 0);
        g_assert_cmpuint(info.counts[CACHE_STORE_INTERNAL][CT_KIND_CT], ==, 1);
        g_assert_cmpuint(c.calls, ==, 1);
}

static void test_bad_arguments(void) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t key[8] = {};
        size_t size;

        g_assert_cmpint(cache_store_serialize(&(CacheStoreSource) { .writer = NULL }, &buf, &size,
                                              NULL), ==, -EINVAL);
        g_assert_cmpint(cache_store_serialize(&(CacheStoreSource) {
                                .writer = "a-version-string-of-32-characters",
                        }, &buf, &size, NULL), ==, -EINVAL);
        g_assert_cmpint(cache_store_serialize(&(CacheStoreSource) {
                                .writer = "x", .key = key, .key_size = sizeof key,
                        }, &buf, &size, NULL), ==, -EINVAL);
        g_assert_null(buf);
        g_assert_cmpint(cache_store_parse(NULL, 0, NULL, 0, NULL, NULL, NULL), ==,
                        cache_store_reason_to_errno(CACHE_STORE_REASON_TRUNCATED));
        g_assert_cmpint(cache_store_parse(NULL, 5, NULL, 0, NULL, NULL, NULL), ==, -EINVAL);
}

/* ---- rejection: nothing is handed out ---- */

static int must_not_be_called(const CacheStoreObject *o, void *userdata) {
        g_assert_not_reached();
        return 0;
}

static void assert_rejected(const uint8_t *buf, size_t size, const uint8_t *key, size_t key_size,
                            CacheStoreReason want) {
        CacheStoreInfo info = { .total = 12345 };
        int r;

        r = cache_store_parse(buf, size, key, key_size, &info, must_not_be_called, NULL);
        g_assert_cmpint(r, <, 0);
        g_assert_cmpint(cache_store_reason_from_errno(r), >=, 0);
        if ((int) want >= 0)
                g_assert_cmpstr(cache_store_reason_to_string(cache_store_reason_from_errno(r)), ==,
                                cache_store_reason_to_string(want));
        g_assert_cmpuint(info.total, ==, 12345);       /* untouched */
}

/* Recompute the plain hash after a change, so that the checks behind it are reached. */
static void rehash(uint8_t *buf, size_t size) {
        g_assert_cmpint(sodium_init(), >=, 0);
        g_assert_cmpint(crypto_generichash(buf + size - CACHE_STORE_HASH_SIZE,
                                           CACHE_STORE_HASH_SIZE, buf,
                                           size - CACHE_STORE_HASH_SIZE, NULL, 0), ==, 0);
}

static void test_truncated(Fixture *f, gconstpointer data) {
        for (size_t n = 0; n < f->size; n++)
                assert_rejected(f->buf, n, NULL, 0, _CACHE_STORE_REASON_INVALID);
        assert_rejected(f->buf, CACHE_STORE_HEADER_SIZE + CACHE_STORE_HASH_SIZE - 1, NULL, 0,
                        CACHE_STORE_REASON_TRUNCATED);
        assert_rejected(f->buf, 3, NULL, 0, CACHE_STORE_REASON_TRUNCATED);
        /* a record cut short, with a hash that matches what is left */
        {
                g_autofree uint8_t *b = g_memdup2(f->buf, f->size);
                size_t size = CACHE_STORE_HEADER_SIZE + 12 + CACHE_STORE_HASH_SIZE;

                rehash(b, size);
                assert_rejected(b, size, NULL, 0, CACHE_STORE_REASON_BAD_RECORD);
        }
}

/* Every single bit flipped anywhere: rejected, never half-applied. */
static void test_bit_flips(Fixture *f, gconstpointer data) {
        g_autofree uint8_t *b = g_memdup2(f->buf, f->size);

        for (size_t i = 0; i < f->size; i++)
                for (unsigned bit = 0; bit < 8; bit += 3) {
                        b[i] ^= (uint8_t) (1u << bit);
                        assert_rejected(b, f->size, NULL, 0, _CACHE_STORE_REASON_INVALID);
                        b[i] ^= (uint8_t) (1u << bit);
                }
        /* past the header, a flip is caught by the hash */
        b[CACHE_STORE_HEADER_SIZE + 20] ^= 1;
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_HASH);
        b[CACHE_STORE_HEADER_SIZE + 20] ^= 1;
        b[f->size - 1] ^= 0x80;
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_HASH);
}

static void test_foreign(void) {
        uint8_t b[4096];

        /* another program's memfd: text, zeros, random bytes, our dump format */
        memset(b, 0, sizeof b);
        assert_rejected(b, sizeof b, NULL, 0, CACHE_STORE_REASON_BAD_MAGIC);
        for (size_t i = 0; i < sizeof b; i++)
                b[i] = (uint8_t) g_test_rand_int();
        assert_rejected(b, sizeof b, NULL, 0, CACHE_STORE_REASON_BAD_MAGIC);
        strcpy((char *) b, "tcp      6 431999 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=1 "
                           "dport=2 [ASSURED] mark=0 use=1\n");
        assert_rejected(b, strlen((char *) b), NULL, 0, CACHE_STORE_REASON_BAD_MAGIC);
        assert_rejected((const uint8_t *) "hello, world", 12, NULL, 0,
                        CACHE_STORE_REASON_BAD_MAGIC);
}

static void test_header(Fixture *f, gconstpointer data) {
        g_autofree uint8_t *b = g_memdup2(f->buf, f->size);

        /* another format version: refused even with a good hash */
        b[8] = 2;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_FORMAT);
        memcpy(b, f->buf, f->size);

        /* unknown flags */
        b[12] = 0x2;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_HEADER);
        memcpy(b, f->buf, f->size);

        /* writer's version not terminated, or with a control character */
        memset(b + 40, 'x', CACHE_STORE_WRITER_MAX);
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_HEADER);
        memcpy(b, f->buf, f->size);
        b[41] = '\n';
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_HEADER);
        memcpy(b, f->buf, f->size);
        b[40 + 10] = 'y';       /* garbage after the NUL */
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_HEADER);
}

static void test_counts(Fixture *f, gconstpointer data) {
        g_autofree uint8_t *b = g_memdup2(f->buf, f->size);

        for (unsigned i = 0; i < 4; i++) {
                memcpy(b, f->buf, f->size);
                b[24 + 4 * i] ^= 1;
                rehash(b, f->size);
                assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_COUNTS);
        }
        /* a count that would overflow a naive sum */
        memcpy(b, f->buf, f->size);
        memset(b + 24, 0xff, 16);
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_COUNTS);
}

static void test_records(Fixture *f, gconstpointer data) {
        g_autofree uint8_t *b = g_memdup2(f->buf, f->size);
        uint8_t *rec = b + CACHE_STORE_HEADER_SIZE;
        uint8_t *big = NULL;

        /* a slot or kind that does not exist */
        rec[0] = 2;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_RECORD);
        memcpy(b, f->buf, f->size);
        rec[1] = 2;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_RECORD);
        memcpy(b, f->buf, f->size);

        /* lengths: past the end, not aligned, shorter than a header, longer than a message */
        for (unsigned i = 0; i < 4; i++) {
                static const uint16_t lens[] = { 0xfffc, 30, 4, WIRE_MESSAGE_MAX + 4 };

                memcpy(b, f->buf, f->size);
                rec[2] = (uint8_t) lens[i];
                rec[3] = (uint8_t) (lens[i] >> 8);
                rehash(b, f->size);
                assert_rejected(b, f->size, NULL, 0, _CACHE_STORE_REASON_INVALID);
        }
        memcpy(b, f->buf, f->size);
        rec[2] = 0xfc;
        rec[3] = 0xff;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_RECORD);

        /* trailing bytes after the last record */
        big = g_malloc(f->size + 8);
        memcpy(big, f->buf, f->size - CACHE_STORE_HASH_SIZE);
        memset(big + f->size - CACHE_STORE_HASH_SIZE, 0, 8);
        rehash(big, f->size + 8);
        assert_rejected(big, f->size + 8, NULL, 0, CACHE_STORE_REASON_BAD_RECORD);
        g_free(big);
}

static void test_objects(Fixture *f, gconstpointer data) {
        g_autofree uint8_t *b = g_memdup2(f->buf, f->size);
        uint8_t *rec = b + CACHE_STORE_HEADER_SIZE, *msg = rec + CACHE_STORE_RECORD_HEADER_SIZE;

        /* the first record is an internal conntrack */
        g_assert_cmpuint(rec[0], ==, CACHE_STORE_INTERNAL);
        g_assert_cmpuint(rec[1], ==, CT_KIND_CT);

        /* the message says expectation, the record conntrack (and the other way round) */
        rec[1] = CT_KIND_EXPECT;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_OBJECT);
        memcpy(b, f->buf, f->size);
        /* an update, not a NEW */
        msg[0] = (uint8_t) ((msg[0] & 0xf0) | WIRE_CT_UPD);
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_OBJECT);
        memcpy(b, f->buf, f->size);
        /* wire version 2 */
        msg[0] = (uint8_t) ((2 << 4) | WIRE_CT_NEW);
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_OBJECT);
        memcpy(b, f->buf, f->size);
        /* flags (HELLO) */
        msg[1] = WIRE_F_HELLO;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_OBJECT);
        memcpy(b, f->buf, f->size);
        /* the message's own length disagrees with the record's */
        msg[3] ^= 4;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_OBJECT);
        memcpy(b, f->buf, f->size);
        /* an attribute id the decoder does not know (the first attribute's) */
        msg[WIRE_HEADER_SIZE + 2] = 0x7f;
        rehash(b, f->size);
        assert_rejected(b, f->size, NULL, 0, CACHE_STORE_REASON_BAD_OBJECT);
}

static void test_keyed(Fixture *f, gconstpointer data) {
        uint8_t key[32], other[32];
        Collect c = {};

        memset(key, 0x5a, sizeof key);
        memset(other, 0xa5, sizeof other);
        serialize(f, key, sizeof key);
        g_assert_cmpint(cache_store_parse(f->buf, f->size, key, sizeof key, NULL, on_object, &c),
                        ==, 0);
        g_assert_cmpuint(c.calls, ==, 4 * GPOINTER_TO_UINT(data));
        assert_rejected(f->buf, f->size, other, sizeof other, CACHE_STORE_REASON_BAD_HASH);
        assert_rejected(f->buf, f->size, NULL, 0, CACHE_STORE_REASON_KEY_MISMATCH);
        serialize(f, NULL, 0);
        assert_rejected(f->buf, f->size, key, sizeof key, CACHE_STORE_REASON_KEY_MISMATCH);
}

/* A callback error stops the walk and is returned. */
static void test_callback_error(Fixture *f, gconstpointer data) {
        Collect c = { .stop_after = 3 };

        g_assert_cmpint(cache_store_parse(f->buf, f->size, NULL, 0, NULL, on_object, &c), ==,
                        -ECANCELED);
        g_assert_cmpuint(c.calls, ==, 3);
        /* no callback at all: a plain check */
        g_assert_cmpint(cache_store_parse(f->buf, f->size, NULL, 0, NULL, NULL, NULL), ==, 0);
}

static void test_tables(void) {
        for (CacheStoreReason r = 0; r < _CACHE_STORE_REASON_MAX; r++) {
                const char *s = cache_store_reason_to_string(r);

                g_assert_nonnull(s);
                g_assert_nonnull(cache_store_reason_describe(r));
                g_assert_cmpint(cache_store_reason_from_string(s), ==, r);
                g_assert_cmpint(cache_store_reason_to_errno(r), <, 0);
                g_assert_cmpint(cache_store_reason_from_errno(cache_store_reason_to_errno(r)),
                                ==, r);
        }
        g_assert_null(cache_store_reason_to_string(_CACHE_STORE_REASON_MAX));
        g_assert_null(cache_store_reason_describe(_CACHE_STORE_REASON_INVALID));
        g_assert_cmpint(cache_store_reason_from_string("nope"), ==, _CACHE_STORE_REASON_INVALID);
        g_assert_cmpint(cache_store_reason_from_errno(-ENOENT), ==, _CACHE_STORE_REASON_INVALID);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/cache-store/tables", test_tables);
        g_test_add_func("/cache-store/empty", test_empty);
        g_test_add_func("/cache-store/skipped", test_skipped);
        g_test_add_func("/cache-store/bad-arguments", test_bad_arguments);
        g_test_add_func("/cache-store/foreign", test_foreign);
#define ADD(path, n, fn)                                                                        \
        g_test_add(path, Fixture, GUINT_TO_POINTER(n), fixture_setup, fn, fixture_teardown)
        ADD("/cache-store/round-trip", N_PER_CACHE, test_round_trip);
        ADD("/cache-store/keyed", 50, test_keyed);
        ADD("/cache-store/callback-error", 10, test_callback_error);
        ADD("/cache-store/truncated", 3, test_truncated);
        ADD("/cache-store/bit-flips", 3, test_bit_flips);
        ADD("/cache-store/header", 5, test_header);
        ADD("/cache-store/counts", 5, test_counts);
        ADD("/cache-store/records", 5, test_records);
        ADD("/cache-store/objects", 5, test_objects);
#undef ADD
        return g_test_run();
}
