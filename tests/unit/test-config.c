/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sched.h>
#include <sys/socket.h>
#include <syslog.h>

#include "config.h"

#define PATH "test.conf"

/* A minimal valid channel, for configs that test something else. */
#define UDP_CHANNEL                                                                                \
        " UDP {\n"                                                                                 \
        "  IPv4_address 10.0.0.1\n"                                                                \
        "  IPv4_Destination_Address 10.0.0.2\n"                                                    \
        "  Port 3780\n"                                                                            \
        "  Interface eth0\n"                                                                       \
        " }\n"

static void dump_diag(const ConfigDiagnostics *d) {
        for (size_t i = 0; i < d->n; i++)
                g_test_message("diag[%zu] level %d: %s", i, d->items[i].level, d->items[i].message);
}

static size_t count_level(const ConfigDiagnostics *d, int level) {
        size_t n = 0;

        for (size_t i = 0; i < d->n; i++)
                n += d->items[i].level == level;
        return n;
}

static bool has_diag(const ConfigDiagnostics *d, int level, const char *message) {
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].level == level && streq(d->items[i].message, message))
                        return true;
        return false;
}

static void assert_diag(const ConfigDiagnostics *d, int level, const char *message) {
        if (!has_diag(d, level, message)) {
                dump_diag(d);
                g_error("expected diagnostic (level %d) not found: %s", level, message);
        }
}

/* Parse 'text' and require success without errors; warnings are left in 'd' (may be NULL). */
static Config *parse_ok(const char *text, ConfigDiagnostics *d) {
        ConfigDiagnostics local = {};
        Config *c = NULL;
        int r;

        if (!d)
                d = &local;
        r = config_parse_string(PATH, text, strlen(text), &c, d);
        if (r < 0 || count_level(d, LOG_ERR) > 0) {
                dump_diag(d);
                g_error("config unexpectedly rejected (%s):\n%s", g_strerror(-r), text);
        }
        g_assert_nonnull(c);
        g_assert_cmpstr(c->path, ==, PATH);
        config_diagnostics_clear(&local);
        return c;
}

/* Parse 'text', require -EINVAL, *ret untouched and exactly one error, equal to 'message'. */
static void parse_fail(const char *text, const char *message) {
        static Config sentinel_value;
        Config *c = &sentinel_value;
        ConfigDiagnostics d = {};
        int r;

        r = config_parse_string(PATH, text, strlen(text), &c, &d);
        if (r != -EINVAL || count_level(&d, LOG_ERR) != 1 || !has_diag(&d, LOG_ERR, message)) {
                dump_diag(&d);
                g_error("expected error '%s' (got r=%d) for:\n%s", message, r, text);
        }
        g_assert_true(c == &sentinel_value);
        /* the error is the last diagnostic: nothing is parsed after it */
        g_assert_cmpint(d.items[d.n - 1].level, ==, LOG_ERR);
        config_diagnostics_clear(&d);
}

static void test_string_tables(void) {
        for (ConfigMode m = 0; m < _CONFIG_MODE_MAX; m++)
                g_assert_cmpint(config_mode_from_string(config_mode_to_string(m)), ==, m);
        for (ChannelType t = 0; t < _CHANNEL_TYPE_MAX; t++)
                g_assert_cmpint(channel_type_from_string(channel_type_to_string(t)), ==, t);
        g_assert_cmpstr(config_mode_to_string(CONFIG_MODE_STATS), ==, "stats");
        g_assert_cmpstr(config_mode_to_string(CONFIG_MODE_FTFW), ==, "ftfw");
        g_assert_cmpstr(config_mode_to_string(CONFIG_MODE_NOTRACK), ==, "notrack");
        g_assert_cmpstr(config_mode_to_string(CONFIG_MODE_ALARM), ==, "alarm");
        g_assert_cmpstr(channel_type_to_string(CHANNEL_MULTICAST), ==, "multicast");
        g_assert_cmpstr(channel_type_to_string(CHANNEL_UDP), ==, "udp");
        g_assert_cmpstr(channel_type_to_string(CHANNEL_TCP), ==, "tcp");
        g_assert_null(config_mode_to_string(_CONFIG_MODE_MAX));
        g_assert_null(config_mode_to_string(_CONFIG_MODE_INVALID));
        g_assert_null(channel_type_to_string(_CHANNEL_TYPE_MAX));
        g_assert_cmpint(config_mode_from_string("FTFW"), ==, -EINVAL);
        g_assert_cmpint(config_mode_from_string(NULL), ==, -EINVAL);
        g_assert_cmpint(channel_type_from_string("sctp"), ==, -EINVAL);
}

static void assert_defaults(const Config *c) {
        g_assert_cmpuint(c->hash_size, ==, 65536);
        g_assert_cmpuint(c->hash_limit, ==, 262144);
        g_assert_null(c->log_file);
        g_assert_cmpint(c->syslog_facility, ==, -1);
        g_assert_cmpstr(c->lock_file, ==, "/var/lock/conntrackd.lock");
        g_assert_null(c->unix_path);
        g_assert_cmpuint(c->netlink_buffer_size, ==, NETLINK_BUFFER_SIZE_DEFAULT);
        g_assert_cmpuint(c->netlink_buffer_size_max_growth, ==, NETLINK_BUFFER_SIZE_MAX_GROWTH_DEFAULT);
        g_assert_cmpuint(c->netlink_overrun_resync, ==, 30);
        g_assert_false(c->netlink_events_reliable);
        g_assert_cmpuint(c->poll_secs, ==, 0);
        g_assert_cmpuint(c->event_iteration_limit, ==, 100);
        g_assert_null(c->filter);
        g_assert_false(c->scheduler_set);
        g_assert_cmpint(c->scheduler_policy, ==, SCHED_RR);
        g_assert_cmpint(c->scheduler_priority, ==, 99);
        g_assert_true(c->systemd);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_STATS);
        g_assert_cmpuint(c->resend_queue_size, ==, 131072);
        g_assert_cmpuint(c->ack_window_size, ==, 300);
        g_assert_cmpuint(c->commit_timeout, ==, 0);
        g_assert_cmpuint(c->purge_timeout, ==, 60);
        g_assert_false(c->disable_external_cache);
        g_assert_false(c->disable_internal_cache);
        g_assert_false(c->startup_resync);
        g_assert_cmpuint(c->refresh_time, ==, 60);
        g_assert_cmpuint(c->cache_timeout, ==, 180);
        g_assert_false(c->tcp_window_tracking);
        g_assert_false(c->expectation_sync.enabled);
        g_assert_null(c->expectation_sync.helpers);
        g_assert_cmpuint(c->error_queue_length, ==, 128);
        g_assert_cmpuint(c->n_channels, ==, 0);
        g_assert_null(c->stats_log_file);
        g_assert_cmpint(c->stats_syslog_facility, ==, -1);
        g_assert_false(c->has_helper_section);
}

static void test_defaults(void) {
        static const char blank[] = "# nothing\n\n   \t\r\n";
        ConfigDiagnostics d = {};
        Config *c = NULL;

        g_assert_cmpint(config_new_default(&c), ==, 0);
        assert_defaults(c);
        g_assert_null(config_free(c));
        g_assert_null(config_free(NULL));

        /* an empty file gives the same, with a warning */
        c = parse_ok("", &d);
        assert_defaults(c);
        assert_diag(&d, LOG_WARNING, PATH ": neither a Sync nor a Stats section: running in Stats mode");
        g_assert_cmpuint(d.n, ==, 1);
        config_free(c);
        config_diagnostics_clear(&d);
        g_assert_cmpuint(d.n, ==, 0);
        g_assert_null(d.items);
        config_diagnostics_clear(NULL);

        /* comments and blank lines only; a NULL diagnostics sink is fine */
        g_assert_cmpint(config_parse_string(NULL, blank, strlen(blank), &c, NULL), ==, 0);
        g_assert_cmpstr(c->path, ==, "conntrackd.conf");
        assert_defaults(c);
        config_free(c);

        /* explicit zeros are the same as not set (§4.9) */
        c = parse_ok("General { HashSize 0 HashLimit 0 EventIterationLimit 0 }\n"
                     "Sync { Mode FTFW { ResendQueueSize 0 ACKWindowSize 0 PurgeTimeout 0 }\n"
                     " RefreshTime 0 CacheTimeout 0\n"
                     " TCP { IPv4_address 1.1.1.1 IPv4_Destination_Address 1.1.1.2 Port 1 Interface a\n"
                     "       ErrorQueueLength 0 } }", NULL);
        g_assert_cmpuint(c->hash_size, ==, 65536);
        g_assert_cmpuint(c->hash_limit, ==, 262144);
        g_assert_cmpuint(c->event_iteration_limit, ==, 100);
        g_assert_cmpuint(c->resend_queue_size, ==, 131072);
        g_assert_cmpuint(c->ack_window_size, ==, 300);
        g_assert_cmpuint(c->purge_timeout, ==, 60);
        g_assert_cmpuint(c->refresh_time, ==, 60);
        g_assert_cmpuint(c->cache_timeout, ==, 180);
        g_assert_cmpuint(c->error_queue_length, ==, 128);
        config_free(c);
}

