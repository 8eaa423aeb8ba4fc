/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Manager's replication side (spec §2): the dedicated links (ChannelSet), the sync protocol
 * (Sync), what peers send (external cache or direct injection into the kernel), commit, bulk
 * sends, resync requests, the purge timer of -t, ALARM's refreshes and the statistics of the
 * sync sections.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "manager.h"

#define SYNC_TICK_USEC USEC_PER_SEC
#define INJECT_DEFAULT_TIMEOUT 180      /* seconds, when a peer sent no TIMEOUT */
#define TCP_FLAG_BE_LIBERAL 0x08        /* IP_CT_TCP_FLAG_BE_LIBERAL */
#define IPS_EXPECTED_BIT 0x01

static Cache *internal(Manager *m, CtKind kind) {
        return m->caches[CACHE_INTERNAL][kind];
}

static Cache *external(Manager *m, CtKind kind) {
        return m->caches[CACHE_EXTERNAL][kind];
}

/* xorshift64*: the jitter of ALARM's refresh timers; no security value. */
static uint64_t manager_random(Manager *m) {
        uint64_t x = m->random_state ?: 0x9e3779b97f4a7c15ULL ^ now_usec(CLOCK_MONOTONIC);

        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        m->random_state = x;
        return x * 0x2545f4914f6cdd1dULL;
}

/* ALARM: when an object is sent again. The sync tick looks at the objects every SYNC_TICK_USEC,
 * so an object due at T goes at the first tick after T: the delay is drawn in
 * 0.2 s..RefreshTime - SYNC_TICK_USEC and the time between two messages about one flow is then
 * never longer than RefreshTime (the man page's promise), while the sends of a large cache are
 * spread over that time rather than all on one tick. RefreshTime 1 sends every object on every
 * tick. (1.4.7 uses 1..RefreshTime s plus 0.2..1.0 s with a timer per object, which can exceed
 * RefreshTime by up to a second.) */
static uint64_t alarm_delay(Manager *m) {
        uint64_t refresh = (uint64_t) MAX(m->config->refresh_time, 1u) * USEC_PER_SEC, span, low;

        if (refresh <= SYNC_TICK_USEC)
                return 0;
        span = refresh - SYNC_TICK_USEC;
        low = MIN(200 * USEC_PER_MSEC, span);
        return low + manager_random(m) % (span - low + 1);
}

/* ---- local side ---- */

static WireType wire_type(CtKind kind, WireType ct_type) {
        return kind == CT_KIND_CT ? ct_type : (WireType) (ct_type + WIRE_EXP_NEW);
}

static int queue_object(Manager *m, CtKind kind, WireType ct_type, const void *obj) {
        if (kind == CT_KIND_CT)
                return sync_queue_ct(m->sync, ct_type, obj);
        return sync_queue_expect(m->sync, wire_type(kind, ct_type), obj);
}

void manager_sync_local(Manager *m, CtKind kind, WireType type, const void *obj, CacheObject *o) {
        if (!m->sync)
                return;
        if (!o) {
                /* DisableInternalCache: what the kernel said goes out as it is. */
                if (type == WIRE_CT_NEW)
                        m->sync_counters.bypass_new[kind]++;
                else if (type == WIRE_CT_UPD)
                        m->sync_counters.bypass_upd[kind]++;
                else
                        m->sync_counters.bypass_del[kind]++;
                (void) queue_object(m, kind, type, obj);
                return;
        }
        if (kind == CT_KIND_CT) {
                CtEntry e;

                cache_object_ct(o, &e);
                (void) queue_object(m, kind, type, &e);
        } else
                (void) queue_object(m, kind, type, cache_object_expect(o));
        if (sync_mode(m->sync) == CONFIG_MODE_ALARM)
                o->sync_usec = manager_now(m) + alarm_delay(m);
}

/* on_del hook of the internal caches: a flow that left the kernel leaves the peers' caches with
 * the last state we had of it. Only while m->sync_emit_del is set (a destroy event, the purge
 * of an overrun resync), never for flushes or replacements. */
static void on_internal_del(Cache *c, const CacheObject *o, void *userdata) {
        Manager *m = userdata;
        CtEntry buf;

        if (!m->sync || !m->sync_emit_del)
                return;
        (void) queue_object(m, cache_kind(c), WIRE_CT_DEL, cache_object_get(c, o, &buf));
}

void manager_sync_resync_sends(Manager *m, bool on) {
        m->sync_emit_del = on && m->sync;
}

/* ---- the peers' side ---- */

