/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <strings.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"
#include "string-table.h"

#define STATUS_INTERVAL_USEC (5 * USEC_PER_SEC)

static const char *const manager_state_table[_MANAGER_STATE_MAX] = {
        [MANAGER_STARTING] = "starting",
        [MANAGER_RUNNING] = "running",
        [MANAGER_RELOADING] = "reloading",
        [MANAGER_STOPPING] = "stopping",
};

DEFINE_STRING_TABLE(manager_state, ManagerState);

static const char *const cache_which_table[_CACHE_WHICH_MAX] = {
        [CACHE_INTERNAL] = "internal",
        [CACHE_EXTERNAL] = "external",
};

DEFINE_STRING_TABLE(cache_which, CacheWhich);

uint64_t manager_now(Manager *m) {
        uint64_t now = 0;

        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0)
                now = now_usec(CLOCK_MONOTONIC);
        return now;
}

Cache *manager_get_cache(Manager *m, CacheWhich which, CtKind kind) {
        if (which < 0 || which >= _CACHE_WHICH_MAX || kind < 0 || kind >= _CT_KIND_MAX)
                return NULL;
        return m->caches[which][kind];
}

static void notify(Manager *m, const char *text) {
        if (m->notify)
                (void) sd_notify(false, text);
}

void manager_update_status(Manager *m) {
        Cache *ic = m->caches[CACHE_INTERNAL][CT_KIND_CT], *ec = m->caches[CACHE_EXTERNAL][CT_KIND_CT];
        char buf[256];

        if (!m->notify)
                return;
        snprintf(buf, sizeof buf,
                 "STATUS=%s, mode %s: internal cache %zu flows, external cache %zu flows, "
                 "%" PRIu64 " events, %" PRIu64 " overruns",
                 manager_state_to_string(m->state), config_mode_to_string(m->config->mode),
                 ic ? cache_size(ic) : 0, ec ? cache_size(ec) : 0,
                 m->kernel ? m->kernel->stats.events_received : 0,
                 m->kernel ? m->kernel->stats.overruns : 0);
        notify(m, buf);
}

static void manager_set_state(Manager *m, ManagerState s) {
        if (m->state == s)
                return;
        m->state = s;
        manager_bus_emit_state_changed(m);
        manager_update_status(m);
}

/* ---- caches ---- */

static void caches_free(Manager *m) {
        for (CacheWhich w = 0; w < _CACHE_WHICH_MAX; w++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        m->caches[w][k] = cache_free(m->caches[w][k]);
}

static int caches_create(Manager *m) {
        const Config *c = m->config;
        bool sync = c->mode != CONFIG_MODE_STATS;
        static const char *const names[_CACHE_WHICH_MAX][_CT_KIND_MAX] = {
                { "internal", "internal-expect" },
                { "external", "external-expect" },
        };

        for (CacheWhich w = 0; w < _CACHE_WHICH_MAX; w++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                        bool want;
                        int r;

                        if (w == CACHE_INTERNAL)
                                want = !(sync && c->disable_internal_cache);
                        else
                                want = sync && !c->disable_external_cache;
                        if (k == CT_KIND_EXPECT)
                                want = want && sync && c->expectation_sync.enabled;
                        if (!want)
                                continue;

                        r = cache_new(names[w][k], k, c->hash_size, c->hash_limit, &m->caches[w][k]);
                        if (r < 0)
                                return log_error_errno(r, "Failed to allocate the %s cache: %m",
                                                       names[w][k]);
                }
        return 0;
}

static void log_cache_full(Manager *m, Cache *c) {
        m->counters.cache_full++;
        if (ratelimit_below(&m->cache_full_ratelimit))
                log_full_errno_fields(LOG_WARNING, ENOSPC,
                                      LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_CACHE_FULL),
                                      "The %s cache is full (HashLimit %u): objects are not stored "
                                      "(%" PRIu64 " so far). Raise HashLimit.",
                                      cache_name(c), cache_hash_limit(c), m->counters.cache_full);
}

static bool expect_wanted(Manager *m, const CtExpect *x) {
        char *const *h = m->config->expectation_sync.helpers;

        if (!filter_match_expect(m->config->filter, x))
                return false;
        if (!h)
                return true;
        if (!(x->attrs & CT_EXP_ATTR_HELPER))
                return false;
        for (; *h; h++)
                if (strncasecmp(x->helper, *h, strlen(*h)) == 0)
                        return true;
        return false;
}

/*
 * Apply a local change to an internal cache and, unless 'quiet' (our own writes, -R, the start-up
 * dump), replicate it: NEW and UPDATE send the cached state, DESTROY sends DEL with the last
 * state we had (through the cache's on_del hook).
 */
