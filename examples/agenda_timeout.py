"""Time limits: a frame that runs too long is failed, as Qube's agenda_timelimit does.

    qbtrigger simulate examples/agenda_timeout.py

The render job allows each frame 5 seconds (`agenda_timelimit`, which Qube expands into
`agenda_timeout` plus the qube callback `timeout-work-self-*` -> `fail-work-self`). Its frames
take about 10 s, and Qube checks limits every 15 s: a frame still running at the first check
after its 5 s is failed there; one that finishes before that check gets away with it. The
report job, a cmdline job with no agenda, runs when render is done, however it ended, and its
mail callback logs that there is no address to mail. Expect: a few frames time out and fail,
render ends failed, report completes.
"""

import qb

render = qb.Job(name="render", label="render", agenda=qb.genframes("1-12"))
render["agenda_timelimit"] = "5"

report = qb.Job(name="report", label="report", prototype="cmdline", dependency="link-done-job-render")
report["callbacks"] = [{"triggers": "done-job-self", "language": "mail"}]

qb.submit([render, report])
