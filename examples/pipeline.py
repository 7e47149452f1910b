"""A small pipeline with a mistake in it, to look at: `qbtrigger simulate examples/pipeline.py --html run.html`.

render renders frames 1-8; comp composites each frame as soon as its render frame is done (a
frame-by-frame `dependency`); publish waits for the whole comp job. lighting and fx were meant to
run one after the other, but each was told to wait for the other: both stay blocked, and the page
rings them in red with what each one waits for. Expect exit status 2 (something is stuck).
"""

import qb

render = qb.Job(name="render", label="render", agenda=qb.genframes("1-8"))
comp = qb.Job(name="comp", label="comp", agenda=qb.genframes("1-8"), dependency="link-complete-work-render")
publish = qb.Job(name="publish", label="publish", agenda=qb.genframes("1"), dependency="link-complete-job-comp")
lighting = qb.Job(name="lighting", label="lighting", agenda=qb.genframes("1-2"), dependency="link-complete-job-fx")
fx = qb.Job(name="fx", label="fx", agenda=qb.genframes("1-2"), dependency="link-complete-job-lighting")

qb.submit([render, comp, publish, lighting, fx])