static int cache_apply(Manager *m, Cache *c, KernelEventType type, const void *obj, bool quiet) {
        CacheObject *o = NULL;
        int r;

        switch (type) {
        case KERNEL_EVENT_NEW:
                r = cache_add(c, obj, manager_now(m), &o);
                if (r >= 0 && !quiet)
                        manager_sync_local(m, cache_kind(c), WIRE_CT_NEW, obj, o);
                break;
        case KERNEL_EVENT_UPDATE:
                r = cache_update(c, obj, manager_now(m), &o);
                if (r >= 0 && !quiet)
                        manager_sync_local(m, cache_kind(c), WIRE_CT_UPD, obj, o);
                break;
        case KERNEL_EVENT_DESTROY:
                m->sync_emit_del = !quiet;
                r = cache_del(c, obj);
                m->sync_emit_del = false;
                if (r == -ENOENT)
                        r = 0;  /* unknown tuple: nothing to do */
                break;
        default:
                return -EINVAL;
        }
        if (r == -ENOSPC)
                log_cache_full(m, c);
        else if (r < 0)
                log_debug_errno(r, "Failed to apply a %s event to the %s cache: %m",
                                kernel_event_type_to_string(type), cache_name(c));
        return r;
}

/*
 * What the caches keep of a kernel flow, as 1.4.7: in Sync mode neither counters nor use (they
 * are not replicated and would change -i's output); in Stats mode no timeout (the flow is logged
 * when it ends, its counters matter).
 */
static const CtEntry *entry_for_cache(Manager *m, const CtEntry *e, CtEntry *buf) {
        uint64_t strip = m->config->mode == CONFIG_MODE_STATS ? (CT_ATTR_TIMEOUT | CT_ATTR_USE) :
                                                                 (CT_ATTR_COUNTERS | CT_ATTR_USE |
                                                                  CT_ATTR_TIMESTAMP);

        if (!(e->attrs & strip))
                return e;
        *buf = *e;
        buf->attrs &= ~strip;
        return buf;
}

static const WireType event_wire_type[_KERNEL_EVENT_MAX] = {
        [KERNEL_EVENT_NEW] = WIRE_CT_NEW,
        [KERNEL_EVENT_UPDATE] = WIRE_CT_UPD,
        [KERNEL_EVENT_DESTROY] = WIRE_CT_DEL,
};

/* ---- Stats mode: the flow log ---- */

static void flow_log_settings(Manager *m, FlowLogSettings *ret) {
        const Config *c = m->config;

        /* One syslog facility per daemon: General's if set (1.4.7 opened syslog with it). */
        *ret = (FlowLogSettings) {
                .path = c->stats_log_file,
                .syslog_facility = c->stats_syslog_facility < 0 ? -1 :
                                   c->syslog_facility >= 0 ? c->syslog_facility :
                                                             c->stats_syslog_facility,
                .journal = log_to_journal(),
        };
}

/* A DESTROY event of a flow in the Stats cache. As 1.4.7, the line is the event as the kernel
 * sent it (with the final counters and timestamps); the journal record has the cached flow's
 * attributes where the event lacks them. Flows not in the cache are not logged (1.4.7). */
static void flow_log_destroyed(Manager *m, Cache *c, const CtEntry *e) {
        CacheObject *o = cache_find(c, e);
        CtEntry merged;
        int r;

        if (!o)
                return;
        cache_object_ct(o, &merged);
        ct_entry_update(&merged, e);
        r = flow_log_write(m->flow_log, e, &merged, FLOW_END_DESTROY, now_usec(CLOCK_REALTIME));
        if (r < 0)
                log_debug_errno(r, "Failed to log a destroyed flow: %m");
}

/* on_del hook of the Stats cache: during a resync purge, what the kernel no longer has ended. */
static void on_stats_del(Cache *c, const CacheObject *o, void *userdata) {
        Manager *m = userdata;
        CtEntry e;
        int r;

        if (!m->flow_log_on_del || !m->flow_log)
                return;
        cache_object_ct(o, &e);
        r = flow_log_write(m->flow_log, &e, &e, FLOW_END_RESYNC, now_usec(CLOCK_REALTIME));
        if (r < 0)
                log_debug_errno(r, "Failed to log a flow gone at resync: %m");
}

static int on_flow_log_flush(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        if (flow_log_pending(m->flow_log))
                (void) flow_log_flush(m->flow_log);    /* errors are counted and logged */
        return 0;
}

