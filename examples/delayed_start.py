"""A delayed start: a job submitted blocked with `dummy-time-self-T` and `unblock-self`.

    qbtrigger simulate examples/delayed_start.py

The nightly job unblocks one virtual hour after submission (Qube time = Unix time minus
QB_TIME_EPOCH_OFFSET). The simulator jumps its clock to the moment when nothing else can run.
Expect: the daytime job first, nightly's frames starting at virtual time >= one hour.
"""

import time

import qb

now = int(time.time()) - qb.QB_TIME_EPOCH_OFFSET
start = now + 3600

daytime = qb.Job(name="daytime", label="daytime", agenda=qb.genframes("1-4"))
nightly = qb.Job(name="nightly", label="nightly", agenda=qb.genframes("1-4"), status="blocked")
nightly["callbacks"] = [{"triggers": f"dummy-time-self-{start}", "language": "qube", "code": "unblock-self"}]

qb.submit([daytime, nightly])
