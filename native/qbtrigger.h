/*
 * qbtrigger.h: the matcher core, embeddable from C or C++ (no Python.h anywhere in native/).
 *
 * A qbt_net holds jobs, callbacks (trigger expressions compiled to small AND/OR trees) and one
 * shared alpha index: a hash table from an atom key (name, type, context, extra) to the list of
 * latches waiting on it. Feeding an event probes at most eight keys (its name and `done`, its
 * extra and `*`, its job id and its job's label), skipping keys that per-context counters or a
 * filter of the keys say cannot exist, and touches only the latches found there, so the cost of
 * an event does not depend on how many callbacks are registered.
 *
 * Semantics are those of docs/semantics.md; the Python twin (python/qbtrigger/_pure.py) is the
 * executable reference and the test suite checks that both agree on every generated case.
 *
 * Conventions
 *  - Every function returns a qbt_status. On anything but QBT_OK the network is exactly as it was
 *    before the call (registration reserves all memory it needs before it changes anything),
 *    with one exception: QBT_ENOMEM while an event is being applied (feed, feed_many, advance)
 *    leaves the events before it applied and that event possibly in part; callbacks it completed
 *    but could not report re-arm uncounted. The network stays consistent and usable.
 *  - Strings are (pointer, length) pairs of UTF-8 and may contain NUL bytes.
 *  - Results of feed/advance/drain go to an output buffer owned by the network, valid until the
 *    next call that changes the network: qbt_output() returns it.
 *  - Error details (message text, column, index) are kept until the next failing call:
 *    qbt_error_message(), qbt_error_column(), qbt_error_index().
 *  - Not thread-safe: one network, one thread at a time (the caller serialises the calls on one
 *    network, output reading included; separate networks need nothing). The Python wrapper holds
 *    a lock per network and releases the GIL around qbt_feed_many and qbt_add_many.
 *
 * Stability (libqbtrigger, built by native/Makefile; docs/embedding.md): everything declared in
 * this header is the library's API, kept source- and binary-compatible within a major version
 * (QBT_VERSION_MAJOR): existing functions, types and enum values keep their meaning; a minor
 * version may add functions, append status codes (treat an unknown one as an error) and append
 * fields at the end of qbt_stats. The snapshot format is versioned on its own
 * (QBT_SNAPSHOT_VERSION): a library reads every version up to its own and refuses newer ones.
 * Nothing else in native/ is API: internal.h and net.h change freely, and the shared library
 * exports only what is declared here.
 */
#ifndef QBTRIGGER_H
#define QBTRIGGER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QBT_VERSION_MAJOR 0
#define QBT_VERSION_MINOR 1
#define QBT_VERSION_PATCH 0
#define QBT_VERSION_STRING "0.1.0" /* the Python package's version too (qbtrigger.__version__) */

/* The version of the library linked, QBT_VERSION_STRING when it was built. */
const char *qbt_version(void);

typedef struct qbt_net qbt_net;

typedef enum {
    QBT_OK = 0,
    QBT_ENOMEM,          /* out of memory */
    QBT_ESYNTAX,         /* bad trigger expression: message, column, index of the list item */
    QBT_EEVENT,          /* malformed event string: message (and index for feed_many) */
    QBT_EUNKNOWN_JOB,    /* job id not added */
    QBT_EUNKNOWN_HANDLE, /* callback handle never issued or gone */
    QBT_EDUPLICATE_JOB,  /* add_job of a job id already added */
    QBT_EDUPLICATE_LABEL,/* label already held by another job of the pgrp: index = that job */
    QBT_ERANGE,          /* a job id, pgrp or pid outside 0..QBT_MAX_JOB_ID */
    QBT_EMAXIMUM,        /* maximum 0 passed where "at least 1" is meant */
    QBT_ECLOCK,          /* advance() to a time before the clock */
    QBT_EEMPTY_LIST,     /* add() of an empty trigger list */
    QBT_ETOO_LARGE,      /* an expression with more than QBT_MAX_ATOMS atoms, or a network full */
    QBT_ESNAPSHOT        /* qbt_restore: not a snapshot, truncated, corrupted or a newer format: message */
} qbt_status;

