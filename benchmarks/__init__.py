"""Benchmark scripts (run each as `python benchmarks/NAME.py`) and the modules they share:
benchmarks.ferretdb (a FerretDB of their own) and benchmarks.synthetic_runs (MongoObserver-shaped runs).

A regular package, so `import benchmarks.ferretdb` finds this folder first even if an installed
distribution ships a top-level `benchmarks` package. Never put this folder itself on sys.path:
benchmarks/logging.py would shadow the standard library's logging.
"""
