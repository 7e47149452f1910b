/*
 * network.c: jobs, latches and firing, the clock, registration and events (SPEC §4-§6); the
 * network's layout is in net.h, its memory in pool.c, its alpha index in alpha.c.
 *
 * One callback is one block of 32-bit words in the pool:
 *
 *   cb_t     9 words   handle, owner job slot, links in the owner's list, count, maximum, sizes,
 *                      and the root node's counters (every expression has exactly one root)
 *   latch_t  3 words   per atom, in expression order: links in its alpha entry's list (next, prev),
 *                      parent node, its own index (to find the block) and its "set" bit
 *   node_t   2 words   per operator node below the root: parent, child count | AND, true children
 *
 * A two-atom AND is 60 bytes. A latch's `prev` is either the previous latch or ALPHA_TAG | slot
 * when it heads its alpha entry's list, so unlinking needs no pointer back to the alpha entry.
 *
 * Cost of an event: one map probe for its job's context counters, then at most eight alpha probes
 * (name/done x extra/'*' x job id/label), skipped where the counters say no such key exists or the
 * key filter (net.h) says no entry has its hash; for each latch found, setting it walks up only
 * while a node's truth flips. Firing sorts the fired callbacks by handle (registration order),
 * clears each one's latches and counters (a walk over its own block, which the event has just
 * brought into cache) and removes those that reached their maximum. Nothing here is proportional
 * to the number of registered callbacks.
 *
 * A batch (qbt_feed_many) is a pipeline, so that the memory an event needs is on its way before it
 * is needed: every event is parsed and its keys collected (their home slots prefetched) and looked
 * up LOOKAHEAD events later, before any event is applied (which is also what keeps a malformed
 * event from applying any); applying is then setting the latches of the slots found and firing,
 * with the slots and first latches of later events prefetched on big networks. State-aware
 * networks apply each event as qbt_feed does.
 *
 * Registration is two-phase: parse everything into scratch, take every reference and reserve
 * every array it may need (undoing what was taken if anything fails), then commit, which cannot
 * fail. So a failed qbt_add or qbt_add_job leaves the network exactly as it was.
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ lifecycle */

qbt_net *qbt_new(int state_aware) {
    qbt_net *net = qbt_malloc(sizeof *net);
    if (!net)
        return NULL;
    memset(net, 0, sizeof *net);
    net->state_aware = state_aware != 0;
    net->next_handle = 1;
    net->refs_free = net->jobs_free = net->states_free = net->ctxs_free = net->name_memo = NIL32;
    net->chunks[0] = qbt_malloc(FIRST_CHUNK_WORDS * sizeof(uint32_t));
    if (!net->chunks[0] || intern_init(&net->strings) != QBT_OK) {
        qbt_mfree(net->chunks[0]);
        intern_free(&net->strings);
        qbt_mfree(net);
        return NULL;
    }
    net->nchunks = 1;
    net->chunk_cap = FIRST_CHUNK_WORDS;
    net->chunk_used = 1; /* offset 0 means "none" */
    return net;
}

void qbt_free(qbt_net *net) {
    if (!net)
        return;
    for (size_t i = 0; i < net->nchunks; i++)
        qbt_mfree(net->chunks[i]);
    u64map_free(&net->free_large);
    for (size_t i = 0; i < net->hpages_len; i++)
        qbt_mfree(net->hpages[i]);
    qbt_mfree(net->hpages);
    u64map_free(&net->hpage_index);
    qbt_mfree(net->alpha);
    qbt_mfree(net->alpha_filter);
    intern_free(&net->strings);
    qbt_mfree(net->refs);
    u64map_free(&net->ref_index);
    qbt_mfree(net->jobs);
    qbt_mfree(net->ctxs);
    u64map_free(&net->ctx_index);
    u64map_free(&net->label_index);
    qbt_mfree(net->states);
    u64map_free(&net->state_index);
    u64map_free(&net->state_heads);
    qbt_mfree(net->heap);
    qbt_mfree(net->fired);
    qbt_mfree(net->out);
    qbt_mfree(net->catchup);
    qbt_mfree(net->drained);
    qbt_mfree(net->drained_text.text);
    scratch_free(&net->scratch);
    qbt_mfree(net->hits);
    qbt_mfree(net->hit_ends);
    qbt_mfree(net->taken);
    qbt_mfree(net->lower);
    qbt_mfree(net->err.text);
    qbt_mfree(net);
}

int qbt_state_aware(const qbt_net *net) { return net->state_aware; }
uint64_t qbt_clock(const qbt_net *net) { return net->clock; }

const qbt_firing *qbt_output(const qbt_net *net, size_t *count) {
    *count = net->out_len;
    return net->out;
}

const char *qbt_error_message(const qbt_net *net, size_t *len) {
    *len = net->err.len;
    return net->err.text ? net->err.text : "";
}
size_t qbt_error_column(const qbt_net *net) { return net->err.column; }
uint64_t qbt_error_index(const qbt_net *net) { return net->err.index; }

/* ------------------------------------------------------------------ latches and firing */

static inline bool root_true(const cb_t *cb) {
    uint16_t n = cb->root_nchild & ~AND_BIT;
    return (cb->root_nchild & AND_BIT) ? cb->root_count == n : cb->root_count >= 1;
}

static inline void set_latch(qbt_net *net, uint32_t off) {
    latch_t *l = latch_at(net, off);
    if (l->index_set & 1)
        return;
    l->index_set |= 1;
    uint32_t block = block_of_latch(l, off);
    cb_t *cb = cb_at(net, block);
    uint16_t p = l->parent;
    if (p != PARENT_ROOT) {
        node_t *nodes = nodes_of(net, block, cb);
        do {
            node_t *nd = &nodes[p];
            nd->count++;
            if (nd->nchild & AND_BIT) {
                if (nd->count != (nd->nchild & ~AND_BIT))
                    return;
            } else if (nd->count != 1) {
                return;
            }
            p = nd->parent;
        } while (p != PARENT_ROOT);
    }
    cb->root_count++;
    bool flipped = (cb->root_nchild & AND_BIT) ? cb->root_count == (cb->root_nchild & ~AND_BIT)
                                              : cb->root_count == 1;
    if (flipped) {
        QBT_ASSERT(net->nfired < net->fired_cap);
        net->fired[net->nfired++] = block;
    }
}

