"""Typed reads of what another party sent: a value of the wrong kind is refused, not converted."""

import pytest
from flwr.app import ArrayRecord, ConfigRecord, RecordDict

from strategies import wire
from strategies.errors import ProtocolError


@pytest.mark.parametrize(
    "read, value",
    [
        (wire.read_int, True),  # int(True) would be 1
        (wire.read_int, 1.0),
        (wire.read_int, "1"),
        (wire.read_float, "0.5"),
        (wire.read_float, False),
        (wire.read_bytes, 5),  # bytes(5) would be five zero bytes
        (wire.read_bytes, "ab"),
        (wire.read_str, b"ab"),
    ],
)
def test_a_value_of_the_wrong_kind_is_a_protocol_error_naming_the_field(read, value):
    with pytest.raises(ProtocolError, match="'field-x'"):
        read({"field-x": value}, "field-x")


def test_values_of_the_right_kind_and_defaults_are_read_as_they_are():
    fields = ConfigRecord({"i": 3, "f": 2, "b": b"\x01", "s": "x", "l": [1, 2]})
    assert wire.read_int(fields, "i") == 3 and wire.read_float(fields, "f") == 2.0
    assert wire.read_bytes(fields, "b") == b"\x01" and wire.read_str(fields, "s") == "x"
    assert wire.read_list(fields, "l", int) == [1, 2] and wire.read_list(fields, "none", int) == []
    assert wire.read_int(fields, "absent", 7) == 7
    with pytest.raises(ProtocolError, match="'absent' is missing"):
        wire.read_int(fields, "absent")
    with pytest.raises(ProtocolError, match="'l'"):
        wire.read_list(fields, "l", bytes)


def test_a_record_of_the_wrong_kind_is_refused():
    content = RecordDict({"arrays": ConfigRecord({"a": 1}), "config": ArrayRecord([])})
    with pytest.raises(ProtocolError, match="'arrays'"):
        wire.read_record(content, "arrays", ArrayRecord)
    with pytest.raises(ProtocolError, match="'config'"):
        wire.read_record(content, "config", ConfigRecord)
    with pytest.raises(ProtocolError, match="'absent'"):
        wire.read_record(content, "absent", ConfigRecord)
