/*
 * net.h: the layout of a network, shared by the files that implement it: pool.c (callback blocks
 * and handles), alpha.c (the alpha index, job-id contexts and label references), latch.c (firing),
 * register.c (registration and catch-up), feed.c (events and item states) and network.c
 * (lifecycle, jobs, the clock, introspection). Each file's opening comment describes its part of
 * the design (latch.c the callback blocks); this header holds what more than one of them needs,
 * the hot path's helpers as static inline functions, so that splitting the core into files costs
 * no call on it.
 */
#ifndef QBT_NET_H
#define QBT_NET_H

#include "internal.h"


typedef struct {
    uint32_t handle_lo, handle_hi;
    uint32_t owner; /* job slot */
    uint32_t job_next, job_prev; /* blocks of the same owner; 0: none */
    uint32_t count;
    uint32_t maximum; /* 0: unlimited */
    uint16_t nlatch, nnode; /* nnode: nodes below the root */
    uint16_t root_nchild; /* | AND_BIT; a lone atom is an OR of one */
    uint16_t root_count; /* children of the root that are true */
} cb_t;

typedef struct {
    uint32_t next; /* next latch of the alpha entry (0: none); top 2 bits: context kind */
    uint32_t prev; /* previous latch, or ALPHA_TAG | alpha slot for the first one */
    uint16_t parent; /* node index, or PARENT_ROOT */
    uint16_t index_set; /* position in the block << 1 | set */
} latch_t;

typedef struct {
    uint16_t parent;
    uint16_t nchild; /* | AND_BIT */
    uint16_t count;
    uint16_t unused;
} node_t;

#define CB_WORDS (sizeof(cb_t) / 4)
#define LATCH_WORDS (sizeof(latch_t) / 4)
#define NODE_WORDS (sizeof(node_t) / 4)
#define PARENT_ROOT 0xFFFFu
#define AND_BIT 0x8000u
#define ALPHA_TAG 0x80000000u
#define NEXT_MASK 0x3FFFFFFFu
#define KIND_SHIFT 30 /* CTX_SELF, CTX_PARENT or CTX_ID, for why_not's words */
#define SMALL_CLASSES 64

/* What the 16-bit fields of a block hold must fit them. */
_Static_assert(sizeof(cb_t) % 4 == 0 && sizeof(latch_t) % 4 == 0 && sizeof(node_t) % 4 == 0,
               "blocks are arrays of 32-bit words");
_Static_assert(QBT_MAX_ATOMS <= UINT16_MAX, "nlatch and nnode are 16 bits");
_Static_assert(((QBT_MAX_ATOMS - 1) << 1 | 1) <= UINT16_MAX, "index_set packs a latch's position and its set bit");
_Static_assert(QBT_MAX_ATOMS < AND_BIT, "a node's child count (at most the atoms) must stay below AND_BIT");
_Static_assert(QBT_MAX_ATOMS <= PARENT_ROOT, "node indices (fewer than the atoms) must stay below PARENT_ROOT");
_Static_assert(CTX_SELF < 4 && CTX_PARENT < 4 && CTX_ID < 4, "a latch keeps its context kind in 2 bits");
_Static_assert(NEXT_MASK >> KIND_SHIFT == 0 && (NEXT_MASK & ALPHA_TAG) == 0,
               "latch offsets, context kinds and ALPHA_TAG must not overlap");

/* The pool is a list of 1 MiB chunks: it grows without copying big arrays and without slack, and
 * a block never straddles two chunks. An offset is chunk << CHUNK_BITS | word, below 2^30. The
 * last chunk starts small and grows by realloc (offsets are relative to it), so a small network
 * stays small. */
#define FIRST_CHUNK_WORDS ((size_t)1024)
#define CHUNK_BITS 18
#define CHUNK_WORDS ((size_t)1 << CHUNK_BITS)
#define MAX_CHUNKS ((size_t)1 << (30 - CHUNK_BITS))
_Static_assert(MAX_CHUNKS * CHUNK_WORDS - 1 <= NEXT_MASK, "a pool offset must fit a latch's next field");