/* What a committed or injected flow must look like for the kernel (spec §2.1 "Commit"). */
static void prepare_for_kernel(Manager *m, CtEntry *e) {
        if (!(e->attrs & CT_ATTR_TIMEOUT) || e->timeout == 0) {
                e->timeout = m->config->commit_timeout ?: INJECT_DEFAULT_TIMEOUT;
                e->attrs |= CT_ATTR_TIMEOUT;
        }
        if (e->attrs & CT_ATTR_STATUS)
                e->status &= ~(uint32_t) IPS_EXPECTED_BIT;
        if (e->orig.l4 == IPPROTO_TCP && !m->config->tcp_window_tracking) {
                if (!(e->attrs & CT_ATTR_TCP_FLAGS))
                        e->tcp.flags_orig = e->tcp.flags_repl = e->tcp.mask_orig = e->tcp.mask_repl = 0;
                e->tcp.flags_orig |= TCP_FLAG_BE_LIBERAL;
                e->tcp.flags_repl |= TCP_FLAG_BE_LIBERAL;
                e->tcp.mask_orig |= TCP_FLAG_BE_LIBERAL;
                e->tcp.mask_repl |= TCP_FLAG_BE_LIBERAL;
                e->attrs |= CT_ATTR_TCP_FLAGS;
        }
}

static void log_inject_failure(Manager *m, int r, const char *what, CtKind kind) {
        if (ratelimit_below(&m->inject_ratelimit))
                log_warning_errno(r, "could not %s %s entry in the kernel: %m", what,
                                  kind == CT_KIND_CT ? "ct" : "expect");
}

/* DisableExternalCache: straight into the kernel (spec §2.1 table, right column). */
static void inject(Manager *m, const WireMessage *msg) {
        CtKind kind = msg->kind == WIRE_KIND_CT ? CT_KIND_CT : CT_KIND_EXPECT;
        WireType t = msg->hdr.type;
        bool is_new = t == WIRE_CT_NEW || t == WIRE_EXP_NEW || t == WIRE_EXP_UPD;
        bool is_del = t == WIRE_CT_DEL || t == WIRE_EXP_DEL;
        CtEntry e;
        const void *obj;
        int r;

        if (kind == CT_KIND_CT) {
                e = msg->ct;
                if (!is_del)
                        prepare_for_kernel(m, &e);
                obj = &e;
        } else
                obj = &msg->exp;

        if (is_del) {
                r = kernel_delete(m->kernel, kind, obj);
                if (r < 0 && r != -ENOENT) {
                        m->sync_counters.inject_del_fail[kind]++;
                        log_inject_failure(m, r, "destroy", kind);
                } else
                        m->sync_counters.inject_del_ok[kind]++;
                return;
        }

        if (is_new) {
                r = kernel_create(m->kernel, kind, obj);
                if (r == -EEXIST) {
                        (void) kernel_delete(m->kernel, kind, obj);
                        r = kernel_create(m->kernel, kind, obj);
                }
                if (r < 0) {
                        m->sync_counters.inject_add_fail[kind]++;
                        log_inject_failure(m, r, "add new", kind);
                } else
                        m->sync_counters.inject_add_ok[kind]++;
                return;
        }

        /* CT_UPD: NAT and helper cannot change on an existing kernel flow. */
        e.attrs &= ~(CT_ATTR_SNAT | CT_ATTR_DNAT | CT_ATTR_SPAT | CT_ATTR_DPAT | CT_ATTR_HELPER |
                     CT_ATTR_MASTER);
        r = kernel_update(m->kernel, kind, &e);
        if (r == -ENOENT)
                r = kernel_create(m->kernel, kind, &msg->ct);
        else if (r < 0) {
                (void) kernel_delete(m->kernel, kind, &msg->ct);
                e = msg->ct;
                prepare_for_kernel(m, &e);
                r = kernel_create(m->kernel, kind, &e);
        }
        if (r < 0) {
                m->sync_counters.inject_upd_fail[kind]++;
                log_inject_failure(m, r, "update", kind);
        } else
                m->sync_counters.inject_upd_ok[kind]++;
}

