/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The Config value: defaults, destructor and the enum tables. The parser lives in config-parse.c.
 */

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "config.h"
#include "string-table.h"

static const char *const config_mode_table[_CONFIG_MODE_MAX] = {
        [CONFIG_MODE_STATS] = "stats",
        [CONFIG_MODE_FTFW] = "ftfw",
        [CONFIG_MODE_NOTRACK] = "notrack",
        [CONFIG_MODE_ALARM] = "alarm",
};

DEFINE_STRING_TABLE(config_mode, ConfigMode);

static const char *const channel_type_table[_CHANNEL_TYPE_MAX] = {
        [CHANNEL_MULTICAST] = "multicast",
        [CHANNEL_UDP] = "udp",
        [CHANNEL_TCP] = "tcp",
};

DEFINE_STRING_TABLE(channel_type, ChannelType);

void config_diagnostics_clear(ConfigDiagnostics *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++)
                free(d->items[i].message);
        free(d->items);
        *d = (ConfigDiagnostics) {};
}

int config_new_default(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;

        if (!ret)
                return -EINVAL;

        c = malloc(sizeof(*c));
        if (!c)
                return -ENOMEM;

        /* spec §4.3, §4.4, §4.6, §4.9 */
        *c = (Config) {
                .hash_size = 65536,
                .hash_limit = 262144,
                .syslog_facility = -1,
                .netlink_overrun_resync = 30,
                .event_iteration_limit = 100,
                .netlink_buffer_size = NETLINK_BUFFER_SIZE_DEFAULT,
                .netlink_buffer_size_max_growth = NETLINK_BUFFER_SIZE_MAX_GROWTH_DEFAULT,
                .scheduler_policy = SCHED_RR,
                .scheduler_priority = 99,
                .systemd = true,

                .mode = CONFIG_MODE_STATS,
                .resend_queue_size = 131072,
                .ack_window_size = 300,
                .purge_timeout = 60,
                .refresh_time = 60,
                .cache_timeout = 180,
                .error_queue_length = 128,

                .stats_syslog_facility = -1,
        };

        c->lock_file = strdup("/var/lock/conntrackd.lock");
        if (!c->lock_file)
                return -ENOMEM;

        *ret = TAKE_PTR(c);
        return 0;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;

        free(c->path);
        free(c->log_file);
        free(c->lock_file);
        free(c->unix_path);
        filter_config_free(c->filter);
        if (c->expectation_sync.helpers) {
                for (char **h = c->expectation_sync.helpers; *h; h++)
                        free(*h);
                free(c->expectation_sync.helpers);
        }
        free(c->stats_log_file);
        free(c->auth_key_file);
        free(c->keepalived.instance);
        free(c->keepalived.service);
        free(c->keepalived.track_file);
        free(c);
        return NULL;
}
