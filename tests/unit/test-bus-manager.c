/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus server: a Manager on the fake kernel serves its private socket; clients on the same
 * sd-event loop call it asynchronously and the loop runs until the reply is in. Checks the served
 * introspection against dbus/org.netfilter.conntrackd1.Manager.xml, every method and property,
 * the signals, the root check (a forked client under uid 65534), the private socket's life cycle
 * and the system bus (a private dbus-daemon standing in for it).
 */
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>

#include "bus-errors.h"
#include "fake-kernel.h"
#include "log.h"
#include "manager.h"

#define BUS_NAME        "org.netfilter.conntrackd1"
#define BUS_PATH        "/org/netfilter/conntrackd1"
#define BUS_INTERFACE   "org.netfilter.conntrackd1.Manager"
#define PROPERTIES      "org.freedesktop.DBus.Properties"

#define DEADLINE_USEC   (10 * G_USEC_PER_SEC)
#define NOBODY          65534

/* "%s" is the socket path */
static const char *const stats_config =
        "General {\n"
        "        HashSize 1024\n"
        "        HashLimit 4096\n"
        "        Systemd off\n"
        "        UNIX {\n"
        "                Path %s\n"
        "        }\n"
        "}\n"
        "Stats {\n"
        "}\n";

static const char *const sync_config =
        "General {\n"
        "        HashSize 1024\n"
        "        HashLimit 4096\n"
        "        Systemd off\n"
        "        UNIX {\n"
        "                Path %s\n"
        "        }\n"
        "}\n"
        "Sync {\n"
        "        Mode FTFW {\n"
        "        }\n"
        "        UDP {\n"
        "                IPv4_address 127.0.0.1\n"
        "                IPv4_Destination_Address 127.0.0.2\n"
        "                Port 3780\n"
        "                Interface lo\n"
        "        }\n"
        "        Options {\n"
        "                ExpectationSync on\n"
        "        }\n"
        "}\n";

typedef struct Client {
        sd_bus *bus;
        bool detached;                  /* not on the manager's loop: run_until() drives it */
        const char *destination;        /* NULL on a private connection */
        GPtrArray *signals;             /* one string per signal received, see on_signal() */
} Client;

typedef struct Fixture {
        char *dir;
        char *conf;
        char *sock;
        Manager *m;
        Client client;
        Client *clients[4];             /* every open client */
        size_t n_clients;
} Fixture;

static bool am_root(void) {
        return geteuid() == 0;
}

/* ---- loop ---- */

typedef bool (*Predicate)(Fixture *f, void *userdata);

/* Process what a detached client has; true if it did anything. */
static bool drive_detached(Fixture *f) {
        bool any = false;

        for (size_t i = 0; i < f->n_clients; i++) {
                if (!f->clients[i]->detached)
                        continue;
                while (sd_bus_process(f->clients[i]->bus, NULL) > 0)
                        any = true;
        }
        return any;
}

static bool have_detached(Fixture *f) {
        for (size_t i = 0; i < f->n_clients; i++)
                if (f->clients[i]->detached)
                        return true;
        return false;
}

/* Run the loop (and the detached clients) until cond() holds; fail at the deadline. Once the
 * loop has finished (Quit()), only the detached clients are driven. */
static void run_until(Fixture *f, Predicate cond, void *userdata) {
        gint64 deadline = g_get_monotonic_time() + DEADLINE_USEC;

        while (!cond(f, userdata)) {
                if (g_get_monotonic_time() > deadline)
                        g_error("Condition not reached before the deadline");
                if (drive_detached(f))
                        continue;
                if (sd_event_get_state(f->m->event) == SD_EVENT_FINISHED) {
                        g_assert_true(have_detached(f));
                        for (size_t i = 0; i < f->n_clients; i++)
                                if (f->clients[i]->detached) {
                                        (void) sd_bus_wait(f->clients[i]->bus, 10 * USEC_PER_MSEC);
                                        break;
                                }
                        continue;
                }
                g_assert_cmpint(sd_event_run(f->m->event, (have_detached(f) ? 5 : 100) * USEC_PER_MSEC),
                                >=, 0);
        }
}

static bool flag_set(Fixture *f, void *userdata) {
        return *(bool *) userdata;
}

/* ---- config, manager ---- */

/* The config text of a template: "%s" is the socket path. */
static char *config_text(Fixture *f, const char *template) {
        GString *s = g_string_new(template);

        g_string_replace(s, "%s", f->sock, 0);
        return g_string_free(s, FALSE);
}

static Config *load_config(Fixture *f, const char *template) {
        g_autofree char *text = config_text(f, template);
        ConfigDiagnostics d = {};
        Config *c = NULL;

        g_assert_true(g_file_set_contents(f->conf, text, -1, NULL));
        g_assert_cmpint(config_load_file(f->conf, &c, &d), ==, 0);
        config_diagnostics_clear(&d);
        return c;
}

static int manager_create(Fixture *f, const char *template, bool system_bus, Manager **ret) {
        Config *c = load_config(f, template);
        int r;

        r = manager_new(&(ManagerOptions) {
                                .config_path = f->conf,
                                .config = c,
                                .kernel_ops = &fake_kernel_ops,
                                .connect_system_bus = system_bus,
                                .notify = false,
                        },
                        ret);
        g_assert_cmpint(r, ==, 0);
        return manager_start(*ret);
}

/* ---- clients ---- */

static int on_signal(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        Client *c = userdata;
        const char *member = sd_bus_message_get_member(msg);
        GString *s = g_string_new(member);

        if (streq(member, "PropertiesChanged")) {
                const char *iface, *name;

                g_assert_cmpint(sd_bus_message_read(msg, "s", &iface), >, 0);
                g_assert_cmpstr(iface, ==, BUS_INTERFACE);
                g_assert_cmpint(sd_bus_message_enter_container(msg, 'a', "{sv}"), >, 0);
                while (sd_bus_message_enter_container(msg, 'e', "sv") > 0) {
                        g_assert_cmpint(sd_bus_message_read(msg, "s", &name), >, 0);
                        g_string_append_printf(s, " %s", name);
                        g_assert_cmpint(sd_bus_message_skip(msg, "v"), >=, 0);
                        g_assert_cmpint(sd_bus_message_exit_container(msg), >=, 0);
                }
        } else if (streq(member, "Overrun")) {
                uint64_t total;
                uint32_t size, in;

                g_assert_cmpint(sd_bus_message_read(msg, "tuu", &total, &size, &in), >, 0);
                g_string_append_printf(s, " %" PRIu64 " %" PRIu32 " %" PRIu32, total, size, in);
        } else if (streq(member, "ResyncDone")) {
                const char *kind;
                uint64_t entries, duration;

                g_assert_cmpint(sd_bus_message_read(msg, "stt", &kind, &entries, &duration), >, 0);
                g_string_append_printf(s, " %s %" PRIu64, kind, entries);
        } else if (streq(member, "CommitDone")) {
                uint64_t ct_ok, ct_failed, exp_ok, exp_failed, duration;

                g_assert_cmpint(sd_bus_message_read(msg, "ttttt", &ct_ok, &ct_failed, &exp_ok,
                                                    &exp_failed, &duration), >, 0);
                g_string_append_printf(s, " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, ct_ok,
                                       ct_failed, exp_ok, exp_failed);
        }
        g_ptr_array_add(c->signals, g_string_free(s, FALSE));
        return 0;
}

static void client_track(Fixture *f, Client *c) {
        g_assert_cmpuint(f->n_clients, <, G_N_ELEMENTS(f->clients));
        f->clients[f->n_clients++] = c;
}

static void client_untrack(Fixture *f, Client *c) {
        for (size_t i = 0; i < f->n_clients; i++)
                if (f->clients[i] == c) {
                        f->clients[i] = f->clients[--f->n_clients];
                        return;
                }
}

/* A client on the private socket at 'path', on the manager's loop unless 'detached'. An
 * attached client is closed by sd-bus when the loop exits: Quit() needs a detached one. */
static void client_open_full(Fixture *f, Client *c, const char *path, bool detached) {
        g_autofree char *address = g_strdup_printf("unix:path=%s", path);

        *c = (Client) { .signals = g_ptr_array_new_with_free_func(g_free), .detached = detached };
        g_assert_cmpint(sd_bus_new(&c->bus), >=, 0);
        g_assert_cmpint(sd_bus_set_address(c->bus, address), >=, 0);
        g_assert_cmpint(sd_bus_start(c->bus), >=, 0);
        if (!detached)
                g_assert_cmpint(sd_bus_attach_event(c->bus, f->m->event, 0), >=, 0);
        g_assert_cmpint(sd_bus_match_signal(c->bus, NULL, NULL, BUS_PATH, NULL, NULL, on_signal, c),
                        >=, 0);
        client_track(f, c);
}

static void client_open_at(Fixture *f, Client *c, const char *path) {
        client_open_full(f, c, path, false);
}

static void client_open(Fixture *f, Client *c) {
        client_open_at(f, c, f->sock);
}

static void client_close(Fixture *f, Client *c) {
        client_untrack(f, c);
        /* No flush: a client closed before the loop served it would wait for the server. */
        c->bus = sd_bus_close_unref(c->bus);
        if (c->signals)
                g_ptr_array_unref(g_steal_pointer(&c->signals));
}

/* The first signal received that starts with 'prefix', or NULL. */
static const char *client_got_prefix(Client *c, const char *prefix) {
        for (guint i = 0; i < c->signals->len; i++)
                if (g_str_has_prefix(c->signals->pdata[i], prefix))
                        return c->signals->pdata[i];
        return NULL;
}

static bool client_got(Client *c, const char *signal) {
        for (guint i = 0; i < c->signals->len; i++)
                if (streq(c->signals->pdata[i], signal))
                        return true;
        return false;
}

typedef struct WaitSignal {
        Client *client;
        const char *signal;
        bool prefix;
} WaitSignal;

static bool signal_received(Fixture *f, void *userdata) {
        WaitSignal *w = userdata;

        return w->prefix ? client_got_prefix(w->client, w->signal) != NULL :
                           client_got(w->client, w->signal);
}

static void wait_signal(Fixture *f, Client *c, const char *signal) {
        run_until(f, signal_received, &(WaitSignal) { c, signal, false });
}

static const char *wait_signal_prefix(Fixture *f, Client *c, const char *prefix) {
        run_until(f, signal_received, &(WaitSignal) { c, prefix, true });
        return client_got_prefix(c, prefix);
}

typedef struct CallResult {
        bool done;
        sd_bus_message *reply;
} CallResult;

static int on_call_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        CallResult *r = userdata;

        r->reply = sd_bus_message_ref(reply);
        r->done = true;
        return 0;
}

/*
 * Call a method and run the loop until the reply is in. Returns 0 and *ret_reply (if non-NULL),
 * or the negative errno of the error, copied to *ret_error (if non-NULL).
 */
