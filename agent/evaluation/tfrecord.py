"""TFRecord files of ``tf.train.Example`` and android_env accessibility trees, read without
TensorFlow: the record framing is read here, the messages are parsed by ``protobuf`` from message
types declared here with the published field numbers (``tensorflow/core/example/feature.proto``
and android_env's ``proto/a11y``). Only the fields vlagent reads are declared; others are kept
as unknown fields by protobuf.
"""

from __future__ import annotations

import functools
import gzip
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from vlagent.tools.errors import VlagentError

_PACKAGE = "vlagent.published"
_CASTAGNOLI = 0x82F63B78


class RecordError(VlagentError, ValueError):
    """A file that is not a readable TFRecord file; the message says where it broke."""


@functools.cache
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ _CASTAGNOLI if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


def _masked_crc(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C, rotated and offset ("masked")."""
    table, crc = _crc_table(), 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def is_tfrecord(path: Path) -> bool:
    """Whether ``path`` starts like a TFRecord file (plain or GZIP)."""
    try:
        stream, _ = _open(path)
        with stream:
            head = stream.read(12)
    except (OSError, EOFError, zlib.error):
        return False
    return len(head) == 12 and struct.unpack("<I", head[8:])[0] == _masked_crc(head[:8])


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the GZIP magic bytes (a compressed shard, readable or not)."""
    try:
        with path.open("rb") as probe:
            return probe.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _open(path: Path) -> tuple[BinaryIO, bool]:
    """The file's (decompressed) bytes, and whether it was GZIP."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    stream = gzip.open(path, "rb") if gzipped else path.open("rb")
    return stream, gzipped  # type: ignore[return-value]


MAX_RECORD_BYTES = 1 << 30
"""A record's length comes from the file: past this it is damage, not an episode."""
_CHUNK = 1 << 24


def _read_up_to(stream: IO[bytes], length: int) -> bytes:
    """Up to ``length`` bytes, read in chunks: a length a damaged header claims allocates
    nothing the file does not hold."""
    parts: list[bytes] = []
    left = length
    while left > 0:
        part = stream.read(min(left, _CHUNK))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def records(path: Path) -> Iterator[bytes]:
    """The records of a TFRecord file. GZIP files are checked by gzip's own CRC; plain files by
    each record's CRC-32C."""
    try:
        stream, gzipped = _open(path)
        with stream:
            offset = 0
            while head := stream.read(12):
                if len(head) < 12:
                    raise RecordError(
                        f"{path}: the file ends inside a record header at byte {offset}"
                    )
                length, length_crc = struct.unpack("<QI", head)
                if length_crc != _masked_crc(head[:8]):
                    raise RecordError(
                        f"{path}: not a TFRecord file (bad record header at byte {offset})"
                    )
                if length > MAX_RECORD_BYTES:
                    raise RecordError(
                        f"{path}: the record at byte {offset} claims {length} bytes, more than "
                        f"a dataset record holds ({MAX_RECORD_BYTES >> 20} MiB): damaged"
                    )
                data, footer = _read_up_to(stream, length), stream.read(4)
                if len(data) < length or len(footer) < 4:
                    raise RecordError(f"{path}: the file ends inside a record at byte {offset}")
                if not gzipped and struct.unpack("<I", footer)[0] != _masked_crc(data):
                    raise RecordError(f"{path}: the record at byte {offset} is damaged (checksum)")
                offset += 16 + length
                yield data
    except (OSError, EOFError, zlib.error) as exc:  # gzip's own errors and a broken deflate stream
        raise RecordError(f"{path}: damaged compressed data ({exc})") from None


def _field(
    name: str,
    number: int,
    kind: str,
    message: str = "",
    repeated: bool = False,
    packed: bool = False,
) -> Any:
    from google.protobuf import descriptor_pb2

    field = descriptor_pb2.FieldDescriptorProto
    kinds = {
        "bytes": field.TYPE_BYTES,
        "string": field.TYPE_STRING,
        "float": field.TYPE_FLOAT,
        "int64": field.TYPE_INT64,
        "int32": field.TYPE_INT32,
        "bool": field.TYPE_BOOL,
        "message": field.TYPE_MESSAGE,
    }
    proto = field(
        name=name,
        number=number,
        type=kinds[kind],
        label=field.LABEL_REPEATED if repeated else field.LABEL_OPTIONAL,
    )
    if message:
        proto.type_name = f".{_PACKAGE}.{message}"
    if packed:
        proto.options.packed = True
    return proto


def _example_messages() -> dict[str, list[Any]]:
    """The fields of ``tf.train.Example`` (tensorflow/core/example/feature.proto and
    example.proto)."""
    f = _field
    return {
        "BytesList": [f("value", 1, "bytes", repeated=True)],
        "FloatList": [f("value", 1, "float", repeated=True, packed=True)],
        "Int64List": [f("value", 1, "int64", repeated=True, packed=True)],
        "Feature": [
            f("bytes_list", 1, "message", "BytesList"),
            f("float_list", 2, "message", "FloatList"),
            f("int64_list", 3, "message", "Int64List"),
        ],
        "Features": [f("feature", 1, "message", "Features.FeatureEntry", repeated=True)],
        "Example": [f("features", 1, "message", "Features")],
    }


def _accessibility_messages() -> dict[str, list[Any]]:
    """The fields of android_env's accessibility forest (proto/a11y: rect, node info, tree, window
    info, forest)."""
    f = _field
    return {
        "ProtoRect": [
            f("left", 1, "int32"),
            f("top", 2, "int32"),
            f("right", 3, "int32"),
            f("bottom", 4, "int32"),
        ],
        "Node": [
            f("unique_id", 1, "int32"),
            f("bounds_in_screen", 2, "message", "ProtoRect"),
            f("class_name", 3, "string"),
            f("content_description", 4, "string"),
            f("hint_text", 5, "string"),
            f("package_name", 6, "string"),
            f("text", 7, "string"),
            f("view_id_resource_name", 10, "string"),
            f("is_clickable", 14, "bool"),
            f("is_editable", 15, "bool"),
            f("is_scrollable", 21, "bool"),
            f("is_visible_to_user", 23, "bool"),
            f("child_ids", 25, "int32", repeated=True, packed=True),
            f("depth", 27, "int32"),
        ],
        "Tree": [f("nodes", 1, "message", "Node", repeated=True)],
        "Window": [
            f("bounds_in_screen", 1, "message", "ProtoRect"),
            f("id", 3, "int32"),
            f("layer", 4, "int32"),
            f("window_type", 6, "int32"),
            f("tree", 11, "message", "Tree"),
        ],
        "Forest": [f("windows", 1, "message", "Window", repeated=True)],
    }


@functools.cache
def _classes() -> dict[str, Any]:
    """The message classes of ``Example`` and ``Forest``, built once from one file descriptor that
    declares every message above."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    messages = {**_example_messages(), **_accessibility_messages()}
    file = descriptor_pb2.FileDescriptorProto(
        name="vlagent_published.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        message.field.extend(fields)
        if name == "Features":  # map<string, Feature> is a repeated nested entry message
            entry = message.nested_type.add(name="FeatureEntry")
            entry.field.extend(
                [_field("key", 1, "string"), _field("value", 2, "message", "Feature")]
            )
            entry.options.map_entry = True
        if name == "Feature":
            message.oneof_decl.add(name="kind")
            for field in message.field:
                field.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in ("Example", "Forest")
    }


def example(data: bytes) -> dict[str, list[Any]]:
    """A serialized ``tf.train.Example`` as {feature name: its values}."""
    from google.protobuf.message import DecodeError

    parsed = _classes()["Example"]()
    try:
        parsed.ParseFromString(data)
    except DecodeError as exc:
        raise RecordError(f"a record is not a tf.train.Example ({exc})") from None
    features: dict[str, list[Any]] = {}
    for key, feature in parsed.features.feature.items():
        kind = feature.WhichOneof("kind")
        features[key] = list(getattr(feature, kind).value) if kind else []
    return features


def accessibility_nodes(data: bytes) -> list[dict[str, Any]]:
    """The nodes of a serialized ``AndroidAccessibilityForest``, every window's, as dicts with
    ``bounds`` (left, top, right, bottom pixels), ``class_name``, ``text``,
    ``content_description``, ``clickable``, ``visible``, ``children`` and ``window_layer``."""
    from google.protobuf.message import DecodeError

    forest = _classes()["Forest"]()
    try:
        forest.ParseFromString(data)
    except DecodeError as exc:
        raise RecordError(
            f"an accessibility tree is not an AndroidAccessibilityForest ({exc})"
        ) from None
    nodes = []
    for window in forest.windows:
        for node in window.tree.nodes:
            rect = node.bounds_in_screen
            nodes.append(
                {
                    "id": node.unique_id,
                    "bounds": (rect.left, rect.top, rect.right, rect.bottom),
                    "class_name": node.class_name,
                    "text": node.text,
                    "content_description": node.content_description,
                    "clickable": node.is_clickable,
                    "visible": node.is_visible_to_user,
                    "children": list(node.child_ids),
                    "window_layer": window.layer,
                }
            )
    return nodes
