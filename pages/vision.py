"""Vision page: image vs caption similarity, the per-patch logit lens, caption nouns, and the
two-colour replacement intervention, on a vision-language model the user brings."""

import os
from dataclasses import replace

import streamlit as st

from app.charts import export_buttons, layer_lines, patch_grid
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.experiments import vision as vx
from hubcore.experiments.vision import COLOURS, PAPER_COLOURS, SPEC_SYNTAX, load_image, solid, thumbnail_png

st.title("Vision")
st.caption(
    "Paper §3.5 and Fig. 12c: do a vision-language model's image tokens live in the same space "
    "as words? Colour images vs colour words, every image patch read through the logit lens, "
    "emoji vs their labels, and steering one half of a two-colour image."
)

if "vision_model" not in st.session_state:
    st.session_state["vision_model"] = os.environ.get("HUBCORE_VISION_MODEL", "")
source = st.text_input(
    "Vision-language model", key="vision_model",
    placeholder="llava-hf/llava-1.5-7b-hf · /path/to/model-folder",
    help=f"Give {SPEC_SYNTAX}. dtype, device, downloads and remote code follow the sidebar's "
         "Advanced settings, and where traces run its Run on choice.",
).strip()

if not source:
    with st.container(border=True):
        st.subheader(":material/add_photo_alternate: Bring a vision-language model")
        st.markdown(
            "No vision-language weights ship with this app: none is in any package registry. "
            "Type a model spec above:\n\n"
            "- a **Hugging Face hub id already in your local HF cache**, e.g. "
            "`llava-hf/llava-1.5-7b-hf`, `google/gemma-3-4b-it`, `Qwen/Qwen2-VL-2B-Instruct`, "
            "`HuggingFaceTB/SmolVLM-256M-Instruct`;\n"
            "- or a **local model folder** holding `config.json`, the weights and the processor "
            "files, e.g. `/models/llava-1.5-7b-hf`.\n\n"
            "The app is offline by default: a hub id that is not cached is refused unless you tick "
            "*Allow downloads from the hub* in the sidebar's Advanced settings (or set "
            "`HUBCORE_ALLOW_DOWNLOAD=1`). `HUBCORE_VISION_MODEL=<spec>` pre-fills this box."
        )
        st.markdown("Supported families: LLaVA-1.5, Gemma 3 (4B and up), Qwen2-VL / Qwen2.5-VL, "
                    "Idefics3 / SmolVLM, Chameleon. The same experiments from the command line:")
        st.code("python -m hubcore vision lens --model llava-hf/llava-1.5-7b-hf --out lens.csv\n"
                "python -m hubcore vision similarity --model /models/llava-1.5-7b-hf --out sim.csv",
                language="bash")
        cols = st.columns(len(PAPER_COLOURS))
        for c, name in zip(cols, PAPER_COLOURS):
            c.image(thumbnail_png(solid(name), 64), caption=name)
    st.stop()

with user_errors():  # the sidebar's settings, this page's VLM (no text module map)
    spec = replace(current_spec(), source=source, kind="vision", rename=())
vm = require_model(kind="vision", spec=spec)


def run(fn, **params):
    return run_experiment(fn, spec, **params)


tab_lens, tab_sim, tab_nouns, tab_rep = st.tabs(
    ["Patch lens", "Image vs caption", "Caption nouns", "Two-colour replacement"])

