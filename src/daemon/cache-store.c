/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The caches as one byte buffer (cache-store.h). Objects are the replication messages of wire.c,
 * so the store is read by the same defensive decoder as the network; the buffer is checked whole
 * (hash, records, counts) before the first object is handed out.
 */

#include <assert.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "cache-store.h"
#include "string-table.h"
#include "wire.h"

static const char *const cache_store_reason_table[_CACHE_STORE_REASON_MAX] = {
        [CACHE_STORE_REASON_TRUNCATED]          = "truncated",
        [CACHE_STORE_REASON_BAD_MAGIC]          = "bad-magic",
        [CACHE_STORE_REASON_BAD_FORMAT]         = "bad-format",
        [CACHE_STORE_REASON_BAD_HEADER]         = "bad-header",
        [CACHE_STORE_REASON_KEY_MISMATCH]       = "key-mismatch",
        [CACHE_STORE_REASON_BAD_HASH]           = "bad-hash",
        [CACHE_STORE_REASON_BAD_RECORD]         = "bad-record",
        [CACHE_STORE_REASON_BAD_OBJECT]         = "bad-object",
        [CACHE_STORE_REASON_BAD_COUNTS]         = "bad-counts",
};

DEFINE_STRING_TABLE(cache_store_reason, CacheStoreReason);

static const char *const cache_store_reason_text[_CACHE_STORE_REASON_MAX] = {
        [CACHE_STORE_REASON_TRUNCATED]          = "truncated (shorter than a header and a hash)",
        [CACHE_STORE_REASON_BAD_MAGIC]          = "not a conntrackd cache store (bad magic)",
        [CACHE_STORE_REASON_BAD_FORMAT]         = "a format version this daemon does not read",
        [CACHE_STORE_REASON_BAD_HEADER]         = "malformed header",
        [CACHE_STORE_REASON_KEY_MISMATCH]       = "keyed and plain integrity checks mixed up",
        [CACHE_STORE_REASON_BAD_HASH]           = "integrity check failed (corrupted)",
        [CACHE_STORE_REASON_BAD_RECORD]         = "malformed record",
        [CACHE_STORE_REASON_BAD_OBJECT]         = "an object does not decode",
        [CACHE_STORE_REASON_BAD_COUNTS]         = "the objects disagree with the header's counts",
};

const char *cache_store_reason_describe(CacheStoreReason r) {
        if ((int) r < 0 || r >= _CACHE_STORE_REASON_MAX)
                return NULL;
        return cache_store_reason_text[r];
}

static const int cache_store_reason_errno_table[_CACHE_STORE_REASON_MAX] = {
        [CACHE_STORE_REASON_TRUNCATED]          = ENODATA,
        [CACHE_STORE_REASON_BAD_MAGIC]          = EMEDIUMTYPE,
        [CACHE_STORE_REASON_BAD_FORMAT]         = EPROTONOSUPPORT,
        [CACHE_STORE_REASON_BAD_HEADER]         = EPROTO,
        [CACHE_STORE_REASON_KEY_MISMATCH]       = ENOKEY,
        [CACHE_STORE_REASON_BAD_HASH]           = EBADMSG,
        [CACHE_STORE_REASON_BAD_RECORD]         = EOVERFLOW,
        [CACHE_STORE_REASON_BAD_OBJECT]         = EILSEQ,
        [CACHE_STORE_REASON_BAD_COUNTS]         = ERANGE,
};

int cache_store_reason_to_errno(CacheStoreReason r) {
        assert(r >= 0 && r < _CACHE_STORE_REASON_MAX);
        return -cache_store_reason_errno_table[r];
}

CacheStoreReason cache_store_reason_from_errno(int error) {
        for (CacheStoreReason r = 0; r < _CACHE_STORE_REASON_MAX; r++)
                if (-cache_store_reason_errno_table[r] == error)
                        return r;
        return _CACHE_STORE_REASON_INVALID;
}

static int reject(CacheStoreReason r) {
        return cache_store_reason_to_errno(r);
}

