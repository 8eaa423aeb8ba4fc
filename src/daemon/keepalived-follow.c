/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Following a keepalived VRRP instance over D-Bus: see keepalived-follow.h for what is followed
 * and what each state does. Everything runs on the manager's loop: the matches on the system bus,
 * one method call in flight at a time (the owner of keepalived's name, the lookup of the instance,
 * its State), one Promote/Demote at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keepalived-follow.h"
#include "log.h"
#include "manager.h"
#include "string-table.h"

#define KEEPALIVED_ROOT_PATH            "/org/keepalived/Vrrp1"
#define KEEPALIVED_INSTANCE_INTERFACE   "org.keepalived.Vrrp1.Instance"
#define KEEPALIVED_VRRP_INTERFACE       "org.keepalived.Vrrp1.Vrrp"

#define LOOKUP_OBJECTS_MAX      512     /* objects introspected by one lookup */
#define LOOKUP_DEPTH_MAX        10      /* path elements below KEEPALIVED_ROOT_PATH */
#define CHILDREN_MAX            256     /* child nodes taken from one Introspect reply */
#define CALL_TIMEOUT_USEC       (5 * USEC_PER_SEC)
#define RETRY_USEC              (100 * USEC_PER_MSEC)   /* Promote/Demote refused: busy */

static const char *const keepalived_state_table[_KEEPALIVED_STATE_MAX] = {
        [KEEPALIVED_INIT] = "INIT",
        [KEEPALIVED_BACKUP] = "BACKUP",
        [KEEPALIVED_MASTER] = "MASTER",
        [KEEPALIVED_FAULT] = "FAULT",
        [KEEPALIVED_STOP] = "STOP",
};

DEFINE_STRING_TABLE(keepalived_state, KeepalivedState);

KeepalivedState keepalived_state_from_number(uint32_t n) {
        switch (n) {
        case 0:
                return KEEPALIVED_INIT;
        case 1:
                return KEEPALIVED_BACKUP;
        case 2:
                return KEEPALIVED_MASTER;
        case 3:
                return KEEPALIVED_FAULT;
        case 97:        /* the instance was deleted by a reload */
        case 98:
                return KEEPALIVED_STOP;
        default:
                return _KEEPALIVED_STATE_INVALID;
        }
}

typedef enum LookupStep {
        LOOKUP_INTROSPECT,      /* list the children and interfaces of an object */
        LOOKUP_NAME,            /* read Name of an Instance object */
} LookupStep;

typedef struct LookupItem {
        LookupStep step;
        char *path;
} LookupItem;

struct KeepalivedFollow {
        Manager *manager;
        sd_bus *bus;
        char *instance;
        char *service;
        char *track_file;

        sd_bus_slot *owner_match;       /* NameOwnerChanged of the service */
        sd_bus_slot *status_match;      /* VrrpStatusChange of every instance */
        sd_bus_slot *reload_match;      /* VrrpReloaded */
        sd_bus_slot *call;              /* the one call in flight */
        char *call_path;                /* the object the lookup call is about */
        sd_event_source *retry_timer;

        char *owner;                    /* the unique name of keepalived; NULL = not on the bus */
        char *path;                     /* the instance's object; NULL = not found (yet) */
        LookupItem *lookup;             /* objects still to look at (a stack) */
        size_t n_lookup, n_looked;

        KeepalivedState state;          /* last reported; _KEEPALIVED_STATE_INVALID = unknown */
        ManagerRole wanted;             /* waiting to run; MANAGER_ROLE_UNKNOWN = nothing */
        uint64_t wanted_usec;           /* CLOCK_MONOTONIC of the transition that waits */
        bool running;                   /* a Promote/Demote of ours runs */
        uint64_t running_usec;          /* CLOCK_MONOTONIC of the transition it runs for */
        int gate;                       /* what TrackFile holds: 0, 1, -1 = not written yet */
        RateLimit track_ratelimit;
        KeepalivedFollowStats stats;
};

static void lookup_next(KeepalivedFollow *k);

static void *mfree(void *p) {
        free(p);
        return NULL;
}

/* ---- the introspection data ---- */

static bool path_element_is_valid(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_'))
                        return false;
        }
        return true;
}

