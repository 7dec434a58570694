"""End to end server-side rendering: a Django page rendering a React component through the
host, served by gunicorn and loaded by wrk, next to what React and Django cost on their own.

    apt-get install -y wrk                      # Debian's wrk (benchmarks/README.md)
    .venv/bin/python benchmarks/ssr.py          # 3 rounds x 10 s per contestant and concurrency
    .venv/bin/python benchmarks/ssr.py --quick  # a sanity run (~1 minute)

The page: a catalog of 100 products, each a card of nested components (benchmarks/ssr/
catalog.js), with its props in the page for hydration. Three contestants, side by side in
one run, on the same cores, each answering the same page (checked before the load, and
every answer checked by wrk: status 200 and the page's length, benchmarks/ssr/check.lua):

(a) bare Node   benchmarks/ssr/node_server.js: node:http calling renderToString, on
                node:cluster with one worker per core: what the rendering costs alone
(b) floor       the Django site (benchmarks/ssr/ssr_site, Django's default middleware) with
                the rendered HTML pasted in as a static string: what the page costs Django
(c) host        the same Django page rendering the component with {% js_function_html %}
                through a host (js-host.js, NODE_ENV=production) on a Unix socket
(d) CPU only    with --decompose: the same page and call (the same props sent and parsed,
                the same HTML answered), but the host spends the render's CPU time in a
                loop that touches no memory: what (c) would cost if React's render did not
                share the cores' caches with Django
(e) mini-racer  with --peers: the same Django page, the component rendered in each gunicorn
                worker by mini-racer (V8 inside Python, our best peer for large arguments,
                benchmarks/requirements.txt), from a bundle esbuild makes of catalog.js: a
                bridge with no transport and no second process
(b') and (c')   with --against DIR: (b) and (c) again, served by the django_js_host of
                another checkout (a git worktree of an older commit, say) and its host, in
                the same run: a change measured side by side with what it changes

If the bridge cost nothing, Django and React costs would add up: the page could reach
1 / (1/floor + 1/bare Node) pages/s, the bound; the table gives host / bound per round
(target >= 0.9x), and the CPU each party spent per page (from /proc), to see where the
time goes. Every process started here is stopped by PID, and checked by PID.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import ExitStack, contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from django_js_host.conf import PACKAGED_BIN  # noqa: E402 (needs REPO on sys.path)
from tests.support.hosts import free_port  # noqa: E402
from tests.support.processes import alive, children_of, stop_popen, wait_until  # noqa: E402

SSR = HERE / "ssr"
CHECK_LUA = SSR / "check.lua"
ITEMS = 100
TARGET = 0.9
START_TIMEOUT = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROOT = re.compile(r'<main id="root">(.*)</main>', re.S)
# The suffix of --against's pages and parties.
AGAINST = "_against"
# The host's CLI in a checkout.
HOST_BIN = Path(PACKAGED_BIN).relative_to(REPO)


def catalog_items(count=ITEMS, seed=15):
    """The catalog's products: the same every run."""
    rng = random.Random(seed)
    words = "lamp chair desk kettle clock mirror vase rug shelf stool bench cushion basket frame".split()
    adjectives = "oak brass linen walnut ceramic woven matte glazed vintage compact folding".split()
    tags = "home kitchen office garden design gift handmade sale new eco".split()
    return [
        {
            "id": n,
            "title": f"{rng.choice(adjectives).title()} {rng.choice(words)} & co. No. {n}",
            "priceCents": rng.randrange(500, 50000),
            "stars": round(rng.uniform(1, 5), 1),
            "inStock": rng.random() > 0.2,
            "tags": rng.sample(tags, 2),
        }
        for n in range(1, count + 1)
    ]


# --- processes ---


