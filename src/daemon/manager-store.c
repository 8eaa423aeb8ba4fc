/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The caches across a planned restart, through systemd's file descriptor store (sd_notify(3)
 * FDSTORE=1). At a planned stop (SIGTERM, Quit) the caches are serialized (cache-store.c) into a
 * sealed memfd named "conntrackd-caches" and handed to the service manager, which keeps it while
 * the unit restarts (FileDescriptorStoreMax= of the unit) and passes it back with the sockets
 * (LISTEN_FDS, LISTEN_FDNAMES). At the next start it is checked whole and taken into the caches,
 * or discarded with one warning; either way the service manager is told to drop it.
 *
 * What comes back: the external caches as they were (the peers' states: a restarted backup has
 * them at once, without a bulk); of the internal caches only the age of the flows the start-up
 * dump found again (the kernel table survives the restart of the daemon and is the authority on
 * what the internal cache holds: a flow that ended meanwhile is not brought back).
 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "cache-store.h"
#include "manager.h"

#define STORE_FDNAME            "conntrackd-caches"
#define STORE_SIZE_MAX          ((uint64_t) 4 << 30)    /* far above 1 M flows (~100 MB) */
#define STORE_BARRIER_USEC      (5 * USEC_PER_SEC)

_Static_assert((int) CACHE_STORE_INTERNAL == (int) CACHE_INTERNAL &&
               (int) CACHE_STORE_EXTERNAL == (int) CACHE_EXTERNAL &&
               (int) _CACHE_STORE_SLOT_MAX == (int) _CACHE_WHICH_MAX,
               "CacheStoreSlot and CacheWhich must number the caches alike");

/* ---- start: take the store back ---- */

typedef struct RestoreContext {
        Manager *m;
        const CacheStoreInfo *info;     /* filled by cache_store_parse() before the objects */
        uint64_t now, realtime, store_age_usec;
        bool store_age_known;
        uint64_t external_ok[_CT_KIND_MAX];
        uint64_t internal_found[_CT_KIND_MAX], internal_gone[_CT_KIND_MAX];
        uint64_t absent, absent_external, full, failed;
} RestoreContext;

static uint64_t since(uint64_t now, uint64_t age_usec) {
        return now > age_usec ? now - age_usec : 0;
}

static int restore_one(const CacheStoreObject *so, void *userdata) {
        RestoreContext *ctx = userdata;
        Cache *c = ctx->m->caches[so->slot][so->kind];
        const void *obj = so->kind == CT_KIND_CT ? (const void *) &so->ct : &so->exp;
        CacheObject *o;
        uint64_t age;
        int r;

        if (!ctx->store_age_known) {
                /* how long the store was kept adds to every object's age */
                ctx->store_age_usec = since(ctx->realtime, ctx->info->created_usec);
                ctx->store_age_known = true;
        }
        age = (uint64_t) so->age_sec * USEC_PER_SEC + ctx->store_age_usec;
        if (!c) {
                /* a cache this configuration does not have (DisableExternalCache, ...) */
                ctx->absent++;
                ctx->absent_external += so->slot == CACHE_STORE_EXTERNAL;
                return 0;
        }
        if (so->slot == CACHE_STORE_INTERNAL) {
                /* the dump has run: the flow is there if the kernel still has it */
                o = cache_find(c, obj);
                if (!o) {
                        ctx->internal_gone[so->kind]++;
                        return 0;
                }
                o->added_usec = MIN(o->added_usec, since(ctx->now, age));
                ctx->internal_found[so->kind]++;
                return 0;
        }
        r = cache_add(c, obj, ctx->now, &o);
        if (r == -ENOSPC)
                ctx->full++;
        else if (r < 0)
                ctx->failed++;
        else {
                o->added_usec = since(ctx->now, age);
                ctx->external_ok[so->kind]++;
        }
        return 0;
}

/* The bytes of the store, mapped when the memfd is sealed against changes, else copied (a file
 * that can change under the parser would be checked in one state and read in another). */
static int store_map(int fd, uint8_t **ret_buf, size_t *ret_size, bool *ret_mapped,
                     const char **ret_why) {
        struct stat st;
        uint8_t *buf;
        size_t size, done = 0;
        int seals;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode)) {
                *ret_why = "not a memory file";
                return -EMEDIUMTYPE;
        }
        if (st.st_size <= 0 || (uint64_t) st.st_size > STORE_SIZE_MAX) {
                *ret_why = st.st_size <= 0 ? "empty" : "larger than any store we write";
                return -EFBIG;
        }
        size = (size_t) st.st_size;

        seals = fcntl(fd, F_GET_SEALS);
        if (seals >= 0 && (seals & F_SEAL_WRITE) && (seals & F_SEAL_SHRINK)) {
                buf = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (buf == MAP_FAILED)
                        return negative_errno();
                *ret_buf = buf;
                *ret_size = size;
                *ret_mapped = true;
                return 0;
        }

        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        while (done < size) {
                ssize_t n = pread(fd, buf + done, size - done, (off_t) done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int r = n < 0 ? negative_errno() : -EIO;

                        free(buf);
                        *ret_why = "shorter than it says";
                        return r;
                }
                done += (size_t) n;
        }
        *ret_buf = buf;
        *ret_size = size;
        *ret_mapped = false;
        return 0;
}

