/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Commit of the external cache into the kernel table (`conntrackd -c`, spec §2.1 "Commit"): the
 * failover operation. A Commit takes a snapshot of the external conntrack (and expectation)
 * caches when it starts, then writes it to the kernel in slices from a sd-event defer source
 * (batched netlink writes, many objects per sendmsg), so the loop keeps serving kernel events
 * and peers meanwhile. Order: flows without a master first, then related flows, then
 * expectations. Per object: the timeout is CommitTimeout or the received timeout minus the time
 * spent in the external cache (60 s when that is not positive); IPS_EXPECTED is cleared; unless
 * TCPWindowTracking is on, the TCP "be liberal" flag is set in both directions; EEXIST deletes
 * the kernel's object and retries once. Failures are counted and logged (rate limited) with the
 * entry, and the rest goes on.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "cache.h"
#include "kernel.h"
#include "macro.h"

typedef struct Commit Commit;

typedef struct CommitResult {
        uint64_t ct_ok, ct_failed;      /* flows committed / refused by the kernel */
        uint64_t exp_ok, exp_failed;    /* expectations */
        int first_error;                /* negative errno of the first failure, 0 if none */
        uint64_t duration_usec;
} CommitResult;

/* Called once, from the loop, when everything was written (or the commit was cancelled by
 * commit_free(): then not called at all). */
typedef void (*CommitDoneFunc)(Commit *c, const CommitResult *r, void *userdata);

typedef struct CommitOptions {
        Cache *ct;                      /* external conntrack cache; NULL = none */
        Cache *exp;                     /* external expectation cache; NULL = none */
        uint32_t commit_timeout;        /* CommitTimeout; 0 = estimate from the received one */
        bool tcp_window_tracking;       /* TCPWindowTracking: do not set "be liberal" */
        uint64_t now_usec;              /* the cache's clock (CLOCK_MONOTONIC) at start */
        uint32_t batch;                 /* objects per netlink batch; 0 = default */
        CommitDoneFunc done;
        void *userdata;
} CommitOptions;

/* Snapshot the caches and start. -ENOMEM; the done callback runs later, never from here. */
int commit_new(sd_event *e, Kernel *k, const CommitOptions *o, Commit **ret);
/* Cancel if still running (done is not called). */
Commit *commit_free(Commit *c);
DEFINE_CLEANUP_FUNC(Commit *, commit_free);

/* Objects written so far and in total, for STATUS= and progress. */
void commit_progress(const Commit *c, uint64_t *ret_done, uint64_t *ret_total);
bool commit_is_done(const Commit *c);
