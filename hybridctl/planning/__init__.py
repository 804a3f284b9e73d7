"""The pure planning core: (catalog, workload) -> plan, with no I/O of any kind."""
