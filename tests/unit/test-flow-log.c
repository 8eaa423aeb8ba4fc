/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <arpa/inet.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake-kernel.h"
#include "flow-log.h"
#include "manager.h"

/* A Wednesday in December, a one-digit day: "Wed Dec  2 06:20:19 2026" in UTC. */
#define T_USEC ((uint64_t) 1796192419 * USEC_PER_SEC)
#define T_TEXT "Wed Dec  2 06:20:19 2026"

/* The flow of Debian's 1.4.7 flow log seen in a namespace (TCP over lo, accounting and
 * timestamps on), as the kernel's DESTROY event carries it: no timeout, mark 0 left out. */
#define DEBIAN_LINE                                                                             \
        "tcp      6 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=35478 dport=5002 packets=8 "      \
        "bytes=100424 src=127.0.0.1 dst=127.0.0.1 sport=5002 dport=35478 packets=5 bytes=270 "   \
        "[ASSURED] delta-time=1"

static void make_destroy_event(CtEntry *e) {
        *e = (CtEntry) {
                .orig = {
                        .l3 = AF_INET,
                        .l4 = IPPROTO_TCP,
                        .src.ip = htonl(INADDR_LOOPBACK),
                        .dst.ip = htonl(INADDR_LOOPBACK),
                        .sport = 35478,
                        .dport = 5002,
                },
                .attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_TCP_STATE | CT_ATTR_COUNTERS |
                         CT_ATTR_TIMESTAMP | CT_ATTR_ID,
                .status = 0x18e,        /* SEEN_REPLY ASSURED CONFIRMED SRC_NAT_DONE DST_NAT_DONE */
                .id = 4242,
                .tcp.state = CT_TCP_TIME_WAIT,
                .counters = { .packets_orig = 8, .bytes_orig = 100424, .packets_repl = 5,
                              .bytes_repl = 270 },
                .timestamp = { .start = 1796192418123456789ULL, .stop = 1796192419623456789ULL },
        };
        ct_tuple_invert(&e->orig, &e->reply);
}

static char *read_file(const char *path) {
        char *s = NULL;

        g_assert_true(g_file_get_contents(path, &s, NULL, NULL));
        return s;
}

static unsigned count_lines(const char *s) {
        unsigned n = 0;

        for (; *s; s++)
                n += *s == '\n';
        return n;
}

typedef struct Fixture {
        char *dir;
        char *path;
} Fixture;

static void fixture_setup(Fixture *f, gconstpointer data) {
        f->dir = g_dir_make_tmp("test-flow-log-XXXXXX", NULL);
        g_assert_nonnull(f->dir);
        f->path = g_build_filename(f->dir, "stats.log", NULL);
}

static void fixture_teardown(Fixture *f, gconstpointer data) {
        g_autoptr(GDir) d = g_dir_open(f->dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(f->dir, name, NULL);
                g_assert_cmpint(g_unlink(p), ==, 0);
        }
        g_assert_cmpint(g_rmdir(f->dir), ==, 0);
        g_free(f->path);
        g_free(f->dir);
}

/* ---- formatting ---- */

static void test_end_strings(void) {
        for (FlowEnd e = 0; e < _FLOW_END_MAX; e++)
                g_assert_cmpint(flow_end_from_string(flow_end_to_string(e)), ==, e);
        g_assert_cmpint(flow_end_from_string("nope"), ==, _FLOW_END_INVALID);
        g_assert_null(flow_end_to_string(_FLOW_END_MAX));
}

