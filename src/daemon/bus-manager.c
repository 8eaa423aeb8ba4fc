/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The D-Bus face of the Manager: org.netfilter.conntrackd1.Manager at /org/netfilter/conntrackd1,
 * served on the system bus as org.netfilter.conntrackd1 when one is reachable, and always on every
 * peer-to-peer connection accepted on the private socket (General { UNIX { Path } }, or the
 * socket-activated fd named "control").
 *
 * The contract is dbus/org.netfilter.conntrackd1.Manager.xml; test-bus-manager compares the
 * introspection served from this vtable with it member by member.
 *
 * Access: DumpCache, GetStatistics and the properties are open to every caller that the bus
 * policy lets through; the other methods are root only. On the system bus the policy enforces
 * it and sd-bus checks CAP_SYS_ADMIN (no SD_BUS_VTABLE_UNPRIVILEGED); on every bus the handlers
 * check the caller's effective uid as well (peer credentials of the socket on a private
 * connection), so that a too-open socket or policy file does not open the daemon. Private
 * connections are "trusted" for sd-bus: there the handlers' check is the one that decides, and
 * every refusal is counted.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-id128.h>

#include "bus-errors.h"
#include "log.h"
#include "manager.h"
#include "stats-keys.h"

#define BUS_NAME        "org.netfilter.conntrackd1"
#define BUS_PATH        "/org/netfilter/conntrackd1"
#define BUS_INTERFACE   "org.netfilter.conntrackd1.Manager"

#define BUS_LOCAL_PATH          "/org/freedesktop/DBus/Local"
#define BUS_LOCAL_INTERFACE     "org.freedesktop.DBus.Local"

#define PRIVATE_SOCKET_NAME     "control"       /* FileDescriptorName= of the socket unit */
#define PRIVATE_SOCKET_BACKLOG  128

static const char *const stats_sections[] = { STATS_SECTIONS };

/* ---- helpers ---- */

static bool manager_has_cache(Manager *m, CacheWhich w, CtKind k) {
        return manager_get_cache(m, w, k) != NULL;
}

static uint64_t manager_cache_size(Manager *m, CacheWhich w, CtKind k) {
        Cache *c = manager_get_cache(m, w, k);

        return c ? cache_size(c) : 0;
}

static const char *kind_noun(CtKind k) {
        return k == CT_KIND_EXPECT ? "expectation" : "conntrack";
}

/* Why a cache does not exist, for the message of NotSupported. */
static const char *cache_absent_reason(Manager *m, CacheWhich w, CtKind k) {
        const Config *c = m->config;

        if (c->mode == CONFIG_MODE_STATS)
                return w == CACHE_EXTERNAL ? "Stats mode has no external cache" :
                                             "Stats mode has no expectation cache";
        if (k == CT_KIND_EXPECT && !c->expectation_sync.enabled)
                return "expectation caches exist only with ExpectationSync";
        if (w == CACHE_INTERNAL && c->disable_internal_cache)
                return "DisableInternalCache is on";
        if (w == CACHE_EXTERNAL && c->disable_external_cache)
                return "DisableExternalCache is on";
        return "it is not in use";
}

static int reply_cache_absent(Manager *m, sd_bus_error *error, CacheWhich w, CtKind k) {
        return bus_error_set_namedf(error, BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP,
                                    "There is no %s %s cache: %s", cache_which_to_string(w),
                                    kind_noun(k), cache_absent_reason(m, w, k));
}

/* A refused call: bad arguments or not allowed. Counted ("local unknown request"). */
_printf_(4, 5)
static int reply_refused(Manager *m, sd_bus_error *error, const char *name, const char *format, ...) {
        va_list ap;
        int r;

        m->counters.bus_requests_failed++;
        va_start(ap, format);
        r = sd_bus_error_setfv(error, name, format, ap);
        va_end(ap);
        log_debug("D-Bus call refused: %s: %s", name, strna(error->message));
        return r;
}

static int reply_invalid_arg(Manager *m, sd_bus_error *error, const char *arg, const char *value,
                             const char *allowed) {
        return reply_refused(m, error, SD_BUS_ERROR_INVALID_ARGS, "Invalid %s \"%s\": expected %s",
                             arg, value, allowed);
}

/* Mutating methods: root only, whatever the policy of the bus let through. */
static int verify_root(Manager *m, sd_bus_message *message, sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t euid = (uid_t) -1;
        int r;

        r = sd_bus_query_sender_creds(message, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &euid);
        if (r < 0) {
                log_debug_errno(r, "Failed to get the credentials of the caller of %s(): %m",
                                strna(sd_bus_message_get_member(message)));
                return reply_refused(m, error, SD_BUS_ERROR_ACCESS_DENIED,
                                     "%s() is allowed for root only, and the caller's user "
                                     "could not be determined",
                                     strna(sd_bus_message_get_member(message)));
        }
        if (euid != 0)
                return reply_refused(m, error, SD_BUS_ERROR_ACCESS_DENIED,
                                     "%s() is allowed for root only (caller's uid is %u)",
                                     strna(sd_bus_message_get_member(message)), (unsigned) euid);
        return 0;
}

/* "cache" arguments: a CacheWhich, or -1 for "all" where allowed. */
static int parse_cache(Manager *m, sd_bus_error *error, const char *s, bool allow_all, int *ret) {
        CacheWhich w;

        if (allow_all && streq(s, "all")) {
                *ret = -1;
                return 0;
        }
        w = cache_which_from_string(s);
        if (w < 0)
                return reply_invalid_arg(m, error, "cache", s,
                                         allow_all ? "\"internal\", \"external\" or \"all\"" :
                                                     "\"internal\" or \"external\"");
        *ret = w;
        return 0;
}

/* "kind" arguments: a CtKind, or -1 for "all" where allowed. */
static int parse_kind(Manager *m, sd_bus_error *error, const char *s, bool allow_all, int *ret) {
        CtKind k;

        if (allow_all && streq(s, "all")) {
                *ret = -1;
                return 0;
        }
        k = ct_kind_from_string(s);
        if (k < 0)
                return reply_invalid_arg(m, error, "kind", s,
                                         allow_all ? "\"ct\", \"expect\" or \"all\"" :
                                                     "\"ct\" or \"expect\"");
        *ret = k;
        return 0;
}

/* Failure of a kernel operation: NotSupported and Busy keep their names, the rest is KernelFailed. */
static int reply_kernel_failed(sd_bus_error *error, int r, const char *what, CtKind k) {
        if (r == -EOPNOTSUPP || r == -EBUSY)
                return bus_error_set_errnof(error, r, "Cannot %s the kernel %s table: %m", what,
                                            kind_noun(k));
        return bus_error_set_namedf(error, BUS_ERROR_KERNEL_FAILED, r,
                                    "Failed to %s the kernel %s table: %m", what, kind_noun(k));
}

/* ---- properties ---- */

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
}

static int property_get_compatible_version(sd_bus *bus, const char *path, const char *interface,
                                           const char *property, sd_bus_message *reply,
                                           void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", LEGACY_VERSION);
}

