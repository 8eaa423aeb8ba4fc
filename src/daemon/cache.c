/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cache.h"
#include "macro.h"

/*
 * A flow is kept as the first CT_CORE_SIZE bytes of its CtEntry (tuples, zone, attribute bits,
 * status, timeout, mark, secmark, id, use, TCP state) in the object, and the rest, from the SCTP
 * state on, in an allocation of its own when one of those attributes is present.
 */
#define CT_CORE_SIZE offsetof(CtEntry, sctp)
#define CT_EXTRA_SIZE (sizeof(CtEntry) - CT_CORE_SIZE)
#define CT_EXTRA_ATTRS                                                                          \
        (CT_ATTR_SCTP_STATE | CT_ATTR_DCCP_STATE | CT_ATTR_MASTER | CT_ATTR_NAT_SEQ_ADJ |      \
         CT_ATTR_HELPER | CT_ATTR_LABELS | CT_ATTR_SYNPROXY | CT_ATTR_COUNTERS |               \
         CT_ATTR_TIMESTAMP | CT_ATTR_SNAT | CT_ATTR_DNAT | CT_ATTR_SPAT | CT_ATTR_DPAT)

/* Everything of the core lies before the split, everything of the extra after it. */
_Static_assert(offsetof(CtEntry, tcp) + sizeof(((CtEntry *) 0)->tcp) <= CT_CORE_SIZE, "core");
_Static_assert(offsetof(CtEntry, dccp) > CT_CORE_SIZE && offsetof(CtEntry, master) > CT_CORE_SIZE &&
               offsetof(CtEntry, nat) > CT_CORE_SIZE && offsetof(CtEntry, seq_adj) > CT_CORE_SIZE &&
               offsetof(CtEntry, helper) > CT_CORE_SIZE && offsetof(CtEntry, labels) > CT_CORE_SIZE &&
               offsetof(CtEntry, synproxy) > CT_CORE_SIZE &&
               offsetof(CtEntry, counters) > CT_CORE_SIZE &&
               offsetof(CtEntry, timestamp) > CT_CORE_SIZE, "extra");

/*
 * Objects come from slabs of the cache's own (a free list, no allocator header, and the pages of
 * a large cache in huge pages where the kernel offers them: a page fault per 4 KiB of new objects
 * was a large share of an event burst's CPU time). Slabs are given back when the cache is
 * flushed or freed. Under AddressSanitizer every object is an allocation of its own, so that a
 * use after free is still caught.
 */
#if defined(__SANITIZE_ADDRESS__)
#  define CACHE_POOL 0
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer)
#    define CACHE_POOL 0
#  endif
#endif
#ifndef CACHE_POOL
#  define CACHE_POOL 1
#endif

#define SLAB_FIRST_SIZE (64u * 1024u)
#define SLAB_HUGE_SIZE (2u * 1024u * 1024u)

typedef struct Slab {
        struct Slab *next;
        _Alignas(16) unsigned char data[];
} Slab;

struct Cache {
        char *name;
        CtKind kind;
        uint32_t hash_size, hash_limit;
        uint32_t seed;
        CacheObject **buckets;
        uint32_t n_buckets;             /* HashSize at first, doubled while objects outnumber it */
        unsigned walking;               /* no rehash while a walk runs */
        size_t n_objects;
        uint64_t generation;
        CacheStats stats;
        CacheHooks hooks;

        size_t obj_size;
        CacheObject *free_list;
        Slab *slabs;
        unsigned char *slab_pos, *slab_end;
        size_t slab_next;
};

/* ---- objects ---- */

static void slabs_release(Cache *c) {
        while (c->slabs) {
                Slab *next = c->slabs->next;

                free(c->slabs);
                c->slabs = next;
        }
        c->free_list = NULL;
        c->slab_pos = c->slab_end = NULL;
        c->slab_next = SLAB_FIRST_SIZE;
}