static void test_format_line(void) {
        g_autofree char *line = NULL, *cached = NULL, *icmp = NULL;
        CtEntry e;

        make_destroy_event(&e);
        g_assert_cmpint(flow_log_format_line(&e, &line), ==, 0);
        g_assert_cmpstr(line, ==, DEBIAN_LINE);

        /* What the Stats cache holds (mark, no counters) renders as -i does, minus timeout/use. */
        fake_ct_make_tcp(&e, 1);
        e.mark = 7;
        e.attrs |= CT_ATTR_USE;
        e.use = 1;
        g_assert_cmpint(flow_log_format_line(&e, &cached), ==, 0);
        g_assert_cmpstr(cached, ==,
                        "tcp      6 ESTABLISHED src=10.0.0.1 dst=192.168.0.1 sport=1001 dport=80 "
                        "src=192.168.0.1 dst=10.0.0.1 sport=80 dport=1001 [ASSURED] mark=7");

        e = (CtEntry) {
                .orig = { .l3 = AF_INET, .l4 = IPPROTO_ICMP, .src.ip = htonl(0x0a000001),
                          .dst.ip = htonl(0x0a000003), .icmp = { .type = 8, .code = 0, .id = 77 } },
                .attrs = CT_ATTR_REPLY | CT_ATTR_COUNTERS | CT_ATTR_STATUS,
                .status = 0x08,         /* CONFIRMED */
                .zone = 4,
        };
        ct_tuple_invert(&e.orig, &e.reply);
        g_assert_cmpint(flow_log_format_line(&e, &icmp), ==, 0);
        g_assert_cmpstr(icmp, ==,
                        "icmp     1 src=10.0.0.1 dst=10.0.0.3 type=8 code=0 id=77 packets=0 bytes=0 "
                        "[UNREPLIED] src=10.0.0.3 dst=10.0.0.1 type=0 code=0 id=77 packets=0 "
                        "bytes=0 zone=4");
}

static void test_format_file_line(void) {
        g_autofree char *s = NULL, *s2 = NULL;

        g_assert_cmpint(flow_log_format_file_line("udp      17 x", T_USEC, &s), ==, 0);
        g_assert_cmpstr(s, ==, T_TEXT "\tudp      17 x\n");
        /* two-digit day, another month */
        g_assert_cmpint(flow_log_format_file_line("y", (uint64_t) 1795843881 * USEC_PER_SEC, &s2),
                        ==, 0);
        g_assert_cmpstr(s2, ==, "Sat Nov 28 05:31:21 2026\ty\n");
}

static const char *field(char **fields, const char *key) {
        size_t n = strlen(key);

        for (; *fields; fields++)
                if (strneq(*fields, key, n) && (*fields)[n] == '=')
                        return *fields + n + 1;
        return NULL;
}

