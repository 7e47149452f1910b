# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The C core behind the Network API: the only code touching both Python objects and native/.

It converts arguments (validated by the helpers shared with the pure twin, so both raise the
same errors), calls the C core and turns its status codes into exceptions in one place,
_raise_status().
"""

from cpython.list cimport PyList_New
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "Python.h":
    int PyGC_Disable()  # both return the previous state (CPython >= 3.10)
    int PyGC_Enable()
    void *PyList_GET_ITEM(object, Py_ssize_t)
    void __builtin_prefetch(const void *)

from .errors import DuplicateError, EventError, UnknownCallbackError, UnknownJobError
from ._common import (
    MAX_JOB_ID,
    Event,
    TriggerSyntaxError,
    WhyNot,
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


cdef class Network:
    """A trigger-matching network: jobs, callbacks and the shared alpha index (C core)."""

    cdef qbt_net *net

    def __cinit__(self, state_aware=False):
        self.net = qbt_new(1 if state_aware else 0)
        if self.net is NULL:
            raise MemoryError()

    def __dealloc__(self):
        qbt_free(self.net)

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
        raise SystemError(f"qbtrigger C core returned status {<int>status}")

    # ------------------------------------------------------------------ properties

    @property
    def state_aware(self):
        return bool(qbt_state_aware(self.net))

    @property
    def clock(self):
        return qbt_clock(self.net)

    def __len__(self):
        cdef qbt_stats stats
        qbt_get_stats(self.net, &stats)
        return stats.callbacks

    def __contains__(self, handle):
        if type(handle) is not int or handle < 1 or handle >= 2**64:
            return False
        return bool(qbt_has_callback(self.net, handle))

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
        status = qbt_add_job(self.net, c_job, c_pgrp, data, size, c_pid)
        if status != QBT_OK:
            self._raise_status(status, (label, c_pgrp) if status == QBT_EDUPLICATE_LABEL else jobid)

    def remove_job(self, jobid):
        """Removes a job and every callback it owns."""
        jobid = check_int(jobid, "job id")
        if not 0 <= jobid <= MAX_JOB_ID:
            raise UnknownJobError(f"unknown job {jobid}")
        status = qbt_remove_job(self.net, jobid)
        if status != QBT_OK:
            self._raise_status(status, jobid)

    # ------------------------------------------------------------------ callbacks

    def add(self, triggers, owner, maximum=None):
        """Registers a callback; returns its handle. `triggers`: str or list of str (an OR)."""
        cdef tuple expressions = trigger_list(triggers)
        owner = check_int(owner, "owner")
        if not 0 <= owner <= MAX_JOB_ID or not qbt_has_job(self.net, owner):
            raise UnknownJobError(f"unknown job {owner}")
        cdef uint32_t c_owner = owner
        cdef uint32_t c_maximum = min(check_maximum(maximum), 0xFFFFFFFF)
        cdef Py_ssize_t n = len(expressions)
        cdef Py_ssize_t i, size
        cdef uint64_t handle = 0
        cdef list keep = []
        cdef const char *one_data
        cdef size_t one_size
        cdef const char **datas
        cdef size_t *sizes
        if n == 1:
            one_data = _utf8(expressions[0], &size, keep)
            one_size = <size_t>size
            status = qbt_add(self.net, &one_data, &one_size, 1, c_owner, c_maximum, &handle)
        else:
            datas = <const char **>PyMem_Malloc((n + 1) * sizeof(const char *))
            sizes = <size_t *>PyMem_Malloc((n + 1) * sizeof(size_t))
            try:
                if datas is NULL or sizes is NULL:
                    raise MemoryError()
                for i in range(n):
                    datas[i] = _utf8(expressions[i], &size, keep)
                    sizes[i] = <size_t>size
                status = qbt_add(self.net, datas, sizes, n, c_owner, c_maximum, &handle)
            finally:
                PyMem_Free(datas)
                PyMem_Free(sizes)
        if status != QBT_OK:
            self._raise_status(status, owner, expressions)
        return handle

    def remove(self, handle):
        """Removes a callback."""
        status = qbt_remove(self.net, self._handle(handle))
        if status != QBT_OK:
            self._raise_status(status, handle)

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
        status = qbt_callback_info(self.net, self._handle(handle), &owner, &count)
        if status != QBT_OK:
            self._raise_status(status, handle)
        return count

    def owner(self, handle):
        """The job that owns the callback."""
        cdef uint32_t owner = 0, count = 0
        status = qbt_callback_info(self.net, self._handle(handle), &owner, &count)
        if status != QBT_OK:
            self._raise_status(status, handle)
        return owner

    def why_not(self, handle):
        """The callback's atoms, split into latched and still awaited (expression order)."""
        cdef list atoms = []
        status = qbt_why_not(self.net, self._handle(handle), _collect_atom, <void *>atoms)
        if status != QBT_OK:
            self._raise_status(status, handle)
        return WhyNot(
            tuple([text for text, latched in atoms if latched]),
            tuple([text for text, latched in atoms if not latched]),
        )

    def drain_catch_up(self):
        """Handles that fired at registration (state-aware catch-up) since the last call."""
        status = qbt_drain_catch_up(self.net)
        if status != QBT_OK:
            self._raise_status(status)
        cdef size_t count = 0
        cdef const qbt_firing *out = qbt_output(self.net, &count)
        return _handles(out, count)

    def drain_catch_up_events(self):
        """Like drain_catch_up() (the same queue), with the Event each handle stands for: the state
        event of the item whose catch-up latch completed the callback, or dummy-globaltime-T for a
        passed time atom."""
        cdef const qbt_catch_up_event *events = NULL
        cdef const qbt_catch_up_event *e
        cdef size_t count = 0, k
        status = qbt_drain_catch_up_events(self.net, &events, &count)
        if status != QBT_OK:
            self._raise_status(status)
        cdef list out = []
        for k in range(count):
            e = &events[k]
            out.append((e.handle, Event(
                _decode(e.name, e.name_len),
                _decode(e.type, e.type_len),
                None if e.jobid == QBT_NO_JOB else e.jobid,
                None if e.extra is NULL else _decode(e.extra, e.extra_len),
            )))
        return out

    # ------------------------------------------------------------------ events

    def feed(self, event):
        """Applies one event ('name-type-jobid[-extra]'); returns the handles fired, in order."""
        cdef Py_ssize_t size
        cdef const char *data
        cdef bytes raw
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
        status = qbt_feed(self.net, data, size)
        if status != QBT_OK:
            self._raise_status(status)
        cdef size_t count = 0
        cdef const qbt_firing *out = qbt_output(self.net, &count)
        return _handles(out, count)

    def feed_many(self, events):
        """Applies events in order; returns (index of the event, handle) for every firing.

        Every event is parsed before any is applied: a malformed one leaves the network as it was.
        """
        check_event_batch(events)
        cdef list items = events if type(events) is list else list(events)
        cdef Py_ssize_t n = len(items)
        cdef Py_ssize_t i, size
        cdef list keep = []
        cdef const char **datas = <const char **>PyMem_Malloc((n + 1) * sizeof(const char *))
        cdef size_t *sizes = <size_t *>PyMem_Malloc((n + 1) * sizeof(size_t))
        cdef size_t count = 0, k
        cdef const qbt_firing *out
        cdef PyObject *obj
        try:
            if datas is NULL or sizes is NULL:
                raise MemoryError()
            for i in range(n):
                if i + 4 < n:  # the event strings are objects scattered over the heap
                    __builtin_prefetch(PyList_GET_ITEM(items, i + 4))
                obj = <PyObject *>PyList_GET_ITEM(items, i)
                if _is_str(obj) and PyUnicode_IS_COMPACT_ASCII(obj):
                    # The common case, without a call: the text is the object's own ASCII bytes.
                    datas[i] = <const char *>PyUnicode_DATA(obj)
                    sizes[i] = <size_t>PyUnicode_GET_LENGTH(obj)
                    continue
                item = items[i]
                if type(item) is not str:
                    if isinstance(item, (Event, str)):
                        item = str(item)  # kept alive in `keep`; the caller's list is left alone
                        keep.append(item)
                    else:
                        self._check_prefix(items, i)
                        raise event_type_error(item, i)
                datas[i] = _utf8(item, &size, keep)
                sizes[i] = <size_t>size
            status = qbt_feed_many(self.net, datas, sizes, n)
        finally:
            PyMem_Free(datas)
            PyMem_Free(sizes)
        if status != QBT_OK:
            self._raise_status(status)
        out = qbt_output(self.net, &count)
        return _firings(out, count)

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
        cdef uint64_t due = qbt_next_due(self.net, 1 if repeats else 0)
        return None if due == 0 else due

    def advance(self, now):
        """Moves the clock to `now` (Qube time); returns the handles fired, in moment order."""
        return [handle for _, handle in self.advance_many(now)]

    def advance_many(self, now):
        """Like advance(), returning (moment, handle) pairs."""
        cdef uint64_t c_now = check_time(now, qbt_clock(self.net))
        status = qbt_advance(self.net, c_now)
        if status != QBT_OK:
            self._raise_status(status)
        cdef size_t count = 0
        cdef const qbt_firing *out = qbt_output(self.net, &count)
        return _firings(out, count)

    # ------------------------------------------------------------------ introspection

    def stats(self):
        """Sizes of the network: callbacks, atoms, alpha entries, jobs and bytes held."""
        cdef qbt_stats s
        qbt_get_stats(self.net, &s)
        return {
            "callbacks": s.callbacks,
            "atoms": s.atoms,
            "alpha_entries": s.alpha_entries,
            "jobs": s.jobs,
            "bytes": s.bytes,
        }
