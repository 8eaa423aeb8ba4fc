/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * conntrackd.conf (grammar of conntrack-tools 1.4.x, spec §4) parsed into a fresh Config value.
 * Pure: the parser reads a buffer, validates the whole file, and either returns a complete Config
 * or an error with "FILE:LINE: message"; it never half-applies anything.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ct-entry.h"
#include "filter.h"

/* NetlinkBufferSize and NetlinkBufferSizeMaxGrowth when the configuration sets neither */
#define NETLINK_BUFFER_SIZE_DEFAULT             (8u << 20)
#define NETLINK_BUFFER_SIZE_MAX_GROWTH_DEFAULT  (64u << 20)

typedef enum ConfigMode {
        CONFIG_MODE_STATS,      /* Stats { } or no Sync/Stats section (warning) */
        CONFIG_MODE_FTFW,
        CONFIG_MODE_NOTRACK,
        CONFIG_MODE_ALARM,
        _CONFIG_MODE_MAX,
        _CONFIG_MODE_INVALID = -EINVAL,
} ConfigMode;

/* "stats", "ftfw", "notrack", "alarm" */
const char *config_mode_to_string(ConfigMode m);
ConfigMode config_mode_from_string(const char *s);

typedef enum ChannelType {
        CHANNEL_MULTICAST,
        CHANNEL_UDP,
        CHANNEL_TCP,
        _CHANNEL_TYPE_MAX,
        _CHANNEL_TYPE_INVALID = -EINVAL,
} ChannelType;

/* "multicast", "udp", "tcp" */
const char *channel_type_to_string(ChannelType t);
ChannelType channel_type_from_string(const char *s);

#define CONFIG_CHANNELS_MAX 4
#define CONFIG_PATH_MAX 256
#define CONFIG_IFNAME_MAX 16

typedef struct ChannelConfig {
        ChannelType type;
        bool is_default;
        int family;                     /* AF_INET or AF_INET6, from the address keyword used */
        CtAddr address;                 /* group (multicast) or local bind address */
        bool has_address;
        CtAddr destination;             /* IPv4/IPv6_Destination_Address (UDP, TCP) */
        bool has_destination;
        CtAddr interface_address;       /* IPv4_interface (multicast) */
        bool has_interface_address;
        char interface[CONFIG_IFNAME_MAX];
        uint16_t port;                  /* Port (UDP/TCP) or Group (multicast) */
        uint32_t snd_buffer, rcv_buffer;        /* 0 = kernel default */
        bool checksum;                  /* default on */
        unsigned line;                  /* where the block starts, for messages */
} ChannelConfig;

typedef struct ExpectationSyncConfig {
        bool enabled;
        char **helpers;                 /* NULL = all; else NULL-terminated list of prefixes */
} ExpectationSyncConfig;

/* Sync { Keepalived { ... } } (this implementation only): follow a VRRP instance of keepalived over
 * D-Bus and run Promote / Demote on its transitions (keepalived-follow.h) */
typedef struct KeepalivedConfig {
        char *instance;         /* Instance: the VRRP instance's name; NULL = not following */
        char *service;          /* Service: keepalived's bus name; NULL = org.keepalived.Vrrp1 */
        char *track_file;       /* TrackFile: 0 once Promote finished, 1 otherwise; NULL = none */
} KeepalivedConfig;

typedef struct Config {
        char *path;                     /* the file parsed, for messages */

        /* General */
        uint32_t hash_size;                     /* 65536 */
        uint32_t hash_limit;                    /* 262144 */
        char *log_file;                         /* NULL = off; "on" = /var/log/conntrackd.log */
        int syslog_facility;                    /* -1 = off; LOG_DAEMON, LOG_LOCAL0..7 */
        char *lock_file;                        /* /var/lock/conntrackd.lock */
        char *unix_path;                        /* UNIX { Path }; NULL if not given */
        uint32_t netlink_buffer_size;           /* 0 = kernel default; neither keyword: 8 MiB */
        uint32_t netlink_buffer_size_max_growth;        /* 0; neither keyword: 64 MiB */
        uint32_t netlink_overrun_resync;        /* seconds; 0 = off; default 30 */
        bool netlink_events_reliable;           /* off */
        uint32_t poll_secs;                     /* 0 = event driven */
        uint32_t event_iteration_limit;         /* 100 */
        FilterConfig *filter;                   /* NULL = no Filter clause */
        bool scheduler_set;
        int scheduler_policy;                   /* SCHED_RR / SCHED_FIFO */
        int scheduler_priority;                 /* 0..99; default 99 */
        bool systemd;                           /* on */

        /* Sync */
        ConfigMode mode;
        uint32_t resend_queue_size;             /* 131072 */
        uint32_t ack_window_size;               /* 300 */
        uint32_t commit_timeout;                /* 0 = estimate */
        uint32_t purge_timeout;                 /* 60 */
        char *auth_key_file;                    /* AuthKeyFile (ours): NULL = off */
        bool disable_external_cache;
        bool disable_internal_cache;
        bool startup_resync;
        uint32_t refresh_time;                  /* 60 */
        uint32_t cache_timeout;                 /* 180 */
        bool tcp_window_tracking;
        ExpectationSyncConfig expectation_sync;
        uint32_t error_queue_length;            /* 128 */
        ChannelConfig channels[CONFIG_CHANNELS_MAX];
        size_t n_channels;
        KeepalivedConfig keepalived;            /* ours; read at start only */

        /* Stats */
        char *stats_log_file;                   /* NULL = off; on = /var/log/conntrackd-stats.log */
        int stats_syslog_facility;              /* -1 = off */

        /* Helper (grammar only) */
        bool has_helper_section;
} Config;

/* Diagnostics collected while parsing: warnings are kept even on success. */
typedef struct ConfigDiagnostic {
        int level;                      /* LOG_WARNING, LOG_NOTICE or LOG_ERR */
        unsigned line;
        char *message;                  /* "FILE:LINE: text" */
} ConfigDiagnostic;

typedef struct ConfigDiagnostics {
        ConfigDiagnostic *items;
        size_t n;
} ConfigDiagnostics;

void config_diagnostics_clear(ConfigDiagnostics *d);

/* A Config with every default of 1.4.7 (spec §4.9), as if parsed from an empty file. */
int config_new_default(Config **ret);
Config *config_free(Config *c);
DEFINE_CLEANUP_FUNC(Config *, config_free);

/*
 * Parse 'size' bytes of 'text'; 'path' names the file in messages. On success *ret is a complete,
 * validated Config and returns 0. On a syntax or value error returns -EINVAL (or -ENOMEM) and
 * *ret is untouched. Warnings and errors are appended to 'diag' (may be NULL).
 */
int config_parse_string(const char *path, const char *text, size_t size, Config **ret,
                        ConfigDiagnostics *diag);
/* Read and parse a file; -errno when it cannot be read (with a diagnostic naming the file). */
int config_load_file(const char *path, Config **ret, ConfigDiagnostics *diag);

#define CONFIG_DEFAULT_PATH "/etc/conntrackd/conntrackd.conf"