/* Handles map to blocks through pages of 1024 slots, freed with their last callback: four bytes
 * per callback, and flat under churn since handles are handed out in order. */
#define HPAGE_BITS 10
#define HPAGE_SLOTS ((size_t)1 << HPAGE_BITS)
typedef struct {
    uint32_t live;
    uint32_t block[HPAGE_SLOTS]; /* 0: none */
} hpage;

#define LABEL_BIT 0x80000000u
#define GLOBAL_CTX 0xFFFFFFFFu
#define IS_LABEL_CTX(c) (((c) & LABEL_BIT) && (c) != GLOBAL_CTX)
_Static_assert(QBT_MAX_JOB_ID < LABEL_BIT, "a job-id context must not look like a label context");

/* An alpha key's first word: name << 5 | INHEAP_BIT | type. The type takes 4 bits (nine of the
 * sixteen values are taken), which is why interned ids stay below 2^27 (INTERN_ID_LIMIT). */
#define NT_SHIFT 5
#define INHEAP_BIT 0x10u
#define NAMETYPE(name, type) (((name) << NT_SHIFT) | (uint32_t)(type))
#define NT_NAME(nt) ((nt) >> NT_SHIFT)
#define NT_TYPE(nt) ((nt)&0xFu)
#define NT_EMPTY 0u
#define NT_TOMB 1u /* name id 0 is never an atom's name: neither value is a real key */
_Static_assert(T_COUNT <= 16, "the type field of an alpha key (NT_TYPE) is 4 bits");
_Static_assert(INHEAP_BIT > 0xFu && INHEAP_BIT < (1u << NT_SHIFT), "INHEAP_BIT sits between the type and the name");
_Static_assert((uint64_t)(INTERN_ID_LIMIT - 1) << NT_SHIFT <= UINT32_MAX, "a name id shifted by NT_SHIFT must fit 32 bits");
_Static_assert(STR_NONE == 0 && NT_TOMB < (1u << NT_SHIFT), "NT_EMPTY and NT_TOMB are name id 0, never an atom's name");

/* The alpha index: open addressing with the key inline, so a probe touches one slot. Deleting
 * leaves a tombstone, so a slot's index is stable between rehashes; a rehash re-points the first
 * latch of every entry and the clock heap at the new slots. Capacity is any size (the hash is
 * mapped by multiply-shift): a rehash makes it twice its entries, so it stays between 1/2 and 3/4
 * full; up to 1 MiB of slots, four times, between 1/4 and 1/2 full (alpha.c's SPARSE_ALPHA_SLOTS). */
typedef struct {
    uint32_t nametype; /* NT_EMPTY, NT_TOMB, or name << 4 | INHEAP | type */
    uint32_t ctx;
    uint32_t extra;
    uint32_t head; /* first latch, 0: none */
} alpha_slot;

/* Atoms per context, so an event probes only the keys that can exist: an event for a job no
 * atom names costs one map probe, and '*' and `done` keys are probed only where some atom uses
 * them. Kept for job-id contexts (ctx_t, found by job id, also holding the added job's slot) and
 * for label contexts (in the label reference). */
typedef struct {
    uint32_t n_alpha, n_star, n_done;
} ctx_counts;

typedef struct {
    uint64_t key; /* pgrp << 32 | label id */
    uint32_t refs; /* free entries: next free */
    ctx_counts counts;
} labelref;

typedef struct {
    uint32_t job; /* slot of the added job with this id, NIL32: none; free entries: next free */
    uint32_t ref; /* that job's label reference (a copy of job_t.ref, one load less per event) */
    ctx_counts counts;
} ctx_t;

