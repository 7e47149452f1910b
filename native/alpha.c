/*
 * alpha.c: the alpha index and the records it counts in.
 *
 * The index maps an atom key (name << 5 | type, context, extra) to the first latch waiting on it,
 * in open-addressing slots with the key inline. Deleting leaves a tombstone, so a slot's index is
 * stable between rehashes; a rehash re-points each entry's first latch (ALPHA_TAG | slot) and the
 * clock heap. A one-hash Bloom filter beside the table (net.h, alpha_maybe) lets an event skip most
 * keys that do not exist without a probe; it is rebuilt with the table. Job-id contexts (ctx_t) and
 * label references (labelref) count the entries that use them, which lets an event skip keys that
 * cannot exist.
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ job-id contexts */

/* Finds or creates the record of a job id; the caller then counts something in it. */
qbt_status ctx_take(qbt_net *net, uint32_t jobid, uint32_t *out) {
    uint32_t c = u64map_get(&net->ctx_index, jobid);
    if (c == NIL32) {
        void *arr = net->ctxs;
        qbt_status st = qbt_grow(&arr, &net->ctxs_cap, net->ctxs_len + 1, sizeof(ctx_t));
        net->ctxs = arr;
        if (st == QBT_OK)
            st = u64map_reserve(&net->ctx_index, 1);
        if (st != QBT_OK)
            return st;
        if (net->ctxs_free != NIL32) {
            c = net->ctxs_free;
            net->ctxs_free = net->ctxs[c].job;
        } else {
            c = (uint32_t)net->ctxs_len++;
        }
        memset(&net->ctxs[c], 0, sizeof(ctx_t));
        net->ctxs[c].job = NIL32;
        net->ctxs[c].ref = NIL32;
        u64map_put(&net->ctx_index, jobid, c);
    }
    *out = c;
    return QBT_OK;
}

/* Frees the record of a job id once nothing uses it. */
void ctx_release(qbt_net *net, uint32_t jobid, uint32_t c) {
    ctx_t *x = &net->ctxs[c];
    if (x->job != NIL32 || x->counts.n_alpha)
        return;
    u64map_del(&net->ctx_index, jobid);
    x->job = net->ctxs_free;
    net->ctxs_free = c;
}

/* ------------------------------------------------------------------ label references */

qbt_status labelref_take(qbt_net *net, uint32_t pgrp, uint32_t label, uint32_t *out) {
    uint64_t key = label_key(pgrp, label);
    uint32_t ref = u64map_get(&net->ref_index, key);
    if (ref != NIL32) {
        net->refs[ref].refs++;
        *out = ref;
        return QBT_OK;
    }
    void *arr = net->refs;
    qbt_status st = qbt_grow(&arr, &net->refs_cap, net->refs_len + 1, sizeof(labelref));
    net->refs = arr;
    if (st == QBT_OK)
        st = u64map_reserve(&net->ref_index, 1);
    if (st != QBT_OK)
        return st;
    if (net->refs_free != NIL32) {
        ref = net->refs_free;
        net->refs_free = net->refs[ref].refs;
    } else {
        if (net->refs_len >= LABEL_BIT - 1)
            return QBT_ETOO_LARGE;
        ref = (uint32_t)net->refs_len++;
    }
    net->refs[ref].key = key;
    net->refs[ref].refs = 1;
    memset(&net->refs[ref].counts, 0, sizeof(ctx_counts));
    u64map_put(&net->ref_index, key, ref);
    intern_incref(&net->strings, label);
    *out = ref;
    return QBT_OK;
}

void labelref_decref(qbt_net *net, uint32_t ref) {
    labelref *r = &net->refs[ref];
    if (--r->refs > 0)
        return;
    u64map_del(&net->ref_index, r->key);
    intern_decref(&net->strings, (uint32_t)r->key);
    r->refs = net->refs_free;
    net->refs_free = ref;
}

/* The counters of a context (NULL for global atoms). */
static ctx_counts *counts_of(qbt_net *net, uint32_t ctx) {
    if (ctx == GLOBAL_CTX)
        return NULL;
    if (ctx & LABEL_BIT)
        return &net->refs[ctx & ~LABEL_BIT].counts;
    return &net->ctxs[u64map_get(&net->ctx_index, ctx)].counts;
}
static size_t alpha_place(alpha_slot *slots, size_t cap, uint32_t hash) {
    size_t i = alpha_home(hash, cap);
    while (slots[i].nametype != NT_EMPTY && slots[i].nametype != NT_TOMB)
        if (++i == cap)
            i = 0;
    return i;
}

/* Up to this many slots (1 MiB) the index is kept between 1/4 and 1/2 full, above it between 1/2
 * and 3/4. A small network's events then mostly find their key in its home slot: at 1k callbacks
 * a lookup took ~2.5 probes at 0.55 full, and whether the first one hits is a coin the branch
 * predictor cannot call (same-run A/B of the C driver: -5% CPU at 1k, -9% at 10k). A big table
 * would pay the doubling in memory, and in the cache misses it is there to avoid. */
#define SPARSE_ALPHA_SLOTS ((size_t)1 << 16)

static inline void filter_set(uint8_t *filter, size_t mask, uint32_t hash) {
    size_t bit = hash & mask;
    filter[bit >> 3] |= (uint8_t)(1u << (bit & 7));
}

