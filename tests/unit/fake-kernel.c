/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "fake-kernel.h"

typedef struct FakeKernel {
        CtEntry *ct;
        size_t n_ct, n_ct_alloc;
        CtExpect *exp;
        size_t n_exp, n_exp_alloc;
        unsigned fail_next;
        int fail_error;
        uint32_t buffer_size;
        unsigned batches;
} FakeKernel;

static FakeKernel *fk(Kernel *k) {
        return k->data;
}

static int fake_open(Kernel *k) {
        k->data = calloc(1, sizeof(FakeKernel));
        return k->data ? 0 : -ENOMEM;
}

static void fake_close(Kernel *k) {
        FakeKernel *f = fk(k);

        if (!f)
                return;
        free(f->ct);
        free(f->exp);
        free(f);
        k->data = NULL;
}

static int fake_subscribe(Kernel *k, sd_event *e) {
        fk(k)->buffer_size = k->settings.buffer_size ?: 212992;
        k->buffer_size = fk(k)->buffer_size;
        return 0;
}

static ssize_t find_ct(FakeKernel *f, const CtEntry *e) {
        for (size_t i = 0; i < f->n_ct; i++)
                if (ct_entry_same(&f->ct[i], e))
                        return (ssize_t) i;
        return -1;
}

static ssize_t find_exp(FakeKernel *f, const CtExpect *x) {
        for (size_t i = 0; i < f->n_exp; i++)
                if (ct_expect_same(&f->exp[i], x))
                        return (ssize_t) i;
        return -1;
}

