/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Following keepalived over D-Bus (keepalived-follow.h): the state table, the introspection
 * parser, and a manager (fake kernel) on a private dbus-daemon with a fake keepalived served in
 * this process: objects, properties and signals as keepalived 2.2.7 serves them (Name as "(s)",
 * State as "(us)", VrrpStatusChange(u), VrrpReloaded). The bus test is skipped without
 * dbus-daemon.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-kernel.h"
#include "keepalived-follow.h"
#include "manager.h"

/* ---- pure parts ---- */

static void test_state_table(void) {
        for (KeepalivedState s = 0; s < _KEEPALIVED_STATE_MAX; s++) {
                const char *name = keepalived_state_to_string(s);

                g_assert_nonnull(name);
                g_assert_cmpint(keepalived_state_from_string(name), ==, s);
        }
        g_assert_cmpint(keepalived_state_from_string("master"), ==, _KEEPALIVED_STATE_INVALID);
        g_assert_cmpint(keepalived_state_from_string(NULL), ==, _KEEPALIVED_STATE_INVALID);
        g_assert_null(keepalived_state_to_string(_KEEPALIVED_STATE_MAX));
        g_assert_null(keepalived_state_to_string(_KEEPALIVED_STATE_INVALID));

        g_assert_cmpint(keepalived_state_from_number(0), ==, KEEPALIVED_INIT);
        g_assert_cmpint(keepalived_state_from_number(1), ==, KEEPALIVED_BACKUP);
        g_assert_cmpint(keepalived_state_from_number(2), ==, KEEPALIVED_MASTER);
        g_assert_cmpint(keepalived_state_from_number(3), ==, KEEPALIVED_FAULT);
        g_assert_cmpint(keepalived_state_from_number(97), ==, KEEPALIVED_STOP);
        g_assert_cmpint(keepalived_state_from_number(98), ==, KEEPALIVED_STOP);
        g_assert_cmpint(keepalived_state_from_number(4), ==, _KEEPALIVED_STATE_INVALID);
        g_assert_cmpint(keepalived_state_from_number(99), ==, _KEEPALIVED_STATE_INVALID);
        g_assert_cmpint(keepalived_state_from_number(UINT32_MAX), ==, _KEEPALIVED_STATE_INVALID);
}

typedef struct IntrospectCase {
        const char *name;
        const char *xml;
        size_t max;
        const char *children;   /* space separated */
        bool instance;
} IntrospectCase;

static const IntrospectCase introspect_cases[] = {
        { "gdbus-parent",
          "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"
          " \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"
          "<!-- GDBus 2.74.6 -->\n<node>\n  <node name=\"Instance\"/>\n  <node name=\"Vrrp\"/>\n"
          "</node>\n", 16, "Instance Vrrp", false },
        { "gdbus-instance",
          "<node>\n  <interface name=\"org.freedesktop.DBus.Properties\">\n  </interface>\n"
          "  <interface name=\"org.keepalived.Vrrp1.Instance\">\n"
          "    <method name=\"SendGarp\">\n    </method>\n"
          "    <property type=\"s\" name=\"Name\" access=\"read\"/>\n  </interface>\n</node>\n",
          16, "", true },
        { "sd-bus-style",
          "<node>\n <interface name='org.keepalived.Vrrp1.Instance'>\n </interface>\n"
          " <node name='eth0'/>\n</node>\n", 16, "eth0", true },
        { "named-root-and-bad-names",
          "<node name=\"/org/keepalived/Vrrp1\">\n <node name=\"a-b\"/>\n <node name=\"\"/>\n"
          " <node name=\"ok_1\"/>\n <node name=\"../x\"/>\n</node>\n", 16, "ok_1", false },
        { "comment-hides-node",
          "<node>\n<!-- <node name=\"hidden\"/>\n"
          " <interface name=\"org.keepalived.Vrrp1.Instance\"> -->\n"
          " <node name=\"shown\"/>\n</node>\n", 16, "shown", false },
        { "other-interface-prefix",
          "<node><interface name=\"org.keepalived.Vrrp1.InstanceX\"></interface>"
          "<interface name=\"org.keepalived.Vrrp1\"></interface></node>", 16, "", false },
        { "limited", "<node><node name=\"a\"/><node name=\"b\"/><node name=\"c\"/></node>", 2,
          "a b", false },
        { "truncated", "<node><node name=\"a\"/><node name=\"b", 16, "a", false },
        { "unterminated-comment", "<node><node name=\"a\"/><!-- <node name=\"b\"/>", 16, "a",
          false },
        { "empty", "", 16, "", false },
};

