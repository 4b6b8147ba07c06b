"""OpenSLO v1 multi-document specs: ratio metrics as events SLIs, histogram thresholds as latency SLIs."""

from __future__ import annotations

import pytest

from observ.slo.importers import SpecError, import_spec, to_yaml
from observ.slo.load import parse_definitions
from observ.slo.model import EventsSLI, LatencySLI

OPENSLO = """\
apiVersion: openslo/v1
kind: Service
metadata:
  name: checkout
  displayName: Checkout
spec:
  description: The checkout API
---
apiVersion: openslo/v1
kind: SLI
metadata:
  name: checkout-availability
spec:
  ratioMetric:
    counter: true
    good:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{service="checkout", code!~"5.."}[5m]))
    total:
      metricSource:
        type: Prometheus
        spec:
          query: sum(rate(http_requests_total{service="checkout"}[5m]))
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-availability
  displayName: Checkout availability
spec:
  service: checkout
  indicatorRef: checkout-availability
  timeWindow:
    - duration: 28d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: Good
      target: 0.999
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: payments-errors
spec:
  description: Payments that do not fail
  service: payments
  indicator:
    metadata:
      name: payments-errors
    spec:
      ratioMetric:
        counter: true
        bad:
          metricSource:
            type: Prometheus
            spec:
              query: payments_failed_total{job="payments"}
        total:
          metricSource:
            type: Prometheus
            spec:
              query: payments_total{job="payments"}
  timeWindow:
    - duration: 1M
      isRolling: false
      calendar:
        startTime: "2024-01-01 00:00:00"
        timeZone: UTC
  budgetingMethod: Occurrences
  objectives:
    - targetPercent: 99.5
---
apiVersion: openslo/v1
kind: SLO
metadata:
  name: checkout-latency
spec:
  service: checkout
  indicator:
    metadata:
      name: checkout-p99
    spec:
      thresholdMetric:
        metricSource:
          type: Prometheus
          spec:
            query: >-
              histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="checkout",
              route="/checkout"}[5m])))
  timeWindow:
    - duration: 7d
      isRolling: true
  budgetingMethod: Timeslices
  objectives:
    - op: lte
      value: 0.25
      target: 0.99
---
apiVersion: openslo/v1
kind: AlertPolicy
metadata:
  name: page-on-burn
spec:
  conditions: []
"""


def test_openslo_documents_import() -> None:
    result = import_spec(OPENSLO, "openslo.yaml")
    checkout, payments = result.definitions.services
    assert checkout.name == "checkout" and payments.name == "payments"
    avail, latency = checkout.slos
    assert avail.name == "checkout-availability" and avail.objective == 99.9 and avail.window == "28d"
    assert avail.description == "Checkout availability"
    assert isinstance(avail.sli, EventsSLI)
    assert avail.sli.total_query == 'sum(rate(http_requests_total{service="checkout"}[{{window}}]))'
    assert avail.sli.error_query == (
        '(sum(rate(http_requests_total{service="checkout"}[{{window}}]))) - '
        '(sum(rate(http_requests_total{service="checkout", code!~"5.."}[{{window}}])))'
    )
    [errors] = payments.slos
    assert errors.objective == 99.5 and errors.window == "30d" and errors.calendar == "month"
    assert isinstance(errors.sli, EventsSLI)
    assert errors.sli.error_query == 'sum(rate(payments_failed_total{job="payments"}[{{window}}]))'
    assert errors.sli.total_query == 'sum(rate(payments_total{job="payments"}[{{window}}]))'
    assert isinstance(latency.sli, LatencySLI)
    assert latency.window == "7d" and latency.objective == 99
    assert latency.sli.metric == "http_request_duration_seconds"
    assert latency.sli.threshold == 0.25 and 0.25 in latency.sli.buckets
    assert latency.sli.selector == 'service="checkout", route="/checkout"'
    warned = "\n".join(result.warnings)
    assert "budgetingMethod Timeslices imported as Occurrences" in warned
    assert "kind AlertPolicy is not imported" in warned
    assert "buckets assumed to be the Prometheus client defaults" in warned


def test_written_yaml_round_trips_and_reads_like_ours() -> None:
    defs = import_spec(OPENSLO, "openslo.yaml").definitions
    text = to_yaml(defs)
    assert parse_definitions(text) == defs
    assert "\n  - name: checkout\n    slos:\n      - name: checkout-availability\n" in text
    assert "buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]\n" in text


