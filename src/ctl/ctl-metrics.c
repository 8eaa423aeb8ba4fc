/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-metrics.h"

#define METRICS_PREFIX "conntrackd"

static const char *const metrics_format_table[_METRICS_FORMAT_MAX] = {
        [METRICS_FORMAT_PROMETHEUS] = "prometheus",
        [METRICS_FORMAT_OPENMETRICS] = "openmetrics",
};

DEFINE_STRING_TABLE(metrics_format, MetricsFormat);

typedef enum MetricType {
        METRIC_COUNTER,
        METRIC_GAUGE,
        METRIC_INFO,
} MetricType;

typedef struct MetricLabel {
        char *name;
        char *value;
} MetricLabel;

typedef struct MetricSample {
        char *id;               /* info metrics: the link number, or "" for a group's only sample */
        MetricLabel *labels;
        size_t n_labels;
        uint64_t value;
        bool usec;              /* the value is in microseconds: printed as seconds */
} MetricSample;

typedef struct MetricFamily {
        char *name;             /* without the _total (counter) or _info (info) suffix */
        MetricType type;
        bool seconds;           /* the unit, for OpenMetrics' # UNIT */
        char *help;
        MetricSample *samples;
        size_t n_samples;
} MetricFamily;

typedef struct Metrics {
        MetricFamily *families;
        size_t n_families;
} Metrics;

/* ---- what the keys are ---- */

/* Groups that share descriptions: the class names used in the table below. */
static const char *const cache_groups[] = {
        "internal", "external", "internal-expect", "external-expect", NULL,
};
static const char *const queue_groups[] = { "txqueue", "errorq", "rsqueue", NULL };
static const char *const bypass_groups[] = { "internal-bypass", "internal-bypass-expect", NULL };
static const char *const inject_groups[] = { "external-inject", "external-inject-expect", NULL };

typedef struct KeyInfo {
        const char *group;      /* a group, or a class: "<cache>", "<link>", "<queue>" ... */
        const char *name;
        bool gauge;             /* a level, not a count of events */
        bool seconds;           /* a number of seconds (keys ending in _usec are seconds anyway) */
        const char *help;
} KeyInfo;

