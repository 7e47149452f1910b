/*
 * parse.c: trigger expressions and event strings, a line-by-line port of
 * python/qbtrigger/_common.py. Same grammar, same order of checks, same columns (counted in
 * code points, not bytes) and the same message texts: the differential tests compare them.
 *
 * Expressions are read with one token of lookahead; an atom is validated when it is taken as an
 * operand, before the next token is read, so the first error met left to right is the one
 * reported. Nodes are n-ary: `a && b && c` is one AND of three. Operands waiting for their node
 * sit on an explicit stack, so building a node allocates nothing per operand; recursion is
 * bounded by the nesting limit (QBT_MAX_DEPTH).
 *
 * The parser does not touch the network: it fills a scratch area with slices of the input, and
 * the caller commits them only when every expression of a callback has parsed.
 *
 * Events take a fast path first, for the common lower-case work and job events; it accepts only
 * valid events and leaves anything else, errors included, to the port, so messages are unchanged.
 */
#include "internal.h"

#include <string.h>

enum { TOK_ATOM, TOK_LPAREN, TOK_RPAREN, TOK_AND, TOK_OR, TOK_END };

static const char *const type_names[T_COUNT] = {
    "job", "subjob", "work", "host", "time", "repeat", "global", "globaltime", "globalrepeat",
};

/* Qube's name for time events: the two-field clock forms `globaltime-T` and `globalrepeat-T-I`
 * stand for `dummy-globaltime-T` and `dummy-globalrepeat-T-I`. */
static const char DUMMY_NAME[] = "dummy";

const char *qbt_type_name(int type, size_t *len) {
    *len = strlen(type_names[type]);
    return type_names[type];
}

#define NOT_MESSAGE "there is no NOT: events are edges, and 'did not happen' has no moment to fire at"

typedef struct {
    const char *text;
    size_t len;
    size_t pos;
    int tok;
    size_t tok_at; /* byte offset */
    size_t tok_len;
    int depth;
    uint32_t owner;
    bool has_pid;
    parse_scratch *s;
    error_buf *err;
} parser;

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool ends_word(char c) { return is_space(c) || c == '(' || c == ')' || c == '&' || c == '|'; }

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

