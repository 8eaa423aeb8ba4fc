/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Commit of the external cache into the kernel table (spec §2.1 "Commit"); see commit.h.
 *
 * commit_new() copies the objects once, already in the form they are written in (timeout,
 * status, reply tuple, TCP flags), ordered: flows without a master, related flows, expectations.
 * Then one slice per loop iteration is written with kernel_create_batch(); objects
 * the kernel refuses with EEXIST are replaced (delete, create once more) one by one. Between
 * slices the loop serves everything else, and a cache may change meanwhile without disturbing
 * the commit: it works on its copy.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "commit.h"
#include "log.h"
#include "nfct-convert.h"

#define COMMIT_BATCH_DEFAULT    2048u
/* A timeout that the estimate cannot give: the kernel's default for a new flow would not do. */
#define COMMIT_TIMEOUT_FALLBACK 60u

/* IPS_EXPECTED: the flow was created for an expectation. The kernel refuses to set it. */
#define CT_STATUS_EXPECTED      (1u << 0)
/* IP_CT_TCP_FLAG_BE_LIBERAL: accept packets out of the window this table never saw. */
#define CT_TCP_FLAG_BE_LIBERAL  0x08u

typedef enum CommitPhase {
        COMMIT_PHASE_CT,
        COMMIT_PHASE_EXPECT,
        COMMIT_PHASE_DONE,
} CommitPhase;

struct Commit {
        sd_event *event;
        Kernel *kernel;
        sd_event_source *source;
        int efd;                        /* always readable: wakes the loop for the next slice */

        CtEntry *cts;                   /* flows without a master first, then related ones */
        size_t n_ct;
        CtExpect *exps;
        size_t n_exp;
        bool with_ct, with_exp;         /* which caches were asked for (for the log lines) */

        CommitPhase phase;
        size_t pos;                     /* next object of the phase */
        uint32_t batch;
        const void **ptrs;              /* scratch: one slice */
        int *errors;

        CommitResult result;
        uint64_t start_usec;            /* CLOCK_MONOTONIC, for the duration */
        RateLimit log_ratelimit;
        bool finished;

        CommitDoneFunc done;
        void *userdata;
};

/* ---- snapshot ---- */

/* The timeout to commit with (spec §2.1): CommitTimeout, else what was received minus the
 * seconds spent in the external cache; not positive (or no timeout at all): 60 s. */
static uint32_t commit_timeout(const CommitOptions *o, bool has_timeout, uint32_t received,
                               uint64_t updated_usec) {
        uint64_t elapsed;

        if (o->commit_timeout > 0)
                return o->commit_timeout;
        if (!has_timeout)
                return COMMIT_TIMEOUT_FALLBACK;
        elapsed = o->now_usec > updated_usec ? (o->now_usec - updated_usec) / USEC_PER_SEC : 0;
        if (elapsed >= received)
                return COMMIT_TIMEOUT_FALLBACK;
        return (uint32_t) (received - elapsed);
}

/* Written in place: ret is the snapshot's slot (no copy of a copy for every flow). */
static void prepare_ct(const CommitOptions *o, const CacheObject *obj, CtEntry *ret) {
        CtEntry *e = ret;

        cache_object_ct(obj, e);

        e->timeout = commit_timeout(o, e->attrs & CT_ATTR_TIMEOUT, e->timeout, obj->updated_usec);
        e->attrs |= CT_ATTR_TIMEOUT;

        if (e->attrs & CT_ATTR_STATUS)
                e->status &= ~CT_STATUS_EXPECTED;

        /* The reply tuple is the inverse of the original; NAT is asked for by the NAT
         * attributes, from which the kernel computes the real reply tuple. */
        ct_tuple_invert(&e->orig, &e->reply);
        e->attrs |= CT_ATTR_REPLY;

        /* What the kernel reports and replication may carry, but a create does not take. */
        e->attrs &= ~(uint64_t) (CT_ATTR_ID | CT_ATTR_USE | CT_ATTR_COUNTERS | CT_ATTR_TIMESTAMP);

        if (e->orig.l4 == IPPROTO_TCP && !o->tcp_window_tracking) {
                if (!(e->attrs & CT_ATTR_TCP_FLAGS)) {
                        e->tcp.flags_orig = e->tcp.flags_repl = 0;
                        e->tcp.mask_orig = e->tcp.mask_repl = 0;
                }
                e->tcp.flags_orig |= CT_TCP_FLAG_BE_LIBERAL;
                e->tcp.mask_orig |= CT_TCP_FLAG_BE_LIBERAL;
                e->tcp.flags_repl |= CT_TCP_FLAG_BE_LIBERAL;
                e->tcp.mask_repl |= CT_TCP_FLAG_BE_LIBERAL;
                e->attrs |= CT_ATTR_TCP_FLAGS;
        }
}

static void prepare_expect(const CommitOptions *o, const CacheObject *obj, CtExpect *ret) {
        CtExpect x = *cache_object_expect(obj);

        x.timeout = commit_timeout(o, x.attrs & CT_EXP_ATTR_TIMEOUT, x.timeout, obj->updated_usec);
        x.attrs |= CT_EXP_ATTR_TIMEOUT;
        x.attrs &= ~(uint64_t) CT_EXP_ATTR_ID;
        *ret = x;
}

