"""Widgets shared by every page: the sidebar model picker, model loading with progress, the
result cache and error display. Pages stay thin: widgets -> one experiment call -> chart.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Callable, Hashable, Iterator

import streamlit as st

from hubcore.errors import HubError
from hubcore.models import DEVICES, DTYPES, HubModel, ModelSpec, get_model, loaded_specs

SPEC_KEY = "model_spec"
CUSTOM = "Other (hub id, local folder or .gguf)…"


def model_picker() -> ModelSpec:
    """Sidebar model chooser shared by all pages; the choice persists across pages."""
    sb = st.sidebar
    sb.subheader("Model")
    known = ["default"] + [s.source for s in loaded_specs() if s.source != "default"]
    options = list(dict.fromkeys(known)) + [CUSTOM]
    choice = sb.selectbox(
        "Model",
        options,
        key="model_choice",
        format_func=lambda s: "Gemma-3-270M (embedded default)" if s == "default" else s,
        label_visibility="collapsed",
    )
    source = choice
    if choice == CUSTOM:
        source = sb.text_input(
            "Model spec",
            key="model_custom",
            placeholder="google/gemma-2-2b · /path/to/model · /path/model.gguf",
            help="A Hugging Face hub id (must be in the local HF cache unless downloads are "
                 "allowed), a local model directory, or a local .gguf file.",
        ).strip() or "default"
    with sb.expander("Advanced"):
        dtype = st.selectbox("dtype", DTYPES, key="model_dtype")
        device = st.selectbox("device", DEVICES, key="model_device")
        allow = st.checkbox("Allow downloads from the hub", key="model_download",
                            help="Off by default: the app works offline.")
        trust = st.checkbox("Trust remote code", key="model_trust",
                            help="Runs Python code shipped with the model. Only for authors you trust.")
        if trust:
            st.warning("Remote code from the model repository will run on this machine.")
    spec = ModelSpec(source=source, dtype=dtype, device=device, trust_remote_code=trust,
                     allow_download=allow)
    st.session_state[SPEC_KEY] = spec
    return spec


def current_spec() -> ModelSpec:
    return st.session_state.get(SPEC_KEY) or ModelSpec()


def require_model() -> HubModel:
    """The selected model, loaded with a progress bar; stops the page with a clear error."""
    spec = current_spec()
    if spec in loaded_specs():
        model = get_model(spec)
    else:
        bar = st.progress(0.0, text=f"Loading {spec.label}…")
        try:
            model = get_model(spec, progress=lambda f, m: bar.progress(f, text=m))
        except HubError as exc:
            bar.empty()
            st.error(str(exc), icon=":material/error:")
            st.stop()
        bar.empty()
    model_card(model)
    return model


def model_card(model: HubModel) -> None:
    """Compact model facts in the sidebar."""
    with st.sidebar.expander("Model card", expanded=True):
        st.markdown("  \n".join(f"**{k}** · {v}" for k, v in model.card.as_rows()))


_results: "OrderedDict[tuple, Any]" = OrderedDict()
_results_lock = threading.Lock()
MAX_RESULTS = 64


def run_experiment(fn: Callable[..., Any], spec: ModelSpec, **params: Any) -> Any:
    """`fn(model, progress=..., **params)`, computed once per (function, model spec, parameters).

    Results live in a bounded process-wide LRU shared by all sessions (they are deterministic),
    so re-drawing a chart after a display-only widget costs nothing. A miss shows a progress bar
    fed by the experiment's own progress callback. Callers must not mutate the result.
    """
    return cached_run(fn, spec, lambda: get_model(spec), **params)


def cached_run(fn: Callable[..., Any], spec: Hashable, load: Callable[[], Any], **params: Any) -> Any:
    """`fn(load(), progress=..., **params)` through the same result LRU, for any kind of model.

    `spec` is whatever identifies the model (a ModelSpec, an audio or vision spec) and `load`
    returns the loaded model; it is called only on a cache miss.
    """
    key = (f"{fn.__module__}.{fn.__qualname__}", spec, tuple(sorted(params.items())))
    with _results_lock:
        if key in _results:
            _results.move_to_end(key)
            return _results[key]
    bar = st.progress(0.0, text="Starting…")
    try:
        result = fn(load(), progress=lambda f, m: bar.progress(f, text=m), **params)
    finally:
        bar.empty()
    with _results_lock:
        _results[key] = result
        while len(_results) > MAX_RESULTS:
            _results.popitem(last=False)
    return result


def clear_results() -> None:
    """Forget cached experiment results (tests, or after a model is reloaded)."""
    with _results_lock:
        _results.clear()


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a `HubError` as one red sentence and stop the page instead of a traceback."""
    try:
        yield
    except HubError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()


def run_requested(key: str, clicked: bool) -> bool:
    """Heavy experiments run only once their button has been pressed; afterwards every rerun
    (a slider, another tab) keeps showing the (cached) result."""
    flag = f"_requested_{key}"  # namespaced: never collides with a widget or form key
    if clicked:
        st.session_state[flag] = True
    return bool(st.session_state.get(flag))


def example_picker(examples: dict[str, Any], key: str) -> Any:
    """A selectbox of named examples; returns the chosen example's value."""
    name = st.selectbox("Example", list(examples), key=key)
    return examples[name]


def _upload(key: str, label: str, parse: Callable[[bytes, str], tuple[Any, list[str]]]) -> Any:
    """File uploader + parser: parser notes as info boxes, a clear error instead of a traceback."""
    file = st.file_uploader(label, type=["tsv", "csv", "txt"], key=key)
    if file is None:
        return None
    try:
        parsed, notes = parse(file.getvalue(), file.name)
    except HubError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    for note in notes:
        st.info(note, icon=":material/info:")
    return parsed


def upload_pairs(key: str, label: str = "Upload pairs (TSV/CSV, two columns, UTF-8)") -> list[tuple[str, str]] | None:
    """File uploader for paired texts; shows parser notes and clear errors, never a traceback."""
    from hubcore.data.uploads import parse_pairs

    return _upload(key, label, parse_pairs)


def upload_texts(key: str, label: str = "Upload texts (one per line, UTF-8)") -> list[str] | None:
    """File uploader for a list of texts (prompts); same checks as `upload_pairs`."""
    from hubcore.data.uploads import parse_texts

    return _upload(key, label, parse_texts)
