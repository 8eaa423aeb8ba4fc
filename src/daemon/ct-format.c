/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Rendering of cached flows and expectations (spec §5.3).
 *
 * Plain and XML are libnetfilter_conntrack's own renderings (through nfct-convert), exactly as
 * conntrackd 1.4.7 produced them: the timeout is never shown (it is stale in a cache), nor the
 * use count; the plain format never shows the conntrack id while XML does (<id>, internal
 * entries only: peers do not send it). Plain lines end with " [expires in Ns]" (ALARM external
 * cache) and " [active since Ns]".
 *
 * JSON is our own: one object per line, members only for what is present:
 *
 *   conntrack:
 *     "family"      "ipv4" | "ipv6"
 *     "proto"       protocol name as conntrack -L prints it ("tcp", "icmpv6", "unknown", ...)
 *     "protonum"    layer 4 protocol number
 *     "orig"        tuple (below); "reply" likewise, when present and shown
 *     "zone"        conntrack zone (0 = default)
 *     "state"       TCP, SCTP or DCCP state name ("ESTABLISHED", "COOKIE_WAIT", "OPEN", ...)
 *     "status"      array of IPS_* flag names without the prefix ("SEEN_REPLY", "ASSURED", ...;
 *                   "BIT<n>" for bits without a name)
 *     "timeout" "mark" "secmark" "id" "use"     numbers
 *     "helper"      helper name
 *     "labels"      array of the connlabel bit numbers set
 *     "master"      tuple of the master conntrack (related flows)
 *     "nat"         { "snat": address, "dnat": address, "spat": port, "dpat": port }
 *     "seq_adj"     { "orig": { "pos", "before", "after" }, "reply": { ... } }
 *     "tcp"         { "wscale_orig", "wscale_reply", "flags_orig", "mask_orig", "flags_reply",
 *                     "mask_reply" }
 *     "sctp"        { "vtag_orig", "vtag_reply" }
 *     "dccp"        { "role" }
 *     "synproxy"    { "isn", "its", "tsoff" }
 *     "counters"    { "orig": { "packets", "bytes" }, "reply": { "packets", "bytes" } }
 *     "timestamp"   { "start", "stop" } in nanoseconds since the epoch ("stop" if non-zero)
 *     "expires_in" "active_since"   seconds (cache bookkeeping)
 *
 *   expectation:
 *     "family" "proto" "protonum"   of the expected tuple
 *     "expected" "mask" "master"    tuples
 *     "zone" "timeout" "class" "id" numbers
 *     "flags"       array of "PERMANENT", "INACTIVE", "USERSPACE" ("BIT<n>" otherwise)
 *     "helper" "fn" strings
 *     "nat"         { "dir": number, "tuple": tuple }
 *     "expires_in" "active_since"
 *
 *   tuple: { "src": address, "dst": address } plus "sport"/"dport" for protocols with ports, or
 *          "type"/"code"/"id" for ICMP and ICMPv6.
 */

#include <inttypes.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "ct-format.h"
#include "nfct-convert.h"
#include "string-table.h"

static const char *const ct_format_table[_CT_FORMAT_MAX] = {
        [CT_FORMAT_PLAIN] = "plain",
        [CT_FORMAT_XML] = "xml",
        [CT_FORMAT_JSON] = "json",
};

DEFINE_STRING_TABLE(ct_format, CtFormat);

static CtFormatExtra extra_or_default(const CtFormatExtra *extra) {
        if (extra)
                return *extra;
        return (CtFormatExtra) {
                .show_reply = true,
                .active_since_sec = -1,
                .expires_in_sec = -1,
        };
}

static int finish(FILE *f) {
        return ferror(f) ? -EIO : 0;
}

/* ---- plain and XML ---- */

