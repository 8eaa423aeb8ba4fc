/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The named errors of org.netfilter.conntrackd1 (header comment of
 * dbus/org.netfilter.conntrackd1.Manager.xml) and their errno values, in one sd_bus_error_map.
 *
 * Both directions go through the map:
 *   - the daemon turns a failed operation's negative errno into a named error with
 *     bus_error_set_errnof(): -EOPNOTSUPP -> NotSupported, -EBUSY -> Busy; an errno the map does
 *     not name gets sd-bus' generic mapping (org.freedesktop.DBus.Error.*, System.Error.E*);
 *   - a client that called bus_errors_register() gets the errno back from sd_bus_call() and
 *     sd_bus_error_get_errno().
 * ConfigInvalid and KernelFailed say which operation failed, not which errno: the handlers of
 * Reload() and of the kernel operations name them explicitly (bus_error_set_namedf()). Their
 * errno values (ENOEXEC, EREMOTEIO) are chosen so that no other failure maps to them.
 *
 * Pure sd-bus: usable by the client library as well.
 */

#include <systemd/sd-bus.h>

#include "macro.h"

#define BUS_ERROR_NOT_SUPPORTED  "org.netfilter.conntrackd1.Error.NotSupported"
#define BUS_ERROR_BUSY           "org.netfilter.conntrackd1.Error.Busy"
#define BUS_ERROR_CONFIG_INVALID "org.netfilter.conntrackd1.Error.ConfigInvalid"
#define BUS_ERROR_KERNEL_FAILED  "org.netfilter.conntrackd1.Error.KernelFailed"

extern const sd_bus_error_map bus_errors_map[];

/* Make sd-bus know the map (process-wide in libsystemd; idempotent). Returns 0 or a negative errno. */
int bus_errors_register(void);

/* The name the map gives to an errno (sign ignored), or NULL. */
const char *bus_error_name_from_errno(int error);

/*
 * Fill 'e' for a failure with errno 'error' (sign ignored): the map's name if it has one, else
 * sd-bus' generic name for the errno. The message is 'format'; %m in it expands to
 * strerror(error). Returns -abs(error) (or -ENOMEM), ready to be returned by a method handler.
 */
int bus_error_set_errnof(sd_bus_error *e, int error, const char *format, ...) _printf_(3, 4);

/* Fill 'e' with a given error name and a formatted message (%m = strerror(error)). Returns the
 * negative errno the map gives that name, or -abs(error) for a name the map does not know. */
int bus_error_set_namedf(sd_bus_error *e, const char *name, int error, const char *format, ...)
        _printf_(4, 5);
