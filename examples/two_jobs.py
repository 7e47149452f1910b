"""A job waits for two jobs: the dependency field ANDs its entries.

    qbtrigger simulate examples/two_jobs.py

comp starts only when both fg and bg are complete. Expect: fg's and bg's frames first, then
comp's, every job complete.
"""

import qb

fg = qb.Job(name="fg", label="fg", agenda=qb.genframes("1-8"))
bg = qb.Job(name="bg", label="bg", agenda=qb.genframes("1-4"))
comp = qb.Job(name="comp", label="comp", agenda=qb.genframes("1-8"), dependency="link-complete-job-fg,link-complete-job-bg")

qb.submit([fg, bg, comp])
