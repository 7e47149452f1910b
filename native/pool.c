/*
 * pool.c: memory for callback blocks and the handle table.
 *
 * The pool is a list of 1 MiB chunks of 32-bit words: it grows without copying and without slack,
 * and a block never straddles two chunks. Freed blocks go on free lists by exact size (an array
 * for small sizes, a map for large ones). Handles are 1, 2, 3, ... and map to blocks through
 * pages of 1024 slots, freed with their last callback, so the table stays flat under churn.
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

static uint32_t free_block_of(const qbt_net *net, size_t words) {
    if (words < SMALL_CLASSES)
        return net->free_small[words];
    uint32_t head = u64map_get(&net->free_large, words);
    return head == NIL32 ? 0 : head;
}

qbt_status block_reserve(qbt_net *net, size_t words) {
    if (free_block_of(net, words))
        return QBT_OK;
    /* Room in the free-list map now, so that freeing this block later cannot fail. */
    qbt_status st = words >= SMALL_CLASSES ? u64map_reserve(&net->free_large, 1) : QBT_OK;
    size_t need = net->chunk_used + words;
    if (st != QBT_OK || need <= net->chunk_cap)
        return st;
    if (need <= CHUNK_WORDS) {
        size_t cap = net->chunk_cap * 2 < need ? need : net->chunk_cap * 2;
        cap = cap > CHUNK_WORDS ? CHUNK_WORDS : cap;
        uint32_t *grown = qbt_realloc(net->chunks[net->nchunks - 1], cap * sizeof(uint32_t));
        if (!grown)
            return QBT_ENOMEM;
        net->chunks[net->nchunks - 1] = grown;
        net->chunk_cap = cap;
        return QBT_OK;
    }
    if (net->nchunks == MAX_CHUNKS)
        return QBT_ETOO_LARGE;
    uint32_t *chunk = qbt_malloc(CHUNK_WORDS * sizeof(uint32_t));
    if (!chunk)
        return QBT_ENOMEM;
    net->chunks[net->nchunks++] = chunk;
    net->chunk_used = 0;
    net->chunk_cap = CHUNK_WORDS;
    return QBT_OK;
}

uint32_t block_take(qbt_net *net, size_t words) {
    uint32_t block = free_block_of(net, words);
    if (block) {
        uint32_t next = *word_at(net, block);
        if (words < SMALL_CLASSES)
            net->free_small[words] = next;
        else if (next)
            u64map_put(&net->free_large, words, next);
        else
            u64map_del(&net->free_large, words);
        return block;
    }
    block = (uint32_t)(((net->nchunks - 1) << CHUNK_BITS) | net->chunk_used);
    net->chunk_used += words;
    return block;
}

void block_give(qbt_net *net, uint32_t block, size_t words) {
    if (words < SMALL_CLASSES) {
        *word_at(net, block) = net->free_small[words];
        net->free_small[words] = block;
        return;
    }
    uint32_t old = u64map_get(&net->free_large, words);
    *word_at(net, block) = old == NIL32 ? 0 : old;
    /* Room was reserved when a block of a new size was carved; if the map cannot grow the block
     * is simply not reused. */
    if (u64map_reserve(&net->free_large, 1) == QBT_OK)
        u64map_put(&net->free_large, words, block);
}

/* ------------------------------------------------------------------ handles */

uint32_t handle_block(const qbt_net *net, uint64_t handle) {
    uint32_t page = u64map_get(&net->hpage_index, handle >> HPAGE_BITS);
    if (page == NIL32)
        return 0;
    return net->hpages[page]->block[handle & (HPAGE_SLOTS - 1)];
}

/* Makes sure the page of the next handle exists. */
qbt_status handle_reserve(qbt_net *net) {
    uint64_t key = net->next_handle >> HPAGE_BITS;
    if (u64map_get(&net->hpage_index, key) != NIL32)
        return QBT_OK;
    size_t slot = 0;
    while (slot < net->hpages_len && net->hpages[slot])
        slot++;
    void *arr = net->hpages;
    qbt_status st = qbt_grow(&arr, &net->hpages_cap, slot + 1, sizeof(hpage *));
    net->hpages = arr;
    if (st == QBT_OK)
        st = u64map_reserve(&net->hpage_index, 1);
    if (st != QBT_OK)
        return st;
    hpage *page = qbt_malloc(sizeof *page);
    if (!page)
        return QBT_ENOMEM;
    memset(page, 0, sizeof *page);
    if (slot == net->hpages_len)
        net->hpages_len++;
    net->hpages[slot] = page;
    u64map_put(&net->hpage_index, key, (uint32_t)slot);
    return QBT_OK;
}

void handle_set(qbt_net *net, uint64_t handle, uint32_t block) {
    hpage *page = net->hpages[u64map_get(&net->hpage_index, handle >> HPAGE_BITS)];
    page->block[handle & (HPAGE_SLOTS - 1)] = block;
    page->live++;
}

void handle_clear(qbt_net *net, uint64_t handle) {
    uint64_t key = handle >> HPAGE_BITS;
    uint32_t slot = u64map_get(&net->hpage_index, key);
    hpage *page = net->hpages[slot];
    page->block[handle & (HPAGE_SLOTS - 1)] = 0;
    /* The page of the next handle stays: it is about to be used. */
    if (--page->live == 0 && key != net->next_handle >> HPAGE_BITS) {
        u64map_del(&net->hpage_index, key);
        qbt_mfree(page);
        net->hpages[slot] = NULL;
    }
}
