# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The C core behind the Network API: the only code touching both Python objects and native/.

It converts arguments (validated by the helpers shared with the pure twin, so both raise the
same errors), calls the C core and turns its status codes into exceptions in one place,
_raise_status().

Threads (docs/semantics.md, "Threads"): the C core is one network, one thread at a time, so every
method holds the network's own lock (`_enter`/`_leave`) for its whole call, the reading of the C
core's output buffer included. The bulk entry points (feed_many, add_many) release the GIL while
the C core works on a batch of more than NOGIL_MIN items; they first copy every pointer they hand
it, and keep the objects behind them alive (feed_many and feed_batch copy the event texts
themselves), so that no other thread can pull the data from under it. A method that releases the GIL follows this pattern:

    self._enter()
    try:
        ... gather arguments (GIL held) ...
        if n > NOGIL_MIN:
            with nogil:
                status = qbt_...(self.net, ...)
        else:
            status = qbt_...(self.net, ...)
        ... read the output, raise through _raise_status ...
    finally:
        self._leave()
"""

from cpython cimport array
from cpython.list cimport PyList_New
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.pythread cimport (
    NOWAIT_LOCK,
    WAIT_LOCK,
    PyThread_acquire_lock,
    PyThread_allocate_lock,
    PyThread_free_lock,
    PyThread_get_thread_ident,
    PyThread_release_lock,
    PyThread_type_lock,
)
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memchr, memcpy


cdef extern from "Python.h":
    int PyGC_Disable()  # both return the previous state (CPython >= 3.10)
    int PyGC_Enable()
    void *PyList_GET_ITEM(object, Py_ssize_t)
    void *PyTuple_GET_ITEM(object, Py_ssize_t)
    void __builtin_prefetch(const void *)

import array as _array_module

from ._firings import TYPECODE, Firings, split_text
from .errors import DuplicateError, EventError, SnapshotError, UnknownCallbackError, UnknownJobError
from ._common import (
    MAX_JOB_ID,
    Event,
    TriggerSyntaxError,
    WhyNot,
    callback_batch,
    callback_item,
    check_event_batch,
    check_handle,
    check_id,
    check_int,
    check_label,
    check_maximum,
    check_time,
    event_index_error,
    event_type_error,
    parse_event,
    too_many_atoms,
    trigger_list,
)

__all__ = ["Network", "debug_build", "debug_live_allocations", "debug_fail_allocation"]

cdef array.array _U64_ARRAY = _array_module.array(TYPECODE)

#: True when the C core was built with QBTRIGGER_DEBUG_BUILD=1 (asserts, allocation counters).
debug_build = bool(qbt_debug_build())


cdef inline const char *_utf8(object text, Py_ssize_t *size, list keep) except NULL:
    """UTF-8 of a str without copying; lone surrogates go through 'surrogatepass' (kept alive
    in `keep`) so that every str the pure twin accepts reaches the C core too."""
    cdef const char *data = NULL
    try:
        data = PyUnicode_AsUTF8AndSize(text, size)
    except UnicodeEncodeError:
        raw = (<str>text).encode("utf-8", "surrogatepass")
        keep.append(raw)
        size[0] = len(raw)
        data = raw
    return data


cdef str _decode(const char *data, size_t size):
    return data[:size].decode("utf-8", "surrogatepass")


# The result of feed_many is built with the C API on borrowed pointers (no reference counting
# beyond what each object needs). Tuples of two ints can never be part of a cycle: each is untracked
# by the cyclic GC as it is made (CPython would untrack it at its first collection anyway), and the
# collector is paused while they are made, so a large result triggers no collection passes over the
# heap. Both change nothing but the time taken.
cdef extern from "Python.h":
    ctypedef struct PyObject
    PyObject *_new_uint "PyLong_FromUnsignedLongLong"(unsigned long long value)
    PyObject *_new_tuple "PyTuple_New"(Py_ssize_t size)
    void _tuple_set "PyTuple_SET_ITEM"(PyObject *tuple, Py_ssize_t i, PyObject *item)
    void _list_set "PyList_SET_ITEM"(object list, Py_ssize_t i, PyObject *item)
    void _incref "Py_INCREF"(PyObject *o)
    void _decref "Py_DECREF"(PyObject *o)
    void PyObject_GC_UnTrack(void *o)
    bint _is_str "PyUnicode_CheckExact"(PyObject *o)
    bint PyUnicode_IS_COMPACT_ASCII(PyObject *o)
    void *PyUnicode_DATA(PyObject *o)
    Py_ssize_t PyUnicode_GET_LENGTH(PyObject *o)


cdef list _firings(const qbt_firing *out, size_t count):
    """(key, handle) tuples: the list is made at its full size, and firings of one event share
    the int of its key. (Sharing the int of a handle between the firings of one callback was
    measured slower: taking a reference writes to an object long out of the cache.)"""
    cdef size_t k
    cdef int was_enabled = PyGC_Disable()
    cdef list result
    cdef PyObject *key = NULL
    cdef PyObject *handle
    cdef PyObject *pair
    try:
        result = PyList_New(count)
        for k in range(count):
            if k == 0 or out[k].key != out[k - 1].key:
                if key is not NULL:
                    _decref(key)
                key = _new_uint(out[k].key)
                if key is NULL:
                    raise MemoryError()
            handle = _new_uint(out[k].handle)
            if handle is NULL:
                raise MemoryError()
            pair = _new_tuple(2)
            if pair is NULL:
                _decref(handle)
                raise MemoryError()
            PyObject_GC_UnTrack(pair)
            _incref(key)
            _tuple_set(pair, 0, key)
            _tuple_set(pair, 1, handle)  # steals the new reference
            _list_set(result, k, pair)  # steals the new reference (slots not reached stay NULL)
        return result
    finally:
        if key is not NULL:
            _decref(key)
        if was_enabled:
            PyGC_Enable()


cdef object _firing_arrays(const qbt_firing *out, size_t count):
    """The output buffer as a Firings: two arrays of uint64, made at their full size."""
    cdef array.array events = array.clone(_U64_ARRAY, count, False)
    cdef array.array handles = array.clone(_U64_ARRAY, count, False)
    cdef unsigned long long *e = events.data.as_ulonglongs
    cdef unsigned long long *h = handles.data.as_ulonglongs
    cdef size_t k
    for k in range(count):
        e[k] = out[k].key
        h[k] = out[k].handle
    return Firings(events, handles)


cdef list _handles(const qbt_firing *out, size_t count):
    """The handles of the output buffer, in a list made at its full size."""
    cdef list result = PyList_New(count)
    cdef PyObject *handle
    cdef size_t k
    for k in range(count):
        handle = _new_uint(out[k].handle)
        if handle is NULL:
            raise MemoryError()
        _list_set(result, k, handle)  # steals the new reference (slots not reached stay NULL)
    return result


cdef bytes _snapshot_bytes(object data):
    """A snapshot as bytes (a bytearray or memoryview is copied: another thread could change it
    while the C core reads it without the GIL)."""
    if type(data) is bytes:
        return data
    return bytes(memoryview(data).cast("B"))


cdef int _collect_atom(void *ctx, const char *text, size_t size, int latched) noexcept:
    try:
        (<list>ctx).append((_decode(text, size), latched))
        return 0
    except BaseException:
        return 1


def debug_live_allocations():
    """Live allocations of the C core (debug builds only; 0 otherwise)."""
    return qbt_debug_live_allocations()


def debug_fail_allocation(size_t nth):
    """Debug builds: make the nth allocation from now fail (0: never)."""
    qbt_debug_fail_allocation(nth)


cdef tuple _c_words(int table):
    cdef list words = []
    cdef size_t i = 0, size = 0
    cdef const char *text = qbt_vocabulary(table, 0, &size)
    while text is not NULL:
        words.append(_decode(text, size))
        i += 1
        text = qbt_vocabulary(table, i, &size)
    return tuple(words)


def _c_vocabulary():
    """The C core's vocabulary tables, read from C in its own orders (tests/test_vocabulary_c.py
    holds them to qbtrigger.vocabulary): state names in id order, the terminal ones, the types."""
    return {
        "state_names": _c_words(VOCAB_STATES),
        "terminal_states": _c_words(VOCAB_TERMINAL_STATES),
        "types": _c_words(VOCAB_TYPES),
    }


#: Bytes per event first set aside for a batch's texts (they grow if longer): a farm's events
#: take 23 on average, and a guess far above that is memory touched for nothing.
cdef size_t _TEXT_GUESS = 32


cdef struct _Scratch:
    # What a batch hands the C core: the events' texts, end to end, and their addresses and sizes.
    char *text
    size_t text_cap
    const char **datas
    size_t *sizes
    size_t slots  # of datas and sizes


#: The buffers of the last batch, kept for the next one, whose pages are then already mapped: a
#: 100k-event batch's 6 MB of fresh buffers cost ~1,500 page faults, a tenth of the binding's time.
#: One spare, up to _SCRATCH_KEEP_BYTES (a batch of ~2M events); a batch that finds it taken (by
#: another thread, whose batch runs with the GIL released) makes its own. Taken and given back
#: with the GIL held.
cdef _Scratch _spare
cdef size_t _SCRATCH_KEEP_BYTES = 128 << 20


cdef void _free_scratch(_Scratch *s) noexcept:
    PyMem_Free(s.text)
    PyMem_Free(s.datas)
    PyMem_Free(s.sizes)
    s.text = NULL
    s.datas = NULL
    s.sizes = NULL
    s.text_cap = 0
    s.slots = 0


cdef _Scratch _take_scratch(size_t slots, size_t text_bytes) noexcept:
    """Buffers for `slots` events and at least `text_bytes` of text (the spare if it is free; a
    text of 0 bytes may be NULL); datas is NULL if memory ran out (nothing then to give back)."""
    global _spare
    cdef _Scratch s = _spare
    _spare.text = NULL
    _spare.datas = NULL
    _spare.sizes = NULL
    _spare.text_cap = 0
    _spare.slots = 0
    slots += 1  # never zero bytes
    if s.slots < slots:
        PyMem_Free(s.datas)
        PyMem_Free(s.sizes)
        s.datas = <const char **>PyMem_Malloc(slots * sizeof(const char *))
        s.sizes = <size_t *>PyMem_Malloc(slots * sizeof(size_t))
        s.slots = slots
    if s.text_cap < text_bytes:
        PyMem_Free(s.text)
        s.text = <char *>PyMem_Malloc(text_bytes)
        s.text_cap = 0 if s.text is NULL else text_bytes
    if s.datas is NULL or s.sizes is NULL or s.text_cap < text_bytes:
        _free_scratch(&s)
    return s


cdef bint _grow_text(_Scratch *s, size_t needed) noexcept:
    """Room for `needed` bytes of text, the text so far kept; False if memory ran out."""
    cdef size_t cap = 2 * s.text_cap + needed
    cdef char *grown = <char *>PyMem_Realloc(s.text, cap)
    if grown is NULL:
        return False
    s.text = grown
    s.text_cap = cap
    return True


cdef void _give_back_scratch(_Scratch s) noexcept:
    """Keeps the buffers as the spare if there is none and they are not too big; frees them if not."""
    global _spare
    cdef size_t held = s.text_cap + s.slots * (sizeof(const char *) + sizeof(size_t))
    if _spare.datas is NULL and s.datas is not NULL and held <= _SCRATCH_KEEP_BYTES:
        _spare = s
    else:
        _free_scratch(&s)

#: Batches of more items than this run in the C core with the GIL released; below, releasing it
#: and taking it back would cost more than the work (a few hundred nanoseconds).
NOGIL_MIN = 32


cdef class Network:
    """A trigger-matching network: jobs, callbacks and the shared alpha index (C core)."""

    cdef qbt_net *net
    cdef PyThread_type_lock lock  # held for the whole of every call on the network
    cdef unsigned long holder  # the thread holding it (0: none), to refuse re-entry, not deadlock

    def __cinit__(self, state_aware=False):
        self.lock = PyThread_allocate_lock()
        if self.lock is NULL:
            raise MemoryError()
        self.net = qbt_new(1 if state_aware else 0)
        if self.net is NULL:
            raise MemoryError()

    def __dealloc__(self):
        qbt_free(self.net)
        if self.lock is not NULL:
            PyThread_free_lock(self.lock)

    # ------------------------------------------------------------------ the network's lock

    cdef int _enter(self) except -1:
        """Takes the network's lock, waiting with the GIL released if another thread holds it.

        The same thread asking again (a finalizer or signal handler run in the middle of a call on
        this network, calling it) is refused with a RuntimeError rather than left to wait forever.
        """
        cdef unsigned long me = PyThread_get_thread_ident()
        if not PyThread_acquire_lock(self.lock, NOWAIT_LOCK):
            if self.holder == me:
                raise RuntimeError("this network is already in a call from this thread (re-entered)")
            with nogil:
                PyThread_acquire_lock(self.lock, WAIT_LOCK)
        self.holder = me
        return 0

    cdef inline void _leave(self) noexcept:
        self.holder = 0
        PyThread_release_lock(self.lock)

    # ------------------------------------------------------------------ errors

    cdef int _raise_status(self, qbt_status status, object subject=None, object expressions=None) except -1:
        """The one place where C status codes become exceptions."""
        cdef size_t size = 0
        cdef const char *text = qbt_error_message(self.net, &size)
        if status == QBT_ENOMEM:
            raise MemoryError()
        if status == QBT_ESYNTAX:
            raise TriggerSyntaxError(
                expressions[qbt_error_index(self.net)], qbt_error_column(self.net), _decode(text, size)
            )
        if status == QBT_EEVENT:
            raise EventError(_decode(text, size))
        if status == QBT_EUNKNOWN_JOB:
            raise UnknownJobError(f"unknown job {subject}")
        if status == QBT_EUNKNOWN_HANDLE:
            raise UnknownCallbackError(f"unknown callback handle {subject}")
        if status == QBT_EDUPLICATE_JOB:
            raise DuplicateError(f"job {subject} is already added")
        if status == QBT_EDUPLICATE_LABEL:
            label, pgrp = subject
            raise DuplicateError(
                f"label '{label}' is already used in pgrp {pgrp} by job {qbt_error_index(self.net)}"
            )
        if status == QBT_EEMPTY_LIST:
            raise TriggerSyntaxError("", 0, "empty trigger list")
        if status == QBT_ETOO_LARGE:
            raise too_many_atoms()
        if status == QBT_ESNAPSHOT:
            raise SnapshotError(_decode(text, size))
        raise SystemError(f"qbtrigger C core returned status {<int>status}")

    # ------------------------------------------------------------------ properties

    @property
    def state_aware(self):
        self._enter()
        try:
            return bool(qbt_state_aware(self.net))
        finally:
            self._leave()

    @property
    def clock(self):
        self._enter()
        try:
            return qbt_clock(self.net)
        finally:
            self._leave()

    def __len__(self):
        cdef qbt_stats stats
        self._enter()
        try:
            qbt_get_stats(self.net, &stats)
            return stats.callbacks
        finally:
            self._leave()

    def __contains__(self, handle):
        if type(handle) is not int or handle < 1 or handle >= 2**64:
            return False
        self._enter()
        try:
            return bool(qbt_has_callback(self.net, handle))
        finally:
            self._leave()

    # ------------------------------------------------------------------ jobs

    def add_job(self, jobid, pgrp=None, label=None, pid=None):
        """Adds a job; pgrp defaults to the job's own id."""
        cdef uint32_t c_job = check_id(jobid)
        cdef uint32_t c_pgrp = c_job if pgrp is None else check_id(pgrp, "pgrp")
        cdef uint32_t c_pid = QBT_NO_PID if pid is None else check_id(pid, "pid")
        check_label(label)
        cdef Py_ssize_t size = 0
        cdef const char *data = NULL
        cdef list keep = []
        if label is not None:
            data = _utf8(label, &size, keep)
        self._enter()
        try:
            status = qbt_add_job(self.net, c_job, c_pgrp, data, size, c_pid)
            if status != QBT_OK:
                self._raise_status(status, (label, c_pgrp) if status == QBT_EDUPLICATE_LABEL else jobid)
        finally:
            self._leave()

    def remove_job(self, jobid):
        """Removes a job and every callback it owns."""
        jobid = check_int(jobid, "job id")
        if not 0 <= jobid <= MAX_JOB_ID:
            raise UnknownJobError(f"unknown job {jobid}")
        self._enter()
        try:
            status = qbt_remove_job(self.net, jobid)
            if status != QBT_OK:
                self._raise_status(status, jobid)
        finally:
            self._leave()

    # ------------------------------------------------------------------ callbacks

    cdef uint32_t _owner(self, object owner) except? 0:
        """An owner that is an added job (the lock held), as add() checks it."""
        if not 0 <= owner <= MAX_JOB_ID or not qbt_has_job(self.net, owner):
            raise UnknownJobError(f"unknown job {owner}")
        return owner

    def add(self, triggers, owner, maximum=None):
        """Registers a callback; returns its handle. `triggers`: str or list of str (an OR)."""
        cdef tuple expressions = trigger_list(triggers)
        owner = check_int(owner, "owner")
        cdef uint32_t c_owner
        cdef uint32_t c_maximum
        cdef Py_ssize_t n = len(expressions)
        cdef Py_ssize_t i, size
        cdef uint64_t handle = 0
        cdef list keep = []
        cdef const char *one_data
        cdef size_t one_size
        cdef const char **datas = NULL
        cdef size_t *sizes = NULL
        self._enter()
        try:
            c_owner = self._owner(owner)
            c_maximum = min(check_maximum(maximum), 0xFFFFFFFF)
            if n == 1:
                one_data = _utf8(expressions[0], &size, keep)
                one_size = <size_t>size
                status = qbt_add(self.net, &one_data, &one_size, 1, c_owner, c_maximum, &handle)
            else:
                datas = <const char **>PyMem_Malloc((n + 1) * sizeof(const char *))
                sizes = <size_t *>PyMem_Malloc((n + 1) * sizeof(size_t))
                if datas is NULL or sizes is NULL:
                    raise MemoryError()
                for i in range(n):
                    datas[i] = _utf8(expressions[i], &size, keep)
                    sizes[i] = <size_t>size
                status = qbt_add(self.net, datas, sizes, n, c_owner, c_maximum, &handle)
            if status != QBT_OK:
                self._raise_status(status, owner, expressions)
            return handle
        finally:
            PyMem_Free(datas)
            PyMem_Free(sizes)
            self._leave()

    def add_many(self, callbacks):
        """Registers callbacks in order, as add() would one by one; returns their handles.

        Each item is ``(triggers, owner)`` or ``(triggers, owner, maximum)``. Every item is checked
        before any is registered: the argument checks of every item in order, then the expressions
        of every item in order; the first failure is raised as add() would raise it for that item,
        and nothing is registered. The C core works with the GIL released.
        """
        cdef list items = callback_batch(callbacks)
        cdef Py_ssize_t n = len(items), total = 0, i, j, m, size
        cdef list checked = []
        cdef list keep = []
        cdef qbt_callback_spec *specs = NULL
        cdef const char **datas = NULL
        cdef size_t *sizes = NULL
        cdef uint64_t *handles = NULL
        cdef tuple expressions
        self._enter()
        try:
            for i in range(n):
                expressions, owner, maximum = callback_item(items[i], i)
                self._owner(owner)
                checked.append((expressions, owner, min(check_maximum(maximum), 0xFFFFFFFF)))
                total += len(expressions)
            specs = <qbt_callback_spec *>PyMem_Malloc((n + 1) * sizeof(qbt_callback_spec))
            datas = <const char **>PyMem_Malloc((total + 1) * sizeof(const char *))
            sizes = <size_t *>PyMem_Malloc((total + 1) * sizeof(size_t))
            handles = <uint64_t *>PyMem_Malloc((n + 1) * sizeof(uint64_t))
            if specs is NULL or datas is NULL or sizes is NULL or handles is NULL:
                raise MemoryError()
            j = 0
            for i in range(n):
                expressions, owner, maximum = checked[i]
                m = len(expressions)
                specs[i].exprs = &datas[j]
                specs[i].lens = &sizes[j]
                specs[i].n = <size_t>m
                specs[i].owner = <uint32_t>owner
                specs[i].maximum = <uint32_t>maximum
                for text in expressions:
                    datas[j] = _utf8(text, &size, keep)
                    sizes[j] = <size_t>size
                    j += 1
            if n > NOGIL_MIN:
                with nogil:
                    status = qbt_add_many(self.net, specs, <size_t>n, handles)
            else:
                status = qbt_add_many(self.net, specs, <size_t>n, handles)
            if status != QBT_OK:
                expressions, owner, _ = checked[qbt_error_item(self.net)]
                self._raise_status(status, owner, expressions)
            return [handles[i] for i in range(n)]
        finally:
            PyMem_Free(specs)
            PyMem_Free(datas)
            PyMem_Free(sizes)
            PyMem_Free(handles)
            self._leave()

    def remove(self, handle):
        """Removes a callback."""
        cdef uint64_t c_handle = self._handle(handle)
        self._enter()
        try:
            status = qbt_remove(self.net, c_handle)
            if status != QBT_OK:
                self._raise_status(status, handle)
        finally:
            self._leave()

    cdef uint64_t _handle(self, object handle) except? 0:
        if type(handle) is int and 1 <= handle < 2**64:
            return handle
        handle = check_handle(handle)
        if 1 <= handle < 2**64:
            return handle
        raise UnknownCallbackError(f"unknown callback handle {handle}")

    def count(self, handle):
        """How many times the callback fired."""
        cdef uint32_t owner = 0, count = 0
        cdef uint64_t c_handle = self._handle(handle)
        self._enter()
        try:
            status = qbt_callback_info(self.net, c_handle, &owner, &count)
            if status != QBT_OK:
                self._raise_status(status, handle)
            return count
        finally:
            self._leave()

    def owner(self, handle):
        """The job that owns the callback."""
        cdef uint32_t owner = 0, count = 0
        cdef uint64_t c_handle = self._handle(handle)
        self._enter()
        try:
            status = qbt_callback_info(self.net, c_handle, &owner, &count)
            if status != QBT_OK:
                self._raise_status(status, handle)
            return owner
        finally:
            self._leave()

    def why_not(self, handle):
        """The callback's atoms, split into latched and still awaited (expression order)."""
        cdef list atoms = []
        cdef uint64_t c_handle = self._handle(handle)
        self._enter()
        try:
            status = qbt_why_not(self.net, c_handle, _collect_atom, <void *>atoms)
            if status != QBT_OK:
                self._raise_status(status, handle)
        finally:
            self._leave()
        return WhyNot(
            tuple([text for text, latched in atoms if latched]),
            tuple([text for text, latched in atoms if not latched]),
        )

    def drain_catch_up(self):
        """Handles that fired at registration (state-aware catch-up) since the last call."""
        cdef size_t count = 0
        cdef const qbt_firing *out
        self._enter()
        try:
            status = qbt_drain_catch_up(self.net)
            if status != QBT_OK:
                self._raise_status(status)
            out = qbt_output(self.net, &count)
            return _handles(out, count)
        finally:
            self._leave()

    def drain_catch_up_events(self):
        """Like drain_catch_up() (the same queue), with the Event each handle stands for: the state
        event of the item whose catch-up latch completed the callback, or dummy-globaltime-T for a
        passed time atom."""
        cdef const qbt_catch_up_event *events = NULL
        cdef const qbt_catch_up_event *e
        cdef size_t count = 0, k
        cdef list out = []
        self._enter()
        try:
            status = qbt_drain_catch_up_events(self.net, &events, &count)
            if status != QBT_OK:
                self._raise_status(status)
            for k in range(count):
                e = &events[k]
                out.append((e.handle, Event(
                    _decode(e.name, e.name_len),
                    _decode(e.type, e.type_len),
                    None if e.jobid == QBT_NO_JOB else e.jobid,
                    None if e.extra is NULL else _decode(e.extra, e.extra_len),
                )))
            return out
        finally:
            self._leave()

    # ------------------------------------------------------------------ snapshots (native/snapshot.c)

    def snapshot(self):
        """The whole network as bytes, in the format both twins read (docs/embedding.md)."""
        cdef unsigned char *data = NULL
        cdef size_t size = 0
        cdef qbt_status status
        self._enter()
        try:
            with nogil:
                status = qbt_snapshot(self.net, &data, &size)
            if status != QBT_OK:
                self._raise_status(status)
        finally:
            self._leave()
        try:
            return data[:size]
        finally:
            qbt_snapshot_free(data)

    def restore(self, data):
        """Replaces everything in this network, state-awareness included, with a snapshot's
        contents. A bad snapshot raises SnapshotError and leaves the network as it was."""
        cdef bytes raw = _snapshot_bytes(data)  # immutable: it stays put while the GIL is out
        cdef const unsigned char *start = raw
        cdef size_t size = len(raw)
        cdef qbt_status status
        self._enter()
        try:
            with nogil:
                status = qbt_restore(self.net, start, size)
            if status != QBT_OK:
                self._raise_status(status)
        finally:
            self._leave()

    @classmethod
    def from_snapshot(cls, data):
        """A new network holding a snapshot's contents."""
        net = cls()
        net.restore(data)
        return net

    def __reduce__(self):
        return (type(self).from_snapshot, (self.snapshot(),))

    # ------------------------------------------------------------------ events

    def feed(self, event):
        """Applies one event ('name-type-jobid[-extra]'); returns the handles fired, in order."""
        cdef Py_ssize_t size
        cdef const char *data
        cdef bytes raw
        cdef size_t count = 0
        cdef const qbt_firing *out
        if _is_str(<PyObject *>event) and PyUnicode_IS_COMPACT_ASCII(<PyObject *>event):
            data = <const char *>PyUnicode_DATA(<PyObject *>event)  # the common case, without a call
            size = PyUnicode_GET_LENGTH(<PyObject *>event)
        elif type(event) is str:
            try:
                data = PyUnicode_AsUTF8AndSize(event, &size)
            except UnicodeEncodeError:
                raw = (<str>event).encode("utf-8", "surrogatepass")
                data = raw
                size = len(raw)
        elif isinstance(event, (Event, str)):  # an Event is fed as its text; a str subclass as a str
            return self.feed(str(event))
        else:
            raise event_type_error(event)
        self._enter()
        try:
            status = qbt_feed(self.net, data, size)
            if status != QBT_OK:
                self._raise_status(status)
            out = qbt_output(self.net, &count)
            return _handles(out, count)
        finally:
            self._leave()

    def feed_many(self, events):
        """Applies events in order; returns (index of the event, handle) for every firing.

        Every event is parsed before any is applied: a malformed one leaves the network as it was.
        The C core works with the GIL released (batches of more than NOGIL_MIN events).
        """
        return self._feed_list(events, False)

    def feed_batch(self, events):
        """Like feed_many(), the firings as two parallel arrays (a Firings): no object per firing.
        The C core works with the GIL released (batches of more than NOGIL_MIN events)."""
        return self._feed_list(events, True)

    def feed_text(self, data):
        """feed_batch() of UTF-8 events, one per line, in one buffer (no str per event)."""
        if type(data) is not bytes or not (<bytes>data).isascii():
            return self.feed_batch(split_text(data))  # checks the type and the UTF-8
        cdef const char *text = <bytes>data
        cdef Py_ssize_t size = len(<bytes>data)
        cdef Py_ssize_t n = (<bytes>data).count(b"\n") + 1
        cdef _Scratch scratch = _take_scratch(<size_t>n, 0)  # its addresses and sizes only
        cdef const char **datas = scratch.datas
        cdef size_t *sizes = scratch.sizes
        cdef Py_ssize_t start = 0, i, k = 0, end
        cdef const char *newline
        cdef size_t count = 0
        cdef const qbt_firing *out
        try:
            if datas is NULL or sizes is NULL:
                raise MemoryError()
            while start < size:
                newline = <const char *>memchr(text + start, b"\n", <size_t>(size - start))
                i = size if newline is NULL else newline - text
                end = i - 1 if i > start and text[i - 1] == b"\r" else i
                datas[k] = text + start
                sizes[k] = <size_t>(end - start)
                k += 1
                start = i + 1  # past the end when the data does not end with a newline
            # `data` is immutable and held by this call: its bytes stay put while the GIL is out.
            self._enter()
            try:
                if k > NOGIL_MIN:
                    with nogil:
                        status = qbt_feed_many(self.net, datas, sizes, k)
                else:
                    status = qbt_feed_many(self.net, datas, sizes, k)
                if status != QBT_OK:
                    self._raise_status(status)
                out = qbt_output(self.net, &count)
                return _firing_arrays(out, count)
            finally:
                self._leave()
        finally:
            _give_back_scratch(scratch)

    cdef _feed_list(self, events, bint as_arrays):
        """feed_many's and feed_batch's work: the events' texts to the C core, which applies them;
        the firings as (index, handle) tuples, or as_arrays as a Firings.

        The texts are copied, one after the other, into one buffer that this call owns (a
        _Scratch): the C core then reads them in order (with the GIL released, nothing can change
        them), rather than from string objects that may lie anywhere in the heap. Each object is
        read once, here, as the loop reaches it (prefetched a few items ahead); on a big batch of
        strings made at different times (a shuffled list) reading them again from the C core cost
        a cache miss per event."""
        check_event_batch(events)
        # A list or tuple of ASCII strings, the common batch, is read in place: nothing in the loop
        # below runs Python code for such an item, so no other thread can change the list while it
        # runs. At the first other item (converting an Event calls Python code, which may let
        # another thread in) the list is copied as it still is, and the loop goes on in the copy.
        cdef bint from_tuple = type(events) is tuple  # never changes: read in place
        cdef bint shared_list = type(events) is list  # the caller's, until copied
        cdef object items = events if from_tuple or shared_list else list(events)
        cdef Py_ssize_t n = len(items)
        cdef Py_ssize_t i, size
        cdef list keep = []
        cdef _Scratch scratch = _take_scratch(<size_t>n, <size_t>n * _TEXT_GUESS + 64)
        cdef size_t used = 0
        cdef const char *data
        cdef size_t count = 0
        cdef const qbt_firing *out
        cdef PyObject *obj
        try:
            if scratch.datas is NULL:
                raise MemoryError()
            for i in range(n):
                if from_tuple:
                    obj = <PyObject *>PyTuple_GET_ITEM(items, i)
                    if i + 8 < n:  # the event strings are objects scattered over the heap
                        __builtin_prefetch(PyTuple_GET_ITEM(items, i + 8))
                else:
                    obj = <PyObject *>PyList_GET_ITEM(items, i)
                    if i + 8 < n:
                        __builtin_prefetch(PyList_GET_ITEM(items, i + 8))
                if _is_str(obj) and PyUnicode_IS_COMPACT_ASCII(obj):
                    # The common case, without a call: the text is the object's own ASCII bytes.
                    data = <const char *>PyUnicode_DATA(obj)
                    size = PyUnicode_GET_LENGTH(obj)
                else:
                    if shared_list:
                        items = list(items)  # before any Python code runs (see above)
                        shared_list = False
                    item = items[i]
                    if type(item) is not str:
                        if isinstance(item, (Event, str)):
                            item = str(item)  # kept alive in `keep`; the caller's list is left alone
                            keep.append(item)
                        else:
                            self._check_prefix(list(items), i)
                            raise event_type_error(item, i)
                    data = _utf8(item, &size, keep)
                if used + <size_t>size > scratch.text_cap and not _grow_text(&scratch, used + <size_t>size):
                    raise MemoryError()
                memcpy(scratch.text + used, data, <size_t>size)
                scratch.sizes[i] = <size_t>size
                used += <size_t>size
            used = 0
            for i in range(n):  # the buffer has stopped moving: its addresses
                scratch.datas[i] = scratch.text + used
                used += scratch.sizes[i]
            self._enter()
            try:
                if n > NOGIL_MIN:
                    with nogil:
                        status = qbt_feed_many(self.net, scratch.datas, scratch.sizes, n)
                else:
                    status = qbt_feed_many(self.net, scratch.datas, scratch.sizes, n)
                if status != QBT_OK:
                    self._raise_status(status)
                out = qbt_output(self.net, &count)
                return _firing_arrays(out, count) if as_arrays else _firings(out, count)
            finally:
                self._leave()
        finally:
            _give_back_scratch(scratch)

    cdef _check_prefix(self, list items, Py_ssize_t end):
        # An earlier malformed event wins over a later non-string one, as in the twin.
        for i in range(end):
            try:
                parse_event(items[i])
            except ValueError as error:
                raise event_index_error(items[i], error, i) from None

    def next_due(self, *, repeats=True):
        """The next moment (after the clock) at which a live callback's time atom is due: the first
        one advance() would apply; None if none. repeats=False counts one-shot atoms only (time,
        globaltime): whether something is still to come once, rather than forever."""
        cdef uint64_t due
        self._enter()
        try:
            due = qbt_next_due(self.net, 1 if repeats else 0)
        finally:
            self._leave()
        return None if due == 0 else due

    def advance(self, now):
        """Moves the clock to `now` (Qube time); returns the handles fired, in moment order."""
        return [handle for _, handle in self.advance_many(now)]

    def advance_many(self, now):
        """Like advance(), returning (moment, handle) pairs."""
        cdef uint64_t c_now
        cdef size_t count = 0
        cdef const qbt_firing *out
        self._enter()
        try:
            c_now = check_time(now, qbt_clock(self.net))
            status = qbt_advance(self.net, c_now)
            if status != QBT_OK:
                self._raise_status(status)
            out = qbt_output(self.net, &count)
            return _firings(out, count)
        finally:
            self._leave()

    # ------------------------------------------------------------------ introspection

    def stats(self):
        """Sizes of the network: callbacks, atoms, alpha entries, jobs and bytes held."""
        cdef qbt_stats s
        self._enter()
        try:
            qbt_get_stats(self.net, &s)
        finally:
            self._leave()
        return {
            "callbacks": s.callbacks,
            "atoms": s.atoms,
            "alpha_entries": s.alpha_entries,
            "jobs": s.jobs,
            "bytes": s.bytes,
        }
