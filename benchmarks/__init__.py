"""Benchmark scripts (run each as `python benchmarks/NAME.py`) and the modules they share:
benchmarks.server (a FerretDB 2 test server of their own, tests/testdb.py) and benchmarks.synthetic_runs
(MongoObserver-shaped runs).

A regular package, so `import benchmarks.server` finds this folder first even if an installed
distribution ships a top-level `benchmarks` package.
"""
