"""Widgets shared by every page: the sidebar model picker, model loading with progress, the
result cache and error display. Pages stay thin: widgets -> one experiment call -> chart.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator

import streamlit as st

from app import running
from app.charts import PRESENTER_KEY
from hubcore import demo_bundle
from hubcore.errors import Cancelled, HubError
from hubcore.models import (DEVICES, DTYPES, Handle, ModelSpec, get_model, is_loaded, loaded_specs,
                            parse_remote, parse_rename)
from hubcore.models.remote import REMOTE_CHOICES, scrub, using_api_key

SPEC_KEY = "model_spec"
KEY_KEY = "ndif_api_key"
CUSTOM = "Other (hub id, local folder or .gguf)…"
RUN_ON = {"off": "This machine", "local": "Dry run of the remote path (this machine)",
          "ndif": "NDIF (public service)", "url": "Self-hosted NDIF (URL)"}


def model_picker() -> ModelSpec:
    """Sidebar model chooser shared by all pages; the choice persists across pages."""
    sb = st.sidebar
    sb.subheader("Model")
    known = ["default"] + [s.source for s in loaded_specs("text") if s.source != "default"]
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
    advanced = sb.container(key="hub-advanced-model")  # hidden (still in effect) in presenter mode
    remote = run_on_picker(advanced)
    with advanced.expander("Advanced"):
        dtype = st.selectbox("dtype", DTYPES, key="model_dtype")
        device = st.selectbox("device", DEVICES, key="model_device")
        allow = st.checkbox("Allow downloads from the hub", key="model_download",
                            help="Off by default: the app works offline.")
        trust = st.checkbox("Trust remote code", key="model_trust",
                            help="Runs Python code shipped with the model. Only for authors you trust.")
        if trust:
            st.warning("Remote code from the model repository will run on this machine.")
        rename_text = st.text_input(
            "Module map", key="model_rename", placeholder="layers=model.decoder.layers,ln_final=…",
            help="For architectures the app does not know: where the blocks (layers), final norm "
                 "(ln_final), output head (lm_head) and embeddings (embed) are. Same as --rename.")
    try:
        rename = parse_rename(rename_text)
    except HubError as exc:
        sb.error(str(exc), icon=":material/error:")
        rename = ()
    spec = ModelSpec(source=source, dtype=dtype, device=device, trust_remote_code=trust,
                     allow_download=allow, remote=remote, rename=rename)
    st.session_state[SPEC_KEY] = spec
    return spec


def presenter_toggle() -> bool:
    """The sidebar's presenter-mode switch (`?presenter=1` opens a page in it): large fonts and
    charts for a projector, advanced controls hidden."""
    if PRESENTER_KEY not in st.session_state:
        st.session_state[PRESENTER_KEY] = st.query_params.get("presenter") in ("1", "true", "on")
    return bool(st.sidebar.toggle("Presenter mode", key=PRESENTER_KEY, help=(
        "For a projector: larger text and charts; the run target, advanced model settings, "
        "exports and reproduce commands are hidden (still in effect).")))


def run_on_picker(sb: Any) -> str:
    """The sidebar's "Run on" choice (same values as the CLI's --remote) and the NDIF key field."""
    choice = sb.selectbox("Run on", list(RUN_ON), format_func=RUN_ON.get, key="model_run_on",
                          help="Where traces run. The dry run serialises every trace exactly as "
                               "for NDIF and runs it here: a check that a remote run will work.")
    if choice == "url":
        url = sb.text_input("NDIF URL", key="model_ndif_url", placeholder="https://ndif.my-lab.org")
        try:
            return parse_remote(url) if url.strip() else "off"
        except HubError as exc:
            sb.error(str(exc), icon=":material/error:")
            return "off"
    if choice == "ndif":
        sb.text_input("NDIF API key", type="password", key=KEY_KEY,
                      help="Used for this browser session only; never stored or logged. "
                           "NDIF_API_KEY in the environment works too.")
    return choice if choice in REMOTE_CHOICES else "off"


def current_spec(kind: str = "text") -> ModelSpec:
    """The spec this page runs on: the one `require_model` settled on in this run (the chosen
    model, or the last one that loaded when the chosen one failed), else the sidebar's choice."""
    active = st.session_state.get(f"_active_{kind}")
    if active is not None:
        return active
    if kind == "text":
        return st.session_state.get(SPEC_KEY) or ModelSpec()
    return st.session_state.get(f"{SPEC_KEY}_{kind}") or ModelSpec(kind=kind)


def spec_for(source: str, kind: str = "text") -> ModelSpec:
    """Another model with the sidebar's dtype, device, download and run-on settings (overlays)."""
    base = current_spec(kind)
    return ModelSpec(source=source, kind=kind, dtype=base.dtype, device=base.device,
                     trust_remote_code=base.trust_remote_code, allow_download=base.allow_download,
                     remote=base.remote)


def session_key() -> str | None:
    """This session's NDIF key from the sidebar (held in session state only)."""
    return st.session_state.get(KEY_KEY) or None


def load_with_progress(spec: ModelSpec) -> Handle:
    """`get_model(spec)` with a progress bar on a miss (raises the HubError for the caller)."""
    with using_api_key(session_key()):
        if is_loaded(spec):
            return get_model(spec)
        bar = st.progress(0.0, text=f"Loading {spec.label}…")
        try:
            return get_model(spec, progress=lambda f, m: bar.progress(f, text=m))
        finally:
            bar.empty()


def back_to_default() -> None:
    """Button callback: the embedded default model, on this machine."""
    st.session_state["model_choice"] = "default"
    st.session_state["model_run_on"] = "off"


