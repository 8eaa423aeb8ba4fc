/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "ctl-output.h"

void json_print_string(FILE *f, const char *s) {
        fputc('"', f);
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                switch (c) {
                case '"':  fputs("\\\"", f); break;
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '\r': fputs("\\r", f); break;
                case '\t': fputs("\\t", f); break;
                case '\b': fputs("\\b", f); break;
                case '\f': fputs("\\f", f); break;
                default:
                        if (c < 0x20 || c == 0x7f)
                                fprintf(f, "\\u%04x", c);
                        else
                                fputc(c, f);
                }
        }
        fputc('"', f);
}

void json_print_entry_value(FILE *f, const StatsEntry *e) {
        if (e->type == STATS_VALUE_STRING)
                json_print_string(f, e->string_value ?: "");
        else
                fprintf(f, "%" PRIu64, e->uint_value);
}

void json_print_table(FILE *f, const StatsTable *t) {
        fputc('{', f);
        for (size_t i = 0; i < t->n_entries; i++) {
                if (i > 0)
                        fputc(',', f);
                json_print_string(f, t->entries[i].key);
                fputc(':', f);
                json_print_entry_value(f, &t->entries[i]);
        }
        fputc('}', f);
}

void table_print(FILE *f, const StatsTable *t, const char *key_title, const char *value_title,
                 bool legend) {
        int width = legend ? (int) strlen(key_title) : 0;

        for (size_t i = 0; i < t->n_entries; i++)
                width = MAX(width, (int) strlen(t->entries[i].key));

        if (legend)
                fprintf(f, "%-*s %s\n", width, key_title, value_title);
        for (size_t i = 0; i < t->n_entries; i++) {
                const StatsEntry *e = &t->entries[i];

                if (e->type == STATS_VALUE_STRING)
                        fprintf(f, "%-*s %s\n", width, e->key, e->string_value ?: "");
                else
                        fprintf(f, "%-*s %" PRIu64 "\n", width, e->key, e->uint_value);
        }
}

char *format_timespan(uint64_t seconds, char buf[static TIMESPAN_MAX]) {
        static const struct {
                const char *suffix;
                uint64_t secs;
        } units[] = {
                { "d", 86400 },
                { "h", 3600 },
                { "min", 60 },
                { "s", 1 },
        };
        size_t n = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                uint64_t v = seconds / units[i].secs;

                seconds %= units[i].secs;
                if (v == 0 && !(i == ELEMENTSOF(units) - 1 && n == 0))
                        continue;
                n += (size_t) snprintf(buf + n, TIMESPAN_MAX - n, "%s%" PRIu64 "%s",
                                       n > 0 ? " " : "", v, units[i].suffix);
        }
        return buf;
}

char *format_timestamp(uint64_t realtime_usec, bool iso, char buf[static TIMESTAMP_MAX]) {
        time_t sec = (time_t) (realtime_usec / USEC_PER_SEC);
        struct tm tm;
        size_t n;

        if (!localtime_r(&sec, &tm)) {
                snprintf(buf, TIMESTAMP_MAX, "@%" PRIu64, realtime_usec);
                return buf;
        }
        n = strftime(buf, TIMESTAMP_MAX, iso ? "%Y-%m-%dT%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
        n += (size_t) snprintf(buf + n, TIMESTAMP_MAX - n, ".%06" PRIu64,
                               realtime_usec % USEC_PER_SEC);
        if (iso)
                strftime(buf + n, TIMESTAMP_MAX - n, "%z", &tm);
        return buf;
}
