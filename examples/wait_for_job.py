"""A job waits for a whole job: a qube callback unblocks it when its upstream completes.

    qbtrigger simulate examples/wait_for_job.py

The publish job is submitted blocked with the callback `complete-job-render -> unblock-self`
(the long hand of `dependency='link-complete-job-render'`). Expect: render's 10 frames, then
publish's 2, every job complete.
"""

import qb

render = qb.Job(name="render", label="render", agenda=qb.genframes("1-10"))
publish = qb.Job(name="publish", label="publish", agenda=qb.genframes("1-2"), status="blocked")
publish["callbacks"] = [{"triggers": "complete-job-render", "language": "qube", "code": "unblock-self"}]

qb.submit([render, publish])