static int property_get_mode(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", strna(config_mode_to_string(m->config->mode)));
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", strna(manager_state_to_string(m->state)));
}

static int property_get_role(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", strna(manager_role_to_string(m->role)));
}

static int property_get_in_sync(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "b", m->sync && sync_in_sync(m->sync));
}

static int property_get_config_file(sd_bus *bus, const char *path, const char *interface,
                                    const char *property, sd_bus_message *reply, void *userdata,
                                    sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "s", m->config_path ?: "");
}

/* InternalCacheSize, ExternalCacheSize, InternalExpectCacheSize, ExternalExpectCacheSize */
static int property_get_cache_size(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        Manager *m = userdata;
        CacheWhich w = strneq(property, "Internal", 8) ? CACHE_INTERNAL : CACHE_EXTERNAL;
        CtKind k = strstr(property, "Expect") ? CT_KIND_EXPECT : CT_KIND_CT;

        return sd_bus_message_append(reply, "t", manager_cache_size(m, w, k));
}

static int property_get_cache_limit(sd_bus *bus, const char *path, const char *interface,
                                    const char *property, sd_bus_message *reply, void *userdata,
                                    sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "t", (uint64_t) m->config->hash_limit);
}

static uint64_t manager_uptime_sec(Manager *m) {
        uint64_t now = manager_now(m);

        if (m->start_usec == 0 || now < m->start_usec)
                return 0;
        return (now - m->start_usec) / USEC_PER_SEC;
}

/* The counters of type 't', by property name. */
static int property_get_counter(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        Manager *m = userdata;
        uint64_t v;

        if (streq(property, "EventsReceived"))
                v = m->kernel ? m->kernel->stats.events_received : 0;
        else if (streq(property, "NetlinkOverruns"))
                v = m->kernel ? m->kernel->stats.overruns : 0;
        else if (streq(property, "KernelResyncs"))
                v = m->counters.kernel_resyncs;
        else if (streq(property, "CacheFull"))
                v = m->counters.cache_full;
        else if (streq(property, "UptimeSeconds"))
                v = manager_uptime_sec(m);
        else
                return -ENOENT;         /* a vtable entry without a case here: a bug */
        return sd_bus_message_append(reply, "t", v);
}

static int property_get_netlink_buffer_size(sd_bus *bus, const char *path, const char *interface,
                                             const char *property, sd_bus_message *reply,
                                             void *userdata, sd_bus_error *error) {
        Manager *m = userdata;

        return sd_bus_message_append(reply, "u", m->kernel ? m->kernel->buffer_size : 0);
}

/* ---- methods ---- */

static int method_dump_cache(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *cache, *kind, *format;
        _cleanup_close_ int fd = -EBADF;
        int w, k, r;
        CtFormat f;

        r = sd_bus_message_read(message, "sss", &cache, &kind, &format);
        if (r < 0)
                return r;
        r = parse_cache(m, error, cache, false, &w);
        if (r < 0)
                return r;
        r = parse_kind(m, error, kind, false, &k);
        if (r < 0)
                return r;
        f = ct_format_from_string(format);
        if (f < 0)
                return reply_invalid_arg(m, error, "format", format,
                                         "\"plain\", \"xml\" or \"json\"");

        r = manager_dump_cache(m, w, k, f, &fd);
        if (r == -EOPNOTSUPP)
                return reply_cache_absent(m, error, w, k);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to dump the %s %s cache: %m",
                                            cache_which_to_string(w), kind_noun(k));
        return sd_bus_reply_method_return(message, "h", fd);
}

static int method_flush_cache(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *cache, *kind;
        unsigned flushed = 0;
        int w, k, r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(message, "ss", &cache, &kind);
        if (r < 0)
                return r;
        r = parse_cache(m, error, cache, true, &w);
        if (r < 0)
                return r;
        r = parse_kind(m, error, kind, true, &k);
        if (r < 0)
                return r;

        /* One named cache must exist; with "all", the caches of this mode are flushed. */
        if (w >= 0 && k >= 0 && !manager_has_cache(m, w, k))
                return reply_cache_absent(m, error, w, k);
        /* The external cache is what a running commit writes: refused whole, before anything
         * is flushed (1.4.7: "ignoring flush command, commit still in progress"). */
        if ((w < 0 || w == CACHE_EXTERNAL) && manager_commit_running(m)) {
                log_notice("ignoring flush command, commit still in progress");
                return bus_error_set_namedf(error, BUS_ERROR_BUSY, EBUSY,
                                            "Cannot flush the external cache: a commit is in "
                                            "progress");
        }

        for (CacheWhich iw = 0; iw < _CACHE_WHICH_MAX; iw++)
                for (CtKind ik = 0; ik < _CT_KIND_MAX; ik++) {
                        if ((w >= 0 && (CacheWhich) w != iw) || (k >= 0 && (CtKind) k != ik))
                                continue;
                        if (!manager_has_cache(m, iw, ik))
                                continue;
                        r = manager_flush_cache(m, iw, ik);
                        if (r < 0)
                                return bus_error_set_errnof(error, r,
                                                            "Failed to flush the %s %s cache: %m",
                                                            cache_which_to_string(iw),
                                                            kind_noun(ik));
                        flushed++;
                }
        if (flushed == 0)
                return bus_error_set_namedf(error, BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP,
                                            "No %s cache of kind \"%s\" exists in %s mode", cache,
                                            kind, config_mode_to_string(m->config->mode));
        return sd_bus_reply_method_return(message, NULL);
}

static int method_flush_kernel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *kind;
        uint64_t total = 0;
        int k, r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(message, "s", &kind);
        if (r < 0)
                return r;
        r = parse_kind(m, error, kind, true, &k);
        if (r < 0)
                return r;

        for (CtKind ik = 0; ik < _CT_KIND_MAX; ik++) {
                uint64_t n = 0;

                if (k >= 0 && (CtKind) k != ik)
                        continue;
                r = manager_flush_kernel(m, ik, &n);
                /* "all": expectations are skipped where they do not apply */
                if (r == -EOPNOTSUPP && k < 0 && ik == CT_KIND_EXPECT)
                        continue;
                if (r < 0)
                        return reply_kernel_failed(error, r, "flush", ik);
                total += n;
        }
        return sd_bus_reply_method_return(message, "t", total);
}

static int method_resync_kernel(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *kind;
        uint64_t total = 0;
        unsigned done = 0;
        int k, r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(message, "s", &kind);
        if (r < 0)
                return r;
        r = parse_kind(m, error, kind, true, &k);
        if (r < 0)
                return r;

        if (k >= 0 && !manager_has_cache(m, CACHE_INTERNAL, k))
                return reply_cache_absent(m, error, CACHE_INTERNAL, k);

        for (CtKind ik = 0; ik < _CT_KIND_MAX; ik++) {
                uint64_t n = 0;

                if ((k >= 0 && (CtKind) k != ik) || !manager_has_cache(m, CACHE_INTERNAL, ik))
                        continue;
                r = manager_resync_kernel(m, ik, &n);
                if (r == -EOPNOTSUPP)
                        return reply_cache_absent(m, error, CACHE_INTERNAL, ik);
                if (r < 0)
                        return reply_kernel_failed(error, r, "resync with", ik);
                total += n;
                done++;
        }
        if (done == 0)
                return bus_error_set_namedf(error, BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP,
                                            "There is no internal cache to resync: %s",
                                            cache_absent_reason(m, CACHE_INTERNAL, CT_KIND_CT));
        return sd_bus_reply_method_return(message, "t", total);
}