static void test_record_fields(void) {
        _cleanup_(flow_log_fields_freep) char **f = NULL, **g = NULL;
        CtEntry e;

        make_destroy_event(&e);
        e.attrs |= CT_ATTR_MARK;
        e.mark = 0;
        e.zone = 3;
        g_assert_cmpint(flow_log_record_fields(&e, "the line", FLOW_END_DESTROY, &f), ==, 0);
        g_assert_cmpstr(field(f, "MESSAGE"), ==, "the line");
        g_assert_cmpstr(field(f, "MESSAGE_ID"), ==, MESSAGE_ID_FLOW_DESTROYED);
        g_assert_cmpstr(field(f, "PRIORITY"), ==, "6");
        g_assert_cmpstr(field(f, "FLOW_END"), ==, "destroy");
        g_assert_cmpstr(field(f, "FLOW_L3"), ==, "ipv4");
        g_assert_cmpstr(field(f, "FLOW_PROTO"), ==, "tcp");
        g_assert_cmpstr(field(f, "FLOW_PROTO_NUMBER"), ==, "6");
        g_assert_cmpstr(field(f, "FLOW_ORIG_SRC"), ==, "127.0.0.1");
        g_assert_cmpstr(field(f, "FLOW_ORIG_DST"), ==, "127.0.0.1");
        g_assert_cmpstr(field(f, "FLOW_ORIG_SPORT"), ==, "35478");
        g_assert_cmpstr(field(f, "FLOW_ORIG_DPORT"), ==, "5002");
        g_assert_cmpstr(field(f, "FLOW_REPLY_SRC"), ==, "127.0.0.1");
        g_assert_cmpstr(field(f, "FLOW_REPLY_SPORT"), ==, "5002");
        g_assert_cmpstr(field(f, "FLOW_REPLY_DPORT"), ==, "35478");
        g_assert_cmpstr(field(f, "FLOW_STATE"), ==, "TIME_WAIT");
        g_assert_cmpstr(field(f, "FLOW_STATUS"), ==, "398");
        g_assert_cmpstr(field(f, "FLOW_ASSURED"), ==, "yes");
        g_assert_cmpstr(field(f, "FLOW_MARK"), ==, "0");
        g_assert_cmpstr(field(f, "FLOW_ZONE"), ==, "3");
        g_assert_cmpstr(field(f, "FLOW_ID"), ==, "4242");
        g_assert_cmpstr(field(f, "FLOW_PACKETS_ORIG"), ==, "8");
        g_assert_cmpstr(field(f, "FLOW_BYTES_ORIG"), ==, "100424");
        g_assert_cmpstr(field(f, "FLOW_PACKETS_REPLY"), ==, "5");
        g_assert_cmpstr(field(f, "FLOW_BYTES_REPLY"), ==, "270");
        g_assert_cmpstr(field(f, "FLOW_START_USEC"), ==, "1796192418123456");
        g_assert_cmpstr(field(f, "FLOW_STOP_USEC"), ==, "1796192419623456");
        g_assert_cmpstr(field(f, "FLOW_DURATION_USEC"), ==, "1500000");
        g_assert_null(field(f, "FLOW_ORIG_ICMP_TYPE"));
        g_assert_null(field(f, "FLOW_HELPER"));

        /* IPv6 ICMP, no reply, no counters, a start time only: only what is known */
        e = (CtEntry) {
                .orig = { .l3 = AF_INET6, .l4 = IPPROTO_ICMPV6,
                          .icmp = { .type = 128, .code = 0, .id = 9 } },
                .attrs = CT_ATTR_TIMESTAMP,
                .timestamp.start = 5000,
        };
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::1", &e.orig.src), ==, 1);
        g_assert_cmpint(inet_pton(AF_INET6, "2001:db8::2", &e.orig.dst), ==, 1);
        g_assert_cmpint(flow_log_record_fields(&e, "x", FLOW_END_RESYNC, &g), ==, 0);
        g_assert_cmpstr(field(g, "FLOW_END"), ==, "resync");
        g_assert_cmpstr(field(g, "FLOW_L3"), ==, "ipv6");
        g_assert_cmpstr(field(g, "FLOW_PROTO"), ==, "icmpv6");
        g_assert_cmpstr(field(g, "FLOW_ORIG_SRC"), ==, "2001:db8::1");
        g_assert_cmpstr(field(g, "FLOW_ORIG_DST"), ==, "2001:db8::2");
        g_assert_cmpstr(field(g, "FLOW_ORIG_ICMP_TYPE"), ==, "128");
        g_assert_cmpstr(field(g, "FLOW_ORIG_ICMP_ID"), ==, "9");
        g_assert_cmpstr(field(g, "FLOW_ZONE"), ==, "0");
        g_assert_cmpstr(field(g, "FLOW_START_USEC"), ==, "5");
        g_assert_null(field(g, "FLOW_ORIG_SPORT"));
        g_assert_null(field(g, "FLOW_REPLY_SRC"));
        g_assert_null(field(g, "FLOW_STATE"));
        g_assert_cmpstr(field(g, "FLOW_MARK"), ==, "0");      /* the kernel leaves 0 out */
        g_assert_null(field(g, "FLOW_PACKETS_ORIG"));
        g_assert_null(field(g, "FLOW_STOP_USEC"));
        g_assert_null(field(g, "FLOW_DURATION_USEC"));

        g_assert_cmpint(flow_log_record_fields(&e, "x", _FLOW_END_MAX, &g), ==, -EINVAL);
}

/* ---- the file ---- */

static void write_flows(FlowLog *l, unsigned first, unsigned n) {
        for (unsigned i = first; i < first + n; i++) {
                CtEntry e;

                fake_ct_make_tcp(&e, i);
                g_assert_cmpint(flow_log_write(l, &e, &e, FLOW_END_DESTROY, T_USEC), ==, 0);
        }
}

