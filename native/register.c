/*
 * register.c: registration (qbt_add, qbt_remove) and state-aware catch-up, with its queue.
 *
 * Registration is two-phase: parse every expression into the scratch (parse.c); take every
 * reference (name and extra strings, the job-id context or label reference: one atom_ids per atom)
 * and reserve every array it may need (block, handle slot, alpha slots, fired list, clock heap,
 * catch-up queue), undoing what was taken if anything fails; then commit, which cannot fail. So a
 * failed qbt_add leaves the network exactly as it was (tests/test_native_memory.py fails each
 * allocation in turn, on the debug build).
 *
 * Commit: an atom whose key exists joins that alpha entry's list and drops the references it took;
 * otherwise it inserts the key, which keeps them, and a time atom pushes its first moment after the
 * clock on the clock heap (network.c). A key that only lingered for the clock is taken up again.
 *
 * Catch-up (state-aware): the new callback's atoms are latched in expression order, those whose
 * item is in the atom's state now (contexts resolved now: a label only if a job holds it) and the
 * time atoms whose moment has passed, until one completes the callback. It then fires at once
 * (count, re-arm, maximum) and is queued with that atom's event: the item's job, type, state and
 * extra. The queue holds a reference on the extra, since the callback and the item's state may both
 * be gone by the drain. Both drains empty the queue; qbt_drain_catch_up_events copies the extras'
 * texts into a buffer the network owns.
 *
 * Cost: linear in the expression's length, plus one state lookup per catch-up atom; nothing here
 * depends on how many callbacks are registered.
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

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

/* Puts a committed latch (its kind already in `next`) at the head of its key's alpha entry,
 * inserting the key if it is new: the entry then keeps the atom's references (ids), which are
 * dropped otherwise. A new time key's first moment (time_atom: the atom, NULL for other types)
 * goes on the clock heap. Room in the table and the heap is reserved. */
void link_latch(qbt_net *net, uint32_t off, uint32_t hash, uint32_t nametype, const atom_ids *ids,
                const tmp_atom *time_atom) {
    QBT_ASSERT(net->alpha_cap > 0);
    uint32_t slot = alpha_find_hashed(net, hash, nametype, ids->ctx, ids->extra);
    if (slot == NIL32) {
        slot = alpha_insert(net, nametype, ids->ctx, ids->extra); /* takes the references */
        uint64_t due = time_atom ? first_due(net, time_atom) : 0;
        if (due)
            heap_push(net, due, slot);
    } else {
        drop_ids(net, ids, 1);
        if (net->alpha[slot].head == 0) /* it lingered for the clock: alive again */
            net->alpha_waiting--;
    }
    latch_t *l = latch_at(net, off);
    alpha_slot *e = &net->alpha[slot];
    l->prev = ALPHA_TAG | slot;
    l->next = (l->next & ~NEXT_MASK) | e->head;
    if (e->head)
        latch_at(net, e->head)->prev = off;
    e->head = off;
}

/* Phases 2 (reservations) and 3 (commit) of a registration whose callback is in the scratch and
 * whose atoms' references are taken (ids; ntime: its time atoms). The handle is the next one. On
 * failure the references are dropped and the network is as it was. qbt_restore (snapshot.c) fills
 * the scratch and ids from a snapshot and comes here too, with `defer`: the latches of atoms that
 * are not time atoms are then left out of the alpha index (prev 0), their references still in ids,
 * for it to link a little later with link_latch, in the same order (it prefetches their slots). */