typedef struct {
    uint32_t id, pgrp, pid; /* pid QBT_NO_PID: none */
    uint32_t label; /* intern id, STR_NONE: none */
    uint32_t ref; /* labelref of (pgrp, label), NIL32: none */
    uint32_t cb_head; /* first callback block, 0: none; free slots: next free */
} job_t;

typedef struct {
    uint32_t job, extra, next; /* next: in the job's chain, or the free list */
    uint8_t type, state;
} state_t;

typedef struct {
    uint64_t due;
    uint32_t alpha; /* slot */
} heap_item;

/* A callback fired by catch-up at registration, and the event it stands for (the item state whose
 * latch completed it, or a passed time atom's moment), until qbt_drain_catch_up forgets it. */
typedef struct {
    uint64_t handle;
    uint64_t time; /* type T_GLOBALTIME: the passed time atom's moment */
    uint32_t job; /* the item's job id */
    uint32_t extra; /* the item's extra id, a reference the entry holds; STR_NONE: none (a job) */
    uint8_t type; /* T_JOB, T_WORK or T_SUBJOB; T_GLOBALTIME for a passed time atom */
    uint8_t state; /* the item's state (a pinned name id) */
} catchup_entry;

/* An alpha key an event of a batch sets (qbt_feed_many), waiting for its lookup. */
typedef struct {
    uint32_t nametype, ctx, extra, hash;
} event_key;

struct qbt_net {
    bool state_aware;
    uint64_t clock;
    uint64_t next_handle;

    uint32_t *chunks[MAX_CHUNKS];
    size_t nchunks, chunk_used, chunk_cap; /* words used in and allocated to the last chunk */
    uint32_t free_small[SMALL_CLASSES];
    u64map free_large; /* block size in words -> first free block */
    hpage **hpages;
    size_t hpages_len, hpages_cap;
    u64map hpage_index; /* handle >> HPAGE_BITS -> index in hpages */
    size_t ncallbacks, nlatches;

    alpha_slot *alpha;
    size_t alpha_cap, alpha_live, alpha_tombs;
    uint8_t *alpha_filter; /* one bit per hash value mod filter_mask + 1: set for every key inserted */
    size_t filter_mask; /* bits - 1, a power of two less one */
    size_t alpha_waiting; /* live entries with no latch, kept only until the clock pops them */
    size_t n_done_alpha, n_star_alpha, n_label_alpha;

    intern_table strings;

    labelref *refs;
    size_t refs_len, refs_cap;
    uint32_t refs_free;
    u64map ref_index;

    job_t *jobs;
    size_t jobs_len, jobs_cap, njobs;
    uint32_t jobs_free;
    ctx_t *ctxs;
    size_t ctxs_len, ctxs_cap;
    uint32_t ctxs_free;
    u64map ctx_index; /* job id -> ctx_t, for ids that are added jobs or atom contexts */
    u64map label_index; /* pgrp << 32 | label id -> job slot */

    state_t *states;
    size_t states_len, states_cap;
    uint32_t states_free;
    u64map state_index; /* item key -> state entry */
    u64map state_heads; /* job id -> first state entry of its chain (jobs need not be added) */
    size_t stray_states; /* state entries whose job id is not an added job */

    heap_item *heap;
    size_t heap_len, heap_cap;

    uint32_t *fired; /* blocks fired by the event being applied */
    size_t nfired, fired_cap;
    qbt_firing *out;
    size_t out_len, out_cap;
    catchup_entry *catchup;
    size_t ncatchup, catchup_cap;
    qbt_catch_up_event *drained; /* what qbt_drain_catch_up_events last returned */
    size_t drained_cap;
    error_buf drained_text; /* its extras' texts */

    uint32_t name_memo; /* the name id qbt_feed found last (event_name), NIL32: none */
    parse_scratch scratch;
    uint32_t *hits; /* alpha slots a batch of events sets, event after event (qbt_feed_many) */
    size_t nhits, hits_cap;
    uint8_t *hit_counts; /* per event of the batch: how many of the slots in `hits` are its own */
    size_t hit_counts_cap;
    uint32_t *taken; /* atom_ids of a registration being prepared */
    size_t taken_cap;
    char *lower; /* lower-cased copy of a name */
    size_t lower_cap;

