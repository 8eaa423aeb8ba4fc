/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <time.h>
#include <systemd/sd-journal.h>

#include "log.h"

static LogTarget log_target = LOG_TARGET_AUTO;
static int log_max_level = LOG_INFO;
static bool log_use_journal;
static FILE *log_file;

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

void log_setup(LogTarget target, int max_level) {
        log_target = target;
        log_max_level = max_level;
        log_use_journal = target == LOG_TARGET_JOURNAL ||
                          (target == LOG_TARGET_AUTO && stderr_is_journal());
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

bool log_to_journal(void) {
        return log_use_journal;
}

int log_open_file(const char *path) {
        int fd;
        FILE *f;

        log_close_file();
        if (!path)
                return 0;
        /* Never follow a symlink planted by someone else; created 0600. */
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();
        f = fdopen(fd, "a");
        if (!f) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        setvbuf(f, NULL, _IOLBF, 0);
        log_file = f;
        return 0;
}

void log_close_file(void) {
        if (log_file) {
                fclose(log_file);
                log_file = NULL;
        }
}

static const char *level_name(int level) {
        switch (level) {
        case LOG_DEBUG:
                return "debug";
        case LOG_INFO:
                return "info";
        case LOG_NOTICE:
                return "notice";
        case LOG_WARNING:
                return "warning";
        default:
                return "ERROR";
        }
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *const *fields, const char *format, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;

        errno = error;
        va_start(ap, format);
        vsnprintf(buf, sizeof buf, format, ap);
        va_end(ap);

        if (log_file) {
                char tb[64];
                time_t now = time(NULL);
                struct tm tm;

                localtime_r(&now, &tm);
                strftime(tb, sizeof tb, "%a %b %e %H:%M:%S %Y", &tm);
                fprintf(log_file, "[%s] (pid=%d) [%s] %s\n", tb, (int) getpid(), level_name(level), buf);
        }

        if (log_target == LOG_TARGET_NULL)
                goto finish;

        if (log_use_journal) {
                struct iovec iov[24];
                char prio[32], err[32], cfile[512], cline[32], cfunc[256], *msg = NULL;
                size_t n = 0;

                if (asprintf(&msg, "MESSAGE=%s", buf) < 0)
                        goto finish;
                snprintf(prio, sizeof prio, "PRIORITY=%d", level);
                snprintf(cfile, sizeof cfile, "CODE_FILE=%s", file);
                snprintf(cline, sizeof cline, "CODE_LINE=%d", line);
                snprintf(cfunc, sizeof cfunc, "CODE_FUNC=%s", func);
                iov[n++] = (struct iovec) { msg, strlen(msg) };
                iov[n++] = (struct iovec) { prio, strlen(prio) };
                iov[n++] = (struct iovec) { cfile, strlen(cfile) };
                iov[n++] = (struct iovec) { cline, strlen(cline) };
                iov[n++] = (struct iovec) { cfunc, strlen(cfunc) };
                if (error > 0) {
                        snprintf(err, sizeof err, "ERRNO=%d", error);
                        iov[n++] = (struct iovec) { err, strlen(err) };
                }
                for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
                        iov[n++] = (struct iovec) { (void *) fields[i], strlen(fields[i]) };
                (void) sd_journal_sendv(iov, (int) n);
                free(msg);
        } else if (log_target == LOG_TARGET_CONSOLE)
                fprintf(stderr, "%s\n", buf);
        else
                fprintf(stderr, "<%d>%s\n", level, buf);

finish:
        errno = saved;
        return -error;
}

uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

bool ratelimit_below(RateLimit *rl) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (rl->begin == 0 || now - rl->begin >= rl->interval_usec) {
                rl->begin = now;
                rl->num = 0;
        }
        if (rl->num < rl->burst) {
                rl->num++;
                return true;
        }
        rl->suppressed++;
        return false;
}
