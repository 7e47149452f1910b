/*
 * internal.h: what the files of native/ share: allocation, the u64 map, string interning, the
 * parser's scratch form, and the error-text builder. The network's own layout (callback blocks,
 * alpha slots, jobs, states) is in net.h, for the files that implement the network only.
 *
 * Everything is addressed by 32-bit indices into growable arrays, never by pointers, so growing
 * an array (realloc) invalidates nothing that is stored.
 */
#ifndef QBT_INTERNAL_H
#define QBT_INTERNAL_H

#include "qbtrigger.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef QBT_DEBUG
#include <assert.h>
#define QBT_ASSERT(x) assert(x)
#else
#define QBT_ASSERT(x) ((void)0)
#endif

#define NIL32 UINT32_MAX

/* For the hot path's helpers that several files share through a header: inlined whatever the size
 * of the file using them (gcc's limit on how much inlining may grow a file stops sooner in a small
 * one). */
#if defined(__GNUC__)
#define QBT_ALWAYS_INLINE static inline __attribute__((always_inline))
#else
#define QBT_ALWAYS_INLINE static inline
#endif

/* ---------------------------------------------------------------- allocation (mem.c) */
void *qbt_malloc(size_t n);
/* qbt_malloc for a big table read at random (huge pages where the kernel offers them); not for
 * qbt_realloc. */
void *qbt_malloc_table(size_t n);
void *qbt_realloc(void *p, size_t n);
void qbt_mfree(void *p);
/* Grows *arr so that it holds at least need elements of size elem; capacity grows by 1.5x. */
qbt_status qbt_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* ---------------------------------------------------------------- u64 -> u32 map (mem.c) */
typedef struct {
    uint64_t key;
    uint32_t val; /* NIL32: empty */
} u64map_slot;

typedef struct {
    u64map_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t len;
} u64map;

uint32_t u64map_get(const u64map *m, uint64_t key);
qbt_status u64map_reserve(u64map *m, size_t extra);
void u64map_put(u64map *m, uint64_t key, uint32_t val); /* needs reserved room */
void u64map_del(u64map *m, uint64_t key);
void u64map_free(u64map *m);
uint64_t qbt_mix64(uint64_t x);

/* ---------------------------------------------------------------- strings (intern.c) */
enum {
    STR_NONE = 0, /* absent extra */
    STR_STAR = 1,
    STR_DONE = 2,
    STR_COMPLETE = 3, /* 3..5: terminal states */
    STR_FAILED = 4,
    STR_KILLED = 5,
    STR_BLOCKED = 6,
    STR_RUNNING = 7,
    STR_WAITING = 8,
    STR_PENDING = 9,
    STR_SUSPENDED = 10, /* 3..10: state names */
    STR_PINNED = 11
};
#define IS_STATE_NAME(id) ((id) >= STR_COMPLETE && (id) <= STR_SUSPENDED)
#define IS_TERMINAL(id) ((id) >= STR_COMPLETE && (id) <= STR_KILLED)
/* Interned ids stay below this, so that a name id shifted into an alpha key's NAMETYPE (net.h)
 * keeps its 5 low bits for the type and the heap bit, and an id never looks like a number id:
 * 134 million distinct names, labels and extras, far beyond what fits in memory anyway. */
#define INTERN_ID_LIMIT (1u << 27)

typedef struct {
    char *text;
    uint32_t len;
    uint32_t hash;
    uint32_t refs; /* free entries: index of the next free id */
} intern_entry;

typedef struct {
    intern_entry *entries;
    size_t len, cap;
    uint32_t free_head;
    uint32_t *slots; /* entry ids; NIL32 empty */
    size_t slot_cap, used;
    size_t text_bytes;
} intern_table;

/* Names and extras are short: two overlapping loads from each side (8 or 4 bytes, or three single
 * bytes) compare them without a loop or a call; past 16 bytes, memcmp. */
