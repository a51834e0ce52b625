"""What freshness notices cost a query: the same small query, side by side in one run, with
`lakegate.freshness_notices` on and off (the peer), on a silver table that is fresh (judged,
nothing to tell) and on one in `warn` (a NOTICE every statement). Rounds alternate between the
two connections so drift on the machine falls on both.

    bench/freshness.sh        # 10 rounds × 2,000 queries each; rewrites its section of docs/benchmarks.md
"""
import argparse
import datetime as dt
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from pglib import free_port, wait_until_up, write_section

SQL = "SELECT count(*), sum(amount) FROM silver.orders WHERE order_id > %s"



def measure(lakegate, work, stale, rounds, queries):
    """(µs per query with notices on, off, notices seen) for one lakegate whose silver table is
    stale (`warn_after: 1ms`) or fresh (`warn_after: 1h`)."""
    lake = work / ("stale" if stale else "fresh")
    landing = lake / "landing" / "orders" / "2026-01-01" / "1"
    landing.mkdir(parents=True)
    rows = "\n".join(f"{i},{i % 97},2026-01-01,{i % 1000}.50" for i in range(1, 1001))
    (landing / "orders.csv").write_text("order_id,customer_id,order_date,amount\n" + rows + "\n")
    port = free_port()
    config = lake / "lakegate.yaml"
    warn = "1ms" if stale else "1h"
    config.write_text(
        f"""lake: {lake}
listen: 127.0.0.1:{port}
sources:
  orders:
    format: csv
    slice_column: order_date
    schema: {{order_id: bigint, customer_id: bigint, order_date: date, amount: "decimal(12,2)"}}
silver:
  orders: {{from: orders, unique_key: [order_id], freshness: {{warn_after: {warn}, error_after: 2h}}}}
"""
    )
    subprocess.run([lakegate, "ingest", "--once", "--config", str(config)], check=True, capture_output=True)
    server = subprocess.Popen([lakegate, "serve", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"host=127.0.0.1 port={port} dbname=lake user=bench"
        wait_until_up(url)
        on = psycopg.connect(url, autocommit=True)
        off = psycopg.connect(url, autocommit=True)
        # Every statement computed (no result cache), as a dashboard's first viewer sees it.
        for conn in (on, off):
            conn.execute("SET lakegate.result_cache = off")
        off.execute("SET lakegate.freshness_notices = off")
        told = []
        on.add_notice_handler(lambda d: told.append(d.severity))
        seen_off = []
        off.add_notice_handler(lambda d: seen_off.append(d.severity))
        times = {"on": [], "off": []}
        for conn in (on, off):  # warm-up
            for i in range(200):
                conn.execute(SQL, (i,)).fetchall()
        told.clear()
        for r in range(rounds):
            for name, conn in (("on", on), ("off", off)) if r % 2 == 0 else (("off", off), ("on", on)):
                t = time.perf_counter()
                for i in range(queries):
                    conn.execute(SQL, (i,)).fetchall()
                times[name].append((time.perf_counter() - t) / queries)
        assert len(told) == (rounds * queries if stale else 0), (len(told), stale)
        assert not seen_off, "off means off"
    finally:
        server.terminate()
        server.wait()
    return statistics.median(times["on"]) * 1e6, statistics.median(times["off"]) * 1e6, len(told)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lakegate", required=True)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--commit", help="the commit the lakegate binary was built from [HEAD]")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lakegate-freshness-"))
    fresh = measure(a.lakegate, work, False, a.rounds, a.queries)
    stale = measure(a.lakegate, work, True, a.rounds, a.queries)
    commit = a.commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "## Freshness notices — what judging every read costs",
        "",
        f"Measured {dt.date.today()} by `bench/freshness.sh` (lakegate {commit}, release build): "
        f"`{SQL.replace('%s', '$1')}` over psycopg (extended protocol) on a 1,000-row silver table with a "
        f"freshness rule, result cache off; {a.rounds} alternating rounds of {a.queries:,} queries per connection, "
        "median of the rounds' mean latency. The peer is the same server and query with "
        "`SET lakegate.freshness_notices = off`.",
        "",
        "| table | notices on, µs per query | off, µs per query | on / off |",
        "|---|---:|---:|---:|",
        f"| fresh (judged, nothing to tell) | {fresh[0]:.0f} | {fresh[1]:.0f} | {fresh[0] / fresh[1]:.3f}× |",
        f"| stale (a NOTICE every statement: {stale[2]:,} checked) | {stale[0]:.0f} | {stale[1]:.0f} | {stale[0] / stale[1]:.3f}× |",
        "",
        "The fresh row is the cost of the check itself (the issue's ≤ 2 % goal); the stale row adds the "
        "NOTICE message, its encoding and the client's handling of it.",
        "",
    ]
    section = "\n".join(lines)
    print(section)
    write_section(a.out, "Freshness notices", section)


if __name__ == "__main__":
    main()