/* ---- little-endian numbers ---- */

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p) {
        uint32_t v = 0;

        for (unsigned i = 0; i < 4; i++)
                v |= (uint32_t) p[i] << (8 * i);
        return v;
}

static uint64_t get_le64(const uint8_t *p) {
        uint64_t v = 0;

        for (unsigned i = 0; i < 8; i++)
                v |= (uint64_t) p[i] << (8 * i);
        return v;
}

static bool key_ok(const uint8_t *key, size_t key_size) {
        if (!key)
                return key_size == 0;
        return key_size >= CACHE_STORE_KEY_MIN && key_size <= CACHE_STORE_KEY_MAX;
}

static int hash(const uint8_t *buf, size_t size, const uint8_t *key, size_t key_size,
                uint8_t out[static CACHE_STORE_HASH_SIZE]) {
        if (sodium_init() < 0)
                return -EIO;
        if (crypto_generichash(out, CACHE_STORE_HASH_SIZE, buf, size, key, key_size) != 0)
                return -EIO;
        return 0;
}

/* ---- writing ---- */

typedef struct Writer {
        uint8_t *buf;
        size_t size, allocated;
        int error;
        uint64_t skipped;
        uint32_t counts[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX];
        CacheStoreSlot slot;
        uint64_t now_usec;
} Writer;

static uint8_t *writer_grab(Writer *w, size_t n) {
        uint8_t *p;

        if (w->allocated - w->size < n) {
                size_t want = MAX(w->allocated * 2, w->size + n);

                want = MAX(want, (size_t) 4096);
                p = realloc(w->buf, want);
                if (!p) {
                        w->error = -ENOMEM;
                        return NULL;
                }
                w->buf = p;
                w->allocated = want;
        }
        p = w->buf + w->size;
        w->size += n;
        return p;
}

/* Encode one object; keep it only if it decodes back, so that what we write we can read. */
static int write_object(Cache *c, CacheObject *o, void *userdata) {
        Writer *w = userdata;
        CtKind kind = cache_kind(c);
        uint8_t msg[WIRE_MESSAGE_MAX], *p;
        static const WireEncodeOptions all = { .timeout = true, .tcp_wscale = true };
        WireFrame f;
        WireMessage m;
        size_t off = 0;
        uint64_t age;
        int n;

        if (w->counts[w->slot][kind] == UINT32_MAX) {
                w->error = -E2BIG;
                return w->error;
        }
        if (kind == CT_KIND_CT) {
                CtEntry e;

                cache_object_ct(o, &e);
                n = wire_encode_ct(msg, sizeof msg, WIRE_CT_NEW, 0, 0, &e, &all);
        } else
                n = wire_encode_expect(msg, sizeof msg, WIRE_EXP_NEW, 0, 0, cache_object_expect(o),
                                       &all);
        if (n < 0 || wire_frame_next(msg, (size_t) n, &off, &f, NULL) != 1 ||
            off != (size_t) n || wire_frame_decode(&f, WIRE_CLASSIFY_FULL, &m, NULL) < 0) {
                w->skipped++;
                return 0;
        }

        p = writer_grab(w, CACHE_STORE_RECORD_HEADER_SIZE + (size_t) n);
        if (!p)
                return w->error;
        age = w->now_usec > o->added_usec ? (w->now_usec - o->added_usec) / USEC_PER_SEC : 0;
        p[0] = (uint8_t) w->slot;
        p[1] = (uint8_t) kind;
        put_le16(p + 2, (uint16_t) n);
        put_le32(p + 4, (uint32_t) MIN(age, (uint64_t) UINT32_MAX));
        memcpy(p + CACHE_STORE_RECORD_HEADER_SIZE, msg, (size_t) n);
        w->counts[w->slot][kind]++;
        return 0;
}

