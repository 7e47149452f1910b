/*
 * mem.c: allocation, growable arrays, the u64 -> u32 hash map and the error-text builder.
 *
 * Every allocation of the core goes through qbt_malloc/qbt_realloc/qbt_mfree. In debug builds
 * (QBT_DEBUG) they count live allocations, so tests can check that a network freed or churned
 * leaves nothing behind, and can be told to fail the n-th call, so out-of-memory paths get
 * exercised.
 *
 * u64map: open addressing with linear probing and backward-shift deletion (no tombstones, so
 * a table under churn never degrades). Load is kept at or below 3/4; the capacity is a power of
 * two. Keys are mixed with a 64-bit finaliser so sequential ids spread well.
 */
#define _DEFAULT_SOURCE /* madvise under -std=c11; before any system header */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#ifdef QBT_DEBUG
static size_t live_allocations;
static size_t fail_countdown;

static int should_fail(void) {
    if (fail_countdown == 0)
        return 0;
    return --fail_countdown == 0;
}

int qbt_debug_build(void) { return 1; }
size_t qbt_debug_live_allocations(void) { return live_allocations; }
void qbt_debug_fail_allocation(size_t nth) { fail_countdown = nth; }
#else
int qbt_debug_build(void) { return 0; }
size_t qbt_debug_live_allocations(void) { return 0; }
void qbt_debug_fail_allocation(size_t nth) { (void)nth; }
#endif

void *qbt_malloc(size_t n) {
#ifdef QBT_DEBUG
    if (should_fail())
        return NULL;
    void *p = malloc(n ? n : 1);
    if (p)
        live_allocations++;
    return p;
#else
    return malloc(n ? n : 1);
#endif
}

/* A table read at random all over (the alpha index): from TABLE_HUGE_BYTES on, it is aligned to
 * and advised for 2 MiB pages where the kernel offers them (Linux: transparent huge pages in
 * "madvise" or "always" mode; "never" turns this off). With 4 KiB pages every probe of a table of
 * tens of MB missed the TLB: restoring a million callbacks took ~18% longer. Only a hint: the
 * memory is the same, freed with qbt_mfree, and never passed to qbt_realloc. */
#define HUGE_PAGE_BYTES ((size_t)2 << 20)
#define TABLE_HUGE_BYTES ((size_t)4 << 20)

void *qbt_malloc_table(size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (n >= TABLE_HUGE_BYTES && n <= SIZE_MAX - HUGE_PAGE_BYTES) {
        size_t rounded = (n + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
#ifdef QBT_DEBUG
        if (should_fail())
            return NULL;
#endif
        void *p = aligned_alloc(HUGE_PAGE_BYTES, rounded);
        if (!p)
            return NULL;
#ifdef QBT_DEBUG
        live_allocations++;
#endif
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* a refusal leaves ordinary pages */
        return p;
    }
#endif
    return qbt_malloc(n);
}

void *qbt_realloc(void *p, size_t n) {
#ifdef QBT_DEBUG
    if (should_fail())
        return NULL;
    void *q = realloc(p, n ? n : 1);
    if (q && !p)
        live_allocations++;
    return q;
#else
    return realloc(p, n ? n : 1);
#endif
}

void qbt_mfree(void *p) {
#ifdef QBT_DEBUG
    if (p)
        live_allocations--;
#endif
    free(p);
}

qbt_status qbt_grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return QBT_OK;
    size_t next = *cap < 8 ? 8 : *cap + *cap / 2;
    if (next < need)
        next = need;
    if (next > SIZE_MAX / elem)
        return QBT_ENOMEM;
    void *p = qbt_realloc(*arr, next * elem);
    if (!p)
        return QBT_ENOMEM;
    *arr = p;
    *cap = next;
    return QBT_OK;
}

/* ------------------------------------------------------------------ u64map */

uint64_t qbt_mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

uint32_t u64map_get(const u64map *m, uint64_t key) {
    if (m->cap == 0)
        return NIL32;
    size_t mask = m->cap - 1;
    for (size_t i = qbt_mix64(key) & mask;; i = (i + 1) & mask) {
        const u64map_slot *s = &m->slots[i];
        if (s->val == NIL32)
            return NIL32;
        if (s->key == key)
            return s->val;
    }
}

static void u64map_insert_fresh(u64map_slot *slots, size_t mask, uint64_t key, uint32_t val) {
    size_t i = qbt_mix64(key) & mask;
    while (slots[i].val != NIL32)
        i = (i + 1) & mask;
    slots[i].key = key;
    slots[i].val = val;
}

qbt_status u64map_reserve(u64map *m, size_t extra) {
    size_t need = m->len + extra;
    if (need * 4 <= m->cap * 3)
        return QBT_OK;
    size_t cap = m->cap ? m->cap : 16;
    while (need * 4 > cap * 3)
        cap *= 2;
    u64map_slot *slots = qbt_malloc(cap * sizeof *slots);
    if (!slots)
        return QBT_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        slots[i].val = NIL32;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].val != NIL32)
            u64map_insert_fresh(slots, cap - 1, m->slots[i].key, m->slots[i].val);
    qbt_mfree(m->slots);
    m->slots = slots;
    m->cap = cap;
    return QBT_OK;
}

void u64map_put(u64map *m, uint64_t key, uint32_t val) {
    QBT_ASSERT(m->cap && (m->len + 1) * 4 <= m->cap * 3);
    size_t mask = m->cap - 1;
    size_t i = qbt_mix64(key) & mask;
    for (; m->slots[i].val != NIL32; i = (i + 1) & mask) {
        if (m->slots[i].key == key) {
            m->slots[i].val = val;
            return;
        }
    }
    m->slots[i].key = key;
    m->slots[i].val = val;
    m->len++;
}

void u64map_del(u64map *m, uint64_t key) {
    if (m->cap == 0)
        return;
    size_t mask = m->cap - 1;
    size_t i = qbt_mix64(key) & mask;
    for (;; i = (i + 1) & mask) {
        if (m->slots[i].val == NIL32)
            return;
        if (m->slots[i].key == key)
            break;
    }
    /* Backward-shift: pull later members of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; m->slots[j].val != NIL32; j = (j + 1) & mask) {
        size_t home = qbt_mix64(m->slots[j].key) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].val = NIL32;
    m->len--;
}

void u64map_free(u64map *m) {
    qbt_mfree(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

/* ------------------------------------------------------------------ string builder */

qbt_status sb_put(error_buf *b, const char *s, size_t n) {
    void *text = b->text;
    qbt_status st = qbt_grow(&text, &b->cap, b->len + n + 1, 1);
    b->text = text;
    if (st != QBT_OK)
        return st;
    memcpy(b->text + b->len, s, n);
    b->len += n;
    b->text[b->len] = '\0';
    return QBT_OK;
}

qbt_status sb_puts(error_buf *b, const char *s) { return sb_put(b, s, strlen(s)); }

qbt_status sb_putu(error_buf *b, uint64_t v) {
    char digits[24];
    size_t n = 0;
    do {
        digits[sizeof digits - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return sb_put(b, digits + sizeof digits - n, n);
}
