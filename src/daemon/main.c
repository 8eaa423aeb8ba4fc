/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "legacy-cli.h"
#include "log.h"
#include "manager.h"

static void print_diagnostics(const ConfigDiagnostics *d) {
        for (size_t i = 0; i < d->n; i++)
                log_full(d->items[i].level, "%s", d->items[i].message);
}

/*
 * Scheduler of conntrackd.conf, as 1.4.x: realtime (default SCHED_RR, priority 99) so that the
 * kernel's event bursts are read before the socket overruns. Children do not inherit it. Nothing
 * to do when the service manager gave us that policy already (CPUSchedulingPolicy= of the unit,
 * which keeps RestrictRealtime=); failing to apply it is a warning, never fatal.
 */
static void apply_scheduler(const Config *c) {
        struct sched_param param = { .sched_priority = c->scheduler_priority };
        int cur;

        cur = sched_getscheduler(0);
        if (cur >= 0 && (cur & ~SCHED_RESET_ON_FORK) == c->scheduler_policy) {
                struct sched_param now = {};

                if (sched_getparam(0, &now) == 0 && now.sched_priority == c->scheduler_priority)
                        return;
        }
        if (sched_setscheduler(0, c->scheduler_policy | SCHED_RESET_ON_FORK, &param) < 0) {
                log_warning_errno(negative_errno(),
                                  "Failed to set scheduler %s priority %d, running at the policy "
                                  "given: %m (CPUSchedulingPolicy= and CPUSchedulingPriority= of "
                                  "the unit set it without this call)",
                                  c->scheduler_policy == SCHED_FIFO ? "FIFO" : "RR",
                                  c->scheduler_priority);
                return;
        }
        log_debug("Scheduler set to %s, priority %d",
                  c->scheduler_policy == SCHED_FIFO ? "FIFO" : "RR", c->scheduler_priority);
}

/*
 * The LockFile of conntrackd.conf: created 0600 without following symlinks and held with flock(),
 * so a lock left behind by a crash does not block a restart (1.4.7's O_EXCL file did).
 */
static int lockfile_acquire(const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to open lock file %s: %m", path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "Lock file %s is held: another conntrackd is "
                                               "running with this configuration", path);
                return log_error_errno(negative_errno(), "Failed to lock %s: %m", path);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/*
 * -d: detach as 1.4.7 does, but report start-up failures: the child initialises and tells the
 * parent through a pipe; the parent exits 0 only once the daemon is ready (and sends MAINPID=).
 * Returns 0 in the child, never returns in the parent.
 */
static int detach(int *ret_ready_fd) {
        int p[2];
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(negative_errno(), "Failed to create a pipe: %m");
        pid = fork();
        if (pid < 0)
                return log_error_errno(negative_errno(), "Failed to fork: %m");
        if (pid > 0) {
                char c = 1;
                ssize_t n;

                close(p[1]);
                do
                        n = read(p[0], &c, 1);
                while (n < 0 && errno == EINTR);
                if (n == 1 && c == 0) {
                        char buf[64];

                        snprintf(buf, sizeof buf, "MAINPID=%d", (int) pid);
                        (void) sd_notify(false, buf);
                        _exit(EXIT_SUCCESS);
                }
                (void) waitpid(pid, NULL, WNOHANG);
                _exit(EXIT_FAILURE);
        }
        close(p[0]);
        (void) setsid();
        *ret_ready_fd = p[1];
        return 0;
}

static void detach_done(int *ready_fd, bool ok) {
        char c = ok ? 0 : 1;
        int null;

        if (*ready_fd < 0)
                return;
        (void) write(*ready_fd, &c, 1);
        *ready_fd = safe_close(*ready_fd);
        if (!ok)
                return;
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
                (void) dup2(null, STDIN_FILENO);
                (void) dup2(null, STDOUT_FILENO);
                (void) dup2(null, STDERR_FILENO);
                if (null > STDERR_FILENO)
                        close(null);
        }
}