/* The value of attribute 'name' in the tag [tag, end); NULL if absent. */
static const char *tag_name_attribute(const char *tag, const char *end, size_t *ret_len) {
        for (const char *p = tag; p + 6 < end; p++) {
                const char *v, *q;

                if (strncmp(p, "name=", 5) != 0 || (p > tag && p[-1] != ' ' && p[-1] != '\t' &&
                                                     p[-1] != '\n'))
                        continue;
                if (p[5] != '"' && p[5] != '\'')
                        return NULL;
                v = p + 6;
                q = memchr(v, p[5], (size_t) (end - v));
                if (!q)
                        return NULL;
                *ret_len = (size_t) (q - v);
                return v;
        }
        return NULL;
}

static void strv_free_n(char **l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i]);
        free(l);
}

int keepalived_parse_introspection(const char *xml, size_t max, char ***ret_children,
                                   bool *ret_instance) {
        char **children = NULL;
        size_t n = 0;
        bool instance = false;

        if (!xml || !ret_children || !ret_instance)
                return -EINVAL;
        children = calloc(1, sizeof(char *));
        if (!children)
                return -ENOMEM;

        for (const char *p = strchr(xml, '<'); p; p = strchr(p, '<')) {
                const char *end, *value;
                size_t len;

                if (strncmp(p, "<!--", 4) == 0) {
                        end = strstr(p + 4, "-->");
                        if (!end)
                                break;
                        p = end + 3;
                        continue;
                }
                end = strchr(p, '>');
                if (!end)
                        break;
                if (strncmp(p, "<node", 5) == 0 && strchr(" \t\n/>", p[5])) {
                        value = tag_name_attribute(p + 5, end, &len);
                        /* the object itself may be named by its path: not a child */
                        if (value && path_element_is_valid(value, len) && n < max) {
                                char **a = realloc(children, (n + 2) * sizeof(char *));

                                if (!a) {
                                        strv_free_n(children, n);
                                        return -ENOMEM;
                                }
                                children = a;
                                children[n] = strndup(value, len);
                                if (!children[n]) {
                                        strv_free_n(children, n);
                                        return -ENOMEM;
                                }
                                children[++n] = NULL;
                        }
                } else if (strncmp(p, "<interface", 10) == 0 && strchr(" \t\n", p[10])) {
                        value = tag_name_attribute(p + 10, end, &len);
                        if (value && len == strlen(KEEPALIVED_INSTANCE_INTERFACE) &&
                            strneq(value, KEEPALIVED_INSTANCE_INTERFACE, len))
                                instance = true;
                }
                p = end + 1;
        }
        *ret_children = children;
        *ret_instance = instance;
        return 0;
}

/* ---- TrackFile ---- */

static void gate_write(KeepalivedFollow *k, int value) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[4];
        int r = 0, n;

        if (!k->track_file || k->gate == value)
                return;
        if (asprintf(&tmp, "%s.tmp", k->track_file) < 0) {
                tmp = NULL;
                r = -ENOMEM;
                goto fail;
        }
        n = snprintf(buf, sizeof buf, "%d\n", value);
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
                r = negative_errno();
                goto fail;
        }
        if (write(fd, buf, (size_t) n) != n) {
                r = negative_errno();
                goto fail;
        }
        fd = safe_close(fd);
        if (rename(tmp, k->track_file) < 0) {
                r = negative_errno();
                goto fail;
        }
        k->gate = value;
        log_info("keepalived: %s is %d: %s", k->track_file, value,
                 value ? "no VIP may come to this node" : "the VIPs may come to this node");
        return;
fail:
        k->stats.track_file_errors++;
        k->gate = -1;
        if (tmp)
                (void) unlink(tmp);
        if (ratelimit_below(&k->track_ratelimit))
                log_error_errno(r, "keepalived: failed to write %d to %s: %m", value,
                                k->track_file);
}

/* ---- Promote / Demote ---- */

static void kick(KeepalivedFollow *k);

static double msec(uint64_t usec) {
        return (double) usec / (double) USEC_PER_MSEC;
}