static void unset_latch(qbt_net *net, uint32_t off) {
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

static void set_all(qbt_net *net, uint32_t slot) {
    for (uint32_t off = net->alpha[slot].head; off;) {
        uint32_t next = latch_at(net, off)->next & NEXT_MASK;
        set_latch(net, off);
        off = next;
    }
}

static void unset_all(qbt_net *net, uint32_t slot) {
    for (uint32_t off = net->alpha[slot].head; off; off = latch_at(net, off)->next & NEXT_MASK)
        unset_latch(net, off);
}

/* Clears every latch and counter of a callback: it re-arms. */
static void clear_callback(qbt_net *net, uint32_t block) {
    cb_t *cb = cb_at(net, block);
    latch_t *latches = latch_at(net, latch_off(block, 0));
    for (uint32_t i = 0; i < cb->nlatch; i++)
        latches[i].index_set &= (uint16_t)~1u;
    node_t *nodes = nodes_of(net, block, cb);
    for (uint32_t j = 0; j < cb->nnode; j++)
        nodes[j].count = 0;
    cb->root_count = 0;
}

static void unlink_latch(qbt_net *net, uint32_t off) {
    latch_t *l = latch_at(net, off);
    uint32_t next = l->next & NEXT_MASK, prev = l->prev;
    if (prev & ALPHA_TAG) {
        uint32_t a = prev & ~ALPHA_TAG;
        net->alpha[a].head = next;
        if (next)
            latch_at(net, next)->prev = prev;
        else
            alpha_release(net, a);
        return;
    }
    latch_t *before = latch_at(net, prev);
    before->next = (before->next & ~NEXT_MASK) | next;
    if (next)
        latch_at(net, next)->prev = prev;
}

static void remove_callback(qbt_net *net, uint32_t block) {
    cb_t *cb = cb_at(net, block);
    size_t nlatch = cb->nlatch, nnode = cb->nnode;
    for (uint32_t i = 0; i < nlatch; i++)
        unlink_latch(net, latch_off(block, i));
    job_t *job = &net->jobs[cb->owner];
    if (cb->job_prev)
        cb_at(net, cb->job_prev)->job_next = cb->job_next;
    else
        job->cb_head = cb->job_next;
    if (cb->job_next)
        cb_at(net, cb->job_next)->job_prev = cb->job_prev;
    handle_clear(net, cb_handle(cb));
    net->ncallbacks--;
    net->nlatches -= nlatch;
    block_give(net, block, block_words(nlatch, nnode));
}

static inline bool handle_less(const qbt_net *net, uint32_t a, uint32_t b) {
    return cb_handle(cb_at(net, a)) < cb_handle(cb_at(net, b));
}

static void sift_down(const qbt_net *net, uint32_t *f, size_t root, size_t n) {
    for (size_t child; (child = 2 * root + 1) < n; root = child) {
        if (child + 1 < n && handle_less(net, f[child], f[child + 1]))
            child++;
        if (!handle_less(net, f[root], f[child]))
            return;
        uint32_t t = f[root];
        f[root] = f[child];
        f[child] = t;
    }
}

/* Registration order is handle order. Usually one or two callbacks fire per event: insertion
 * sort; an event completing many callbacks at once gets a heapsort (no allocation). */
static void sort_fired(qbt_net *net) {
    uint32_t *f = net->fired;
    size_t n = net->nfired;
    if (n > 24) {
        for (size_t i = n / 2; i-- > 0;)
            sift_down(net, f, i, n);
        for (size_t end = n - 1; end > 0; end--) {
            uint32_t t = f[0];
            f[0] = f[end];
            f[end] = t;
            sift_down(net, f, 0, end);
        }
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = f[i];
        size_t j = i;
        while (j > 0 && handle_less(net, x, f[j - 1])) {
            f[j] = f[j - 1];
            j--;
        }
        f[j] = x;
    }
}

static qbt_status out_reserve(qbt_net *net, size_t extra) {
    if (net->out_len + extra <= net->out_cap)
        return QBT_OK; /* the common case, once per firing event: no call */
    void *arr = net->out;
    qbt_status st = qbt_grow(&arr, &net->out_cap, net->out_len + extra, sizeof(qbt_firing));
    net->out = arr;
    return st;
}

/* Fires the callbacks collected in net->fired, in handle order, reporting each as (key, handle)
 * in the output buffer (or, for catch-up, in the catch-up queue, whose next entry catch_up has
 * filled in but for the handle). */
static qbt_status fire(qbt_net *net, uint64_t key, bool catchup) {
    if (net->nfired == 0)
        return QBT_OK;
    sort_fired(net);
    qbt_status st;
    if (catchup) {
        void *arr = net->catchup;
        st = qbt_grow(&arr, &net->catchup_cap, net->ncatchup + net->nfired, sizeof(catchup_entry));
        net->catchup = arr;
    } else {
        st = out_reserve(net, net->nfired);
    }
    for (size_t i = 0; i < net->nfired; i++) {
        uint32_t block = net->fired[i];
        cb_t *cb = cb_at(net, block);
        clear_callback(net, block);
        if (st != QBT_OK)
            continue; /* no room to report it: it re-arms uncounted (see qbtrigger.h on ENOMEM) */
        uint64_t handle = cb_handle(cb);
        cb->count++;
        if (catchup) {
            net->catchup[net->ncatchup++].handle = handle;
        } else {
            net->out[net->out_len].key = key;
            net->out[net->out_len].handle = handle;
            net->out_len++;
        }
        if (cb->maximum && cb->count >= cb->maximum)
            remove_callback(net, block);
    }
    net->nfired = 0;
    return st;
}

/* ------------------------------------------------------------------ jobs */

static job_t *find_job(const qbt_net *net, uint32_t jobid, uint32_t *slot_out) {
    uint32_t c = u64map_get(&net->ctx_index, jobid);
    uint32_t slot = c == NIL32 ? NIL32 : net->ctxs[c].job;
    if (slot_out)
        *slot_out = slot;
    return slot == NIL32 ? NULL : &net->jobs[slot];
}

qbt_status qbt_add_job(qbt_net *net, uint32_t jobid, uint32_t pgrp, const char *label, size_t label_len,
                       uint32_t pid) {
    if (jobid > QBT_MAX_JOB_ID || pgrp > QBT_MAX_JOB_ID || (pid != QBT_NO_PID && pid > QBT_MAX_JOB_ID))
        return QBT_ERANGE;
    if (find_job(net, jobid, NULL))
        return QBT_EDUPLICATE_JOB;
    uint32_t label_id = STR_NONE, ref = NIL32, c = NIL32;
    if (label) {
        uint32_t found = intern_find(&net->strings, label, label_len, intern_hash(label, label_len));
        if (found != NIL32) {
            uint32_t other = u64map_get(&net->label_index, label_key(pgrp, found));
            if (other != NIL32) {
                net->err.index = net->jobs[other].id;
                return QBT_EDUPLICATE_LABEL;
            }
        }
    }
    void *arr = net->jobs;
    qbt_status st = qbt_grow(&arr, &net->jobs_cap, net->jobs_len + 1, sizeof(job_t));
    net->jobs = arr;
    if (st == QBT_OK && label)
        st = u64map_reserve(&net->label_index, 1);
    if (st == QBT_OK)
        st = ctx_take(net, jobid, &c);
    if (st == QBT_OK && label && (st = intern_ref(&net->strings, label, label_len, &label_id)) == QBT_OK) {
        st = labelref_take(net, pgrp, label_id, &ref);
        intern_decref(&net->strings, label_id); /* the job keeps the label reference's own */
    }
    if (st != QBT_OK) {
        if (c != NIL32)
            ctx_release(net, jobid, c);
        return st;
    }
    uint32_t slot;
    if (net->jobs_free != NIL32) {
        slot = net->jobs_free;
        net->jobs_free = net->jobs[slot].cb_head;
    } else {
        slot = (uint32_t)net->jobs_len++;
    }
    job_t *job = &net->jobs[slot];
    job->id = jobid;
    job->pgrp = pgrp;
    job->pid = pid;
    job->label = label_id;
    job->ref = ref;
    job->cb_head = 0;
    net->ctxs[c].job = slot;
    net->ctxs[c].ref = ref;
    if (label)
        u64map_put(&net->label_index, label_key(pgrp, label_id), slot);
    net->njobs++;
    return QBT_OK;
}

/* An item's key: job id (31 bits), type (2 bits: job, subjob or work) and extra id (31 bits). */
static uint64_t state_key(uint32_t job, uint8_t type, uint32_t extra) {
    return (uint64_t)job << 33 | (uint64_t)type << 31 | extra;
}
_Static_assert(QBT_MAX_JOB_ID < (1u << 31) && T_JOB < 4 && T_SUBJOB < 4 && T_WORK < 4,
               "a state key packs a job id in 31 bits and an item type in 2");

qbt_status qbt_remove_job(qbt_net *net, uint32_t jobid) {
    uint32_t slot;
    if (!find_job(net, jobid, &slot))
        return QBT_EUNKNOWN_JOB;
    while (net->jobs[slot].cb_head)
        remove_callback(net, net->jobs[slot].cb_head);
    job_t *job = &net->jobs[slot];
    uint32_t first_state = u64map_get(&net->state_heads, jobid);
    if (first_state != NIL32)
        u64map_del(&net->state_heads, jobid);
    for (uint32_t st = first_state; st != NIL32;) {
        state_t *e = &net->states[st];
        uint32_t next = e->next;
        u64map_del(&net->state_index, state_key(e->job, e->type, e->extra));
        extra_decref(&net->strings, e->extra);
        e->next = net->states_free;
        net->states_free = st;
        st = next;
    }
    if (job->label != STR_NONE) {
        u64map_del(&net->label_index, label_key(job->pgrp, job->label));
        labelref_decref(net, job->ref);
    }
    uint32_t c = u64map_get(&net->ctx_index, jobid);
    net->ctxs[c].job = NIL32;
    net->ctxs[c].ref = NIL32;
    ctx_release(net, jobid, c);
    job->cb_head = net->jobs_free;
    net->jobs_free = slot;
    net->njobs--;
    return QBT_OK;
}

/* ------------------------------------------------------------------ clock heap */

static void heap_push(qbt_net *net, uint64_t due, uint32_t slot) {
    QBT_ASSERT(net->heap_len < net->heap_cap);
    size_t i = net->heap_len++;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (net->heap[up].due <= due)
            break;
        net->heap[i] = net->heap[up];
        i = up;
    }
    net->heap[i].due = due;
    net->heap[i].alpha = slot;
    net->alpha[slot].nametype |= INHEAP_BIT;
}

