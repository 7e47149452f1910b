/*
 * latch.c: firing (SPEC §4.2-4.4). The callbacks an event completed are sorted into registration
 * order, counted, re-armed, and removed once they reach their maximum. Setting and clearing a
 * latch are in net.h, inline: every event and clock moment does it.
 *
 * One callback is one block of 32-bit words in the pool (pool.c):
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
 * Invariants: a node's count is the number of its true children; no root is true between events
 * (firing re-arms every callback the event completed); a latch sits in its alpha entry's list from
 * registration until its callback is removed.
 *
 * Cost: setting a latch walks up only while a node's truth flips. Firing sorts the fired blocks by
 * handle (insertion sort for the usual one or two, a heapsort past 24, no allocation), then clears
 * each one's latches and counters, a walk over its own block, which the event has just brought
 * into cache. Removing a callback unlinks each of its latches (O(1) each; an alpha entry goes with
 * its last latch) and gives its block back to the pool. Nothing here is proportional to the number
 * of registered callbacks.
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

/* Clears every latch and counter of a callback: it re-arms. */
static void clear_callback(cb_t *cb) {
    size_t nlatch = cb->nlatch, nnode = cb->nnode;
    latch_t *latches = (latch_t *)((uint32_t *)cb + CB_WORDS);
    for (size_t i = 0; i < nlatch; i++)
        latches[i].index_set &= (uint16_t)~1u;
    node_t *nodes = nodes_after(cb);
    for (size_t j = 0; j < nnode; j++)
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

void remove_callback(qbt_net *net, uint32_t block) {
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

/* Fires the callbacks collected in net->fired, in handle order, reporting each as (key, handle)
 * in the output buffer (or, for catch-up, in the catch-up queue, whose next entry catch_up has
 * filled in but for the handle). */
qbt_status fire(qbt_net *net, uint64_t key, bool catchup) {
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
    size_t nfired = net->nfired;
    for (size_t i = 0; i < nfired; i++) {
        uint32_t block = net->fired[i];
        cb_t *cb = cb_at(net, block);
        clear_callback(cb);
        if (st != QBT_OK)
            continue; /* no room to report it: it re-arms uncounted (see qbtrigger.h on ENOMEM) */
        uint64_t handle = cb_handle(cb);
        uint32_t count = ++cb->count;
        if (catchup) {
            net->catchup[net->ncatchup++].handle = handle;
        } else {
            qbt_firing *f = &net->out[net->out_len++];
            f->key = key;
            f->handle = handle;
        }
        if (cb->maximum && count >= cb->maximum)
            remove_callback(net, block);
    }
    net->nfired = 0;
    return st;
}