int cache_store_serialize(const CacheStoreSource *src, uint8_t **ret_buf, size_t *ret_size,
                          uint64_t *ret_skipped) {
        Writer w = { .now_usec = src ? src->now_usec : 0 };
        uint8_t *p;
        int r;

        if (!src || !ret_buf || !ret_size || !key_ok(src->key, src->key_size) || !src->writer ||
            strlen(src->writer) >= CACHE_STORE_WRITER_MAX)
                return -EINVAL;

        p = writer_grab(&w, CACHE_STORE_HEADER_SIZE);
        if (!p)
                return w.error;
        memset(p, 0, CACHE_STORE_HEADER_SIZE);

        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                        Cache *c = src->caches[s][k];

                        if (!c)
                                continue;
                        if (cache_kind(c) != k) {
                                free(w.buf);
                                return -EINVAL;
                        }
                        w.slot = s;
                        r = cache_foreach(c, write_object, &w);
                        if (r < 0 || w.error < 0) {
                                free(w.buf);
                                return w.error < 0 ? w.error : r;
                        }
                }

        /* the header, now that the counts are known */
        p = w.buf;
        memcpy(p, CACHE_STORE_MAGIC, CACHE_STORE_MAGIC_SIZE);
        put_le32(p + 8, CACHE_STORE_FORMAT);
        put_le32(p + 12, src->key ? CACHE_STORE_F_KEYED : 0);
        put_le64(p + 16, src->created_usec);
        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        put_le32(p + 24 + 4 * (2 * s + k), w.counts[s][k]);
        memcpy(p + 40, src->writer, strlen(src->writer));

        p = writer_grab(&w, CACHE_STORE_HASH_SIZE);
        r = p ? hash(w.buf, w.size - CACHE_STORE_HASH_SIZE, src->key, src->key_size, p) : w.error;
        if (r < 0) {
                free(w.buf);
                return r;
        }

        *ret_buf = w.buf;
        *ret_size = w.size;
        if (ret_skipped)
                *ret_skipped = w.skipped;
        return 0;
}

/* ---- reading ---- */

static int parse_header(const uint8_t *buf, size_t size, const uint8_t *key,
                        CacheStoreInfo *ret) {
        const uint8_t *w = buf + 40;

        if (size < CACHE_STORE_HEADER_SIZE + CACHE_STORE_HASH_SIZE)
                /* too short to be anything of ours: say "foreign" when it is not even ours */
                return size >= CACHE_STORE_MAGIC_SIZE &&
                       memcmp(buf, CACHE_STORE_MAGIC, CACHE_STORE_MAGIC_SIZE) != 0 ?
                       reject(CACHE_STORE_REASON_BAD_MAGIC) : reject(CACHE_STORE_REASON_TRUNCATED);
        if (memcmp(buf, CACHE_STORE_MAGIC, CACHE_STORE_MAGIC_SIZE) != 0)
                return reject(CACHE_STORE_REASON_BAD_MAGIC);

        *ret = (CacheStoreInfo) {
                .format = get_le32(buf + 8),
                .flags = get_le32(buf + 12),
                .created_usec = get_le64(buf + 16),
        };
        if (ret->format != CACHE_STORE_FORMAT)
                return reject(CACHE_STORE_REASON_BAD_FORMAT);
        if (ret->flags & ~CACHE_STORE_F_KEYED)
                return reject(CACHE_STORE_REASON_BAD_HEADER);
        /* the writer's version: printable, NUL-terminated, NUL-padded */
        if (w[CACHE_STORE_WRITER_MAX - 1] != 0)
                return reject(CACHE_STORE_REASON_BAD_HEADER);
        for (size_t i = 0, end = strlen((const char *) w); i < CACHE_STORE_WRITER_MAX; i++)
                if (i < end ? (w[i] < 0x20 || w[i] > 0x7e) : w[i] != 0)
                        return reject(CACHE_STORE_REASON_BAD_HEADER);
        memcpy(ret->writer, w, CACHE_STORE_WRITER_MAX);
        if (!!(ret->flags & CACHE_STORE_F_KEYED) != !!key)
                return reject(CACHE_STORE_REASON_KEY_MISMATCH);
        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                        ret->counts[s][k] = get_le32(buf + 24 + 4 * (2 * s + k));
                        ret->total += ret->counts[s][k];
                }
        return 0;
}

