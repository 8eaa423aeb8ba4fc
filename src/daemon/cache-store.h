/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The caches serialized into one byte buffer, and parsed back: what the daemon hands to systemd's
 * file descriptor store at a planned stop and takes back at the next start (manager-store.c).
 * Pure: no fd, no event loop, no logging above debug.
 *
 * Layout (all numbers little-endian):
 *   0   magic "CTDSTORE"
 *   8   u32 format (CACHE_STORE_FORMAT)
 *   12  u32 flags (CACHE_STORE_F_KEYED: the check below is keyed)
 *   16  u64 created (CLOCK_REALTIME, usec)
 *   24  u32 count[slot][kind] for slot internal, external and kind ct, expect (16 bytes)
 *   40  char writer[32]: PACKAGE_VERSION of the writer, NUL-padded (informative)
 *   72  records: u8 slot, u8 kind, u16 length, u32 age (seconds in the cache when saved),
 *       then 'length' bytes: one 1.4.x replication message (wire.h, CT_NEW or EXP_NEW)
 *   end-32  BLAKE2b-256 of everything before it (keyed when CACHE_STORE_F_KEYED)
 *
 * A buffer is accepted whole or not at all: cache_store_parse() checks every byte before it
 * hands out the first object.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "ct-entry.h"
#include "macro.h"

#define CACHE_STORE_MAGIC       "CTDSTORE"
#define CACHE_STORE_MAGIC_SIZE  8
#define CACHE_STORE_FORMAT      1
#define CACHE_STORE_HEADER_SIZE 72
#define CACHE_STORE_RECORD_HEADER_SIZE 8
#define CACHE_STORE_HASH_SIZE   32
#define CACHE_STORE_WRITER_MAX  32
#define CACHE_STORE_KEY_MIN     16      /* crypto_generichash_KEYBYTES_MIN */
#define CACHE_STORE_KEY_MAX     64      /* crypto_generichash_KEYBYTES_MAX */

#define CACHE_STORE_F_KEYED     0x1u

/* Which cache an object belongs to; the same numbering as CacheWhich (manager.h). */
typedef enum CacheStoreSlot {
        CACHE_STORE_INTERNAL,
        CACHE_STORE_EXTERNAL,
        _CACHE_STORE_SLOT_MAX,
        _CACHE_STORE_SLOT_INVALID = -EINVAL,
} CacheStoreSlot;

/* Why a buffer was rejected. Each reason has its own negative errno (cache_store_parse()). */
typedef enum CacheStoreReason {
        CACHE_STORE_REASON_TRUNCATED,   /* shorter than a header and a hash       -ENODATA */
        CACHE_STORE_REASON_BAD_MAGIC,   /* not a conntrackd cache store           -EMEDIUMTYPE */
        CACHE_STORE_REASON_BAD_FORMAT,  /* a format version we do not read    -EPROTONOSUPPORT */
        CACHE_STORE_REASON_BAD_HEADER,  /* unknown flags, unterminated writer     -EPROTO */
        CACHE_STORE_REASON_KEY_MISMATCH, /* keyed store without our key, or the reverse -ENOKEY */
        CACHE_STORE_REASON_BAD_HASH,    /* the integrity check failed             -EBADMSG */
        CACHE_STORE_REASON_BAD_RECORD,  /* a record runs past the end, bad slot   -EOVERFLOW */
        CACHE_STORE_REASON_BAD_OBJECT,  /* a message that does not decode         -EILSEQ */
        CACHE_STORE_REASON_BAD_COUNTS,  /* the records disagree with the counts   -ERANGE */
        _CACHE_STORE_REASON_MAX,
        _CACHE_STORE_REASON_INVALID = -EINVAL,
} CacheStoreReason;

/* "truncated", "bad-magic", ... */
const char *cache_store_reason_to_string(CacheStoreReason r);
CacheStoreReason cache_store_reason_from_string(const char *s);
/* A sentence for the log line: "not a conntrackd cache store", ... */
const char *cache_store_reason_describe(CacheStoreReason r);
int cache_store_reason_to_errno(CacheStoreReason r);            /* negative */
CacheStoreReason cache_store_reason_from_errno(int error);      /* _INVALID if not one of ours */

typedef struct CacheStoreInfo {
        uint32_t format;
        uint32_t flags;
        uint64_t created_usec;                  /* CLOCK_REALTIME of the writer */
        char writer[CACHE_STORE_WRITER_MAX];    /* PACKAGE_VERSION of the writer */
        uint32_t counts[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX];
        uint64_t total;                         /* the sum of the counts */
} CacheStoreInfo;

/* What to serialize: the caches by slot and kind (NULL where absent). 'now_usec' is the clock of
 * the caches' added_usec (the manager's CLOCK_MONOTONIC); 'created_usec' goes into the header. */
typedef struct CacheStoreSource {
        Cache *caches[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX];
        uint64_t now_usec;
        uint64_t created_usec;
        const char *writer;                     /* PACKAGE_VERSION */
        const uint8_t *key;                     /* NULL: plain BLAKE2b; else 16..64 bytes */
        size_t key_size;
} CacheStoreSource;

/*
 * Serialize into a fresh buffer (free() it). Objects that cannot be encoded so that they decode
 * again (an address family we do not carry, a helper name the decoder refuses) are left out and
 * counted in *ret_skipped (may be NULL). -EINVAL for a bad key size or writer, -ENOMEM,
 * -E2BIG past 2^32-1 objects of one kind.
 */
int cache_store_serialize(const CacheStoreSource *src, uint8_t **ret_buf, size_t *ret_size,
                          uint64_t *ret_skipped);

/* One object of a store, as cache_store_parse() hands it out. */
typedef struct CacheStoreObject {
        CacheStoreSlot slot;
        CtKind kind;
        uint32_t age_sec;       /* how long it had been in its cache when it was saved */
        union {
                CtEntry ct;
                CtExpect exp;
        };
} CacheStoreObject;

typedef int (*CacheStoreFunc)(const CacheStoreObject *o, void *userdata);

/*
 * Check the whole buffer first (magic, format, header, hash, every record and object, the
 * counts); only when all of it is good fill *ret_info (may be NULL) and then call f (may be NULL)
 * for each object in order. Returns 0, or one of the CacheStoreReason errnos and nothing was
 * filled nor handed out, or the first negative value of f (which stops the walk). key: as for
 * cache_store_serialize().
 */
int cache_store_parse(const uint8_t *buf, size_t size, const uint8_t *key, size_t key_size,
                      CacheStoreInfo *ret_info, CacheStoreFunc f, void *userdata);
