"""The demo's fault switch: one service answering with errors or slowly, turned on and off at runtime."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

SLOW_SECONDS = 1.5
"""Added to every request of a slow service: past every latency threshold of alerts/services.yaml."""


class FaultMode(StrEnum):
    off = "off"
    error = "error"
    slow = "slow"


class Fault(BaseModel):
    """The body of `PUT /demo/faults/<service>`."""

    model_config = ConfigDict(extra="forbid")

    mode: FaultMode


def error_message(service: str) -> str:
    """What a failing service answers, logs and puts on its span: one text to find in all three."""
    return f"{service} backend unavailable: injected fault (observ demo fault {service} --mode error)"


class UnknownService(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class Faults:
    """Read by every request, written by the control endpoint; every service starts `off`."""

    def __init__(self, services: Iterable[str]) -> None:
        self._modes = dict.fromkeys(services, FaultMode.off)
        self._lock = threading.Lock()

    def mode(self, service: str) -> FaultMode:
        return self._modes.get(service, FaultMode.off)

    def set(self, service: str, mode: FaultMode) -> None:
        with self._lock:
            if service not in self._modes:
                known = ", ".join(sorted(self._modes))
                raise UnknownService(f"no demo service {service!r}; the demo runs {known}")
            self._modes[service] = mode

    def snapshot(self) -> dict[str, FaultMode]:
        with self._lock:
            return dict(self._modes)
