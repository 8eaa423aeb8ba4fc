/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * conntrackd.conf parser (grammar of conntrack-tools 1.4.7, spec §4).
 *
 * Two passes over a buffer: a lexer cuts the text into words and braces (with line numbers), then a
 * recursive-descent parser driven by one table of keywords fills a fresh Config. Each keyword of
 * the table says in which blocks it is allowed ("scopes"), so a keyword used in the wrong block
 * gets a message saying where it belongs. The first fatal error stops the parse; warnings are
 * collected and kept. Nothing is printed here: the caller logs the diagnostics.
 *
 * Words are not classified by the lexer (1.4.7's lexer made "dead" or "add" an IPv6 address); each
 * keyword interprets its value, which makes the parser accept slightly more than 1.4.7 did.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config.h"

#define CONFIG_FILE_SIZE_MAX (1024 * 1024)
#define UNIX_PATH_LEN_MAX 107           /* sizeof(sun_path) - 1 */
#define MESSAGE_LEN_MAX 480             /* longer diagnostics (huge tokens) are cut */

typedef enum TokenType {
        TOKEN_EOF,
        TOKEN_WORD,
        TOKEN_OPEN,     /* { */
        TOKEN_CLOSE,    /* } */
} TokenType;

typedef struct Token {
        TokenType type;
        unsigned line;
        const char *word;       /* TOKEN_WORD: NUL-terminated, in Parser.arena */
} Token;

typedef enum Scope {
        SCOPE_TOP,
        SCOPE_GENERAL,
        SCOPE_UNIX,
        SCOPE_SCHEDULER,
        SCOPE_FILTER,
        SCOPE_SYNC,
        SCOPE_FTFW,
        SCOPE_ALARM,
        SCOPE_NOTRACK,
        SCOPE_MULTICAST,
        SCOPE_UDP,
        SCOPE_TCP,
        SCOPE_OPTIONS,
        SCOPE_KEEPALIVED,
        SCOPE_STATS,
        SCOPE_HELPER,
        SCOPE_HELPER_TYPE,
        SCOPE_HELPER_POLICY,
        _SCOPE_MAX,
} Scope;

#define S(x) (1u << SCOPE_##x)
#define SCOPE_BIT(s) (1u << (s))
#define S_MODES (S(FTFW) | S(ALARM) | S(NOTRACK))
#define S_CHANNELS (S(MULTICAST) | S(UDP) | S(TCP))

static const char *const scope_name[_SCOPE_MAX] = {
        [SCOPE_TOP] = "the top level",
        [SCOPE_GENERAL] = "section General",
        [SCOPE_UNIX] = "the UNIX block",
        [SCOPE_SCHEDULER] = "the Scheduler block",
        [SCOPE_FILTER] = "the Filter block",
        [SCOPE_SYNC] = "section Sync",
        [SCOPE_FTFW] = "Mode FTFW",
        [SCOPE_ALARM] = "Mode ALARM",
        [SCOPE_NOTRACK] = "Mode NOTRACK",
        [SCOPE_MULTICAST] = "the Multicast block",
        [SCOPE_UDP] = "the UDP block",
        [SCOPE_TCP] = "the TCP block",
        [SCOPE_OPTIONS] = "the Options block",
        [SCOPE_KEEPALIVED] = "the Keepalived block",
        [SCOPE_STATS] = "section Stats",
        [SCOPE_HELPER] = "section Helper",
        [SCOPE_HELPER_TYPE] = "the Helper Type block",
        [SCOPE_HELPER_POLICY] = "the Helper Policy block",
};

typedef struct Parser {
        const char *path;
        ConfigDiagnostics *diag;

        Token *tokens;
        size_t n_tokens;
        size_t pos;
        char *arena;

        Config *config;

        unsigned sync_line;                     /* first Sync section, 0 = none */
        unsigned stats_line;                    /* first Stats section, 0 = none */
        unsigned mode_line[_CONFIG_MODE_MAX];   /* last Mode block of each mode, 0 = none */
        unsigned netlink_buffer_line;
        unsigned netlink_growth_line;
        unsigned commit_timeout_line;
        unsigned disable_internal_cache_line;
        unsigned keepalived_line;               /* the Keepalived block, 0 = none */
        unsigned syslog_line[2];                /* General, Stats */
        unsigned policy_line[3];                /* Filter Protocol, Address, State */
} Parser;

typedef struct Keyword Keyword;
typedef int (*KeywordParser)(Parser *p, const Keyword *k, const Token *kw, void *data);

struct Keyword {
        const char *name;
        unsigned scopes;        /* S(...) bits where the keyword is allowed */
        KeywordParser parse;
        size_t offset;          /* field in *data, for the generic parsers */
        unsigned arg;           /* parser specific */
};

static int parse_statement(Parser *p, Scope scope, void *data, const Token *kw);

/* ---------------------------------------------------------------------------------------------- */
/* Diagnostics */

/* Replace control characters and bytes that are not part of valid UTF-8 with '?'. */
static void make_printable(char *text) {
        uint8_t *s = (uint8_t *) text;

        while (*s) {
                size_t len = *s < 0x80 ? 1 : (*s & 0xe0) == 0xc0 ? 2 : (*s & 0xf0) == 0xe0 ? 3 :
                             (*s & 0xf8) == 0xf0 ? 4 : 0;
                size_t i;

                if (len == 1) {
                        if (*s < 0x20 || *s == 0x7f)
                                *s = '?';
                        s++;
                        continue;
                }
                /* no overlong two-byte forms; continuation bytes must follow */
                for (i = 1; len > 1 && i < len; i++)
                        if ((s[i] & 0xc0) != 0x80)
                                break;
                if (len == 0 || i < len || *s < 0xc2 || *s > 0xf4) {
                        *s++ = '?';
                        continue;
                }
                s += len;
        }
}

_printf_(5, 0)
static int diag_addv(ConfigDiagnostics *d, const char *path, int level, unsigned line,
                     const char *format, va_list ap) {
        _cleanup_free_ char *text = NULL;
        ConfigDiagnostic *items;
        char *message;
        int r;

        if (!d)
                return 0;

        if (vasprintf(&text, format, ap) < 0)
                return -ENOMEM;
        /* The text quotes tokens of the file: keep it printable and of sane length. */
        if (strlen(text) > MESSAGE_LEN_MAX)
                strcpy(text + MESSAGE_LEN_MAX - 3, "...");
        make_printable(text);

        if (line > 0)
                r = asprintf(&message, "%s:%u: %s", path, line, text);
        else
                r = asprintf(&message, "%s: %s", path, text);
        if (r < 0)
                return -ENOMEM;

        items = realloc(d->items, (d->n + 1) * sizeof(ConfigDiagnostic));
        if (!items) {
                free(message);
                return -ENOMEM;
        }
        d->items = items;
        d->items[d->n++] = (ConfigDiagnostic) { .level = level, .line = line, .message = message };
        return 0;
}

_printf_(4, 5)
static int diag_add(ConfigDiagnostics *d, const char *path, unsigned line, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = diag_addv(d, path, LOG_ERR, line, format, ap);
        va_end(ap);
        return r;
}

/* A fatal error: returns -EINVAL (or -ENOMEM if even the message cannot be stored). */
_printf_(3, 4)
static int parser_error(Parser *p, unsigned line, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = diag_addv(p->diag, p->path, LOG_ERR, line, format, ap);
        va_end(ap);
        return r < 0 ? r : -EINVAL;
}

/* A warning (or notice): returns 0, or -ENOMEM. */
_printf_(4, 5)
static int parser_log(Parser *p, int level, unsigned line, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = diag_addv(p->diag, p->path, level, line, format, ap);
        va_end(ap);
        return r;
}

#define parser_warn(p, line, ...) parser_log(p, LOG_WARNING, line, __VA_ARGS__)
#define parser_notice(p, line, ...) parser_log(p, LOG_NOTICE, line, __VA_ARGS__)

/* ---------------------------------------------------------------------------------------------- */
/* Lexer */

static bool char_is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool char_is_word(char c) {
        unsigned char u = (unsigned char) c;

        return u > 0x20 && u != 0x7f && c != '{' && c != '}' && c != '#';
}

static int push_token(Parser *p, size_t *cap, TokenType type, unsigned line, const char *word) {
        if (p->n_tokens >= *cap) {
                size_t n = *cap ? *cap * 2 : 256;
                Token *t;

                if (n > SIZE_MAX / sizeof(Token))
                        return -ENOMEM;
                t = realloc(p->tokens, n * sizeof(Token));
                if (!t)
                        return -ENOMEM;
                p->tokens = t;
                *cap = n;
        }
        p->tokens[p->n_tokens++] = (Token) { .type = type, .line = line, .word = word };
        return 0;
}

static int tokenize(Parser *p, const char *text, size_t size) {
        size_t cap = 0, i = 0, used = 0;
        unsigned line = 1;
        int r;

        /* Every word is copied with its NUL; words are separated, so this is enough. */
        if (size > (SIZE_MAX - 1) / 2)
                return -ENOMEM;
        p->arena = malloc(size * 2 + 1);
        if (!p->arena)
                return -ENOMEM;

        while (i < size) {
                char c = text[i];

                if (c == '\n') {
                        line++;
                        i++;
                } else if (char_is_blank(c))
                        i++;
                else if (c == '#') {
                        while (i < size && text[i] != '\n')
                                i++;
                } else if (c == '{' || c == '}') {
                        r = push_token(p, &cap, c == '{' ? TOKEN_OPEN : TOKEN_CLOSE, line, NULL);
                        if (r < 0)
                                return r;
                        i++;
                } else if (char_is_word(c)) {
                        size_t start = i;
                        char *w = p->arena + used;

                        while (i < size && char_is_word(text[i]))
                                i++;
                        memcpy(w, text + start, i - start);
                        w[i - start] = 0;
                        used += i - start + 1;
                        r = push_token(p, &cap, TOKEN_WORD, line, w);
                        if (r < 0)
                                return r;
                } else
                        return parser_error(p, line, "invalid character 0x%02x", (unsigned char) c);
        }

        /* The end of file is reported on the last line that has text. */
        if (line > 1 && size > 0 && text[size - 1] == '\n')
                line--;
        return push_token(p, &cap, TOKEN_EOF, line, NULL);
}

static const Token *peek_token(Parser *p) {
        return &p->tokens[p->pos];
}

static const Token *next_token(Parser *p) {
        const Token *t = &p->tokens[p->pos];

        if (t->type != TOKEN_EOF)
                p->pos++;
        return t;
}

static const char *token_text(const Token *t) {
        switch (t->type) {
        case TOKEN_WORD:
                return t->word;
        case TOKEN_OPEN:
                return "{";
        case TOKEN_CLOSE:
                return "}";
        default:
                return "end of file";
        }
}

/* The value of keyword 'kw': the next token, which must be a word. */
static int expect_value(Parser *p, const Token *kw, const char *expected, const Token **ret) {
        const Token *t = peek_token(p);

        if (t->type == TOKEN_WORD) {
                *ret = next_token(p);
                return 0;
        }
        if (t->type == TOKEN_EOF)
                return parser_error(p, kw->line, "missing value for %s: expected %s, got end of file",
                                    kw->word, expected);
        return parser_error(p, kw->line, "missing value for %s: expected %s, got '%s'",
                            kw->word, expected, token_text(t));
}

static int expect_open(Parser *p, const Token *kw) {
        const Token *t = peek_token(p);

        if (t->type == TOKEN_OPEN) {
                next_token(p);
                return 0;
        }
        if (t->type == TOKEN_EOF)
                return parser_error(p, kw->line, "expected '{' after %s, got end of file", kw->word);
        return parser_error(p, t->line, "expected '{' after %s, got '%s'", kw->word, token_text(t));
}

/* Fetch the next token of a { list }: returns 1 with a word, 0 at the closing brace. */
static int list_next(Parser *p, const Token *opener, const char *what, const Token **ret) {
        const Token *t = next_token(p);

        switch (t->type) {
        case TOKEN_WORD:
                *ret = t;
                return 1;
        case TOKEN_CLOSE:
                return 0;
        case TOKEN_OPEN:
                return parser_error(p, t->line, "unexpected '{' in the %s list", what);
        default:
                return parser_error(p, t->line,
                                    "unexpected end of file: the %s list opened at line %u is not closed",
                                    what, opener->line);
        }
}

/* '{' statements '}' of the given scope. */
static int parse_block(Parser *p, Scope scope, void *data, const Token *opener) {
        int r;

        r = expect_open(p, opener);
        if (r < 0)
                return r;

        for (;;) {
                const Token *t = next_token(p);

                switch (t->type) {
                case TOKEN_CLOSE:
                        return 0;
                case TOKEN_OPEN:
                        return parser_error(p, t->line, "unexpected '{' in %s: expected a keyword",
                                            scope_name[scope]);
                case TOKEN_EOF:
                        return parser_error(p, t->line,
                                            "unexpected end of file: %s opened at line %u is not closed",
                                            scope_name[scope], opener->line);
                case TOKEN_WORD:
                        r = parse_statement(p, scope, data, t);
                        if (r < 0)
                                return r;
                        break;
                }
        }
}

/* ---------------------------------------------------------------------------------------------- */
/* Values */

static int parse_u32(Parser *p, const Token *kw, const Token *v, uint32_t *ret) {
        uint64_t n = 0;
        bool overflow = false;

        for (const char *s = v->word; *s; s++) {
                if (*s < '0' || *s > '9')
                        return parser_error(p, v->line, "invalid value '%s' for %s: expected a number",
                                            v->word, kw->word);
                if (!overflow) {
                        n = n * 10 + (uint64_t) (*s - '0');
                        overflow = n > UINT32_MAX;
                }
        }
        if (overflow)
                return parser_error(p, v->line, "value '%s' for %s is out of range: the maximum is %u",
                                    v->word, kw->word, UINT32_MAX);
        *ret = (uint32_t) n;
        return 0;
}

static int read_u32(Parser *p, const Token *kw, uint32_t *ret) {
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "a number", &v);
        if (r < 0)
                return r;
        return parse_u32(p, kw, v, ret);
}

