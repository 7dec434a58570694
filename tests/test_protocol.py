"""The wire rules are written once per language, django_js_host/protocol.py and
js/lib/protocol.js: this runs the JS module with node and holds the two equal."""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from django_js_host import UnexpectedResponse, protocol
from django_js_host.streaming import StreamText

PROTOCOL_JS = Path(protocol.__file__).resolve().parent / "js" / "lib" / "protocol.js"

# Reads {paths, names, bodies (latin-1 text standing for bytes)} on stdin and prints what
# protocol.js makes of them.
NODE_SCRIPT = """
const protocol = require(process.argv[1]);
let input = '';
process.stdin.setEncoding('utf8').on('data', (chunk) => (input += chunk)).on('end', () => {
  const {paths, names, requestIds, bodies} = JSON.parse(input);
  const bytes = bodies.map((body) => Buffer.from(body, 'latin1'));
  process.stdout.write(JSON.stringify({
    constants: {
      STATUS_PATH: protocol.STATUS_PATH,
      FUNCTION_PATH: protocol.FUNCTION_PATH,
      BATCH_PATH: protocol.BATCH_PATH,
      STREAM_PATH: protocol.STREAM_PATH,
      HASH_PARAMETER: protocol.HASH_PARAMETER,
      JSON_TYPE: protocol.JSON_TYPE,
      TOKEN_HEADER: protocol.TOKEN_HEADER,
      REQUEST_ID_HEADER: protocol.REQUEST_ID_HEADER,
      REQUEST_ID: protocol.REQUEST_ID.source,
      CALLABLE_NAME: protocol.CALLABLE_NAME.source,
      STREAM_TYPE: protocol.STREAM_TYPE,
      STREAM_DATA: protocol.STREAM_DATA,
      STREAM_ERROR: protocol.STREAM_ERROR,
      STREAM_END: protocol.STREAM_END,
    },
    callable: names.map((name) => protocol.isCallableName(name)),
    requestIds: [...names, ...requestIds].map((value) => protocol.isRequestId(value)),
    callPaths: bytes.map((body) => protocol.callPath('render_page', body)),
    batchPaths: bytes.map((body) => protocol.batchPath('render_page', body)),
    streamPaths: bytes.map((body) => protocol.streamPath('render_page', body)),
    // Each body as a data record, as a string and as bytes (latin-1 text standing for bytes).
    records: bytes.map((body) => [
      Buffer.from(protocol.streamRecord(protocol.STREAM_DATA, body.toString('utf8'))).toString('latin1'),
      protocol.streamRecord(protocol.STREAM_DATA, body).toString('latin1'),
    ]),
    endRecord: protocol.streamRecord(protocol.STREAM_END, ''),
    sourceHash: protocol.sourceHash(paths),
    sourceHashReversed: protocol.sourceHash([...paths].reverse()),
    sourceHashEmpty: protocol.sourceHash([]),
  }));
});
"""

TRICKY_NAMES = [
    "hello_world",
    "render.page",
    "a-b",
    "$",
    "_",
    "...",
    ".a",
    "a.",
    "A" * 500,
    ".",
    "..",
    "",
    "a b",
    "a/b",
    "a%2Fb",
    "hello%5Fworld",
    "a?b",
    "a#b",
    "a\nb",
    "a\n",
    "\na",
    "a\r",
    "a\0",
    "é",
    "\u212a",  # KELVIN SIGN: [A-Z] under a case-insensitive rule
    "\u0661",  # ARABIC-INDIC DIGIT ONE: \\d in Python, not [0-9]
    "ﬀ",
    "__proto__",
    "constructor",
]

REQUEST_IDS = [
    "3f2a9c1b0d4e5f60",
    "0f8fad5b-d9cb-469f-a165-70867728950e",
    "Root=1-67891233-abcdef012345678912345678",
    "req:42@web-1/a+b=c",
    "x" * 200,
    "x" * 201,
    "id with spaces",
    "id\r\nX-Injected: 1",
    "a;b",
    '"quoted"',
    "<script>",
]

BODIES = [
    b'{"foo": "bar"}',
    b"",
    b"{}",
    json.dumps({"text": "Grüße, 世界"}, sort_keys=True).encode(),
    bytes(range(256)),
]


@pytest.fixture(scope="module")
def source_files(tmp_path_factory):
    """Files to hash: ASCII and non-ASCII names, one missing, one with a newline in its name."""
    directory = tmp_path_factory.mktemp("sources")
    present = {
        "host.config.js": b"module.exports = {functions: {}};\n",
        "lib/héllo wörld 漢字.js": "module.exports = 'ünïcödé';\n".encode(),
        "new\nline.js": b"\x00\xff binary\n",
        "empty.js": b"",
    }
    for name, content in present.items():
        path = directory / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
    names = ["host.config.js", "lib/héllo wörld 漢字.js", "gone.js", "new\nline.js", "empty.js"]
    return [str(directory / name) for name in names]


