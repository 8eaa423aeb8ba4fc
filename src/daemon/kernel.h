/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The kernel boundary as an ops table: dumps, event subscription, writes and flushes of the
 * conntrack and expectation tables. kernel-netlink.c implements it with libmnl and
 * libnetfilter_conntrack (the only file that talks netlink); tests use an in-memory fake.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "ct-entry.h"
#include "filter.h"

typedef enum KernelEventType {
        KERNEL_EVENT_NEW,
        KERNEL_EVENT_UPDATE,
        KERNEL_EVENT_DESTROY,
        _KERNEL_EVENT_MAX,
        _KERNEL_EVENT_INVALID = -EINVAL,
} KernelEventType;

/* "new", "update", "destroy" */
const char *kernel_event_type_to_string(KernelEventType t);
KernelEventType kernel_event_type_from_string(const char *s);

typedef struct Kernel Kernel;

typedef struct KernelHandlers {
        /* 'self' is true when the event was caused by one of this Kernel's own write sockets. */
        void (*ct_event)(Kernel *k, KernelEventType type, const CtEntry *e, bool self, void *userdata);
        void (*expect_event)(Kernel *k, KernelEventType type, const CtExpect *x, bool self,
                             void *userdata);
        /* The event socket overran (ENOBUFS): events were lost, the table must be resynced. */
        void (*overrun)(Kernel *k, void *userdata);
        void *userdata;
} KernelHandlers;

typedef struct KernelSettings {
        uint32_t buffer_size;           /* event socket receive buffer; 0 = kernel default */
        bool events_reliable;           /* NETLINK_BROADCAST_SEND_ERROR + NETLINK_NO_ENOBUFS */
        bool expectations;              /* also subscribe to expectation events */
        const FilterConfig *bpf_filter; /* attach as BPF to the event socket; NULL = none */
        uint32_t event_iteration_limit; /* max events handled per wake-up; 0 = unlimited */
} KernelSettings;

/* Counters kept by the kernel layer itself. */
typedef struct KernelStats {
        uint64_t events_received;       /* event messages read */
        uint64_t events_unknown;        /* messages of an unknown type */
        uint64_t events_failed;         /* messages that could not be parsed ("catch event failed") */
        uint64_t dump_unknown;          /* dump messages that could not be parsed */
        uint64_t overruns;              /* ENOBUFS on the event socket */
} KernelStats;

/* Called for each object of a dump; obj is a CtEntry or CtExpect. Negative return aborts. */
typedef int (*KernelDumpFunc)(const void *obj, void *userdata);

typedef struct KernelOps {
        const char *name;
        int (*open)(Kernel *k);                 /* allocate k->data, open write sockets */
        void (*close)(Kernel *k);               /* free k->data; NULL-safe on half-open */
        /* Open the event socket and attach it to the loop. */
        int (*subscribe)(Kernel *k, sd_event *e);
        /* Synchronous full dump of one table. */
        int (*dump)(Kernel *k, CtKind kind, KernelDumpFunc f, void *userdata);
        /* Look up one object by identity into *ret_obj (CtEntry/CtExpect); -ENOENT if absent. */
        int (*get)(Kernel *k, CtKind kind, const void *obj, void *ret_obj);
        int (*create)(Kernel *k, CtKind kind, const void *obj);        /* -EEXIST */
        int (*update)(Kernel *k, CtKind kind, const void *obj);        /* -ENOENT */
        int (*delete)(Kernel *k, CtKind kind, const void *obj);        /* -ENOENT */
        /* Delete the whole table. */
        int (*flush)(Kernel *k, CtKind kind);
        /* Set the event socket's receive buffer; *ret_actual gets what the kernel granted. */
        int (*set_buffer_size)(Kernel *k, uint32_t size, uint32_t *ret_actual);
        /*
         * Optional: create n objects (CtEntry or CtExpect, as create) with as few system calls as
         * possible. ret_errors[i] gets the outcome of objs[i]: 0 or a negative errno (-EEXIST).
         * Returns 0 when every object was tried, a negative errno when none was.
         */
        int (*create_batch)(Kernel *k, CtKind kind, const void *const *objs, size_t n,
                            int *ret_errors);
} KernelOps;

struct Kernel {
        const KernelOps *ops;
        KernelHandlers handlers;
        KernelSettings settings;
        FilterConfig *bpf_filter;       /* owned copy of settings.bpf_filter */
        KernelStats stats;
        uint32_t buffer_size;           /* current event socket buffer, as granted */
        void *data;                     /* the implementation's */
};

extern const KernelOps kernel_netlink_ops;

int kernel_new(const KernelOps *ops, const KernelSettings *settings, const KernelHandlers *handlers,
               Kernel **ret);
Kernel *kernel_free(Kernel *k);
DEFINE_CLEANUP_FUNC(Kernel *, kernel_free);

int kernel_subscribe(Kernel *k, sd_event *e);
int kernel_dump(Kernel *k, CtKind kind, KernelDumpFunc f, void *userdata);
int kernel_get(Kernel *k, CtKind kind, const void *obj, void *ret_obj);
int kernel_create(Kernel *k, CtKind kind, const void *obj);
/*
 * Create n objects, ret_errors[i] = 0 or the negative errno of objs[i]. ops->create_batch where
 * the implementation has it, else one ops->create after the other. Returns the number of objects
 * that failed, or a negative errno (bad arguments, or the batch failed as a whole).
 */
int kernel_create_batch(Kernel *k, CtKind kind, const void *const *objs, size_t n, int *ret_errors);
int kernel_update(Kernel *k, CtKind kind, const void *obj);
int kernel_delete(Kernel *k, CtKind kind, const void *obj);
int kernel_set_buffer_size(Kernel *k, uint32_t size);
/* Double the event buffer, up to 'max' (0 = no growth). Returns 1 if it grew, 0 if at the limit. */
int kernel_grow_buffer(Kernel *k, uint32_t max);
/*
 * Flush a table. With no filter, the whole table (ops->flush); with one, dump it and delete
 * only the objects that pass the filter (as 1.4.7 does). *ret_deleted counts deletions.
 */
int kernel_flush(Kernel *k, CtKind kind, const FilterConfig *f, uint64_t *ret_deleted);
