"""`SELECT * FROM lineitem` into a pandas DataFrame through each of lakegate's doors, side by
side in one run: ADBC Flight SQL, the HTTP API's Arrow stream, psycopg (Postgres text) and
asyncpg (Postgres binary) against lakegate, and DuckDB reading the same Parquet files in-process
(the floor). Each measurement runs in its own process (a DataFrame of 6 M rows is gigabytes).

    bench/doors.sh            # SF1, 3 runs each (median); rewrites its section of docs/benchmarks.md
"""
import argparse
import datetime as dt
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

SQL = "SELECT * FROM gold.lineitem"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def one(path, ports, lake):
    """One timed read into pandas, in this process; prints {"rows", "seconds"}."""
    import pandas as pd

    start = time.perf_counter()
    if path == "flight":
        import adbc_driver_flightsql.dbapi as flight_sql

        with flight_sql.connect(f"grpc://127.0.0.1:{ports['flight']}") as conn, conn.cursor() as cur:
            cur.execute(SQL)
            df = cur.fetch_arrow_table().to_pandas()
    elif path == "http":
        import pyarrow as pa
        import requests

        r = requests.post(f"http://127.0.0.1:{ports['http']}/v1/query", json={"sql": SQL},
                          headers={"Accept": "application/vnd.apache.arrow.stream"}, stream=True)
        r.raise_for_status()
        df = pa.ipc.open_stream(r.raw).read_all().to_pandas()
    elif path == "psycopg":
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={ports['pg']} user=bench dbname=lake") as conn:
            cur = conn.execute(SQL)
            df = pd.DataFrame(cur.fetchall(), columns=[c.name for c in cur.description])
    elif path == "asyncpg":
        import asyncio

        import asyncpg

        async def fetch():
            conn = await asyncpg.connect(host="127.0.0.1", port=ports["pg"], user="bench", database="lake")
            rows = await conn.fetch(SQL)
            await conn.close()
            return pd.DataFrame(rows, columns=list(rows[0].keys()))

        df = asyncio.run(fetch())
    elif path == "adbc_pg":
        import adbc_driver_postgresql.dbapi as pg

        with pg.connect(f"postgresql://bench@127.0.0.1:{ports['pg']}/lake") as conn, conn.cursor() as cur:
            cur.execute(SQL)
            df = cur.fetch_arrow_table().to_pandas()
    elif path == "connectorx":
        import connectorx as cx

        df = cx.read_sql(f"postgresql://bench@127.0.0.1:{ports['pg']}/lake", SQL, return_type="pandas")
    elif path == "flight_arrow":
        import adbc_driver_flightsql.dbapi as flight_sql

        with flight_sql.connect(f"grpc://127.0.0.1:{ports['flight']}") as conn, conn.cursor() as cur:
            cur.execute(SQL)
            df = cur.fetch_arrow_table()
    elif path == "duckdb_arrow":
        import duckdb

        files = str(Path(lake) / "gold" / "lineitem" / "*.parquet")
        r = duckdb.sql(f"SELECT * FROM read_parquet('{files}')").arrow()
        df = r.read_all() if hasattr(r, "read_all") else r
    elif path == "duckdb":
        import duckdb

        files = str(Path(lake) / "gold" / "lineitem" / "*.parquet")
        df = duckdb.sql(f"SELECT * FROM read_parquet('{files}')").df()
    else:
        raise SystemExit(f"unknown path {path}")
    seconds = time.perf_counter() - start
    print(json.dumps({"rows": df.num_rows if hasattr(df, "num_rows") else len(df), "seconds": seconds}))


