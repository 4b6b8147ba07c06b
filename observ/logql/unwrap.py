"""`| unwrap [duration|duration_seconds|bytes](label)`: a sample value from a label, as Loki extracts it.

After the pipeline ran: an entry without the label (or with it empty) gives no sample; a value that does
not convert gives 0 with `__error__="SampleExtractionErr"` and Go's message in `__error_details__`; then
the label filters written after the unwrap apply. The sample's labels lose the unwrapped label, except
when an error is set: Loki then keeps every label so the error is not grouped away.
"""

from __future__ import annotations

from collections.abc import Callable

from observ.gocompat.durations import parse_duration
from observ.gocompat.humanize import parse_bytes
from observ.gocompat.strconv import parse_float
from observ.logql.errors import LogQLError
from observ.logql.log.label_filters import ERROR_DETAILS_LABEL, ERROR_LABEL, LineState, compile_label_filter
from observ.logql.syntax import ast

SAMPLE_EXTRACTION_ERR = "SampleExtractionErr"


def _seconds(v: str) -> float:
    return parse_duration(v) / 1e9


_CONVERSIONS: dict[str, Callable[[str], float]] = {
    "": parse_float,
    "float": parse_float,
    "duration": _seconds,
    "duration_seconds": _seconds,
    "bytes": lambda v: float(parse_bytes(v)),
}


class Unwrapper:
    """Compiled once per query; `extract` runs per entry on the labels `Pipeline.process` returned."""

    def __init__(self, unwrap: ast.Unwrap) -> None:
        convert = _CONVERSIONS.get(unwrap.conversion)
        if convert is None:
            raise LogQLError(f"unsupported conversion operation {unwrap.conversion}")
        self.label = unwrap.label
        self._convert = convert
        self._filters = [compile_label_filter(f) for f in unwrap.post_filters]

    def extract(self, labels: dict[str, str]) -> tuple[float, dict[str, str]] | None:
        """(value, labels) of the sample, or None when the entry gives none. `labels` is not modified."""
        raw = labels.get(self.label, "") if self.label not in (ERROR_LABEL, ERROR_DETAILS_LABEL) else ""
        if raw == "":
            return None
        st = LineState(0, "", labels)
        st.err = st.labels.pop(ERROR_LABEL, "")
        st.details = st.labels.pop(ERROR_DETAILS_LABEL, "")
        try:
            value = self._convert(raw)
        except ValueError as e:
            value = 0.0
            st.err, st.details = SAMPLE_EXTRACTION_ERR, str(e)
        for f in self._filters:
            if not f(st):
                return None
        if st.err:
            return value, st.result()
        del st.labels[self.label]
        return value, st.labels
