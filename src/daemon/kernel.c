/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The generic half of the kernel boundary: argument checks, the owned copy of the settings,
 * buffer growth and filtered flushes, on top of any KernelOps (netlink, or a fake in tests).
 */

#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "log.h"
#include "string-table.h"

static const char *const kernel_event_type_table[_KERNEL_EVENT_MAX] = {
        [KERNEL_EVENT_NEW] = "new",
        [KERNEL_EVENT_UPDATE] = "update",
        [KERNEL_EVENT_DESTROY] = "destroy",
};

DEFINE_STRING_TABLE(kernel_event_type, KernelEventType);

static bool kind_valid(CtKind kind) {
        return kind >= 0 && kind < _CT_KIND_MAX;
}

int kernel_new(const KernelOps *ops, const KernelSettings *settings, const KernelHandlers *handlers,
               Kernel **ret) {
        _cleanup_(kernel_freep) Kernel *k = NULL;
        int r;

        if (!ops || !ops->open || !ret)
                return -EINVAL;

        k = malloc(sizeof(*k));
        if (!k)
                return -ENOMEM;
        *k = (Kernel) {
                .ops = ops,
                .settings = settings ? *settings : (KernelSettings) {},
                .handlers = handlers ? *handlers : (KernelHandlers) {},
        };

        /* the caller's filter may go away (config reload): keep our own copy */
        k->settings.bpf_filter = NULL;
        if (settings && settings->bpf_filter) {
                r = filter_config_dup(settings->bpf_filter, &k->bpf_filter);
                if (r < 0)
                        return r;
                k->settings.bpf_filter = k->bpf_filter;
        }

        r = ops->open(k);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(k);
        return 0;
}

Kernel *kernel_free(Kernel *k) {
        if (!k)
                return NULL;
        if (k->ops && k->ops->close)
                k->ops->close(k);
        filter_config_free(k->bpf_filter);
        free(k);
        return NULL;
}

int kernel_subscribe(Kernel *k, sd_event *e) {
        if (!k || !e)
                return -EINVAL;
        if (!k->ops->subscribe)
                return -EOPNOTSUPP;
        return k->ops->subscribe(k, e);
}

int kernel_dump(Kernel *k, CtKind kind, KernelDumpFunc f, void *userdata) {
        if (!k || !kind_valid(kind) || !f)
                return -EINVAL;
        if (!k->ops->dump)
                return -EOPNOTSUPP;
        return k->ops->dump(k, kind, f, userdata);
}

int kernel_get(Kernel *k, CtKind kind, const void *obj, void *ret_obj) {
        if (!k || !kind_valid(kind) || !obj || !ret_obj)
                return -EINVAL;
        if (!k->ops->get)
                return -EOPNOTSUPP;
        return k->ops->get(k, kind, obj, ret_obj);
}

int kernel_create(Kernel *k, CtKind kind, const void *obj) {
        if (!k || !kind_valid(kind) || !obj)
                return -EINVAL;
        if (!k->ops->create)
                return -EOPNOTSUPP;
        return k->ops->create(k, kind, obj);
}

int kernel_create_batch(Kernel *k, CtKind kind, const void *const *objs, size_t n, int *ret_errors) {
        size_t failed = 0;
        int r;

        if (!k || !kind_valid(kind) || (n > 0 && (!objs || !ret_errors)))
                return -EINVAL;
        if (n == 0)
                return 0;
        if (!k->ops->create_batch && !k->ops->create)
                return -EOPNOTSUPP;

        if (k->ops->create_batch) {
                r = k->ops->create_batch(k, kind, objs, n, ret_errors);
                if (r < 0)
                        return r;
        } else
                for (size_t i = 0; i < n; i++)
                        ret_errors[i] = objs[i] ? k->ops->create(k, kind, objs[i]) : -EINVAL;

        for (size_t i = 0; i < n; i++)
                if (ret_errors[i] < 0)
                        failed++;
        return (int) MIN(failed, (size_t) INT_MAX);
}

int kernel_update(Kernel *k, CtKind kind, const void *obj) {
        if (!k || !kind_valid(kind) || !obj)
                return -EINVAL;
        if (!k->ops->update)
                return -EOPNOTSUPP;
        return k->ops->update(k, kind, obj);
}

