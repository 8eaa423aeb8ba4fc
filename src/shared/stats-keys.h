/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The keys of GetStatistics(section) -> a{sv}: the contract between the daemon (bus-manager.c)
 * and the clients (legacy-output.c, conntrackctl). A client prints 0 for a counter it does not
 * find (a section of a later issue, e.g. the sync channels). All counters are 't' (uint64)
 * unless said otherwise. Every section's dictionary also holds "mode" (s: ftfw|notrack|alarm|stats).
 *
 * Cache groups: "internal", "external" (conntrack caches), "internal-expect", "external-expect".
 * In Stats mode only "internal" exists (printed as "cache stats:" / "cache:stats" by the legacy
 * client). A cache group absent from the dictionary does not exist in this mode.
 *
 * section "general" (legacy -s, -s ct) and "expect" (legacy -s expect, the *-expect groups):
 *      <cache>.active <cache>.add_ok <cache>.add_fail <cache>.upd_ok <cache>.upd_fail
 *      <cache>.del_ok <cache>.del_fail
 *      traffic.bytes traffic.packets          (bytes/packets of destroyed flows, accounting)
 *      message.malformed message.lost         (sync, later issue)
 *
 * section "cache" (legacy -s cache), for each cache group of both kinds:
 *      <cache>.objects <cache>.active <cache>.hashed
 *      <cache>.add_ok <cache>.add_fail <cache>.add_fail_nomem <cache>.add_fail_nospace
 *      <cache>.upd_ok <cache>.upd_fail <cache>.upd_fail_enoent
 *      <cache>.del_ok <cache>.del_fail <cache>.del_fail_enoent
 *      <cache>.limit (HashLimit) <cache>.buckets (HashSize)
 *
 * section "runtime" (legacy -s runtime):
 *      runtime.uptime (seconds)
 *      netlink.events_received netlink.events_filtered netlink.events_unknown
 *      netlink.catch_event_failed netlink.dump_unknown netlink.overruns
 *      netlink.kernel_flushes netlink.kernel_resyncs netlink.buffer_size
 *      netlink.overrun_resyncs netlink.cache_full
 *      runtime.child_failed runtime.child_segfault runtime.child_termsig (always 0: no children)
 *      runtime.select_failed runtime.wait_failed runtime.local_read_failed
 *      runtime.local_unknown_request (D-Bus calls refused: bad arguments, not allowed)
 *      netlink.events_new netlink.events_update netlink.events_destroy (conntrack events
 *      handled, by type; events_received also counts what could not be parsed)
 *      netlink.expect_events_new netlink.expect_events_update netlink.expect_events_destroy
 *      Stats mode only (flow-log.h): flowlog.records flowlog.lines_written flowlog.lines_lost
 *      flowlog.reopens
 *      With Sync { Keepalived } only (keepalived-follow.h): keepalived.instance (s: the VRRP
 *      instance followed) keepalived.state (s: INIT|BACKUP|MASTER|FAULT|STOP as keepalived last
 *      reported it, "absent" while keepalived is not on the bus, "unknown" while the instance is
 *      not found) keepalived.appeared (keepalived came on the bus) keepalived.transitions
 *      (state changes seen) keepalived.promotes keepalived.demotes (run for a transition)
 *      keepalived.failed (of those, failed at a step or refused) keepalived.queued (transitions
 *      that waited for a running Promote/Demote) keepalived.track_file_errors
 *      keepalived.last_duration_usec (from the last transition to the end of its Promote/Demote)
 *      keepalived.last_transition_usec keepalived.last_done_usec (CLOCK_REALTIME; 0 = never)
 *      with TrackFile: keepalived.gate_open (1 when the file says 0: the VIPs may come)
 *
 * sections "network", "link", "queue", "rsqueue", "process": filled by the replication issue;
 * today they hold "mode" only (and "process" never has children to list).
 *
 * Keys of those sections as the legacy client prints them (legacy-output.c; a key that is absent
 * prints 0, a group that is absent leaves its block out):
 *   "network": network.recv_malformed network.recv_bad_version network.recv_bad_header
 *      network.recv_bad_payload network.recv_bad_type network.recv_truncated
 *      network.recv_bad_size network.send_malformed sequence.lost sequence.before
 *      with AuthKeyFile (ours): network.auth_sealed network.auth_accepted
 *      network.auth_malformed network.auth_unknown_key network.auth_bad_mac network.auth_replayed
 *      network.auth_old_epoch network.auth_peer_restarts network.auth_send_key_id
 *      + the link keys below (the active link's block follows)
 *      ours, not printed by -s: network.msgs_sent network.msgs_recv network.datagrams_sent
 *      network.send_failed network.acks_sent network.acks_recv network.nacks_sent
 *      network.nacks_recv network.resyncs_sent network.resyncs_recv network.resent (messages
 *      sent again after a NACK) network.bulks (bulk sends done)
 *      sequence.gaps (gaps in the peer's sequence numbers; sequence.lost sums their sizes)
 *      peer.state (s: "unknown" before the first valid message, "alive", "lost" after the
 *      peer timeout: 3 ALIVE intervals, in ALARM the CacheTimeout) peer.last_seen_usec
 *      (CLOCK_REALTIME of the last valid message; 0 = never) peer.restarts (FT-FW: the peer
 *      began a new sequence space with HELLO) sequence.jumps_undone (FT-FW: a number far
 *      ahead, 1024 or more, that the peer's next messages showed forged or corrupted)
 *      resync.refreshes (resyncs of ours whose bulk is over: the link quiet 2 s after the
 *      peers' data) resync.purged (external objects those bulks did not refresh, removed) resync.in_sync (1 when
 *      the InSync property is true)
 *   "general" (and ""), outside Stats mode: commits of the external cache (-c, Commit(),
 *      Promote()): commit.started commit.finished commit.running (0/1) commit.objects_ok
 *      commit.objects_failed (flows and expectations) commit.duration_usec (sum of the
 *      finished commits) commit.last_duration_usec commit.last_finished_usec (CLOCK_REALTIME)
 *   "general" (and ""), outside Stats mode: systemd's file descriptor store across a planned
 *      restart (manager-store.c): store.restored_objects (objects of the store taken into the
 *      caches at this start) store.saved_objects (objects in the store that the previous
 *      instance handed over) store.rejected (stores discarded at start: corrupt or foreign)
 *   "link" (and the active link in "general", "expect", "network"), N = 0.. in config order:
 *      link<N>.type (s: "multicast"|"udp"|"tcp") link<N>.device (s)
 *      link<N>.status (s: "RUNNING"|"NO-CARRIER"|"DOWN") link<N>.role (s: "ACTIVE"|"BACKUP")
 *      link<N>.server link<N>.client (s: "connected"|"disconnected"; TCP only)
 *      link<N>.bytes_sent link<N>.bytes_recv link<N>.pkts_sent link<N>.pkts_recv
 *      link<N>.err_sent link<N>.err_recv
 *   "queue": queue.allocated_nodes, and <q>.current <q>.max <q>.nospace for q in txqueue,
 *      errorq, rsqueue
 *   "rsqueue" (FT-FW): rsqueue.current, rsqueue.entries (a(btt): control message?, seq, flags;
 *      oldest first)
 *   "general"/"expect" with DisableInternalCache, instead of the internal group:
 *      internal-bypass[-expect].new .upd .del; with DisableExternalCache, instead of the external
 *      group: external-inject[-expect].add_ok .add_fail .upd_ok .upd_fail .del_ok .del_fail
 */

#define STATS_SECTIONS "general", "expect", "cache", "runtime", "network", "link", "queue", "rsqueue", "process"
