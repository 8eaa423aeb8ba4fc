/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/uio.h>
#include <syslog.h>
#include <time.h>
#include <systemd/sd-journal.h>

#include "flow-log.h"
#include "log.h"
#include "nfct-convert.h"
#include "string-table.h"

/* A full buffer is written at once; otherwise flow_log_flush() writes it. */
#define FLOW_LOG_BUFFER_FLUSH   (64U * 1024U)
#define FLOW_LOG_JOURNAL_FIELDS_MAX 40

struct FlowLog {
        char *path;
        int fd;
        int syslog_facility;
        bool journal;

        char *buf;                      /* complete lines not written yet */
        size_t n, allocated;
        uint64_t n_lines;               /* lines in buf */
        bool need_newline;              /* a failed write left a partial line in the file */

        bool failing;                   /* the last write failed */
        uint64_t lost_while_failing;
        RateLimit error_ratelimit;

        FlowLogStats stats;
};

static const char *const flow_end_table[_FLOW_END_MAX] = {
        [FLOW_END_DESTROY] = "destroy",
        [FLOW_END_RESYNC] = "resync",
};

DEFINE_STRING_TABLE(flow_end, FlowEnd);

static int open_log_file(const char *path) {
        int fd;

        /* Never follow a symlink planted in a log directory: O_NOFOLLOW gives ELOOP. */
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        return fd;
}

static void apply_syslog(FlowLog *l, int facility) {
        if (facility >= 0 && facility != l->syslog_facility)
                openlog("conntrackd", LOG_PID, facility);
        else if (facility < 0 && l->syslog_facility >= 0)
                closelog();
        l->syslog_facility = facility;
}

int flow_log_new(const FlowLogSettings *s, FlowLog **ret) {
        _cleanup_(flow_log_freep) FlowLog *l = NULL;

        if (!s || !ret)
                return -EINVAL;

        l = malloc(sizeof *l);
        if (!l)
                return -ENOMEM;
        *l = (FlowLog) {
                .fd = -EBADF,
                .syslog_facility = -1,
                .journal = s->journal,
                .error_ratelimit = RATELIMIT_INIT(60 * USEC_PER_SEC, 1),
        };
        if (s->path) {
                l->path = strdup(s->path);
                if (!l->path)
                        return -ENOMEM;
                l->fd = open_log_file(l->path);
                if (l->fd < 0)
                        return l->fd;
        }
        apply_syslog(l, s->syslog_facility);

        *ret = TAKE_PTR(l);
        return 0;
}

FlowLog *flow_log_free(FlowLog *l) {
        if (!l)
                return NULL;
        (void) flow_log_flush(l);
        safe_close(l->fd);
        if (l->syslog_facility >= 0)
                closelog();
        free(l->buf);
        free(l->path);
        free(l);
        return NULL;
}

const FlowLogStats *flow_log_stats(const FlowLog *l) {
        return &l->stats;
}

const char *flow_log_path(const FlowLog *l) {
        return l->path;
}

bool flow_log_pending(const FlowLog *l) {
        return l && l->n > 0;
}

static uint64_t count_lines(const char *p, size_t n) {
        uint64_t lines = 0;

        for (const char *e = p + n; (p = memchr(p, '\n', (size_t) (e - p))); p++)
                lines++;
        return lines;
}

/* Write all of buf; returns what was written in *ret_written, and 0 or a negative errno. */
static int write_all(int fd, const char *buf, size_t n, size_t *ret_written) {
        size_t off = 0;
        int r = 0;

        while (off < n) {
                ssize_t k = write(fd, buf + off, n - off);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        break;
                }
                if (k == 0) {
                        r = -EIO;
                        break;
                }
                off += (size_t) k;
        }
        *ret_written = off;
        return r;
}

static void report_loss(FlowLog *l, int error, uint64_t lost) {
        l->stats.lines_lost += lost;
        l->lost_while_failing += lost;
        l->failing = true;
        if (ratelimit_below(&l->error_ratelimit))
                log_warning_errno(error, "Failed to write to the flow log %s: %m; %" PRIu64
                                  " lines lost so far (%" PRIu64 " since the last success). "
                                  "Logging resumes when writes succeed again.",
                                  l->path, l->stats.lines_lost, l->lost_while_failing);
}

int flow_log_flush(FlowLog *l) {
        size_t written = 0;
        uint64_t complete;
        int r;

        if (!l || l->n == 0)
                return 0;
        if (l->fd < 0) {
                /* not reachable: lines are only buffered while a file is open */
                l->n = 0;
                l->n_lines = 0;
                return 0;
        }

        if (l->need_newline) {
                r = write_all(l->fd, "\n", 1, &written);
                if (r < 0) {
                        report_loss(l, r, l->n_lines);
                        l->n = 0;
                        l->n_lines = 0;
                        return r;
                }
                l->need_newline = false;
        }

        r = write_all(l->fd, l->buf, l->n, &written);
        complete = count_lines(l->buf, written);
        l->stats.lines_written += complete;
        if (r < 0) {
                /* What did not make it is dropped: the disk may stay full for long, and the
                 * daemon must not grow. A partial line is ended before the next write. */
                l->need_newline = written > 0 && l->buf[written - 1] != '\n';
                report_loss(l, r, l->n_lines - complete);
        } else if (l->failing) {
                l->failing = false;
                log_notice("Writing to the flow log %s again; %" PRIu64 " lines were lost.",
                           l->path, l->lost_while_failing);
                l->lost_while_failing = 0;
        }
        l->n = 0;
        l->n_lines = 0;
        return r;
}