static void test_general_keywords(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("General {\n"
                     "  HashSize 1024\n"
                     "  HashLimit 4096\n"
                     "  LogFile /var/log/ctd.log\n"
                     "  Syslog local3\n"
                     "  LockFile /run/ctd.lock\n"
                     "  UNIX { Path /run/ctd.ctl }\n"
                     "  NetlinkBufferSize 1000\n"
                     "  NetlinkBufferSizeMaxGrowth 8000\n"
                     "  NetlinkOverrunResync 12\n"
                     "  NetlinkEventsReliable on\n"
                     "  EventIterationLimit 7\n"
                     "  Systemd off\n"
                     "}\n"
                     "Stats { LogFile /var/log/s.log Syslog local3 }\n", &d);
        g_assert_cmpuint(c->hash_size, ==, 1024);
        g_assert_cmpuint(c->hash_limit, ==, 4096);
        g_assert_cmpstr(c->log_file, ==, "/var/log/ctd.log");
        g_assert_cmpint(c->syslog_facility, ==, LOG_LOCAL3);
        g_assert_cmpstr(c->lock_file, ==, "/run/ctd.lock");
        g_assert_cmpstr(c->unix_path, ==, "/run/ctd.ctl");
        g_assert_cmpuint(c->netlink_buffer_size, ==, 1000);
        g_assert_cmpuint(c->netlink_buffer_size_max_growth, ==, 8000);
        g_assert_cmpuint(c->netlink_overrun_resync, ==, 12);
        g_assert_true(c->netlink_events_reliable);
        g_assert_cmpuint(c->event_iteration_limit, ==, 7);
        g_assert_false(c->systemd);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_STATS);
        g_assert_cmpstr(c->stats_log_file, ==, "/var/log/s.log");
        g_assert_cmpint(c->stats_syslog_facility, ==, LOG_LOCAL3);
        g_assert_null(c->filter);
        /* General Syslog is recognised but not implemented: said so (Stats Syslog and LogFile,
         * the flow log, are implemented) */
        g_assert_cmpuint(d.n, ==, 1);
        for (size_t i = 0; i < d.n; i++) {
                g_assert_cmpint(d.items[i].level, ==, LOG_WARNING);
                g_assert_nonnull(strstr(d.items[i].message, "not implemented"));
        }
        config_free(c);
        config_diagnostics_clear(&d);

        /* later values overwrite earlier ones, also across repeated sections */
        c = parse_ok("General { HashSize 1 LogFile on } Stats { }\nGeneral { HashSize 2 LogFile off }", NULL);
        g_assert_cmpuint(c->hash_size, ==, 2);
        g_assert_null(c->log_file);
        config_free(c);

        /* the largest 32-bit value */
        c = parse_ok("General { HashLimit 4294967295 } Stats { }", NULL);
        g_assert_cmpuint(c->hash_limit, ==, UINT32_MAX);
        config_free(c);

        /* a one-line file with comments right after values */
        c = parse_ok("General{HashSize 3#three\nHashLimit 9}Stats{LogFile on#x\n}", NULL);
        g_assert_cmpuint(c->hash_size, ==, 3);
        g_assert_cmpuint(c->hash_limit, ==, 9);
        g_assert_cmpstr(c->stats_log_file, ==, "/var/log/conntrackd-stats.log");
        config_free(c);
}

static void test_logfile_syslog(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("General { LogFile on Syslog on } Stats { LogFile yes Syslog on }", NULL);
        g_assert_cmpstr(c->log_file, ==, "/var/log/conntrackd.log");
        g_assert_cmpstr(c->stats_log_file, ==, "/var/log/conntrackd-stats.log");
        g_assert_cmpint(c->syslog_facility, ==, LOG_DAEMON);
        g_assert_cmpint(c->stats_syslog_facility, ==, LOG_DAEMON);
        config_free(c);

        c = parse_ok("General { LogFile on\n LogFile no\n Syslog daemon\n Syslog off } Stats { }", NULL);
        g_assert_null(c->log_file);
        g_assert_cmpint(c->syslog_facility, ==, -1);
        config_free(c);

        for (int i = 0; i <= 7; i++) {
                g_autofree char *text = g_strdup_printf("General { Syslog local%d } Stats { }", i);
                static const int fac[] = { LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3,
                                           LOG_LOCAL4, LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7 };

                c = parse_ok(text, NULL);
                g_assert_cmpint(c->syslog_facility, ==, fac[i]);
                config_free(c);
        }

        /* unknown facility names warn and keep the previous value */
        c = parse_ok("General {\n Syslog local1\n Syslog kern\n}\nStats { }", &d);
        g_assert_cmpint(c->syslog_facility, ==, LOG_LOCAL1);
        assert_diag(&d, LOG_WARNING,
                    PATH ":3: 'kern' is not a known syslog facility (daemon, local0 ... local7), ignoring");
        config_free(c);
        config_diagnostics_clear(&d);

        /* a different facility in Stats warns */
        c = parse_ok("General { Syslog local1 }\nStats {\n Syslog local2\n}", &d);
        g_assert_cmpint(c->stats_syslog_facility, ==, LOG_LOCAL2);
        assert_diag(&d, LOG_WARNING, PATH ":3: the Syslog facility of section Stats differs from the one "
                    "of section General, which is used for all messages");
        config_free(c);
        config_diagnostics_clear(&d);
}

static void test_netlink(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("General { NetlinkOverrunResync on } Stats { }", NULL);
        g_assert_cmpuint(c->netlink_overrun_resync, ==, 30);
        config_free(c);
        c = parse_ok("General { NetlinkOverrunResync OFF } Stats { }", NULL);
        g_assert_cmpuint(c->netlink_overrun_resync, ==, 0);
        config_free(c);
        c = parse_ok("General {\n NetlinkOverrunResync 0\n} Stats { }", &d);
        g_assert_cmpuint(c->netlink_overrun_resync, ==, 30);
        g_assert_cmpuint(count_level(&d, LOG_NOTICE), ==, 1);
        config_free(c);
        config_diagnostics_clear(&d);

        /* 1.4.x applies NetlinkBufferSize only up to NetlinkBufferSizeMaxGrowth */
        c = parse_ok("General {\n NetlinkBufferSize 2097152\n} Stats { }", &d);
        g_assert_cmpuint(c->netlink_buffer_size, ==, 0);
        assert_diag(&d, LOG_NOTICE, PATH ":2: NetlinkBufferSize 2097152 is greater than "
                    "NetlinkBufferSizeMaxGrowth 0: ignored, the kernel default is used");
        config_free(c);
        config_diagnostics_clear(&d);
        c = parse_ok("General { NetlinkBufferSize 100 NetlinkBufferSizeMaxGrowth 100 } Stats { }", &d);
        g_assert_cmpuint(c->netlink_buffer_size, ==, 100);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);
        config_diagnostics_clear(&d);
}

static void test_aliases(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("General { SocketBufferSize 5 SocketBufferSizeMaxGrowth 10 } Stats { }", &d);
        g_assert_cmpuint(c->netlink_buffer_size, ==, 5);
        g_assert_cmpuint(c->netlink_buffer_size_max_growth, ==, 10);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);
        config_diagnostics_clear(&d);

        /* one of the pair set: the other has the 1.4.x default, 0 */
        c = parse_ok("General { SocketBufferSizeMaxGrown 11 } Stats { }", NULL);
        g_assert_cmpuint(c->netlink_buffer_size_max_growth, ==, 11);
        g_assert_cmpuint(c->netlink_buffer_size, ==, 0);
        config_free(c);
        c = parse_ok("General { NetlinkBufferSize 0 } Stats { }", NULL);
        g_assert_cmpuint(c->netlink_buffer_size, ==, 0);
        g_assert_cmpuint(c->netlink_buffer_size_max_growth, ==, 0);
        config_free(c);

        c = parse_ok("General { Filter { State Accept { CLOSE for TCP } } } Stats { }", NULL);
        g_assert_true(c->filter->tcp_states[CT_TCP_CLOSE]);
        config_free(c);
        c = parse_ok("General { Filter { State Accept { CLOSED for TCP } } } Stats { }", NULL);
        g_assert_true(c->filter->tcp_states[CT_TCP_CLOSE]);
        config_free(c);
}

