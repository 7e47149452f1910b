/*
 * snapshot.c: qbt_snapshot and qbt_restore, a network saved to bytes and brought back.
 *
 * The format (docs/embedding.md has the byte-level description) is logical, not a memory image:
 * jobs, callbacks with their atoms as written (name, type, context, extra) and their tree, which
 * latches are set, counts, the clock, item states and the catch-up queue, with strings in one
 * table. The pure twin (python/qbtrigger/_snapshot.py) writes and reads the same bytes, so a
 * snapshot of one restores in the other; what is derived (alpha index, clock heap, counters of
 * the nodes) is rebuilt on restore. Integers are unsigned LEB128; a CRC-32 covers everything after
 * the checksum field.
 *
 * Writing: a latch knows its alpha entry only through the head of the entry's list, so the first
 * pass points every latch's `prev` at its entry (ALPHA_TAG | slot), the second writes the
 * callbacks in handle order reading it, and the last one puts the list links back, whatever
 * happened in between. The callbacks' nodes are renumbered in the order the atoms first reach
 * them, root first, which both twins can do.
 *
 * Reading builds a new network aside and swaps it in only once all of the snapshot has been read:
 * a bad snapshot, or running out of memory, leaves the network as it was. Registration goes
 * through register.c (register_parsed) with the scratch filled from the snapshot instead of the
 * parser, so the structures are those a registration makes. Only the linking of each latch into
 * its alpha entry is done a few latches later (defer_link), in the same order, so that the slot
 * it probes, anywhere in a table far bigger than the caches, has been prefetched by then. The
 * snapshot is read once, front to back; lookups repeated from one callback to the next (owner,
 * label references) are remembered. Cost: about 2,200 instructions per farm callback (callgrind).
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

#define SNAP_MAGIC "qbtsnap\0"
#define HEADER_BYTES 32
#define FLAG_STATE_AWARE 1u
#define NUMBER_MAX 999999999u /* the largest extra written as a number (see extra_number_id) */

enum { KIND_SELF, KIND_PARENT, KIND_ID, KIND_LABEL, KIND_GLOBAL };

/* ------------------------------------------------------------------ CRC-32 (IEEE, as zlib's) */

/* Slicing by eight: eight table lookups per 8 bytes. The tables are made per call (8 KiB, a few
 * microseconds), which keeps the core free of static state shared between threads. */
typedef struct {
    uint32_t t[8][256];
} crc_tables;

static void crc_init(crc_tables *c) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t x = i;
        for (int k = 0; k < 8; k++)
            x = (x >> 1) ^ (0xEDB88320u & (0u - (x & 1u)));
        c->t[0][i] = x;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int k = 1; k < 8; k++)
            c->t[k][i] = (c->t[k - 1][i] >> 8) ^ c->t[0][c->t[k - 1][i] & 0xFF];
}

static uint32_t crc32_of(const crc_tables *c, const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (; n >= 8; n -= 8, p += 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;
        crc = c->t[7][lo & 0xFF] ^ c->t[6][(lo >> 8) & 0xFF] ^ c->t[5][(lo >> 16) & 0xFF] ^ c->t[4][lo >> 24] ^
              c->t[3][hi & 0xFF] ^ c->t[2][(hi >> 8) & 0xFF] ^ c->t[1][(hi >> 16) & 0xFF] ^ c->t[0][hi >> 24];
    }
    while (n--)
        crc = (crc >> 8) ^ c->t[0][(crc ^ *p++) & 0xFF];
    return crc ^ 0xFFFFFFFFu;
}

static void put_le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* ------------------------------------------------------------------ writing */

typedef struct {
    uint8_t *data;
    size_t len, cap;
    uint32_t *sidx; /* intern id -> string index, NIL32: not in the table yet */
    uint32_t *strings; /* intern ids in string-index order */
    size_t nstrings, strings_cap;
    uint32_t *fmt_of, *node_of; /* a callback's nodes: C index -> format index and back */
    uint32_t *stack; /* number_nodes' chain of ancestors */
} writer;

/* Room for `more` bytes. */
static qbt_status w_room(writer *w, size_t more) {
    if (w->len + more <= w->cap)
        return QBT_OK;
    void *arr = w->data;
    qbt_status st = qbt_grow(&arr, &w->cap, w->len + more, 1);
    w->data = arr;
    return st;
}

/* Writes a varint; room reserved (10 bytes at most). */
static inline void w_var(writer *w, uint64_t v) {
    uint8_t *p = w->data + w->len;
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    w->len = (size_t)(p - w->data);
}

/* The string index of an intern id, added to the table at its first use. */
static qbt_status w_string(writer *w, uint32_t id, uint32_t *out) {
    if (w->sidx[id] == NIL32) {
        if (w->nstrings == w->strings_cap) {
            void *arr = w->strings;
            qbt_status st = qbt_grow(&arr, &w->strings_cap, w->nstrings + 1, sizeof(uint32_t));
            w->strings = arr;
            if (st != QBT_OK)
                return st;
        }
        w->sidx[id] = (uint32_t)w->nstrings;
        w->strings[w->nstrings++] = id;
    }
    *out = w->sidx[id];
    return QBT_OK;
}

