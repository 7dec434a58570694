"""Async calls: 100 concurrent ``Function.acall``, and what the event loop sees meanwhile.

    .venv/bin/python benchmarks/acalls.py [--rounds 5]

Prints one table of medians (min-max) over rounds, measured side by side in one run against
one real host (js-host.js on a free loopback port, started and stopped here by PID):

* 100 acalls of a function that waits 100 ms, gathered: total wall time (ideal: 100 ms) and
  the event loop's worst lag meanwhile (a task that sleeps 1 ms at a time measures it)
* 100 trivial acalls gathered, next to 100 sequential sync calls and one abatch of 100
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from calls import Processes, configure_ours, free_port, machine_info, start_node  # noqa: E402

CONFIG = """\
module.exports = {{
  port: {port},
  functions: {{
    hello(data, cb) {{ cb(null, 'Hello, ' + data.name); }},
    wait(data, cb) {{ setTimeout(() => cb(null, data.id), data.ms); }},
  }},
}};
"""
CONCURRENT = 100


async def worst_lag_while(awaitable):
    """(result, worst event-loop lag in s) of ``awaitable``, ticking every 1 ms beside it."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker():
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    ticking = asyncio.create_task(ticker())
    try:
        return await awaitable, worst
    finally:
        done.set()
        await ticking


async def one_round(hello, wait):
    samples = {}
    started = time.perf_counter()
    answers, lag = await worst_lag_while(
        asyncio.gather(*(wait.acall_json(id=n, ms=100) for n in range(CONCURRENT)))
    )
    samples["wait"] = time.perf_counter() - started
    samples["lag"] = lag
    assert answers == list(range(CONCURRENT)), "an acall got another call's answer"

    names = [f"n{n}" for n in range(CONCURRENT)]
    expected = [f"Hello, {name}" for name in names]
    started = time.perf_counter()
    assert await asyncio.gather(*(hello.acall(name=name) for name in names)) == expected
    samples["gather"] = time.perf_counter() - started
    started = time.perf_counter()
    assert await hello.abatch([{"name": name} for name in names]) == expected
    samples["abatch"] = time.perf_counter() - started
    return samples


def sequential_sync(hello):
    names = [f"n{n}" for n in range(CONCURRENT)]
    started = time.perf_counter()
    assert [hello.call(name=name) for name in names] == [f"Hello, {name}" for name in names]
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for line in machine_info():
        print(line)
    processes = Processes()
    rows = {key: [] for key in ("wait", "lag", "gather", "sync", "abatch")}
    try:
        with tempfile.TemporaryDirectory(prefix="js-host-acalls-") as directory:
            config = Path(directory) / "host.config.js"
            config.write_text(CONFIG.format(port=free_port()))
            from django_js_host.conf import PACKAGED_BIN

            start_node(processes, "host", [PACKAGED_BIN, config, "--json"], directory, "host")
            configure_ours(directory, config)
            from django_js_host.function import Function

            hello, wait = Function("hello"), Function("wait")

            async def rounds():
                await asyncio.gather(*(hello.acall(name="warm") for _ in range(CONCURRENT)))  # connections, JIT
                for _ in range(args.rounds):
                    for key, value in (await one_round(hello, wait)).items():
                        rows[key].append(value)
                    rows["sync"].append(await asyncio.to_thread(sequential_sync, hello))

            sequential_sync(hello)
            asyncio.run(rounds())
    finally:
        left = processes.stop_all()
    print(f"\n{CONCURRENT} calls at once, {args.rounds} rounds, ms: median (min - max)")
    labels = {
        "wait": f"{CONCURRENT} acalls of wait(100 ms), gathered",
        "lag": "  worst event-loop lag meanwhile",
        "gather": f"{CONCURRENT} trivial acalls, gathered",
        "sync": f"{CONCURRENT} trivial sync calls, one after another",
        "abatch": f"one abatch of {CONCURRENT} trivial calls",
    }
    for key, label in labels.items():
        values = [v * 1000 for v in rows[key]]
        print(f"  {label:50} {statistics.median(values):8.2f}  ({min(values):.2f} - {max(values):.2f})")
    verdict = "all stopped (checked by PID)" if not left else f"STILL ALIVE: {left}"
    print(f"Processes started: {', '.join(f'{label} {pid}' for label, pid, _ in processes.started)}: {verdict}.")


if __name__ == "__main__":
    main()
