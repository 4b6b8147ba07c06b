"""The tokenizers against Loki's tables (`pkg/pattern/drain/line_tokenizer_test.go`, drain_test.go
`TestDeduplicatePlaceholders`, metrics.go `DetectLogFormat`); the splitting tokenizer, which Drain never uses,
is left out."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observ.patterns.tokenize import (
    PLACEHOLDER,
    JsonTokenizer,
    LogfmtTokenizer,
    PunctuationTokenizer,
    _TopLevelStrings,
    deduplicate_placeholders,
    detect_format,
)

SCHEDULER = (
    'ts=2024-05-30T12:50:36.648377186Z caller=scheduler_processor.go:143 level=warn msg="error contacting scheduler" '
    'err="rpc error: code = Unavailable desc = connection error: desc = \\"error reading server preface: EOF\\"" '
    "addr=10.0.151.101:9095"
)
RPC_ERROR = 'rpc error: code = Unavailable desc = connection error: desc = "error reading server preface: EOF"'
RELAY = (
    "09:17:38.033366 ▶ INFO  route ops sending to dest https://graphite-cortex-ops-blocks-us-east4.grafana.net/"
    "graphite/metrics: service_is_carbon-relay-ng.instance_is_carbon-relay-ng-c665b7b-j2trk.mtype_is_counter."
    "dest_is_https_graphite-cortex-ops-blocks-us-east4_grafana_netgraphitemetrics.unit_is_Metric.action_is_drop."
    "reason_is_queue_full 0 1717060658"
)
RELAY_TOKENS = RELAY.replace("  ", " ").split(" ")
A126 = ["A"] * 126

# fmt: off
PUNCTUATION = [  # (name, line, tokens with a 360-byte line cap)
    ("equals sign", "key1=value1 key2=value2", ["key1", "=", "value1", "key2", "=", "value2"]),
    ("colon", "key1:value1 key2:value2", ["key1:value1", "key2:value2"]),
    (
        "mixed, more = than :",
        "key1=value1 key2:value2 key3=value3",
        ["key1", "=", "value1", "key2:value2", "key3", "=", "value3"],
    ),
    ("mixed, more : than =", "key1:value1 key2:value2 key3=value3",
     ["key1:value1", "key2:value2", "key3", "=", "value3"]),
    (
        "dense json",
        '{"key1":"value1","key2":"value2","key3":"value3"}',
        ["{", '"', "key1", '"', ":", '"', "value1", '"', ",", '"', "key2", '"', ":", '"', "value2", '"', ",", '"',
         "key3", '"', ":", '"', "value3", '"', "}"],
    ),
    (
        "json with spaces",
        '{"key1":"value1", "key2":"value2", "key3":"value3"}',
        ["{", '"', "key1", '"', ":", '"', "value1", '"', ",", '"', "key2", '"', ":", '"', "value2", '"', ",", '"',
         "key3", '"', ":", '"', "value3", '"', "}"],
    ),
    (
        "logfmt multiword values",
        'key1=value1 key2=value2 msg="this is a message"',
        ["key1", "=", "value1", "key2", "=", "value2", "msg", "=", '"', "this", "is", "a", "message", '"'],
    ),
    ("longer line", RELAY, RELAY_TOKENS),
    (
        "consecutive split points",
        SCHEDULER,
        ["ts", "=", "2024-05-30T12:50:36.648377186Z", "caller", "=", "scheduler_processor.go:143", "level", "=", "warn",
         "msg", "=", '"', "error", "contacting", "scheduler", '"', "err", "=", '"', "rpc", "error:", "code", "=",
         "Unavailable", "desc", "=", "connection", "error:", "desc", "=", "\\", '"', "error", "reading", "server",
         "preface:", "EOF", "\\", '"', '"', "addr", "=", "10.0.151.101:9095"],
    ),
    ("exactly 128 tokens are not combined", "A " * 126 + "127 128", [*A126, "127", "128"]),
    ("more than 128 tokens: the rest is one token", "A " * 126 + "127 128 129", [*A126, "127", "128 129"]),
    ("only punctuation", "!@£$%^&*()", ["!", "@", "£$", "%", "^", "&", "*", "(", ")"]),
    ("longer than the cap", RELAY + " userid invalid", None),
]
# fmt: on


@pytest.mark.parametrize(("line", "want"), [c[1:] for c in PUNCTUATION], ids=[c[0] for c in PUNCTUATION])
def test_punctuation_tokens(line: str, want: list[str] | None) -> None:
    got = PunctuationTokenizer(360).tokenize(line)
    assert (got[0] if got else None) == want


@pytest.mark.parametrize("line", [c[1] for c in PUNCTUATION], ids=[c[0] for c in PUNCTUATION])
def test_punctuation_join_gives_the_line_back(line: str) -> None:
    t = PunctuationTokenizer(3000)
    got = t.tokenize(line)
    assert got is not None
    assert t.join(*got) == line


@pytest.mark.parametrize("line", ["  two leading spaces here", "\ttab then  two spaces ", " x = y "])
def test_join_keeps_leading_spaces(line: str) -> None:
    """Loki's join drops every space of a line that starts with one (its space index is -1); ours keeps them."""
    t = PunctuationTokenizer(3000)
    got = t.tokenize(line)
    assert got is not None
    assert t.join(*got) == line