/* on/off/yes/no in any case: 1, 0, or -EINVAL */
static int bool_from_word(const char *s) {
        if (strcasecmp(s, "on") == 0 || strcasecmp(s, "yes") == 0)
                return 1;
        if (strcasecmp(s, "off") == 0 || strcasecmp(s, "no") == 0)
                return 0;
        return -EINVAL;
}

static int read_bool(Parser *p, const Token *kw, bool *ret) {
        const Token *v = NULL;
        int r, b;

        r = expect_value(p, kw, "on or off", &v);
        if (r < 0)
                return r;
        b = bool_from_word(v->word);
        if (b < 0)
                return parser_error(p, v->line, "invalid value '%s' for %s: expected on, off, yes or no",
                                    v->word, kw->word);
        *ret = b;
        return 0;
}

static bool word_is_identifier(const char *s) {
        return (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');
}

/* An IPv4 (a.b.c.d) or IPv6 (hex groups and colons) token with an optional /prefix. Tokens of
 * this shape that still are not valid addresses only warn, as in 1.4.7; others are errors. */
static bool word_is_address(const char *s) {
        size_t n = strcspn(s, "/");
        bool colon = false, dot = false, hex = false;

        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == ':')
                        colon = true;
                else if (c == '.')
                        dot = true;
                else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
                        hex = true;
                else if (c < '0' || c > '9')
                        return false;
        }
        if (!colon && (!dot || hex))
                return false;
        if (s[n] == '/') {
                if (s[n + 1] == 0)
                        return false;
                for (const char *d = s + n + 1; *d; d++)
                        if (*d < '0' || *d > '9')
                                return false;
        }
        return true;
}

static const char *family_keyword(int family) {
        return family == AF_INET6 ? "IPv6" : "IPv4";
}

/* ---------------------------------------------------------------------------------------------- */
/* Generic keyword parsers */

static void *field_of(void *data, const Keyword *k) {
        return (uint8_t *) data + k->offset;
}

static int kw_u32(Parser *p, const Keyword *k, const Token *kw, void *data) {
        return read_u32(p, kw, field_of(data, k));
}

static int kw_bool(Parser *p, const Keyword *k, const Token *kw, void *data) {
        return read_bool(p, kw, field_of(data, k));
}