/* An extra: 0 none, 2n+1 the number n, 2(i+1) string i. */
static qbt_status w_extra(writer *w, uint32_t extra) {
    if (extra == STR_NONE) {
        w_var(w, 0);
        return QBT_OK;
    }
    if (IS_NUMBER_ID(extra)) {
        w_var(w, (uint64_t)(extra & ~NUMBER_ID_BIT) << 1 | 1);
        return QBT_OK;
    }
    uint32_t s;
    qbt_status st = w_string(w, extra, &s);
    if (st == QBT_OK)
        w_var(w, ((uint64_t)s + 1) << 1);
    return st;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Points every latch's prev at its alpha slot (on = true), or puts the list links back. */
static void relink(qbt_net *net, bool on) {
    for (size_t i = 0; i < net->alpha_cap; i++) {
        if (i + 8 < net->alpha_cap && net->alpha[i + 8].head)
            __builtin_prefetch(word_at(net, net->alpha[i + 8].head));
        const alpha_slot *e = &net->alpha[i];
        if (e->nametype == NT_EMPTY || e->nametype == NT_TOMB || !e->head)
            continue;
        uint32_t prev = e->head;
        for (uint32_t off = latch_at(net, prev)->next & NEXT_MASK; off; off = latch_at(net, off)->next & NEXT_MASK) {
            latch_at(net, off)->prev = on ? (ALPHA_TAG | (uint32_t)i) : prev;
            prev = off;
        }
    }
}

/* Numbers a callback's nodes as the atoms first reach them (root 0, then each atom's ancestors
 * top-down): w->fmt_of maps C node index to format index, w->node_of back; *count gets the total. */
static void number_nodes(const qbt_net *net, uint32_t block, const cb_t *cb, writer *w, uint32_t *count) {
    const node_t *nodes = nodes_of(net, block, cb);
    *count = 1; /* the root is 0 */
    for (uint32_t j = 0; j < cb->nnode; j++)
        w->fmt_of[j] = NIL32;
    for (uint32_t i = 0; i < cb->nlatch; i++) {
        uint32_t depth = 0;
        for (uint16_t p = latch_at(net, latch_off(block, i))->parent; p != PARENT_ROOT && w->fmt_of[p] == NIL32;
             p = nodes[p].parent)
            w->stack[depth++] = p;
        while (depth) {
            uint32_t c = w->stack[--depth];
            w->node_of[*count] = c;
            w->fmt_of[c] = (*count)++;
        }
    }
}

static qbt_status write_callback(qbt_net *net, writer *w, uint32_t block, uint64_t prev_handle) {
    const cb_t *cb = cb_at(net, block);
    const job_t *owner = &net->jobs[cb->owner];
    uint32_t nnode;
    number_nodes(net, block, cb, w, &nnode);
    qbt_status st = w_room(w, 60 + (size_t)nnode * 10 + (size_t)cb->nlatch * 40);
    if (st != QBT_OK)
        return st;
    w_var(w, cb_handle(cb) - prev_handle);
    w_var(w, owner->id);
    w_var(w, cb->maximum);
    w_var(w, cb->count);
    w_var(w, cb->nlatch);
    w_var(w, nnode);
    const node_t *nodes = nodes_of(net, block, cb);
    uint16_t root = cb->root_nchild;
    w_var(w, (root & AND_BIT) && (root & ~AND_BIT) > 1);
    for (uint32_t k = 1; k < nnode; k++) {
        const node_t *nd = &nodes[w->node_of[k]];
        uint32_t parent = nd->parent == PARENT_ROOT ? 0 : w->fmt_of[nd->parent];
        w_var(w, (uint64_t)parent << 1 | ((nd->nchild & AND_BIT) && (nd->nchild & ~AND_BIT) > 1));
    }
    for (uint32_t i = 0; i < cb->nlatch; i++) {
        const latch_t *l = latch_at(net, latch_off(block, i));
        const alpha_slot *e = &net->alpha[l->prev & ~ALPHA_TAG];
        uint32_t kind = l->next >> KIND_SHIFT;
        if (e->ctx == GLOBAL_CTX)
            kind = KIND_GLOBAL;
        else if (IS_LABEL_CTX(e->ctx))
            kind = KIND_LABEL;
        w_var(w, l->parent == PARENT_ROOT ? 0 : w->fmt_of[l->parent]);
        w->data[w->len++] = (uint8_t)((l->index_set & 1) << 7 | kind << 4 | NT_TYPE(e->nametype));
        uint32_t s;
        if ((st = w_string(w, NT_NAME(e->nametype), &s)) != QBT_OK)
            return st;
        w_var(w, s);
        if (kind == KIND_ID) {
            w_var(w, e->ctx);
        } else if (kind == KIND_LABEL) {
            if ((st = w_string(w, (uint32_t)net->refs[e->ctx & ~LABEL_BIT].key, &s)) != QBT_OK)
                return st;
            w_var(w, s);
        }
        if ((st = w_extra(w, e->extra)) != QBT_OK)
            return st;
    }
    return QBT_OK;
}

static qbt_status write_jobs(qbt_net *net, writer *w, uint64_t *keys) {
    size_t n = 0;
    for (size_t i = 0; i < net->ctx_index.cap; i++) {
        const u64map_slot *s = &net->ctx_index.slots[i];
        if (s->val != NIL32 && net->ctxs[s->val].job != NIL32)
            keys[n++] = s->key;
    }
    qsort(keys, n, sizeof *keys, cmp_u64);
    qbt_status st = w_room(w, 10);
    if (st != QBT_OK)
        return st;
    w_var(w, n);
    for (size_t i = 0; i < n; i++) {
        const job_t *job = find_job(net, (uint32_t)keys[i], NULL);
        uint32_t label = 0;
        if (job->label != STR_NONE && (st = w_string(w, job->label, &label)) == QBT_OK)
            label++;
        if (st != QBT_OK || (st = w_room(w, 40)) != QBT_OK)
            return st;
        w_var(w, job->id);
        w_var(w, job->pgrp);
        w_var(w, job->pid == QBT_NO_PID ? 0 : (uint64_t)job->pid + 1);
        w_var(w, label);
    }
    return QBT_OK;
}

/* Callbacks in handle order. Their blocks are mostly in order in the pool, but their alpha slots
 * are anywhere: those of the callback AHEAD places on are prefetched. */
#define AHEAD 8
static qbt_status write_callbacks(qbt_net *net, writer *w, uint64_t *keys) {
    size_t npages = 0;
    for (size_t i = 0; i < net->hpage_index.cap; i++)
        if (net->hpage_index.slots[i].val != NIL32)
            keys[npages++] = net->hpage_index.slots[i].key;
    qsort(keys, npages, sizeof *keys, cmp_u64);
    uint32_t *blocks = qbt_malloc((net->ncallbacks + 1) * sizeof *blocks);
    qbt_status st = blocks ? w_room(w, 10) : QBT_ENOMEM;
    size_t n = 0;
    for (size_t p = 0; p < npages && st == QBT_OK; p++) {
        const hpage *page = net->hpages[u64map_get(&net->hpage_index, keys[p])];
        for (size_t k = 0; k < HPAGE_SLOTS; k++)
            if (page->block[k])
                blocks[n++] = page->block[k];
    }
    if (st == QBT_OK)
        w_var(w, n);
    uint64_t prev = 0;
    for (size_t i = 0; i < n && st == QBT_OK; i++) {
        if (i + AHEAD < n) {
            uint32_t ahead = blocks[i + AHEAD];
            const cb_t *cb = cb_at(net, ahead);
            for (uint32_t j = 0; j < cb->nlatch && j < 4; j++)
                __builtin_prefetch(&net->alpha[latch_at(net, latch_off(ahead, j))->prev & ~ALPHA_TAG]);
        }
        st = write_callback(net, w, blocks[i], prev);
        prev = cb_handle(cb_at(net, blocks[i]));
    }
    qbt_mfree(blocks);
    return st;
}

static qbt_status write_catch_up(qbt_net *net, writer *w) {
    qbt_status st = w_room(w, 10);
    if (st != QBT_OK)
        return st;
    w_var(w, net->ncatchup);
    for (size_t i = 0; i < net->ncatchup && st == QBT_OK; i++) {
        const catchup_entry *e = &net->catchup[i];
        if ((st = w_room(w, 50)) != QBT_OK)
            return st;
        w_var(w, e->handle);
        w->data[w->len++] = e->type;
        if (e->type == T_GLOBALTIME) {
            w_var(w, e->time);
            continue;
        }
        uint32_t s;
        if ((st = w_string(w, e->state, &s)) != QBT_OK)
            return st;
        w_var(w, s);
        w_var(w, e->job);
        st = w_extra(w, e->extra);
    }
    return st;
}

/* Item states, by job id, each job's in the order they were first set (the chains prepend). */
static qbt_status write_states(qbt_net *net, writer *w, uint64_t *keys, uint32_t *chain) {
    size_t n = 0, total = 0;
    for (size_t i = 0; i < net->state_heads.cap; i++)
        if (net->state_heads.slots[i].val != NIL32)
            keys[n++] = net->state_heads.slots[i].key;
    qsort(keys, n, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < net->state_index.cap; i++)
        total += net->state_index.slots[i].val != NIL32;
    qbt_status st = w_room(w, 10);
    if (st != QBT_OK)
        return st;
    w_var(w, total);
    for (size_t j = 0; j < n; j++) {
        size_t len = 0;
        for (uint32_t e = u64map_get(&net->state_heads, keys[j]); e != NIL32; e = net->states[e].next)
            chain[len++] = e;
        while (len--) {
            const state_t *e = &net->states[chain[len]];
            uint32_t s;
            if ((st = w_room(w, 40)) != QBT_OK || (st = w_string(w, e->state, &s)) != QBT_OK)
                return st;
            w_var(w, e->job);
            w->data[w->len++] = e->type;
            if ((st = w_extra(w, e->extra)) != QBT_OK)
                return st;
            w_var(w, s);
        }
    }
    return QBT_OK;
}

static qbt_status write_strings(const qbt_net *net, writer *w) {
    qbt_status st = w_room(w, 10);
    if (st != QBT_OK)
        return st;
    w_var(w, w->nstrings);
    for (size_t i = 0; i < w->nstrings; i++) {
        const intern_entry *e = &net->strings.entries[w->strings[i]];
        if ((st = w_room(w, 10 + (size_t)e->len)) != QBT_OK)
            return st;
        w_var(w, e->len);
        memcpy(w->data + w->len, e->text, e->len);
        w->len += e->len;
    }
    return QBT_OK;
}

qbt_status qbt_snapshot(qbt_net *net, uint8_t **data, size_t *size) {
    writer w = {0};
    size_t nkeys = net->ctx_index.cap;
    if (net->hpage_index.cap > nkeys)
        nkeys = net->hpage_index.cap;
    if (net->state_heads.cap > nkeys)
        nkeys = net->state_heads.cap;
    size_t nstates = net->states_len;
    uint64_t *keys = qbt_malloc((nkeys + 1) * sizeof *keys);
    uint32_t *chain = qbt_malloc((nstates + 1) * sizeof *chain);
    w.sidx = qbt_malloc((net->strings.len + 1) * sizeof *w.sidx);
    w.fmt_of = qbt_malloc(((size_t)QBT_MAX_ATOMS + 1) * sizeof *w.fmt_of);
    w.node_of = qbt_malloc(((size_t)QBT_MAX_ATOMS + 1) * sizeof *w.node_of);
    w.stack = qbt_malloc(((size_t)QBT_MAX_ATOMS + 1) * sizeof *w.stack);
    crc_tables *crc = qbt_malloc(sizeof *crc);
    qbt_status st = keys && chain && w.sidx && w.fmt_of && w.node_of && w.stack && crc ? QBT_OK : QBT_ENOMEM;
    if (st == QBT_OK) {
        memset(w.sidx, 0xff, (net->strings.len + 1) * sizeof *w.sidx);
        /* A guess at the size, so that a big network is not copied over and over as it grows. */
        st = w_room(&w, HEADER_BYTES + 64 + net->ncallbacks * 10 + net->nlatches * 8);
    }
    if (st == QBT_OK) {
        w.len = HEADER_BYTES;
        w_var(&w, net->state_aware ? FLAG_STATE_AWARE : 0);
        w_var(&w, net->clock);
        w_var(&w, net->next_handle);
        st = write_jobs(net, &w, keys);
    }
    if (st == QBT_OK) {
        relink(net, true);
        st = write_callbacks(net, &w, keys);
        relink(net, false);
    }
    if (st == QBT_OK)
        st = write_catch_up(net, &w);
    if (st == QBT_OK)
        st = write_states(net, &w, keys, chain);
    size_t strings_at = w.len;
    if (st == QBT_OK)
        st = write_strings(net, &w);
    if (st == QBT_OK) {
        memcpy(w.data, SNAP_MAGIC, 8);
        put_le(w.data + 8, QBT_SNAPSHOT_VERSION, 4);
        put_le(w.data + 16, w.len, 8);
        put_le(w.data + 24, strings_at, 8);
        crc_init(crc);
        put_le(w.data + 12, crc32_of(crc, w.data + 16, w.len - 16), 4);
        *data = w.data;
        *size = w.len;
        w.data = NULL;
    }
    qbt_mfree(w.data);
    qbt_mfree(keys);
    qbt_mfree(chain);
    qbt_mfree(w.sidx);
    qbt_mfree(w.strings);
    qbt_mfree(w.fmt_of);
    qbt_mfree(w.node_of);
    qbt_mfree(w.stack);
    qbt_mfree(crc);
    return st;
}

void qbt_snapshot_free(uint8_t *data) { qbt_mfree(data); }

/* ------------------------------------------------------------------ reading */

/* A latch of a restored callback waiting to be linked into its alpha entry (see read_body). */
typedef struct {
    uint32_t hash, nametype, off;
    atom_ids ids; /* the references the entry keeps, or that are dropped if it exists */
} pending_link;

#define LINK_AHEAD 16 /* latches between prefetching an alpha slot and linking into it */
#define LABEL_MEMO 8 /* label references remembered by the label's string index */

typedef struct {
    uint32_t pgrp, label, ref; /* label: string index + 1, 0 for an empty memo slot */
} label_memo;

typedef struct {
    const uint8_t *p, *end;
    const char *bad; /* what was wrong, NULL while all is well */
    qbt_net *net; /* the network being built */
    const uint8_t **text; /* string i: text[i], text_len[i] bytes */
    uint32_t *text_len;
    uint32_t *ids; /* string i's intern id (one reference held while reading) */
    size_t nstrings;
    pending_link ring[LINK_AHEAD]; /* latches deferred, oldest at linked % LINK_AHEAD */
    size_t pushed, linked;
    /* Lookups repeated from one callback to the next (nothing they find is freed while reading:
     * every job-id context and label reference restored is held by an alpha entry from its first
     * atom on). owner_id NIL32: none yet. */
    uint32_t owner_id, owner_slot, owner_ctx;
    label_memo labels[LABEL_MEMO];
} reader;

static uint64_t r_var_slow(reader *r) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p == r->end) {
            r->bad = r->bad ? r->bad : "a section ends early";
            return 0;
        }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = r->bad ? r->bad : "an integer is too long";
    return 0;
}

