/*
 * intern.c: string interning. Names, labels and extras become 32-bit ids, so atom keys are
 * three words and comparing them is integer equality.
 *
 * Entries are reference counted: an alpha entry holds its name and extra, a label reference its
 * label, a state entry its extra, a job its label. At zero the string is freed and its id reused,
 * so a farm that churns through work names and labels keeps a flat footprint. Ids 0-10 are pinned
 * (see internal.h) and never freed.
 *
 * The lookup table holds ids in open-addressing slots (linear probing, backward-shift delete),
 * compared by stored hash first. Finding a string costs one hash of its bytes and usually one
 * probe; an event's extra that no atom mentions is simply not found, which is how the hot path
 * learns that only '*' atoms can match it. Extras that are plain numbers skip the table
 * altogether (extra_number_id, internal.h).
 */
#include "internal.h"

#include <string.h>

static const char *const pinned[STR_PINNED] = {
    "", "*", "done", "complete", "failed", "killed", "blocked", "running", "waiting", "pending",
    "suspended",
};

#define PINNED_REFS (UINT32_MAX / 2)

uint32_t intern_hash(const char *s, size_t n) {
    /* Eight bytes at a time, then a final mix: names and extras are short, and a byte-at-a-time
     * hash (FNV) is a chain of one multiply per byte, the largest part of parsing an event. */
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (uint64_t)n;
    for (; n >= 8; s += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    if (n) {
        uint64_t w = 0; /* the tail's bytes are independent: no chain */
        for (size_t i = 0; i < n; i++)
            w |= (uint64_t)(unsigned char)s[i] << (8 * i);
        h = (h ^ w) * 0x94D049BB133111EBULL;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return (uint32_t)h;
}

uint32_t intern_find(const intern_table *t, const char *s, size_t n, uint32_t hash) {
    size_t mask = t->slot_cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        uint32_t id = t->slots[i];
        if (id == NIL32)
            return NIL32;
        const intern_entry *e = &t->entries[id];
        if (e->hash == hash && e->len == n && same_bytes(e->text, s, n))
            return id;
    }
}

static void slot_insert(uint32_t *slots, size_t mask, const intern_entry *entries, uint32_t id) {
    size_t i = entries[id].hash & mask;
    while (slots[i] != NIL32)
        i = (i + 1) & mask;
    slots[i] = id;
}

qbt_status intern_reserve(intern_table *t, size_t extra) {
    void *entries = t->entries;
    qbt_status st = qbt_grow(&entries, &t->cap, t->len + extra, sizeof(intern_entry));
    t->entries = entries;
    if (st != QBT_OK)
        return st;
    size_t need = t->used + extra;
    if (need * 4 <= t->slot_cap * 3)
        return QBT_OK;
    size_t cap = t->slot_cap ? t->slot_cap : 64;
    while (need * 4 > cap * 3)
        cap *= 2;
    uint32_t *slots = qbt_malloc(cap * sizeof *slots);
    if (!slots)
        return QBT_ENOMEM;
    memset(slots, 0xff, cap * sizeof *slots);
    for (size_t i = 0; i < t->slot_cap; i++)
        if (t->slots[i] != NIL32)
            slot_insert(slots, cap - 1, t->entries, t->slots[i]);
    qbt_mfree(t->slots);
    t->slots = slots;
    t->slot_cap = cap;
    return QBT_OK;
}

qbt_status intern_init(intern_table *t) {
    memset(t, 0, sizeof *t);
    t->free_head = NIL32;
    qbt_status st = intern_reserve(t, 64);
    for (uint32_t id = 0; st == QBT_OK && id < STR_PINNED; id++) {
        uint32_t got;
        st = intern_ref(t, pinned[id], strlen(pinned[id]), &got);
        QBT_ASSERT(st != QBT_OK || got == id);
        if (st == QBT_OK)
            t->entries[id].refs = PINNED_REFS;
    }
    return st;
}

qbt_status intern_ref(intern_table *t, const char *s, size_t n, uint32_t *id_out) {
    uint32_t hash = intern_hash(s, n);
    uint32_t id = intern_find(t, s, n, hash);
    if (id != NIL32) {
        t->entries[id].refs++;
        *id_out = id;
        return QBT_OK;
    }
    if (n > UINT32_MAX - 1 || (t->free_head == NIL32 && t->len >= INTERN_ID_LIMIT))
        return QBT_ETOO_LARGE;
    qbt_status st = intern_reserve(t, 1);
    if (st != QBT_OK)
        return st;
    char *text = qbt_malloc(n + 1);
    if (!text)
        return QBT_ENOMEM;
    memcpy(text, s, n);
    text[n] = '\0';
    if (t->free_head != NIL32) {
        id = t->free_head;
        t->free_head = t->entries[id].refs;
    } else {
        id = (uint32_t)t->len++;
    }
    intern_entry *e = &t->entries[id];
    e->text = text;
    e->len = (uint32_t)n;
    e->hash = hash;
    e->refs = 1;
    slot_insert(t->slots, t->slot_cap - 1, t->entries, id);
    t->used++;
    t->text_bytes += n + 1;
    *id_out = id;
    return QBT_OK;
}

void intern_incref(intern_table *t, uint32_t id) { t->entries[id].refs++; }

const char *qbt_vocabulary(int table, size_t i, size_t *len) {
    size_t n = 0;
    for (uint32_t id = STR_COMPLETE; table != VOCAB_TYPES && id <= STR_SUSPENDED; id++) {
        if (table == VOCAB_TERMINAL_STATES && !IS_TERMINAL(id))
            continue;
        if (n++ == i) {
            *len = strlen(pinned[id]);
            return pinned[id];
        }
    }
    if (table == VOCAB_TYPES && i < T_COUNT)
        return qbt_type_name((int)i, len);
    return NULL;
}

void intern_decref(intern_table *t, uint32_t id) {
    intern_entry *e = &t->entries[id];
    if (id < STR_PINNED || --e->refs > 0)
        return;
    size_t mask = t->slot_cap - 1;
    size_t i = e->hash & mask;
    while (t->slots[i] != id)
        i = (i + 1) & mask;
    size_t hole = i;
    for (size_t j = (hole + 1) & mask; t->slots[j] != NIL32; j = (j + 1) & mask) {
        size_t home = t->entries[t->slots[j]].hash & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole] = NIL32;
    t->used--;
    t->text_bytes -= e->len + 1;
    qbt_mfree(e->text);
    e->text = NULL;
    e->refs = t->free_head;
    t->free_head = id;
}

void intern_free(intern_table *t) {
    for (size_t id = 0; id < t->len; id++)
        qbt_mfree(t->entries[id].text); /* NULL for free ids */
    qbt_mfree(t->entries);
    qbt_mfree(t->slots);
    memset(t, 0, sizeof *t);
}

qbt_status extra_ref(intern_table *t, const char *s, size_t n, uint32_t *id) {
    *id = extra_number_id(s, n);
    return *id != NIL32 ? QBT_OK : intern_ref(t, s, n, id);
}

void extra_decref(intern_table *t, uint32_t id) {
    if (!IS_NUMBER_ID(id))
        intern_decref(t, id);
}

const char *extra_text(const intern_table *t, uint32_t id, char buf[NUMBER_TEXT_MAX], size_t *len) {
    if (!IS_NUMBER_ID(id)) {
        *len = t->entries[id].len;
        return t->entries[id].text;
    }
    uint32_t v = id & ~NUMBER_ID_BIT;
    char *end = buf + NUMBER_TEXT_MAX - 1, *p = end;
    *end = '\0';
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    *len = (size_t)(end - p);
    return p;
}