static void test_case_rules(void) {
        static const struct {
                const char *word;
                bool value;
        } bools[] = {
                { "on", true }, { "ON", true }, { "On", true }, { "oN", true },
                { "yes", true }, { "YES", true }, { "Yes", true },
                { "off", false }, { "OFF", false }, { "Off", false },
                { "no", false }, { "NO", false }, { "nO", false },
        };
        static const struct {
                const char *word;
                ConfigMode mode;
                bool warns;
        } modes[] = {
                { "FTFW", CONFIG_MODE_FTFW, false },
                { "ftfw", CONFIG_MODE_FTFW, false },
                { "FtFw", CONFIG_MODE_FTFW, false },
                { "ALARM", CONFIG_MODE_ALARM, false },
                { "alarm", CONFIG_MODE_ALARM, false },
                { "NOTRACK", CONFIG_MODE_NOTRACK, false },
                { "notrack", CONFIG_MODE_NOTRACK, false },
                { "NACK", CONFIG_MODE_FTFW, true },
                { "nack", CONFIG_MODE_FTFW, true },
                { "persistenT", CONFIG_MODE_ALARM, true },
                { "PERSISTENT", CONFIG_MODE_ALARM, true },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(bools); i++) {
                g_autofree char *text = g_strdup_printf("General { NetlinkEventsReliable %s Systemd %s } "
                                                        "Stats { }", bools[i].word, bools[i].word);
                Config *c = parse_ok(text, NULL);

                g_assert_cmpint(c->netlink_events_reliable, ==, bools[i].value);
                g_assert_cmpint(c->systemd, ==, bools[i].value);
                config_free(c);
        }

        for (size_t i = 0; i < G_N_ELEMENTS(modes); i++) {
                g_autofree char *text = g_strdup_printf("Sync {\n Mode %s { }\n" UDP_CHANNEL "}",
                                                        modes[i].word);
                g_autofree char *warning = NULL;
                ConfigDiagnostics d = {};
                Config *c = parse_ok(text, &d);

                g_assert_cmpint(c->mode, ==, modes[i].mode);
                g_assert_cmpuint(count_level(&d, LOG_WARNING), ==, modes[i].warns ? 1 : 0);
                if (modes[i].warns) {
                        warning = g_strdup_printf(PATH ":2: Mode %s is deprecated, use Mode %s", modes[i].word,
                                                  modes[i].mode == CONFIG_MODE_FTFW ? "FTFW" : "ALARM");
                        assert_diag(&d, LOG_WARNING, warning);
                }
                config_free(c);
                config_diagnostics_clear(&d);
        }

        /* a NACK block takes the FTFW keywords */
        Config *c = parse_ok("Sync { Mode NACK { ACKWindowSize 9 }" UDP_CHANNEL "}", NULL);
        g_assert_cmpuint(c->ack_window_size, ==, 9);
        config_free(c);

        /* mode scheduler types in any case */
        c = parse_ok("General { Scheduler { Type fifo } } Stats { }", NULL);
        g_assert_cmpint(c->scheduler_policy, ==, SCHED_FIFO);
        config_free(c);
        c = parse_ok("General { Scheduler { Type Rr } } Stats { }", NULL);
        g_assert_cmpint(c->scheduler_policy, ==, SCHED_RR);
        config_free(c);

        /* words made only of hex letters are names, not addresses (1.4.7 rejected these) */
        c = parse_ok("Sync { Mode FTFW { } UDP { IPv4_address 10.0.0.1 IPv4_Destination_Address 10.0.0.2 "
                     "Port 1 Interface dead } }", NULL);
        g_assert_cmpstr(c->channels[0].interface, ==, "dead");
        config_free(c);
}

static void test_sync_ftfw(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("Sync {\n"
                     "  Mode FTFW {\n"
                     "    ResendQueueSize 1000\n"
                     "    ACKWindowSize 20\n"
                     "    CommitTimeout 5\n"
                     "    PurgeTimeout 6\n"
                     "    DisableExternalCache off\n"
                     "    StartupResync on\n"
                     "  }\n"
                     "  RefreshTime 11\n"
                     "  CacheTimeout 12\n"
                     UDP_CHANNEL
                     "  Options {\n"
                     "    TCPWindowTracking on\n"
                     "    ExpectationSync on\n"
                     "  }\n"
                     "}\n", &d);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_FTFW);
        g_assert_cmpuint(c->resend_queue_size, ==, 1000);
        g_assert_cmpuint(c->ack_window_size, ==, 20);
        g_assert_cmpuint(c->commit_timeout, ==, 5);
        g_assert_cmpuint(c->purge_timeout, ==, 6);
        g_assert_false(c->disable_external_cache);
        g_assert_true(c->startup_resync);
        g_assert_cmpuint(c->refresh_time, ==, 11);
        g_assert_cmpuint(c->cache_timeout, ==, 12);
        g_assert_true(c->tcp_window_tracking);
        g_assert_true(c->expectation_sync.enabled);
        g_assert_null(c->expectation_sync.helpers);
        g_assert_cmpuint(c->n_channels, ==, 1);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);
        config_diagnostics_clear(&d);

        /* CommitTimeout and PurgeTimeout directly in Sync; CommitTimeout with DisableExternalCache warns */
        c = parse_ok("Sync {\n Mode FTFW { DisableExternalCache on }\n CommitTimeout 9\n PurgeTimeout 8\n"
                     UDP_CHANNEL "}", &d);
        g_assert_cmpuint(c->commit_timeout, ==, 9);
        g_assert_cmpuint(c->purge_timeout, ==, 8);
        g_assert_true(c->disable_external_cache);
        assert_diag(&d, LOG_WARNING, PATH ":3: CommitTimeout has no effect with DisableExternalCache on: "
                    "received states go to the kernel directly");
        config_free(c);
        config_diagnostics_clear(&d);
}

static void test_sync_alarm_notrack(void) {
        Config *c;

        c = parse_ok("Sync { Mode ALARM { RefreshTime 3 CacheTimeout 8 CommitTimeout 4 PurgeTimeout 5 }"
                     UDP_CHANNEL "}", NULL);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_ALARM);
        g_assert_cmpuint(c->refresh_time, ==, 3);
        g_assert_cmpuint(c->cache_timeout, ==, 8);
        g_assert_cmpuint(c->commit_timeout, ==, 4);
        g_assert_cmpuint(c->purge_timeout, ==, 5);
        config_free(c);

        c = parse_ok("Sync { Mode NOTRACK { DisableInternalCache on DisableExternalCache yes StartupResync on "
                     "CommitTimeout 1 PurgeTimeout 2 }" UDP_CHANNEL "}", NULL);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_NOTRACK);
        g_assert_true(c->disable_internal_cache);
        g_assert_true(c->disable_external_cache);
        g_assert_true(c->startup_resync);
        config_free(c);
}

static void test_modes(void) {
        ConfigDiagnostics d = {};
        Config *c;

        /* no Mode: warning, FT-FW */
        c = parse_ok("General { }\nSync {\n" UDP_CHANNEL "}", &d);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_FTFW);
        assert_diag(&d, LOG_WARNING, PATH ":2: no synchronization Mode in section Sync: defaulting to FT-FW");
        config_free(c);
        config_diagnostics_clear(&d);

        /* several Mode blocks: FTFW > ALARM > NOTRACK */
        c = parse_ok("Sync {\n Mode NOTRACK { }\n Mode ALARM { }\n Mode FTFW { }\n" UDP_CHANNEL "}", &d);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_FTFW);
        assert_diag(&d, LOG_WARNING, PATH ":4: several Mode blocks: Mode FTFW is used, the others are ignored");
        config_free(c);
        config_diagnostics_clear(&d);

        c = parse_ok("Sync {\n Mode NOTRACK { DisableInternalCache on }\n Mode ALARM { }\n" UDP_CHANNEL "}", &d);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_ALARM);
        g_assert_false(c->disable_internal_cache);
        assert_diag(&d, LOG_WARNING, PATH ":2: DisableInternalCache only applies to Mode NOTRACK, ignoring");
        config_free(c);
        config_diagnostics_clear(&d);

        /* Sync without a channel warns */
        c = parse_ok("Sync {\n Mode FTFW { }\n}", &d);
        assert_diag(&d, LOG_WARNING, PATH ":1: section Sync has no dedicated link (Multicast, UDP or TCP "
                    "block): nothing is replicated");
        config_free(c);
        config_diagnostics_clear(&d);

        /* Stats alone: Stats mode, no warning */
        c = parse_ok("Stats { }", &d);
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_STATS);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);
        config_diagnostics_clear(&d);
}