static int flow_log_setup(Manager *m) {
        FlowLogSettings s;
        Cache *c = m->caches[CACHE_INTERNAL][CT_KIND_CT];
        int r;

        if (m->config->mode != CONFIG_MODE_STATS || !c)
                return 0;
        flow_log_settings(m, &s);
        r = flow_log_new(&s, &m->flow_log);
        if (r < 0)
                return log_error_errno(r, "Failed to open the flow log %s: %m", strna(s.path));
        /* After every loop iteration that logged something, the lines go to the file. */
        r = sd_event_add_post(m->event, &m->flow_log_flush_source, on_flow_log_flush, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the flow log's flush source: %m");
        (void) sd_event_source_set_description(m->flow_log_flush_source, "flow-log-flush");
        cache_set_hooks(c, &(CacheHooks) { .on_del = on_stats_del, .userdata = m });
        return 0;
}

int manager_reopen_log_files(Manager *m) {
        int r = 0, k;

        if (m->config->log_file) {
                k = log_open_file(m->config->log_file);
                if (k < 0)
                        r = log_warning_errno(k, "Failed to reopen the log file %s: %m",
                                              m->config->log_file);
        }
        if (m->flow_log) {
                FlowLogSettings s;

                flow_log_settings(m, &s);
                k = flow_log_reopen(m->flow_log, &s);
                if (k < 0) {
                        log_warning_errno(k, "Failed to reopen the flow log %s, writing on to the "
                                          "old file: %m", strna(s.path));
                        if (r == 0)
                                r = k;
                } else
                        log_debug("Flow log %s reopened", strna(s.path));
        }
        return r;
}

static void on_kernel_ct(Kernel *k, KernelEventType type, const CtEntry *e, bool self, void *userdata) {
        Manager *m = userdata;
        Cache *c = m->caches[CACHE_INTERNAL][CT_KIND_CT];
        CtEntry buf;

        m->counters.events[CT_KIND_CT][type]++;

        if (!c) {
                /* DisableInternalCache: every filtered event goes to the peers as it is. */
                if (self || !filter_match_ct(m->config->filter, e)) {
                        m->counters.events_filtered += !self;
                        return;
                }
                manager_sync_local(m, CT_KIND_CT, event_wire_type[type], e, NULL);
                return;
        }
        if (type == KERNEL_EVENT_DESTROY) {
                /* A flow that leaves the kernel leaves the cache, whatever the filter says now. */
                if (e->attrs & CT_ATTR_COUNTERS) {
                        m->counters.traffic_bytes += e->counters.bytes_orig + e->counters.bytes_repl;
                        m->counters.traffic_packets += e->counters.packets_orig + e->counters.packets_repl;
                }
                if (m->flow_log)
                        flow_log_destroyed(m, c, e);
                (void) cache_apply(m, c, type, e, self);
                return;
        }
        if (!filter_match_ct(m->config->filter, e)) {
                m->counters.events_filtered++;
                return;
        }
        (void) cache_apply(m, c, type, entry_for_cache(m, e, &buf), self);
}

static void on_kernel_expect(Kernel *k, KernelEventType type, const CtExpect *x, bool self,
                             void *userdata) {
        Manager *m = userdata;
        Cache *c = m->caches[CACHE_INTERNAL][CT_KIND_EXPECT];

        m->counters.events[CT_KIND_EXPECT][type]++;
        if (type != KERNEL_EVENT_DESTROY && !expect_wanted(m, x)) {
                m->counters.events_filtered++;
                return;
        }
        if (!c) {
                if (!self && m->config->expectation_sync.enabled)
                        manager_sync_local(m, CT_KIND_EXPECT, event_wire_type[type], x, NULL);
                return;
        }
        (void) cache_apply(m, c, type, x, self);
}

/* ---- resync with the kernel table ---- */

typedef struct ResyncContext {
        Manager *m;
        Cache *cache;
        bool send;              /* after an overrun: what the dump finds goes to the peers too */
} ResyncContext;

static int resync_one(const void *obj, void *userdata) {
        ResyncContext *ctx = userdata;
        Manager *m = ctx->m;
        bool pass = cache_kind(ctx->cache) == CT_KIND_CT ? filter_match_ct(m->config->filter, obj)
                                                        : expect_wanted(m, obj);

        if (!pass) {
                m->counters.events_filtered++;
                return 0;
        }
        if (cache_kind(ctx->cache) == CT_KIND_CT) {
                CtEntry buf;

                obj = entry_for_cache(m, obj, &buf);
                (void) cache_apply(m, ctx->cache, KERNEL_EVENT_UPDATE, obj, !ctx->send);
        } else
                (void) cache_apply(m, ctx->cache, KERNEL_EVENT_UPDATE, obj, !ctx->send);
        return 0;
}

static int resync_kind(Manager *m, CtKind kind, bool send, uint64_t *ret_entries) {
        Cache *c = m->caches[CACHE_INTERNAL][kind];
        uint64_t begin = now_usec(CLOCK_MONOTONIC), duration;
        ResyncContext ctx = { m, c, send };
        size_t purged;
        int r;

        if (!c)
                return -EOPNOTSUPP;

        cache_begin_generation(c);
        r = kernel_dump(m->kernel, kind, resync_one, &ctx);
        if (r < 0)
                /* Nothing is purged after an incomplete dump: the cache stays as it was. */
                return log_error_errno(r, "Failed to dump the kernel %s table: %m",
                                       kind == CT_KIND_CT ? "conntrack" : "expectation");
        m->sync_emit_del = send;
        m->flow_log_on_del = true;      /* Stats mode: flows gone from the kernel are logged */
        purged = cache_purge_generation(c);
        m->flow_log_on_del = false;
        m->sync_emit_del = false;
        m->counters.kernel_resyncs++;

        /* sd_event_now() is frozen during one iteration: measure with the real clock. */
        duration = now_usec(CLOCK_MONOTONIC);
        duration = duration > begin ? duration - begin : 0;
        log_full_errno_fields(LOG_INFO, 0, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_RESYNC_DONE,
                                                      kind == CT_KIND_CT ? "CACHE=internal" :
                                                                           "CACHE=internal-expect"),
                              "Resync with the kernel %s table done: %zu objects, %zu gone, "
                              "%" PRIu64 ".%06" PRIu64 " s",
                              kind == CT_KIND_CT ? "conntrack" : "expectation", cache_size(c), purged,
                              duration / USEC_PER_SEC, duration % USEC_PER_SEC);
        manager_bus_emit_resync_done(m, kind, cache_size(c), duration);
        if (ret_entries)
                *ret_entries = cache_size(c);
        return 0;
}

