/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The Filter clause of conntrackd.conf (spec §4.5): protocol, address and TCP state sets, AND-ed.
 * Pure: evaluated in user space on every local event, dump and resync; kernel-netlink.c also
 * turns it into a BPF program on the event socket when From Kernelspace is given.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ct-entry.h"

typedef enum FilterPolicy {
        FILTER_NONE,            /* no such set in the clause: everything passes */
        FILTER_ACCEPT,          /* only matching objects pass */
        FILTER_IGNORE,          /* matching objects are dropped */
        _FILTER_POLICY_MAX,
        _FILTER_POLICY_INVALID = -EINVAL,
} FilterPolicy;

/* "none", "accept", "ignore" */
const char *filter_policy_to_string(FilterPolicy p);
FilterPolicy filter_policy_from_string(const char *s);

typedef struct FilterNetwork {
        int family;             /* AF_INET or AF_INET6 */
        CtAddr addr;            /* network order, host bits cleared */
        uint8_t prefixlen;      /* 0..32 / 0..128; 32/128 = exact address */
} FilterNetwork;

typedef struct FilterConfig {
        bool kernelspace;       /* From Kernelspace: also attach as BPF */

        FilterPolicy protocol_policy;
        bool protocols[256];    /* by IPPROTO number */

        FilterPolicy address_policy;
        FilterNetwork *networks;
        size_t n_networks;

        FilterPolicy state_policy;
        bool tcp_states[_CT_TCP_MAX];
} FilterConfig;

int filter_config_new(FilterConfig **ret);
FilterConfig *filter_config_free(FilterConfig *f);
DEFINE_CLEANUP_FUNC(FilterConfig *, filter_config_free);
/* Deep copy. */
int filter_config_dup(const FilterConfig *f, FilterConfig **ret);
int filter_config_add_network(FilterConfig *f, const FilterNetwork *n);

/* Parse "10.0.0.0/8", "fe80::/10", "192.168.1.1" into a FilterNetwork; -EINVAL if invalid. */
int filter_network_parse(const char *s, FilterNetwork *ret);

/* True if the conntrack passes the filter (NULL filter: everything passes). An address matches
 * if the original source or the reply source (the two real endpoints) is in a network. */
bool filter_match_ct(const FilterConfig *f, const CtEntry *e);
/* Expectations are filtered by their master tuple's protocol and addresses. */
bool filter_match_expect(const FilterConfig *f, const CtExpect *x);