/* Most integers of a snapshot take one or two bytes. */
static inline uint64_t r_var(reader *r) {
    if (r->end - r->p >= 2) {
        uint8_t b0 = r->p[0], b1 = r->p[1];
        if (b0 < 0x80) {
            r->p++;
            return b0;
        }
        if (b1 < 0x80) {
            r->p += 2;
            return (uint64_t)(b0 & 0x7F) | (uint64_t)b1 << 7;
        }
    }
    return r_var_slow(r);
}

static uint8_t r_byte(reader *r) {
    if (r->p == r->end) {
        r->bad = r->bad ? r->bad : "a section ends early";
        return 0;
    }
    return *r->p++;
}

/* An integer read where at most `limit` fits; `what` names it in the error. */
static uint64_t r_max(reader *r, uint64_t limit, const char *what) {
    uint64_t v = r_var(r);
    if (!r->bad && v > limit) {
        r->bad = what;
        return 0;
    }
    return v;
}

static uint32_t r_string(reader *r) {
    uint64_t i = r_var(r);
    if (!r->bad && i >= r->nstrings) {
        r->bad = "a string index is out of range";
        return 0;
    }
    return (uint32_t)i;
}

/* An extra as an id holding a reference of its own (STR_NONE: none). */
static qbt_status r_extra(reader *r, uint32_t *id) {
    uint64_t code = r_var(r);
    *id = STR_NONE;
    if (r->bad || code == 0)
        return QBT_OK;
    if (code & 1) {
        if ((code >> 1) > NUMBER_MAX) {
            r->bad = "a number extra is too large";
            return QBT_OK;
        }
        *id = NUMBER_ID_BIT | (uint32_t)(code >> 1);
        return QBT_OK;
    }
    uint64_t s = (code >> 1) - 1;
    if (s >= r->nstrings) {
        r->bad = "a string index is out of range";
        return QBT_OK;
    }
    /* A string spelling a number takes the number's id, as an event's would. */
    return extra_ref(&r->net->strings, (const char *)r->text[s], r->text_len[s], id);
}