static int callv(Fixture *f, Client *c, sd_bus_message **ret_reply, sd_bus_error *ret_error,
                 const char *interface, const char *member, const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        CallResult res = {};
        const sd_bus_error *e;
        int r;

        g_assert_cmpint(sd_bus_message_new_method_call(c->bus, &msg, c->destination, BUS_PATH,
                                                       interface, member),
                        >=, 0);
        if (types)
                g_assert_cmpint(sd_bus_message_appendv(msg, types, ap), >=, 0);
        g_assert_cmpint(sd_bus_call_async(c->bus, NULL, msg, on_call_reply, &res, DEADLINE_USEC),
                        >=, 0);
        run_until(f, flag_set, &res.done);

        e = sd_bus_message_get_error(res.reply);
        if (e) {
                r = -sd_bus_error_get_errno(e);
                g_assert_cmpint(r, <, 0);
                if (ret_error)
                        g_assert_cmpint(sd_bus_error_copy(ret_error, e), <, 0);
                sd_bus_message_unref(res.reply);
                return r;
        }
        if (ret_reply)
                *ret_reply = res.reply;
        else
                sd_bus_message_unref(res.reply);
        return 0;
}

static int call_iface(Fixture *f, Client *c, const char *interface, sd_bus_message **ret_reply,
                      sd_bus_error *ret_error, const char *member, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = callv(f, c, ret_reply, ret_error, interface, member, types, ap);
        va_end(ap);
        return r;
}

static int call(Fixture *f, Client *c, sd_bus_message **ret_reply, sd_bus_error *ret_error,
                const char *member, const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = callv(f, c, ret_reply, ret_error, BUS_INTERFACE, member, types, ap);
        va_end(ap);
        return r;
}

/* A call that must fail with the error 'name'; returns its message. */
static char *call_fails(Fixture *f, Client *c, const char *name, const char *member,
                        const char *types, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        va_start(ap, types);
        r = callv(f, c, NULL, &e, BUS_INTERFACE, member, types, ap);
        va_end(ap);
        g_assert_cmpint(r, <, 0);
        g_assert_cmpstr(e.name, ==, name);
        g_assert_nonnull(e.message);
        return g_strdup(e.message);
}

static sd_bus_message *get_property(Fixture *f, Client *c, const char *name) {
        sd_bus_message *reply = NULL;

        g_assert_cmpint(call_iface(f, c, PROPERTIES, &reply, NULL, "Get", "ss", BUS_INTERFACE, name),
                        ==, 0);
        return reply;
}

static uint64_t get_u64(Fixture *f, Client *c, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = get_property(f, c, name);
        uint64_t v;

        g_assert_cmpint(sd_bus_message_read(reply, "v", "t", &v), >, 0);
        return v;
}

static uint32_t get_u32(Fixture *f, Client *c, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = get_property(f, c, name);
        uint32_t v;

        g_assert_cmpint(sd_bus_message_read(reply, "v", "u", &v), >, 0);
        return v;
}

static bool get_bool(Fixture *f, Client *c, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = get_property(f, c, name);
        int v;

        g_assert_cmpint(sd_bus_message_read(reply, "v", "b", &v), >, 0);
        return v;
}

static char *get_str(Fixture *f, Client *c, const char *name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = get_property(f, c, name);
        const char *v;

        g_assert_cmpint(sd_bus_message_read(reply, "v", "s", &v), >, 0);
        return g_strdup(v);
}

/* GetStatistics(section) as key -> "t:<n>" / "s:<text>"; fails on a duplicate key. */
static GHashTable *get_statistics(Fixture *f, Client *c, const char *section) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        const char *key;

        g_assert_cmpint(call(f, c, &reply, NULL, "GetStatistics", "s", section), ==, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "{sv}"), >, 0);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                const char *contents;
                char type;
                char *value;

                g_assert_cmpint(sd_bus_message_read(reply, "s", &key), >, 0);
                g_assert_cmpint(sd_bus_message_peek_type(reply, &type, &contents), >, 0);
                g_assert_cmpint(type, ==, 'v');
                if (streq(contents, "t")) {
                        uint64_t v;
                        g_assert_cmpint(sd_bus_message_read(reply, "v", "t", &v), >, 0);
                        value = g_strdup_printf("t:%" PRIu64, v);
                } else if (streq(contents, "s")) {
                        const char *v;
                        g_assert_cmpint(sd_bus_message_read(reply, "v", "s", &v), >, 0);
                        value = g_strdup_printf("s:%s", v);
                } else if (streq(contents, "a(btt)") && streq(key, "rsqueue.entries")) {
                        /* the FT-FW resend queue listing (-s rsqueue) */
                        g_assert_cmpint(sd_bus_message_skip(reply, "v"), >=, 0);
                        value = g_strdup("a(btt)");
                } else
                        g_error("Statistic %s has type %s", key, contents);
                g_assert_false(g_hash_table_contains(h, key));
                g_hash_table_insert(h, g_strdup(key), value);
                g_assert_cmpint(sd_bus_message_exit_container(reply), >=, 0);
        }
        g_assert_cmpint(sd_bus_message_exit_container(reply), >=, 0);
        return h;
}

static uint64_t stat_u64(GHashTable *h, const char *key) {
        const char *v = g_hash_table_lookup(h, key);

        if (!v)
                g_error("Statistic %s missing", key);
        g_assert_true(g_str_has_prefix(v, "t:"));
        return g_ascii_strtoull(v + 2, NULL, 10);
}

/* ---- fixtures ---- */

static void fixture_dirs(Fixture *f) {
        f->dir = g_dir_make_tmp("test-bus-manager-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        f->conf = g_build_filename(f->dir, "conntrackd.conf", NULL);
        f->sock = g_build_filename(f->dir, "conntrackd.ctl", NULL);
}

/* data: the config template (stats_config when NULL) */
static void fixture_setup(Fixture *f, gconstpointer data) {
        fixture_dirs(f);
        g_assert_cmpint(manager_create(f, data ?: stats_config, false, &f->m), ==, 0);
        client_open(f, &f->client);
}

/* Only the directory: the test makes its managers. */
static void fixture_setup_bare(Fixture *f, gconstpointer data) {
        fixture_dirs(f);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        if (f->client.bus)
                client_close(f, &f->client);
        f->m = manager_free(f->m);
        /* The socket we bound goes away with the manager. */
        g_assert_false(g_file_test(f->sock, G_FILE_TEST_EXISTS));
        (void) g_unlink(f->conf);
        g_assert_cmpint(g_rmdir(f->dir), ==, 0);
        g_free(f->sock);
        g_free(f->conf);
        g_free(f->dir);
}

/* Flows first..first+n-1 appear in the fake kernel (with their events unless 'quiet'). */
static void add_flows_from(Fixture *f, unsigned first, unsigned n, bool quiet) {
        CtEntry e;

        for (unsigned i = first; i < first + n; i++) {
                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, quiet), ==, 0);
        }
}

static void add_flows(Fixture *f, unsigned n, bool quiet) {
        add_flows_from(f, 0, n, quiet);
}

static bool need_root(void) {
        if (am_root())
                return true;
        g_test_skip("mutating methods are root only: run as root");
        return false;
}

/* ---- introspection against the XML ---- */

typedef struct Introspection {
        const char *interface;
        bool inside;                    /* within <interface name="interface"> */
        bool seen;
        char *kind;                     /* "method", "signal", "property" while in one */
        char *name;
        char *type, *access;            /* properties */
        GPtrArray *args;
        GPtrArray *annotations;
        GPtrArray *members;             /* one canonical line per member */
} Introspection;

static const char *xml_attr(const char **names, const char **values, const char *name) {
        for (size_t i = 0; names[i]; i++)
                if (streq(names[i], name))
                        return values[i];
        return NULL;
}

static void on_xml_start(GMarkupParseContext *ctx, const char *element, const char **names,
                         const char **values, gpointer userdata, GError **error) {
        Introspection *in = userdata;

        if (streq(element, "interface")) {
                in->inside = g_strcmp0(xml_attr(names, values, "name"), in->interface) == 0;
                in->seen = in->seen || in->inside;
                return;
        }
        if (!in->inside)
                return;

        if (streq(element, "method") || streq(element, "signal") || streq(element, "property")) {
                g_assert_null(in->kind);
                in->kind = g_strdup(element);
                in->name = g_strdup(xml_attr(names, values, "name"));
                in->type = g_strdup(xml_attr(names, values, "type"));
                in->access = g_strdup(xml_attr(names, values, "access"));
                in->args = g_ptr_array_new_with_free_func(g_free);
                in->annotations = g_ptr_array_new_with_free_func(g_free);
        } else if (streq(element, "arg")) {
                const char *dir = xml_attr(names, values, "direction");

                g_assert_nonnull(in->kind);
                if (!dir)
                        dir = streq(in->kind, "method") ? "in" : "out";
                g_ptr_array_add(in->args,
                                g_strdup_printf("%s %s %s", dir, xml_attr(names, values, "type"),
                                                xml_attr(names, values, "name") ?: "-"));
        } else if (streq(element, "annotation")) {
                const char *name = xml_attr(names, values, "name");

                /* The D-Bus standard annotations are the contract; implementation annotations
                 * (org.freedesktop.systemd1.*) are not. */
                if (in->kind && name && g_str_has_prefix(name, "org.freedesktop.DBus."))
                        g_ptr_array_add(in->annotations,
                                        g_strdup_printf("%s=%s", name,
                                                        xml_attr(names, values, "value") ?: ""));
        }
}

static int compare_strings(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void on_xml_end(GMarkupParseContext *ctx, const char *element, gpointer userdata,
                       GError **error) {
        Introspection *in = userdata;
        GString *s;

        if (streq(element, "interface")) {
                in->inside = false;
                return;
        }
        if (!in->kind || !streq(element, in->kind))
                return;

        s = g_string_new(NULL);
        if (streq(in->kind, "property")) {
                bool emits = false;

                g_string_printf(s, "property %s %s %s", in->name, in->type, in->access);
                for (guint i = 0; i < in->annotations->len; i++)
                        if (g_str_has_prefix(in->annotations->pdata[i],
                                             "org.freedesktop.DBus.Property.EmitsChangedSignal="))
                                emits = true;
                /* No annotation means "true" (D-Bus specification). */
                if (!emits)
                        g_ptr_array_add(in->annotations,
                                        g_strdup("org.freedesktop.DBus.Property.EmitsChangedSignal=true"));
        } else {
                g_string_printf(s, "%s %s(", in->kind, in->name);
                for (guint i = 0; i < in->args->len; i++)
                        g_string_append_printf(s, "%s%s", i > 0 ? ", " : "",
                                               (char *) in->args->pdata[i]);
                g_string_append_c(s, ')');
        }
        g_ptr_array_sort(in->annotations, compare_strings);
        for (guint i = 0; i < in->annotations->len; i++)
                g_string_append_printf(s, " [%s]", (char *) in->annotations->pdata[i]);
        g_ptr_array_add(in->members, g_string_free(s, FALSE));

        g_clear_pointer(&in->kind, g_free);
        g_clear_pointer(&in->name, g_free);
        g_clear_pointer(&in->type, g_free);
        g_clear_pointer(&in->access, g_free);
        g_clear_pointer(&in->args, g_ptr_array_unref);
        g_clear_pointer(&in->annotations, g_ptr_array_unref);
}

/* The members of 'interface' in an introspection document, one canonical line each, sorted. */
static GPtrArray *introspection_members(const char *xml, const char *interface) {
        static const GMarkupParser parser = { .start_element = on_xml_start, .end_element = on_xml_end };
        Introspection in = {
                .interface = interface,
                .members = g_ptr_array_new_with_free_func(g_free),
        };
        GMarkupParseContext *ctx = g_markup_parse_context_new(&parser, 0, &in, NULL);
        GError *error = NULL;

        g_assert_true(g_markup_parse_context_parse(ctx, xml, -1, &error));
        g_assert_no_error(error);
        g_assert_true(g_markup_parse_context_end_parse(ctx, &error));
        g_assert_no_error(error);
        g_markup_parse_context_free(ctx);
        g_assert_true(in.seen);
        g_assert_null(in.kind);
        g_ptr_array_sort(in.members, compare_strings);
        return in.members;
}

static char *contract_path(void) {
        const char *top = g_getenv("TOP_SRCDIR");

        if (top)
                return g_build_filename(top, "dbus", "org.netfilter.conntrackd1.Manager.xml", NULL);
        /* Run by hand from the build directory. */
        return g_build_filename("..", "dbus", "org.netfilter.conntrackd1.Manager.xml", NULL);
}

static char *joined(GPtrArray *a) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < a->len; i++)
                g_string_append_printf(s, "%s\n", (char *) a->pdata[i]);
        return g_string_free(s, FALSE);
}

