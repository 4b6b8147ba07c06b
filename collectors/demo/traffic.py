"""Open-loop load on the frontend: `rate` requests per second whatever the answers' latency, as users arrive."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from collectors.demo.topology import Route


class Traffic:
    """Requests the frontend's routes by their weight; at most `concurrency` in flight, the rest are skipped
    (counted in `skipped`) rather than queued, so a slow demo never builds an unbounded backlog."""

    def __init__(
        self, url: str, routes: tuple[Route, ...], rate: float, rng: random.Random, concurrency: int = 32
    ) -> None:
        if rate <= 0:
            raise ValueError(f"the demo's request rate must be above 0 per second, got {rate}")
        self.url = url
        self.rate = rate
        self.sent = 0
        self.skipped = 0
        self._routes = [r for r in routes if r.weight > 0]
        self._weights = [r.weight for r in self._routes]
        self._rng = rng
        self._slots = threading.BoundedSemaphore(concurrency)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="demo-traffic")
        self._client = httpx.Client(timeout=30.0, trust_env=False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def _run(self) -> None:
        interval = 1.0 / self.rate
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            due += interval
            if self._slots.acquire(blocking=False):
                self.sent += 1
                self._pool.submit(self._one)
            else:
                self.skipped += 1

    def _one(self) -> None:
        try:
            route = self._rng.choices(self._routes, self._weights)[0]
            path = route.template.replace("{id}", str(self._rng.randrange(1000)))
            self._client.request(route.method, self.url + path)
        except httpx.HTTPError:
            pass  # the frontend being down shows in its metrics and logs, not here
        finally:
            self._slots.release()