static int write_legacy(FILE *f, const char *line, bool xml, const CtFormatExtra *x) {
        fputs(line, f);
        if (!xml) {
                if (x->expires_in_sec >= 0)
                        fprintf(f, " [expires in %" PRIi64 "s]", x->expires_in_sec);
                if (x->active_since_sec >= 0)
                        fprintf(f, " [active since %" PRIi64 "s]", x->active_since_sec);
        }
        fputc('\n', f);
        return finish(f);
}

static int entry_legacy(FILE *f, const CtEntry *e, bool xml, const CtFormatExtra *x) {
        _cleanup_free_ char *line = NULL;
        CtEntry c = *e;
        int r;

        c.attrs &= ~(uint64_t) (CT_ATTR_TIMEOUT | CT_ATTR_USE);
        if (!xml)
                c.attrs &= ~(uint64_t) CT_ATTR_ID;
        if (!x->show_reply)
                c.attrs &= ~(uint64_t) CT_ATTR_REPLY;

        r = ct_entry_render_nfct(&c, xml, &line);
        if (r < 0)
                return r;
        return write_legacy(f, line, xml, x);
}

static int expect_legacy(FILE *f, const CtExpect *e, bool xml, const CtFormatExtra *x) {
        _cleanup_free_ char *line = NULL;
        CtExpect c = *e;
        int r;

        c.attrs &= ~(uint64_t) CT_EXP_ATTR_TIMEOUT;
        r = ct_expect_render_nfexp(&c, xml, &line);
        if (r < 0)
                return r;
        return write_legacy(f, line, xml, x);
}

/* ---- JSON ---- */

typedef struct Json {
        FILE *f;
        bool first;     /* no member written yet at the current nesting level */
} Json;

static void json_string(Json *j, const char *s, size_t max) {
        fputc('"', j->f);
        for (size_t i = 0; i < max && s[i]; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '"' || c == '\\')
                        fprintf(j->f, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        /* control characters, and bytes that need not be UTF-8 (names from
                         * peers): as code points, so the line stays valid JSON */
                        fprintf(j->f, "\\u%04x", c);
                else
                        fputc(c, j->f);
        }
        fputc('"', j->f);
}

static void json_key(Json *j, const char *key) {
        if (!j->first)
                fputc(',', j->f);
        j->first = false;
        json_string(j, key, SIZE_MAX);
        fputc(':', j->f);
}

static void json_open(Json *j, const char *key, char bracket) {
        if (key)
                json_key(j, key);
        else if (!j->first)
                fputc(',', j->f);
        fputc(bracket, j->f);
        j->first = true;
}

static void json_close(Json *j, char bracket) {
        fputc(bracket, j->f);
        j->first = false;
}

static void json_uint(Json *j, const char *key, uint64_t v) {
        json_key(j, key);
        fprintf(j->f, "%" PRIu64, v);
}

static void json_str(Json *j, const char *key, const char *v, size_t max) {
        json_key(j, key);
        json_string(j, v, max);
}

static void json_array_str(Json *j, const char *v) {
        if (!j->first)
                fputc(',', j->f);
        j->first = false;
        json_string(j, v, SIZE_MAX);
}

static void json_array_uint(Json *j, uint64_t v) {
        if (!j->first)
                fputc(',', j->f);
        j->first = false;
        fprintf(j->f, "%" PRIu64, v);
}

static void json_addr(Json *j, const char *key, int family, const CtAddr *a) {
        char buf[INET6_ADDRSTRLEN];

        json_str(j, key, ct_addr_to_string(family, a, buf, sizeof(buf)), SIZE_MAX);
}

static void json_tuple(Json *j, const char *key, const CtTuple *t) {
        json_open(j, key, '{');
        json_addr(j, "src", t->l3, &t->src);
        json_addr(j, "dst", t->l3, &t->dst);
        if (ct_proto_is_icmp(t->l4)) {
                json_uint(j, "type", t->icmp.type);
                json_uint(j, "code", t->icmp.code);
                json_uint(j, "id", t->icmp.id);
        } else if (ct_proto_has_ports(t->l4)) {
                json_uint(j, "sport", t->sport);
                json_uint(j, "dport", t->dport);
        }
        json_close(j, '}');
}

