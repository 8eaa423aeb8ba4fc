/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conntrackctl: query and control conntrackd over D-Bus (org.netfilter.conntrackd1.Manager), on
 * the system bus, on the private socket of a config file (-C), or at any address (--address).
 */
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-event.h>
#include <time.h>

#include "bus-client.h"
#include "config.h"
#include "ctl-metrics.h"
#include "ctl-output.h"
#include "legacy-output.h"
#include "log.h"
#include "stats-keys.h"

typedef enum OutputFormat {
        OUTPUT_PLAIN,
        OUTPUT_XML,
        OUTPUT_JSON,
        OUTPUT_PROMETHEUS,      /* stats only */
        OUTPUT_OPENMETRICS,     /* stats only */
        _OUTPUT_MAX,
        _OUTPUT_INVALID = -EINVAL,
} OutputFormat;

/* --format=: "text" is the default */
static const char *const output_format_table[_OUTPUT_MAX] = {
        [OUTPUT_PLAIN] = "text",
        [OUTPUT_XML] = "xml",
        [OUTPUT_JSON] = "json",
        [OUTPUT_PROMETHEUS] = "prometheus",
        [OUTPUT_OPENMETRICS] = "openmetrics",
};

static OutputFormat output_format_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(output_format_table); i++)
                if (streq(output_format_table[i], s))
                        return (OutputFormat) i;
        return _OUTPUT_INVALID;
}

/* Command line state: set once by parse_argv(). */
typedef struct Options {
        OutputFormat format;
        bool legend;
        const char *address;
        const char *config_path;
} Options;

typedef int (*VerbFunc)(const Options *o, int argc, char **argv);

typedef struct Verb {
        const char *name;
        int min_args, max_args;         /* arguments after the verb */
        VerbFunc func;
} Verb;

/* ---- helpers ---- */

/* Connect as the options say. Logs why it failed. */
static int connect_daemon(const Options *o, BusClient **ret) {
        int r;

        if (o->address) {
                r = bus_client_open(o->address, ret);
                if (r < 0)
                        return log_error_errno(r, "Failed to connect to conntrackd at %s: %m",
                                               o->address);
                return 0;
        }

        if (o->config_path) {
                _cleanup_(config_freep) Config *config = NULL;
                ConfigDiagnostics diag = {};

                r = config_load_file(o->config_path, &config, &diag);
                for (size_t i = 0; i < diag.n; i++)
                        if (r < 0 || diag.items[i].level <= LOG_ERR)
                                log_full(diag.items[i].level, "%s", diag.items[i].message);
                config_diagnostics_clear(&diag);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the configuration %s",
                                               o->config_path);
                if (!config->unix_path)
                        return log_error_errno(EINVAL, "%s has no UNIX { Path }: the daemon of "
                                               "this configuration is reachable on the system "
                                               "bus only (run without -C)", o->config_path);
                r = bus_client_open_unix(config->unix_path, ret);
                if (r < 0)
                        return log_error_errno(r, "Failed to connect to conntrackd at %s (UNIX "
                                               "Path of %s): %m", config->unix_path,
                                               o->config_path);
                return 0;
        }

        r = bus_client_open(NULL, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        return 0;
}

/* Report a failed call: unreachable daemon or the daemon's error message. Returns EXIT_FAILURE. */
static int call_failed(BusClient *c, const char *what, int r, const sd_bus_error *error) {
        if (bus_client_is_unreachable(c, r, error)) {
                if (c->system_bus)
                        log_error("Failed to reach conntrackd on the system bus (%s): %s",
                                  CONNTRACKD_BUS_NAME, bus_client_error_message(error, r));
                else
                        log_error("Failed to connect to conntrackd at %s: %s", c->address,
                                  bus_client_error_message(error, r));
        } else
                log_error("Failed to %s: %s", what, bus_client_error_message(error, r));
        return EXIT_FAILURE;
}

