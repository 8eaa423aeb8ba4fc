/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Promote and Demote: the steps of conntrack-tools' primary-backup.sh, in order, as one operation
 * that answers when every step is done (or names the one that failed). One at a time: a second
 * call while one runs is refused, never interleaved.
 *
 *   Promote (this node becomes the primary):  commit the external caches into the kernel, flush
 *       the internal and external caches (a pending -t purge goes with the internal flush),
 *       resync the internal caches with the kernel table, send them to the peers (bulk).
 *   Demote (this node becomes a backup):  flush the external caches, ask the peers for their
 *       states (resync request), and arm the purge of the kernel table (-t, PurgeTimeout).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "log.h"
#include "manager.h"

static const char *const role_names[_MANAGER_ROLE_MAX] = {
        [MANAGER_ROLE_UNKNOWN] = "unknown",
        [MANAGER_ROLE_PRIMARY] = "primary",
        [MANAGER_ROLE_BACKUP] = "backup",
};

const char *manager_role_to_string(ManagerRole r) {
        return r >= 0 && r < _MANAGER_ROLE_MAX ? role_names[r] : NULL;
}

static void set_role(Manager *m, ManagerRole role) {
        if (m->role == role)
                return;
        m->role = role;
        manager_bus_emit_role_changed(m);
}

static void finish(Manager *m, FailoverResult *res, const char *failed_step, int error) {
        ManagerFailoverDoneFunc done = m->failover_done;
        void *userdata = m->failover_userdata;

        res->failed_step = failed_step;
        res->error = error;
        res->duration_usec = manager_now(m) - m->failover_start_usec;
        m->failover_running = false;
        m->failover_done = NULL;
        m->failover_userdata = NULL;
        if (failed_step)
                log_error_errno(error, "%s failed at step %s: %m",
                                res->promote ? "Promote" : "Demote", failed_step);
        else {
                set_role(m, res->promote ? MANAGER_ROLE_PRIMARY : MANAGER_ROLE_BACKUP);
                log_info("%s done in %" PRIu64 " us: this node is the %s",
                         res->promote ? "Promote" : "Demote", res->duration_usec,
                         manager_role_to_string(m->role));
        }
        manager_update_status(m);
        if (done)
                done(m, res, userdata);
}

static size_t cache_count(Manager *m, CacheWhich which) {
        size_t n = 0;

        for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                Cache *c = manager_get_cache(m, which, k);

                if (c)
                        n += cache_size(c);
        }
        return n;
}

static int flush_all(Manager *m, CacheWhich which, uint64_t *ret) {
        *ret = cache_count(m, which);
        for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                int r = manager_flush_cache(m, which, k);

                if (r < 0 && r != -EOPNOTSUPP)
                        return r;
        }
        return 0;
}

/* After the commit (or without one): the synchronous rest of Promote. */
static void promote_rest(Manager *m, FailoverResult *res) {
        int r;

        r = flush_all(m, CACHE_INTERNAL, &res->flushed_internal);
        if (r < 0)
                return finish(m, res, "flush-internal", r);
        r = flush_all(m, CACHE_EXTERNAL, &res->flushed_external);
        if (r < 0)
                return finish(m, res, "flush-external", r);
        r = manager_resync_kernel(m, (CtKind) -1, &res->resync_entries);
        if (r < 0)
                return finish(m, res, "resync", r);
        r = manager_send_bulk(m);
        if (r < 0 && r != -EOPNOTSUPP)
                return finish(m, res, "send-bulk", r);
        finish(m, res, NULL, 0);
}

static void on_commit_done(Manager *m, const CommitResult *cr, void *userdata) {
        FailoverResult res = { .promote = true, .committed = true, .commit = *cr };

        promote_rest(m, &res);
}

static int begin(Manager *m, ManagerFailoverDoneFunc done, void *userdata) {
        if (m->config->mode == CONFIG_MODE_STATS)
                return -EOPNOTSUPP;
        if (m->failover_running)
                return -EBUSY;
        m->failover_running = true;
        m->failover_done = done;
        m->failover_userdata = userdata;
        m->failover_start_usec = manager_now(m);
        return 0;
}

int manager_promote(Manager *m, ManagerFailoverDoneFunc done, void *userdata) {
        FailoverResult res = { .promote = true };
        int r;

        r = begin(m, done, userdata);
        if (r < 0)
                return r;
        log_info("Promote: commit, flush, resync, bulk send");
        r = manager_commit(m, -1, on_commit_done, NULL);
        if (r == -EOPNOTSUPP) {
                /* DisableExternalCache: the peers' states are in the kernel already */
                promote_rest(m, &res);
                return 0;
        }
        if (r < 0) {
                /* nothing was done: refuse the call itself (Busy: a commit of -c runs) */
                m->failover_running = false;
                m->failover_done = NULL;
                m->failover_userdata = NULL;
                return r;
        }
        return 0;       /* on_commit_done() goes on */
}

int manager_demote(Manager *m, ManagerFailoverDoneFunc done, void *userdata) {
        FailoverResult res = { .promote = false };
        int r;

        r = begin(m, done, userdata);
        if (r < 0)
                return r;
        log_info("Demote: flush the external cache, request a resync, arm the purge");
        r = flush_all(m, CACHE_EXTERNAL, &res.flushed_external);
        if (r == -EBUSY) {
                m->failover_running = false;
                m->failover_done = NULL;
                m->failover_userdata = NULL;
                return r;       /* a commit runs */
        }
        if (r < 0) {
                finish(m, &res, "flush-external", r);
                return 0;
        }
        r = manager_request_resync(m);
        if (r < 0 && r != -EOPNOTSUPP) {
                finish(m, &res, "request-resync", r);
                return 0;
        }
        r = manager_reset_timers(m);
        if (r < 0 && r != -EALREADY) {
                finish(m, &res, "reset-timers", r);
                return 0;
        }
        finish(m, &res, NULL, 0);
        return 0;
}
