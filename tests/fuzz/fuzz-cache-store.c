/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the cache store parser (cache-store.c). The input is parsed twice: as it
 * is (almost always stopped by the hash), and with its last 32 bytes replaced by the right hash,
 * so that the fuzzer reaches the records and the objects behind the check. Besides "no crash, no
 * leak, no UB" it checks the parser's promises: a rejection is one of the documented reasons and
 * hands out nothing; an accepted store hands out exactly the objects its counts say; the objects
 * put back into caches serialize into a store that parses to the same counts.
 */

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache-store.h"
#include "fuzz.h"

typedef struct Walk {
        uint64_t n[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX];
        uint64_t total;
        Cache *caches[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX];
} Walk;

static int on_object(const CacheStoreObject *o, void *userdata) {
        Walk *w = userdata;

        check(o->slot >= 0 && o->slot < _CACHE_STORE_SLOT_MAX);
        check(o->kind >= 0 && o->kind < _CT_KIND_MAX);
        w->n[o->slot][o->kind]++;
        w->total++;
        if (w->caches[o->slot][o->kind])
                (void) cache_add(w->caches[o->slot][o->kind],
                                 o->kind == CT_KIND_CT ? (const void *) &o->ct : &o->exp, 0, NULL);
        return 0;
}

static void parse_one(const uint8_t *data, size_t size, bool rebuild) {
        CacheStoreInfo info = { .total = 77 };
        Walk w = {};
        int r;

        if (rebuild)
                for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                                check(cache_new("fuzz", k, 64, 100000, &w.caches[s][k]) == 0);

        r = cache_store_parse(data, size, NULL, 0, &info, on_object, &w);
        if (r < 0) {
                check(cache_store_reason_from_errno(r) >= 0);
                check(w.total == 0 && info.total == 77);
        } else {
                check(w.total == info.total);
                for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                                check(w.n[s][k] == info.counts[s][k]);
        }

        if (rebuild && r >= 0) {
                /* what came out goes back in: same number of objects per cache (duplicates
                 * collapse in the caches, so count what they hold) */
                uint8_t *buf = NULL;
                size_t n = 0;
                uint64_t skipped = 1;
                CacheStoreInfo again;

                check(cache_store_serialize(&(CacheStoreSource) {
                                .caches = {
                                        { w.caches[0][0], w.caches[0][1] },
                                        { w.caches[1][0], w.caches[1][1] },
                                },
                                .writer = "fuzz",
                        }, &buf, &n, &skipped) == 0);
                check(skipped == 0);
                check(cache_store_parse(buf, n, NULL, 0, &again, NULL, NULL) == 0);
                for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                                check(again.counts[s][k] == cache_size(w.caches[s][k]));
                free(buf);
        }
        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        cache_free(w.caches[s][k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t *copy;

        if (size > 1 << 20)
                return 0;
        parse_one(data, size, false);

        if (size < CACHE_STORE_HEADER_SIZE + CACHE_STORE_HASH_SIZE || sodium_init() < 0)
                return 0;
        copy = malloc(size);
        check(copy);
        memcpy(copy, data, size);
        check(crypto_generichash(copy + size - CACHE_STORE_HASH_SIZE, CACHE_STORE_HASH_SIZE, copy,
                                 size - CACHE_STORE_HASH_SIZE, NULL, 0) == 0);
        parse_one(copy, size, true);
        free(copy);
        return 0;
}