static CacheObject *object_alloc(Cache *c) {
        CacheObject *o;

        if (!CACHE_POOL)
                return calloc(1, c->obj_size);

        if (c->free_list) {
                o = c->free_list;
                c->free_list = o->next;
        } else {
                if (!c->slab_pos || (size_t) (c->slab_end - c->slab_pos) < c->obj_size) {
                        size_t size = c->slab_next;
                        Slab *sl = NULL;

                        if (size >= SLAB_HUGE_SIZE) {
                                void *p = NULL;

                                if (posix_memalign(&p, SLAB_HUGE_SIZE, size) != 0)
                                        return NULL;
                                (void) madvise(p, size, MADV_HUGEPAGE);
                                sl = p;
                        } else {
                                sl = malloc(size);
                                if (!sl)
                                        return NULL;
                        }
                        sl->next = c->slabs;
                        c->slabs = sl;
                        c->slab_pos = sl->data;
                        c->slab_end = (unsigned char *) sl + size;
                        c->slab_next = MIN(size * 2, (size_t) SLAB_HUGE_SIZE);
                }
                o = (CacheObject *) c->slab_pos;
                c->slab_pos += c->obj_size;
        }
        memset(o, 0, sizeof(*o));
        return o;
}

static void object_free(Cache *c, CacheObject *o) {
        free(o->extra);
        if (!CACHE_POOL) {
                free(o);
                return;
        }
        o->next = c->free_list;
        c->free_list = o;
}

/* The flow into the object; the old extra part is kept on failure (nothing half-written). */
static int ct_store(CacheObject *o, const CtEntry *e) {
        static const unsigned char zero[CT_EXTRA_SIZE];

        /* The extra part is kept only when it holds something: the kernel reports a synproxy
         * of zeros for every flow made through ctnetlink, and that reads back the same. */
        if ((e->attrs & CT_EXTRA_ATTRS) &&
            memcmp((const unsigned char *) e + CT_CORE_SIZE, zero, CT_EXTRA_SIZE) != 0) {
                if (!o->extra) {
                        o->extra = malloc(CT_EXTRA_SIZE);
                        if (!o->extra)
                                return -ENOMEM;
                }
                memcpy(o->extra, (const unsigned char *) e + CT_CORE_SIZE, CT_EXTRA_SIZE);
        } else if (o->extra) {
                free(o->extra);
                o->extra = NULL;
        }
        memcpy(o->data, e, CT_CORE_SIZE);
        return 0;
}

void cache_object_ct(const CacheObject *o, CtEntry *ret) {
        memcpy(ret, o->data, CT_CORE_SIZE);
        if (o->extra)
                memcpy((unsigned char *) ret + CT_CORE_SIZE, o->extra, CT_EXTRA_SIZE);
        else
                memset((unsigned char *) ret + CT_CORE_SIZE, 0, CT_EXTRA_SIZE);
}

const CtExpect *cache_object_expect(const CacheObject *o) {
        return (const CtExpect *) o->data;
}

const void *cache_object_get(const Cache *c, const CacheObject *o, CtEntry *buf) {
        if (c->kind == CT_KIND_CT) {
                cache_object_ct(o, buf);
                return buf;
        }
        return cache_object_expect(o);
}

/* The identity of a stored flow without assembling it. */
static bool ct_core_same(const CacheObject *o, const CtEntry *e) {
        CtTuple t;
        uint16_t zone;

        memcpy(&zone, o->data + offsetof(CtEntry, zone), sizeof(zone));
        if (zone != e->zone)
                return false;
        memcpy(&t, o->data + offsetof(CtEntry, orig), sizeof(t));
        return ct_tuple_equal(&t, &e->orig);
}

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
                .n_buckets = hash_size,
                .hash_limit = hash_limit,
                .obj_size = ALIGN_TO(sizeof(CacheObject) +
                                     (kind == CT_KIND_CT ? CT_CORE_SIZE : sizeof(CtExpect)), 8),
                .slab_next = SLAB_FIRST_SIZE,
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
        else
                slabs_release(c);
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
        return c->kind == CT_KIND_CT ? ct_core_same(o, obj) :
                                       ct_expect_same(cache_object_expect(o), obj);
}

