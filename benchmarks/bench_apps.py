"""Benchmark of the dashboards in real chromium (Debian's, driven by Playwright): first paint and concurrency.

- First meaningful paint of the risk overview: time from navigation start to the first
  headline number drawn (the declarations figure), served live by ``workbench apps
  serve`` (cold: first session, queries run; warm: cached), beside a baseline measured in
  the same run, a static Bokeh page (``file_html``, BokehJS inlined) of the same figure and
  weekly chart served over HTTP, where nothing is computed on a server.
- Concurrency: ``--sessions`` browser pages (Playwright pages, i.e. tabs of one headless
  chromium: real Bokeh websocket sessions with real rendering, not simulated clients)
  opened one after another, then held open together for ``--seconds``, each switching the overview's breakdown (day / port / HS
  chapter) with a short think time and timing each round trip inside the page (click ->
  server callback -> patched table in the DOM); median and p95 latency, beside one session alone doing the same
  in the same run. Pages rather than ``bokeh.client`` sessions because the figure that
  matters to a manager includes the browser's share; 20 tabs fit on 2 cores because a
  tab idles between clicks.

    python benchmarks/bench_apps.py --world /tmp/s1 --sessions 20 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port, wait_for_port  # noqa: E402
from workbench.apps.layout import number_text  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 # every tab is a user looking at their own screen: none may be throttled as a background tab
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]
GROUPS = {"day": "day", "port": "port", "HS chapter": "hs_chapter"}

# Runs before any page script: every animation frame, look (through shadow roots) for the
# first headline figure and note when it appeared, relative to navigation start.
FIRST_NUMBER_JS = """
window.__firstNumber = null;
const look = (n) => {
  if (n.classList && n.classList.contains('kpi-value') && /[0-9]/.test(n.textContent)) return true;
  for (const c of [...(n.shadowRoot ? [n.shadowRoot] : []), ...n.childNodes]) if (look(c)) return true;
  return false;
};
const tick = () => {
  if (document.body && look(document.body)) { window.__firstNumber = performance.now(); return; }
  requestAnimationFrame(tick);
};
requestAnimationFrame(tick);
"""

# The first column title of the overview's breakdown table (inside Bokeh's shadow roots).
TABLE_COLUMN_JS = """() => {
  const find = (n) => {
    if (n.classList && n.classList.contains('tabulator-col-title')) return n.textContent.trim();
    for (const c of [...(n.shadowRoot ? [n.shadowRoot] : []), ...n.childNodes]) { const f = find(c); if (f) return f; }
    return null;
  };
  return find(document.body);
}"""

# One round trip measured inside the page: click the breakdown button labelled `label` (a real DOM
# click on Bokeh's button), then poll every 5 ms until the table's first column is `column`; resolves
# with the elapsed milliseconds (no Playwright round trips inside the measurement).
ROUND_TRIP_JS = """async ([label, column]) => {
  const column_now = %s;
  const button = (n) => {
    if (n.tagName === 'BUTTON' && n.textContent.trim() === label) return n;
    for (const c of [...(n.shadowRoot ? [n.shadowRoot] : []), ...n.childNodes]) { const f = button(c); if (f) return f; }
    return null;
  };
  const started = performance.now();
  button(document.body).click();
  while (column_now() !== column) {
    if (performance.now() - started > 120000) return -1;
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - started;
}""" % TABLE_COLUMN_JS


def ensure_world(world: Path | None, scale: float) -> Path:
    """The given lake, or a fresh world generated at ``scale`` in a temp folder."""
    if world is not None and (world / "system").exists():
        return world
    target = world or Path(tempfile.mkdtemp(prefix="bench-apps-")) / "lake"
    subprocess.run([str(Path(sys.executable).parent / "workbench"), "demo", "generate", "--seed", "1", "--scale",
                    str(scale), "--lake", str(target)], check=True)
    return target


def static_baseline(lake: Path, folder: Path) -> tuple[str, int]:
    """A static Bokeh page (BokehJS inlined) with the same headline figure and weekly chart; returns (file, number)."""
    import holoviews as hv
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Div
    from bokeh.resources import INLINE

    from workbench.apps import overview as ov
    from workbench.session import connect

    wb = connect(str(lake), user="bench")
    facts = ov.declaration_facts(wb)
    declarations = int(ov.headline(facts, None).declarations)
    line, _, _ = ov.view_charts(facts, width=1100)
    page = column(Div(text=f'<div class="kpi-value">{number_text(declarations)}</div>'),
                  hv.render(line, backend="bokeh"))
    (folder / "static.html").write_text(file_html(page, INLINE, "baseline"), encoding="utf-8")
    return "static.html", declarations


async def first_paint(browser: object, url: str, runs: int) -> list[float]:
    """Milliseconds from navigation start to the first headline number, one fresh page per run."""
    times = []
    for _ in range(runs):
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
        await page.add_init_script(FIRST_NUMBER_JS)
        await page.goto(url)
        await page.wait_for_function("() => window.__firstNumber !== null", timeout=120_000)
        times.append(float(await page.evaluate("() => window.__firstNumber")))
        await page.close()
    return times


async def open_overview(browser: object, url: str) -> tuple[object, float]:
    """A new tab on the overview, ready for clicks (its table drawn); and how long opening took (ms)."""
    started = time.perf_counter()
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    page = await context.new_page()  # a context per tab: its own window, as each user has
    await page.goto(url, timeout=300_000)
    await page.wait_for_function(TABLE_COLUMN_JS, timeout=300_000)
    return page, (time.perf_counter() - started) * 1000


async def use(page: object, seconds: float, latencies: list[float], failures: list[str], seed: int) -> None:
    """One manager at a tab: switch the breakdown every 0.5-1.5 s for ``seconds``, timing each round trip.

    A round trip that has not finished after two minutes is counted in ``failures`` and the tab carries on.
    """
    rnd = random.Random(seed)
    order = ["day", "HS chapter", "port"]
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline:
        label = order[i % 3]
        i += 1
        elapsed = float(await page.evaluate(ROUND_TRIP_JS, [label, GROUPS[label]]))  # type: ignore[attr-defined]
        if elapsed < 0:
            failures.append(label)
        else:
            latencies.append(elapsed)
        await asyncio.sleep(rnd.uniform(0.5, 1.5))


def cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time used so far by the app server and by chromium's processes (all of this run's tabs)."""
    def used(proc: psutil.Process) -> float:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            return 0.0
        return float(times.user + times.system)

    chromium = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]
    return {"server": used(psutil.Process(server_pid)), "browsers": sum(used(p) for p in chromium)}