static const KeyInfo key_info[] = {
        { "<cache>", "objects", true, false, "Objects in the cache" },
        { "<cache>", "active", true, false, "Active objects in the cache" },
        { "<cache>", "hashed", true, false, "Objects in the cache's hash table" },
        { "<cache>", "add_ok", false, false, "Objects added to the cache" },
        { "<cache>", "add_fail", false, false, "Objects that could not be added to the cache" },
        { "<cache>", "add_fail_nomem", false, false, "Objects not added: out of memory" },
        { "<cache>", "add_fail_nospace", false, false,
          "Objects not added: the cache was full (HashLimit)" },
        { "<cache>", "upd_ok", false, false, "Objects of the cache updated" },
        { "<cache>", "upd_fail", false, false, "Object updates that failed" },
        { "<cache>", "upd_fail_enoent", false, false, "Updates of objects not in the cache" },
        { "<cache>", "del_ok", false, false, "Objects deleted from the cache" },
        { "<cache>", "del_fail", false, false, "Object deletions that failed" },
        { "<cache>", "del_fail_enoent", false, false, "Deletions of objects not in the cache" },
        { "<cache>", "limit", true, false, "Maximum number of objects in the cache (HashLimit)" },
        { "<cache>", "buckets", true, false, "Buckets of the cache's hash table (HashSize)" },
        { "traffic", "bytes", false, false, "Bytes of the destroyed flows (accounting)" },
        { "traffic", "packets", false, false, "Packets of the destroyed flows (accounting)" },
        { "message", "malformed", false, false, "Malformed replication messages received" },
        { "message", "lost", false, false, "Replication messages lost in sequence gaps" },
        { "runtime", "uptime", true, true, "Time since the daemon started" },
        { "runtime", "child_failed", false, false, "Always 0: no child processes" },
        { "runtime", "child_segfault", false, false, "Always 0: no child processes" },
        { "runtime", "child_termsig", false, false, "Always 0: no child processes" },
        { "runtime", "select_failed", false, false, "Always 0: no select() loop" },
        { "runtime", "wait_failed", false, false, "Always 0: no child processes" },
        { "runtime", "local_read_failed", false, false, "Always 0: D-Bus, no local socket" },
        { "runtime", "local_unknown_request", false, false,
          "D-Bus calls refused (bad arguments, not allowed)" },
        { "netlink", "events_received", false, false, "Event messages read from the kernel" },
        { "netlink", "events_filtered", false, false, "Events dropped by the Filter clause" },
        { "netlink", "events_unknown", false, false, "Event messages of an unknown type" },
        { "netlink", "catch_event_failed", false, false, "Event messages that could not be parsed" },
        { "netlink", "dump_unknown", false, false, "Dump messages that could not be parsed" },
        { "netlink", "overruns", false, false,
          "Overruns of the event socket (events lost, resync needed)" },
        { "netlink", "kernel_flushes", false, false, "Flushes of the kernel table" },
        { "netlink", "kernel_resyncs", false, false, "Resyncs of the internal cache with the kernel" },
        { "netlink", "buffer_size", true, false, "Receive buffer of the event socket in bytes" },
        { "netlink", "overrun_resyncs", false, false, "Resyncs scheduled after overruns" },
        { "netlink", "cache_full", false, false, "Objects not stored because a cache was full" },
        { "netlink", "events_new", false, false, "Conntrack NEW events handled" },
        { "netlink", "events_update", false, false, "Conntrack UPDATE events handled" },
        { "netlink", "events_destroy", false, false, "Conntrack DESTROY events handled" },
        { "netlink", "expect_events_new", false, false, "Expectation NEW events handled" },
        { "netlink", "expect_events_update", false, false, "Expectation UPDATE events handled" },
        { "netlink", "expect_events_destroy", false, false, "Expectation DESTROY events handled" },
        { "flowlog", "records", false, false, "Destroyed flows logged (Stats mode)" },
        { "flowlog", "lines_written", false, false, "Lines written to the flow log file" },
        { "flowlog", "lines_lost", false, false, "Flow log lines that could not be written" },
        { "flowlog", "reopens", false, false, "Reopens of the flow log file" },
        { "network", "recv_malformed", false, false, "Malformed replication messages received" },
        { "network", "recv_bad_version", false, false, "Messages received with a bad version" },
        { "network", "recv_bad_header", false, false, "Messages received with a bad header" },
        { "network", "recv_bad_payload", false, false, "Messages received with a bad payload" },
        { "network", "recv_bad_type", false, false, "Messages received of an unknown type" },
        { "network", "recv_truncated", false, false, "Truncated messages received" },
        { "network", "recv_bad_size", false, false, "Messages received with a bad size" },
        { "network", "send_malformed", false, false, "Objects that could not be encoded" },
        { "network", "msgs_sent", false, false, "Replication messages sent (data and control)" },
        { "network", "msgs_recv", false, false, "Valid replication messages received" },
        { "network", "datagrams_sent", false, false, "Replication datagrams sent" },
        { "network", "send_failed", false, false, "Replication datagrams that could not be sent" },
        { "network", "acks_sent", false, false, "FT-FW ACKs sent" },
        { "network", "acks_recv", false, false, "FT-FW ACKs received" },
        { "network", "nacks_sent", false, false, "FT-FW NACKs sent (we lost messages)" },
        { "network", "nacks_recv", false, false, "FT-FW NACKs received (the peer lost messages)" },
        { "network", "resyncs_sent", false, false, "Resync requests sent to the peer" },
        { "network", "resyncs_recv", false, false, "Resync requests received from the peer" },
        { "network", "resent", false, false, "Messages sent again after a NACK" },
        { "network", "bulks", false, false, "Bulk sends of the internal cache" },
        { "network", "auth_sealed", false, false, "Datagrams authenticated and sent" },
        { "network", "auth_accepted", false, false, "Authenticated datagrams accepted" },
        { "network", "auth_malformed", false, false, "Authenticated datagrams malformed" },
        { "network", "auth_unknown_key", false, false, "Datagrams with an unknown key id" },
        { "network", "auth_bad_mac", false, false, "Datagrams failing authentication" },
        { "network", "auth_replayed", false, false, "Replayed datagrams dropped" },
        { "network", "auth_old_epoch", false, false, "Datagrams of an old epoch dropped" },
        { "network", "auth_peer_restarts", false, false, "Peer restarts seen by authentication" },
        { "network", "auth_send_key_id", true, false, "Key id used for sending" },
        { "sequence", "lost", false, false, "Messages missing in sequence gaps" },
        { "sequence", "before", false, false, "Messages with an old sequence number (dropped)" },
        { "sequence", "gaps", false, false, "Gaps in the peer's sequence numbers" },
        { "peer", "last_seen_usec", true, false,
          "Time (Unix epoch) of the last valid message from the peer; 0 = never" },
        { "peer", "restarts", false, false, "Peer restarts (new FT-FW sequence space)" },
        { "sequence", "jumps_undone", false, false,
          "Sequence numbers far ahead that the peer's next messages disproved" },
        { "resync", "refreshes", false, false, "Resyncs of ours whose bulk was received" },
        { "resync", "purged", false, false,
          "External objects removed because the peers' bulk no longer had them" },
        { "resync", "in_sync", true, false,
          "1 when a complete bulk of the peers arrived and the peer is not lost (InSync)" },
        { "commit", "started", false, false, "Commits of the external cache started" },
        { "commit", "finished", false, false, "Commits of the external cache finished" },
        { "commit", "running", true, false, "Whether a commit is running (1) or not (0)" },
        { "commit", "objects_ok", false, false, "Objects committed to the kernel" },
        { "commit", "objects_failed", false, false, "Objects that failed to commit" },
        { "commit", "duration_usec", false, false, "Time spent in finished commits" },
        { "commit", "last_duration_usec", true, false, "Duration of the last commit" },
        { "commit", "last_finished_usec", true, false,
          "Time (Unix epoch) the last commit finished; 0 = never" },
        { "keepalived", "appeared", false, false, "Times keepalived came on the bus" },
        { "keepalived", "transitions", false, false,
          "State changes of the followed VRRP instance" },
        { "keepalived", "promotes", false, false, "Promotes run for a keepalived transition" },
        { "keepalived", "demotes", false, false, "Demotes run for a keepalived transition" },
        { "keepalived", "failed", false, false,
          "Promotes/Demotes for keepalived that failed or were refused" },
        { "keepalived", "queued", false, false,
          "keepalived transitions that waited for a running Promote/Demote" },
        { "keepalived", "track_file_errors", false, false, "Failed writes of the TrackFile" },
        { "keepalived", "last_duration_usec", true, false,
          "From the last keepalived transition to the end of its Promote/Demote" },
        { "keepalived", "last_transition_usec", true, false,
          "Time (Unix epoch) of the last keepalived transition; 0 = never" },
        { "keepalived", "last_done_usec", true, false,
          "Time (Unix epoch) the last Promote/Demote for keepalived finished; 0 = never" },
        { "keepalived", "gate_open", true, false,
          "Whether the TrackFile lets the VIPs come to this node (1) or not (0)" },
        { "store", "restored_objects", false, false,
          "Objects of systemd's fd store taken into the caches at start" },
        { "store", "saved_objects", false, false,
          "Objects in the fd store the previous instance handed over" },
        { "store", "rejected", false, false, "Cache stores discarded at start (corrupt, foreign)" },
        { "<link>", "bytes_sent", false, false, "Bytes sent on the link" },
        { "<link>", "bytes_recv", false, false, "Bytes received on the link" },
        { "<link>", "pkts_sent", false, false, "Datagrams sent on the link" },
        { "<link>", "pkts_recv", false, false, "Datagrams received on the link" },
        { "<link>", "err_sent", false, false, "Send errors on the link" },
        { "<link>", "err_recv", false, false, "Receive errors on the link" },
        { "queue", "allocated_nodes", true, false, "Messages held in the queues" },
        { "<queue>", "current", true, false, "Entries in the queue" },
        { "<queue>", "max", true, false, "Maximum length of the queue" },
        { "<queue>", "nospace", false, false, "Entries dropped: the queue was full" },
        { "<bypass>", "new", false, false, "New objects sent without an internal cache" },
        { "<bypass>", "upd", false, false, "Updates sent without an internal cache" },
        { "<bypass>", "del", false, false, "Deletions sent without an internal cache" },
        { "<inject>", "add_ok", false, false, "Objects injected into the kernel" },
        { "<inject>", "add_fail", false, false, "Objects that failed to be injected" },
        { "<inject>", "upd_ok", false, false, "Updates injected into the kernel" },
        { "<inject>", "upd_fail", false, false, "Updates that failed to be injected" },
        { "<inject>", "del_ok", false, false, "Deletions injected into the kernel" },
        { "<inject>", "del_fail", false, false, "Deletions that failed to be injected" },
};