/* One record at *offset of the records area [.., end): decoded into *ret, *offset moved on. */
static int parse_record(const uint8_t *buf, size_t end, size_t *offset, CacheStoreObject *ret) {
        const uint8_t *p = buf + *offset;
        WireMessage m;
        WireFrame f;
        size_t len, off = 0;
        int slot, kind;

        if (end - *offset < CACHE_STORE_RECORD_HEADER_SIZE)
                return reject(CACHE_STORE_REASON_BAD_RECORD);
        slot = p[0];
        kind = p[1];
        len = get_le16(p + 2);
        if (slot >= _CACHE_STORE_SLOT_MAX || kind >= _CT_KIND_MAX || len < WIRE_HEADER_SIZE ||
            len > WIRE_MESSAGE_MAX || len % 4 != 0 ||
            end - *offset - CACHE_STORE_RECORD_HEADER_SIZE < len)
                return reject(CACHE_STORE_REASON_BAD_RECORD);

        p += CACHE_STORE_RECORD_HEADER_SIZE;
        /* exactly one message of the record's length, NEW of the record's kind, no flags */
        if (wire_frame_next(p, len, &off, &f, NULL) != 1 || off != len ||
            wire_frame_decode(&f, WIRE_CLASSIFY_FULL, &m, NULL) < 0 || m.hdr.flags != 0 ||
            m.hdr.type != (kind == CT_KIND_CT ? WIRE_CT_NEW : WIRE_EXP_NEW) ||
            m.kind != (kind == CT_KIND_CT ? WIRE_KIND_CT : WIRE_KIND_EXPECT))
                return reject(CACHE_STORE_REASON_BAD_OBJECT);

        ret->slot = (CacheStoreSlot) slot;
        ret->kind = (CtKind) kind;
        ret->age_sec = get_le32(buf + *offset + 4);
        if (kind == CT_KIND_CT)
                ret->ct = m.ct;
        else
                ret->exp = m.exp;
        *offset += CACHE_STORE_RECORD_HEADER_SIZE + len;
        return 0;
}

int cache_store_parse(const uint8_t *buf, size_t size, const uint8_t *key, size_t key_size,
                      CacheStoreInfo *ret_info, CacheStoreFunc f, void *userdata) {
        uint8_t digest[CACHE_STORE_HASH_SIZE];
        uint64_t seen[_CACHE_STORE_SLOT_MAX][_CT_KIND_MAX] = {};
        CacheStoreInfo info;
        CacheStoreObject o;
        size_t end, off;
        int r;

        if ((!buf && size > 0) || !key_ok(key, key_size))
                return -EINVAL;
        if (!buf)
                return reject(CACHE_STORE_REASON_TRUNCATED);

        r = parse_header(buf, size, key, &info);
        if (r < 0)
                return r;
        end = size - CACHE_STORE_HASH_SIZE;
        r = hash(buf, end, key, key_size, digest);
        if (r < 0)
                return r;
        if (sodium_memcmp(digest, buf + end, CACHE_STORE_HASH_SIZE) != 0)
                return reject(CACHE_STORE_REASON_BAD_HASH);

        /* first pass: everything is checked, nothing is handed out */
        for (off = CACHE_STORE_HEADER_SIZE; off < end;) {
                r = parse_record(buf, end, &off, &o);
                if (r < 0)
                        return r;
                seen[o.slot][o.kind]++;
        }
        for (CacheStoreSlot s = 0; s < _CACHE_STORE_SLOT_MAX; s++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        if (seen[s][k] != info.counts[s][k])
                                return reject(CACHE_STORE_REASON_BAD_COUNTS);

        /* second pass: the objects, all of them good */
        if (ret_info)
                *ret_info = info;
        for (off = CACHE_STORE_HEADER_SIZE; f && off < end;) {
                r = parse_record(buf, end, &off, &o);
                assert(r >= 0);
                r = f(&o, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}