static bool contains_string(GPtrArray *a, const char *s) {
        for (guint i = 0; i < a->len; i++)
                if (streq(a->pdata[i], s))
                        return true;
        return false;
}

static void test_introspect_matches_xml(Fixture *f, gconstpointer data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autofree char *path = contract_path(), *contract = NULL, *want = NULL, *got = NULL;
        g_autoptr(GPtrArray) xml_members = NULL, served_members = NULL;
        GError *error = NULL;
        const char *served;
        unsigned n_methods = 0, n_properties = 0, n_signals = 0;

        g_assert_true(g_file_get_contents(path, &contract, NULL, &error));
        g_assert_no_error(error);
        xml_members = introspection_members(contract, BUS_INTERFACE);

        /* The contract as read: 18 properties, 14 methods, 3 signals (guards the parser). */
        for (guint i = 0; i < xml_members->len; i++) {
                const char *s = xml_members->pdata[i];
                n_methods += g_str_has_prefix(s, "method ");
                n_properties += g_str_has_prefix(s, "property ");
                n_signals += g_str_has_prefix(s, "signal ");
        }
        g_assert_cmpuint(n_properties, ==, 18);
        g_assert_cmpuint(n_methods, ==, 14);
        g_assert_cmpuint(n_signals, ==, 3);
        g_assert_true(contains_string(xml_members,
                                      "method DumpCache(in s cache, in s kind, in s format, out h fd)"));
        g_assert_true(contains_string(xml_members,
                                      "method Commit(in s what, out t flows_ok, out t flows_failed, "
                                      "out t expectations_ok, out t expectations_failed, "
                                      "out t duration_usec)"));

        g_assert_cmpint(call_iface(f, &f->client, "org.freedesktop.DBus.Introspectable", &reply, NULL,
                                   "Introspect", NULL),
                        ==, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "s", &served), >, 0);
        served_members = introspection_members(served, BUS_INTERFACE);

        for (guint i = 0; i < xml_members->len; i++)
                if (!contains_string(served_members, xml_members->pdata[i]))
                        g_test_message("In the XML, not served: %s", (char *) xml_members->pdata[i]);
        for (guint i = 0; i < served_members->len; i++)
                if (!contains_string(xml_members, served_members->pdata[i]))
                        g_test_message("Served, not in the XML: %s", (char *) served_members->pdata[i]);
        want = joined(xml_members);
        got = joined(served_members);
        g_assert_cmpstr(got, ==, want);
}

/* ---- properties ---- */

static void test_properties(Fixture *f, gconstpointer data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autoptr(GPtrArray) all = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *version = NULL, *compat = NULL, *mode = NULL, *state = NULL, *file = NULL;
        bool sync = data == sync_config;
        const char *name;

        add_flows(f, 3, false);

        version = get_str(f, &f->client, "Version");
        g_assert_cmpstr(version, ==, PACKAGE_VERSION);
        compat = get_str(f, &f->client, "CompatibleVersion");
        g_assert_cmpstr(compat, ==, "1.4.7");
        mode = get_str(f, &f->client, "Mode");
        g_assert_cmpstr(mode, ==, sync ? "ftfw" : "stats");
        state = get_str(f, &f->client, "State");
        g_assert_cmpstr(state, ==, "running");
        file = get_str(f, &f->client, "ConfigFile");
        g_assert_cmpstr(file, ==, f->conf);
        /* no peer has answered a resync (there is none): not in sync */
        g_assert_false(get_bool(f, &f->client, "InSync"));
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 3);
        g_assert_cmpuint(get_u64(f, &f->client, "ExternalCacheSize"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalExpectCacheSize"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "ExternalExpectCacheSize"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "CacheLimit"), ==, 4096);
        g_assert_cmpuint(get_u64(f, &f->client, "EventsReceived"), ==, 3);
        g_assert_cmpuint(get_u64(f, &f->client, "NetlinkOverruns"), ==, 0);
        g_assert_cmpuint(get_u32(f, &f->client, "NetlinkBufferSize"), ==, f->m->kernel->buffer_size);
        g_assert_cmpuint(get_u32(f, &f->client, "NetlinkBufferSize"), >, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "KernelResyncs"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "CacheFull"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "UptimeSeconds"), <, 60);

        /* A flow that does not fit is counted. */
        f->m->counters.cache_full = 0;
        cache_set_hash_limit(manager_get_cache(f->m, CACHE_INTERNAL, CT_KIND_CT), 3);
        {
                CtEntry e;
                fake_ct_make_tcp(&e, 100);
                g_assert_cmpint(fake_kernel_add_ct(f->m->kernel, &e, false), ==, 0);
        }
        g_assert_cmpuint(get_u64(f, &f->client, "CacheFull"), ==, 1);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 3);

        /* GetAll: the properties read on demand (EmitsChangedSignal=false) are explicit. */
        g_assert_cmpint(call_iface(f, &f->client, PROPERTIES, &reply, NULL, "GetAll", "s",
                                   BUS_INTERFACE),
                        ==, 0);
        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "{sv}"), >, 0);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                g_assert_cmpint(sd_bus_message_read(reply, "s", &name), >, 0);
                g_ptr_array_add(all, g_strdup(name));
                g_assert_cmpint(sd_bus_message_skip(reply, "v"), >=, 0);
                g_assert_cmpint(sd_bus_message_exit_container(reply), >=, 0);
        }
        g_ptr_array_sort(all, compare_strings);
        {
                g_autofree char *names = joined(all);
                g_assert_cmpstr(names, ==,
                                "CacheLimit\nCompatibleVersion\nConfigFile\nInSync\nKernelResyncs\nMode\n"
                                "NetlinkBufferSize\nNetlinkOverruns\nRole\nState\nVersion\n");
        }

        /* Read only */
        {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                g_assert_cmpint(call_iface(f, &f->client, PROPERTIES, NULL, &e, "Set", "ssv",
                                           BUS_INTERFACE, "State", "s", "stopping"),
                                <, 0);
                g_assert_cmpstr(e.name, ==, SD_BUS_ERROR_PROPERTY_READ_ONLY);
        }
}

/* ---- DumpCache ---- */

static char *read_all(int fd) {
        GString *s = g_string_new(NULL);
        char buf[4096];
        ssize_t n;

        while ((n = read(fd, buf, sizeof buf)) > 0)
                g_string_append_len(s, buf, n);
        g_assert_cmpint(n, ==, 0);
        return g_string_free(s, FALSE);
}

static char *dump(Fixture *f, const char *cache, const char *kind, const char *format) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int fd;

        g_assert_cmpint(call(f, &f->client, &reply, NULL, "DumpCache", "sss", cache, kind, format),
                        ==, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "h", &fd), >, 0);
        g_assert_cmpint(lseek(fd, 0, SEEK_CUR), ==, 0);        /* positioned at the start */
        return read_all(fd);            /* the message owns fd */
}

static void test_dump_cache(Fixture *f, gconstpointer data) {
        g_autofree char *plain = NULL, *json = NULL, *xml = NULL, *msg = NULL;
        g_auto(GStrv) lines = NULL;

        add_flows(f, 10, false);

        plain = dump(f, "internal", "ct", "plain");
        lines = g_strsplit(plain, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 11);        /* 10 lines and the last '\n' */
        g_assert_cmpstr(lines[10], ==, "");
        for (unsigned i = 0; i < 10; i++) {
                g_autofree char *want = g_strdup_printf("src=10.0.0.%u dst=192.168.0.1 sport=%u dport=80 ",
                                                        i, 1000 + i);
                g_assert_nonnull(strstr(plain, want));
        }
        for (unsigned i = 0; i < 10; i++) {
                g_assert_true(g_str_has_prefix(lines[i], "tcp      6 ESTABLISHED src=10.0.0."));
                g_assert_nonnull(strstr(lines[i], " [active since "));
        }
        g_clear_pointer(&lines, g_strfreev);

        json = dump(f, "internal", "ct", "json");
        lines = g_strsplit(json, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 11);
        for (unsigned i = 0; i < 10; i++) {
                g_autofree char *want = g_strdup_printf("\"10.0.0.%u\"", i);
                g_assert_true(g_str_has_prefix(lines[i], "{"));
                g_assert_true(g_str_has_suffix(lines[i], "}"));
                g_assert_nonnull(strstr(json, want));
        }
        g_clear_pointer(&lines, g_strfreev);

        xml = dump(f, "internal", "ct", "xml");
        lines = g_strsplit(xml, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 11);
        for (unsigned i = 0; i < 10; i++) {
                g_assert_true(g_str_has_prefix(lines[i], "<flow>"));
                g_assert_true(g_str_has_suffix(lines[i], "</flow>"));
        }

        if (data == sync_config) {
                g_autofree char *ext = dump(f, "external", "ct", "plain");
                g_autofree char *exp = dump(f, "internal", "expect", "plain");
                g_assert_cmpstr(ext, ==, "");
                g_assert_cmpstr(exp, ==, "");
        } else {
                msg = call_fails(f, &f->client, BUS_ERROR_NOT_SUPPORTED, "DumpCache", "sss",
                                 "external", "ct", "plain");
                g_assert_nonnull(strstr(msg, "Stats mode has no external cache"));
                g_clear_pointer(&msg, g_free);
                msg = call_fails(f, &f->client, BUS_ERROR_NOT_SUPPORTED, "DumpCache", "sss",
                                 "internal", "expect", "plain");
                g_assert_nonnull(strstr(msg, "expectation"));
        }
        /* Not a refused call: NotSupported is not counted. */
        g_assert_cmpuint(f->m->counters.bus_requests_failed, ==, 0);
}

/* ---- mutating methods ---- */

static void test_flush_cache(Fixture *f, gconstpointer data) {
        g_autofree char *msg = NULL;

        if (!need_root())
                return;
        add_flows(f, 5, false);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 5);

        g_assert_cmpint(call(f, &f->client, NULL, NULL, "FlushCache", "ss", "internal", "ct"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 0);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 5);    /* only the cache */

        add_flows_from(f, 5, 3, false);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 3);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "FlushCache", "ss", "all", "all"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 0);

        if (data == sync_config) {
                g_assert_cmpint(call(f, &f->client, NULL, NULL, "FlushCache", "ss", "external", "expect"),
                                ==, 0);
        } else {
                msg = call_fails(f, &f->client, BUS_ERROR_NOT_SUPPORTED, "FlushCache", "ss",
                                 "external", "ct");
                g_assert_nonnull(strstr(msg, "external"));
                g_clear_pointer(&msg, g_free);
                msg = call_fails(f, &f->client, BUS_ERROR_NOT_SUPPORTED, "FlushCache", "ss",
                                 "external", "all");
        }
        {
                g_autofree char *state = get_str(f, &f->client, "State");
                g_assert_cmpstr(state, ==, "running");
        }
}