def test_join_puts_the_template_into_the_first_lines_layout() -> None:
    t = PunctuationTokenizer(3000)
    tokens, layout = t.tokenize("took  12 ms (cached)")  # type: ignore[misc]
    tokens[1] = PLACEHOLDER
    assert t.join(tokens, layout) == "took  <_> ms (cached)"


# fmt: off
LOGFMT = [  # (line, tokens), Loki's TestLogFmtTokenizer with a 250-byte cap
    ('foo=bar baz="this is a message"', ["foo", "bar", "baz", "this is a message"]),
    ('foo baz="this is a message"', ["foo", "", "baz", "this is a message"]),
    ('foo= baz="this is a message"', ["foo", "", "baz", "this is a message"]),
    ("foo baz", ["foo", "", "baz", ""]),
    (
        SCHEDULER,
        ["ts", PLACEHOLDER, "caller", "scheduler_processor.go:143", "level", "warn", "msg",
         "error contacting scheduler", "err", RPC_ERROR, "addr", "10.0.151.101:9095"],
    ),
    (
        "logger=sqlstore.metrics traceID=c933fefbe893411d3be8e1648d6bcf37 t=2024-07-10T16:00:15.564896897Z "
        'level=debug msg="query finished" status=success elapsedtime=1.324305ms <REDACTED> error=null',
        ["logger", "sqlstore.metrics", "traceID", "<_>", "t", "<_>", "level", "debug", "msg", "query finished",
         "status", "success", "elapsedtime", "1.324305ms", "<REDACTED>", "", "error", "null"],
    ),
    (SCHEDULER + " ip=127.0.0.1 userid=1234456", None),
]
# fmt: on


@pytest.mark.parametrize(("line", "want"), LOGFMT)
def test_logfmt_tokens(line: str, want: list[str] | None) -> None:
    got = LogfmtTokenizer(250).tokenize(line)
    assert (got[0] if got else None) == want


def test_logfmt_refuses_a_line_its_decoder_refuses() -> None:
    assert LogfmtTokenizer(3000).tokenize('a=1 b="unterminated') is None


# fmt: off
LOGFMT_JOIN = [  # (tokens, line), Loki's TestLogFmtTokenizerJoin
    ([], ""),
    (["foo", "bar", "baz", "this is a message"], 'foo=bar baz="this is a message"'),
    (["foo", "", "baz", "this is a message"], 'foo= baz="this is a message"'),
    (["foo", "", "baz", ""], "foo= baz="),
    (["foo"], "foo="),
    (["foo", "", "bar"], "foo= bar="),
    (
        ["ts", "2024-05-30T12:50:36.648377186Z", "caller", "scheduler_processor.go:143", "level", "warn", "msg",
         "error contacting scheduler", "err", RPC_ERROR, "addr", "10.0.151.101:9095"],
        SCHEDULER,
    ),
    (["error", "null"], "error=null"),
    (["k", "tab\there", "nl", "a\nb"], 'k="tab\\there" nl="a\\nb"'),
    (["bad key", "v"], "badkey=v"),
    (["= ", "v"], ""),
]
# fmt: on


@pytest.mark.parametrize(("tokens", "want"), LOGFMT_JOIN)
def test_logfmt_join(tokens: list[str], want: str) -> None:
    assert LogfmtTokenizer(3000).join(tokens, None) == want


