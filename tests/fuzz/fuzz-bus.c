/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus argument parsing of the daemon: a Manager on the fake kernel (Sync mode, the sync
 * link a socketpair) serves its private socket; every input becomes method calls on it, each
 * with the method's own signature and values taken from the input (names of caches, kinds,
 * sections and formats, most of them garbage), and now and then a signature of the input's
 * choosing. Every call must get an answer, a return or an error, and the daemon must go on.
 *
 * Input: repeated [method byte][signature byte][values...]: strings are NUL-free runs of at most
 * 40 bytes ended by a 0x00 or the input's end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "../unit/fake-kernel.h"
#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "manager.h"

#define BUS_NAME        "org.netfilter.conntrackd1"
#define BUS_PATH        "/org/netfilter/conntrackd1"
#define BUS_INTERFACE   "org.netfilter.conntrackd1.Manager"
#define CALLS_MAX       16

static const struct {
        const char *name, *signature;
} methods[] = {
        { "DumpCache", "sss" }, { "FlushCache", "ss" }, { "FlushKernel", "s" },
        { "ResyncKernel", "s" }, { "GetStatistics", "s" }, { "Commit", "s" },
        { "SendBulk", "" }, { "RequestResync", "" }, { "ResetTimers", "" },
        { "Reload", "" }, { "Promote", "" }, { "Demote", "" }, { "ReopenLogFiles", "" },
};
/* signatures of the input's choosing: wrong on purpose */
static const char *const odd_signatures[] = { "u", "ss", "sss", "ssss", "t", "as", "b", "si", "" };

static const char config_template[] =
        "General {\n UNIX { Path %s }\n}\n"
        "Sync {\n Mode FTFW { }\n UDP {\n  IPv4_address 127.0.0.1\n"
        "  IPv4_Destination_Address 127.0.0.2\n  Port 3780\n  Interface lo\n }\n"
        " Options { ExpectationSync on }\n}\n";

static sd_event *event;
static Manager *manager;
static sd_bus *client;
static int peer_fd = -1;
static char dir[80] = "/tmp/fuzz-bus-XXXXXX", conf[128], sock[128];

static void teardown(void) {
        client = sd_bus_flush_close_unref(client);
        manager = manager_free(manager);
        if (peer_fd >= 0)
                (void) close(peer_fd);
        (void) unlink(conf);
        (void) unlink(sock);
        (void) rmdir(dir);
}

static void die(const char *what, int r) {
        fprintf(stderr, "fuzz-bus: %s: %s\n", what, strerror(r < 0 ? -r : r));
        abort();
}