static int output_done(void) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
                if (errno == EPIPE)
                        return EXIT_SUCCESS;
                log_error_errno(negative_errno(), "Failed to write the output: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

static bool one_of(const char *s, const char *const *choices) {
        for (; *choices; choices++)
                if (streq(s, *choices))
                        return true;
        return false;
}

static int check_arg(const char *what, const char *s, const char *const *choices,
                     const char *hint) {
        if (one_of(s, choices))
                return 0;
        log_error("Invalid %s \"%s\": expected %s.", what, s, hint);
        return -EINVAL;
}

static bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

#define STRV(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* ---- status ---- */

static const char *const status_properties[] = {
        "Version", "CompatibleVersion", "Mode", "State", "ConfigFile", "UptimeSeconds",
        "InternalCacheSize", "ExternalCacheSize", "InternalExpectCacheSize",
        "ExternalExpectCacheSize", "CacheLimit", "EventsReceived", "CacheFull", "NetlinkOverruns",
        "NetlinkBufferSize", "KernelResyncs", "Role", "InSync", NULL,
};

static void status_line(const char *label, const char *format, ...) _printf_(2, 3);
static void status_line(const char *label, const char *format, ...) {
        va_list ap;

        printf("%16s: ", label);
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
}

static void print_cache_usage(const char *label, uint64_t n, uint64_t limit) {
        if (limit > 0)
                status_line(label, "%" PRIu64 " of %" PRIu64 " (%.1f%%)", n, limit,
                            100.0 * (double) n / (double) limit);
        else
                status_line(label, "%" PRIu64, n);
}

/* "3 min ago" for a CLOCK_REALTIME time in µs; "never" for 0 */
static const char *format_ago(uint64_t realtime_usec, char buf[static TIMESPAN_MAX + 8]) {
        char span[TIMESPAN_MAX];
        uint64_t now = now_usec(CLOCK_REALTIME);

        if (realtime_usec == 0)
                return "never";
        (void) snprintf(buf, TIMESPAN_MAX + 8, "%s ago",
                        format_timespan(now > realtime_usec ? (now - realtime_usec) / USEC_PER_SEC : 0,
                                        span));
        return buf;
}

/* The replication part of the status: the peer, InSync, the last commit (the failover). */
static void status_replication(BusClient *c, const StatsTable *props) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(stats_table_freep) StatsTable *net = NULL, *gen = NULL;
        char ago[TIMESPAN_MAX + 8];

        status_line("Role", "%s, %s", strna(stats_table_get_string(props, "Role")),
                    stats_table_get_uint(props, "InSync") ? "in sync with the peers" :
                                                            "not in sync (no complete bulk yet)");
        if (bus_client_get_statistics(c, "network", &error, &net) >= 0)
                status_line("Peer", "%s, last heard %s, %" PRIu64 " restart(s), %" PRIu64
                            " sequence gap(s)",
                            strna(stats_table_get_string(net, "peer.state")),
                            format_ago(stats_table_get_uint(net, "peer.last_seen_usec"), ago),
                            stats_table_get_uint(net, "peer.restarts"),
                            stats_table_get_uint(net, "sequence.gaps"));
        sd_bus_error_free(&error);
        if (bus_client_get_statistics(c, "general", &error, &gen) >= 0) {
                uint64_t finished = stats_table_get_uint(gen, "commit.finished");

                if (finished == 0)
                        status_line("Last commit", "none");
                else
                        status_line("Last commit", "%s, took %" PRIu64 " ms (%" PRIu64
                                    " commits, %" PRIu64 " objects failed in all)",
                                    format_ago(stats_table_get_uint(gen,
                                                                    "commit.last_finished_usec"),
                                               ago),
                                    stats_table_get_uint(gen, "commit.last_duration_usec") /
                                            USEC_PER_MSEC,
                                    finished, stats_table_get_uint(gen, "commit.objects_failed"));
        }
}

static int verb_status(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        char span[TIMESPAN_MAX];
        uint64_t limit;
        const char *mode;
        int r;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_get_properties(c, status_properties, &error, &t);
        if (r < 0)
                return call_failed(c, "read the daemon's properties", r, &error);

        if (o->format == OUTPUT_JSON) {
                json_print_table(stdout, t);
                putchar('\n');
                return output_done();
        }

#define S(name) strna(stats_table_get_string(t, name))
#define U(name) stats_table_get_uint(t, name)
        mode = S("Mode");
        limit = U("CacheLimit");
        status_line("Version", "%s (compatible with conntrack-tools %s)", S("Version"),
                    S("CompatibleVersion"));
        status_line("Mode", "%s", mode);
        status_line("State", "%s", S("State"));
        status_line("Config", "%s", S("ConfigFile"));
        status_line("Connected", "%s", bus_client_describe(c));
        status_line("Uptime", "%s", format_timespan(U("UptimeSeconds"), span));
        if (streq(mode, "stats"))
                print_cache_usage("Cache", U("InternalCacheSize"), limit);
        else {
                print_cache_usage("Internal cache", U("InternalCacheSize"), limit);
                print_cache_usage("External cache", U("ExternalCacheSize"), limit);
                status_line("Expect caches", "%" PRIu64 " internal, %" PRIu64 " external",
                            U("InternalExpectCacheSize"), U("ExternalExpectCacheSize"));
        }
        status_line("Events", "%" PRIu64 " received, %" PRIu64 " not stored (cache full)",
                    U("EventsReceived"), U("CacheFull"));
        status_line("Overruns", "%" PRIu64, U("NetlinkOverruns"));
        status_line("Netlink buffer", "%" PRIu64 " bytes", U("NetlinkBufferSize"));
        status_line("Kernel resyncs", "%" PRIu64, U("KernelResyncs"));
        if (!streq(mode, "stats"))
                status_replication(c, t);
#undef S
#undef U
        return output_done();
}

