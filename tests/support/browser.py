"""Real-browser harness: a `streamlit run` server on a free localhost port and headless Debian
Chromium driven by Playwright (never `playwright install`). Later pages add their checks to
tests/browser/ using these helpers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("HUBCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ARTIFACTS = ROOT / "tests" / "artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"  # committed; the README shows them
CHART = "[data-testid='stVegaLiteChart']"
EXCEPTION = "[data-testid='stException']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(timeout: float = 90.0) -> Iterator[str]:
    """Start the dashboard on localhost and yield its base URL; always stops it."""
    port = free_port()
    log = open(ARTIFACTS / f"streamlit-{port}.log", "w") if ARTIFACTS.exists() else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise TimeoutError("streamlit did not become healthy")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def browser_page(width: int = 1400, height: int = 1600) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          accept_downloads=True)
            yield context.new_page()
        finally:
            browser.close()


def wait_idle(page, timeout: float = 300_000) -> None:
    """Wait until the script run has finished and every visible chart has drawn."""
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=timeout)
    undrawn = page.locator(CHART).filter(visible=True).filter(has_not=page.locator("canvas, svg"))
    for _ in range(120):  # Vega draws asynchronously after the run; elements may be replaced
        if undrawn.count() == 0:
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(2000)  # let Vega finish laying out (width "stretch" re-renders once)


def screenshot(page, name: str) -> None:
    """Save the visible page as docs/screenshots/<name>.png (and a full-page copy in artifacts),
    once the page has finished running (no half-drawn state)."""
    wait_idle(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def swallowed_by_a_rerun(exc: Exception) -> bool:
    """Whether a download click failed because a rerun was replacing the button: no download
    came (Playwright's timeout) or the one that started was cancelled."""
    from playwright.sync_api import TimeoutError as Timeout

    return isinstance(exc, Timeout) or "canceled" in str(exc)


def download_csv(page, scope=None, index: int = 0, tries: int = 3, **read_csv):
    """Click the `index`-th VISIBLE "Download CSV" button (inside `scope` if given) and read it.

    Streamlit keeps inactive tabs in the page, hidden: only the shown tab's buttons count. A
    click that lands while a rerun replaces the button brings no download (or a cancelled one):
    it is clicked again, up to `tries` times, and the last failure is raised.
    """
    import pandas as pd

    root = scope if scope is not None else page
    for attempt in range(tries):
        button = root.get_by_text("Download CSV").filter(visible=True).nth(index)
        try:
            with page.expect_download() as dl:
                button.click()
            return pd.read_csv(dl.value.path(), **read_csv)
        except Exception as exc:
            if attempt == tries - 1 or not swallowed_by_a_rerun(exc):
                raise
            page.wait_for_timeout(1000)


def download_until(page, changed, scope=None, index: int = 0, tries: int = 60, **read_csv):
    """Download the CSV until `changed(df)` holds (the page reruns asynchronously); returns it.

    Fails if an exception box appears meanwhile or the CSV never changes.
    """
    df = None
    for _ in range(tries):
        assert page.locator(EXCEPTION).count() == 0
        try:
            df = download_csv(page, scope, index, tries=1, **read_csv)
        except Exception as exc:
            if not swallowed_by_a_rerun(exc):
                raise
            page.wait_for_timeout(1000)
            continue
        if changed(df):
            return df
        page.wait_for_timeout(2000)
    raise AssertionError(f"the CSV download never changed; last one:\n{df}")


def pick_option(page, box, name: str, tries: int = 12) -> None:
    """Open the combobox `box` and click its option `name`.

    A rerun that changes the options replaces the widget and closes a menu opened on the old one,
    so a missing option is retried on a freshly opened menu (up to `tries` x 5 s).
    """
    from playwright.sync_api import TimeoutError as Timeout

    for _ in range(tries):
        box.click()
        option = page.get_by_role("option", name=name, exact=True)
        try:
            option.wait_for(timeout=5_000)
            option.click()
            return
        except Timeout:  # the menu was opened on a widget the rerun replaced
            page.keyboard.press("Escape")
    raise AssertionError(f"the option {name!r} never appeared in the menu")


def wait_chart(page, timeout: float = 300_000, scope=None) -> None:
    root = scope if scope is not None else page
    root.locator(CHART).first.locator("canvas, svg").first.wait_for(timeout=timeout)
    assert page.locator(EXCEPTION).count() == 0
