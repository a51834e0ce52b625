"""What the Python benchmarks that start their own lakegate share: a free port, waiting for the
server to answer, and rewriting one `## <title> — …` section of docs/benchmarks.md."""
import re
import socket
import time
from pathlib import Path


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until_up(url, tries=100):
    import psycopg

    for _ in range(tries):
        try:
            psycopg.connect(url).close()
            return
        except psycopg.OperationalError:
            time.sleep(0.1)
    raise SystemExit(f"lakegate did not answer at {url}")


def write_section(out: Path, title: str, section: str):
    """Replaces the section whose heading starts with `## {title} — ` (or appends it)."""
    doc = out.read_text() if out.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"## {re.escape(title)} — .*?(?=\n## |\Z)", re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: section.rstrip() + "\n", doc)
    else:
        doc = doc.rstrip() + "\n\n" + section
    out.write_text(doc)
