/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The 1.4.7 command line (spec §5.2): a table of argv cases -> LegacyArgs, the usage and version
 * texts; and the client requests (spec §2.5) end to end against a fake daemon that serves a small
 * Manager vtable peer-to-peer on a UNIX socket, as conntrackd does on its UNIX { Path }: which
 * D-Bus call each option makes, what is printed, and the exit status.
 */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-id128.h>

#include "bus-client.h"
#include "bus-errors.h"
#include "config.h"
#include "legacy-cli.h"

/* ---- capturing stdout and stderr of in-process code ---- */

typedef struct Capture {
        int saved_out, saved_err, out, err;
} Capture;

static void capture_begin(Capture *c) {
        fflush(stdout);
        fflush(stderr);
        c->out = memfd_create("stdout", MFD_CLOEXEC);
        c->err = memfd_create("stderr", MFD_CLOEXEC);
        g_assert_cmpint(c->out, >=, 0);
        g_assert_cmpint(c->err, >=, 0);
        c->saved_out = dup(STDOUT_FILENO);
        c->saved_err = dup(STDERR_FILENO);
        g_assert_cmpint(c->saved_out, >=, 0);
        g_assert_cmpint(c->saved_err, >=, 0);
        g_assert_cmpint(dup2(c->out, STDOUT_FILENO), ==, STDOUT_FILENO);
        g_assert_cmpint(dup2(c->err, STDERR_FILENO), ==, STDERR_FILENO);
}

static char *read_all(int fd) {
        GString *s = g_string_new(NULL);
        char buf[4096];
        ssize_t n;

        g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
        while ((n = read(fd, buf, sizeof buf)) > 0)
                g_string_append_len(s, buf, n);
        g_assert_cmpint(n, ==, 0);
        return g_string_free(s, FALSE);
}

static void capture_end(Capture *c, char **ret_out, char **ret_err) {
        fflush(stdout);
        fflush(stderr);
        g_assert_cmpint(dup2(c->saved_out, STDOUT_FILENO), ==, STDOUT_FILENO);
        g_assert_cmpint(dup2(c->saved_err, STDERR_FILENO), ==, STDERR_FILENO);
        close(c->saved_out);
        close(c->saved_err);
        *ret_out = read_all(c->out);
        *ret_err = read_all(c->err);
        close(c->out);
        close(c->err);
}

/* ---- argv ---- */

#define ARGV_MAX 8

typedef struct ParseCase {
        const char *name;
        const char *argv[ARGV_MAX];     /* after argv[0], NULL-terminated */
        int ret;
        LegacyAction action;
        LegacyRequest request;
        const char *kind, *cache, *section, *config;
        bool xml, detach;
        const char *stderr_contains;    /* for failures: a piece of the message */
} ParseCase;