/* ---- replication: Commit, SendBulk, RequestResync, ResetTimers ---- */

/* Why a replication request does not apply, for the message of NotSupported. */
static const char *sync_absent_reason(Manager *m) {
        switch (m->config->mode) {
        case CONFIG_MODE_STATS:
                return "Stats mode does not replicate";
        case CONFIG_MODE_ALARM:
                return "ALARM mode has no bulk transfers or resync requests";
        default:
                return "replication is not running";
        }
}

static void bus_on_commit_done(Manager *m, const CommitResult *r, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *message = userdata;
        int q;

        /* The caller may have gone away meanwhile: then the reply fails, and that is all. */
        q = sd_bus_reply_method_return(message, "ttttt", r->ct_ok, r->ct_failed, r->exp_ok,
                                       r->exp_failed, r->duration_usec);
        if (q < 0)
                log_debug_errno(q, "Failed to send the reply to Commit(): %m");
}

/* ---- Promote, Demote ---- */

#define BUS_ERROR_STEP_FAILED "org.netfilter.conntrackd1.Error.StepFailed"

static void bus_on_failover_done(Manager *m, const FailoverResult *res, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *message = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int q;

        if (res->failed_step) {
                (void) bus_error_set_namedf(&error, BUS_ERROR_STEP_FAILED, res->error,
                                            "%s: step %s failed: %%m",
                                            res->promote ? "Promote" : "Demote", res->failed_step);
                q = sd_bus_reply_method_error(message, &error);
        } else {
                q = sd_bus_message_new_method_return(message, &reply);
                if (q >= 0)
                        q = sd_bus_message_append(reply, "a{sv}", 10,
                                "role", "s", strna(manager_role_to_string(m->role)),
                                "committed", "b", (int) res->committed,
                                "commit_flows", "t", res->commit.ct_ok,
                                "commit_flows_failed", "t", res->commit.ct_failed,
                                "commit_expectations", "t", res->commit.exp_ok,
                                "commit_expectations_failed", "t", res->commit.exp_failed,
                                "commit_usec", "t", res->commit.duration_usec,
                                "flushed_internal", "t", res->flushed_internal,
                                "flushed_external", "t", res->flushed_external,
                                "resync_entries", "t", res->resync_entries);
                if (q >= 0)
                        q = sd_bus_message_append(reply, "t", res->duration_usec);
                if (q >= 0)
                        q = sd_bus_send(NULL, reply, NULL);
        }
        if (q < 0)
                log_debug_errno(q, "Failed to send the reply to %s(): %m",
                                res->promote ? "Promote" : "Demote");
}

static int method_failover(sd_bus_message *message, void *userdata, sd_bus_error *error,
                           bool promote) {
        Manager *m = userdata;
        int r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        sd_bus_message_ref(message);
        r = promote ? manager_promote(m, bus_on_failover_done, message) :
                      manager_demote(m, bus_on_failover_done, message);
        if (r < 0) {
                sd_bus_message_unref(message);
                if (r == -EBUSY)
                        return bus_error_set_namedf(error, BUS_ERROR_BUSY, EBUSY,
                                                    m->failover_running ?
                                                    "a Promote or Demote is in progress" :
                                                    "a commit is in progress");
                if (r == -EOPNOTSUPP)
                        return bus_error_set_namedf(error, BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP,
                                                    "Promote and Demote need Sync mode");
                return bus_error_set_errnof(error, r, "Failed to start: %m");
        }
        /* Answered by bus_on_failover_done(), now or when the commit is finished. */
        return 1;
}

static int method_promote(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return method_failover(message, userdata, error, true);
}

static int method_demote(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return method_failover(message, userdata, error, false);
}

/* A pending Promote() whose commit will not finish (the daemon is stopping): answer it. */
static void bus_drop_pending_failover(Manager *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *message = NULL;

        if (m->failover_done != bus_on_failover_done || !m->failover_userdata)
                return;
        message = m->failover_userdata;
        m->failover_done = NULL;
        m->failover_userdata = NULL;
        m->failover_running = false;
        (void) bus_error_set_errnof(&error, ESHUTDOWN, "conntrackd is stopping: Promote was "
                                    "cancelled");
        (void) sd_bus_reply_method_error(message, &error);
}

/* A pending Commit() whose commit will not finish (the daemon is stopping): answer it. */
static void bus_drop_pending_commit(Manager *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *message = NULL;

        if (m->commit_done != bus_on_commit_done || !m->commit_userdata)
                return;
        message = m->commit_userdata;
        m->commit_done = NULL;
        m->commit_userdata = NULL;

        (void) bus_error_set_errnof(&error, ESHUTDOWN, "conntrackd is stopping: the commit was "
                                    "cancelled");
        (void) sd_bus_reply_method_error(message, &error);
}

static int method_commit(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        const char *what;
        int kind, r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        r = sd_bus_message_read(message, "s", &what);
        if (r < 0)
                return r;
        if (streq(what, ""))
                kind = -1;
        else {
                r = parse_kind(m, error, what, true, &kind);
                if (r < 0)
                        return r;
        }

        r = manager_commit(m, kind, bus_on_commit_done, message);
        if (r == -EBUSY)
                return bus_error_set_namedf(error, BUS_ERROR_BUSY, EBUSY,
                                            "commit already in progress");
        if (r == -EOPNOTSUPP)
                return reply_cache_absent(m, error, CACHE_EXTERNAL,
                                          kind == CT_KIND_EXPECT ? CT_KIND_EXPECT : CT_KIND_CT);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to start the commit: %m");

        /* Answered by bus_on_commit_done() when the commit is finished. */
        sd_bus_message_ref(message);
        return 1;
}

static int method_send_bulk(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        r = manager_send_bulk(m);
        if (r == -EOPNOTSUPP)
                return bus_error_set_namedf(error, BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP,
                                            "Cannot send a bulk update: %s",
                                            sync_absent_reason(m));
        if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to send a bulk update: %m");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_request_resync(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        r = manager_request_resync(m);
        if (r == -EOPNOTSUPP)
                return bus_error_set_namedf(error, BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP,
                                            "Cannot request a resync: %s", sync_absent_reason(m));
        if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to request a resync: %m");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_reset_timers(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;
        r = manager_reset_timers(m);
        if (r == -EALREADY)
                /* Scheduled already: it stays as it is, which is what was asked for. */
                log_info("Scheduled flush of the kernel table already pending, left as it is");
        else if (r == -EOPNOTSUPP)
                return bus_error_set_namedf(error, BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP,
                                            "Cannot schedule a flush: %s", sync_absent_reason(m));
        else if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to schedule the flush: %m");
        return sd_bus_reply_method_return(message, NULL);
}