static inline bool same_bytes(const char *a, const char *b, size_t n) {
    if (n >= 8) {
        if (n > 16)
            return memcmp(a, b, n) == 0;
        uint64_t a0, b0, a1, b1;
        memcpy(&a0, a, 8);
        memcpy(&b0, b, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4) {
        uint32_t a0, b0, a1, b1;
        memcpy(&a0, a, 4);
        memcpy(&b0, b, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
}

qbt_status intern_init(intern_table *t);
void intern_free(intern_table *t);
uint32_t intern_hash(const char *s, size_t n);
uint32_t intern_find(const intern_table *t, const char *s, size_t n, uint32_t hash);
/* Finds or adds the string and takes a reference. */
qbt_status intern_ref(intern_table *t, const char *s, size_t n, uint32_t *id);
void intern_incref(intern_table *t, uint32_t id);
void intern_decref(intern_table *t, uint32_t id);
qbt_status intern_reserve(intern_table *t, size_t extra);

/* Extras (the item after the job id) that are plain decimal numbers, frame numbers mostly, are not
 * interned: their id is the number with NUMBER_ID_BIT set, read off the text with no table probe
 * (the hot path's costliest lookup otherwise: slot, entry, text). Canonical spellings only (no
 * sign, no leading zero, at most 9 digits), so that equal ids still mean equal texts. Interned ids
 * stay below NUMBER_ID_BIT. */
#define NUMBER_ID_BIT 0x40000000u
#define IS_NUMBER_ID(id) (((id)&NUMBER_ID_BIT) && (id) != NIL32)
#define NUMBER_TEXT_MAX 10 /* digits of the largest number id, and a NUL */
_Static_assert(INTERN_ID_LIMIT <= NUMBER_ID_BIT, "interned ids must stay below the number ids");
_Static_assert(999999999u < NUMBER_ID_BIT, "a number id's value (9 digits) must fit below NUMBER_ID_BIT");
_Static_assert(NUMBER_ID_BIT < 0x80000000u, "extra ids take 31 bits (state keys pack them so)");

static inline uint32_t extra_number_id(const char *s, size_t n) {
    if (n == 0 || n > 9 || (s[0] == '0' && n > 1))
        return NIL32;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return NIL32;
        v = v * 10 + d;
    }
    return NUMBER_ID_BIT | v;
}
qbt_status extra_ref(intern_table *t, const char *s, size_t n, uint32_t *id);
void extra_decref(intern_table *t, uint32_t id);
static inline void extra_incref(intern_table *t, uint32_t id) {
    if (!IS_NUMBER_ID(id))
        intern_incref(t, id);
}
/* The text of an extra id; a number is written into buf. */
const char *extra_text(const intern_table *t, uint32_t id, char buf[NUMBER_TEXT_MAX], size_t *len);

/* ---------------------------------------------------------------- parsing (parse.c) */
enum { T_JOB, T_SUBJOB, T_WORK, T_HOST, T_TIME, T_REPEAT, T_GLOBAL, T_GLOBALTIME, T_GLOBALREPEAT, T_COUNT };
enum { CTX_SELF, CTX_PARENT, CTX_ID, CTX_LABEL, CTX_GLOBAL };

/* The C core's words in its own orders, so that a test can hold them to the Python vocabulary
 * (python/qbtrigger/vocabulary.py, through _native._c_vocabulary): the state names in id order
 * (STR_COMPLETE..STR_SUSPENDED), the terminal ones among them, the types in T_ order. Returns the
 * i-th word of a table, NULL past its last. */
enum { VOCAB_STATES, VOCAB_TERMINAL_STATES, VOCAB_TYPES };
const char *qbt_vocabulary(int table, size_t i, size_t *len);

typedef struct {
    const char *name;
    size_t name_len;
    const char *label; /* CTX_LABEL */
    size_t label_len;
    const char *extra; /* NULL: none */
    size_t extra_len;
    uint32_t job; /* CTX_ID */
    uint32_t parent; /* node index, or NIL32 for the root */
    uint8_t type;
    uint8_t ctx;
    uint64_t time, interval; /* time/repeat types */
} tmp_atom;


typedef struct {
    uint32_t parent; /* NIL32: the root */
    uint32_t nchild;
    bool is_and;
} tmp_node;

typedef struct {
    tmp_atom *atoms;
    size_t natoms, atoms_cap;
    tmp_node *nodes;
    size_t nnodes, nodes_cap;
    uint32_t *operands; /* stack of pending operands: atom i as 2i, node j as 2j+1 */
    size_t noperands, operands_cap;
} parse_scratch;

typedef struct {
    char *text;
    size_t len, cap;
    size_t column;
    uint64_t index;
} error_buf;

/* Parses one expression into the scratch, appending atoms and nodes and pushing its root on the
 * operand stack. owner/has_pid drive the 'parent' check. On QBT_ESYNTAX the error buffer is
 * filled. qbt_parse_join then folds the roots pushed since `base` into one OR (if several). */
qbt_status qbt_parse_expr(parse_scratch *s, const char *text, size_t len, uint32_t owner,
                          bool has_pid, error_buf *err);
qbt_status qbt_parse_join(parse_scratch *s, size_t base);

typedef struct {
    const char *name;
    size_t name_len;
    const char *extra; /* NULL: none */
    size_t extra_len;
    uint32_t extra_id; /* a number id (extra_number_id), else NIL32: look the extra up */
    uint32_t job; /* NIL32 for global types */
    uint8_t type;
    bool name_upper; /* the name has upper-case letters */
} parsed_event;

/* The common shape of an event, lower-case `name-work-jobid-extra` or `name-job-jobid`, read in one
 * pass with no error to report; false sends everything else (any error included) to
 * qbt_parse_event, which sets the same fields for a valid event. Inline: it is most of the cost of
 * parsing a batch. qbt_parse_event_after reads what follows a name already known to be a valid
 * lower-case one (the first name_len bytes of text). */
extern const uint8_t qbt_fast_name_byte[256];
QBT_ALWAYS_INLINE bool qbt_parse_event_after(const char *text, size_t len, size_t name_len, parsed_event *ev) {
    const unsigned char *p = (const unsigned char *)text + name_len, *end = (const unsigned char *)text + len;
    if (end - p < 6 || *p != '-') /* at least "-job-" and a digit */
        return false;
    p++;
    uint8_t type;
    if (end - p > 5 && memcmp(p, "work-", 5) == 0) {
        type = T_WORK;
        p += 5;
    } else if (memcmp(p, "job-", 4) == 0) {
        type = T_JOB;
        p += 4;
    } else {
        return false;
    }
    const unsigned char *digits = p;
    uint64_t job = 0; /* more than 10 digits may wrap: refused below */
    for (unsigned d; p < end && (d = (unsigned)*p - '0') <= 9; p++)
        job = job * 10 + d;
    if (p == digits || p - digits > 10 || job > QBT_MAX_JOB_ID)
        return false;
    if (type == T_JOB) {
        if (p != end)
            return false;
        ev->extra = NULL;
        ev->extra_len = 0;
        ev->extra_id = NIL32;
    } else {
        if (end - p < 2 || *p != '-' || (end - p == 2 && p[1] == '*'))
            return false;
        ev->extra = (const char *)p + 1;
        ev->extra_len = (size_t)(end - p - 1);
        ev->extra_id = extra_number_id(ev->extra, ev->extra_len);
    }
    ev->name = text;
    ev->name_len = name_len;
    ev->name_upper = false;
    ev->type = type;
    ev->job = (uint32_t)job;
    return true;
}

static inline bool qbt_parse_event_fast(const char *text, size_t len, parsed_event *ev) {
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    if (p == end || !(*p >= 'a' && *p <= 'z'))
        return false;
    while (++p < end && qbt_fast_name_byte[*p])
        ;
    return qbt_parse_event_after(text, len, (size_t)(p - (const unsigned char *)text), ev);
}

/* index < 0: a single feed (no index in the message). */
qbt_status qbt_parse_event(const char *text, size_t len, long long index, parsed_event *ev,
                           error_buf *err);
const char *qbt_type_name(int type, size_t *len);
bool qbt_parse_repeat(const char *s, size_t n, uint64_t *start, uint64_t *interval);
bool qbt_parse_time(const char *s, size_t n, uint64_t *t);
qbt_status err_set(error_buf *e, size_t column, const char *msg);
void scratch_free(parse_scratch *s);

/* ---------------------------------------------------------------- string builder (mem.c) */
qbt_status sb_put(error_buf *b, const char *s, size_t n);
qbt_status sb_puts(error_buf *b, const char *s);
qbt_status sb_putu(error_buf *b, uint64_t v);

#endif /* QBT_INTERNAL_H */