static void test_channels(void) {
        ConfigDiagnostics d = {};
        char buf[INET6_ADDRSTRLEN];
        Config *c;

        c = parse_ok("Sync { Mode FTFW { }\n"
                     " Multicast {\n"
                     "  IPv4_address 225.0.0.50\n"
                     "  Group 3780\n"
                     "  IPv4_interface 192.168.100.100\n"
                     "  Interface eth2\n"
                     "  SndSocketBuffer 1249280\n"
                     "  RcvSocketBuffer 1249281\n"
                     "  Checksum off\n"
                     " }\n"
                     " Multicast Default {\n"
                     "  IPv6_address ff02::1234\n"
                     "  Group 3781\n"
                     "  Interface eth3\n"
                     " }\n"
                     "}", &d);
        g_assert_cmpuint(c->n_channels, ==, 2);
        ChannelConfig *m = &c->channels[0];
        g_assert_cmpint(m->type, ==, CHANNEL_MULTICAST);
        g_assert_false(m->is_default);
        g_assert_cmpint(m->family, ==, AF_INET);
        g_assert_true(m->has_address);
        g_assert_cmpstr(inet_ntop(AF_INET, &m->address, buf, sizeof(buf)), ==, "225.0.0.50");
        g_assert_true(m->has_interface_address);
        g_assert_cmpstr(inet_ntop(AF_INET, &m->interface_address, buf, sizeof(buf)), ==, "192.168.100.100");
        g_assert_false(m->has_destination);
        g_assert_cmpstr(m->interface, ==, "eth2");
        g_assert_cmpuint(m->port, ==, 3780);
        g_assert_cmpuint(m->snd_buffer, ==, 1249280);
        g_assert_cmpuint(m->rcv_buffer, ==, 1249281);
        g_assert_false(m->checksum);
        g_assert_cmpuint(m->line, ==, 2);
        m = &c->channels[1];
        g_assert_true(m->is_default);
        g_assert_cmpint(m->family, ==, AF_INET6);
        g_assert_cmpstr(inet_ntop(AF_INET6, &m->address, buf, sizeof(buf)), ==, "ff02::1234");
        g_assert_true(m->checksum);
        g_assert_cmpuint(m->port, ==, 3781);
        g_assert_cmpuint(m->line, ==, 11);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);
        config_diagnostics_clear(&d);

        c = parse_ok("Sync { Mode NOTRACK { }\n"
                     " TCP {\n"
                     "  IPv6_address fe80::215:58ff:fe28:5a27\n"
                     "  IPv6_Destination_Address fe80::2d0:59ff:fe2a:775c\n"
                     "  Port 3781\n"
                     "  Interface eth9\n"
                     "  ErrorQueueLength 77\n"
                     "  Checksum on\n"
                     " }\n"
                     " TCP { IPv4_address 1.2.3.4 IPv4_Destination_Address 1.2.3.5 Port 1 Interface x }\n"
                     " TCP { IPv4_address 1.2.3.4 IPv4_Destination_Address 1.2.3.5 Port 2 Interface y }\n"
                     " TCP { IPv4_address 1.2.3.4 IPv4_Destination_Address 1.2.3.5 Port 3 Interface z }\n"
                     "}", &d);
        g_assert_cmpuint(c->n_channels, ==, 4);
        m = &c->channels[0];
        g_assert_cmpint(m->type, ==, CHANNEL_TCP);
        g_assert_cmpint(m->family, ==, AF_INET6);
        g_assert_true(m->has_destination);
        g_assert_cmpstr(inet_ntop(AF_INET6, &m->destination, buf, sizeof(buf)), ==, "fe80::2d0:59ff:fe2a:775c");
        g_assert_cmpstr(inet_ntop(AF_INET6, &m->address, buf, sizeof(buf)), ==, "fe80::215:58ff:fe28:5a27");
        g_assert_cmpuint(c->error_queue_length, ==, 77);
        g_assert_cmpstr(c->channels[3].interface, ==, "z");
        g_assert_cmpuint(c->channels[3].port, ==, 3);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);
        config_diagnostics_clear(&d);

        /* IPv6_interface is accepted with a warning; a second Default replaces the first */
        c = parse_ok("Sync { Mode FTFW { }\n"
                     " Multicast Default { IPv6_address ff02::1 Group 1 Interface a\n"
                     "  IPv6_interface fe80::1 }\n"
                     " Multicast Default { IPv4_address 225.0.0.1 Group 2 Interface b }\n"
                     "}", &d);
        assert_diag(&d, LOG_WARNING, PATH ":3: IPv6_interface is deprecated and has no effect, ignoring: the "
                    "interface is given by Interface");
        assert_diag(&d, LOG_WARNING, PATH ":4: several Default dedicated links: this one replaces the one of "
                    "line 2");
        g_assert_false(c->channels[0].is_default);
        g_assert_true(c->channels[1].is_default);
        config_free(c);
        config_diagnostics_clear(&d);

        /* family mismatches and invalid addresses warn and are ignored */
        c = parse_ok("Sync { Mode FTFW { }\n"
                     " UDP { IPv4_address 10.0.0.1\n"
                     "  IPv6_Destination_Address fd00::2\n"
                     "  IPv4_Destination_Address 10.0.0.300\n"
                     "  IPv4_Destination_Address 10.0.0.2\n"
                     "  Port 3780 Interface eth0 }\n"
                     "}", &d);
        assert_diag(&d, LOG_WARNING, PATH ":3: IPv6_Destination_Address fd00::2 does not match the IPv4 "
                    "address given before: surely this is not what you want; ignoring");
        assert_diag(&d, LOG_WARNING, PATH ":4: '10.0.0.300' is not a valid IPv4 address for "
                    "IPv4_Destination_Address, ignoring");
        g_assert_cmpint(c->channels[0].family, ==, AF_INET);
        g_assert_cmpuint(c->channels[0].destination.ip, ==, htonl(0x0a000002));
        config_free(c);
        config_diagnostics_clear(&d);

        /* incomplete channels warn */
        c = parse_ok("Sync { Mode FTFW { }\n UDP { Interface eth0 }\n}", &d);
        assert_diag(&d, LOG_WARNING, PATH ":2: UDP block without IPv4_Destination_Address or "
                    "IPv6_Destination_Address: nothing can be sent");
        assert_diag(&d, LOG_WARNING, PATH ":2: UDP block without Port");
        g_assert_cmpint(c->channels[0].family, ==, AF_INET);
        config_free(c);
        config_diagnostics_clear(&d);
}

static void test_filter(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("General {\n"
                     " Filter From Kernelspace {\n"
                     "  Protocol Accept { TCP UDP ICMP IPv6-ICMP SCTP gre }\n"
                     "  Address Ignore {\n"
                     "   IPv4_address 127.0.0.1 # loopback\n"
                     "   IPv4_address 192.168.0.0/16\n"
                     "   IPv6_address ::1\n"
                     "   IPv6_address fe80::/10\n"
                     "  }\n"
                     "  State Accept { ESTABLISHED CLOSED TIME_WAIT CLOSE_WAIT for TCP\n"
                     "                 SYN_SENT SYN_RECV FIN_WAIT LAST_ACK LISTEN for TCP }\n"
                     " }\n"
                     "}\nStats { }", &d);
        FilterConfig *f = c->filter;
        g_assert_nonnull(f);
        g_assert_true(f->kernelspace);
        g_assert_cmpint(f->protocol_policy, ==, FILTER_ACCEPT);
        for (unsigned i = 0; i < 256; i++) {
                bool want = i == IPPROTO_TCP || i == IPPROTO_UDP || i == IPPROTO_ICMP ||
                            i == IPPROTO_ICMPV6 || i == IPPROTO_SCTP || i == IPPROTO_GRE;
                g_assert_cmpint(f->protocols[i], ==, want);
        }
        g_assert_cmpint(f->address_policy, ==, FILTER_IGNORE);
        g_assert_cmpuint(f->n_networks, ==, 4);
        g_assert_cmpint(f->networks[1].family, ==, AF_INET);
        g_assert_cmpuint(f->networks[1].prefixlen, ==, 16);
        g_assert_cmpint(f->networks[3].family, ==, AF_INET6);
        g_assert_cmpuint(f->networks[3].prefixlen, ==, 10);
        g_assert_cmpint(f->state_policy, ==, FILTER_ACCEPT);
        for (CtTcpState s = 0; s < _CT_TCP_MAX; s++)
                g_assert_cmpint(f->tcp_states[s], ==, s != CT_TCP_NONE);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);
        config_diagnostics_clear(&d);

        /* Filter { } is user space; unknown protocols, bad addresses and prefixes warn */
        c = parse_ok("General {\n"
                     " Filter {\n"
                     "  Protocol Ignore { NoSuchProto }\n"
                     "  Address Accept {\n"
                     "   IPv4_address 10.0.0.0/33\n"
                     "   IPv4_address 10.0.0.999\n"
                     "   IPv4_address ::1\n"
                     "   IPv6_address 10.1.1.1\n"
                     "   IPv6_address fe80::/200\n"
                     "  }\n"
                     " }\n"
                     "}\nStats { }", &d);
        f = c->filter;
        g_assert_false(f->kernelspace);
        g_assert_cmpint(f->protocol_policy, ==, FILTER_IGNORE);
        g_assert_cmpuint(f->n_networks, ==, 0);
        assert_diag(&d, LOG_WARNING, PATH ":3: unknown protocol 'NoSuchProto' in Filter Protocol, ignoring");
        assert_diag(&d, LOG_WARNING, PATH ":5: the prefix length of '10.0.0.0/33' is out of range (0-32), "
                    "ignoring");
        assert_diag(&d, LOG_WARNING, PATH ":6: '10.0.0.999' is not a valid IPv4 address, ignoring");
        assert_diag(&d, LOG_WARNING, PATH ":7: '::1' is not an IPv4 address but is given with "
                    "IPv4_address, ignoring");
        assert_diag(&d, LOG_WARNING, PATH ":8: '10.1.1.1' is not an IPv6 address but is given with "
                    "IPv6_address, ignoring");
        assert_diag(&d, LOG_WARNING, PATH ":9: the prefix length of 'fe80::/200' is out of range (0-128), "
                    "ignoring");
        config_free(c);
        config_diagnostics_clear(&d);

        /* repeated Filter clauses merge; a changed policy warns */
        c = parse_ok("General {\n"
                     " Filter From Userspace { Address Accept { IPv4_address 1.1.1.1 } }\n"
                     " Filter { Address Ignore { IPv4_address 2.2.2.2 } }\n"
                     "}\nStats { }", &d);
        g_assert_cmpuint(c->filter->n_networks, ==, 2);
        g_assert_cmpint(c->filter->address_policy, ==, FILTER_IGNORE);
        assert_diag(&d, LOG_WARNING, PATH ":3: Address Ignore overrides the policy of line 2; the Address "
                    "lists are merged");
        config_free(c);
        config_diagnostics_clear(&d);

        /* the parsed filter works */
        c = parse_ok("General { Filter { Address Ignore { IPv4_address 10.0.0.0/8 } } } Stats { }", NULL);
        CtEntry e = { .orig = { .l3 = AF_INET, .l4 = IPPROTO_UDP } };
        e.orig.src.ip = htonl(0x0a010203);
        g_assert_false(filter_match_ct(c->filter, &e));
        e.orig.src.ip = htonl(0x0b010203);
        g_assert_true(filter_match_ct(c->filter, &e));
        config_free(c);
}