static void setup(void) {
        char text[sizeof config_template + 128], address[160];
        ConfigDiagnostics d = {};
        Config *c = NULL;
        int sv[2], r;
        FILE *f;

        log_set_max_level(LOG_WARNING);
        /* FUZZ_BUS_DIR: an existing directory to use instead of a new one in /tmp (libFuzzer
         * ends with _exit(), so the atexit cleanup does not run there) */
        if (getenv("FUZZ_BUS_DIR"))
                snprintf(dir, sizeof dir, "%s", getenv("FUZZ_BUS_DIR"));
        else if (!mkdtemp(dir))
                die("mkdtemp", errno);
        atexit(teardown);
        snprintf(conf, sizeof conf, "%s/conntrackd.conf", dir);
        snprintf(sock, sizeof sock, "%s/ctl", dir);
        snprintf(text, sizeof text, config_template, sock);
        f = fopen(conf, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
                die("writing the config", errno);
        r = config_load_file(conf, &c, &d);
        config_diagnostics_clear(&d);
        if (r < 0)
                die("config", r);
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
                die("socketpair", errno);
        peer_fd = sv[1];        /* the other end of the sync link: never read, kept open */
        r = manager_new(&(ManagerOptions) {
                                .config_path = conf,
                                .config = c,
                                .kernel_ops = &fake_kernel_ops,
                                .connect_system_bus = false,
                                .notify = false,
                                .sync_fd_set = true,
                                .sync_fd = sv[0],
                        },
                        &manager);
        if (r < 0)
                die("manager_new", r);
        r = manager_start(manager);
        if (r < 0)
                die("manager_start", r);
        event = manager->event;

        snprintf(address, sizeof address, "unix:path=%s", sock);
        r = sd_bus_new(&client);
        if (r >= 0)
                r = sd_bus_set_address(client, address);
        if (r >= 0)
                r = sd_bus_attach_event(client, event, 0);
        if (r >= 0)
                r = sd_bus_start(client);
        if (r < 0)
                die("client", r);
        /* a few flows so that dumps and commits have something to do */
        for (unsigned i = 0; i < 8; i++) {
                CtEntry e;

                fake_ct_make_tcp(&e, i);
                (void) fake_kernel_add_ct(manager->kernel, &e, false);
        }
}

typedef struct Reader {
        const uint8_t *p, *end;
} Reader;

static uint8_t next_byte(Reader *r) {
        return r->p < r->end ? *r->p++ : 0;
}

static void next_string(Reader *r, char *buf, size_t size) {
        size_t n = 0;

        while (r->p < r->end && *r->p != 0 && n + 1 < size)
                buf[n++] = (char) *r->p++;
        if (r->p < r->end && *r->p == 0)
                r->p++;
        buf[n] = '\0';
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        unsigned *pending = userdata;

        (*pending)--;
        return 0;
}

static int append_value(sd_bus_message *m, char type, Reader *r) {
        char s[41];

        switch (type) {
        case 's':
                next_string(r, s, sizeof s);
                return sd_bus_message_append_basic(m, 's', s);
        case 'u': {
                uint32_t v = (uint32_t) next_byte(r) << 8 | next_byte(r);
                return sd_bus_message_append_basic(m, 'u', &v);
        }
        case 'i': {
                int32_t v = (int8_t) next_byte(r);
                return sd_bus_message_append_basic(m, 'i', &v);
        }
        case 't': {
                uint64_t v = next_byte(r);
                return sd_bus_message_append_basic(m, 't', &v);
        }
        case 'b': {
                int v = next_byte(r) & 1;
                return sd_bus_message_append_basic(m, 'b', &v);
        }
        case 'a':       /* "as" */
                next_string(r, s, sizeof s);
                return sd_bus_message_append(m, "as", 1, s);
        default:
                return -EINVAL;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Reader r = { data, data + size };
        unsigned pending = 0, sent = 0;

        if (!manager)
                setup();

        while (r.p < r.end && sent < CALLS_MAX) {
                sd_bus_message *m = NULL;
                uint8_t which = next_byte(&r), how = next_byte(&r);
                const char *name = methods[which % (sizeof methods / sizeof methods[0])].name;
                const char *sig = methods[which % (sizeof methods / sizeof methods[0])].signature;
                int k;

                if (how % 8 == 7)
                        sig = odd_signatures[(how >> 3) % (sizeof odd_signatures / sizeof odd_signatures[0])];
                k = sd_bus_message_new_method_call(client, &m, NULL, BUS_PATH, BUS_INTERFACE, name);
                if (k < 0)
                        die("new method call", k);
                for (const char *t = sig; *t && k >= 0; t++) {
                        k = append_value(m, *t, &r);
                        if (*t == 'a')
                                t++;    /* "as" */
                }
                if (k < 0) {
                        /* not a message a client can send (a string that is not UTF-8): the
                         * bus library refuses it before it reaches the daemon */
                        sd_bus_message_unref(m);
                        continue;
                }
                k = sd_bus_call_async(client, NULL, m, on_reply, &pending, 5 * 1000000);
                sd_bus_message_unref(m);
                if (k < 0)
                        die("call", k);
                pending++;
                sent++;
        }
        /* every call answered, within a bounded number of loop iterations */
        for (unsigned i = 0; pending > 0; i++) {
                if (i > 100000)
                        die("calls left unanswered", ETIMEDOUT);
                if (sd_event_run(event, 100000) < 0)
                        die("sd_event_run", EIO);
                if (sd_event_get_state(event) == SD_EVENT_FINISHED)
                        die("the daemon stopped", EIO);
        }
        return 0;
}