/* Values of the Helper section: checked, not kept. */
static int kw_u32_ignored(Parser *p, const Keyword *k, const Token *kw, void *data) {
        uint32_t v;

        return read_u32(p, kw, &v);
}

static int kw_bool_ignored(Parser *p, const Keyword *k, const Token *kw, void *data) {
        bool v;

        return read_bool(p, kw, &v);
}

/* An absolute path of at most k->arg characters into the char* at k->offset. */
/* *dst = a copy of word, the old value freed; -ENOMEM leaves *dst as it was. */
static int set_word(char **dst, const char *word) {
        char *s = strdup(word);

        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

static int kw_path(Parser *p, const Keyword *k, const Token *kw, void *data) {
        char **dst = field_of(data, k);
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "an absolute path", &v);
        if (r < 0)
                return r;
        if (v->word[0] != '/')
                return parser_error(p, v->line, "invalid value '%s' for %s: expected an absolute path",
                                    v->word, kw->word);
        if (strlen(v->word) > k->arg)
                return parser_error(p, v->line, "%s is longer than %u characters: '%s'",
                                    kw->word, k->arg, v->word);
        return set_word(dst, v->word);
}

/* ---------------------------------------------------------------------------------------------- */
/* General */

/* LogFile on|off|/path; k->arg: 0 = General, 1 = Stats */
static int kw_logfile(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        char **dst = k->arg ? &c->stats_log_file : &c->log_file;
        const char *dflt = k->arg ? "/var/log/conntrackd-stats.log" : "/var/log/conntrackd.log";
        const Token *v = NULL;
        char *s = NULL;
        int r, b;

        r = expect_value(p, kw, "on, off or an absolute path", &v);
        if (r < 0)
                return r;

        b = bool_from_word(v->word);
        if (b > 0)
                s = strdup(dflt);
        else if (b < 0) {
                if (v->word[0] != '/')
                        return parser_error(p, v->line,
                                            "invalid value '%s' for LogFile: expected on, off or an "
                                            "absolute path", v->word);
                if (strlen(v->word) >= CONFIG_PATH_MAX)
                        return parser_error(p, v->line, "LogFile is longer than %d characters: '%s'",
                                            CONFIG_PATH_MAX - 1, v->word);
                s = strdup(v->word);
        }
        if (b != 0 && !s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

static const struct {
        const char *name;
        int facility;
} syslog_facilities[] = {
        { "daemon", LOG_DAEMON },
        { "local0", LOG_LOCAL0 },
        { "local1", LOG_LOCAL1 },
        { "local2", LOG_LOCAL2 },
        { "local3", LOG_LOCAL3 },
        { "local4", LOG_LOCAL4 },
        { "local5", LOG_LOCAL5 },
        { "local6", LOG_LOCAL6 },
        { "local7", LOG_LOCAL7 },
};

static int syslog_not_implemented(Parser *p, const Token *kw) {
        return parser_warn(p, kw->line, "Syslog is not implemented, ignoring: messages go to the "
                           "journal, which forwards them to syslog where that is configured");
}

/* Syslog on|off|facility; k->arg: 0 = General, 1 = Stats */
static int kw_syslog(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        int *dst = k->arg ? &c->stats_syslog_facility : &c->syslog_facility;
        const Token *v = NULL;
        int r, b;

        r = expect_value(p, kw, "on, off or a facility name", &v);
        if (r < 0)
                return r;
        p->syslog_line[k->arg] = kw->line;

        b = bool_from_word(v->word);
        if (b == 0) {
                *dst = -1;
                return 0;
        }
        if (b > 0) {
                *dst = LOG_DAEMON;
                /* Stats Syslog: the flow log goes to syslog(3) (flow-log.c) */
                return k->arg ? 0 : syslog_not_implemented(p, kw);
        }
        if (!word_is_identifier(v->word))
                return parser_error(p, v->line,
                                    "invalid value '%s' for Syslog: expected on, off or a facility name",
                                    v->word);
        for (size_t i = 0; i < ELEMENTSOF(syslog_facilities); i++)
                if (streq(v->word, syslog_facilities[i].name)) {
                        *dst = syslog_facilities[i].facility;
                        return k->arg ? 0 : syslog_not_implemented(p, kw);
                }
        return parser_warn(p, v->line, "'%s' is not a known syslog facility (daemon, local0 ... local7), "
                           "ignoring", v->word);
}

static int kw_nice(Parser *p, const Keyword *k, const Token *kw, void *data) {
        const Token *v = NULL;
        const char *s;
        int r;

        r = expect_value(p, kw, "a signed number", &v);
        if (r < 0)
                return r;
        s = v->word;
        if ((*s != '-' && *s != '+') || s[1] == 0 || strspn(s + 1, "0123456789") != strlen(s + 1))
                return parser_error(p, v->line,
                                    "invalid value '%s' for Nice: expected a signed number such as -5 "
                                    "or +5", v->word);
        return parser_warn(p, kw->line, "Nice is deprecated and not implemented, ignoring: set Nice= in "
                           "the systemd unit instead");
}

static int kw_backlog(Parser *p, const Keyword *k, const Token *kw, void *data) {
        uint32_t v;
        int r;

        r = read_u32(p, kw, &v);
        if (r < 0)
                return r;
        return parser_warn(p, kw->line, "UNIX Backlog is deprecated and not implemented, ignoring: the "
                           "control interface is D-Bus");
}

static int kw_overrun_resync(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        const Token *v = NULL;
        uint32_t n;
        int r, b;

        r = expect_value(p, kw, "on, off or a number of seconds", &v);
        if (r < 0)
                return r;
        b = bool_from_word(v->word);
        if (b >= 0) {
                c->netlink_overrun_resync = b ? 30 : 0;
                return 0;
        }
        if (v->word[0] < '0' || v->word[0] > '9')
                return parser_error(p, v->line,
                                    "invalid value '%s' for NetlinkOverrunResync: expected on, off or a "
                                    "number of seconds", v->word);
        r = parse_u32(p, kw, v, &n);
        if (r < 0)
                return r;
        if (n == 0) {
                /* as in 1.4.x, an explicit 0 is the same as not set */
                c->netlink_overrun_resync = 30;
                return parser_notice(p, kw->line, "NetlinkOverrunResync 0 means the default of 30 "
                                     "seconds; use 'NetlinkOverrunResync off' to disable the resync");
        }
        c->netlink_overrun_resync = n;
        return 0;
}

static int kw_netlink_buffer_size(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;

        p->netlink_buffer_line = kw->line;
        return read_u32(p, kw, &c->netlink_buffer_size);
}

static int kw_netlink_growth(Parser *p, const Keyword *k, const Token *kw, void *data) {

        p->netlink_growth_line = kw->line;
        return read_u32(p, kw, field_of(data, k));
}

static int kw_poll_secs(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        uint32_t n;
        int r;

        r = read_u32(p, kw, &n);
        if (r < 0)
                return r;
        if (n == 0)
                return parser_error(p, kw->line, "PollSecs must be greater than 0");
        c->poll_secs = n;
        return parser_warn(p, kw->line, "PollSecs: polling mode is not implemented, kernel events are "
                           "used instead");
}

static int kw_unix(Parser *p, const Keyword *k, const Token *kw, void *data) {
        return parse_block(p, SCOPE_UNIX, data, kw);
}

static int kw_scheduler(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        int r;

        r = parse_block(p, SCOPE_SCHEDULER, data, kw);
        if (r < 0)
                return r;
        c->scheduler_set = true;
        return 0;
}

static int kw_scheduler_type(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "RR or FIFO", &v);
        if (r < 0)
                return r;
        if (strcasecmp(v->word, "RR") == 0)
                c->scheduler_policy = SCHED_RR;
        else if (strcasecmp(v->word, "FIFO") == 0)
                c->scheduler_policy = SCHED_FIFO;
        else
                return parser_error(p, v->line, "unknown scheduler '%s': expected RR or FIFO", v->word);
        return 0;
}

static int kw_scheduler_priority(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        uint32_t n;
        int r;

        r = read_u32(p, kw, &n);
        if (r < 0)
                return r;
        if (n > 99)
                return parser_error(p, kw->line, "Scheduler Priority %u is out of range: expected 0 to 99",
                                    n);
        c->scheduler_priority = (int) n;
        return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Filter */

static int kw_filter(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        bool kernelspace = false;
        const Token *t = peek_token(p), *v = NULL;
        int r;

        if (t->type == TOKEN_WORD && streq(t->word, "From")) {
                next_token(p);
                r = expect_value(p, t, "Userspace or Kernelspace", &v);
                if (r < 0)
                        return r;
                if (streq(v->word, "Kernelspace"))
                        kernelspace = true;
                else if (!streq(v->word, "Userspace"))
                        return parser_error(p, v->line, "invalid value '%s' for Filter From: expected "
                                            "Userspace or Kernelspace", v->word);
        }

        if (!c->filter) {
                r = filter_config_new(&c->filter);
                if (r < 0)
                        return r;
        }
        c->filter->kernelspace = kernelspace;
        return parse_block(p, SCOPE_FILTER, c->filter, kw);
}

/* "Accept" or "Ignore"; the sets of repeated clauses are merged and the last policy wins. */
static int read_policy(Parser *p, const Token *kw, FilterPolicy *policy, unsigned *line) {
        FilterPolicy n;
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "Accept or Ignore", &v);
        if (r < 0)
                return r;
        if (streq(v->word, "Accept"))
                n = FILTER_ACCEPT;
        else if (streq(v->word, "Ignore"))
                n = FILTER_IGNORE;
        else
                return parser_error(p, v->line, "invalid value '%s' for %s: expected Accept or Ignore",
                                    v->word, kw->word);

        if (*policy != FILTER_NONE && *policy != n) {
                r = parser_warn(p, kw->line, "%s %s overrides the policy of line %u; the %s lists are "
                                "merged", kw->word, v->word, *line, kw->word);
                if (r < 0)
                        return r;
        }
        *policy = n;
        *line = kw->line;
        return expect_open(p, kw);
}

static int protocol_from_name(const char *name) {
        struct protoent pe, *res = NULL;
        char buf[1024];

        if (streq(name, "TCP"))
                return IPPROTO_TCP;
        if (streq(name, "UDP"))
                return IPPROTO_UDP;
        if (getprotobyname_r(name, &pe, buf, sizeof(buf), &res) != 0 || !res)
                return -ENOENT;
        if (res->p_proto < 0 || res->p_proto > 255)
                return -ERANGE;
        return res->p_proto;
}

static int kw_filter_protocol(Parser *p, const Keyword *k, const Token *kw, void *data) {
        FilterConfig *f = data;
        const Token *v = NULL;
        int r;

        r = read_policy(p, kw, &f->protocol_policy, &p->policy_line[0]);
        if (r < 0)
                return r;

        while ((r = list_next(p, kw, "Protocol", &v)) > 0) {
                int proto = protocol_from_name(v->word);

                if (proto < 0) {
                        r = parser_warn(p, v->line, "unknown protocol '%s' in Filter Protocol, ignoring",
                                        v->word);
                        if (r < 0)
                                return r;
                        continue;
                }
                f->protocols[proto] = true;
        }
        return r;
}

static int filter_add_address(Parser *p, FilterConfig *f, const Token *kw, const Token *v, int family) {
        FilterNetwork n;
        int r;

        if (!word_is_address(v->word))
                return parser_error(p, v->line, "invalid value '%s' for %s: expected an %s address or "
                                    "network", v->word, kw->word, family_keyword(family));

        r = filter_network_parse(v->word, &n);
        if (r < 0) {
                _cleanup_free_ char *addr = strndup(v->word, strcspn(v->word, "/"));

                if (!addr)
                        return -ENOMEM;
                if (filter_network_parse(addr, &n) >= 0)
                        return parser_warn(p, v->line, "the prefix length of '%s' is out of range "
                                           "(0-%u), ignoring", v->word, n.family == AF_INET ? 32 : 128);
                return parser_warn(p, v->line, "'%s' is not a valid %s address, ignoring", v->word,
                                   family_keyword(family));
        }
        if (n.family != family)
                return parser_warn(p, v->line, "'%s' is not an %s address but is given with %s, "
                                   "ignoring", v->word, family_keyword(family), kw->word);
        return filter_config_add_network(f, &n);
}

static int kw_filter_address(Parser *p, const Keyword *k, const Token *kw, void *data) {
        FilterConfig *f = data;
        const Token *t = NULL, *v = NULL;
        int r;

        r = read_policy(p, kw, &f->address_policy, &p->policy_line[1]);
        if (r < 0)
                return r;

        while ((r = list_next(p, kw, "Address", &t)) > 0) {
                int family;

                if (streq(t->word, "IPv4_address"))
                        family = AF_INET;
                else if (streq(t->word, "IPv6_address"))
                        family = AF_INET6;
                else
                        return parser_error(p, t->line, "unknown keyword '%s' in Filter Address: "
                                            "expected IPv4_address or IPv6_address", t->word);
                r = expect_value(p, t, family == AF_INET ? "an IPv4 address" : "an IPv6 address", &v);
                if (r < 0)
                        return r;
                r = filter_add_address(p, f, t, v, family);
                if (r < 0)
                        return r;
        }
        return r;
}

static int tcp_state_from_config_name(const char *s) {
        CtTcpState st;

        if (streq(s, "CLOSED"))
                return CT_TCP_CLOSE;
        st = ct_tcp_state_from_string(s);
        if (st < 0 || st == CT_TCP_NONE)
                return -EINVAL;
        return st;
}

static int kw_filter_state(Parser *p, const Keyword *k, const Token *kw, void *data) {
        FilterConfig *f = data;
        const Token *t = NULL, *v = NULL;
        bool pending = false;
        int r;

        r = read_policy(p, kw, &f->state_policy, &p->policy_line[2]);
        if (r < 0)
                return r;

        while ((r = list_next(p, kw, "State", &t)) > 0) {
                if (streq(t->word, "for")) {
                        r = expect_value(p, t, "TCP", &v);
                        if (r < 0)
                                return r;
                        if (!streq(v->word, "TCP"))
                                return parser_error(p, v->line, "only TCP states can be filtered: "
                                                    "expected 'for TCP', got 'for %s'", v->word);
                        pending = false;
                        continue;
                }
                int st = tcp_state_from_config_name(t->word);
                if (st < 0)
                        return parser_error(p, t->line, "unknown TCP state '%s': expected SYN_SENT, "
                                            "SYN_RECV, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, "
                                            "TIME_WAIT, CLOSED, CLOSE or LISTEN", t->word);
                f->tcp_states[st] = true;
                pending = true;
        }
        if (r == 0 && pending)
                return parser_error(p, p->tokens[p->pos - 1].line,
                                    "expected 'for TCP' after the TCP state names");
        return r;
}

/* ---------------------------------------------------------------------------------------------- */
/* Sync */

static int kw_mode(Parser *p, const Keyword *k, const Token *kw, void *data) {
        const Token *v = NULL;
        ConfigMode mode;
        Scope scope;
        int r;

        r = expect_value(p, kw, "FTFW, ALARM or NOTRACK", &v);
        if (r < 0)
                return r;

        if (strcasecmp(v->word, "FTFW") == 0)
                mode = CONFIG_MODE_FTFW;
        else if (strcasecmp(v->word, "ALARM") == 0)
                mode = CONFIG_MODE_ALARM;
        else if (strcasecmp(v->word, "NOTRACK") == 0)
                mode = CONFIG_MODE_NOTRACK;
        else if (strcasecmp(v->word, "NACK") == 0) {
                mode = CONFIG_MODE_FTFW;
                r = parser_warn(p, v->line, "Mode %s is deprecated, use Mode FTFW", v->word);
        } else if (strlen(v->word) == 10 && strncasecmp(v->word, "persisten", 9) == 0 &&
                   v->word[9] == 'T') {
                /* 1.4.7 only knows this spelling with a capital T at the end */
                mode = CONFIG_MODE_ALARM;
                r = parser_warn(p, v->line, "Mode %s is deprecated, use Mode ALARM", v->word);
        } else
                return parser_error(p, v->line, "unknown synchronization mode '%s': expected FTFW, ALARM "
                                    "or NOTRACK", v->word);
        if (r < 0)
                return r;

        scope = mode == CONFIG_MODE_FTFW ? SCOPE_FTFW :
                mode == CONFIG_MODE_ALARM ? SCOPE_ALARM : SCOPE_NOTRACK;
        p->mode_line[mode] = kw->line;
        return parse_block(p, scope, data, kw);
}

static int kw_commit_timeout(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;

        p->commit_timeout_line = kw->line;
        return read_u32(p, kw, &c->commit_timeout);
}

static int kw_disable_internal_cache(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;

        p->disable_internal_cache_line = kw->line;
        return read_bool(p, kw, &c->disable_internal_cache);
}

static int kw_options(Parser *p, const Keyword *k, const Token *kw, void *data) {
        return parse_block(p, SCOPE_OPTIONS, data, kw);
}

static void strv_free(char **l) {
        if (!l)
                return;
        for (char **s = l; *s; s++)
                free(*s);
        free(l);
}

static int kw_expectation_sync(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        const Token *t = peek_token(p), *v = NULL;
        char **list = NULL;
        size_t n = 0;
        int r, b;

        if (t->type != TOKEN_OPEN) {
                r = expect_value(p, kw, "on, off or a { list of helper names }", &v);
                if (r < 0)
                        return r;
                b = bool_from_word(v->word);
                if (b < 0)
                        return parser_error(p, v->line, "invalid value '%s' for ExpectationSync: expected "
                                            "on, off or a { list of helper names }", v->word);
                c->expectation_sync.enabled = b;
                strv_free(c->expectation_sync.helpers);
                c->expectation_sync.helpers = NULL;
                return 0;
        }

        next_token(p);
        list = calloc(1, sizeof(char *));
        if (!list)
                return -ENOMEM;
        while ((r = list_next(p, kw, "ExpectationSync", &v)) > 0) {
                char **a = realloc(list, (n + 2) * sizeof(char *));

                if (!a) {
                        r = -ENOMEM;
                        break;
                }
                list = a;
                list[n] = strdup(v->word);
                if (!list[n]) {
                        r = -ENOMEM;
                        break;
                }
                list[++n] = NULL;
        }
        if (r < 0) {
                strv_free(list);
                return r;
        }
        if (n == 0) {
                r = parser_warn(p, kw->line, "empty ExpectationSync list: no expectation is synchronized");
                if (r < 0) {
                        strv_free(list);
                        return r;
                }
        }
        strv_free(c->expectation_sync.helpers);
        c->expectation_sync.helpers = list;
        c->expectation_sync.enabled = true;
        return 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Channels */

static const Scope channel_scope[_CHANNEL_TYPE_MAX] = {
        [CHANNEL_MULTICAST] = SCOPE_MULTICAST,
        [CHANNEL_UDP] = SCOPE_UDP,
        [CHANNEL_TCP] = SCOPE_TCP,
};

static const char *const channel_keyword[_CHANNEL_TYPE_MAX] = {
        [CHANNEL_MULTICAST] = "Multicast",
        [CHANNEL_UDP] = "UDP",
        [CHANNEL_TCP] = "TCP",
};

static int channel_check(Parser *p, const ChannelConfig *ch, const char *name) {
        int r = 0;

        if (ch->interface[0] == 0)
                return parser_error(p, ch->line, "%s block without Interface: expected 'Interface <name>'",
                                    name);

        if (ch->type == CHANNEL_MULTICAST) {
                if (!ch->has_address)
                        r = parser_warn(p, ch->line, "Multicast block without a group address "
                                        "(IPv4_address or IPv6_address)");
                if (r >= 0 && ch->port == 0)
                        r = parser_warn(p, ch->line, "Multicast block without Group (the UDP port)");
                if (r >= 0 && ch->family == AF_INET6 && ch->has_interface_address)
                        r = parser_warn(p, ch->line, "IPv4_interface is set for an IPv6 multicast group: "
                                        "surely this is not what you want; it is ignored");
        } else {
                if (!ch->has_destination)
                        r = parser_warn(p, ch->line, "%s block without IPv4_Destination_Address or "
                                        "IPv6_Destination_Address: nothing can be sent", name);
                if (r >= 0 && ch->port == 0)
                        r = parser_warn(p, ch->line, "%s block without Port", name);
        }
        return r;
}

static int kw_channel(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        ChannelType type = (ChannelType) k->arg;
        const Token *t = peek_token(p);
        ChannelConfig ch;
        int r;

        ch = (ChannelConfig) {
                .type = type,
                .checksum = true,
                .line = kw->line,
        };
        if (t->type == TOKEN_WORD && streq(t->word, "Default")) {
                next_token(p);
                ch.is_default = true;
        }

        if (c->n_channels >= CONFIG_CHANNELS_MAX)
                return parser_error(p, kw->line, "too many dedicated links: at most %d Multicast, UDP or "
                                    "TCP blocks", CONFIG_CHANNELS_MAX);
        if (c->n_channels > 0 && c->channels[0].type != type)
                return parser_error(p, kw->line, "cannot use %s together with the %s block of line %u: all "
                                    "dedicated links must be of one type", kw->word,
                                    channel_keyword[c->channels[0].type], c->channels[0].line);

        r = parse_block(p, channel_scope[type], &ch, kw);
        if (r < 0)
                return r;
        if (ch.family == 0)
                ch.family = AF_INET;
        r = channel_check(p, &ch, kw->word);
        if (r < 0)
                return r;

        if (ch.is_default)
                for (size_t i = 0; i < c->n_channels; i++)
                        if (c->channels[i].is_default) {
                                r = parser_warn(p, kw->line, "several Default dedicated links: this one "
                                                "replaces the one of line %u", c->channels[i].line);
                                if (r < 0)
                                        return r;
                                c->channels[i].is_default = false;
                        }
        c->channels[c->n_channels++] = ch;
        return 0;
}

/* An address of 'family' into *dst. Addresses that set the channel's family must agree with the
 * one given before; as in 1.4.7, a mismatch or an address that does not parse only warns. */
static int channel_address(Parser *p, const Token *kw, ChannelConfig *ch, int family, CtAddr *dst,
                           bool *has, bool sets_family) {
        const Token *v = NULL;
        CtAddr a = {};
        int r;

        r = expect_value(p, kw, family == AF_INET ? "an IPv4 address" : "an IPv6 address", &v);
        if (r < 0)
                return r;
        if (!word_is_address(v->word))
                return parser_error(p, v->line, "invalid value '%s' for %s: expected an %s address",
                                    v->word, kw->word, family_keyword(family));
        if (inet_pton(family, v->word, &a) != 1)
                return parser_warn(p, v->line, "'%s' is not a valid %s address for %s, ignoring",
                                   v->word, family_keyword(family), kw->word);
        if (sets_family) {
                if (ch->family != 0 && ch->family != family)
                        return parser_warn(p, kw->line, "%s %s does not match the %s address given "
                                           "before: surely this is not what you want; ignoring",
                                           kw->word, v->word, family_keyword(ch->family));
                ch->family = family;
        }
        *dst = a;
        *has = true;
        return 0;
}

static int kw_ch_address(Parser *p, const Keyword *k, const Token *kw, void *data) {
        ChannelConfig *ch = data;

        return channel_address(p, kw, ch, (int) k->arg, &ch->address, &ch->has_address, true);
}

static int kw_ch_destination(Parser *p, const Keyword *k, const Token *kw, void *data) {
        ChannelConfig *ch = data;

        return channel_address(p, kw, ch, (int) k->arg, &ch->destination, &ch->has_destination, true);
}

static int kw_ch_interface_address(Parser *p, const Keyword *k, const Token *kw, void *data) {
        ChannelConfig *ch = data;

        return channel_address(p, kw, ch, AF_INET, &ch->interface_address, &ch->has_interface_address,
                               false);
}

static int kw_ch_ipv6_interface(Parser *p, const Keyword *k, const Token *kw, void *data) {
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "an IPv6 address", &v);
        if (r < 0)
                return r;
        return parser_warn(p, kw->line, "IPv6_interface is deprecated and has no effect, ignoring: the "
                           "interface is given by Interface");
}

static int kw_ch_interface(Parser *p, const Keyword *k, const Token *kw, void *data) {
        ChannelConfig *ch = data;
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "an interface name", &v);
        if (r < 0)
                return r;
        if (strlen(v->word) >= CONFIG_IFNAME_MAX)
                return parser_error(p, v->line, "interface name '%s' is too long: at most %d characters",
                                    v->word, CONFIG_IFNAME_MAX - 1);
        if (strchr(v->word, '/') || streq(v->word, ".") || streq(v->word, ".."))
                return parser_error(p, v->line, "invalid interface name '%s'", v->word);
        strcpy(ch->interface, v->word);
        return 0;
}

