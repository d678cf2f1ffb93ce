"""The pure core: values and analysis that every layer shares; no dash, no pymongo, no store, no pages.

types (RunId, Series, ...), values (decode, times, paths, numbers), compare (diffs, smoothing, aggregates),
output (ANSI parsing), grouping, downsample, importance, summaries (the registry of summary statistics),
run_view (run page formatters). The store fills these values, components lay them out; tests/test_layers.py
keeps the arrows pointing this way.
"""
