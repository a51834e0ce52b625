"""Clients that read results through `COPY ... TO STDOUT`: connectorx (polars' read_database_uri
engine; binary COPY) and the ADBC PostgreSQL driver (every result as binary COPY). Expected
answers come from deltalake (delta-rs) reading the same lake folder.

Run by tests/clients/run.sh (LAKEGATE_PORT, LAKEGATE_LAKE_DIR).
"""
import os

PORT = int(os.environ["LAKEGATE_PORT"])
URI = f"postgresql://demo@127.0.0.1:{PORT}/lake"
LAKE = os.environ["LAKEGATE_LAKE_DIR"]

SQL = ("SELECT title_id, name, runtime_minutes, release_date, avg_rating FROM silver.titles "
       "ORDER BY title_id")


def titles():
    from deltalake import DeltaTable

    return DeltaTable(os.path.join(LAKE, "silver/titles")).to_pyarrow_table().sort_by("title_id").to_pylist()


def test_connectorx_into_polars_reads_binary_copy():
    import connectorx as cx
    import polars as pl

    df = cx.read_sql(URI, SQL, return_type="polars")
    assert df.dtypes == [pl.Int32, pl.String, pl.Int16, pl.Date, pl.Float32]
    want = titles()
    assert df.to_dicts() == [{k: t[k] for k in df.columns} for t in want]
    # polars' own entry point, with connectorx as its engine.
    df2 = pl.read_database_uri(SQL, URI, engine="connectorx")
    assert df2.equals(df)


def test_adbc_postgresql_reads_through_binary_copy_with_parameters():
    # ADBC resolves result types by pg_type.typreceive's name (`int8recv`): lakegate's regproc
    # columns are OIDs that print as names, as in Postgres. ADBC returns numeric as its text
    # (an opaque extension type) by its own default.
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(URI) as conn, conn.cursor() as cur:
        cur.execute(SQL.replace(" FROM", ", budget_usd FROM"))
        table = cur.fetch_arrow_table()
        cur.execute("SELECT name FROM silver.titles WHERE title_id = $1", parameters=(7,))
        assert cur.fetchall() == [(next(t["name"] for t in titles() if t["title_id"] == 7),)]
    import pyarrow as pa

    assert [table.schema.field(c).type for c in ["title_id", "name", "runtime_minutes", "release_date", "avg_rating"]] \
        == [pa.int32(), pa.string(), pa.int16(), pa.date32(), pa.float32()]
    got = table.to_pylist()
    want = titles()
    for g, t in zip(got, want, strict=True):
        assert {k: g[k] for k in ["title_id", "name", "runtime_minutes", "release_date", "avg_rating"]} == \
            {k: t[k] for k in ["title_id", "name", "runtime_minutes", "release_date", "avg_rating"]}
        assert g["budget_usd"] == (None if t["budget_usd"] is None else str(t["budget_usd"]))