int kernel_delete(Kernel *k, CtKind kind, const void *obj) {
        if (!k || !kind_valid(kind) || !obj)
                return -EINVAL;
        if (!k->ops->delete)
                return -EOPNOTSUPP;
        return k->ops->delete(k, kind, obj);
}

int kernel_set_buffer_size(Kernel *k, uint32_t size) {
        uint32_t actual = 0;
        int r;

        if (!k || size == 0)
                return -EINVAL;
        if (!k->ops->set_buffer_size)
                return -EOPNOTSUPP;
        r = k->ops->set_buffer_size(k, size, &actual);
        if (r < 0)
                return r;
        k->buffer_size = actual;
        return 0;
}

int kernel_grow_buffer(Kernel *k, uint32_t max) {
        uint32_t cur, target, actual = 0;
        int r;

        if (!k)
                return -EINVAL;
        if (max == 0 || !k->ops->set_buffer_size)
                return 0;

        cur = k->buffer_size;
        if (cur >= max)
                return 0;
        target = cur > max / 2 ? max : MAX(cur * 2, 1u);

        r = k->ops->set_buffer_size(k, target, &actual);
        if (r < 0)
                return r;
        if (actual <= cur) {
                /* not granted (a limit outside ours, such as net.core.rmem_max without the
                 * privilege to exceed it): nothing more to gain */
                k->buffer_size = actual;
                return 0;
        }
        k->buffer_size = actual;
        return 1;
}

/* ---- flush ---- */

static int count_one(const void *obj, void *userdata) {
        uint64_t *n = userdata;

        (*n)++;
        return 0;
}

typedef struct ObjectList {
        CtKind kind;
        void *objs;             /* CtEntry[] or CtExpect[] */
        size_t n, allocated;
} ObjectList;

static size_t object_size(CtKind kind) {
        return kind == CT_KIND_CT ? sizeof(CtEntry) : sizeof(CtExpect);
}

static int collect_one(const void *obj, void *userdata) {
        ObjectList *l = userdata;
        size_t sz = object_size(l->kind);

        if (l->n == l->allocated) {
                size_t n = l->allocated ? l->allocated * 2 : 256;
                void *p;

                if (n > SIZE_MAX / sz)
                        return -ENOMEM;
                p = realloc(l->objs, n * sz);
                if (!p)
                        return -ENOMEM;
                l->objs = p;
                l->allocated = n;
        }
        memcpy((uint8_t *) l->objs + l->n * sz, obj, sz);
        l->n++;
        return 0;
}

int kernel_flush(Kernel *k, CtKind kind, const FilterConfig *f, uint64_t *ret_deleted) {
        ObjectList l = { .kind = kind };
        uint64_t deleted = 0, failed = 0;
        int r, first_error = 0;

        if (!k || !kind_valid(kind))
                return -EINVAL;

        if (!f) {
                uint64_t n = 0;

                if (!k->ops->flush)
                        return -EOPNOTSUPP;
                /* The kernel does not say how many it removed: count right before. */
                r = kernel_dump(k, kind, count_one, &n);
                if (r < 0)
                        return r;
                r = k->ops->flush(k, kind);
                if (r < 0)
                        return r;
                if (ret_deleted)
                        *ret_deleted = n;
                return 0;
        }

        /* Filtered: collect first, delete after, so the deletions do not disturb the dump. */
        r = kernel_dump(k, kind, collect_one, &l);
        if (r < 0) {
                free(l.objs);
                return r;
        }

        for (size_t i = 0; i < l.n; i++) {
                const void *obj = (const uint8_t *) l.objs + i * object_size(kind);
                bool pass = kind == CT_KIND_CT ? filter_match_ct(f, obj) :
                                                 filter_match_expect(f, obj);

                if (!pass)
                        continue;
                r = kernel_delete(k, kind, obj);
                if (r == -ENOENT)
                        continue;       /* gone meanwhile */
                if (r < 0) {
                        if (first_error == 0)
                                first_error = r;
                        failed++;
                        continue;
                }
                deleted++;
        }
        free(l.objs);

        if (failed > 0)
                log_warning_errno(first_error, "Failed to delete %" PRIu64 " of %" PRIu64
                                  " kernel %s entries while flushing: %m",
                                  failed, failed + deleted, ct_kind_to_string(kind));
        if (ret_deleted)
                *ret_deleted = deleted;
        return 0;
}