static void on_sync_message(Sync *s, const WireMessage *msg, void *userdata) {
        Manager *m = userdata;
        CtKind kind = msg->kind == WIRE_KIND_CT ? CT_KIND_CT : CT_KIND_EXPECT;
        Cache *c = external(m, kind);
        const void *obj = kind == CT_KIND_CT ? (const void *) &msg->ct : (const void *) &msg->exp;
        int r;

        if (m->config->disable_external_cache) {
                if (m->kernel && (kind == CT_KIND_CT || m->config->expectation_sync.enabled))
                        inject(m, msg);
                return;
        }
        if (!c)
                return;         /* expectations from a peer while ExpectationSync is off */

        switch (msg->hdr.type) {
        case WIRE_CT_NEW:
        case WIRE_EXP_NEW:
                r = cache_add(c, obj, manager_now(m), NULL);
                break;
        case WIRE_CT_UPD:
        case WIRE_EXP_UPD:
                r = cache_update(c, obj, manager_now(m), NULL);
                break;
        default:
                r = cache_del(c, obj);
                if (r == -ENOENT)
                        r = 0;
                break;
        }
        if (r == -ENOSPC) {
                m->counters.cache_full++;
                if (ratelimit_below(&m->cache_full_ratelimit))
                        log_warning("The %s cache is full (HashLimit %u): states from peers are "
                                    "not stored. Raise HashLimit.", cache_name(c),
                                    cache_hash_limit(c));
        }
}

static bool on_sync_lookup(Sync *s, CtKind kind, const void *identity, void *ret, void *userdata) {
        Manager *m = userdata;
        Cache *c = internal(m, kind);
        CacheObject *o;

        if (!c)
                return false;
        o = cache_find(c, identity);
        if (!o)
                return false;
        if (kind == CT_KIND_CT)
                cache_object_ct(o, ret);
        else
                *(CtExpect *) ret = *cache_object_expect(o);
        return true;
}

typedef struct BulkContext {
        Manager *m;
        uint64_t n;
} BulkContext;

static int bulk_one(Cache *c, CacheObject *o, void *userdata) {
        BulkContext *b = userdata;
        WireType t = o->updated_usec != o->added_usec ? WIRE_CT_UPD : WIRE_CT_NEW;
        CtEntry buf;

        (void) queue_object(b->m, cache_kind(c), t, cache_object_get(c, o, &buf));
        b->n++;
        return 0;
}

static int bulk_kernel_one(const void *obj, void *userdata) {
        BulkContext *b = userdata;

        if (!filter_match_ct(b->m->config->filter, obj))
                return 0;
        (void) sync_queue_ct(b->m->sync, WIRE_CT_NEW, obj);
        b->n++;
        return 0;
}

static void on_sync_in_sync_changed(Sync *s, bool in_sync, void *userdata) {
        manager_bus_emit_in_sync_changed(userdata);
}

/* A RESYNC of ours: what the peers' bulk refreshes carries the new generation. */
static void on_sync_refresh_begin(Sync *s, void *userdata) {
        Manager *m = userdata;

        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                if (external(m, k))
                        cache_begin_generation(external(m, k));
}

/* Their bulk is over: the external objects it did not refresh are gone from the peers (destroyed
 * while we were not listening, or while they were down). */
static size_t on_sync_refresh_end(Sync *s, void *userdata) {
        Manager *m = userdata;
        size_t purged = 0;

        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                if (external(m, k))
                        purged += cache_purge_generation(external(m, k));
        return purged;
}

static void on_sync_bulk(Sync *s, void *userdata) {
        Manager *m = userdata;
        BulkContext b = { m, 0 };

        if (m->config->disable_internal_cache) {
                /* No cache: what the kernel has now, as NEW (1.4.7). */
                if (m->kernel)
                        (void) kernel_dump(m->kernel, CT_KIND_CT, bulk_kernel_one, &b);
        } else
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        if (internal(m, k))
                                (void) cache_foreach(internal(m, k), bulk_one, &b);
        sync_flush(m->sync);
        log_info("Bulk update queued: %" PRIu64 " objects", b.n);
}

static int on_sync_send(Sync *s, const uint8_t *buf, size_t size, void *userdata) {
        Manager *m = userdata;

        return channel_set_send(m->channels, buf, size);
}

static void on_channel_recv(ChannelSet *cs, unsigned index, const uint8_t *buf, size_t size,
                            void *userdata) {
        Manager *m = userdata;

        if (m->sync && sync_receive(m->sync, buf, size) > 0)
                channel_set_mark_valid(cs, index);
}

/* ---- periodic work ---- */

static int alarm_refresh_one(Cache *c, CacheObject *o, void *userdata) {
        Manager *m = userdata;
        uint64_t now = manager_now(m);
        CtEntry buf;

        if (o->sync_usec > now)
                return 0;
        (void) queue_object(m, cache_kind(c), o->updated_usec != o->added_usec ? WIRE_CT_UPD : WIRE_CT_NEW,
                            cache_object_get(c, o, &buf));
        o->sync_usec = now + alarm_delay(m);
        return 0;
}

