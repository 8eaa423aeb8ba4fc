/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync-auth.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(SyncAuth, sync_auth_free)

#define KEY_A "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
#define KEY_B "2 F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFFe0e1e2e3e4e5e6e7e8e9eaebecedeeef  # next\n"

static SyncAuthKey key(uint8_t id, uint8_t fill) {
        SyncAuthKey k = { .id = id };

        memset(k.key, fill, sizeof k.key);
        return k;
}

static SyncAuth *auth(const SyncAuthKey *keys, size_t n, uint64_t sender, uint64_t epoch) {
        SyncAuth *a = NULL;

        g_assert_cmpint(sync_auth_new(&a, keys, n, sender, epoch), ==, 0);
        return a;
}

/* seal "body" (a 1.4.x-looking message) into out; returns the sealed size */
static size_t seal(SyncAuth *a, const char *body, uint8_t *out, size_t size) {
        int r = sync_auth_seal(a, (const uint8_t *) body, strlen(body), out, size);

        g_assert_cmpint(r, ==, (int) strlen(body) + SYNC_AUTH_OVERHEAD);
        return (size_t) r;
}

static int open_unit(SyncAuth *a, const uint8_t *buf, size_t n, const char *expect) {
        const uint8_t *body = NULL;
        size_t len = 0;
        int r = sync_auth_open(a, buf, n, &body, &len);

        if (r == 0 && expect)
                g_assert_cmpmem(body, len, expect, strlen(expect));
        return r;
}

static void test_good_key(void) {
        SyncAuthKey k = key(7, 0x11);
        g_autoptr(SyncAuth) tx = auth(&k, 1, 100, 5000), rx = auth(&k, 1, 200, 6000);
        uint8_t buf[256];
        size_t n;

        n = seal(tx, "hello, peer", buf, sizeof buf);
        g_assert_cmpuint(sync_auth_unit_length(buf, n), ==, n);
        g_assert_cmpint(open_unit(rx, buf, n, "hello, peer"), ==, 0);
        n = seal(tx, "", buf, sizeof buf);      /* an empty body is still a unit */
        g_assert_cmpint(open_unit(rx, buf, n, ""), ==, 0);
        g_assert_cmpuint(sync_auth_stats(rx)->accepted, ==, 2);
        g_assert_cmpuint(sync_auth_stats(tx)->sealed, ==, 2);
        g_assert_cmpuint(sync_auth_send_key_id(tx), ==, 7);

        /* too small a buffer */
        g_assert_cmpint(sync_auth_seal(tx, (const uint8_t *) "x", 1, buf, SYNC_AUTH_OVERHEAD),
                        ==, -EMSGSIZE);
}

static void test_wrong_key(void) {
        SyncAuthKey good = key(1, 0x11), other = key(1, 0x22), other_id = key(9, 0x11);
        g_autoptr(SyncAuth) rx = auth(&good, 1, 1, 1);
        g_autoptr(SyncAuth) forger = auth(&other, 1, 2, 2), stranger = auth(&other_id, 1, 3, 3);
        uint8_t buf[256];
        size_t n;

        /* same id, another secret: bad MAC */
        n = seal(forger, "established state, trust me", buf, sizeof buf);
        g_assert_cmpint(open_unit(rx, buf, n, NULL), ==, -EKEYREJECTED);
        /* a key id we do not have */
        n = seal(stranger, "hello", buf, sizeof buf);
        g_assert_cmpint(open_unit(rx, buf, n, NULL), ==, -ENOKEY);
        g_assert_cmpuint(sync_auth_stats(rx)->bad_mac, ==, 1);
        g_assert_cmpuint(sync_auth_stats(rx)->unknown_key, ==, 1);
        g_assert_cmpuint(sync_auth_stats(rx)->accepted, ==, 0);
}

static void test_tampered(void) {
        SyncAuthKey k = key(1, 0x33);
        g_autoptr(SyncAuth) tx = auth(&k, 1, 1, 10), rx = auth(&k, 1, 2, 20);
        uint8_t buf[256], copy[256];
        size_t n = seal(tx, "0123456789abcdef", buf, sizeof buf);

        /* every single bit flipped anywhere is refused (header, body or MAC) */
        for (size_t i = 0; i < n; i++)
                for (unsigned bit = 0; bit < 8; bit++) {
                        memcpy(copy, buf, n);
                        copy[i] ^= (uint8_t) (1u << bit);
                        g_assert_cmpint(open_unit(rx, copy, n, NULL), <, 0);
                }
        /* truncated, extended, not ours at all (a plain 1.4.x message) */
        g_assert_cmpint(open_unit(rx, buf, n - 1, NULL), ==, -EBADMSG);
        memcpy(copy, buf, n);
        copy[n] = 0;
        g_assert_cmpint(open_unit(rx, copy, n + 1, NULL), ==, -EBADMSG);
        g_assert_cmpint(open_unit(rx, (const uint8_t *) "\x10\x00\x00\x08\x00\x00\x00\x01", 8, NULL),
                        ==, -EBADMSG);
        g_assert_cmpuint(sync_auth_unit_length((const uint8_t *) "\x10\x00\x00\x08", 4), ==, 0);
        /* the untouched unit still goes through */
        g_assert_cmpint(open_unit(rx, buf, n, "0123456789abcdef"), ==, 0);
        g_assert_cmpuint(sync_auth_stats(rx)->accepted, ==, 1);
}