int flow_log_reopen(FlowLog *l, const FlowLogSettings *s) {
        _cleanup_free_ char *path = NULL;
        int fd = -EBADF;

        if (!l || !s)
                return -EINVAL;

        (void) flow_log_flush(l);
        l->journal = s->journal;
        apply_syslog(l, s->syslog_facility);

        if (s->path) {
                path = strdup(s->path);
                if (!path)
                        return -ENOMEM;
                fd = open_log_file(path);
                if (fd < 0)
                        return fd;      /* the old file stays in use */
        }
        safe_close(l->fd);
        l->fd = fd;
        free(l->path);
        l->path = TAKE_PTR(path);
        /* A new file starts clean; an old one reopened gets the partial line ended. */
        l->need_newline = l->need_newline && l->fd >= 0;
        if (l->fd >= 0)
                l->stats.reopens++;
        return 0;
}

int flow_log_format_line(const CtEntry *e, char **ret) {
        CtEntry copy;

        if (!e || !ret)
                return -EINVAL;
        /* Neither the DESTROY event nor the Stats cache carries these; never show them. */
        copy = *e;
        copy.attrs &= ~(uint64_t) (CT_ATTR_TIMEOUT | CT_ATTR_USE | CT_ATTR_ID);
        return ct_entry_render_nfct(&copy, false, ret);
}

int flow_log_format_file_line(const char *plain, uint64_t realtime_usec, char **ret) {
        /* ctime(3)'s format, in English whatever the locale: "Sat Nov 28 05:31:21 2026". */
        static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        time_t t = (time_t) (realtime_usec / USEC_PER_SEC);
        struct tm tm;

        if (!plain || !ret)
                return -EINVAL;
        if (!localtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
            tm.tm_mon > 11)
                return -ERANGE;
        if (asprintf(ret, "%s %s %2d %02d:%02d:%02d %d\t%s\n", days[tm.tm_wday], months[tm.tm_mon],
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_year + 1900, plain) < 0)
                return -ENOMEM;
        return 0;
}

char **flow_log_fields_free(char **fields) {
        if (!fields)
                return NULL;
        for (char **f = fields; *f; f++)
                free(*f);
        free(fields);
        return NULL;
}

typedef struct FieldList {
        char **v;
        size_t n;
        int error;
} FieldList;

static void _printf_(2, 3) field_add(FieldList *l, const char *format, ...) {
        va_list ap;
        char *s;

        if (l->error < 0)
                return;
        if (l->n + 1 >= FLOW_LOG_JOURNAL_FIELDS_MAX) {
                l->error = -E2BIG;      /* a programming error: the table below grew */
                return;
        }
        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s) {
                l->error = -ENOMEM;
                return;
        }
        l->v[l->n++] = s;
        l->v[l->n] = NULL;
}

static void fields_add_tuple(FieldList *l, const char *dir, const CtTuple *t) {
        char a[INET6_ADDRSTRLEN];

        field_add(l, "FLOW_%s_SRC=%s", dir, ct_addr_to_string(t->l3, &t->src, a, sizeof a));
        field_add(l, "FLOW_%s_DST=%s", dir, ct_addr_to_string(t->l3, &t->dst, a, sizeof a));
        if (ct_proto_has_ports(t->l4)) {
                field_add(l, "FLOW_%s_SPORT=%u", dir, t->sport);
                field_add(l, "FLOW_%s_DPORT=%u", dir, t->dport);
        } else if (ct_proto_is_icmp(t->l4)) {
                field_add(l, "FLOW_%s_ICMP_TYPE=%u", dir, t->icmp.type);
                field_add(l, "FLOW_%s_ICMP_CODE=%u", dir, t->icmp.code);
                field_add(l, "FLOW_%s_ICMP_ID=%u", dir, t->icmp.id);
        }
}

