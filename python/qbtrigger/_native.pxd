# Declarations of the C core (native/qbtrigger.h) for _native.pyx.
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "qbtrigger.h":
    # Called back with the GIL held (why_not runs with it), so the visitor may touch Python.
    ctypedef int (*qbt_atom_visitor)(void *ctx, const char *text, size_t len, int latched) noexcept


cdef extern from "qbtrigger.h" nogil:
    ctypedef struct qbt_net:
        pass

    ctypedef enum qbt_status:
        QBT_OK
        QBT_ENOMEM
        QBT_ESYNTAX
        QBT_EEVENT
        QBT_EUNKNOWN_JOB
        QBT_EUNKNOWN_HANDLE
        QBT_EDUPLICATE_JOB
        QBT_EDUPLICATE_LABEL
        QBT_ERANGE
        QBT_EMAXIMUM
        QBT_ECLOCK
        QBT_EEMPTY_LIST
        QBT_ETOO_LARGE
        QBT_ESNAPSHOT

    ctypedef struct qbt_firing:
        uint64_t key
        uint64_t handle

    ctypedef struct qbt_stats:
        size_t callbacks
        size_t atoms
        size_t alpha_entries
        size_t jobs
        size_t bytes

    uint32_t QBT_NO_PID
    uint32_t QBT_NO_JOB

    ctypedef struct qbt_catch_up_event:
        uint64_t handle
        const char *name
        size_t name_len
        const char *type
        size_t type_len
        uint32_t jobid
        const char *extra
        size_t extra_len

    qbt_net *qbt_new(int state_aware)
    void qbt_free(qbt_net *net)
    qbt_status qbt_add_job(qbt_net *net, uint32_t jobid, uint32_t pgrp, const char *label,
                           size_t label_len, uint32_t pid)
    qbt_status qbt_remove_job(qbt_net *net, uint32_t jobid)
    qbt_status qbt_add(qbt_net *net, const char *const *exprs, const size_t *lens, size_t n,
                       uint32_t owner, uint32_t maximum, uint64_t *handle_out)
    qbt_status qbt_remove(qbt_net *net, uint64_t handle)
    ctypedef struct qbt_callback_spec:
        const char *const *exprs
        const size_t *lens
        size_t n
        uint32_t owner
        uint32_t maximum
    qbt_status qbt_add_many(qbt_net *net, const qbt_callback_spec *specs, size_t n, uint64_t *handles_out)
    qbt_status qbt_feed(qbt_net *net, const char *event, size_t len)
    qbt_status qbt_feed_many(qbt_net *net, const char *const *events, const size_t *lens, size_t n)
    qbt_status qbt_advance(qbt_net *net, uint64_t now)
    uint64_t qbt_clock(const qbt_net *net)
    uint64_t qbt_next_due(qbt_net *net, int repeats)
    qbt_status qbt_drain_catch_up(qbt_net *net)
    qbt_status qbt_drain_catch_up_events(qbt_net *net, const qbt_catch_up_event **events, size_t *count)
    const qbt_firing *qbt_output(const qbt_net *net, size_t *count)
    qbt_status qbt_snapshot(qbt_net *net, unsigned char **data, size_t *size)
    void qbt_snapshot_free(unsigned char *data)
    qbt_status qbt_restore(qbt_net *net, const unsigned char *data, size_t size)
    qbt_status qbt_why_not(qbt_net *net, uint64_t handle, qbt_atom_visitor visit, void *ctx)
    qbt_status qbt_callback_info(const qbt_net *net, uint64_t handle, uint32_t *owner, uint32_t *count)
    int qbt_has_callback(const qbt_net *net, uint64_t handle)
    int qbt_has_job(const qbt_net *net, uint32_t jobid)
    void qbt_get_stats(const qbt_net *net, qbt_stats *out)
    int qbt_state_aware(const qbt_net *net)
    const char *qbt_error_message(const qbt_net *net, size_t *len)
    size_t qbt_error_column(const qbt_net *net)
    uint64_t qbt_error_index(const qbt_net *net)
    uint64_t qbt_error_item(const qbt_net *net)
    int qbt_debug_build()
    size_t qbt_debug_live_allocations()
    void qbt_debug_fail_allocation(size_t nth)


cdef extern from "internal.h" nogil:
    # The C core's own vocabulary tables (internal; for tests/test_vocabulary_c.py).
    enum:
        VOCAB_STATES
        VOCAB_TERMINAL_STATES
        VOCAB_TYPES
    const char *qbt_vocabulary(int table, size_t i, size_t *len)