static void test_write(Fixture *f, gconstpointer data) {
        _cleanup_(flow_log_freep) FlowLog *l = NULL;
        g_autofree char *before = NULL, *after = NULL, *end = NULL;
        struct stat st;
        CtEntry e;

        g_assert_cmpint(flow_log_new(&(FlowLogSettings) { .path = f->path, .syslog_facility = -1 },
                                     &l), ==, 0);
        g_assert_cmpint(stat(f->path, &st), ==, 0);
        g_assert_cmpuint(st.st_mode & 07777, ==, 0600);

        write_flows(l, 1, 3);
        /* buffered until the flush */
        g_assert_true(flow_log_pending(l));
        before = read_file(f->path);
        g_assert_cmpstr(before, ==, "");
        g_assert_cmpint(flow_log_flush(l), ==, 0);
        g_assert_false(flow_log_pending(l));
        after = read_file(f->path);
        g_assert_cmpuint(count_lines(after), ==, 3);
        g_assert_true(g_str_has_prefix(after, T_TEXT "\ttcp      6 ESTABLISHED src=10.0.0.1 "));
        g_assert_cmpuint(flow_log_stats(l)->lines_written, ==, 3);
        g_assert_cmpuint(flow_log_stats(l)->records, ==, 3);

        /* what is buffered at the end is written by flow_log_free() */
        make_destroy_event(&e);
        g_assert_cmpint(flow_log_write(l, &e, NULL, FLOW_END_DESTROY, T_USEC), ==, 0);
        l = flow_log_free(l);
        end = read_file(f->path);
        g_assert_cmpuint(count_lines(end), ==, 4);
        g_assert_true(g_str_has_suffix(end, T_TEXT "\t" DEBIAN_LINE "\n"));

        /* O_APPEND: a new FlowLog adds to the file */
        g_assert_cmpint(flow_log_new(&(FlowLogSettings) { .path = f->path, .syslog_facility = -1 },
                                     &l), ==, 0);
        write_flows(l, 10, 1);
        l = flow_log_free(l);
        g_free(end);
        end = read_file(f->path);
        g_assert_cmpuint(count_lines(end), ==, 5);
}

static void test_large_buffer_written_early(Fixture *f, gconstpointer data) {
        _cleanup_(flow_log_freep) FlowLog *l = NULL;
        g_autofree char *s = NULL;
        struct stat st;

        g_assert_cmpint(flow_log_new(&(FlowLogSettings) { .path = f->path, .syslog_facility = -1 },
                                     &l), ==, 0);
        /* ~150 bytes a line: 1000 lines pass the 64 KiB mark, so most are written already */
        write_flows(l, 0, 1000);
        g_assert_cmpint(stat(f->path, &st), ==, 0);
        g_assert_cmpint(st.st_size, >=, 64 * 1024);
        g_assert_cmpint(flow_log_flush(l), ==, 0);
        s = read_file(f->path);
        g_assert_cmpuint(count_lines(s), ==, 1000);
        g_assert_cmpuint(flow_log_stats(l)->lines_written, ==, 1000);
}