qbt_status register_parsed(qbt_net *net, uint32_t owner_slot, uint32_t maximum, atom_ids *ids, size_t ntime,
                           bool defer, uint32_t *block_out) {
    const parse_scratch *s = &net->scratch;
    size_t natoms = s->natoms;
    /* The root is the last node built (nodes are made after their children), or a lone atom. */
    bool root_is_node = s->noperands == 1 && (s->operands[0] & 1);
    size_t nnodes = root_is_node ? s->nnodes - 1 : 0;
    void *arr;
    qbt_status st;
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
        uint32_t off = latch_off(block, i);
        latch_t *l = latch_at(net, off);
        bool under_root = a->parent == NIL32 || (root_is_node && a->parent == s->nnodes - 1);
        l->parent = under_root ? PARENT_ROOT : (uint16_t)a->parent;
        l->index_set = (uint16_t)(i << 1);
        uint32_t kind = a->ctx <= CTX_ID ? a->ctx : 0;
        l->prev = 0;
        l->next = kind << KIND_SHIFT;
        bool time = is_time_type(a->type);
        if (defer && !time)
            continue;
        uint32_t nametype = NAMETYPE(ids[i].name, a->type);
        link_latch(net, off, alpha_hash(nametype, ids[i].ctx, ids[i].extra), nametype, &ids[i], time ? a : NULL);
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
    *block_out = block;
    return QBT_OK;
}

/* Phase 1 of a registration: the owner, then every expression parsed into the scratch (joined
 * into one OR), then the size. Changes nothing but the scratch and the error details. */
static qbt_status parse_callback(qbt_net *net, const char *const *exprs, const size_t *lens, size_t n,
                                 uint32_t owner_id, uint32_t *owner_slot) {
    if (!find_job(net, owner_id, owner_slot))
        return QBT_EUNKNOWN_JOB;
    if (n == 0)
        return QBT_EEMPTY_LIST;
    parse_scratch *s = &net->scratch;
    s->natoms = s->nnodes = s->noperands = 0;
    bool has_pid = net->jobs[*owner_slot].pid != QBT_NO_PID;
    qbt_status st = QBT_OK;
    for (size_t i = 0; i < n && st == QBT_OK; i++) {
        st = qbt_parse_expr(s, exprs[i], lens[i], owner_id, has_pid, &net->err);
        net->err.index = i;
    }
    if (st == QBT_OK)
        st = qbt_parse_join(s, 0);
    if (st != QBT_OK)
        return st;
    return s->natoms > QBT_MAX_ATOMS ? QBT_ETOO_LARGE : QBT_OK;
}

qbt_status qbt_add(qbt_net *net, const char *const *exprs, const size_t *lens, size_t n, uint32_t owner_id,
                   uint32_t maximum, uint64_t *handle_out) {
    uint32_t owner_slot;
    qbt_status st = parse_callback(net, exprs, lens, n, owner_id, &owner_slot);
    if (st != QBT_OK)
        return st;
    parse_scratch *s = &net->scratch;
    size_t natoms = s->natoms;

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
    uint32_t block;
    if ((st = register_parsed(net, owner_slot, maximum, ids, ntime, false, &block)) != QBT_OK)
        return st;
    *handle_out = cb_handle(cb_at(net, block));
    if (net->state_aware) {
        catch_up(net, block, ids, &net->jobs[owner_slot]);
        fire(net, 0, true); /* room was reserved: cannot fail */
    }
    return QBT_OK;
}

/* Every spec is parsed once to check it, before any is registered, and again by qbt_add: the
 * scratch holds one callback at a time, and parsing is a small part of registering. */
qbt_status qbt_add_many(qbt_net *net, const qbt_callback_spec *specs, size_t n, uint64_t *handles_out) {
    qbt_status st = QBT_OK;
    uint32_t owner_slot;
    for (size_t i = 0; i < n; i++) {
        net->err_item = i;
        if ((st = parse_callback(net, specs[i].exprs, specs[i].lens, specs[i].n, specs[i].owner, &owner_slot)) != QBT_OK)
            return st;
    }
    for (size_t i = 0; i < n; i++) {
        net->err_item = i;
        const qbt_callback_spec *c = &specs[i];
        if ((st = qbt_add(net, c->exprs, c->lens, c->n, c->owner, c->maximum, &handles_out[i])) != QBT_OK)
            return st;
    }
    net->err_item = n;
    return QBT_OK;
}

qbt_status qbt_remove(qbt_net *net, uint64_t handle) {
    uint32_t block = handle_block(net, handle);
    if (!block)
        return QBT_EUNKNOWN_HANDLE;
    remove_callback(net, block);
    return QBT_OK;
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