/* ---- dump ---- */

static int verb_dump(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        const char *kind = argc > 2 ? argv[2] : "ct";
        int fd, r;

        if (check_arg("cache", argv[1], STRV("internal", "external"), "internal or external") < 0 ||
            check_arg("kind", kind, STRV("ct", "expect"), "ct or expect") < 0)
                return EXIT_FAILURE;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_call(c, "DumpCache", BUS_CLIENT_LONG_TIMEOUT_USEC, &error, &reply, "sss",
                            argv[1], kind,
                            o->format == OUTPUT_JSON ? "json" :
                            o->format == OUTPUT_XML ? "xml" : "plain");
        if (r < 0)
                return call_failed(c, "dump the cache", r, &error);
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0) {
                log_error_errno(r, "Failed to read the answer of DumpCache(): %m");
                return EXIT_FAILURE;
        }
        r = copy_fd_to_fd(fd, STDOUT_FILENO);
        if (r == -EPIPE)
                return EXIT_SUCCESS;
        if (r < 0) {
                log_error_errno(r, "Failed to copy the dump to standard output: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

/* ---- flush, resync ---- */

/* "{"KEY":N}" or "BEFORE N AFTER" */
static int print_count(const Options *o, const char *json_key, const char *before, uint64_t n,
                       const char *after) {
        if (o->format == OUTPUT_JSON)
                printf("{\"%s\":%" PRIu64 "}\n", json_key, n);
        else
                printf("%s%" PRIu64 "%s\n", before, n, after);
        return output_done();
}

static int verb_flush(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        const char *kind = argc > 2 ? argv[2] : "all";
        uint64_t deleted;
        int r;

        if (check_arg("cache", argv[1], STRV("internal", "external", "all", "kernel"),
                      "internal, external, all or kernel") < 0 ||
            check_arg("kind", kind, STRV("ct", "expect", "all"), "ct, expect or all") < 0)
                return EXIT_FAILURE;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;

        if (!streq(argv[1], "kernel")) {
                r = bus_client_call(c, "FlushCache", BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL,
                                    "ss", argv[1], kind);
                if (r < 0)
                        return call_failed(c, "flush the cache", r, &error);
                return EXIT_SUCCESS;
        }

        r = bus_client_call(c, "FlushKernel", BUS_CLIENT_LONG_TIMEOUT_USEC, &error, &reply, "s",
                            kind);
        if (r < 0)
                return call_failed(c, "flush the kernel table", r, &error);
        r = sd_bus_message_read(reply, "t", &deleted);
        if (r < 0) {
                log_error_errno(r, "Failed to read the answer of FlushKernel(): %m");
                return EXIT_FAILURE;
        }
        return print_count(o, "deleted", "", deleted, " entries deleted from the kernel table.");
}

static int verb_resync(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        const char *kind = argc > 1 ? argv[1] : "all";
        uint64_t entries;
        int r;

        if (check_arg("kind", kind, STRV("ct", "expect", "all"), "ct, expect or all") < 0)
                return EXIT_FAILURE;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_call(c, "ResyncKernel", BUS_CLIENT_LONG_TIMEOUT_USEC, &error, &reply, "s",
                            kind);
        if (r < 0)
                return call_failed(c, "resync with the kernel table", r, &error);
        r = sd_bus_message_read(reply, "t", &entries);
        if (r < 0) {
                log_error_errno(r, "Failed to read the answer of ResyncKernel(): %m");
                return EXIT_FAILURE;
        }
        return print_count(o, "entries", "Internal cache resynced with the kernel table: ", entries,
                           " entries.");
}

/* ---- replication: commit, send-bulk, request-resync, reset-timers ---- */

static int verb_commit(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        const char *what = argc > 1 ? argv[1] : "all";
        BusCommitResult res;
        int r;

        if (check_arg("kind", what, STRV("all", "ct", "expect"), "all, ct or expect") < 0)
                return EXIT_FAILURE;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_commit(c, what, &error, &res);
        if (r < 0)
                return call_failed(c, "commit the external cache", r, &error);

        if (o->format == OUTPUT_JSON)
                printf("{\"flows_ok\":%" PRIu64 ",\"flows_failed\":%" PRIu64
                       ",\"expectations_ok\":%" PRIu64 ",\"expectations_failed\":%" PRIu64
                       ",\"duration_usec\":%" PRIu64 "}\n",
                       res.flows_ok, res.flows_failed, res.expectations_ok,
                       res.expectations_failed, res.duration_usec);
        else
                printf("Committed %" PRIu64 " flows (%" PRIu64 " failed) and %" PRIu64
                       " expectations (%" PRIu64 " failed) in %" PRIu64 ".%06" PRIu64 " s.\n",
                       res.flows_ok, res.flows_failed, res.expectations_ok,
                       res.expectations_failed, res.duration_usec / USEC_PER_SEC,
                       res.duration_usec % USEC_PER_SEC);
        return output_done();
}

/* A method without arguments nor results. */
static int call_simple(const Options *o, const char *method, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        int r;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, NULL);
        if (r < 0)
                return call_failed(c, what, r, &error);
        return EXIT_SUCCESS;
}

static int verb_send_bulk(const Options *o, int argc, char **argv) {
        return call_simple(o, "SendBulk", "send a bulk update");
}

static int verb_request_resync(const Options *o, int argc, char **argv) {
        return call_simple(o, "RequestResync", "request a resync from the peers");
}

static int verb_reset_timers(const Options *o, int argc, char **argv) {
        return call_simple(o, "ResetTimers", "schedule the flush of the kernel table");
}

/* ---- promote, demote ---- */

/* Promote()/Demote() reply: a{sv} results, t duration_usec. */
static int print_failover(const Options *o, sd_bus_message *reply, const char *verb) {
        uint64_t duration;
        bool first = true;
        int r;

        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        if (o->format == OUTPUT_JSON)
                putchar('{');
        while ((r = sd_bus_message_enter_container(reply, 'e', "sv")) > 0) {
                const char *key, *contents, *s;
                char type;
                uint64_t t;
                int b;

                r = sd_bus_message_read(reply, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(reply, &type, &contents);
                if (r >= 0)
                        r = sd_bus_message_enter_container(reply, 'v', contents);
                if (r < 0)
                        return r;
                if (o->format == OUTPUT_JSON)
                        printf("%s\"%s\":", first ? "" : ",", key);
                else
                        printf("%-27s ", key);
                if (streq(contents, "s")) {
                        r = sd_bus_message_read(reply, "s", &s);
                        if (r >= 0)
                                printf(o->format == OUTPUT_JSON ? "\"%s\"" : "%s", s);
                } else if (streq(contents, "b")) {
                        r = sd_bus_message_read(reply, "b", &b);
                        if (r >= 0)
                                printf("%s", o->format == OUTPUT_JSON ? (b ? "true" : "false") :
                                                                        yes_no(b));
                } else {
                        r = sd_bus_message_read(reply, "t", &t);
                        if (r >= 0)
                                printf("%" PRIu64, t);
                }
                if (r < 0)
                        return r;
                if (o->format != OUTPUT_JSON)
                        putchar('\n');
                first = false;
                r = sd_bus_message_exit_container(reply);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "t", &duration);
        if (r < 0)
                return r;
        if (o->format == OUTPUT_JSON)
                printf("%s\"duration_usec\":%" PRIu64 "}\n", first ? "" : ",", duration);
        else
                printf("%s done in %" PRIu64 ".%06" PRIu64 " s.\n", verb,
                       duration / USEC_PER_SEC, duration % USEC_PER_SEC);
        return 0;
}

static int call_failover(const Options *o, const char *method, const char *what) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        int r;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, &reply, NULL);
        if (r < 0)
                return call_failed(c, what, r, &error);
        r = print_failover(o, reply, method);
        if (r < 0) {
                log_error_errno(r, "Failed to parse the reply to %s(): %m", method);
                return EXIT_FAILURE;
        }
        return output_done();
}