static qbt_status read_strings(reader *r, const uint8_t *at) {
    reader s = *r;
    s.p = at;
    uint64_t n = r_var(&s);
    if (!s.bad && n > (uint64_t)(s.end - s.p)) /* each string takes a byte at least */
        s.bad = "the string table is too short";
    if (s.bad) {
        r->bad = s.bad;
        return QBT_OK;
    }
    r->text = qbt_malloc((n + 1) * sizeof *r->text);
    r->text_len = qbt_malloc((n + 1) * sizeof *r->text_len);
    r->ids = qbt_malloc((n + 1) * sizeof *r->ids);
    if (!r->text || !r->text_len || !r->ids)
        return QBT_ENOMEM;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = r_var(&s);
        if (!s.bad && len > (uint64_t)(s.end - s.p))
            s.bad = "a string runs past the end";
        if (s.bad) {
            r->bad = s.bad;
            return QBT_OK;
        }
        r->text[i] = s.p;
        r->text_len[i] = (uint32_t)len;
        s.p += len;
        qbt_status st = intern_ref(&r->net->strings, (const char *)r->text[i], (size_t)len, &r->ids[i]);
        if (st != QBT_OK)
            return st;
        r->nstrings = i + 1;
    }
    if (s.p != s.end)
        r->bad = "bytes after the string table";
    return QBT_OK;
}

