/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Authenticated sync datagrams (Sync { AuthKeyFile PATH }): our extension, off by default, not
 * understood by conntrack-tools 1.4.x. Every unit a channel sends (a datagram, or a batch of
 * messages on TCP) is wrapped:
 *
 *   0      1      2..3       4       5..7   8..15    16..23   24..31    32..          last 16
 *   magic  ver    length     key id  zero   sender   epoch    counter   1.4.x body    MAC
 *   0xa5   1      (BE, all)                 (BE)     (BE)     (BE)
 *
 * The MAC is keyed BLAKE2b (libsodium's crypto_generichash), 16 bytes, over everything before it.
 * The length sits where the 1.4.x header keeps it, so the TCP channel cuts the stream the same
 * way. "sender" names a node (stable across its restarts), "epoch" is the start time of the
 * sending daemon (CLOCK_REALTIME, usec) and "counter" numbers its units from 1: a receiver keeps,
 * per sender, the newest epoch and a window of the last 64 counters, so a unit is taken once,
 * units of an earlier run never, and reordering within the window is fine.
 *
 * Key file: lines "ID HEX" (ID 0-255, HEX 64 hex digits = 32 bytes), '#' comments. The first key
 * signs what we send; every key listed is accepted, so a key changes without a gap: add the new
 * one second everywhere, then first everywhere, then remove the old one.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define SYNC_AUTH_KEY_SIZE      32
#define SYNC_AUTH_HEADER_SIZE   32
#define SYNC_AUTH_MAC_SIZE      16
#define SYNC_AUTH_OVERHEAD      (SYNC_AUTH_HEADER_SIZE + SYNC_AUTH_MAC_SIZE)
#define SYNC_AUTH_KEYS_MAX      8
#define SYNC_AUTH_PEERS_MAX     32
#define SYNC_AUTH_WINDOW        64

typedef struct SyncAuthKey {
        uint8_t id;
        uint8_t key[SYNC_AUTH_KEY_SIZE];
} SyncAuthKey;

typedef struct SyncAuthStats {
        uint64_t sealed;
        uint64_t accepted;
        uint64_t malformed;     /* not a sealed unit: too short, bad magic/version/length */
        uint64_t unknown_key;   /* key id not in our file */
        uint64_t bad_mac;       /* forged, corrupted, or sealed with another key of that id */
        uint64_t replayed;      /* counter seen already, or below the window */
        uint64_t old_epoch;     /* from an earlier run of the sender */
        uint64_t restarts;      /* a sender came back with a newer epoch */
} SyncAuthStats;

typedef struct SyncAuth SyncAuth;

/*
 * Read a key file. Refused (-EPERM, with a message naming the file) if it is a symlink, not a
 * regular file, owned by someone else than root or us, or open to group or others; a syntax
 * error (-EINVAL) names the line. ret_error gets the message (caller frees), may be NULL.
 */
int sync_auth_load_keys(const char *path, SyncAuthKey **ret_keys, size_t *ret_n, char **ret_error);

/* keys[0] signs; the keys are copied. sender: this node; epoch: this run (non-zero). */
int sync_auth_new(SyncAuth **ret, const SyncAuthKey *keys, size_t n, uint64_t sender,
                  uint64_t epoch);
SyncAuth *sync_auth_free(SyncAuth *a);
DEFINE_CLEANUP_FUNC(SyncAuth *, sync_auth_free);

/* Replace the keys (reload); the replay state stays. */
int sync_auth_set_keys(SyncAuth *a, const SyncAuthKey *keys, size_t n);

/* Wrap body[0..n) into out (out_size >= n + SYNC_AUTH_OVERHEAD). Returns the sealed size, or
 * -EMSGSIZE. */
int sync_auth_seal(SyncAuth *a, const uint8_t *body, size_t n, uint8_t *out, size_t out_size);

/*
 * Check one sealed unit of exactly n bytes. On success *ret_body / *ret_len point into buf.
 * Errors, each counted: -EBADMSG malformed, -ENOKEY unknown key id, -EKEYREJECTED bad MAC,
 * -EALREADY replayed, -ESTALE earlier run of the sender.
 */
int sync_auth_open(SyncAuth *a, const uint8_t *buf, size_t n, const uint8_t **ret_body,
                   size_t *ret_len);

/* The length a sealed unit at buf claims (0 if fewer than 4 bytes or not one of ours). */
size_t sync_auth_unit_length(const uint8_t *buf, size_t n);

const SyncAuthStats *sync_auth_stats(const SyncAuth *a);
uint8_t sync_auth_send_key_id(const SyncAuth *a);
