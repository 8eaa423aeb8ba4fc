/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>
#include <string.h>
#include <sys/socket.h>

#include "cache.h"
#include "fake-kernel.h"

typedef struct HookCount {
        unsigned add, upd, del;
} HookCount;

static void on_add(Cache *c, const CacheObject *o, void *u) {
        ((HookCount *) u)->add++;
}
static void on_update(Cache *c, const CacheObject *o, void *u) {
        ((HookCount *) u)->upd++;
}
static void on_del(Cache *c, const CacheObject *o, void *u) {
        ((HookCount *) u)->del++;
}

static void test_new_invalid(void) {
        Cache *c = NULL;

        g_assert_cmpint(cache_new("x", CT_KIND_CT, 0, 10, &c), ==, -EINVAL);
        g_assert_cmpint(cache_new("x", CT_KIND_CT, 10, 0, &c), ==, -EINVAL);
        g_assert_cmpint(cache_new("x", _CT_KIND_MAX, 10, 10, &c), ==, -EINVAL);
        g_assert_null(c);
        g_assert_null(cache_free(NULL));
}

static void test_add_find_del(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        HookCount hc = {};
        CtEntry e;
        CacheObject *o = NULL;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 16, 1000, &c), ==, 0);
        cache_set_hooks(c, &(CacheHooks) { on_add, on_update, on_del, &hc });
        for (unsigned i = 0; i < 500; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(cache_add(c, &e, 1000 + i, NULL), ==, 0);
        }
        g_assert_cmpuint(cache_size(c), ==, 500);
        g_assert_cmpuint(hc.add, ==, 500);

        fake_ct_make_tcp(&e, 123);
        o = cache_find(c, &e);
        g_assert_nonnull(o);
        g_assert_cmpuint(o->added_usec, ==, 1123);
        {
                CtEntry got = cache_object_ct_value(o);

                g_assert_true(ct_entry_same(&got, &e));
        }

        g_assert_cmpint(cache_del(c, &e), ==, 0);
        g_assert_null(cache_find(c, &e));
        g_assert_cmpint(cache_del(c, &e), ==, -ENOENT);
        g_assert_cmpuint(cache_stats(c)->del_fail_enoent, ==, 1);
        g_assert_cmpuint(cache_size(c), ==, 499);
        g_assert_cmpuint(hc.del, ==, 1);
}

static void test_add_replaces(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        CtEntry e;
        CacheObject *o;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 16, 10, &c), ==, 0);
        fake_ct_make_tcp(&e, 1);
        g_assert_cmpint(cache_add(c, &e, 1, NULL), ==, 0);
        e.mark = 42;
        g_assert_cmpint(cache_add(c, &e, 5, &o), ==, 0);
        g_assert_cmpuint(cache_size(c), ==, 1);
        g_assert_cmpuint(cache_object_ct_value(o).mark, ==, 42);
        g_assert_cmpuint(o->added_usec, ==, 5);        /* lifetime restarts */
}

static void test_update_upserts(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        CtEntry e, u = {};
        CacheObject *o;

        g_assert_cmpint(cache_new("external", CT_KIND_CT, 16, 10, &c), ==, 0);
        fake_ct_make_tcp(&e, 1);
        /* unknown: added */
        g_assert_cmpint(cache_update(c, &e, 1, &o), ==, 0);
        g_assert_cmpuint(cache_size(c), ==, 1);
        g_assert_cmpuint(cache_stats(c)->upd_fail_enoent, ==, 1);
        /* known: attributes present overwrite, others stay */
        u.orig = e.orig;
        u.attrs = CT_ATTR_MARK;
        u.mark = 7;
        g_assert_cmpint(cache_update(c, &u, 9, &o), ==, 0);
        g_assert_cmpuint(cache_object_ct_value(o).mark, ==, 7);
        g_assert_cmpuint(cache_object_ct_value(o).timeout, ==, 432000);
        g_assert_cmpuint(o->added_usec, ==, 1);
        g_assert_cmpuint(o->updated_usec, ==, 9);
        g_assert_cmpuint(cache_stats(c)->upd_ok, ==, 1);
}

static void test_limit(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        CtEntry e;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 4, 3, &c), ==, 0);
        for (unsigned i = 0; i < 3; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, 0);
        }
        g_assert_true(cache_is_full(c));
        fake_ct_make_tcp(&e, 10);
        g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, -ENOSPC);
        g_assert_cmpint(cache_update(c, &e, 0, NULL), ==, -ENOSPC);
        g_assert_cmpuint(cache_stats(c)->add_fail_nospace, ==, 2);
        g_assert_cmpuint(cache_stats(c)->upd_fail, ==, 1);
        g_assert_cmpuint(cache_size(c), ==, 3);
        /* replacing an existing one still works when full */
        fake_ct_make_tcp(&e, 1);
        g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, 0);
        g_assert_cmpuint(cache_size(c), ==, 3);
}

