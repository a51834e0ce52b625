"""Writes an Iceberg warehouse with pyiceberg (SqlCatalog on sqlite) for the iceberg tests:
sales.orders gets two appends, a copy-on-write delete, a renamed and an added column, and
a third append; sales.empty is created and left empty. Prints JSON with the
expected facts, computed here with pyarrow, for the Rust test to compare against."""
import json
import sys

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo
from pyiceberg.types import StringType

root = sys.argv[1]
cat = SqlCatalog("lakecat", uri=f"sqlite:///{root}/catalog.db", warehouse=f"file://{root}/warehouse")
if sys.argv[2:] == ["more"]:
    # A table created while lakegate serves the catalog.
    t = cat.create_table("sales.more", schema=pa.schema([("k", pa.int64())]))
    t.append(pa.table({"k": [7, 8]}))
    print(json.dumps({"rows": 2}))
    sys.exit(0)
cat.create_namespace("sales")
schema = pa.schema([("id", pa.int64()), ("region", pa.string()), ("amount", pa.float64())])
t = cat.create_table("sales.orders", schema=schema)
t.append(pa.table({"id": [1, 2, 3], "region": ["EU", "US", "EU"], "amount": [10.0, 20.0, 30.0]}, schema=schema))
t.append(pa.table({"id": [4, 5], "region": ["US", "APAC"], "amount": [40.0, 50.0]}, schema=schema))
first_two = [s.snapshot_id for s in t.metadata.snapshots]
t.delete(EqualTo("id", 2))
with t.update_schema() as u:
    u.rename_column("amount", "total")
    u.add_column("note", StringType())
t = cat.load_table("sales.orders")
t.append(pa.table({"id": [6], "region": ["EU"], "total": [60.0], "note": ["late"]}, schema=t.schema().as_arrow()))
cat.create_table("sales.empty", schema=schema)
rows = t.scan().to_arrow()
print(json.dumps({
    "rows": rows.num_rows,
    "sum_total": pc.sum(rows["total"]).as_py(),
    "ids": sorted(rows["id"].to_pylist()),
    "snapshots": [s.snapshot_id for s in t.metadata.snapshots],
    "after_second_append": first_two[-1],
    "metadata_location": t.metadata_location,
}))