/* GetStatistics: one dictionary entry. */
static int stat_append(sd_bus_message *reply, const char *group, const char *name, uint64_t v) {
        char key[64];

        snprintf(key, sizeof key, "%s.%s", group, name);
        return sd_bus_message_append(reply, "{sv}", key, "t", v);
}

/* One cache group: the counters of legacy -s, and with 'extended' those of -s cache. */
static int stats_append_cache(sd_bus_message *reply, Manager *m, CacheWhich w, CtKind k,
                              bool extended) {
        Cache *c = manager_get_cache(m, w, k);
        const CacheStats *s;
        char group[32];
        uint64_t size;
        int r;

        if (!c)
                return 0;       /* absent from this mode: absent from the dictionary */
        s = cache_stats(c);
        size = cache_size(c);
        snprintf(group, sizeof group, "%s%s", cache_which_to_string(w),
                 k == CT_KIND_EXPECT ? "-expect" : "");

        const struct {
                const char *name;
                uint64_t value;
                bool extended;
        } keys[] = {
                /* No dead objects are kept: every object is active and hashed. */
                { "objects", size, true },
                { "active", size, false },
                { "hashed", size, true },
                { "add_ok", s->add_ok, false },
                { "add_fail", s->add_fail, false },
                { "add_fail_nomem", s->add_fail_nomem, true },
                { "add_fail_nospace", s->add_fail_nospace, true },
                { "upd_ok", s->upd_ok, false },
                { "upd_fail", s->upd_fail, false },
                { "upd_fail_enoent", s->upd_fail_enoent, true },
                { "del_ok", s->del_ok, false },
                { "del_fail", s->del_fail, false },
                { "del_fail_enoent", s->del_fail_enoent, true },
                { "limit", cache_hash_limit(c), true },
                { "buckets", cache_hash_size(c), true },
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                if (keys[i].extended && !extended)
                        continue;
                r = stat_append(reply, group, keys[i].name, keys[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int stats_append_caches(sd_bus_message *reply, Manager *m, CtKind only_kind, bool extended) {
        int r;

        for (CtKind k = 0; k < _CT_KIND_MAX; k++) {
                if (only_kind >= 0 && k != only_kind)
                        continue;
                for (CacheWhich w = 0; w < _CACHE_WHICH_MAX; w++) {
                        r = stats_append_cache(reply, m, w, k, extended);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int stats_append_traffic(sd_bus_message *reply, Manager *m) {
        int r;

        r = stat_append(reply, "traffic", "bytes", m->counters.traffic_bytes);
        if (r >= 0)
                r = stat_append(reply, "traffic", "packets", m->counters.traffic_packets);
        return r;
}

/* Stats mode: the flow log's counters (absent in the other modes). */
static int stats_append_flow_log(sd_bus_message *reply, Manager *m) {
        const FlowLogStats *s;
        int r;

        if (!m->flow_log)
                return 0;
        s = flow_log_stats(m->flow_log);
        r = stat_append(reply, "flowlog", "records", s->records);
        if (r >= 0)
                r = stat_append(reply, "flowlog", "lines_written", s->lines_written);
        if (r >= 0)
                r = stat_append(reply, "flowlog", "lines_lost", s->lines_lost);
        if (r >= 0)
                r = stat_append(reply, "flowlog", "reopens", s->reopens);
        return r;
}

static int stats_append_runtime(sd_bus_message *reply, Manager *m) {
        const KernelStats *ks = m->kernel ? &m->kernel->stats : &(KernelStats) {};
        const uint64_t (*ev)[_KERNEL_EVENT_MAX] = m->counters.events;
        const struct {
                const char *group, *name;
                uint64_t value;
        } keys[] = {
                { "runtime", "uptime", manager_uptime_sec(m) },
                { "netlink", "events_received", ks->events_received },
                { "netlink", "events_filtered", m->counters.events_filtered },
                { "netlink", "events_unknown", ks->events_unknown },
                { "netlink", "catch_event_failed", ks->events_failed },
                { "netlink", "dump_unknown", ks->dump_unknown },
                { "netlink", "overruns", ks->overruns },
                { "netlink", "kernel_flushes", m->counters.kernel_flushes },
                { "netlink", "kernel_resyncs", m->counters.kernel_resyncs },
                { "netlink", "buffer_size", m->kernel ? m->kernel->buffer_size : 0 },
                { "netlink", "overrun_resyncs", m->counters.overrun_resyncs },
                { "netlink", "cache_full", m->counters.cache_full },
                /* the events handled, by kind and type */
                { "netlink", "events_new", ev[CT_KIND_CT][KERNEL_EVENT_NEW] },
                { "netlink", "events_update", ev[CT_KIND_CT][KERNEL_EVENT_UPDATE] },
                { "netlink", "events_destroy", ev[CT_KIND_CT][KERNEL_EVENT_DESTROY] },
                { "netlink", "expect_events_new", ev[CT_KIND_EXPECT][KERNEL_EVENT_NEW] },
                { "netlink", "expect_events_update", ev[CT_KIND_EXPECT][KERNEL_EVENT_UPDATE] },
                { "netlink", "expect_events_destroy", ev[CT_KIND_EXPECT][KERNEL_EVENT_DESTROY] },
                /* No child processes, no select(), no wait(), no raw reads: always 0. */
                { "runtime", "child_failed", 0 },
                { "runtime", "child_segfault", 0 },
                { "runtime", "child_termsig", 0 },
                { "runtime", "select_failed", 0 },
                { "runtime", "wait_failed", 0 },
                { "runtime", "local_read_failed", 0 },
                { "runtime", "local_unknown_request", m->counters.bus_requests_failed },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                r = stat_append(reply, keys[i].group, keys[i].name, keys[i].value);
                if (r < 0)
                        return r;
        }
        return stats_append_flow_log(reply, m);
}

/* The sections that manager_append_sync_statistics() fills. */
static bool section_has_sync_counters(const char *section) {
        static const char *const sections[] = {
                "general", "expect", "network", "link", "queue", "rsqueue",
        };

        for (size_t i = 0; i < ELEMENTSOF(sections); i++)
                if (streq(section, sections[i]))
                        return true;
        return false;
}

static int method_get_statistics(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Manager *m = userdata;
        const char *section;
        ssize_t which = -1;     /* index into stats_sections; -1 = all */
        int r;

        r = sd_bus_message_read(message, "s", &section);
        if (r < 0)
                return r;
        if (!streq(section, "")) {
                for (size_t i = 0; i < ELEMENTSOF(stats_sections); i++)
                        if (streq(section, stats_sections[i]))
                                which = (ssize_t) i;
                if (which < 0)
                        return reply_invalid_arg(m, error, "section", section,
                                                 "\"\" (all), \"general\", \"expect\", \"cache\", "
                                                 "\"runtime\", \"network\", \"link\", \"queue\", "
                                                 "\"rsqueue\" or \"process\"");
        }

        r = sd_bus_message_new_method_return(message, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}", "mode", "s",
                                  strna(config_mode_to_string(m->config->mode)));
        if (r < 0)
                return r;

        if (which < 0) {
                /* Everything once: the "cache" keys include those of "general" and "expect". */
                r = stats_append_caches(reply, m, (CtKind) -1, true);
                if (r >= 0)
                        r = stats_append_traffic(reply, m);
                if (r >= 0)
                        r = stats_append_runtime(reply, m);
        } else if (streq(stats_sections[which], "general")) {
                r = stats_append_caches(reply, m, CT_KIND_CT, false);
                if (r >= 0)
                        r = stats_append_traffic(reply, m);
        } else if (streq(stats_sections[which], "expect")) {
                r = stats_append_caches(reply, m, CT_KIND_EXPECT, false);
                if (r >= 0)
                        r = stats_append_traffic(reply, m);
        } else if (streq(stats_sections[which], "cache"))
                r = stats_append_caches(reply, m, (CtKind) -1, true);
        else if (streq(stats_sections[which], "runtime"))
                r = stats_append_runtime(reply, m);
        /* The counters of replication (messages, links, queues; nothing in Stats mode).
         * "process": "mode" only, there are no child processes. */
        if (r >= 0 && (which < 0 || section_has_sync_counters(stats_sections[which])))
                r = manager_append_sync_statistics(m, which < 0 ? "" : stats_sections[which],
                                                   reply);
        /* keepalived.* (Sync { Keepalived }) */
        if (r >= 0 && (which < 0 || streq(stats_sections[which], "runtime")))
                r = keepalived_follow_append_statistics(m->keepalived, reply);
        /* store.* (systemd's fd store across a restart; not in Stats mode) */
        if (r >= 0 && (which < 0 || streq(stats_sections[which], "general")))
                r = manager_store_append_statistics(m, reply);
        if (r < 0)
                return r;

        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* The first error of a rejected config, "FILE:LINE: message", or NULL. */
static char *config_first_error(const char *path) {
        _cleanup_(config_freep) Config *c = NULL;
        ConfigDiagnostics diag = {};
        char *ret = NULL;
        int r;

        r = config_load_file(path, &c, &diag);
        if (r < 0)
                for (size_t i = 0; i < diag.n && !ret; i++)
                        if (diag.items[i].level <= LOG_ERR && diag.items[i].message)
                                ret = strdup(diag.items[i].message);
        config_diagnostics_clear(&diag);
        return ret;
}

static int method_reload(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;

        r = manager_reload(m);
        if (r == -EINVAL) {
                /* manager_reload() logged the diagnostics; the caller gets the first error. The
                 * file is read again for it only on this rare path. */
                _cleanup_free_ char *why = config_first_error(m->config_path);

                return bus_error_set_namedf(error, BUS_ERROR_CONFIG_INVALID, ENOEXEC,
                                            "%s; the running configuration stays",
                                            why ?: "The configuration file was rejected (see the log)");
        }
        if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to reload the configuration from %s: %m",
                                            m->config_path);
        return sd_bus_reply_method_return(message, NULL);
}

static int method_reopen_log_files(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;

        r = manager_reopen_log_files(m);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to reopen the log files: %m");
        return sd_bus_reply_method_return(message, NULL);
}

static int method_quit(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        int r;

        r = verify_root(m, message, error);
        if (r < 0)
                return r;

        log_info("Shutdown requested over D-Bus");
        r = manager_quit(m);
        if (r < 0)
                return bus_error_set_errnof(error, r, "Failed to shut down: %m");
        /* Written at once: the reply goes out before the loop finishes. */
        return sd_bus_reply_method_return(message, NULL);
}

/*
 * EmitsChangedSignal as the XML says: "true" = EMITS_CHANGE (no annotation served), "const" =
 * PROPERTY_CONST, "false" = EXPLICIT without EMITS_CHANGE (read on demand, not in GetAll()).
 * Version and CompatibleVersion carry no annotation in the XML, which means "true".
 */
#define PROP_CHANGES    SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define PROP_ON_DEMAND  SD_BUS_VTABLE_PROPERTY_EXPLICIT

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),

        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("CompatibleVersion", "s", property_get_compatible_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Mode", "s", property_get_mode, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("Role", "s", property_get_role, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("InSync", "b", property_get_in_sync, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("ConfigFile", "s", property_get_config_file, 0,
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("InternalCacheSize", "t", property_get_cache_size, 0, PROP_ON_DEMAND),
        SD_BUS_PROPERTY("ExternalCacheSize", "t", property_get_cache_size, 0, PROP_ON_DEMAND),
        SD_BUS_PROPERTY("InternalExpectCacheSize", "t", property_get_cache_size, 0, PROP_ON_DEMAND),
        SD_BUS_PROPERTY("ExternalExpectCacheSize", "t", property_get_cache_size, 0, PROP_ON_DEMAND),
        SD_BUS_PROPERTY("CacheLimit", "t", property_get_cache_limit, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("EventsReceived", "t", property_get_counter, 0, PROP_ON_DEMAND),
        SD_BUS_PROPERTY("NetlinkOverruns", "t", property_get_counter, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("NetlinkBufferSize", "u", property_get_netlink_buffer_size, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("KernelResyncs", "t", property_get_counter, 0, PROP_CHANGES),
        SD_BUS_PROPERTY("CacheFull", "t", property_get_counter, 0, PROP_ON_DEMAND),
        SD_BUS_PROPERTY("UptimeSeconds", "t", property_get_counter, 0, PROP_ON_DEMAND),

        SD_BUS_METHOD_WITH_ARGS("DumpCache",
                                SD_BUS_ARGS("s", cache, "s", kind, "s", format),
                                SD_BUS_RESULT("h", fd),
                                method_dump_cache, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("FlushCache",
                                SD_BUS_ARGS("s", cache, "s", kind),
                                SD_BUS_NO_RESULT,
                                method_flush_cache, 0),
        SD_BUS_METHOD_WITH_ARGS("FlushKernel",
                                SD_BUS_ARGS("s", kind),
                                SD_BUS_RESULT("t", deleted),
                                method_flush_kernel, 0),
        SD_BUS_METHOD_WITH_ARGS("ResyncKernel",
                                SD_BUS_ARGS("s", kind),
                                SD_BUS_RESULT("t", entries),
                                method_resync_kernel, 0),
        SD_BUS_METHOD_WITH_ARGS("GetStatistics",
                                SD_BUS_ARGS("s", section),
                                SD_BUS_RESULT("a{sv}", statistics),
                                method_get_statistics, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Commit",
                                SD_BUS_ARGS("s", what),
                                SD_BUS_RESULT("t", flows_ok, "t", flows_failed,
                                              "t", expectations_ok, "t", expectations_failed,
                                              "t", duration_usec),
                                method_commit, 0),
        SD_BUS_METHOD_WITH_ARGS("SendBulk", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_send_bulk, 0),
        SD_BUS_METHOD_WITH_ARGS("RequestResync", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_request_resync, 0),
        SD_BUS_METHOD_WITH_ARGS("ResetTimers", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_reset_timers, 0),
        SD_BUS_METHOD_WITH_ARGS("Promote", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a{sv}", results, "t", duration_usec),
                                method_promote, 0),
        SD_BUS_METHOD_WITH_ARGS("Demote", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a{sv}", results, "t", duration_usec),
                                method_demote, 0),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload, 0),
        SD_BUS_METHOD_WITH_ARGS("ReopenLogFiles", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT,
                                method_reopen_log_files, 0),
        SD_BUS_METHOD_WITH_ARGS("Quit", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_quit, 0),

        SD_BUS_SIGNAL_WITH_ARGS("Overrun",
                                SD_BUS_ARGS("t", total, "u", buffer_size, "u", resync_in_sec), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ResyncDone",
                                SD_BUS_ARGS("s", kind, "t", entries, "t", duration_usec), 0),
        SD_BUS_SIGNAL_WITH_ARGS("CommitDone",
                                SD_BUS_ARGS("t", flows_ok, "t", flows_failed,
                                            "t", expectations_ok, "t", expectations_failed,
                                            "t", duration_usec), 0),

        SD_BUS_VTABLE_END,
};

/* ---- signals: to the system bus and to every private connection ---- */

typedef int (*BusEmitFunc)(Manager *m, sd_bus *bus, const void *data);

static void bus_emit_everywhere(Manager *m, BusEmitFunc f, const void *data, const char *what) {
        int r;

        if (m->bus) {
                r = f(m, m->bus, data);
                if (r < 0)
                        log_debug_errno(r, "Failed to emit %s on the system bus: %m", what);
        }
        for (size_t i = 0; i < m->n_private_buses; i++) {
                /* Not to a peer still authenticating: a message before the end of its SASL
                 * exchange breaks the connection (busctl saw EIO on a get-property made just
                 * when InSync changed). It subscribes to nothing before it is running anyway. */
                if (sd_bus_is_ready(m->private_buses[i]) <= 0)
                        continue;
                r = f(m, m->private_buses[i], data);
                if (r < 0)
                        log_debug_errno(r, "Failed to emit %s on a private connection: %m", what);
        }
}

static uint32_t overrun_resync_in_sec(Manager *m) {
        uint64_t when, now;

        if (!m->resync_timer || sd_event_source_get_time(m->resync_timer, &when) < 0)
                return 0;
        now = manager_now(m);
        if (when <= now)
                return 0;
        return (uint32_t) MIN((when - now + USEC_PER_SEC - 1) / USEC_PER_SEC, (uint64_t) UINT32_MAX);
}

typedef struct OverrunData {
        uint64_t total;
        uint32_t buffer_size, resync_in_sec;
} OverrunData;

static int emit_overrun(Manager *m, sd_bus *bus, const void *data) {
        const OverrunData *d = data;
        int r;

        r = sd_bus_emit_signal(bus, BUS_PATH, BUS_INTERFACE, "Overrun", "tuu", d->total,
                               d->buffer_size, d->resync_in_sec);
        if (r < 0)
                return r;
        return sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_INTERFACE, "NetlinkOverruns",
                                              "NetlinkBufferSize", NULL);
}

void manager_bus_emit_overrun(Manager *m) {
        OverrunData d = {
                .total = m->kernel ? m->kernel->stats.overruns : 0,
                .buffer_size = m->kernel ? m->kernel->buffer_size : 0,
                .resync_in_sec = overrun_resync_in_sec(m),
        };

        bus_emit_everywhere(m, emit_overrun, &d, "Overrun");
        m->last_overruns_emitted = d.total;
}

typedef struct ResyncDoneData {
        const char *kind;
        uint64_t entries, duration_usec;
} ResyncDoneData;

static int emit_resync_done(Manager *m, sd_bus *bus, const void *data) {
        const ResyncDoneData *d = data;
        int r;

        r = sd_bus_emit_signal(bus, BUS_PATH, BUS_INTERFACE, "ResyncDone", "stt", d->kind,
                               d->entries, d->duration_usec);
        if (r < 0)
                return r;
        return sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_INTERFACE, "KernelResyncs", NULL);
}

void manager_bus_emit_resync_done(Manager *m, CtKind kind, uint64_t entries, uint64_t duration_usec) {
        ResyncDoneData d = {
                .kind = strna(ct_kind_to_string(kind)),
                .entries = entries,
                .duration_usec = duration_usec,
        };

        bus_emit_everywhere(m, emit_resync_done, &d, "ResyncDone");
}

static int emit_commit_done(Manager *m, sd_bus *bus, const void *data) {
        const CommitResult *r = data;

        return sd_bus_emit_signal(bus, BUS_PATH, BUS_INTERFACE, "CommitDone", "ttttt", r->ct_ok,
                                  r->ct_failed, r->exp_ok, r->exp_failed, r->duration_usec);
}

void manager_bus_emit_commit_done(Manager *m, const CommitResult *r) {
        bus_emit_everywhere(m, emit_commit_done, r, "CommitDone");
}

static int emit_state_changed(Manager *m, sd_bus *bus, const void *data) {
        /* Back to "running" (start, end of a reload): Mode and CacheLimit may have changed too. */
        if (m->state == MANAGER_RUNNING)
                return sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_INTERFACE, "State", "Mode",
                                                      "CacheLimit", NULL);
        return sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_INTERFACE, "State", NULL);
}

void manager_bus_emit_state_changed(Manager *m) {
        bus_emit_everywhere(m, emit_state_changed, NULL, "PropertiesChanged(State)");
}

static int emit_role_changed(Manager *m, sd_bus *bus, const void *data) {
        return sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_INTERFACE, "Role", NULL);
}

void manager_bus_emit_role_changed(Manager *m) {
        bus_emit_everywhere(m, emit_role_changed, NULL, "PropertiesChanged(Role)");
}

static int emit_in_sync_changed(Manager *m, sd_bus *bus, const void *data) {
        return sd_bus_emit_properties_changed(bus, BUS_PATH, BUS_INTERFACE, "InSync", NULL);
}

void manager_bus_emit_in_sync_changed(Manager *m) {
        bus_emit_everywhere(m, emit_in_sync_changed, NULL, "PropertiesChanged(InSync)");
}

/* ---- the system bus ---- */

static int on_name_request_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        uint32_t ret;
        int r;

        if (e) {
                log_warning_errno(sd_bus_error_get_errno(e),
                                  "Failed to acquire the bus name %s, serving under the unique name "
                                  "only: %s", BUS_NAME, strna(e->message));
                return 0;
        }
        r = sd_bus_message_read(reply, "u", &ret);
        if (r < 0) {
                log_warning_errno(r, "Failed to parse the reply to RequestName(%s): %m", BUS_NAME);
                return 0;
        }
        if (ret == 1 /* DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER */ ||
            ret == 4 /* DBUS_REQUEST_NAME_REPLY_ALREADY_OWNER */)
                log_debug("Acquired the bus name %s", BUS_NAME);
        else
                log_warning("The bus name %s is owned by another process (is another conntrackd "
                            "running?); serving under the unique name only", BUS_NAME);
        return 0;
}

static int on_system_bus_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        sd_bus *bus = sd_bus_message_get_bus(message);

        if (bus != m->bus || sd_bus_is_open(bus) > 0)
                return 0;
        log_warning("Disconnected from the system bus; the private socket stays available");
        m->bus = sd_bus_close_unref(m->bus);
        return 0;
}

static int bus_setup_system(Manager *m) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_open_system_with_description(&bus, "system");
        if (r < 0) {
                log_info_errno(r, "System bus not reachable, serving the private socket only: %m");
                return 0;
        }

        r = sd_bus_add_object_vtable(bus, NULL, BUS_PATH, BUS_INTERFACE, manager_vtable, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the object to the system bus: %m");
        r = sd_bus_match_signal_async(bus, NULL, BUS_LOCAL_INTERFACE, BUS_LOCAL_PATH,
                                      BUS_LOCAL_INTERFACE, "Disconnected",
                                      on_system_bus_disconnected, NULL, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the system bus connection: %m");
        r = sd_bus_request_name_async(bus, NULL, BUS_NAME, 0, on_name_request_reply, m);
        if (r < 0)
                log_warning_errno(r, "Failed to request the bus name %s: %m", BUS_NAME);
        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the system bus to the event loop: %m");

        m->bus = TAKE_PTR(bus);
        return 0;
}

/* ---- the private socket ---- */

static void private_bus_remove(Manager *m, sd_bus *bus) {
        for (size_t i = 0; i < m->n_private_buses; i++)
                if (m->private_buses[i] == bus) {
                        m->private_buses[i] = m->private_buses[--m->n_private_buses];
                        sd_bus_close_unref(bus);
                        return;
                }
}

static int on_private_disconnected(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        Manager *m = userdata;
        sd_bus *bus = sd_bus_message_get_bus(message);

        /* The signal is synthesized by sd-bus when the peer goes away; a peer that sends one
         * itself while connected is ignored. */
        if (sd_bus_is_open(bus) > 0)
                return 0;
        private_bus_remove(m, bus);
        log_debug("Private connection closed (%zu left)", m->n_private_buses);
        return 0;
}

/*
 * A small part of the bus driver's interface on private connections, so that clients which
 * always register first (busctl --address=, sd_bus_set_bus_client) work peer-to-peer too. There
 * is no bus: Hello names the peer, matches are accepted (every signal reaches the peer anyway).
 */
static int method_driver_hello(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        return sd_bus_reply_method_return(message, "s", ":1.1");
}

static int method_driver_noop_match(sd_bus_message *message, void *userdata, sd_bus_error *error) {
        const char *rule;
        int r;

        r = sd_bus_message_read(message, "s", &rule);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(message, NULL);
}

static int method_driver_get_name_owner(sd_bus_message *message, void *userdata,
                                        sd_bus_error *error) {
        const char *name;
        int r;

        r = sd_bus_message_read(message, "s", &name);
        if (r < 0)
                return r;
        if (!streq(name, BUS_NAME) && !streq(name, "org.freedesktop.DBus"))
                return sd_bus_error_setf(error, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                         "Name \"%s\" has no owner on this peer-to-peer connection",
                                         name);
        return sd_bus_reply_method_return(message, "s", ":1.0");
}

static const sd_bus_vtable driver_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Hello", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", unique_name),
                                method_driver_hello, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT,
                                method_driver_noop_match, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT,
                                method_driver_noop_match, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetNameOwner", SD_BUS_ARGS("s", name), SD_BUS_RESULT("s", owner),
                                method_driver_get_name_owner, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END
};