static void test_expectation_sync(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("Sync { Mode FTFW { }" UDP_CHANNEL
                     " Options { ExpectationSync {\n ftp\n ras\n q.931\n h.245\n sip\n } } }", NULL);
        g_assert_true(c->expectation_sync.enabled);
        g_assert_nonnull(c->expectation_sync.helpers);
        g_assert_cmpuint(g_strv_length(c->expectation_sync.helpers), ==, 5);
        g_assert_cmpstr(c->expectation_sync.helpers[0], ==, "ftp");
        g_assert_cmpstr(c->expectation_sync.helpers[2], ==, "q.931");
        g_assert_cmpstr(c->expectation_sync.helpers[4], ==, "sip");
        config_free(c);

        /* the last clause wins */
        c = parse_ok("Sync { Mode FTFW { }" UDP_CHANNEL
                     " Options { ExpectationSync { ftp } ExpectationSync Off } }", NULL);
        g_assert_false(c->expectation_sync.enabled);
        g_assert_null(c->expectation_sync.helpers);
        config_free(c);
        c = parse_ok("Sync { Mode FTFW { }" UDP_CHANNEL
                     " Options { ExpectationSync On ExpectationSync { sip } } }", NULL);
        g_assert_true(c->expectation_sync.enabled);
        g_assert_cmpstr(c->expectation_sync.helpers[0], ==, "sip");
        g_assert_null(c->expectation_sync.helpers[1]);
        config_free(c);

        /* an empty list warns: it matches no helper */
        c = parse_ok("Sync { Mode FTFW { }" UDP_CHANNEL " Options {\n ExpectationSync { } } }", &d);
        g_assert_true(c->expectation_sync.enabled);
        g_assert_nonnull(c->expectation_sync.helpers);
        g_assert_null(c->expectation_sync.helpers[0]);
        assert_diag(&d, LOG_WARNING, PATH ":8: empty ExpectationSync list: no expectation is synchronized");
        config_free(c);
        config_diagnostics_clear(&d);
}

/* Sync { Keepalived { } } (ours): absent by default, every keyword, its place in the grammar. */
static void test_keepalived(void) {
        ConfigDiagnostics d = {};
        Config *c;

        /* a 1.4.7 file without it: nothing followed */
        c = parse_ok("Sync { Mode FTFW { }" UDP_CHANNEL " }", NULL);
        g_assert_null(c->keepalived.instance);
        g_assert_null(c->keepalived.service);
        g_assert_null(c->keepalived.track_file);
        config_free(c);

        c = parse_ok("Sync { Mode FTFW { }" UDP_CHANNEL " Keepalived { Instance VI_1 } }", &d);
        g_assert_cmpstr(c->keepalived.instance, ==, "VI_1");
        g_assert_null(c->keepalived.service);
        g_assert_null(c->keepalived.track_file);
        g_assert_cmpuint(d.n, ==, 0);
        config_free(c);

        /* every keyword, in any order; the block may come before the Mode */
        c = parse_ok("Sync {\n Keepalived {\n  TrackFile /run/conntrackd/primary\n"
                     "  Service org.keepalived.Vrrp1.fw2\n  Instance CONNTRACKD\n }\n"
                     " Mode NOTRACK { }" UDP_CHANNEL "}", NULL);
        g_assert_cmpstr(c->keepalived.instance, ==, "CONNTRACKD");
        g_assert_cmpstr(c->keepalived.service, ==, "org.keepalived.Vrrp1.fw2");
        g_assert_cmpstr(c->keepalived.track_file, ==, "/run/conntrackd/primary");
        g_assert_cmpint(c->mode, ==, CONFIG_MODE_NOTRACK);
        config_free(c);

        /* the last Instance wins, as the other keywords of the grammar */
        c = parse_ok("Sync { Mode ALARM { }" UDP_CHANNEL
                     " Keepalived { Instance A Instance B-2.x } }", NULL);
        g_assert_cmpstr(c->keepalived.instance, ==, "B-2.x");
        config_free(c);
        config_diagnostics_clear(&d);
}