static const ParseCase parse_cases[] = {
        { "no-options", { NULL }, 0, LEGACY_ACTION_DAEMON, LEGACY_REQ_NONE },
        { "detach", { "-d", NULL }, 0, LEGACY_ACTION_DAEMON, LEGACY_REQ_NONE, .detach = true },
        { "detach-twice", { "-d", "-d", NULL }, 0, LEGACY_ACTION_DAEMON, LEGACY_REQ_NONE,
          .detach = true },
        { "config", { "-C", "/tmp/x.conf", "-d", NULL }, 0, LEGACY_ACTION_DAEMON, LEGACY_REQ_NONE,
          .config = "/tmp/x.conf", .detach = true },
        /* 1.4.7: -C without a file prints the usage and goes on with the default file. */
        { "config-missing", { "-C", NULL }, 0, LEGACY_ACTION_DAEMON, LEGACY_REQ_NONE,
          .stderr_contains = "-C needs a file name" },
        { "config-after-request", { "-s", "-C", "/x", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_STATS, .config = "/x" },
        { "check-config", { "--check-config", NULL }, 0, LEGACY_ACTION_CHECK_CONFIG,
          LEGACY_REQ_NONE },
        { "check-config-with-file", { "-C", "/y", "--check-config", NULL }, 0,
          LEGACY_ACTION_CHECK_CONFIG, LEGACY_REQ_NONE, .config = "/y" },
        { "check-config-and-detach", { "--check-config", "-d", NULL }, -EINVAL,
          .stderr_contains = "Invalid parameters" },
        { "check-config-and-request", { "-s", "--check-config", NULL }, -EINVAL,
          .stderr_contains = "Invalid parameters" },

        /* Options by their second character. */
        { "stats", { "-s", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS },
        { "stats-long-spelling", { "-stats", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS },
        { "kill-long-spelling", { "-kill", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_KILL },

        /* -s sections by prefix, in 1.4.7's order of trial. */
        { "stats-network", { "-s", "network", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "network" },
        { "stats-net", { "-s", "net", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "network" },
        { "stats-n", { "-s", "n", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "network" },
        { "stats-c-is-cache", { "-s", "c", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "cache" },
        { "stats-ct", { "-s", "ct", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "general" },
        { "stats-r-is-runtime", { "-s", "r", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "runtime" },
        { "stats-rs", { "-s", "rs", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "rsqueue" },
        { "stats-e-is-expect", { "-s", "e", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "expect" },
        { "stats-multicast", { "-s", "multicast", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_STATS, .section = "link", .stderr_contains = "-s link" },
        { "stats-m", { "-s", "m", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "link", .stderr_contains = "deprecated" },
        { "stats-link", { "-s", "l", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "link" },
        { "stats-process", { "-s", "proc", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "process" },
        { "stats-queue", { "-s", "q", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "queue" },
        /* 1.4.7 compares strlen(arg) bytes: the empty string matches the first keyword. */
        { "stats-empty", { "-s", "", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_STATS,
          .section = "network" },
        { "stats-unknown", { "-s", "bogus", NULL }, -EINVAL,
          .stderr_contains = "unknown argument of -s" },
        { "stats-too-long", { "-s", "networks", NULL }, -EINVAL,
          .stderr_contains = "unknown argument of -s" },
        { "stats-next-option", { "-s", "-C", "/z", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_STATS, .config = "/z" },

        /* Dumps, -x. */
        { "dump-internal", { "-i", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_DUMP_INTERNAL },
        { "dump-internal-ct", { "-i", "ct", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_DUMP_INTERNAL, .kind = "ct" },
        { "dump-internal-c", { "-i", "c", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_DUMP_INTERNAL, .kind = "ct" },
        { "dump-internal-e", { "-i", "e", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_DUMP_INTERNAL, .kind = "expect" },
        { "dump-external-expect-xml", { "-e", "expect", "-x", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_DUMP_EXTERNAL, .kind = "expect", .xml = true },
        { "dump-internal-xml", { "-i", "-x", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_DUMP_INTERNAL, .xml = true },
        /* An argument that is neither ct nor expect is parsed as the next option. */
        { "dump-unknown-kind", { "-i", "foo", NULL }, -EINVAL,
          .stderr_contains = "Unknown option: foo" },
        { "xml-first", { "-x", "-i", NULL }, -EINVAL, .stderr_contains = "Invalid parameters" },
        { "xml-after-stats", { "-s", "-x", NULL }, -EINVAL,
          .stderr_contains = "Invalid parameters" },
        { "xml-alone", { "-x", NULL }, -EINVAL, .stderr_contains = "-x must follow -i or -e" },
        /* A later request replaces the dump and its -x. */
        { "xml-then-flush", { "-i", "-x", "-f", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_FLUSH_CACHE },
        { "dump-then-xml-again", { "-i", "-x", "-e", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_DUMP_EXTERNAL },

        /* Last request wins. */
        { "commit-then-flush", { "-c", "-f", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_FLUSH_CACHE },
        { "flush-then-commit", { "-f", "internal", "-c", "ct", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_COMMIT, .kind = "ct" },
        { "dump-kind-then-stats", { "-i", "expect", "-s", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_STATS },

        /* The other requests. */
        { "commit", { "-c", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_COMMIT },
        { "commit-expect", { "-c", "exp", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_COMMIT,
          .kind = "expect" },
        { "flush-internal", { "-f", "internal", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_FLUSH_CACHE, .cache = "internal" },
        { "flush-ext", { "-f", "ext", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_FLUSH_CACHE,
          .cache = "external" },
        { "flush-unknown", { "-f", "foo", NULL }, -EINVAL,
          .stderr_contains = "unknown argument of -f" },
        { "flush-kernel", { "-F", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_FLUSH_KERNEL },
        { "flush-kernel-ct", { "-F", "ct", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_FLUSH_KERNEL, .kind = "ct" },
        { "resync-expect", { "-R", "expect", NULL }, 0, LEGACY_ACTION_CLIENT,
          LEGACY_REQ_RESYNC_KERNEL, .kind = "expect" },
        { "bulk", { "-B", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_BULK_SEND },
        { "request-resync", { "-n", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_REQUEST_RESYNC },
        { "kill", { "-k", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_KILL },
        { "reset-timers", { "-t", NULL }, 0, LEGACY_ACTION_CLIENT, LEGACY_REQ_RESET_TIMERS },

        /* -d and a request exclude each other, in either order. */
        { "detach-and-request", { "-d", "-s", NULL }, -EINVAL,
          .stderr_contains = "Invalid parameters" },
        { "request-and-detach", { "-k", "-d", NULL }, -EINVAL,
          .stderr_contains = "Invalid parameters" },

        /* Unknown options: usage and failure (1.4.9+ behaviour). */
        { "unknown", { "-z", NULL }, -EINVAL, .stderr_contains = "Unknown option: -z" },
        { "unknown-long", { "--foo", NULL }, -EINVAL, .stderr_contains = "Unknown option: --foo" },
        { "unknown-word", { "stats", NULL }, -EINVAL, .stderr_contains = "Unknown option: stats" },
        { "unknown-dash", { "-", NULL }, -EINVAL, .stderr_contains = "Unknown option: -" },
        { "unknown-before-help", { "-z", "-h", NULL }, -EINVAL, .stderr_contains = "Usage:" },

        /* -h and -v end parsing where they stand. */
        { "help", { "-h", NULL }, 0, LEGACY_ACTION_HELP },
        { "help-after-request", { "-s", "-h", "-z", NULL }, 0, LEGACY_ACTION_HELP },
        { "help-long", { "--help", NULL }, 0, LEGACY_ACTION_HELP },
        { "version", { "-v", NULL }, 0, LEGACY_ACTION_VERSION },
        { "version-long", { "--version", NULL }, 0, LEGACY_ACTION_VERSION },
};

static void test_parse(gconstpointer data) {
        const ParseCase *c = data;
        char *argv[ARGV_MAX + 2] = { (char *) "conntrackd" };
        g_autofree char *out = NULL, *err = NULL;
        LegacyArgs a = { .action = _LEGACY_ACTION_INVALID };
        Capture cap;
        int argc = 1, r;

        for (size_t i = 0; c->argv[i]; i++)
                argv[argc++] = (char *) c->argv[i];

        capture_begin(&cap);
        r = legacy_args_parse(argc, argv, &a);
        capture_end(&cap, &out, &err);

        g_assert_cmpstr(out, ==, "");
        if (c->stderr_contains)
                g_assert_nonnull(strstr(err, c->stderr_contains));
        g_assert_cmpint(r, ==, c->ret);
        if (r < 0) {
                g_assert_nonnull(strstr(err, "[ERROR]"));
                return;
        }
        if (!c->stderr_contains)
                g_assert_cmpstr(err, ==, "");

        g_assert_cmpint(a.action, ==, c->action);
        g_assert_cmpstr(a.config_path, ==, c->config ?: CONFIG_DEFAULT_PATH);
        if (c->action != LEGACY_ACTION_CLIENT && c->action != LEGACY_ACTION_DAEMON &&
            c->action != LEGACY_ACTION_CHECK_CONFIG)
                return;
        g_assert_cmpint(a.request, ==, c->request);
        g_assert_cmpstr(a.kind, ==, c->kind);
        g_assert_cmpstr(a.cache, ==, c->cache);
        g_assert_cmpstr(a.section, ==, c->section);
        g_assert_cmpint(a.xml, ==, c->xml);
        g_assert_cmpint(a.detach, ==, c->detach);
}

static void test_unknown_option_usage(void) {
        char *argv[] = { (char *) "conntrackd", (char *) "-z", NULL };
        g_autofree char *out = NULL, *err = NULL;
        LegacyArgs a;
        Capture cap;

        capture_begin(&cap);
        g_assert_cmpint(legacy_args_parse(2, argv, &a), ==, -EINVAL);
        capture_end(&cap, &out, &err);
        g_assert_true(g_str_has_prefix(err, "Connection tracking userspace daemon v1.4.7\n"
                                             "Usage: conntrackd [commands] [options]\n"));
}

static void test_version(void) {
        g_autofree char *out = NULL, *err = NULL;
        Capture cap;

        capture_begin(&cap);
        legacy_print_version();
        capture_end(&cap, &out, &err);
        /* The two lines of 1.4.7, exactly; our version after them. */
        g_assert_true(g_str_has_prefix(out, "Connection tracking userspace daemon v1.4.7. "
                                            "Licensed under GPLv2.\n"
                                            "(C) 2006-2009 Pablo Neira Ayuso "
                                            "<pablo@netfilter.org>\n"));
        g_assert_nonnull(strstr(out, PACKAGE_VERSION));
        g_assert_cmpstr(err, ==, "");
}

static void test_help(void) {
        g_autofree char *out = NULL, *err = NULL;
        Capture cap;

        capture_begin(&cap);
        legacy_print_help();
        capture_end(&cap, &out, &err);
        g_assert_true(g_str_has_prefix(out, "Connection tracking userspace daemon v1.4.7\n"
                                            "Usage: conntrackd [commands] [options]\n"));
        g_assert_nonnull(strstr(out, "\nGeneral commands:\n"));
        g_assert_nonnull(strstr(out, "\nClient mode commands:\n"));
        g_assert_nonnull(strstr(out, "-s [network|cache|runtime|link|rsqueue|queue|ct|expect]"));
        g_assert_true(strstr(out, "General commands:") < strstr(out, "Client mode commands:"));
        /* Every option of 1.4.7 is listed. */
        for (const char *o = "cfFiexsRBnktCdhv"; *o; o++) {
                char opt[4] = { ' ', '-', *o, '\0' };

                g_assert_nonnull(strstr(out, opt));
        }
        g_assert_cmpstr(err, ==, "");
}

/* ---- the client against a fake daemon ---- */

#define FAKE_LINES 20000        /* a dump of ~1 MiB, more than one pipe or read buffer */

typedef struct FakeState {
        const char *log_path;
        bool quit;
        bool monitor_script;    /* Get(Version): answer, emit signals, then go away */
        bool emitted;
} FakeState;

static void fake_log(FakeState *s, const char *format, ...) G_GNUC_PRINTF(2, 3);
static void fake_log(FakeState *s, const char *format, ...) {
        va_list ap;
        FILE *f;

        f = fopen(s->log_path, "ae");
        if (!f)
                _exit(3);
        va_start(ap, format);
        vfprintf(f, format, ap);
        va_end(ap);
        fputc('\n', f);
        fclose(f);
}

static int fake_get_statistics(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *section;
        int r;

        r = sd_bus_message_read(m, "s", &section);
        if (r < 0)
                return r;
        fake_log(userdata, "GetStatistics %s", section);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}", "mode", "s", "ftfw");
        if (r < 0)
                return r;
        if (streq(section, "general")) {
                /* Every integer width the client must take as a counter. */
                r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}{sv}",
                                          "internal.active", "t", (uint64_t) 8,
                                          "internal.add_ok", "u", (uint32_t) 10,
                                          "internal.del_ok", "q", (uint16_t) 2,
                                          "external.active", "t", (uint64_t) 0,
                                          "traffic.bytes", "x", (int64_t) 1234,
                                          "unrelated", "as", 2, "a", "b");
        } else if (streq(section, "runtime"))
                r = sd_bus_message_append(reply, "{sv}{sv}", "runtime.uptime", "t",
                                          (uint64_t) 90061, "netlink.buffer_size", "u",
                                          (uint32_t) 212992);
        else if (streq(section, "rsqueue"))
                r = sd_bus_message_append(reply, "{sv}", "rsqueue.entries", "a(btt)", 2,
                                          1, (uint64_t) 5, (uint64_t) 104,
                                          0, (uint64_t) 6, (uint64_t) 0);
        if (r < 0)
                return r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int fake_dump_cache(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *cache, *kind, *format;
        _cleanup_close_ int fd = -EBADF;
        FILE *f;
        int r;

        r = sd_bus_message_read(m, "sss", &cache, &kind, &format);
        if (r < 0)
                return r;
        fake_log(userdata, "DumpCache %s %s %s", cache, kind, format);
        if (streq(cache, "external"))
                return sd_bus_error_set(error, BUS_ERROR_NOT_SUPPORTED,
                                        "There is no external conntrack cache: Stats mode");

        fd = memfd_create("dump", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        f = fdopen(dup(fd), "w");
        if (!f)
                return -errno;
        for (unsigned i = 0; i < FAKE_LINES; i++)
                fprintf(f, "flow %u %s %s %s\n", i, cache, kind, format);
        if (fclose(f) != 0)
                return -EIO;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        return sd_bus_reply_method_return(m, "h", fd);
}

static int fake_flush_cache(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *cache, *kind;
        int r;

        r = sd_bus_message_read(m, "ss", &cache, &kind);
        if (r < 0)
                return r;
        fake_log(userdata, "FlushCache %s %s", cache, kind);
        return sd_bus_reply_method_return(m, NULL);
}

static int fake_flush_kernel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *kind;
        int r;

        r = sd_bus_message_read(m, "s", &kind);
        if (r < 0)
                return r;
        fake_log(userdata, "FlushKernel %s", kind);
        if (streq(kind, "expect"))
                return sd_bus_error_set(error, BUS_ERROR_KERNEL_FAILED,
                                        "Failed to flush the kernel expectation table: Bad luck");
        return sd_bus_reply_method_return(m, "t", (uint64_t) 42);
}

static int fake_resync_kernel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *kind;
        int r;

        r = sd_bus_message_read(m, "s", &kind);
        if (r < 0)
                return r;
        fake_log(userdata, "ResyncKernel %s", kind);
        return sd_bus_reply_method_return(m, "t", (uint64_t) 7);
}

/* Commit("all") succeeds, "ct" finds a commit running, "expect" does not apply. */
static int fake_commit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *what;
        int r;

        r = sd_bus_message_read(m, "s", &what);
        if (r < 0)
                return r;
        fake_log(userdata, "Commit %s", what);
        if (streq(what, "ct"))
                return sd_bus_error_set(error, BUS_ERROR_BUSY, "commit already in progress");
        if (streq(what, "expect"))
                return sd_bus_error_set(error, BUS_ERROR_NOT_SUPPORTED,
                                        "There is no external expectation cache");
        return sd_bus_reply_method_return(m, "ttttt", (uint64_t) 100, (uint64_t) 2, (uint64_t) 3,
                                          (uint64_t) 0, (uint64_t) 1500000);
}

static int fake_send_bulk(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        fake_log(userdata, "SendBulk");
        return sd_bus_reply_method_return(m, NULL);
}

/* As a daemon of an older version would answer. */
static int fake_request_resync(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        fake_log(userdata, "RequestResync");
        return sd_bus_error_set(error, SD_BUS_ERROR_UNKNOWN_METHOD,
                                "Unknown method RequestResync or interface "
                                "org.netfilter.conntrackd1.Manager.");
}

static int fake_reset_timers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        fake_log(userdata, "ResetTimers");
        return sd_bus_error_set(error, SD_BUS_ERROR_ACCESS_DENIED,
                                "ResetTimers() is allowed for root only (caller's uid is 1000)");
}

static int fake_quit(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        FakeState *s = userdata;

        fake_log(s, "Quit");
        s->quit = true;
        return sd_bus_reply_method_return(m, NULL);
}

/* Properties, for conntrackctl status. */
static int fake_get_property(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        static const struct {
                const char *name, *string;
                uint64_t value;
        } props[] = {
                { "Version", "9.9.9", 0 },
                { "CompatibleVersion", "1.4.7", 0 },
                { "Mode", "ftfw", 0 },
                { "State", "running", 0 },
                { "ConfigFile", "/etc/conntrackd/conntrackd.conf", 0 },
                { "UptimeSeconds", NULL, 3661 },
                { "InternalCacheSize", NULL, 8 },
                { "ExternalCacheSize", NULL, 131072 },
                { "InternalExpectCacheSize", NULL, 1 },
                { "ExternalExpectCacheSize", NULL, 2 },
                { "CacheLimit", NULL, 262144 },
                { "EventsReceived", NULL, 1000 },
                { "CacheFull", NULL, 3 },
                { "NetlinkOverruns", NULL, 4 },
                { "KernelResyncs", NULL, 5 },
                { "Role", "backup", 0 },
        };
        FakeState *s = userdata;

        if (streq(property, "Version") && s->monitor_script)
                s->emitted = true;      /* fake_serve() emits the signals after this answer */
        if (streq(property, "NetlinkBufferSize"))
                return sd_bus_message_append(reply, "u", (uint32_t) 212992);
        if (streq(property, "InSync"))
                return sd_bus_message_append(reply, "b", true);
        for (size_t i = 0; i < G_N_ELEMENTS(props); i++)
                if (streq(property, props[i].name))
                        return props[i].string ? sd_bus_message_append(reply, "s", props[i].string) :
                                                 sd_bus_message_append(reply, "t", props[i].value);
        return -ENOENT;
}

#define FAKE_PROPERTY(name, type) \
        SD_BUS_PROPERTY(name, type, fake_get_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE)

static const sd_bus_vtable fake_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("GetStatistics", "s", "a{sv}", fake_get_statistics, 0),
        SD_BUS_METHOD("DumpCache", "sss", "h", fake_dump_cache, 0),
        SD_BUS_METHOD("FlushCache", "ss", "", fake_flush_cache, 0),
        SD_BUS_METHOD("FlushKernel", "s", "t", fake_flush_kernel, 0),
        SD_BUS_METHOD("ResyncKernel", "s", "t", fake_resync_kernel, 0),
        SD_BUS_METHOD("Commit", "s", "ttttt", fake_commit, 0),
        SD_BUS_METHOD("SendBulk", "", "", fake_send_bulk, 0),
        SD_BUS_METHOD("RequestResync", "", "", fake_request_resync, 0),
        SD_BUS_METHOD("ResetTimers", "", "", fake_reset_timers, 0),
        SD_BUS_METHOD("Quit", "", "", fake_quit, 0),
        FAKE_PROPERTY("Version", "s"),
        FAKE_PROPERTY("CompatibleVersion", "s"),
        FAKE_PROPERTY("Mode", "s"),
        FAKE_PROPERTY("State", "s"),
        FAKE_PROPERTY("ConfigFile", "s"),
        FAKE_PROPERTY("UptimeSeconds", "t"),
        FAKE_PROPERTY("InternalCacheSize", "t"),
        FAKE_PROPERTY("ExternalCacheSize", "t"),
        FAKE_PROPERTY("InternalExpectCacheSize", "t"),
        FAKE_PROPERTY("ExternalExpectCacheSize", "t"),
        FAKE_PROPERTY("CacheLimit", "t"),
        FAKE_PROPERTY("EventsReceived", "t"),
        FAKE_PROPERTY("CacheFull", "t"),
        FAKE_PROPERTY("NetlinkOverruns", "t"),
        FAKE_PROPERTY("NetlinkBufferSize", "u"),
        FAKE_PROPERTY("KernelResyncs", "t"),
        FAKE_PROPERTY("Role", "s"),
        FAKE_PROPERTY("InSync", "b"),
        SD_BUS_SIGNAL("Overrun", "tuu", 0),
        SD_BUS_SIGNAL("ResyncDone", "stt", 0),
        SD_BUS_SIGNAL("CommitDone", "ttttt", 0),
        SD_BUS_VTABLE_END,
};

/* Serve one peer-to-peer connection until the client closes it (or Quit). */
static void fake_serve(int fd, FakeState *s) {
        sd_bus *bus = NULL;
        sd_id128_t id;

        if (sd_bus_new(&bus) < 0 || sd_bus_set_fd(bus, fd, fd) < 0 ||
            sd_id128_randomize(&id) < 0 || sd_bus_set_server(bus, 1, id) < 0 ||
            sd_bus_add_object_vtable(bus, NULL, CONNTRACKD_BUS_PATH, CONNTRACKD_BUS_INTERFACE,
                                     fake_vtable, s) < 0 ||
            sd_bus_start(bus) < 0)
                _exit(4);

        s->quit = false;
        s->emitted = false;
        for (;;) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0 || s->quit)
                        break;
                if (s->emitted) {
                        /* What a monitor sees of a daemon that overruns, resyncs and stops. */
                        if (sd_bus_emit_signal(bus, CONNTRACKD_BUS_PATH, CONNTRACKD_BUS_INTERFACE,
                                               "Overrun", "tuu", (uint64_t) 3, (uint32_t) 425984,
                                               (uint32_t) 30) < 0 ||
                            sd_bus_emit_properties_changed(bus, CONNTRACKD_BUS_PATH,
                                                           CONNTRACKD_BUS_INTERFACE,
                                                           "NetlinkOverruns", NULL) < 0 ||
                            sd_bus_emit_signal(bus, CONNTRACKD_BUS_PATH, CONNTRACKD_BUS_INTERFACE,
                                               "ResyncDone", "stt", "ct", (uint64_t) 1000,
                                               (uint64_t) 2500) < 0 ||
                            sd_bus_emit_signal(bus, CONNTRACKD_BUS_PATH, CONNTRACKD_BUS_INTERFACE,
                                               "CommitDone", "ttttt", (uint64_t) 100,
                                               (uint64_t) 2, (uint64_t) 3, (uint64_t) 0,
                                               (uint64_t) 1500000) < 0)
                                _exit(5);
                        break;
                }
                if (r > 0)
                        continue;
                if (sd_bus_wait(bus, UINT64_MAX) < 0)
                        break;
        }
        sd_bus_flush_close_unref(bus);
}

static G_NORETURN void fake_daemon(int listen_fd, const char *log_path, bool monitor_script) {
        FakeState s = { .log_path = log_path, .monitor_script = monitor_script };

        for (;;) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        _exit(2);
                }
                fake_serve(fd, &s);
        }
}

/* Fixture data that makes the fake daemon play the monitor script. */
static const int monitor_script = 1;

typedef struct Fixture {
        char *dir, *socket_path, *log_path;
        pid_t pid;
} Fixture;

static int unix_socket_at(const char *path, bool do_listen) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        g_assert_cmpuint(strlen(path), <, sizeof sa.sun_path);
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
        if (do_listen)
                g_assert_cmpint(listen(fd, 16), ==, 0);
        return fd;
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        pid_t parent;
        int fd;

        f->dir = g_dir_make_tmp("test-legacy-cli-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        /* Characters that need escaping in a D-Bus address. */
        f->socket_path = g_build_filename(f->dir, "ctl sock,=;", NULL);
        f->log_path = g_build_filename(f->dir, "calls.log", NULL);

        /* Listening before the fork: the client can connect at once, no waiting. */
        fd = unix_socket_at(f->socket_path, true);
        parent = getpid();
        f->pid = fork();
        g_assert_cmpint(f->pid, >=, 0);
        if (f->pid == 0) {
                /* Die with the test, also when an assertion aborts it before the teardown. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(1);
                fake_daemon(fd, f->log_path, data == &monitor_script);
        }
        close(fd);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        int status;

        g_assert_cmpint(kill(f->pid, SIGKILL), ==, 0);
        g_assert_cmpint(waitpid(f->pid, &status, 0), ==, f->pid);
        g_assert_true(WIFSIGNALED(status));
        (void) g_unlink(f->socket_path);
        (void) g_unlink(f->log_path);
        g_assert_cmpint(g_rmdir(f->dir), ==, 0);
        g_free(f->socket_path);
        g_free(f->log_path);
        g_free(f->dir);
}

/* Parse argv (after "conntrackd") and run the client against the socket at 'path'. */
static int run_client(const char *path, const char *const *args, char **ret_out, char **ret_err) {
        _cleanup_(config_freep) Config *config = NULL;
        char *argv[ARGV_MAX + 2] = { (char *) "conntrackd" };
        LegacyArgs a;
        Capture cap;
        int argc = 1, status;

        for (size_t i = 0; args[i]; i++)
                argv[argc++] = (char *) args[i];
        g_assert_cmpint(legacy_args_parse(argc, argv, &a), ==, 0);
        g_assert_cmpint(a.action, ==, LEGACY_ACTION_CLIENT);

        g_assert_cmpint(config_new_default(&config), ==, 0);
        free(config->unix_path);
        config->unix_path = g_strdup(path);     /* g_strdup is malloc() since GLib 2.46 */

        capture_begin(&cap);
        status = legacy_client_run(&a, config);
        capture_end(&cap, ret_out, ret_err);
        return status;
}

static char *read_log(Fixture *f) {
        char *s = NULL;

        if (!g_file_get_contents(f->log_path, &s, NULL, NULL))
                return g_strdup("");
        (void) g_unlink(f->log_path);
        return s;
}

#define ARGS(...) ((const char *const[]) { __VA_ARGS__, NULL })

typedef struct CallCase {
        const char *name;
        const char *args[ARGV_MAX];
        const char *calls;              /* what the fake daemon saw */
        int status;
        const char *out;                /* NULL: not checked */
        const char *err;                /* exact stderr */
} CallCase;

static const CallCase call_cases[] = {
        { "flush-all", { "-f", NULL }, "FlushCache all all\n", 0, "", "" },
        { "flush-internal", { "-f", "internal", NULL }, "FlushCache internal ct\n", 0, "", "" },
        { "flush-external", { "-f", "e", NULL }, "FlushCache external ct\n", 0, "", "" },
        { "flush-kernel", { "-F", NULL }, "FlushKernel all\n", 0, "", "" },
        { "flush-kernel-ct", { "-F", "ct", NULL }, "FlushKernel ct\n", 0, "", "" },
        /* An error the daemon answers: printed, and delivered (exit 0) as 1.4.7. */
        { "flush-kernel-failed", { "-F", "expect", NULL }, "FlushKernel expect\n", 0, "",
          "[ERROR] Failed to flush the kernel expectation table: Bad luck\n" },
        { "resync", { "-R", NULL }, "ResyncKernel all\n", 0, "", "" },
        { "resync-expect", { "-R", "expect", NULL }, "ResyncKernel expect\n", 0, "", "" },
        { "bulk", { "-B", NULL }, "SendBulk\n", 0, "", "" },
        /* -c waits for the end of the commit; prints nothing, failures or not, as 1.4.7. */
        { "commit", { "-c", NULL }, "Commit all\n", 0, "", "" },
        /* A commit running: said on stderr, delivered. */
        { "commit-busy", { "-c", "ct", NULL }, "Commit ct\n", 0, "",
          "[ERROR] commit already in progress\n" },
        /* Does not apply in this mode: nothing, success (1.4.7). */
        { "commit-not-supported", { "-c", "e", NULL }, "Commit expect\n", 0, "", "" },
        { "reset-timers-denied", { "-t", NULL }, "ResetTimers\n", 1, "",
          "[ERROR] permission denied: ResetTimers() is allowed for root only (caller's uid is "
          "1000)\n" },
        /* Not in this daemon (an older version): a clear message and failure. */
        { "request-resync-unknown", { "-n", NULL }, "RequestResync\n", 1, "", NULL },
        /* NotSupported: nothing, and success, as 1.4.7 in Stats mode. */
        { "dump-external-not-supported", { "-e", NULL }, "DumpCache external ct plain\n", 0, "", "" },
        { "kill", { "-k", NULL }, "Quit\n", 0, "", "" },
        { "stats-process", { "-s", "process", NULL }, "GetStatistics process\n", 0, "", "" },
        { "stats-rsqueue", { "-s", "rsqueue", NULL }, "GetStatistics rsqueue\n", 0,
          "resent queue (len=2)\ncontrol -> seq:5 flags:104\nobject -> seq:6\n", "" },
};

static void test_call(Fixture *f, gconstpointer data) {
        const CallCase *c = data;
        g_autofree char *out = NULL, *err = NULL, *calls = NULL;
        int status;

        status = run_client(f->socket_path, c->args, &out, &err);
        calls = read_log(f);
        g_assert_cmpstr(calls, ==, c->calls);
        if (c->out)
                g_assert_cmpstr(out, ==, c->out);
        if (c->err)
                g_assert_cmpstr(err, ==, c->err);
        g_assert_cmpint(status, ==, c->status);
}

static void test_unknown_method_message(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *err = NULL;

        g_assert_cmpint(run_client(f->socket_path, ARGS("-n"), &out, &err), ==, 1);
        g_assert_true(g_str_has_prefix(err, "[ERROR] this conntrackd does not support requesting "
                                            "a resync from the peers (-n) yet (no D-Bus method "
                                            "RequestResync)"));
        g_assert_cmpstr(out, ==, "");
}

static void test_dump(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *err = NULL, *calls = NULL;
        g_autofree char *xout = NULL, *xerr = NULL;
        gchar **lines;

        g_assert_cmpint(run_client(f->socket_path, ARGS("-i"), &out, &err), ==, 0);
        g_assert_cmpstr(err, ==, "");
        lines = g_strsplit(out, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, FAKE_LINES + 1);
        g_assert_cmpstr(lines[0], ==, "flow 0 internal ct plain");
        g_assert_cmpstr(lines[FAKE_LINES - 1], ==, "flow 19999 internal ct plain");
        g_assert_cmpstr(lines[FAKE_LINES], ==, "");
        g_strfreev(lines);

        g_assert_cmpint(run_client(f->socket_path, ARGS("-i", "expect", "-x"), &xout, &xerr), ==, 0);
        g_assert_true(g_str_has_prefix(xout, "flow 0 internal expect xml\nflow 1 internal expect xml\n"));
        calls = read_log(f);
        g_assert_cmpstr(calls, ==, "DumpCache internal ct plain\nDumpCache internal expect xml\n");
}

static void test_stats(Fixture *f, gconstpointer data) {
        g_autofree char *out = NULL, *err = NULL, *rout = NULL, *rerr = NULL, *calls = NULL;

        g_assert_cmpint(run_client(f->socket_path, ARGS("-s"), &out, &err), ==, 0);
        g_assert_cmpstr(err, ==, "");
        g_assert_true(g_str_has_prefix(out,
                "cache internal:\n"
                "current active connections:\t           8\n"
                "connections created:\t\t          10\tfailed:\t           0\n"
                "connections updated:\t\t           0\tfailed:\t           0\n"
                "connections destroyed:\t\t           2\tfailed:\t           0\n"
                "\n"
                "cache external:\n"));
        g_assert_nonnull(strstr(out, "traffic processed:\n"
                                     "                1234 Bytes                         0 Pckts\n"));
        g_assert_true(g_str_has_suffix(out, "Lost msgs\n\n"));

        g_assert_cmpint(run_client(f->socket_path, ARGS("-s", "runtime"), &rout, &rerr), ==, 0);
        g_assert_true(g_str_has_prefix(rout, "daemon uptime: 1 day 1 h 1 min\n\nnetlink stats:\n"));
        g_assert_nonnull(strstr(rout, "\tcurrent buffer size (in bytes):\t      212992\n"));

        calls = read_log(f);
        g_assert_cmpstr(calls, ==, "GetStatistics general\nGetStatistics runtime\n");
}

/* Several requests on one daemon, as scripts do. */
static void test_sequence(Fixture *f, gconstpointer data) {
        g_autofree char *calls = NULL;

        for (unsigned i = 0; i < 20; i++) {
                g_autofree char *out = NULL, *err = NULL;

                g_assert_cmpint(run_client(f->socket_path, ARGS("-s", "process"), &out, &err), ==, 0);
        }
        calls = read_log(f);
        g_assert_cmpuint(strlen(calls), ==, 20 * strlen("GetStatistics process\n"));
}

static void test_cant_connect(void) {
        g_autofree char *dir = g_dir_make_tmp("test-legacy-cli-XXXXXX", NULL);
        g_autofree char *missing = g_build_filename(dir, "missing.ctl", NULL);
        g_autofree char *stale = g_build_filename(dir, "stale.ctl", NULL);
        const char *expected = "[ERROR] can't connect: is conntrackd running? appropriate "
                               "permissions?\n";
        int fd = -EBADF;

        for (unsigned i = 0; i < 2; i++) {
                g_autofree char *out = NULL, *err = NULL;
                const char *path = missing;

                if (i == 1) {
                        /* A socket nobody accepts on: a daemon that died without cleaning up. */
                        fd = unix_socket_at(stale, false);
                        path = stale;
                }
                g_assert_cmpint(run_client(path, ARGS("-s"), &out, &err), ==, 1);
                g_assert_cmpstr(out, ==, "");
                g_assert_cmpstr(err, ==, expected);
        }
        close(fd);
        g_assert_cmpint(g_unlink(stale), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* ---- conntrackctl against the fake daemon ---- */

/* Run $CONNTRACKCTL with 'args'; returns its exit status. */
static int run_ctl(const char *const *args, char **ret_out, char **ret_err) {
        const char *ctl = g_getenv("CONNTRACKCTL");
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        int status;

        g_assert_nonnull(ctl);
        g_ptr_array_add(argv, (char *) ctl);
        for (size_t i = 0; args[i]; i++)
                g_ptr_array_add(argv, (char *) args[i]);
        g_ptr_array_add(argv, NULL);

        g_assert_true(g_spawn_sync(NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                                   ret_out, ret_err, &status, &error));
        g_assert_no_error(error);
        g_assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

static bool have_ctl(void) {
        if (g_getenv("CONNTRACKCTL"))
                return true;
        g_test_skip("$CONNTRACKCTL is not set (run with meson test)");
        return false;
}

static char *address_of(Fixture *f) {
        g_autofree char *escaped = bus_address_escape(f->socket_path);

        return g_strdup_printf("--address=unix:path=%s", escaped);
}

typedef struct CtlCase {
        const char *name;
        const char *args[ARGV_MAX];     /* after --address=... */
        int status;
        const char *out;                /* NULL: not checked */
        const char *err;                /* NULL: not checked; else a piece of stderr */
        const char *calls;              /* NULL: not checked */
} CtlCase;

static const CtlCase ctl_cases[] = {
        { "status-json", { "--json", "status", NULL }, 0,
          "{\"Version\":\"9.9.9\",\"CompatibleVersion\":\"1.4.7\",\"Mode\":\"ftfw\","
          "\"State\":\"running\",\"ConfigFile\":\"/etc/conntrackd/conntrackd.conf\","
          "\"UptimeSeconds\":3661,\"InternalCacheSize\":8,\"ExternalCacheSize\":131072,"
          "\"InternalExpectCacheSize\":1,\"ExternalExpectCacheSize\":2,\"CacheLimit\":262144,"
          "\"EventsReceived\":1000,\"CacheFull\":3,\"NetlinkOverruns\":4,"
          "\"NetlinkBufferSize\":212992,\"KernelResyncs\":5,\"Role\":\"backup\","
          "\"InSync\":1}\n", "", NULL },
        { "flush-kernel", { "flush", "kernel", NULL }, 0,
          "42 entries deleted from the kernel table.\n", "", "FlushKernel all\n" },
        { "flush-kernel-json", { "--json", "flush", "kernel", "ct", NULL }, 0, "{\"deleted\":42}\n",
          "", "FlushKernel ct\n" },
        { "flush-kernel-failed", { "flush", "kernel", "expect", NULL }, 1, "",
          "Failed to flush the kernel table: Failed to flush the kernel expectation table: Bad luck\n",
          "FlushKernel expect\n" },
        { "flush-cache", { "flush", "internal", "ct", NULL }, 0, "", "", "FlushCache internal ct\n" },
        { "flush-all", { "flush", "all", NULL }, 0, "", "", "FlushCache all all\n" },
        { "flush-bad-cache", { "flush", "everything", NULL }, 1, "", "Invalid cache \"everything\"",
          "" },
        { "resync", { "resync", "ct", NULL }, 0,
          "Internal cache resynced with the kernel table: 7 entries.\n", "", "ResyncKernel ct\n" },
        { "dump-not-supported", { "dump", "external", NULL }, 1, "",
          "Failed to dump the cache: There is no external conntrack cache: Stats mode\n",
          "DumpCache external ct plain\n" },
        { "dump-json", { "--json", "dump", "internal", "expect", NULL }, 0, NULL, "",
          "DumpCache internal expect json\n" },
        { "dump-bad-kind", { "dump", "internal", "flows", NULL }, 1, "", "Invalid kind \"flows\"",
          "" },
        { "stats", { "stats", "runtime", NULL }, 0,
          "COUNTER             VALUE\n"
          "mode                ftfw\n"
          "netlink.buffer_size 212992\n"
          "runtime.uptime      90061\n", "", "GetStatistics runtime\n" },
        { "stats-no-legend", { "--no-legend", "stats", "runtime", NULL }, 0,
          "mode                ftfw\n"
          "netlink.buffer_size 212992\n"
          "runtime.uptime      90061\n", "", NULL },
        { "stats-json", { "--json", "stats", "runtime", NULL }, 0,
          "{\"mode\":\"ftfw\",\"netlink.buffer_size\":212992,\"runtime.uptime\":90061}\n", "",
          NULL },
        { "stats-all", { "stats", NULL }, 0, "COUNTER VALUE\nmode    ftfw\n", "",
          "GetStatistics \n" },
        { "stats-bad-section", { "stats", "everything", NULL }, 1, "", "Invalid section", "" },
        { "quit", { "quit", NULL }, 0, "", "", "Quit\n" },
        { "commit", { "commit", NULL }, 0,
          "Committed 100 flows (2 failed) and 3 expectations (0 failed) in 1.500000 s.\n", "",
          "Commit all\n" },
        { "commit-json", { "--json", "commit", "all", NULL }, 0,
          "{\"flows_ok\":100,\"flows_failed\":2,\"expectations_ok\":3,"
          "\"expectations_failed\":0,\"duration_usec\":1500000}\n", "", "Commit all\n" },
        { "commit-busy", { "commit", "ct", NULL }, 1, "",
          "Failed to commit the external cache: commit already in progress\n", "Commit ct\n" },
        { "commit-not-supported", { "commit", "expect", NULL }, 1, "",
          "Failed to commit the external cache: There is no external expectation cache\n",
          "Commit expect\n" },
        { "commit-bad-kind", { "commit", "flows", NULL }, 1, "", "Invalid kind \"flows\"", "" },
        { "send-bulk", { "send-bulk", NULL }, 0, "", "", "SendBulk\n" },
        { "request-resync-unknown", { "request-resync", NULL }, 1, "",
          "Failed to request a resync from the peers: Unknown method RequestResync",
          "RequestResync\n" },
        { "reset-timers-denied", { "reset-timers", NULL }, 1, "",
          "Failed to schedule the flush of the kernel table: ResetTimers() is allowed for root "
          "only", "ResetTimers\n" },
        { "send-bulk-too-many", { "send-bulk", "now", NULL }, 1, "", "Too many arguments", "" },
        { "reload-unknown", { "reload", NULL }, 1, "", "Failed to reload the configuration: ", "" },
        { "xml-not-for-stats", { "--xml", "stats", NULL }, 1, "", "--xml applies to dump only", "" },
        { "json-and-xml", { "--json", "--xml", "dump", "internal", NULL }, 1, "", "exclude", "" },
        { "unknown-verb", { "frobnicate", NULL }, 1, "", "Unknown command \"frobnicate\"", "" },
        { "too-many", { "quit", "now", NULL }, 1, "", "Too many arguments", "" },
        { "too-few", { "dump", NULL }, 1, "", "Too few arguments", "" },
};

static void test_ctl(Fixture *f, gconstpointer data) {
        const CtlCase *c = data;
        g_autofree char *address = address_of(f), *out = NULL, *err = NULL, *calls = NULL;
        const char *args[ARGV_MAX + 2] = { address };
        int status;

        if (!have_ctl())
                return;
        for (size_t i = 0; c->args[i]; i++)
                args[i + 1] = c->args[i];

        status = run_ctl(args, &out, &err);
        calls = read_log(f);
        if (c->out)
                g_assert_cmpstr(out, ==, c->out);
        if (c->err && c->err[0])
                g_assert_nonnull(strstr(err, c->err));
        else if (c->err)
                g_assert_cmpstr(err, ==, "");
        if (c->calls)
                g_assert_cmpstr(calls, ==, c->calls);
        g_assert_cmpint(status, ==, c->status);
}

static void test_ctl_status(Fixture *f, gconstpointer data) {
        g_autofree char *address = address_of(f), *out = NULL, *err = NULL;

        if (!have_ctl())
                return;
        g_assert_cmpint(run_ctl(ARGS(address), &out, &err), ==, 0);     /* status is the default */
        g_assert_cmpstr(err, ==, "");
        g_assert_nonnull(strstr(out, "         Version: 9.9.9 (compatible with conntrack-tools 1.4.7)\n"
                                     "            Mode: ftfw\n"
                                     "           State: running\n"));
        g_assert_nonnull(strstr(out, "          Uptime: 1h 1min 1s\n"
                                     "  Internal cache: 8 of 262144 (0.0%)\n"
                                     "  External cache: 131072 of 262144 (50.0%)\n"
                                     "   Expect caches: 1 internal, 2 external\n"
                                     "          Events: 1000 received, 3 not stored (cache full)\n"
                                     "        Overruns: 4\n"
                                     "  Netlink buffer: 212992 bytes\n"
                                     "  Kernel resyncs: 5\n"));
}

static void test_ctl_dump(Fixture *f, gconstpointer data) {
        g_autofree char *address = address_of(f), *out = NULL, *err = NULL, *calls = NULL;
        g_autofree char *xout = NULL, *xerr = NULL;

        if (!have_ctl())
                return;
        g_assert_cmpint(run_ctl(ARGS(address, "dump", "internal"), &out, &err), ==, 0);
        g_assert_cmpstr(err, ==, "");
        g_assert_cmpuint(strlen(out), >, FAKE_LINES * strlen("flow 0 internal ct plain\n"));
        g_assert_true(g_str_has_prefix(out, "flow 0 internal ct plain\nflow 1 internal ct plain\n"));
        g_assert_true(g_str_has_suffix(out, "\nflow 19999 internal ct plain\n"));

        g_assert_cmpint(run_ctl(ARGS(address, "--xml", "dump", "internal", "ct"), &xout, &xerr), ==, 0);
        g_assert_true(g_str_has_prefix(xout, "flow 0 internal ct xml\n"));
        calls = read_log(f);
        g_assert_cmpstr(calls, ==, "DumpCache internal ct plain\nDumpCache internal ct xml\n");
}

/* -C: the private socket named by the configuration's UNIX { Path }. */
static void test_ctl_config(Fixture *f, gconstpointer data) {
        g_autofree char *link = g_build_filename(f->dir, "plain.ctl", NULL);
        g_autofree char *conf = g_build_filename(f->dir, "test.conf", NULL);
        g_autofree char *text = NULL, *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;
        g_autofree char *calls = NULL;

        if (!have_ctl())
                return;
        /* A plain name for the config grammar; connect() follows the link. */
        g_assert_cmpint(symlink(f->socket_path, link), ==, 0);
        text = g_strdup_printf("General {\n\tUNIX {\n\t\tPath %s\n\t}\n}\nStats {\n}\n", link);
        g_assert_true(g_file_set_contents(conf, text, -1, NULL));

        g_assert_cmpint(run_ctl(ARGS("-C", conf, "stats", "process"), &out, &err), ==, 0);
        g_assert_cmpstr(err, ==, "");
        g_assert_cmpint(run_ctl(ARGS("--config", conf, "quit"), &out2, &err2), ==, 0);
        calls = read_log(f);
        g_assert_cmpstr(calls, ==, "GetStatistics process\nQuit\n");

        g_assert_cmpint(g_unlink(conf), ==, 0);
        g_assert_cmpint(g_unlink(link), ==, 0);
}

static void test_ctl_unreachable(void) {
        g_autofree char *out = NULL, *err = NULL, *out2 = NULL, *err2 = NULL;

        if (!have_ctl())
                return;
        g_assert_cmpint(run_ctl(ARGS("--address=unix:path=/nonexistent/conntrackd.ctl", "status"),
                                &out, &err), ==, 1);
        g_assert_cmpstr(out, ==, "");
        g_assert_true(g_str_has_prefix(err, "Failed to connect to conntrackd at "
                                            "unix:path=/nonexistent/conntrackd.ctl: "));
        g_assert_cmpint(run_ctl(ARGS("-C", "/nonexistent/conntrackd.conf", "status"), &out2, &err2),
                        ==, 1);
        g_assert_nonnull(strstr(err2, "/nonexistent/conntrackd.conf"));
}

static void test_ctl_monitor(Fixture *f, gconstpointer data) {
        g_autofree char *address = address_of(f), *out = NULL, *err = NULL;
        g_auto(GStrv) lines = NULL;

        if (!have_ctl())
                return;
        /* The fake daemon emits four signals after the monitor's first call, then goes away. */
        g_assert_cmpint(run_ctl(ARGS(address, "--json", "monitor"), &out, &err), ==, 0);
        lines = g_strsplit(out, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 5);
        for (unsigned i = 0; i < 4; i++)
                g_assert_true(g_str_has_prefix(lines[i], "{\"timestamp\":\""));
        g_assert_true(g_str_has_suffix(lines[0], ",\"signal\":\"Overrun\",\"total\":3,"
                                                 "\"buffer_size\":425984,\"resync_in_sec\":30}"));
        g_assert_true(g_str_has_suffix(lines[1], ",\"signal\":\"PropertiesChanged\","
                                                 "\"changed\":{\"NetlinkOverruns\":4},"
                                                 "\"invalidated\":[]}"));
        g_assert_true(g_str_has_suffix(lines[2], ",\"signal\":\"ResyncDone\",\"kind\":\"ct\","
                                                 "\"entries\":1000,\"duration_usec\":2500}"));
        g_assert_true(g_str_has_suffix(lines[3], ",\"signal\":\"CommitDone\",\"flows_ok\":100,"
                                                 "\"flows_failed\":2,\"expectations_ok\":3,"
                                                 "\"expectations_failed\":0,"
                                                 "\"duration_usec\":1500000}"));
        g_assert_cmpstr(lines[4], ==, "");
        g_assert_nonnull(strstr(err, "went away"));
}

static void test_ctl_monitor_plain(Fixture *f, gconstpointer data) {
        g_autofree char *address = address_of(f), *out = NULL, *err = NULL;
        g_auto(GStrv) lines = NULL;

        if (!have_ctl())
                return;
        g_assert_cmpint(run_ctl(ARGS(address, "monitor"), &out, &err), ==, 0);
        lines = g_strsplit(out, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 5);
        /* "YYYY-MM-DD HH:MM:SS.uuuuuu Overrun total=3 ..." */
        g_assert_cmpuint(strlen(lines[0]), >, 27);
        g_assert_cmpint(lines[0][4], ==, '-');
        g_assert_cmpint(lines[0][10], ==, ' ');
        g_assert_cmpint(lines[0][19], ==, '.');
        g_assert_cmpstr(lines[0] + 27, ==, "Overrun total=3 buffer_size=425984 resync_in_sec=30");
        g_assert_cmpstr(lines[1] + 27, ==, "PropertiesChanged NetlinkOverruns=4");
        g_assert_cmpstr(lines[2] + 27, ==, "ResyncDone kind=ct entries=1000 duration_usec=2500");
        g_assert_cmpstr(lines[3] + 27, ==, "CommitDone flows_ok=100 flows_failed=2 expectations_ok=3 "
                                           "expectations_failed=0 duration_usec=1500000");
}

/* ---- copying a dump ---- */

#define COPY_SIZE (1024 * 1024 + 17)

static int memfd_with_pattern(size_t size) {
        g_autofree char *buf = g_malloc(size);
        int fd;

        for (size_t i = 0; i < size; i++)
                buf[i] = (char) ('a' + i % 26);
        fd = memfd_create("pattern", MFD_CLOEXEC);
        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpint(write(fd, buf, size), ==, (ssize_t) size);
        g_assert_cmpint(lseek(fd, 0, SEEK_SET), ==, 0);
        return fd;
}

/* The reader went away (conntrackd -i | head): -EPIPE, no signal. */
static void test_copy_epipe(void) {
        int in = memfd_with_pattern(COPY_SIZE), p[2];
        void (*old)(int);

        old = signal(SIGPIPE, SIG_IGN);
        g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
        close(p[0]);
        g_assert_cmpint(copy_fd_to_fd(in, p[1]), ==, -EPIPE);
        close(p[1]);
        close(in);
        signal(SIGPIPE, old);
}

/* A non-blocking output that is full most of the time: EAGAIN waits, every byte arrives once. */
static void test_copy_nonblocking(void) {
        int in = memfd_with_pattern(COPY_SIZE), p[2], status;
        pid_t pid;

        g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                char buf[997];
                size_t total = 0;
                ssize_t n;

                close(p[1]);
                /* Read in small pieces so that the writer meets a full pipe. */
                while ((n = read(p[0], buf, sizeof buf)) > 0) {
                        for (ssize_t i = 0; i < n; i++)
                                if (buf[i] != (char) ('a' + (total + (size_t) i) % 26))
                                        _exit(2);
                        total += (size_t) n;
                }
                _exit(n == 0 && total == COPY_SIZE ? 0 : 1);
        }
        close(p[0]);
        g_assert_cmpint(fcntl(p[1], F_SETFL, O_NONBLOCK), ==, 0);
        g_assert_cmpint(copy_fd_to_fd(in, p[1]), ==, 0);
        close(p[1]);
        close(in);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

static void test_address_escape(void) {
        g_autofree char *a = bus_address_escape("/run/conntrackd.ctl");
        g_autofree char *b = bus_address_escape("/tmp/a b,c=d;e%f\xc3\xa9");

        g_assert_cmpstr(a, ==, "/run/conntrackd.ctl");
        g_assert_cmpstr(b, ==, "/tmp/a%20b%2cc%3dd%3be%25f%c3%a9");
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(parse_cases); i++) {
                g_autofree char *path = g_strdup_printf("/legacy-cli/parse/%s", parse_cases[i].name);

                g_test_add_data_func(path, &parse_cases[i], test_parse);
        }
        g_test_add_func("/legacy-cli/unknown-option-usage", test_unknown_option_usage);
        g_test_add_func("/legacy-cli/version", test_version);
        g_test_add_func("/legacy-cli/help", test_help);

        for (size_t i = 0; i < G_N_ELEMENTS(call_cases); i++) {
                g_autofree char *path = g_strdup_printf("/legacy-client/call/%s", call_cases[i].name);

                g_test_add(path, Fixture, &call_cases[i], fixture_setup, test_call, fixture_teardown);
        }
        g_test_add("/legacy-client/unknown-method-message", Fixture, NULL, fixture_setup,
                   test_unknown_method_message, fixture_teardown);
        g_test_add("/legacy-client/dump", Fixture, NULL, fixture_setup, test_dump, fixture_teardown);
        g_test_add("/legacy-client/stats", Fixture, NULL, fixture_setup, test_stats, fixture_teardown);
        g_test_add("/legacy-client/sequence", Fixture, NULL, fixture_setup, test_sequence,
                   fixture_teardown);
        g_test_add_func("/legacy-client/cant-connect", test_cant_connect);

        for (size_t i = 0; i < G_N_ELEMENTS(ctl_cases); i++) {
                g_autofree char *path = g_strdup_printf("/conntrackctl/%s", ctl_cases[i].name);

                g_test_add(path, Fixture, &ctl_cases[i], fixture_setup, test_ctl, fixture_teardown);
        }
        g_test_add("/conntrackctl/status", Fixture, NULL, fixture_setup, test_ctl_status,
                   fixture_teardown);
        g_test_add("/conntrackctl/dump", Fixture, NULL, fixture_setup, test_ctl_dump,
                   fixture_teardown);
        g_test_add("/conntrackctl/config", Fixture, NULL, fixture_setup, test_ctl_config,
                   fixture_teardown);
        g_test_add_func("/conntrackctl/unreachable", test_ctl_unreachable);
        g_test_add("/conntrackctl/monitor-json", Fixture, &monitor_script, fixture_setup,
                   test_ctl_monitor, fixture_teardown);
        g_test_add("/conntrackctl/monitor-plain", Fixture, &monitor_script, fixture_setup,
                   test_ctl_monitor_plain, fixture_teardown);
        g_test_add_func("/bus-client/address-escape", test_address_escape);
        g_test_add_func("/bus-client/copy-epipe", test_copy_epipe);
        g_test_add_func("/bus-client/copy-nonblocking", test_copy_nonblocking);

        return g_test_run();
}
