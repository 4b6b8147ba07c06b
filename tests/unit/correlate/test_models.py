"""Parsing of Prometheus API answers; expected bodies ported from prometheus/prometheus
web/api/v1/json_codec_test.go (TestJsonCodec_Encode) and docs/querying/api.md."""

from __future__ import annotations

import math

import pytest

from observ.correlate.prometheus import (
    BadAnswer,
    ExemplarSeries,
    HistogramBucket,
    MatrixResult,
    Point,
    ScalarResult,
    StringResult,
    VectorResult,
)
from observ.correlate.prometheus.models import Decoder, ErrorAnswer, QueryResult, error_of

QUERY = Decoder[QueryResult](QueryResult)
EXEMPLARS = Decoder[list[ExemplarSeries]](list[ExemplarSeries])


def test_vector_from_the_json_codec_test() -> None:
    body = (
        b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"foo"},'
        b'"value":[1,"1"]},{"metric":{"__name__":"bar"},"value":[2,"2"]}]}}'
    )
    data = QUERY(body).data
    assert isinstance(data, VectorResult)
    assert [(s.metric, s.value) for s in data.result] == [
        ({"__name__": "foo"}, (1.0, 1.0)),
        ({"__name__": "bar"}, (2.0, 2.0)),
    ]


def test_matrix_from_the_api_docs() -> None:
    body = b"""{"status":"success","data":{"resultType":"matrix","result":[
        {"metric":{"__name__":"up","job":"prometheus","instance":"localhost:9090"},
         "values":[[1435781430.781,"1"],[1435781445.781,"1"],[1435781460.781,"1"]]},
        {"metric":{"__name__":"up","job":"node","instance":"localhost:9091"},
         "values":[[1435781430.781,"0"],[1435781445.781,"0"],[1435781460.781,"1"]]}]}}"""
    data = QUERY(body).data
    assert isinstance(data, MatrixResult)
    assert data.result[1].metric["job"] == "node"
    assert data.result[1].values == [Point(1435781430.781, 0.0), Point(1435781445.781, 0.0), Point(1435781460.781, 1.0)]


def test_native_histogram_matrix_from_the_json_codec_test() -> None:
    body = (
        b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"foo"},"histograms":'
        b'[[1,{"count":"10","sum":"20","buckets":[[1,"-1.6817928305074288","-1.414213562373095","1"],'
        b'[1,"-1.414213562373095","-1.189207115002721","2"],[3,"-0.001","0.001","12"],'
        b'[0,"1.414213562373095","1.6817928305074288","1"],[0,"1.6817928305074288","2","2"],'
        b'[0,"2.378414230005442","2.82842712474619","2"],[0,"2.82842712474619","3.3635856610148576","1"],'
        b'[0,"3.3635856610148576","4","1"]]}]]}]}}'
    )
    data = QUERY(body).data
    assert isinstance(data, MatrixResult)
    (point,) = data.result[0].histograms
    assert point.timestamp == 1.0
    assert (point.histogram.count, point.histogram.sum) == (10.0, 20.0)
    assert point.histogram.buckets[2] == HistogramBucket(3, -0.001, 0.001, 12.0)
    assert sum(b.count for b in point.histogram.buckets) == 22


# (body data, expected (timestamp, value)) for scalars: the codec test's FPoint cases.
SCALARS = [
    (b'[0,"0"]', (0.0, 0.0)),
    (b'[0.001,"20"]', (0.001, 20.0)),
    (b'[0.010,"20"]', (0.01, 20.0)),
    (b'[1.100,"20"]', (1.1, 20.0)),
    (b'[12345678123456.555,"20"]', (12345678123456.555, 20.0)),
    (b'[-0.001,"20"]', (-0.001, 20.0)),
    (b'[0,"+Inf"]', (0.0, math.inf)),
    (b'[0,"-Inf"]', (0.0, -math.inf)),
    (b'[0,"1234567.8"]', (0.0, 1234567.8)),
    (b'[0,"0.0000012345678"]', (0.0, 1.2345678e-6)),
    (b'[0,"1.2345678e-67"]', (0.0, 1.2345678e-67)),
    (b'[0,"1e+21"]', (0.0, 1e21)),
]


@pytest.mark.parametrize(("point", "expected"), SCALARS)
def test_scalar_values_as_go_formats_them(point: bytes, expected: tuple[float, float]) -> None:
    data = QUERY(b'{"status":"success","data":{"resultType":"scalar","result":' + point + b"}}").data
    assert isinstance(data, ScalarResult)
    assert data.result == expected


def test_nan_is_a_value() -> None:
    data = QUERY(b'{"status":"success","data":{"resultType":"scalar","result":[0,"NaN"]}}').data
    assert isinstance(data, ScalarResult)
    assert math.isnan(data.result.value)


