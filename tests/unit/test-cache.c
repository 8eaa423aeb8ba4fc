/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <glib.h>
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
        g_assert_true(ct_entry_same(&o->ct, &e));

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
        g_assert_cmpuint(o->ct.mark, ==, 42);
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
        g_assert_cmpuint(o->ct.mark, ==, 7);
        g_assert_cmpuint(o->ct.timeout, ==, 432000);
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
        if (ntohl(o->ct.orig.src.ip) & 1)
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
        return g_test_run();
}