static void test_flush_kernel(Fixture *f, gconstpointer data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autofree char *msg = NULL;
        uint64_t deleted;

        if (!need_root())
                return;
        add_flows(f, 5, false);
        g_assert_cmpint(call(f, &f->client, &reply, NULL, "FlushKernel", "s", "ct"), ==, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "t", &deleted), >, 0);
        g_assert_cmpuint(deleted, ==, 5);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 0);

        /* The kernel refuses: KernelFailed with the reason, nothing deleted. */
        add_flows_from(f, 10, 2, false);
        fake_kernel_fail_next(f->m->kernel, 1, -EPERM);
        msg = call_fails(f, &f->client, BUS_ERROR_KERNEL_FAILED, "FlushKernel", "s", "ct");
        g_assert_nonnull(strstr(msg, strerror(EPERM)));
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 2);

        sd_bus_message_unref(g_steal_pointer(&reply));
        g_assert_cmpint(call(f, &f->client, &reply, NULL, "FlushKernel", "s", "all"), ==, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "t", &deleted), >, 0);
        g_assert_cmpuint(deleted, ==, 2);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 0);
}

static void test_resync_kernel(Fixture *f, gconstpointer data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autofree char *msg = NULL;
        uint64_t entries;

        if (!need_root())
                return;
        add_flows(f, 7, true);  /* lost events */
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 0);

        g_assert_cmpint(call(f, &f->client, &reply, NULL, "ResyncKernel", "s", "ct"), ==, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "t", &entries), >, 0);
        g_assert_cmpuint(entries, ==, 7);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 7);
        g_assert_cmpuint(get_u64(f, &f->client, "KernelResyncs"), ==, 1);
        wait_signal(f, &f->client, "ResyncDone ct 7");
        wait_signal(f, &f->client, "PropertiesChanged KernelResyncs");

        sd_bus_message_unref(g_steal_pointer(&reply));
        g_assert_cmpint(call(f, &f->client, &reply, NULL, "ResyncKernel", "s", "all"), ==, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "t", &entries), >, 0);
        g_assert_cmpuint(entries, ==, 7);
        g_assert_cmpuint(get_u64(f, &f->client, "KernelResyncs"), ==,
                         data == sync_config ? 3 : 2);  /* conntracks and expectations */

        if (data != sync_config) {
                msg = call_fails(f, &f->client, BUS_ERROR_NOT_SUPPORTED, "ResyncKernel", "s", "expect");
                g_assert_nonnull(strstr(msg, "expectation"));
        }
}

static void test_reload(Fixture *f, gconstpointer data) {
        g_autofree char *msg = NULL, *text = NULL, *state = NULL;

        if (!need_root())
                return;

        g_assert_cmpint(call(f, &f->client, NULL, NULL, "Reload", NULL), ==, 0);
        wait_signal(f, &f->client, "PropertiesChanged State");                  /* reloading */
        wait_signal(f, &f->client, "PropertiesChanged State Mode CacheLimit");  /* running */

        /* A new HashLimit applies. */
        text = config_text(f, stats_config);
        {
                g_autofree char *changed = NULL;
                char *p = strstr(text, "HashLimit 4096");
                g_assert_nonnull(p);
                p[strlen("HashLimit ")] = '\0';
                changed = g_strdup_printf("%s32%s", text, p + strlen("HashLimit 4096"));
                g_assert_true(g_file_set_contents(f->conf, changed, -1, NULL));
        }
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "Reload", NULL), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "CacheLimit"), ==, 32);

        /* A bad file: ConfigInvalid naming file and line; the running config stays. */
        g_assert_true(g_file_set_contents(f->conf, "General {\n        NoSuchKeyword 1\n}\n", -1, NULL));
        msg = call_fails(f, &f->client, BUS_ERROR_CONFIG_INVALID, "Reload", NULL);
        g_test_message("ConfigInvalid: %s", msg);
        g_assert_nonnull(strstr(msg, f->conf));
        g_assert_nonnull(strstr(msg, ":2"));
        g_assert_cmpuint(f->m->counters.reloads_failed, ==, 1);
        g_assert_cmpuint(get_u64(f, &f->client, "CacheLimit"), ==, 32);
        state = get_str(f, &f->client, "State");
        g_assert_cmpstr(state, ==, "running");
}

static bool loop_finished(Fixture *f, void *userdata) {
        return sd_event_get_state(f->m->event) == SD_EVENT_FINISHED;
}

static void test_quit(Fixture *f, gconstpointer data) {
        Client c;
        int code = -1;

        if (!need_root())
                return;
        client_open_full(f, &c, f->sock, true);
        g_assert_cmpint(call(f, &c, NULL, NULL, "GetStatistics", "s", "process"), ==, 0);

        g_assert_cmpint(call(f, &c, NULL, NULL, "Quit", NULL), ==, 0);
        g_assert_cmpint(f->m->state, ==, MANAGER_STOPPING);
        wait_signal(f, &c, "PropertiesChanged State");
        /* The loop ends, with exit code 0. */
        run_until(f, loop_finished, NULL);
        g_assert_cmpint(sd_event_get_exit_code(f->m->event, &code), >=, 0);
        g_assert_cmpint(code, ==, 0);
        client_close(f, &c);
}

/* ---- statistics ---- */

static const char *const basic_keys[] = {
        "active", "add_ok", "add_fail", "upd_ok", "upd_fail", "del_ok", "del_fail", NULL,
};
static const char *const cache_keys[] = {
        "objects", "active", "hashed", "add_ok", "add_fail", "add_fail_nomem", "add_fail_nospace",
        "upd_ok", "upd_fail", "upd_fail_enoent", "del_ok", "del_fail", "del_fail_enoent",
        "limit", "buckets", NULL,
};
static const char *const traffic_keys[] = {
        "traffic.bytes", "traffic.packets", NULL,
};
static const char *const runtime_keys[] = {
        "runtime.uptime", "netlink.events_received", "netlink.events_filtered",
        "netlink.events_unknown", "netlink.catch_event_failed", "netlink.dump_unknown",
        "netlink.overruns", "netlink.kernel_flushes", "netlink.kernel_resyncs",
        "netlink.buffer_size", "netlink.overrun_resyncs", "netlink.cache_full",
        "runtime.child_failed", "runtime.child_segfault", "runtime.child_termsig",
        "runtime.select_failed", "runtime.wait_failed", "runtime.local_read_failed",
        "runtime.local_unknown_request", "netlink.events_new", "netlink.events_update",
        "netlink.events_destroy", "netlink.expect_events_new", "netlink.expect_events_update",
        "netlink.expect_events_destroy", NULL,
};
/* Outside Stats mode, in "general": systemd's fd store (manager-store.c) */
static const char *const store_keys[] = {
        "store.restored_objects", "store.saved_objects", "store.rejected", NULL,
};
/* Stats mode only: the flow log */
static const char *const flow_log_keys[] = {
        "flowlog.records", "flowlog.lines_written", "flowlog.lines_lost", "flowlog.reopens", NULL,
};

static void expect_keys(GPtrArray *want, const char *const *keys) {
        for (; *keys; keys++)
                g_ptr_array_add(want, g_strdup(*keys));
}

static void expect_cache_keys(Fixture *f, GPtrArray *want, int only_kind, const char *const *keys) {
        for (CtKind k = 0; k < _CT_KIND_MAX; k++)
                for (CacheWhich w = 0; w < _CACHE_WHICH_MAX; w++) {
                        if ((only_kind >= 0 && (CtKind) only_kind != k) || !manager_get_cache(f->m, w, k))
                                continue;
                        for (const char *const *key = keys; *key; key++)
                                g_ptr_array_add(want, g_strdup_printf("%s%s.%s", cache_which_to_string(w),
                                                                      k == CT_KIND_EXPECT ? "-expect" : "",
                                                                      *key));
                }
}

/* The keys that manager_append_sync_statistics() gives for a section (none in Stats mode). */
static void expect_sync_keys(Fixture *f, GPtrArray *want, const char *section) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        const char *key;

        g_assert_cmpint(sd_bus_message_new_method_call(f->client.bus, &m, NULL, BUS_PATH,
                                                       BUS_INTERFACE, "Scratch"),
                        >=, 0);
        g_assert_cmpint(sd_bus_message_open_container(m, 'a', "{sv}"), >=, 0);
        g_assert_cmpint(manager_append_sync_statistics(f->m, section, m), >=, 0);
        g_assert_cmpint(sd_bus_message_close_container(m), >=, 0);
        g_assert_cmpint(sd_bus_message_seal(m, 1, 0), >=, 0);
        g_assert_cmpint(sd_bus_message_rewind(m, true), >=, 0);
        g_assert_cmpint(sd_bus_message_enter_container(m, 'a', "{sv}"), >, 0);
        while (sd_bus_message_enter_container(m, 'e', "sv") > 0) {
                g_assert_cmpint(sd_bus_message_read(m, "s", &key), >, 0);
                g_ptr_array_add(want, g_strdup(key));
                g_assert_cmpint(sd_bus_message_skip(m, "v"), >=, 0);
                g_assert_cmpint(sd_bus_message_exit_container(m), >=, 0);
        }
}

/* The keys of stats-keys.h for one section, in this mode. */
static GPtrArray *expected_keys(Fixture *f, const char *section) {
        GPtrArray *want = g_ptr_array_new_with_free_func(g_free);

        if (!streq(section, "cache") && !streq(section, "runtime") && !streq(section, "process"))
                expect_sync_keys(f, want, section);
        if (f->m->config->mode == CONFIG_MODE_STATS)
                g_assert_cmpuint(want->len, ==, 0);
        else if (streq(section, "general") || streq(section, ""))
                /* the replication counters of legacy -s are there */
                g_assert_true(contains_string(want, "message.malformed"));

        g_ptr_array_add(want, g_strdup("mode"));
        if (streq(section, "general") || streq(section, "expect")) {
                expect_cache_keys(f, want, streq(section, "general") ? CT_KIND_CT : CT_KIND_EXPECT,
                                  basic_keys);
                expect_keys(want, traffic_keys);
        } else if (streq(section, "cache"))
                expect_cache_keys(f, want, -1, cache_keys);
        else if (streq(section, "runtime"))
                expect_keys(want, runtime_keys);
        else if (streq(section, "")) {
                expect_cache_keys(f, want, -1, cache_keys);
                expect_keys(want, traffic_keys);
                expect_keys(want, runtime_keys);
        }
        if ((streq(section, "runtime") || streq(section, "")) &&
            f->m->config->mode == CONFIG_MODE_STATS)
                expect_keys(want, flow_log_keys);
        if ((streq(section, "general") || streq(section, "")) &&
            f->m->config->mode != CONFIG_MODE_STATS)
                expect_keys(want, store_keys);
        g_ptr_array_sort(want, compare_strings);
        return want;
}

