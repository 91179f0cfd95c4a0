"""Benchmarks: ``python -m benchmarks.bench_<topic>`` writes ``benchmarks/results/<topic>.json`` and ``.md``."""
