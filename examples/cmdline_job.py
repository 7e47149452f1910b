"""Jobs without an agenda: a command that each instance runs once, as Qube runs cmdline jobs.

    qbtrigger simulate examples/cmdline_job.py

The cache job has no frames: its 3 instances (cpus, given as a string, as many scripts do) each
run the command once, and their subjob events fire. The cleanup job waits for it with the
deprecated `waitfor` field, which becomes `link-done-job-ID`. Expect: cache's instances 0-2
complete, then cleanup's single instance, every job finished.
"""

import qb

cache = qb.Job(name="sim cache", prototype="cmdline", cpus="3")
cache["package"] = {"cmdline": "houdini_cache --shot sh010 --part $QB_SUBID"}
[submitted] = qb.submit([cache])

cleanup = qb.Job(name="cleanup", prototype="cmdline", waitfor=submitted["id"])
cleanup["package"] = {"cmdline": "rm -rf /tmp/sh010_scratch"}
qb.submit([cleanup])
