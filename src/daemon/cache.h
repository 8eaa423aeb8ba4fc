/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * A cache of conntracks or of expectations: a hash table of HashSize buckets keyed by identity
 * (original tuple + zone for flows, expected tuple + zone for expectations) holding at most
 * HashLimit objects. Used for the internal cache (mirror of the local kernel table) and the
 * external cache (what peers sent). Pure: no I/O; the caller supplies "now".
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct-entry.h"

typedef struct Cache Cache;

/*
 * One object of a cache. Its public fields may be read and (the times) written by the caller;
 * the flow or expectation itself is read with cache_object_ct() / cache_object_expect() (or
 * cache_object_get()), never in place: a flow is kept in two parts, the attributes every flow
 * has inline and the rarely present ones (master tuple, NAT, sequence adjustment, helper,
 * labels, synproxy, counters, timestamps, SCTP and DCCP state) in an allocation of their own
 * only when present, so that a plain flow costs well under half of a CtEntry.
 */
typedef struct CacheObject {
        struct CacheObject *next;       /* hash chain; private */
        uint32_t hash;                  /* private */
        uint32_t generation;            /* private: last cache_begin_generation() that touched it */
        uint64_t added_usec;            /* when it was added ("active since"), caller's clock */
        uint64_t updated_usec;          /* last add or update */
        uint64_t sync_usec;             /* replication's own (ALARM: next refresh); 0 at add */
        void *extra;                    /* private */
        _Alignas(8) unsigned char data[]; /* private: a CtEntry's first part, or a CtExpect */
} CacheObject;

/* The flow of an object of a CT_KIND_CT cache, whole. */
void cache_object_ct(const CacheObject *o, CtEntry *ret);
/* The same as a value, for short reads (cache_object_ct_value(o).mark). */
static inline CtEntry cache_object_ct_value(const CacheObject *o) {
        CtEntry e;

        cache_object_ct(o, &e);
        return e;
}
/* The expectation of an object of a CT_KIND_EXPECT cache. */
const CtExpect *cache_object_expect(const CacheObject *o);
/* Either: the flow, written to *buf, or the expectation in place; a CtEntry or a CtExpect
 * according to the cache's kind, valid while the object is. */
const void *cache_object_get(const Cache *c, const CacheObject *o, CtEntry *buf);

typedef struct CacheStats {
        uint64_t add_ok, add_fail, add_fail_nomem, add_fail_nospace;
        uint64_t upd_ok, upd_fail, upd_fail_enoent;
        uint64_t del_ok, del_fail, del_fail_enoent;
} CacheStats;

/* Change hooks, e.g. for replication. Called after the change; 'o' is valid during the call. */
typedef struct CacheHooks {
        void (*on_add)(Cache *c, const CacheObject *o, void *userdata);
        void (*on_update)(Cache *c, const CacheObject *o, void *userdata);
        void (*on_del)(Cache *c, const CacheObject *o, void *userdata);
        void *userdata;
} CacheHooks;

/* name: "internal", "external", ... (for messages). hash_size > 0, hash_limit > 0. */
int cache_new(const char *name, CtKind kind, uint32_t hash_size, uint32_t hash_limit, Cache **ret);
Cache *cache_free(Cache *c);
DEFINE_CLEANUP_FUNC(Cache *, cache_free);

void cache_set_hooks(Cache *c, const CacheHooks *hooks);
const char *cache_name(const Cache *c);
CtKind cache_kind(const Cache *c);
size_t cache_size(const Cache *c);
uint32_t cache_hash_size(const Cache *c);
uint32_t cache_hash_limit(const Cache *c);
const CacheStats *cache_stats(const Cache *c);
bool cache_is_full(const Cache *c);
/* Change HashLimit (reload). Objects above a lowered limit stay; new ones are refused. */
void cache_set_hash_limit(Cache *c, uint32_t limit);

/*
 * 'obj' points to a CtEntry or a CtExpect according to the cache's kind.
 * cache_add: NEW semantics: an object with the same identity is replaced (lifetime restarts).
 * cache_update: UPDATE semantics: the attributes present in obj overwrite, or the object is added.
 * Both return 0 on success (with *ret_obj if non-NULL), -ENOSPC when HashLimit is reached,
 * -ENOMEM. Counters are kept in the CacheStats.
 */
int cache_add(Cache *c, const void *obj, uint64_t now_usec, CacheObject **ret_obj);
int cache_update(Cache *c, const void *obj, uint64_t now_usec, CacheObject **ret_obj);
/* -ENOENT if no object with that identity. */
int cache_del(Cache *c, const void *obj);
CacheObject *cache_find(const Cache *c, const void *obj);
/* Remove everything (no hooks called). Counters stay. */
void cache_flush(Cache *c);

/* Iteration. The callback may delete the object it is given (cache_del_object) but no other.
 * A negative return value stops the walk and is returned. */
typedef int (*CacheForeachFunc)(Cache *c, CacheObject *o, void *userdata);
int cache_foreach(Cache *c, CacheForeachFunc f, void *userdata);
void cache_del_object(Cache *c, CacheObject *o);

/*
 * Resync support: cache_begin_generation() starts a new generation; objects added or updated
 * afterwards carry it; cache_purge_generation() deletes (with on_del hooks) every object older
 * than the current generation and returns how many were removed.
 */
uint64_t cache_begin_generation(Cache *c);
size_t cache_purge_generation(Cache *c);