static int fake_dump(Kernel *k, CtKind kind, KernelDumpFunc fn, void *userdata) {
        FakeKernel *f = fk(k);
        size_t n = kind == CT_KIND_CT ? f->n_ct : f->n_exp;

        for (size_t i = 0; i < n; i++) {
                int r = fn(kind == CT_KIND_CT ? (const void *) &f->ct[i] : (const void *) &f->exp[i],
                           userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_fail(FakeKernel *f) {
        if (f->fail_next > 0) {
                f->fail_next--;
                return f->fail_error;
        }
        return 0;
}

static int fake_get(Kernel *k, CtKind kind, const void *obj, void *ret_obj) {
        FakeKernel *f = fk(k);
        ssize_t i = kind == CT_KIND_CT ? find_ct(f, obj) : find_exp(f, obj);

        if (i < 0)
                return -ENOENT;
        if (kind == CT_KIND_CT)
                *(CtEntry *) ret_obj = f->ct[i];
        else
                *(CtExpect *) ret_obj = f->exp[i];
        return 0;
}

static int table_add(FakeKernel *f, CtKind kind, const void *obj) {
        if (kind == CT_KIND_CT) {
                if (find_ct(f, obj) >= 0)
                        return -EEXIST;
                if (f->n_ct == f->n_ct_alloc) {
                        size_t n = f->n_ct_alloc ? f->n_ct_alloc * 2 : 64;
                        CtEntry *p = realloc(f->ct, n * sizeof *p);
                        if (!p)
                                return -ENOMEM;
                        f->ct = p;
                        f->n_ct_alloc = n;
                }
                f->ct[f->n_ct++] = *(const CtEntry *) obj;
        } else {
                if (find_exp(f, obj) >= 0)
                        return -EEXIST;
                if (f->n_exp == f->n_exp_alloc) {
                        size_t n = f->n_exp_alloc ? f->n_exp_alloc * 2 : 16;
                        CtExpect *p = realloc(f->exp, n * sizeof *p);
                        if (!p)
                                return -ENOMEM;
                        f->exp = p;
                        f->n_exp_alloc = n;
                }
                f->exp[f->n_exp++] = *(const CtExpect *) obj;
        }
        return 0;
}

static int table_del(FakeKernel *f, CtKind kind, const void *obj) {
        ssize_t i = kind == CT_KIND_CT ? find_ct(f, obj) : find_exp(f, obj);

        if (i < 0)
                return -ENOENT;
        if (kind == CT_KIND_CT)
                f->ct[i] = f->ct[--f->n_ct];
        else
                f->exp[i] = f->exp[--f->n_exp];
        return 0;
}

static void emit(Kernel *k, CtKind kind, KernelEventType type, const void *obj, bool self) {
        k->stats.events_received++;
        if (kind == CT_KIND_CT && k->handlers.ct_event)
                k->handlers.ct_event(k, type, obj, self, k->handlers.userdata);
        else if (kind == CT_KIND_EXPECT && k->handlers.expect_event)
                k->handlers.expect_event(k, type, obj, self, k->handlers.userdata);
}

/* As the kernel: a related flow or an expectation needs its master in the table. */
static bool master_present(FakeKernel *f, CtKind kind, const void *obj) {
        CtEntry master = {};

        if (kind == CT_KIND_CT) {
                const CtEntry *e = obj;

                if (!(e->attrs & CT_ATTR_MASTER))
                        return true;
                master.orig = e->master;
                master.zone = e->zone;
        } else {
                const CtExpect *x = obj;

                master.orig = x->master;
                master.zone = x->zone;
        }
        return find_ct(f, &master) >= 0;
}

static int fake_create(Kernel *k, CtKind kind, const void *obj) {
        int r = check_fail(fk(k));

        if (r < 0)
                return r;
        if (!master_present(fk(k), kind, obj))
                return -ENOENT;
        r = table_add(fk(k), kind, obj);
        if (r < 0)
                return r;
        emit(k, kind, KERNEL_EVENT_NEW, obj, true);
        return 0;
}

static int fake_create_batch(Kernel *k, CtKind kind, const void *const *objs, size_t n,
                             int *ret_errors) {
        fk(k)->batches++;
        for (size_t i = 0; i < n; i++)
                ret_errors[i] = fake_create(k, kind, objs[i]);
        return 0;
}

static int fake_update(Kernel *k, CtKind kind, const void *obj) {
        FakeKernel *f = fk(k);
        ssize_t i;
        int r = check_fail(f);

        if (r < 0)
                return r;
        if (kind == CT_KIND_CT) {
                i = find_ct(f, obj);
                if (i < 0)
                        return -ENOENT;
                ct_entry_update(&f->ct[i], obj);
        } else {
                i = find_exp(f, obj);
                if (i < 0)
                        return -ENOENT;
                ct_expect_update(&f->exp[i], obj);
        }
        emit(k, kind, KERNEL_EVENT_UPDATE, obj, true);
        return 0;
}

static int fake_delete(Kernel *k, CtKind kind, const void *obj) {
        int r = check_fail(fk(k));

        if (r < 0)
                return r;
        r = table_del(fk(k), kind, obj);
        if (r < 0)
                return r;
        emit(k, kind, KERNEL_EVENT_DESTROY, obj, true);
        return 0;
}

static int fake_flush(Kernel *k, CtKind kind) {
        FakeKernel *f = fk(k);
        int r = check_fail(f);

        if (r < 0)
                return r;
        while (kind == CT_KIND_CT ? f->n_ct > 0 : f->n_exp > 0) {
                if (kind == CT_KIND_CT) {
                        CtEntry e = f->ct[--f->n_ct];
                        emit(k, kind, KERNEL_EVENT_DESTROY, &e, true);
                } else {
                        CtExpect x = f->exp[--f->n_exp];
                        emit(k, kind, KERNEL_EVENT_DESTROY, &x, true);
                }
        }
        return 0;
}

static int fake_set_buffer_size(Kernel *k, uint32_t size, uint32_t *ret_actual) {
        fk(k)->buffer_size = size;
        if (ret_actual)
                *ret_actual = size;
        return 0;
}

const KernelOps fake_kernel_ops = {
        .name = "fake",
        .open = fake_open,
        .close = fake_close,
        .subscribe = fake_subscribe,
        .dump = fake_dump,
        .get = fake_get,
        .create = fake_create,
        .update = fake_update,
        .delete = fake_delete,
        .flush = fake_flush,
        .set_buffer_size = fake_set_buffer_size,
        .create_batch = fake_create_batch,
};

/* The same without create_batch: kernel_create_batch() falls back to create. */
const KernelOps fake_kernel_ops_unbatched = {
        .name = "fake-unbatched",
        .open = fake_open,
        .close = fake_close,
        .subscribe = fake_subscribe,
        .dump = fake_dump,
        .get = fake_get,
        .create = fake_create,
        .update = fake_update,
        .delete = fake_delete,
        .flush = fake_flush,
        .set_buffer_size = fake_set_buffer_size,
};

int fake_kernel_add_ct(Kernel *k, const CtEntry *e, bool quiet) {
        int r = table_add(fk(k), CT_KIND_CT, e);

        if (r >= 0 && !quiet)
                emit(k, CT_KIND_CT, KERNEL_EVENT_NEW, e, false);
        return r;
}

int fake_kernel_update_ct(Kernel *k, const CtEntry *e, bool quiet) {
        FakeKernel *f = fk(k);
        ssize_t i = find_ct(f, e);

        if (i < 0)
                return -ENOENT;
        ct_entry_update(&f->ct[i], e);
        if (!quiet)
                emit(k, CT_KIND_CT, KERNEL_EVENT_UPDATE, &f->ct[i], false);
        return 0;
}

int fake_kernel_del_ct(Kernel *k, const CtEntry *e, bool quiet) {
        int r = table_del(fk(k), CT_KIND_CT, e);

        if (r >= 0 && !quiet)
                emit(k, CT_KIND_CT, KERNEL_EVENT_DESTROY, e, false);
        return r;
}

int fake_kernel_add_expect(Kernel *k, const CtExpect *x, bool quiet) {
        int r = table_add(fk(k), CT_KIND_EXPECT, x);

        if (r >= 0 && !quiet)
                emit(k, CT_KIND_EXPECT, KERNEL_EVENT_NEW, x, false);
        return r;
}

void fake_kernel_overrun(Kernel *k) {
        k->stats.overruns++;
        if (k->handlers.overrun)
                k->handlers.overrun(k, k->handlers.userdata);
}

size_t fake_kernel_count(Kernel *k, CtKind kind) {
        return kind == CT_KIND_CT ? fk(k)->n_ct : fk(k)->n_exp;
}

unsigned fake_kernel_batches(Kernel *k) {
        return fk(k)->batches;
}

void fake_kernel_fail_next(Kernel *k, unsigned n, int error) {
        fk(k)->fail_next = n;
        fk(k)->fail_error = error;
}

void fake_ct_make_tcp(CtEntry *e, unsigned i) {
        *e = (CtEntry) {
                .orig = {
                        .l3 = AF_INET,
                        .l4 = IPPROTO_TCP,
                        .src.ip = htonl(0x0a000000u | (i & 0xffffu)),
                        .dst.ip = htonl(0xc0a80001u),
                        .sport = (uint16_t) (1000 + i % 60000),
                        .dport = 80,
                },
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_TIMEOUT | CT_ATTR_MARK |
                         CT_ATTR_TCP_STATE,
                .status = 0x0e,         /* SEEN_REPLY | ASSURED | CONFIRMED */
                .timeout = 432000,
                .tcp.state = CT_TCP_ESTABLISHED,
        };
        /* more than 65536 flows: vary the destination too */
        e->orig.dst.ip = htonl(0xc0a80000u | ((i >> 16) & 0xffu) << 8 | 1u);
        ct_tuple_invert(&e->orig, &e->reply);
}