/* Features recognised but not implemented here warn with file:line. */
static void test_unimplemented_warnings(void) {
        static const struct {
                const char *text;
                const char *warning;
        } cases[] = {
                { "General {\n Nice -5\n} Stats { }",
                  PATH ":2: Nice is deprecated and not implemented, ignoring: set Nice= in the systemd unit "
                  "instead" },
                { "General {\n Nice +5\n} Stats { }",
                  PATH ":2: Nice is deprecated and not implemented, ignoring: set Nice= in the systemd unit "
                  "instead" },
                { "General {\n UNIX {\n  Path /run/x\n  Backlog 20\n }\n} Stats { }",
                  PATH ":4: UNIX Backlog is deprecated and not implemented, ignoring: the control interface "
                  "is D-Bus" },
                { "General {\n PollSecs 15\n} Stats { }",
                  PATH ":2: PollSecs: polling mode is not implemented, kernel events are used instead" },
                { "Stats { }\nHelper {\n Type ftp inet tcp {\n  QueueNum 5\n  QueueLen 10\n"
                  "  Policy ftp {\n   ExpectMax 1\n   ExpectTimeout 300\n  }\n }\n"
                  " Type tftp inet6 UDP { QueueNum 6 }\n Setup Yes\n}",
                  PATH ":2: Helper section is not implemented, ignoring" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                ConfigDiagnostics d = {};
                Config *c = parse_ok(cases[i].text, &d);

                assert_diag(&d, LOG_WARNING, cases[i].warning);
                g_assert_cmpuint(d.n, ==, 1);
                config_free(c);
                config_diagnostics_clear(&d);
        }

        /* what is kept of them; Scheduler is applied at start-up, without a warning */
        ConfigDiagnostics d = {};
        Config *c = parse_ok("General {\n Scheduler {\n  Type FIFO\n  Priority 50\n }\n PollSecs 15\n} Stats { }",
                             &d);
        g_assert_cmpuint(d.n, ==, 1);
        config_diagnostics_clear(&d);
        g_assert_cmpuint(c->poll_secs, ==, 15);
        g_assert_true(c->scheduler_set);
        g_assert_cmpint(c->scheduler_policy, ==, SCHED_FIFO);
        g_assert_cmpint(c->scheduler_priority, ==, 50);
        config_free(c);
        c = parse_ok("General { Scheduler { Priority 0 } } Stats { } Helper { }", NULL);
        g_assert_true(c->scheduler_set);
        g_assert_cmpint(c->scheduler_policy, ==, SCHED_RR);
        g_assert_cmpint(c->scheduler_priority, ==, 0);
        g_assert_true(c->has_helper_section);
        config_free(c);
}

static void test_removed_keywords(void) {
        ConfigDiagnostics d = {};
        Config *c;

        c = parse_ok("General {\n"
                     " StripNAT on\n"
                     " IgnoreProtocol {\n  UDP\n  ICMP\n }\n"
                     " IgnoreTrafficFor { IPv4_address 1.1.1.1 }\n"
                     " HashSize 77\n"
                     "}\n"
                     "Sync {\n"
                     " Mode FTFW {\n  ResendBufferSize 100\n  ACKWindowSize 5\n }\n"
                     " DelayDestroyMessages on\n"
                     " RelaxTransitions\n"
                     " ListenTo 10.0.0.1\n"
                     " Family IPv4\n"
                     " Replicate SYN_SENT ESTABLISHED for TCP\n"
                     " CacheWriteThrough off\n"
                     " DestroyTimeout 10\n"
                     " Multicast {\n  McastSndSocketBuffer 1000\n  McastRcvSocketBuffer 1000\n"
                     "  IPv4_address 225.0.0.50 Group 3780 Interface eth2\n }\n"
                     "}\n", &d);
        g_assert_cmpuint(c->hash_size, ==, 77);
        g_assert_cmpuint(c->ack_window_size, ==, 5);
        g_assert_cmpuint(c->n_channels, ==, 1);
        g_assert_cmpuint(c->channels[0].snd_buffer, ==, 0);
        static const struct {
                unsigned line;
                const char *name;
        } expected[] = {
                { 2, "StripNAT" }, { 3, "IgnoreProtocol" }, { 7, "IgnoreTrafficFor" },
                { 12, "ResendBufferSize" }, { 15, "DelayDestroyMessages" }, { 16, "RelaxTransitions" },
                { 17, "ListenTo" }, { 18, "Family" }, { 19, "Replicate" }, { 20, "CacheWriteThrough" },
                { 21, "DestroyTimeout" }, { 23, "McastSndSocketBuffer" }, { 24, "McastRcvSocketBuffer" },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(expected); i++) {
                g_autofree char *m = g_strdup_printf(PATH ":%u: %s was removed in conntrack-tools 1.4.5 and "
                                                     "has no effect, ignoring",
                                                     expected[i].line, expected[i].name);
                assert_diag(&d, LOG_WARNING, m);
        }
        g_assert_cmpuint(d.n, ==, G_N_ELEMENTS(expected));
        config_free(c);
        config_diagnostics_clear(&d);

        c = parse_ok("Stats {\n LogFileBufferSize 4096\n LogFile on\n}", &d);
        assert_diag(&d, LOG_WARNING, PATH ":2: LogFileBufferSize was removed in conntrack-tools 1.4.5 and has "
                    "no effect, ignoring");
        g_assert_cmpstr(c->stats_log_file, ==, "/var/log/conntrackd-stats.log");
        config_free(c);
        config_diagnostics_clear(&d);

        /* not at the top level, and an unclosed block of a removed keyword is an error */
        parse_fail("StripNAT on", PATH ":1: unknown section 'StripNAT': expected General, Sync, Stats or "
                   "Helper");
        parse_fail("General {\n IgnoreProtocol {\n UDP\n", PATH ":3: unexpected end of file: the block of "
                   "IgnoreProtocol opened at line 2 is not closed");
        parse_fail("General {\n IgnoreProtocol UDP\n}", PATH ":2: expected '{' after IgnoreProtocol, got 'UDP'");
        parse_fail("General {\n StripNAT }", PATH ":2: missing value for StripNAT: expected a value, got '}'");
        parse_fail("Sync {\n Replicate ESTABLISHED }", PATH ":2: missing value for Replicate: expected TCP "
                   "states followed by 'for TCP', got '}'");

        /* one line: each removed keyword takes only its own arguments */
        c = parse_ok("General { StripNAT on IgnoreProtocol { UDP } HashSize 5 } Sync { Mode FTFW { } "
                     "RelaxTransitions Replicate ESTABLISHED for TCP TCP { Interface a Port 1 "
                     "IPv4_Destination_Address 1.1.1.1 } }", &d);
        g_assert_cmpuint(c->hash_size, ==, 5);
        g_assert_cmpuint(c->n_channels, ==, 1);
        g_assert_cmpint(c->channels[0].type, ==, CHANNEL_TCP);
        g_assert_cmpuint(count_level(&d, LOG_WARNING), ==, 4);
        config_free(c);
        config_diagnostics_clear(&d);
}

typedef struct ErrorCase {
        const char *name;
        const char *text;
        const char *message;
} ErrorCase;

static const ErrorCase error_cases[] = {
        { "keyword-case", "general {\n}\n",
          PATH ":1: unknown section 'general': expected General, Sync, Stats or Helper" },
        { "keyword-case-inner", "General {\n hashsize 5\n}",
          PATH ":2: unknown keyword 'hashsize' in section General" },
        { "unknown-keyword", "General {\n\n Foo 1\n}", PATH ":3: unknown keyword 'Foo' in section General" },
        { "not-a-number", "General {\n HashSize maybe\n}",
          PATH ":2: invalid value 'maybe' for HashSize: expected a number" },
        { "negative-number", "General {\n HashSize -5\n}",
          PATH ":2: invalid value '-5' for HashSize: expected a number" },
        { "hex-number", "General {\n HashLimit 0x10\n}",
          PATH ":2: invalid value '0x10' for HashLimit: expected a number" },
        { "number-overflow", "General {\n HashSize 4294967296\n}",
          PATH ":2: value '4294967296' for HashSize is out of range: the maximum is 4294967295" },
        { "number-overflow-long", "General {\n HashSize 99999999999999999999999999\n}",
          PATH ":2: value '99999999999999999999999999' for HashSize is out of range: the maximum is "
          "4294967295" },
        { "missing-value", "General {\n HashSize\n}",
          PATH ":2: missing value for HashSize: expected a number, got '}'" },
        { "missing-value-eof", "General {\n HashSize",
          PATH ":2: missing value for HashSize: expected a number, got end of file" },
        { "bool-true", "General {\n NetlinkEventsReliable true\n}",
          PATH ":2: invalid value 'true' for NetlinkEventsReliable: expected on, off, yes or no" },
        { "bool-1", "General {\n Systemd 1\n}",
          PATH ":2: invalid value '1' for Systemd: expected on, off, yes or no" },
        { "sync-and-stats", "Sync {\n Mode FTFW { }\n}\nStats {\n}\n",
          PATH ":4: cannot use both Stats and Sync sections (Sync is at line 1)" },
        { "stats-and-sync", "General { }\nStats { }\n\nSync {\n Mode FTFW { }\n}\n",
          PATH ":4: cannot use both Sync and Stats sections (Stats is at line 2)" },
        { "persistent-lowercase", "Sync {\n Mode persistent { }\n}",
          PATH ":2: unknown synchronization mode 'persistent': expected FTFW, ALARM or NOTRACK" },
        { "mode-unknown", "Sync {\n Mode FAST { }\n}",
          PATH ":2: unknown synchronization mode 'FAST': expected FTFW, ALARM or NOTRACK" },
        { "mode-no-block", "Sync {\n Mode FTFW\n}", PATH ":3: expected '{' after Mode, got '}'" },
        { "nice-unsigned", "General {\n Nice 5\n}",
          PATH ":2: invalid value '5' for Nice: expected a signed number such as -5 or +5" },
        { "logfile-relative", "General {\n LogFile var/log/x\n}",
          PATH ":2: invalid value 'var/log/x' for LogFile: expected on, off or an absolute path" },
        { "stats-logfile-relative", "Stats {\n LogFile x.log\n}",
          PATH ":2: invalid value 'x.log' for LogFile: expected on, off or an absolute path" },
        { "lockfile-relative", "General {\n LockFile run/x.lock\n}",
          PATH ":2: invalid value 'run/x.lock' for LockFile: expected an absolute path" },
        { "lockfile-on", "General {\n LockFile on\n}",
          PATH ":2: invalid value 'on' for LockFile: expected an absolute path" },
        { "unix-path-relative", "General {\n UNIX {\n  Path ctl\n }\n}",
          PATH ":3: invalid value 'ctl' for Path: expected an absolute path" },
        { "pollsecs-zero", "General {\n PollSecs 0\n}", PATH ":2: PollSecs must be greater than 0" },
        { "scheduler-type", "General {\n Scheduler {\n  Type BATCH\n }\n}",
          PATH ":3: unknown scheduler 'BATCH': expected RR or FIFO" },
        { "scheduler-priority", "General {\n Scheduler {\n  Priority 100\n }\n}",
          PATH ":3: Scheduler Priority 100 is out of range: expected 0 to 99" },
        { "syslog-number", "General {\n Syslog 5\n}",
          PATH ":2: invalid value '5' for Syslog: expected on, off or a facility name" },
        { "overrun-resync-word", "General {\n NetlinkOverrunResync maybe\n}",
          PATH ":2: invalid value 'maybe' for NetlinkOverrunResync: expected on, off or a number of seconds" },
        { "mode-keyword-wrong-mode", "Sync {\n Mode FTFW {\n  RefreshTime 5\n }\n}",
          PATH ":3: RefreshTime is not allowed in Mode FTFW (allowed in: section Sync, Mode ALARM)" },
        { "internal-cache-in-ftfw", "Sync {\n Mode FTFW {\n  DisableInternalCache on\n }\n}",
          PATH ":3: DisableInternalCache is not allowed in Mode FTFW (allowed in: Mode NOTRACK)" },
        { "external-cache-in-alarm", "Sync {\n Mode ALARM {\n  DisableExternalCache on\n }\n}",
          PATH ":3: DisableExternalCache is not allowed in Mode ALARM (allowed in: Mode FTFW, Mode NOTRACK)" },
        { "ack-window-in-sync", "Sync {\n ACKWindowSize 5\n}",
          PATH ":2: ACKWindowSize is not allowed in section Sync (allowed in: Mode FTFW)" },
        { "reliable-in-stats", "Stats {\n NetlinkEventsReliable no\n}",
          PATH ":2: NetlinkEventsReliable is not allowed in section Stats (allowed in: section General)" },
        { "general-keyword-at-top", "HashSize 5",
          PATH ":1: HashSize is not allowed at the top level (allowed in: section General)" },
        { "channel-mix", "Sync {\n Multicast { IPv4_address 225.0.0.1 Group 1 Interface a }\n"
                         " UDP { Interface b }\n}",
          PATH ":3: cannot use UDP together with the Multicast block of line 2: all dedicated links must be of "
          "one type" },
        { "channel-too-many", "Sync {\n TCP { Interface a }\n TCP { Interface a }\n TCP { Interface a }\n"
                              " TCP { Interface a }\n TCP { Interface a }\n}",
          PATH ":6: too many dedicated links: at most 4 Multicast, UDP or TCP blocks" },
        { "channel-no-interface", "Sync {\n UDP {\n  Port 5\n }\n}",
          PATH ":2: UDP block without Interface: expected 'Interface <name>'" },
        { "channel-group-in-udp", "Sync {\n UDP {\n  Group 5\n }\n}",
          PATH ":3: Group is not allowed in the UDP block (allowed in: the Multicast block)" },
        { "channel-port-range", "Sync {\n UDP {\n  Port 65536\n }\n}",
          PATH ":3: value '65536' for Port is out of range: expected 0 to 65535" },
        { "channel-bad-address", "Sync {\n UDP {\n  IPv4_address eth0\n }\n}",
          PATH ":3: invalid value 'eth0' for IPv4_address: expected an IPv4 address" },
        { "channel-interface-long", "Sync {\n UDP {\n  Interface abcdefghijklmnop\n }\n}",
          PATH ":3: interface name 'abcdefghijklmnop' is too long: at most 15 characters" },
        { "channel-error-queue-in-udp", "Sync {\n UDP {\n  ErrorQueueLength 5\n }\n}",
          PATH ":3: ErrorQueueLength is not allowed in the UDP block (allowed in: the TCP block)" },
        { "unclosed-section", "General {\n HashSize 5\n", PATH ":2: unexpected end of file: section General "
          "opened at line 1 is not closed" },
        { "unclosed-mode", "Sync {\n Mode FTFW {\n", PATH ":2: unexpected end of file: Mode FTFW opened at "
          "line 2 is not closed" },
        { "missing-open", "General\n HashSize 5\n}", PATH ":2: expected '{' after General, got 'HashSize'" },
        { "missing-open-eof", "\n\nGeneral", PATH ":3: expected '{' after General, got end of file" },
        { "stray-close", "General { }\n}", PATH ":2: unexpected '}' at the top level: expected a section name" },
        { "stray-open", "General {\n {\n}", PATH ":2: unexpected '{' in section General: expected a keyword" },
        { "invalid-character", "General {\n\x01\n}", PATH ":2: invalid character 0x01" },
        { "nul-character", "General {\n\n\n}", PATH ":1: invalid character 0x00" },
        { "filter-from", "General {\n Filter From Nowhere { }\n}",
          PATH ":2: invalid value 'Nowhere' for Filter From: expected Userspace or Kernelspace" },
        { "filter-policy", "General {\n Filter {\n  Protocol Maybe { TCP }\n }\n}",
          PATH ":3: invalid value 'Maybe' for Protocol: expected Accept or Ignore" },
        { "filter-policy-case", "General {\n Filter {\n  Protocol accept { TCP }\n }\n}",
          PATH ":3: invalid value 'accept' for Protocol: expected Accept or Ignore" },
        { "filter-unknown", "General {\n Filter {\n  Mark Accept { 80 }\n }\n}",
          PATH ":3: unknown keyword 'Mark' in the Filter block" },
        { "filter-address-keyword", "General {\n Filter {\n  Address Accept {\n   IPv4_network 1.0.0.0/8\n"
                                    "  }\n }\n}",
          PATH ":4: unknown keyword 'IPv4_network' in Filter Address: expected IPv4_address or IPv6_address" },
        { "filter-address-value", "General {\n Filter {\n  Address Accept {\n   IPv4_address localhost\n"
                                  "  }\n }\n}",
          PATH ":4: invalid value 'localhost' for IPv4_address: expected an IPv4 address or network" },
        { "filter-state-no-for", "General {\n Filter {\n  State Accept { ESTABLISHED\n  }\n }\n}",
          PATH ":4: expected 'for TCP' after the TCP state names" },
        { "filter-state-unknown", "General {\n Filter {\n  State Accept { established for TCP }\n }\n}",
          PATH ":3: unknown TCP state 'established': expected SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, "
          "CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSED, CLOSE or LISTEN" },
        { "filter-state-none", "General {\n Filter {\n  State Accept { NONE for TCP }\n }\n}",
          PATH ":3: unknown TCP state 'NONE': expected SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT, "
          "CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSED, CLOSE or LISTEN" },
        { "filter-state-udp", "General {\n Filter {\n  State Accept { ESTABLISHED for UDP }\n }\n}",
          PATH ":3: only TCP states can be filtered: expected 'for TCP', got 'for UDP'" },
        { "filter-list-unclosed", "General {\n Filter {\n  Protocol Accept { TCP\n",
          PATH ":3: unexpected end of file: the Protocol list opened at line 3 is not closed" },
        { "expectation-sync-value", "Sync {\n Options {\n  ExpectationSync maybe\n }\n}",
          PATH ":3: invalid value 'maybe' for ExpectationSync: expected on, off or a { list of helper names }" },
        { "options-unknown", "Sync {\n Options {\n  Checksum on\n }\n}",
          PATH ":3: Checksum is not allowed in the Options block (allowed in: the Multicast block, the UDP "
          "block, the TCP block)" },
        { "helper-l4", "Helper {\n Type ftp inet sctp { }\n}",
          PATH ":2: unknown layer 4 protocol 'sctp' for helper ftp: expected tcp or udp" },
        { "helper-l3", "Helper {\n Type ftp ipv4 tcp { }\n}",
          PATH ":2: unknown layer 3 protocol 'ipv4' for helper ftp: expected inet or inet6" },
        { "helper-policy-keyword", "Helper {\n Type ftp inet tcp {\n  Policy ftp {\n   ExpectMin 1\n"
                                   "  }\n }\n}",
          PATH ":4: unknown keyword 'ExpectMin' in the Helper Policy block" },
        { "helper-setup", "Helper {\n Setup maybe\n}",
          PATH ":2: invalid value 'maybe' for Setup: expected on, off, yes or no" },
        /* Keepalived (ours) */
        { "keepalived-no-instance", "Sync {\n Keepalived {\n  TrackFile /run/x\n }\n}",
          PATH ":2: the Keepalived block needs an Instance: the name of the VRRP instance to follow" },
        { "keepalived-twice", "Sync {\n Keepalived { Instance A }\n Keepalived { Instance B }\n}",
          PATH ":3: Keepalived given twice (first at line 2)" },
        { "keepalived-in-general", "General {\n Keepalived { Instance A }\n}",
          PATH ":2: Keepalived is not allowed in section General (allowed in: section Sync)" },
        { "keepalived-in-stats", "Stats {\n Keepalived { Instance A }\n}",
          PATH ":2: Keepalived is not allowed in section Stats (allowed in: section Sync)" },
        { "keepalived-instance-outside", "Sync {\n Instance A\n}",
          PATH ":2: Instance is not allowed in section Sync (allowed in: the Keepalived block)" },
        { "keepalived-instance-missing", "Sync {\n Keepalived {\n  Instance\n }\n}",
          PATH ":3: missing value for Instance: expected the name of a VRRP instance, got '}'" },
        { "keepalived-instance-long", "Sync {\n Keepalived {\n  Instance "
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n }\n}",
          PATH ":3: Instance is longer than 127 characters: "
          "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
          "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'" },
        { "keepalived-service-one-element", "Sync {\n Keepalived {\n  Instance A\n  Service keepalived\n }\n}",
          PATH ":4: invalid value 'keepalived' for Service: expected a D-Bus name such as "
          "org.keepalived.Vrrp1" },
        { "keepalived-service-digit", "Sync {\n Keepalived {\n  Instance A\n  Service org.1keepalived\n }\n}",
          PATH ":4: invalid value 'org.1keepalived' for Service: expected a D-Bus name such as "
          "org.keepalived.Vrrp1" },
        { "keepalived-service-unique", "Sync {\n Keepalived {\n  Instance A\n  Service :1.5\n }\n}",
          PATH ":4: invalid value ':1.5' for Service: expected a D-Bus name such as org.keepalived.Vrrp1" },
        { "keepalived-service-quote", "Sync {\n Keepalived {\n  Instance A\n  Service org.a',b\n }\n}",
          PATH ":4: invalid value 'org.a',b' for Service: expected a D-Bus name such as "
          "org.keepalived.Vrrp1" },
        { "keepalived-track-file-relative", "Sync {\n Keepalived {\n  Instance A\n  TrackFile run/x\n }\n}",
          PATH ":4: invalid value 'run/x' for TrackFile: expected an absolute path" },
        { "keepalived-unknown", "Sync {\n Keepalived {\n  Instance A\n  Priority 5\n }\n}",
          PATH ":4: Priority is not allowed in the Keepalived block (allowed in: the Scheduler block)" },
};