static int verb_promote(const Options *o, int argc, char **argv) {
        return call_failover(o, "Promote", "promote this node");
}

static int verb_demote(const Options *o, int argc, char **argv) {
        return call_failover(o, "Demote", "demote this node");
}

/* ---- stats ---- */

static int verb_stats(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        const char *section = argc > 1 ? argv[1] : "";
        int r;

        if (!streq(section, "") &&
            check_arg("section", section, STRV(STATS_SECTIONS),
                      "general, expect, cache, runtime, network, link, queue, rsqueue or "
                      "process") < 0)
                return EXIT_FAILURE;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_get_statistics(c, section, &error, &t);
        if (r < 0)
                return call_failed(c, "get the statistics", r, &error);

        stats_table_sort(t);
        if (o->format == OUTPUT_PROMETHEUS || o->format == OUTPUT_OPENMETRICS) {
                r = metrics_render(stdout, t, o->format == OUTPUT_OPENMETRICS ?
                                              METRICS_FORMAT_OPENMETRICS :
                                              METRICS_FORMAT_PROMETHEUS);
                if (r == -ENOMEM) {
                        log_error_errno(r, "Failed to render the metrics: %m");
                        return EXIT_FAILURE;
                }
        } else if (o->format == OUTPUT_JSON) {
                json_print_table(stdout, t);
                putchar('\n');
        } else
                table_print(stdout, t, "COUNTER", "VALUE", o->legend);
        return output_done();
}

