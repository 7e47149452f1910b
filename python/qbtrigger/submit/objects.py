"""``qb.Job``, ``qb.Work``, ``qb.Callback``, ``qb.Subjob`` and ``qb.Host``: dicts, as in Qube.

Qube's objects are dicts (``job['name'] = 'render'``) that also keep an older accessor style:
``job.id()`` reads a field, ``job.name('render')`` sets one (and returns it), ``work.package({...})``
sets a work item's package. Here every field Qube's class documents has such an accessor, and so
does any key the dict holds (``job.prod_show()``). Reading a field that is not set raises a
``KeyError`` naming it, except ``agenda``, ``callbacks`` and ``subjobs``, which read as ``[]``.
Assigning an attribute (``job.name = 'render'``) sets the field: in Qube it would be lost on
submission, which is never what the script meant.

``qb.Job(data, name='', prototype='', package={})`` has Qube's defaults (``name`` and ``prototype``
empty, ``package`` ``{}``) and wraps its agenda items, callbacks and subjobs in ``Work``,
``Callback`` and ``Subjob``; other keyword arguments are taken as fields
(``qb.Job(label='render', agenda=...)``).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Dict, FrozenSet, Mapping, Optional

__all__ = ["QBObject", "Job", "Work", "Callback", "Subjob", "Host", "wrap_job"]

_UNSET: Any = object()
_LIST_FIELDS = frozenset(("agenda", "p_agenda", "callbacks", "subjobs"))


class QBObject(dict):  # type: ignore[type-arg]
    """A dict whose fields can also be read and set through Qube's accessor methods."""

    FIELDS: ClassVar[FrozenSet[str]] = frozenset()
    #: Accessor names that read another key (Qube's ``job.agendatimeout()`` is ``agenda_timeout``).
    ALIASES: ClassVar[Mapping[str, str]] = {}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        key = self.ALIASES.get(name, name)
        if name in self.FIELDS or name in self.ALIASES or key in self:
            return self._accessor(key)
        kind = type(self).__name__
        raise AttributeError(
            f"qb.{kind} has no field or method '{name}' (fields are dict keys: {kind.lower()}['{name}'])"
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[self.ALIASES.get(name, name)] = value

    def _accessor(self, key: str) -> Callable[..., Any]:
        def accessor(value: Any = _UNSET) -> Any:
            if value is not _UNSET:
                self[key] = value
                return value
            if key in self:
                return self[key]
            if key in _LIST_FIELDS:
                return []
            raise KeyError(f"qb.{type(self).__name__} has no '{key}' yet")

        accessor.__name__ = key
        return accessor


class Work(QBObject):
    """``qb.Work``: a work item (frame, chunk or task) of a job's agenda."""

    FIELDS = frozenset(
        "pid subid host name status address data package result count retry retrydelay resultpackage "
        "lastupdate timesubmit timestart timecomplete".split()
    )


class Subjob(QBObject):
    """``qb.Subjob``: one instance of a running job."""

    FIELDS = frozenset(
        "id pid host count retry resultpackage status lastupdate timesubmit timestart timecomplete".split()
    )


class Callback(QBObject):
    """``qb.Callback``: ``triggers``, ``language``, ``code`` and optionally ``maximum``."""

    FIELDS = frozenset("id pid triggers code language user count maximum ready".split())


class Host(QBObject):
    """``qb.Host``: a worker host, as ``qb.hostinfo`` returns it."""

    FIELDS = frozenset(
        "state name macaddress cluster resources restrictions properties stats groups address subjobs".split()
    )


class Job(QBObject):
    """``qb.Job``: a job dict with Qube's defaults (``name``, ``prototype``, ``package``)."""

    FIELDS = frozenset(
        "account agenda p_agenda agendastatus callbacks cluster cpus cpustally data dependency domain flags "
        "flagsstring globalorder groups hostorder hosts id kind label lastupdate localorder mailaddress name "
        "notes omitgroups omithosts package path pathmap pgrp pid priority prototype queue reason requirements "
        "reservations restrictions retrysubjob retrywork retrywork_delay serverid status subjobs subjobstatus "
        "timecomplete timelimit timeout agenda_timelimit agenda_timeout timestart timesubmit todo todotally "
        "user waitfor env cwd max_cpus".split()
    )
    ALIASES = {"agendatimeout": "agenda_timeout"}

    def __init__(
        self,
        data: Optional[Mapping[str, Any]] = None,
        name: str = "",
        prototype: str = "",
        package: Optional[Dict[str, Any]] = None,
        **fields: Any,
    ) -> None:
        super().__init__(data if data is not None else {})
        self.update(fields)
        self.setdefault("name", "")
        self.setdefault("prototype", "")
        self.setdefault("package", {})
        if name != "":
            self["name"] = name
        if prototype != "":
            self["prototype"] = prototype
        if package:
            self["package"] = package
        _wrap_lists(self)


def _wrap_lists(job: Dict[str, Any]) -> None:
    for key, kind in (("agenda", Work), ("p_agenda", Work), ("callbacks", Callback), ("subjobs", Subjob)):
        items = job.get(key)
        if isinstance(items, (list, tuple)):
            job[key] = [kind(item) if isinstance(item, dict) and not isinstance(item, kind) else item
                        for item in items]


def wrap_job(data: Mapping[str, Any]) -> Job:
    """A job dict from the farm as a ``qb.Job`` (without Qube's defaults added)."""
    job = Job.__new__(Job)
    dict.__init__(job, data)
    _wrap_lists(job)
    return job
