"""Real browser: three sessions of one `streamlit run` server at once.

Streamlit serves every browser session from one process: the sessions share the loaded model (one
handle per spec, one lock: nnsight traces are not thread-safe) and the result cache. Three tabs open
the Logit Lens at the same moment on a fresh server (model not yet loaded, result cache empty),
two of them on the same text; each must show exactly what the engine computes for its text alone.
(This was an AppTest with three threads; AppTest keeps per-run state in globals — the
`global.appTest` option, the page registry — so its threads raced each other, not the app.)
"""

from __future__ import annotations

from io import StringIO
from urllib.parse import quote

import pandas as pd
import pytest

from hubcore.experiments.logit_lens import logit_lens
from tests.support.browser import EXCEPTION, browser_page, download_csv, streamlit_server

pytestmark = [pytest.mark.browser, pytest.mark.default_model]

TEXTS = ["Hoy es un buen", "Le ciel est", "Hoy es un buen"]


@pytest.fixture(scope="module")
def server(default_model):
    # one thread, like this test process: the lone engine run and the sessions then use the same
    # kernels, so top-k ranks cannot differ by a float tie broken another way
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        with streamlit_server() as url:
            yield url


def as_csv(df: pd.DataFrame) -> pd.DataFrame:
    """`df` as a download reads back (the page's CSV goes through the same writer)."""
    return pd.read_csv(StringIO(df.to_csv(index=False)), keep_default_na=False)


def test_parallel_sessions_equal_one_session(server, default_model):
    alone = {t: as_csv(logit_lens(default_model, t).csv_frame()) for t in dict.fromkeys(TEXTS)}
    assert not alone[TEXTS[0]].equals(alone[TEXTS[1]])
    with browser_page() as first:
        pages = [first, first.context.new_page(), first.context.new_page()]
        for page, text in zip(pages, TEXTS):  # all three sessions start before any has drawn
            page.goto(f"{server}/logit_lens?text={quote(text)}", wait_until="commit")
        for page, text in zip(pages, TEXTS):
            page.get_by_text("Download CSV").first.wait_for(timeout=600_000)
            assert page.locator(EXCEPTION).count() == 0
            got = download_csv(page, keep_default_na=False)
            pd.testing.assert_frame_equal(got, alone[text], check_exact=False, atol=1e-6, rtol=0)
