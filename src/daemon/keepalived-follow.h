/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Follow a VRRP instance of keepalived over D-Bus (keepalived's "enable_dbus": the service
 * org.keepalived.Vrrp1 on the system bus) and run Promote / Demote on its transitions, so that no
 * notify script is needed (Sync { Keepalived { Instance NAME } }).
 *
 * keepalived serves one object per VRRP instance,
 *      /org/keepalived/Vrrp1[/NETNS][/INSTANCE]/Instance/IFNAME/VRID/IPv4|IPv6
 * (IFNAME with every character but [A-Za-z0-9] as '_'), interface org.keepalived.Vrrp1.Instance:
 * properties Name and State ((us): keepalived's number and name of the state) and the signal
 * VrrpStatusChange(u state) on each transition. It has no ObjectManager: the instance is found by
 * introspecting the tree under /org/keepalived/Vrrp1 and reading Name (keepalived 2.2.7 returns
 * it as a one-string struct, "(s)", other versions as "s": both are read). The object is looked
 * up again, and its State read, whenever keepalived (re)appears on the bus (NameOwnerChanged) or
 * reloads (VrrpReloaded); the signals of the other instances are ignored.
 *
 * What a state means here:
 *      MASTER                  Promote (commit the external cache, flush, resync, bulk send)
 *      BACKUP, FAULT, STOP     Demote (flush the external cache, ask for a resync, arm the purge):
 *                              FAULT is a node that lost a tracked interface or script, STOP an
 *                              instance keepalived shut down; neither forwards for the VIPs, and
 *                              a node that is not the primary must not keep replaying a commit
 *                              later, so both are handled as BACKUP.
 *      INIT                    nothing (keepalived is starting the instance)
 * One Promote/Demote at a time: a transition that arrives while one runs (or while a Promote or
 * commit of someone else runs, retried every 100 ms) waits, and only the last one waiting is run
 * when the running one is done. A repeated report of the same state is not run twice.
 *
 * TrackFile (optional): a file for keepalived's track_file with weight 0 on the instances that
 * hold the VIPs (not on the followed one). It says "1" as soon as the followed instance is
 * anything but MASTER, and while keepalived is not on the bus (at start too); it says "0" only
 * when a Promote run for the current MASTER state is finished, i.e. after the commit. keepalived
 * reads it when it changes (inotify), so the VIP instances cannot become MASTER, and add their
 * addresses, before the commit finished. It is written with rename(), never removed (keepalived
 * reads a missing file as 0). At start with keepalived on the bus, and on exit, it keeps its
 * value until the state is known: a restart of the daemon does not move the VIPs (and a backup
 * whose daemon is not running does not take them: nothing would commit).
 */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "config.h"
#include "macro.h"

typedef struct Manager Manager;
typedef struct KeepalivedFollow KeepalivedFollow;

#define KEEPALIVED_SERVICE_DEFAULT "org.keepalived.Vrrp1"

typedef enum KeepalivedState {
        KEEPALIVED_INIT,
        KEEPALIVED_BACKUP,
        KEEPALIVED_MASTER,
        KEEPALIVED_FAULT,
        KEEPALIVED_STOP,
        _KEEPALIVED_STATE_MAX,
        _KEEPALIVED_STATE_INVALID = -EINVAL,
} KeepalivedState;

/* "INIT", "BACKUP", "MASTER", "FAULT", "STOP" (as keepalived logs them) */
const char *keepalived_state_to_string(KeepalivedState s);
KeepalivedState keepalived_state_from_string(const char *s);
/* keepalived's numbers: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 97 (deleted) and 98 STOP;
 * anything else is _KEEPALIVED_STATE_INVALID */
KeepalivedState keepalived_state_from_number(uint32_t n);

typedef struct KeepalivedFollowStats {
        uint64_t appeared;              /* keepalived appeared on the bus (at start too) */
        uint64_t transitions;           /* state changes of the instance seen */
        uint64_t promotes, demotes;     /* started for a transition */
        uint64_t failed;                /* of those, failed at a step or refused */
        uint64_t queued;                /* transitions that waited for a running Promote/Demote */
        uint64_t track_file_errors;     /* TrackFile could not be written */
        uint64_t last_duration_usec;    /* from the transition to the end of its Promote/Demote */
        uint64_t last_transition_usec;  /* CLOCK_REALTIME of the last transition seen; 0 = none */
        uint64_t last_done_usec;        /* CLOCK_REALTIME the last Promote/Demote finished */
} KeepalivedFollowStats;

/*
 * Sync { Keepalived } of the manager's config: follow the instance on m->bus (-ENOTCONN when
 * there is no system bus); nothing without a Keepalived block. Once, in manager_start(), after
 * manager_bus_setup(); the settings are read here only (a reload does not change them).
 */
int manager_keepalived_setup(Manager *m);
/* In manager_free(), before the sync and bus teardown: a Promote/Demote still running goes on
 * without calling back. */
void manager_keepalived_done(Manager *m);

int keepalived_follow_new(Manager *m, sd_bus *bus, const KeepalivedConfig *c,
                          KeepalivedFollow **ret);
KeepalivedFollow *keepalived_follow_free(KeepalivedFollow *k);
DEFINE_CLEANUP_FUNC(KeepalivedFollow *, keepalived_follow_free);

/* The last state keepalived reported for the instance; _KEEPALIVED_STATE_INVALID while unknown
 * (keepalived absent, the instance not found yet). */
KeepalivedState keepalived_follow_state(const KeepalivedFollow *k);
const KeepalivedFollowStats *keepalived_follow_stats(const KeepalivedFollow *k);
/* The keepalived.* keys of GetStatistics (stats-keys.h); nothing when k is NULL. */
int keepalived_follow_append_statistics(const KeepalivedFollow *k, sd_bus_message *reply);

/* A state of the instance as if keepalived had reported it (the bus handlers end here). */
void keepalived_follow_apply(KeepalivedFollow *k, KeepalivedState s);

/* An Introspect reply: the names of the child nodes (NULL-terminated, valid object path
 * elements only, at most 'max' of them) and whether the object has keepalived's Instance
 * interface. Pure, for the tests. */
int keepalived_parse_introspection(const char *xml, size_t max, char ***ret_children,
                                   bool *ret_instance);
