/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The conntrackd command line of conntrack-tools 1.4.7 (spec §5.2): options recognised by their
 * second character, optional arguments matched as prefixes, last request wins. Client requests
 * (-i -e -x -f -F -c -B -n -k -s -R -t) are sent over D-Bus (src/shared/bus-client) to the daemon
 * whose private socket is the config's UNIX { Path }, and printed as 1.4.7 prints them.
 */

#include <stdbool.h>

#include "config.h"

typedef enum LegacyAction {
        LEGACY_ACTION_DAEMON,           /* run the daemon (-d: detach) */
        LEGACY_ACTION_CHECK_CONFIG,     /* --check-config: parse, report, exit */
        LEGACY_ACTION_CLIENT,           /* one client request */
        LEGACY_ACTION_HELP,             /* -h */
        LEGACY_ACTION_VERSION,          /* -v */
        _LEGACY_ACTION_MAX,
        _LEGACY_ACTION_INVALID = -EINVAL,
} LegacyAction;

typedef enum LegacyRequest {
        LEGACY_REQ_NONE,
        LEGACY_REQ_DUMP_INTERNAL,       /* -i [ct|expect] [-x] */
        LEGACY_REQ_DUMP_EXTERNAL,       /* -e [ct|expect] [-x] */
        LEGACY_REQ_FLUSH_CACHE,         /* -f [internal|external] */
        LEGACY_REQ_FLUSH_KERNEL,        /* -F [ct|expect] */
        LEGACY_REQ_COMMIT,              /* -c [ct|expect] */
        LEGACY_REQ_BULK_SEND,           /* -B */
        LEGACY_REQ_REQUEST_RESYNC,      /* -n */
        LEGACY_REQ_KILL,                /* -k */
        LEGACY_REQ_STATS,               /* -s [section] */
        LEGACY_REQ_RESYNC_KERNEL,       /* -R [ct|expect] */
        LEGACY_REQ_RESET_TIMERS,        /* -t */
        _LEGACY_REQ_MAX,
        _LEGACY_REQ_INVALID = -EINVAL,
} LegacyRequest;

typedef struct LegacyArgs {
        LegacyAction action;
        bool detach;                    /* -d */
        const char *config_path;        /* -C, default CONFIG_DEFAULT_PATH */
        LegacyRequest request;
        const char *kind;               /* "ct", "expect" or NULL = default of the request */
        const char *cache;              /* -f: "internal", "external" or NULL = all */
        const char *section;            /* -s: full section name or NULL = general */
        bool xml;                       /* -x */
} LegacyArgs;

/*
 * Parse argv. Returns 0 with *ret filled, or a negative errno after printing the error (and the
 * usage where 1.4.7 does) on stderr; the caller exits 1 then.
 */
int legacy_args_parse(int argc, char **argv, LegacyArgs *ret);
void legacy_print_help(void);
void legacy_print_version(void);

/* Run one client request against the daemon of this config; returns the process exit status. */
int legacy_client_run(const LegacyArgs *args, const Config *config);
