"""A submission that deadlocks on purpose: two jobs, each waiting for the other.

    qbtrigger check examples/deadlock.py      # exit 1: reports the dependency cycle
    qbtrigger simulate examples/deadlock.py   # exit 2: nothing can run; says what waits on what

lighting waits for fx to complete and fx for lighting, so both stay blocked forever. The report
lists both jobs as stuck, with the atom each one's callback still awaits.
"""

import qb

lighting = qb.Job(name="lighting", label="lighting", agenda=qb.genframes("1-3"), dependency="link-complete-job-fx")
fx = qb.Job(name="fx", label="fx", agenda=qb.genframes("1-3"), dependency="link-complete-job-lighting")

qb.submit([lighting, fx])
