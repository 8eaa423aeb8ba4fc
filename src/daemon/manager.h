/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Manager owns everything of a running daemon: the sd-event loop, the bus connections, the
 * config, the kernel layer and the caches. No state lives outside it, so two managers can run in
 * one test process.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "cache.h"
#include "channel.h"
#include "commit.h"
#include "config.h"
#include "flow-log.h"
#include "ct-format.h"
#include "keepalived-follow.h"
#include "kernel.h"
#include "log.h"
#include "sync.h"

typedef enum ManagerState {
        MANAGER_STARTING,
        MANAGER_RUNNING,
        MANAGER_RELOADING,
        MANAGER_STOPPING,
        _MANAGER_STATE_MAX,
        _MANAGER_STATE_INVALID = -EINVAL,
} ManagerState;

/* "starting", "running", "reloading", "stopping" */
const char *manager_state_to_string(ManagerState s);
ManagerState manager_state_from_string(const char *s);

typedef enum CacheWhich {
        CACHE_INTERNAL,
        CACHE_EXTERNAL,
        _CACHE_WHICH_MAX,
        _CACHE_WHICH_INVALID = -EINVAL,
} CacheWhich;

/* "internal", "external" */
const char *cache_which_to_string(CacheWhich w);
CacheWhich cache_which_from_string(const char *s);

typedef struct Manager Manager;

/* Called from the loop when a commit started by manager_commit() is finished. */
typedef void (*ManagerCommitDoneFunc)(Manager *m, const CommitResult *r, void *userdata);

typedef struct ManagerCounters {
        uint64_t events_filtered;       /* local events dropped by the Filter clause */
        uint64_t kernel_flushes;        /* flushes of the kernel table */
        uint64_t kernel_resyncs;        /* resyncs with the kernel table */
        uint64_t overrun_resyncs;       /* resyncs scheduled because of overruns */
        uint64_t cache_full;            /* objects not stored because a cache was full */
        uint64_t bus_requests_failed;   /* D-Bus calls refused (bad arguments, not allowed) */
        uint64_t traffic_bytes;         /* bytes/packets of destroyed flows (accounting) */
        uint64_t traffic_packets;
        uint64_t reloads, reloads_failed;
        uint64_t events[_CT_KIND_MAX][_KERNEL_EVENT_MAX];       /* kernel events by kind, type */
} ManagerCounters;

typedef struct ManagerOptions {
        const char *config_path;        /* for reload and messages */
        Config *config;                 /* taken over by manager_new() on success */
        const KernelOps *kernel_ops;    /* NULL = kernel_netlink_ops */
        bool connect_system_bus;        /* take the bus name if a system bus is reachable */
        bool notify;                    /* sd_notify() readiness/status (Systemd on) */
        /* Tests: replicate over this connected socketpair fd instead of the configured channels
         * (taken over on success). */
        bool sync_fd_set;
        int sync_fd;
} ManagerOptions;

/* Counters of the sync modes without a cache on one side (-s "internal bypass"/"external
 * inject"), per kind. */
typedef struct ManagerSyncCounters {
        uint64_t bypass_new[_CT_KIND_MAX], bypass_upd[_CT_KIND_MAX], bypass_del[_CT_KIND_MAX];
        uint64_t inject_add_ok[_CT_KIND_MAX], inject_add_fail[_CT_KIND_MAX];
        uint64_t inject_upd_ok[_CT_KIND_MAX], inject_upd_fail[_CT_KIND_MAX];
        uint64_t inject_del_ok[_CT_KIND_MAX], inject_del_fail[_CT_KIND_MAX];
        uint64_t commits, commit_ok, commit_failed;
        uint64_t last_commit_usec;
        uint64_t commits_done;          /* commits finished (commits: started) */
        uint64_t commit_usec_total;     /* the durations of the finished commits, summed */
        uint64_t last_commit_end_usec;  /* CLOCK_REALTIME when the last commit finished */
        uint64_t external_expired;      /* ALARM: external objects not refreshed in CacheTimeout */
} ManagerSyncCounters;

typedef enum ManagerRole {
        MANAGER_ROLE_UNKNOWN,
        MANAGER_ROLE_PRIMARY,
        MANAGER_ROLE_BACKUP,
        _MANAGER_ROLE_MAX,
} ManagerRole;

/* manager-failover.c: the result of Promote / Demote */
typedef struct FailoverResult {
        bool promote;
        const char *failed_step;        /* NULL on success: "commit", "flush-internal", ... */
        int error;                      /* negative errno of the failed step */
        bool committed;                 /* Promote: a commit ran (not with DisableExternalCache) */
        CommitResult commit;
        uint64_t flushed_internal, flushed_external;    /* objects dropped by the flushes */
        uint64_t resync_entries;        /* Promote: objects in the internal caches after it */
        uint64_t duration_usec;
} FailoverResult;