    error_buf err;
    uint64_t err_item; /* qbt_add_many: the spec at fault, or how many were registered */
};

static inline uint32_t *word_at(const qbt_net *net, uint32_t off) {
    return net->chunks[off >> CHUNK_BITS] + (off & (CHUNK_WORDS - 1));
}
static inline cb_t *cb_at(const qbt_net *net, uint32_t block) { return (cb_t *)word_at(net, block); }
static inline latch_t *latch_at(const qbt_net *net, uint32_t off) { return (latch_t *)word_at(net, off); }
static inline uint32_t latch_off(uint32_t block, uint32_t i) {
    return block + (uint32_t)CB_WORDS + i * (uint32_t)LATCH_WORDS;
}
static inline node_t *nodes_of(const qbt_net *net, uint32_t block, const cb_t *cb) {
    return (node_t *)word_at(net, block + (uint32_t)(CB_WORDS + (size_t)cb->nlatch * LATCH_WORDS));
}
static inline uint64_t cb_handle(const cb_t *cb) { return (uint64_t)cb->handle_hi << 32 | cb->handle_lo; }
static inline size_t block_words(size_t nlatch, size_t nnode) {
    return CB_WORDS + nlatch * LATCH_WORDS + nnode * NODE_WORDS;
}
static inline uint32_t block_of_latch(const latch_t *l, uint32_t off) {
    return off - (uint32_t)CB_WORDS - (uint32_t)(l->index_set >> 1) * (uint32_t)LATCH_WORDS;
}

static inline uint64_t label_key(uint32_t pgrp, uint32_t label) { return (uint64_t)pgrp << 32 | label; }

/* The alpha index's hot path (alpha.c has the rest). */

static inline uint32_t alpha_hash(uint32_t nametype, uint32_t ctx, uint32_t extra) {
    uint64_t x = ((uint64_t)nametype << 32 | ctx) * 0x9E3779B97F4A7C15ULL;
    x ^= (uint64_t)extra * 0xC2B2AE3D27D4EB4FULL;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 32;
    return (uint32_t)x;
}

static inline size_t alpha_home(uint32_t hash, size_t cap) { return (size_t)(((uint64_t)hash * cap) >> 32); }

/* The key filter: a one-hash Bloom filter over the alpha index, 2 to 4 bits per slot, rebuilt with
 * the table (alpha_reserve). A clear bit says no entry has this hash, without touching the table,
 * whose slots are far more likely to miss the cache: the `done` and `*` keys an event may set
 * mostly do not exist. Entries released since the rebuild leave their bit set (a wasted probe,
 * never a missed key). The low bits of the hash pick the bit; alpha_home uses the high ones. */
static inline bool alpha_maybe(const qbt_net *net, uint32_t hash) {
    size_t bit = hash & net->filter_mask;
    return (net->alpha_filter[bit >> 3] >> (bit & 7)) & 1;
}

/* The slot of a key whose hash is known, NIL32 if none; the table must have slots. */
static inline uint32_t alpha_find_hashed(const qbt_net *net, uint32_t hash, uint32_t nametype, uint32_t ctx,
                                         uint32_t extra) {
    size_t cap = net->alpha_cap;
    for (size_t i = alpha_home(hash, cap);;) {
        const alpha_slot *s = &net->alpha[i];
        if (s->nametype == NT_EMPTY)
            return NIL32;
        if ((s->nametype & ~INHEAP_BIT) == nametype && s->ctx == ctx && s->extra == extra)
            return (uint32_t)i;
        if (++i == cap)
            i = 0;
    }
}


