/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The statistics layouts of "conntrackd -s" as conntrack-tools 1.4.7 prints them (spec §5.3),
 * rendered from a key -> value table. The field widths (12 and 20 columns) and the tabs are part
 * of the interface: scripts and monitoring agents parse these lines.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "legacy-output.h"

/* ---- the table ---- */

int stats_table_new(StatsTable **ret) {
        StatsTable *t;

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

StatsTable *stats_table_free(StatsTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_entries; i++) {
                free(t->entries[i].key);
                free(t->entries[i].string_value);
        }
        free(t->entries);
        free(t->rsqueue);
        free(t);
        return NULL;
}

const StatsEntry *stats_table_find(const StatsTable *t, const char *key) {
        for (size_t i = 0; i < t->n_entries; i++)
                if (streq(t->entries[i].key, key))
                        return &t->entries[i];
        return NULL;
}

/* The entry of 'key', appended empty if new. */
static int stats_table_slot(StatsTable *t, const char *key, StatsEntry **ret) {
        StatsEntry *a;
        char *k;

        for (size_t i = 0; i < t->n_entries; i++)
                if (streq(t->entries[i].key, key)) {
                        free(t->entries[i].string_value);
                        t->entries[i].string_value = NULL;
                        *ret = &t->entries[i];
                        return 0;
                }

        k = strdup(key);
        if (!k)
                return -ENOMEM;
        a = reallocarray(t->entries, t->n_entries + 1, sizeof *a);
        if (!a) {
                free(k);
                return -ENOMEM;
        }
        t->entries = a;
        a[t->n_entries] = (StatsEntry) { .key = k };
        *ret = &a[t->n_entries++];
        return 0;
}

int stats_table_set_uint(StatsTable *t, const char *key, uint64_t value) {
        StatsEntry *e;
        int r;

        r = stats_table_slot(t, key, &e);
        if (r < 0)
                return r;
        e->type = STATS_VALUE_UINT;
        e->uint_value = value;
        return 0;
}

int stats_table_set_string(StatsTable *t, const char *key, const char *value) {
        StatsEntry *e;
        char *s;
        int r;

        s = strdup(value);
        if (!s)
                return -ENOMEM;
        r = stats_table_slot(t, key, &e);
        if (r < 0) {
                free(s);
                return r;
        }
        e->type = STATS_VALUE_STRING;
        e->uint_value = 0;
        e->string_value = s;
        return 0;
}