static int kw_ch_port(Parser *p, const Keyword *k, const Token *kw, void *data) {
        ChannelConfig *ch = data;
        uint32_t n;
        int r;

        r = read_u32(p, kw, &n);
        if (r < 0)
                return r;
        if (n > 65535)
                return parser_error(p, kw->line, "value '%u' for %s is out of range: expected 0 to 65535",
                                    n, kw->word);
        ch->port = (uint16_t) n;
        return 0;
}

static int kw_error_queue_length(Parser *p, const Keyword *k, const Token *kw, void *data) {
        /* a global value, given in the TCP block */
        return read_u32(p, kw, &p->config->error_queue_length);
}

/* ---------------------------------------------------------------------------------------------- */
/* Helper (grammar only) */

static int kw_helper_type(Parser *p, const Keyword *k, const Token *kw, void *data) {
        const Token *name = NULL, *l3 = NULL, *l4 = NULL;
        int r;

        r = expect_value(p, kw, "a helper name", &name);
        if (r < 0)
                return r;
        r = expect_value(p, kw, "inet or inet6", &l3);
        if (r < 0)
                return r;
        if (strcasecmp(l3->word, "inet") != 0 && strcasecmp(l3->word, "inet6") != 0)
                return parser_error(p, l3->line, "unknown layer 3 protocol '%s' for helper %s: expected "
                                    "inet or inet6", l3->word, name->word);
        r = expect_value(p, kw, "tcp or udp", &l4);
        if (r < 0)
                return r;
        if (strcasecmp(l4->word, "tcp") != 0 && strcasecmp(l4->word, "udp") != 0)
                return parser_error(p, l4->line, "unknown layer 4 protocol '%s' for helper %s: expected "
                                    "tcp or udp", l4->word, name->word);
        return parse_block(p, SCOPE_HELPER_TYPE, data, kw);
}

