"""Fetch Loki's pattern-miner test inputs (`pkg/pattern/drain/testdata/*.txt`) into ~/.cache/observ, once.

They come from the Go module proxy (the module zip of github.com/grafana/loki/v3 at LOKI_VERSION), like the Kafka
jars from Maven Central: the files are Loki's (AGPL-3.0) and are not committed here. Only the expected patterns,
ported from drain_test.go, are (tests/unit/patterns/testdata/). scripts/test runs this before pytest.

    python scripts/loki_testdata.py        # prints the folder
"""

from __future__ import annotations

import io
import os
import sys
import urllib.request
import zipfile
from pathlib import Path

LOKI_VERSION = "v3.7.8"
PREFIX = f"github.com/grafana/loki/v3@{LOKI_VERSION}/pkg/pattern/drain/testdata/"
SKIPPED = {"grafana-ruler.txt"}  # 22 MB, and no expected patterns of it are ported
DEST = Path.home() / ".cache" / "observ" / f"loki-{LOKI_VERSION}" / "drain-testdata"


def fetch() -> Path:
    if (DEST / ".complete").is_file():
        return DEST
    proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].rstrip("/")
    if proxy in ("direct", "off"):
        proxy = "https://proxy.golang.org"
    url = f"{proxy}/github.com/grafana/loki/v3/@v/{LOKI_VERSION}.zip"
    with urllib.request.urlopen(url, timeout=300) as r:
        data = r.read()
    DEST.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            file = name.removeprefix(PREFIX)
            if name.startswith(PREFIX) and "/" not in file and file.endswith(".txt") and file not in SKIPPED:
                (DEST / file).write_bytes(z.read(name))
    (DEST / ".complete").write_text(url + "\n")
    return DEST


if __name__ == "__main__":
    try:
        print(fetch())
    except OSError as e:
        sys.exit(f"loki_testdata: cannot fetch Loki's drain test inputs: {e}")