/* Numbers in expressions and events (job ids, subjob ids, times): ASCII digits, leading zeros
 * allowed and not counted, the value at most QBT_MAX_JOB_ID (ids) or QBT_MAX_TIME (times); see
 * docs/semantics.md, "Numbers". */
#define QBT_MAX_JOB_ID 2147483647u
#define QBT_MAX_TIME ((uint64_t)1 << 62)
/* State-aware: item states kept for job ids that are not added jobs, at most; a new item of such a
 * job past it is not recorded (docs/semantics.md, "State-aware networks"). */
#define QBT_MAX_STRAY_STATES 65536u
#define QBT_MAX_DEPTH 256
#define QBT_MAX_ATOMS 32000u
#define QBT_NO_PID UINT32_MAX
#define QBT_NO_JOB UINT32_MAX

/* An entry of the output buffer: (event index or moment, callback handle). */
typedef struct {
    uint64_t key;
    uint64_t handle;
} qbt_firing;

/* A callback that state-aware catch-up fired at registration, and the event it stands for: the
 * state event of the item whose catch-up latch completed it (name: the item's state, "failed" for
 * a `done` atom on a failed item; type: "job", "work" or "subjob"; jobid: the job the atom's
 * context resolved to; extra: the work name or subjob id, NULL for a job). When a time atom whose
 * moment had passed completed it, the event is the clock's, "dummy-globaltime-T" (T: that
 * moment; jobid QBT_NO_JOB). Strings are not NUL-terminated. */
typedef struct {
    uint64_t handle;
    const char *name;
    size_t name_len;
    const char *type;
    size_t type_len;
    uint32_t jobid;
    const char *extra; /* NULL: none */
    size_t extra_len;
} qbt_catch_up_event;

typedef struct {
    size_t callbacks;     /* live callbacks */
    size_t atoms;         /* latches of live callbacks */
    size_t alpha_entries; /* distinct atom keys */
    size_t jobs;          /* added jobs */
    size_t bytes;         /* memory held by the network, capacity included */
} qbt_stats;

qbt_net *qbt_new(int state_aware); /* NULL when out of memory */
void qbt_free(qbt_net *net);

qbt_status qbt_add_job(qbt_net *net, uint32_t jobid, uint32_t pgrp, const char *label,
                       size_t label_len, uint32_t pid); /* label NULL: none; pid QBT_NO_PID: none */
qbt_status qbt_remove_job(qbt_net *net, uint32_t jobid);

/* Registers one callback whose trigger is the OR of the n expressions. maximum 0: unlimited.
 * With state_aware, catch-up firings go to a queue read by qbt_drain_catch_up(). */
qbt_status qbt_add(qbt_net *net, const char *const *exprs, const size_t *lens, size_t n,
                   uint32_t owner, uint32_t maximum, uint64_t *handle_out);
qbt_status qbt_remove(qbt_net *net, uint64_t handle);

/* One callback of qbt_add_many: qbt_add's arguments. */
typedef struct {
    const char *const *exprs;
    const size_t *lens;
    size_t n;
    uint32_t owner;
    uint32_t maximum;
} qbt_callback_spec;

/* Registers n callbacks in order, as n calls of qbt_add would; handles_out[i] gets the i-th handle.
 * Every spec is checked (owner, empty list, syntax, size) before any is registered: on
 * QBT_EUNKNOWN_JOB, QBT_EEMPTY_LIST, QBT_ESYNTAX or QBT_ETOO_LARGE from that check nothing is
 * registered and qbt_error_item() is the index of the spec at fault (with QBT_ESYNTAX,
 * qbt_error_index() is its expression's, as for qbt_add). If registering then fails (QBT_ENOMEM,
 * a full network), the first qbt_error_item() specs stay registered, each as by qbt_add. */