static CacheObject **find_slot(const Cache *c, const void *obj, uint32_t hash) {
        CacheObject **p = &c->buckets[hash % c->n_buckets];

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
        object_free(c, o);
}

/* Twice the buckets once the objects outnumber them (HashSize is where the table starts): the
 * chains stay short whatever HashSize says. Best effort: on ENOMEM the table stays as it is. */
static void maybe_grow(Cache *c) {
        CacheObject **b;
        uint32_t n;

        if (c->walking > 0 || c->n_objects <= c->n_buckets || c->n_buckets > UINT32_MAX / 2)
                return;
        n = c->n_buckets * 2;
        b = calloc(n, sizeof *b);
        if (!b)
                return;
        for (uint32_t i = 0; i < c->n_buckets; i++)
                while (c->buckets[i]) {
                        CacheObject *o = c->buckets[i];

                        c->buckets[i] = o->next;
                        o->next = b[o->hash % n];
                        b[o->hash % n] = o;
                }
        free(c->buckets);
        c->buckets = b;
        c->n_buckets = n;
}

/* Insert a fresh object; the caller checked that no object of that identity exists. */
static int insert_new(Cache *c, const void *obj, uint32_t hash, uint64_t now, CacheObject **ret) {
        CacheObject *o;

        if (c->n_objects >= c->hash_limit) {
                c->stats.add_fail++;
                c->stats.add_fail_nospace++;
                return -ENOSPC;
        }
        o = object_alloc(c);
        if (o && c->kind == CT_KIND_CT && ct_store(o, obj) < 0) {
                object_free(c, o);
                o = NULL;
        }
        if (!o) {
                c->stats.add_fail++;
                c->stats.add_fail_nomem++;
                return -ENOMEM;
        }
        if (c->kind == CT_KIND_EXPECT)
                memcpy(o->data, obj, sizeof(CtExpect));
        o->hash = hash;
        o->generation = (uint32_t) c->generation;
        o->added_usec = o->updated_usec = now;

        o->next = c->buckets[hash % c->n_buckets];
        c->buckets[hash % c->n_buckets] = o;
        c->n_objects++;
        maybe_grow(c);
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
        if (c->kind == CT_KIND_CT) {
                CtEntry cur;

                cache_object_ct(o, &cur);
                ct_entry_update(&cur, obj);
                if (ct_store(o, &cur) < 0) {
                        c->stats.upd_fail++;
                        return -ENOMEM;
                }
        } else
                ct_expect_update((CtExpect *) o->data, obj);
        o->generation = (uint32_t) c->generation;
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
        CacheObject **p = &c->buckets[o->hash % c->n_buckets];

        for (; *p; p = &(*p)->next)
                if (*p == o) {
                        unlink_slot(c, p, true);
                        c->stats.del_ok++;
                        return;
                }
}

void cache_flush(Cache *c) {
        for (uint32_t i = 0; i < c->n_buckets; i++)
                while (c->buckets[i])
                        unlink_slot(c, &c->buckets[i], false);
        /* every object went back to the free list: give the memory back */
        slabs_release(c);
}

int cache_foreach(Cache *c, CacheForeachFunc f, void *userdata) {
        int r = 0;

        c->walking++;
        for (uint32_t i = 0; i < c->n_buckets && r >= 0; i++) {
                CacheObject *o = c->buckets[i], *next;

                for (; o; o = next) {
                        next = o->next;         /* f may delete o */
                        r = f(c, o, userdata);
                        if (r < 0)
                                break;
                }
        }
        c->walking--;
        return r < 0 ? r : 0;
}

uint64_t cache_begin_generation(Cache *c) {
        return ++c->generation;
}

size_t cache_purge_generation(Cache *c) {
        size_t n = 0;

        for (uint32_t i = 0; i < c->n_buckets; i++) {
                CacheObject **p = &c->buckets[i];

                while (*p) {
                        /* generations only grow: anything not of the current one is older */
                        if ((*p)->generation != (uint32_t) c->generation) {
                                unlink_slot(c, p, true);
                                c->stats.del_ok++;
                                n++;
                        } else
                                p = &(*p)->next;
                }
        }
        return n;
}
