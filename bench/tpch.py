#!/usr/bin/env python3
"""lakegate vs PostgreSQL vs DuckDB on the same TPC-H data; run through bench/run.sh.

Parts: the 22 TPC-H queries (lakegate and PostgreSQL through the wire with psycopg, DuckDB
in-process; every result checked against DuckDB's), result streaming, connection set-up and
round trips, JDBC catalog introspection, pgbench with many small queries, and lakegate's peak
RSS in each part. Writes a markdown report (docs/benchmarks.md by default).
"""

import argparse
import datetime as dt
import decimal
import json
import math
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psycopg

ROOT = Path(__file__).resolve().parent.parent
TABLES = ["region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"]
PRIMARY_KEYS = {
    "region": "r_regionkey",
    "nation": "n_nationkey",
    "supplier": "s_suppkey",
    "customer": "c_custkey",
    "part": "p_partkey",
    "partsupp": "ps_partkey, ps_suppkey",
    "orders": "o_orderkey",
    "lineitem": "l_orderkey, l_linenumber",
}
# Foreign-key indexes a PostgreSQL DBA would add for TPC-H (Q17/Q20 need l_partkey).
INDEXES = [
    "lineitem (l_partkey, l_suppkey)",
    "lineitem (l_suppkey)",
    "orders (o_custkey)",
    "partsupp (ps_suppkey)",
    "customer (c_nationkey)",
    "supplier (s_nationkey)",
]
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def geomean(xs):
    xs = [x for x in xs if x and x > 0 and math.isfinite(x)]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