static int resync_kernel(Manager *m, CtKind kind, bool send, uint64_t *ret_entries) {
        uint64_t total = 0, n;
        int r;

        if (kind >= 0 && kind < _CT_KIND_MAX) {
                r = resync_kind(m, kind, send, ret_entries);
                if (r >= 0)
                        manager_update_status(m);
                return r;
        }
        /* both (kind = -1: "all") */
        for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                if (!m->caches[CACHE_INTERNAL][k])
                        continue;
                r = resync_kind(m, k, send, &n);
                if (r < 0)
                        return r;
                total += n;
        }
        manager_update_status(m);
        if (ret_entries)
                *ret_entries = total;
        return 0;
}

/* -R and reloads: the cache is brought in line with the kernel, nothing is sent (1.4.7). */
int manager_resync_kernel(Manager *m, CtKind kind, uint64_t *ret_entries) {
        return resync_kernel(m, kind, false, ret_entries);
}

static int on_resync_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->resync_timer = sd_event_source_unref(m->resync_timer);
        log_info("Resyncing with the kernel after netlink overruns");
        /* Events were lost: the peers get what the kernel has now, and DEL for what is gone. */
        (void) resync_kernel(m, (CtKind) -1, true, NULL);
        return 0;
}


/* The Overrun signal, at most once per OVERRUN_SIGNAL_INTERVAL_USEC: overruns in between are
 * told by one signal at the end of the interval, with the total then (a storm makes thousands). */
#define OVERRUN_SIGNAL_INTERVAL_USEC USEC_PER_SEC

static int on_overrun_signal_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (!m->kernel || m->kernel->stats.overruns == m->last_overruns_emitted)
                return 0;       /* quiet: the next overrun is signalled at once */
        manager_bus_emit_overrun(m);
        (void) sd_event_source_set_time(s, usec + OVERRUN_SIGNAL_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static void overrun_signal(Manager *m) {
        int enabled = SD_EVENT_OFF;
        uint64_t now;
        int r;

        if (m->overrun_signal_timer &&
            sd_event_source_get_enabled(m->overrun_signal_timer, &enabled) >= 0 &&
            enabled != SD_EVENT_OFF)
                return;         /* told at the end of the interval */
        manager_bus_emit_overrun(m);
        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!m->overrun_signal_timer) {
                r = sd_event_add_time(m->event, &m->overrun_signal_timer, CLOCK_MONOTONIC,
                                      now + OVERRUN_SIGNAL_INTERVAL_USEC, 0,
                                      on_overrun_signal_timer, m);
                if (r < 0)
                        return;
                (void) sd_event_source_set_description(m->overrun_signal_timer, "overrun-signal");
        } else
                (void) sd_event_source_set_time(m->overrun_signal_timer,
                                                now + OVERRUN_SIGNAL_INTERVAL_USEC);
        (void) sd_event_source_set_enabled(m->overrun_signal_timer, SD_EVENT_ONESHOT);
}