static void test_replay(void) {
        SyncAuthKey k = key(1, 0x44);
        g_autoptr(SyncAuth) tx = auth(&k, 1, 42, 1000), rx = auth(&k, 1, 43, 1000);
        uint8_t units[80][128];
        size_t len[80];

        for (unsigned i = 0; i < 80; i++)
                len[i] = seal(tx, "unit", units[i], sizeof units[i]);

        g_assert_cmpint(open_unit(rx, units[0], len[0], "unit"), ==, 0);
        g_assert_cmpint(open_unit(rx, units[0], len[0], NULL), ==, -EALREADY);
        /* reordering inside the window: 5 before 3 and 4, each once */
        g_assert_cmpint(open_unit(rx, units[5], len[5], NULL), ==, 0);
        g_assert_cmpint(open_unit(rx, units[3], len[3], NULL), ==, 0);
        g_assert_cmpint(open_unit(rx, units[4], len[4], NULL), ==, 0);
        g_assert_cmpint(open_unit(rx, units[3], len[3], NULL), ==, -EALREADY);
        g_assert_cmpint(open_unit(rx, units[5], len[5], NULL), ==, -EALREADY);
        /* 75 moves the window past 1 and 2: too old to tell, refused */
        g_assert_cmpint(open_unit(rx, units[75], len[75], NULL), ==, 0);
        g_assert_cmpint(open_unit(rx, units[1], len[1], NULL), ==, -EALREADY);
        g_assert_cmpint(open_unit(rx, units[12], len[12], NULL), ==, 0);   /* 75-12 < 64 */
        g_assert_cmpuint(sync_auth_stats(rx)->replayed, ==, 4);
        g_assert_cmpuint(sync_auth_stats(rx)->accepted, ==, 6);
}

static void test_restart(void) {
        SyncAuthKey k = key(1, 0x55);
        g_autoptr(SyncAuth) run1 = auth(&k, 1, 42, 1000), run2 = auth(&k, 1, 42, 2000);
        g_autoptr(SyncAuth) other = auth(&k, 1, 77, 500), rx = auth(&k, 1, 1, 1);
        uint8_t old[128], new[128], b[128];
        size_t n_old = seal(run1, "first run", old, sizeof old);
        size_t n_new, n_b;

        g_assert_cmpint(open_unit(rx, old, n_old, NULL), ==, 0);
        /* the sender restarts: counter 1 again, newer epoch, taken */
        n_new = seal(run2, "second run", new, sizeof new);
        g_assert_cmpint(open_unit(rx, new, n_new, "second run"), ==, 0);
        g_assert_cmpuint(sync_auth_stats(rx)->restarts, ==, 1);
        /* what the first run sent is never taken again, even unseen counters */
        n_old = seal(run1, "first run, later", old, sizeof old);
        g_assert_cmpint(open_unit(rx, old, n_old, NULL), ==, -ESTALE);
        g_assert_cmpuint(sync_auth_stats(rx)->old_epoch, ==, 1);
        /* another node with an older clock is another sender: fine */
        n_b = seal(other, "node b", b, sizeof b);
        g_assert_cmpint(open_unit(rx, b, n_b, "node b"), ==, 0);
}

static void test_rotation(void) {
        SyncAuthKey a = key(1, 0x66), b = key(2, 0x77);
        SyncAuthKey both_a_first[] = { a, b }, both_b_first[] = { b, a };
        g_autoptr(SyncAuth) node1 = auth(&a, 1, 1, 10), node2 = auth(&a, 1, 2, 10);
        uint8_t buf[128];
        size_t n;

        /* step 1: node2 learns key 2 but still signs with key 1 */
        g_assert_cmpint(sync_auth_set_keys(node2, both_a_first, 2), ==, 0);
        n = seal(node2, "x", buf, sizeof buf);
        g_assert_cmpint(open_unit(node1, buf, n, "x"), ==, 0);
        /* step 2: node1 learns key 2 and signs with it; node2 accepts both */
        g_assert_cmpint(sync_auth_set_keys(node1, both_b_first, 2), ==, 0);
        n = seal(node1, "y", buf, sizeof buf);
        g_assert_cmpint(open_unit(node2, buf, n, "y"), ==, 0);
        n = seal(node2, "z", buf, sizeof buf);
        g_assert_cmpint(open_unit(node1, buf, n, "z"), ==, 0);
        /* step 3: key 1 removed everywhere; a unit signed with it is refused */
        g_assert_cmpint(sync_auth_set_keys(node2, &b, 1), ==, 0);
        g_assert_cmpint(sync_auth_set_keys(node1, &b, 1), ==, 0);
        n = seal(node1, "w", buf, sizeof buf);
        g_assert_cmpint(open_unit(node2, buf, n, "w"), ==, 0);
        {
                g_autoptr(SyncAuth) stale = auth(&a, 1, 3, 10);

                n = seal(stale, "old key", buf, sizeof buf);
                g_assert_cmpint(open_unit(node2, buf, n, NULL), ==, -ENOKEY);
        }
        /* bad key sets */
        g_assert_cmpint(sync_auth_set_keys(node1, &b, 0), ==, -EINVAL);
}