static int alarm_arm_one(Cache *c, CacheObject *o, void *userdata) {
        Manager *m = userdata;

        o->sync_usec = manager_now(m) + alarm_delay(m);
        return 0;
}

static int expire_one(Cache *c, CacheObject *o, void *userdata) {
        Manager *m = userdata;
        uint64_t now = manager_now(m), limit = (uint64_t) m->config->cache_timeout * USEC_PER_SEC;

        if (now > o->updated_usec && now - o->updated_usec >= limit) {
                cache_del_object(c, o);
                m->sync_counters.external_expired++;
        }
        return 0;
}

static int on_sync_tick(sd_event_source *es, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (m->sync)
                sync_check_peer(m->sync);
        if (m->sync && sync_mode(m->sync) == CONFIG_MODE_ALARM) {
                for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                        if (internal(m, k))
                                (void) cache_foreach(internal(m, k), alarm_refresh_one, m);
                        if (external(m, k))
                                (void) cache_foreach(external(m, k), expire_one, m);
                }
        }
        return sd_event_source_set_time(es, usec + SYNC_TICK_USEC);
}

/* ---- set-up ---- */

/* Receive sockets passed by socket activation, named "sync" (first link) or "sync0".."sync3". */
static void activated_sync_fds(int fds[static CONFIG_CHANNELS_MAX], bool *ret_any) {
        char **names = NULL;
        int n;

        *ret_any = false;
        for (size_t i = 0; i < CONFIG_CHANNELS_MAX; i++)
                fds[i] = -EBADF;
        n = sd_listen_fds_with_names(false, &names);
        for (int i = 0; i < n; i++) {
                const char *name = names ? names[i] : NULL;
                int idx = -1;

                if (name && streq(name, "sync"))
                        idx = 0;
                else if (name && strneq(name, "sync", 4) && name[4] >= '0' && name[4] <= '3' &&
                         name[5] == '\0')
                        idx = name[4] - '0';
                if (idx >= 0 && fds[idx] < 0) {
                        fds[idx] = SD_LISTEN_FDS_START + i;
                        *ret_any = true;
                }
        }
        for (int i = 0; names && i < n; i++)
                free(names[i]);
        free(names);
}

