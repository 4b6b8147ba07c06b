"""Log templates mined from lines, Drain-style as Loki's pattern ingester (`pkg/pattern/drain`).

Pure: no API, no store. `Drain` mines one stream; `mine` mines many streams by level and gives Loki's
`/patterns` series (merged, pruned, bucketed by step).
"""

from observ.patterns.drain import Drain, DrainConfig, LogCluster
from observ.patterns.mine import PatternSeries, mine
from observ.patterns.tokenize import PLACEHOLDER, detect_format

__all__ = ["PLACEHOLDER", "Drain", "DrainConfig", "LogCluster", "PatternSeries", "detect_format", "mine"]