int stats_table_add_rsqueue(StatsTable *t, bool control, uint64_t seq, uint64_t flags) {
        StatsRsqueueEntry *a;

        a = reallocarray(t->rsqueue, t->n_rsqueue + 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        t->rsqueue = a;
        a[t->n_rsqueue++] = (StatsRsqueueEntry) { .control = control, .seq = seq, .flags = flags };
        return 0;
}

uint64_t stats_table_get_uint(const StatsTable *t, const char *key) {
        const StatsEntry *e = stats_table_find(t, key);

        return e && e->type == STATS_VALUE_UINT ? e->uint_value : 0;
}

const char *stats_table_get_string(const StatsTable *t, const char *key) {
        const StatsEntry *e = stats_table_find(t, key);

        return e && e->type == STATS_VALUE_STRING ? e->string_value : NULL;
}

bool stats_table_has_group(const StatsTable *t, const char *group) {
        size_t n = strlen(group);

        for (size_t i = 0; i < t->n_entries; i++)
                if (strneq(t->entries[i].key, group, n) && t->entries[i].key[n] == '.')
                        return true;
        return false;
}

static int entry_compare(const void *a, const void *b) {
        const StatsEntry *x = a, *y = b;

        return strcmp(x->key, y->key);
}

void stats_table_sort(StatsTable *t) {
        if (t->n_entries > 1)
                qsort(t->entries, t->n_entries, sizeof *t->entries, entry_compare);
}

/* ---- helpers ---- */

static const char *strempty(const char *s) {
        return s ?: "";
}

/* The counter "<group>.<name>"; 0 when absent. */
static uint64_t counter(const StatsTable *t, const char *group, const char *name) {
        char key[128];

        snprintf(key, sizeof key, "%s.%s", group, name);
        return stats_table_get_uint(t, key);
}

static const char *string_of(const StatsTable *t, const char *group, const char *name) {
        char key[128];

        snprintf(key, sizeof key, "%s.%s", group, name);
        return stats_table_get_string(t, key);
}

char *legacy_format_uptime(uint64_t seconds, char buf[static LEGACY_UPTIME_MAX]) {
        uint64_t days = seconds / 86400, hours = seconds / 3600 % 24, mins = seconds / 60 % 60;
        size_t n = 0;

        buf[0] = '\0';
        if (days > 0)
                n = (size_t) snprintf(buf, LEGACY_UPTIME_MAX, "%" PRIu64 " %s ", days,
                                      days == 1 ? "day" : "days");
        if (hours > 0)
                snprintf(buf + n, LEGACY_UPTIME_MAX - n, "%" PRIu64 " h %" PRIu64 " min", hours,
                         mins);
        else
                snprintf(buf + n, LEGACY_UPTIME_MAX - n, "%" PRIu64 " min", mins);
        return buf;
}

typedef enum LegacyMode {
        LEGACY_MODE_STATS,
        LEGACY_MODE_FTFW,
        LEGACY_MODE_NOTRACK,
        LEGACY_MODE_ALARM,
} LegacyMode;

static LegacyMode table_mode(const StatsTable *t) {
        const char *m = stats_table_get_string(t, "mode");

        if (!m)
                return LEGACY_MODE_FTFW;        /* no mode: render every block a Sync mode has */
        if (streq(m, "stats"))
                return LEGACY_MODE_STATS;
        if (streq(m, "notrack"))
                return LEGACY_MODE_NOTRACK;
        if (streq(m, "alarm"))
                return LEGACY_MODE_ALARM;
        return LEGACY_MODE_FTFW;
}

/* ---- blocks ---- */

/* Five lines of one cache and an empty line ("cache internal:", "cache stats:" ...). */
static void print_cache_block(FILE *f, const StatsTable *t, const char *group, const char *title) {
        fprintf(f, "cache %s:\n", title);
        fprintf(f, "current active connections:\t%12" PRIu64 "\n", counter(t, group, "active"));
        fprintf(f, "connections created:\t\t%12" PRIu64 "\tfailed:\t%12" PRIu64 "\n",
                counter(t, group, "add_ok"), counter(t, group, "add_fail"));
        fprintf(f, "connections updated:\t\t%12" PRIu64 "\tfailed:\t%12" PRIu64 "\n",
                counter(t, group, "upd_ok"), counter(t, group, "upd_fail"));
        fprintf(f, "connections destroyed:\t\t%12" PRIu64 "\tfailed:\t%12" PRIu64 "\n\n",
                counter(t, group, "del_ok"), counter(t, group, "del_fail"));
}

/* DisableInternalCache: what was passed on without caching. */
static void print_bypass_block(FILE *f, const StatsTable *t, const char *group) {
        fprintf(f, "internal bypass:\n");
        fprintf(f, "connections new:\t\t%12" PRIu64 "\n", counter(t, group, "new"));
        fprintf(f, "connections updated:\t\t%12" PRIu64 "\n", counter(t, group, "upd"));
        fprintf(f, "connections destroyed:\t\t%12" PRIu64 "\n\n", counter(t, group, "del"));
}

/* DisableExternalCache: what was injected into the kernel directly. */
static void print_inject_block(FILE *f, const StatsTable *t, const char *group) {
        fprintf(f, "external inject:\n");
        fprintf(f, "connections created:\t\t%12" PRIu64 "\tfailed:\t%12" PRIu64 "\n",
                counter(t, group, "add_ok"), counter(t, group, "add_fail"));
        fprintf(f, "connections updated:\t\t%12" PRIu64 "\tfailed:\t%12" PRIu64 "\n",
                counter(t, group, "upd_ok"), counter(t, group, "upd_fail"));
        fprintf(f, "connections destroyed:\t\t%12" PRIu64 "\tfailed:\t%12" PRIu64 "\n\n",
                counter(t, group, "del_ok"), counter(t, group, "del_fail"));
}

static void print_traffic_block(FILE *f, const StatsTable *t) {
        fprintf(f, "traffic processed:\n");
        fprintf(f, "%20" PRIu64 " Bytes      %20" PRIu64 " Pckts\n\n",
                counter(t, "traffic", "bytes"), counter(t, "traffic", "packets"));
}

static void print_message_tracking_block(FILE *f, const StatsTable *t) {
        fprintf(f, "message tracking:\n");
        fprintf(f, "%20" PRIu64 " Malformed msgs %20" PRIu64 " Lost msgs\n\n",
                counter(t, "message", "malformed"), counter(t, "message", "lost"));
}

/* Links: groups "link0" .. "link<LINKS_MAX-1>", in config order. */
#define LINKS_MAX 16

static const char *link_title_prefix(const char *type) {
        if (!type)
                return "UDP";
        if (streq(type, "multicast"))
                return "multicast";
        if (streq(type, "tcp"))
                return "TCP";
        return "UDP";
}

static bool link_present(const StatsTable *t, unsigned i, char group[static 16]) {
        snprintf(group, 16, "link%u", i);
        return stats_table_has_group(t, group);
}

static void print_link_counters(FILE *f, const StatsTable *t, const char *group) {
        fprintf(f, "%20" PRIu64 " Bytes sent %20" PRIu64 " Bytes recv\n",
                counter(t, group, "bytes_sent"), counter(t, group, "bytes_recv"));
        fprintf(f, "%20" PRIu64 " Pckts sent %20" PRIu64 " Pckts recv\n",
                counter(t, group, "pkts_sent"), counter(t, group, "pkts_recv"));
        fprintf(f, "%20" PRIu64 " Error send %20" PRIu64 " Error recv\n\n",
                counter(t, group, "err_sent"), counter(t, group, "err_recv"));
}

/* The block of the active link in "-s" and "-s network": the first link whose role is ACTIVE,
 * or the first link if none says. Nothing without links. */
static void print_active_link_block(FILE *f, const StatsTable *t) {
        char group[16], chosen[16] = "";
        const char *type;

        for (unsigned i = 0; i < LINKS_MAX; i++) {
                const char *role;

                if (!link_present(t, i, group))
                        continue;
                role = string_of(t, group, "role");
                if (!chosen[0] || (role && streq(role, "ACTIVE"))) {
                        memcpy(chosen, group, sizeof chosen);
                        if (role && streq(role, "ACTIVE"))
                                break;
                }
        }
        if (!chosen[0])
                return;

        type = string_of(t, chosen, "type");
        fprintf(f, "%s traffic (active device=%s)", link_title_prefix(type),
                strempty(string_of(t, chosen, "device")));
        if (type && streq(type, "tcp"))
                fprintf(f, " server=%s client=%s",
                        string_of(t, chosen, "server") ?: "disconnected",
                        string_of(t, chosen, "client") ?: "disconnected");
        fputs(":\n", f);
        print_link_counters(f, t, chosen);
}

static void print_link_blocks(FILE *f, const StatsTable *t) {
        char group[16];

        for (unsigned i = 0; i < LINKS_MAX; i++) {
                if (!link_present(t, i, group))
                        continue;
                fprintf(f, "%s traffic device=%s status=%s role=%s:\n",
                        link_title_prefix(string_of(t, group, "type")),
                        strempty(string_of(t, group, "device")),
                        string_of(t, group, "status") ?: "DOWN",
                        string_of(t, group, "role") ?: "BACKUP");
                print_link_counters(f, t, group);
        }
}

/* ---- sections ---- */

/* "-s" and "-s expect": suffix "" or "-expect" selects the cache groups. */
static void print_general(FILE *f, const StatsTable *t, const char *suffix) {
        char internal[32], external[32], bypass[32], inject[32];

        snprintf(internal, sizeof internal, "internal%s", suffix);
        snprintf(external, sizeof external, "external%s", suffix);
        snprintf(bypass, sizeof bypass, "internal-bypass%s", suffix);
        snprintf(inject, sizeof inject, "external-inject%s", suffix);

        if (table_mode(t) == LEGACY_MODE_STATS) {
                /* One cache; 1.4.7 answers "-s expect" with nothing in this mode. */
                if (!stats_table_has_group(t, internal))
                        return;
                print_cache_block(f, t, internal, "stats");
                print_traffic_block(f, t);
                return;
        }

        /* No cache of this kind at all: expectations without ExpectationSync. */
        if (!stats_table_has_group(t, internal) && !stats_table_has_group(t, external) &&
            !stats_table_has_group(t, bypass) && !stats_table_has_group(t, inject) &&
            !streq(suffix, ""))
                return;

        if (stats_table_has_group(t, internal))
                print_cache_block(f, t, internal, "internal");
        else
                print_bypass_block(f, t, bypass);
        if (stats_table_has_group(t, external))
                print_cache_block(f, t, external, "external");
        else
                print_inject_block(f, t, inject);
        print_traffic_block(f, t);
        print_active_link_block(f, t);
        print_message_tracking_block(f, t);
}

static void print_cache_extended(FILE *f, const StatsTable *t, const char *group,
                                 const char *title) {
        fprintf(f, "cache:%s\tactive objects:\t\t%12" PRIu64 "\n",
                title, counter(t, group, "objects"));
        fprintf(f, "\tactive/total entries:\t\t%12" PRIu64 "/%12" PRIu64 "\n",
                counter(t, group, "active"), counter(t, group, "hashed"));
        fprintf(f, "\tcreation OK/failed:\t\t%12" PRIu64 "/%12" PRIu64 "\n",
                counter(t, group, "add_ok"), counter(t, group, "add_fail"));
        fprintf(f, "\t\tno memory available:\t%12" PRIu64 "\n",
                counter(t, group, "add_fail_nomem"));
        fprintf(f, "\t\tno space left in cache:\t%12" PRIu64 "\n",
                counter(t, group, "add_fail_nospace"));
        fprintf(f, "\tupdate OK/failed:\t\t%12" PRIu64 "/%12" PRIu64 "\n",
                counter(t, group, "upd_ok"), counter(t, group, "upd_fail"));
        fprintf(f, "\t\tentry not found:\t%12" PRIu64 "\n", counter(t, group, "upd_fail_enoent"));
        fprintf(f, "\tdeletion created/failed:\t%12" PRIu64 "/%12" PRIu64 "\n",
                counter(t, group, "del_ok"), counter(t, group, "del_fail"));
        fprintf(f, "\t\tentry not found:\t%12" PRIu64 "\n\n", counter(t, group, "del_fail_enoent"));
}

static void print_cache(FILE *f, const StatsTable *t) {
        static const struct {
                const char *group, *title;
        } groups[] = {
                { "internal", "internal" },
                { "external", "external" },
                { "internal-expect", "internal" },
                { "external-expect", "external" },
        };
        bool stats = table_mode(t) == LEGACY_MODE_STATS;

        for (size_t i = 0; i < ELEMENTSOF(groups); i++) {
                if (!stats_table_has_group(t, groups[i].group))
                        continue;
                print_cache_extended(f, t, groups[i].group,
                                     stats && i == 0 ? "stats" : groups[i].title);
        }
}

static void print_runtime(FILE *f, const StatsTable *t) {
        char uptime[LEGACY_UPTIME_MAX];

        fprintf(f, "daemon uptime: %s\n\n",
                legacy_format_uptime(counter(t, "runtime", "uptime"), uptime));

        fprintf(f, "netlink stats:\n");
        fprintf(f, "\tevents received:\t%20" PRIu64 "\n", counter(t, "netlink", "events_received"));
        fprintf(f, "\tevents filtered:\t%20" PRIu64 "\n", counter(t, "netlink", "events_filtered"));
        fprintf(f, "\tevents unknown type:\t\t%12" PRIu64 "\n",
                counter(t, "netlink", "events_unknown"));
        fprintf(f, "\tcatch event failed:\t\t%12" PRIu64 "\n",
                counter(t, "netlink", "catch_event_failed"));
        fprintf(f, "\tdump unknown type:\t\t%12" PRIu64 "\n",
                counter(t, "netlink", "dump_unknown"));
        fprintf(f, "\tnetlink overrun:\t\t%12" PRIu64 "\n", counter(t, "netlink", "overruns"));
        fprintf(f, "\tflush kernel table:\t\t%12" PRIu64 "\n",
                counter(t, "netlink", "kernel_flushes"));
        fprintf(f, "\tresync with kernel table:\t%12" PRIu64 "\n",
                counter(t, "netlink", "kernel_resyncs"));
        fprintf(f, "\tcurrent buffer size (in bytes):\t%12" PRIu64 "\n\n",
                counter(t, "netlink", "buffer_size"));

        fprintf(f, "runtime stats:\n");
        fprintf(f, "\tchild process failed:\t\t%12" PRIu64 "\n",
                counter(t, "runtime", "child_failed"));
        fprintf(f, "\t\tchild process segfault:\t%12" PRIu64 "\n",
                counter(t, "runtime", "child_segfault"));
        fprintf(f, "\t\tchild process termsig:\t%12" PRIu64 "\n",
                counter(t, "runtime", "child_termsig"));
        fprintf(f, "\tselect failed:\t\t\t%12" PRIu64 "\n", counter(t, "runtime", "select_failed"));
        fprintf(f, "\twait failed:\t\t\t%12" PRIu64 "\n", counter(t, "runtime", "wait_failed"));
        fprintf(f, "\tlocal read failed:\t\t%12" PRIu64 "\n",
                counter(t, "runtime", "local_read_failed"));
        fprintf(f, "\tlocal unknown request:\t\t%12" PRIu64 "\n\n",
                counter(t, "runtime", "local_unknown_request"));
}

static void print_network(FILE *f, const StatsTable *t) {
        static const struct {
                const char *label, *key;
        } recv[] = {
                { "Malformed messages",     "recv_malformed" },
                { "Wrong protocol version", "recv_bad_version" },
                { "Malformed header",       "recv_bad_header" },
                { "Malformed payload",      "recv_bad_payload" },
                { "Bad message type",       "recv_bad_type" },
                { "Truncated message",      "recv_truncated" },
                { "Bad message size",       "recv_bad_size" },
        };

        fprintf(f, "network statistics:\n\trecv:\n");
        for (size_t i = 0; i < ELEMENTSOF(recv); i++)
                fprintf(f, "\t\t%s:\t%20" PRIu64 "\n",
                        recv[i].label, counter(t, "network", recv[i].key));
        fprintf(f, "\tsend:\n");
        fprintf(f, "\t\tMalformed messages:\t%20" PRIu64 "\n\n",
                counter(t, "network", "send_malformed"));

        fprintf(f, "sequence tracking statistics:\n\trecv:\n");
        fprintf(f, "\t\tPackets lost:\t\t%20" PRIu64 "\n", counter(t, "sequence", "lost"));
        fprintf(f, "\t\tPackets before:\t\t%20" PRIu64 "\n\n", counter(t, "sequence", "before"));

        print_active_link_block(f, t);
}

static void print_queue(FILE *f, const StatsTable *t) {
        static const char *const queues[] = { "txqueue", "errorq", "rsqueue" };

        fprintf(f, "allocated queue nodes:\t\t%12" PRIu64 "\n\n",
                counter(t, "queue", "allocated_nodes"));
        for (size_t i = 0; i < ELEMENTSOF(queues); i++) {
                fprintf(f, "queue %s:\n", queues[i]);
                fprintf(f, "current elements:\t\t%12" PRIu64 "\n",
                        counter(t, queues[i], "current"));
                fprintf(f, "maximum elements:\t\t%12" PRIu64 "\n", counter(t, queues[i], "max"));
                fprintf(f, "not enough space errors:\t%12" PRIu64 "\n\n",
                        counter(t, queues[i], "nospace"));
        }
}

static void print_rsqueue(FILE *f, const StatsTable *t) {
        const StatsEntry *len = stats_table_find(t, "rsqueue.current");

        fprintf(f, "resent queue (len=%" PRIu64 ")\n",
                len && len->type == STATS_VALUE_UINT ? len->uint_value : (uint64_t) t->n_rsqueue);
        for (size_t i = 0; i < t->n_rsqueue; i++) {
                if (t->rsqueue[i].control)
                        fprintf(f, "control -> seq:%" PRIu64 " flags:%" PRIu64 "\n",
                                t->rsqueue[i].seq,
                                t->rsqueue[i].flags);
                else
                        fprintf(f, "object -> seq:%" PRIu64 "\n", t->rsqueue[i].seq);
        }
}

int legacy_format_stats(FILE *f, const StatsTable *t, const char *section) {
        LegacyMode mode = table_mode(t);
        bool sync = mode != LEGACY_MODE_STATS;

        if (!section || streq(section, "general"))
                print_general(f, t, "");
        else if (streq(section, "expect"))
                print_general(f, t, "-expect");
        else if (streq(section, "cache"))
                print_cache(f, t);
        else if (streq(section, "runtime"))
                print_runtime(f, t);
        else if (streq(section, "network")) {
                if (sync)
                        print_network(f, t);
        } else if (streq(section, "link")) {
                if (sync)
                        print_link_blocks(f, t);
        } else if (streq(section, "queue")) {
                /* The queues belong to the replication: none without its keys. */
                if (sync && stats_table_has_group(t, "queue"))
                        print_queue(f, t);
        } else if (streq(section, "rsqueue")) {
                if (mode == LEGACY_MODE_FTFW)
                        print_rsqueue(f, t);
        } else if (streq(section, "process")) {
                /* One "PID=<pid> type=<type>" line per child process: the daemon forks none. */
        } else
                return -EINVAL;

        if (fflush(f) != 0)
                return negative_errno();
        if (ferror(f))
                return -EIO;
        return 0;
}
