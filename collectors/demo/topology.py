"""Who the demo services are, what their routes do and call, and how often they fail or are slow.

frontend → checkout → payments and inventory; frontend → inventory. The mix is tuned so that on a quiet
demo every SLO of alerts/services.yaml has errors to count and a few of them burn their budget slowly
(ticket alerts pending), while `observ demo fault` makes the fast-burn page alerts fire.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Call:
    """A request to another demo service; `{id}` in the path is filled with a random number."""

    service: str
    method: str
    path: str


@dataclass(frozen=True, slots=True)
class Failure:
    """This route answers `status` with `message` in `share` of its requests."""

    share: float
    status: int
    message: str


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    """The `route` label and the span name's path, as a router names it: `/product/{id}`."""
    work_s: float
    """Median time of the route's own work (log-normal), before any call."""
    calls: tuple[Call, ...] = ()
    failures: tuple[Failure, ...] = ()
    weight: float = 0.0
    """For the frontend: this route's share of the generated traffic."""


@dataclass(frozen=True, slots=True)
class Profile:
    routes: tuple[Route, ...]
    slow_share: float
    """Share of requests whose own work takes 1 to 2.5 s (a cold cache, a lock wait)."""


_STOCK_GET = Call("inventory", "GET", "/stock/{id}")
_STOCK_PUT = Call("inventory", "PUT", "/stock/{id}")

TOPOLOGY: dict[str, Profile] = {
    "frontend": Profile(
        routes=(
            Route("GET", "/", 0.02, weight=0.3),
            Route("GET", "/product/{id}", 0.02, (_STOCK_GET,), weight=0.3),
            Route("POST", "/cart", 0.02, (_STOCK_PUT,), weight=0.15),
            Route("POST", "/checkout", 0.02, (Call("checkout", "POST", "/checkout"),), weight=0.2),
            Route("GET", "/orders/{id}", 0.02, (Call("checkout", "GET", "/checkout/{id}"),), weight=0.05),
        ),
        slow_share=0.03,
    ),
    "checkout": Profile(
        routes=(
            Route(
                "POST",
                "/checkout",
                0.03,
                (_STOCK_PUT, Call("payments", "POST", "/charge")),
                (Failure(0.003, 500, "order store write failed: deadlock detected"),),
            ),
            Route("GET", "/checkout/{id}", 0.02),
        ),
        slow_share=0.005,
    ),
    "payments": Profile(
        routes=(
            Route(
                "POST",
                "/charge",
                0.08,
                failures=(
                    Failure(0.01, 504, "context deadline exceeded: card processor did not answer in 2s"),
                    Failure(0.03, 402, "card declined: insufficient funds"),
                ),
            ),
        ),
        slow_share=0.005,
    ),
    "inventory": Profile(
        routes=(
            Route("GET", "/stock/{id}", 0.01, failures=(Failure(0.015, 503, "connection refused: postgres:5432"),)),
            Route("PUT", "/stock/{id}", 0.015, failures=(Failure(0.015, 503, "connection refused: postgres:5432"),)),
        ),
        slow_share=0.005,
    ),
}

SERVICES = tuple(TOPOLOGY)
