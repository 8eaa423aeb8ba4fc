/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The statistics of GetStatistics("") as Prometheus metrics (conntrackctl stats
 * --format=prometheus|openmetrics), for node_exporter's textfile collector or any scraper.
 *
 * Pure: renders a StatsTable, no bus. The mapping from a key "GROUP.NAME" of stats-keys.h:
 *   - a number becomes a sample of the family conntrackd_GROUP_NAME (characters other than
 *     [a-zA-Z0-9_] become '_'), a counter unless the key is a level (cache sizes and limits,
 *     queue lengths, buffer size, uptime, times of the last event...), which is a gauge;
 *     counters carry the suffix _total;
 *   - NAME ending in "_usec" becomes "_seconds", the value in seconds (microsecond precision);
 *     runtime.uptime (seconds) becomes conntrackd_runtime_uptime_seconds;
 *   - link<N>.NAME becomes conntrackd_link_NAME{link="N",type="...",device="..."} (the type and
 *     device of that link);
 *   - the strings of a group become the labels of one info metric per group:
 *     conntrackd_info{mode="ftfw"}, conntrackd_link_info{link="0",type="udp",device="eth0",
 *     status="RUNNING",role="ACTIVE"}; except peer.state, a gauge per state:
 *     conntrackd_peer_state{state="alive"} 1 (and 0 for "unknown" and "lost").
 * Families are sorted by name, each with # HELP and # TYPE (and # UNIT for seconds in
 * OpenMetrics).
 */

#include <stdio.h>

#include "legacy-output.h"
#include "string-table.h"

typedef enum MetricsFormat {
        METRICS_FORMAT_PROMETHEUS,      /* text exposition format 0.0.4 */
        METRICS_FORMAT_OPENMETRICS,     /* OpenMetrics 1.0.0 text, ends with "# EOF" */
        _METRICS_FORMAT_MAX,
        _METRICS_FORMAT_INVALID = -EINVAL,
} MetricsFormat;

/* "prometheus", "openmetrics" */
DECLARE_STRING_TABLE(metrics_format, MetricsFormat);

/* Write every entry of the table as metrics. Returns 0, -ENOMEM, or -EIO if writing failed. */
int metrics_render(FILE *f, const StatsTable *t, MetricsFormat format);
