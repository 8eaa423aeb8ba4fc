/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Connections to conntrackd and calls of its Manager interface, for conntrackctl and the legacy
 * client. See bus-client.h.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus-client.h"
#include "log.h"

int bus_client_open(const char *address, BusClient **ret) {
        _cleanup_(bus_client_freep) BusClient *c = NULL;
        int r;

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;

        if (!address) {
                r = sd_bus_open_system(&c->bus);
                if (r < 0)
                        return r;
                c->system_bus = true;
        } else {
                c->address = strdup(address);
                if (!c->address)
                        return -ENOMEM;
                r = sd_bus_new(&c->bus);
                if (r < 0)
                        return r;
                r = sd_bus_set_address(c->bus, address);
                if (r < 0)
                        return r;
                /* A plain peer-to-peer connection: no Hello(), no bus name. File descriptors must
                 * be accepted: DumpCache() returns one. */
                r = sd_bus_set_bus_client(c->bus, false);
                if (r < 0)
                        return r;
                r = sd_bus_negotiate_fds(c->bus, true);
                if (r < 0)
                        return r;
                r = sd_bus_start(c->bus);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

char *bus_address_escape(const char *s) {
        static const char hex[] = "0123456789abcdef";
        char *ret, *p;

        ret = p = malloc(strlen(s) * 3 + 1);
        if (!ret)
                return NULL;
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;

                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr("-_/.\\*", c))
                        *p++ = (char) c;
                else {
                        *p++ = '%';
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 15];
                }
        }
        *p = '\0';
        return ret;
}

int bus_client_open_unix(const char *path, BusClient **ret) {
        _cleanup_free_ char *escaped = NULL, *address = NULL;

        escaped = bus_address_escape(path);
        if (!escaped)
                return -ENOMEM;
        if (asprintf(&address, "unix:path=%s", escaped) < 0)
                return -ENOMEM;
        return bus_client_open(address, ret);
}

BusClient *bus_client_free(BusClient *c) {
        if (!c)
                return NULL;
        sd_bus_flush_close_unref(c->bus);
        free(c->address);
        free(c);
        return NULL;
}

const char *bus_client_describe(const BusClient *c) {
        return c->system_bus ? "the system bus" : c->address;
}

int bus_client_wait_closed(BusClient *c, uint64_t timeout_usec) {
        uint64_t now, deadline;
        int r;

        if (c->system_bus)
                return -EOPNOTSUPP;
        deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
        for (;;) {
                if (sd_bus_is_open(c->bus) <= 0)
                        return 0;
                r = sd_bus_process(c->bus, NULL);
                if (r < 0)      /* ECONNRESET and the like: the peer closed */
                        return 0;
                if (r > 0)
                        continue;
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(c->bus, deadline - now);
                if (r < 0 && r != -EINTR)
                        return sd_bus_is_open(c->bus) <= 0 ? 0 : r;
        }
}

int bus_client_call(BusClient *c, const char *method, uint64_t timeout_usec, sd_bus_error *error,
                    sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        int r;

        r = sd_bus_message_new_method_call(c->bus, &m, c->system_bus ? CONNTRACKD_BUS_NAME : NULL,
                                           CONNTRACKD_BUS_PATH, CONNTRACKD_BUS_INTERFACE, method);
        if (r < 0)
                return r;
        if (types) {
                va_list ap;

                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        return r;
        }

        r = sd_bus_call(c->bus, m, timeout_usec, error, &reply);
        if (r < 0)
                return r;
        if (ret_reply)
                *ret_reply = TAKE_PTR(reply);
        return 0;
}

int bus_client_commit(BusClient *c, const char *what, sd_bus_error *error,
                      BusCommitResult *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        BusCommitResult result;
        int r;

        r = bus_client_call(c, "Commit", BUS_CLIENT_NO_TIMEOUT, error, &reply, "s", what ?: "");
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "ttttt", &result.flows_ok, &result.flows_failed,
                                &result.expectations_ok, &result.expectations_failed,
                                &result.duration_usec);
        if (r < 0)
                return r;
        if (ret)
                *ret = result;
        return 0;
}