/*
 * sd-bus does not look again at bytes that arrived together with the end of the authentication
 * (libdbus clients such as dbus-send --peer or python-dbus send BEGIN and their first call in one
 * write), and nothing wakes the loop for them: the call would wait for the client's timeout. So
 * after every dispatch, each private connection processes what it has buffered.
 */
static int on_private_post(sd_event_source *s, void *userdata) {
        Manager *m = userdata;

        for (size_t i = 0; i < m->n_private_buses;) {
                sd_bus *bus = m->private_buses[i];
                unsigned rounds = 0;
                int r;

                do
                        r = sd_bus_process(bus, NULL);
                while (r > 0 && ++rounds < 64 && i < m->n_private_buses && m->private_buses[i] == bus);

                /* a disconnect removes the bus and moves the last one to index i */
                if (i < m->n_private_buses && m->private_buses[i] == bus)
                        i++;
        }
        return 0;
}

/* Serve the vtable on an accepted connection. Takes 'fd' in all cases. */
static int private_bus_add(Manager *m, int fd) {
        _cleanup_(sd_bus_close_unrefp) sd_bus *bus = NULL;
        _cleanup_close_ int fd_owned = fd;
        sd_bus **array;
        sd_id128_t id;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        (void) sd_bus_set_description(bus, "private");
        r = sd_bus_set_fd(bus, fd, fd);
        if (r < 0)
                return r;
        TAKE_FD(fd_owned);              /* the bus closes it now */
        r = sd_id128_randomize(&id);
        if (r < 0)
                return r;
        r = sd_bus_set_server(bus, 1, id);
        if (r < 0)
                return r;
        /* Only root can connect (0600, or the socket unit's mode); the handlers check the peer's
         * uid themselves, counted, rather than sd-bus' CAP_SYS_ADMIN test of untrusted buses. */
        r = sd_bus_set_trusted(bus, 1);
        if (r < 0)
                return r;
        /* EXTERNAL authentication and the socket's peer credentials: the root check needs them. */
        r = sd_bus_negotiate_creds(bus, 1, SD_BUS_CREDS_PID | SD_BUS_CREDS_UID | SD_BUS_CREDS_EUID |
                                                   SD_BUS_CREDS_GID | SD_BUS_CREDS_EGID);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, BUS_PATH, BUS_INTERFACE, manager_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                     driver_vtable, m);
        if (r < 0)
                return r;
        r = sd_bus_match_signal(bus, NULL, NULL, BUS_LOCAL_PATH, BUS_LOCAL_INTERFACE,
                                "Disconnected", on_private_disconnected, m);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(bus, m->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        /* Not closed when the loop exits: manager_free() closes these last, once the lock and
         * the sockets are released, and a client of Quit() waits for that close. */
        r = sd_bus_set_close_on_exit(bus, false);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;

        array = reallocarray(m->private_buses, m->n_private_buses + 1, sizeof *array);
        if (!array)
                return -ENOMEM;
        m->private_buses = array;
        m->private_buses[m->n_private_buses++] = TAKE_PTR(bus);
        return 0;
}

