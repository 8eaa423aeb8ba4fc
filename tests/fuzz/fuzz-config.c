/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the conntrackd.conf parser. Besides "no crash, no leak, no UB" it checks the
 * parser's promises: on success a complete Config within every documented limit; on failure
 * -EINVAL, *ret untouched and an error as the last diagnostic; every message "FILE:..." and short.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include "config.h"
#include "fuzz.h"

#define FUZZ_PATH "fuzz.conf"

static void check_config(const Config *c) {
        check(c->path && strcmp(c->path, FUZZ_PATH) == 0);
        check(c->mode >= 0 && c->mode < _CONFIG_MODE_MAX);
        check(c->hash_size > 0 && c->hash_limit > 0);
        check(c->lock_file && c->lock_file[0] == '/');
        check(!c->log_file || c->log_file[0] == '/');
        check(!c->stats_log_file || c->stats_log_file[0] == '/');
        check(!c->unix_path || (c->unix_path[0] == '/' && strlen(c->unix_path) <= 107));
        check(c->scheduler_priority >= 0 && c->scheduler_priority <= 99);
        check(c->netlink_buffer_size <= c->netlink_buffer_size_max_growth || c->netlink_buffer_size == 0);
        check(c->n_channels <= CONFIG_CHANNELS_MAX);
        size_t n_default = 0;
        for (size_t i = 0; i < c->n_channels; i++) {
                const ChannelConfig *ch = &c->channels[i];

                check(ch->type == c->channels[0].type);
                check(ch->family == AF_INET || ch->family == AF_INET6);
                check(ch->interface[0] != 0 && strlen(ch->interface) < CONFIG_IFNAME_MAX);
                n_default += ch->is_default;
        }
        check(n_default <= 1);
        if (c->expectation_sync.helpers) {
                check(c->expectation_sync.enabled);
                for (char **h = c->expectation_sync.helpers; *h; h++)
                        check(**h != 0);
        }
        if (c->filter) {
                const FilterConfig *f = c->filter;
                FilterConfig *copy = NULL;
                CtEntry e = {
                        .orig = { .l3 = AF_INET, .l4 = 6 },
                        .attrs = CT_ATTR_REPLY | CT_ATTR_TCP_STATE,
                        .tcp.state = CT_TCP_ESTABLISHED,
                };
                CtExpect x = { .master = e.orig };

                for (size_t i = 0; i < f->n_networks; i++)
                        check(f->networks[i].prefixlen <= (f->networks[i].family == AF_INET ? 32 : 128));
                check(filter_config_dup(f, &copy) == 0);
                check(filter_match_ct(f, &e) == filter_match_ct(copy, &e));
                check(filter_match_expect(f, &x) == filter_match_expect(copy, &x));
                filter_config_free(copy);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Config sentinel;
        ConfigDiagnostics d = {};
        Config *c = &sentinel;
        int r;

        /* the file loader caps at 1 MiB; bigger inputs only slow the fuzzer down */
        if (size > 256 * 1024)
                return 0;

        r = config_parse_string(FUZZ_PATH, (const char *) data, size, &c, &d);
        if (r == 0) {
                check(c && c != &sentinel);
                check_config(c);
                config_free(c);
        } else {
                check(r == -EINVAL || r == -ENOMEM);
                check(c == &sentinel);
                if (r == -EINVAL)
                        check(d.n > 0 && d.items[d.n - 1].level == LOG_ERR);
        }
        for (size_t i = 0; i < d.n; i++) {
                check(strncmp(d.items[i].message, FUZZ_PATH ":", strlen(FUZZ_PATH ":")) == 0);
                check(strlen(d.items[i].message) < 600);
        }
        config_diagnostics_clear(&d);
        return 0;
}
