"""psqlODBC (what Excel, Power BI's ODBC path and many Windows tools use) through pyodbc,
against a running lakegate (LAKEGATE_PORT). UseDeclareFetch=1 makes the driver read results
with DECLARE ... CURSOR / FETCH n / CLOSE inside a transaction."""
import decimal
import os

import pytest

pyodbc = pytest.importorskip("pyodbc")

PORT = int(os.environ["LAKEGATE_PORT"])
DRIVER = os.environ.get("LAKEGATE_PSQLODBC", "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so")


def connect(declare_fetch):
    if not os.path.exists(DRIVER):
        pytest.skip(f"psqlODBC driver not installed at {DRIVER}")
    return pyodbc.connect(
        f"DRIVER={{{DRIVER}}};SERVER=127.0.0.1;PORT={PORT};DATABASE=lake;UID=demo;PWD=;"
        f"UseDeclareFetch={declare_fetch};Fetch=7;SSLMode=disable",
        autocommit=False,
    )


@pytest.mark.parametrize("declare_fetch", [0, 1])
def test_psqlodbc_reads_rows_and_parameters(declare_fetch):
    conn = connect(declare_fetch)
    cur = conn.cursor()
    # 60 titles read 7 at a time when UseDeclareFetch=1.
    rows = cur.execute("SELECT title_id, name FROM silver.titles ORDER BY title_id").fetchall()
    assert [r[0] for r in rows] == list(range(1, 61))
    row = cur.execute(
        "SELECT title_id, budget_usd, release_date FROM silver.titles WHERE title_id = ?", 3
    ).fetchone()
    assert row[0] == 3 and (row[1] is None or isinstance(row[1], decimal.Decimal))
    n = cur.execute("SELECT count(*) FROM silver.users WHERE country = ?", "DE").fetchone()[0]
    assert n > 0
    conn.rollback()
    conn.close()


def test_psqlodbc_catalog_functions_list_tables_and_columns():
    conn = connect(1)
    cur = conn.cursor()
    tables = {(t.table_schem, t.table_name, t.table_type) for t in cur.tables(schema="silver")}
    assert ("silver", "titles", "TABLE") in tables
    views = {(t.table_schem, t.table_name) for t in cur.tables(schema="gold", tableType="VIEW")}
    assert ("gold", "top_titles") in views
    cols = [(c.column_name, c.type_name) for c in cur.columns(table="titles", schema="silver")]
    assert cols[:3] == [("title_id", "int4"), ("name", "text"), ("kind", "text")]
    assert ("budget_usd", "numeric") in cols
    conn.close()