/* ---- reload, quit ---- */

static int verb_reload(const Options *o, int argc, char **argv) {
        return call_simple(o, "Reload", "reload the configuration");
}

static int verb_reopen_logs(const Options *o, int argc, char **argv) {
        return call_simple(o, "ReopenLogFiles", "reopen the log files");
}

static int verb_quit(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        int r;

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        r = bus_client_call(c, "Quit", BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, NULL);
        /* A peer-to-peer connection was established when the call was made (connect() of a UNIX
         * socket is synchronous): the daemon closing it before its answer arrived is success. */
        if (r < 0 && !c->system_bus && sd_bus_is_open(c->bus) <= 0 &&
            !sd_bus_error_has_name(&error, SD_BUS_ERROR_ACCESS_DENIED))
                return EXIT_SUCCESS;
        if (r < 0)
                return call_failed(c, "stop the daemon", r, &error);
        /* Peer-to-peer: return once the daemon has released its lock file and sockets. */
        if (!c->system_bus && bus_client_wait_closed(c, BUS_CLIENT_TIMEOUT_USEC) == -ETIMEDOUT)
                log_warning("The daemon accepted the request to stop but still runs");
        return EXIT_SUCCESS;
}

/* ---- monitor ---- */

typedef struct Monitor {
        const Options *options;
        sd_event *event;
        bool daemon_gone;
} Monitor;

/* Start of an event line: the timestamp, and the signal name. */
static void monitor_begin(const Monitor *m, const char *signal) {
        char ts[TIMESTAMP_MAX];
        struct timespec now;
        uint64_t usec;

        clock_gettime(CLOCK_REALTIME, &now);
        usec = (uint64_t) now.tv_sec * USEC_PER_SEC + (uint64_t) now.tv_nsec / NSEC_PER_USEC;
        if (m->options->format == OUTPUT_JSON) {
                printf("{\"timestamp\":\"%s\",\"realtime_usec\":%" PRIu64 ",\"signal\":",
                       format_timestamp(usec, true, ts), usec);
                json_print_string(stdout, signal);
        } else
                printf("%s %s", format_timestamp(usec, false, ts), signal);
}

static void monitor_field(const Monitor *m, const StatsEntry *e) {
        if (m->options->format == OUTPUT_JSON) {
                putchar(',');
                json_print_string(stdout, e->key);
                putchar(':');
                json_print_entry_value(stdout, e);
        } else if (e->type == STATS_VALUE_STRING)
                printf(" %s=%s", e->key, e->string_value ?: "");
        else
                printf(" %s=%" PRIu64, e->key, e->uint_value);
}

static int monitor_end(Monitor *m) {
        if (m->options->format == OUTPUT_JSON)
                putchar('}');
        putchar('\n');
        if (fflush(stdout) != 0) {
                /* Nobody reads any more (monitor | head): stop. */
                sd_event_exit(m->event, errno == EPIPE ? EXIT_SUCCESS : EXIT_FAILURE);
                return 0;
        }
        return 0;
}

