/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "cache.h"

struct Cache {
        char *name;
        CtKind kind;
        uint32_t hash_size, hash_limit;
        uint32_t seed;
        CacheObject **buckets;
        size_t n_objects;
        uint64_t generation;
        CacheStats stats;
        CacheHooks hooks;
};

int cache_new(const char *name, CtKind kind, uint32_t hash_size, uint32_t hash_limit, Cache **ret) {
        Cache *c;

        if (!name || kind < 0 || kind >= _CT_KIND_MAX || hash_size == 0 || hash_limit == 0 || !ret)
                return -EINVAL;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        *c = (Cache) {
                .kind = kind,
                .hash_size = hash_size,
                .hash_limit = hash_limit,
                /* a fixed seed per cache; identity hashing needs no secrecy here since chains are
                 * bounded by HashLimit, but vary it per cache kind */
                .seed = 0x9e3779b9u * (uint32_t) (kind + 1),
                .generation = 1,
        };
        c->name = strdup(name);
        c->buckets = calloc(hash_size, sizeof *c->buckets);
        if (!c->name || !c->buckets) {
                cache_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

Cache *cache_free(Cache *c) {
        if (!c)
                return NULL;
        if (c->buckets)
                cache_flush(c);
        free(c->buckets);
        free(c->name);
        free(c);
        return NULL;
}

void cache_set_hooks(Cache *c, const CacheHooks *hooks) {
        c->hooks = hooks ? *hooks : (CacheHooks) {};
}

const char *cache_name(const Cache *c) {
        return c->name;
}

CtKind cache_kind(const Cache *c) {
        return c->kind;
}

size_t cache_size(const Cache *c) {
        return c->n_objects;
}

uint32_t cache_hash_size(const Cache *c) {
        return c->hash_size;
}

uint32_t cache_hash_limit(const Cache *c) {
        return c->hash_limit;
}

const CacheStats *cache_stats(const Cache *c) {
        return &c->stats;
}

void cache_set_hash_limit(Cache *c, uint32_t limit) {
        if (limit > 0)
                c->hash_limit = limit;
}

bool cache_is_full(const Cache *c) {
        return c->n_objects >= c->hash_limit;
}

static uint32_t obj_hash(const Cache *c, const void *obj) {
        return c->kind == CT_KIND_CT ? ct_entry_hash(obj, c->seed) : ct_expect_hash(obj, c->seed);
}

static bool obj_same(const Cache *c, const CacheObject *o, const void *obj) {
        return c->kind == CT_KIND_CT ? ct_entry_same(&o->ct, obj) : ct_expect_same(&o->exp, obj);
}

static CacheObject **find_slot(const Cache *c, const void *obj, uint32_t hash) {
        CacheObject **p = &c->buckets[hash % c->hash_size];

        for (; *p; p = &(*p)->next)
                if ((*p)->hash == hash && obj_same(c, *p, obj))
                        return p;
        return NULL;
}

CacheObject *cache_find(const Cache *c, const void *obj) {
        CacheObject **p = find_slot(c, obj, obj_hash(c, obj));

        return p ? *p : NULL;
}

static void unlink_slot(Cache *c, CacheObject **p, bool hooks) {
        CacheObject *o = *p;

        *p = o->next;
        c->n_objects--;
        if (hooks && c->hooks.on_del)
                c->hooks.on_del(c, o, c->hooks.userdata);
        free(o);
}

/* Insert a fresh object; the caller checked that no object of that identity exists. */
static int insert_new(Cache *c, const void *obj, uint32_t hash, uint64_t now, CacheObject **ret) {
        CacheObject *o;

        if (c->n_objects >= c->hash_limit) {
                c->stats.add_fail++;
                c->stats.add_fail_nospace++;
                return -ENOSPC;
        }
        o = calloc(1, sizeof *o);
        if (!o) {
                c->stats.add_fail++;
                c->stats.add_fail_nomem++;
                return -ENOMEM;
        }
        o->hash = hash;
        o->generation = c->generation;
        o->added_usec = o->updated_usec = now;
        if (c->kind == CT_KIND_CT)
                o->ct = *(const CtEntry *) obj;
        else
                o->exp = *(const CtExpect *) obj;

        o->next = c->buckets[hash % c->hash_size];
        c->buckets[hash % c->hash_size] = o;
        c->n_objects++;
        c->stats.add_ok++;
        if (c->hooks.on_add)
                c->hooks.on_add(c, o, c->hooks.userdata);
        if (ret)
                *ret = o;
        return 0;
}

int cache_add(Cache *c, const void *obj, uint64_t now_usec, CacheObject **ret_obj) {
        uint32_t hash = obj_hash(c, obj);
        CacheObject **p = find_slot(c, obj, hash);

        /* NEW for a known identity: the old object goes, the new one starts its life. */
        if (p) {
                unlink_slot(c, p, true);
                c->stats.del_ok++;
        }
        return insert_new(c, obj, hash, now_usec, ret_obj);
}

int cache_update(Cache *c, const void *obj, uint64_t now_usec, CacheObject **ret_obj) {
        uint32_t hash = obj_hash(c, obj);
        CacheObject **p = find_slot(c, obj, hash);
        CacheObject *o;
        int r;

        if (!p) {
                c->stats.upd_fail_enoent++;
                r = insert_new(c, obj, hash, now_usec, ret_obj);
                if (r < 0)
                        c->stats.upd_fail++;
                return r;
        }
        o = *p;
        if (c->kind == CT_KIND_CT)
                ct_entry_update(&o->ct, obj);
        else
                ct_expect_update(&o->exp, obj);
        o->generation = c->generation;
        o->updated_usec = now_usec;
        c->stats.upd_ok++;
        if (c->hooks.on_update)
                c->hooks.on_update(c, o, c->hooks.userdata);
        if (ret_obj)
                *ret_obj = o;
        return 0;
}

int cache_del(Cache *c, const void *obj) {
        CacheObject **p = find_slot(c, obj, obj_hash(c, obj));

        if (!p) {
                c->stats.del_fail++;
                c->stats.del_fail_enoent++;
                return -ENOENT;
        }
        unlink_slot(c, p, true);
        c->stats.del_ok++;
        return 0;
}

void cache_del_object(Cache *c, CacheObject *o) {
        CacheObject **p = &c->buckets[o->hash % c->hash_size];

        for (; *p; p = &(*p)->next)
                if (*p == o) {
                        unlink_slot(c, p, true);
                        c->stats.del_ok++;
                        return;
                }
}

void cache_flush(Cache *c) {
        for (uint32_t i = 0; i < c->hash_size; i++)
                while (c->buckets[i])
                        unlink_slot(c, &c->buckets[i], false);
}

int cache_foreach(Cache *c, CacheForeachFunc f, void *userdata) {
        for (uint32_t i = 0; i < c->hash_size; i++) {
                CacheObject *o = c->buckets[i], *next;

                for (; o; o = next) {
                        int r;

                        next = o->next;         /* f may delete o */
                        r = f(c, o, userdata);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

uint64_t cache_begin_generation(Cache *c) {
        return ++c->generation;
}

size_t cache_purge_generation(Cache *c) {
        size_t n = 0;

        for (uint32_t i = 0; i < c->hash_size; i++) {
                CacheObject **p = &c->buckets[i];

                while (*p) {
                        if ((*p)->generation < c->generation) {
                                unlink_slot(c, p, true);
                                c->stats.del_ok++;
                                n++;
                        } else
                                p = &(*p)->next;
                }
        }
        return n;
}