static int on_private_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        int cfd, r;

        cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
                r = negative_errno();
                if (r == -EAGAIN || r == -EINTR)
                        return 0;
                if (ratelimit_below(&m->bus_ratelimit))
                        log_warning_errno(r, "Failed to accept a connection on the private socket: %m");
                return 0;
        }

        if (m->n_private_buses >= MANAGER_PRIVATE_BUSES_MAX) {
                if (ratelimit_below(&m->bus_ratelimit))
                        log_warning("Refusing a connection on the private socket: %u connections "
                                    "are open already", (unsigned) MANAGER_PRIVATE_BUSES_MAX);
                safe_close(cfd);
                return 0;
        }

        r = private_bus_add(m, cfd);
        if (r < 0 && ratelimit_below(&m->bus_ratelimit))
                log_warning_errno(r, "Failed to set up a connection on the private socket: %m");
        else if (r >= 0)
                log_debug("Private connection accepted (%zu open)", m->n_private_buses);
        return 0;
}

/* The fd passed by socket activation under the name "control", if any. */
static int private_socket_from_activation(Manager *m) {
        char **names = NULL;
        int n, fd = -EBADF, r = 0;

        n = sd_listen_fds_with_names(false, &names);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets passed by the service manager: %m");

        for (int i = 0; i < n; i++) {
                if (fd < 0 && names && names[i] && streq(names[i], PRIVATE_SOCKET_NAME))
                        fd = SD_LISTEN_FDS_START + i;
                if (names)
                        free(names[i]);
        }
        free(names);
        if (fd < 0)
                return 0;

        r = sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to check the socket \"%s\" passed by the service "
                                       "manager: %m", PRIVATE_SOCKET_NAME);
        if (r == 0)
                return log_error_errno(EINVAL, "The socket \"%s\" passed by the service manager is not "
                                       "a listening AF_UNIX stream socket", PRIVATE_SOCKET_NAME);

        r = fcntl(fd, F_GETFL);
        if (r < 0 || fcntl(fd, F_SETFL, r | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return log_error_errno(negative_errno(), "Failed to set up the socket \"%s\": %m",
                                       PRIVATE_SOCKET_NAME);

        m->private_fd = fd;
        m->private_fd_activated = true;
        log_debug("Using the socket-activated private socket (fd %d)", fd);
        return 1;
}

/* Remove what a previous instance left at 'path'; refuse to touch anything but a dead socket. */
static int private_socket_remove_stale(const char *path, const struct sockaddr_un *sa,
                                       socklen_t salen) {
        _cleanup_close_ int probe = -EBADF;
        struct stat st;

        if (lstat(path, &st) < 0) {
                if (errno == ENOENT)
                        return 0;
                return log_error_errno(negative_errno(), "Failed to check %s: %m", path);
        }
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(EEXIST, "%s exists and is not a socket; not removing it", path);

        probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (probe < 0)
                return log_error_errno(negative_errno(), "Failed to create a socket: %m");
        if (connect(probe, (const struct sockaddr *) sa, salen) >= 0 || errno == EAGAIN)
                return log_error_errno(EADDRINUSE, "%s is in use by a running process (another "
                                       "conntrackd?)", path);

        if (unlink(path) < 0 && errno != ENOENT)
                return log_error_errno(negative_errno(), "Failed to remove the stale socket %s: %m",
                                       path);
        log_debug("Removed the stale socket %s", path);
        return 0;
}

static int private_socket_bind(Manager *m, const char *path) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(path);
        socklen_t salen;
        mode_t old_umask;
        int r;

        if (len == 0 || len >= sizeof sa.sun_path)
                return log_error_errno(ENAMETOOLONG, "UNIX socket path %s is too long (at most %zu "
                                       "characters)", path, sizeof sa.sun_path - 1);
        memcpy(sa.sun_path, path, len);
        salen = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + len + 1);

        r = private_socket_remove_stale(path, &sa, salen);
        if (r < 0)
                return r;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(negative_errno(), "Failed to create the private socket: %m");

        /* Mode 0600 from the start: no window in which others could connect. */
        old_umask = umask(0177);
        r = bind(fd, (const struct sockaddr *) &sa, salen) < 0 ? negative_errno() : 0;
        umask(old_umask);
        if (r < 0)
                return log_error_errno(r, "Failed to bind the private socket to %s: %m", path);

        if (listen(fd, PRIVATE_SOCKET_BACKLOG) < 0) {
                r = negative_errno();
                (void) unlink(path);
                return log_error_errno(r, "Failed to listen on %s: %m", path);
        }

        m->private_fd = TAKE_FD(fd);
        m->private_fd_activated = false;
        return 0;
}