PATHS = [
    ("flight", "ADBC Flight SQL (adbc-driver-flightsql) → pandas"),
    ("http", "HTTP API, Arrow IPC stream (requests + pyarrow) → pandas"),
    ("psycopg", "psycopg 3, Postgres text → pandas"),
    ("asyncpg", "asyncpg, Postgres binary → pandas"),
    ("adbc_pg", "ADBC PostgreSQL (adbc-driver-postgresql), binary COPY → pandas"),
    ("connectorx", "connectorx, binary COPY → pandas"),
    ("duckdb", "DuckDB in-process on the same Parquet files → pandas (the floor)"),
]
# The same reads into Arrow, without building a DataFrame: the doors' own rate.
ARROW_PATHS = [
    ("flight_arrow", "ADBC Flight SQL → pyarrow Table"),
    ("duckdb_arrow", "DuckDB in-process → Arrow (the floor)"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lakegate", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--sf", default="1")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")
    ap.add_argument("--commit", help="the commit the lakegate binary was built from [HEAD]")
    ap.add_argument("--one")
    ap.add_argument("--ports")
    ap.add_argument("--lake")
    a = ap.parse_args()
    if a.one:
        return one(a.one, json.loads(a.ports), a.lake)

    work = a.work / f"doors-sf{a.sf}"
    parquet = work / "parquet"
    if not (parquet / "lineitem.parquet").exists():
        parquet.mkdir(parents=True, exist_ok=True)
        tpchgen = Path(sys.executable).parent / "tpchgen-cli"
        subprocess.run([str(tpchgen), "parquet", "-s", a.sf, "--tables", "lineitem", "--output-dir", str(parquet)],
                       check=True)
    lake = work / "lake"
    if not (lake / "gold" / "lineitem" / "_delta_log").exists():
        subprocess.run([a.lakegate, "import", "--lake", str(lake), "--overwrite", "gold.lineitem",
                        str(parquet / "lineitem.parquet")], check=True)
    ports = {"pg": free_port(), "flight": free_port(), "http": free_port()}
    config = work / "lakegate.yaml"
    config.write_text(
        f"lake: {lake}\nlisten: 127.0.0.1:{ports['pg']}\n"
        f"http: {{listen: 127.0.0.1:{ports['http']}, max_rows: 0}}\n"
        f"flight: {{listen: 127.0.0.1:{ports['flight']}}}\n")
    server = subprocess.Popen([a.lakegate, "serve", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", ports["flight"]), 1).close()
                break
            except OSError:
                time.sleep(0.1)
        results = {}
        for path, _ in PATHS + ARROW_PATHS:
            times, rows = [], None
            for _ in range(a.runs):
                out = subprocess.run([sys.executable, __file__, "--lakegate", a.lakegate, "--work", str(a.work),
                                      "--one", path, "--ports", json.dumps(ports), "--lake", str(lake)],
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                times.append(r["seconds"])
                if rows is not None and rows != r["rows"]:
                    raise SystemExit(f"{path}: {r['rows']} rows, earlier {rows}")
                rows = r["rows"]
            results[path] = (rows, statistics.median(times))
            print(f"{path}: {rows} rows, median {results[path][1]:.2f} s", file=sys.stderr)
    finally:
        server.terminate()
        server.wait()
    counts = {r for r, _ in results.values()}
    if len(counts) != 1:
        raise SystemExit(f"row counts differ between paths: {results}")
    rows = counts.pop()
    versions = subprocess.run([sys.executable, "-c",
                               "import adbc_driver_flightsql, psycopg, asyncpg, duckdb, pandas, pyarrow;"
                               "print(f'adbc-driver-flightsql {adbc_driver_flightsql.__version__}, psycopg {psycopg.__version__}, "
                               "asyncpg {asyncpg.__version__}, DuckDB {duckdb.__version__}, pandas {pandas.__version__}, "
                               "pyarrow {pyarrow.__version__}')"], capture_output=True, text=True).stdout.strip()
    commit = a.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                        text=True, cwd=Path(__file__).parent).stdout.strip()
    rate = {p: rows / s for p, (_, s) in results.items()}
    lines = [
        "## Arrow doors — `SELECT * FROM lineitem` into pandas",
        "",
        f"Written by `bench/doors.sh` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC: TPC-H SF{a.sf} "
        f"lineitem ({rows:,} rows, 16 columns) as one Delta table, lakegate release build (commit {commit}) on "
        f"loopback; {versions}. Median of {a.runs} runs, each in a fresh process, from connect to a complete "
        "DataFrame.",
        "",
        "| path | seconds | rows/s | vs psycopg | vs DuckDB |",
        "|---|---:|---:|---:|---:|",
    ]
    for path, label in PATHS:
        s = results[path][1]
        lines.append(f"| {label} | {s:.2f} | {rate[path]:,.0f} | {rate[path] / rate['psycopg']:.2f}× | "
                     f"{rate[path] / rate['duckdb']:.2f}× |")
    lines += [
        "",
        "Into Arrow, without building a DataFrame (the doors' own rate):",
        "",
        "| path | seconds | rows/s | vs DuckDB → Arrow |",
        "|---|---:|---:|---:|",
    ]
    for path, label in ARROW_PATHS:
        s = results[path][1]
        lines.append(f"| {label} | {s:.2f} | {rate[path]:,.0f} | {rate[path] / rate['duckdb_arrow']:.2f}× |")
    lines += [
        "",
        f"Flight SQL / psycopg: **{rate['flight'] / rate['psycopg']:.1f}×** the rows per second; Flight SQL / DuckDB "
        f"in-process: **{rate['flight'] / rate['duckdb']:.2f}×**.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    doc = a.out.read_text() if a.out.exists() else "# Benchmarks\n"
    pattern = re.compile(r"## Arrow doors — .*?(?=\n## |\Z)", re.S)
    if pattern.search(doc):
        doc = pattern.sub(section.rstrip() + "\n", doc)
    else:
        doc = doc.rstrip() + "\n\n" + section
    a.out.write_text(doc)


if __name__ == "__main__":
    main()