static void test_reopen_after_rename(Fixture *f, gconstpointer data) {
        _cleanup_(flow_log_freep) FlowLog *l = NULL;
        g_autofree char *rotated = g_strconcat(f->path, ".1", NULL), *old = NULL, *new = NULL,
                        *elsewhere = g_build_filename(f->dir, "other.log", NULL),
                        *missing = g_build_filename(f->dir, "no", "such.log", NULL), *o = NULL;
        FlowLogSettings s = { .path = f->path, .syslog_facility = -1 };

        g_assert_cmpint(flow_log_new(&s, &l), ==, 0);
        write_flows(l, 1, 2);
        /* logrotate: the file moves; lines buffered until the reopen go to the old file */
        g_assert_cmpint(g_rename(f->path, rotated), ==, 0);
        write_flows(l, 3, 1);
        g_assert_cmpint(flow_log_reopen(l, &s), ==, 0);
        g_assert_true(g_file_test(f->path, G_FILE_TEST_EXISTS));
        write_flows(l, 4, 1);
        g_assert_cmpint(flow_log_flush(l), ==, 0);
        old = read_file(rotated);
        new = read_file(f->path);
        g_assert_cmpuint(count_lines(old), ==, 3);
        g_assert_cmpuint(count_lines(new), ==, 1);
        g_assert_nonnull(strstr(new, "sport=1004 "));
        g_assert_cmpuint(flow_log_stats(l)->reopens, ==, 1);

        /* a reopen that fails keeps the old file */
        g_assert_cmpint(flow_log_reopen(l, &(FlowLogSettings) { .path = missing,
                                                                .syslog_facility = -1 }),
                        ==, -ENOENT);
        g_assert_cmpstr(flow_log_path(l), ==, f->path);
        write_flows(l, 5, 1);
        g_assert_cmpint(flow_log_flush(l), ==, 0);
        g_free(new);
        new = read_file(f->path);
        g_assert_cmpuint(count_lines(new), ==, 2);

        /* a reload may name another file */
        g_assert_cmpint(flow_log_reopen(l, &(FlowLogSettings) { .path = elsewhere,
                                                                .syslog_facility = -1 }),
                        ==, 0);
        g_assert_cmpstr(flow_log_path(l), ==, elsewhere);
        write_flows(l, 6, 1);
        l = flow_log_free(l);
        o = read_file(elsewhere);
        g_assert_cmpuint(count_lines(o), ==, 1);
}

static void test_nofollow(Fixture *f, gconstpointer data) {
        g_autofree char *target = g_build_filename(f->dir, "target", NULL), *s = NULL;
        FlowLog *l = NULL;

        g_assert_true(g_file_set_contents(target, "precious\n", -1, NULL));
        g_assert_cmpint(symlink(target, f->path), ==, 0);
        g_assert_cmpint(flow_log_new(&(FlowLogSettings) { .path = f->path, .syslog_facility = -1 },
                                     &l), ==, -ELOOP);
        g_assert_null(l);
        s = read_file(target);
        g_assert_cmpstr(s, ==, "precious\n");
}

/* /dev/full: every write fails with ENOSPC; nothing is fatal, every line is counted as lost. */
static void test_enospc(void) {
        _cleanup_(flow_log_freep) FlowLog *l = NULL;

        if (access("/dev/full", W_OK) < 0) {
                g_test_skip("no writable /dev/full");
                return;
        }
        g_assert_cmpint(flow_log_new(&(FlowLogSettings) { .path = "/dev/full",
                                                          .syslog_facility = -1 }, &l), ==, 0);
        write_flows(l, 1, 5);
        g_assert_cmpint(flow_log_flush(l), ==, -ENOSPC);
        g_assert_false(flow_log_pending(l));
        write_flows(l, 6, 2);
        g_assert_cmpint(flow_log_flush(l), ==, -ENOSPC);
        g_assert_cmpuint(flow_log_stats(l)->lines_lost, ==, 7);
        g_assert_cmpuint(flow_log_stats(l)->lines_written, ==, 0);
        g_assert_cmpuint(flow_log_stats(l)->records, ==, 7);
}

/*
 * A file size limit stands in for a full disk that gets room again: writes fail (EFBIG) past
 * the limit, partly (a line cut short), and succeed once the limit is raised. Run in a
 * subprocess: the limit and SIGXFSZ are process-wide.
 */