/* ---- key file ---- */

static char *write_file(const char *dir, const char *name, const char *text, mode_t mode) {
        char *path = g_build_filename(dir, name, NULL);

        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        g_assert_cmpint(chmod(path, mode), ==, 0);
        return path;
}

static int load(const char *path, size_t *n, char **error) {
        g_autofree SyncAuthKey *keys = NULL;

        return sync_auth_load_keys(path, &keys, n, error);
}

static void test_key_file(void) {
        g_autofree char *dir = g_dir_make_tmp("sync-auth-XXXXXX", NULL);
        g_autofree char *good = write_file(dir, "good", "# keys\n\n" KEY_A "  " KEY_B, 0600);
        g_autofree char *open_mode = write_file(dir, "open", KEY_A, 0644);
        g_autofree char *bad_hex = write_file(dir, "hex", "# x\n1 0011zz\n", 0600);
        g_autofree char *dup = write_file(dir, "dup", KEY_A KEY_A, 0600);
        g_autofree char *empty = write_file(dir, "empty", "# nothing\n", 0400);
        g_autofree char *trailing = write_file(dir, "trailing",
                "1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n", 0600);
        g_autofree char *link = g_build_filename(dir, "link", NULL);
        g_autofree SyncAuthKey *keys = NULL;
        size_t n = 0;
        char *error = NULL;

        g_assert_cmpint(sync_auth_load_keys(good, &keys, &n, &error), ==, 0);
        g_assert_null(error);
        g_assert_cmpuint(n, ==, 2);
        g_assert_cmpuint(keys[0].id, ==, 1);
        g_assert_cmpuint(keys[0].key[31], ==, 0x1f);
        g_assert_cmpuint(keys[1].id, ==, 2);
        g_assert_cmpuint(keys[1].key[0], ==, 0xf0);
        g_assert_cmpuint(keys[1].key[31], ==, 0xef);

        g_assert_cmpint(load(open_mode, &n, &error), ==, -EPERM);
        g_assert_nonnull(strstr(error, "mode 0644"));
        g_assert_nonnull(strstr(error, open_mode));
        g_clear_pointer(&error, free);

        g_assert_cmpint(symlink(good, link), ==, 0);
        g_assert_cmpint(load(link, &n, &error), ==, -EPERM);
        g_assert_nonnull(strstr(error, "symbolic link"));
        g_clear_pointer(&error, free);

        g_assert_cmpint(load(bad_hex, &n, &error), ==, -EINVAL);
        g_assert_nonnull(strstr(error, ":2: expected 64 hexadecimal digits"));
        g_clear_pointer(&error, free);

        g_assert_cmpint(load(dup, &n, &error), ==, -EINVAL);
        g_assert_nonnull(strstr(error, ":2: key id 1 is given twice"));
        g_clear_pointer(&error, free);

        g_assert_cmpint(load(empty, &n, &error), ==, -EINVAL);
        g_assert_nonnull(strstr(error, "no key"));
        g_clear_pointer(&error, free);

        g_assert_cmpint(load(trailing, &n, &error), ==, -EINVAL);
        g_assert_nonnull(strstr(error, ":1: unexpected text"));
        g_clear_pointer(&error, free);

        g_assert_cmpint(load(dir, &n, &error), ==, -EPERM);     /* a directory */
        g_clear_pointer(&error, free);

        {
                const char *const files[] = { good, open_mode, bad_hex, dup, empty, trailing, link };

                for (size_t i = 0; i < G_N_ELEMENTS(files); i++)
                        (void) unlink(files[i]);
                (void) rmdir(dir);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/sync-auth/good-key", test_good_key);
        g_test_add_func("/sync-auth/wrong-key", test_wrong_key);
        g_test_add_func("/sync-auth/tampered", test_tampered);
        g_test_add_func("/sync-auth/replay", test_replay);
        g_test_add_func("/sync-auth/restart", test_restart);
        g_test_add_func("/sync-auth/rotation", test_rotation);
        g_test_add_func("/sync-auth/key-file", test_key_file);
        return g_test_run();
}
