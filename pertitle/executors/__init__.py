"""Executors: where jobs run. All offer `map_unordered(fn, items)` yielding (item, result, error)."""