/* The states of peer.state, each a sample of conntrackd_peer_state. */
static const char *const peer_states[] = { "unknown", "alive", "lost", NULL };

static bool strv_contains(const char *const *l, const char *s) {
        for (; *l; l++)
                if (streq(*l, s))
                        return true;
        return false;
}

/* "link<N>": the N, else NULL. */
static const char *link_number(const char *group) {
        const char *n;

        if (!group || !strneq(group, "link", 4) || !group[4])
                return NULL;
        n = group + 4;
        return strspn(n, "0123456789") == strlen(n) ? n : NULL;
}

static const char *group_class(const char *group) {
        if (!group)
                return "";
        if (link_number(group))
                return "<link>";
        if (strv_contains(cache_groups, group))
                return "<cache>";
        if (strv_contains(queue_groups, group))
                return "<queue>";
        if (strv_contains(bypass_groups, group))
                return "<bypass>";
        if (strv_contains(inject_groups, group))
                return "<inject>";
        return group;
}

/* The description of group.name; for "queue", the class <queue> comes after the group itself. */
static const KeyInfo *key_info_find(const char *group, const char *name) {
        const char *class = group_class(group);

        for (size_t i = 0; i < ELEMENTSOF(key_info); i++)
                if (streq(key_info[i].name, name) &&
                    (streq(key_info[i].group, class) || (group && streq(key_info[i].group, group))))
                        return &key_info[i];
        return NULL;
}