static int bus_setup_private(Manager *m) {
        int r;

        r = private_socket_from_activation(m);
        if (r < 0)
                return r;
        if (r == 0) {
                if (!m->config->unix_path) {
                        log_notice("No UNIX { Path } in %s and no socket passed by the service "
                                   "manager: no private control socket",
                                   m->config_path ?: "the configuration");
                        return 0;
                }
                r = private_socket_bind(m, m->config->unix_path);
                if (r < 0)
                        return r;
        }

        r = sd_event_add_io(m->event, &m->private_source, m->private_fd, EPOLLIN,
                            on_private_connection, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the private socket: %m");
        (void) sd_event_source_set_description(m->private_source, "private-socket");
        r = sd_event_add_post(m->event, &m->private_post_source, on_private_post, m);
        if (r < 0)
                return log_error_errno(r, "Failed to add the private connections' post source: %m");
        /* A storm of connections (or EMFILE) must not starve the loop. */
        r = sd_event_source_set_ratelimit(m->private_source, USEC_PER_SEC, 512);
        if (r < 0)
                log_debug_errno(r, "Failed to rate-limit the private socket: %m");
        return 0;
}

/* ---- setup and teardown ---- */

int manager_bus_setup(Manager *m) {
        int r;

        m->bus_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 5);

        r = bus_errors_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the D-Bus error names: %m");

        if (m->connect_system_bus) {
                r = bus_setup_system(m);
                if (r < 0)
                        return r;
        }
        return bus_setup_private(m);
}

