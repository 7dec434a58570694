"""Function calls end to end against a real Node host."""

import datetime
import decimal
import hashlib
import time
import uuid

import pytest
from django.utils.translation import gettext_lazy

from django_js_host import (
    FunctionError,
    FunctionNotFound,
    FunctionTimeout,
    JSHost,
)
from django_js_host.function import Function, encode_kwargs

from .proxy import recording_proxy

pytestmark = pytest.mark.usefixtures("js_host_settings")


# The seed README's examples, verbatim.


def test_seed_hello_world():
    assert Function("hello_world").call(name="Foo") == "Hello, Foo!"


def test_seed_greeter_default_name():
    assert Function("hello_world").call() == "Hello, World!"


def test_seed_double_returns_text():
    assert Function("double").call(number=20) == "40"


def test_seed_double_error_carries_js_name_message_and_stack(fixture_host):
    with pytest.raises(FunctionError) as caught:
        Function("double").call()
    error = caught.value
    assert error.js_name == "Error"
    assert error.js_message == "No number was provided"
    assert "host.config.js" in error.js_stack  # the frame inside the user's config file
    assert "No number was provided" in str(error)
    assert error.function == "double"


def test_async_function_and_this_name():
    assert Function("async_greeting").call(name="Ada") == "Hi Ada from async_greeting"


def test_async_rejection_is_a_function_error():
    with pytest.raises(FunctionError) as caught:
        Function("fails_async").call()
    assert caught.value.js_name == "RangeError"
    assert caught.value.js_message == "async failure"


def test_unknown_function_names_the_function_and_what_exists():
    with pytest.raises(FunctionNotFound, match=r'"no_such_function".*hello_world'):
        Function("no_such_function").call()


def test_call_json_decodes_objects_and_keeps_strings():
    echo = Function("echo")
    assert echo.call_json(a=[1, 2, {"b": None}]) == {"a": [1, 2, {"b": None}]}
    assert echo.call(a=1) == '{"a":1}'
    assert Function("hello_world").call_json(name="x") == "Hello, x!"
    assert Function("double").call_json(number=21) == 42


def test_buffer_output_is_bytes():
    assert Function("bytes").call() == b"\x00\x01\x02\xff"


def test_function_that_never_calls_back_times_out_and_host_still_answers():
    start = time.monotonic()
    with pytest.raises(FunctionTimeout, match="within 1 s"):
        Function("never_calls_back", timeout=1).call()
    assert time.monotonic() - start < 2.0
    assert Function("hello_world").call(name="again") == "Hello, again!"


def test_timeout_defaults_to_setting(settings):
    settings.JS_HOST = {**settings.JS_HOST, "FUNCTION_TIMEOUT": 0.5}
    assert Function("x").get_timeout() == 0.5
    assert Function("x", timeout=3).get_timeout() == 3


def test_unicode_and_emoji_round_trip():
    text = "Grüße, 世界! 👋🏽 \u0000 \u2028 done"
    assert Function("echo_text").call(text=text) == text
    assert Function("echo").call_json(text=text) == {"text": text}


@pytest.mark.parametrize("decoder", ["orjson", "json"])
def test_lone_surrogates_survive_json_and_become_u_fffd_in_text(monkeypatch, decoder):
    from django_js_host import function

    if decoder == "json":
        monkeypatch.setattr(function, "ORJSON_FROM_BYTES", float("inf"))
    # JSON escapes carry a lone surrogate both ways; UTF-8 text cannot hold one.
    assert encode_kwargs("echo", {"text": "a\ud800b"}) == b'{"text": "a\\ud800b"}'
    assert Function("echo").call_json(text="a\ud800b") == {"text": "a\ud800b"}
    big = "a\ud800b" + "x" * 20000  # big enough to be decoded by orjson, unless json is asked for
    assert Function("echo").call_json(text=big) == {"text": big}
    assert Function("echo_text").call(text="a\ud800b") == "a\ufffdb"


def test_ten_megabyte_payload_round_trips_byte_exact():
    payload = "".join(chr(32 + i % 90) for i in range(10 * 1024 * 1024))
    assert Function("echo_text", timeout=30).call(text=payload) == payload


