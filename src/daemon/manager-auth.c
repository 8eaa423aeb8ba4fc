/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The authenticated sync link of the manager (Sync { AuthKeyFile }): keys read at start and at
 * every reload, the sealing object handed to the channels. See sync-auth.h for the format.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "channel.h"
#include "log.h"
#include "manager.h"
#include "sync-auth.h"

/*
 * This node, stable across its restarts and distinct from another daemon on the same machine:
 * the machine id and the configuration's path, hashed. (Peers key their replay state by it.)
 */
static uint64_t node_id(const Manager *m) {
        crypto_generichash_state st;
        uint8_t out[8], mid[64] = {};
        uint64_t v = 0;
        int fd;

        fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) !read(fd, mid, sizeof mid);
                (void) close(fd);
        }
        crypto_generichash_init(&st, NULL, 0, sizeof out);
        crypto_generichash_update(&st, mid, sizeof mid);
        if (m->config_path)
                crypto_generichash_update(&st, (const uint8_t *) m->config_path,
                                          strlen(m->config_path));
        crypto_generichash_final(&st, out, sizeof out);
        for (size_t i = 0; i < sizeof out; i++)
                v = v << 8 | out[i];
        return v;
}

static int load(const char *path, SyncAuthKey **ret_keys, size_t *ret_n) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = sync_auth_load_keys(path, ret_keys, ret_n, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ?: "AuthKeyFile: cannot read the keys: %m");
        return 0;
}

int manager_auth_setup(Manager *m) {
        _cleanup_free_ SyncAuthKey *keys = NULL;
        _cleanup_(sync_auth_freep) SyncAuth *a = NULL;
        struct timespec ts;
        uint64_t epoch;
        size_t n = 0;
        int r;

        if (!m->config->auth_key_file || !m->channels)
                return 0;
        r = load(m->config->auth_key_file, &keys, &n);
        if (r < 0)
                return r;
        /* this run: its start time; a restart is always newer (if the clock does not go back) */
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        epoch = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        r = sync_auth_new(&a, keys, n, node_id(m), epoch ?: 1);
        sodium_memzero(keys, n * sizeof *keys);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the authenticated sync link: %m");
        r = channel_set_set_auth(m->channels, a);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the authenticated sync link: %m");
        log_info("Sync link authenticated with %s: %zu key(s), sending with key id %u",
                 m->config->auth_key_file, n, sync_auth_send_key_id(TAKE_PTR(a)));
        return 0;
}

/*
 * Reload: the keys of the new configuration replace the running ones (key rotation). Turning the
 * authentication on or off needs a restart (both ends change together). A key file that cannot
 * be read rejects the whole reload: nothing is half-applied.
 */
int manager_auth_reload(Manager *m, Config *new) {
        _cleanup_free_ SyncAuthKey *keys = NULL;
        SyncAuth *a = m->channels ? channel_set_auth(m->channels) : NULL;
        size_t n = 0;
        int r;

        if (!!a != !!new->auth_key_file) {
                log_warning("%s: AuthKeyFile %s; it takes effect after a restart",
                            new->path ?: "config", a ? "removed" : "added");
                free(new->auth_key_file);
                new->auth_key_file = m->config->auth_key_file ? strdup(m->config->auth_key_file) :
                                                                NULL;
                if (m->config->auth_key_file && !new->auth_key_file)
                        return log_oom();
        }
        if (!a)
                return 0;
        r = load(new->auth_key_file, &keys, &n);
        if (r < 0)
                return r;
        r = sync_auth_set_keys(a, keys, n);
        sodium_memzero(keys, n * sizeof *keys);
        if (r < 0)
                return log_error_errno(r, "Failed to replace the sync link keys: %m");
        log_info("Sync link keys reloaded from %s: %zu key(s), sending with key id %u",
                 new->auth_key_file, n, sync_auth_send_key_id(a));
        return 0;
}

/* Into the "network" section, only when the link is authenticated. */
int manager_auth_append_statistics(Manager *m, sd_bus_message *reply) {
        SyncAuth *a = m->channels ? channel_set_auth(m->channels) : NULL;
        const SyncAuthStats *s;
        int r;

        if (!a)
                return 0;
        s = sync_auth_stats(a);
        const struct {
                const char *key;
                uint64_t value;
        } keys[] = {
                { "network.auth_sealed", s->sealed },
                { "network.auth_accepted", s->accepted },
                { "network.auth_malformed", s->malformed },
                { "network.auth_unknown_key", s->unknown_key },
                { "network.auth_bad_mac", s->bad_mac },
                { "network.auth_replayed", s->replayed },
                { "network.auth_old_epoch", s->old_epoch },
                { "network.auth_peer_restarts", s->restarts },
                { "network.auth_send_key_id", sync_auth_send_key_id(a) },
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                r = sd_bus_message_append(reply, "{sv}", keys[i].key, "t", keys[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}