void manager_bus_done(Manager *m) {
        bus_drop_pending_commit(m);
        bus_drop_pending_failover(m);
        m->private_source = sd_event_source_disable_unref(m->private_source);
        m->private_post_source = sd_event_source_disable_unref(m->private_post_source);

        if (m->private_fd >= 0) {
                if (!m->private_fd_activated && m->config && m->config->unix_path &&
                    unlink(m->config->unix_path) < 0 && errno != ENOENT)
                        log_debug_errno(negative_errno(), "Failed to remove %s: %m",
                                        m->config->unix_path);
                m->private_fd = safe_close(m->private_fd);
        }
        m->private_fd_activated = false;

        m->bus = sd_bus_flush_close_unref(m->bus);
}

void manager_bus_close_private(Manager *m) {
        /* No sd_bus_flush() here: it waits without a limit, for the end of the authentication
         * of a peer that connected and said nothing, or for a peer that stopped reading. What
         * the handlers sent (the reply to Quit()) is written at once and stays in the socket for
         * the peer after the close; only what was still queued for a peer that does not read is
         * lost. The close itself tells a waiting client (conntrackd -k) that the daemon is done. */
        for (size_t i = 0; i < m->n_private_buses; i++)
                sd_bus_close_unref(m->private_buses[i]);
        free(m->private_buses);
        m->private_buses = NULL;
        m->n_private_buses = 0;
}
