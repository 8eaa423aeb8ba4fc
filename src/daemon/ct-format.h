/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * Rendering of cached objects as conntrack-tools 1.4.7 prints them (-i/-e plain and -x XML,
 * byte-identical: spec §5.3) and as JSON (one object per line).
 */

#include <stdint.h>
#include <stdio.h>

#include "ct-entry.h"

typedef enum CtFormat {
        CT_FORMAT_PLAIN,
        CT_FORMAT_XML,
        CT_FORMAT_JSON,
        _CT_FORMAT_MAX,
        _CT_FORMAT_INVALID = -EINVAL,
} CtFormat;

/* "plain", "xml", "json" */
const char *ct_format_to_string(CtFormat f);
CtFormat ct_format_from_string(const char *s);

typedef struct CtFormatExtra {
        bool show_reply;                /* internal cache: reply tuple shown if present */
        int64_t active_since_sec;       /* " [active since Ns]"; <0: omitted */
        int64_t expires_in_sec;         /* " [expires in Ns]" (ALARM external); <0: omitted */
} CtFormatExtra;

/* Write one line (with '\n') for a flow / an expectation. Returns 0 or a negative errno. */
int ct_format_entry(FILE *f, const CtEntry *e, CtFormat format, const CtFormatExtra *extra);
int ct_format_expect(FILE *f, const CtExpect *x, CtFormat format, const CtFormatExtra *extra);