def test_imported_definitions_generate_rules() -> None:
    generate = pytest.importorskip("observ.slo.generate")
    files = generate.generate(import_spec(OPENSLO, "openslo.yaml").definitions)
    assert {"checkout.rules.yml", "payments.rules.yml"} <= {f.path for f in files}


def _only_slo(body: str) -> str:
    return f"apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: s\nspec:\n  service: api\n{body}"


RATIO = """\
  indicator:
    metadata: {name: i}
    spec:
      ratioMetric:
        good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(ok_total[1h30m]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(all_total[1h30m]))'}}}
"""


def test_multiple_objectives_become_one_slo_each_and_durations_are_replaced() -> None:
    objectives = "  objectives:\n    - {name: strict, target: 0.999}\n    - {name: loose, target: 0.99}\n"
    spec = _only_slo(RATIO + "  timeWindow: [{duration: 30d, isRolling: true}]\n" + objectives)
    defs = import_spec(spec, "o.yaml").definitions
    assert [(s.name, s.objective) for s in defs.services[0].slos] == [("s-strict", 99.9), ("s-loose", 99.0)]
    assert defs.services[0].slos[0].sli.total_query == "sum(rate(all_total[{{window}}]))"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (RATIO + "  timeWindow: [{duration: 14d, isRolling: true}]\n  objectives: [{target: 0.99}]\n",
         "rolling window 14d is not supported; use one of 30d, 28d, 4w, 7d, 1w"),
        (RATIO + "  timeWindow: [{duration: 1w, isRolling: false}]\n  objectives: [{target: 0.99}]\n",
         "calendar window 1w is not supported; only a calendar month (1M) is"),
        (RATIO + "  objectives: [{op: lte}]\n", "objectives[0]: needs target (a ratio) or targetPercent"),
        ("  indicatorRef: nope\n  objectives: [{target: 0.99}]\n", "indicatorRef 'nope' names no kind: SLI document"),
        (RATIO.replace("type: Prometheus", "type: Datadog", 1) + "  objectives: [{target: 0.99}]\n",
         "metricSource type 'Datadog' is not PromQL"),
        (RATIO.replace("[1h30m]", "", 1) + "  objectives: [{target: 0.99}]\n",
         "has no range duration like [5m] to turn into [{{window}}] and is not a plain counter selector"),
        ("""  indicator:
    metadata: {name: i}
    spec:
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: 'avg(node_load1)'}}
  objectives: [{op: lte, value: 2, target: 0.99}]
""", "reads no histogram _bucket series; only histogram latency thresholds can be imported"),
        ("""  indicator:
    metadata: {name: i}
    spec:
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: 'histogram_quantile(0.9, rate(x_bucket[5m]))'}}
  objectives: [{op: gte, value: 0.5, target: 0.99}]
""", "op 'gte': a latency threshold is an upper bound"),
    ],
)  # fmt: skip
def test_refusals_name_the_document_and_reason(body: str, reason: str) -> None:
    with pytest.raises(SpecError) as info:
        import_spec(_only_slo(body), "o.yaml")
    assert str(info.value).startswith("o.yaml: document 1 (SLO 's')")
    assert reason in str(info.value)


def test_v1alpha_is_refused() -> None:
    with pytest.raises(SpecError, match=r"only openslo/v1 is supported, got 'openslo/v1alpha'"):
        import_spec(_only_slo(RATIO).replace("openslo/v1", "openslo/v1alpha"), "o.yaml")


def test_threshold_off_the_default_buckets_keeps_only_the_threshold() -> None:
    body = """  indicator:
    metadata: {name: i}
    spec:
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: 'histogram_quantile(0.9, rate(rpc_seconds_bucket{le!=""}[5m]))'}}
  objectives: [{op: lt, value: 0.3, target: 0.95}]
"""
    result = import_spec(_only_slo(body), "o.yaml")
    sli = result.definitions.services[0].slos[0].sli
    assert isinstance(sli, LatencySLI)
    assert (sli.metric, sli.buckets, sli.selector) == ("rpc_seconds", [0.3], "")
    assert any("buckets set to the threshold 0.3 only" in w for w in result.warnings)
