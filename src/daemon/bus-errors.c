/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "bus-errors.h"

const sd_bus_error_map bus_errors_map[] = {
        SD_BUS_ERROR_MAP(BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP(BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(BUS_ERROR_CONFIG_INVALID, ENOEXEC),
        SD_BUS_ERROR_MAP(BUS_ERROR_KERNEL_FAILED, EREMOTEIO),
        SD_BUS_ERROR_MAP_END,
};

int bus_errors_register(void) {
        int r = sd_bus_error_add_map(bus_errors_map);

        return r < 0 ? r : 0;
}

const char *bus_error_name_from_errno(int error) {
        if (error < 0)
                error = -error;
        if (error == 0)
                return NULL;
        for (const sd_bus_error_map *i = bus_errors_map; i->name; i++)
                if (i->code == error)
                        return i->name;
        return NULL;
}

static int errno_from_name(const char *name) {
        for (const sd_bus_error_map *i = bus_errors_map; i->name; i++)
                if (streq(i->name, name))
                        return i->code;
        return 0;
}

/* Format with %m meaning strerror(error). NULL on OOM. */
_printf_(2, 0) static char *format_message(int error, const char *format, va_list ap) {
        char *s = NULL;

        errno = error;
        if (vasprintf(&s, format, ap) < 0)
                return NULL;
        return s;
}

_printf_(4, 0) static int set_named(sd_bus_error *e, const char *name, int error, const char *format, va_list ap) {
        _cleanup_free_ char *message = NULL;
        int code;

        message = format_message(error, format, ap);
        if (!message)
                return -ENOMEM;
        code = errno_from_name(name) ?: error;
        (void) sd_bus_error_set(e, name, message);
        return -code;
}

int bus_error_set_errnof(sd_bus_error *e, int error, const char *format, ...) {
        const char *name;
        va_list ap;
        int r;

        if (error < 0)
                error = -error;
        if (error == 0)
                error = EIO;    /* a failure without an errno is still a failure */

        va_start(ap, format);
        name = bus_error_name_from_errno(error);
        if (name)
                r = set_named(e, name, error, format, ap);
        else
                r = sd_bus_error_set_errnofv(e, error, format, ap);
        va_end(ap);
        return r;
}

int bus_error_set_namedf(sd_bus_error *e, const char *name, int error, const char *format, ...) {
        va_list ap;
        int r;

        if (error < 0)
                error = -error;
        if (error == 0)
                error = EIO;

        va_start(ap, format);
        r = set_named(e, name, error, format, ap);
        va_end(ap);
        return r;
}