def cpu_seconds(pids):
    """User + system CPU seconds used so far by ``pids`` (gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


class Started:
    """A server we started: its Popen, its output file, and the pids it runs as."""

    def __init__(self, name, process, output):
        self.name, self.process, self.output = name, process, output

    def pids(self):
        return [self.process.pid, *children_of(self.process.pid)]

    def first_line(self, timeout=START_TIMEOUT):
        def line():
            text = self.output.read_text() if self.output.exists() else ""
            return text.split("\n", 1)[0] if "\n" in text else None

        if not wait_until(lambda: line() is not None or self.process.poll() is not None, timeout):
            raise RuntimeError(f"{self.name} printed nothing within {timeout} s")
        if line() is None:
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.output.read_text()}")
        return line()


@contextmanager
def started(name, command, directory, env=None, cwd=None):
    """Run ``command`` with its output in a file; on exit stop it (and so its children) by
    PID, then check by PID that they are all gone."""
    output = directory / f"{name}.out"
    with open(output, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        yield Started(name, process, output)
    finally:
        children = children_of(process.pid)
        stop_popen(process, timeout=15)  # gunicorn's master and node's primary stop their workers
        if not wait_until(lambda: not any(alive(pid) for pid in children), timeout=10):
            for pid in children:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            raise RuntimeError(f"{name}: processes {children} outlived their parent; killed")


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def answers(url):
    try:
        return get(url, timeout=5)[0] == 200
    except OSError:
        return False


# --- load ---


def run_wrk(url, connections, seconds, length, threads):
    """One wrk run: its results (check.lua's JSON line) plus the CPU wrk itself used."""
    before = os.times()
    finished = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(CHECK_LUA), url,
         "--", str(length)],
        capture_output=True, text=True, timeout=seconds + 60,
    )  # fmt: skip
    after = os.times()
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if finished.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({finished.returncode}):\n{finished.stdout}\n{finished.stderr}")
    result = json.loads(lines[-1])
    result["wrk_cpu"] = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return result


def measure(contestant, url, connections, seconds, length, parties, threads):
    """Load ``url`` for ``seconds``; returns pages/s, latencies and CPU ms per page by party."""
    pids = {name: server.pids() for name, server in parties.items()}
    cpu_before = {name: cpu_seconds(party_pids) for name, party_pids in pids.items()}
    result = run_wrk(url, connections, seconds, length, threads)
    pages = result["requests"]
    if result["bad"] or result["errors"] or not pages:
        raise RuntimeError(f"{contestant}: {result['bad']} wrong answers, {result['errors']} errors: {result}")
    cpu = {name: (cpu_seconds(pids[name]) - cpu_before[name]) * 1000 / pages for name in pids}
    cpu["wrk"] = result["wrk_cpu"] * 1000 / pages
    return {
        "rate": pages / (result["duration_us"] / 1e6),
        "p50": result["p50_us"] / 1000,
        "p99": result["p99_us"] / 1000,
        "cpu": cpu,
    }


# --- report ---


def median_range(values, fmt):
    return f"{fmt(statistics.median(values))}  ({fmt(min(values))} - {fmt(max(values))})"