static int kw_helper_policy(Parser *p, const Keyword *k, const Token *kw, void *data) {
        const Token *name = NULL;
        int r;

        r = expect_value(p, kw, "a policy name", &name);
        if (r < 0)
                return r;
        return parse_block(p, SCOPE_HELPER_POLICY, data, kw);
}

/* ---------------------------------------------------------------------------------------------- */
/* Keepalived (ours) */

#define KEEPALIVED_INSTANCE_MAX 127
#define BUS_NAME_MAX 255

static int kw_keepalived(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        int r;

        if (p->keepalived_line > 0)
                return parser_error(p, kw->line, "Keepalived given twice (first at line %u)",
                                    p->keepalived_line);
        p->keepalived_line = kw->line;
        r = parse_block(p, SCOPE_KEEPALIVED, data, kw);
        if (r < 0)
                return r;
        if (!c->keepalived.instance)
                return parser_error(p, kw->line, "the Keepalived block needs an Instance: the name "
                                    "of the VRRP instance to follow");
        return 0;
}

static int kw_keepalived_instance(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "the name of a VRRP instance", &v);
        if (r < 0)
                return r;
        if (strlen(v->word) > KEEPALIVED_INSTANCE_MAX)
                return parser_error(p, v->line, "Instance is longer than %u characters: '%s'",
                                    KEEPALIVED_INSTANCE_MAX, v->word);
        return set_word(&c->keepalived.instance, v->word);
}