typedef void (*ManagerFailoverDoneFunc)(Manager *m, const FailoverResult *r, void *userdata);

struct Manager {
        sd_event *event;
        Config *config;
        char *config_path;
        const KernelOps *kernel_ops;
        Kernel *kernel;
        Cache *caches[_CACHE_WHICH_MAX][_CT_KIND_MAX];  /* NULL where not used in this mode */
        ManagerState state;
        uint64_t start_usec;            /* CLOCK_MONOTONIC */
        uint64_t start_realtime_usec;
        ManagerCounters counters;
        bool notify;
        bool connect_system_bus;

        sd_event_source *resync_timer;  /* pending overrun resync */
        sd_event_source *status_timer;  /* periodic STATUS= update */
        sd_event_source *sigterm_source, *sigint_source, *sighup_source;
        RateLimit cache_full_ratelimit;

        /* D-Bus, managed by bus-manager.c */
        sd_bus *bus;                    /* system bus, NULL if unreachable */
        int private_fd;                 /* listening socket at UNIX { Path } */
        bool private_fd_activated;      /* came from socket activation: do not unlink */
        sd_event_source *private_source;
        sd_event_source *private_post_source;   /* processes what private connections buffered */
        sd_bus **private_buses;         /* accepted peer-to-peer connections: closed last */
        int lock_fd;                    /* the LockFile, held with flock() (manager_adopt_lock()) */
        char *lock_path;
        size_t n_private_buses;
        sd_bus_slot *signal_slots;      /* unused; reserved */
        uint64_t last_overruns_emitted;
        sd_event_source *overrun_signal_timer;  /* at most one Overrun signal a second */
        RateLimit bus_ratelimit;        /* refused private connections; set up by bus-manager.c */

        /* Replication, managed by manager-sync.c */
        bool sync_fd_set;
        int sync_fd;                    /* ManagerOptions.sync_fd until taken */
        ChannelSet *channels;
        Sync *sync;
        bool sync_emit_del;             /* on_del hook of the internal caches sends DEL */
        Commit *commit;                 /* running or finished commit */
        bool commit_finished;
        ManagerCommitDoneFunc commit_done;
        void *commit_userdata;
        sd_event_source *purge_timer;   /* -t */
        sd_event_source *sync_tick;     /* 1 s: ALARM refresh, external cache expiry */
        ManagerSyncCounters sync_counters;
        RateLimit inject_ratelimit;
        uint64_t random_state;

        /* Stats mode: the flow log of destroyed flows */
        FlowLog *flow_log;
        sd_event_source *flow_log_flush_source; /* post source: writes the buffered lines */
        bool flow_log_on_del;           /* the on_del hook logs (resync purge) */

        /* Promote / Demote, managed by manager-failover.c */
        ManagerRole role;
        bool failover_running;
        uint64_t failover_start_usec;
        ManagerFailoverDoneFunc failover_done;
        void *failover_userdata;

        /* systemd's file descriptor store across a planned restart, managed by manager-store.c */
        bool caches_restored;           /* the caches came back whole from the store at start */
        struct {
                uint64_t restored_objects;      /* taken into the caches at start */
                uint64_t saved_objects;         /* in the store found at start */
                uint64_t rejected;              /* stores discarded (corrupt, foreign) */
        } store;

        /* Sync { Keepalived }: keepalived-follow.c */
        KeepalivedFollow *keepalived;
};

int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
/* The manager takes over the held LockFile (fd and path) and releases it on manager_free(),
 * after everything else is closed and before the control connections are: a client of Quit()
 * that waits for its connection to close may start the next daemon at once. */
void manager_adopt_lock(Manager *m, int fd, char *path);
DEFINE_CLEANUP_FUNC(Manager *, manager_free);

/* Subscribe to events, dump the kernel tables, open the bus and the private socket; READY=1. */
int manager_start(Manager *m);
/* Run the loop until quit; returns the exit code of the loop. */
int manager_run(Manager *m);
/* Ask the loop to finish (STOPPING=1). */
int manager_quit(Manager *m);
/* Re-read the config file; a bad file keeps the old config (-EINVAL) and logs why. */
int manager_reload(Manager *m);

uint64_t manager_now(Manager *m);       /* CLOCK_MONOTONIC usec, from the loop */
Cache *manager_get_cache(Manager *m, CacheWhich which, CtKind kind);     /* NULL if not in use */

/* -EOPNOTSUPP if the cache does not exist in this mode. */
int manager_flush_cache(Manager *m, CacheWhich which, CtKind kind);
int manager_flush_kernel(Manager *m, CtKind kind, uint64_t *ret_deleted);
/* Dump the kernel table into the internal cache: add/update what is there, remove what is
 * gone. *ret_entries = objects in the cache afterwards. */
