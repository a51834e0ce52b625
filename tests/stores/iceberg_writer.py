"""Writes an Iceberg warehouse with pyiceberg (SqlCatalog on sqlite) for the iceberg tests:

- sales.orders: two appends, a copy-on-write delete, a renamed and an added column, a third
  append, a tag `first_two` and a branch `audit` with one more row;
- sales.empty: created and left empty;
- sales.mor: merge-on-read deletes, which pyiceberg cannot write itself: a position delete file
  and an equality delete file, committed as delete manifests through pyiceberg's own manifest
  and snapshot writers, then a re-insert of an equality-deleted key (newer sequence number, so
  it must stay);
- sales.events: partition evolution, identity(region) then day(ts), with data in both specs;
- sales.dropped: a column dropped after a write.

usage: iceberg_writer.py ROOT [more] [--s3 ENDPOINT] [--pg URL]: the catalog is ROOT/catalog.db
(or the PostgreSQL database at URL); the warehouse is ROOT/warehouse, or s3://lake/<ROOT's name>
on an S3-compatible ENDPOINT.

Prints JSON with the expected facts, computed here with pyarrow or plain Python, for the Rust
test to compare against."""
import json
import os
import sys
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat, ManifestContent, ManifestWriterV2
from pyiceberg.table.snapshots import Operation
from pyiceberg.table.update.snapshot import _FastAppendFiles
from pyiceberg.transforms import DayTransform
from pyiceberg.typedef import Record
from pyiceberg.types import StringType


class _DeleteManifestWriter(ManifestWriterV2):
    def content(self):
        return ManifestContent.DELETES

    @property
    def _meta(self):
        return {**super()._meta, "content": "deletes"}


class _AddDeleteFiles(_FastAppendFiles):
    """A fast append whose new manifest is a delete manifest."""

    def new_manifest_writer(self, spec):
        return _DeleteManifestWriter(spec, self.schema(), self.new_manifest_output(), self._snapshot_id, self._compression)


def field(name, typ, field_id):
    return pa.field(name, typ, nullable=False, metadata={b"PARQUET:field_id": str(field_id).encode()})


def write_parquet(table, data, path):
    with table.io.new_output(path).create() as f:
        pq.write_table(data, f)


def commit_delete_file(table, path, content, records, equality_ids=None):
    args = dict(
        content=content,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record(),
        record_count=records,
        file_size_in_bytes=len(table.io.new_input(path)),
        spec_id=0,
    )
    if equality_ids is not None:
        args["equality_ids"] = equality_ids
    with table.transaction() as tx:
        producer = _AddDeleteFiles(operation=Operation.DELETE, transaction=tx, io=table.io)
        producer.append_data_file(DataFile.from_args(_table_format_version=2, **args))
        producer.commit()


def write_mor(cat, root):
    schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
    t = cat.create_table("sales.mor", schema=schema)
    t.append(pa.table({"id": list(range(1, 11)), "name": [f"n{i}" for i in range(1, 11)]}, schema=schema))
    data_file = t.inspect.files()["file_path"][0].as_py()
    with t.io.new_input(data_file).open() as f:
        ids_in_file = pq.read_table(f)["id"].to_pylist()
    live = set(ids_in_file)
    data_dir = data_file.rsplit("/", 1)[0]
    # Position deletes: rows 0 and 3 of the data file.
    pos_path = f"{data_dir}/pos-deletes-1.parquet"
    write_parquet(
        t,
        pa.table(
            {"file_path": [data_file, data_file], "pos": [0, 3]},
            schema=pa.schema([field("file_path", pa.string(), 2147483546), field("pos", pa.int64(), 2147483545)]),
        ),
        pos_path,
    )
    commit_delete_file(t, pos_path, DataFileContent.POSITION_DELETES, 2)
    live -= {ids_in_file[0], ids_in_file[3]}
    t = cat.load_table("sales.mor")
    # Equality deletes on id (field 1): ids 7 and 9.
    eq_path = f"{data_dir}/eq-deletes-1.parquet"
    write_parquet(t, pa.table({"id": [7, 9]}, schema=pa.schema([field("id", pa.int64(), 1)])), eq_path)
    commit_delete_file(t, eq_path, DataFileContent.EQUALITY_DELETES, 2, equality_ids=[1])
    live -= {7, 9}
    t = cat.load_table("sales.mor")
    # Re-inserted after the equality delete: a newer sequence number, so it is live.
    t.append(pa.table({"id": [7], "name": ["again"]}, schema=schema))
    live.add(7)
    t = cat.load_table("sales.mor")
    return {"ids": sorted(live), "rows": len(live), "file_contents": sorted(t.inspect.files()["content"].to_pylist())}