static void test_disk_full_then_room(Fixture *f, gconstpointer data) {
        if (g_test_subprocess()) {
                _cleanup_(flow_log_freep) FlowLog *l = NULL;
                g_autofree char *s = NULL;
                struct rlimit rl = { .rlim_cur = 1000, .rlim_max = RLIM_INFINITY };
                char **lines;
                unsigned n;

                g_assert_true(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
                g_assert_cmpint(flow_log_new(&(FlowLogSettings) { .path = f->path,
                                                                  .syslog_facility = -1 },
                                             &l), ==, 0);
                g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &rl), ==, 0);
                write_flows(l, 1, 10);          /* ~1500 bytes: the 1000th byte is mid-line */
                g_assert_cmpint(flow_log_flush(l), ==, -EFBIG);
                n = (unsigned) flow_log_stats(l)->lines_written;
                g_assert_cmpuint(n, >, 0);
                g_assert_cmpuint(n, <, 10);
                g_assert_cmpuint(flow_log_stats(l)->lines_lost, ==, 10 - n);
                write_flows(l, 11, 2);
                g_assert_cmpint(flow_log_flush(l), ==, -EFBIG);
                g_assert_cmpuint(flow_log_stats(l)->lines_lost, ==, 12 - n);

                /* room again: writing resumes by itself, the cut line is ended first */
                rl.rlim_cur = RLIM_INFINITY;
                g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &rl), ==, 0);
                write_flows(l, 20, 3);
                g_assert_cmpint(flow_log_flush(l), ==, 0);
                g_assert_cmpuint(flow_log_stats(l)->lines_written, ==, n + 3);
                g_assert_cmpuint(flow_log_stats(l)->lines_lost, ==, 12 - n);

                s = read_file(f->path);
                lines = g_strsplit(s, "\n", -1);
                /* n whole lines, the cut one, three new ones, and "" after the last newline */
                g_assert_cmpuint(g_strv_length(lines), ==, n + 1 + 3 + 1);
                g_assert_true(g_str_has_suffix(lines[n - 1], "[ASSURED] mark=0"));
                g_assert_false(g_str_has_suffix(lines[n], "[ASSURED] mark=0"));
                g_assert_true(g_str_has_prefix(lines[n + 1], T_TEXT "\ttcp "));
                g_assert_nonnull(strstr(lines[n + 1], "sport=1020 "));
                g_assert_cmpstr(lines[n + 4], ==, "");
                g_strfreev(lines);
                return;
        }
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_test_trap_assert_passed();
}

/* ---- the manager in Stats mode, on the fake kernel ---- */

static Manager *start_stats_manager(Fixture *f, const char *conf_path) {
        g_autofree char *text = g_strdup_printf("General {\n HashSize 64\n HashLimit 1000\n}\n"
                                                "Stats {\n LogFile %s\n}\n", f->path);
        ConfigDiagnostics d = {};
        Config *c = NULL;
        Manager *m = NULL;

        g_assert_true(g_file_set_contents(conf_path, text, -1, NULL));
        g_assert_cmpint(config_load_file(conf_path, &c, &d), ==, 0);
        g_assert_cmpuint(d.n, ==, 0);   /* no "not implemented" warning any more */
        config_diagnostics_clear(&d);
        g_assert_cmpint(manager_new(&(ManagerOptions) { .config_path = conf_path, .config = c,
                                                        .kernel_ops = &fake_kernel_ops },
                                    &m), ==, 0);
        g_assert_cmpint(manager_start(m), ==, 0);
        g_assert_nonnull(m->flow_log);
        return m;
}

