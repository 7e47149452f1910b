"""The C library's header against the package: one version, and the API the Makefile exports."""

from __future__ import annotations

import re
from pathlib import Path

import qbtrigger

HEADER = Path(__file__).resolve().parent.parent / "native" / "qbtrigger.h"


def test_the_header_carries_the_package_version():
    text = HEADER.read_text()
    version = re.search(r'#define QBT_VERSION_STRING "([^"]+)"', text).group(1)
    parts = [re.search(rf"#define QBT_VERSION_{p} (\d+)", text).group(1) for p in ("MAJOR", "MINOR", "PATCH")]
    assert version == qbtrigger.__version__ == ".".join(parts)


def test_the_snapshot_format_version_is_the_twins():
    from qbtrigger._snapshot import FORMAT_VERSION

    assert f"#define QBT_SNAPSHOT_VERSION {FORMAT_VERSION}\n" in HEADER.read_text()
