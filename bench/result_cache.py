"""The result cache on a dashboard's heavy query: one lakegate, a 4-million-row table, an
aggregate over all of it run cold (`SET lakegate.result_cache = off`, the peer) and repeated
(answered from memory), side by side in one run; then one commit to the table and the next run,
which must recompute and see it.

    bench/result_cache.sh     # 7 runs each, median; rewrites its section of docs/benchmarks.md
"""
import argparse
import datetime as dt
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pglib import free_port, wait_until_up, write_section

SQL = ("SELECT customer_id % 100 AS segment, count(*) AS orders, sum(amount) AS revenue, "
       "avg(amount) AS mean FROM gold.orders GROUP BY 1 ORDER BY 1")



def csv(path, start, n):
    rnd = random.Random(start)
    with open(path, "w") as f:
        f.write("order_id,customer_id,amount\n")
        for i in range(start, start + n):
            f.write(f"{i},{rnd.randrange(100000)},{rnd.randrange(100000) / 100}\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lakegate", required=True)
    ap.add_argument("--rows", type=int, default=4_000_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--commit", help="the commit the lakegate binary was built from [HEAD]")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lakegate-cache-"))
    lake = work / "lake"
    (lake / "gold").mkdir(parents=True)
    csv(work / "orders.csv", 0, a.rows)
    subprocess.run([a.lakegate, "import", "--lake", str(lake), "gold.orders", str(work / "orders.csv")], check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen([a.lakegate, "serve", "--lake", str(lake), "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"host=127.0.0.1 port={port} dbname=lake user=bench"
        wait_until_up(url)
        cold = psycopg.connect(url, autocommit=True)
        cold.execute("SET lakegate.result_cache = off")
        warm = psycopg.connect(url, autocommit=True)

        def timed(conn):
            t = time.perf_counter()
            rows = conn.execute(SQL).fetchall()
            return time.perf_counter() - t, rows

        expected = timed(cold)[1]
        assert timed(warm)[1] == expected  # computed and kept
        times = {"cold": [], "warm": []}
        for _ in range(a.runs):
            for name, conn in (("cold", cold), ("warm", warm)):
                s, rows = timed(conn)
                assert rows == expected
                times[name].append(s)
        hits = warm.execute("SELECT hits FROM lakegate.result_cache").fetchone()[0]
        assert hits == a.runs, hits
        # One commit: the next run recomputes (a miss) and counts the new rows.
        csv(work / "more.csv", a.rows, 1000)
        subprocess.run([a.lakegate, "import", "--lake", str(lake), "gold.orders", str(work / "more.csv")], check=True, capture_output=True)
        t0 = time.perf_counter()
        while True:
            n = warm.execute("SELECT count(*) FROM gold.orders").fetchone()[0]
            if n == a.rows + 1000:
                break
            time.sleep(0.05)
        seen = time.perf_counter() - t0
        hits = warm.execute("SELECT hits FROM lakegate.result_cache").fetchone()[0]
        after, rows = timed(warm)
        assert sum(r[1] for r in rows) == a.rows + 1000, "the commit is seen"
        assert warm.execute("SELECT hits FROM lakegate.result_cache").fetchone()[0] == hits, "recomputed"
    finally:
        server.terminate()
        server.wait()
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    commit = a.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "## Result cache — a dashboard's heavy query repeated",
        "",
        f"Measured {dt.date.today()} by `bench/result_cache.sh` (lakegate {commit}, release build): one lakegate, "
        f"`gold.orders` with {a.rows:,} rows (imported from CSV), `{SQL}` over psycopg, median of {a.runs} alternating runs "
        "per connection after a first run; the peer is the same query with `SET lakegate.result_cache = off`.",
        "",
        "| run | ms |",
        "|---|---:|",
        f"| computed (cache off) | {med['cold']:.1f} |",
        f"| repeated (from memory) | {med['warm']:.1f} |",
        f"| first run after a commit (recomputed; the commit served {seen * 1000:.0f} ms after it was made) | {after * 1000:.1f} |",
        "",
        f"Repeated / computed: **{med['warm'] / med['cold']:.3f}×**. Every answer was checked against the "
        "uncached one, and the run after the commit against the new row count.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    write_section(a.out, "Result cache", section)


if __name__ == "__main__":
    main()