static void on_kernel_overrun(Kernel *k, void *userdata) {
        Manager *m = userdata;
        uint32_t old = k->buffer_size;
        int grown;

        grown = kernel_grow_buffer(k, m->config->netlink_buffer_size_max_growth);
        log_full_errno_fields(LOG_WARNING, ENOBUFS, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_OVERRUN),
                              "Kernel event socket overrun (%" PRIu64 " so far): events were lost%s",
                              k->stats.overruns,
                              m->config->netlink_overrun_resync > 0 ? ", resync scheduled" :
                                                                      ", NetlinkOverrunResync is off");
        if (grown > 0)
                log_notice("Netlink event buffer grown from %u to %u bytes", old, k->buffer_size);
        else if (grown == 0 && k->stats.overruns == 1)
                log_warning("Netlink event buffer is at its maximum (%u bytes, "
                            "NetlinkBufferSizeMaxGrowth %u); consider raising it",
                            k->buffer_size, m->config->netlink_buffer_size_max_growth);

        if (m->config->netlink_overrun_resync > 0 && !m->resync_timer) {
                int r = sd_event_add_time_relative(m->event, &m->resync_timer, CLOCK_MONOTONIC,
                                                   m->config->netlink_overrun_resync * USEC_PER_SEC,
                                                   0, on_resync_timer, m);
                if (r < 0)
                        log_error_errno(r, "Failed to schedule the resync after an overrun: %m");
                else {
                        (void) sd_event_source_set_description(m->resync_timer, "overrun-resync");
                        m->counters.overrun_resyncs++;
                }
        }
        overrun_signal(m);
}

/* ---- operations ---- */

int manager_flush_cache(Manager *m, CacheWhich which, CtKind kind) {
        Cache *c = manager_get_cache(m, which, kind);

        if (!c)
                return -EOPNOTSUPP;
        if (which == CACHE_EXTERNAL && manager_commit_running(m)) {
                log_notice("ignoring flush command, commit still in progress");
                return -EBUSY;
        }
        if (which == CACHE_INTERNAL)
                /* -f cancels a pending -t purge. */
                m->purge_timer = sd_event_source_disable_unref(m->purge_timer);
        log_info("Flushing the %s cache (%zu objects)", cache_name(c), cache_size(c));
        cache_flush(c);
        manager_update_status(m);
        return 0;
}

int manager_flush_kernel(Manager *m, CtKind kind, uint64_t *ret_deleted) {
        uint64_t n = 0;
        int r;

        if (kind == CT_KIND_EXPECT && !m->caches[CACHE_INTERNAL][CT_KIND_EXPECT] &&
            m->config->mode != CONFIG_MODE_STATS && !m->config->expectation_sync.enabled)
                return -EOPNOTSUPP;

        /* Conntracks through the Filter (entries it ignores are kept); expectations whole, as 1.4.7. */
        r = kernel_flush(m->kernel, kind, kind == CT_KIND_CT ? m->config->filter : NULL, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to flush the kernel %s table: %m",
                                       kind == CT_KIND_CT ? "conntrack" : "expectation");
        m->counters.kernel_flushes++;
        log_full_errno_fields(LOG_INFO, 0, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_KERNEL_FLUSH),
                              "Flushed the kernel %s table: %" PRIu64 " entries deleted",
                              kind == CT_KIND_CT ? "conntrack" : "expectation", n);
        if (ret_deleted)
                *ret_deleted = n;
        return 0;
}

typedef struct DumpContext {
        Manager *m;
        FILE *f;
        CtFormat format;
        bool internal;
        uint64_t now;
        CtKind kind;
} DumpContext;

static int dump_one(Cache *c, CacheObject *o, void *userdata) {
        DumpContext *d = userdata;
        CtFormatExtra extra = {
                .show_reply = d->internal,
                .active_since_sec = d->now >= o->added_usec ?
                                    (int64_t) ((d->now - o->added_usec) / USEC_PER_SEC) : 0,
                .expires_in_sec = -1,
        };

        /* ALARM: what peers stop refreshing goes after CacheTimeout. */
        if (!d->internal && d->m->config->mode == CONFIG_MODE_ALARM) {
                uint64_t age = d->now > o->updated_usec ? d->now - o->updated_usec : 0,
                         limit = (uint64_t) d->m->config->cache_timeout * USEC_PER_SEC;

                extra.expires_in_sec = age < limit ? (int64_t) ((limit - age) / USEC_PER_SEC) : 0;
        }

        if (cache_kind(c) == CT_KIND_CT) {
                CtEntry e;

                cache_object_ct(o, &e);
                return ct_format_entry(d->f, &e, d->format, &extra);
        }
        return ct_format_expect(d->f, cache_object_expect(o), d->format, &extra);
}

/* DisableInternalCache: -i shows the kernel table itself (1.4.7). */
static int dump_kernel_one(const void *obj, void *userdata) {
        DumpContext *d = userdata;
        CtFormatExtra extra = { .show_reply = true, .active_since_sec = -1, .expires_in_sec = -1 };

        if (d->kind == CT_KIND_CT) {
                if (!filter_match_ct(d->m->config->filter, obj))
                        return 0;
                return ct_format_entry(d->f, obj, d->format, &extra);
        }
        return ct_format_expect(d->f, obj, d->format, &extra);
}