static int on_manager_signal(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        static const struct {
                const char *member, *signature;
                const char *const names[5];
        } known[] = {
                { "Overrun", "tuu", { "total", "buffer_size", "resync_in_sec" } },
                { "ResyncDone", "stt", { "kind", "entries", "duration_usec" } },
                { "CommitDone", "ttttt", { "flows_ok", "flows_failed", "expectations_ok",
                                           "expectations_failed", "duration_usec" } },
        };
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        const char *member = sd_bus_message_get_member(message);
        const char *signature = sd_bus_message_get_signature(message, true);
        Monitor *m = userdata;
        int r;

        if (!member)
                return 0;
        r = stats_table_new(&t);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                if (!streq(member, known[i].member) || !streq_ptr(signature, known[i].signature))
                        continue;
                for (size_t a = 0; known[i].signature[a]; a++) {
                        char type = known[i].signature[a];

                        if (type == 's') {
                                const char *s;

                                r = sd_bus_message_read_basic(message, 's', &s);
                                if (r >= 0)
                                        r = stats_table_set_string(t, known[i].names[a], s);
                        } else if (type == 'u') {
                                uint32_t u;

                                r = sd_bus_message_read_basic(message, 'u', &u);
                                if (r >= 0)
                                        r = stats_table_set_uint(t, known[i].names[a], u);
                        } else {
                                uint64_t v;

                                r = sd_bus_message_read_basic(message, 't', &v);
                                if (r >= 0)
                                        r = stats_table_set_uint(t, known[i].names[a], v);
                        }
                        if (r < 0) {
                                log_warning_errno(r, "Failed to parse the %s signal: %m", member);
                                return 0;
                        }
                }
                break;
        }
        if (t->n_entries == 0 && signature && signature[0]) {
                /* A signal of a later version: name and signature only. */
                r = stats_table_set_string(t, "signature", signature);
                if (r < 0)
                        return r;
        }

        monitor_begin(m, member);
        for (size_t i = 0; i < t->n_entries; i++)
                monitor_field(m, &t->entries[i]);
        return monitor_end(m);
}

static int on_properties_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        Monitor *m = userdata;
        const char *interface;
        bool first = true;
        int r;

        r = sd_bus_message_read(message, "s", &interface);
        if (r < 0 || !streq(interface, CONNTRACKD_BUS_INTERFACE))
                return 0;
        r = stats_table_new(&t);
        if (r < 0)
                return r;
        r = bus_read_dictionary(message, t);
        if (r < 0) {
                log_warning_errno(r, "Failed to parse a PropertiesChanged signal: %m");
                return 0;
        }

        monitor_begin(m, "PropertiesChanged");
        if (m->options->format == OUTPUT_JSON) {
                printf(",\"changed\":");
                json_print_table(stdout, t);
                printf(",\"invalidated\":[");
        } else
                for (size_t i = 0; i < t->n_entries; i++)
                        monitor_field(m, &t->entries[i]);

        r = sd_bus_message_enter_container(message, 'a', "s");
        while (r > 0) {
                const char *name;

                r = sd_bus_message_read(message, "s", &name);
                if (r <= 0)
                        break;
                if (m->options->format == OUTPUT_JSON) {
                        if (!first)
                                putchar(',');
                        json_print_string(stdout, name);
                } else
                        printf(" %s=<invalidated>", name);
                first = false;
        }
        if (m->options->format == OUTPUT_JSON)
                putchar(']');
        return monitor_end(m);
}

static void monitor_daemon_gone(Monitor *m, const char *why) {
        if (m->daemon_gone)
                return;
        m->daemon_gone = true;
        log_info("conntrackd went away (%s), stopping.", why);
        sd_event_exit(m->event, EXIT_SUCCESS);
}

static int on_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        monitor_daemon_gone(userdata, "connection closed");
        return 0;
}

static int on_name_owner_changed(sd_bus_message *message, void *userdata, sd_bus_error *ret_error) {
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(message, "sss", &name, &old_owner, &new_owner) < 0)
                return 0;
        if (streq(name, CONNTRACKD_BUS_NAME) && streq(new_owner, ""))
                monitor_daemon_gone(userdata, "released its bus name");
        return 0;
}

static int verb_monitor(const Options *o, int argc, char **argv) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        const char *sender;
        Monitor m = { .options = o };
        sigset_t mask;
        int r;

        if (o->format == OUTPUT_XML) {
                log_error("--xml applies to dump only.");
                return EXIT_FAILURE;
        }

        r = connect_daemon(o, &c);
        if (r < 0)
                return EXIT_FAILURE;
        sender = c->system_bus ? CONNTRACKD_BUS_NAME : NULL;

        r = sd_event_new(&event);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate an event loop: %m");
                return EXIT_FAILURE;
        }
        m.event = event;

        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (sd_event_add_signal(event, NULL, SIGINT, NULL, NULL) < 0 ||
            sd_event_add_signal(event, NULL, SIGTERM, NULL, NULL) < 0) {
                log_error("Failed to watch SIGINT and SIGTERM.");
                return EXIT_FAILURE;
        }

        r = sd_bus_match_signal(c->bus, NULL, sender, CONNTRACKD_BUS_PATH, CONNTRACKD_BUS_INTERFACE,
                                NULL, on_manager_signal, &m);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, NULL, sender, CONNTRACKD_BUS_PATH,
                                        "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        on_properties_changed, &m);
        if (r >= 0)
                r = sd_bus_match_signal(c->bus, NULL, NULL, "/org/freedesktop/DBus/Local",
                                        "org.freedesktop.DBus.Local", "Disconnected",
                                        on_disconnected, &m);
        if (r >= 0 && c->system_bus)
                r = sd_bus_add_match(c->bus, NULL,
                                     "type='signal',sender='org.freedesktop.DBus',"
                                     "path='/org/freedesktop/DBus',"
                                     "interface='org.freedesktop.DBus',"
                                     "member='NameOwnerChanged',arg0='" CONNTRACKD_BUS_NAME "'",
                                     on_name_owner_changed, &m);
        if (r < 0)
                return call_failed(c, "subscribe to the daemon's signals", r, NULL);

        /* The daemon must be there now: the first call tells. */
        r = bus_client_get_properties(c, STRV("Version"), &error, &t);
        if (r < 0)
                return call_failed(c, "reach the daemon", r, &error);

        r = sd_bus_attach_event(c->bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0) {
                log_error_errno(r, "Failed to attach the bus to the event loop: %m");
                return EXIT_FAILURE;
        }

        setvbuf(stdout, NULL, _IOLBF, 0);
        r = sd_event_loop(event);
        (void) sd_bus_detach_event(c->bus);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                return EXIT_FAILURE;
        }
        return r;
}