static void json_proto(Json *j, const CtTuple *t) {
        json_str(j, "family", t->l3 == AF_INET6 ? "ipv6" : "ipv4", SIZE_MAX);
        json_str(j, "proto", ct_proto_to_string(t->l4), SIZE_MAX);
        json_uint(j, "protonum", t->l4);
}

static void json_flags(Json *j, const char *key, uint32_t bits, const char *const *names,
                       size_t n_names) {
        json_open(j, key, '[');
        for (unsigned b = 0; b < 32; b++) {
                char buf[16];

                if (!(bits & (1u << b)))
                        continue;
                if (b < n_names && names[b])
                        json_array_str(j, names[b]);
                else {
                        snprintf(buf, sizeof(buf), "BIT%u", b);
                        json_array_str(j, buf);
                }
        }
        json_close(j, ']');
}

static void json_extra(Json *j, const CtFormatExtra *x) {
        if (x->expires_in_sec >= 0)
                json_uint(j, "expires_in", (uint64_t) x->expires_in_sec);
        if (x->active_since_sec >= 0)
                json_uint(j, "active_since", (uint64_t) x->active_since_sec);
}

static const char *const status_names[] = {
        "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED", "SRC_NAT", "DST_NAT", "SEQ_ADJUST",
        "SRC_NAT_DONE", "DST_NAT_DONE", "DYING", "FIXED_TIMEOUT", "TEMPLATE", "UNTRACKED",
        "HELPER", "OFFLOAD", "HW_OFFLOAD",
};

static const char *const sctp_state_names[] = {
        "NONE", "CLOSED", "COOKIE_WAIT", "COOKIE_ECHOED", "ESTABLISHED", "SHUTDOWN_SENT",
        "SHUTDOWN_RECD", "SHUTDOWN_ACK_SENT", "HEARTBEAT_SENT", "HEARTBEAT_ACKED",
};

static const char *const dccp_state_names[] = {
        "NONE", "REQUEST", "RESPOND", "PARTOPEN", "OPEN", "CLOSEREQ", "CLOSING", "TIMEWAIT",
        "IGNORE", "INVALID",
};

static const char *const expect_flag_names[] = { "PERMANENT", "INACTIVE", "USERSPACE" };

static void json_state(Json *j, const char *const *names, size_t n, uint8_t state) {
        if (state < n)
                json_str(j, "state", names[state], SIZE_MAX);
        else
                json_uint(j, "state", state);
}