static int run_daemon(const LegacyArgs *args, Config *config) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_close_ int lock_fd = -EBADF, ready_fd = -EBADF;
        _cleanup_free_ char *abs_path = NULL, *lock_path = NULL;
        bool notify;
        int r;

        if (args->detach) {
                r = detach(&ready_fd);
                if (r < 0)
                        return r;
        }

        if (config->log_file) {
                r = log_open_file(config->log_file);
                if (r < 0)
                        log_warning_errno(r, "Failed to open log file %s, logging without it: %m",
                                          config->log_file);
        }

        /* our own copy: the config goes with the manager */
        lock_path = strdup(config->lock_file);
        if (!lock_path) {
                r = log_oom();
                goto fail;
        }
        r = lockfile_acquire(lock_path, &lock_fd);
        if (r < 0)
                goto fail;

        (void) signal(SIGPIPE, SIG_IGN);
        apply_scheduler(config);

        notify = config->systemd;
        /* We chdir("/"): keep an absolute path for reloads. */
        abs_path = realpath(args->config_path, NULL);
        r = manager_new(&(ManagerOptions) {
                                .config_path = abs_path ?: args->config_path,
                                .config = config,
                                .connect_system_bus = true,
                                .notify = notify,
                        },
                        &m);
        if (r < 0)
                goto fail;
        /* The manager owns the config from here on. */

        /* The manager releases the lock when it is done, before its control connections. */
        manager_adopt_lock(m, TAKE_FD(lock_fd), TAKE_PTR(lock_path));

        r = manager_start(m);
        if (r < 0)
                goto fail_owned;
        (void) chdir("/");

        detach_done(&ready_fd, true);
        r = manager_run(m);
        m = manager_free(m);
        log_close_file();
        return r;

fail_owned:
        m = manager_free(m);
        config = NULL;
fail:
        detach_done(&ready_fd, false);
        if (lock_fd >= 0)
                (void) unlink(lock_path);
        config_free(config);
        return r < 0 ? r : -EIO;
}

int main(int argc, char **argv) {
        _cleanup_(config_freep) Config *config = NULL;
        ConfigDiagnostics diag = {};
        LegacyArgs args;
        int r;

        log_setup(LOG_TARGET_AUTO, LOG_INFO);

        r = legacy_args_parse(argc, argv, &args);
        if (r < 0)
                return EXIT_FAILURE;

        switch (args.action) {
        case LEGACY_ACTION_HELP:
                legacy_print_help();
                return EXIT_SUCCESS;
        case LEGACY_ACTION_VERSION:
                legacy_print_version();
                return EXIT_SUCCESS;
        case LEGACY_ACTION_CLIENT:
        case LEGACY_ACTION_CHECK_CONFIG:
                /* Command line use: plain messages on stderr. */
                log_setup(LOG_TARGET_CONSOLE, LOG_INFO);
                break;
        default:
                break;
        }

        r = config_load_file(args.config_path, &config, &diag);
        print_diagnostics(&diag);
        config_diagnostics_clear(&diag);
        if (r < 0) {
                if (args.action == LEGACY_ACTION_DAEMON)
                        log_full_errno_fields(LOG_ERR, r,
                                              LOG_FIELDS("MESSAGE_ID=" MESSAGE_ID_CONFIG_REJECTED),
                                              "Configuration %s rejected, not starting",
                                              args.config_path);
                return EXIT_FAILURE;
        }

        switch (args.action) {
        case LEGACY_ACTION_CHECK_CONFIG:
                printf("%s: configuration OK (mode %s)\n", args.config_path,
                       config_mode_to_string(config->mode));
                return EXIT_SUCCESS;
        case LEGACY_ACTION_CLIENT:
                return legacy_client_run(&args, config);
        case LEGACY_ACTION_DAEMON:
                r = run_daemon(&args, TAKE_PTR(config));
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        default:
                return EXIT_FAILURE;
        }
}