@pytest.fixture(scope="module")
def node_side(source_files):
    finished = subprocess.run(
        ["node", "-e", NODE_SCRIPT, str(PROTOCOL_JS)],
        input=json.dumps(
            {
                "paths": source_files,
                "names": TRICKY_NAMES,
                "requestIds": REQUEST_IDS,
                "bodies": [body.decode("latin-1") for body in BODIES],
            }
        ),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        check=True,
    )
    return json.loads(finished.stdout)


def test_the_constants_are_equal(node_side):
    assert node_side["constants"] == {
        "STATUS_PATH": protocol.STATUS_PATH,
        "FUNCTION_PATH": protocol.FUNCTION_PATH,
        "BATCH_PATH": protocol.BATCH_PATH,
        "STREAM_PATH": protocol.STREAM_PATH,
        "HASH_PARAMETER": protocol.HASH_PARAMETER,
        "JSON_TYPE": protocol.JSON_TYPE,
        "TOKEN_HEADER": protocol.TOKEN_HEADER,
        "REQUEST_ID_HEADER": protocol.REQUEST_ID_HEADER,
        "REQUEST_ID": protocol.REQUEST_ID.pattern,
        "CALLABLE_NAME": protocol.CALLABLE_NAME.pattern,
        "STREAM_TYPE": protocol.STREAM_TYPE,
        "STREAM_DATA": protocol.STREAM_DATA.decode(),
        "STREAM_ERROR": protocol.STREAM_ERROR.decode(),
        "STREAM_END": protocol.STREAM_END.decode(),
    }


def test_the_request_id_rule_agrees(node_side):
    values = TRICKY_NAMES + REQUEST_IDS
    assert node_side["requestIds"] == [protocol.is_request_id(value) for value in values]
    # Ids as proxies and frameworks make them pass; nothing that could break a log line does.
    assert all(protocol.is_request_id(value) for value in REQUEST_IDS[:5])
    assert not any(protocol.is_request_id(value) for value in REQUEST_IDS[5:])
    assert not protocol.is_request_id("a\n") and not protocol.is_request_id("")


def test_the_name_rule_agrees_on_tricky_names(node_side):
    python_side = [protocol.is_callable_name(name) for name in TRICKY_NAMES]
    node_rule = dict(zip(TRICKY_NAMES, node_side["callable"], strict=True))
    assert node_rule == dict(zip(TRICKY_NAMES, python_side, strict=True))
    # And it is the rule meant: a few answers spelled out.
    assert protocol.is_callable_name("render.page")
    assert not protocol.is_callable_name("..")
    assert not protocol.is_callable_name("a\n")
    assert not protocol.is_callable_name("\u212a")


def test_call_and_batch_paths_hash_the_exact_body_bytes(node_side):
    assert node_side["callPaths"] == [protocol.call_path("render_page", body) for body in BODIES]
    assert node_side["batchPaths"] == [protocol.batch_path("render_page", body) for body in BODIES]
    assert node_side["streamPaths"] == [protocol.stream_path("render_page", body) for body in BODIES]
    # The seed's example.
    seed_path = "/function/echo?hash=bc4919c6adf7168088eaea06e27a5b23f0f9f9da"
    assert protocol.call_path("echo", b'{"foo": "bar"}') == seed_path


def test_the_source_hash_is_equal_over_the_same_files(node_side, source_files):
    assert node_side["sourceHash"] == protocol.source_hash(source_files)
    assert node_side["sourceHashReversed"] == protocol.source_hash(list(reversed(source_files)))
    assert node_side["sourceHashEmpty"] == protocol.source_hash([]) == hashlib.sha1(b"").hexdigest()
    # The order counts, and a missing file is marked as such.
    assert protocol.source_hash(source_files) != protocol.source_hash(list(reversed(source_files)))
    missing = source_files[2]
    assert protocol.source_hash([missing]) == hashlib.sha1(f"{missing}\0missing\n".encode()).hexdigest()


def test_streamed_records_the_host_writes_read_as_the_text_it_sent(node_side):
    """Each body as the host sends it (a data record of its string, and one of its bytes),
    then the end record, fed to Python a byte at a time."""
    for body, records in zip(BODIES, node_side["records"], strict=True):
        text = body.decode("utf-8", "replace")
        for record, expected in zip(records, [text, None], strict=True):
            reader = StreamText("render_page", "unix:/test")
            wire = (record + node_side["endRecord"]).encode("latin-1")
            try:
                read = "".join(reader.feed(wire[i : i + 1]) for i in range(len(wire)))
                reader.finish()
            except UnexpectedResponse:
                assert expected is None and body != text.encode()  # bytes that are not UTF-8
                continue
            assert read == text