static int count_and_delete_odd(Cache *c, CacheObject *o, void *u) {
        unsigned *n = u;

        (*n)++;
        if (ntohl(cache_object_ct_value(o).orig.src.ip) & 1)
                cache_del_object(c, o);
        return 0;
}

static void test_foreach_delete(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        CtEntry e;
        unsigned n = 0;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 2, 100, &c), ==, 0);
        for (unsigned i = 0; i < 50; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, 0);
        }
        g_assert_cmpint(cache_foreach(c, count_and_delete_odd, &n), ==, 0);
        g_assert_cmpuint(n, ==, 50);
        g_assert_cmpuint(cache_size(c), ==, 25);
}

static void test_generation_purge(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        HookCount hc = {};
        CtEntry e;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 64, 100, &c), ==, 0);
        for (unsigned i = 0; i < 10; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, 0);
        }
        cache_set_hooks(c, &(CacheHooks) { on_add, on_update, on_del, &hc });
        cache_begin_generation(c);
        /* a "dump" sees 0..4 again and a new one */
        for (unsigned i = 0; i < 5; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(cache_update(c, &e, 1, NULL), ==, 0);
        }
        fake_ct_make_tcp(&e, 77);
        g_assert_cmpint(cache_update(c, &e, 1, NULL), ==, 0);
        g_assert_cmpuint(cache_purge_generation(c), ==, 5);
        g_assert_cmpuint(cache_size(c), ==, 6);
        g_assert_cmpuint(hc.del, ==, 5);
        fake_ct_make_tcp(&e, 7);
        g_assert_null(cache_find(c, &e));
}

static void test_expect(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        CtExpect x = { .expected = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .dport = 50001 } }, y;

        g_assert_cmpint(cache_new("internal-expect", CT_KIND_EXPECT, 8, 10, &c), ==, 0);
        x.expected.src.ip = htonl(0x7f000001);
        x.expected.dst.ip = htonl(0x7f000001);
        g_assert_cmpint(cache_add(c, &x, 0, NULL), ==, 0);
        y = x;
        y.expected.dport = 50002;
        g_assert_null(cache_find(c, &y));
        g_assert_nonnull(cache_find(c, &x));
        g_assert_cmpint(cache_del(c, &x), ==, 0);
}

static void test_large(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        CtEntry e;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 65536, 262144, &c), ==, 0);
        for (unsigned i = 0; i < 200000; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, 0);
        }
        g_assert_cmpuint(cache_size(c), ==, 200000);
        for (unsigned i = 0; i < 200000; i += 7) {
                fake_ct_make_tcp(&e, i);
                g_assert_nonnull(cache_find(c, &e));
        }
        cache_flush(c);
        g_assert_cmpuint(cache_size(c), ==, 0);
}

/* Every attribute a flow can have comes back whole from the cache, whichever part of the object
 * it is kept in; an update that drops the rare attributes' values frees their part and still
 * reads back right; a synproxy of zeros (what the kernel reports) reads back as it went in. */