static uint32_t heap_pop(qbt_net *net) {
    uint32_t top = net->heap[0].alpha;
    heap_item last = net->heap[--net->heap_len];
    size_t n = net->heap_len, i = 0;
    for (size_t child; (child = 2 * i + 1) < n; i = child) {
        if (child + 1 < n && net->heap[child + 1].due < net->heap[child].due)
            child++;
        if (last.due <= net->heap[child].due)
            break;
        net->heap[i] = net->heap[child];
    }
    if (n)
        net->heap[i] = last;
    net->alpha[top].nametype &= ~INHEAP_BIT;
    return top;
}

/* First moment after the clock at which a new time atom is due; 0 when never. */
static uint64_t first_due(const qbt_net *net, const tmp_atom *a) {
    uint64_t clock = net->clock;
    if (a->type == T_TIME || a->type == T_GLOBALTIME)
        return a->time > clock ? a->time : 0;
    if (a->time > clock)
        return a->time;
    uint64_t k = (clock - a->time) / a->interval + 1;
    if (k > (UINT64_MAX - a->time) / a->interval)
        return 0;
    return a->time + k * a->interval;
}

static bool is_time_type(int type) {
    return type == T_TIME || type == T_REPEAT || type == T_GLOBALTIME || type == T_GLOBALREPEAT;
}

/* ------------------------------------------------------------------ registration */

/* References taken for one atom while preparing a registration; committed or dropped. */
typedef struct {
    uint32_t name, extra;
    uint32_t ref; /* label reference, or ctx_t of a job-id context; NIL32: none (global) */
    uint32_t ctx;
} atom_ids;

static void drop_ids(qbt_net *net, const atom_ids *ids, size_t n) {
    for (size_t i = 0; i < n; i++) {
        intern_decref(&net->strings, ids[i].name);
        extra_decref(&net->strings, ids[i].extra);
        if (ids[i].ref == NIL32)
            continue;
        if (IS_LABEL_CTX(ids[i].ctx)) {
            labelref_decref(net, ids[i].ref);
        } else {
            net->ctxs[ids[i].ref].counts.n_alpha--;
            ctx_release(net, ids[i].ctx, ids[i].ref);
        }
    }
}

