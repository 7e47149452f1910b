"""The README's sample output is exactly what its first command prints (``...`` stands for lines
left out)."""

from __future__ import annotations

import re
from pathlib import Path

from qbtrigger.cli import main

ROOT = Path(__file__).resolve().parent.parent


def readme_sample() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first = text.index("qbtrigger simulate examples/frame_by_frame.py")
    after = text.index("```", first) + 3  # past the end of the block holding the command
    block = re.search(r"```\n(.*?)```", text[after:], re.DOTALL)
    assert block is not None, "the README shows no output after its first command"
    return block.group(1).rstrip("\n").split("\n")


def test_the_readme_sample_is_what_simulate_prints(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["simulate", "examples/frame_by_frame.py"]) == 0
    printed = capsys.readouterr().out.rstrip("\n").split("\n")
    at, gap = 0, False
    for line in readme_sample():
        if line.strip() == "...":
            gap = True  # some printed lines are left out here
            continue
        if gap:
            assert line in printed[at:], f"README line not printed: {line!r}\nprinted:\n" + "\n".join(printed)
            at = printed.index(line, at)
        else:
            assert at < len(printed) and printed[at] == line, (
                f"README line {line!r} but printed {printed[at] if at < len(printed) else 'nothing'!r}")
        at, gap = at + 1, False
    assert at == len(printed) or gap, f"printed after the README's last line: {printed[at:]}"