def model_error(exc: HubError, spec: ModelSpec, kind: str = "text") -> None:
    """The load error in one sentence (the NDIF key scrubbed), with the way back."""
    st.error(scrub(str(exc)), icon=":material/error:")
    if kind == "text" and (spec.source != "default" or spec.remote != "off"):
        st.button("Back to the default model", on_click=back_to_default, icon=":material/undo:",
                  key="back_to_default", help="The embedded Gemma-3-270M on this machine.")


def require_model(kind: str = "text", spec: ModelSpec | None = None) -> Handle:
    """The model for this page (the sidebar's text model unless a page passes its own spec of
    `kind`), loaded with a progress bar and shown on the model card.

    When it fails to load, the error is one box with a way back, and the page keeps showing what
    it showed: it runs on the last model that loaded (said in a warning) rather than going blank.
    Without such a model the page stops after the error."""
    st.session_state.pop(f"_active_{kind}", None)
    spec = spec or current_spec(kind)
    if kind != "text":
        st.session_state[f"{SPEC_KEY}_{kind}"] = spec
    standin = bundled_model(spec)
    if standin is not None:  # the page opens from the demo bundle while the model loads
        st.session_state[f"_active_{kind}"] = spec
        model_card(standin)
        return standin
    try:
        model = load_with_progress(spec)
    except HubError as exc:
        model_error(exc, spec, kind)
        last = st.session_state.get(f"_last_good_{kind}")
        if last is None or last == spec:
            st.stop()
        st.warning(f"Still showing results of {last.label} ({last.remote if last.is_remote else 'this machine'}) "
                   "until the model above loads.", icon=":material/history:")
        spec = last
        model = load_with_progress(spec)
    st.session_state[f"_active_{kind}"] = spec
    st.session_state[f"_last_good_{kind}"] = spec
    model_card(model)
    return model


@dataclass(frozen=True)
class BundledModel:
    """Stands in for a model that is still loading when the demo bundle knows it: the layer count
    and card the bundle recorded, enough for a page to open from bundled results. A computation
    the bundle does not hold loads the real model (`run_experiment` -> `load_with_progress`)."""

    spec: ModelSpec
    num_layers: int
    card: Any
    loading: bool = True


_preloads: set[ModelSpec] = set()
_preloads_lock = threading.Lock()


def bundled_model(spec: ModelSpec) -> BundledModel | None:
    """A stand-in for `spec` while it loads in the background, when the demo bundle has its facts
    (the embedded models on this machine); None once it is loaded or without a bundle."""
    if is_loaded(spec) or spec.is_remote:
        return None
    facts = demo_bundle.model_facts(spec)
    if facts is None:
        return None
    with _preloads_lock:
        if spec not in _preloads:
            _preloads.add(spec)
            threading.Thread(target=preload, args=(spec,), name=f"hub-preload {spec.label}", daemon=True).start()
    return BundledModel(spec, facts["num_layers"], facts["card"])


def preload(spec: ModelSpec) -> None:
    """Load a model in the background (a failure is reported when a page really needs it)."""
    try:
        get_model(spec)
    except Exception:  # noqa: BLE001 - the page that needs the model shows the error then
        with _preloads_lock:
            _preloads.discard(spec)


def model_card(model: Handle) -> None:
    """Compact model facts in the sidebar (any kind), with remote environment warnings."""
    with st.sidebar.expander("Model card", expanded=True):
        st.markdown("  \n".join(f"**{k}** · {v}" for k, v in model.card.as_rows()))
        if model.card.environment:
            st.caption("Packages here vs on the server: " + "; ".join(
                f"{k} {v}" for k, v in model.card.environment))
        for warning in model.card.warnings:
            st.warning(warning, icon=":material/warning:")
        if getattr(model, "loading", False):
            st.caption(":material/hourglass_top: Loading in the background; the page opened from "
                       "the demo bundle meanwhile.")


_results = running._results  # the process-wide result cache (tests inspect it)
MAX_RESULTS = running.MAX_RESULTS


def run_experiment(fn: Callable[..., Any], spec: ModelSpec, **params: Any) -> Any:
    """`fn(model, progress=..., **params)`, computed once per (function, model spec, parameters).

    Results live in a bounded process-wide LRU shared by all sessions (they are deterministic),
    so re-drawing a chart after a display-only widget costs nothing; the demo bundle is looked up
    next. A computation shows the running state of `app.running` (stage, time left, Stop).
    Callers must not mutate the result.
    """
    return cached_run(fn, spec, lambda: load_with_progress(spec), **params)


def cached_run(fn: Callable[..., Any], spec: Hashable, load: Callable[[], Any], **params: Any) -> Any:
    """`fn(load(), progress=..., **params)` through the same result LRU, for any kind of model.

    `spec` is whatever identifies the model (a ModelSpec, an audio or vision spec) and `load`
    returns the loaded model; it is called only when the result must be computed.
    """
    return running.get_result(fn, spec, load, session_key(), **params)


def clear_results() -> None:
    """Forget cached experiment results (tests, or after a model is reloaded)."""
    running.clear()


@contextmanager
def user_errors() -> Iterator[None]:
    """Show a `HubError` as one red sentence and stop the page instead of a traceback."""
    try:
        yield
    except Cancelled as exc:  # the user pressed Stop: not an error
        st.info(str(exc), icon=":material/stop_circle:")
        st.stop()
    except HubError as exc:
        st.error(scrub(str(exc)), icon=":material/error:")
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