static void on_failover_done(Manager *m, const FailoverResult *res, void *userdata) {
        KeepalivedFollow *k = userdata;
        uint64_t took = now_usec(CLOCK_MONOTONIC) - k->running_usec;
        const char *op = res->promote ? "Promote" : "Demote";

        k->running = false;
        k->stats.last_duration_usec = took;
        k->stats.last_done_usec = now_usec(CLOCK_REALTIME);
        if (res->failed_step) {
                k->stats.failed++;
                log_warning("keepalived: %s for instance %s failed at step %s, %.1f ms after the "
                            "transition", op, k->instance, res->failed_step, msec(took));
        } else if (res->committed)
                log_info("keepalived: %s for instance %s done %.1f ms after the transition "
                         "(commit of %" PRIu64 " flows, %" PRIu64 " failed, in %.1f ms)",
                         op, k->instance, msec(took), res->commit.ct_ok, res->commit.ct_failed,
                         msec(res->commit.duration_usec));
        else
                log_info("keepalived: %s for instance %s done %.1f ms after the transition", op,
                         k->instance, msec(took));
        /* The commit is over (even a failed Promote does not start it again): the VIPs may come,
         * if keepalived still wants this node as MASTER and nothing else waits. */
        if (res->promote && k->state == KEEPALIVED_MASTER && k->wanted == MANAGER_ROLE_UNKNOWN)
                gate_write(k, 0);
        kick(k);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        KeepalivedFollow *k = userdata;

        k->retry_timer = sd_event_source_disable_unref(k->retry_timer);
        kick(k);
        return 0;
}

/* Run what waits, if nothing of ours runs. */
static void kick(KeepalivedFollow *k) {
        ManagerRole role = k->wanted;
        uint64_t since = k->wanted_usec;
        bool promote = role == MANAGER_ROLE_PRIMARY;
        int r;

        if (k->running || k->retry_timer || role == MANAGER_ROLE_UNKNOWN)
                return;
        k->wanted = MANAGER_ROLE_UNKNOWN;
        k->running = true;
        k->running_usec = since;
        /* done() may run before the return (Demote, Promote without an external cache) */
        r = promote ? manager_promote(k->manager, on_failover_done, k) :
                      manager_demote(k->manager, on_failover_done, k);
        if (r >= 0) {
                if (promote)
                        k->stats.promotes++;
                else
                        k->stats.demotes++;
                return;
        }

        k->running = false;
        if (r == -EBUSY) {
                /* a Promote/Demote/Commit of someone else: wait for it, unless newer came */
                if (k->wanted == MANAGER_ROLE_UNKNOWN) {
                        k->wanted = role;
                        k->wanted_usec = since;
                }
                log_debug("keepalived: %s waits for a running Promote, Demote or commit",
                          promote ? "Promote" : "Demote");
                r = sd_event_add_time_relative(k->manager->event, &k->retry_timer, CLOCK_MONOTONIC,
                                               RETRY_USEC, 0, on_retry, k);
                if (r >= 0)
                        return;
                log_error_errno(r, "keepalived: failed to arm the retry timer: %m");
        }
        k->stats.failed++;
        log_error_errno(r, "keepalived: %s for instance %s refused: %m",
                        promote ? "Promote" : "Demote", k->instance);
}

void keepalived_follow_apply(KeepalivedFollow *k, KeepalivedState s) {
        ManagerRole role;

        if (!k || s < 0 || s >= _KEEPALIVED_STATE_MAX)
                return;
        if (s == k->state) {
                log_debug("keepalived: instance %s is still %s", k->instance,
                          keepalived_state_to_string(s));
                return;
        }
        log_info("keepalived: instance %s is %s (was %s)", k->instance,
                 keepalived_state_to_string(s),
                 k->state >= 0 ? keepalived_state_to_string(k->state) : "unknown");
        k->state = s;
        k->stats.transitions++;
        k->stats.last_transition_usec = now_usec(CLOCK_REALTIME);
        if (s != KEEPALIVED_MASTER)
                gate_write(k, 1);

        role = s == KEEPALIVED_MASTER ? MANAGER_ROLE_PRIMARY :
               s == KEEPALIVED_INIT ? MANAGER_ROLE_UNKNOWN : MANAGER_ROLE_BACKUP;
        if (role == MANAGER_ROLE_UNKNOWN)
                return;
        if (k->running || k->retry_timer)
                k->stats.queued++;
        k->wanted = role;
        k->wanted_usec = now_usec(CLOCK_MONOTONIC);
        kick(k);
}

/* ---- the bus ---- */

static void call_cancel(KeepalivedFollow *k) {
        k->call = sd_bus_slot_unref(k->call);
        k->call_path = mfree(k->call_path);
}