int manager_sync_setup(Manager *m) {
        const Config *c = m->config;
        size_t payload;
        int r;

        if (c->mode == CONFIG_MODE_STATS)
                return 0;

        m->inject_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 10);
        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                if (internal(m, k))
                        cache_set_hooks(internal(m, k), &(CacheHooks) {
                                .on_del = on_internal_del,
                                .userdata = m,
                        });

        if (m->sync_fd_set) {
                r = channel_set_new_socketpair(m->event, m->sync_fd, 1472, on_channel_recv, m,
                                               &m->channels);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the sync socketpair: %m");
                m->sync_fd_set = false;
        } else {
                int fds[CONFIG_CHANNELS_MAX];
                bool any;

                if (c->n_channels == 0)
                        return log_error_errno(EINVAL, "%s: Sync mode %s needs a dedicated link "
                                               "(a UDP, Multicast or TCP block)", m->config_path,
                                               config_mode_to_string(c->mode));
                activated_sync_fds(fds, &any);
                r = channel_set_new(m->event,
                                    &(ChannelSetOptions) {
                                            .configs = c->channels,
                                            .n_configs = c->n_channels,
                                            .activated_fds = any ? fds : NULL,
                                            .error_queue_length = c->error_queue_length,
                                            .recv = on_channel_recv,
                                            .userdata = m,
                                    },
                                    &m->channels);
                if (r < 0)
                        return log_error_errno(r, "can't open channel socket: %m");
        }
        r = manager_auth_setup(m);
        if (r < 0)
                return r;

        payload = channel_set_payload(m->channels);
        r = sync_new(m->event,
                     &(SyncSettings) {
                             .mode = c->mode,
                             .resend_queue_size = c->resend_queue_size,
                             .ack_window_size = c->ack_window_size,
                             .payload = MIN(payload, (size_t) WIRE_RECV_BUFFER_SIZE),
                             .encode = {
                                     .timeout = c->commit_timeout == 0,
                                     .tcp_wscale = c->tcp_window_tracking,
                             },
                             /* ALARM peers send no ALIVE: silent for longer than the external
                              * cache keeps their objects, they are lost. */
                             .peer_timeout_usec = c->mode == CONFIG_MODE_ALARM ?
                                                  (uint64_t) c->cache_timeout * USEC_PER_SEC : 0,
                     },
                     &(SyncHandlers) {
                             .send = on_sync_send,
                             .message = on_sync_message,
                             .lookup = c->disable_internal_cache ? NULL : on_sync_lookup,
                             .bulk = on_sync_bulk,
                             .refresh_begin = on_sync_refresh_begin,
                             .refresh_end = on_sync_refresh_end,
                             .in_sync_changed = on_sync_in_sync_changed,
                             .userdata = m,
                     },
                     &m->sync);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the %s sync protocol: %m",
                                       config_mode_to_string(c->mode));

        r = sd_event_add_time_relative(m->event, &m->sync_tick, CLOCK_MONOTONIC, SYNC_TICK_USEC,
                                       100 * USEC_PER_MSEC, on_sync_tick, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the sync timer: %m");
        (void) sd_event_source_set_description(m->sync_tick, "sync-tick");
        /* every second for good (a time source is one-shot by default) */
        r = sd_event_source_set_enabled(m->sync_tick, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Failed to enable the sync timer: %m");

        if (c->mode == CONFIG_MODE_ALARM)
                /* What the start-up dump found is refreshed over the next RefreshTime seconds,
                 * not all at once. */
                for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                        if (internal(m, k))
                                (void) cache_foreach(internal(m, k), alarm_arm_one, m);

        log_info("Replication in %s mode over %zu link(s), %zu bytes per datagram",
                 config_mode_to_string(c->mode), channel_set_count(m->channels), payload);
        if (m->caches_restored) {
                /* The states came back whole from systemd's fd store: no full resync, and in
                 * sync at once (what the peers sent meanwhile waits in a held sync socket). */
                if (c->startup_resync)
                        log_info("StartupResync skipped: the caches came back from the fd store");
                sync_assume_in_sync(m->sync);
        } else if (c->startup_resync && c->mode != CONFIG_MODE_ALARM)
                (void) sync_request_resync(m->sync);
        return 0;
}

void manager_sync_done(Manager *m) {
        if (m->sync)
                sync_flush(m->sync);
        m->commit = commit_free(m->commit);
        m->purge_timer = sd_event_source_disable_unref(m->purge_timer);
        m->sync_tick = sd_event_source_disable_unref(m->sync_tick);
        m->sync = sync_free(m->sync);
        m->channels = channel_set_free(m->channels);
        if (m->sync_fd_set) {
                (void) close(m->sync_fd);
                m->sync_fd_set = false;
        }
}

/* ---- operations ---- */

bool manager_commit_running(Manager *m) {
        return m->commit && !m->commit_finished;
}

static void on_commit_done(Commit *c, const CommitResult *r, void *userdata) {
        Manager *m = userdata;
        ManagerCommitDoneFunc done = m->commit_done;
        void *done_userdata = m->commit_userdata;

        m->commit_finished = true;
        m->commit_done = NULL;
        m->commit_userdata = NULL;
        m->sync_counters.commit_ok += r->ct_ok + r->exp_ok;
        m->sync_counters.commit_failed += r->ct_failed + r->exp_failed;
        m->sync_counters.last_commit_usec = r->duration_usec;
        m->sync_counters.commits_done++;
        m->sync_counters.commit_usec_total += r->duration_usec;
        m->sync_counters.last_commit_end_usec = now_usec(CLOCK_REALTIME);
        log_full_errno_fields(LOG_INFO, 0, LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_COMMIT_DONE),
                              "Commit done: %" PRIu64 " flows (%" PRIu64 " failed), %" PRIu64
                              " expectations (%" PRIu64 " failed) in %" PRIu64 ".%06" PRIu64 " s",
                              r->ct_ok, r->ct_failed, r->exp_ok, r->exp_failed,
                              r->duration_usec / USEC_PER_SEC, r->duration_usec % USEC_PER_SEC);
        manager_bus_emit_commit_done(m, r);
        if (done)
                done(m, r, done_userdata);
        manager_update_status(m);
}

