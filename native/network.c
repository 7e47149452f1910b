/*
 * network.c: a network's lifecycle, its jobs, its clock (SPEC §6) and what it tells about itself
 * (why_not, callback info, stats). The layout is in net.h; callback blocks and handles are
 * pool.c's, the alpha index alpha.c's, firing latch.c's, registration and catch-up register.c's,
 * events feed.c's.
 *
 * Jobs sit in an array with a free list. A job id finds its slot through its ctx_t (alpha.c), which
 * also counts the atoms naming that id, and a (pgrp, label) the slot of the job holding it.
 * Removing a job removes its callbacks (a list through their blocks), its items' states and its
 * label: O(its callbacks and items).
 *
 * The clock is a binary heap of (moment, alpha slot): one entry per time atom key, at its next
 * moment after the clock (INHEAP_BIT marks the slot). An entry whose last latch has gone lingers,
 * uncounted in stats, until it is popped or its key is registered again. qbt_advance pops the
 * moments up to `now` in order, applies each as one event (every key due then, then firing) and
 * pushes a repeat's next occurrence: O(log n) per key and moment. qbt_next_due peeks at the top.
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
    qbt_mfree(net->hit_counts);
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
uint64_t qbt_error_item(const qbt_net *net) { return net->err_item; }

/* ------------------------------------------------------------------ jobs */

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
    /* The states its events recorded before it was added are its own now, not strays. */
    for (uint32_t e = u64map_get(&net->state_heads, jobid); e != NIL32; e = net->states[e].next)
        net->stray_states--;
    return QBT_OK;
}

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
    if (job->ref != NIL32) { /* labelled: the empty label is interned as STR_NONE, so ask the ref */
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

void heap_push(qbt_net *net, uint64_t due, uint32_t slot) {
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
                 net->hit_counts_cap +
                 net->taken_cap * sizeof(uint32_t) + net->lower_cap + net->err.cap;
}