class Rss:
    """Peak resident memory of a process, per part: a sampler thread every 50 ms."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, False
        threading.Thread(target=self._run, daemon=True).start()

    def now(self):
        try:
            for line in open(f"/proc/{self.pid}/status"):
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) // 1024
        except OSError:
            pass
        return 0

    def _run(self):
        while not self.stop:
            self.peak = max(self.peak, self.now())
            time.sleep(0.05)

    def part(self):
        """Peak since the last call (MiB), then start a new part."""
        peak, self.peak = max(self.peak, self.now()), self.now()
        return peak


# ---------------------------------------------------------------------------------------------
# Data


def generate(work, sf):
    parquet = work / "parquet"
    if (parquet / "lineitem.parquet").exists():
        return parquet
    log(f"generating TPC-H SF{sf} parquet with tpchgen-cli")
    parquet.mkdir(parents=True, exist_ok=True)
    tpchgen = Path(sys.executable).parent / "tpchgen-cli"
    subprocess.run([str(tpchgen), "parquet", "-s", str(sf), "--output-dir", str(parquet)], check=True)
    return parquet


def build_lake(work, parquet, lakegate):
    lake = work / "lake"
    marker = lake / ".tpch-complete"
    if marker.exists():
        return lake
    log("writing the lake: one Delta table per TPC-H table in gold, with `lakegate import`")
    (lake / "gold").mkdir(parents=True, exist_ok=True)
    for t in TABLES:
        subprocess.run(
            [lakegate, "import", "--lake", str(lake), "--overwrite", f"gold.{t}", str(parquet / f"{t}.parquet")],
            check=True,
        )
    marker.write_text("ok\n")
    return lake


# ---------------------------------------------------------------------------------------------
# PostgreSQL


class Postgres:
    def __init__(self, work, cores, mem_gib):
        self.as_postgres = os.geteuid() == 0
        # As root, the cluster belongs to the postgres user, in its home (root's is private).
        self.dir = Path("/var/lib/postgresql/lakegate-bench") / work.name if self.as_postgres else work / "pg"
        self.data = self.dir / "data"
        self.sock = self.dir / "sock"
        self.port = free_port()
        # Sensible settings for this machine: a quarter of memory for shared buffers, all cores
        # for parallel query, generous work_mem for hash joins and sorts.
        self.settings = {
            "shared_buffers": f"{max(1, int(mem_gib // 4))}GB",
            "effective_cache_size": f"{max(1, int(mem_gib // 2))}GB",
            "work_mem": "256MB",
            "maintenance_work_mem": "1GB",
            "max_parallel_workers_per_gather": str(cores),
            "max_parallel_workers": str(cores),
            "max_worker_processes": str(max(8, cores)),
            "random_page_cost": "1.1",
            "max_connections": "200",
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.sock),
            "max_wal_size": "4GB",
            "fsync": "off",  # load speed only; queries never write
        }

    def _run(self, args, **kw):
        if self.as_postgres:
            args = ["runuser", "-u", "postgres", "--"] + args
        return subprocess.run(args, check=True, **kw)

    def start(self):
        if not (self.data / "PG_VERSION").exists():
            log("initdb PostgreSQL 15")
            self.dir.mkdir(parents=True, exist_ok=True)
            if self.as_postgres:
                for d in (self.dir.parent, self.dir):
                    shutil.chown(d, "postgres", "postgres")
            self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                      stdout=subprocess.DEVNULL)
        self.sock.mkdir(parents=True, exist_ok=True)
        if self.as_postgres:
            shutil.chown(self.sock, "postgres", "postgres")
        opts = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"),
                   "-w", "start"], stdout=subprocess.DEVNULL)
        self.url = f"host=127.0.0.1 port={self.port} user=postgres dbname=tpch"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = 'tpch'").fetchone():
                c.execute("CREATE DATABASE tpch")
                c.execute("ALTER DATABASE tpch SET search_path = gold")
            self.version = c.execute("SHOW server_version").fetchone()[0]

    def stop(self):
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"], stdout=subprocess.DEVNULL)

    def load(self, parquet, sf):
        with psycopg.connect(self.url, autocommit=True) as c:
            done = c.execute("SELECT to_regclass('gold.loaded') IS NOT NULL").fetchone()[0]
            if done and c.execute("SELECT sf FROM gold.loaded").fetchone()[0] == str(sf):
                return
            duckdb.execute("SET enable_progress_bar = false")
            log("loading PostgreSQL: tables with the parquet types, COPY, keys, indexes, ANALYZE")
            c.execute("DROP SCHEMA IF EXISTS gold CASCADE")
            c.execute("CREATE SCHEMA gold")
            for t in TABLES:
                cols = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{parquet / t}.parquet')").fetchall()
                ddl = ", ".join(f"{name} {pg_type(typ)} NOT NULL" for name, typ, *_ in cols)
                c.execute(f"CREATE TABLE gold.{t} ({ddl})")
                t0 = time.time()
                csv = parquet.parent / f"{t}.csv"
                duckdb.execute(f"COPY (SELECT * FROM read_parquet('{parquet / t}.parquet')) TO '{csv}' "
                               "(FORMAT csv, HEADER false)")
                with c.cursor().copy(f"COPY gold.{t} FROM STDIN (FORMAT csv)") as copy, open(csv, "rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
                csv.unlink()
                log(f"  {t}: {time.time() - t0:.1f} s")
            for t, key in PRIMARY_KEYS.items():
                c.execute(f"ALTER TABLE gold.{t} ADD PRIMARY KEY ({key})")
            for i, idx in enumerate(INDEXES):
                c.execute(f"CREATE INDEX tpch_idx_{i} ON gold.{idx}")
            c.execute("VACUUM ANALYZE")
            c.execute("CREATE TABLE gold.loaded AS SELECT %s::text AS sf", (str(sf),))


def pg_type(duck):
    duck = duck.upper()
    if duck.startswith("DECIMAL"):
        return duck.replace("DECIMAL", "numeric")
    return {"BIGINT": "bigint", "INTEGER": "integer", "DATE": "date", "VARCHAR": "text",
            "DOUBLE": "double precision"}.get(duck, duck.lower())


# ---------------------------------------------------------------------------------------------
# lakegate


class Lakegate:
    def __init__(self, binary, lake, work):
        self.port = free_port()
        self.config = work / "lakegate.yaml"
        self.config.write_text(
            f"lake: {lake}\nlisten: 127.0.0.1:{self.port}\nmax_connections: 256\n"
            "limits: {statement_timeout: 10m, query_memory: 8GiB, memory: 12GiB}\n"
        )
        self.log = open(work / "lakegate.log", "w")
        self.proc = subprocess.Popen([binary, "serve", "--config", str(self.config)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        # The result cache off: every figure is the engine's, as PostgreSQL's are (a repeated
        # query would otherwise come from memory; bench/result_cache.sh measures that).
        self.url = (f"host=127.0.0.1 port={self.port} user=bench dbname=lake "
                    "options='-c search_path=gold -c lakegate.result_cache=off'")
        deadline = time.time() + 60
        while True:
            try:
                with psycopg.connect(self.url) as c:
                    n = c.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'gold'"
                                  ).fetchone()[0]
                    if n >= len(TABLES):
                        break
            except psycopg.OperationalError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"lakegate did not start; see {work / 'lakegate.log'}")
            time.sleep(0.2)
        self.rss = Rss(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


# ---------------------------------------------------------------------------------------------
# TPC-H queries


def queries(sf):
    out = []
    for f in sorted((ROOT / "bench" / "tpch").glob("q*.sql")):
        # Q11's fraction is 0.0001 / SF by the specification.
        out.append((f.stem.upper(), f.read_text().format(fraction=f"{0.0001 / sf:.10f}")))
    return out


def normalize(v):
    if isinstance(v, (decimal.Decimal, float, int)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, str):
        return v.rstrip()
    return v


def same(a, b):
    if len(a) != len(b):
        return f"{len(a)} rows vs {len(b)}"
    for ra, rb in zip(a, b):
        if len(ra) != len(rb):
            return "column count differs"
        for x, y in zip(ra, rb):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-6):
                    return f"{x} vs {y}"
            elif x != y:
                return f"{x!r} vs {y!r}"
    return None


def check(a, b):
    a = [tuple(normalize(v) for v in r) for r in a]
    b = [tuple(normalize(v) for v in r) for r in b]
    diff = same(a, b)
    if diff:
        # Rows tied on the ORDER BY keys may come in any order.
        key = lambda r: tuple(round(v, 2) if isinstance(v, float) else str(v) for v in r)  # noqa: E731
        if not same(sorted(a, key=key), sorted(b, key=key)):
            return None
    return diff


def run_wire(url, sql, runs, timeout_s):
    with psycopg.connect(url, autocommit=True) as c:
        times, rows = [], None
        for i in range(runs + 1):
            t = time.perf_counter()
            try:
                rows = c.execute(sql).fetchall()
            except psycopg.Error as e:
                return None, None, f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"
            elapsed = time.perf_counter() - t
            if i > 0:
                times.append(elapsed)  # the first run warms caches, as for every engine
            if elapsed > timeout_s:
                break
        return median(times) if times else elapsed, rows, None


def run_duckdb(con, sql, runs):
    times, rows = [], None
    for i in range(runs + 1):
        t = time.perf_counter()
        rows = con.execute(sql).fetchall()
        if i > 0:
            times.append(time.perf_counter() - t)
    return median(times), rows


def tpch(args, lg, pg, parquet):
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{parquet / t}.parquet')")
    results = []
    for name, sql in queries(args.sf):
        d_time, d_rows = run_duckdb(con, sql, args.runs)
        l_time, l_rows, l_err = run_wire(lg.url, sql, args.runs, args.slow)
        p_time, p_rows, p_err = (None, None, "skipped") if args.no_postgres else run_wire(
            pg.url, sql, args.runs, args.slow)
        l_check = l_err or check(l_rows, d_rows)
        p_check = p_err or check(p_rows, d_rows)
        results.append({
            "query": name, "rows": len(d_rows), "lakegate": l_time, "postgres": p_time, "duckdb": d_time,
            "lakegate_check": l_check, "postgres_check": p_check,
        })
        log(f"{name}: lakegate {fmt(l_time)} s, PostgreSQL {fmt(p_time)} s, DuckDB {fmt(d_time)} s"
            + (f"  lakegate WRONG: {l_check}" if l_check else "")
            + (f"  PostgreSQL differs: {p_check}" if p_check and not args.no_postgres else ""))
    return results


# ---------------------------------------------------------------------------------------------
# Streaming, connections, introspection, pgbench


def streaming(args, url, table, stream_bench):
    """Rows/s of SELECT * FROM lineitem: psycopg (text, rows received into libpq, not turned
    into Python objects) and tokio-postgres (text via simple protocol, binary via extended)."""
    sql = f"SELECT * FROM {table}"
    times = []
    with psycopg.connect(url, autocommit=True) as c:
        for _ in range(args.runs):
            cur = c.cursor()
            t = time.perf_counter()
            cur.execute(sql)
            times.append(time.perf_counter() - t)
            n = cur.rowcount
            cur.close()
    out = {"psycopg text": n / median(times)}
    res = json.loads(subprocess.run([stream_bench, "--url", url, "--query", sql,
                                     "--runs", str(args.runs)],
                                    check=True, capture_output=True, text=True).stdout)
    for k in ("text", "binary"):
        out[f"tokio-postgres {k}"] = res[k]["rows"] / median(res[k]["seconds"])
    return out, n


def connections(args, url):
    """connect + SELECT 1 + close per second, and SELECT 1 round trips per second on one
    connection (simple protocol), each for a few seconds."""
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < args.secs:
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("SELECT 1").fetchall()
        n += 1
    conn_rate = n / (time.perf_counter() - t0)
    with psycopg.connect(url, autocommit=True) as c:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.secs:
            c.execute("SELECT 1").fetchall()
            n += 1
        rtt_rate = n / (time.perf_counter() - t0)
    return conn_rate, rtt_rate


def introspection(args, jdbc_url, user):
    out = subprocess.run(["java", "-cp", "/usr/share/java/postgresql.jar", str(ROOT / "bench" / "Introspect.java"),
                          jdbc_url, user, str(max(3, args.runs))], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


PGBENCH_SCRIPTS = {
    # A key lookup on a small dimension table: the typical dashboard filter query.
    "point": "\\set k random(0, 24)\nSELECT n_name, n_regionkey FROM nation WHERE n_nationkey = :k;\n",
}


def pgbench(args, host, port, user, db, options, work):
    out = {}
    script = work / "pgbench_point.sql"
    script.write_text(PGBENCH_SCRIPTS["point"])
    env = dict(os.environ, PGOPTIONS=options) if options else dict(os.environ)
    for mode in ("simple", "extended"):
        for clients in args.clients:
            r = subprocess.run(["pgbench", "-n", "-M", mode, "-f", str(script), "-c", str(clients),
                                "-j", str(min(clients, os.cpu_count() or 2)), "-T", str(args.secs),
                                "-h", host, "-p", str(port), "-U", user, db],
                               capture_output=True, text=True, env=env)
            m = re.search(r"tps = ([0-9.]+) \(without initial", r.stdout)
            failed = re.search(r"number of failed transactions: (\d+)", r.stdout)
            out[(mode, clients)] = float(m.group(1)) if m and r.returncode == 0 else None
            if r.returncode != 0 or (failed and failed.group(1) != "0"):
                log(f"pgbench {mode} {clients} failed: {r.stderr.strip()[-300:]}")
    return out


# ---------------------------------------------------------------------------------------------
# Report


def fmt(x, digits=2):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}"


def ratio(a, b):
    return a / b if a and b else None


def machine(pg):
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1024 / 1024
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    lock = (ROOT / "Cargo.lock").read_text()
    df = re.search(r'name = "datafusion"\nversion = "([^"]+)"', lock)
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": f"{os.cpu_count()} × {cpu}",
        "memory": f"{mem:.0f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "lakegate": f"commit {git}, release build, DataFusion {df.group(1) if df else '?'}, {rustc}",
        "postgres": f"PostgreSQL {pg.version if pg else '–'}",
        "duckdb": f"DuckDB {duckdb.__version__} (Python, in-process)",
        "psycopg": f"psycopg {psycopg.__version__} (libpq {psycopg.pq.version()})",
    }


def report(args, facts, q, extra, elapsed):
    lines = [
        "# Benchmarks",
        "",
        f"Written by `bench/run.sh{' ' + ' '.join(args.argv) if args.argv else ''}` on "
        f"{dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} in {elapsed / 60:.1f} minutes "
        "(every part; data generation and loading are skipped when a previous run cached them). Re-run it to refresh the sections it writes "
        "(machine, TPC-H, streaming, connections, pgbench, RSS); the figures there are from that run, not edited. "
        "The other sections are written by the scripts they name, on the dates they give.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += [
        "",
        f"PostgreSQL settings: {', '.join(f'{k}={v}' for k, v in extra['pg_settings'].items() if k not in ('port', 'unix_socket_directories', 'listen_addresses'))}; "
        "primary keys and the foreign-key indexes TPC-H kits add (" + "; ".join(INDEXES) + "), VACUUM ANALYZE after the load.",
        "",
        f"## TPC-H SF{args.sf} — seconds per query (median of {args.runs} runs after one warm-up)",
        "",
        "lakegate and PostgreSQL through the wire (psycopg, simple protocol, all rows fetched); DuckDB "
        "in-process over the same parquet files the lake was written from (`read_parquet` views). "
        "lakegate serves Delta tables written from those files by `lakegate import`. Each result is "
        "compared with DuckDB's (row count and every value, floats to 1e-6 relative).",
        "",
        "| query | rows | lakegate | PostgreSQL | DuckDB | PostgreSQL / lakegate | lakegate / DuckDB | check |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in q:
        checks = []
        if r["lakegate_check"]:
            checks.append(f"lakegate: {r['lakegate_check']}")
        if r["postgres_check"] and r["postgres_check"] != "skipped":
            checks.append(f"PostgreSQL: {r['postgres_check']}")
        lines.append(
            f"| {r['query']} | {r['rows']} | {fmt(r['lakegate'], 3)} | {fmt(r['postgres'], 3)} | {fmt(r['duckdb'], 3)} "
            f"| {fmt(ratio(r['postgres'], r['lakegate']))}× | {fmt(ratio(r['lakegate'], r['duckdb']))}× "
            f"| {'; '.join(checks) or 'ok'} |")
    # Over the queries every engine answered, so the means compare the same work.
    both = [r for r in q if r["lakegate"] and r["duckdb"] and (r["postgres"] or args.no_postgres)]
    g = {k: geomean([r[k] for r in both]) for k in ("lakegate", "postgres", "duckdb")}
    lines.append(
        f"| **geometric mean** | | **{fmt(g['lakegate'], 3)}** | **{fmt(g['postgres'], 3)}** | **{fmt(g['duckdb'], 3)}** "
        f"| **{fmt(ratio(g['postgres'], g['lakegate']))}×** | **{fmt(ratio(g['lakegate'], g['duckdb']))}×** | |")
    wrong = [r["query"] for r in q if r["lakegate_check"]]
    lines += ["", f"Geometric means over the {len(both)} queries every engine answered. "
              f"Wrong or failed lakegate answers: {', '.join(wrong) if wrong else 'none'}. "
              f"Targets: geometric mean ≤ 1.5× DuckDB and ≥ 5× faster than PostgreSQL.", ""]

    s = extra.get("streaming")
    if s:
        lines += [
            f"## Result streaming — `SELECT * FROM lineitem` ({s['rows']:,} rows), rows/s",
            "",
            "psycopg: rows received into libpq in text (not turned into Python objects); tokio-postgres "
            "(`examples/stream_bench.rs --url`): simple protocol (text) and extended protocol (binary), "
            "rows decoded lazily. Median of the runs.",
            "",
            "| client | lakegate | PostgreSQL | lakegate / PostgreSQL |",
            "|---|---:|---:|---:|",
        ]
        for k in s["lakegate"]:
            a, b = s["lakegate"][k], s["postgres"].get(k) if s.get("postgres") else None
            lines.append(f"| {k} | {a:,.0f} | {fmt(b, 0) if b is None else f'{b:,.0f}'} | {fmt(ratio(a, b))}× |")
        lines.append("")
    c = extra.get("connections")
    if c:
        lines += [
            "## Connections, round trips and catalog introspection",
            "",
            "| measure | lakegate | PostgreSQL | lakegate / PostgreSQL |",
            "|---|---:|---:|---:|",
            f"| connect + `SELECT 1` + close, per second (psycopg) | {c['lakegate'][0]:.0f} | {fmt(c['postgres'][0], 0)} | {fmt(ratio(c['lakegate'][0], c['postgres'][0]))}× |",
            f"| `SELECT 1` round trips per second, one connection | {c['lakegate'][1]:.0f} | {fmt(c['postgres'][1], 0)} | {fmt(ratio(c['lakegate'][1], c['postgres'][1]))}× |",
        ]
        i = extra.get("introspection")
        if i:
            lines.append(
                f"| pgjdbc getSchemas + getTables + getColumns/getPrimaryKeys of every table, ms "
                f"({i['lakegate']['tables']} tables) | {i['lakegate']['median_ms']:.1f} | "
                f"{fmt(i['postgres']['median_ms'], 1)} | {fmt(ratio(i['lakegate']['median_ms'], i['postgres']['median_ms']))}× (time) |")
        lines.append("")
    p = extra.get("pgbench")
    if p:
        lines += [
            f"## Many small concurrent queries — pgbench, {args.secs} s each, transactions/s",
            "",
            "Script: `" + PGBENCH_SCRIPTS["point"].replace("\n", " ").strip() + "` (`-n`, `-j` = cores).",
            "",
            "| protocol | clients | lakegate | PostgreSQL | lakegate / PostgreSQL |",
            "|---|---:|---:|---:|---:|",
        ]
        for (mode, clients), tps in p["lakegate"].items():
            b = p["postgres"].get((mode, clients)) if p.get("postgres") else None
            lines.append(f"| {mode} | {clients} | {fmt(tps, 0)} | {fmt(b, 0)} | {fmt(ratio(tps, b))}× |")
        lines.append("")
    if extra.get("rss"):
        lines += ["## lakegate peak RSS per part (MiB)", "", "| part | peak RSS |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in extra["rss"].items()]
        lines.append("")
    if extra.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in extra["notes"]] + [""]
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sf", type=float, default=1, help="TPC-H scale factor (default 1)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per measurement, median reported (default 3)")
    p.add_argument("--secs", type=int, default=10, help="seconds per rate measurement (default 10)")
    p.add_argument("--clients", type=int, nargs="+", default=[8, 32, 64], help="pgbench client counts")
    p.add_argument("--slow", type=float, default=120, help="stop repeating a query after a run this slow (s)")
    p.add_argument("--parts", default="tpch,streaming,connections,pgbench",
                   help="comma-separated parts to run (default: all)")
    p.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL (no ratios against it)")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"), help="report file")
    p.add_argument("--lakegate", required=True, help=argparse.SUPPRESS)
    p.add_argument("--stream-bench", required=True, help=argparse.SUPPRESS)
    p.add_argument("--work", required=True, help=argparse.SUPPRESS)
    args = p.parse_args()
    args.argv = [a for a in sys.argv[1:] if not a.startswith(("--lakegate", "--stream-bench", "--work"))
                 and a not in (args.lakegate, args.stream_bench, args.work)]
    if args.sf == int(args.sf):
        args.sf = int(args.sf)
    parts = set(args.parts.split(","))
    started = time.time()
    work = Path(args.work) / f"sf{args.sf}"
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 2
    mem_gib = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1024 / 1024

    parquet = generate(work, args.sf)
    lake = build_lake(work, parquet, args.lakegate)
    pg = None
    if not args.no_postgres:
        pg = Postgres(work, cores, mem_gib)
        pg.start()
    extra = {"rss": {}, "notes": [], "pg_settings": pg.settings if pg else {}}
    try:
        if pg:
            pg.load(parquet, args.sf)
        lg = Lakegate(args.lakegate, lake, work)
        extra["rss"]["idle after start"] = lg.rss.part()
        q = []
        if "tpch" in parts:
            log(f"TPC-H SF{args.sf}: 22 queries × (1 warm-up + {args.runs} runs) per engine")
            q = tpch(args, lg, pg, parquet)
            extra["rss"]["TPC-H queries"] = lg.rss.part()
        if "streaming" in parts:
            log("streaming SELECT * FROM lineitem")
            s_l, n = streaming(args, lg.url, "gold.lineitem", args.stream_bench)
            extra["rss"]["streaming lineitem"] = lg.rss.part()
            s_p = streaming(args, pg.url, "gold.lineitem", args.stream_bench)[0] if pg else None
            extra["streaming"] = {"rows": n, "lakegate": s_l, "postgres": s_p}
        if "connections" in parts:
            log("connections, round trips, introspection")
            c_l = connections(args, lg.url)
            c_p = connections(args, pg.url) if pg else (None, None)
            extra["connections"] = {"lakegate": c_l, "postgres": c_p}
            i_l = introspection(args, f"jdbc:postgresql://127.0.0.1:{lg.port}/lake", "bench")
            i_p = introspection(args, f"jdbc:postgresql://127.0.0.1:{pg.port}/tpch", "postgres") if pg else None
            extra["introspection"] = {"lakegate": i_l, "postgres": i_p or {"median_ms": None}}
            extra["rss"]["connections and introspection"] = lg.rss.part()
        if "pgbench" in parts:
            log(f"pgbench {args.clients} clients, simple and extended")
            b_l = pgbench(args, "127.0.0.1", lg.port, "bench", "lake",
                          "-c search_path=gold -c lakegate.result_cache=off", work)
            extra["rss"]["pgbench"] = lg.rss.part()
            b_p = pgbench(args, "127.0.0.1", pg.port, "postgres", "tpch", "", work) if pg else None
            extra["pgbench"] = {"lakegate": b_l, "postgres": b_p}
        lg.stop()
    finally:
        if pg:
            pg.stop()
    text = report(args, machine(pg), q, extra, time.time() - started)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(merged(Path(args.out), text) + "\n")
    raw = work / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json"
    raw.write_text(json.dumps({"tpch": q, **{k: v for k, v in extra.items() if k != "pgbench"}}, default=str,
                              indent=1))
    print(text)
    log(f"report: {args.out}; raw figures: {raw}")
    if any(r["lakegate_check"] for r in q):
        sys.exit(1)


def merged(out, text):
    """The report's sections in place of the same sections of `out`; the sections other scripts
    wrote there (sources, Kafka, Arrow doors, ...) stay, in their order."""
    import re

    def sections(t):
        parts = re.split(r"(?m)^(?=## )", t)
        return parts[0], {p.split("\n", 1)[0]: p for p in parts[1:]}, [p.split("\n", 1)[0] for p in parts[1:]]

    if not out.exists():
        return text
    head, new, new_order = sections(text)
    _, old, old_order = sections(out.read_text())
    body = [new.get(t, old[t]).rstrip("\n") + "\n\n" for t in old_order]
    body += [new[t].rstrip("\n") + "\n\n" for t in new_order if t not in old]
    return (head.rstrip("\n") + "\n\n" + "".join(body)).rstrip("\n")


if __name__ == "__main__":
    main()
