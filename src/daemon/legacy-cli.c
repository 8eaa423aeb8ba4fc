/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line of conntrackd 1.4.7 (spec §5.2) and its client requests, carried over D-Bus
 * (spec §2.5 table -> dbus/org.netfilter.conntrackd1.Manager.xml) and printed as 1.4.7 prints them
 * (spec §5.3).
 *
 * Where we differ from 1.4.7, on purpose:
 *   - an unknown option prints the usage and exits 1, as 1.4.9 and later do (1.4.7 exited 0);
 *   - an argv element that does not start with '-' is an unknown option (1.4.7 looked at the
 *     second character of anything, so "xs" meant -s);
 *   - usage and error messages go to stderr; -h prints the usage on stdout;
 *   - "--check-config", "--help" and "--version" exist;
 *   - a config without UNIX { Path } makes the client use the system bus (1.4.7 could not reach
 *     such a daemon at all);
 *   - an error answered by the daemon (kernel failure, busy) is printed on stderr, the exit status
 *     stays 0 as in 1.4.7 ("delivered"); a request the daemon does not know (no such method yet),
 *     a denied request and a daemon that does not answer in time exit 1;
 *   - a plain -f asks for every cache of the mode, so in Stats mode it flushes the stats cache
 *     (1.4.7 sent a request that Stats mode ignored);
 *   - -c while a commit runs prints "commit already in progress" on stderr (exit 0; 1.4.7
 *     returned at once without a word), and so does -f [external] ("... a commit is in
 *     progress"); -t while a flush is scheduled is accepted silently, as in 1.4.7;
 *   - "-s" prints the link block only when the daemon reports links (none until replication
 *     exists), and "-s queue" only when it reports queues (see legacy-output.h).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include "bus-client.h"
#include "bus-errors.h"
#include "legacy-cli.h"
#include "legacy-output.h"

#define LEGACY_CANT_CONNECT "[ERROR] can't connect: is conntrackd running? appropriate permissions?"

/* ---- usage and version ---- */

static void print_usage(FILE *f) {
        fputs("Connection tracking userspace daemon v" LEGACY_VERSION "\n"
              "Usage: conntrackd [commands] [options]\n"
              "\n"
              "General commands:\n"
              "  -d\t\t\t\tRun in the background (daemon mode)\n"
              "  --check-config\t\tRead the configuration file, report problems and exit\n"
              "\n"
              "Client mode commands:\n"
              "  -c [ct|expect]\t\tCommit the external cache into the kernel table\n"
              "  -f [internal|external]\tFlush the internal and/or external cache\n"
              "  -F [ct|expect]\t\tFlush the kernel table (entries passing the Filter)\n"
              "  -i [ct|expect]\t\tDump the internal cache\n"
              "  -e [ct|expect]\t\tDump the external cache\n"
              "  -x\t\t\t\tDump in XML format (after -i or -e)\n"
              "  -s [network|cache|runtime|link|rsqueue|queue|ct|expect]\tShow statistics\n"
              "  -R [ct|expect]\t\tResync the internal cache with the kernel table\n"
              "  -B\t\t\t\tSend a bulk update of the internal cache to the peers\n"
              "  -n\t\t\t\tRequest a resync from the peers\n"
              "  -k\t\t\t\tStop the daemon\n"
              "  -t\t\t\t\tFlush the kernel table after PurgeTimeout seconds\n"
              "\n"
              "Options:\n"
              "  -C [configfile]\t\tConfiguration file (default " CONFIG_DEFAULT_PATH ")\n"
              "  -h\t\t\t\tShow this help\n"
              "  -v\t\t\t\tShow the version\n"
              "\n"
              "This is conntrackd " PACKAGE_VERSION ", compatible with conntrack-tools "
              LEGACY_VERSION "; see also conntrackctl(8).\n", f);
}

void legacy_print_help(void) {
        print_usage(stdout);
}

void legacy_print_version(void) {
        /* The two lines of 1.4.7 first, exactly: scripts and cluster agents match them. */
        printf("Connection tracking userspace daemon v" LEGACY_VERSION ". Licensed under GPLv2.\n"
               "(C) 2006-2009 Pablo Neira Ayuso <pablo@netfilter.org>\n"
               "conntrackd " PACKAGE_VERSION " (systemd-native reimplementation, D-Bus control: "
               "conntrackctl)\n");
}

/* ---- argv ---- */

typedef enum ParseMode {
        PARSE_MODE_NOT_SET,
        PARSE_MODE_DAEMON,
        PARSE_MODE_REQUEST,
        PARSE_MODE_CHECK,
} ParseMode;

static int invalid_parameters(const char *why) {
        print_usage(stderr);
        fprintf(stderr, "[ERROR] Invalid parameters: %s\n", why);
        return -EINVAL;
}

/* 1.4.7: the daemon, a client request and (ours) --check-config exclude each other. */
static int set_mode(ParseMode *mode, ParseMode want) {
        if (*mode == PARSE_MODE_NOT_SET || *mode == want) {
                *mode = want;
                return 0;
        }
        if (want == PARSE_MODE_DAEMON || *mode == PARSE_MODE_DAEMON)
                return invalid_parameters("-d cannot be combined with a client request or "
                                          "--check-config");
        return invalid_parameters("--check-config cannot be combined with a client request");
}

/* The optional argument of an option: the next element unless it starts with '-'. */
static const char *optional_arg(int argc, char **argv, int i) {
        if (i + 1 < argc && argv[i + 1][0] != '-')
                return argv[i + 1];
        return NULL;
}

/* A prefix of 'keyword' (1.4.7 compares strlen(arg) bytes, so "" matches too). */
static bool is_prefix(const char *arg, const char *keyword) {
        return strneq(arg, keyword, strlen(arg)) && strlen(arg) <= strlen(keyword);
}

/* "ct" or "expect" from the next element, consumed only if it matches. */
static void parse_kind(int argc, char **argv, int *i, LegacyArgs *a) {
        const char *arg = optional_arg(argc, argv, *i);

        a->kind = NULL;
        if (!arg)
                return;
        if (is_prefix(arg, "ct"))
                a->kind = "ct";
        else if (is_prefix(arg, "expect"))
                a->kind = "expect";
        else
                return;         /* left for the loop to parse as an option */
        (*i)++;
}

static void set_request(LegacyArgs *a, LegacyRequest req) {
        a->request = req;
        a->kind = NULL;
        a->cache = NULL;
        a->section = NULL;
        a->xml = false;
}

int legacy_args_parse(int argc, char **argv, LegacyArgs *ret) {
        LegacyArgs a = {
                .action = LEGACY_ACTION_DAEMON,
                .config_path = CONFIG_DEFAULT_PATH,
                .request = LEGACY_REQ_NONE,
        };
        ParseMode mode = PARSE_MODE_NOT_SET;
        int r;

        for (int i = 1; i < argc; i++) {
                const char *arg = argv[i], *next;

                if (streq(arg, "--check-config")) {
                        r = set_mode(&mode, PARSE_MODE_CHECK);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (streq(arg, "--help")) {
                        *ret = (LegacyArgs) { .action = LEGACY_ACTION_HELP,
                                              .config_path = a.config_path };
                        return 0;
                }
                if (streq(arg, "--version")) {
                        *ret = (LegacyArgs) { .action = LEGACY_ACTION_VERSION,
                                              .config_path = a.config_path };
                        return 0;
                }
                if (arg[0] != '-' || arg[1] == '\0')
                        goto unknown;

                switch (arg[1]) {
                case 'h':
                        *ret = (LegacyArgs) { .action = LEGACY_ACTION_HELP,
                                              .config_path = a.config_path };
                        return 0;
                case 'v':
                        *ret = (LegacyArgs) { .action = LEGACY_ACTION_VERSION,
                                              .config_path = a.config_path };
                        return 0;
                case 'd':
                        r = set_mode(&mode, PARSE_MODE_DAEMON);
                        if (r < 0)
                                return r;
                        a.detach = true;
                        break;
                case 'C':
                        if (i + 1 < argc)
                                a.config_path = argv[++i];
                        else {
                                /* 1.4.7: usage, then on with the default file. */
                                print_usage(stderr);
                                fprintf(stderr, "[WARNING] -C needs a file name; using %s\n",
                                        a.config_path);
                        }
                        break;
                case 'c':
                case 'F':
                case 'i':
                case 'e':
                case 'R': {
                        static const struct {
                                char option;
                                LegacyRequest request;
                        } with_kind[] = {
                                { 'c', LEGACY_REQ_COMMIT },
                                { 'F', LEGACY_REQ_FLUSH_KERNEL },
                                { 'i', LEGACY_REQ_DUMP_INTERNAL },
                                { 'e', LEGACY_REQ_DUMP_EXTERNAL },
                                { 'R', LEGACY_REQ_RESYNC_KERNEL },
                        };

                        r = set_mode(&mode, PARSE_MODE_REQUEST);
                        if (r < 0)
                                return r;
                        for (size_t k = 0; k < ELEMENTSOF(with_kind); k++)
                                if (with_kind[k].option == arg[1])
                                        set_request(&a, with_kind[k].request);
                        parse_kind(argc, argv, &i, &a);
                        break;
                }
                case 'f':
                        r = set_mode(&mode, PARSE_MODE_REQUEST);
                        if (r < 0)
                                return r;
                        set_request(&a, LEGACY_REQ_FLUSH_CACHE);
                        next = optional_arg(argc, argv, i);
                        if (!next)
                                break;
                        if (is_prefix(next, "internal"))
                                a.cache = "internal";
                        else if (is_prefix(next, "external"))
                                a.cache = "external";
                        else {
                                fprintf(stderr, "[ERROR] unknown argument of -f: \"%s\" (expected "
                                        "internal or external)\n", next);
                                return -EINVAL;
                        }
                        i++;
                        break;
                case 's': {
                        /* 1.4.7's order of trial: "-s c" is cache, "-s r" runtime, "-s e"
                         * expect. */
                        static const struct {
                                const char *keyword, *section;
                        } sections[] = {
                                { "network",   "network" },
                                { "cache",     "cache" },
                                { "runtime",   "runtime" },
                                { "multicast", "link" },
                                { "link",      "link" },
                                { "rsqueue",   "rsqueue" },
                                { "process",   "process" },
                                { "queue",     "queue" },
                                { "ct",        "general" },
                                { "expect",    "expect" },
                        };
                        size_t k;

                        r = set_mode(&mode, PARSE_MODE_REQUEST);
                        if (r < 0)
                                return r;
                        set_request(&a, LEGACY_REQ_STATS);
                        next = optional_arg(argc, argv, i);
                        if (!next)
                                break;
                        for (k = 0; k < ELEMENTSOF(sections); k++)
                                if (is_prefix(next, sections[k].keyword))
                                        break;
                        if (k >= ELEMENTSOF(sections)) {
                                fprintf(stderr, "[ERROR] unknown argument of -s: \"%s\" (expected "
                                        "network, cache, runtime, link, rsqueue, process, queue, "
                                        "ct or expect)\n", next);
                                return -EINVAL;
                        }
                        if (streq(sections[k].keyword, "multicast"))
                                fprintf(stderr, "[WARNING] \"-s multicast\" is deprecated, use "
                                        "\"-s link\"\n");
                        a.section = sections[k].section;
                        i++;
                        break;
                }
                case 'x':
                        if (a.request != LEGACY_REQ_DUMP_INTERNAL &&
                            a.request != LEGACY_REQ_DUMP_EXTERNAL)
                                return invalid_parameters("-x must follow -i or -e");
                        a.xml = true;
                        break;
                case 'k':
                case 'B':
                case 'n':
                case 't':
                        r = set_mode(&mode, PARSE_MODE_REQUEST);
                        if (r < 0)
                                return r;
                        set_request(&a, arg[1] == 'k' ? LEGACY_REQ_KILL :
                                        arg[1] == 'B' ? LEGACY_REQ_BULK_SEND :
                                        arg[1] == 'n' ? LEGACY_REQ_REQUEST_RESYNC :
                                                        LEGACY_REQ_RESET_TIMERS);
                        break;
                default:
                        goto unknown;
                }
                continue;

        unknown:
                print_usage(stderr);
                fprintf(stderr, "[ERROR] Unknown option: %s\n", arg);
                return -EINVAL;
        }

        switch (mode) {
        case PARSE_MODE_REQUEST:
                a.action = LEGACY_ACTION_CLIENT;
                break;
        case PARSE_MODE_CHECK:
                a.action = LEGACY_ACTION_CHECK_CONFIG;
                break;
        default:
                a.action = LEGACY_ACTION_DAEMON;
                break;
        }
        *ret = a;
        return 0;
}

/* ---- client requests ---- */

static const char *request_description(LegacyRequest req) {
        switch (req) {
        case LEGACY_REQ_COMMIT:         return "committing the external cache (-c)";
        case LEGACY_REQ_BULK_SEND:      return "sending a bulk update (-B)";
        case LEGACY_REQ_REQUEST_RESYNC: return "requesting a resync from the peers (-n)";
        case LEGACY_REQ_RESET_TIMERS:   return "the scheduled kernel table flush (-t)";
        default:                        return "this request";
        }
}

/*
 * The outcome of a call as 1.4.7's exit status: 0 when the request was delivered (whatever the
 * daemon made of it), 1 when the daemon could not be reached.
 */
static int call_failed(BusClient *c, LegacyRequest req, const char *method, int r,
                       const sd_bus_error *error) {
        if (bus_client_is_unreachable(c, r, error)) {
                fputs(LEGACY_CANT_CONNECT "\n", stderr);
                return EXIT_FAILURE;
        }
        /* Where 1.4.7 answers nothing in this mode: nothing, and success. */
        if (sd_bus_error_has_name(error, BUS_ERROR_NOT_SUPPORTED))
                return EXIT_SUCCESS;
        if (sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_OBJECT,
                                   SD_BUS_ERROR_UNKNOWN_INTERFACE)) {
                fprintf(stderr, "[ERROR] this conntrackd does not support %s yet (no D-Bus method "
                        "%s): %s\n", request_description(req), method,
                        bus_client_error_message(error, r));
                return EXIT_FAILURE;
        }
        if (sd_bus_error_has_name(error, SD_BUS_ERROR_ACCESS_DENIED) || r == -EACCES ||
            r == -EPERM) {
                fprintf(stderr, "[ERROR] permission denied: %s\n",
                        bus_client_error_message(error, r));
                return EXIT_FAILURE;
        }
        if (r == -ETIMEDOUT) {
                fprintf(stderr, "[ERROR] no answer from conntrackd to %s() in time\n", method);
                return EXIT_FAILURE;
        }
        fprintf(stderr, "[ERROR] %s\n", bus_client_error_message(error, r));
        return EXIT_SUCCESS;
}

/* stdout was closed by the reader (conntrackd -s | head): stop quietly, as 1.4.7 did by dying of
 * SIGPIPE. */
static int output_failed(int r) {
        if (r == -EPIPE)
                return EXIT_SUCCESS;
        fprintf(stderr, "[ERROR] failed to write the output: %s\n", strerror(-r));
        return EXIT_FAILURE;
}

static int run_dump(BusClient *c, const LegacyArgs *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *cache = args->request == LEGACY_REQ_DUMP_INTERNAL ? "internal" : "external";
        int fd, r;

        r = bus_client_call(c, "DumpCache", BUS_CLIENT_LONG_TIMEOUT_USEC, &error, &reply, "sss",
                            cache, args->kind ?: "ct", args->xml ? "xml" : "plain");
        if (r < 0)
                return call_failed(c, args->request, "DumpCache", r, &error);
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0) {
                fprintf(stderr, "[ERROR] malformed answer to DumpCache(): %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        fflush(stdout);
        r = copy_fd_to_fd(fd, STDOUT_FILENO);
        if (r < 0)
                return output_failed(r);
        return EXIT_SUCCESS;
}

static int run_stats(BusClient *c, const LegacyArgs *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        const char *section = args->section ?: "general";
        int r;

        r = bus_client_get_statistics(c, section, &error, &t);
        if (r < 0)
                return call_failed(c, args->request, "GetStatistics", r, &error);
        r = legacy_format_stats(stdout, t, section);
        if (r < 0)
                return output_failed(r);
        return EXIT_SUCCESS;
}

static int run_simple(BusClient *c, const LegacyArgs *args) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        const char *method;
        int r;

        switch (args->request) {
        case LEGACY_REQ_FLUSH_CACHE:
                method = "FlushCache";
                /* -f: every cache (1.4.7's ALL_FLUSH_CACHE); -f internal|external: conntracks. */
                r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, "ss",
                                    args->cache ?: "all", args->cache ? "ct" : "all");
                break;
        case LEGACY_REQ_FLUSH_KERNEL:
                method = "FlushKernel";
                r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, "s",
                                    args->kind ?: "all");
                break;
        case LEGACY_REQ_RESYNC_KERNEL:
                method = "ResyncKernel";
                r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, "s",
                                    args->kind ?: "all");
                break;
        case LEGACY_REQ_COMMIT:
                /* Held until the commit is done, as 1.4.7's -c; the counts are not printed
                 * (1.4.7 prints nothing, failures or not: they are in the daemon's log). */
                method = "Commit";
                r = bus_client_commit(c, args->kind ?: "all", &error, NULL);
                break;
        case LEGACY_REQ_BULK_SEND:
                method = "SendBulk";
                r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, NULL);
                break;
        case LEGACY_REQ_REQUEST_RESYNC:
                method = "RequestResync";
                r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, NULL);
                break;
        case LEGACY_REQ_RESET_TIMERS:
                method = "ResetTimers";
                r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, NULL);
                break;
        case LEGACY_REQ_KILL:
                method = "Quit";
                r = bus_client_call(c, method, BUS_CLIENT_LONG_TIMEOUT_USEC, &error, NULL, NULL);
                /* The daemon may be gone before its answer reaches us: that is success. It was
                 * reachable: the connection was set up before the call. */
                if (r < 0 && !c->system_bus && sd_bus_is_open(c->bus) <= 0)
                        return EXIT_SUCCESS;
                /* As 1.4.7's -k, return once the daemon is gone: it closes our connection after
                 * releasing its lock file and sockets, so a start right after us does not fail
                 * on them (pacemaker's agent runs stop then start). */
                if (r >= 0 && !c->system_bus &&
                    bus_client_wait_closed(c, BUS_CLIENT_TIMEOUT_USEC) == -ETIMEDOUT)
                        fprintf(stderr, "[WARNING] the daemon accepted the request to stop but "
                                "still runs after %u s\n",
                                (unsigned) (BUS_CLIENT_TIMEOUT_USEC / USEC_PER_SEC));
                break;
        default:
                fprintf(stderr, "[ERROR] no client request given\n");
                return EXIT_FAILURE;
        }
        if (r < 0)
                return call_failed(c, args->request, method, r, &error);
        return EXIT_SUCCESS;
}

int legacy_client_run(const LegacyArgs *args, const Config *config) {
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        int r;

        /* A reader that goes away ends the output with EPIPE, not with a signal. */
        (void) signal(SIGPIPE, SIG_IGN);

        if (config->unix_path)
                r = bus_client_open_unix(config->unix_path, &c);
        else
                r = bus_client_open(NULL, &c);
        if (r < 0) {
                fputs(LEGACY_CANT_CONNECT "\n", stderr);
                return EXIT_FAILURE;
        }

        switch (args->request) {
        case LEGACY_REQ_DUMP_INTERNAL:
        case LEGACY_REQ_DUMP_EXTERNAL:
                return run_dump(c, args);
        case LEGACY_REQ_STATS:
                return run_stats(c, args);
        default:
                return run_simple(c, args);
        }
}