/* ---- help, main ---- */

static void print_help(void) {
        printf("conntrackctl [OPTIONS...] COMMAND ...\n"
               "\n"
               "Query and control conntrackd, the connection tracking synchronisation daemon.\n"
               "\n"
               "Commands:\n"
               "  status                          Show the daemon's state, caches and counters\n"
               "                                  (the default command)\n"
               "  dump internal|external [ct|expect]\n"
               "                                  Print a cache (plain, --xml or --json)\n"
               "  flush internal|external|all [ct|expect|all]\n"
               "                                  Empty caches of the daemon\n"
               "  flush kernel [ct|expect|all]    Delete the kernel table's entries that pass\n"
               "                                  the Filter clause\n"
               "  resync [ct|expect|all]          Resync the internal cache with the kernel table\n"
               "  commit [all|ct|expect]          Write the external cache into the kernel table\n"
               "                                  (failover); waits until it is done\n"
               "  send-bulk                       Send the internal cache to the peers\n"
               "  request-resync                  Ask the peers to send their internal caches\n"
               "  reset-timers                    Flush the kernel table after PurgeTimeout\n"
               "                                  seconds\n"
               "  stats [SECTION]                 Show the counters of one section (general,\n"
               "                                  expect, cache, runtime, network, link, queue,\n"
               "                                  rsqueue, process) or of all\n"
               "  promote                         Take over: commit, flush, resync, bulk send,\n"
               "                                  in order; waits until all are done\n"
               "  demote                          Become a backup: flush the external cache,\n"
               "                                  request a resync, arm the purge\n"
               "  reload                          Re-read the configuration file\n"
               "  reopen-logs                     Open the log files anew (after logrotate)\n"
               "  quit                            Stop the daemon\n"
               "  monitor                         Print the daemon's signals as they come\n"
               "  help                            Show this help\n"
               "\n"
               "Options:\n"
               "  -h --help                       Show this help\n"
               "     --version                    Show the version\n"
               "  -C --config=FILE                Talk to the daemon of this configuration file,\n"
               "                                  on its private socket (UNIX { Path })\n"
               "     --address=ADDRESS            Talk to the daemon at this D-Bus address\n"
               "                                  (peer-to-peer, e.g.\n"
               "                                  unix:path=/run/conntrackd/conntrackd.ctl)\n"
               "     --format=FORMAT              Output format: text (the default), json, xml,\n"
               "                                  prometheus or openmetrics (stats: metrics in\n"
               "                                  the Prometheus text format or OpenMetrics)\n"
               "     --json                       JSON output (dump, stats, status, monitor,\n"
               "                                  flush kernel, resync, commit, promote, demote)\n"
               "     --xml                        XML output (dump)\n"
               "     --no-legend                  No header line in tables\n"
               "\n"
               "Without -C or --address, conntrackctl talks to %s on the system bus.\n",
               CONNTRACKD_BUS_NAME);
}

static int verb_help(const Options *o, int argc, char **argv) {
        print_help();
        return EXIT_SUCCESS;
}