static void test_introspection(const void *data) {
        const IntrospectCase *c = data;
        g_auto(GStrv) want = g_strsplit(c->children, " ", -1);
        char **children = NULL;
        bool instance = !c->instance;
        size_t n = 0;

        g_assert_cmpint(keepalived_parse_introspection(c->xml, c->max, &children, &instance), ==,
                        0);
        g_assert_nonnull(children);
        for (; children[n]; n++) {
                g_assert_nonnull(want[n]);
                g_assert_cmpstr(children[n], ==, want[n]);
                free(children[n]);
        }
        g_assert_cmpuint(n, ==, streq(c->children, "") ? 0 : g_strv_length(want));
        free(children);
        g_assert_cmpint(instance, ==, c->instance);
        g_assert_cmpint(keepalived_parse_introspection(NULL, 1, &children, &instance), ==, -EINVAL);
}

/* ---- a fake keepalived on a private bus ---- */

typedef struct FakeInstance {
        const char *name;
        char path[128];
        uint32_t state;
        sd_bus_slot *slot;
        unsigned name_reads;
} FakeInstance;

typedef struct Fixture {
        char *dir;
        GPid bus_pid;
        char *address;
        Manager *m;
        int peer_fd;
        char *gate;
        sd_bus *ka;                     /* the fake keepalived's connection */
        FakeInstance inst[2];           /* [0] the followed one, [1] another */
        sd_bus_slot *vrrp_slot;
        bool skipped;
} Fixture;

static int fake_get_name(sd_bus *bus, const char *path, const char *interface, const char *property,
                         sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        FakeInstance *i = userdata;

        i->name_reads++;
        /* as keepalived 2.2.7 returns it, against its own introspection data */
        return sd_bus_message_append(reply, "(s)", i->name);
}

static int fake_get_state(sd_bus *bus, const char *path, const char *interface,
                          const char *property, sd_bus_message *reply, void *userdata,
                          sd_bus_error *error) {
        FakeInstance *i = userdata;
        static const char *const names[] = { "Init", "Backup", "Master", "Fault" };

        return sd_bus_message_append(reply, "(us)", i->state, i->state < 4 ? names[i->state] : "?");
}

