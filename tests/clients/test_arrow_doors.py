"""The Arrow doors of the running demo lakegate with the clients people use for them: ADBC's
Flight SQL driver (DB-API, pandas, polars), pyarrow.flight, and requests against the HTTP query
API. Expected answers come from deltalake (delta-rs) reading the same lake folder.

Run by tests/clients/run.sh (LAKEGATE_FLIGHT_PORT, LAKEGATE_HTTP_PORT, LAKEGATE_LAKE_DIR).
"""
import os

import pyarrow as pa
import pytest

FLIGHT = f"grpc://127.0.0.1:{os.environ['LAKEGATE_FLIGHT_PORT']}"
HTTP = f"http://127.0.0.1:{os.environ['LAKEGATE_HTTP_PORT']}"
LAKE = os.environ["LAKEGATE_LAKE_DIR"]


def lake_table(path, sort):
    from deltalake import DeltaTable

    return DeltaTable(os.path.join(LAKE, path)).to_pyarrow_table().sort_by(sort)


def assert_same(got: pa.Table, want: pa.Table):
    """Same column names and values; string/list encodings may differ (views, large types)."""
    assert got.column_names == want.column_names
    assert got.num_rows == want.num_rows
    for name in want.column_names:
        g = got.column(name).combine_chunks()
        w = want.column(name).combine_chunks()
        if g.type != w.type:
            w = w.cast(g.type)
        assert g.equals(w), name


def test_adbc_flight_sql_reads_a_table_as_arrow():
    import adbc_driver_flightsql.dbapi as flight_sql

    with flight_sql.connect(FLIGHT) as conn, conn.cursor() as cur:
        cur.execute("SELECT title_id, name, kind, release_date, runtime_minutes, avg_rating, "
                    "budget_usd, genres FROM silver.titles ORDER BY title_id")
        got = cur.fetch_arrow_table()
    want = lake_table("silver/titles", "title_id").select(
        ["title_id", "name", "kind", "release_date", "runtime_minutes", "avg_rating", "budget_usd", "genres"])
    assert_same(got, want)
    assert got.schema.field("budget_usd").type == pa.decimal128(14, 2)
    assert got.schema.field("release_date").type == pa.date32()


def test_adbc_flight_sql_binds_parameters_and_reports_sqlstates():
    import adbc_driver_flightsql.dbapi as flight_sql

    want = lake_table("silver/titles", "title_id").to_pylist()
    with flight_sql.connect(FLIGHT) as conn, conn.cursor() as cur:
        for title_id in (3, 7):
            cur.execute("SELECT name FROM silver.titles WHERE title_id = $1", parameters=(title_id,))
            assert cur.fetchall() == [(next(r["name"] for r in want if r["title_id"] == title_id),)]
        with pytest.raises(flight_sql.Error) as e:
            cur.execute("SELECT * FROM silver.nope")
        assert "42P01" in str(e.value)
        with pytest.raises(flight_sql.Error) as e:
            cur.execute("DELETE FROM silver.titles")
        assert "25006" in str(e.value)
        # The connection goes on after errors.
        cur.execute("SELECT count(*) AS n FROM silver.titles")
        assert cur.fetchone() == (len(want),)


def test_adbc_get_objects_lists_the_lake():
    import adbc_driver_flightsql.dbapi as flight_sql

    with flight_sql.connect(FLIGHT) as conn:
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        tables = {(s["db_schema_name"], t["table_name"])
                  for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]}
        assert {("silver", "titles"), ("silver", "users"), ("gold", "top_titles")} <= tables
        schema = conn.adbc_get_table_schema("titles", db_schema_filter="silver")
        assert schema.field("title_id").type == pa.int32()


def test_pandas_and_polars_read_through_adbc():
    import adbc_driver_flightsql.dbapi as flight_sql
    import pandas as pd
    import polars as pl

    want = lake_table("silver/users", "user_id").select(["user_id", "country"]).to_pandas()
    sql = "SELECT user_id, country FROM silver.users ORDER BY user_id"
    with flight_sql.connect(FLIGHT) as conn:
        df = pd.read_sql(sql, conn)
        pd.testing.assert_frame_equal(df, want, check_dtype=False)
        pdf = pl.read_database(sql, connection=conn)
        assert pdf["user_id"].to_list() == want["user_id"].to_list()
        assert pdf["country"].to_list() == want["country"].to_list()


def _statement_query_any(sql: str) -> bytes:
    """A Flight SQL CommandStatementQuery packed in google.protobuf.Any, encoded by hand
    (pyarrow.flight speaks plain Flight; Flight SQL is protobuf commands inside it)."""

    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out

    def field(tag, data: bytes):
        return bytes([(tag << 3) | 2]) + varint(len(data)) + data

    command = field(1, sql.encode())
    return field(1, b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery") + field(2, command)


def test_pyarrow_flight_streams_a_statement():
    import pyarrow.flight as fl

    client = fl.FlightClient(FLIGHT)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(
        _statement_query_any("SELECT user_id, email FROM silver.users ORDER BY user_id")))
    assert info.schema.names == ["user_id", "email"]
    got = pa.concat_tables([client.do_get(e.ticket).read_all() for e in info.endpoints])
    assert_same(got, lake_table("silver/users", "user_id").select(["user_id", "email"]))


def test_http_query_api_with_requests():
    import requests

    want = lake_table("silver/titles", "title_id").to_pylist()
    r = requests.post(f"{HTTP}/v1/query", json={
        "sql": "SELECT title_id, name, runtime_minutes FROM silver.titles WHERE title_id <= $1 ORDER BY 1",
        "params": [5]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["columns"] == [{"name": "title_id", "type": "int4"}, {"name": "name", "type": "text"},
                               {"name": "runtime_minutes", "type": "int2"}]
    assert body["rows"] == [[t["title_id"], t["name"], t["runtime_minutes"]] for t in want[:5]]
    r = requests.post(f"{HTTP}/v1/query", json={"sql": "SELECT * FROM silver.users ORDER BY user_id"},
                      headers={"Accept": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 200
    got = pa.ipc.open_stream(r.content).read_all()
    assert_same(got.select(["user_id", "email", "country"]),
                lake_table("silver/users", "user_id").select(["user_id", "email", "country"]))
    r = requests.post(f"{HTTP}/v1/query", json={"sql": "SELECT * FROM silver.nope"})
    assert r.status_code == 400 and r.json()["error"]["sqlstate"] == "42P01"