/* A well-known D-Bus name: two or more elements of [A-Za-z0-9_-], none starting with a digit. */
static bool bus_name_is_valid(const char *s) {
        size_t n = strlen(s), dots = 0;
        bool start = true;

        if (n == 0 || n > BUS_NAME_MAX)
                return false;
        for (; *s; s++) {
                char c = *s;

                if (c == '.') {
                        if (start)
                                return false;
                        dots++;
                        start = true;
                        continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' ||
                      (!start && c >= '0' && c <= '9')))
                        return false;
                start = false;
        }
        return !start && dots > 0;
}

static int kw_keepalived_service(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        const Token *v = NULL;
        int r;

        r = expect_value(p, kw, "a D-Bus name", &v);
        if (r < 0)
                return r;
        if (!bus_name_is_valid(v->word))
                return parser_error(p, v->line, "invalid value '%s' for Service: expected a D-Bus "
                                    "name such as org.keepalived.Vrrp1", v->word);
        return set_word(&c->keepalived.service, v->word);
}

/* ---------------------------------------------------------------------------------------------- */
/* Sections */

static int kw_general(Parser *p, const Keyword *k, const Token *kw, void *data) {
        return parse_block(p, SCOPE_GENERAL, data, kw);
}

static int kw_sync(Parser *p, const Keyword *k, const Token *kw, void *data) {
        if (p->stats_line > 0)
                return parser_error(p, kw->line, "cannot use both Sync and Stats sections (Stats is at line "
                                    "%u)", p->stats_line);
        if (p->sync_line == 0)
                p->sync_line = kw->line;
        return parse_block(p, SCOPE_SYNC, data, kw);
}

static int kw_stats(Parser *p, const Keyword *k, const Token *kw, void *data) {
        if (p->sync_line > 0)
                return parser_error(p, kw->line, "cannot use both Stats and Sync sections (Sync is at line "
                                    "%u)", p->sync_line);
        if (p->stats_line == 0)
                p->stats_line = kw->line;
        return parse_block(p, SCOPE_STATS, data, kw);
}

static int kw_helper(Parser *p, const Keyword *k, const Token *kw, void *data) {
        Config *c = data;
        int r;

        r = parse_block(p, SCOPE_HELPER, NULL, kw);
        if (r < 0)
                return r;
        c->has_helper_section = true;
        return parser_warn(p, kw->line, "Helper section is not implemented, ignoring");
}

/* ---------------------------------------------------------------------------------------------- */
/* The table */

#define CFG(f) offsetof(Config, f)
#define CH(f) offsetof(ChannelConfig, f)

