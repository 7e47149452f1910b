/*
 * feed.c: events (qbt_feed, qbt_feed_many, SPEC §4.1) and, in state-aware networks, the item
 * states they set (SPEC §5).
 *
 * Cost of an event: one map probe for its job's context counters, then at most eight alpha probes
 * (name/done x extra/'*' x job id/label), skipped where the counters say no such key exists or the
 * key filter (net.h) says no entry has its hash; then setting the latches found, and firing
 * (latch.c). An event for a job no atom names costs the one map probe; a name or extra no atom uses
 * is not in the intern table, which says as much. Nothing here is proportional to the number of
 * registered callbacks.
 *
 * State-aware: a state event records its item's state (one entry per item, chained per job for
 * qbt_remove_job) before its latches are set; leaving a state retracts, through the same probes,
 * the latches of atoms naming the item with the old state (and `done` ones, on leaving the terminal
 * states).
 *
 * A batch (qbt_feed_many) is a pipeline, so that the memory an event needs is on its way before it
 * is needed: every event is parsed and its keys collected (their home slots prefetched) and looked
 * up LOOKAHEAD events later, before any event is applied (which is also what keeps a malformed
 * event from applying any); applying is then setting the latches of the slots found and firing,
 * with the slots, latches and blocks of later hits prefetched (APPLY_AHEAD). State-aware
 * networks apply each event as qbt_feed does, since applying one may intern a string.
 */
#include "net.h"

#include <stdlib.h>
#include <string.h>

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
    bool stray = false; /* a new item of a job id that is not an added job: capped */
    if (entry == NIL32 && !find_job(net, ev->job, NULL)) {
        if (net->stray_states >= QBT_MAX_STRAY_STATES) {
            *old = STR_NONE; /* not recorded: nothing to retract, nothing for catch-up */
            return QBT_OK;
        }
        stray = true;
    }
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
        net->stray_states += stray;
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
/* Applying prefetches along the hits, at these distances: the alpha slot of hit k + 16, then its
 * first latch at k + 8, then that latch's block header and next latch at k + 3 (each step reads
 * what the one before fetched). Same-run A/B of the C driver against per-event prefetching on big
 * networks only: CPU -11% at 1k, -6% at 10k, even at 100k, -4% at 1M. `hits` keeps APPLY_AHEAD
 * entries of room past its last hit, padded with a real slot so that the loop needs no bounds. */
#define APPLY_AHEAD 16
#define LATCH_AHEAD 8
#define BLOCK_AHEAD 3
#define STRING_AHEAD 4 /* events between prefetching an event's text and parsing it */
#define CTX_MEMO 256 /* job ids whose contexts a batch remembers (at most; fewer for a small batch) */

/* The keys of one event, from parsing to lookup (their home slots prefetched). */
typedef struct {
    event_key key[8];
    uint32_t n;
} pending_event;

/* What events of a batch share, remembered while its keys are collected (nothing changes then):
 * the contexts of recent job ids (direct-mapped) and the last name found (id and text: an event
 * that starts with that text and a hyphen has that name, valid, with no scan and no lookup). */
typedef struct {
    uint32_t job[CTX_MEMO]; /* NIL32: empty (never a job id) */
    uint32_t mask; /* entries in use, less one: a power of two up to CTX_MEMO */
    int nctx[CTX_MEMO];
    event_ctx ctxs[CTX_MEMO][2];
    uint32_t name_id; /* event_name's memo */
    const char *name_text; /* the interned text of name_id, NULL: none */
    size_t name_len;
} batch_memo;

/* Appends one key (name and type, context, extra) to the event's keys if the key filter allows it,
 * and prefetches its home slot. */
QBT_ALWAYS_INLINE void add_key(const qbt_net *net, pending_event *out, uint32_t nametype, uint32_t ctx, uint32_t extra) {
    uint32_t hash = alpha_hash(nametype, ctx, extra);
    if (!alpha_maybe(net, hash))
        return;
    event_key *key = &out->key[out->n++];
    key->nametype = nametype;
    key->ctx = ctx;
    key->extra = extra;
    key->hash = hash;
    __builtin_prefetch(&net->alpha[alpha_home(hash, net->alpha_cap)]);
}