int manager_dump_cache(Manager *m, CacheWhich which, CtKind kind, CtFormat format, int *ret_fd) {
        Cache *c = manager_get_cache(m, which, kind);
        _cleanup_close_ int fd = -EBADF;
        bool bypass = false;
        FILE *f;
        int r, dupfd;

        if (format < 0 || format >= _CT_FORMAT_MAX)
                return -EINVAL;
        if (!c) {
                bypass = which == CACHE_INTERNAL && m->config->mode != CONFIG_MODE_STATS &&
                         m->config->disable_internal_cache && m->kernel &&
                         (kind == CT_KIND_CT || m->config->expectation_sync.enabled);
                if (!bypass)
                        return -EOPNOTSUPP;
        }

        fd = memfd_create("conntrackd-dump", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to create a memory file: %m");
        dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dupfd < 0)
                return negative_errno();
        f = fdopen(dupfd, "w");
        if (!f) {
                r = negative_errno();
                close(dupfd);
                return r;
        }
        /* Time of the request, not of the loop iteration (1.4.7 was off by the idle time). */
        DumpContext ctx = {
                .m = m,
                .f = f,
                .format = format,
                .internal = which == CACHE_INTERNAL,
                .now = now_usec(CLOCK_MONOTONIC),
                .kind = kind,
        };
        r = bypass ? kernel_dump(m->kernel, kind, dump_kernel_one, &ctx) :
                     cache_foreach(c, dump_one, &ctx);
        if (fclose(f) != 0 && r >= 0)
                r = negative_errno();
        if (r < 0)
                return log_error_errno(r, "Failed to render the %s: %m",
                                       bypass ? "kernel table" : cache_name(c));

        if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
                log_debug_errno(negative_errno(), "Failed to seal the dump: %m");
        if (lseek(fd, 0, SEEK_SET) < 0)
                return negative_errno();
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* ---- reload ---- */

static void log_diagnostics(const ConfigDiagnostics *d) {
        for (size_t i = 0; i < d->n; i++)
                log_full(d->items[i].level, "%s", d->items[i].message);
}

static bool channel_equal(const ChannelConfig *a, const ChannelConfig *b) {
        return a->type == b->type && a->is_default == b->is_default && a->family == b->family &&
               a->has_address == b->has_address && memcmp(&a->address, &b->address, sizeof a->address) == 0 &&
               a->has_destination == b->has_destination &&
               memcmp(&a->destination, &b->destination, sizeof a->destination) == 0 &&
               a->has_interface_address == b->has_interface_address &&
               memcmp(&a->interface_address, &b->interface_address, sizeof a->interface_address) == 0 &&
               streq(a->interface, b->interface) && a->port == b->port &&
               a->snd_buffer == b->snd_buffer && a->rcv_buffer == b->rcv_buffer &&
               a->checksum == b->checksum;
}

static bool channels_equal(const Config *a, const Config *b) {
        if (a->n_channels != b->n_channels)
                return false;
        for (size_t i = 0; i < a->n_channels; i++)
                if (!channel_equal(&a->channels[i], &b->channels[i]))
                        return false;
        return true;
}

/* Settings that need a restart keep their running value; say so. */
static void keep_restart_only(const Config *old, Config *new) {
#define KEEP(field, name)                                                                       \
        do {                                                                                    \
                if (old->field != new->field) {                                                 \
                        log_warning("%s: %s changed; it takes effect after a restart",          \
                                    new->path ?: "config", name);                               \
                        new->field = old->field;                                                \
                }                                                                               \
        } while (0)
        KEEP(mode, "the Sync/Stats mode");
        KEEP(hash_size, "HashSize");
        KEEP(disable_internal_cache, "DisableInternalCache");
        KEEP(disable_external_cache, "DisableExternalCache");
        KEEP(expectation_sync.enabled, "ExpectationSync");
        KEEP(netlink_events_reliable, "NetlinkEventsReliable");
        KEEP(resend_queue_size, "ResendQueueSize");
        KEEP(ack_window_size, "ACKWindowSize");
        KEEP(tcp_window_tracking, "TCPWindowTracking");
        KEEP(commit_timeout, "CommitTimeout");
#undef KEEP
        if (!channels_equal(old, new)) {
                log_warning("%s: the dedicated links changed; they take effect after a restart",
                            new->path ?: "config");
                memcpy(new->channels, old->channels, sizeof new->channels);
                new->n_channels = old->n_channels;
        }
        if (!streq(old->keepalived.instance ?: "", new->keepalived.instance ?: "") ||
            !streq(old->keepalived.service ?: "", new->keepalived.service ?: "") ||
            !streq(old->keepalived.track_file ?: "", new->keepalived.track_file ?: "")) {
                log_warning("%s: the Keepalived block changed; it takes effect after a restart",
                            new->path ?: "config");
                free(new->keepalived.instance);
                free(new->keepalived.service);
                free(new->keepalived.track_file);
                new->keepalived.instance = old->keepalived.instance ? strdup(old->keepalived.instance) : NULL;
                new->keepalived.service = old->keepalived.service ? strdup(old->keepalived.service) : NULL;
                new->keepalived.track_file = old->keepalived.track_file ?
                                             strdup(old->keepalived.track_file) : NULL;
        }
        if (!streq(old->unix_path ?: "", new->unix_path ?: "")) {
                log_warning("%s: UNIX Path changed; it takes effect after a restart",
                            new->path ?: "config");
                free(new->unix_path);
                new->unix_path = old->unix_path ? strdup(old->unix_path) : NULL;
        }
}

int manager_reload(Manager *m) {
        _cleanup_(config_freep) Config *c = NULL;
        ConfigDiagnostics diag = {};
        Config *old;
        int r;

        log_info("Reloading configuration from %s", m->config_path);
        manager_set_state(m, MANAGER_RELOADING);
        {
                char buf[64];
                snprintf(buf, sizeof buf, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, manager_now(m));
                notify(m, buf);
        }

        r = config_load_file(m->config_path, &c, &diag);
        log_diagnostics(&diag);
        config_diagnostics_clear(&diag);
        if (r < 0) {
                m->counters.reloads_failed++;
                log_full_errno_fields(LOG_ERR, r, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_CONFIG_REJECTED),
                                      "Configuration %s rejected, the running configuration stays: %m",
                                      m->config_path);
                manager_set_state(m, MANAGER_RUNNING);
                notify(m, "READY=1");
                return -EINVAL;
        }

        keep_restart_only(m->config, c);
        r = manager_auth_reload(m, c);
        if (r < 0) {
                m->counters.reloads_failed++;
                log_full_errno_fields(LOG_ERR, r, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_CONFIG_REJECTED),
                                      "Configuration %s rejected (AuthKeyFile), the running "
                                      "configuration stays: %m", m->config_path);
                manager_set_state(m, MANAGER_RUNNING);
                notify(m, "READY=1");
                return -EINVAL;
        }

        for (CacheWhich w = 0; w < _CACHE_WHICH_MAX; w++)
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        if (m->caches[w][k])
                                cache_set_hash_limit(m->caches[w][k], c->hash_limit);

        if (m->config->log_file && !c->log_file)
                log_close_file();

        old = m->config;
        m->config = TAKE_PTR(c);
        config_free(old);
        /* Reload is SIGHUP, which logrotate sends: the log files are opened anew. */
        (void) manager_reopen_log_files(m);
        m->counters.reloads++;

        /* The Filter may have changed: bring the internal caches in line with it. */
        (void) manager_resync_kernel(m, (CtKind) -1, NULL);

        log_full_errno_fields(LOG_INFO, 0, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_CONFIG_RELOADED),
                              "Configuration reloaded from %s", m->config_path);
        manager_set_state(m, MANAGER_RUNNING);
        notify(m, "READY=1");
        return 0;
}