static bool endswith(const char *s, const char *suffix) {
        size_t n = strlen(s), k = strlen(suffix);

        return n >= k && streq(s + n - k, suffix);
}

/* ---- building ---- */

/* Append 'src' to the name being built, anything but [a-zA-Z0-9_] as '_'. */
static void name_append(char *buf, size_t *len, const char *src) {
        for (; *src; src++) {
                char c = *src;

                buf[(*len)++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                (c >= '0' && c <= '9') || c == '_' ? c : '_';
        }
        buf[*len] = '\0';
}

/* "conntrackd[_GROUP]_NAME[_SUFFIX]", sanitized. */
static char *metric_name(const char *group, const char *name, const char *suffix) {
        size_t len = 0, size = strlen(METRICS_PREFIX) + 3 + (group ? strlen(group) : 0) +
                               (name ? strlen(name) : 0) + (suffix ? strlen(suffix) : 0);
        char *buf = malloc(size);

        if (!buf)
                return NULL;
        name_append(buf, &len, METRICS_PREFIX);
        if (group) {
                name_append(buf, &len, "_");
                name_append(buf, &len, group);
        }
        if (name) {
                name_append(buf, &len, "_");
                name_append(buf, &len, name);
        }
        if (suffix)
                name_append(buf, &len, suffix);
        return buf;
}

/* A label name: sanitized, never empty, never starting with a digit or "__" (reserved). */
static char *label_name(const char *s) {
        size_t len = 0;
        char *buf = malloc(strlen(s) + 2);

        if (!buf)
                return NULL;
        buf[0] = '\0';
        if (!*s || (*s >= '0' && *s <= '9') || strneq(s, "__", 2))
                name_append(buf, &len, "l");
        name_append(buf, &len, s);
        if (len > 1 && buf[0] == '_' && buf[1] == '_')
                buf[0] = 'l';
        return buf;
}

static void sample_done(MetricSample *s) {
        for (size_t i = 0; i < s->n_labels; i++) {
                free(s->labels[i].name);
                free(s->labels[i].value);
        }
        free(s->labels);
        free(s->id);
}

static void metrics_done(Metrics *m) {
        for (size_t i = 0; i < m->n_families; i++) {
                MetricFamily *f = &m->families[i];

                for (size_t j = 0; j < f->n_samples; j++)
                        sample_done(&f->samples[j]);
                free(f->samples);
                free(f->name);
                free(f->help);
        }
        free(m->families);
        *m = (Metrics) {};
}

/* The family 'name' (taken over), created if new. NULL with *ret_conflict if it exists with
 * another type (two keys whose names sanitize alike: the later one is left out). */
static MetricFamily *family_get(Metrics *m, char *name, MetricType type, bool seconds,
                                const char *help, bool *ret_conflict) {
        MetricFamily *a;

        *ret_conflict = false;
        for (size_t i = 0; i < m->n_families; i++)
                if (streq(m->families[i].name, name)) {
                        free(name);
                        if (m->families[i].type != type || m->families[i].seconds != seconds) {
                                *ret_conflict = true;
                                return NULL;
                        }
                        return &m->families[i];
                }

        a = realloc(m->families, (m->n_families + 1) * sizeof *a);
        if (!a) {
                free(name);
                return NULL;
        }
        m->families = a;
        a[m->n_families] = (MetricFamily) {
                .name = name,
                .type = type,
                .seconds = seconds,
                .help = strdup(help),
        };
        if (!a[m->n_families].help) {
                free(name);
                return NULL;
        }
        return &a[m->n_families++];
}

static int sample_add_label(MetricSample *s, const char *name, const char *value) {
        MetricLabel *a;
        char *n, *v;

        n = label_name(name);
        if (!n)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_labels; i++)
                if (streq(s->labels[i].name, n)) {
                        free(n);
                        return 0;       /* first one wins */
                }
        v = strdup(value);
        a = v ? realloc(s->labels, (s->n_labels + 1) * sizeof *a) : NULL;
        if (!a) {
                free(n);
                free(v);
                return -ENOMEM;
        }
        s->labels = a;
        a[s->n_labels++] = (MetricLabel) { .name = n, .value = v };
        return 0;
}