/* Collects the alpha keys an event sets, filtered as apply_event's probes are, and prefetches their
 * home slots. Only where applying events interns nothing and creates no alpha entry, context or
 * label reference (not state-aware): then what is found now still holds when the event is applied,
 * except that an entry may have gone with its last latch, which leaves its slot a tombstone with no
 * latch (slots do not move between registrations). A string id found now still means the same
 * string, and one not found stays unknown. */
static qbt_status collect_keys(qbt_net *net, const parsed_event *ev, bool known_name, batch_memo *memo,
                               pending_event *out) {
    out->n = 0;
    if (net->alpha_cap == 0)
        return QBT_OK;
    size_t m = ((ev->job * 0x9E3779B1u) >> 24) & memo->mask; /* jobs of a farm are runs of ids */
    if (memo->job[m] != ev->job || ev->job == NIL32) {
        memo->nctx[m] = event_contexts(net, ev, memo->ctxs[m]);
        memo->job[m] = ev->job;
    }
    int nctx = memo->nctx[m];
    const event_ctx *ctxs = memo->ctxs[m];
    if (nctx == 0)
        return QBT_OK; /* no atom names this job: the common miss costs one map probe */
    uint32_t name = known_name ? memo->name_id : event_name(net, ev, &memo->name_id);
    if (name == NIL32 - 1)
        return QBT_ENOMEM;
    if (name == NIL32)
        return QBT_OK;
    uint32_t extra = event_extra(net, ev);
    bool star = ev->type == T_WORK || ev->type == T_SUBJOB || ev->type == T_HOST;
    bool done = IS_TERMINAL(name);
    uint32_t nametype = NAMETYPE(name, ev->type), done_nametype = NAMETYPE(STR_DONE, ev->type);
    /* Per context, the keys apply_event probes: (name, extra), (name, *), (done, extra), (done, *),
     * where the context's counters allow them (a global context has none), and the key filter. The
     * order of an event's keys does not matter: the callbacks it completes fire in handle order. */
    for (int i = 0; i < nctx; i++) {
        uint32_t ctx = ctxs[i].ctx;
        const ctx_counts *c = ctxs[i].counts;
        bool ctx_star = star && (!c || c->n_star), ctx_done = done && (!c || c->n_done);
        if (extra != NIL32)
            add_key(net, out, nametype, ctx, extra);
        if (ctx_star)
            add_key(net, out, nametype, ctx, STR_STAR);
        if (ctx_done && extra != NIL32)
            add_key(net, out, done_nametype, ctx, extra);
        if (ctx_done && ctx_star)
            add_key(net, out, done_nametype, ctx, STR_STAR);
    }
    return QBT_OK;
}

/* Looks up an event's collected keys (their home slots prefetched LOOKAHEAD events ago) and appends
 * the slots of those that exist, with latches, to net->hits. An entry with no latch gets none
 * during the batch (only registering adds latches); one may lose its latches (a callback removed
 * at its maximum), which applying sees in its slot. Slots only, four bytes a hit: in a first batch
 * every byte written here is a fresh page to fault in. */
QBT_ALWAYS_INLINE qbt_status find_keys(qbt_net *net, const pending_event *p, size_t event) {
    if (net->nhits + p->n + APPLY_AHEAD > net->hits_cap) {
        void *arr = net->hits;
        qbt_status st = qbt_grow(&arr, &net->hits_cap, net->nhits + p->n + APPLY_AHEAD, sizeof(uint32_t));
        net->hits = arr;
        if (st != QBT_OK)
            return st;
    }
    size_t first = net->nhits;
    for (uint32_t k = 0; k < p->n; k++) {
        const event_key *key = &p->key[k];
        uint32_t slot = alpha_find_hashed(net, key->hash, key->nametype, key->ctx, key->extra);
        if (slot != NIL32 && net->alpha[slot].head)
            net->hits[net->nhits++] = slot;
    }
    net->hit_counts[event] = (uint8_t)(net->nhits - first); /* at most 8, like the keys */
    return QBT_OK;
}