/* ---- life cycle ---- */

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Received %s, shutting down", strsignal((int) si->ssi_signo));
        return manager_quit(m);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata);
        return 0;
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        manager_update_status(m);
        return sd_event_source_set_time(s, usec + STATUS_INTERVAL_USEC);
}

int manager_new(const ManagerOptions *opts, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        if (!opts || !opts->config || !ret)
                return -EINVAL;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        *m = (Manager) {
                .private_fd = -EBADF,
                .lock_fd = -EBADF,
                .kernel_ops = opts->kernel_ops ?: &kernel_netlink_ops,
                .notify = opts->notify,
                .connect_system_bus = opts->connect_system_bus,
                .state = MANAGER_STARTING,
                .cache_full_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 1),
                .sync_fd = -EBADF,
        };
        m->config_path = strdup(opts->config_path ?: opts->config->path ?: CONFIG_DEFAULT_PATH);
        if (!m->config_path)
                return -ENOMEM;

        r = sd_event_new(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");

        /* Only now take the config: on failure above the caller still owns it. */
        m->config = opts->config;

        r = caches_create(m);
        if (r < 0) {
                m->config = NULL;
                return r;
        }
        /* Last: the caller keeps the fd when we fail. */
        m->sync_fd_set = opts->sync_fd_set;
        m->sync_fd = opts->sync_fd_set ? opts->sync_fd : -EBADF;

        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        manager_keepalived_done(m);
        manager_sync_done(m);
        manager_bus_done(m);
        m->resync_timer = sd_event_source_unref(m->resync_timer);
        m->overrun_signal_timer = sd_event_source_disable_unref(m->overrun_signal_timer);
        m->status_timer = sd_event_source_unref(m->status_timer);
        m->sigterm_source = sd_event_source_unref(m->sigterm_source);
        m->sigint_source = sd_event_source_unref(m->sigint_source);
        m->sighup_source = sd_event_source_unref(m->sighup_source);
        m->flow_log_flush_source = sd_event_source_unref(m->flow_log_flush_source);
        m->flow_log = flow_log_free(m->flow_log);        /* writes what is buffered */
        m->kernel = kernel_free(m->kernel);
        caches_free(m);
        m->event = sd_event_unref(m->event);
        config_free(m->config);
        free(m->config_path);
        /* Last: the lock, then the control connections, whose close a client of Quit() waits
         * for (conntrackd -k returns when the daemon is done with its files and sockets). */
        if (m->lock_fd >= 0) {
                if (m->lock_path && unlink(m->lock_path) < 0 && errno != ENOENT)
                        log_debug_errno(negative_errno(), "Failed to remove %s: %m", m->lock_path);
                m->lock_fd = safe_close(m->lock_fd);
        }
        free(m->lock_path);
        manager_bus_close_private(m);
        free(m);
        return NULL;
}

