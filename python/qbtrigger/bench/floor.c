/* The floor: the least work any event matcher must do per event, measured in C.
 *
 * For each event of a '\n'-joined buffer it does what no matcher can skip: read the text once,
 * finding the hyphens that split name-type-jobid[-extra] and computing one hash (FNV-1a, 64 bit)
 * of the whole text on the way; then ONE probe of an open-addressing table of keys (the distinct
 * atom keys of the workload, same text form) and ONE counter update. No allocation, no Python, no
 * latches, no firing: a real matcher is measured against this, not against zero.
 *
 * Only the loop over the events is timed (CLOCK_MONOTONIC); building the key table is not.
 * Built at benchmark time by qbtrigger/bench/floor.py (shipped as package data): cc -O2 -shared -fPIC floor.c.
 */
#define _POSIX_C_SOURCE 199309L
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *key; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    uint64_t count;
} slot;

static uint64_t fnv1a(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* events: n events joined by '\n'; keys: the key table, joined by '\n'.
 * Returns ns per event of the timed loop, or -1 when out of memory. out[0] = events seen,
 * out[1] = events that hit a key, out[2] = events without two hyphens (malformed). */
double qbt_floor_run(const char *events, size_t events_len, const char *keys, size_t keys_len,
                     uint64_t *out) {
    size_t n_keys = 0;
    for (size_t i = 0; i < keys_len; i++) n_keys += keys[i] == '\n';
    n_keys += keys_len > 0;
    size_t cap = 16;
    while (cap < 2 * n_keys) cap <<= 1;
    slot *table = calloc(cap, sizeof *table);
    if (!table) return -1.0;
    size_t mask = cap - 1;
    for (size_t start = 0; start < keys_len;) {
        const char *k = keys + start;
        const char *nl = memchr(k, '\n', keys_len - start);
        size_t len = nl ? (size_t)(nl - k) : keys_len - start;
        uint64_t h = fnv1a(k, len);
        size_t i = (size_t)h & mask;
        while (table[i].key && !(table[i].hash == h && table[i].len == len && !memcmp(table[i].key, k, len)))
            i = (i + 1) & mask;
        table[i].key = k, table[i].len = len, table[i].hash = h;
        start += len + 1;
    }

    uint64_t seen = 0, hits = 0, malformed = 0;
    double t0 = now_ns();
    const char *p = events, *end = events + events_len;
    while (p < end) {
        /* one pass: hash the text and find the hyphens that split it */
        uint64_t h = 1469598103934665603ULL;
        const char *s = p;
        const char *hyphen[3] = {NULL, NULL, NULL};
        int hyphens = 0;
        while (p < end && *p != '\n') {
            unsigned char c = (unsigned char)*p;
            if (c == '-' && hyphens < 3) hyphen[hyphens++] = p;
            h ^= c;
            h *= 1099511628211ULL;
            p++;
        }
        size_t len = (size_t)(p - s);
        p++; /* past the '\n' */
        seen++;
        if (hyphens < 2 || hyphen[0] == s) {
            malformed++;
            continue;
        }
        /* one probe, one counter update */
        size_t i = (size_t)h & mask;
        while (table[i].key && !(table[i].hash == h && table[i].len == len && !memcmp(table[i].key, s, len)))
            i = (i + 1) & mask;
        if (table[i].key) {
            table[i].count++;
            hits++;
        }
    }
    double elapsed = now_ns() - t0;

    uint64_t counted = 0;
    for (size_t i = 0; i < cap; i++) counted += table[i].count;
    free(table);
    out[0] = seen;
    out[1] = counted == hits ? hits : UINT64_MAX; /* keeps the counters live */
    out[2] = malformed;
    return seen ? elapsed / (double)seen : 0.0;
}
