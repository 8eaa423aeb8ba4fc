/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * An in-memory kernel behind the KernelOps table, for cache, manager and bus tests. The table is a
 * plain array; "events" are delivered synchronously by the fake_kernel_* helpers below, as the real
 * kernel would deliver them through the event socket. As the real kernel, create refuses a related
 * flow (CT_ATTR_MASTER) or an expectation whose master flow is not in the table (-ENOENT).
 */

#include "kernel.h"

extern const KernelOps fake_kernel_ops;
/* The same table without the create_batch operation (kernel_create_batch() loops on create). */
extern const KernelOps fake_kernel_ops_unbatched;

/* Change the fake table as a third party would (conntrack -I/-U/-D), and emit the event
 * unless 'quiet' (a lost event). */
int fake_kernel_add_ct(Kernel *k, const CtEntry *e, bool quiet);
int fake_kernel_update_ct(Kernel *k, const CtEntry *e, bool quiet);
int fake_kernel_del_ct(Kernel *k, const CtEntry *e, bool quiet);
int fake_kernel_add_expect(Kernel *k, const CtExpect *x, bool quiet);
/* Report an overrun to the handlers, as ENOBUFS would. */
void fake_kernel_overrun(Kernel *k);
size_t fake_kernel_count(Kernel *k, CtKind kind);
/* Calls of the create_batch operation so far. */
unsigned fake_kernel_batches(Kernel *k);
/* Make the next n write operations fail with 'error' (negative errno). */
void fake_kernel_fail_next(Kernel *k, unsigned n, int error);

/* A flow for tests: TCP 10.0.<i/256>.<i%256>:1000+i -> 192.168.0.1:80, ESTABLISHED, with reply. */
void fake_ct_make_tcp(CtEntry *e, unsigned i);