def write_events(cat):
    schema = pa.schema([("id", pa.int64()), ("region", pa.string()), ("ts", pa.timestamp("us"))])
    t = cat.create_table("sales.events", schema=schema)
    with t.update_spec() as u:
        u.add_identity("region")
    t = cat.load_table("sales.events")
    first = pa.table(
        {
            "id": [1, 2, 3, 4],
            "region": ["EU", "US", "EU", "APAC"],
            "ts": [datetime(2026, 1, d) for d in (1, 1, 2, 3)],
        },
        schema=schema,
    )
    t.append(first)
    with t.update_spec() as u:
        u.remove_field("region")
        u.add_field("ts", DayTransform(), "ts_day")
    t = cat.load_table("sales.events")
    second = pa.table(
        {
            "id": [5, 6, 7],
            "region": ["EU", "US", "EU"],
            "ts": [datetime(2026, 1, d) for d in (3, 4, 4)],
        },
        schema=schema,
    )
    t.append(second)
    rows = t.scan().to_arrow()
    eu = rows.filter(pc.equal(rows["region"], "EU")).num_rows
    from_jan3 = rows.filter(pc.greater_equal(rows["ts"], pa.scalar(datetime(2026, 1, 3), pa.timestamp("us")))).num_rows
    partitions = t.inspect.partitions()
    return {
        "rows": rows.num_rows,
        "eu": eu,
        "from_jan3": from_jan3,
        "partitions": partitions.num_rows,
        "specs": len(t.metadata.partition_specs),
    }

root = sys.argv[1]
args = sys.argv[2:]
props = {"warehouse": f"file://{root}/warehouse"}
if "--s3" in args:
    endpoint = args[args.index("--s3") + 1]
    props = {
        "warehouse": f"s3://lake/{os.path.basename(root)}",
        "s3.endpoint": endpoint,
        "s3.access-key-id": "testing",
        "s3.secret-access-key": "testing",
        "s3.region": "us-east-1",
    }
uri = f"sqlite:///{root}/catalog.db"
if "--pg" in args:
    uri = args[args.index("--pg") + 1].replace("postgres://", "postgresql+psycopg2://", 1)
cat = SqlCatalog("lakecat", uri=uri, **props)
if "more" in args:
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
# A tag on the second append and a branch with one more row; main does not see it.
t.manage_snapshots().create_tag(first_two[-1], "first_two").commit()
t = cat.load_table("sales.orders")
t.manage_snapshots().create_branch(t.metadata.current_snapshot_id, "audit").commit()
t = cat.load_table("sales.orders")
t.append(pa.table({"id": [7], "region": ["US"], "total": [70.0], "note": ["audit"]}, schema=t.schema().as_arrow()), branch="audit")
t = cat.load_table("sales.orders")
audit_rows = t.scan().use_ref("audit").to_arrow().num_rows
# A dropped column: old files still hold it, reads must not.
dropped_schema = pa.schema([("a", pa.int64()), ("b", pa.string()), ("c", pa.float64())])
dt = cat.create_table("sales.dropped", schema=dropped_schema)
dt.append(pa.table({"a": [1, 2], "b": ["x", "y"], "c": [1.0, 2.0]}, schema=dropped_schema))
with dt.update_schema() as u:
    u.delete_column("b")
dt = cat.load_table("sales.dropped")
dt.append(pa.table({"a": [3], "c": [3.0]}, schema=dt.schema().as_arrow()))
dropped = dt.scan().to_arrow()
mor = write_mor(cat, root)
events = write_events(cat)
print(json.dumps({
    "audit_rows": audit_rows,
    "history": len(t.metadata.snapshot_log),
    "files": t.inspect.files().num_rows,
    "mor": mor,
    "dropped": {"rows": dropped.num_rows, "sum_c": pc.sum(dropped["c"]).as_py(), "columns": dropped.column_names},
    "events": events,
    "rows": rows.num_rows,
    "sum_total": pc.sum(rows["total"]).as_py(),
    "ids": sorted(rows["id"].to_pylist()),
    "snapshots": [s.snapshot_id for s in t.metadata.snapshots],
    "after_second_append": first_two[-1],
    "metadata_location": t.metadata_location,
}))