static void test_get_statistics(Fixture *f, gconstpointer data) {
        static const char *const sections[] = {
                "general", "expect", "cache", "runtime", "network", "link", "queue", "rsqueue",
                "process", "",
        };
        bool sync = data == sync_config;

        add_flows(f, 3, false);
        g_assert_nonnull(manager_get_cache(f->m, CACHE_INTERNAL, CT_KIND_CT));
        g_assert_true(sync == (manager_get_cache(f->m, CACHE_EXTERNAL, CT_KIND_EXPECT) != NULL));

        for (size_t i = 0; i < G_N_ELEMENTS(sections); i++) {
                g_autoptr(GHashTable) h = get_statistics(f, &f->client, sections[i]);
                g_autoptr(GPtrArray) want = expected_keys(f, sections[i]);
                g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
                g_autofree char *want_s = NULL, *got_s = NULL;
                GHashTableIter it;
                gpointer key;

                g_hash_table_iter_init(&it, h);
                while (g_hash_table_iter_next(&it, &key, NULL))
                        g_ptr_array_add(got, g_strdup(key));
                g_ptr_array_sort(got, compare_strings);
                want_s = joined(want);
                got_s = joined(got);
                g_test_message("section \"%s\": %u keys", sections[i], got->len);
                g_assert_cmpstr(got_s, ==, want_s);
                g_assert_cmpstr(g_hash_table_lookup(h, "mode"), ==, sync ? "s:ftfw" : "s:stats");
                /* no zero placeholders where nothing replicates */
                if (!sync)
                        g_assert_false(g_hash_table_contains(h, "message.malformed"));

                if (streq(sections[i], "general") || streq(sections[i], "")) {
                        g_assert_cmpuint(stat_u64(h, "internal.active"), ==, 3);
                        g_assert_cmpuint(stat_u64(h, "internal.add_ok"), ==, 3);
                        g_assert_cmpuint(stat_u64(h, "internal.add_fail"), ==, 0);
                }
                if (streq(sections[i], "cache") || streq(sections[i], "")) {
                        g_assert_cmpuint(stat_u64(h, "internal.objects"), ==, 3);
                        g_assert_cmpuint(stat_u64(h, "internal.limit"), ==, 4096);
                        g_assert_cmpuint(stat_u64(h, "internal.buckets"), ==, 1024);
                }
                if (streq(sections[i], "runtime") || streq(sections[i], "")) {
                        g_assert_cmpuint(stat_u64(h, "netlink.events_received"), ==, 3);
                        /* the three events were NEW ones, of flows */
                        g_assert_cmpuint(stat_u64(h, "netlink.events_new"), ==, 3);
                        g_assert_cmpuint(stat_u64(h, "netlink.events_update"), ==, 0);
                        g_assert_cmpuint(stat_u64(h, "netlink.events_destroy"), ==, 0);
                        g_assert_cmpuint(stat_u64(h, "netlink.expect_events_new"), ==, 0);
                        g_assert_cmpuint(stat_u64(h, "netlink.buffer_size"), ==,
                                         f->m->kernel->buffer_size);
                        g_assert_cmpuint(stat_u64(h, "runtime.local_unknown_request"), ==, 0);
                }
        }
}

/* ---- refused calls ---- */

static void test_bad_arguments(Fixture *f, gconstpointer data) {
        static const struct {
                bool root;
                const char *member, *types, *a, *b, *c;
                const char *mentions[2];
        } cases[] = {
                { false, "DumpCache", "sss", "bogus", "ct", "plain", { "cache", "\"external\"" } },
                { false, "DumpCache", "sss", "internal", "bogus", "plain", { "kind", "\"expect\"" } },
                { false, "DumpCache", "sss", "internal", "all", "plain", { "kind", "\"ct\"" } },
                { false, "DumpCache", "sss", "internal", "ct", "bogus", { "format", "\"json\"" } },
                { false, "GetStatistics", "s", "bogus", NULL, NULL, { "section", "\"runtime\"" } },
                { true, "FlushCache", "ss", "bogus", "ct", NULL, { "cache", "\"all\"" } },
                { true, "FlushCache", "ss", "internal", "bogus", NULL, { "kind", "\"all\"" } },
                { true, "FlushKernel", "s", "bogus", NULL, NULL, { "kind", "\"expect\"" } },
                { true, "ResyncKernel", "s", "", NULL, NULL, { "kind", "\"ct\"" } },
                { true, "Commit", "s", "flows", NULL, NULL, { "kind", "\"expect\"" } },
        };
        uint64_t refused = 0;
        g_autoptr(GHashTable) h = NULL;
        g_autofree char *state = NULL, *out = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *msg = NULL;

                if (cases[i].root && !am_root())
                        continue;
                msg = call_fails(f, &f->client, SD_BUS_ERROR_INVALID_ARGS, cases[i].member,
                                 cases[i].types, cases[i].a, cases[i].b, cases[i].c);
                g_test_message("%s: %s", cases[i].member, msg);
                for (size_t j = 0; j < G_N_ELEMENTS(cases[i].mentions); j++)
                        g_assert_nonnull(strstr(msg, cases[i].mentions[j]));
                refused++;
                g_assert_cmpuint(f->m->counters.bus_requests_failed, ==, refused);
        }

        /* Counted as "local unknown request", and the daemon goes on serving. */
        h = get_statistics(f, &f->client, "runtime");
        g_assert_cmpuint(stat_u64(h, "runtime.local_unknown_request"), ==, refused);
        state = get_str(f, &f->client, "State");
        g_assert_cmpstr(state, ==, "running");
        out = dump(f, "internal", "ct", "plain");
        g_assert_cmpstr(out, ==, "");

        /* A wrong signature is refused by sd-bus itself. */
        {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                g_assert_cmpint(call(f, &f->client, NULL, &e, "DumpCache", "s", "internal"), <, 0);
                g_assert_cmpstr(e.name, ==, SD_BUS_ERROR_INVALID_ARGS);
        }
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", ""), ==, 0);
}

/* ---- root check: a client under uid 65534 ---- */

static int unprivileged_client(const char *sock) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        g_autofree char *address = g_strdup_printf("unix:path=%s", sock);
        static const char *const denied[] = {
                "FlushCache", "FlushKernel", "ResyncKernel", "Commit", "SendBulk", "RequestResync",
                "ResetTimers", "Promote", "Demote", "Reload", "ReopenLogFiles", "Quit",
        };

        if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
            setresuid(NOBODY, NOBODY, NOBODY) < 0 || geteuid() != NOBODY)
                return 10;
        if (sd_bus_new(&bus) < 0 || sd_bus_set_address(bus, address) < 0 || sd_bus_start(bus) < 0)
                return 11;

        for (size_t i = 0; i < G_N_ELEMENTS(denied); i++) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
                int r;

                if (streq(denied[i], "FlushCache"))
                        r = sd_bus_call_method(bus, NULL, BUS_PATH, BUS_INTERFACE, denied[i], &e, NULL,
                                               "ss", "internal", "ct");
                else if (streq(denied[i], "FlushKernel") || streq(denied[i], "ResyncKernel") ||
                         streq(denied[i], "Commit"))
                        r = sd_bus_call_method(bus, NULL, BUS_PATH, BUS_INTERFACE, denied[i], &e, NULL,
                                               "s", "ct");
                else
                        r = sd_bus_call_method(bus, NULL, BUS_PATH, BUS_INTERFACE, denied[i], &e, NULL,
                                               NULL);
                if (r >= 0 || !sd_bus_error_has_name(&e, SD_BUS_ERROR_ACCESS_DENIED) ||
                    !strstr(e.message, "root")) {
                        fprintf(stderr, "%s() as uid %u: r=%d %s: %s\n", denied[i], NOBODY, r,
                                strna(e.name), strna(e.message));
                        return 20 + (int) i;
                }
        }

        /* Reading is allowed to everybody. */
        if (sd_bus_call_method(bus, NULL, BUS_PATH, BUS_INTERFACE, "GetStatistics", NULL, &reply,
                               "s", "general") < 0)
                return 30;
        reply = sd_bus_message_unref(reply);
        if (sd_bus_call_method(bus, NULL, BUS_PATH, BUS_INTERFACE, "DumpCache", NULL, &reply,
                               "sss", "internal", "ct", "plain") < 0)
                return 31;
        return 0;
}

typedef struct ChildWait {
        pid_t pid;
        int status;
        bool exited;
} ChildWait;

static bool child_exited(Fixture *f, void *userdata) {
        ChildWait *w = userdata;
        pid_t p = waitpid(w->pid, &w->status, WNOHANG);

        g_assert_cmpint(p, >=, 0);
        w->exited = p == w->pid;
        return w->exited;
}

static void test_root_check(Fixture *f, gconstpointer data) {
        ChildWait w = {};
        g_autofree char *state = NULL;

        add_flows(f, 4, false);

        if (!am_root()) {
                /* We are the unprivileged caller. */
                g_autofree char *msg = call_fails(f, &f->client, SD_BUS_ERROR_ACCESS_DENIED, "FlushCache",
                                                  "ss", "internal", "ct");
                g_assert_nonnull(strstr(msg, "root"));
                g_assert_cmpuint(f->m->counters.bus_requests_failed, ==, 1);
                g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 4);
                return;
        }

        /* Let uid 65534 reach the socket: the file permissions are not what is tested. */
        g_assert_cmpint(chmod(f->dir, 0711), ==, 0);
        g_assert_cmpint(chmod(f->sock, 0666), ==, 0);

        w.pid = fork();
        g_assert_cmpint(w.pid, >=, 0);
        if (w.pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                _exit(unprivileged_client(f->sock));
        }
        run_until(f, child_exited, &w);
        g_assert_true(WIFEXITED(w.status));
        g_assert_cmpint(WEXITSTATUS(w.status), ==, 0);

        /* Twelve refusals counted; nothing was flushed, the daemon runs on. */
        g_assert_cmpuint(f->m->counters.bus_requests_failed, ==, 12);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 4);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 4);
        state = get_str(f, &f->client, "State");
        g_assert_cmpstr(state, ==, "running");
        g_assert_cmpuint(f->m->counters.reloads, ==, 0);

        /* And root may. */
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "FlushCache", "ss", "internal", "ct"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 0);
}

/* ---- replication: Commit, SendBulk, RequestResync, ResetTimers ---- */

/* n flows in the external cache, as peers send them; and an expectation of flow 0. */
static void external_flows(Fixture *f, unsigned n, bool expectation) {
        Cache *ct = manager_get_cache(f->m, CACHE_EXTERNAL, CT_KIND_CT);
        Cache *exp = manager_get_cache(f->m, CACHE_EXTERNAL, CT_KIND_EXPECT);
        CtEntry e;

        g_assert_nonnull(ct);
        for (unsigned i = 0; i < n; i++) {
                fake_ct_make_tcp(&e, 1000 + i);
                e.attrs &= ~(uint64_t) CT_ATTR_REPLY;
                g_assert_cmpint(cache_add(ct, &e, manager_now(f->m), NULL), ==, 0);
        }
        if (expectation) {
                CtExpect x = {
                        .expected = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .dport = 40000 },
                        .mask = { .l3 = AF_INET, .l4 = IPPROTO_TCP, .dport = 0xffff },
                        .attrs = CT_EXP_ATTR_TIMEOUT,
                        .timeout = 100,
                };

                g_assert_nonnull(exp);
                fake_ct_make_tcp(&e, 1000);
                x.master = e.orig;
                x.expected.src = e.orig.src;
                x.expected.dst = e.orig.dst;
                g_assert_cmpint(cache_add(exp, &x, manager_now(f->m), NULL), ==, 0);
        }
}

typedef struct Pending {
        bool done;
        sd_bus_message *reply;
} Pending;

static int on_pending_reply(sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Pending *p = userdata;

        p->reply = sd_bus_message_ref(reply);
        p->done = true;
        return 0;
}