static bool eq_nocase(const char *s, size_t n, const char *word) {
    size_t m = strlen(word);
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != word[i])
            return false;
    return true;
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_name(const char *s, size_t n) {
    if (n == 0 || !is_alpha(s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_')
            return false;
    return true;
}

static bool is_label(const char *s, size_t n) {
    if (n == 0 || !(is_alpha(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '_' && s[i] != '.')
            return false;
    return true;
}

/* All ASCII digits; *value saturates above limit, so any number of leading zeros is fine and a
 * number of any length is read in one pass (the rule of _common.number_value). */
static bool parse_digits(const char *s, size_t n, uint64_t limit, uint64_t *value) {
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        v = v > (limit - d) / 10 ? limit + 1 : v * 10 + d; /* saturate just above the limit */
    }
    *value = v;
    return true;
}

static bool parse_time(const char *s, size_t n, uint64_t *t) {
    return parse_digits(s, n, QBT_MAX_TIME, t) && *t <= QBT_MAX_TIME;
}

bool qbt_parse_time(const char *s, size_t n, uint64_t *t) { return parse_time(s, n, t); }

bool qbt_parse_repeat(const char *s, size_t n, uint64_t *t, uint64_t *interval) {
    const char *dash = memchr(s, '-', n);
    if (!dash)
        return false;
    size_t first = (size_t)(dash - s);
    return parse_time(s, first, t) && parse_time(dash + 1, n - first - 1, interval) && *interval >= 1;
}

/* The type of a two-field clock form (`globaltime-T`, `globalrepeat-T-I`) whose first hyphen is at
 * i1, or -1: the first field is the type keyword and the second starts with a digit, which no type
 * does, so a three-field atom whose event is named `globaltime` is never read so. */
static int clock_form(const char *s, size_t i1, size_t n) {
    if (i1 + 1 >= n || !is_digit(s[i1 + 1]))
        return -1;
    if (eq_nocase(s, i1, "globaltime"))
        return T_GLOBALTIME;
    if (eq_nocase(s, i1, "globalrepeat"))
        return T_GLOBALREPEAT;
    return -1;
}

static const char *find_dash(const char *s, size_t from, size_t n) {
    if (from >= n)
        return NULL;
    return memchr(s + from, '-', n - from);
}

/* Code points before byte offset `at` (UTF-8: every byte that is not a continuation byte). */
static size_t column_of(const char *text, size_t at) {
    size_t col = 0;
    for (size_t i = 0; i < at; i++)
        col += ((unsigned char)text[i] & 0xC0) != 0x80;
    return col;
}

qbt_status err_set(error_buf *e, size_t column, const char *msg) {
    e->len = 0;
    e->column = column;
    qbt_status st = sb_puts(e, msg);
    return st == QBT_OK ? QBT_ESYNTAX : st;
}

/* Error with a message built from pieces: fmt holds '%' where the next piece goes. */
static qbt_status fail(parser *p, size_t at, const char *fmt, const char *piece, size_t piece_len) {
    error_buf *e = p->err;
    e->len = 0;
    e->column = column_of(p->text, at);
    qbt_status st = QBT_OK;
    for (const char *c = fmt; *c && st == QBT_OK; c++) {
        if (*c == '%')
            st = sb_put(e, piece, piece_len);
        else
            st = sb_put(e, c, 1);
    }
    if (st == QBT_OK && e->len == 0)
        st = sb_put(e, "", 0);
    return st == QBT_OK ? QBT_ESYNTAX : st;
}

static qbt_status advance(parser *p) {
    const char *t = p->text;
    size_t pos = p->pos, n = p->len;
    while (pos < n && is_space(t[pos]))
        pos++;
    p->tok_at = pos;
    if (pos == n) {
        p->tok = TOK_END;
        p->tok_len = 0;
        p->pos = pos;
        return QBT_OK;
    }
    char c = t[pos];
    if (c == '(' || c == ')') {
        p->tok = c == '(' ? TOK_LPAREN : TOK_RPAREN;
        p->tok_len = 1;
        p->pos = pos + 1;
        return QBT_OK;
    }
    if (c == '&' || c == '|') {
        if (pos + 1 < n && t[pos + 1] == c) {
            p->tok = c == '&' ? TOK_AND : TOK_OR;
            p->tok_len = 2;
            p->pos = pos + 2;
            return QBT_OK;
        }
        return fail(p, pos, c == '&' ? "single '&': write '&&' or 'and'" : "single '|': write '||' or 'or'",
                    NULL, 0);
    }
    size_t end = pos;
    while (end < n && !ends_word(t[end]))
        end++;
    const char *word = t + pos;
    size_t wlen = end - pos;
    if (word[0] == '!' || eq_nocase(word, wlen, "not"))
        return fail(p, pos, NOT_MESSAGE, NULL, 0);
    p->tok = eq_nocase(word, wlen, "and") ? TOK_AND : eq_nocase(word, wlen, "or") ? TOK_OR : TOK_ATOM;
    p->tok_len = wlen;
    p->pos = end;
    return QBT_OK;
}

/* Steps over an '&&'/'AND' ('||'/'OR'). The same operator written both ways at once (`AND&&`,
 * `&& and`: what a flattened copy of Qube's docs shows) is an error at the first of the two. */
static qbt_status operator(parser *p) {
    int tok = p->tok;
    size_t at = p->tok_at;
    bool symbol = p->text[at] == '&' || p->text[at] == '|';
    qbt_status st = advance(p);
    if (st != QBT_OK || p->tok != tok || (p->text[p->tok_at] == '&' || p->text[p->tok_at] == '|') == symbol)
        return st;
    return fail(p, at, tok == TOK_AND ? "write '&&' or 'AND', not both" : "write '||' or 'OR', not both", NULL, 0);
}

static qbt_status push_operand(parser *p, uint32_t code) {
    parse_scratch *s = p->s;
    void *arr = s->operands;
    qbt_status st = qbt_grow(&arr, &s->operands_cap, s->noperands + 1, sizeof(uint32_t));
    s->operands = arr;
    if (st == QBT_OK)
        s->operands[s->noperands++] = code;
    return st;
}

static void set_parent(parse_scratch *s, uint32_t code, uint32_t parent) {
    if (code & 1)
        s->nodes[code >> 1].parent = parent;
    else
        s->atoms[code >> 1].parent = parent;
}

/* Pops the operands above `base` into a new node (if more than one) and pushes the result. */
static qbt_status reduce(parser *p, size_t base, bool is_and) {
    parse_scratch *s = p->s;
    size_t count = s->noperands - base;
    if (count == 1)
        return QBT_OK;
    void *arr = s->nodes;
    qbt_status st = qbt_grow(&arr, &s->nodes_cap, s->nnodes + 1, sizeof(tmp_node));
    s->nodes = arr;
    if (st != QBT_OK)
        return st;
    uint32_t node = (uint32_t)s->nnodes++;
    s->nodes[node].parent = NIL32;
    s->nodes[node].nchild = (uint32_t)count;
    s->nodes[node].is_and = is_and;
    for (size_t i = base; i < s->noperands; i++)
        set_parent(s, s->operands[i], node);
    s->noperands = base;
    return push_operand(p, ((uint32_t)node << 1) | 1);
}

static qbt_status atom(parser *p) {
    const char *word = p->text + p->tok_at;
    size_t n = p->tok_len, at = p->tok_at;
    const char *h1 = memchr(word, '-', n);
    if (!h1)
        return fail(p, at, "incomplete event '%': expected name-type-context[-extra]", word, n);
    size_t i1 = (size_t)(h1 - word);
    if (!is_name(word, i1))
        return fail(p, at, "bad event name '%': expected letters, digits and '_', starting with a letter",
                    word, i1);
    int clock = clock_form(word, i1, n);
    const char *h2 = clock < 0 ? find_dash(word, i1 + 1, n) : h1;
    size_t i2 = h2 ? (size_t)(h2 - word) : n;
    const char *type_text = word + i1 + 1;
    size_t type_len = clock < 0 ? i2 - i1 - 1 : 0;
    int type = clock;
    for (int t = 0; t < T_COUNT && clock < 0; t++)
        if (eq_nocase(type_text, type_len, type_names[t]))
            type = t;
    if (type < 0)
        return fail(p, at + i1 + 1,
                    "unknown type '%': expected job, subjob, work, host, time, repeat, global, globaltime "
                    "or globalrepeat",
                    type_text, type_len);

    tmp_atom a;
    memset(&a, 0, sizeof a);
    a.name = clock < 0 ? word : DUMMY_NAME;
    a.name_len = clock < 0 ? i1 : sizeof DUMMY_NAME - 1;
    a.type = (uint8_t)type;
    a.parent = NIL32;

    if (type == T_GLOBAL) {
        if (h2) {
            error_buf *e = p->err;
            qbt_status st = fail(p, at + i2, "a global event takes no context and no extra, but '%", h2, n - i2);
            if (st == QBT_ESYNTAX && (st = sb_puts(e, "' follows the type")) == QBT_OK)
                st = QBT_ESYNTAX;
            return st;
        }
        a.ctx = CTX_GLOBAL;
    } else if (type == T_GLOBALTIME || type == T_GLOBALREPEAT) {
        /* name-globaltime-T; or the two-field globaltime-T, where h2 is the first hyphen */
        const char *extra = h2 ? h2 + 1 : word + n;
        size_t extra_len = (size_t)(word + n - extra);
        if (extra_len == 0)
            return fail(p, at + n,
                        type == T_GLOBALTIME ? "missing time after '%': expected name-globaltime-T"
                                             : "missing time after '%': expected name-globalrepeat-T-I",
                        type_text, type_len);
        if (type == T_GLOBALTIME && !parse_time(extra, extra_len, &a.time))
            return fail(p, at + i2 + 1,
                        "bad time '%': expected whole seconds since 2000-01-01 05:00 UTC (Qube time)", extra,
                        extra_len);
        if (type == T_GLOBALREPEAT && !qbt_parse_repeat(extra, extra_len, &a.time, &a.interval))
            return fail(p, at + i2 + 1, "bad repeat '%': expected start-interval in whole seconds, e.g. 0-60",
                        extra, extra_len);
        a.ctx = CTX_GLOBAL;
        a.extra = extra;
        a.extra_len = extra_len;
    } else {
        size_t ctx_start = h2 ? i2 + 1 : n;
        const char *h3 = h2 ? find_dash(word, ctx_start, n) : NULL;
        size_t i3 = h3 ? (size_t)(h3 - word) : n;
        const char *ctx = word + ctx_start;
        size_t ctx_len = i3 - ctx_start;
        if (ctx_len == 0)
            return fail(p, at + ctx_start,
                        "missing context: expected name-type-context, the context being self, parent, a job "
                        "id or a label",
                        NULL, 0);
        uint64_t job = 0;
        if (eq_nocase(ctx, ctx_len, "self")) {
            a.ctx = CTX_SELF;
        } else if (eq_nocase(ctx, ctx_len, "parent")) {
            a.ctx = CTX_PARENT;
            if (p->owner != NIL32 && !p->has_pid) {
                char digits[16];
                size_t nd = 0;
                for (uint32_t v = p->owner; nd == 0 || v; v /= 10)
                    digits[nd++] = (char)('0' + v % 10);
                for (size_t i = 0; i < nd / 2; i++) {
                    char c = digits[i];
                    digits[i] = digits[nd - 1 - i];
                    digits[nd - 1 - i] = c;
                }
                return fail(p, at + ctx_start, "'parent' needs a parent job, but job % has no pid", digits, nd);
            }
        } else if (parse_digits(ctx, ctx_len, QBT_MAX_JOB_ID, &job)) {
            if (job > QBT_MAX_JOB_ID)
                return fail(p, at + ctx_start, "job id '%' is out of range (at most 2147483647)", ctx, ctx_len);
            a.ctx = CTX_ID;
            a.job = (uint32_t)job;
        } else if (is_label(ctx, ctx_len)) {
            a.ctx = CTX_LABEL;
            a.label = ctx;
            a.label_len = ctx_len;
        } else {
            return fail(p, at + ctx_start, "bad context '%': expected self, parent, a job id or a label", ctx,
                        ctx_len);
        }
        const char *extra = h3 ? h3 + 1 : NULL;
        size_t extra_len = h3 ? n - i3 - 1 : 0;
        if (type == T_JOB) {
            if (h3) {
                error_buf *e = p->err;
                qbt_status st = fail(p, at + i3, "a job event takes no extra, but '-%", extra, extra_len);
                if (st == QBT_ESYNTAX && (st = sb_puts(e, "' follows the context")) == QBT_OK)
                    st = QBT_ESYNTAX;
                return st;
            }
        } else if (extra_len == 0) {
            static const char *const missing[T_COUNT] = {
                NULL,
                "missing extra: a subjob event needs a subjob id or '*' after the context",
                "missing extra: a work event needs a work name or '*' after the context",
                "missing extra: a host event needs a host name or '*' after the context",
                "missing extra: a time event needs a Qube time after the context",
                "missing extra: a repeat event needs a start and an interval (T-I) after the context",
            };
            return fail(p, at + n, missing[type], NULL, 0);
        } else if (type == T_SUBJOB && !(extra_len == 1 && extra[0] == '*') &&
                   !parse_digits(extra, extra_len, QBT_MAX_JOB_ID, &job)) {
            return fail(p, at + i3 + 1, "bad subjob id '%': expected a number or '*'", extra, extra_len);
        } else if (type == T_SUBJOB && !(extra_len == 1 && extra[0] == '*') && job > QBT_MAX_JOB_ID) {
            return fail(p, at + i3 + 1, "subjob id '%' is out of range (at most 2147483647)", extra, extra_len);
        } else if (type == T_TIME && !parse_time(extra, extra_len, &a.time)) {
            return fail(p, at + i3 + 1,
                        "bad time '%': expected whole seconds since 2000-01-01 05:00 UTC (Qube time)", extra,
                        extra_len);
        } else if (type == T_REPEAT && !qbt_parse_repeat(extra, extra_len, &a.time, &a.interval)) {
            return fail(p, at + i3 + 1, "bad repeat '%': expected start-interval in whole seconds, e.g. 0-60",
                        extra, extra_len);
        }
        a.extra = extra;
        a.extra_len = extra_len;
    }

    parse_scratch *s = p->s;
    if (s->natoms >= (UINT32_MAX >> 2))
        return QBT_ETOO_LARGE;
    void *arr = s->atoms;
    qbt_status st = qbt_grow(&arr, &s->atoms_cap, s->natoms + 1, sizeof(tmp_atom));
    s->atoms = arr;
    if (st != QBT_OK)
        return st;
    s->atoms[s->natoms] = a;
    return push_operand(p, (uint32_t)(s->natoms++) << 1);
}

static qbt_status expression(parser *p);

static qbt_status primary(parser *p) {
    qbt_status st;
    if (p->tok == TOK_ATOM) {
        if ((st = atom(p)) != QBT_OK)
            return st;
        return advance(p);
    }
    if (p->tok == TOK_LPAREN) {
        size_t opened = p->tok_at;
        if (++p->depth > QBT_MAX_DEPTH)
            return fail(p, opened, "nesting deeper than 256 levels", NULL, 0);
        if ((st = advance(p)) != QBT_OK || (st = expression(p)) != QBT_OK)
            return st;
        if (p->tok != TOK_RPAREN)
            return fail(p, opened, "'(' is never closed", NULL, 0);
        p->depth--;
        return advance(p);
    }
    if (p->tok == TOK_END)
        return fail(p, p->tok_at, "expected an event or '(' but the expression ends", NULL, 0);
    return fail(p, p->tok_at, "expected an event or '(' before '%'", p->text + p->tok_at, p->tok_len);
}

static qbt_status conjunction(parser *p) {
    size_t base = p->s->noperands;
    qbt_status st = primary(p);
    while (st == QBT_OK && p->tok == TOK_AND) {
        if ((st = operator(p)) == QBT_OK)
            st = primary(p);
    }
    if (st != QBT_OK)
        return st;
    if (p->tok == TOK_ATOM || p->tok == TOK_LPAREN)
        return fail(p, p->tok_at,
                    p->depth ? "expected '&&', '||' or ')' before '%'" : "expected '&&' or '||' before '%'",
                    p->text + p->tok_at, p->tok_len);
    return reduce(p, base, true);
}

static qbt_status expression(parser *p) {
    size_t base = p->s->noperands;
    qbt_status st = conjunction(p);
    while (st == QBT_OK && p->tok == TOK_OR) {
        if ((st = operator(p)) == QBT_OK)
            st = conjunction(p);
    }
    if (st != QBT_OK)
        return st;
    return reduce(p, base, false);
}

qbt_status qbt_parse_expr(parse_scratch *s, const char *text, size_t len, uint32_t owner, bool has_pid,
                          error_buf *err) {
    parser p = {.text = text, .len = len, .owner = owner, .has_pid = has_pid, .s = s, .err = err};
    size_t base = s->noperands;
    qbt_status st = advance(&p);
    if (st != QBT_OK)
        return st;
    if (p.tok == TOK_END)
        return fail(&p, 0, "empty expression", NULL, 0);
    if ((st = expression(&p)) != QBT_OK)
        return st;
    if (p.tok == TOK_RPAREN)
        return fail(&p, p.tok_at, "unmatched ')'", NULL, 0);
    QBT_ASSERT(s->noperands == base + 1);
    (void)base;
    return QBT_OK;
}

qbt_status qbt_parse_join(parse_scratch *s, size_t base) {
    parser p = {.s = s};
    return reduce(&p, base, false);
}

void scratch_free(parse_scratch *s) {
    qbt_mfree(s->atoms);
    qbt_mfree(s->nodes);
    qbt_mfree(s->operands);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ events */

static qbt_status bad_event(error_buf *e, const char *text, size_t len, long long index, const char *reason,
                            const char *piece, size_t piece_len, const char *tail) {
    e->len = 0;
    e->column = 0;
    e->index = index < 0 ? 0 : (uint64_t)index;
    qbt_status st = sb_puts(e, "bad event '");
    if (st == QBT_OK)
        st = sb_put(e, text, len);
    if (st == QBT_OK)
        st = sb_puts(e, "'");
    if (st == QBT_OK && index >= 0 && (st = sb_puts(e, " at index ")) == QBT_OK)
        st = sb_putu(e, (uint64_t)index);
    if (st == QBT_OK)
        st = sb_puts(e, ": ");
    if (st == QBT_OK)
        st = sb_puts(e, reason);
    if (st == QBT_OK && piece) {
        if ((st = sb_puts(e, "'")) == QBT_OK && (st = sb_put(e, piece, piece_len)) == QBT_OK)
            st = sb_puts(e, "'");
    }
    if (st == QBT_OK && tail)
        st = sb_puts(e, tail);
    return st == QBT_OK ? QBT_EEVENT : st;
}

/* The bytes that may follow a name's first letter on the fast path (qbt_parse_event_fast). */
#define NAME_BYTE(c) [c] = 1
const uint8_t qbt_fast_name_byte[256] = {
    NAME_BYTE('a'), NAME_BYTE('b'), NAME_BYTE('c'), NAME_BYTE('d'), NAME_BYTE('e'), NAME_BYTE('f'), NAME_BYTE('g'),
    NAME_BYTE('h'), NAME_BYTE('i'), NAME_BYTE('j'), NAME_BYTE('k'), NAME_BYTE('l'), NAME_BYTE('m'), NAME_BYTE('n'),
    NAME_BYTE('o'), NAME_BYTE('p'), NAME_BYTE('q'), NAME_BYTE('r'), NAME_BYTE('s'), NAME_BYTE('t'), NAME_BYTE('u'),
    NAME_BYTE('v'), NAME_BYTE('w'), NAME_BYTE('x'), NAME_BYTE('y'), NAME_BYTE('z'), NAME_BYTE('0'), NAME_BYTE('1'),
    NAME_BYTE('2'), NAME_BYTE('3'), NAME_BYTE('4'), NAME_BYTE('5'), NAME_BYTE('6'), NAME_BYTE('7'), NAME_BYTE('8'),
    NAME_BYTE('9'), NAME_BYTE('_'),
};
#undef NAME_BYTE

qbt_status qbt_parse_event(const char *text, size_t len, long long index, parsed_event *ev, error_buf *err) {
    if (qbt_parse_event_fast(text, len, ev))
        return QBT_OK;
    /* One pass finds the first two hyphens and notes upper-case letters in the name. */
    const char *h1 = NULL, *h2 = NULL;
    bool upper = false;
    size_t at = 0;
    for (; at < len; at++) {
        char c = text[at];
        if (c == '-') {
            h1 = text + at;
            break;
        }
        upper |= c >= 'A' && c <= 'Z';
    }
    for (at++; h1 && at < len; at++) {
        if (text[at] == '-') {
            h2 = text + at;
            break;
        }
    }
    if (h1) {
        int clock = clock_form(text, (size_t)(h1 - text), len);
        if (clock >= 0) { /* globaltime-T, globalrepeat-T-I: dummy-globaltime-T, dummy-globalrepeat-T-I */
            ev->name = DUMMY_NAME;
            ev->name_len = sizeof DUMMY_NAME - 1;
            ev->name_upper = false;
            ev->type = (uint8_t)clock;
            ev->job = NIL32;
            ev->extra = h1 + 1;
            ev->extra_len = len - (size_t)(h1 - text) - 1;
            ev->extra_id = extra_number_id(ev->extra, ev->extra_len);
            return QBT_OK;
        }
    }
    bool global = !h2 && h1 && eq_nocase(h1 + 1, len - (size_t)(h1 - text) - 1, "global");
    if (!h2 && !global)
        return bad_event(err, text, len, index, "expected name-type-jobid[-extra]", NULL, 0, NULL);
    ev->name_upper = upper;
    size_t i1 = (size_t)(h1 - text), i2 = h2 ? (size_t)(h2 - text) : len;
    if (!is_name(text, i1))
        return bad_event(err, text, len, index, "bad name ", text, i1, NULL);
    if (global) { /* name-global: an event of no job, with no extra */
        ev->name = text;
        ev->name_len = i1;
        ev->type = T_GLOBAL;
        ev->job = NIL32;
        ev->extra = NULL;
        ev->extra_len = 0;
        ev->extra_id = NIL32;
        return QBT_OK;
    }
    const char *type_text = h1 + 1;
    size_t type_len = i2 - i1 - 1;
    int type = -1;
    /* Fast path: the common lower-case spellings. */
    if (type_len == 4 && memcmp(type_text, "work", 4) == 0)
        type = T_WORK;
    else if (type_len == 3 && memcmp(type_text, "job", 3) == 0)
        type = T_JOB;
    else
        for (int t = 0; t < T_COUNT; t++)
            if (eq_nocase(type_text, type_len, type_names[t]))
                type = t;
    if (type < 0)
        return bad_event(err, text, len, index, "unknown type ", type_text, type_len, NULL);
    ev->name = text;
    ev->name_len = i1;
    ev->type = (uint8_t)type;
    const char *rest = h2 + 1;
    size_t rest_len = len - i2 - 1;
    if (type == T_GLOBAL)
        return bad_event(err, text, len, index, "a global event takes no job id and no extra", NULL, 0, NULL);
    if (type == T_GLOBALTIME || type == T_GLOBALREPEAT) {
        if (rest_len == 0)
            return bad_event(err, text, len, index,
                             type == T_GLOBALTIME ? "a globaltime event needs a time"
                                                  : "a globalrepeat event needs a time",
                             NULL, 0, NULL);
        ev->job = NIL32;
        ev->extra = rest;
        ev->extra_len = rest_len;
        ev->extra_id = extra_number_id(rest, rest_len);
        return QBT_OK;
    }
    const char *h3 = memchr(rest, '-', rest_len);
    size_t job_len = h3 ? (size_t)(h3 - rest) : rest_len;
    uint64_t job = 0;
    if (!parse_digits(rest, job_len, QBT_MAX_JOB_ID, &job) || job > QBT_MAX_JOB_ID)
        return bad_event(err, text, len, index, "job id ", rest, job_len, " is not a number from 0 to 2147483647");
    ev->job = (uint32_t)job;
    ev->extra = h3 ? h3 + 1 : NULL;
    ev->extra_len = h3 ? rest_len - job_len - 1 : 0;
    if (type == T_JOB) {
        if (h3)
            return bad_event(err, text, len, index, "a job event takes no extra", NULL, 0, NULL);
    } else if (ev->extra_len == 0) {
        static const char *const need[T_COUNT] = {
            NULL,
            "a subjob event needs an extra after the job id",
            "a work event needs an extra after the job id",
            "a host event needs an extra after the job id",
            "a time event needs an extra after the job id",
            "a repeat event needs an extra after the job id",
        };
        return bad_event(err, text, len, index, need[type], NULL, 0, NULL);
    } else if (ev->extra_len == 1 && ev->extra[0] == '*') {
        return bad_event(err, text, len, index, "'*' is for triggers; an event names one item", NULL, 0, NULL);
    }
    ev->extra_id = ev->extra ? extra_number_id(ev->extra, ev->extra_len) : NIL32;
    return QBT_OK;
}