static qbt_status read_jobs(reader *r) {
    uint64_t n = r_var(r);
    for (uint64_t i = 0; i < n && !r->bad; i++) {
        uint32_t jobid = (uint32_t)r_max(r, QBT_MAX_JOB_ID, "a job id is out of range");
        uint32_t pgrp = (uint32_t)r_max(r, QBT_MAX_JOB_ID, "a pgrp is out of range");
        uint64_t pid = r_max(r, (uint64_t)QBT_MAX_JOB_ID + 1, "a pid is out of range");
        uint64_t label = r_max(r, r->nstrings, "a string index is out of range");
        if (r->bad)
            break;
        const char *text = label ? (const char *)r->text[label - 1] : NULL;
        size_t len = label ? r->text_len[label - 1] : 0;
        qbt_status st = qbt_add_job(r->net, jobid, pgrp, text, len, pid ? (uint32_t)(pid - 1) : QBT_NO_PID);
        if (st == QBT_EDUPLICATE_JOB || st == QBT_EDUPLICATE_LABEL)
            r->bad = "a job or a label appears twice";
        else if (st != QBT_OK)
            return st;
    }
    return QBT_OK;
}

/* One atom into the scratch (parent and type set) and ids (references taken). */
static qbt_status read_atom(reader *r, const job_t *owner, uint32_t nnode, tmp_atom *a, atom_ids *ids,
                            bool *set) {
    uint32_t parent = (uint32_t)r_max(r, nnode - 1, "an atom's parent is out of range");
    uint8_t byte = r_byte(r);
    uint32_t name = r_string(r);
    if (r->bad)
        return QBT_OK;
    uint32_t type = byte & 0xF, kind = (byte >> 4) & 7;
    bool global = type == T_GLOBAL || type == T_GLOBALTIME || type == T_GLOBALREPEAT;
    if (type >= T_COUNT || kind > KIND_GLOBAL || global != (kind == KIND_GLOBAL)) {
        r->bad = "an atom has a bad type or context";
        return QBT_OK;
    }
    *set = byte >> 7;
    /* What register_parsed reads (field by field: a memset of the whole was a tenth of a restore). */
    a->name = a->label = a->extra = NULL;
    a->name_len = a->label_len = a->extra_len = 0;
    a->job = 0;
    a->time = a->interval = 0;
    a->type = (uint8_t)type;
    a->ctx = (uint8_t)(kind == KIND_SELF ? CTX_SELF : kind == KIND_PARENT ? CTX_PARENT : kind == KIND_ID ? CTX_ID
                       : kind == KIND_LABEL                              ? CTX_LABEL
                                                                         : CTX_GLOBAL);
    a->parent = parent; /* a format index for now: read_callback maps it */
    uint32_t job = 0, label = 0;
    if (kind == KIND_ID)
        job = (uint32_t)r_max(r, QBT_MAX_JOB_ID, "a job id is out of range");
    else if (kind == KIND_LABEL)
        label = r_string(r);
    if (kind == KIND_PARENT && owner->pid == QBT_NO_PID && !r->bad)
        r->bad = "a parent atom's owner has no pid";
    if (r->bad)
        return QBT_OK;
    ids->ref = NIL32;
    ids->name = r->ids[name];
    intern_incref(&r->net->strings, ids->name);
    qbt_status st = r_extra(r, &ids->extra);
    if (st != QBT_OK || r->bad) {
        intern_decref(&r->net->strings, ids->name);
        return st;
    }
    /* The extra each type has: none, or one the parser would have taken (a time's text is read). */
    bool ok;
    if (type == T_JOB || type == T_GLOBAL) {
        ok = ids->extra == STR_NONE;
    } else if (type == T_TIME || type == T_GLOBALTIME || type == T_REPEAT || type == T_GLOBALREPEAT) {
        char digits[NUMBER_TEXT_MAX];
        size_t len = 0;
        const char *text = ids->extra == STR_NONE ? NULL : extra_text(&r->net->strings, ids->extra, digits, &len);
        ok = text && (type == T_TIME || type == T_GLOBALTIME ? qbt_parse_time(text, len, &a->time)
                                                             : qbt_parse_repeat(text, len, &a->time, &a->interval));
    } else {
        ok = ids->extra != STR_NONE;
    }
    if (!ok)
        r->bad = "an atom's extra does not fit its type";
    st = QBT_OK;
    if (!r->bad) {
        if (kind == KIND_GLOBAL) {
            ids->ctx = GLOBAL_CTX;
        } else if (kind == KIND_LABEL) {
            label_memo *memo = &r->labels[label % LABEL_MEMO];
            if (memo->label == label + 1 && memo->pgrp == owner->pgrp) {
                ids->ref = memo->ref;
                r->net->refs[ids->ref].refs++;
            } else if ((st = labelref_take(r->net, owner->pgrp, r->ids[label], &ids->ref)) == QBT_OK) {
                memo->label = label + 1;
                memo->pgrp = owner->pgrp;
                memo->ref = ids->ref;
            }
            ids->ctx = LABEL_BIT | ids->ref;
        } else {
            ids->ctx = kind == KIND_SELF ? owner->id : kind == KIND_PARENT ? owner->pid : job;
            if (kind == KIND_SELF && r->owner_ctx != NIL32)
                ids->ref = r->owner_ctx;
            else
                st = ctx_take(r->net, ids->ctx, &ids->ref);
            if (st == QBT_OK)
                r->net->ctxs[ids->ref].counts.n_alpha++;
        }
    }
    if (r->bad || st != QBT_OK) {
        intern_decref(&r->net->strings, ids->name);
        extra_decref(&r->net->strings, ids->extra);
        ids->ref = NIL32;
    }
    return st;
}