typedef struct SnapshotContext {
        Commit *c;
        const CommitOptions *o;
        size_t front, back;             /* flows: unrelated from the front, related from the back */
} SnapshotContext;

static int snapshot_ct_one(Cache *cache, CacheObject *obj, void *userdata) {
        SnapshotContext *s = userdata;

        if (s->front >= s->back)
                return -ERANGE;         /* more objects than cache_size() said: a bug */
        CtEntry *e = &s->c->cts[s->front];

        /* unrelated flows from the front, related ones (a master tuple) moved to the back */
        prepare_ct(s->o, obj, e);
        if (e->attrs & CT_ATTR_MASTER)
                s->c->cts[--s->back] = *e;
        else
                s->front++;
        return 0;
}

static int snapshot_expect_one(Cache *cache, CacheObject *obj, void *userdata) {
        SnapshotContext *s = userdata;

        if (s->front >= s->c->n_exp)
                return -ERANGE;
        prepare_expect(s->o, obj, &s->c->exps[s->front++]);
        return 0;
}

static int snapshot(Commit *c, const CommitOptions *o) {
        int r;

        if (o->ct && (c->n_ct = cache_size(o->ct)) > 0) {
                SnapshotContext s = { .c = c, .o = o, .back = c->n_ct };

                c->cts = calloc(c->n_ct, sizeof(CtEntry));
                if (!c->cts)
                        return -ENOMEM;
                r = cache_foreach(o->ct, snapshot_ct_one, &s);
                if (r < 0)
                        return r;
                assert(s.front == s.back);
        }
        if (o->exp && (c->n_exp = cache_size(o->exp)) > 0) {
                SnapshotContext s = { .c = c, .o = o };

                c->exps = calloc(c->n_exp, sizeof(CtExpect));
                if (!c->exps)
                        return -ENOMEM;
                r = cache_foreach(o->exp, snapshot_expect_one, &s);
                if (r < 0)
                        return r;
                assert(s.front == c->n_exp);
        }
        return 0;
}

/* ---- writing ---- */

static void log_failure(Commit *c, CtKind kind, const void *obj, const char *what, int error) {
        _cleanup_free_ char *line = NULL;

        if (!ratelimit_below(&c->log_ratelimit))
                return;
        if (kind == CT_KIND_CT)
                (void) ct_entry_render_nfct(obj, false, &line);
        else
                (void) ct_expect_render_nfexp(obj, false, &line);
        log_full_errno_fields(LOG_WARNING, error, LOG_FIELDS("CACHE=external"), "%s: %m: %s",
                              what, strna(line));
}

/* An object the kernel has already: replace it (spec: delete, then create once more). */
static int replace_one(Commit *c, CtKind kind, const void *obj) {
        int r;

        r = kernel_delete(c->kernel, kind, obj);
        if (r < 0 && r != -ENOENT) {
                log_failure(c, kind, obj, kind == CT_KIND_CT ? "commit-destroy" :
                                                               "commit-destroy-expect", r);
                return r;
        }
        return kernel_create(c->kernel, kind, obj);
}

static void count(Commit *c, CtKind kind, const void *obj, int r) {
        if (r >= 0) {
                if (kind == CT_KIND_CT)
                        c->result.ct_ok++;
                else
                        c->result.exp_ok++;
                return;
        }
        if (kind == CT_KIND_CT)
                c->result.ct_failed++;
        else
                c->result.exp_failed++;
        if (c->result.first_error == 0)
                c->result.first_error = r;
        log_failure(c, kind, obj, kind == CT_KIND_CT ? "commit-create" : "commit-create-expect", r);
}

/* Write the next slice of the current phase. */
static void commit_slice(Commit *c) {
        CtKind kind = c->phase == COMMIT_PHASE_CT ? CT_KIND_CT : CT_KIND_EXPECT;
        size_t total = kind == CT_KIND_CT ? c->n_ct : c->n_exp;
        size_t n = MIN((size_t) c->batch, total - c->pos);
        int r;

        for (size_t i = 0; i < n; i++)
                c->ptrs[i] = kind == CT_KIND_CT ? (const void *) &c->cts[c->pos + i] :
                                                  (const void *) &c->exps[c->pos + i];

        r = kernel_create_batch(c->kernel, kind, c->ptrs, n, c->errors);
        if (r < 0)
                /* nothing was tried: every object of the slice failed with that error */
                for (size_t i = 0; i < n; i++)
                        c->errors[i] = r;

        for (size_t i = 0; i < n; i++) {
                r = c->errors[i];
                if (r == -EEXIST)
                        r = replace_one(c, kind, c->ptrs[i]);
                count(c, kind, c->ptrs[i], r);
        }
        c->pos += n;
}

