/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The client side of org.netfilter.conntrackd1.Manager (the contract is
 * dbus/org.netfilter.conntrackd1.Manager.xml), shared by conntrackctl and the legacy client of
 * conntrackd (-s, -i, -c ...).
 *
 * A BusClient is one connection: either the system bus (calls go to the bus name
 * org.netfilter.conntrackd1) or a peer-to-peer connection to the daemon's private socket
 * (General { UNIX { Path } }, or any sd-bus address), where messages carry no destination.
 *
 * sd-bus connects lazily: a daemon that is not running shows up as the error of the first call,
 * which bus_client_is_unreachable() recognises.
 */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "legacy-output.h"
#include "macro.h"

#define CONNTRACKD_BUS_NAME      "org.netfilter.conntrackd1"
#define CONNTRACKD_BUS_PATH      "/org/netfilter/conntrackd1"
#define CONNTRACKD_BUS_INTERFACE "org.netfilter.conntrackd1.Manager"

/* Queries (properties, statistics). */
#define BUS_CLIENT_TIMEOUT_USEC         (60 * USEC_PER_SEC)
/* Mutating calls and dumps: a dump of a million flows takes time. */
#define BUS_CLIENT_LONG_TIMEOUT_USEC    (10 * 60 * USEC_PER_SEC)
/* Commit(): the reply comes when the whole cache is in the kernel; as conntrackd -c of 1.4.7,
 * the client waits as long as that takes (the daemon going away ends the wait). */
#define BUS_CLIENT_NO_TIMEOUT           UINT64_MAX

typedef struct BusClient {
        sd_bus *bus;
        bool system_bus;        /* calls carry the destination CONNTRACKD_BUS_NAME */
        char *address;          /* for messages: the sd-bus address, or NULL for the system bus */
} BusClient;

/* address NULL: the system bus; else a peer-to-peer connection to the daemon at 'address'. */
int bus_client_open(const char *address, BusClient **ret);
/* Peer-to-peer connection to the private socket at 'path' (escaped into a "unix:path=" address). */
int bus_client_open_unix(const char *path, BusClient **ret);
BusClient *bus_client_free(BusClient *c);
DEFINE_CLEANUP_FUNC(BusClient *, bus_client_free);

/* "the system bus" or the address, for messages. */
const char *bus_client_describe(const BusClient *c);

/* D-Bus address escaping of a value ("unix:path=" + bus_address_escape(path)). */
char *bus_address_escape(const char *s);

/*
 * Call a method of the Manager interface; 'types' and the variadic arguments as for
 * sd_bus_message_append() ('types' may be NULL for no arguments). timeout_usec as for
 * sd_bus_call() (BUS_CLIENT_NO_TIMEOUT: wait without a limit). Returns 0 with *ret_reply
 * (may be NULL), or a negative errno with 'error' filled where the daemon answered with an error.
 */
int bus_client_call(BusClient *c, const char *method, uint64_t timeout_usec, sd_bus_error *error,
                    sd_bus_message **ret_reply, const char *types, ...);

/* Peer-to-peer only: wait until the daemon closes the connection (after Quit(): it is done with
 * its lock file, sockets and caches), at most timeout_usec. 0 once closed, -ETIMEDOUT, or
 * -EOPNOTSUPP on the system bus. */
int bus_client_wait_closed(BusClient *c, uint64_t timeout_usec);

/* The reply of Commit(). */
typedef struct BusCommitResult {
        uint64_t flows_ok, flows_failed;
        uint64_t expectations_ok, expectations_failed;
        uint64_t duration_usec;
} BusCommitResult;

/* Commit(what) ("", "all", "ct" or "expect"): waits until the commit is finished. */
int bus_client_commit(BusClient *c, const char *what, sd_bus_error *error,
                      BusCommitResult *ret);

/* GetStatistics(section) into a table. */
int bus_client_get_statistics(BusClient *c, const char *section, sd_bus_error *error,
                              StatsTable **ret);

/* Get the named properties (NULL-terminated) into a table keyed by property name. */
int bus_client_get_properties(BusClient *c, const char *const *names, sd_bus_error *error,
                              StatsTable **ret);

/*
 * Read an a{sv} dictionary (the reply of GetStatistics, or the changed properties of
 * PropertiesChanged) into 'table'. Integers of every width become numbers, s/o/g strings, the
 * FT-FW resend queue listing "rsqueue.entries" (a(btt)) rsqueue entries; values of other types
 * are skipped.
 */
int bus_read_dictionary(sd_bus_message *m, StatsTable *table);
/* One variant (the message positioned at it) as table[key]; skipped if of another type. */
int bus_read_variant(sd_bus_message *m, const char *key, StatsTable *table);

/*
 * Whether a failed call means that the daemon could not be reached at all (not running, no
 * permission to connect, connection lost, name not on the bus), as opposed to an error answer.
 */
bool bus_client_is_unreachable(BusClient *c, int r, const sd_bus_error *error);

/* The best message for a failed call: the daemon's error message, else strerror. */
const char *bus_client_error_message(const sd_bus_error *error, int r);

/*
 * Copy everything readable from 'in_fd' to 'out_fd' (blocking or not: EAGAIN waits with poll(),
 * EINTR retries, short writes continue). Returns 0 at EOF, -EPIPE if the reader went away,
 * another negative errno on failure.
 */
int copy_fd_to_fd(int in_fd, int out_fd);
