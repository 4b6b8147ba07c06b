"""The shop: a small spans store that the search and tag tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from observ.store.config import StoreConfig
from observ.traces.store import SpanStore
from tests.unit.traces.helpers import cols, span

CART = {"service.name": "cart", "k8s.namespace.name": "shop"}
DB = {"service.name": "db"}


@pytest.fixture
def shop(tmp_path: Path) -> SpanStore:
    """Traces 1-4 compacted, 5-6 hot. Root spans (1) of cart, children (2) of db.

    trace 1 @100: GET /cart ok 20ns; db SELECT, http.status_code 200
    trace 2 @200: GET /cart error 500ns; db SELECT error, status_code 500 (int), retry true
    trace 3 @300: POST /pay ok; child only (root never arrived): db INSERT, status_code "500" (a string)
    trace 4 @400: GET /cart ok, kind client; no children
    trace 5 @500 (hot): GET /cart ok; db SELECT status_code 503.5 (float)
    trace 6 @600 (hot), tenant t2: GET /cart error
    """
    s = SpanStore(tmp_path / "spans.duckdb", StoreConfig(compact_rows=10**9))
    s.append(
        [
            cols(
                span(1, 1, 100, name="GET /cart", kind=2, service="cart", resource=CART, end_ns=120, status_code=1),
                span(1, 2, 105, name="SELECT", kind=3, service="db", resource=DB, attributes={"http.status_code": 200}),
                span(2, 1, 200, name="GET /cart", kind=2, service="cart", resource=CART, end_ns=700, status_code=2,
                     status_message="upstream failed"),
                span(2, 2, 210, name="SELECT", kind=3, service="db", resource=DB, status_code=2,
                     attributes={"http.status_code": 500, "retry": True}),
                span(3, 2, 310, name="INSERT", kind=3, service="db", resource=DB,
                     attributes={"http.status_code": "500"}),
            ),
        ]
    )  # fmt: skip
    s.compact()
    s.append([cols(span(4, 1, 400, name="GET /cart", kind=3, service="cart", resource=CART))])
    s.compact()
    s.append(
        [
            cols(
                span(5, 1, 500, name="GET /cart", kind=2, service="cart", resource=CART),
                span(5, 2, 505, name="SELECT", service="db", resource=DB, attributes={"http.status_code": 503.5}),
            ),
            cols(span(6, 1, 600, tenant="t2", name="GET /cart", service="cart", resource=CART, status_code=2)),
        ]
    )
    return s