/* Grows the scratch for a callback of natoms atoms and nnode nodes. */
static qbt_status scratch_room(qbt_net *net, size_t natoms, size_t nnode) {
    parse_scratch *s = &net->scratch;
    void *arr = s->atoms;
    qbt_status st = qbt_grow(&arr, &s->atoms_cap, natoms, sizeof(tmp_atom));
    s->atoms = arr;
    if (st == QBT_OK) {
        arr = s->nodes;
        st = qbt_grow(&arr, &s->nodes_cap, nnode, sizeof(tmp_node));
        s->nodes = arr;
    }
    if (st == QBT_OK) {
        arr = s->operands;
        st = qbt_grow(&arr, &s->operands_cap, 1, sizeof(uint32_t));
        s->operands = arr;
    }
    if (st == QBT_OK) {
        arr = net->taken;
        st = qbt_grow(&arr, &net->taken_cap, natoms * (sizeof(atom_ids) / sizeof(uint32_t)), sizeof(uint32_t));
        net->taken = arr;
    }
    return st;
}

/* Links the oldest deferred latch (register.c's link_latch). */
static void link_oldest(reader *r) {
    const pending_link *p = &r->ring[r->linked++ % LINK_AHEAD];
    link_latch(r->net, p->off, p->hash, p->nametype, &p->ids, NULL);
}

/* Defers linking a restored latch into the alpha index until LINK_AHEAD more are read, its slot
 * (and the key filter's byte, which a new key sets) prefetched meanwhile: on a big network the
 * table is far bigger than the caches, and those probes would be most of a restore's time. The
 * latches are linked in the order they are read, so every entry's list comes out as registration
 * makes it. Room in the table is reserved for every latch deferred (read_callback). */
static void defer_link(reader *r, uint32_t off, uint32_t nametype, const atom_ids *ids) {
    qbt_net *net = r->net;
    if (r->pushed - r->linked == LINK_AHEAD)
        link_oldest(r);
    pending_link *p = &r->ring[r->pushed++ % LINK_AHEAD];
    p->hash = alpha_hash(nametype, ids->ctx, ids->extra);
    p->nametype = nametype;
    p->off = off;
    p->ids = *ids;
    __builtin_prefetch(&net->alpha[alpha_home(p->hash, net->alpha_cap)]);
    __builtin_prefetch(&net->alpha_filter[(p->hash & net->filter_mask) >> 3]);
}