static int read_rsqueue_entries(sd_bus_message *m, StatsTable *table) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(btt)");
        if (r < 0)
                return r;
        for (;;) {
                int control;
                uint64_t seq, flags;

                r = sd_bus_message_read(m, "(btt)", &control, &seq, &flags);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = stats_table_add_rsqueue(table, control, seq, flags);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

int bus_read_variant(sd_bus_message *m, const char *key, StatsTable *table) {
        const char *contents;
        union {
                uint8_t y;
                int16_t n;
                uint16_t q;
                int32_t i;
                uint32_t u;
                int64_t x;
                uint64_t t;
                int b;
                const char *s;
        } v;
        uint64_t number;
        char type;
        int r;

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (r == 0 || type != 'v')
                return -EBADMSG;

        if (!contents[0] || contents[1]) {
                /* Not a basic type: only the resend queue listing is understood. */
                if (streq(contents, "a(btt)") && streq(key, "rsqueue.entries")) {
                        r = sd_bus_message_enter_container(m, 'v', contents);
                        if (r < 0)
                                return r;
                        r = read_rsqueue_entries(m, table);
                        if (r < 0)
                                return r;
                        return sd_bus_message_exit_container(m);
                }
                return sd_bus_message_skip(m, "v");
        }

        switch (contents[0]) {
        case 's': case 'o': case 'g':
                r = sd_bus_message_read(m, "v", contents, &v.s);
                if (r < 0)
                        return r;
                return stats_table_set_string(table, key, v.s);
        case 'y': case 'n': case 'q': case 'i': case 'u': case 'x': case 't': case 'b':
                r = sd_bus_message_read(m, "v", contents, &v);
                if (r < 0)
                        return r;
                switch (contents[0]) {
                case 'y': number = v.y; break;
                case 'n': number = (uint64_t) (int64_t) v.n; break;
                case 'q': number = v.q; break;
                case 'i': number = (uint64_t) (int64_t) v.i; break;
                case 'u': number = v.u; break;
                case 'x': number = (uint64_t) v.x; break;
                case 'b': number = !!v.b; break;
                default: number = v.t; break;
                }
                return stats_table_set_uint(table, key, number);
        default:
                return sd_bus_message_skip(m, "v");
        }
}

int bus_read_dictionary(sd_bus_message *m, StatsTable *table) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = bus_read_variant(m, key, table);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

int bus_client_get_statistics(BusClient *c, const char *section, sd_bus_error *error,
                              StatsTable **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        int r;

        r = bus_client_call(c, "GetStatistics", BUS_CLIENT_TIMEOUT_USEC, error, &reply, "s",
                            section ?: "");
        if (r < 0)
                return r;
        r = stats_table_new(&t);
        if (r < 0)
                return r;
        r = bus_read_dictionary(reply, t);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(t);
        return 0;
}

int bus_client_get_properties(BusClient *c, const char *const *names, sd_bus_error *error,
                              StatsTable **ret) {
        _cleanup_(stats_table_freep) StatsTable *t = NULL;
        int r;

        r = stats_table_new(&t);
        if (r < 0)
                return r;

        /* One Get() each: the counters that are read on demand are not part of GetAll(). */
        for (const char *const *n = names; *n; n++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;

                r = sd_bus_message_new_method_call(c->bus, &m,
                                                   c->system_bus ? CONNTRACKD_BUS_NAME : NULL,
                                                   CONNTRACKD_BUS_PATH,
                                                   "org.freedesktop.DBus.Properties", "Get");
                if (r < 0)
                        return r;
                r = sd_bus_message_append(m, "ss", CONNTRACKD_BUS_INTERFACE, *n);
                if (r < 0)
                        return r;
                r = sd_bus_call(c->bus, m, BUS_CLIENT_TIMEOUT_USEC, error, &reply);
                if (r < 0)
                        return r;
                r = bus_read_variant(reply, *n, t);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

bool bus_client_is_unreachable(BusClient *c, int r, const sd_bus_error *error) {
        /* On the system bus, the bus driver answers for a daemon that is not there. */
        if (error && sd_bus_error_has_names(error, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                            SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                return true;
        /* sd-bus turns local failures into named errors too; what tells them from an answer of
         * the daemon is that the connection is gone (refused, reset, closed by the daemon). */
        if (r < 0 && sd_bus_is_open(c->bus) <= 0)
                return true;
        return r == -ECONNREFUSED || r == -ECONNRESET || r == -ENOTCONN;
}

const char *bus_client_error_message(const sd_bus_error *error, int r) {
        if (error && sd_bus_error_is_set(error) && error->message)
                return error->message;
        return strerror(r < 0 ? -r : r);
}

int copy_fd_to_fd(int in_fd, int out_fd) {
        char buf[64 * 1024];

        for (;;) {
                ssize_t n;
                size_t done = 0;

                n = read(in_fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                struct pollfd p = { .fd = in_fd, .events = POLLIN };

                                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                                        return negative_errno();
                                continue;
                        }
                        return negative_errno();
                }
                if (n == 0)
                        return 0;

                while (done < (size_t) n) {
                        ssize_t w = write(out_fd, buf + done, (size_t) n - done);

                        if (w < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN) {
                                        struct pollfd p = { .fd = out_fd, .events = POLLOUT };

                                        if (poll(&p, 1, -1) < 0 && errno != EINTR)
                                                return negative_errno();
                                        continue;
                                }
                                return negative_errno();
                        }
                        done += (size_t) w;
                }
        }
}