static const Keyword keywords[] = {
        { "General",    S(TOP), kw_general },
        { "Sync",       S(TOP), kw_sync },
        { "Stats",      S(TOP), kw_stats },
        { "Helper",     S(TOP), kw_helper },

        /* General (§4.3) */
        { "HashSize",                   S(GENERAL), kw_u32, CFG(hash_size) },
        { "HashLimit",                  S(GENERAL), kw_u32, CFG(hash_limit) },
        { "LogFile",                    S(GENERAL), kw_logfile, 0, 0 },
        { "Syslog",                     S(GENERAL), kw_syslog, 0, 0 },
        { "LockFile",                   S(GENERAL), kw_path, CFG(lock_file), CONFIG_PATH_MAX - 1 },
        { "UNIX",                       S(GENERAL), kw_unix },
        { "NetlinkBufferSize",          S(GENERAL), kw_netlink_buffer_size },
        { "SocketBufferSize",           S(GENERAL), kw_netlink_buffer_size },
        { "NetlinkBufferSizeMaxGrowth", S(GENERAL), kw_netlink_growth, CFG(netlink_buffer_size_max_growth) },
        { "SocketBufferSizeMaxGrowth",  S(GENERAL), kw_netlink_growth, CFG(netlink_buffer_size_max_growth) },
        { "SocketBufferSizeMaxGrown",   S(GENERAL), kw_netlink_growth, CFG(netlink_buffer_size_max_growth) },
        { "NetlinkOverrunResync",       S(GENERAL), kw_overrun_resync },
        { "NetlinkEventsReliable",      S(GENERAL), kw_bool, CFG(netlink_events_reliable) },
        { "PollSecs",                   S(GENERAL), kw_poll_secs },
        { "EventIterationLimit",        S(GENERAL), kw_u32, CFG(event_iteration_limit) },
        { "Filter",                     S(GENERAL), kw_filter },
        { "Nice",                       S(GENERAL), kw_nice },
        { "Scheduler",                  S(GENERAL), kw_scheduler },
        { "Systemd",                    S(GENERAL), kw_bool, CFG(systemd) },

        { "Path",       S(UNIX), kw_path, CFG(unix_path), UNIX_PATH_LEN_MAX },
        { "Backlog",    S(UNIX), kw_backlog },

        { "Type",       S(SCHEDULER), kw_scheduler_type },
        { "Priority",   S(SCHEDULER), kw_scheduler_priority },

        /* Filter (§4.5) */
        { "Protocol",   S(FILTER), kw_filter_protocol },
        { "Address",    S(FILTER), kw_filter_address },
        { "State",      S(FILTER), kw_filter_state },

        /* Sync (§4.4) */
        { "Mode",               S(SYNC), kw_mode },
        { "Multicast",          S(SYNC), kw_channel, 0, CHANNEL_MULTICAST },
        { "UDP",                S(SYNC), kw_channel, 0, CHANNEL_UDP },
        { "TCP",                S(SYNC), kw_channel, 0, CHANNEL_TCP },
        { "Options",            S(SYNC), kw_options },
        { "ResendQueueSize",    S(FTFW), kw_u32, CFG(resend_queue_size) },
        { "ACKWindowSize",      S(FTFW), kw_u32, CFG(ack_window_size) },
        { "CommitTimeout",      S(SYNC) | S_MODES, kw_commit_timeout },
        { "PurgeTimeout",       S(SYNC) | S_MODES, kw_u32, CFG(purge_timeout) },
        { "DisableExternalCache", S(FTFW) | S(NOTRACK), kw_bool, CFG(disable_external_cache) },
        { "DisableInternalCache", S(NOTRACK), kw_disable_internal_cache },
        { "StartupResync",      S(FTFW) | S(NOTRACK), kw_bool, CFG(startup_resync) },
        { "RefreshTime",        S(SYNC) | S(ALARM), kw_u32, CFG(refresh_time) },
        { "CacheTimeout",       S(SYNC) | S(ALARM), kw_u32, CFG(cache_timeout) },
        /* ours: authenticated sync units (sync-auth.h) */
        { "AuthKeyFile",        S(SYNC), kw_path, CFG(auth_key_file), CONFIG_PATH_MAX - 1 },

        /* ours: follow keepalived over D-Bus (keepalived-follow.h) */
        { "Keepalived",         S(SYNC), kw_keepalived },
        { "Instance",           S(KEEPALIVED), kw_keepalived_instance },
        { "Service",            S(KEEPALIVED), kw_keepalived_service },
        { "TrackFile",          S(KEEPALIVED), kw_path, CFG(keepalived.track_file),
                                CONFIG_PATH_MAX - 1 },

        { "TCPWindowTracking",  S(OPTIONS), kw_bool, CFG(tcp_window_tracking) },
        { "ExpectationSync",    S(OPTIONS), kw_expectation_sync },

        /* Channels (§4.4) */
        { "IPv4_address",               S_CHANNELS, kw_ch_address, 0, AF_INET },
        { "IPv6_address",               S_CHANNELS, kw_ch_address, 0, AF_INET6 },
        { "IPv4_Destination_Address",   S(UDP) | S(TCP), kw_ch_destination, 0, AF_INET },
        { "IPv6_Destination_Address",   S(UDP) | S(TCP), kw_ch_destination, 0, AF_INET6 },
        { "IPv4_interface",             S(MULTICAST), kw_ch_interface_address },
        { "IPv6_interface",             S(MULTICAST), kw_ch_ipv6_interface },
        { "Interface",                  S_CHANNELS, kw_ch_interface },
        { "Group",                      S(MULTICAST), kw_ch_port },
        { "Port",                       S(UDP) | S(TCP), kw_ch_port },
        { "SndSocketBuffer",            S_CHANNELS, kw_u32, CH(snd_buffer) },
        { "RcvSocketBuffer",            S_CHANNELS, kw_u32, CH(rcv_buffer) },
        { "Checksum",                   S_CHANNELS, kw_bool, CH(checksum) },
        { "ErrorQueueLength",           S(TCP), kw_error_queue_length },

        /* Stats (§4.6) */
        { "LogFile",    S(STATS), kw_logfile, 0, 1 },
        { "Syslog",     S(STATS), kw_syslog, 0, 1 },

        /* Helper (§4.7): grammar only */
        { "Type",               S(HELPER), kw_helper_type },
        { "Setup",              S(HELPER), kw_bool_ignored },
        { "QueueNum",           S(HELPER_TYPE), kw_u32_ignored },
        { "QueueLen",           S(HELPER_TYPE), kw_u32_ignored },
        { "Policy",             S(HELPER_TYPE), kw_helper_policy },
        { "ExpectMax",          S(HELPER_POLICY), kw_u32_ignored },
        { "ExpectTimeout",      S(HELPER_POLICY), kw_u32_ignored },
};

/* Removed in 1.4.5 (§4.8): accepted with a warning, their arguments skipped as their grammar was. */
typedef enum RemovedArgs {
        REMOVED_NONE,           /* RelaxTransitions */
        REMOVED_WORD,           /* one value */
        REMOVED_BLOCK,          /* { ... } */
        REMOVED_FOR,            /* STATE ... for PROTO */
} RemovedArgs;

static const struct {
        const char *name;
        RemovedArgs args;
} removed_keywords[] = {
        { "DelayDestroyMessages",       REMOVED_WORD },
        { "IgnoreProtocol",             REMOVED_BLOCK },
        { "IgnoreTrafficFor",           REMOVED_BLOCK },
        { "StripNAT",                   REMOVED_WORD },
        { "RelaxTransitions",           REMOVED_NONE },
        { "ListenTo",                   REMOVED_WORD },
        { "Family",                     REMOVED_WORD },
        { "ResendBufferSize",           REMOVED_WORD },
        { "Replicate",                  REMOVED_FOR },
        { "CacheWriteThrough",          REMOVED_WORD },
        { "LogFileBufferSize",          REMOVED_WORD },
        { "DestroyTimeout",             REMOVED_WORD },
        { "McastSndSocketBuffer",       REMOVED_WORD },
        { "McastRcvSocketBuffer",       REMOVED_WORD },
};

static int skip_removed(Parser *p, const Token *kw, RemovedArgs args) {
        const Token *t = NULL;
        unsigned depth = 0;
        int r;

        switch (args) {
        case REMOVED_NONE:
                return 0;
        case REMOVED_WORD:
                return expect_value(p, kw, "a value", &t);
        case REMOVED_FOR:
                for (;;) {
                        r = expect_value(p, kw, "TCP states followed by 'for TCP'", &t);
                        if (r < 0)
                                return r;
                        if (streq(t->word, "for"))
                                return expect_value(p, t, "TCP", &t);
                }
        case REMOVED_BLOCK:
                r = expect_open(p, kw);
                if (r < 0)
                        return r;
                depth = 1;
                do {
                        t = next_token(p);
                        if (t->type == TOKEN_OPEN)
                                depth++;
                        else if (t->type == TOKEN_CLOSE)
                                depth--;
                        else if (t->type == TOKEN_EOF)
                                return parser_error(p, t->line, "unexpected end of file: the block of %s "
                                                    "opened at line %u is not closed", kw->word, kw->line);
                } while (depth > 0);
                return 0;
        }
        return 0;
}

static int parse_statement(Parser *p, Scope scope, void *data, const Token *kw) {
        char allowed[256] = "";
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(keywords); i++)
                if (streq(keywords[i].name, kw->word) && (keywords[i].scopes & SCOPE_BIT(scope))) {
                        const Keyword *k = &keywords[i];

                        return k->parse(p, k, kw, data);
                }

        if (scope != SCOPE_TOP)
                for (size_t i = 0; i < ELEMENTSOF(removed_keywords); i++)
                        if (streq(removed_keywords[i].name, kw->word)) {
                                int r = parser_warn(p, kw->line, "%s was removed in conntrack-tools 1.4.5 "
                                                    "and has no effect, ignoring", kw->word);
                                if (r < 0)
                                        return r;
                                return skip_removed(p, kw, removed_keywords[i].args);
                        }

        /* A known keyword in the wrong place: say where it belongs. */
        for (size_t i = 0; i < ELEMENTSOF(keywords); i++) {
                if (!streq(keywords[i].name, kw->word))
                        continue;
                for (Scope s = 0; s < _SCOPE_MAX; s++)
                        if (keywords[i].scopes & SCOPE_BIT(s)) {
                                int m = snprintf(allowed + n, sizeof(allowed) - n, "%s%s",
                                                 n > 0 ? ", " : "", scope_name[s]);
                                if (m > 0 && (size_t) m < sizeof(allowed) - n)
                                        n += (size_t) m;
                        }
        }
        if (n > 0)
                return parser_error(p, kw->line, "%s is not allowed %s %s (allowed in: %s)", kw->word,
                                    scope == SCOPE_TOP ? "at" : "in", scope_name[scope], allowed);

        if (scope == SCOPE_TOP)
                return parser_error(p, kw->line, "unknown section '%s': expected General, Sync, Stats or "
                                    "Helper", kw->word);
        return parser_error(p, kw->line, "unknown keyword '%s' in %s", kw->word, scope_name[scope]);
}