int flow_log_record_fields(const CtEntry *e, const char *plain, FlowEnd end, char ***ret) {
        FieldList l = {};

        if (!e || !plain || !ret || end < 0 || end >= _FLOW_END_MAX)
                return -EINVAL;
        l.v = calloc(FLOW_LOG_JOURNAL_FIELDS_MAX, sizeof *l.v);
        if (!l.v)
                return -ENOMEM;

        field_add(&l, "MESSAGE=%s", plain);
        field_add(&l, "MESSAGE_ID=%s", MESSAGE_ID_FLOW_DESTROYED);
        field_add(&l, "PRIORITY=%d", LOG_INFO);
        field_add(&l, "FLOW_END=%s", flow_end_to_string(end));
        field_add(&l, "FLOW_L3=%s", e->orig.l3 == AF_INET6 ? "ipv6" : "ipv4");
        field_add(&l, "FLOW_PROTO=%s", ct_proto_to_string(e->orig.l4));
        field_add(&l, "FLOW_PROTO_NUMBER=%u", e->orig.l4);
        fields_add_tuple(&l, "ORIG", &e->orig);
        if (e->attrs & CT_ATTR_REPLY)
                fields_add_tuple(&l, "REPLY", &e->reply);
        if ((e->attrs & CT_ATTR_TCP_STATE) && e->orig.l4 == IPPROTO_TCP &&
            ct_tcp_state_to_string(e->tcp.state))
                field_add(&l, "FLOW_STATE=%s", ct_tcp_state_to_string(e->tcp.state));
        if (e->attrs & CT_ATTR_STATUS) {
                field_add(&l, "FLOW_STATUS=%" PRIu32, e->status);
                field_add(&l, "FLOW_ASSURED=%s", yes_no(e->status & (1U << 2)));   /* IPS_ASSURED */
        }
        /* Events leave a zero mark out: no mark is mark 0. */
        field_add(&l, "FLOW_MARK=%" PRIu32, e->attrs & CT_ATTR_MARK ? e->mark : 0);
        if (e->attrs & CT_ATTR_SECMARK)
                field_add(&l, "FLOW_SECMARK=%" PRIu32, e->secmark);
        field_add(&l, "FLOW_ZONE=%u", e->zone);
        if (e->attrs & CT_ATTR_ID)
                field_add(&l, "FLOW_ID=%" PRIu32, e->id);
        if (e->attrs & CT_ATTR_HELPER)
                field_add(&l, "FLOW_HELPER=%.*s", (int) sizeof e->helper, e->helper);
        if (e->attrs & CT_ATTR_COUNTERS) {
                field_add(&l, "FLOW_PACKETS_ORIG=%" PRIu64, e->counters.packets_orig);
                field_add(&l, "FLOW_BYTES_ORIG=%" PRIu64, e->counters.bytes_orig);
                field_add(&l, "FLOW_PACKETS_REPLY=%" PRIu64, e->counters.packets_repl);
                field_add(&l, "FLOW_BYTES_REPLY=%" PRIu64, e->counters.bytes_repl);
        }
        if ((e->attrs & CT_ATTR_TIMESTAMP) && e->timestamp.start > 0) {
                uint64_t start = e->timestamp.start / NSEC_PER_USEC,
                         stop = e->timestamp.stop / NSEC_PER_USEC;

                field_add(&l, "FLOW_START_USEC=%" PRIu64, start);
                if (stop > 0) {
                        field_add(&l, "FLOW_STOP_USEC=%" PRIu64, stop);
                        field_add(&l, "FLOW_DURATION_USEC=%" PRIu64,
                                  stop > start ? stop - start : 0);
                }
        }
        if (l.error < 0) {
                flow_log_fields_free(l.v);
                return l.error;
        }
        *ret = l.v;
        return 0;
}

static void send_journal(const CtEntry *record, const char *plain, FlowEnd end) {
        _cleanup_(flow_log_fields_freep) char **fields = NULL;
        struct iovec iov[FLOW_LOG_JOURNAL_FIELDS_MAX];
        size_t n = 0;
        int r;

        r = flow_log_record_fields(record, plain, end, &fields);
        if (r < 0) {
                log_debug_errno(r, "Failed to build the journal record of a flow: %m");
                return;
        }
        for (; fields[n] && n < ELEMENTSOF(iov); n++)
                iov[n] = (struct iovec) { fields[n], strlen(fields[n]) };
        r = sd_journal_sendv(iov, (int) n);
        if (r < 0)
                log_debug_errno(r, "Failed to send a flow record to the journal: %m");
}

static int buffer_append(FlowLog *l, const char *s) {
        size_t len = strlen(s);

        if (l->n + len > l->allocated) {
                size_t a = MAX(l->allocated * 2, MAX(l->n + len, (size_t) 4096));
                char *b = realloc(l->buf, a);

                if (!b)
                        return -ENOMEM;
                l->buf = b;
                l->allocated = a;
        }
        memcpy(l->buf + l->n, s, len);
        l->n += len;
        l->n_lines++;
        return 0;
}

int flow_log_write(FlowLog *l, const CtEntry *line, const CtEntry *record, FlowEnd end,
                   uint64_t now_realtime_usec) {
        _cleanup_free_ char *plain = NULL;
        int r;

        if (!l || !line)
                return -EINVAL;

        r = flow_log_format_line(line, &plain);
        if (r < 0)
                return r;
        l->stats.records++;

        if (l->fd >= 0) {
                _cleanup_free_ char *text = NULL;

                r = flow_log_format_file_line(plain, now_realtime_usec, &text);
                if (r >= 0)
                        r = buffer_append(l, text);
                if (r < 0)
                        report_loss(l, r, 1);
                else if (l->n >= FLOW_LOG_BUFFER_FLUSH)
                        (void) flow_log_flush(l);
        }
        if (l->syslog_facility >= 0)
                syslog(l->syslog_facility | LOG_INFO, "%s", plain);
        if (l->journal)
                send_journal(record ?: line, plain, end);
        return 0;
}