static void test_error_case(const void *data) {
        const ErrorCase *e = data;

        /* the NUL case carries its NUL inside the text, so measure it by hand */
        if (streq(e->name, "nul-character")) {
                static Config sentinel_value;
                const char text[] = "General {\0}";
                Config *c = &sentinel_value;
                ConfigDiagnostics d = {};

                g_assert_cmpint(config_parse_string(PATH, text, sizeof(text) - 1, &c, &d), ==, -EINVAL);
                g_assert_true(c == &sentinel_value);
                assert_diag(&d, LOG_ERR, e->message);
                config_diagnostics_clear(&d);
                return;
        }
        parse_fail(e->text, e->message);
}

static void test_error_path(void) {
        static const char x_conf[] = "General {\n\n\n\n\n\n\n\n\n\n\n Foo 1 }";
        static const char nice_conf[] = "General {\n Nice -1\n HashSize x }";
        ConfigDiagnostics d = {};
        Config *c = NULL;

        /* the message names the file as given */
        g_assert_cmpint(config_parse_string("/etc/x.conf", x_conf, strlen(x_conf), &c, &d),
                        ==, -EINVAL);
        assert_diag(&d, LOG_ERR, "/etc/x.conf:12: unknown keyword 'Foo' in section General");
        g_assert_cmpuint(d.items[0].line, ==, 12);
        g_assert_null(c);
        config_diagnostics_clear(&d);

        /* warnings before the error are kept */
        g_assert_cmpint(config_parse_string(PATH, nice_conf, strlen(nice_conf), &c, &d),
                        ==, -EINVAL);
        g_assert_cmpuint(d.n, ==, 2);
        g_assert_cmpint(d.items[0].level, ==, LOG_WARNING);
        g_assert_cmpint(d.items[1].level, ==, LOG_ERR);
        config_diagnostics_clear(&d);

        /* long and unprintable tokens are cut and made printable in messages */
        g_autofree char *big = g_strnfill(5000, 'x');
        g_autofree char *text = g_strdup_printf("General {\n %s\xff 1 }", big);
        g_assert_cmpint(config_parse_string(PATH, text, strlen(text), &c, &d), ==, -EINVAL);
        g_assert_cmpuint(d.n, ==, 1);
        g_assert_cmpuint(strlen(d.items[0].message), <, 600);
        g_assert_true(g_str_has_suffix(d.items[0].message, "..."));
        config_diagnostics_clear(&d);

        /* UNIX Path: at most 107 characters (sun_path) */
        g_autofree char *path107 = g_strnfill(107, 'p');
        path107[0] = '/';
        g_autofree char *ok = g_strdup_printf("General { UNIX { Path %s } } Stats { }", path107);
        c = parse_ok(ok, NULL);
        g_assert_cmpstr(c->unix_path, ==, path107);
        config_free(c);
        c = NULL;
        g_autofree char *bad = g_strdup_printf("General {\n UNIX {\n  Path %sp\n }\n}", path107);
        g_autofree char *msg = g_strdup_printf(PATH ":3: Path is longer than 107 characters: '%sp'", path107);
        parse_fail(bad, msg);

        /* bad arguments */
        g_assert_cmpint(config_parse_string(PATH, NULL, 5, &c, NULL), ==, -EINVAL);
        g_assert_cmpint(config_parse_string(PATH, "", 0, NULL, NULL), ==, -EINVAL);
}

