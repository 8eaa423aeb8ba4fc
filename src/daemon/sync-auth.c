/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "sync-auth.h"

#define AUTH_MAGIC      0xa5
#define AUTH_VERSION    1
#define KEY_FILE_MAX    (64 * 1024)

typedef struct Peer {
        uint64_t sender, epoch;
        uint64_t top;                   /* highest counter taken */
        uint64_t window;                /* bit i: top - i taken */
        uint64_t last_use;              /* for eviction: the unit number of the last use */
        bool used;
} Peer;

struct SyncAuth {
        SyncAuthKey keys[SYNC_AUTH_KEYS_MAX];
        size_t n_keys;
        uint64_t sender, epoch, counter;
        Peer peers[SYNC_AUTH_PEERS_MAX];
        uint64_t uses;
        SyncAuthStats stats;
};

/* ---- key file ---- */

static int fail(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *format, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, format);
                if (vasprintf(ret_error, format, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        c = (char) tolower((unsigned char) c);
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* One line: "ID HEX"; 0 = key, 1 = nothing on it, negative = syntax error. */
static int parse_line(char *line, SyncAuthKey *ret, const char **ret_why) {
        char *p = line, *end;
        unsigned long id;
        size_t i;

        while (isspace((unsigned char) *p))
                p++;
        if (*p == '\0' || *p == '#')
                return 1;
        if (!isdigit((unsigned char) *p)) {
                *ret_why = "expected a key id (0-255)";
                return -EINVAL;
        }
        errno = 0;
        id = strtoul(p, &end, 10);
        if (errno != 0 || id > 255 || !isspace((unsigned char) *end)) {
                *ret_why = "expected a key id (0-255) then the key";
                return -EINVAL;
        }
        p = end;
        while (isspace((unsigned char) *p))
                p++;
        for (i = 0; i < SYNC_AUTH_KEY_SIZE; i++) {
                int hi = hex_value(p[2 * i]), lo = hi < 0 ? -1 : hex_value(p[2 * i + 1]);

                if (hi < 0 || lo < 0) {
                        *ret_why = "expected 64 hexadecimal digits (32 bytes) of key";
                        return -EINVAL;
                }
                ret->key[i] = (uint8_t) (hi << 4 | lo);
        }
        p += 2 * SYNC_AUTH_KEY_SIZE;
        while (isspace((unsigned char) *p))
                p++;
        if (*p != '\0' && *p != '#') {
                *ret_why = "unexpected text after the key (it must be 64 hexadecimal digits)";
                return -EINVAL;
        }
        ret->id = (uint8_t) id;
        return 0;
}

int sync_auth_load_keys(const char *path, SyncAuthKey **ret_keys, size_t *ret_n, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        _cleanup_free_ SyncAuthKey *keys = NULL;
        size_t n = 0, size = 0;
        unsigned line_no = 0;
        struct stat st;
        char *line, *next;

        if (!path || !ret_keys || !ret_n)
                return -EINVAL;
        if (ret_error)
                *ret_error = NULL;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = negative_errno();

                if (r == -ELOOP)
                        return fail(ret_error, -EPERM, "AuthKeyFile %s is a symbolic link: refused",
                                    path);
                return fail(ret_error, r, "AuthKeyFile %s: cannot open: %s", path, strerror(-r));
        }
        if (fstat(fd, &st) < 0)
                return fail(ret_error, negative_errno(), "AuthKeyFile %s: cannot stat: %s", path,
                            strerror(errno));
        if (!S_ISREG(st.st_mode))
                return fail(ret_error, -EPERM, "AuthKeyFile %s is not a regular file: refused",
                            path);
        if (st.st_uid != 0 && st.st_uid != geteuid())
                return fail(ret_error, -EPERM, "AuthKeyFile %s is owned by uid %u, not root: "
                            "refused", path, (unsigned) st.st_uid);
        if (st.st_mode & 077)
                return fail(ret_error, -EPERM, "AuthKeyFile %s is open to group or others "
                            "(mode %04o): refused; chmod 600 it", path,
                            (unsigned) (st.st_mode & 07777));
        if (st.st_size > KEY_FILE_MAX)
                return fail(ret_error, -EFBIG, "AuthKeyFile %s is larger than %u bytes", path,
                            KEY_FILE_MAX);

        text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        while (size < (size_t) st.st_size) {
                ssize_t k = read(fd, text + size, (size_t) st.st_size - size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return fail(ret_error, negative_errno(), "AuthKeyFile %s: cannot read: %s",
                                    path, strerror(errno));
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        text[size] = '\0';
        if (strlen(text) != size)
                return fail(ret_error, -EINVAL, "AuthKeyFile %s: contains a NUL byte", path);

        keys = calloc(SYNC_AUTH_KEYS_MAX, sizeof *keys);
        if (!keys)
                return -ENOMEM;
        for (line = text; line; line = next) {
                const char *why = NULL;
                SyncAuthKey k;
                int r;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                line_no++;
                r = parse_line(line, &k, &why);
                if (r > 0)
                        continue;
                if (r < 0)
                        return fail(ret_error, r, "AuthKeyFile %s:%u: %s", path, line_no, why);
                for (size_t i = 0; i < n; i++)
                        if (keys[i].id == k.id)
                                return fail(ret_error, -EINVAL, "AuthKeyFile %s:%u: key id %u "
                                            "is given twice", path, line_no, k.id);
                if (n == SYNC_AUTH_KEYS_MAX)
                        return fail(ret_error, -E2BIG, "AuthKeyFile %s:%u: more than %u keys",
                                    path, line_no, SYNC_AUTH_KEYS_MAX);
                keys[n++] = k;
                sodium_memzero(&k, sizeof k);
        }
        sodium_memzero(text, size);
        if (n == 0)
                return fail(ret_error, -EINVAL, "AuthKeyFile %s: no key in it", path);

        *ret_keys = TAKE_PTR(keys);
        *ret_n = n;
        return 0;
}

/* ---- object ---- */

int sync_auth_new(SyncAuth **ret, const SyncAuthKey *keys, size_t n, uint64_t sender,
                  uint64_t epoch) {
        SyncAuth *a;
        int r;

        if (!ret || epoch == 0)
                return -EINVAL;
        if (sodium_init() < 0)
                return -EIO;
        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->sender = sender;
        a->epoch = epoch;
        r = sync_auth_set_keys(a, keys, n);
        if (r < 0) {
                free(a);
                return r;
        }
        *ret = a;
        return 0;
}

SyncAuth *sync_auth_free(SyncAuth *a) {
        if (a) {
                sodium_memzero(a->keys, sizeof a->keys);
                free(a);
        }
        return NULL;
}

int sync_auth_set_keys(SyncAuth *a, const SyncAuthKey *keys, size_t n) {
        if (!a || !keys || n == 0 || n > SYNC_AUTH_KEYS_MAX)
                return -EINVAL;
        sodium_memzero(a->keys, sizeof a->keys);
        memcpy(a->keys, keys, n * sizeof *keys);
        a->n_keys = n;
        return 0;
}

const SyncAuthStats *sync_auth_stats(const SyncAuth *a) {
        return &a->stats;
}

uint8_t sync_auth_send_key_id(const SyncAuth *a) {
        return a->keys[0].id;
}

/* ---- units ---- */

static void put_be64(uint8_t *p, uint64_t v) {
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t) v;
}

static uint64_t get_be64(const uint8_t *p) {
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static void mac(const SyncAuthKey *k, const uint8_t *buf, size_t n, uint8_t out[SYNC_AUTH_MAC_SIZE]) {
        crypto_generichash(out, SYNC_AUTH_MAC_SIZE, buf, n, k->key, sizeof k->key);
}

size_t sync_auth_unit_length(const uint8_t *buf, size_t n) {
        if (n < 4 || buf[0] != AUTH_MAGIC)
                return 0;
        return (size_t) buf[2] << 8 | buf[3];
}

int sync_auth_seal(SyncAuth *a, const uint8_t *body, size_t n, uint8_t *out, size_t out_size) {
        size_t total = n + SYNC_AUTH_OVERHEAD;

        if (!a || (!body && n > 0) || !out)
                return -EINVAL;
        if (total > UINT16_MAX || total > out_size)
                return -EMSGSIZE;

        memmove(out + SYNC_AUTH_HEADER_SIZE, body, n);  /* body may sit in out already */
        out[0] = AUTH_MAGIC;
        out[1] = AUTH_VERSION;
        out[2] = (uint8_t) (total >> 8);
        out[3] = (uint8_t) total;
        out[4] = a->keys[0].id;
        out[5] = out[6] = out[7] = 0;
        put_be64(out + 8, a->sender);
        put_be64(out + 16, a->epoch);
        put_be64(out + 24, ++a->counter);
        mac(&a->keys[0], out, total - SYNC_AUTH_MAC_SIZE, out + total - SYNC_AUTH_MAC_SIZE);
        a->stats.sealed++;
        return (int) total;
}

static Peer *peer_find(SyncAuth *a, uint64_t sender) {
        Peer *oldest = NULL;

        for (size_t i = 0; i < SYNC_AUTH_PEERS_MAX; i++) {
                Peer *p = &a->peers[i];

                if (p->used && p->sender == sender)
                        return p;
        }
        /* a new sender: a free slot, else the one unused longest */
        for (size_t i = 0; i < SYNC_AUTH_PEERS_MAX; i++) {
                Peer *p = &a->peers[i];

                if (!p->used)
                        return p;
                if (!oldest || p->last_use < oldest->last_use)
                        oldest = p;
        }
        return oldest;
}

/* The replay check, after the MAC: 0 taken (and remembered), negative refused. */
static int peer_take(SyncAuth *a, uint64_t sender, uint64_t epoch, uint64_t counter) {
        Peer *p = peer_find(a, sender);

        if (counter == 0)
                return -EBADMSG;
        if (!p->used || p->sender != sender) {
                *p = (Peer) { .sender = sender, .epoch = epoch, .top = counter, .window = 1,
                              .used = true };
                goto taken;
        }
        if (epoch < p->epoch)
                return -ESTALE;
        if (epoch > p->epoch) {
                a->stats.restarts++;
                *p = (Peer) { .sender = sender, .epoch = epoch, .top = counter, .window = 1,
                              .used = true };
                goto taken;
        }
        if (counter > p->top) {
                uint64_t shift = counter - p->top;

                p->window = shift >= SYNC_AUTH_WINDOW ? 1 : (p->window << shift) | 1;
                p->top = counter;
                goto taken;
        }
        if (p->top - counter >= SYNC_AUTH_WINDOW)
                return -EALREADY;
        if (p->window & (UINT64_C(1) << (p->top - counter)))
                return -EALREADY;
        p->window |= UINT64_C(1) << (p->top - counter);
taken:
        p->last_use = ++a->uses;
        return 0;
}

int sync_auth_open(SyncAuth *a, const uint8_t *buf, size_t n, const uint8_t **ret_body,
                   size_t *ret_len) {
        uint8_t expect[SYNC_AUTH_MAC_SIZE];
        const SyncAuthKey *k = NULL;
        int r;

        if (!a || !buf || !ret_body || !ret_len)
                return -EINVAL;
        if (n < SYNC_AUTH_OVERHEAD || buf[0] != AUTH_MAGIC || buf[1] != AUTH_VERSION ||
            sync_auth_unit_length(buf, n) != n || buf[5] || buf[6] || buf[7]) {
                a->stats.malformed++;
                return -EBADMSG;
        }
        for (size_t i = 0; i < a->n_keys; i++)
                if (a->keys[i].id == buf[4]) {
                        k = &a->keys[i];
                        break;
                }
        if (!k) {
                a->stats.unknown_key++;
                return -ENOKEY;
        }
        mac(k, buf, n - SYNC_AUTH_MAC_SIZE, expect);
        if (sodium_memcmp(expect, buf + n - SYNC_AUTH_MAC_SIZE, SYNC_AUTH_MAC_SIZE) != 0) {
                a->stats.bad_mac++;
                return -EKEYREJECTED;
        }
        r = peer_take(a, get_be64(buf + 8), get_be64(buf + 16), get_be64(buf + 24));
        if (r == -ESTALE)
                a->stats.old_epoch++;
        else if (r == -EALREADY)
                a->stats.replayed++;
        else if (r < 0)
                a->stats.malformed++;
        if (r < 0)
                return r;
        a->stats.accepted++;
        *ret_body = buf + SYNC_AUTH_HEADER_SIZE;
        *ret_len = n - SYNC_AUTH_OVERHEAD;
        return 0;
}