static int parse_top(Parser *p) {
        for (;;) {
                const Token *t = next_token(p);
                int r;

                switch (t->type) {
                case TOKEN_EOF:
                        return 0;
                case TOKEN_OPEN:
                case TOKEN_CLOSE:
                        return parser_error(p, t->line, "unexpected '%s' at the top level: expected a "
                                            "section name", token_text(t));
                case TOKEN_WORD:
                        r = parse_statement(p, SCOPE_TOP, p->config, t);
                        if (r < 0)
                                return r;
                        break;
                }
        }
}

/* ---------------------------------------------------------------------------------------------- */
/* Whole-file checks and defaults (§4.9) */

static int finalize(Parser *p) {
        Config *c = p->config;
        int r = 0;

        /* An explicit 0 is the same as not set for these (as in 1.4.x). */
        if (c->hash_size == 0)
                c->hash_size = 65536;
        if (c->hash_limit == 0)
                c->hash_limit = 262144;
        if (c->event_iteration_limit == 0)
                c->event_iteration_limit = 100;
        if (c->resend_queue_size == 0)
                c->resend_queue_size = 131072;
        if (c->ack_window_size == 0)
                c->ack_window_size = 300;
        if (c->purge_timeout == 0)
                c->purge_timeout = 60;
        if (c->refresh_time == 0)
                c->refresh_time = 60;
        if (c->cache_timeout == 0)
                c->cache_timeout = 180;
        if (c->error_queue_length == 0)
                c->error_queue_length = 128;

        if (p->sync_line > 0) {
                unsigned n_modes = 0;

                for (ConfigMode m = 0; m < _CONFIG_MODE_MAX; m++)
                        n_modes += p->mode_line[m] > 0;

                /* the effective mode: FTFW if given, else ALARM, else NOTRACK */
                if (p->mode_line[CONFIG_MODE_FTFW])
                        c->mode = CONFIG_MODE_FTFW;
                else if (p->mode_line[CONFIG_MODE_ALARM])
                        c->mode = CONFIG_MODE_ALARM;
                else if (p->mode_line[CONFIG_MODE_NOTRACK])
                        c->mode = CONFIG_MODE_NOTRACK;
                else {
                        c->mode = CONFIG_MODE_FTFW;
                        r = parser_warn(p, p->sync_line, "no synchronization Mode in section Sync: "
                                        "defaulting to FT-FW");
                }
                if (r >= 0 && n_modes > 1)
                        r = parser_warn(p, p->mode_line[c->mode], "several Mode blocks: Mode %s is used, "
                                        "the others are ignored",
                                        c->mode == CONFIG_MODE_FTFW ? "FTFW" : "ALARM");
                if (r >= 0 && c->disable_internal_cache && c->mode != CONFIG_MODE_NOTRACK) {
                        r = parser_warn(p, p->disable_internal_cache_line, "DisableInternalCache only "
                                        "applies to Mode NOTRACK, ignoring");
                        c->disable_internal_cache = false;
                }
                if (r >= 0 && c->n_channels == 0)
                        r = parser_warn(p, p->sync_line, "section Sync has no dedicated link (Multicast, "
                                        "UDP or TCP block): nothing is replicated");
                if (r >= 0 && c->commit_timeout > 0 && c->disable_external_cache)
                        r = parser_warn(p, p->commit_timeout_line, "CommitTimeout has no effect with "
                                        "DisableExternalCache on: received states go to the kernel "
                                        "directly");
        } else if (p->stats_line > 0)
                c->mode = CONFIG_MODE_STATS;
        else {
                c->mode = CONFIG_MODE_STATS;
                r = parser_warn(p, 0, "neither a Sync nor a Stats section: running in Stats mode");
        }
        if (r < 0)
                return r;

        /* With neither keyword, the defaults of config_new_default() leave room for a burst of
         * tens of thousands of events, where 1.4.x kept the kernel's rmem_default (a couple of
         * thousand) and lost the rest; kernel memory is only taken while events wait. With one
         * of them set, the other has its 1.4.x default, 0. */
        if (p->netlink_buffer_line > 0 && p->netlink_growth_line == 0)
                c->netlink_buffer_size_max_growth = 0;
        if (p->netlink_growth_line > 0 && p->netlink_buffer_line == 0)
                c->netlink_buffer_size = 0;

        /* 1.4.x applies NetlinkBufferSize only up to NetlinkBufferSizeMaxGrowth. */
        if (c->netlink_buffer_size > c->netlink_buffer_size_max_growth) {
                r = parser_notice(p, p->netlink_buffer_line, "NetlinkBufferSize %u is greater than "
                                  "NetlinkBufferSizeMaxGrowth %u: ignored, the kernel default is used",
                                  c->netlink_buffer_size, c->netlink_buffer_size_max_growth);
                if (r < 0)
                        return r;
                c->netlink_buffer_size = 0;
        }

        if (c->syslog_facility >= 0 && c->stats_syslog_facility >= 0 &&
            c->syslog_facility != c->stats_syslog_facility) {
                r = parser_warn(p, p->syslog_line[1], "the Syslog facility of section Stats differs from "
                                "the one of section General, which is used for all messages");
                if (r < 0)
                        return r;
        }

        return 0;
}

/* ---------------------------------------------------------------------------------------------- */

int config_parse_string(const char *path, const char *text, size_t size, Config **ret,
                        ConfigDiagnostics *diag) {
        _cleanup_(config_freep) Config *c = NULL;
        Parser p = {
                .path = path ?: "conntrackd.conf",
                .diag = diag,
        };
        int r;

        if (!ret || (!text && size > 0))
                return -EINVAL;

        r = config_new_default(&c);
        if (r < 0)
                return r;
        c->path = strdup(p.path);
        if (!c->path)
                return -ENOMEM;
        p.config = c;

        r = tokenize(&p, text ?: "", size);
        if (r >= 0)
                r = parse_top(&p);
        if (r >= 0)
                r = finalize(&p);

        free(p.tokens);
        free(p.arena);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

int config_load_file(const char *path, Config **ret, ConfigDiagnostics *diag) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, cap = 0;
        struct stat st;
        int r;

        if (!path || !ret)
                return -EINVAL;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = negative_errno();
                (void) diag_add(diag, path, 0, "cannot open the configuration file: %s", strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                r = negative_errno();
                (void) diag_add(diag, path, 0, "cannot read the configuration file: %s", strerror(-r));
                return r;
        }
        if (S_ISDIR(st.st_mode)) {
                (void) diag_add(diag, path, 0, "cannot read the configuration file: %s", strerror(EISDIR));
                return -EISDIR;
        }

        for (;;) {
                ssize_t n;

                if (size == cap) {
                        char *b;

                        if (cap > CONFIG_FILE_SIZE_MAX) {
                                (void) diag_add(diag, path, 0, "the configuration file is larger than "
                                                "%d bytes", CONFIG_FILE_SIZE_MAX);
                                return -EFBIG;
                        }
                        cap = cap == 0 ? 16384 : MIN(cap * 2, (size_t) CONFIG_FILE_SIZE_MAX + 1);
                        b = realloc(buf, cap);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                }
                n = read(fd, buf + size, cap - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        (void) diag_add(diag, path, 0, "cannot read the configuration file: %s",
                                        strerror(-r));
                        return r;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        if (size > CONFIG_FILE_SIZE_MAX) {
                (void) diag_add(diag, path, 0, "the configuration file is larger than %d bytes",
                                CONFIG_FILE_SIZE_MAX);
                return -EFBIG;
        }

        return config_parse_string(path, buf, size, ret, diag);
}