def test_django_types_encode_as_django_does():
    when = datetime.datetime(2026, 11, 26, 13, 0, tzinfo=datetime.timezone.utc)
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    echoed = Function("echo").call_json(
        when=when, price=decimal.Decimal("1.10"), id=ident, label=gettext_lazy("Hello")
    )
    assert echoed == {
        "when": "2026-11-26T13:00:00Z",
        "price": "1.10",
        "id": "12345678-1234-5678-1234-567812345678",
        "label": "Hello",
    }


def test_body_has_sorted_keys_and_the_seed_hash():
    body = encode_kwargs("f", {"foo": "bar"})
    assert body == b'{"foo": "bar"}'
    assert hashlib.sha1(body).hexdigest() == "bc4919c6adf7168088eaea06e27a5b23f0f9f9da"
    assert encode_kwargs("f", {"b": 1, "a": 2}) == encode_kwargs("f", {"a": 2, "b": 1})


def test_root_url_routes_calls_through_a_proxy_with_the_hash(settings, fixture_host):
    with recording_proxy(fixture_host.url) as proxy:
        settings.JS_HOST = {**settings.JS_HOST, "ROOT_URL": proxy.url}
        assert Function("hello_world").call(foo="bar") == "Hello, World!"
    assert "/function/hello_world?hash=bc4919c6adf7168088eaea06e27a5b23f0f9f9da" in proxy.paths


def test_root_url_with_a_path_prefix(settings, fixture_host):
    with recording_proxy(fixture_host.url, prefix="/js") as proxy:
        settings.JS_HOST = {**settings.JS_HOST, "ROOT_URL": proxy.url + "/js/"}
        assert Function("double").call(number=2) == "4"
    assert proxy.paths[-1].startswith("/js/function/double?hash=")


def test_unencodable_kwarg_raises_type_error_naming_it_before_sending(settings, fixture_host):
    with recording_proxy(fixture_host.url) as proxy:
        settings.JS_HOST = {**settings.JS_HOST, "ROOT_URL": proxy.url}
        with pytest.raises(TypeError, match=r"argument 'when'.*set"):
            Function("echo").call(name="x", when={1, 2})
        with pytest.raises(TypeError, match=r"argument 'items' at \[1\]\['obj'\]"):
            Function("echo").call(items=[1, {"obj": object()}])
        with pytest.raises(ValueError, match=r"argument 'ratio'"):
            Function("echo").call(ratio=float("nan"))
    assert not [path for path in proxy.paths if path.startswith("/function/")]


def test_explicit_host_overrides_the_default(fixture_host):
    function = Function("hello_world", host=JSHost(fixture_host.config_file))
    assert function.get_host().config_file == fixture_host.config_file
    assert function.call(name="Bo") == "Hello, Bo!"


def test_bad_name_is_refused_at_construction():
    with pytest.raises(ValueError):
        Function("")


@pytest.mark.parametrize("decoder", ["orjson", "json"])
def test_call_json_decodes_the_same_with_orjson_or_json(monkeypatch, decoder):
    from django_js_host import function

    if decoder == "json":
        monkeypatch.setattr(function, "ORJSON_FROM_BYTES", float("inf"))
    items = [{"id": n, "name": f"item {n} ✓", "score": n / 3, "tags": ["a", None, True]} for n in range(1000)]
    assert Function("echo").call_json(items=items) == {"items": items}


def test_a_value_that_contains_itself_is_named_before_anything_is_sent():
    loop = [1]
    loop.append(loop)
    with pytest.raises(ValueError, match=r"argument 'x' at \[1\] \(it contains itself\).*circular"):
        Function("echo").call(x=loop)
    deep = current = []
    for _ in range(100_000):
        current.append([])
        current = current[0]
    with pytest.raises(ValueError, match="cannot be sent as JSON: it is circular or nests too deeply"):
        Function("echo").call(deep=deep)
    assert Function("echo").call_json(fine=[[1]]) == {"fine": [[1]]}