static inline uint32_t alpha_find(const qbt_net *net, uint32_t nametype, uint32_t ctx, uint32_t extra) {
    if (net->alpha_cap == 0)
        return NIL32;
    return alpha_find_hashed(net, alpha_hash(nametype, ctx, extra), nametype, ctx, extra);
}

/* Latches (latch.c fires the callbacks they complete). Setting one is the hot path of every event
 * and clock moment, clearing one that of a retraction: always inlined, as they were when one file
 * held all their callers. */

static inline bool root_true(const cb_t *cb) {
    uint16_t n = cb->root_nchild & ~AND_BIT;
    return (cb->root_nchild & AND_BIT) ? cb->root_count == n : cb->root_count >= 1;
}

/* A block never straddles two chunks (pool.c), so from a latch its block's header and nodes are
 * plain pointer arithmetic: no chunk lookup (word_at) per step on the hot path. */
static inline cb_t *cb_of_latch(latch_t *l) {
    return (cb_t *)((uint32_t *)l - CB_WORDS - (size_t)(l->index_set >> 1) * LATCH_WORDS);
}
static inline node_t *nodes_after(cb_t *cb) {
    return (node_t *)((uint32_t *)cb + CB_WORDS + (size_t)cb->nlatch * LATCH_WORDS);
}

/* Sets the latch l at pool offset off; a callback whose root turns true joins net->fired. */
QBT_ALWAYS_INLINE void set_latch_at(qbt_net *net, latch_t *l, uint32_t off) {
    uint16_t index_set = l->index_set;
    if (index_set & 1)
        return;
    l->index_set = (uint16_t)(index_set | 1);
    cb_t *cb = cb_of_latch(l);
    uint16_t p = l->parent;
    if (p != PARENT_ROOT) {
        node_t *nodes = nodes_after(cb);
        do {
            node_t *nd = &nodes[p];
            uint16_t count = ++nd->count;
            if (nd->nchild & AND_BIT) {
                if (count != (nd->nchild & ~AND_BIT))
                    return;
            } else if (count != 1) {
                return;
            }
            p = nd->parent;
        } while (p != PARENT_ROOT);
    }
    uint16_t root = ++cb->root_count;
    bool flipped = (cb->root_nchild & AND_BIT) ? root == (cb->root_nchild & ~AND_BIT) : root == 1;
    if (flipped) {
        QBT_ASSERT(net->nfired < net->fired_cap);
        net->fired[net->nfired++] = off - (uint32_t)CB_WORDS - (uint32_t)(index_set >> 1) * (uint32_t)LATCH_WORDS;
    }
}

static inline void set_latch(qbt_net *net, uint32_t off) { set_latch_at(net, latch_at(net, off), off); }

QBT_ALWAYS_INLINE void unset_latch(qbt_net *net, uint32_t off) {
    latch_t *l = latch_at(net, off);
    if (!(l->index_set & 1))
        return;
    l->index_set &= (uint16_t)~1u;
    uint32_t block = block_of_latch(l, off);
    cb_t *cb = cb_at(net, block);
    node_t *nodes = nodes_of(net, block, cb);
    for (uint16_t p = l->parent; p != PARENT_ROOT;) {
        node_t *nd = &nodes[p];
        QBT_ASSERT(nd->count > 0);
        bool is_and = nd->nchild & AND_BIT;
        uint16_t n = nd->nchild & ~AND_BIT;
        bool was = is_and ? nd->count == n : nd->count >= 1;
        nd->count--;
        bool now = is_and ? nd->count == n : nd->count >= 1;
        if (was == now)
            return;
        p = nd->parent;
    }
    QBT_ASSERT(!root_true(cb)); /* never true between events */
    cb->root_count--;
}

QBT_ALWAYS_INLINE void set_all(qbt_net *net, uint32_t slot) {
    for (uint32_t off = net->alpha[slot].head; off;) {
        latch_t *l = latch_at(net, off);
        uint32_t next = l->next & NEXT_MASK;
        set_latch_at(net, l, off);
        off = next;
    }
}