def report(results, connections_list, args, sizes):
    labels = {
        "node": "(a) bare Node, node:http + cluster",
        "floor": "(b) Django floor, static HTML",
        "host": "(c) Django + host",
        "cpu_only": "(d) (c), the render a busy loop",
        "mini_racer": "(e) Django + mini-racer, in-process",
        "floor" + AGAINST: "(b') (b), --against",
        "host" + AGAINST: "(c') (c), --against",
    }
    keys = list(results[connections_list[0]][0])
    # Each site's host pages; --against's gunicorn and host show in the django and host
    # columns of its rows.
    sites = [("", ["host", "cpu_only", "mini_racer"])]
    if "floor" + AGAINST in keys:
        sites.append((AGAINST, ["host" + AGAINST]))
    columns = ["django", "host", "node", "wrk"]
    lines = []
    for connections in connections_list:
        rounds = results[connections]
        lines.append(f"\nconcurrency {connections}      pages/s (min - max)             p50 ms  p99 ms   CPU ms/page: "
                     + " ".join(f"{column:>6}" for column in columns))  # fmt: skip
        for key in [key for key in labels if key in keys]:
            suffix = AGAINST if key.endswith(AGAINST) else ""
            runs = [run[key] for run in rounds]
            rates = [run["rate"] for run in runs]
            parties = [column + suffix if column in ("django", "host") else column for column in columns]
            cpu = [statistics.median(run["cpu"].get(party, 0) for run in runs) for party in parties]
            p50, p99 = (statistics.median(run[latency] for run in runs) for latency in ("p50", "p99"))
            lines.append(
                f"  {labels[key]:<36} {median_range(rates, '{:,.0f}'.format):<28}{p50:7.2f} {p99:7.2f}"
                "               " + " ".join(f"{value:6.3f}" for value in cpu)
            )
        for suffix, host_keys in sites:
            floor, django, host = "floor" + suffix, "django" + suffix, "host" + suffix
            mark = "'" if suffix else ""
            bounds = [1 / (1 / run[floor]["rate"] + 1 / run["node"]["rate"]) for run in rounds]
            label = f"bound{mark} 1/(1/floor{mark} + 1/bare Node)"
            lines.append(f"  {label:<36} {median_range(bounds, '{:,.0f}'.format)}")
            for key in [key for key in host_keys if key in keys]:
                name = {"cpu_only": "(d)", "mini_racer": "(e)"}.get(key, "host" + mark)
                ratios = [run[key]["rate"] / bound for run, bound in zip(rounds, bounds, strict=True)]
                ratio = statistics.median(ratios)
                verdict = f"target >= {TARGET}x: {'PASS' if ratio >= TARGET else 'MISS'}" if key == "host" else ""
                label = f"{name} / bound{mark}"
                lines.append(f"  {label:<36} {median_range(ratios, '{:.2f}x'.format)}   {verdict}".rstrip())
                # The same question in CPU: what the page costs the machine with the bridge,
                # against what Django and React cost alone. Steadier than pages/s on a shared machine.
                cpu_ratios = [
                    (run[floor]["cpu"][django] + run["node"]["cpu"]["node"])
                    / (run[key]["cpu"][django] + run[key]["cpu"][host])
                    for run in rounds
                ]
                # The primed label drops two spaces to fit its column.
                label = f"CPU: (floor'+bare Node) / {name} page" if mark else f"CPU: (floor + bare Node) / {name} page"
                lines.append(f"  {label:<36} {median_range(cpu_ratios, '{:.2f}x'.format)}")
    header = (
        f"SSR: a catalog of {ITEMS} products ({sizes['html'] / 1024:.0f} KB of HTML from "
        f"{sizes['props'] / 1024:.0f} KB of props; pages of {sizes['page'] / 1024:.0f} KB), "
        f"{args.rounds} rounds x {args.seconds:g} s per contestant "
        f"and concurrency, wrk -t{args.wrk_threads}\n"
        f"gunicorn --workers {args.workers} --worker-class {args.worker_class}"
        + (f" --threads {args.threads}" if args.worker_class == "gthread" else "")
        + f"; host: {'1 process' if not args.host_workers else f'--workers {args.host_workers}'} on a "
        f"{'TCP port' if args.tcp else 'Unix socket'}, NODE_ENV={args.node_env}; "
        f"bare Node: {args.node_workers} workers\n"
        f"{datetime.date.today()}, {platform.python_implementation()} {platform.python_version()}, "
        f"node {subprocess.run(['node', '--version'], capture_output=True, text=True).stdout.strip()}, "
        f"{os.cpu_count()} CPUs ({cpu_model()}), load average before: {os.getloadavg()[0]:.2f}\n"
        "Medians over rounds (min - max); host / bound is paired per round. CPU ms/page: what each party "
        "used per page (django: gunicorn's processes; host: the host; node: the bare Node server; wrk)."
    )
    if args.against:
        header += f"\n(b') and (c'): the django_js_host of {args.against} and its host, with the same page"
    return header + "\n" + "\n".join(lines)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- the run ---


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one wrk run")
    parser.add_argument("--concurrency", default="4,16", help="wrk connections, comma-separated")
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s: a sanity run")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--host-workers", type=int, default=0, help="js-host --workers (0: one process)")
    parser.add_argument("--node-workers", type=int, default=os.cpu_count(), help="bare Node's cluster workers")
    parser.add_argument("--node-env", default="production", help="NODE_ENV of the host and bare Node")
    parser.add_argument("--tcp", action="store_true", help="the host on a loopback port instead of a socket")
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--decompose", action="store_true", help="add (d): the host page with the render a busy loop of its CPU time"
    )
    parser.add_argument(
        "--peers", action="store_true", help="add (e): the page rendered in each gunicorn worker by mini-racer"
    )
    parser.add_argument(
        "--against", type=Path, help="another checkout whose django_js_host and host serve (b') and (c') in this run"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds = 1, 3.0
    return args


def start_site(stack, args, directory, checkout, suffix, files):
    """Start a host and gunicorn serving the site's pages with ``checkout``'s django_js_host
    (its Python package and its host), on ``stack``; returns ({party: Started}, {key: url}),
    the keys ending in ``suffix``. ``files``: the run's data and static HTML."""
    node_env = {**os.environ, "NODE_ENV": args.node_env}
    # The host, on a socket (or a port) of this run, with the page's functions (ssr/).
    listen = f"port: {free_port()}" if args.tcp else f"socket: {json.dumps(str(directory / f'host{suffix}.sock'))}"
    host_config = directory / f"host{suffix}.config.js"
    host_config.write_text(f"module.exports = {{...require({json.dumps(str(SSR / 'host.config.js'))}), {listen}}};\n")
    host_command = ["node", str(checkout / HOST_BIN), str(host_config), "--json"]
    if args.host_workers:
        host_command += ["--workers", str(args.host_workers)]
    host = stack.enter_context(started("host" + suffix, host_command, directory, env=node_env, cwd=REPO))
    status = json.loads(host.first_line())
    assert status["nodeEnv"] == args.node_env, status

    django_port = free_port()
    django_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "ssr_site.settings",
        # Any PYTHONPATH set stays after them: where the peers may be installed.
        "PYTHONPATH": os.pathsep.join([str(SSR), str(checkout), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "SSR_SOURCE_ROOT": str(REPO),
        "SSR_HOST_CONFIG": str(host_config),
        "SSR_DATA": str(files["data"]),
        "SSR_STATIC_HTML": str(files["static_html"]),
        "SSR_MINI_RACER_BUNDLE": str(files.get("mini_racer_bundle", "")),
    }
    gunicorn = [sys.executable, "-m", "gunicorn", "--config", "python:ssr_site.gunicorn", "--workers",
                str(args.workers), "--worker-class", args.worker_class, "--bind", f"127.0.0.1:{django_port}",
                "ssr_site.wsgi:application"]  # fmt: skip
    if args.worker_class == "gthread":
        gunicorn += ["--threads", str(args.threads)]
    django = stack.enter_context(started("django" + suffix, gunicorn, directory, env=django_env))
    urls = {
        "floor" + suffix: f"http://127.0.0.1:{django_port}/floor/",
        "host" + suffix: f"http://127.0.0.1:{django_port}/host/",
    }
    if args.decompose and not suffix:
        urls["cpu_only"] = f"http://127.0.0.1:{django_port}/host-cpu-only/"
    if args.peers and not suffix:
        urls["mini_racer"] = f"http://127.0.0.1:{django_port}/mini-racer/"
    floor = urls["floor" + suffix]
    if not wait_until(lambda: answers(floor) or django.process.poll() is not None, START_TIMEOUT):
        raise RuntimeError(f"gunicorn did not answer:\n{django.output.read_text()}")
    # Every worker connects as it starts; give them all time to.
    wait_until(lambda: len(django.pids()) == args.workers + 1, START_TIMEOUT)
    return {"django" + suffix: django, "host" + suffix: host}, urls


def mini_racer_bundle(directory, node_env):
    """catalog.js and React in one script for mini-racer, which has no require(): a global
    `catalog`, React built for NODE_ENV ``node_env``. React's server build uses
    MessageChannel and TextEncoder as it loads, which V8 alone lacks; its renderToString
    never posts a message nor encodes, so stand-ins do."""
    bundle = directory / "catalog.bundle.js"
    subprocess.run(
        [str(REPO / "node_modules" / ".bin" / "esbuild"), str(SSR / "catalog.js"), "--bundle", "--format=iife",
         "--global-name=catalog", "--define:process.env.NODE_ENV=" + json.dumps(node_env), "--minify",
         "--banner:js=globalThis.MessageChannel = class { port1 = {}; port2 = {postMessage() {}} };"
         " globalThis.TextEncoder = class { encode(text) { return text; } };",
         f"--outfile={bundle}", "--log-level=warning"],
        check=True, cwd=REPO,
    )  # fmt: skip
    return bundle


@contextmanager
def contestants(args, directory):
    """Start the contestants in ``directory``; yields {key: (url, page length)}, the
    processes by party, and the page's sizes. Stops them all on exit."""
    with ExitStack() as stack:
        node_env = {**os.environ, "NODE_ENV": args.node_env}
        items = catalog_items()
        data = directory / "items.json"
        data.write_text(json.dumps(items))
        props = {"title": "Catalog", "items": items}

        # The floor's static HTML, rendered once by the same component.
        props_file = directory / "props.json"
        props_file.write_text(json.dumps(props))
        render_once = (
            "process.stdout.write(require(process.argv[1])"
            ".renderCatalog(JSON.parse(require('fs').readFileSync(process.argv[2]))))"
        )
        static_html = directory / "catalog.html"
        rendered = subprocess.run(
            ["node", "-e", render_once, str(SSR / "catalog.js"), str(props_file)],
            env=node_env, capture_output=True, text=True, check=True, cwd=REPO,
        )  # fmt: skip
        static_html.write_text(rendered.stdout)
        files = {"data": data, "static_html": static_html}
        if args.peers:
            files["mini_racer_bundle"] = mini_racer_bundle(directory, args.node_env)

        node_port = free_port()
        node_command = ["node", str(SSR / "node_server.js"), "--port", str(node_port), "--data", str(data),
                        "--workers", str(args.node_workers)]  # fmt: skip
        node = stack.enter_context(started("node", node_command, directory, env=node_env, cwd=REPO))
        if node.first_line() != f"listening, NODE_ENV={args.node_env}":
            raise RuntimeError(f"bare Node: {node.output.read_text()}")
        parties, urls = {"node": node}, {"node": f"http://127.0.0.1:{node_port}/"}
        for checkout, suffix in [(REPO, ""), *([(args.against.resolve(), AGAINST)] if args.against else [])]:
            site_parties, site_urls = start_site(stack, args, directory, checkout, suffix, files)
            parties.update(site_parties)
            urls.update(site_urls)

        # The same component markup on every page, and the lengths wrk checks.
        pages = {}
        expected = static_html.read_text()
        for key, url in urls.items():
            code, body = get(url)
            assert code == 200, (key, code)
            assert ROOT.search(body.decode()).group(1) == expected, f"the {key} page's catalog differs"
            pages[key] = (url, len(body))
        sizes = {"html": len(expected.encode()), "props": len(json.dumps(props)), "page": pages["host"][1]}
        yield pages, parties, sizes


def main(argv=None):
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("benchmarks/ssr.py needs wrk: apt-get install -y wrk (see benchmarks/README.md)")
    if not (REPO / "node_modules" / "react-dom").is_dir():
        sys.exit("benchmarks/ssr.py needs React: run `npm ci` at the top of the repository")
    connections_list = [int(value) for value in args.concurrency.split(",")]
    keys = ["node", "floor", "host", *(["cpu_only"] if args.decompose else []), *(["mini_racer"] if args.peers else [])]
    if args.peers and importlib.util.find_spec("py_mini_racer") is None:
        sys.exit("--peers needs mini-racer: pip install -r benchmarks/requirements.txt (see benchmarks/README.md)")
    if args.against:
        if not (args.against / HOST_BIN).is_file():
            sys.exit(f"--against {args.against}: no django_js_host checkout there")
        keys += ["floor" + AGAINST, "host" + AGAINST]

    with tempfile.TemporaryDirectory(prefix="ssr-", dir="/tmp") as temp:
        with contestants(args, Path(temp)) as (pages, parties, sizes):

            def load(key, connections, seconds):
                url, length = pages[key]
                return measure(key, url, connections, seconds, length, parties, args.wrk_threads)

            print("warming up ...", file=sys.stderr)
            for key in keys:
                load(key, max(connections_list), min(args.seconds, 3.0))
            results = {connections: [] for connections in connections_list}
            for round_number in range(args.rounds):
                for connections in connections_list:
                    run = {}
                    for key in keys:
                        where = f"round {round_number + 1}/{args.rounds}, concurrency {connections}"
                        print(f"{where}: {key}", file=sys.stderr)
                        run[key] = load(key, connections, args.seconds)
                    results[connections].append(run)
                keys = keys[1:] + keys[:1]  # drift hits every contestant alike
    print(report(results, connections_list, args, sizes))
    print("\nAll processes started by this benchmark were stopped (checked by PID).")


if __name__ == "__main__":
    main()
