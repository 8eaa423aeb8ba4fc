/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The flow log of Stats mode (spec §4.6, §6.1): one record per destroyed flow,
 *   - to the Stats LogFile as 1.4.7 writes it: "<ctime date>\t<plain conntrack line>\n";
 *   - to syslog at LOG_INFO, the plain line without the date, if Stats Syslog is set;
 *   - to the journal as a structured entry (MESSAGE_ID_FLOW_DESTROYED, one FLOW_* field per tuple
 *     member, counters and timestamps), when the daemon logs to the journal.
 *
 * The file is opened with O_APPEND|O_CREAT|O_NOFOLLOW (a symlink is refused) and mode 0600.
 * Lines are buffered and written out by flow_log_flush() (the manager calls it once per loop
 * iteration, and flow_log_free() does at the end); a full buffer is written at once. A failed
 * write (ENOSPC, EIO ...) is never fatal: the lines are counted as lost, a warning is logged at
 * most once a minute, and the next write tries again, so logging resumes by itself once the disk
 * has room. A line cut short by a failed write is ended before the next one.
 */

#include <stdbool.h>
#include <stdint.h>

#include "ct-entry.h"

typedef struct FlowLogSettings {
        const char *path;               /* Stats LogFile; NULL: no file */
        int syslog_facility;            /* LOG_DAEMON, LOG_LOCAL0..7; -1: no syslog */
        bool journal;                   /* structured journal entries */
} FlowLogSettings;

typedef struct FlowLogStats {
        uint64_t lines_written;         /* complete lines in the file */
        uint64_t lines_lost;            /* lines a write error kept from the file */
        uint64_t records;               /* destroyed flows logged (file, syslog or journal) */
        uint64_t reopens;               /* successful reopens of the file */
} FlowLogStats;

/* Why a flow is logged: FLOW_END= of the journal record. */
typedef enum FlowEnd {
        FLOW_END_DESTROY,               /* the kernel's DESTROY event */
        FLOW_END_RESYNC,                /* a resync with the kernel table found it gone */
        _FLOW_END_MAX,
        _FLOW_END_INVALID = -EINVAL,
} FlowEnd;

/* "destroy", "resync" */
const char *flow_end_to_string(FlowEnd e);
FlowEnd flow_end_from_string(const char *s);

typedef struct FlowLog FlowLog;

/* Opens the file (negative errno if it cannot be opened, e.g. -ELOOP for a symlink). */
int flow_log_new(const FlowLogSettings *s, FlowLog **ret);
/* Flushes what is buffered, then closes. NULL-safe, returns NULL. */
FlowLog *flow_log_free(FlowLog *l);
DEFINE_CLEANUP_FUNC(FlowLog *, flow_log_free);

/*
 * Flush, then open the file again (logrotate moved it away), with new settings (a reload may
 * change the path or the syslog facility). If the file cannot be opened the old one stays in use
 * and a negative errno is returned.
 */
int flow_log_reopen(FlowLog *l, const FlowLogSettings *s);

/*
 * Log one destroyed flow. 'line' is what the file and syslog get (1.4.7 renders the kernel's
 * DESTROY event as it came); 'record' the entry for the journal fields (the event merged over
 * the cached flow: it may carry what the event lacks). 'now_realtime_usec' dates the file line.
 * Returns 0, or a negative errno if the line cannot be rendered (nothing logged); write errors
 * are not returned but counted (flow_log_stats()).
 */
int flow_log_write(FlowLog *l, const CtEntry *line, const CtEntry *record, FlowEnd end,
                   uint64_t now_realtime_usec);

/* Write out the buffered lines. 0, or the negative errno of a failed write (counted, logged). */
int flow_log_flush(FlowLog *l);
/* True if lines wait in the buffer. */
bool flow_log_pending(const FlowLog *l);

const FlowLogStats *flow_log_stats(const FlowLog *l);
const char *flow_log_path(const FlowLog *l);

/*
 * The plain line of a flow (nfct_snprintf's default rendering, without timeout, use count and
 * id), malloc'd, without a newline. And the file line: "<ctime date>\t<plain line>\n".
 */
int flow_log_format_line(const CtEntry *e, char **ret);
int flow_log_format_file_line(const char *plain, uint64_t realtime_usec, char **ret);

/*
 * The journal fields of a flow: a NULL-terminated array of malloc'd "KEY=value" strings
 * (MESSAGE=, MESSAGE_ID=, PRIORITY=6, FLOW_*), freed with flow_log_fields_free().
 */
int flow_log_record_fields(const CtEntry *e, const char *plain, FlowEnd end, char ***ret);
char **flow_log_fields_free(char **fields);
DEFINE_CLEANUP_FUNC(char **, flow_log_fields_free);
