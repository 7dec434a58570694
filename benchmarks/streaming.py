"""How soon the example's streamed page (/streaming/) reaches a client, next to its whole time.

    .venv/bin/python benchmarks/streaming.py [--runs 9] [--delay 1000]

Needs the example built (`make example-assets`). Serves example_project/ with gunicorn (one
sync worker, as `make example` would with a WSGI server) and its development manager in a
private runtime directory, warms the host, then GETs /streaming/?delay=DELAY --runs times
over a fresh connection each, reading the answer as it comes. For each run it takes, from
the moment the request is sent:

* first byte   the answer's status line and headers (the view returns a
               StreamingHttpResponse; the template's part before the component follows at once)
* shell        the first bytes of the host's stream: React's shell, the fallback in place
               of the part inside <Suspense>
* full page    the last byte: the slow part came (DELAY ms after the render began), and the
               rest of the template after it

Prints the median (min-max) of each, and each one's ratio to the full page (median of the
per-run ratios), against the target: first byte <= 0.5x the full page. Every answer is
checked (status 200, the slow part and the end of the page in it). The manager, its host
and gunicorn are stopped by PID at the end.
"""

import argparse
import http.client
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.example_support import example_manager, example_server, require_example_build  # noqa: E402
from tests.support.hosts import free_port  # noqa: E402

SHELL = b'class="shell"'
TARGET = 0.5


def timed_get(port, path):
    """{first byte, shell, full page} in seconds of one GET of ``path``, and the page."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        times = {"first byte": time.perf_counter() - started}
        page = b""
        while chunk := response.read1(65536):
            page += chunk
            if "shell" not in times and SHELL in page:
                times["shell"] = time.perf_counter() - started
        times["full page"] = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}: {page[:300]!r}")
        return times, page.decode()
    finally:
        connection.close()


def check(page, delay):
    for expected in (f"Loaded after {delay} ms", '<script id="slow-page-props"', "</html>"):
        if expected not in page:
            raise RuntimeError(f"the page lacks {expected!r}:\n{page}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--delay", type=int, default=1000, help="ms the slow part takes (the page's ?delay=)")
    options = parser.parse_args()
    require_example_build()
    port = free_port()
    path = f"/streaming/?delay={options.delay}"
    command = [sys.executable, "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}", "example.wsgi"]
    with example_manager() as runtime_dir:
        with example_server(command, runtime_dir, f"http://127.0.0.1:{port}/"):
            for _ in range(2):  # warm: the host's first renders, the worker's imports
                check(timed_get(port, path)[1], options.delay)
            runs = []
            for _ in range(options.runs):
                times, page = timed_get(port, path)
                check(page, options.delay)
                runs.append(times)
    print(f"/streaming/?delay={options.delay} through gunicorn, {options.runs} runs")
    print("ms from the request, median (min-max); ratio: median of the per-run ratios")
    for name in ("first byte", "shell", "full page"):
        values = [run[name] * 1000 for run in runs]
        ratio = statistics.median(run[name] / run["full page"] for run in runs)
        verdict = ""
        if name == "first byte":
            verdict = f"  <= {TARGET}x full page {'PASS' if ratio <= TARGET else 'MISS'}"
        print(
            f"  {name:<10} {statistics.median(values):9.1f} ({min(values):.1f} - {max(values):.1f})"
            f"  {ratio:6.3f}x full page{verdict}"
        )


if __name__ == "__main__":
    main()
