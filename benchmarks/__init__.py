"""Benchmarks of the matcher: pytest-benchmark tests (``python -m pytest benchmarks``) and the
side-by-side comparison (``python -m benchmarks.compare``). See benchmarks/README.md."""