static void store_reject(Manager *m, int error, const char *why) {
        m->store.rejected++;
        log_warning_errno(error, "Discarding the cache store \"" STORE_FDNAME "\" that the service "
                          "manager handed back: %s; starting without it, as after a plain start",
                          why);
}

static void store_load_fd(Manager *m, int fd) {
        CacheStoreInfo info = {};
        RestoreContext ctx = {
                .m = m,
                .info = &info,
                .now = manager_now(m),
                .realtime = now_usec(CLOCK_REALTIME),
        };
        const char *why = NULL;
        uint8_t *buf = NULL;
        size_t size = 0;
        bool mapped = false;
        uint64_t begin = now_usec(CLOCK_MONOTONIC), took;
        uint64_t internal_found, internal_gone;
        int r;

        r = store_map(fd, &buf, &size, &mapped, &why);
        if (r < 0) {
                store_reject(m, r, why ?: "cannot be read");
                return;
        }

        r = cache_store_parse(buf, size, NULL, 0, &info, restore_one, &ctx);
        if (mapped)
                (void) munmap(buf, size);
        else
                free(buf);
        if (r < 0) {
                CacheStoreReason reason = cache_store_reason_from_errno(r);

                store_reject(m, r, reason >= 0 ? cache_store_reason_describe(reason) :
                                                 "it cannot be checked");
                return;
        }

        ctx.store_age_usec = since(ctx.realtime, info.created_usec);
        internal_found = ctx.internal_found[CT_KIND_CT] + ctx.internal_found[CT_KIND_EXPECT];
        internal_gone = ctx.internal_gone[CT_KIND_CT] + ctx.internal_gone[CT_KIND_EXPECT];
        m->store.saved_objects = info.total;
        m->store.restored_objects = ctx.external_ok[CT_KIND_CT] + ctx.external_ok[CT_KIND_EXPECT] +
                                    internal_found;
        /* Complete only if every external object found its place. */
        m->caches_restored = ctx.absent_external == 0 && ctx.full == 0 && ctx.failed == 0;

        took = now_usec(CLOCK_MONOTONIC) - begin;
        log_info("Restored the caches from the store of conntrackd %s, saved %" PRIu64 ".%01" PRIu64
                 " s ago (%" PRIu64 " objects, %zu bytes, read in %" PRIu64 " ms): external cache "
                 "%" PRIu64 " flows, %" PRIu64 " expectations; internal cache: %" PRIu64
                 " objects still in the kernel table had their age back, %" PRIu64
                 " ended meanwhile",
                 info.writer, ctx.store_age_usec / USEC_PER_SEC,
                 ctx.store_age_usec % USEC_PER_SEC / (USEC_PER_SEC / 10), info.total, size,
                 took / USEC_PER_MSEC, ctx.external_ok[CT_KIND_CT], ctx.external_ok[CT_KIND_EXPECT],
                 internal_found, internal_gone);
        if (ctx.absent > 0 || ctx.full > 0 || ctx.failed > 0)
                log_full(m->caches_restored ? LOG_NOTICE : LOG_WARNING,
                         "The cache store was taken in part: %" PRIu64 " objects for caches this "
                         "configuration does not have, %" PRIu64 " above HashLimit, %" PRIu64
                         " failed%s", ctx.absent, ctx.full, ctx.failed,
                         m->caches_restored ? "" : "; the external caches are not complete");
}

/*
 * The fd stays open at its number, as /dev/null: the LISTEN_FDS range must stay valid, because
 * sd_listen_fds_with_names() (the private socket, the sync sockets) sets FD_CLOEXEC on every fd
 * of it and fails on a closed one. The memfd itself is closed (its memory freed) here.
 */
static void store_retire_fd(int fd) {
        _cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);

        if (null < 0 || dup3(null, fd, O_CLOEXEC) < 0) {
                log_debug_errno(negative_errno(), "Failed to replace the cache store fd %d by "
                                "/dev/null, keeping it open: %m", fd);
                return;
        }
}

