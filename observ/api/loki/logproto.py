"""`logproto.PushRequest` (Loki's `pkg/push/push.proto`) built at import time from a descriptor: no protoc step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, cast

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import Message

_F = descriptor_pb2.FieldDescriptorProto


def _file() -> descriptor_pb2.FileDescriptorProto:
    f = descriptor_pb2.FileDescriptorProto(
        name="observ/logproto/push.proto",
        package="logproto",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            field = m.field.add(name=fname, number=number, type=ftype, label=label, json_name=fname)
            if type_name:
                field.type_name = type_name

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    message("PushRequest", ("streams", 1, _F.TYPE_MESSAGE, rep, ".logproto.StreamAdapter"),
            ("format", 2, _F.TYPE_STRING, opt, ""))  # fmt: skip
    message("StreamAdapter", ("labels", 1, _F.TYPE_STRING, opt, ""),
            ("entries", 2, _F.TYPE_MESSAGE, rep, ".logproto.EntryAdapter"),
            ("hash", 3, _F.TYPE_UINT64, opt, ""))  # fmt: skip
    message("LabelPairAdapter", ("name", 1, _F.TYPE_STRING, opt, ""), ("value", 2, _F.TYPE_STRING, opt, ""))
    message("EntryAdapter", ("timestamp", 1, _F.TYPE_MESSAGE, opt, ".google.protobuf.Timestamp"),
            ("line", 2, _F.TYPE_STRING, opt, ""),
            ("structuredMetadata", 3, _F.TYPE_MESSAGE, rep, ".logproto.LabelPairAdapter"),
            ("parsed", 4, _F.TYPE_MESSAGE, rep, ".logproto.LabelPairAdapter"))  # fmt: skip
    return f


def _classes() -> tuple[type[Message], ...]:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(_file())
    names = ("PushRequest", "StreamAdapter", "EntryAdapter", "LabelPairAdapter")
    return tuple(message_factory.GetMessageClass(pool.FindMessageTypeByName(f"logproto.{n}")) for n in names)


PushRequest, StreamAdapter, EntryAdapter, LabelPairAdapter = _classes()


# The fields the push decoder reads, typed: the classes above are built at run time, so no stubs describe them.
class LabelPairFields(Protocol):
    name: str
    value: str


class EntryFields(Protocol):
    timestamp: timestamp_pb2.Timestamp
    line: str
    structuredMetadata: Sequence[LabelPairFields]


class StreamFields(Protocol):
    labels: str
    entries: Sequence[EntryFields]


class PushRequestFields(Protocol):
    streams: Sequence[StreamFields]


def parse_push_request(raw: bytes) -> PushRequestFields:
    """A serialized PushRequest; DecodeError when it is not one."""
    return cast(PushRequestFields, PushRequest.FromString(raw))