void manager_adopt_lock(Manager *m, int fd, char *path) {
        if (m->lock_fd >= 0)   /* adopted once */
                safe_close(m->lock_fd);
        free(m->lock_path);
        m->lock_fd = fd;
        m->lock_path = path;
}

static int dump_into_cache(Manager *m, CtKind kind) {
        Cache *c = m->caches[CACHE_INTERNAL][kind];
        ResyncContext ctx = { m, c, false };
        int r;

        if (!c)
                return 0;
        r = kernel_dump(m->kernel, kind, resync_one, &ctx);
        if (r < 0)
                return log_error_errno(r, "Failed to dump the kernel %s table: %m",
                                       kind == CT_KIND_CT ? "conntrack" : "expectation");
        return 0;
}

int manager_start(Manager *m) {
        const Config *c = m->config;
        sigset_t ss;
        int r;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(negative_errno(), "Failed to block signals: %m");
        r = sd_event_add_signal(m->event, &m->sigterm_source, SIGTERM, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint_source, SIGINT, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sighup_source, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                log_warning_errno(r, "Failed to enable the watchdog: %m");
        else if (r > 0)
                log_debug("Watchdog enabled");

        r = flow_log_setup(m);
        if (r < 0)
                return r;

        r = kernel_new(m->kernel_ops,
                       &(KernelSettings) {
                               .buffer_size = c->netlink_buffer_size,
                               .events_reliable = c->netlink_events_reliable,
                               .expectations = m->caches[CACHE_INTERNAL][CT_KIND_EXPECT] != NULL,
                               .bpf_filter = c->filter && c->filter->kernelspace ? c->filter : NULL,
                               .event_iteration_limit = c->event_iteration_limit,
                       },
                       &(KernelHandlers) {
                               .ct_event = on_kernel_ct,
                               .expect_event = on_kernel_expect,
                               .overrun = on_kernel_overrun,
                               .userdata = m,
                       },
                       &m->kernel);
        if (r < 0)
                return log_error_errno(r, "Failed to open the kernel's conntrack interface: %m");

        /* Subscribe first, then dump: what changes during the dump arrives as events. */
        r = kernel_subscribe(m->kernel, m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to conntrack events: %m");
        for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                r = dump_into_cache(m, k);
                if (r < 0)
                        return r;
        }
        /* The caches of a planned restart (systemd's fd store): after the dump, which decides
         * what the internal cache holds, and before the replication starts (bulk, resync). */
        manager_store_load(m);

        r = manager_bus_setup(m);
        if (r < 0)
                return r;
        r = manager_keepalived_setup(m);
        if (r < 0)
                return r;

        r = sd_event_add_time_relative(m->event, &m->status_timer, CLOCK_MONOTONIC,
                                       STATUS_INTERVAL_USEC, USEC_PER_SEC, on_status_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the status timer: %m");

        m->start_usec = manager_now(m);
        m->start_realtime_usec = now_usec(CLOCK_REALTIME);

        r = manager_sync_setup(m);
        if (r < 0)
                return r;

        manager_set_state(m, MANAGER_RUNNING);
        log_full_errno_fields(LOG_INFO, 0, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_STARTED),
                              "conntrackd %s started in %s mode: %zu flows in the internal cache",
                              PACKAGE_VERSION, config_mode_to_string(c->mode),
                              m->caches[CACHE_INTERNAL][CT_KIND_CT] ?
                                      cache_size(m->caches[CACHE_INTERNAL][CT_KIND_CT]) : 0);
        notify(m, "READY=1");
        manager_update_status(m);
        return 0;
}

int manager_run(Manager *m) {
        int r = sd_event_loop(m->event);

        /* A planned stop (SIGTERM, Quit): the caches go to systemd's fd store now, while they are
         * whole; manager_free() is too late, it tears them down with the rest. */
        if (r >= 0 && m->state == MANAGER_STOPPING)
                manager_store_save(m);
        return r;
}

int manager_quit(Manager *m) {
        if (m->state == MANAGER_STOPPING)
                return 0;
        manager_set_state(m, MANAGER_STOPPING);
        notify(m, "STOPPING=1");
        log_full_errno_fields(LOG_INFO, 0, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_STOPPED),
                              "conntrackd stopping");
        return sd_event_exit(m->event, 0);
}
