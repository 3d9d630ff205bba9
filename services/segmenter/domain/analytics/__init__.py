"""Analytics over a shop's orders and customers (pure: no AWS, no HTTP, no DuckDB).

`snapshot` flattens profiles and orders into the columns of the Parquet snapshot; the
engine (`segmenter.adapters.duckdb_engine`) turns those into *facts*: small aggregated
rows, each with the month it belongs to. `views` turns facts into the reports a marketer
reads, for any period, so a report over "2026-01..2026-06" needs no new pass.
"""

SNAPSHOT_TABLES = ("orders", "customers", "customer_states")
"""The Parquet tables of a pass's snapshot, each stored in the analytics bucket."""