int manager_commit(Manager *m, int kind, ManagerCommitDoneFunc done, void *userdata) {
        Cache *ct = NULL, *exp = NULL;
        int r;

        if (m->config->mode == CONFIG_MODE_STATS || m->config->disable_external_cache)
                return -EOPNOTSUPP;
        if (manager_commit_running(m)) {
                log_notice("commit already in progress, skipping");
                return -EBUSY;
        }
        if (kind == CT_KIND_CT || kind < 0)
                ct = external(m, CT_KIND_CT);
        if (kind == CT_KIND_EXPECT || kind < 0)
                exp = external(m, CT_KIND_EXPECT);
        if (kind == CT_KIND_EXPECT && !exp)
                return -EOPNOTSUPP;

        /* -c cancels a pending -t purge. */
        m->purge_timer = sd_event_source_disable_unref(m->purge_timer);
        m->commit = commit_free(m->commit);
        m->commit_finished = false;
        m->commit_done = done;
        m->commit_userdata = userdata;
        log_info("%s", kind < 0 ? "committing all external caches" :
                       kind == CT_KIND_CT ? "committing conntrack cache" : "committing expectation cache");
        r = commit_new(m->event, m->kernel,
                       &(CommitOptions) {
                               .ct = ct,
                               .exp = exp,
                               .commit_timeout = m->config->commit_timeout,
                               .tcp_window_tracking = m->config->tcp_window_tracking,
                               .now_usec = manager_now(m),
                               .done = on_commit_done,
                               .userdata = m,
                       },
                       &m->commit);
        if (r < 0) {
                m->commit_done = NULL;
                m->commit_userdata = NULL;
                return log_error_errno(r, "Failed to start the commit: %m");
        }
        m->sync_counters.commits++;
        manager_update_status(m);
        return 0;
}

int manager_send_bulk(Manager *m) {
        if (!m->sync)
                return -EOPNOTSUPP;
        return sync_send_bulk(m->sync);
}

int manager_request_resync(Manager *m) {
        int r;

        if (!m->sync)
                return -EOPNOTSUPP;
        r = sync_request_resync(m->sync);
        if (r >= 0)
                sync_flush(m->sync);
        return r;
}

static int on_purge_timer(sd_event_source *es, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->purge_timer = sd_event_source_disable_unref(m->purge_timer);
        log_info("flushing kernel conntrack table (scheduled)");
        (void) manager_flush_kernel(m, CT_KIND_CT, NULL);
        if (internal(m, CT_KIND_CT))
                cache_flush(internal(m, CT_KIND_CT));
        manager_update_status(m);
        return 0;
}

int manager_reset_timers(Manager *m) {
        int r;

        if (m->config->mode == CONFIG_MODE_STATS)
                return -EOPNOTSUPP;
        if (m->purge_timer)
                return -EALREADY;
        r = sd_event_add_time_relative(m->event, &m->purge_timer, CLOCK_MONOTONIC,
                                       (uint64_t) m->config->purge_timeout * USEC_PER_SEC, 0,
                                       on_purge_timer, m);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the purge timer: %m");
        (void) sd_event_source_set_description(m->purge_timer, "purge");
        log_info("flushing conntrack table in %u secs", m->config->purge_timeout);
        return 0;
}

/* ---- statistics ---- */

static int stat_u(sd_bus_message *reply, const char *group, const char *name, uint64_t value) {
        char key[64];

        snprintf(key, sizeof key, "%s.%s", group, name);
        return sd_bus_message_append(reply, "{sv}", key, "t", value);
}

static int stat_s(sd_bus_message *reply, const char *group, const char *name, const char *value) {
        char key[64];

        snprintf(key, sizeof key, "%s.%s", group, name);
        return sd_bus_message_append(reply, "{sv}", key, "s", value);
}