/* Send a call without waiting for its reply. */
static void call_async(Client *c, Pending *p, const char *member, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *msg = NULL;
        va_list ap;

        *p = (Pending) {};
        g_assert_cmpint(sd_bus_message_new_method_call(c->bus, &msg, c->destination, BUS_PATH,
                                                       BUS_INTERFACE, member),
                        >=, 0);
        if (types) {
                va_start(ap, types);
                g_assert_cmpint(sd_bus_message_appendv(msg, types, ap), >=, 0);
                va_end(ap);
        }
        g_assert_cmpint(sd_bus_call_async(c->bus, NULL, msg, on_pending_reply, p, UINT64_MAX),
                        >=, 0);
}

static const char *pending_error(Pending *p) {
        const sd_bus_error *e = sd_bus_message_get_error(p->reply);

        return e ? e->name : NULL;
}

static bool commit_stopped(Fixture *f, void *userdata) {
        return !manager_commit_running(f->m);
}

static void test_commit(Fixture *f, gconstpointer data) {
        Pending commit, second, flush_ext, flush_all, flush_int;
        uint64_t ct_ok, ct_failed, exp_ok, exp_failed, duration;
        g_autofree char *signal = NULL;

        if (!need_root())
                return;
        add_flows(f, 3, false);
        external_flows(f, 4000, true);
        g_assert_cmpint(manager_reset_timers(f->m), ==, 0);

        /* All sent at once: the first starts the commit, the others arrive while it runs. */
        call_async(&f->client, &commit, "Commit", "s", "");
        call_async(&f->client, &second, "Commit", "s", "ct");
        call_async(&f->client, &flush_ext, "FlushCache", "ss", "external", "ct");
        call_async(&f->client, &flush_all, "FlushCache", "ss", "all", "all");
        call_async(&f->client, &flush_int, "FlushCache", "ss", "internal", "ct");
        run_until(f, flag_set, &flush_int.done);
        g_assert_true(manager_commit_running(f->m));
        g_assert_false(commit.done);

        g_assert_cmpstr(pending_error(&second), ==, BUS_ERROR_BUSY);
        g_assert_cmpstr(sd_bus_message_get_error(second.reply)->message, ==,
                        "commit already in progress");
        g_assert_cmpstr(pending_error(&flush_ext), ==, BUS_ERROR_BUSY);
        g_assert_cmpstr(pending_error(&flush_all), ==, BUS_ERROR_BUSY);
        /* the refused flush of everything flushed nothing; the internal cache alone may go */
        g_assert_null(pending_error(&flush_int));
        g_assert_cmpuint(get_u64(f, &f->client, "ExternalCacheSize"), ==, 4000);

        run_until(f, flag_set, &commit.done);
        g_assert_null(pending_error(&commit));
        g_assert_cmpint(sd_bus_message_read(commit.reply, "ttttt", &ct_ok, &ct_failed, &exp_ok,
                                            &exp_failed, &duration), >, 0);
        g_assert_cmpuint(ct_ok, ==, 4000);
        g_assert_cmpuint(ct_failed, ==, 0);
        g_assert_cmpuint(exp_ok, ==, 1);
        g_assert_cmpuint(exp_failed, ==, 0);
        g_assert_cmpuint(duration, >, 0);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 4003);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_EXPECT), ==, 1);
        signal = g_strdup(wait_signal_prefix(f, &f->client, "CommitDone "));
        g_assert_cmpstr(signal, ==, "CommitDone 4000 0 1 0");
        /* a commit cancels the scheduled flush (-t) */
        g_assert_null(f->m->purge_timer);

        /* Done: flushing the external cache is allowed again, and so is the next commit. */
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "FlushCache", "ss", "external", "ct"), ==, 0);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "Commit", "s", "ct"), ==, 0);
        wait_signal(f, &f->client, "CommitDone 0 0 0 0");

        for (Pending *p = &commit; p; p = p == &commit ? &second : p == &second ? &flush_ext :
                                         p == &flush_ext ? &flush_all : p == &flush_all ?
                                         &flush_int : NULL)
                sd_bus_message_unref(p->reply);
}

/* Read Promote/Demote's reply: the a{sv} into a "key=value" list (sorted), then duration_usec. */
static char *failover_reply(sd_bus_message *reply, uint64_t *ret_duration) {
        g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
        const char *key;

        g_assert_cmpint(sd_bus_message_enter_container(reply, 'a', "{sv}"), >, 0);
        while (sd_bus_message_enter_container(reply, 'e', "sv") > 0) {
                char type;
                const char *contents;

                g_assert_cmpint(sd_bus_message_read(reply, "s", &key), >, 0);
                g_assert_cmpint(sd_bus_message_peek_type(reply, &type, &contents), >, 0);
                g_assert_cmpint(sd_bus_message_enter_container(reply, 'v', contents), >, 0);
                if (streq(contents, "s")) {
                        const char *s;
                        g_assert_cmpint(sd_bus_message_read(reply, "s", &s), >, 0);
                        g_ptr_array_add(items, g_strdup_printf("%s=%s", key, s));
                } else if (streq(contents, "b")) {
                        int b;
                        g_assert_cmpint(sd_bus_message_read(reply, "b", &b), >, 0);
                        g_ptr_array_add(items, g_strdup_printf("%s=%s", key, b ? "yes" : "no"));
                } else {
                        uint64_t t;
                        g_assert_cmpstr(contents, ==, "t");
                        g_assert_cmpint(sd_bus_message_read(reply, "t", &t), >, 0);
                        /* durations vary: only say whether they are there */
                        if (g_str_has_suffix(key, "_usec"))
                                g_ptr_array_add(items, g_strdup_printf("%s=%s", key,
                                                                       t > 0 ? "set" : "0"));
                        else
                                g_ptr_array_add(items, g_strdup_printf("%s=%" PRIu64, key, t));
                }
                g_assert_cmpint(sd_bus_message_exit_container(reply), >=, 0);
                g_assert_cmpint(sd_bus_message_exit_container(reply), >=, 0);
        }
        g_assert_cmpint(sd_bus_message_exit_container(reply), >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "t", ret_duration), >, 0);
        g_ptr_array_sort(items, compare_strings);
        return joined(items);
}

static void test_promote_demote(Fixture *f, gconstpointer data) {
        Pending promote, demote, commit, second;
        g_autofree char *role = NULL, *got = NULL;
        uint64_t duration;

        if (data != sync_config) {
                _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

                g_assert_cmpint(call(f, &f->client, NULL, &e, "Promote", NULL), <, 0);
                g_assert_cmpstr(e.name, ==, BUS_ERROR_NOT_SUPPORTED);
                return;
        }
        if (!need_root())
                return;
        role = get_str(f, &f->client, "Role");
        g_assert_cmpstr(role, ==, "unknown");
        add_flows(f, 3, false);
        external_flows(f, 4000, true);
        g_assert_cmpint(manager_reset_timers(f->m), ==, 0);

        /* Promote runs its commit; what comes meanwhile is refused, not interleaved */
        call_async(&f->client, &promote, "Promote", NULL);
        call_async(&f->client, &second, "Promote", NULL);
        call_async(&f->client, &demote, "Demote", NULL);
        call_async(&f->client, &commit, "Commit", "s", "");
        run_until(f, flag_set, &commit.done);
        g_assert_false(promote.done);
        g_assert_cmpstr(pending_error(&second), ==, BUS_ERROR_BUSY);
        g_assert_cmpstr(sd_bus_message_get_error(second.reply)->message, ==,
                        "a Promote or Demote is in progress");
        g_assert_cmpstr(pending_error(&demote), ==, BUS_ERROR_BUSY);
        g_assert_cmpstr(pending_error(&commit), ==, BUS_ERROR_BUSY);

        run_until(f, flag_set, &promote.done);
        g_assert_null(pending_error(&promote));
        got = failover_reply(promote.reply, &duration);
        g_assert_cmpstr(got, ==,
                        "commit_expectations=1\ncommit_expectations_failed=0\ncommit_flows=4000\n"
                        "commit_flows_failed=0\ncommit_usec=set\ncommitted=yes\n"
                        "flushed_external=4001\nflushed_internal=4004\nresync_entries=4004\n"
                        "role=primary\n");
        g_assert_cmpuint(duration, >, 0);
        /* in order: the commit put everything in the kernel (whose events filled the internal
         * caches: 3 + 4000 flows + 1 expectation flushed), the flushes emptied the caches,
         * the resync refilled the internal ones from the kernel; the purge went with -f */
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 4003);
        g_assert_cmpuint(get_u64(f, &f->client, "ExternalCacheSize"), ==, 0);
        g_assert_cmpuint(get_u64(f, &f->client, "InternalCacheSize"), ==, 4003);
        g_assert_null(f->m->purge_timer);
        wait_signal(f, &f->client, "PropertiesChanged Role");
        g_free(role);
        role = get_str(f, &f->client, "Role");
        g_assert_cmpstr(role, ==, "primary");

        /* Demote: the external cache goes, a resync is asked for, the purge is armed */
        external_flows(f, 5, false);
        demote.reply = sd_bus_message_unref(demote.reply);   /* the Busy refusal above */
        g_assert_cmpint(call(f, &f->client, &demote.reply, NULL, "Demote", NULL), ==, 0);
        g_free(got);
        got = failover_reply(demote.reply, &duration);
        g_assert_cmpstr(got, ==,
                        "commit_expectations=0\ncommit_expectations_failed=0\ncommit_flows=0\n"
                        "commit_flows_failed=0\ncommit_usec=0\ncommitted=no\n"
                        "flushed_external=5\nflushed_internal=0\nresync_entries=0\n"
                        "role=backup\n");
        g_assert_cmpuint(get_u64(f, &f->client, "ExternalCacheSize"), ==, 0);
        g_assert_nonnull(f->m->purge_timer);
        g_free(role);
        role = get_str(f, &f->client, "Role");
        g_assert_cmpstr(role, ==, "backup");

        for (Pending *p = &promote; p; p = p == &promote ? &second : p == &second ? &demote :
                                          p == &demote ? &commit : NULL)
                sd_bus_message_unref(p->reply);
}

/* Failures are counted, not errors of the call: the rest is committed. */
static void test_commit_failures(Fixture *f, gconstpointer data) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint64_t ct_ok, ct_failed, exp_ok, exp_failed, duration;

        if (!need_root())
                return;
        external_flows(f, 20, false);
        fake_kernel_fail_next(f->m->kernel, 2, -ENOMEM);
        g_assert_cmpint(call(f, &f->client, &reply, NULL, "Commit", "s", "all"), ==, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "ttttt", &ct_ok, &ct_failed, &exp_ok,
                                            &exp_failed, &duration), >, 0);
        g_assert_cmpuint(ct_ok, ==, 18);
        g_assert_cmpuint(ct_failed, ==, 2);
        g_assert_cmpuint(exp_ok + exp_failed, ==, 0);
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 18);
}

/* The caller goes away while its commit runs: the commit finishes, nothing breaks. */
static void test_commit_caller_gone(Fixture *f, gconstpointer data) {
        Client gone;
        Pending p;

        if (!need_root())
                return;
        external_flows(f, 4000, false);
        client_open(f, &gone);
        call_async(&gone, &p, "Commit", "s", "ct");
        while (!manager_commit_running(f->m))
                g_assert_cmpint(sd_event_run(f->m->event, 100 * USEC_PER_MSEC), >=, 0);
        client_close(f, &gone);
        g_assert_false(p.done);

        run_until(f, commit_stopped, NULL);
        wait_signal(f, &f->client, "CommitDone 4000 0 0 0");
        g_assert_cmpuint(fake_kernel_count(f->m->kernel, CT_KIND_CT), ==, 4000);
        /* the daemon serves on */
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", "general"), ==, 0);
}