int manager_resync_kernel(Manager *m, CtKind kind, uint64_t *ret_entries);
/* Render a cache into a sealed memfd positioned at 0; returns it in *ret_fd. */
int manager_dump_cache(Manager *m, CacheWhich which, CtKind kind, CtFormat format, int *ret_fd);

/* ---- Replication (sync modes) ---- */

/*
 * Commit the external cache into the kernel (-c): kind CT_KIND_CT, CT_KIND_EXPECT, or -1 for all
 * (flows, then expectations when ExpectationSync is on). Returns at once; 'done' runs when the
 * commit is finished (and manager_bus_emit_commit_done() is called for every commit).
 * -EOPNOTSUPP: no external cache in this mode (Stats, DisableExternalCache, or expectations
 * without ExpectationSync); -EBUSY: a commit is already running.
 */
int manager_commit(Manager *m, int kind, ManagerCommitDoneFunc done, void *userdata);
bool manager_commit_running(Manager *m);
/* Queue the whole internal cache for the peers (-B). -EOPNOTSUPP in ALARM and Stats mode. */
int manager_send_bulk(Manager *m);
/* Ask the peers for a bulk of their internal caches (-n). -EOPNOTSUPP in ALARM and Stats. */
int manager_request_resync(Manager *m);
/* Arm the purge timer (-t): after PurgeTimeout seconds flush the kernel table (as -F ct) and
 * the internal cache. -EALREADY if it is pending; -EOPNOTSUPP in Stats mode. */
int manager_reset_timers(Manager *m);
/*
 * Append the replication counters of a GetStatistics section ("" = all, "general", "expect",
 * "network", "link", "queue", "rsqueue") to an open a{sv} container, keys as in stats-keys.h
 * (message.*, network.*, sequence.*, link<N>.*, queue.*, txqueue.*, errorq.*, rsqueue.*, and the
 * internal-bypass / external-inject groups). Appends nothing in Stats mode.
 */
int manager_append_sync_statistics(Manager *m, const char *section, sd_bus_message *reply);

/* Implemented in manager-sync.c, for manager.c. */
int manager_sync_setup(Manager *m);     /* channels + protocol; nothing in Stats mode */
/* manager-auth.c: AuthKeyFile; at start (after the channels), and at reload before the switch */
int manager_auth_setup(Manager *m);
/* manager-failover.c: -EBUSY while one runs (or a commit of -c), -EOPNOTSUPP in Stats mode;
 * else 0 and done() is called once, from the loop or before the return */
int manager_promote(Manager *m, ManagerFailoverDoneFunc done, void *userdata);
int manager_demote(Manager *m, ManagerFailoverDoneFunc done, void *userdata);
const char *manager_role_to_string(ManagerRole r);
int manager_auth_reload(Manager *m, Config *new);
int manager_auth_append_statistics(Manager *m, sd_bus_message *reply);  /* network.auth_* */
void manager_sync_done(Manager *m);
/* A local change that passed the filter: replicate it (no-op without replication). 'o' is the
 * cache object when there is an internal cache, else NULL and obj is the kernel's. */
void manager_sync_local(Manager *m, CtKind kind, WireType type, const void *obj, CacheObject *o);
/* Objects queued while a kernel resync runs: every dumped object is sent again. */
void manager_sync_resync_sends(Manager *m, bool on);

/* manager-store.c: the caches across a planned restart, through systemd's fd store.
 * load: at start, after the kernel dump and before the replication is set up; takes the store
 * named "conntrackd-caches" (LISTEN_FDNAMES) or discards it with a warning; sets caches_restored.
 * save: after the loop ended with a planned stop (SIGTERM, Quit), with $NOTIFY_SOCKET set. */
void manager_store_load(Manager *m);
void manager_store_save(Manager *m);
int manager_store_append_statistics(Manager *m, sd_bus_message *reply);   /* store.* */

/* Open the log files again (General LogFile, Stats LogFile), e.g. after logrotate moved them:
 * SIGHUP (Reload) and ReopenLogFiles(). Returns the first error; what failed keeps its old file. */
int manager_reopen_log_files(Manager *m);

/* Refresh STATUS= for the service manager. */
void manager_update_status(Manager *m);

/* Implemented in bus-manager.c */
#define MANAGER_PRIVATE_BUSES_MAX 64    /* concurrent peer-to-peer connections; more are refused */
int manager_bus_setup(Manager *m);                      /* system bus (optional) + private socket */
void manager_bus_done(Manager *m);
void manager_bus_close_private(Manager *m);
void manager_bus_emit_overrun(Manager *m);
void manager_bus_emit_resync_done(Manager *m, CtKind kind, uint64_t entries, uint64_t duration_usec);
void manager_bus_emit_state_changed(Manager *m);
void manager_bus_emit_commit_done(Manager *m, const CommitResult *r);
void manager_bus_emit_role_changed(Manager *m);
void manager_bus_emit_in_sync_changed(Manager *m);