void manager_store_load(Manager *m) {
        char **names = NULL;
        int n, fd = -EBADF;

        n = sd_listen_fds_with_names(false, &names);
        if (n < 0)
                log_debug_errno(n, "No file descriptors from the service manager: %m");
        for (int i = 0; i < n; i++) {
                if (names && names[i] && streq(names[i], STORE_FDNAME)) {
                        if (fd >= 0) {
                                /* not ours to have twice: the last one passed is the newest */
                                log_debug("More than one \"" STORE_FDNAME "\" passed, "
                                          "using the last");
                                store_retire_fd(fd);
                        }
                        fd = SD_LISTEN_FDS_START + i;
                }
                if (names)
                        free(names[i]);
        }
        free(names);
        if (fd < 0)
                return;

        store_load_fd(m, fd);
        store_retire_fd(fd);
        /* Taken (or discarded): the service manager drops its copy, so that a crash later does
         * not bring back states older than the ones we replicate from now on. */
        (void) sd_notify(false, "FDSTOREREMOVE=1\nFDNAME=" STORE_FDNAME);
}

/* ---- stop: hand the caches over ---- */

static bool store_wanted(Manager *m) {
        const char *e;
        unsigned long max;

        if (!m->notify || m->config->mode == CONFIG_MODE_STATS || !getenv("NOTIFY_SOCKET"))
                return false;
        /* systemd 254 and later say whether the unit has a store (FileDescriptorStoreMax=);
         * older ones do not, and close what they cannot keep */
        e = getenv("FDSTORE");
        if (e) {
                char *end;

                errno = 0;
                max = strtoul(e, &end, 10);
                if (errno == 0 && end != e && *end == '\0' && max == 0)
                        return false;
        }
        return true;
}

static int write_all(int fd, const uint8_t *buf, size_t size) {
        while (size > 0) {
                ssize_t n = write(fd, buf, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? negative_errno() : -EIO;
                buf += n;
                size -= (size_t) n;
        }
        return 0;
}

void manager_store_save(Manager *m) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t begin = now_usec(CLOCK_MONOTONIC), skipped = 0, total = 0, took;
        size_t size = 0;
        int r;

        if (!store_wanted(m))
                return;

        r = cache_store_serialize(&(CacheStoreSource) {
                                          .caches = {
                                                  { m->caches[CACHE_INTERNAL][CT_KIND_CT],
                                                    m->caches[CACHE_INTERNAL][CT_KIND_EXPECT] },
                                                  { m->caches[CACHE_EXTERNAL][CT_KIND_CT],
                                                    m->caches[CACHE_EXTERNAL][CT_KIND_EXPECT] },
                                          },
                                          .now_usec = manager_now(m),
                                          .created_usec = now_usec(CLOCK_REALTIME),
                                          .writer = PACKAGE_VERSION,
                                  },
                                  &buf, &size, &skipped);
        if (r < 0) {
                log_warning_errno(r, "Failed to serialize the caches for the service manager's "
                                  "file descriptor store, the next start begins empty: %m");
                return;
        }
        for (CacheWhich w = 0; w < _CACHE_WHICH_MAX; w++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        total += m->caches[w][k] ? cache_size(m->caches[w][k]) : 0;

        fd = memfd_create(STORE_FDNAME, MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0) {
                log_warning_errno(negative_errno(), "Failed to create a memory file for the cache "
                                  "store: %m");
                return;
        }
        r = write_all(fd, buf, size);
        if (r < 0) {
                log_warning_errno(r, "Failed to write the cache store: %m");
                return;
        }
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
                log_debug_errno(negative_errno(), "Failed to seal the cache store: %m");

        /* One store at a time: an old one the last start did not take goes first. */
        (void) sd_notify(false, "FDSTOREREMOVE=1\nFDNAME=" STORE_FDNAME);
        r = sd_pid_notify_with_fds(0, false, "FDSTORE=1\nFDNAME=" STORE_FDNAME, &fd, 1);
        if (r <= 0) {
                log_warning_errno(r ?: ENOTCONN, "Failed to hand the cache store to the service "
                                  "manager: %m");
                return;
        }
        /* The manager has it before we exit (it reads notifications in order). */
        r = sd_notify_barrier(false, STORE_BARRIER_USEC);
        if (r < 0)
                log_debug_errno(r, "No barrier reply from the service manager: %m");

        took = now_usec(CLOCK_MONOTONIC) - begin;
        log_info("Handed the caches to the service manager's file descriptor store: %" PRIu64
                 " objects (%" PRIu64 " left out), %zu bytes, in %" PRIu64 " ms",
                 total - skipped, skipped, size, took / USEC_PER_MSEC);
}

/* ---- statistics ---- */

int manager_store_append_statistics(Manager *m, sd_bus_message *reply) {
        const struct {
                const char *key;
                uint64_t value;
        } keys[] = {
                { "store.restored_objects", m->store.restored_objects },
                { "store.saved_objects", m->store.saved_objects },
                { "store.rejected", m->store.rejected },
        };
        int r;

        if (m->config->mode == CONFIG_MODE_STATS)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                r = sd_bus_message_append(reply, "{sv}", keys[i].key, "t", keys[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}