PAYMENT = (
    '{"level":30,"time":1719998371869,"pid":17,"hostname":"otel-demo-ops-paymentservice-7c759bf575-55t4p",'
    '"trace_id":"1425c6df5a4321cf6a7de254de5b8204","span_id":"2ac7a3fc800b80d4","trace_flags":"01",'
    '"transactionId":"e501032b-3215-4e43-b1db-f4886a906fc5","cardType":"visa","lastFourDigits":"5647",'
    '"amount":{"units":{"low":656,"high":0,"unsigned":false},"nanos":549999996,"currencyCode":"USD"},'
    '"msg":"Transaction complete."}'
)
AGENTS = (
    '{"time":"2024-07-03T10:48:10.58330448Z","level":"INFO","msg":"successfully discovered 15 agent IP addresses",'
    '"git_commit":"1","git_time":"2024-06-26T06:59:04Z","git_modified":true,"go_os":"linux","go_arch":"arm64",'
    '"hostname_fqdn":"foobar","hostname_short":foobar","private_ips":["10.0.132.23"],"num_vcpus":8}'
)
# fmt: off
JSON = [  # (line, tokens, pattern), from Loki's TestJsonTokenizer (the two long Okta events shortened)
    (PAYMENT, ["Transaction", "complete."], "<_>Transaction complete.<_>"),
    (
        '{"event":{"actor":{"id":"dq23","type":"User"},"displayMessage":"Evaluation of sign-on policy"},'
        '"level":"info","msg":"received event","time":"2024-07-03T09:19:59Z"}',
        ["received", "event"],
        "<_>received event<_>",
    ),
    ('{"code":200,"message":"OK","data":{"id":"1","name":"foo"}}', ["OK"], "<_>OK<_>"),
    (AGENTS, ["successfully", "discovered", "15", "agent", "IP", "addresses"],
     "<_>successfully discovered 15 agent IP addresses<_>"),
    ('{"msg":{"actor":{"id":"dq23"}},"level":"info","type":"received event"}', None, ""),
]
# fmt: on


@pytest.mark.parametrize(("line", "tokens", "pattern"), JSON)
def test_json_mines_the_message_field(line: str, tokens: list[str] | None, pattern: str) -> None:
    t = JsonTokenizer(3000)
    got = t.tokenize(line)
    assert (got[0] if got else None) == tokens
    if got:
        assert t.join(*got) == pattern


def test_json_message_is_mined_as_written() -> None:
    """jsonparser.Get hands back the string undecoded: escapes stay as they are in the line."""
    got = JsonTokenizer(3000).tokenize('{"msg":"said \\"hi\\" twice"}')
    assert got is not None
    assert got[0] == ["said", "\\", '"', "hi", "\\", '"', "twice"]


DEDUP = [  # Loki's TestDeduplicatePlaceholders
    ("abcd", "abcd"),
    ("<_><_>abcd", "<_>abcd"),
    ("<_>" * 100, "<_>"),
    ("<_> <_>", "<_> <_>"),
    ("<_> " * 100, "<_> " * 100),
    ("<_><<_>", "<_><<_>"),
    ("<_><->", "<_><->"),
    (("<_>" * 100 + " ") * 100, "<_> " * 100),
    ("<<<<<<<_><_>>>>>>>>", "<<<<<<<_>>>>>>>>"),
    ("A" * 100 + "<_><_>", "A" * 100 + "<_>"),
]


@pytest.mark.parametrize(("line", "want"), DEDUP)
def test_deduplicate_placeholders(line: str, want: str) -> None:
    assert deduplicate_placeholders(line) == want


FORMATS = [
    ('{"a":1}', "json"),
    ("{", "unknown"),
    ("x", "unknown"),
    ('level=info msg="hello world" n=1', "logfmt"),
    ("level=info", "logfmt"),
    ("level=info msg=hello trailing", "unknown"),
    ("2024-05-08 15:23:56.403 [DEBUG][615489] felix/table.go 699: Finished", "unknown"),
]


@pytest.mark.parametrize(("line", "fmt"), FORMATS)
def test_detect_format(line: str, fmt: str) -> None:
    assert detect_format(line) == fmt


_TEXT = st.text(st.characters(exclude_characters='"\\', exclude_categories=("Cs", "Cc")), max_size=12)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT, lambda v: st.lists(v) | st.dictionaries(_TEXT, v)
)


@given(st.dictionaries(st.sampled_from(["msg", "log", "level", "content", "x"]) | _TEXT, _VALUES, max_size=6))
def test_json_fast_path_and_raw_scanner_agree(doc: dict[str, object]) -> None:
    """Lines without escapes go through json.loads; the raw scanner finds the same string values in them."""
    line = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    strings = {k: v for k, v in doc.items() if isinstance(v, str)}
    raw = {k: v for k, v in _TopLevelStrings(line).values.items() if v is not None}
    assert raw == strings
    spaced = json.dumps(doc, ensure_ascii=False, indent=1)
    assert {k: v for k, v in _TopLevelStrings(spaced).values.items() if v is not None} == strings
