/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The statistics of GetStatistics(section) as a small key -> value table, and the text that
 * conntrack-tools 1.4.7 prints for "conntrackd -s [section]" rendered from it (spec §5.3), byte
 * for byte: tabs, field widths and empty lines included.
 *
 * Pure: no bus, no fd. bus-client.c fills a table from a reply; the tests build one by hand.
 *
 * Keys are those of src/shared/stats-keys.h. A counter that the table lacks prints as 0. Which
 * blocks are printed depends on the "mode" entry and on which cache groups are present, as the
 * 1.4.7 daemon decided it by mode and configuration:
 *   - a section that 1.4.7 answers with nothing in this mode renders as nothing (e.g. "network"
 *     in Stats mode, "rsqueue" outside FT-FW, "expect" without expectation caches);
 *   - the link blocks ("-s", "-s network", "-s link") are printed for the links whose keys are
 *     present ("link<N>.type" ...); with no link keys (no replication channel yet) they are
 *     omitted;
 *   - "-s queue" is printed when the "queue" group is present (the queues belong to the
 *     replication), "-s rsqueue" in FT-FW mode, with the length "rsqueue.current" (or the number
 *     of listed entries) and the entries of "rsqueue.entries".
 *
 * Keys used beyond the cache/runtime keys of stats-keys.h (see the additions there):
 *   network.recv_malformed recv_bad_version recv_bad_header recv_bad_payload recv_bad_type
 *   recv_truncated recv_bad_size send_malformed; sequence.lost sequence.before;
 *   link<N>.type (s: multicast|udp|tcp) .device (s) .status (s: RUNNING|NO-CARRIER|DOWN)
 *   .role (s: ACTIVE|BACKUP) .server .client (s: connected|disconnected, TCP) .bytes_sent
 *   .bytes_recv .pkts_sent .pkts_recv .err_sent .err_recv;
 *   internal-bypass[-expect].new .upd .del (DisableInternalCache);
 *   external-inject[-expect].add_ok .add_fail .upd_ok .upd_fail .del_ok .del_fail
 *   (DisableExternalCache);
 *   queue.allocated_nodes; txqueue|errorq|rsqueue.current .max .nospace;
 *   rsqueue.entries (a(btt): control?, seq, flags; oldest first).
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

typedef enum StatsValueType {
        STATS_VALUE_UINT,       /* any integer type of the dictionary, as uint64 */
        STATS_VALUE_STRING,
        _STATS_VALUE_TYPE_MAX,
        _STATS_VALUE_TYPE_INVALID = -EINVAL,
} StatsValueType;

typedef struct StatsEntry {
        char *key;
        StatsValueType type;
        uint64_t uint_value;
        char *string_value;
} StatsEntry;

/* One entry of the FT-FW resend queue listing (-s rsqueue), oldest first. */
typedef struct StatsRsqueueEntry {
        bool control;           /* control message (flags meaningful) or object */
        uint64_t seq;
        uint64_t flags;
} StatsRsqueueEntry;

typedef struct StatsTable {
        StatsEntry *entries;
        size_t n_entries;
        StatsRsqueueEntry *rsqueue;
        size_t n_rsqueue;
} StatsTable;

int stats_table_new(StatsTable **ret);
StatsTable *stats_table_free(StatsTable *t);
DEFINE_CLEANUP_FUNC(StatsTable *, stats_table_free);

/* Add or replace an entry. */
int stats_table_set_uint(StatsTable *t, const char *key, uint64_t value);
int stats_table_set_string(StatsTable *t, const char *key, const char *value);
int stats_table_add_rsqueue(StatsTable *t, bool control, uint64_t seq, uint64_t flags);

const StatsEntry *stats_table_find(const StatsTable *t, const char *key);
/* The counter, or 0 if absent or not a number. */
uint64_t stats_table_get_uint(const StatsTable *t, const char *key);
/* The string, or NULL if absent or not a string. */
const char *stats_table_get_string(const StatsTable *t, const char *key);
/* Whether any key starts with "<group>." */
bool stats_table_has_group(const StatsTable *t, const char *group);
/* Sort the entries by key (strcmp order), for listings. */
void stats_table_sort(StatsTable *t);

/*
 * "daemon uptime:" of 1.4.7: optional "D day " / "D days ", then "H h M min" if H > 0, else
 * "M min". Writes into buf (64 bytes are always enough) and returns it.
 */
#define LEGACY_UPTIME_MAX 64
char *legacy_format_uptime(uint64_t seconds, char buf[static LEGACY_UPTIME_MAX]);

/*
 * Render "conntrackd -s [section]" for the table that GetStatistics(section) returned. 'section'
 * is the D-Bus section name ("general", "expect", "cache", "runtime", "network", "link", "queue",
 * "rsqueue", "process"); NULL means "general". Returns 0, or a negative errno if writing fails
 * (-EINVAL for an unknown section).
 */
int legacy_format_stats(FILE *f, const StatsTable *t, const char *section);