static void test_compact_storage(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        CtEntry e, got, u = {};
        CacheObject *o = NULL;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 8, 100, &c), ==, 0);

        fake_ct_make_tcp(&e, 1);
        e.attrs |= CT_ATTR_MASTER | CT_ATTR_HELPER | CT_ATTR_LABELS | CT_ATTR_COUNTERS |
                   CT_ATTR_TIMESTAMP | CT_ATTR_NAT_SEQ_ADJ | CT_ATTR_SNAT | CT_ATTR_SPAT |
                   CT_ATTR_SYNPROXY;
        fake_ct_make_tcp(&u, 99);
        e.master = u.orig;
        strcpy(e.helper, "ftp");
        e.labels[3] = 0x80000001u;
        e.counters.packets_orig = 12;
        e.counters.bytes_repl = 1ULL << 40;
        e.timestamp.start = 1700000000000000000ULL;
        e.seq_adj.repl_after = 77;
        e.nat.snat_addr.ip = 0x01020304;
        e.nat.spat_port = 4444;
        e.synproxy.its = 5;
        g_assert_cmpint(cache_add(c, &e, 1, &o), ==, 0);
        cache_object_ct(o, &got);
        g_assert_cmpmem(&got, sizeof(got), &e, sizeof(e));

        /* only the core changes */
        memset(&u, 0, sizeof(u));
        u.orig = e.orig;
        u.attrs = CT_ATTR_MARK | CT_ATTR_TCP_STATE;
        u.mark = 9;
        u.tcp.state = 7;
        g_assert_cmpint(cache_update(c, &u, 2, &o), ==, 0);
        e.mark = 9;
        e.attrs |= CT_ATTR_MARK;
        e.tcp.state = 7;
        cache_object_ct(o, &got);
        g_assert_cmpmem(&got, sizeof(got), &e, sizeof(e));

        /* a flow without rare attributes, and one whose synproxy is all zeros */
        fake_ct_make_tcp(&e, 2);
        g_assert_cmpint(cache_add(c, &e, 1, &o), ==, 0);
        g_assert_null(o->extra);
        cache_object_ct(o, &got);
        g_assert_cmpmem(&got, sizeof(got), &e, sizeof(e));
        fake_ct_make_tcp(&e, 3);
        e.attrs |= CT_ATTR_SYNPROXY;
        g_assert_cmpint(cache_add(c, &e, 1, &o), ==, 0);
        g_assert_null(o->extra);
        cache_object_ct(o, &got);
        g_assert_cmpmem(&got, sizeof(got), &e, sizeof(e));
        g_assert_true(got.attrs & CT_ATTR_SYNPROXY);

        /* a replacement (NEW again) without the rare part drops it */
        fake_ct_make_tcp(&e, 1);
        g_assert_cmpint(cache_add(c, &e, 3, &o), ==, 0);
        g_assert_null(o->extra);
        cache_object_ct(o, &got);
        g_assert_cmpmem(&got, sizeof(got), &e, sizeof(e));
}

/* A table of 4 buckets for 20000 flows: it grows as they come (the chains stay short), but not
 * under a walk, and everything stays findable; flushing and refilling reuses the memory. */
static int add_during_walk(Cache *c, CacheObject *o, void *u) {
        unsigned *n = u;
        CtEntry e;

        /* insertions while walking: the table must not be rebuilt under the walk */
        if (*n < 3000) {
                fake_ct_make_tcp(&e, 100000 + (*n)++);
                g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, 0);
        }
        return 0;
}

static void test_growth(void) {
        _cleanup_(cache_freep) Cache *c = NULL;
        unsigned added = 0;
        CtEntry e;

        g_assert_cmpint(cache_new("internal", CT_KIND_CT, 4, 1000000, &c), ==, 0);
        for (unsigned round = 0; round < 2; round++) {
                for (unsigned i = 0; i < 20000; i++) {
                        fake_ct_make_tcp(&e, i);
                        g_assert_cmpint(cache_add(c, &e, 0, NULL), ==, 0);
                }
                g_assert_cmpuint(cache_size(c), ==, 20000);
                g_assert_cmpuint(cache_hash_size(c), ==, 4);    /* the configured value */
                for (unsigned i = 0; i < 20000; i++) {
                        fake_ct_make_tcp(&e, i);
                        g_assert_nonnull(cache_find(c, &e));
                }
                added = 0;
                g_assert_cmpint(cache_foreach(c, add_during_walk, &added), ==, 0);
                g_assert_cmpuint(cache_size(c), ==, 23000);
                for (unsigned i = 0; i < 3000; i++) {
                        fake_ct_make_tcp(&e, 100000 + i);
                        g_assert_cmpint(cache_del(c, &e), ==, 0);
                }
                for (unsigned i = 0; i < 20000; i += 2) {
                        fake_ct_make_tcp(&e, i);
                        g_assert_cmpint(cache_del(c, &e), ==, 0);
                }
                g_assert_cmpuint(cache_size(c), ==, 10000);
                cache_flush(c);
                g_assert_cmpuint(cache_size(c), ==, 0);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/cache/new-invalid", test_new_invalid);
        g_test_add_func("/cache/add-find-del", test_add_find_del);
        g_test_add_func("/cache/add-replaces", test_add_replaces);
        g_test_add_func("/cache/update-upserts", test_update_upserts);
        g_test_add_func("/cache/limit", test_limit);
        g_test_add_func("/cache/foreach-delete", test_foreach_delete);
        g_test_add_func("/cache/generation-purge", test_generation_purge);
        g_test_add_func("/cache/expect", test_expect);
        g_test_add_func("/cache/large", test_large);
        g_test_add_func("/cache/compact-storage", test_compact_storage);
        g_test_add_func("/cache/growth", test_growth);
        return g_test_run();
}
