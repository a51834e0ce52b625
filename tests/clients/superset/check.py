"""Checks what drive.py got from Superset against the lake itself, read with delta-rs (the
`deltalake` package, an independent reader): the table's columns, the chart's rows (count per
group) and SQL Lab's count.

usage: check.py DRIVE_OUTPUT.json LAKE SCHEMA TABLE GROUP_BY_COLUMN"""
import json
import os
import sys
from collections import Counter

from deltalake import DeltaTable

out, lake, schema, table, column = sys.argv[1:6]
got = json.load(open(out))
t = DeltaTable(f"{lake}/{schema}/{table}").to_pyarrow_table()
want_rows = {str(k): v for k, v in Counter(t[column].to_pylist()).items()}
failures = []
if schema not in got["schemas"]:
    failures.append(f"schema {schema} not listed: {got['schemas']}")
if table not in got["tables"]:
    failures.append(f"table {table} not listed: {got['tables']}")
if got["columns"] != t.column_names:
    failures.append(f"columns {got['columns']} != {t.column_names}")
if got["dataset_columns"] != sorted(t.column_names):
    failures.append(f"dataset columns {got['dataset_columns']} != {sorted(t.column_names)}")
if got["chart_rows"] != want_rows:
    failures.append(f"chart rows {got['chart_rows']} != {want_rows}")
if got["sqllab_count"] != t.num_rows:
    failures.append(f"SQL Lab count {got['sqllab_count']} != {t.num_rows}")
for f in failures:
    print("FAILED:", f)
print(f"superset: {6 - len(failures)} passed, {len(failures)} failed")
sys.stdout.flush()
# Without interpreter teardown: deltalake's runtime threads sometimes abort the process at exit
# ("terminate called without an active exception"), after every check has passed.
os._exit(1 if failures else 0)
