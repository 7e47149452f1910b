"""Builds the one extension, ``qbtrigger._native``: python/qbtrigger/_native.pyx plus native/*.c.

Metadata lives in pyproject.toml and the package layout in setup.cfg; this file only knows the
extension and three build-time switches (environment variables, "1" to turn on):

- ``QBTRIGGER_DEBUG_BUILD=1``: ``-O0 -g -UNDEBUG -DQBT_DEBUG=1`` (asserts and the C core's live
  allocation counters on).
- ``QBTRIGGER_SANITIZE=1``: add ``-fsanitize=address,undefined -fno-omit-frame-pointer`` to compile
  and link. The interpreter is not instrumented, so run it with gcc's runtimes preloaded, e.g.
  ``LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"``
  and ``ASAN_OPTIONS=detect_leaks=0`` (.ci/run shows the whole recipe).
- ``QBTRIGGER_PURE_PYTHON=1`` is NOT a build switch: the extension is still built; the variable only
  picks the pure-Python twin at import time.

Switching flags between two builds in one tree forces a full rebuild (a stamp file remembers them).
Cython writes its C into build/cython/, never beside the .pyx; the header directives at the top of
the .pyx, if any, take precedence over CYTHON_DIRECTIVES below.
"""

from __future__ import annotations

import os
import sys
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


DEBUG = _flag("QBTRIGGER_DEBUG_BUILD")
SANITIZE = _flag("QBTRIGGER_SANITIZE")
MSVC = sys.platform == "win32"

PYX = "python/qbtrigger/_native.pyx"
C_SOURCES = sorted(glob("native/*.c"))
HEADERS = sorted(glob("native/*.h")) + sorted(glob("python/qbtrigger/*.pxd"))

if MSVC:  # not a supported platform yet, but keep the flags meaningful there
    compile_args = ["/std:c11", "/W3"] + (["/Od", "/Zi", "/UNDEBUG", "/DQBT_DEBUG=1"] if DEBUG else ["/O2"])
    link_args: list[str] = []
    core_args: list[str] = []
else:
    compile_args = ["-std=c11", "-Wall", "-Wextra"]
    compile_args += ["-O0", "-g", "-UNDEBUG", "-DQBT_DEBUG=1"] if DEBUG else ["-O2"]
    link_args = []
    if SANITIZE:
        sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
        compile_args += sanitize
        link_args += sanitize
    # Only for native/*.c, which is plain C11 that a C supervisor could embed: Python's own CFLAGS
    # carry -fwrapv, which would define signed overflow away and hide it from UBSan. Hidden
    # visibility: the core's functions are called only from inside the extension, so calls between
    # its files go direct instead of through the PLT, and a file's own functions can be inlined
    # (the extension's entry point, PyInit__native, is exported by its own declaration).
    core_args = ["-fno-wrapv", "-Wpedantic", "-fvisibility=hidden"]

CYTHON_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "embedsignature": True,
}
BUILD_FLAGS = f"debug={DEBUG} sanitize={SANITIZE} cflags={compile_args} core={core_args} ldflags={link_args}"


class build_ext(_build_ext):
    """Rebuilds everything when the switches differ from the previous build in this tree, and
    compiles native/*.c with ``core_args`` on top of the extension's flags."""

    def build_extension(self, ext: Extension) -> None:
        compile_ = self.compiler.compile

        def compile_with_core_args(sources, *args, extra_postargs=None, **kwargs):
            core = [s for s in sources if os.path.normpath(s).startswith("native" + os.sep)]
            rest = [s for s in sources if s not in core]
            objects = compile_(rest, *args, extra_postargs=extra_postargs, **kwargs) if rest else []
            if core:
                postargs = [*(extra_postargs or []), *core_args]
                objects += compile_(core, *args, extra_postargs=postargs, **kwargs)
            return objects

        self.compiler.compile = compile_with_core_args
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = compile_

    def run(self) -> None:
        stamp = os.path.join(self.build_temp, "qbtrigger-build-flags.txt")
        try:
            with open(stamp, encoding="utf-8") as f:
                previous = f.read()
        except OSError:
            previous = None
        if previous != BUILD_FLAGS:
            self.force = True
        super().run()
        os.makedirs(self.build_temp, exist_ok=True)
        with open(stamp, "w", encoding="utf-8") as f:
            f.write(BUILD_FLAGS)


def extensions() -> list[Extension]:
    if not os.path.exists(PYX):
        sys.exit(f"setup.py: {PYX} is missing; the extension cannot be built")
    if not C_SOURCES:
        sys.exit("setup.py: no native/*.c sources found; the extension cannot be built")
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.exit(
            "setup.py: Cython >= 3 is needed to build qbtrigger._native "
            "(`pip install .` installs it by itself; for a direct setup.py call: pip install 'Cython>=3')"
        )
    ext = Extension(
        "qbtrigger._native",
        sources=[PYX, *C_SOURCES],
        include_dirs=["native"],
        depends=HEADERS,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    return cythonize(
        [ext],
        compiler_directives=CYTHON_DIRECTIVES,
        include_path=["python/qbtrigger"],
        build_dir="build/cython",
        quiet=True,
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": build_ext})
