"""A call's arguments as bytes (arguments.py): json.dumps' bytes for plain scalars (the
seed's hash), orjson's for lists and dicts, and the same meaning, and the same errors, from
either; the round trips go through a real host."""

import dataclasses
import datetime
import decimal
import enum
import json
import math
import uuid

import orjson
import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st

from django_js_host.arguments import encode_batch, encode_kwargs
from django_js_host.function import Function


def seed_bytes(value):
    """What the seed's library sent: json.dumps with sorted keys and its default separators."""
    return json.dumps(value, sort_keys=True, allow_nan=False, cls=DjangoJSONEncoder).encode()


def test_plain_scalars_keep_the_seed_bytes():
    for kwargs in ({"foo": "bar"}, {"n": 2**80, "x": 0.1, "ok": True, "none": None, "s": "é\u2028"}, {}):
        assert encode_kwargs("f", kwargs) == seed_bytes(kwargs)


def test_lists_and_dicts_are_orjson_with_sorted_keys():
    kwargs = {"props": {"title": "Grüße", "items": [{"id": 1, "b": None, "a": 1.5}], "pair": (1, 2)}}
    body = encode_kwargs("f", kwargs)
    assert body == '{"props":{"items":[{"a":1.5,"b":null,"id":1}],"pair":[1,2],"title":"Grüße"}}'.encode()
    assert body == orjson.dumps(kwargs, option=orjson.OPT_SORT_KEYS)
    assert encode_batch("f", [{"b": 1, "a": [2]}]) == b'[{"a":[2],"b":1}]'


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ([2**64], "an int past 64 bits"),
        ({1: "one", 2: "two"}, "keys that are not strings"),
        (["a\ud800b"], "a lone surrogate"),
        ([float.__new__(type("Ratio", (float,), {}), 0.5)], "a float subclass"),
    ],
)
def test_what_orjson_cannot_say_alike_json_dumps_encodes(value, why):
    assert encode_kwargs("f", {"v": value}) == seed_bytes({"v": value}), why


def test_nesting_past_orjsons_limit_is_json_dumps_bytes():
    deep = current = []
    for _ in range(300):
        current.append([])
        current = current[0]
    assert encode_kwargs("f", {"deep": deep}) == seed_bytes({"deep": deep})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinities_raise_naming_where_even_beside_null(bad):
    # orjson would write them as null: a silent None on the other side.
    with pytest.raises(ValueError, match=r"argument 'props' at \['items'\]\[1\]\['score'\]"):
        encode_kwargs("f", {"props": {"items": [{"score": 1.0}, {"score": bad, "note": None}]}})
    with pytest.raises(ValueError, match=r"argument 'pair' at \[1\]"):
        encode_kwargs("f", {"pair": (None, bad)})
    with pytest.raises(ValueError, match=r"batch call 1: argument 'x'"):
        encode_batch("f", [{"x": 1.0}, {"x": bad, "y": None}])


class Colour(enum.Enum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


class Place(enum.Enum):
    NOWHERE = float("nan")


def test_django_values_and_enums_mean_the_same_either_way():
    values = {
        "when": datetime.datetime(2026, 11, 26, 13, 0, 0, 123456, tzinfo=datetime.timezone.utc),
        "day": datetime.date(2026, 11, 26),
        "at": datetime.time(13, 0, 0, 500000),
        "price": decimal.Decimal("1.10"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "label": gettext_lazy("Hello"),
        "safe": mark_safe("<b>"),
        "colour": Colour.RED,
        "size": Size.BIG,
    }
    expected = {
        "when": "2026-11-26T13:00:00.123Z",
        "day": "2026-11-26",
        "at": "13:00:00.500",
        "price": "1.10",
        "id": "12345678-1234-5678-1234-567812345678",
        "label": "Hello",
        "safe": "<b>",
        "colour": "red",
        "size": 3,
    }
    for name, value in values.items():
        alone = json.loads(encode_kwargs("f", {name: value}))  # json.dumps or orjson, by its type
        in_a_list = json.loads(encode_kwargs("f", {name: [value]}))  # orjson
        assert alone == {name: expected[name]} and in_a_list == {name: [expected[name]]}, name
    with pytest.raises(ValueError, match=r"argument 'place' at \[0\]"):
        encode_kwargs("f", {"place": [Place.NOWHERE]})


def test_what_neither_encodes_raises_naming_it():
    @dataclasses.dataclass
    class Point:
        x: int

    with pytest.raises(TypeError, match=r"argument 'items' at \[0\]\['at'\].*Point"):
        encode_kwargs("f", {"items": [{"at": Point(1)}]})
    with pytest.raises(TypeError, match=r"argument 'tags' at \[0\]"):
        encode_kwargs("f", {"tags": [{1, 2}]})
    loop = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match=r"argument 'x' at \[1\] \(it contains itself\)"):
        encode_kwargs("f", {"x": loop})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4))
def test_both_encoders_mean_the_same(kwargs):
    body = encode_kwargs("f", kwargs)
    assert json.loads(body) == json.loads(seed_bytes(kwargs))
    assert body == encode_kwargs("f", dict(reversed(kwargs.items())))  # equal arguments, equal bytes


@pytest.mark.usefixtures("js_host_settings")
def test_props_reach_the_host_as_they_were():
    props = {
        "title": "Grüße, 世界 🎉",
        "items": [{"id": n, "score": n / 3, "tags": ["a", None, True], "big": 2**53} for n in range(200)],
        "empty": {},
        "pair": (1, "two"),
    }
    assert Function("echo").call_json(props=props) == {"props": {**props, "pair": [1, "two"]}}