static int entry_json(FILE *f, const CtEntry *e, const CtFormatExtra *x) {
        Json j = { .f = f, .first = true };
        uint64_t a = e->attrs;
        int family = e->orig.l3;

        json_open(&j, NULL, '{');
        json_proto(&j, &e->orig);
        json_tuple(&j, "orig", &e->orig);
        if ((a & CT_ATTR_REPLY) && x->show_reply)
                json_tuple(&j, "reply", &e->reply);
        json_uint(&j, "zone", e->zone);

        if ((a & CT_ATTR_TCP_STATE) && e->orig.l4 == IPPROTO_TCP) {
                const char *s = ct_tcp_state_to_string(e->tcp.state);

                if (s)
                        json_str(&j, "state", s, SIZE_MAX);
                else
                        json_uint(&j, "state", e->tcp.state);
        } else if (a & CT_ATTR_SCTP_STATE)
                json_state(&j, sctp_state_names, ELEMENTSOF(sctp_state_names), e->sctp.state);
        else if (a & CT_ATTR_DCCP_STATE)
                json_state(&j, dccp_state_names, ELEMENTSOF(dccp_state_names), e->dccp.state);

        if (a & CT_ATTR_STATUS)
                json_flags(&j, "status", e->status, status_names, ELEMENTSOF(status_names));
        if (a & CT_ATTR_TIMEOUT)
                json_uint(&j, "timeout", e->timeout);
        if (a & CT_ATTR_MARK)
                json_uint(&j, "mark", e->mark);
        if (a & CT_ATTR_SECMARK)
                json_uint(&j, "secmark", e->secmark);
        if (a & CT_ATTR_ID)
                json_uint(&j, "id", e->id);
        if (a & CT_ATTR_USE)
                json_uint(&j, "use", e->use);
        if (a & CT_ATTR_HELPER)
                json_str(&j, "helper", e->helper, sizeof(e->helper));
        if (a & CT_ATTR_LABELS) {
                json_open(&j, "labels", '[');
                for (unsigned b = 0; b < 32 * CT_LABELS_WORDS; b++)
                        if (e->labels[b / 32] & (1u << (b % 32)))
                                json_array_uint(&j, b);
                json_close(&j, ']');
        }
        if (a & CT_ATTR_MASTER)
                json_tuple(&j, "master", &e->master);

        if (a & (CT_ATTR_SNAT | CT_ATTR_DNAT | CT_ATTR_SPAT | CT_ATTR_DPAT)) {
                json_open(&j, "nat", '{');
                if (a & CT_ATTR_SNAT)
                        json_addr(&j, "snat", family, &e->nat.snat_addr);
                if (a & CT_ATTR_DNAT)
                        json_addr(&j, "dnat", family, &e->nat.dnat_addr);
                if (a & CT_ATTR_SPAT)
                        json_uint(&j, "spat", e->nat.spat_port);
                if (a & CT_ATTR_DPAT)
                        json_uint(&j, "dpat", e->nat.dpat_port);
                json_close(&j, '}');
        }
        if (a & CT_ATTR_NAT_SEQ_ADJ) {
                json_open(&j, "seq_adj", '{');
                json_open(&j, "orig", '{');
                json_uint(&j, "pos", e->seq_adj.orig_pos);
                json_uint(&j, "before", e->seq_adj.orig_before);
                json_uint(&j, "after", e->seq_adj.orig_after);
                json_close(&j, '}');
                json_open(&j, "reply", '{');
                json_uint(&j, "pos", e->seq_adj.repl_pos);
                json_uint(&j, "before", e->seq_adj.repl_before);
                json_uint(&j, "after", e->seq_adj.repl_after);
                json_close(&j, '}');
                json_close(&j, '}');
        }
        if (a & (CT_ATTR_TCP_WSCALE | CT_ATTR_TCP_FLAGS)) {
                json_open(&j, "tcp", '{');
                if (a & CT_ATTR_TCP_WSCALE) {
                        json_uint(&j, "wscale_orig", e->tcp.wscale_orig);
                        json_uint(&j, "wscale_reply", e->tcp.wscale_repl);
                }
                if (a & CT_ATTR_TCP_FLAGS) {
                        json_uint(&j, "flags_orig", e->tcp.flags_orig);
                        json_uint(&j, "mask_orig", e->tcp.mask_orig);
                        json_uint(&j, "flags_reply", e->tcp.flags_repl);
                        json_uint(&j, "mask_reply", e->tcp.mask_repl);
                }
                json_close(&j, '}');
        }
        if (a & CT_ATTR_SCTP_STATE) {
                json_open(&j, "sctp", '{');
                json_uint(&j, "vtag_orig", e->sctp.vtag_orig);
                json_uint(&j, "vtag_reply", e->sctp.vtag_repl);
                json_close(&j, '}');
        }
        if (a & CT_ATTR_DCCP_STATE) {
                json_open(&j, "dccp", '{');
                json_uint(&j, "role", e->dccp.role);
                json_close(&j, '}');
        }
        if (a & CT_ATTR_SYNPROXY) {
                json_open(&j, "synproxy", '{');
                json_uint(&j, "isn", e->synproxy.isn);
                json_uint(&j, "its", e->synproxy.its);
                json_uint(&j, "tsoff", e->synproxy.tsoff);
                json_close(&j, '}');
        }
        if (a & CT_ATTR_COUNTERS) {
                json_open(&j, "counters", '{');
                json_open(&j, "orig", '{');
                json_uint(&j, "packets", e->counters.packets_orig);
                json_uint(&j, "bytes", e->counters.bytes_orig);
                json_close(&j, '}');
                json_open(&j, "reply", '{');
                json_uint(&j, "packets", e->counters.packets_repl);
                json_uint(&j, "bytes", e->counters.bytes_repl);
                json_close(&j, '}');
                json_close(&j, '}');
        }
        if (a & CT_ATTR_TIMESTAMP) {
                json_open(&j, "timestamp", '{');
                json_uint(&j, "start", e->timestamp.start);
                if (e->timestamp.stop != 0)
                        json_uint(&j, "stop", e->timestamp.stop);
                json_close(&j, '}');
        }
        json_extra(&j, x);
        json_close(&j, '}');
        fputc('\n', f);
        return finish(f);
}

