"""What real clients send when a user connects and looks at a table: run against a real
PostgreSQL 15 by capture.sh, which keeps every statement the server logged (with its bound
parameters) in captured.jsonl. Each client sets application_name, so the log tells them apart.
Usage: python clients.py HOST PORT USER DBNAME"""
import asyncio
import sys

host, port, user, db = sys.argv[1:5]


def inspect(url, name):
    import sqlalchemy as sa
    engine = sa.create_engine(url, connect_args={"application_name": name})
    insp = sa.inspect(engine)
    insp.get_schema_names()
    insp.get_table_names(schema="silver")
    insp.get_view_names(schema="silver")
    insp.has_table("users", schema="silver")
    insp.get_columns("users", schema="silver")
    insp.get_columns("titles", schema="silver")
    insp.get_pk_constraint("users", schema="silver")
    insp.get_foreign_keys("users", schema="silver")
    insp.get_indexes("users", schema="silver")
    insp.get_unique_constraints("users", schema="silver")
    insp.get_check_constraints("users", schema="silver")
    insp.get_table_comment("users", schema="silver")
    with engine.connect() as c:
        c.execute(sa.text("SELECT count(*) FROM silver.users WHERE user_id <= :n"), {"n": 3}).all()
    engine.dispose()


def psycopg3():
    import psycopg
    with psycopg.connect(host=host, port=port, user=user, dbname=db, application_name="psycopg") as c:
        c.execute("SELECT user_id FROM silver.users WHERE user_id = ANY(%s)", ([1, 2],)).fetchall()
        c.execute("SELECT email FROM silver.users WHERE user_id = %s", (1,), prepare=True).fetchall()


async def asyncpg_client():
    import asyncpg
    c = await asyncpg.connect(host=host, port=int(port), user=user, database=db,
                              server_settings={"application_name": "asyncpg"})
    try:
        await c.fetch("SELECT array_agg(user_id) AS ids, array_agg(birth_year) AS years FROM silver.users WHERE user_id <= $1", 3)
        await c.fetch("SELECT array_agg(budget_usd::float8) FROM silver.titles")
    finally:
        await c.close()


def odbc():
    """psqlODBC (Excel, Power BI's ODBC path): its catalog calls and a parameter."""
    import os
    import pyodbc
    driver = "/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so"
    if not os.path.exists(driver):
        raise SystemExit(f"psqlODBC is not installed at {driver}: run tests/clients/run.sh first")
    c = pyodbc.connect(f"DRIVER={{{driver}}};SERVER={host};PORT={port};DATABASE={db};UID={user};PWD=;"
                       "UseDeclareFetch=0;SSLMode=disable;ConnSettings=SET application_name='psqlodbc'",
                       autocommit=False)
    cur = c.cursor()
    cur.tables(schema="silver").fetchall()
    cur.columns(table="users", schema="silver").fetchall()
    cur.execute("SELECT title_id, name FROM silver.titles WHERE title_id = ?", 3).fetchall()
    c.rollback()
    c.close()


def arrow_copy_clients():
    """ADBC's PostgreSQL driver and connectorx read results as binary COPY."""
    import adbc_driver_postgresql.dbapi as adbc
    import connectorx as cx
    with adbc.connect(f"postgresql://{user}@{host}:{port}/{db}?application_name=adbc-postgresql") as c:
        with c.cursor() as cur:
            cur.execute("SELECT user_id, email, signup_date FROM silver.users WHERE user_id <= 5")
            cur.fetch_arrow_table()
    cx.read_sql(f"postgresql://{user}@{host}:{port}/{db}?application_name=connectorx",
                "SELECT title_id, name, runtime_minutes FROM silver.titles", return_type="arrow")


inspect(f"postgresql+psycopg2://{user}@{host}:{port}/{db}", "sqlalchemy-psycopg2")
inspect(f"postgresql+psycopg://{user}@{host}:{port}/{db}", "sqlalchemy-psycopg")
psycopg3()
asyncio.run(asyncpg_client())
odbc()
arrow_copy_clients()