@dataclass
class Held:
    """What ``held_sessions`` saw: callback latencies and tab opening times (ms), round trips that timed out,
    and the CPU seconds the server and the browsers used while the tabs were in use."""

    latencies: list[float]
    opening: list[float]
    failures: list[str]
    cpu: dict[str, float]


async def held_sessions(browser: object, url: str, sessions: int, seconds: float, server_pid: int) -> Held:
    """Open ``sessions`` tabs one after another (so opening is not what is measured), then use them all at once
    for ``seconds``."""
    opened = [await open_overview(browser, url) for _ in range(sessions)]
    latencies: list[float] = []
    failures: list[str] = []
    before = cpu_seconds(server_pid)
    await asyncio.gather(*(use(page, seconds, latencies, failures, seed) for seed, (page, _) in enumerate(opened)))
    after = cpu_seconds(server_pid)
    for page, _ in opened:
        await page.context.close()  # type: ignore[attr-defined]
    return Held(latencies, [ms for _, ms in opened], failures, {k: after[k] - before[k] for k in after})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def measure(overview: str, static: str, sessions: int, seconds: float, runs: int,
                  server_pid: int) -> dict[str, object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        cold = await first_paint(browser, overview, 1)
        warm = await first_paint(browser, overview, runs)
        baseline = await first_paint(browser, static, runs)
        alone = (await held_sessions(browser, overview, 1, min(15.0, seconds), server_pid)).latencies
        held = await held_sessions(browser, overview, sessions, seconds, server_pid)
        await browser.close()
    crowd, fmp = held.latencies, statistics.median(warm)
    return {
        "first_paint_ms": {"cold": round(cold[0]), "warm_median": round(fmp),
                           "static_bokeh_median": round(statistics.median(baseline)),
                           "ratio_warm_vs_static": round(fmp / statistics.median(baseline), 2)},
        "callbacks": {"sessions": sessions, "seconds": seconds, "count": len(crowd), "timed_out": len(held.failures),
                      "median_ms": round(statistics.median(crowd)), "p95_ms": round(percentile(crowd, 0.95)),
                      "alone_median_ms": round(statistics.median(alone)), "alone_p95_ms": round(percentile(alone, 0.95)),
                      "ratio_p95_vs_alone_median": round(percentile(crowd, 0.95) / statistics.median(alone), 2),
                      "tab_open_median_ms": round(statistics.median(held.opening)),
                      # where the time goes on a shared machine: the server's share vs the 20 tabs' rendering
                      "cpu_s_server": round(held.cpu["server"], 1), "cpu_s_browsers": round(held.cpu["browsers"], 1),
                      "server_cpu_ms_per_callback": round(held.cpu["server"] / max(len(crowd), 1) * 1000, 1)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, default=None, help="Lake with a generated world (default: generate one)")
    parser.add_argument("--scale", type=float, default=1.0, help="Scale of the world generated when --world is empty")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--runs", type=int, default=5, help="Page loads per first-paint figure")
    args = parser.parse_args()

    lake = ensure_world(args.world, args.scale)
    with tempfile.TemporaryDirectory(prefix="bench-apps-") as tmp:
        folder = Path(tmp)
        static_file, declarations = static_baseline(lake, folder)
        http = ThreadingHTTPServer(("127.0.0.1", free_port()),
                                   partial(SimpleHTTPRequestHandler, directory=str(folder)))
        threading.Thread(target=http.serve_forever, daemon=True).start()
        port = free_port()
        env = {**os.environ, "WORKBENCH_AUDIT_DIR": str(folder / "audit")}  # the world stays read-only
        with open(folder / "server.log", "w") as log:
            server = subprocess.Popen([str(Path(sys.executable).parent / "workbench"), "apps", "serve", "--port",
                                       str(port), "--lake", str(lake)], stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                wait_for_port(port, timeout=120)
                result = asyncio.run(measure(f"http://127.0.0.1:{port}/risk-overview",
                                             f"http://127.0.0.1:{http.server_address[1]}/{static_file}",
                                             args.sessions, args.seconds, args.runs, server.pid))
            finally:
                server.terminate()
                server.wait(timeout=30)
                http.shutdown()
    result["declarations"] = declarations
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