static int expect_json(FILE *f, const CtExpect *e, const CtFormatExtra *x) {
        Json j = { .f = f, .first = true };
        uint64_t a = e->attrs;

        json_open(&j, NULL, '{');
        json_proto(&j, &e->expected);
        json_tuple(&j, "expected", &e->expected);
        json_tuple(&j, "mask", &e->mask);
        json_tuple(&j, "master", &e->master);
        json_uint(&j, "zone", e->zone);
        if (a & CT_EXP_ATTR_TIMEOUT)
                json_uint(&j, "timeout", e->timeout);
        if (a & CT_EXP_ATTR_FLAGS)
                json_flags(&j, "flags", e->flags, expect_flag_names, ELEMENTSOF(expect_flag_names));
        if (a & CT_EXP_ATTR_CLASS)
                json_uint(&j, "class", e->class);
        if (a & CT_EXP_ATTR_ID)
                json_uint(&j, "id", e->id);
        if (a & CT_EXP_ATTR_HELPER)
                json_str(&j, "helper", e->helper, sizeof(e->helper));
        if (a & CT_EXP_ATTR_FN)
                json_str(&j, "fn", e->fn, sizeof(e->fn));
        if (a & CT_EXP_ATTR_NAT) {
                json_open(&j, "nat", '{');
                json_uint(&j, "dir", e->nat_dir);
                json_tuple(&j, "tuple", &e->nat_tuple);
                json_close(&j, '}');
        }
        json_extra(&j, x);
        json_close(&j, '}');
        fputc('\n', f);
        return finish(f);
}

/* ---- entry points ---- */

static bool family_valid(uint8_t l3) {
        return l3 == AF_INET || l3 == AF_INET6;
}

int ct_format_entry(FILE *f, const CtEntry *e, CtFormat format, const CtFormatExtra *extra) {
        CtFormatExtra x = extra_or_default(extra);

        if (!f || !e)
                return -EINVAL;
        if (!family_valid(e->orig.l3))
                return -EAFNOSUPPORT;

        switch (format) {
        case CT_FORMAT_PLAIN:
        case CT_FORMAT_XML:
                return entry_legacy(f, e, format == CT_FORMAT_XML, &x);
        case CT_FORMAT_JSON:
                return entry_json(f, e, &x);
        default:
                return -EINVAL;
        }
}

int ct_format_expect(FILE *f, const CtExpect *x, CtFormat format, const CtFormatExtra *extra) {
        CtFormatExtra ex = extra_or_default(extra);

        if (!f || !x)
                return -EINVAL;
        if (!family_valid(x->expected.l3) || !family_valid(x->master.l3) ||
            !family_valid(x->mask.l3))
                return -EAFNOSUPPORT;

        switch (format) {
        case CT_FORMAT_PLAIN:
        case CT_FORMAT_XML:
                return expect_legacy(f, x, format == CT_FORMAT_XML, &ex);
        case CT_FORMAT_JSON:
                return expect_json(f, x, &ex);
        default:
                return -EINVAL;
        }
}