static int fake_send_garp(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable fake_instance_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("SendGarp", NULL, NULL, fake_send_garp, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("Name", "(s)", fake_get_name, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "(us)", fake_get_state, 0, 0),
        SD_BUS_SIGNAL("VrrpStatusChange", "u", 0),
        SD_BUS_VTABLE_END,
};

static int fake_print_data(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable fake_vrrp_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("PrintData", NULL, NULL, fake_print_data, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL("VrrpReloaded", NULL, 0),
        SD_BUS_VTABLE_END,
};

static void fake_register(Fixture *f, FakeInstance *i, const char *path) {
        i->slot = sd_bus_slot_unref(i->slot);
        g_assert_cmpuint(strlen(path), <, sizeof i->path);
        strcpy(i->path, path);
        g_assert_cmpint(sd_bus_add_object_vtable(f->ka, &i->slot, i->path,
                                                 "org.keepalived.Vrrp1.Instance",
                                                 fake_instance_vtable, i), >=, 0);
}

/* keepalived starts: its objects, then its name (as GDBus does) */
static void fake_start(Fixture *f, uint32_t state0, uint32_t state1) {
        g_assert_null(f->ka);
        g_assert_cmpint(sd_bus_open_system(&f->ka), >=, 0);
        f->inst[0].state = state0;
        f->inst[1].state = state1;
        fake_register(f, &f->inst[1], "/org/keepalived/Vrrp1/Instance/eth1/2/IPv4");
        fake_register(f, &f->inst[0], "/org/keepalived/Vrrp1/Instance/eth0_1/1/IPv4");
        g_assert_cmpint(sd_bus_add_object_vtable(f->ka, &f->vrrp_slot, "/org/keepalived/Vrrp1/Vrrp",
                                                 "org.keepalived.Vrrp1.Vrrp", fake_vrrp_vtable, f),
                        >=, 0);
        g_assert_cmpint(sd_bus_request_name(f->ka, "org.keepalived.Vrrp1", 0), >=, 0);
        g_assert_cmpint(sd_bus_attach_event(f->ka, f->m->event, SD_EVENT_PRIORITY_NORMAL), >=, 0);
}

static void fake_stop(Fixture *f) {
        for (size_t i = 0; i < G_N_ELEMENTS(f->inst); i++)
                f->inst[i].slot = sd_bus_slot_unref(f->inst[i].slot);
        f->vrrp_slot = sd_bus_slot_unref(f->vrrp_slot);
        f->ka = sd_bus_flush_close_unref(f->ka);
}

static void fake_transition(Fixture *f, FakeInstance *i, uint32_t state) {
        i->state = state;
        g_assert_cmpint(sd_bus_emit_signal(f->ka, i->path, "org.keepalived.Vrrp1.Instance",
                                           "VrrpStatusChange", "u", state), >=, 0);
}

/* ---- fixture ---- */

#define FOLLOW_CONFIG \
        "General {\n" \
        "        HashSize 1024\n" \
        "        HashLimit 4096\n" \
        "        Systemd off\n" \
        "}\n" \
        "Sync {\n" \
        "        Mode FTFW { }\n" \
        "        UDP {\n" \
        "                IPv4_address 127.0.0.1\n" \
        "                IPv4_Destination_Address 127.0.0.2\n" \
        "                Port 3780\n" \
        "                Interface lo\n" \
        "        }\n" \
        "        Keepalived {\n" \
        "                Instance VI_1\n" \
        "                TrackFile %s\n" \
        "        }\n" \
        "}\n"

/* The bus dies with the test, also when an assertion aborts it before the teardown. */
static void bus_child_setup(gpointer data) {
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static bool bus_up(Fixture *f) {
        g_autofree char *sock = g_build_filename(f->dir, "bus", NULL);

        return g_file_test(sock, G_FILE_TEST_EXISTS);
}

static void fixture_setup(Fixture *f, gconstpointer data) {
        g_autofree char *daemon = g_find_program_in_path("dbus-daemon");
        g_autofree char *conf = NULL, *text = NULL, *cfg = NULL, *cfg_path = NULL;
        g_autoptr(GError) error = NULL;
        ConfigDiagnostics d = {};
        Config *c = NULL;
        int sv[2];

        f->peer_fd = -1;
        f->inst[0].name = "VI_1";
        f->inst[1].name = "VI_OTHER";
        if (!daemon) {
                f->skipped = true;
                g_test_skip("dbus-daemon is not installed");
                return;
        }
        f->dir = g_dir_make_tmp("test-keepalived-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        f->address = g_strdup_printf("unix:path=%s/bus", f->dir);
        conf = g_build_filename(f->dir, "bus.conf", NULL);
        text = g_strdup_printf(
                "<!DOCTYPE busconfig PUBLIC\n"
                " \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
                " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                "<busconfig>\n"
                "  <type>system</type>\n"
                "  <listen>%s</listen>\n"
                "  <auth>EXTERNAL</auth>\n"
                "  <policy context=\"default\">\n"
                "    <allow user=\"*\"/>\n"
                "    <allow own=\"*\"/>\n"
                "    <allow send_destination=\"*\"/>\n"
                "    <allow receive_sender=\"*\"/>\n"
                "  </policy>\n"
                "</busconfig>\n", f->address);
        g_assert_true(g_file_set_contents(conf, text, -1, NULL));
        {
                g_autofree char *arg = g_strdup_printf("--config-file=%s", conf);
                char *argv[] = { daemon, arg, (char *) "--nofork", (char *) "--nopidfile",
                                 (char *) "--nosyslog", NULL };

                g_assert_true(g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD |
                                            G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                                            bus_child_setup, NULL, &f->bus_pid, &error));
        }
        /* waiting for the bus to listen: not an assertion */
        for (int i = 0; i < 400 && !bus_up(f); i++)
                g_usleep(10 * 1000);
        g_assert_true(bus_up(f));
        g_assert_true(g_setenv("DBUS_SYSTEM_BUS_ADDRESS", f->address, true));

        f->gate = g_build_filename(f->dir, "primary", NULL);
        cfg = g_strdup_printf(FOLLOW_CONFIG, f->gate);
        cfg_path = g_build_filename(f->dir, "conntrackd.conf", NULL);
        g_assert_true(g_file_set_contents(cfg_path, cfg, -1, NULL));
        g_assert_cmpint(config_load_file(cfg_path, &c, &d), ==, 0);
        config_diagnostics_clear(&d);
        g_unlink(cfg_path);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv),
                        ==, 0);
        g_assert_cmpint(manager_new(&(ManagerOptions) {
                                            .config = c,
                                            .kernel_ops = &fake_kernel_ops,
                                            .connect_system_bus = true,
                                            .sync_fd_set = true,
                                            .sync_fd = sv[0],
                                    },
                                    &f->m),
                        ==, 0);
        f->peer_fd = sv[1];
        g_assert_cmpint(manager_start(f->m), ==, 0);
        g_assert_nonnull(f->m->bus);
        g_assert_nonnull(f->m->keepalived);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        if (f->skipped)
                return;
        fake_stop(f);
        f->m = manager_free(f->m);
        if (f->peer_fd >= 0)
                close(f->peer_fd);
        if (f->bus_pid > 0) {
                kill(f->bus_pid, SIGKILL);     /* SIGTERM may be blocked: manager_start() */
                (void) waitpid(f->bus_pid, NULL, 0);
                g_spawn_close_pid(f->bus_pid);
        }
        g_unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
        if (f->gate) {
                g_autofree char *tmp = g_strdup_printf("%s.tmp", f->gate);

                g_unlink(f->gate);
                g_unlink(tmp);
        }
        {
                g_autofree char *sock = g_build_filename(f->dir, "bus", NULL);
                g_autofree char *conf = g_build_filename(f->dir, "bus.conf", NULL);

                g_unlink(sock);
                g_unlink(conf);
        }
        g_rmdir(f->dir);
        g_free(f->dir);
        g_free(f->address);
        g_free(f->gate);
}

/* "0" or "1": what TrackFile says; NULL if it is missing */
static char *gate(Fixture *f) {
        char *s = NULL;

        if (!g_file_get_contents(f->gate, &s, NULL, NULL))
                return NULL;
        g_strchomp(s);
        return s;
}

typedef bool (*Cond)(Fixture *f, const void *arg);

/* Run the loop until cond() holds or 5 s passed; every iteration checks the invariant: the gate
 * is never open unless this node is the primary, keepalived says MASTER and no commit runs. */
static bool run_until(Fixture *f, Cond cond, const void *arg) {
        gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        for (;;) {
                g_autofree char *g = gate(f);

                if (g && streq(g, "0")) {
                        g_assert_cmpint(f->m->role, ==, MANAGER_ROLE_PRIMARY);
                        g_assert_false(manager_commit_running(f->m));
                        g_assert_cmpint(keepalived_follow_state(f->m->keepalived), ==,
                                        KEEPALIVED_MASTER);
                }
                if (cond(f, arg))
                        return true;
                if (g_get_monotonic_time() > deadline)
                        return false;
                g_assert_cmpint(sd_event_run(f->m->event, 50 * USEC_PER_MSEC), >=, 0);
        }
}

static bool state_is(Fixture *f, const void *arg) {
        return keepalived_follow_state(f->m->keepalived) == *(const KeepalivedState *) arg;
}

static bool role_and_gate(Fixture *f, ManagerRole role, const char *g) {
        g_autofree char *now = gate(f);

        return f->m->role == role && !f->m->failover_running && now && streq(now, g);
}

static bool primary_open(Fixture *f, const void *arg) {
        return role_and_gate(f, MANAGER_ROLE_PRIMARY, "0");
}

static bool backup_closed(Fixture *f, const void *arg) {
        return role_and_gate(f, MANAGER_ROLE_BACKUP, "1");
}

static bool appeared(Fixture *f, const void *arg) {
        return keepalived_follow_stats(f->m->keepalived)->appeared == *(const uint64_t *) arg;
}

static bool gate_is(Fixture *f, const void *arg) {
        g_autofree char *now = gate(f);

        return now && streq(now, arg);
}

static bool names_read(Fixture *f, const void *arg) {
        return f->inst[0].name_reads > 0 && f->inst[1].name_reads > 0;
}

static KeepalivedFollowStats stats(Fixture *f) {
        return *keepalived_follow_stats(f->m->keepalived);
}

static void test_follow(Fixture *f, gconstpointer data) {
        g_autofree char *g = NULL;
        KeepalivedFollowStats s0, s1;
        KeepalivedState st;
        uint64_t n;

        if (f->skipped)
                return;
        /* no keepalived yet: the gate is closed (once GetNameOwner said so), nothing is known,
         * nothing runs */
        g_assert_true(run_until(f, gate_is, "1"));
        g_assert_cmpint(keepalived_follow_state(f->m->keepalived), ==, _KEEPALIVED_STATE_INVALID);
        g_assert_cmpint(f->m->role, ==, MANAGER_ROLE_UNKNOWN);

        /* keepalived comes with VI_1 BACKUP (another instance MASTER): Demote */
        fake_start(f, 1, 2);
        g_assert_true(run_until(f, backup_closed, NULL));
        s0 = stats(f);
        g_assert_cmpuint(s0.appeared, ==, 1);
        g_assert_cmpuint(s0.transitions, ==, 1);
        g_assert_cmpuint(s0.demotes, ==, 1);
        g_assert_cmpuint(s0.promotes, ==, 0);
        g_assert_cmpuint(s0.failed, ==, 0);

        /* the other instance's transitions are not ours */
        fake_transition(f, &f->inst[1], 3);
        fake_transition(f, &f->inst[1], 1);
        /* VI_1 becomes MASTER: Promote, then the gate opens (run_until checks the order) */
        n = f->m->sync_counters.commits_done;
        fake_transition(f, &f->inst[0], 2);
        g_assert_true(run_until(f, primary_open, NULL));
        g_assert_cmpuint(f->m->sync_counters.commits_done, ==, n + 1);
        s1 = stats(f);
        g_assert_cmpuint(s1.transitions, ==, 2);
        g_assert_cmpuint(s1.promotes, ==, 1);
        g_assert_cmpuint(s1.demotes, ==, 1);
        g_assert_cmpuint(s1.last_done_usec, >=, s1.last_transition_usec);
        g_assert_cmpuint(s1.last_transition_usec, >, 0);

        /* the same state again (keepalived re-announcing): nothing runs; then FAULT: Demote,
         * the gate closes at once (the signals arrive in order: the first was handled) */
        fake_transition(f, &f->inst[0], 2);
        fake_transition(f, &f->inst[0], 3);
        g_assert_true(run_until(f, backup_closed, NULL));
        g_assert_cmpuint(stats(f).demotes, ==, 2);
        g_assert_cmpuint(stats(f).promotes, ==, 1);
        g_assert_cmpuint(stats(f).transitions, ==, 3);

        /* transitions while a Promote runs wait; only the last one waiting runs */
        s0 = stats(f);
        keepalived_follow_apply(f->m->keepalived, KEEPALIVED_MASTER);
        g_assert_true(f->m->failover_running);  /* the commit goes on in the loop */
        keepalived_follow_apply(f->m->keepalived, KEEPALIVED_BACKUP);
        keepalived_follow_apply(f->m->keepalived, KEEPALIVED_MASTER);
        g = (g_free(g), gate(f));
        g_assert_cmpstr(g, ==, "1");
        g_assert_true(run_until(f, primary_open, NULL));
        s1 = stats(f);
        g_assert_cmpuint(s1.promotes, ==, s0.promotes + 2);
        g_assert_cmpuint(s1.demotes, ==, s0.demotes);
        g_assert_cmpuint(s1.queued, ==, s0.queued + 2);
        g_assert_cmpuint(s1.transitions, ==, s0.transitions + 3);

        /* a Promote of someone else runs: ours waits for it, then runs */
        s0 = stats(f);
        g_assert_cmpint(manager_promote(f->m, NULL, NULL), ==, 0);
        keepalived_follow_apply(f->m->keepalived, KEEPALIVED_BACKUP);
        g_assert_cmpuint(stats(f).demotes, ==, s0.demotes);
        g_assert_true(run_until(f, backup_closed, NULL));
        g_assert_cmpuint(stats(f).demotes, ==, s0.demotes + 1);
        g_assert_cmpuint(stats(f).failed, ==, 0);
        /* the state of the fake is BACKUP again for what follows */
        f->inst[0].state = 1;

        /* keepalived leaves: unknown, the gate stays closed, the role stays */
        fake_stop(f);
        st = _KEEPALIVED_STATE_INVALID;
        g_assert_true(run_until(f, state_is, &st));
        g_assert_cmpint(f->m->role, ==, MANAGER_ROLE_BACKUP);

        /* ... and comes back as MASTER: looked up again, Promote */
        fake_start(f, 2, 1);
        n = 2;
        g_assert_true(run_until(f, appeared, &n));
        g_assert_true(run_until(f, primary_open, NULL));

        /* a reload moves the instance to another object (and BACKUP): found again, Demote */
        fake_register(f, &f->inst[0], "/org/keepalived/Vrrp1/Instance/eth0_1/1/IPv6");
        f->inst[0].state = 1;
        g_assert_cmpint(sd_bus_emit_signal(f->ka, "/org/keepalived/Vrrp1/Vrrp",
                                           "org.keepalived.Vrrp1.Vrrp", "VrrpReloaded", NULL),
                        >=, 0);
        g_assert_true(run_until(f, backup_closed, NULL));
        fake_transition(f, &f->inst[0], 2);
        g_assert_true(run_until(f, primary_open, NULL));
        g_assert_cmpuint(stats(f).failed, ==, 0);
        g_assert_cmpuint(stats(f).track_file_errors, ==, 0);
}

/* keepalived without the instance: looked for, not found, nothing runs */
static void test_not_found(Fixture *f, gconstpointer data) {
        KeepalivedState st = KEEPALIVED_BACKUP;
        uint64_t n = 1;

        if (f->skipped)
                return;
        f->inst[0].name = "VI_2";
        fake_start(f, 2, 2);
        g_assert_true(run_until(f, appeared, &n));
        g_assert_true(run_until(f, names_read, NULL));
        for (int i = 0; i < 5; i++)
                g_assert_cmpint(sd_event_run(f->m->event, 20 * USEC_PER_MSEC), >=, 0);
        g_assert_false(state_is(f, &st));
        g_assert_cmpint(keepalived_follow_state(f->m->keepalived), ==, _KEEPALIVED_STATE_INVALID);
        g_assert_cmpuint(stats(f).promotes + stats(f).demotes, ==, 0);
        g_assert_cmpint(f->m->role, ==, MANAGER_ROLE_UNKNOWN);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/keepalived/state-table", test_state_table);
        for (size_t i = 0; i < G_N_ELEMENTS(introspect_cases); i++) {
                g_autofree char *name = g_strdup_printf("/keepalived/introspection/%s",
                                                        introspect_cases[i].name);

                g_test_add_data_func(name, &introspect_cases[i], test_introspection);
        }
        g_test_add("/keepalived/follow", Fixture, NULL, fixture_setup, test_follow,
                   fixture_teardown);
        g_test_add("/keepalived/not-found", Fixture, NULL, fixture_setup, test_not_found,
                   fixture_teardown);
        return g_test_run();
}