QBT_ALWAYS_INLINE void unset_all(qbt_net *net, uint32_t slot) {
    for (uint32_t off = net->alpha[slot].head; off; off = latch_at(net, off)->next & NEXT_MASK)
        unset_latch(net, off);
}

/* Helpers of more than one file. */

static inline qbt_status out_reserve(qbt_net *net, size_t extra) {
    if (net->out_len + extra <= net->out_cap)
        return QBT_OK; /* the common case, once per firing event: no call */
    void *arr = net->out;
    qbt_status st = qbt_grow(&arr, &net->out_cap, net->out_len + extra, sizeof(qbt_firing));
    net->out = arr;
    return st;
}

static inline job_t *find_job(const qbt_net *net, uint32_t jobid, uint32_t *slot_out) {
    uint32_t c = u64map_get(&net->ctx_index, jobid);
    uint32_t slot = c == NIL32 ? NIL32 : net->ctxs[c].job;
    if (slot_out)
        *slot_out = slot;
    return slot == NIL32 ? NULL : &net->jobs[slot];
}

/* An item's key: job id (31 bits), type (2 bits: job, subjob or work) and extra id (31 bits). */
static inline uint64_t state_key(uint32_t job, uint8_t type, uint32_t extra) {
    return (uint64_t)job << 33 | (uint64_t)type << 31 | extra;
}
_Static_assert(QBT_MAX_JOB_ID < (1u << 31) && T_JOB < 4 && T_SUBJOB < 4 && T_WORK < 4,
               "a state key packs a job id in 31 bits and an item type in 2");

/* References taken for one atom while preparing a registration; committed or dropped. */
typedef struct {
    uint32_t name, extra;
    uint32_t ref; /* label reference, or ctx_t of a job-id context; NIL32: none (global) */
    uint32_t ctx;
} atom_ids;

/* register.c: reserves and commits the callback in net->scratch, its references taken (defer:
 * snapshot.c links the latches of atoms other than time atoms itself, with link_latch). */
qbt_status register_parsed(qbt_net *net, uint32_t owner_slot, uint32_t maximum, atom_ids *ids, size_t ntime,
                           bool defer, uint32_t *block_out);
void link_latch(qbt_net *net, uint32_t off, uint32_t hash, uint32_t nametype, const atom_ids *ids,
                const tmp_atom *time_atom);

/* pool.c */
qbt_status block_reserve(qbt_net *net, size_t words);
uint32_t block_take(qbt_net *net, size_t words);
void block_give(qbt_net *net, uint32_t block, size_t words);
uint32_t handle_block(const qbt_net *net, uint64_t handle);
qbt_status handle_reserve(qbt_net *net);
void handle_set(qbt_net *net, uint64_t handle, uint32_t block);
void handle_clear(qbt_net *net, uint64_t handle);

/* alpha.c */
qbt_status ctx_take(qbt_net *net, uint32_t jobid, uint32_t *out);
void ctx_release(qbt_net *net, uint32_t jobid, uint32_t c);
qbt_status labelref_take(qbt_net *net, uint32_t pgrp, uint32_t label, uint32_t *out);
void labelref_decref(qbt_net *net, uint32_t ref);
qbt_status alpha_reserve(qbt_net *net, size_t extra);
uint32_t alpha_insert(qbt_net *net, uint32_t nametype, uint32_t ctx, uint32_t extra);
void alpha_release(qbt_net *net, uint32_t idx);

/* latch.c */
void remove_callback(qbt_net *net, uint32_t block);
/* Fires the callbacks in net->fired, in handle order, into the output buffer as (key, handle), or
 * into the catch-up queue. */
qbt_status fire(qbt_net *net, uint64_t key, bool catchup);

/* network.c */
void heap_push(qbt_net *net, uint64_t due, uint32_t slot);

#endif /* QBT_NET_H */
