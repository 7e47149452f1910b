"""Each comp frame waits for the same render frame: the classic frame-by-frame link.

    qbtrigger simulate examples/frame_by_frame.py

render renders frames 1-20 and comp composites them, each on 2 subjobs (cpus=2: two frames at
a time). comp's `dependency` links it frame by frame
(link-complete-work-render), so comp frame 7 starts as soon as render frame 7 is done, not when
the whole render job is. Expect: every job complete, comp's frames interleaved with render's.
"""

import qb

render = qb.Job(name="render", label="render", cpus=2, agenda=qb.genframes("1-20"))
comp = qb.Job(name="comp", label="comp", cpus=2, agenda=qb.genframes("1-20"), dependency="link-complete-work-render")

for job in qb.submit([render, comp]):
    print(f"submitted {job['label']}: job {job['id']}")