static qbt_status read_callback(reader *r, uint64_t *handle, uint64_t next_handle) {
    qbt_net *net = r->net;
    uint64_t delta = r_var(r);
    uint32_t owner_id = (uint32_t)r_max(r, QBT_MAX_JOB_ID, "a job id is out of range");
    uint32_t maximum = (uint32_t)r_max(r, UINT32_MAX, "a maximum is out of range");
    uint32_t count = (uint32_t)r_max(r, UINT32_MAX, "a count is out of range");
    uint32_t natoms = (uint32_t)r_max(r, QBT_MAX_ATOMS, "a callback has too many atoms");
    uint32_t nnode = (uint32_t)r_max(r, QBT_MAX_ATOMS, "a callback has too many nodes");
    if (r->bad)
        return QBT_OK;
    if (owner_id != r->owner_id && !r->bad) {
        r->owner_ctx = u64map_get(&net->ctx_index, owner_id);
        r->owner_slot = r->owner_ctx == NIL32 ? NIL32 : net->ctxs[r->owner_ctx].job;
        r->owner_id = r->owner_slot == NIL32 ? NIL32 : owner_id; /* find_job's reading, remembered */
    }
    uint32_t owner_slot = r->owner_slot;
    if (delta == 0 || delta >= next_handle - *handle)
        r->bad = "callback handles are out of order";
    else if (owner_id != r->owner_id)
        r->bad = "a callback's owner is not a job";
    else if (natoms == 0 || nnode == 0 || nnode > natoms)
        r->bad = "a callback has no atoms or too many nodes";
    else if (maximum && count >= maximum)
        r->bad = "a callback has reached its maximum";
    if (r->bad)
        return QBT_OK;
    *handle += delta;
    /* Room in the alpha index for this callback's keys and those still deferred. */
    qbt_status st = scratch_room(net, natoms, nnode);
    if (st == QBT_OK)
        st = alpha_reserve(net, natoms + (r->pushed - r->linked));
    if (st != QBT_OK)
        return st;
    /* Format node k is scratch node nnode-1-k, so that the root comes last, as the parser's. */
    parse_scratch *s = &net->scratch;
    s->natoms = natoms;
    s->nnodes = nnode;
    s->noperands = 1;
    s->operands[0] = 2 * (nnode - 1) + 1;
    for (uint32_t k = 0; k < nnode && !r->bad; k++) {
        uint64_t v = k ? r_var(r) : r_max(r, 1, "a node's kind is out of range");
        tmp_node *t = &s->nodes[nnode - 1 - k];
        t->is_and = v & 1;
        t->nchild = 0;
        t->parent = NIL32;
        if (k && (v >> 1) >= k)
            r->bad = "a node's parent does not come before it";
        else if (k)
            t->parent = nnode - 1 - (uint32_t)(v >> 1);
    }
    atom_ids *ids = (atom_ids *)net->taken;
    const job_t *owner = &net->jobs[owner_slot];
    uint32_t taken = 0;
    size_t ntime = 0;
    for (; taken < natoms && !r->bad; taken++) {
        bool set = false;
        tmp_atom *a = &s->atoms[taken];
        if ((st = read_atom(r, owner, nnode, a, &ids[taken], &set)) != QBT_OK || r->bad)
            break;
        a->parent = nnode - 1 - a->parent;
        s->nodes[a->parent].nchild++;
        a->name_len = set; /* kept here until the block exists (the commit does not read it) */
        ntime += a->type == T_TIME || a->type == T_REPEAT || a->type == T_GLOBALTIME || a->type == T_GLOBALREPEAT;
    }
    for (uint32_t j = 0; j + 1 < nnode && !r->bad && st == QBT_OK; j++)
        s->nodes[s->nodes[j].parent].nchild++;
    for (uint32_t j = 0; j < nnode && !r->bad && st == QBT_OK; j++)
        if (s->nodes[j].nchild == 0 || s->nodes[j].nchild >= AND_BIT)
            r->bad = "a node has no children";
    if (r->bad || st != QBT_OK)
        return st; /* the references taken go with the network being built */
    uint64_t saved = net->next_handle;
    net->next_handle = *handle;
    uint32_t block;
    st = register_parsed(net, owner_slot, maximum, ids, ntime, true, &block);
    net->next_handle = saved;
    if (st != QBT_OK)
        return st;
    for (uint32_t i = 0; i < natoms; i++) {
        const tmp_atom *a = &s->atoms[i];
        if (a->name_len)
            set_latch(net, latch_off(block, i));
        if (!(a->type == T_TIME || a->type == T_REPEAT || a->type == T_GLOBALTIME || a->type == T_GLOBALREPEAT))
            defer_link(r, latch_off(block, i), NAMETYPE(ids[i].name, a->type), &ids[i]);
    }
    if (net->nfired) {
        net->nfired = 0;
        r->bad = "a callback's latches make it true";
    }
    cb_at(net, block)->count = count;
    return QBT_OK;
}

static qbt_status read_catch_up(reader *r) {
    qbt_net *net = r->net;
    uint64_t n = r_max(r, (uint64_t)(r->end - r->p), "the catch-up queue is too long");
    if (r->bad)
        return QBT_OK;
    void *arr = net->catchup;
    qbt_status st = qbt_grow(&arr, &net->catchup_cap, n, sizeof(catchup_entry));
    net->catchup = arr;
    for (uint64_t i = 0; i < n && st == QBT_OK && !r->bad; i++) {
        catchup_entry e = {0};
        e.handle = r_var(r);
        e.type = r_byte(r);
        if (e.type == T_GLOBALTIME) {
            e.time = r_var(r);
            e.job = NIL32;
            e.extra = STR_NONE;
        } else {
            uint32_t state = r_string(r);
            e.job = (uint32_t)r_max(r, QBT_MAX_JOB_ID, "a job id is out of range");
            if (r->bad)
                break;
            e.state = (uint8_t)r->ids[state];
            if (e.type > T_WORK || !IS_STATE_NAME(r->ids[state])) {
                r->bad = "a catch-up entry has a bad type or state";
                break;
            }
            if ((st = r_extra(r, &e.extra)) != QBT_OK || r->bad)
                break;
        }
        if (!r->bad)
            net->catchup[net->ncatchup++] = e;
    }
    return st;
}

static qbt_status read_states(reader *r) {
    qbt_net *net = r->net;
    uint64_t n = r_max(r, (uint64_t)(r->end - r->p), "too many item states");
    if (r->bad)
        return QBT_OK;
    void *arr = net->states;
    qbt_status st = qbt_grow(&arr, &net->states_cap, n, sizeof(state_t));
    net->states = arr;
    if (st == QBT_OK)
        st = u64map_reserve(&net->state_index, n);
    if (st == QBT_OK)
        st = u64map_reserve(&net->state_heads, n);
    for (uint64_t i = 0; i < n && st == QBT_OK && !r->bad; i++) {
        uint32_t job = (uint32_t)r_max(r, QBT_MAX_JOB_ID, "a job id is out of range");
        uint8_t type = r_byte(r);
        uint32_t extra;
        if (r->bad || (st = r_extra(r, &extra)) != QBT_OK || r->bad)
            break;
        uint32_t state = r_string(r);
        uint64_t key = state_key(job, type & 3, extra);
        if (!r->bad && (type > T_WORK || (type == T_JOB) != (extra == STR_NONE) || !IS_STATE_NAME(r->ids[state]) ||
                        u64map_get(&net->state_index, key) != NIL32))
            r->bad = "an item state is bad or appears twice";
        if (r->bad) {
            extra_decref(&net->strings, extra);
            break;
        }
        if (!find_job(net, job, NULL) && net->stray_states++ >= QBT_MAX_STRAY_STATES) {
            r->bad = "too many item states of jobs that are not added";
            extra_decref(&net->strings, extra);
            break;
        }
        uint32_t entry = (uint32_t)net->states_len++;
        state_t *e = &net->states[entry];
        e->job = job;
        e->extra = extra;
        e->type = type;
        e->state = (uint8_t)r->ids[state];
        e->next = u64map_get(&net->state_heads, job);
        u64map_put(&net->state_heads, job, entry);
        u64map_put(&net->state_index, key, entry);
    }
    return st;
}