qbt_status qbt_add_many(qbt_net *net, const qbt_callback_spec *specs, size_t n, uint64_t *handles_out);

/* Events: output entries are (index of the event, handle); qbt_feed uses index 0. */
qbt_status qbt_feed(qbt_net *net, const char *event, size_t len);
qbt_status qbt_feed_many(qbt_net *net, const char *const *events, const size_t *lens, size_t n);
/* Moves the clock to now; output entries are (moment, handle). */
qbt_status qbt_advance(qbt_net *net, uint64_t now);
uint64_t qbt_clock(const qbt_net *net);
/* The next moment (after the clock) at which a live callback's time atom is due: the first moment
 * qbt_advance would apply. 0: none. repeats 0: one-shot atoms only (time, globaltime), a moment
 * that will come once rather than forever. O(1) amortised with repeats, O(scheduled atoms)
 * without; it may drop clock entries that no callback holds any more (as qbt_advance would). */
uint64_t qbt_next_due(qbt_net *net, int repeats);
/* Handles fired at registration (state-aware catch-up) since the last drain; output key 0. */
qbt_status qbt_drain_catch_up(qbt_net *net);
/* The same queue, drained with the event each handle stands for, in the same order: *events gets
 * an array owned by the network, valid until the next call that changes the network. */
qbt_status qbt_drain_catch_up_events(qbt_net *net, const qbt_catch_up_event **events, size_t *count);

const qbt_firing *qbt_output(const qbt_net *net, size_t *count);

/* Snapshots: the whole network (jobs, callbacks and their latches and counts, the clock, item
 * states, the catch-up queue) as bytes in the format of docs/embedding.md, which the Python twin
 * reads and writes too. qbt_snapshot allocates *data (free it with qbt_snapshot_free); it leaves
 * the network as it was. qbt_restore replaces everything in the network, its state-awareness
 * included, with the snapshot's; on any failure (QBT_ESNAPSHOT with a message, QBT_ENOMEM) the
 * network is exactly as it was. Output buffer and error details are not part of a snapshot. */
#define QBT_SNAPSHOT_VERSION 1
qbt_status qbt_snapshot(qbt_net *net, uint8_t **data, size_t *size);
void qbt_snapshot_free(uint8_t *data);
qbt_status qbt_restore(qbt_net *net, const uint8_t *data, size_t size);

/* Calls visit(ctx, text, len, latched) for each atom of the callback, in expression order.
 * A non-zero return from visit stops the walk and is passed back (as ENOMEM if not a status). */
typedef int (*qbt_atom_visitor)(void *ctx, const char *text, size_t len, int latched);
qbt_status qbt_why_not(qbt_net *net, uint64_t handle, qbt_atom_visitor visit, void *ctx);
qbt_status qbt_callback_info(const qbt_net *net, uint64_t handle, uint32_t *owner, uint32_t *count);
int qbt_has_callback(const qbt_net *net, uint64_t handle);
int qbt_has_job(const qbt_net *net, uint32_t jobid);
void qbt_get_stats(const qbt_net *net, qbt_stats *out);
int qbt_state_aware(const qbt_net *net);

const char *qbt_error_message(const qbt_net *net, size_t *len);
size_t qbt_error_column(const qbt_net *net);
uint64_t qbt_error_index(const qbt_net *net);
uint64_t qbt_error_item(const qbt_net *net); /* qbt_add_many: the spec at fault (see there) */

/* Debug builds (QBT_DEBUG): live allocation count, and a switch that makes the n-th allocation
 * from now fail (0: never), to test out-of-memory paths. Both are no-ops otherwise. */
int qbt_debug_build(void);
size_t qbt_debug_live_allocations(void);
void qbt_debug_fail_allocation(size_t nth);

#ifdef __cplusplus
}
#endif
#endif /* QBTRIGGER_H */
