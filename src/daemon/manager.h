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
#include "config.h"
#include "ct-format.h"
#include "kernel.h"
#include "log.h"

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
} ManagerCounters;

typedef struct ManagerOptions {
        const char *config_path;        /* for reload and messages */
        Config *config;                 /* taken over by manager_new() on success */
        const KernelOps *kernel_ops;    /* NULL = kernel_netlink_ops */
        bool connect_system_bus;        /* take the bus name if a system bus is reachable */
        bool notify;                    /* sd_notify() readiness/status (Systemd on) */
} ManagerOptions;

typedef struct Manager {
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
        sd_bus **private_buses;         /* accepted peer-to-peer connections */
        size_t n_private_buses;
        sd_bus_slot *signal_slots;      /* unused; reserved */
        uint64_t last_overruns_emitted;
        RateLimit bus_ratelimit;        /* refused private connections; set up by bus-manager.c */
} Manager;

int manager_new(const ManagerOptions *opts, Manager **ret);
Manager *manager_free(Manager *m);
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

/* Refresh STATUS= for the service manager. */
void manager_update_status(Manager *m);

/* Implemented in bus-manager.c */
#define MANAGER_PRIVATE_BUSES_MAX 64    /* concurrent peer-to-peer connections; more are refused */
int manager_bus_setup(Manager *m);                      /* system bus (optional) + private socket */
void manager_bus_done(Manager *m);
void manager_bus_emit_overrun(Manager *m);
void manager_bus_emit_resync_done(Manager *m, CtKind kind, uint64_t entries, uint64_t duration_usec);
void manager_bus_emit_state_changed(Manager *m);