/* Checks the header; NULL if it is fine, else what is wrong (written into err with numbers). */
static qbt_status check_header(const uint8_t *data, size_t size, error_buf *err, bool *bad) {
    *bad = true;
    err->len = 0;
    qbt_status st = QBT_OK;
    if (size < HEADER_BYTES || memcmp(data, SNAP_MAGIC, 8) != 0) {
        if (size >= 8 && memcmp(data, SNAP_MAGIC, 8) == 0) {
            if ((st = sb_puts(err, "snapshot truncated: ")) == QBT_OK && (st = sb_putu(err, size)) == QBT_OK)
                st = sb_puts(err, " bytes, shorter than the header");
            return st;
        }
        return sb_puts(err, "not a qbtrigger snapshot (no 'qbtsnap' signature)");
    }
    uint64_t version = get_le(data + 8, 4), total = get_le(data + 16, 8), strings_at = get_le(data + 24, 8);
    if (version != QBT_SNAPSHOT_VERSION) {
        if ((st = sb_puts(err, "snapshot format version ")) == QBT_OK && (st = sb_putu(err, version)) == QBT_OK)
            st = sb_puts(err, version > QBT_SNAPSHOT_VERSION ? " is newer than this qbtrigger reads (1)"
                                                                : " is not one this qbtrigger reads (1)");
        return st;
    }
    if (total != size) {
        if ((st = sb_puts(err, total > size ? "snapshot truncated: " : "snapshot has trailing bytes: ")) == QBT_OK &&
            (st = sb_putu(err, size)) == QBT_OK && (st = sb_puts(err, " bytes where its header says ")) == QBT_OK)
            st = sb_putu(err, total);
        return st;
    }
    crc_tables *crc = qbt_malloc(sizeof *crc);
    if (!crc)
        return QBT_ENOMEM;
    crc_init(crc);
    uint32_t sum = crc32_of(crc, data + 16, size - 16);
    qbt_mfree(crc);
    if (sum != get_le(data + 12, 4))
        return sb_puts(err, "snapshot corrupted: its checksum does not match its contents");
    if (strings_at < HEADER_BYTES || strings_at > size)
        return sb_puts(err, "snapshot corrupted: the string table is out of place");
    *bad = false;
    return QBT_OK;
}

static qbt_status read_body(reader *r, const uint8_t *data, size_t size) {
    uint64_t strings_at = get_le(data + 24, 8);
    r->p = data + strings_at;
    r->end = data + size;
    qbt_status st = read_strings(r, data + strings_at);
    if (st != QBT_OK || r->bad)
        return st;
    r->p = data + HEADER_BYTES;
    r->end = data + strings_at;
    uint64_t flags = r_var(r);
    uint64_t clock = r_var(r);
    uint64_t next_handle = r_var(r);
    if (!r->bad && (flags & ~(uint64_t)FLAG_STATE_AWARE))
        r->bad = "unknown flags";
    if (!r->bad && next_handle == 0)
        r->bad = "the next handle is 0";
    if (r->bad)
        return QBT_OK;
    r->net->state_aware = flags & FLAG_STATE_AWARE;
    r->net->clock = clock;
    if ((st = read_jobs(r)) != QBT_OK || r->bad)
        return st;
    uint64_t ncallbacks = r_var(r), handle = 0;
    /* Room for the alpha keys of most networks at once, rather than rehash after rehash. */
    if (!r->bad && ncallbacks <= (uint64_t)(r->end - r->p) && (st = alpha_reserve(r->net, ncallbacks + ncallbacks / 2)) != QBT_OK)
        return st;
    r->owner_id = NIL32;
    for (uint64_t i = 0; i < ncallbacks && !r->bad && st == QBT_OK; i++)
        st = read_callback(r, &handle, next_handle);
    while (st == QBT_OK && !r->bad && r->linked < r->pushed)
        link_oldest(r);
    if (st == QBT_OK && !r->bad)
        st = read_catch_up(r);
    if (st == QBT_OK && !r->bad)
        st = read_states(r);
    if (st == QBT_OK && !r->bad && r->p != r->end)
        r->bad = "bytes after the last section";
    r->net->next_handle = next_handle;
    return st;
}

qbt_status qbt_restore(qbt_net *net, const uint8_t *data, size_t size) {
    bool bad;
    qbt_status st = check_header(data, size, &net->err, &bad);
    if (st != QBT_OK || bad)
        return st != QBT_OK ? st : QBT_ESNAPSHOT;
    reader r = {0};
    r.net = qbt_new(0);
    if (!r.net)
        return QBT_ENOMEM;
    st = read_body(&r, data, size);
    for (size_t i = 0; i < r.nstrings; i++)
        intern_decref(&r.net->strings, r.ids[i]);
    qbt_mfree(r.text);
    qbt_mfree(r.text_len);
    qbt_mfree(r.ids);
    if (st == QBT_OK && r.bad) {
        net->err.len = 0;
        if ((st = sb_puts(&net->err, "snapshot corrupted: ")) == QBT_OK && (st = sb_puts(&net->err, r.bad)) == QBT_OK)
            st = QBT_ESNAPSHOT;
    }
    if (st != QBT_OK) {
        qbt_free(r.net);
        return st;
    }
    /* Swap contents: the old ones go with the shell. The error text stays with this network. */
    error_buf err = net->err;
    qbt_net old = *net;
    *net = *r.net;
    *r.net = old;
    r.net->err = net->err;
    net->err = err;
    qbt_free(r.net);
    return QBT_OK;
}