static bool samples_same_labels(const MetricSample *a, const MetricSample *b) {
        if (a->n_labels != b->n_labels)
                return false;
        for (size_t i = 0; i < a->n_labels; i++)
                if (!streq(a->labels[i].name, b->labels[i].name) ||
                    !streq(a->labels[i].value, b->labels[i].value))
                        return false;
        return true;
}

/* Append a sample (its contents taken over). A second sample with the same labels is dropped. */
static int family_add_sample(MetricFamily *f, MetricSample *s) {
        MetricSample *a;

        for (size_t i = 0; i < f->n_samples; i++)
                if (samples_same_labels(&f->samples[i], s)) {
                        sample_done(s);
                        return 0;
                }
        a = realloc(f->samples, (f->n_samples + 1) * sizeof *a);
        if (!a) {
                sample_done(s);
                return -ENOMEM;
        }
        f->samples = a;
        a[f->n_samples++] = *s;
        *s = (MetricSample) {};
        return 0;
}

/* The identity labels of link<N>: link, type and device. */
static int add_link_labels(MetricSample *s, const StatsTable *t, const char *group,
                           const char *number) {
        static const char *const identity[] = { "type", "device" };
        int r;

        r = sample_add_label(s, "link", number);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(identity); i++) {
                char key[64];
                const char *v;

                snprintf(key, sizeof key, "%s.%s", group, identity[i]);
                v = stats_table_get_string(t, key);
                if (v)
                        r = sample_add_label(s, identity[i], v);
        }
        return r;
}

static char *help_for(const KeyInfo *info, const char *group, const char *name, bool link) {
        char *help = NULL;
        int r;

        if (!group)
                r = asprintf(&help, "%s (%s)", info ? info->help : "conntrackd statistic", name);
        else
                r = asprintf(&help, "%s (%s%s.%s)", info ? info->help : "conntrackd statistic",
                             link ? "link" : group, link ? "<N>" : "", name);
        return r < 0 ? NULL : help;
}