/* The pipeline of the opening comment. Not state-aware only: collect_keys says why looking keys up
 * ahead is safe there. State-aware, applying an event may intern strings, so each event is parsed
 * again when it is applied, and applied as by qbt_feed. */
qbt_status qbt_feed_many(qbt_net *net, const char *const *events, const size_t *lens, size_t n) {
    bool state_aware = net->state_aware;
    qbt_status st = QBT_OK;
    if (!state_aware) {
        void *arr = net->hit_counts;
        st = qbt_grow(&arr, &net->hit_counts_cap, n, 1);
        net->hit_counts = arr;
        if (st != QBT_OK)
            return st;
    }
    net->nhits = 0;
    if (!state_aware && n <= SIZE_MAX / 3) {
        /* Room for 1.5 hits per event (a farm's events have ~1.35), so that a first big batch does
         * not grow the array through a chain of copies, each a run of fresh pages to fault in. A
         * hint: running out of memory here is not an error (find_keys grows it as needed). */
        void *arr = net->hits;
        if (qbt_grow(&arr, &net->hits_cap, n + n / 2 + APPLY_AHEAD, sizeof(uint32_t)) == QBT_OK)
            net->hits = arr;
    }
    parsed_event ev;
    pending_event ring[RING];
    batch_memo memo;
    memo.mask = 15;
    while (memo.mask < CTX_MEMO - 1 && memo.mask < n)
        memo.mask = memo.mask * 2 + 1;
    memset(memo.job, 0xff, (memo.mask + 1) * sizeof memo.job[0]);
    memo.name_id = NIL32;
    memo.name_text = NULL;
    memo.name_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + STRING_AHEAD < n)
            __builtin_prefetch(events[i + STRING_AHEAD]); /* event strings are scattered objects */
        const char *text = events[i];
        size_t len = lens[i];
        /* The last name again (its text is a valid lower-case name): no scan, no lookup. */
        bool known = memo.name_len && memo.name_len < len && text[memo.name_len] == '-' &&
                     same_bytes(text, memo.name_text, memo.name_len) &&
                     qbt_parse_event_after(text, len, memo.name_len, &ev);
        if (!known && !qbt_parse_event_fast(text, len, &ev) &&
            (st = qbt_parse_event(text, len, (long long)i, &ev, &net->err)) != QBT_OK)
            return st;
        if (state_aware)
            continue;
        if ((st = collect_keys(net, &ev, known, &memo, &ring[i % RING])) != QBT_OK)
            return st;
        if (!known && memo.name_id != NIL32 && !ev.name_upper) {
            const intern_entry *e = &net->strings.entries[memo.name_id];
            memo.name_text = e->text;
            memo.name_len = e->len;
        }
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
    /* Room for one firing per hit, which is about what a farm's events fire, in one step rather
     * than a chain of copies: a hint, so running out of memory here is not an error (out_reserve
     * says so at a firing that finds no room). */
    (void)out_reserve(net, net->nhits);
    size_t nhits = net->nhits;
    if (nhits == 0)
        return QBT_OK; /* no latch to set: nothing fires */
    uint32_t *hits = net->hits;
    for (size_t k = nhits; k < nhits + APPLY_AHEAD; k++)
        hits[k] = hits[nhits - 1]; /* a real slot, so the prefetching needs no bound check */
    size_t k = 0;
    for (size_t i = 0; i < n && st == QBT_OK; i++) {
        for (size_t end = k + net->hit_counts[i]; k < end; k++) {
            __builtin_prefetch(&net->alpha[hits[k + APPLY_AHEAD]]);
            uint32_t head = net->alpha[hits[k + LATCH_AHEAD]].head;
            if (head)
                __builtin_prefetch(word_at(net, head));
            head = net->alpha[hits[k + BLOCK_AHEAD]].head;
            if (head) {
                latch_t *l = latch_at(net, head);
                __builtin_prefetch(cb_of_latch(l));
                if (l->next & NEXT_MASK)
                    __builtin_prefetch(word_at(net, l->next & NEXT_MASK));
            }
            set_all(net, hits[k]); /* a callback removed since may have changed the entry's latches */
        }
        if (net->nfired)
            st = fire(net, i, false);
    }
    return st;
}
