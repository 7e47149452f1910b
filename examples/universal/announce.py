# Runs as administrator when any job completes: one line in the job's callback log.
import qb  # the running callback's qb (also in its globals)

job = qb.jobinfo(id=qb.jobid())[0]
print("job %d (%s) complete: %d work items" % (job["id"], job.get("label") or job.get("name"), len(job["agenda"])))