/* Room for `extra` more entries; a rehash drops the tombstones, re-points latches and heap and
 * rebuilds the key filter. */
qbt_status alpha_reserve(qbt_net *net, size_t extra) {
    size_t need = net->alpha_live + net->alpha_tombs + extra;
    bool sparse = net->alpha_cap <= SPARSE_ALPHA_SLOTS;
    if (sparse ? need * 2 <= net->alpha_cap : need * 4 <= net->alpha_cap * 3)
        return QBT_OK;
    size_t cap = (net->alpha_live + extra) * 4;
    if (cap > SPARSE_ALPHA_SLOTS) /* dense: half full, and past the limit so it stays dense */
        cap = cap / 2 > SPARSE_ALPHA_SLOTS ? cap / 2 : SPARSE_ALPHA_SLOTS + 1;
    if (cap < 64)
        cap = 64;
    if (cap >= (size_t)1 << 31)
        return QBT_ETOO_LARGE;
    size_t bits = 64;
    while (bits < cap * 2)
        bits *= 2;
    alpha_slot *slots = qbt_malloc_table(cap * sizeof *slots);
    uint8_t *filter = qbt_malloc(bits / 8);
    uint32_t *moved = net->heap_len ? qbt_malloc(net->alpha_cap * sizeof *moved) : NULL;
    if (!slots || !filter || (net->heap_len && !moved)) {
        qbt_mfree(slots);
        qbt_mfree(filter);
        qbt_mfree(moved);
        return QBT_ENOMEM;
    }
    memset(slots, 0, cap * sizeof *slots);
    memset(filter, 0, bits / 8);
    for (size_t i = 0; i < net->alpha_cap; i++) {
        const alpha_slot *old = &net->alpha[i];
        if (old->nametype == NT_EMPTY || old->nametype == NT_TOMB)
            continue;
        uint32_t hash = alpha_hash(old->nametype & ~INHEAP_BIT, old->ctx, old->extra);
        size_t j = alpha_place(slots, cap, hash);
        filter_set(filter, bits - 1, hash);
        slots[j] = *old;
        if (old->head)
            latch_at(net, old->head)->prev = ALPHA_TAG | (uint32_t)j;
        if (moved)
            moved[i] = (uint32_t)j;
    }
    for (size_t h = 0; h < net->heap_len; h++)
        net->heap[h].alpha = moved[net->heap[h].alpha];
    qbt_mfree(moved);
    qbt_mfree(net->alpha);
    qbt_mfree(net->alpha_filter);
    net->alpha = slots;
    net->alpha_cap = cap;
    net->alpha_filter = filter;
    net->filter_mask = bits - 1;
    net->alpha_tombs = 0;
    return QBT_OK;
}

uint32_t alpha_insert(qbt_net *net, uint32_t nametype, uint32_t ctx, uint32_t extra) {
    uint32_t hash = alpha_hash(nametype, ctx, extra);
    size_t i = alpha_place(net->alpha, net->alpha_cap, hash);
    filter_set(net->alpha_filter, net->filter_mask, hash);
    alpha_slot *s = &net->alpha[i];
    if (s->nametype == NT_TOMB)
        net->alpha_tombs--;
    s->nametype = nametype;
    s->ctx = ctx;
    s->extra = extra;
    s->head = 0;
    net->alpha_live++;
    net->n_done_alpha += NT_NAME(nametype) == STR_DONE;
    net->n_star_alpha += extra == STR_STAR;
    net->n_label_alpha += IS_LABEL_CTX(ctx);
    ctx_counts *counts = counts_of(net, ctx);
    if (counts) {
        counts->n_done += NT_NAME(nametype) == STR_DONE;
        counts->n_star += extra == STR_STAR;
        counts->n_alpha += IS_LABEL_CTX(ctx); /* job-id contexts were counted when taken */
    }
    return (uint32_t)i;
}

/* Frees an alpha entry once no latch waits on it. One the clock heap still holds lingers, not
 * counted in stats, until it is popped (or taken up again by a new atom with the same key). */
void alpha_release(qbt_net *net, uint32_t idx) {
    alpha_slot *e = &net->alpha[idx];
    if (e->head != 0)
        return;
    if (e->nametype & INHEAP_BIT) {
        net->alpha_waiting++;
        return;
    }
    net->alpha_live--;
    net->n_done_alpha -= NT_NAME(e->nametype) == STR_DONE;
    net->n_star_alpha -= e->extra == STR_STAR;
    net->n_label_alpha -= IS_LABEL_CTX(e->ctx);
    ctx_counts *counts = counts_of(net, e->ctx);
    if (counts) {
        counts->n_done -= NT_NAME(e->nametype) == STR_DONE;
        counts->n_star -= e->extra == STR_STAR;
        counts->n_alpha--;
    }
    intern_decref(&net->strings, NT_NAME(e->nametype));
    extra_decref(&net->strings, e->extra);
    if (IS_LABEL_CTX(e->ctx))
        labelref_decref(net, e->ctx & ~LABEL_BIT);
    else if (e->ctx != GLOBAL_CTX)
        ctx_release(net, e->ctx, u64map_get(&net->ctx_index, e->ctx));
    e->nametype = NT_TOMB;
    net->alpha_tombs++;
}
