"""AppTest: the Formal semantics page."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from app.registry import ROOT

MAIN = str(ROOT / "app" / "main.py")


pytestmark = pytest.mark.usefixtures("fresh_streamlit")


def _app() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=30)
    return at


SEM = str(ROOT / "pages" / "semantics.py")


@pytest.mark.default_model
def test_semantics_page_runs(default_model):
    at = _app().run()
    at.switch_page(SEM)
    at.session_state["sem_n"] = 20
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(at.get("vega_lite_chart")) == 1
    assert any("Run thematic roles" in i.value for i in at.info)
    # raw cosine is ~1 for every pair on the embedded model: the page opens on the centred one,
    # and the reproduce command says so (the CLI's default is raw)
    assert at.radio(key="sem_metric").value == "centered"
    command = next(c.value for c in at.code if "semantics similarity" in c.value)
    assert "--metric centered" in command and "--n 20" in command


@pytest.mark.default_model
def test_semantics_link_opens_the_roles_run(default_model):
    """A link naming the roles tab and its parameters runs them (no button press) and shows the
    command that reproduces them."""
    at = _app().run()
    at.switch_page(SEM)
    at.session_state["sem_n"] = 20
    at.query_params["tab"] = "Thematic roles"
    at.query_params["roles.n"] = "12"
    at.query_params["roles.raw"] = "1"
    at.run(timeout=300)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.number_input(key="sem_roles_n").value == 12 and at.toggle(key="sem_roles_raw").value
    # the similarity chart, then one roles chart per gold role (agent, recipient, theme), each drawn
    # on its own so that its verdict line sits under it (issue 14)
    assert len(at.get("vega_lite_chart")) == 1 + 3
    commands = [c.value for c in at.code]
    assert any(c.startswith("python -m hubcore semantics roles --n 12 --raw ") for c in commands), commands