static const Verb verbs[] = {
        { "status",  0, 0, verb_status },
        { "dump",    1, 2, verb_dump },
        { "flush",   1, 2, verb_flush },
        { "resync",  0, 1, verb_resync },
        { "commit",  0, 1, verb_commit },
        { "send-bulk", 0, 0, verb_send_bulk },
        { "request-resync", 0, 0, verb_request_resync },
        { "reset-timers", 0, 0, verb_reset_timers },
        { "promote", 0, 0, verb_promote },
        { "demote", 0, 0, verb_demote },
        { "stats",   0, 1, verb_stats },
        { "reload",  0, 0, verb_reload },
        { "reopen-logs", 0, 0, verb_reopen_logs },
        { "quit",    0, 0, verb_quit },
        { "monitor", 0, 0, verb_monitor },
        { "help",    0, 0, verb_help },
};

enum {
        ARG_VERSION = 0x100,
        ARG_JSON,
        ARG_XML,
        ARG_NO_LEGEND,
        ARG_ADDRESS,
        ARG_FORMAT,
};

/* Returns 1 to go on, 0 to exit with success (--help, --version), <0 on error. */
static int parse_argv(int argc, char **argv, Options *o) {
        static const struct option options[] = {
                { "help",      no_argument,       NULL, 'h' },
                { "version",   no_argument,       NULL, ARG_VERSION },
                { "config",    required_argument, NULL, 'C' },
                { "address",   required_argument, NULL, ARG_ADDRESS },
                { "json",      no_argument,       NULL, ARG_JSON },
                { "xml",       no_argument,       NULL, ARG_XML },
                { "format",    required_argument, NULL, ARG_FORMAT },
                { "no-legend", no_argument,       NULL, ARG_NO_LEGEND },
                {}
        };
        OutputFormat format = _OUTPUT_INVALID, f;
        int c;

        /* "+": options end at the verb, so that verb arguments are never taken as options. */
        while ((c = getopt_long(argc, argv, "hC:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        print_help();
                        return 0;
                case ARG_VERSION:
                        printf("conntrackctl %s (compatible with conntrack-tools %s)\n",
                               PACKAGE_VERSION, LEGACY_VERSION);
                        return 0;
                case 'C':
                        o->config_path = optarg;
                        break;
                case ARG_ADDRESS:
                        o->address = optarg;
                        break;
                case ARG_JSON:
                case ARG_XML:
                case ARG_FORMAT:
                        f = c == ARG_JSON ? OUTPUT_JSON : c == ARG_XML ? OUTPUT_XML :
                            output_format_from_string(optarg);
                        if (f < 0)
                                return log_error_errno(EINVAL, "Invalid --format=%s: expected "
                                                       "text, json, xml, prometheus or "
                                                       "openmetrics.", optarg);
                        if (format >= 0 && format != f)
                                return log_error_errno(EINVAL, "--%s and --%s exclude each other.",
                                                       format == OUTPUT_JSON ? "json" :
                                                       format == OUTPUT_XML ? "xml" : "format",
                                                       c == ARG_JSON ? "json" :
                                                       c == ARG_XML ? "xml" : "format");
                        format = f;
                        break;
                case ARG_NO_LEGEND:
                        o->legend = false;
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }

        if (o->address && o->config_path)
                return log_error_errno(EINVAL, "--address and --config exclude each other.");
        o->format = format >= 0 ? format : OUTPUT_PLAIN;
        return 1;
}

int main(int argc, char **argv) {
        Options o = { .legend = true };
        const Verb *verb = NULL;
        int r, n;

        log_setup(LOG_TARGET_CONSOLE, LOG_INFO);
        /* Output to a closed pipe ends in EPIPE, handled where we write. */
        (void) signal(SIGPIPE, SIG_IGN);

        r = parse_argv(argc, argv, &o);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        argc -= optind;
        argv += optind;

        if (argc == 0) {
                static char *status_argv[] = { (char *) "status", NULL };

                argc = 1;
                argv = status_argv;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[0], verbs[i].name))
                        verb = &verbs[i];
        if (!verb) {
                log_error("Unknown command \"%s\"; see conntrackctl --help.", argv[0]);
                return EXIT_FAILURE;
        }
        n = argc - 1;
        if (n < verb->min_args) {
                log_error("Too few arguments for \"%s\"; see conntrackctl --help.", verb->name);
                return EXIT_FAILURE;
        }
        if (n > verb->max_args) {
                log_error("Too many arguments for \"%s\"; see conntrackctl --help.", verb->name);
                return EXIT_FAILURE;
        }
        if (o.format == OUTPUT_XML && verb->func != verb_dump) {
                log_error("--xml applies to dump only.");
                return EXIT_FAILURE;
        }
        if ((o.format == OUTPUT_PROMETHEUS || o.format == OUTPUT_OPENMETRICS) &&
            verb->func != verb_stats) {
                log_error("--format=%s applies to stats only.", output_format_table[o.format]);
                return EXIT_FAILURE;
        }
        return verb->func(&o, argc, argv);
}