static void lookup_clear(KeepalivedFollow *k) {
        for (size_t i = 0; i < k->n_lookup; i++)
                free(k->lookup[i].path);
        k->lookup = mfree(k->lookup);
        k->n_lookup = 0;
}

static int lookup_push(KeepalivedFollow *k, LookupStep step, const char *path, const char *child) {
        LookupItem *a;
        char *p;

        if (child) {
                if (asprintf(&p, "%s/%s", path, child) < 0)
                        return -ENOMEM;
        } else {
                p = strdup(path);
                if (!p)
                        return -ENOMEM;
        }
        a = realloc(k->lookup, (k->n_lookup + 1) * sizeof(LookupItem));
        if (!a) {
                free(p);
                return -ENOMEM;
        }
        k->lookup = a;
        k->lookup[k->n_lookup++] = (LookupItem) { .step = step, .path = p };
        return 0;
}

static size_t path_depth(const char *path) {
        size_t n = 0;

        for (const char *p = path + strlen(KEEPALIVED_ROOT_PATH); *p; p++)
                n += *p == '/';
        return n;
}

static int call_start(KeepalivedFollow *k, const char *destination, const char *path,
                      const char *interface, const char *member, sd_bus_message_handler_t handler,
                      const char *arg1, const char *arg2) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        call_cancel(k);
        r = sd_bus_message_new_method_call(k->bus, &m, destination, path, interface, member);
        if (r >= 0 && arg1)
                r = sd_bus_message_append(m, "s", arg1);
        if (r >= 0 && arg2)
                r = sd_bus_message_append(m, "s", arg2);
        if (r >= 0)
                r = sd_bus_call_async(k->bus, &k->call, m, handler, k, CALL_TIMEOUT_USEC);
        if (r < 0)
                return log_error_errno(r, "keepalived: failed to call %s on %s: %m", member, path);
        k->call_path = strdup(path);
        if (!k->call_path) {
                call_cancel(k);
                return log_oom();
        }
        return 0;
}

static int on_state_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        KeepalivedFollow *k = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        const char *contents = NULL, *name = NULL;
        uint32_t n = 0;
        char type = 0;
        int r;

        call_cancel(k);
        if (e) {
                log_warning("keepalived: failed to read the State of instance %s at %s: %s",
                            k->instance, strna(k->path), strna(e->message));
                return 0;
        }
        r = sd_bus_message_enter_container(reply, 'v', NULL);
        if (r >= 0)
                r = sd_bus_message_peek_type(reply, &type, &contents);
        if (r >= 0 && type == SD_BUS_TYPE_STRUCT && contents && streq(contents, "us"))
                r = sd_bus_message_read(reply, "(us)", &n, &name);
        else if (r >= 0 && type == SD_BUS_TYPE_UINT32)
                r = sd_bus_message_read(reply, "u", &n);
        else if (r >= 0)
                r = -EBADMSG;
        if (r < 0) {
                log_warning_errno(r, "keepalived: unexpected State of instance %s: %m",
                                  k->instance);
                return 0;
        }
        if (keepalived_state_from_number(n) < 0) {
                log_warning("keepalived: instance %s has an unknown state %" PRIu32 " (%s)",
                            k->instance, n, strna(name));
                return 0;
        }
        keepalived_follow_apply(k, keepalived_state_from_number(n));
        return 0;
}

static void instance_found(KeepalivedFollow *k, const char *path) {
        free(k->path);
        k->path = strdup(path);
        lookup_clear(k);
        if (!k->path) {
                log_oom();
                return;
        }
        log_info("keepalived: VRRP instance %s is %s (%zu objects looked at)", k->instance, k->path,
                 k->n_looked);
        (void) call_start(k, k->owner, k->path, "org.freedesktop.DBus.Properties", "Get",
                          on_state_reply, KEEPALIVED_INSTANCE_INTERFACE, "State");
}

