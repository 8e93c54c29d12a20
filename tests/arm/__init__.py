"""The generic ARM layer: routing, ids, paging, LRO, errors, conditional requests, the store, CLI flags."""
