/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>
#include <time.h>
#include "macro.h"

/*
 * Logging. To the journal (sd_journal_send, with structured fields) when stderr is connected to it
 * ($JOURNAL_STREAM) or when asked for; otherwise "<N>"-prefixed lines on stderr, or plain lines
 * when stderr is a terminal. An optional legacy log file receives the 1.4.x line format.
 *
 * The log target and the maximum level are process-wide settings made once by main(); this is
 * the only process-wide state outside the Manager.
 */

typedef enum LogTarget {
        LOG_TARGET_AUTO,        /* journal if $JOURNAL_STREAM matches stderr, else "<N>msg" on stderr */
        LOG_TARGET_CONSOLE,     /* plain lines on stderr (command line tools) */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_NULL,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

void log_setup(LogTarget target, int max_level);
void log_set_max_level(int level);
int log_get_max_level(void);
/* True if messages go to the journal (the target, or $JOURNAL_STREAM under AUTO). */
bool log_to_journal(void);
/* Also append lines in the 1.4.x format "[date] (pid=N) [level] message" to this file (NULL: stop).
 * Returns a negative errno if the file cannot be opened. */
int log_open_file(const char *path);
void log_close_file(void);

/* Message ids of events an operator acts on (journalctl MESSAGE_ID=...). */
#define MESSAGE_ID_STARTED          "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d71"
#define MESSAGE_ID_STOPPED          "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d72"
#define MESSAGE_ID_OVERRUN          "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d73"
#define MESSAGE_ID_RESYNC_DONE      "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d74"
#define MESSAGE_ID_CONFIG_REJECTED  "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d75"
#define MESSAGE_ID_CONFIG_RELOADED  "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d76"
#define MESSAGE_ID_CACHE_FULL       "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d77"
#define MESSAGE_ID_KERNEL_FLUSH     "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d78"
#define MESSAGE_ID_COMMIT_DONE      "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8d79"
#define MESSAGE_ID_FLOW_DESTROYED   "5d3a0e7f1b9c4a6e8f2d7c1b0a9e8e01"  /* Stats mode flow record */

/*
 * Core entry point. 'fields' is NULL or a NULL-terminated array of "KEY=value" journal fields.
 * Returns -abs(error) so that callers can "return log_error_errno(r, ...)".
 * %m in the format expands to strerror(abs(error)).
 */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *const *fields, const char *format, ...) _printf_(7, 8);

#define LOG_FIELDS(...) ((const char *const[]) { __VA_ARGS__, NULL })

#define log_full_errno_fields(level, error, fields, ...)                                       \
        ({                                                                                      \
                int _level_ = (level), _e_ = (error);                                           \
                (_level_ <= log_get_max_level())                                                \
                        ? log_internal(_level_, _e_, __FILE__, __LINE__, __func__, (fields),    \
                                       __VA_ARGS__)                                             \
                        : -(_e_ < 0 ? -_e_ : _e_);                                              \
        })

#define log_full_errno(level, error, ...) log_full_errno_fields(level, error, NULL, __VA_ARGS__)
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...)  log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* The time of a clock in microseconds (CLOCK_MONOTONIC, CLOCK_REALTIME ...). */
uint64_t now_usec(clockid_t clock);

/* Rate limiting for messages that may repeat per flow or per datagram. */
typedef struct RateLimit {
        uint64_t interval_usec;
        unsigned burst;
        uint64_t begin;
        unsigned num;
        uint64_t suppressed;
} RateLimit;

#define RATELIMIT_INIT(interval, b) ((RateLimit) { .interval_usec = (interval), .burst = (b) })

/* Returns true if the message may be logged now; counts suppressed ones. */
bool ratelimit_below(RateLimit *rl);