static void test_manager_stats_mode(Fixture *f, gconstpointer data) {
        g_autofree char *conf = g_build_filename(f->dir, "conntrackd.conf", NULL),
                        *rotated = g_strconcat(f->path, ".1", NULL), *s = NULL, *s2 = NULL;
        _cleanup_(manager_freep) Manager *m = start_stats_manager(f, conf);
        g_auto(GStrv) lines = NULL;
        CtEntry e[4], destroy;

        for (unsigned i = 0; i < G_N_ELEMENTS(e); i++) {
                fake_ct_make_tcp(&e[i], i + 1);
                g_assert_cmpint(fake_kernel_add_ct(m->kernel, &e[i], false), ==, 0);
        }
        g_assert_cmpuint(cache_size(manager_get_cache(m, CACHE_INTERNAL, CT_KIND_CT)), ==, 4);

        /* DESTROY with the final counters: the line is the event's; mark 7 is in the cache only */
        destroy = e[0];
        destroy.attrs = CT_ATTR_REPLY | CT_ATTR_STATUS | CT_ATTR_COUNTERS | CT_ATTR_TCP_STATE;
        destroy.tcp.state = CT_TCP_CLOSE;
        destroy.counters.packets_orig = 3;
        destroy.counters.bytes_orig = 180;
        destroy.counters.packets_repl = 2;
        destroy.counters.bytes_repl = 120;
        g_assert_cmpint(fake_kernel_del_ct(m->kernel, &destroy, false), ==, 0);
        /* a flow the cache never had is not logged (1.4.7) */
        fake_ct_make_tcp(&destroy, 99);
        g_assert_cmpint(fake_kernel_add_ct(m->kernel, &destroy, true), ==, 0);
        g_assert_cmpint(fake_kernel_del_ct(m->kernel, &destroy, false), ==, 0);

        /* a DESTROY lost: the resync finds the flow gone and logs what the cache had */
        g_assert_cmpint(fake_kernel_del_ct(m->kernel, &e[1], true), ==, 0);
        g_assert_cmpint(manager_resync_kernel(m, CT_KIND_CT, NULL), ==, 0);
        g_assert_cmpuint(flow_log_stats(m->flow_log)->records, ==, 2);

        /* ReopenLogFiles after logrotate moved the file; buffered lines go to the old one */
        g_assert_cmpint(g_rename(f->path, rotated), ==, 0);
        g_assert_cmpint(manager_reopen_log_files(m), ==, 0);
        g_assert_cmpint(fake_kernel_del_ct(m->kernel, &e[2], false), ==, 0);
        /* and a reload (SIGHUP) does it too */
        g_assert_cmpint(g_unlink(f->path), ==, 0);
        g_assert_cmpint(manager_reload(m), ==, 0);
        g_assert_cmpuint(flow_log_stats(m->flow_log)->reopens, ==, 2);
        g_assert_cmpint(fake_kernel_del_ct(m->kernel, &e[3], false), ==, 0);
        m = manager_free(m);   /* flushes */

        s = read_file(rotated);
        lines = g_strsplit(s, "\n", -1);
        g_assert_cmpuint(g_strv_length(lines), ==, 3);
        g_assert_true(g_str_has_suffix(lines[0],
                                       "\ttcp      6 CLOSE src=10.0.0.1 dst=192.168.0.1 sport=1001 "
                                       "dport=80 packets=3 bytes=180 src=192.168.0.1 dst=10.0.0.1 "
                                       "sport=80 dport=1001 packets=2 bytes=120 [ASSURED]"));
        g_assert_true(g_str_has_suffix(lines[1],
                                       "\ttcp      6 ESTABLISHED src=10.0.0.2 dst=192.168.0.1 "
                                       "sport=1002 dport=80 src=192.168.0.1 dst=10.0.0.2 sport=80 "
                                       "dport=1002 [ASSURED] mark=0"));
        /* the line of e[2] went to the file unlinked by the test before the reload */
        s2 = read_file(f->path);
        g_assert_cmpuint(count_lines(s2), ==, 1);
        g_assert_nonnull(strstr(s2, "sport=1004 "));
}

int main(int argc, char *argv[]) {
        /* Dates in the expected lines are UTC. */
        g_setenv("TZ", "UTC", true);
        tzset();
        log_setup(LOG_TARGET_CONSOLE, LOG_WARNING);
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/flow-log/end-strings", test_end_strings);
        g_test_add_func("/flow-log/format-line", test_format_line);
        g_test_add_func("/flow-log/format-file-line", test_format_file_line);
        g_test_add_func("/flow-log/record-fields", test_record_fields);
        g_test_add("/flow-log/write", Fixture, NULL, fixture_setup, test_write, fixture_teardown);
        g_test_add("/flow-log/large-buffer", Fixture, NULL, fixture_setup,
                   test_large_buffer_written_early, fixture_teardown);
        g_test_add("/flow-log/reopen-after-rename", Fixture, NULL, fixture_setup,
                   test_reopen_after_rename, fixture_teardown);
        g_test_add("/flow-log/nofollow", Fixture, NULL, fixture_setup, test_nofollow,
                   fixture_teardown);
        g_test_add_func("/flow-log/enospc", test_enospc);
        g_test_add("/flow-log/disk-full-then-room", Fixture, NULL, fixture_setup,
                   test_disk_full_then_room, fixture_teardown);
        g_test_add("/flow-log/manager-stats-mode", Fixture, NULL, fixture_setup,
                   test_manager_stats_mode, fixture_teardown);
        return g_test_run();
}
