"""Each frame waits for (A and B) or C: per-frame callbacks in python, against the qb API.

    qbtrigger simulate examples/a_and_b_or_c.py

Frame N of comp runs when frame N of both beauty and shadow is done, or as soon as frame N of
the (cheaper) preview job is, whichever comes first. The python callback unblocks the work item
named by the event that completed the expression. Expect: every frame of comp runs once and every
job completes. (python callbacks: enabled by default in simulate.)
"""

import qb

FRAMES = "1-10"
UNBLOCK = "qb.unblockwork('%d:%s' % (qb.jobid(), qb.event()['extra']))"

beauty = qb.Job(name="beauty", label="beauty", agenda=qb.genframes(FRAMES))
shadow = qb.Job(name="shadow", label="shadow", agenda=qb.genframes(FRAMES))
preview = qb.Job(name="preview", label="preview", agenda=qb.genframes(FRAMES))
comp = qb.Job(name="comp", label="comp", agenda=[qb.Work(name=w["name"], status="blocked") for w in qb.genframes(FRAMES)])
comp["callbacks"] = [
    {
        "triggers": f"(complete-work-beauty-{w['name']} && complete-work-shadow-{w['name']}) || complete-work-preview-{w['name']}",
        "language": "python",
        "code": UNBLOCK,
        "maximum": 1,  # the frame is unblocked once, by whichever branch completes first
    }
    for w in qb.genframes(FRAMES)
]

qb.submit([beauty, shadow, preview, comp])