static int on_name_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        KeepalivedFollow *k = userdata;
        _cleanup_free_ char *path = TAKE_PTR(k->call_path);
        const char *contents = NULL, *name = NULL;
        char type = 0;
        int r;

        call_cancel(k);
        if (!sd_bus_message_is_method_error(reply, NULL)) {
                r = sd_bus_message_enter_container(reply, 'v', NULL);
                if (r >= 0)
                        r = sd_bus_message_peek_type(reply, &type, &contents);
                /* keepalived 2.2.x: "(s)", against its own introspection data */
                if (r >= 0 && type == SD_BUS_TYPE_STRUCT && contents && streq(contents, "s"))
                        r = sd_bus_message_read(reply, "(s)", &name);
                else if (r >= 0 && type == SD_BUS_TYPE_STRING)
                        r = sd_bus_message_read(reply, "s", &name);
                if (r < 0)
                        log_debug_errno(r, "keepalived: unexpected Name at %s: %m", strna(path));
        }
        if (name && path && streq(name, k->instance)) {
                instance_found(k, path);
                return 0;
        }
        lookup_next(k);
        return 0;
}

static int on_introspect_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        KeepalivedFollow *k = userdata;
        _cleanup_free_ char *path = TAKE_PTR(k->call_path);
        char **children = NULL;
        const char *xml = NULL;
        bool instance = false;
        int r;

        call_cancel(k);
        r = sd_bus_message_is_method_error(reply, NULL) ? -EIO :
            sd_bus_message_read(reply, "s", &xml);
        if (r >= 0)
                r = keepalived_parse_introspection(xml, CHILDREN_MAX, &children, &instance);
        if (r < 0 || !path) {
                log_debug_errno(r, "keepalived: failed to introspect %s: %m", strna(path));
                lookup_next(k);
                return 0;
        }
        /* pushed last, looked at first */
        for (size_t i = 0; r >= 0 && children[i]; i++)
                if (path_depth(path) < LOOKUP_DEPTH_MAX)
                        r = lookup_push(k, LOOKUP_INTROSPECT, path, children[i]);
        if (r >= 0 && instance)
                r = lookup_push(k, LOOKUP_NAME, path, NULL);
        for (size_t i = 0; children[i]; i++)
                free(children[i]);
        free(children);
        if (r < 0)
                log_oom();
        lookup_next(k);
        return 0;
}

static void lookup_next(KeepalivedFollow *k) {
        while (k->n_lookup > 0 && k->owner) {
                LookupItem it = k->lookup[--k->n_lookup];
                int r;

                if (it.step == LOOKUP_INTROSPECT && k->n_looked >= LOOKUP_OBJECTS_MAX) {
                        free(it.path);
                        continue;
                }
                if (it.step == LOOKUP_INTROSPECT) {
                        k->n_looked++;
                        r = call_start(k, k->owner, it.path, "org.freedesktop.DBus.Introspectable",
                                       "Introspect", on_introspect_reply, NULL, NULL);
                } else
                        r = call_start(k, k->owner, it.path, "org.freedesktop.DBus.Properties",
                                       "Get", on_name_reply, KEEPALIVED_INSTANCE_INTERFACE, "Name");
                free(it.path);
                if (r >= 0)
                        return;
        }
        lookup_clear(k);
        if (k->owner && !k->path)
                log_warning("keepalived: no VRRP instance named %s under %s (%zu objects looked "
                            "at); waiting for keepalived to reload or restart", k->instance,
                            KEEPALIVED_ROOT_PATH, k->n_looked);
}

static void lookup_start(KeepalivedFollow *k) {
        call_cancel(k);
        lookup_clear(k);
        k->path = mfree(k->path);
        k->n_looked = 0;
        if (lookup_push(k, LOOKUP_INTROSPECT, KEEPALIVED_ROOT_PATH, NULL) < 0) {
                log_oom();
                return;
        }
        lookup_next(k);
}

static void owner_set(KeepalivedFollow *k, const char *owner) {
        if (k->owner) {
                log_warning("keepalived (%s) left the bus; instance %s was %s, this node stays %s",
                            k->service, k->instance,
                            k->state >= 0 ? keepalived_state_to_string(k->state) : "unknown",
                            strna(manager_role_to_string(k->manager->role)));
                k->owner = mfree(k->owner);
                k->path = mfree(k->path);
                call_cancel(k);
                lookup_clear(k);
                /* the next keepalived starts the VIP instances on what the file says */
                gate_write(k, 1);
        }
        k->state = _KEEPALIVED_STATE_INVALID;   /* the next report is a transition */
        if (!owner || !*owner)
                return;
        k->owner = strdup(owner);
        if (!k->owner) {
                log_oom();
                return;
        }
        k->stats.appeared++;
        log_info("keepalived (%s) is on the bus as %s: looking for VRRP instance %s", k->service,
                 owner, k->instance);
        lookup_start(k);
}