static int add_number(Metrics *m, const StatsTable *t, const char *group, const char *name,
                      uint64_t value) {
        const KeyInfo *info = key_info_find(group, name);
        const char *number = link_number(group);
        _cleanup_free_ char *help = NULL, *stem = NULL;
        MetricSample s = { .value = value };
        MetricFamily *f;
        bool seconds = false, conflict;
        char *family;
        int r;

        if (endswith(name, "_usec")) {
                stem = strndup(name, strlen(name) - strlen("_usec"));
                s.usec = seconds = true;
        } else
                stem = strdup(name);
        if (!stem)
                return -ENOMEM;
        if (info && info->seconds)
                seconds = true;

        family = metric_name(number ? "link" : group, stem, seconds ? "_seconds" : NULL);
        if (!family)
                return -ENOMEM;
        /* A counter's family name does not end in _total: its sample's does. */
        if (!(info && info->gauge) && endswith(family, "_total"))
                family[strlen(family) - strlen("_total")] = '\0';
        help = help_for(info, group, name, number);
        if (!help) {
                free(family);
                return -ENOMEM;
        }
        f = family_get(m, family, info && info->gauge ? METRIC_GAUGE : METRIC_COUNTER, seconds,
                       help, &conflict);
        if (!f)
                return conflict ? 0 : -ENOMEM;

        if (number) {
                r = add_link_labels(&s, t, group, number);
                if (r < 0) {
                        sample_done(&s);
                        return r;
                }
        }
        return family_add_sample(f, &s);
}

