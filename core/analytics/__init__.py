"""Figures computed in DuckDB over the database's rows read as Arrow columns (issue 17).

- source: the columnar reads (ADBC; SQLite through sqlite_reader's helper process), kept per
  request, and the DuckDB connection with typed views over them;
- orders: the Overview's order, refund and ticket aggregates;
- ledger: the loyalty ledger's entries and oldest-first lots;
- definitions: reactivation, defined once.

core.kpis and core.loyalty keep the public functions and their return shapes; they call here.
"""