static int append_links(Manager *m, sd_bus_message *reply) {
        for (unsigned i = 0; i < channel_set_count(m->channels); i++) {
                const ChannelStats *st = channel_set_stats(m->channels, i);
                ChannelType t = channel_set_type(m->channels, i);
                char group[16];
                int r;

                snprintf(group, sizeof group, "link%u", i);
                r = stat_s(reply, group, "type", channel_type_to_string(t));
                if (r >= 0)
                        r = stat_s(reply, group, "device", channel_set_device(m->channels, i));
                if (r >= 0)
                        r = stat_s(reply, group, "status",
                                   channel_link_status_to_string(channel_set_link_status(m->channels, i)));
                if (r >= 0)
                        r = stat_s(reply, group, "role",
                                   channel_set_active(m->channels) == i ? "ACTIVE" : "BACKUP");
                if (r >= 0 && t == CHANNEL_TCP) {
                        r = stat_s(reply, group, "server",
                                   channel_set_tcp_server_connected(m->channels, i) ? "connected" :
                                                                                     "disconnected");
                        if (r >= 0)
                                r = stat_s(reply, group, "client",
                                           channel_set_tcp_client_connected(m->channels, i) ?
                                                   "connected" : "disconnected");
                }
                if (r >= 0)
                        r = stat_u(reply, group, "bytes_sent", st->bytes_sent);
                if (r >= 0)
                        r = stat_u(reply, group, "bytes_recv", st->bytes_recv);
                if (r >= 0)
                        r = stat_u(reply, group, "pkts_sent", st->pkts_sent);
                if (r >= 0)
                        r = stat_u(reply, group, "pkts_recv", st->pkts_recv);
                if (r >= 0)
                        r = stat_u(reply, group, "err_sent", st->err_sent);
                if (r >= 0)
                        r = stat_u(reply, group, "err_recv", st->err_recv);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int append_network(Manager *m, sd_bus_message *reply) {
        const SyncStats *s = sync_stats(m->sync);
        const struct {
                const char *group, *name;
                uint64_t value;
        } keys[] = {
                { "network", "recv_malformed", s->wire.malformed },
                { "network", "recv_bad_version", s->wire.bad_version },
                { "network", "recv_bad_header", s->wire.bad_header },
                { "network", "recv_bad_payload", s->wire.bad_payload },
                { "network", "recv_bad_type", s->wire.bad_type },
                { "network", "recv_truncated", s->wire.truncated },
                { "network", "recv_bad_size", s->wire.bad_size },
                { "network", "send_malformed", s->encode_failed },
                { "network", "msgs_sent", s->msgs_sent },
                { "network", "msgs_recv", s->msgs_recv },
                { "network", "datagrams_sent", s->datagrams_sent },
                { "network", "send_failed", s->send_failed },
                { "network", "acks_sent", s->acks_sent },
                { "network", "acks_recv", s->acks_recv },
                { "network", "nacks_sent", s->nacks_sent },
                { "network", "nacks_recv", s->nacks_recv },
                { "network", "resyncs_sent", s->resyncs_sent },
                { "network", "resyncs_recv", s->resyncs_recv },
                { "network", "resent", s->resent },
                { "network", "bulks", s->bulks },
                { "sequence", "lost", s->seq_lost },
                { "sequence", "before", s->seq_before },
                { "sequence", "gaps", s->seq_gaps },
                { "peer", "last_seen_usec", s->peer_last_seen_usec },
                { "peer", "restarts", s->peer_restarts },
                { "sequence", "jumps_undone", s->seq_jumps_undone },
                { "resync", "refreshes", s->refreshes },
                { "resync", "purged", s->refresh_purged },
                { "resync", "in_sync", sync_in_sync(m->sync) },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                r = stat_u(reply, keys[i].group, keys[i].name, keys[i].value);
                if (r < 0)
                        return r;
        }
        r = stat_s(reply, "peer", "state", sync_peer_state_to_string(sync_peer_state(m->sync)));
        if (r < 0)
                return r;
        return manager_auth_append_statistics(m, reply);
}

static int append_queues(Manager *m, sd_bus_message *reply) {
        const SyncStats *s = sync_stats(m->sync);
        ChannelQueueStats q = {};
        bool tcp = channel_set_count(m->channels) > 0 &&
                   channel_set_type(m->channels, channel_set_active(m->channels)) == CHANNEL_TCP;
        int r;

        channel_set_queue_stats(m->channels, &q);
        r = stat_u(reply, "queue", "allocated_nodes", q.current + sync_rsqueue_size(m->sync));
        /* Datagrams waiting for the socket: the TX queue; for TCP while disconnected, the error
         * queue of 1.4.7. */
        if (r >= 0)
                r = stat_u(reply, tcp ? "errorq" : "txqueue", "current", q.current);
        if (r >= 0)
                r = stat_u(reply, tcp ? "errorq" : "txqueue", "max", q.max);
        if (r >= 0)
                r = stat_u(reply, tcp ? "errorq" : "txqueue", "nospace", q.nospace);
        if (r >= 0)
                r = stat_u(reply, tcp ? "txqueue" : "errorq", "current", 0);
        if (r >= 0)
                r = stat_u(reply, tcp ? "txqueue" : "errorq", "max",
                           tcp ? 0 : m->config->error_queue_length);
        if (r >= 0)
                r = stat_u(reply, "rsqueue", "current", sync_rsqueue_size(m->sync));
        if (r >= 0)
                r = stat_u(reply, "rsqueue", "max",
                           sync_mode(m->sync) == CONFIG_MODE_FTFW ? m->config->resend_queue_size : 0);
        if (r >= 0)
                r = stat_u(reply, "rsqueue", "nospace", s->rsqueue_dropped);
        return r;
}

static int rsqueue_entry(bool control, uint32_t seq, uint8_t flags, void *userdata) {
        return sd_bus_message_append(userdata, "(btt)", control, (uint64_t) seq, (uint64_t) flags);
}

static int append_rsqueue(Manager *m, sd_bus_message *reply) {
        int r;

        r = sd_bus_message_append(reply, "{sv}", "rsqueue.current", "t",
                                  (uint64_t) sync_rsqueue_size(m->sync));
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(reply, "s", "rsqueue.entries");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'v', "a(btt)");
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(btt)");
        if (r >= 0)
                r = sync_rsqueue_foreach(m->sync, rsqueue_entry, reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        return r;
}

/* Commits of the external cache (-c, Commit(), Promote()). */
static int append_commits(Manager *m, sd_bus_message *reply) {
        const ManagerSyncCounters *c = &m->sync_counters;
        const struct {
                const char *name;
                uint64_t value;
        } keys[] = {
                { "started", c->commits },
                { "finished", c->commits_done },
                { "running", manager_commit_running(m) },
                { "objects_ok", c->commit_ok },
                { "objects_failed", c->commit_failed },
                { "duration_usec", c->commit_usec_total },
                { "last_duration_usec", c->last_commit_usec },
                { "last_finished_usec", c->last_commit_end_usec },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                r = stat_u(reply, "commit", keys[i].name, keys[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int append_bypass_inject(Manager *m, sd_bus_message *reply, int only_kind) {
        const ManagerSyncCounters *c = &m->sync_counters;
        int r = 0;

        for (CtKind k = 0; k < _CT_KIND_MAX && r >= 0; k++) {
                char group[32];

                if (only_kind >= 0 && (int) k != only_kind)
                        continue;
                if (k == CT_KIND_EXPECT && !m->config->expectation_sync.enabled)
                        continue;
                if (m->config->disable_internal_cache) {
                        snprintf(group, sizeof group, "internal-bypass%s", k == CT_KIND_EXPECT ? "-expect" : "");
                        r = stat_u(reply, group, "new", c->bypass_new[k]);
                        if (r >= 0)
                                r = stat_u(reply, group, "upd", c->bypass_upd[k]);
                        if (r >= 0)
                                r = stat_u(reply, group, "del", c->bypass_del[k]);
                }
                if (r >= 0 && m->config->disable_external_cache) {
                        snprintf(group, sizeof group, "external-inject%s", k == CT_KIND_EXPECT ? "-expect" : "");
                        r = stat_u(reply, group, "add_ok", c->inject_add_ok[k]);
                        if (r >= 0)
                                r = stat_u(reply, group, "add_fail", c->inject_add_fail[k]);
                        if (r >= 0)
                                r = stat_u(reply, group, "upd_ok", c->inject_upd_ok[k]);
                        if (r >= 0)
                                r = stat_u(reply, group, "upd_fail", c->inject_upd_fail[k]);
                        if (r >= 0)
                                r = stat_u(reply, group, "del_ok", c->inject_del_ok[k]);
                        if (r >= 0)
                                r = stat_u(reply, group, "del_fail", c->inject_del_fail[k]);
                }
        }
        return r;
}

int manager_append_sync_statistics(Manager *m, const char *section, sd_bus_message *reply) {
        const SyncStats *s;
        bool all;
        int r = 0;

        if (!m->sync || !section)
                return 0;
        s = sync_stats(m->sync);
        all = streq(section, "");

        if (all || streq(section, "general") || streq(section, "expect")) {
                r = stat_u(reply, "message", "malformed", s->wire.malformed);
                if (r >= 0)
                        r = stat_u(reply, "message", "lost", s->seq_lost);
                if (r >= 0)
                        r = append_bypass_inject(m, reply,
                                                 all ? -1 : streq(section, "expect") ? CT_KIND_EXPECT :
                                                                                       CT_KIND_CT);
                if (r >= 0 && !all)
                        r = append_links(m, reply);
        }
        if (r >= 0 && (all || streq(section, "general")))
                r = append_commits(m, reply);
        if (r >= 0 && (all || streq(section, "network"))) {
                r = append_network(m, reply);
                if (r >= 0 && !all)
                        r = append_links(m, reply);
        }
        if (r >= 0 && (all || streq(section, "link")))
                r = append_links(m, reply);
        if (r >= 0 && (all || streq(section, "queue")))
                r = append_queues(m, reply);
        if (r >= 0 && streq(section, "rsqueue") && sync_mode(m->sync) == CONFIG_MODE_FTFW)
                r = append_rsqueue(m, reply);
        return r;
}