/* The daemon stops while a commit runs: the caller gets an answer, nothing leaks. */
static void test_commit_shutdown(Fixture *f, gconstpointer data) {
        Client c;
        Pending p;
        gint64 deadline;

        if (!need_root())
                return;
        external_flows(f, 4000, false);
        client_open_full(f, &c, f->sock, true);
        call_async(&c, &p, "Commit", "s", "");
        while (!manager_commit_running(f->m)) {
                (void) sd_bus_process(c.bus, NULL);
                g_assert_cmpint(sd_event_run(f->m->event, 10 * USEC_PER_MSEC), >=, 0);
        }
        f->m = manager_free(f->m);

        deadline = g_get_monotonic_time() + DEADLINE_USEC;
        while (!p.done) {
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                if (sd_bus_process(c.bus, NULL) == 0)
                        (void) sd_bus_wait(c.bus, 10 * USEC_PER_MSEC);
        }
        g_assert_nonnull(pending_error(&p));
        sd_bus_message_unref(p.reply);
        client_close(f, &c);
}

static void test_replication_calls(Fixture *f, gconstpointer data) {
        g_autofree char *msg = NULL;

        if (!need_root())
                return;
        if (data != sync_config) {
                /* Stats mode: nothing of it applies. */
                static const char *const methods[] = { "SendBulk", "RequestResync", "ResetTimers" };

                for (size_t i = 0; i < G_N_ELEMENTS(methods); i++) {
                        g_autofree char *m = call_fails(f, &f->client, BUS_ERROR_NOT_SUPPORTED,
                                                        methods[i], NULL);
                        g_assert_nonnull(strstr(m, "Stats mode"));
                }
                msg = call_fails(f, &f->client, BUS_ERROR_NOT_SUPPORTED, "Commit", "s", "");
                g_assert_nonnull(strstr(msg, "external"));
                g_assert_false(manager_commit_running(f->m));
                return;
        }

        g_assert_cmpint(call(f, &f->client, NULL, NULL, "SendBulk", NULL), ==, 0);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "RequestResync", NULL), ==, 0);
        g_assert_null(f->m->purge_timer);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "ResetTimers", NULL), ==, 0);
        g_assert_nonnull(f->m->purge_timer);
        /* already scheduled: left as it is, and that is success */
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "ResetTimers", NULL), ==, 0);
        g_assert_nonnull(f->m->purge_timer);
        /* expectations exist with ExpectationSync */
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "Commit", "s", "expect"), ==, 0);
}

/* ---- signals ---- */

static void test_signals(Fixture *f, gconstpointer data) {
        Client second;
        const char *s;
        uint64_t total;
        unsigned size, in;

        client_open(f, &second);
        /* Both connections are established before anything is emitted. */
        g_assert_cmpint(call(f, &second, NULL, NULL, "GetStatistics", "s", "process"), ==, 0);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", "process"), ==, 0);

        fake_kernel_overrun(f->m->kernel);
        for (Client *c = &f->client; c; c = c == &f->client ? &second : NULL) {
                s = wait_signal_prefix(f, c, "Overrun ");
                g_assert_cmpint(sscanf(s, "Overrun %" SCNu64 " %u %u", &total, &size, &in), ==, 3);
                g_assert_cmpuint(total, ==, 1);
                g_assert_cmpuint(size, ==, f->m->kernel->buffer_size);
                /* NetlinkOverrunResync defaults to 30 s */
                g_assert_cmpuint(in, >=, 29);
                g_assert_cmpuint(in, <=, 30);
                wait_signal(f, c, "PropertiesChanged NetlinkOverruns NetlinkBufferSize");
        }
        g_assert_cmpuint(get_u64(f, &second, "NetlinkOverruns"), ==, 1);
        g_assert_cmpuint(f->m->last_overruns_emitted, ==, 1);

        /* A resync done reaches both too. */
        manager_bus_emit_resync_done(f->m, CT_KIND_CT, 12, 345);
        wait_signal(f, &f->client, "ResyncDone ct 12");
        wait_signal(f, &second, "ResyncDone ct 12");
        client_close(f, &second);
}

/* ---- the private socket ---- */

static void bind_socket_at(const char *path, bool listening, int *ret_fd) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        g_assert_cmpuint(strlen(path), <, sizeof sa.sun_path);
        strcpy(sa.sun_path, path);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
        if (listening)
                g_assert_cmpint(listen(fd, 8), ==, 0);
        if (ret_fd)
                *ret_fd = fd;
        else
                close(fd);
}

static void test_private_socket(Fixture *f, gconstpointer data) {
        struct stat st;
        g_autofree char *content = NULL, *no_path = NULL;
        int fd;

        /* A stale socket of a previous run is replaced; ours is 0600. */
        bind_socket_at(f->sock, false, NULL);
        g_assert_cmpint(manager_create(f, stats_config, false, &f->m), ==, 0);
        g_assert_false(f->m->private_fd_activated);
        g_assert_cmpint(lstat(f->sock, &st), ==, 0);
        g_assert_true(S_ISSOCK(st.st_mode));
        g_assert_cmpint(st.st_mode & 07777, ==, 0600);
        client_open(f, &f->client);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", ""), ==, 0);
        client_close(f, &f->client);
        f->m = manager_free(f->m);
        g_assert_false(g_file_test(f->sock, G_FILE_TEST_EXISTS));

        /* Anything but a socket is left alone, and the daemon does not start. */
        g_assert_true(g_file_set_contents(f->sock, "precious", -1, NULL));
        g_assert_cmpint(manager_create(f, stats_config, false, &f->m), ==, -EEXIST);
        f->m = manager_free(f->m);
        g_assert_true(g_file_get_contents(f->sock, &content, NULL, NULL));
        g_assert_cmpstr(content, ==, "precious");
        g_assert_cmpint(g_unlink(f->sock), ==, 0);

        /* A socket somebody listens on is not stolen. */
        bind_socket_at(f->sock, true, &fd);
        g_assert_cmpint(manager_create(f, stats_config, false, &f->m), ==, -EADDRINUSE);
        f->m = manager_free(f->m);
        g_assert_cmpint(lstat(f->sock, &st), ==, 0);
        close(fd);
        g_assert_cmpint(g_unlink(f->sock), ==, 0);

        /* Without UNIX { Path } the daemon runs without a private socket. */
        no_path = g_strdup("General {\n        HashSize 1024\n        Systemd off\n}\nStats {\n}\n# %s\n");
        g_assert_cmpint(manager_create(f, no_path, false, &f->m), ==, 0);
        g_assert_cmpint(f->m->private_fd, <, 0);
        g_assert_null(f->m->private_source);
}

static bool buses_open(Fixture *f, void *userdata) {
        return f->m->n_private_buses == *(size_t *) userdata;
}