static int on_owner_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        KeepalivedFollow *k = userdata;
        const char *owner = NULL;

        call_cancel(k);
        if (sd_bus_message_is_method_error(reply, NULL) ||
            sd_bus_message_read(reply, "s", &owner) < 0) {
                log_info("keepalived (%s) is not on the bus: waiting for it", k->service);
                /* keepalived starts the VIP instances on what the file says */
                gate_write(k, 1);
                return 0;
        }
        owner_set(k, owner);
        return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        KeepalivedFollow *k = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 ||
            !streq(name, k->service))
                return 0;
        if (k->owner && streq(k->owner, new_owner))
                return 0;
        if (k->call && !k->owner)
                call_cancel(k);         /* the answer to GetNameOwner is out of date */
        owner_set(k, new_owner);
        return 0;
}

static bool from_keepalived(KeepalivedFollow *k, sd_bus_message *m) {
        const char *sender = sd_bus_message_get_sender(m);

        return k->owner && sender && streq(sender, k->owner);
}

static int on_status_change(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        KeepalivedFollow *k = userdata;
        const char *path = sd_bus_message_get_path(m);
        uint32_t n;

        if (!from_keepalived(k, m) || !k->path || !path || !streq(path, k->path))
                return 0;
        if (sd_bus_message_read(m, "u", &n) < 0) {
                log_warning("keepalived: malformed VrrpStatusChange of instance %s", k->instance);
                return 0;
        }
        if (keepalived_state_from_number(n) < 0) {
                log_warning("keepalived: instance %s reports an unknown state %" PRIu32,
                            k->instance, n);
                return 0;
        }
        keepalived_follow_apply(k, keepalived_state_from_number(n));
        return 0;
}

static int on_reloaded(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        KeepalivedFollow *k = userdata;

        if (!from_keepalived(k, m))
                return 0;
        log_info("keepalived reloaded its configuration: looking for VRRP instance %s again",
                 k->instance);
        lookup_start(k);
        return 0;
}

static int on_match_installed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        if (e)
                log_error_errno(sd_bus_error_get_errno(e), "keepalived: the bus refused a match, "
                                "transitions may be missed: %s", strna(e->message));
        return 0;
}

/* ---- the object ---- */

int keepalived_follow_new(Manager *m, sd_bus *bus, const KeepalivedConfig *c,
                          KeepalivedFollow **ret) {
        _cleanup_(keepalived_follow_freep) KeepalivedFollow *k = NULL;
        _cleanup_free_ char *rule_owner = NULL, *rule_status = NULL, *rule_reload = NULL;
        int r;

        if (!m || !bus || !c || !c->instance || !ret)
                return -EINVAL;
        k = calloc(1, sizeof *k);
        if (!k)
                return -ENOMEM;
        *k = (KeepalivedFollow) {
                .manager = m,
                .bus = sd_bus_ref(bus),
                .state = _KEEPALIVED_STATE_INVALID,
                .wanted = MANAGER_ROLE_UNKNOWN,
                .gate = -1,
                .track_ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 3),
        };
        k->instance = strdup(c->instance);
        k->service = strdup(c->service ?: KEEPALIVED_SERVICE_DEFAULT);
        k->track_file = c->track_file ? strdup(c->track_file) : NULL;
        if (!k->instance || !k->service || (c->track_file && !k->track_file))
                return -ENOMEM;

        if (asprintf(&rule_owner, "type='signal',sender='org.freedesktop.DBus',"
                     "path='/org/freedesktop/DBus',interface='org.freedesktop.DBus',"
                     "member='NameOwnerChanged',arg0='%s'", k->service) < 0 ||
            asprintf(&rule_status, "type='signal',sender='%s',interface='%s',"
                     "member='VrrpStatusChange'", k->service, KEEPALIVED_INSTANCE_INTERFACE) < 0 ||
            asprintf(&rule_reload, "type='signal',sender='%s',interface='%s',"
                     "member='VrrpReloaded'", k->service, KEEPALIVED_VRRP_INTERFACE) < 0)
                return -ENOMEM;
        r = sd_bus_add_match_async(bus, &k->owner_match, rule_owner, on_name_owner_changed,
                                   on_match_installed, k);
        if (r >= 0)
                r = sd_bus_add_match_async(bus, &k->status_match, rule_status, on_status_change,
                                           on_match_installed, k);
        if (r >= 0)
                r = sd_bus_add_match_async(bus, &k->reload_match, rule_reload, on_reloaded,
                                           on_match_installed, k);
        if (r < 0)
                return log_error_errno(r, "keepalived: failed to watch %s on the bus: %m",
                                       k->service);
        /* after the matches: a change from now on is seen either way */
        r = call_start(k, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                       "GetNameOwner", on_owner_reply, k->service, NULL);
        if (r < 0)
                return r;

        log_info("keepalived: following VRRP instance %s of %s%s%s", k->instance, k->service,
                 k->track_file ? ", TrackFile " : "", k->track_file ?: "");
        *ret = TAKE_PTR(k);
        return 0;
}

