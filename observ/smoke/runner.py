"""Runs the checks in order against one target, printing a line per check with its time, then a summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.markup import escape

from observ.api.loki.params import NS, ParamError, parse_seconds_or_duration
from observ.smoke.checks import Checks, Outcome
from observ.smoke.probe import Probe
from observ.smoke.target import Clock, Target

REQUEST_TIMEOUT_S = 10.0
"""One request may take this long (or --timeout, if shorter) before its check fails."""


@dataclass(frozen=True, slots=True)
class Settings:
    target: str
    tenant: str | None = None
    token: str | None = None
    timeout_s: float = 60.0
    otlp_url: str | None = None

    @classmethod
    def parse(cls, target: str, tenant: str | None, token: str | None, timeout: str, otlp_url: str | None) -> Settings:
        """Raises ValueError naming the option at fault."""
        for name, url in (("--target", target), ("--otlp-url", otlp_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise ValueError(f"{name}: {url!r} is not an http:// or https:// URL")
        try:
            timeout_ns = parse_seconds_or_duration(timeout)
        except ParamError as e:
            raise ValueError(f"--timeout: {e}") from None
        if timeout_ns <= 0:
            raise ValueError(f"--timeout: {timeout!r} is not a positive duration")
        return cls(target, tenant, token, timeout_ns / NS, otlp_url)


@dataclass(frozen=True, slots=True)
class Report:
    results: list[tuple[str, Outcome]]
    elapsed_s: float

    def summary(self) -> str:
        passed = sum(not o.skipped for _, o in self.results)
        skipped = [f"; {name} skipped: {o.detail}" for name, o in self.results if o.skipped]
        return f"smoke passed in {self.elapsed_s:.2f}s: {passed} checks passed" + "".join(skipped)


def run_smoke(
    settings: Settings,
    out: Console,
    *,
    transport: httpx.BaseTransport | None = None,
    clock: Clock | None = None,
    probe: Probe | None = None,
) -> Report:
    """Every check passed (or was skipped) when this returns; the first to fail raises SmokeFailed."""
    clock = clock or Clock()
    request_timeout_s = min(REQUEST_TIMEOUT_S, settings.timeout_s)
    target = Target(settings.target, settings.tenant, settings.token, request_timeout_s, transport)
    checks = Checks(target, probe or Probe.new(time.time_ns()), settings.timeout_s, clock, settings.otlp_url)
    steps: list[tuple[str, Callable[[], Outcome]]] = [
        ("ready", checks.ready),
        ("push line", checks.push_line),
        ("push span", checks.push_span),
        ("query line", checks.query_line),
        ("query trace", checks.query_trace),
        ("correlate", checks.correlate),
    ]
    results: list[tuple[str, Outcome]] = []
    started = clock.now()
    try:
        for name, check in steps:
            t0 = clock.now()
            outcome = check()
            results.append((name, outcome))
            mark, detail = (
                ("[yellow]-[/]", f"skipped: {outcome.detail}") if outcome.skipped else ("[green]✓[/]", outcome.detail)
            )
            out.print(f"{mark} {name:<11} {clock.now() - t0:6.2f}s  {escape(detail)}", highlight=False)
    finally:
        target.close()
    report = Report(results, clock.now() - started)
    out.print(escape(report.summary()), highlight=False)
    return report