static void log_phase_done(Commit *c, CtKind kind) {
        if (kind == CT_KIND_CT) {
                log_info("Committed %" PRIu64 " new entries", c->result.ct_ok);
                if (c->result.ct_failed > 0)
                        log_info("%" PRIu64 " entries can't be committed", c->result.ct_failed);
        } else {
                log_info("Committed %" PRIu64 " new expectations", c->result.exp_ok);
                if (c->result.exp_failed > 0)
                        log_info("%" PRIu64 " expectations can't be committed",
                                 c->result.exp_failed);
        }
}

static void commit_finish(Commit *c) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        c->finished = true;
        c->source = sd_event_source_disable_unref(c->source);
        c->efd = safe_close(c->efd);
        c->result.duration_usec = now > c->start_usec ? now - c->start_usec : 0;
        if (c->log_ratelimit.suppressed > 0)
                log_warning("%" PRIu64 " more commit failures were not logged",
                            c->log_ratelimit.suppressed);
        log_info("commit has taken %" PRIu64 ".%06" PRIu64 " seconds",
                 c->result.duration_usec / USEC_PER_SEC, c->result.duration_usec % USEC_PER_SEC);

        /* The copy is not needed any more: a large commit gives its memory back now. */
        free(c->cts);
        c->cts = NULL;
        free(c->exps);
        c->exps = NULL;
        free(c->ptrs);
        c->ptrs = NULL;
        free(c->errors);
        c->errors = NULL;

        if (c->done)
                c->done(c, &c->result, c->userdata);
}

static int commit_on_ready(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Commit *c = userdata;

        if (c->phase == COMMIT_PHASE_CT && c->pos >= c->n_ct) {
                if (c->with_ct)
                        log_phase_done(c, CT_KIND_CT);
                c->phase = COMMIT_PHASE_EXPECT;
                c->pos = 0;
        }
        if (c->phase == COMMIT_PHASE_EXPECT && c->pos >= c->n_exp) {
                if (c->with_exp)
                        log_phase_done(c, CT_KIND_EXPECT);
                c->phase = COMMIT_PHASE_DONE;
        }
        if (c->phase == COMMIT_PHASE_DONE) {
                /* the done callback may free the commit: nothing after it */
                commit_finish(c);
                return 0;
        }

        commit_slice(c);
        return 0;
}

/* ---- object ---- */

int commit_new(sd_event *e, Kernel *k, const CommitOptions *o, Commit **ret) {
        _cleanup_(commit_freep) Commit *c = NULL;
        int r;

        if (!e || !k || !o || !ret)
                return -EINVAL;

        c = malloc(sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (Commit) {
                .event = sd_event_ref(e),
                .kernel = k,
                .efd = -EBADF,
                .with_ct = o->ct != NULL,
                .with_exp = o->exp != NULL,
                .batch = o->batch > 0 ? o->batch : COMMIT_BATCH_DEFAULT,
                .start_usec = now_usec(CLOCK_MONOTONIC),
                .log_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 10),
                .done = o->done,
                .userdata = o->userdata,
        };

        r = snapshot(c, o);
        if (r < 0)
                return r;
        if (c->n_ct > 0 || c->n_exp > 0) {
                size_t n = MIN((size_t) c->batch, MAX(c->n_ct, c->n_exp));

                c->ptrs = calloc(n, sizeof(*c->ptrs));
                c->errors = calloc(n, sizeof(*c->errors));
                if (!c->ptrs || !c->errors)
                        return -ENOMEM;
        }

        /* Fair with the other sources of the same priority: a source that became pending
         * while a slice was written is dispatched before the next slice. */
        /*
         * One slice per loop iteration, driven by an eventfd that stays readable. Not a defer
         * source: sd-event dispatches, among sources of one priority, the one pending the
         * longest, and a defer source stays pending from its creation on, so it would win every
         * time. An I/O source is pending anew in each iteration: the kernel events, peers and
         * bus calls that came in meanwhile are served before the next slice.
         */
        c->efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
        if (c->efd < 0)
                return negative_errno();
        r = sd_event_add_io(e, &c->source, c->efd, EPOLLIN, commit_on_ready, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->source, "commit");

        *ret = TAKE_PTR(c);
        return 0;
}

Commit *commit_free(Commit *c) {
        if (!c)
                return NULL;
        if (!c->finished && c->source)
                log_debug("Commit cancelled after %" PRIu64 " of %zu objects",
                          c->result.ct_ok + c->result.ct_failed + c->result.exp_ok +
                          c->result.exp_failed, c->n_ct + c->n_exp);
        sd_event_source_disable_unref(c->source);
        safe_close(c->efd);
        sd_event_unref(c->event);
        free(c->cts);
        free(c->exps);
        free(c->ptrs);
        free(c->errors);
        free(c);
        return NULL;
}

void commit_progress(const Commit *c, uint64_t *ret_done, uint64_t *ret_total) {
        if (ret_done)
                *ret_done = c->result.ct_ok + c->result.ct_failed + c->result.exp_ok +
                            c->result.exp_failed;
        if (ret_total)
                *ret_total = (uint64_t) (c->n_ct + c->n_exp);
}

bool commit_is_done(const Commit *c) {
        return c->finished;
}