KeepalivedFollow *keepalived_follow_free(KeepalivedFollow *k) {
        if (!k)
                return NULL;
        /* A Promote/Demote of ours that still runs finishes without us. */
        if (k->running && k->manager && k->manager->failover_done == on_failover_done &&
            k->manager->failover_userdata == k) {
                k->manager->failover_done = NULL;
                k->manager->failover_userdata = NULL;
        }
        k->retry_timer = sd_event_source_disable_unref(k->retry_timer);
        call_cancel(k);
        lookup_clear(k);
        sd_bus_slot_unref(k->owner_match);
        sd_bus_slot_unref(k->status_match);
        sd_bus_slot_unref(k->reload_match);
        sd_bus_unref(k->bus);
        free(k->owner);
        free(k->path);
        free(k->instance);
        free(k->service);
        free(k->track_file);
        free(k);
        return NULL;
}

KeepalivedState keepalived_follow_state(const KeepalivedFollow *k) {
        return k ? k->state : _KEEPALIVED_STATE_INVALID;
}

const KeepalivedFollowStats *keepalived_follow_stats(const KeepalivedFollow *k) {
        return k ? &k->stats : NULL;
}

int keepalived_follow_append_statistics(const KeepalivedFollow *k, sd_bus_message *reply) {
        const KeepalivedFollowStats *s;
        const char *state;
        int r;

        if (!k)
                return 0;
        s = &k->stats;
        state = !k->owner ? "absent" : !k->path || k->state < 0 ? "unknown" :
                keepalived_state_to_string(k->state);

        const struct {
                const char *name;
                uint64_t value;
        } keys[] = {
                { "keepalived.appeared", s->appeared },
                { "keepalived.transitions", s->transitions },
                { "keepalived.promotes", s->promotes },
                { "keepalived.demotes", s->demotes },
                { "keepalived.failed", s->failed },
                { "keepalived.queued", s->queued },
                { "keepalived.track_file_errors", s->track_file_errors },
                { "keepalived.last_duration_usec", s->last_duration_usec },
                { "keepalived.last_transition_usec", s->last_transition_usec },
                { "keepalived.last_done_usec", s->last_done_usec },
        };
        r = sd_bus_message_append(reply, "{sv}", "keepalived.instance", "s", k->instance);
        if (r >= 0)
                r = sd_bus_message_append(reply, "{sv}", "keepalived.state", "s", state);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(keys); i++)
                r = sd_bus_message_append(reply, "{sv}", keys[i].name, "t", keys[i].value);
        if (r >= 0 && k->track_file)
                r = sd_bus_message_append(reply, "{sv}", "keepalived.gate_open", "t",
                                          (uint64_t) (k->gate == 0));
        return r;
}

/* ---- the manager's side ---- */

int manager_keepalived_setup(Manager *m) {
        const KeepalivedConfig *c = &m->config->keepalived;
        int r;

        if (!c->instance)
                return 0;
        if (!m->bus)
                return log_error_errno(-ENOTCONN, "Keepalived { Instance %s }: the system bus is "
                                       "not reachable, keepalived cannot be followed", c->instance);
        r = keepalived_follow_new(m, m->bus, c, &m->keepalived);
        if (r < 0)
                return log_error_errno(r, "Failed to follow keepalived: %m");
        return 0;
}

void manager_keepalived_done(Manager *m) {
        m->keepalived = keepalived_follow_free(m->keepalived);
}
