"""Entry script: `streamlit run app/main.py` from the repository root."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app.blocks import presenter_css  # noqa: E402
from app.registry import EXPERIMENT_PAGES, HOME  # noqa: E402
from app.widgets import model_picker, presenter_toggle  # noqa: E402

st.set_page_config(page_title="Semantic Hub Explorer", page_icon=":material/hub:", layout="wide")

pages = [st.Page(HOME.path, title=HOME.title, icon=HOME.icon, url_path=HOME.url_path, default=True)]
pages += [st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path) for p in EXPERIMENT_PAGES]
navigation = st.navigation(pages)
presenter_toggle()
presenter_css()
model_picker()
navigation.run()