def test_string_result_keeps_the_string() -> None:
    data = QUERY(b'{"status":"success","data":{"resultType":"string","result":[1435781451.781,"NaN and more"]}}').data
    assert isinstance(data, StringResult)
    assert data.result.value == "NaN and more"


def test_warnings_and_infos_are_kept() -> None:
    body = (
        b'{"status":"success","data":{"resultType":"vector","result":[]},'
        b'"warnings":["PromQL warning: x"],"infos":["PromQL info: metric might not be a counter"]}'
    )
    answer = QUERY(body)
    assert answer.warnings == ["PromQL warning: x"]
    assert answer.infos == ["PromQL info: metric might not be a counter"]


def test_exemplars_from_the_json_codec_test_and_the_docs() -> None:
    codec = (
        b'{"status":"success","data":[{"seriesLabels":{"foo":"bar"},"exemplars":[{"labels":{"trace_id":"abc"},'
        b'"value":"100.123","timestamp":1.234}]}]}'
    )
    (series,) = EXEMPLARS(codec).data
    assert series.series_labels == {"foo": "bar"}
    (ex,) = series.exemplars
    assert (ex.trace_id(), ex.value, ex.timestamp) == ("abc", 100.123, 1.234)

    inf = codec.replace(b'"100.123"', b'"+Inf"')
    assert EXEMPLARS(inf).data[0].exemplars[0].value == math.inf

    docs = b"""{"status": "success", "data": [
        {"seriesLabels": {"__name__": "test_exemplar_metric_total", "instance": "localhost:8090",
                          "job": "prometheus", "service": "foo"},
         "exemplars": [{"labels": {"trace_id": "Olp9XHlq763ccsfa"}, "value": "19", "timestamp": 1600096955.479},
                       {"labels": {"trace_id": "hCtjygkIHwAN9vs4"}, "value": "20", "timestamp": 1600096965.479}]}]}"""
    (series,) = EXEMPLARS(docs).data
    assert [e.trace_id() for e in series.exemplars] == ["Olp9XHlq763ccsfa", "hCtjygkIHwAN9vs4"]
    assert series.exemplars[1].timestamp == 1600096965.479
    assert series.exemplars[0].trace_id("traceID") is None


def test_an_error_answer_is_handed_back_with_prometheus_words() -> None:
    body = b'{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\": 1:5: parse error"}'
    assert QUERY(body) == ErrorAnswer("bad_data", 'invalid parameter "query": 1:5: parse error')
    assert error_of(body) == ErrorAnswer("bad_data", 'invalid parameter "query": 1:5: parse error')
    assert error_of(b"Service Unavailable") is None
    assert error_of(b'{"status":"success","data":[]}') is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not JSON"),
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"[1,2]", "not its API's envelope: the body: Input should be a valid dictionary"),
        (b'{"status":"ok","data":[]}', "envelope: status: Input should be 'success' or 'error'"),
        (b'{"status":"success","data":{"resultType":"table","result":[]}}', "does not match any of the expected"),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}',
            'data.vector.result.0.value.1: Value error, a sample value is a string such as "1.5" or "NaN", not int 2',
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["1","2"]}]}}',
            "data.vector.result.0.value.0: Input should be a valid number",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1_000"]}]}}',
            "not a number: '1_000'",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"inf"]}]}}',
            "not a number: 'inf'",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}',
            "data.vector.result.0.metric.a: Input should be a valid string",
        ),
        (
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}',
            "a vector sample has either a value or a histogram",
        ),
        (
            b'{"status":"success","data":{"resultType":"scalar","result":[1,"1",2]}}',
            "data.scalar.result: NamedTuple should have at most 2 items",
        ),
        (
            b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"histograms":'
            b'[[1,{"count":"1","sum":"1","buckets":[[7,"0","1","1"]]}]]}]}}',
            "histograms.0.1.buckets.0.0: Input should be less than or equal to 3",
        ),
    ],
)
def test_bad_answers_say_what_was_wrong_and_where(body: bytes, message: str) -> None:
    with pytest.raises(BadAnswer) as e:
        QUERY(body)
    assert message in str(e.value)
    assert e.value.outcome == "bad_answer"
    assert not e.value.retryable


def test_exemplars_refuse_a_numeric_value_as_the_old_docs_showed() -> None:
    old_docs = b'{"status":"success","data":[{"seriesLabels":{},"exemplars":[{"labels":{},"value":6,"timestamp":1}]}]}'
    with pytest.raises(BadAnswer, match=r"data\.0\.exemplars\.0\.value: .*not int 6"):
        EXEMPLARS(old_docs)


def test_a_huge_number_is_infinite_not_an_error() -> None:
    data = QUERY(b'{"status":"success","data":{"resultType":"scalar","result":[0,"1e400"]}}').data
    assert isinstance(data, ScalarResult)
    assert data.result.value == math.inf