static bool peer_closed(Fixture *f, void *userdata) {
        char c;

        return recv(*(int *) userdata, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
}

static int connect_raw(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(fd, >=, 0);
        strcpy(sa.sun_path, path);
        g_assert_cmpint(connect(fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
        return fd;
}

static void test_connection_limit(Fixture *f, gconstpointer data) {
        int fds[MANAGER_PRIVATE_BUSES_MAX + 1], extra;
        size_t want;
        char c;

        /* The fixture's client holds one connection. */
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", "process"), ==, 0);
        g_assert_cmpuint(f->m->n_private_buses, ==, 1);

        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                fds[i] = connect_raw(f->sock);
        /* All but the last two fit; those are refused (closed at once). */
        want = MANAGER_PRIVATE_BUSES_MAX;
        run_until(f, buses_open, &want);
        run_until(f, peer_closed, &fds[MANAGER_PRIVATE_BUSES_MAX]);
        run_until(f, peer_closed, &fds[MANAGER_PRIVATE_BUSES_MAX - 1]);
        g_assert_cmpint(recv(fds[0], &c, 1, MSG_DONTWAIT | MSG_PEEK), ==, -1);
        g_assert_cmpint(errno, ==, EAGAIN);
        g_assert_cmpuint(f->m->n_private_buses, ==, MANAGER_PRIVATE_BUSES_MAX);

        /* A connection that goes away frees its slot. */
        close(fds[0]);
        want = MANAGER_PRIVATE_BUSES_MAX - 1;
        run_until(f, buses_open, &want);
        extra = connect_raw(f->sock);
        want = MANAGER_PRIVATE_BUSES_MAX;
        run_until(f, buses_open, &want);
        g_assert_cmpint(recv(extra, &c, 1, MSG_DONTWAIT | MSG_PEEK), ==, -1);
        g_assert_cmpint(errno, ==, EAGAIN);

        /* The first client still works. */
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", "process"), ==, 0);

        close(extra);
        for (size_t i = 1; i < G_N_ELEMENTS(fds); i++)
                close(fds[i]);
        want = 1;
        run_until(f, buses_open, &want);
}

/* Shutdown does not wait for peers: one that connected and never authenticated, one that
 * sent half a message. */
static void test_shutdown_idle_peers(Fixture *f, gconstpointer data) {
        static const char half[] = "\0AUTH EXTERNAL 30";      /* no "\r\n" */
        size_t want = 3;
        gint64 begin;
        int idle, partial;

        idle = connect_raw(f->sock);
        partial = connect_raw(f->sock);
        g_assert_cmpint(write(partial, half, sizeof half - 1), ==, (ssize_t) sizeof half - 1);
        run_until(f, buses_open, &want);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", "process"), ==, 0);

        begin = g_get_monotonic_time();
        f->m = manager_free(f->m);
        g_assert_cmpint(g_get_monotonic_time() - begin, <, 2 * G_USEC_PER_SEC);
        close(idle);
        close(partial);
}

/* Socket activation: in a subprocess, which may take fd 3 and the environment. */
static void test_socket_activation(void) {
        if (g_test_subprocess()) {
                Fixture fx = {}, *f = &fx;
                g_autofree char *activated = NULL, *pid = NULL;
                int fd;

                fixture_dirs(f);
                activated = g_build_filename(f->dir, "activated.ctl", NULL);
                bind_socket_at(activated, true, &fd);
                g_assert_cmpint(dup2(fd, 3), ==, 3);
                if (fd != 3)
                        close(fd);
                pid = g_strdup_printf("%d", (int) getpid());
                g_assert_true(g_setenv("LISTEN_PID", pid, TRUE));
                g_assert_true(g_setenv("LISTEN_FDS", "1", TRUE));
                g_assert_true(g_setenv("LISTEN_FDNAMES", "control", TRUE));

                g_assert_cmpint(manager_create(f, stats_config, false, &f->m), ==, 0);
                g_assert_true(f->m->private_fd_activated);
                g_assert_cmpint(f->m->private_fd, ==, 3);
                /* The configured path is not bound when the service manager passed the socket. */
                g_assert_false(g_file_test(f->sock, G_FILE_TEST_EXISTS));

                client_open_at(f, &f->client, activated);
                g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", "general"), ==, 0);
                client_close(f, &f->client);
                f->m = manager_free(f->m);
                /* Not ours to remove. */
                g_assert_true(g_file_test(activated, G_FILE_TEST_EXISTS));
                g_assert_cmpint(g_unlink(activated), ==, 0);
                fixture_teardown(f, NULL);
                return;
        }
        g_test_trap_subprocess(NULL, 60 * G_USEC_PER_SEC, 0);
        g_test_trap_assert_passed();
}

/* ---- the system bus: unreachable, and a private dbus-daemon standing in for it ---- */

static void test_system_bus_unreachable(Fixture *f, gconstpointer data) {
        g_autofree char *address = g_strdup_printf("unix:path=%s/no-such-bus", f->dir);

        g_assert_true(g_setenv("DBUS_SYSTEM_BUS_ADDRESS", address, TRUE));
        g_assert_cmpint(manager_create(f, stats_config, true, &f->m), ==, 0);
        g_unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
        g_assert_null(f->m->bus);
        client_open(f, &f->client);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", ""), ==, 0);
}

static void unblock_signals(gpointer userdata) {
        sigset_t ss;

        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
}

/* Start dbus-daemon with the session policy (everybody may own and call) on a socket in 'dir'. */
static GPid dbus_daemon_start(const char *dir, char **ret_address) {
        g_autofree char *listen = g_strdup_printf("--address=unix:path=%s/bus", dir);
        const char *argv[] = { "dbus-daemon", "--session", "--nofork", "--nopidfile", "--print-address",
                               listen, NULL };
        GError *error = NULL;
        GString *line = g_string_new(NULL);
        gint64 deadline = g_get_monotonic_time() + DEADLINE_USEC;
        GPid pid;
        int out;

        g_assert_true(g_spawn_async_with_pipes(NULL, (char **) argv, NULL,
                                               G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                                               unblock_signals, NULL, &pid, NULL, &out, NULL, &error));
        g_assert_no_error(error);
        /* The address is printed once the daemon listens. */
        while (!strchr(line->str, '\n')) {
                struct pollfd p = { .fd = out, .events = POLLIN };
                char buf[256];
                ssize_t n;

                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
                if (poll(&p, 1, 100) <= 0)
                        continue;
                n = read(out, buf, sizeof buf);
                g_assert_cmpint(n, >, 0);
                g_string_append_len(line, buf, n);
        }
        close(out);
        *strchr(line->str, '\n') = '\0';
        *ret_address = g_string_free(line, FALSE);
        return pid;
}

static void dbus_daemon_stop(GPid pid) {
        int status;

        g_assert_cmpint(kill(pid, SIGTERM), ==, 0);
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_spawn_close_pid(pid);
}

static bool name_owned(Fixture *f, void *userdata) {
        Client *c = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has = 0;

        g_assert_cmpint(sd_bus_call_method(c->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "NameHasOwner", NULL, &reply, "s",
                                           BUS_NAME),
                        >=, 0);
        g_assert_cmpint(sd_bus_message_read(reply, "b", &has), >, 0);
        if (!has)
                (void) sd_event_run(f->m->event, 10 * USEC_PER_MSEC);
        return has;
}

static bool system_bus_gone(Fixture *f, void *userdata) {
        return f->m->bus == NULL;
}

static void test_system_bus(Fixture *f, gconstpointer data) {
        g_autofree char *address = NULL, *state = NULL;
        g_autofree char *program = g_find_program_in_path("dbus-daemon");
        Client sys = { .destination = BUS_NAME };
        GPid pid;
        const char *s;

        if (!program) {
                g_test_skip("dbus-daemon is not installed");
                return;
        }
        pid = dbus_daemon_start(f->dir, &address);
        g_test_message("dbus-daemon at %s", address);

        g_assert_true(g_setenv("DBUS_SYSTEM_BUS_ADDRESS", address, TRUE));
        g_assert_cmpint(manager_create(f, stats_config, true, &f->m), ==, 0);
        g_unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
        g_assert_nonnull(f->m->bus);

        /* A client of that bus reaches the daemon by its name. */
        sys.signals = g_ptr_array_new_with_free_func(g_free);
        g_assert_cmpint(sd_bus_new(&sys.bus), >=, 0);
        g_assert_cmpint(sd_bus_set_address(sys.bus, address), >=, 0);
        g_assert_cmpint(sd_bus_set_bus_client(sys.bus, 1), >=, 0);
        g_assert_cmpint(sd_bus_start(sys.bus), >=, 0);
        g_assert_cmpint(sd_bus_attach_event(sys.bus, f->m->event, 0), >=, 0);
        g_assert_cmpint(sd_bus_match_signal(sys.bus, NULL, NULL, BUS_PATH, BUS_INTERFACE, NULL,
                                            on_signal, &sys),
                        >=, 0);
        client_track(f, &sys);
        run_until(f, name_owned, &sys);

        add_flows(f, 2, false);
        state = get_str(f, &sys, "State");
        g_assert_cmpstr(state, ==, "running");
        g_assert_cmpuint(get_u64(f, &sys, "InternalCacheSize"), ==, 2);
        {
                g_autoptr(GHashTable) h = get_statistics(f, &sys, "general");
                g_assert_cmpuint(stat_u64(h, "internal.active"), ==, 2);
        }
        if (am_root()) {
                g_assert_cmpint(call(f, &sys, NULL, NULL, "FlushCache", "ss", "internal", "ct"), ==, 0);
                g_assert_cmpuint(get_u64(f, &sys, "InternalCacheSize"), ==, 0);
        }

        /* Signals go to the system bus as well as to the private connections. */
        client_open(f, &f->client);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", "process"), ==, 0);
        fake_kernel_overrun(f->m->kernel);
        s = wait_signal_prefix(f, &sys, "Overrun 1 ");
        g_assert_nonnull(s);
        g_assert_nonnull(wait_signal_prefix(f, &f->client, "Overrun 1 "));

        /* The bus goes away: the daemon drops it and keeps serving privately. */
        client_close(f, &sys);
        dbus_daemon_stop(pid);
        run_until(f, system_bus_gone, NULL);
        g_assert_cmpint(call(f, &f->client, NULL, NULL, "GetStatistics", "s", ""), ==, 0);
}

/* ---- the error map ---- */

static void test_error_map(void) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        g_assert_cmpint(bus_errors_register(), ==, 0);
        g_assert_cmpint(bus_errors_register(), ==, 0);         /* idempotent */

        g_assert_cmpstr(bus_error_name_from_errno(-EOPNOTSUPP), ==, BUS_ERROR_NOT_SUPPORTED);
        g_assert_cmpstr(bus_error_name_from_errno(EBUSY), ==, BUS_ERROR_BUSY);
        g_assert_null(bus_error_name_from_errno(-ENOENT));
        g_assert_null(bus_error_name_from_errno(0));

        g_assert_cmpint(bus_error_set_errnof(&e, -EBUSY, "Resync running: %m"), ==, -EBUSY);
        g_assert_cmpstr(e.name, ==, BUS_ERROR_BUSY);
        g_assert_true(g_str_has_prefix(e.message, "Resync running: "));
        g_assert_nonnull(strstr(e.message, strerror(EBUSY)));
        g_assert_cmpint(sd_bus_error_get_errno(&e), ==, EBUSY);
        sd_bus_error_free(&e);

        /* An errno the map does not name: sd-bus' generic names. */
        g_assert_cmpint(bus_error_set_errnof(&e, -ENOENT, "gone: %m"), ==, -ENOENT);
        g_assert_cmpstr(e.name, ==, SD_BUS_ERROR_FILE_NOT_FOUND);
        sd_bus_error_free(&e);

        /* Named errors give their errno back to clients. */
        g_assert_cmpint(bus_error_set_namedf(&e, BUS_ERROR_KERNEL_FAILED, EPERM, "flush: %m"), ==,
                        -EREMOTEIO);
        g_assert_cmpstr(e.name, ==, BUS_ERROR_KERNEL_FAILED);
        g_assert_nonnull(strstr(e.message, strerror(EPERM)));
        g_assert_cmpint(sd_bus_error_get_errno(&e), ==, EREMOTEIO);
        sd_bus_error_free(&e);
        g_assert_cmpint(sd_bus_error_set(&e, BUS_ERROR_CONFIG_INVALID, "x"), ==, -ENOEXEC);
        sd_bus_error_free(&e);
        g_assert_cmpint(sd_bus_error_set(&e, BUS_ERROR_NOT_SUPPORTED, "x"), ==, -EOPNOTSUPP);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);
        log_setup(LOG_TARGET_CONSOLE, g_test_verbose() ? LOG_DEBUG : LOG_WARNING);

#define ADD(path, data, fn, setup) \
        g_test_add(path, Fixture, data, setup, fn, fixture_teardown)

        ADD("/bus/introspect-matches-xml", NULL, test_introspect_matches_xml, fixture_setup);
        ADD("/bus/properties", NULL, test_properties, fixture_setup);
        ADD("/bus/properties-sync", sync_config, test_properties, fixture_setup);
        ADD("/bus/dump-cache", NULL, test_dump_cache, fixture_setup);
        ADD("/bus/dump-cache-sync", sync_config, test_dump_cache, fixture_setup);
        ADD("/bus/flush-cache", NULL, test_flush_cache, fixture_setup);
        ADD("/bus/flush-cache-sync", sync_config, test_flush_cache, fixture_setup);
        ADD("/bus/flush-kernel", NULL, test_flush_kernel, fixture_setup);
        ADD("/bus/resync-kernel", NULL, test_resync_kernel, fixture_setup);
        ADD("/bus/resync-kernel-sync", sync_config, test_resync_kernel, fixture_setup);
        ADD("/bus/get-statistics", NULL, test_get_statistics, fixture_setup);
        ADD("/bus/get-statistics-sync", sync_config, test_get_statistics, fixture_setup);
        ADD("/bus/bad-arguments", NULL, test_bad_arguments, fixture_setup);
        ADD("/bus/root-check", NULL, test_root_check, fixture_setup);
        ADD("/bus/signals", NULL, test_signals, fixture_setup);
        ADD("/bus/commit", sync_config, test_commit, fixture_setup);
        ADD("/bus/commit-failures", sync_config, test_commit_failures, fixture_setup);
        ADD("/bus/promote-demote", sync_config, test_promote_demote, fixture_setup);
        ADD("/bus/promote-stats", NULL, test_promote_demote, fixture_setup);
        ADD("/bus/commit-caller-gone", sync_config, test_commit_caller_gone, fixture_setup);
        ADD("/bus/commit-shutdown", sync_config, test_commit_shutdown, fixture_setup);
        ADD("/bus/replication-calls", NULL, test_replication_calls, fixture_setup);
        ADD("/bus/replication-calls-sync", sync_config, test_replication_calls, fixture_setup);
        ADD("/bus/reload", NULL, test_reload, fixture_setup);
        ADD("/bus/quit", NULL, test_quit, fixture_setup);
        ADD("/bus/private-socket", NULL, test_private_socket, fixture_setup_bare);
        ADD("/bus/connection-limit", NULL, test_connection_limit, fixture_setup);
        ADD("/bus/shutdown-idle-peers", NULL, test_shutdown_idle_peers, fixture_setup);
        ADD("/bus/system-bus-unreachable", NULL, test_system_bus_unreachable, fixture_setup_bare);
        ADD("/bus/system-bus", NULL, test_system_bus, fixture_setup_bare);
        g_test_add_func("/bus/socket-activation", test_socket_activation);
        g_test_add_func("/bus/error-map", test_error_map);
#undef ADD

        return g_test_run();
}