static void test_load_file(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *tmp = NULL, *dir = NULL;
        ConfigDiagnostics d = {};
        Config *c = NULL;
        int fd;

        fd = g_file_open_tmp("test-config-XXXXXX.conf", &tmp, &error);
        g_assert_no_error(error);
        close(fd);

        g_assert_true(g_file_set_contents(tmp, "General {\n HashSize 8\n}\nStats { }\n", -1, &error));
        g_assert_cmpint(config_load_file(tmp, &c, &d), ==, 0);
        g_assert_cmpuint(c->hash_size, ==, 8);
        g_assert_cmpstr(c->path, ==, tmp);
        config_free(c);
        c = NULL;

        /* errors name the file */
        g_assert_true(g_file_set_contents(tmp, "General {\n HashSize eight\n}\n", -1, &error));
        g_assert_cmpint(config_load_file(tmp, &c, &d), ==, -EINVAL);
        g_assert_null(c);
        g_autofree char *m = g_strdup_printf("%s:2: invalid value 'eight' for HashSize: expected a number", tmp);
        assert_diag(&d, LOG_ERR, m);
        config_diagnostics_clear(&d);

        /* 1 MiB is the limit */
        g_autofree char *big = g_malloc(1024 * 1024 + 1);
        memset(big, '#', 1024 * 1024 + 1);
        big[1024 * 1024 - 1] = '\n';
        g_assert_true(g_file_set_contents(tmp, big, 1024 * 1024, &error));
        g_assert_cmpint(config_load_file(tmp, &c, &d), ==, 0);
        config_free(c);
        c = NULL;
        config_diagnostics_clear(&d);
        g_assert_true(g_file_set_contents(tmp, big, 1024 * 1024 + 1, &error));
        g_assert_cmpint(config_load_file(tmp, &c, &d), ==, -EFBIG);
        g_assert_null(c);
        g_autofree char *m2 = g_strdup_printf("%s: the configuration file is larger than 1048576 bytes", tmp);
        assert_diag(&d, LOG_ERR, m2);
        config_diagnostics_clear(&d);
        g_unlink(tmp);

        /* unreadable */
        g_assert_cmpint(config_load_file("/nonexistent/conntrackd.conf", &c, &d), ==, -ENOENT);
        assert_diag(&d, LOG_ERR, "/nonexistent/conntrackd.conf: cannot open the configuration file: "
                    "No such file or directory");
        g_assert_null(c);
        config_diagnostics_clear(&d);

        dir = g_dir_make_tmp("test-config-XXXXXX", &error);
        g_assert_no_error(error);
        g_assert_cmpint(config_load_file(dir, &c, &d), ==, -EISDIR);
        g_assert_cmpuint(d.n, ==, 1);
        g_assert_true(g_str_has_prefix(d.items[0].message, dir));
        config_diagnostics_clear(&d);
        g_rmdir(dir);
}

/* The example configs of 1.4.7 (checked in under tests/data/configs) parse without error. */
static void test_shipped_config(const void *data) {
        const char *path = data;
        ConfigDiagnostics d = {};
        Config *c = NULL;
        int r;

        r = config_load_file(path, &c, &d);
        dump_diag(&d);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(count_level(&d, LOG_ERR), ==, 0);
        g_assert_nonnull(c);
        if (strstr(path, "stats")) {
                g_assert_cmpint(c->mode, ==, CONFIG_MODE_STATS);
                g_assert_cmpstr(c->stats_log_file, ==, "/var/log/conntrackd-stats.log");
                g_assert_cmpint(c->filter->protocol_policy, ==, FILTER_ACCEPT);
                g_assert_true(c->filter->protocols[IPPROTO_TCP]);
        } else {
                g_assert_cmpint(c->mode, !=, CONFIG_MODE_STATS);
                g_assert_cmpuint(c->n_channels, >=, 1);
                g_assert_nonnull(c->filter);
                g_assert_cmpint(c->filter->address_policy, ==, FILTER_IGNORE);
        }
        if (strstr(path, "debian-sync-ftfw"))
                g_assert_cmpint(c->mode, ==, CONFIG_MODE_FTFW);
        else if (strstr(path, "debian-sync-alarm") || strstr(path, "capture-alarm"))
                g_assert_cmpint(c->mode, ==, CONFIG_MODE_ALARM);
        else if (strstr(path, "notrack"))
                g_assert_cmpint(c->mode, ==, CONFIG_MODE_NOTRACK);
        config_free(c);
        config_diagnostics_clear(&d);
}

static void test_installed_examples(void) {
        static const char *const files[] = {
                "/usr/share/doc/conntrackd/examples/stats/conntrackd.conf",
                "/usr/share/doc/conntrackd/examples/sync/ftfw/conntrackd.conf",
                "/usr/share/doc/conntrackd/examples/sync/alarm/conntrackd.conf",
                "/usr/share/doc/conntrackd/examples/sync/notrack/conntrackd.conf",
        };
        unsigned found = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                if (!g_file_test(files[i], G_FILE_TEST_EXISTS))
                        continue;
                test_shipped_config(files[i]);
                found++;
        }
        if (found == 0)
                g_test_skip("the conntrackd package's examples are not installed (checked-in copies are "
                            "tested by /config/shipped/...)");
}

int main(int argc, char **argv) {
        const char *srcdir = g_getenv("TOP_SRCDIR");
        g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);

        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/config/string-tables", test_string_tables);
        g_test_add_func("/config/defaults", test_defaults);
        g_test_add_func("/config/general-keywords", test_general_keywords);
        g_test_add_func("/config/logfile-syslog", test_logfile_syslog);
        g_test_add_func("/config/netlink", test_netlink);
        g_test_add_func("/config/aliases", test_aliases);
        g_test_add_func("/config/case-rules", test_case_rules);
        g_test_add_func("/config/sync-ftfw", test_sync_ftfw);
        g_test_add_func("/config/sync-alarm-notrack", test_sync_alarm_notrack);
        g_test_add_func("/config/modes", test_modes);
        g_test_add_func("/config/channels", test_channels);
        g_test_add_func("/config/filter", test_filter);
        g_test_add_func("/config/expectation-sync", test_expectation_sync);
        g_test_add_func("/config/keepalived", test_keepalived);
        g_test_add_func("/config/unimplemented-warnings", test_unimplemented_warnings);
        g_test_add_func("/config/removed-keywords", test_removed_keywords);
        g_test_add_func("/config/error-line-number", test_error_path);
        for (size_t i = 0; i < G_N_ELEMENTS(error_cases); i++) {
                g_autofree char *name = g_strdup_printf("/config/error/%s", error_cases[i].name);
                g_test_add_data_func(name, &error_cases[i], test_error_case);
        }
        g_test_add_func("/config/load-file", test_load_file);
        g_test_add_func("/config/installed-examples", test_installed_examples);

        if (srcdir) {
                g_autofree char *dirname = g_build_filename(srcdir, "tests", "data", "configs", NULL);
                g_autoptr(GDir) dir = g_dir_open(dirname, 0, NULL);
                const char *name;

                g_assert_nonnull(dir);
                while ((name = g_dir_read_name(dir))) {
                        if (!g_str_has_suffix(name, ".conf"))
                                continue;
                        g_ptr_array_add(paths, g_build_filename(dirname, name, NULL));
                }
                g_assert_cmpuint(paths->len, >=, 8);
                for (guint i = 0; i < paths->len; i++) {
                        g_autofree char *base = g_path_get_basename(paths->pdata[i]);
                        g_autofree char *tname = g_strdup_printf("/config/shipped/%s", base);
                        g_test_add_data_func(tname, paths->pdata[i], test_shipped_config);
                }
        } else
                g_test_message("TOP_SRCDIR is not set: the checked-in example configs are not tested");

        return g_test_run();
}