with tab_lens:
    with st.form("vis_lens"):
        c1, c2, c3 = st.columns([3, 1, 1])
        colours = c1.multiselect("Colours", list(COLOURS), list(PAPER_COLOURS), key="vis_colours")
        baseline = c2.selectbox("Baseline word", list(COLOURS), list(COLOURS).index("white"),
                                key="vis_baseline")
        raw = c3.toggle("Raw (no final norm)", False, key="vis_raw")
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    with user_errors():
        rep = run(vx.patch_lens, colours=tuple(colours), baseline=baseline, raw=raw)
    df = rep.curves[rep.curves.colour == "all"]
    chart = layer_lines(df, y="share", series="target", band=("ci_low", "ci_high"),
                        y_title="share of image patches",
                        title="Patches whose top-1 lens token is the colour word vs the baseline word")
    st.altair_chart(chart, width="stretch")
    st.caption("colour: the image's own colour word (leading space or not); baseline: the "
               f"'{baseline}' word, a colour absent from the image. 95% CIs resample images.")
    for note in rep.notes:
        st.info(note)
    export_buttons(rep.curves, chart, "vision_patch_lens")
    g1, g2 = st.columns([1, 3])
    shown = g1.selectbox("Image", list(rep.grid.colour.unique()), key="vis_grid_colour")
    layer = g2.slider("Layer", 0, vm.num_layers, vm.num_layers // 2, key="vis_grid_layer")
    cells = rep.grid[(rep.grid.colour == shown) & (rep.grid.layer == layer)]
    st.altair_chart(patch_grid(cells, thumbnail_png(solid(shown)), title=f"{shown} image, layer {layer}"),
                    width="content")
    with st.expander("Token variants read"):
        st.dataframe(rep.variants, hide_index=True)

    upload = st.file_uploader("Or read your own image through the lens (PNG, JPEG, GIF, WebP, BMP)",
                              type=["png", "jpg", "jpeg", "gif", "webp", "bmp"], key="vis_upload")
    if upload is not None:
        with user_errors():
            data = upload.getvalue()
            image = load_image(data, upload.name)
            grid = run(vx.image_lens, data=data, name=upload.name)
        ul = st.slider("Layer ", 0, vm.num_layers, vm.num_layers // 2, key="vis_upload_layer")
        st.altair_chart(patch_grid(grid[grid.layer == ul], thumbnail_png(image.resize((360, 360))),
                                   title=f"{upload.name}, layer {ul}", colour="none"), width="content")

with tab_sim:
    with st.form("vis_sim"):
        c1, c2, c3, c4 = st.columns(4)
        kind = c1.radio("Images", list(vx.ITEM_KINDS), horizontal=True, key="vis_kind")
        n = c2.number_input("Emoji", 4, 400, 40, step=4, key="vis_n")
        lang = c3.selectbox("Label language", ["en", "es", "zh", "fr"], key="vis_lang")
        metric = c4.radio("Metric", ["raw", "centered"], horizontal=True, key="vis_metric")
        go = st.form_submit_button("Run similarity", icon=":material/play_arrow:")
    if run_requested("vis_sim", go):
        with user_errors():
            srep = run(vx.image_caption_similarity, kind=kind, n=int(n), lang=lang)
        sdf = srep.curves[srep.curves.metric == metric]
        schart = layer_lines(sdf, y="adjusted", series="metric", band=("ci_low", "ci_high"),
                             y_title="cos(image, its caption) − non-matching",
                             title="Image vs caption, matched minus non-matching")
        st.altair_chart(schart, width="stretch")
        st.caption("Image: mean of its image-token states; caption: mean of its token states "
                   "(text only). retrieval@1 is in the CSV.")
        export_buttons(srep.curves, schart, "vision_similarity")
        with st.expander(f"Items ({len(srep.items)})"):
            st.dataframe(srep.items, hide_index=True)
    else:
        st.info("Press **Run similarity**.")

with tab_nouns:
    with st.form("vis_nouns"):
        c1, c2, c3 = st.columns(3)
        n_a = c1.number_input("Emoji", 4, 200, 20, step=4, key="vis_align_n")
        lang_a = c2.selectbox("Label language", ["en", "es", "zh", "fr"], key="vis_align_lang")
        k = c3.number_input("top-k", 1, 50, 10, key="vis_align_k")
        go_a = st.form_submit_button("Run caption nouns", icon=":material/play_arrow:")
    if run_requested("vis_nouns", go_a):
        with user_errors():
            arep = run(vx.caption_alignment, n=int(n_a), lang=lang_a, top_k=int(k))
        adf = arep.curves[arep.curves.target.isin(["matched", "nonmatching"])]
        achart = layer_lines(adf, y="mean", series="target", band=("ci_low", "ci_high"),
                             y_title="max over patches of log p(label)",
                             title="Emoji images: their own label vs the other labels")
        st.altair_chart(achart, width="stretch")
        export_buttons(arep.curves, achart, "vision_caption_nouns")
        st.dataframe(arep.items, hide_index=True)
    else:
        st.info("Press **Run caption nouns**.")

with tab_rep:
    with st.form("vis_rep"):
        c1, c2, c3, c4 = st.columns(4)
        layers = c1.multiselect("Start layers l", list(range(vm.num_layers + 1)),
                                sorted({0, vm.num_layers // 4, vm.num_layers // 2,
                                        3 * vm.num_layers // 4, vm.num_layers}), key="vis_rep_layers")
        scale = c2.radio("Scale", list(vx.SCALES), index=1, horizontal=True, key="vis_rep_scale")
        strength = c3.number_input("Strength", 0.0, 100.0, 0.5, step=0.1, key="vis_rep_strength")
        side = c4.radio("Edited half", ["left", "right"], horizontal=True, key="vis_rep_side")
        go_r = st.form_submit_button("Run replacement", icon=":material/play_arrow:")
    if run_requested("vis_rep", go_r):
        with user_errors():
            rrep = run(vx.two_colour_replacement, layers=tuple(layers), scale=scale,
                       strength=float(strength), side=side)
        rdf = rrep.rates.assign(series="success")
        rchart = layer_lines(rdf, y="success_rate", series="series", band=("ci_low", "ci_high"),
                             y_title="success rate", x_title="first edited layer l",
                             title="Both colours right after replacing one half's colour")
        st.altair_chart(rchart, width="stretch")
        st.caption(f"Prompt: {rrep.prompt!r}. s·(W_U[new] − W_U[old]) is added to the {side} "
                   "half's image tokens at every layer from l to the last, in the prompt pass.")
        for note in rrep.notes:
            st.info(note)
        export_buttons(rrep.generations, rchart, "vision_replacement")
        st.dataframe(rrep.generations, hide_index=True)
    else:
        st.info("Press **Run replacement**.")