static qbt_status take_atom_ids(qbt_net *net, const tmp_atom *a, const job_t *owner, atom_ids *ids) {
    void *buf = net->lower;
    qbt_status st = qbt_grow(&buf, &net->lower_cap, a->name_len, 1);
    net->lower = buf;
    if (st != QBT_OK)
        return st;
    for (size_t i = 0; i < a->name_len; i++) {
        char c = a->name[i];
        net->lower[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    ids->ref = NIL32;
    ids->extra = STR_NONE;
    if ((st = intern_ref(&net->strings, net->lower, a->name_len, &ids->name)) != QBT_OK)
        return st;
    if (a->extra && (st = extra_ref(&net->strings, a->extra, a->extra_len, &ids->extra)) != QBT_OK) {
        intern_decref(&net->strings, ids->name);
        return st;
    }
    switch (a->ctx) {
    case CTX_SELF:
        ids->ctx = owner->id;
        break;
    case CTX_PARENT:
        ids->ctx = owner->pid;
        break;
    case CTX_ID:
        ids->ctx = a->job;
        break;
    case CTX_GLOBAL:
        ids->ctx = GLOBAL_CTX;
        return QBT_OK;
    default: { /* CTX_LABEL */
        uint32_t label;
        st = intern_ref(&net->strings, a->label, a->label_len, &label);
        if (st == QBT_OK) {
            st = labelref_take(net, owner->pgrp, label, &ids->ref);
            intern_decref(&net->strings, label); /* the label reference holds its own */
        }
        if (st != QBT_OK) {
            intern_decref(&net->strings, ids->name);
            extra_decref(&net->strings, ids->extra);
            return st;
        }
        ids->ctx = LABEL_BIT | ids->ref;
        return QBT_OK;
    }
    }
    /* A job-id context: count this atom in its record (dropped again if the key exists). */
    if ((st = ctx_take(net, ids->ctx, &ids->ref)) != QBT_OK) {
        intern_decref(&net->strings, ids->name);
        extra_decref(&net->strings, ids->extra);
        return st;
    }
    net->ctxs[ids->ref].counts.n_alpha++;
    return QBT_OK;
}

/* Latches the atoms whose item is in their state now, or whose time has passed, in expression
 * order, until one completes the callback: that one's event goes into the next catch-up queue
 * entry (room reserved), for fire() to finish. */
static void catch_up(qbt_net *net, uint32_t block, const atom_ids *ids, const job_t *owner) {
    const parse_scratch *s = &net->scratch;
    catchup_entry *ev = &net->catchup[net->ncatchup];
    for (uint32_t i = 0; i < s->natoms && net->nfired == 0; i++) {
        const tmp_atom *a = &s->atoms[i];
        if (a->type == T_TIME || a->type == T_GLOBALTIME) {
            if (a->time <= net->clock) {
                set_latch(net, latch_off(block, i));
                ev->type = T_GLOBALTIME;
                ev->state = STR_NONE;
                ev->time = a->time;
                ev->job = NIL32;
                ev->extra = STR_NONE;
            }
            continue;
        }
        if (a->type > T_WORK || ids[i].extra == STR_STAR)
            continue;
        uint32_t jobid = ids[i].ctx;
        if (a->ctx == CTX_LABEL) {
            uint32_t label = (uint32_t)net->refs[ids[i].ref].key;
            uint32_t slot = u64map_get(&net->label_index, label_key(owner->pgrp, label));
            if (slot == NIL32)
                continue;
            jobid = net->jobs[slot].id;
        }
        uint32_t entry = u64map_get(&net->state_index, state_key(jobid, a->type, ids[i].extra));
        if (entry == NIL32)
            continue;
        uint32_t state = net->states[entry].state;
        if (ids[i].name == state || (ids[i].name == STR_DONE && IS_TERMINAL(state))) {
            set_latch(net, latch_off(block, i));
            ev->type = a->type;
            ev->state = (uint8_t)state;
            ev->job = jobid;
            ev->extra = ids[i].extra;
        }
    }
    if (net->nfired)
        extra_incref(&net->strings, ev->extra); /* the atom's may go with the callback */
}

qbt_status qbt_add(qbt_net *net, const char *const *exprs, const size_t *lens, size_t n, uint32_t owner_id,
                   uint32_t maximum, uint64_t *handle_out) {
    uint32_t owner_slot;
    if (!find_job(net, owner_id, &owner_slot))
        return QBT_EUNKNOWN_JOB;
    if (n == 0)
        return QBT_EEMPTY_LIST;
    parse_scratch *s = &net->scratch;
    s->natoms = s->nnodes = s->noperands = 0;
    bool has_pid = net->jobs[owner_slot].pid != QBT_NO_PID;
    qbt_status st = QBT_OK;
    for (size_t i = 0; i < n && st == QBT_OK; i++) {
        st = qbt_parse_expr(s, exprs[i], lens[i], owner_id, has_pid, &net->err);
        net->err.index = i;
    }
    if (st == QBT_OK)
        st = qbt_parse_join(s, 0);
    if (st != QBT_OK)
        return st;
    if (s->natoms > QBT_MAX_ATOMS)
        return QBT_ETOO_LARGE;
    size_t natoms = s->natoms;
    /* The root is the last node built (nodes are made after their children), or a lone atom. */
    bool root_is_node = s->noperands == 1 && (s->operands[0] & 1);
    size_t nnodes = root_is_node ? s->nnodes - 1 : 0;

    /* Phase 2: take references and reserve room; undo on failure. */
    void *arr = net->taken;
    st = qbt_grow(&arr, &net->taken_cap, natoms * (sizeof(atom_ids) / sizeof(uint32_t)), sizeof(uint32_t));
    net->taken = arr;
    if (st != QBT_OK)
        return st;
    atom_ids *ids = (atom_ids *)net->taken;
    size_t taken = 0, ntime = 0;
    for (; taken < natoms; taken++) {
        if ((st = take_atom_ids(net, &s->atoms[taken], &net->jobs[owner_slot], &ids[taken])) != QBT_OK)
            break;
        ntime += is_time_type(s->atoms[taken].type);
    }
    if (st != QBT_OK) {
        drop_ids(net, ids, taken);
        return st;
    }
    size_t words = block_words(natoms, nnodes);
    st = block_reserve(net, words);
    if (st == QBT_OK)
        st = handle_reserve(net);
    if (st == QBT_OK)
        st = alpha_reserve(net, natoms);
    if (st == QBT_OK) {
        arr = net->fired;
        st = qbt_grow(&arr, &net->fired_cap, net->ncallbacks + 1, sizeof(uint32_t));
        net->fired = arr;
    }
    if (st == QBT_OK && ntime) {
        arr = net->heap;
        st = qbt_grow(&arr, &net->heap_cap, net->heap_len + ntime, sizeof(heap_item));
        net->heap = arr;
    }
    if (st == QBT_OK && net->state_aware) {
        arr = net->catchup;
        st = qbt_grow(&arr, &net->catchup_cap, net->ncatchup + 1, sizeof(catchup_entry));
        net->catchup = arr;
    }
    if (st != QBT_OK) {
        drop_ids(net, ids, natoms);
        return st;
    }

    /* Phase 3: commit; nothing below can fail. */
    job_t *job = &net->jobs[owner_slot];
    uint32_t block = block_take(net, words);
    cb_t *cb = cb_at(net, block);
    uint64_t handle = net->next_handle++;
    cb->handle_lo = (uint32_t)handle;
    cb->handle_hi = (uint32_t)(handle >> 32);
    cb->owner = owner_slot;
    cb->job_prev = 0;
    cb->job_next = job->cb_head;
    if (job->cb_head)
        cb_at(net, job->cb_head)->job_prev = block;
    job->cb_head = block;
    cb->count = 0;
    cb->maximum = maximum;
    cb->nlatch = (uint16_t)natoms;
    cb->nnode = (uint16_t)nnodes;
    cb->root_count = 0;
    if (root_is_node) {
        const tmp_node *root = &s->nodes[s->nnodes - 1];
        cb->root_nchild = (uint16_t)(root->nchild | (root->is_and ? AND_BIT : 0));
    } else {
        cb->root_nchild = 1;
    }
    handle_set(net, handle, block);
    for (uint32_t i = 0; i < natoms; i++) {
        const tmp_atom *a = &s->atoms[i];
        uint32_t nametype = NAMETYPE(ids[i].name, a->type);
        uint32_t slot = alpha_find(net, nametype, ids[i].ctx, ids[i].extra);
        if (slot == NIL32) {
            slot = alpha_insert(net, nametype, ids[i].ctx, ids[i].extra); /* takes the references */
            uint64_t due = is_time_type(a->type) ? first_due(net, a) : 0;
            if (due)
                heap_push(net, due, slot);
        } else {
            drop_ids(net, &ids[i], 1);
            if (net->alpha[slot].head == 0) /* it lingered for the clock: alive again */
                net->alpha_waiting--;
        }
        uint32_t off = latch_off(block, i);
        latch_t *l = latch_at(net, off);
        bool under_root = a->parent == NIL32 || (root_is_node && a->parent == s->nnodes - 1);
        l->parent = under_root ? PARENT_ROOT : (uint16_t)a->parent;
        l->index_set = (uint16_t)(i << 1);
        uint32_t kind = a->ctx <= CTX_ID ? a->ctx : 0;
        alpha_slot *e = &net->alpha[slot];
        l->prev = ALPHA_TAG | slot;
        l->next = (kind << KIND_SHIFT) | e->head;
        if (e->head)
            latch_at(net, e->head)->prev = off;
        e->head = off;
    }
    node_t *nodes = nodes_of(net, block, cb);
    for (uint32_t j = 0; j < nnodes; j++) {
        const tmp_node *t = &s->nodes[j];
        bool under_root = t->parent == s->nnodes - 1;
        nodes[j].parent = under_root ? PARENT_ROOT : (uint16_t)t->parent;
        nodes[j].nchild = (uint16_t)(t->nchild | (t->is_and ? AND_BIT : 0));
        nodes[j].count = 0;
        nodes[j].unused = 0;
    }
    net->ncallbacks++;
    net->nlatches += natoms;
    *handle_out = handle;
    if (net->state_aware) {
        catch_up(net, block, ids, &net->jobs[owner_slot]);
        fire(net, 0, true); /* room was reserved: cannot fail */
    }
    return QBT_OK;
}

qbt_status qbt_remove(qbt_net *net, uint64_t handle) {
    uint32_t block = handle_block(net, handle);
    if (!block)
        return QBT_EUNKNOWN_HANDLE;
    remove_callback(net, block);
    return QBT_OK;
}

/* ------------------------------------------------------------------ events */

static uint32_t find_name(qbt_net *net, const char *s, size_t n) {
    bool upper = false;
    for (size_t i = 0; i < n; i++)
        upper |= s[i] >= 'A' && s[i] <= 'Z';
    if (!upper)
        return intern_find(&net->strings, s, n, intern_hash(s, n));
    char small[64];
    char *buf = small;
    if (n > sizeof small) {
        void *p = net->lower;
        if (qbt_grow(&p, &net->lower_cap, n, 1) != QBT_OK)
            return NIL32 - 1;
        buf = net->lower = p;
    }
    for (size_t i = 0; i < n; i++)
        buf[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    return intern_find(&net->strings, buf, n, intern_hash(buf, n));
}

/* The id of an event's name, NIL32 if no atom has it (NIL32 - 1: out of memory). Events mostly
 * repeat a few names, so *memo remembers the last one found; it is checked against the entry's
 * text, which also catches an id freed or reused since (ids never exceed the entries array). */
static inline uint32_t event_name(qbt_net *net, const parsed_event *ev, uint32_t *memo) {
    if (ev->name_upper)
        return find_name(net, ev->name, ev->name_len);
    if (*memo != NIL32) {
        const intern_entry *e = &net->strings.entries[*memo];
        if (e->text && e->len == ev->name_len && same_bytes(e->text, ev->name, ev->name_len))
            return *memo;
    }
    uint32_t id = intern_find(&net->strings, ev->name, ev->name_len, intern_hash(ev->name, ev->name_len));
    if (id != NIL32)
        *memo = id;
    return id;
}

/* The id of an event's extra: STR_NONE if it has none, NIL32 if no atom has it. */
static inline uint32_t event_extra(const qbt_net *net, const parsed_event *ev) {
    if (!ev->extra)
        return STR_NONE;
    return ev->extra_id != NIL32 ? ev->extra_id
                                 : intern_find(&net->strings, ev->extra, ev->extra_len, intern_hash(ev->extra, ev->extra_len));
}

/* Records the item's new state; *old gets the previous one (STR_NONE if new). */
static qbt_status update_state(qbt_net *net, const parsed_event *ev, uint32_t *extra_id, uint32_t state,
                               uint32_t *old) {
    uint32_t entry = NIL32;
    if (*extra_id != NIL32)
        entry = u64map_get(&net->state_index, state_key(ev->job, ev->type, *extra_id));
    if (entry == NIL32) {
        void *arr = net->states;
        qbt_status st = qbt_grow(&arr, &net->states_cap, net->states_len + 1, sizeof(state_t));
        net->states = arr;
        if (st == QBT_OK)
            st = u64map_reserve(&net->state_index, 1);
        if (st == QBT_OK)
            st = u64map_reserve(&net->state_heads, 1);
        if (st == QBT_OK) {
            if (ev->type == T_JOB)
                *extra_id = STR_NONE;
            else
                st = extra_ref(&net->strings, ev->extra, ev->extra_len, extra_id);
        }
        if (st != QBT_OK)
            return st;
        if (net->states_free != NIL32) {
            entry = net->states_free;
            net->states_free = net->states[entry].next;
        } else {
            entry = (uint32_t)net->states_len++;
        }
        state_t *e = &net->states[entry];
        e->job = ev->job;
        e->extra = *extra_id;
        e->type = ev->type;
        e->state = STR_NONE;
        e->next = u64map_get(&net->state_heads, ev->job);
        u64map_put(&net->state_heads, ev->job, entry);
        u64map_put(&net->state_index, state_key(ev->job, ev->type, *extra_id), entry);
    }
    *old = net->states[entry].state;
    net->states[entry].state = (uint8_t)state;
    return QBT_OK;
}

/* One context an event can match through, with its counters (NULL: global, no counters). */
typedef struct {
    uint32_t ctx;
    const ctx_counts *counts;
} event_ctx;

static void probe(qbt_net *net, const event_ctx *ctxs, int nctx, uint32_t name, int type, uint32_t extra,
                  bool set) {
    uint32_t nametype = NAMETYPE(name, type);
    if (net->alpha_cap == 0)
        return;
    for (int i = 0; i < nctx; i++) {
        const ctx_counts *c = ctxs[i].counts;
        if (c && ((extra == STR_STAR && !c->n_star) || (name == STR_DONE && !c->n_done)))
            continue;
        uint32_t hash = alpha_hash(nametype, ctxs[i].ctx, extra);
        uint32_t a = alpha_maybe(net, hash) ? alpha_find_hashed(net, hash, nametype, ctxs[i].ctx, extra) : NIL32;
        if (a != NIL32)
            set ? set_all(net, a) : unset_all(net, a);
    }
}

/* The contexts an event can match through: its job id and its job's label, each only if some atom
 * uses it; a global event has the one global context. Returns how many were written (0-2). */
static int event_contexts(const qbt_net *net, const parsed_event *ev, event_ctx ctxs[2]) {
    if (ev->job == NIL32) {
        ctxs[0] = (event_ctx){GLOBAL_CTX, NULL};
        return 1;
    }
    uint32_t c = u64map_get(&net->ctx_index, ev->job);
    if (c == NIL32)
        return 0;
    int nctx = 0;
    const ctx_t *x = &net->ctxs[c];
    if (x->counts.n_alpha)
        ctxs[nctx++] = (event_ctx){ev->job, &x->counts};
    if (x->ref != NIL32) {
        uint32_t ref = x->ref;
        if (net->refs[ref].counts.n_alpha)
            ctxs[nctx++] = (event_ctx){LABEL_BIT | ref, &net->refs[ref].counts};
    }
    return nctx;
}

static qbt_status apply_event(qbt_net *net, const parsed_event *ev, uint64_t key) {
    int type = ev->type;
    event_ctx ctxs[2];
    int nctx = event_contexts(net, ev, ctxs);
    bool stateful = net->state_aware && type <= T_WORK;
    if (nctx == 0 && !stateful)
        return QBT_OK; /* no atom names this job: nothing to do */
    uint32_t name = event_name(net, ev, &net->name_memo);
    if (name == NIL32 - 1)
        return QBT_ENOMEM;
    uint32_t extra = event_extra(net, ev);
    if (stateful && name != NIL32 && IS_STATE_NAME(name)) {
        uint32_t old;
        qbt_status st = update_state(net, ev, &extra, name, &old);
        if (st != QBT_OK)
            return st;
        if (old != STR_NONE && old != name) {
            probe(net, ctxs, nctx, old, type, extra, false);
            if (IS_TERMINAL(old) && !IS_TERMINAL(name))
                probe(net, ctxs, nctx, STR_DONE, type, extra, false);
        }
    }
    bool star = type == T_WORK || type == T_SUBJOB || type == T_HOST;
    if (name != NIL32) {
        if (extra != NIL32)
            probe(net, ctxs, nctx, name, type, extra, true);
        if (star)
            probe(net, ctxs, nctx, name, type, STR_STAR, true);
        if (IS_TERMINAL(name)) {
            if (extra != NIL32)
                probe(net, ctxs, nctx, STR_DONE, type, extra, true);
            if (star)
                probe(net, ctxs, nctx, STR_DONE, type, STR_STAR, true);
        }
    }
    return fire(net, key, false);
}

qbt_status qbt_feed(qbt_net *net, const char *event, size_t len) {
    parsed_event ev;
    qbt_status st = qbt_parse_event(event, len, -1, &ev, &net->err);
    if (st != QBT_OK)
        return st;
    net->out_len = 0;
    return apply_event(net, &ev, 0);
}

#define LOOKAHEAD 8 /* events between collecting an event's keys (prefetched) and looking them up */
#define RING 16 /* events whose keys wait for their lookup: a power of two above LOOKAHEAD */
#define APPLY_AHEAD 16 /* events between prefetching an alpha slot and applying (on big networks) */
#define PREFETCH_ABOVE_BYTES ((size_t)4 << 20) /* below, prefetching latches was measured slower */
#define STRING_AHEAD 4 /* events between prefetching an event's text and parsing it */
#define CTX_MEMO 16 /* job ids whose contexts a batch remembers */

/* The keys of one event, from parsing to lookup (their home slots prefetched). */
typedef struct {
    event_key key[8];
    uint32_t n;
} pending_event;

/* What events of a batch share, remembered while its keys are collected (nothing changes then):
 * the contexts of recent job ids (direct-mapped) and the id of the last name. */
typedef struct {
    uint32_t job[CTX_MEMO]; /* NIL32: empty (never a job id) */
    int nctx[CTX_MEMO];
    event_ctx ctxs[CTX_MEMO][2];
    uint32_t name_id; /* event_name's memo */
} batch_memo;

/* Collects the alpha keys an event sets, filtered as apply_event's probes are, and prefetches their
 * home slots. Only where applying events interns nothing and creates no alpha entry, context or
 * label reference (not state-aware): then what is found now still holds when the event is applied,
 * except that an entry may have gone with its last latch, which leaves its slot a tombstone with no
 * latch (slots do not move between registrations). A string id found now still means the same
 * string, and one not found stays unknown. */
static qbt_status collect_keys(qbt_net *net, const parsed_event *ev, batch_memo *memo, pending_event *out) {
    out->n = 0;
    size_t cap = net->alpha_cap;
    if (cap == 0)
        return QBT_OK;
    size_t m = (ev->job ^ (ev->job >> 4)) & (CTX_MEMO - 1);
    if (memo->job[m] != ev->job || ev->job == NIL32) {
        memo->nctx[m] = event_contexts(net, ev, memo->ctxs[m]);
        memo->job[m] = ev->job;
    }
    int nctx = memo->nctx[m];
    const event_ctx *ctxs = memo->ctxs[m];
    if (nctx == 0)
        return QBT_OK; /* no atom names this job: the common miss costs one map probe */
    uint32_t name = event_name(net, ev, &memo->name_id);
    if (name == NIL32 - 1)
        return QBT_ENOMEM;
    if (name == NIL32)
        return QBT_OK;
    uint32_t extra = event_extra(net, ev);
    bool star = ev->type == T_WORK || ev->type == T_SUBJOB || ev->type == T_HOST;
    bool done = IS_TERMINAL(name);
    /* In apply_event's order: (name, extra), (name, *), (done, extra), (done, *); each through the
     * contexts whose counters allow it, and the key filter. */
    uint32_t keys[4][2] = {{name, extra}, {name, STR_STAR}, {STR_DONE, extra}, {STR_DONE, STR_STAR}};
    bool wanted[4] = {extra != NIL32, star, done && extra != NIL32, done && star};
    for (int k = 0; k < 4; k++) {
        if (!wanted[k])
            continue;
        uint32_t kname = keys[k][0], kextra = keys[k][1], nametype = NAMETYPE(kname, ev->type);
        for (int i = 0; i < nctx; i++) {
            const ctx_counts *c = ctxs[i].counts;
            if (c && ((kextra == STR_STAR && !c->n_star) || (kname == STR_DONE && !c->n_done)))
                continue;
            uint32_t hash = alpha_hash(nametype, ctxs[i].ctx, kextra);
            if (!alpha_maybe(net, hash))
                continue;
            event_key *key = &out->key[out->n++];
            key->nametype = nametype;
            key->ctx = ctxs[i].ctx;
            key->extra = kextra;
            key->hash = hash;
            __builtin_prefetch(&net->alpha[alpha_home(hash, cap)]);
        }
    }
    return QBT_OK;
}

/* Looks up an event's collected keys (their home slots prefetched LOOKAHEAD events ago) and appends
 * the slots of those that exist to net->hits. */
static qbt_status find_keys(qbt_net *net, const pending_event *p, size_t event) {
    if (net->nhits + p->n > net->hits_cap) {
        void *arr = net->hits;
        qbt_status st = qbt_grow(&arr, &net->hits_cap, net->nhits + p->n, sizeof(uint32_t));
        net->hits = arr;
        if (st != QBT_OK)
            return st;
    }
    for (uint32_t k = 0; k < p->n; k++) {
        const event_key *key = &p->key[k];
        uint32_t slot = alpha_find_hashed(net, key->hash, key->nametype, key->ctx, key->extra);
        if (slot != NIL32)
            net->hits[net->nhits++] = slot;
    }
    if (net->nhits > UINT32_MAX)
        return QBT_ETOO_LARGE;
    net->hit_ends[event] = (uint32_t)net->nhits;
    return QBT_OK;
}

/* The alpha slot of an event's first key found, NIL32 if none (a prefetching hint). */
static inline uint32_t first_slot(const qbt_net *net, size_t event) {
    size_t k = event ? net->hit_ends[event - 1] : 0;
    return k < net->hit_ends[event] ? net->hits[k] : NIL32;
}

/* The pipeline of the opening comment. Not state-aware only: collect_keys says why looking keys up
 * ahead is safe there. State-aware, applying an event may intern strings, so each event is parsed
 * again when it is applied, and applied as by qbt_feed. */
qbt_status qbt_feed_many(qbt_net *net, const char *const *events, const size_t *lens, size_t n) {
    bool state_aware = net->state_aware;
    qbt_status st = QBT_OK;
    if (!state_aware) {
        void *arr = net->hit_ends;
        st = qbt_grow(&arr, &net->hit_ends_cap, n, sizeof(uint32_t));
        net->hit_ends = arr;
        if (st != QBT_OK)
            return st;
    }
    net->nhits = 0;
    parsed_event ev;
    pending_event ring[RING];
    batch_memo memo;
    memset(memo.job, 0xff, sizeof memo.job);
    memo.name_id = NIL32;
    for (size_t i = 0; i < n; i++) {
        if (i + STRING_AHEAD < n)
            __builtin_prefetch(events[i + STRING_AHEAD]); /* event strings are scattered objects */
        if ((st = qbt_parse_event(events[i], lens[i], (long long)i, &ev, &net->err)) != QBT_OK)
            return st;
        if (state_aware)
            continue;
        if ((st = collect_keys(net, &ev, &memo, &ring[i % RING])) != QBT_OK)
            return st;
        if (i >= LOOKAHEAD && (st = find_keys(net, &ring[(i - LOOKAHEAD) % RING], i - LOOKAHEAD)) != QBT_OK)
            return st;
    }
    for (size_t j = n > LOOKAHEAD ? n - LOOKAHEAD : 0; !state_aware && j < n; j++)
        if ((st = find_keys(net, &ring[j % RING], j)) != QBT_OK)
            return st;
    net->out_len = 0;
    if (state_aware) {
        for (size_t i = 0; i < n && st == QBT_OK; i++) {
            qbt_parse_event(events[i], lens[i], (long long)i, &ev, &net->err); /* parsed above */
            st = apply_event(net, &ev, i);
        }
        return st;
    }
    bool prefetch = net->alpha_cap * sizeof(alpha_slot) + net->nchunks * CHUNK_WORDS * 4 > PREFETCH_ABOVE_BYTES;
    const uint32_t *hits = net->hits;
    size_t k = 0;
    for (size_t i = 0; i < n && st == QBT_OK; i++) {
        if (prefetch) {
            size_t far = i + APPLY_AHEAD, near = i + APPLY_AHEAD / 2, next = i + APPLY_AHEAD / 5;
            uint32_t slot = far < n ? first_slot(net, far) : NIL32;
            if (slot != NIL32)
                __builtin_prefetch(&net->alpha[slot]);
            slot = near < n ? first_slot(net, near) : NIL32;
            if (slot != NIL32 && net->alpha[slot].head)
                __builtin_prefetch(word_at(net, net->alpha[slot].head));
            slot = next < n ? first_slot(net, next) : NIL32;
            if (slot != NIL32 && net->alpha[slot].head) {
                /* Its first latch has arrived: fetch its block's header and the next latch. */
                uint32_t head = net->alpha[slot].head;
                const latch_t *l = latch_at(net, head);
                __builtin_prefetch(cb_at(net, block_of_latch(l, head)));
                if (l->next & NEXT_MASK)
                    __builtin_prefetch(word_at(net, l->next & NEXT_MASK));
            }
        }
        for (size_t end = net->hit_ends[i]; k < end; k++)
            set_all(net, hits[k]); /* a slot freed since holds no latch */
        st = fire(net, i, false);
    }
    return st;
}

qbt_status qbt_advance(qbt_net *net, uint64_t now) {
    if (now < net->clock)
        return QBT_ECLOCK;
    net->out_len = 0;
    qbt_status st = QBT_OK;
    while (net->heap_len && net->heap[0].due <= now) {
        uint64_t t = net->heap[0].due;
        while (net->heap_len && net->heap[0].due == t) {
            uint32_t a = heap_pop(net);
            alpha_slot *e = &net->alpha[a];
            if (!e->head) {
                net->alpha_waiting--;
                alpha_release(net, a);
                continue;
            }
            set_all(net, a);
            int type = (int)NT_TYPE(e->nametype);
            if (type == T_REPEAT || type == T_GLOBALREPEAT) {
                char digits[NUMBER_TEXT_MAX];
                size_t len;
                const char *text = extra_text(&net->strings, e->extra, digits, &len);
                uint64_t start, interval;
                if (qbt_parse_repeat(text, len, &start, &interval) && t <= UINT64_MAX - interval)
                    heap_push(net, t + interval, a);
            }
        }
        net->clock = t;
        qbt_status fired = fire(net, t, false);
        if (st == QBT_OK)
            st = fired;
    }
    net->clock = now;
    return st;
}

/* The heap holds one entry per time atom key, at its next moment after the clock (qbt_advance pops
 * every moment it applies, pushing a repeat's next one), so the top is the answer once the entries
 * no latch waits on are gone from it. Dropping those here, as qbt_advance would when it reaches
 * them, changes nothing it does: a key registered again before that moment gets a new entry due
 * at the same moment (the first one after the clock) that the dropped one was. */
uint64_t qbt_next_due(qbt_net *net, int repeats) {
    while (net->heap_len && !net->alpha[net->heap[0].alpha].head) {
        uint32_t a = heap_pop(net);
        net->alpha_waiting--;
        alpha_release(net, a);
    }
    if (repeats)
        return net->heap_len ? net->heap[0].due : 0;
    uint64_t best = 0;
    for (size_t i = 0; i < net->heap_len; i++) {
        const alpha_slot *e = &net->alpha[net->heap[i].alpha];
        int type = (int)NT_TYPE(e->nametype);
        if (e->head && (type == T_TIME || type == T_GLOBALTIME) && (best == 0 || net->heap[i].due < best))
            best = net->heap[i].due;
    }
    return best;
}

static void forget_catch_up(qbt_net *net) {
    for (size_t i = 0; i < net->ncatchup; i++)
        extra_decref(&net->strings, net->catchup[i].extra);
    net->ncatchup = 0;
}

qbt_status qbt_drain_catch_up(qbt_net *net) {
    qbt_status st = out_reserve(net, net->ncatchup);
    if (st != QBT_OK)
        return st;
    for (size_t i = 0; i < net->ncatchup; i++) {
        net->out[i].key = 0;
        net->out[i].handle = net->catchup[i].handle;
    }
    net->out_len = net->ncatchup;
    forget_catch_up(net);
    return QBT_OK;
}

/* The texts of the extras are copied (a number, a time, or an interned string whose reference the
 * queue gives up), one after the other, and pointed at once all are in place. */
qbt_status qbt_drain_catch_up_events(qbt_net *net, const qbt_catch_up_event **events, size_t *count) {
    size_t n = net->ncatchup;
    void *arr = net->drained;
    qbt_status st = qbt_grow(&arr, &net->drained_cap, n, sizeof(qbt_catch_up_event));
    net->drained = arr;
    error_buf *text = &net->drained_text;
    text->len = 0;
    for (size_t i = 0; i < n && st == QBT_OK; i++) {
        const catchup_entry *e = &net->catchup[i];
        qbt_catch_up_event *out = &net->drained[i];
        out->handle = e->handle;
        out->extra_len = 0;
        if (e->type == T_GLOBALTIME) {
            out->name = "dummy";
            out->name_len = 5;
            out->jobid = QBT_NO_JOB;
            size_t start = text->len;
            st = sb_putu(text, e->time);
            out->extra_len = text->len - start;
        } else {
            const intern_entry *state = &net->strings.entries[e->state];
            out->name = state->text;
            out->name_len = state->len;
            out->jobid = e->job;
            if (e->extra != STR_NONE) {
                char digits[NUMBER_TEXT_MAX];
                const char *extra = extra_text(&net->strings, e->extra, digits, &out->extra_len);
                st = sb_put(text, extra, out->extra_len);
            }
        }
        out->type = qbt_type_name(e->type, &out->type_len);
    }
    if (st != QBT_OK)
        return st;
    size_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const catchup_entry *e = &net->catchup[i];
        qbt_catch_up_event *out = &net->drained[i];
        bool has_extra = e->type == T_GLOBALTIME || e->extra != STR_NONE;
        out->extra = has_extra ? text->text + offset : NULL;
        offset += out->extra_len;
    }
    forget_catch_up(net);
    *events = net->drained;
    *count = n;
    return QBT_OK;
}

/* ------------------------------------------------------------------ introspection */

static qbt_status atom_text(const qbt_net *net, uint32_t block, uint32_t i, error_buf *b) {
    const latch_t *l = latch_at(net, latch_off(block, i));
    uint32_t kind = l->next >> KIND_SHIFT;
    uint32_t p = l->prev;
    while (!(p & ALPHA_TAG))
        p = latch_at(net, p)->prev;
    const alpha_slot *e = &net->alpha[p & ~ALPHA_TAG];
    const intern_entry *name = &net->strings.entries[NT_NAME(e->nametype)];
    size_t type_len;
    const char *type = qbt_type_name((int)NT_TYPE(e->nametype), &type_len);
    b->len = 0;
    qbt_status st = sb_put(b, name->text, name->len);
    if (st == QBT_OK && (st = sb_puts(b, "-")) == QBT_OK)
        st = sb_put(b, type, type_len);
    if (st == QBT_OK && e->ctx != GLOBAL_CTX) {
        st = sb_puts(b, "-");
        if (st != QBT_OK)
            return st;
        if (IS_LABEL_CTX(e->ctx)) {
            const intern_entry *label = &net->strings.entries[(uint32_t)net->refs[e->ctx & ~LABEL_BIT].key];
            st = sb_put(b, label->text, label->len);
        } else if (kind == CTX_SELF) {
            st = sb_puts(b, "self");
        } else if (kind == CTX_PARENT) {
            st = sb_puts(b, "parent");
        } else {
            st = sb_putu(b, e->ctx);
        }
    }
    if (st == QBT_OK && e->extra != STR_NONE) {
        char digits[NUMBER_TEXT_MAX];
        size_t len;
        const char *extra = extra_text(&net->strings, e->extra, digits, &len);
        if ((st = sb_puts(b, "-")) == QBT_OK)
            st = sb_put(b, extra, len);
    }
    return st;
}

qbt_status qbt_why_not(qbt_net *net, uint64_t handle, qbt_atom_visitor visit, void *ctx) {
    uint32_t block = handle_block(net, handle);
    if (!block)
        return QBT_EUNKNOWN_HANDLE;
    error_buf text = {0};
    qbt_status st = QBT_OK;
    uint32_t nlatch = cb_at(net, block)->nlatch;
    for (uint32_t i = 0; i < nlatch && st == QBT_OK; i++) {
        st = atom_text(net, block, i, &text);
        int latched = latch_at(net, latch_off(block, i))->index_set & 1;
        if (st == QBT_OK && visit(ctx, text.text, text.len, latched) != 0)
            st = QBT_ENOMEM;
    }
    qbt_mfree(text.text);
    return st;
}

qbt_status qbt_callback_info(const qbt_net *net, uint64_t handle, uint32_t *owner, uint32_t *count) {
    uint32_t block = handle_block(net, handle);
    if (!block)
        return QBT_EUNKNOWN_HANDLE;
    const cb_t *cb = cb_at(net, block);
    *owner = net->jobs[cb->owner].id;
    *count = cb->count;
    return QBT_OK;
}

int qbt_has_callback(const qbt_net *net, uint64_t handle) { return handle_block(net, handle) != 0; }
int qbt_has_job(const qbt_net *net, uint32_t jobid) { return find_job(net, jobid, NULL) != NULL; }

void qbt_get_stats(const qbt_net *net, qbt_stats *out) {
    const intern_table *t = &net->strings;
    size_t maps = net->free_large.cap + net->hpage_index.cap + net->ref_index.cap + net->ctx_index.cap +
                  net->label_index.cap + net->state_index.cap + net->state_heads.cap;
    size_t live_pages = 0;
    for (size_t i = 0; i < net->hpages_len; i++)
        live_pages += net->hpages[i] != NULL;
    out->callbacks = net->ncallbacks;
    out->atoms = net->nlatches;
    out->alpha_entries = net->alpha_live - net->alpha_waiting;
    out->jobs = net->njobs;
    out->bytes = sizeof *net + ((net->nchunks - 1) * CHUNK_WORDS + net->chunk_cap) * sizeof(uint32_t) +
                 maps * sizeof(u64map_slot) +
                 live_pages * sizeof(hpage) + net->hpages_cap * sizeof(hpage *) +
                 net->alpha_cap * sizeof(alpha_slot) + (net->alpha_filter ? net->filter_mask / 8 + 1 : 0) +
                 t->cap * sizeof(intern_entry) +
                 t->slot_cap * sizeof(uint32_t) + t->text_bytes + net->refs_cap * sizeof(labelref) +
                 net->jobs_cap * sizeof(job_t) + net->ctxs_cap * sizeof(ctx_t) + net->states_cap * sizeof(state_t) +
                 net->heap_cap * sizeof(heap_item) + net->fired_cap * sizeof(uint32_t) +
                 net->out_cap * sizeof(qbt_firing) + net->catchup_cap * sizeof(catchup_entry) +
                 net->drained_cap * sizeof(qbt_catch_up_event) + net->drained_text.cap +
                 net->scratch.atoms_cap * sizeof(tmp_atom) + net->scratch.nodes_cap * sizeof(tmp_node) +
                 net->scratch.operands_cap * sizeof(uint32_t) + net->hits_cap * sizeof(uint32_t) +
                 net->hit_ends_cap * sizeof(uint32_t) +
                 net->taken_cap * sizeof(uint32_t) + net->lower_cap + net->err.cap;
}
