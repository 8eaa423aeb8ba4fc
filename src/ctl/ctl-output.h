/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Output helpers of conntrackctl: JSON values, two-column tables, times. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "legacy-output.h"

/* A JSON string literal, quotes included. Bytes >= 0x80 pass through (UTF-8 assumed). */
void json_print_string(FILE *f, const char *s);
/* One value of a table as JSON: a number or a string. */
void json_print_entry_value(FILE *f, const StatsEntry *e);
/* The table as one JSON object, in table order, without a newline. */
void json_print_table(FILE *f, const StatsTable *t);

/* Two columns "KEY VALUE", the first as wide as the longest key; a header line with 'legend'.
 * 'key_title' and 'value_title' name the columns. */
void table_print(FILE *f, const StatsTable *t, const char *key_title, const char *value_title,
                 bool legend);

/* "3d 4h 5min 6s", "0s". */
#define TIMESPAN_MAX 64
char *format_timespan(uint64_t seconds, char buf[static TIMESPAN_MAX]);

/* Local time "YYYY-MM-DD HH:MM:SS.uuuuuu" or, with 'iso', "YYYY-MM-DDTHH:MM:SS.uuuuuu+hhmm". */
#define TIMESTAMP_MAX 64
char *format_timestamp(uint64_t realtime_usec, bool iso, char buf[static TIMESTAMP_MAX]);