/* peer.state: one gauge per state, 1 for the current one. */
static int add_state(Metrics *m, const char *group, const char *name, const char *value) {
        _cleanup_free_ char *help = NULL;
        MetricFamily *f;
        bool conflict, known = strv_contains(peer_states, value);
        char *family;
        int r;

        family = metric_name(group, name, NULL);
        if (!family)
                return -ENOMEM;
        if (asprintf(&help, "The peer as the sync engine knows it: 1 for the current state "
                     "(%s.%s)", group, name) < 0) {
                free(family);
                return -ENOMEM;
        }
        f = family_get(m, family, METRIC_GAUGE, false, help, &conflict);
        if (!f)
                return conflict ? 0 : -ENOMEM;

        /* The known states, and a state of a later version after them. */
        for (size_t i = 0; i < ELEMENTSOF(peer_states) - 1 + !known; i++) {
                const char *state = peer_states[i] ?: value;
                MetricSample s = { .value = streq(state, value) };

                r = sample_add_label(&s, "state", state);
                if (r >= 0)
                        r = family_add_sample(f, &s);
                else
                        sample_done(&s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A string of a group: a label of the group's info metric (one sample per link). */
static int add_string(Metrics *m, const StatsTable *t, const char *group, const char *name,
                      const char *value) {
        const char *number = link_number(group);
        const char *id = number ?: "";
        _cleanup_free_ char *help = NULL;
        MetricSample *sample = NULL;
        MetricFamily *f;
        bool conflict;
        char *family;
        int r;

        if (group && streq(group, "peer") && streq(name, "state"))
                return add_state(m, group, name, value);

        family = metric_name(number ? "link" : group, NULL, NULL);
        if (!family)
                return -ENOMEM;
        if (!group)
                r = asprintf(&help, "The daemon: its settings as labels (%s)", name);
        else if (number)
                r = asprintf(&help, "Each replication link: its type, device and state as labels "
                             "(link<N>.*)");
        else
                r = asprintf(&help, "The strings of %s.* as labels", group);
        if (r < 0) {
                free(family);
                return -ENOMEM;
        }
        f = family_get(m, family, METRIC_INFO, false, help, &conflict);
        if (!f)
                return conflict ? 0 : -ENOMEM;

        for (size_t i = 0; i < f->n_samples; i++)
                if (streq(f->samples[i].id, id))
                        sample = &f->samples[i];
        if (!sample) {
                MetricSample s = { .value = 1, .id = strdup(id) };

                if (!s.id)
                        return -ENOMEM;
                r = number ? add_link_labels(&s, t, group, number) : 0;
                if (r >= 0)
                        r = family_add_sample(f, &s);
                else
                        sample_done(&s);
                if (r < 0)
                        return r;
                sample = &f->samples[f->n_samples - 1];
        }
        return sample_add_label(sample, name, value);
}

static int metrics_build(Metrics *m, const StatsTable *t) {
        for (size_t i = 0; i < t->n_entries; i++) {
                const StatsEntry *e = &t->entries[i];
                _cleanup_free_ char *group = NULL;
                const char *dot = strchr(e->key, '.'), *name = dot ? dot + 1 : e->key;
                int r;

                if (dot) {
                        group = strndup(e->key, (size_t) (dot - e->key));
                        if (!group)
                                return -ENOMEM;
                }
                if (!*name || (group && !*group))
                        continue;       /* no name to give it */
                if (e->type == STATS_VALUE_STRING)
                        r = add_string(m, t, group, name, e->string_value ?: "");
                else
                        r = add_number(m, t, group, name, e->uint_value);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- writing ---- */

static void print_escaped(FILE *f, const char *s, bool quote) {
        for (; *s; s++)
                switch (*s) {
                case '\\': fputs("\\\\", f); break;
                case '\n': fputs("\\n", f); break;
                case '"':  fputs(quote ? "\\\"" : "\"", f); break;
                default:   fputc(*s, f);
                }
}

static void print_sample(FILE *f, const char *name, const MetricSample *s) {
        fputs(name, f);
        if (s->n_labels > 0) {
                fputc('{', f);
                for (size_t i = 0; i < s->n_labels; i++) {
                        fprintf(f, "%s%s=\"", i > 0 ? "," : "", s->labels[i].name);
                        print_escaped(f, s->labels[i].value, true);
                        fputc('"', f);
                }
                fputc('}', f);
        }
        if (s->usec)
                fprintf(f, " %" PRIu64 ".%06" PRIu64 "\n", s->value / USEC_PER_SEC,
                        s->value % USEC_PER_SEC);
        else
                fprintf(f, " %" PRIu64 "\n", s->value);
}

static int compare_families(const void *a, const void *b) {
        return strcmp(((const MetricFamily *) a)->name, ((const MetricFamily *) b)->name);
}

int metrics_render(FILE *f, const StatsTable *t, MetricsFormat format) {
        _cleanup_(metrics_done) Metrics m = {};
        bool om = format == METRICS_FORMAT_OPENMETRICS;
        int r;

        if (format < 0 || format >= _METRICS_FORMAT_MAX)
                return -EINVAL;
        r = metrics_build(&m, t);
        if (r < 0)
                return r;
        if (m.n_families > 0)
                qsort(m.families, m.n_families, sizeof *m.families, compare_families);

        for (size_t i = 0; i < m.n_families; i++) {
                const MetricFamily *fam = &m.families[i];
                _cleanup_free_ char *sample_name = NULL;
                const char *type;

                if (fam->n_samples == 0)
                        continue;
                if (asprintf(&sample_name, "%s%s", fam->name,
                             fam->type == METRIC_COUNTER ? "_total" :
                             fam->type == METRIC_INFO ? "_info" : "") < 0)
                        return -ENOMEM;
                type = fam->type == METRIC_COUNTER ? "counter" :
                       fam->type == METRIC_INFO && om ? "info" : "gauge";

                /* The classic format names the family as its samples; OpenMetrics without the
                 * _total / _info suffix. */
                fprintf(f, "# HELP %s ", om ? fam->name : sample_name);
                print_escaped(f, fam->help, om);
                fprintf(f, "\n# TYPE %s %s\n", om ? fam->name : sample_name, type);
                if (om && fam->seconds)
                        fprintf(f, "# UNIT %s seconds\n", fam->name);
                for (size_t j = 0; j < fam->n_samples; j++)
                        print_sample(f, sample_name, &fam->samples[j]);
        }
        if (om)
                fputs("# EOF\n", f);
        return ferror(f) ? -EIO : 0;
}
