"""Peak memory of checking the largest upload the Data screen takes (issue 19, point 8).

    python -m benchmarks.upload_memory [--mb 49] [--database-url sqlite:////tmp/upload-mem.db]

Writes an orders file of about --mb megabytes (valid rows, one line each) to /tmp, runs the
checks the Data screen runs (core.upload.check_upload, then core.importing.check_csv) in this
process and prints the file's size and rows and the process's peak RSS before and after.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from core.importing import ImportFailed, check_csv
from core.upload import check_upload
from db.engine import get_engine
from db.migrate import upgrade_to_head


def _write(path: Path, mb: float) -> None:
    with path.open("w") as fh:
        fh.write("order_id,customer_id,ordered_at,total,sku,quantity,unit_price\n")
        i = 0
        while fh.tell() < mb * 1024 * 1024:
            fh.write(f"XO{i:08d},C{i % 100000:06d},2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00,"
                     f"{10 + i % 90}.50,SKU-{i % 60:03d},{1 + i % 3},{5 + i % 20}.25\n")
            i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=49)
    parser.add_argument("--database-url", default=f"sqlite:///{tempfile.gettempdir()}/upload-mem.db")
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / f"upload-mem-{args.mb:g}mb.csv"
    if not path.exists():
        _write(path, args.mb)
    data = path.read_bytes()
    engine = get_engine(args.database_url)
    upgrade_to_head(engine)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    check_upload(data, filename=path.name, max_mb=int(args.mb) + 1)
    with Session(engine) as session:
        try:
            check_csv(session=session, kind="orders", data=data, filename=path.name)
        except ImportFailed as exc:
            print("check refused the file:", exc.summary)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = data.count(b"\n") - 1
    print(f"file {len(data) / 1024 / 1024:.1f} MB, {rows:,} rows; peak RSS {before:.0f} MB before, "
          f"{after:.0f} MB after the check (+{after - before:.0f} MB), {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
