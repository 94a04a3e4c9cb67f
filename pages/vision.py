"""Vision page: image vs caption similarity, the per-patch logit lens (of colour images and of the
user's own image), caption nouns, and the two-colour replacement intervention, on a
vision-language model the user brings.

Every computation is a registered experiment (`vision lens|image-lens|similarity|align|replace`):
the widgets fill a values dict named like the CLI options, the URL carries it (the tabs' keys
prefixed), and every result comes with its chart, export and the command that reproduces it.
"""

import os
from dataclasses import replace
from typing import Any

import streamlit as st

from app.blocks import initial_values, layer_slider, on_page, output_block, run_kwargs, sync_url
from app.charts import layer_lines, patch_grid
from app.widgets import current_spec, require_model, run_experiment, run_requested, user_errors
from hubcore.experiments import vision as vx
from hubcore.experiments.registry import Param, of

LENS, IMAGE, SIM = of(vx.patch_lens), of(vx.image_lens), of(vx.image_caption_similarity)
ALIGN = on_page(of(vx.caption_alignment))  # a quicker first run than the CLI's 30 (page_defaults)
REPLACE = of(vx.two_colour_replacement)
COLOURS = list(vx.COLOURS)

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
    help=f"Give {vx.SPEC_SYNTAX}. dtype, device, downloads and remote code follow the sidebar's "
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
                "python -m hubcore vision image-lens --model llava-hf/llava-1.5-7b-hf --image photo.png "
                "--out patches.csv\n"
                "python -m hubcore vision similarity --model /models/llava-1.5-7b-hf --out sim.csv",
                language="bash")
        cols = st.columns(len(vx.PAPER_COLOURS))
        for c, name in zip(cols, vx.PAPER_COLOURS):
            c.image(vx.thumbnail_png(vx.solid(name), 64), caption=name)
    st.stop()

with user_errors():  # the sidebar's settings, this page's VLM (no text module map)
    spec = replace(current_spec(), source=source, kind="vision", rename=())
vm = require_model(kind="vision", spec=spec)


def number(container: Any, label: str, p: Param, value: Any, key: str, step: float = 1) -> Any:
    """A number input with the parameter's own range (from the registry)."""
    kind = p.type if p.type in (int, float) else float
    return kind(container.number_input(label, kind(p.low), kind(p.high), kind(value), step=kind(step), key=key))


tab_lens, tab_sim, tab_nouns, tab_rep = st.tabs(
    ["Patch lens", "Image vs caption", "Caption nouns", "Two-colour replacement"])

with tab_lens:
    l0 = initial_values(LENS)
    with st.form("vis_lens"):
        c1, c2, c3 = st.columns([3, 1, 1])
        colours = c1.multiselect("Colours", COLOURS, list(l0["colours"]), key="vis_colours")
        baseline = c2.selectbox("Baseline word", COLOURS, COLOURS.index(l0["baseline"]), key="vis_baseline")
        raw = c3.toggle("Raw (no final norm)", bool(l0["raw"]), key="vis_raw")
        st.form_submit_button("Run", type="primary", icon=":material/play_arrow:")
    values = {**l0, "colours": colours, "baseline": baseline, "raw": raw}
    sync_url(LENS, values)
    with user_errors():
        rep = run_experiment(vx.patch_lens, spec, **run_kwargs(LENS, values))
    df = rep.curves[rep.curves.colour == "all"]
    chart = layer_lines(df, y="share", series="target", band=("ci_low", "ci_high"),
                        y_title="share of image patches",
                        title="Patches whose top-1 lens token is the colour word vs the baseline word",
                        compare=("colour", "baseline"))
    for note in rep.notes:
        st.info(note)
    output_block(rep.csv_frame(), chart, "vision_patch_lens", LENS, values, spec,
                 caption="colour: the image's own colour word (leading space or not); baseline: the "
                         f"'{baseline}' word, a colour absent from the image. 95% CIs resample images. "
                         "The export holds every colour ('all' pools them).")
    g1, g2 = st.columns([1, 3])
    shown = g1.selectbox("Image", list(rep.grid.colour.unique()), key="vis_grid_colour")
    layer = layer_slider(vm, "vis_grid_layer", container=g2)
    cells = rep.grid[(rep.grid.colour == shown) & (rep.grid.layer == layer)]
    grid_chart = patch_grid(cells, vx.thumbnail_png(vx.solid(shown)), title=f"{shown} image, layer {layer}")
    output_block(rep.csv_frame("grid"), grid_chart, "vision_patch_grid", LENS, values, spec, stretch=False,
                 caption="Each patch's top-1 lens token at this layer, drawn over the image. The "
                         "export holds every image and layer (--grid FILE on the command line).")
    with st.expander("Token variants read"):
        st.dataframe(rep.variants, hide_index=True)

    upload = st.file_uploader("Or read your own image through the lens (PNG, JPEG, GIF, WebP, BMP)",
                              type=["png", "jpg", "jpeg", "gif", "webp", "bmp"], key="vis_upload")
    if upload is not None:
        i0 = initial_values(IMAGE, prefix="image.")
        ivalues = {**i0, "image": upload.name, "raw": raw}
        sync_url(IMAGE, ivalues, prefix="image.")
        with user_errors():
            data = upload.getvalue()
            image = vx.open_image(data, upload.name)
            own = run_experiment(vx.image_lens, spec, image=data, name=upload.name, top_k=int(i0["top_k"]),
                                 raw=bool(raw))
        ul = layer_slider(vm, "vis_upload_layer", label="Layer ")
        patches = own.patches[(own.patches["rank"] == 1) & (own.patches.layer == ul)]
        own_chart = patch_grid(patches, vx.thumbnail_png(image.resize((360, 360))),
                               title=f"{upload.name}, layer {ul}", colour="none")
        output_block(own.csv_frame(), own_chart, "vision_image_lens", IMAGE, ivalues, spec, stretch=False,
                     caption="Top-1 lens token of every image patch of your image at this layer.",
                     note=f"Give the path of your image to --image ({upload.name}).")

with tab_sim:
    s0 = initial_values(SIM, prefix="sim.")
    with st.form("vis_sim"):
        c1, c2, c3, c4 = st.columns(4)
        kinds = list(SIM.param("images").choices)
        kind = c1.radio("Images", kinds, kinds.index(s0["images"]), horizontal=True, key="vis_kind")
        n = number(c2, "Emoji", SIM.param("n"), s0["n"], "vis_n", step=4)
        langs = list(vx.LABEL_LANGS)
        lang = c3.selectbox("Label language", langs, langs.index(s0["lang"]) if s0["lang"] in langs else 0,
                            key="vis_lang")
        metric = c4.radio("Metric", ["raw", "centered"], horizontal=True, key="vis_metric")
        go = st.form_submit_button("Run similarity", icon=":material/play_arrow:")
    if run_requested("vis_sim", go):
        svalues = {**s0, "images": kind, "n": n, "lang": lang}
        sync_url(SIM, svalues, prefix="sim.")
        with user_errors():
            srep = run_experiment(vx.image_caption_similarity, spec, **run_kwargs(SIM, svalues))
        sdf = srep.curves[srep.curves.metric == metric]
        schart = layer_lines(sdf, y="adjusted", series="metric", band=("ci_low", "ci_high"),
                             y_title="cos(image, its caption) − non-matching",
                             title="Image vs caption, matched minus non-matching",
                             zero=("an image's own caption", "other captions"))
        output_block(srep.csv_frame(), schart, "vision_similarity", SIM, svalues, spec,
                     caption="Image: mean of its image-token states; caption: mean of its token states "
                             "(text only). retrieval@1 is in the CSV.")
        with st.expander(f"Items ({len(srep.items)})"):
            st.dataframe(srep.items, hide_index=True)
    else:
        st.info("Press **Run similarity**.")

with tab_nouns:
    a0 = initial_values(ALIGN, prefix="align.")
    with st.form("vis_nouns"):
        c1, c2, c3 = st.columns(3)
        n_a = number(c1, "Emoji", ALIGN.param("n"), a0["n"], "vis_align_n", step=4)
        langs = list(vx.LABEL_LANGS)
        lang_a = c2.selectbox("Label language", langs, langs.index(a0["lang"]) if a0["lang"] in langs else 0,
                              key="vis_align_lang")
        k = number(c3, "top-k", ALIGN.param("top_k"), a0["top_k"], "vis_align_k")
        go_a = st.form_submit_button("Run caption nouns", icon=":material/play_arrow:")
    if run_requested("vis_nouns", go_a):
        avalues = {**a0, "n": n_a, "lang": lang_a, "top_k": k}
        sync_url(ALIGN, avalues, prefix="align.")
        with user_errors():
            arep = run_experiment(vx.caption_alignment, spec, **run_kwargs(ALIGN, avalues))
        adf = arep.curves[arep.curves.target.isin(["matched", "nonmatching"])]
        achart = layer_lines(adf, y="mean", series="target", band=("ci_low", "ci_high"),
                             y_title="max over patches of log p(label)",
                             title="Emoji images: their own label vs the other labels",
                             compare=("matched", "nonmatching"))
        output_block(arep.csv_frame(), achart, "vision_caption_nouns", ALIGN, avalues, spec,
                     caption="Per image, the best log p over its patches of its own label vs the mean "
                             f"over the other labels (95% CIs over images); hit_at_{k} in the CSV.")
        st.dataframe(arep.items, hide_index=True)
    else:
        st.info("Press **Run caption nouns**.")

with tab_rep:
    r0 = initial_values(REPLACE, prefix="replace.")
    sweep = vx.default_sweep(vm)
    with st.form("vis_rep"):
        c1, c2, c3, c4 = st.columns(4)
        layers = c1.multiselect("Start layers l", list(range(vm.num_layers + 1)),
                                [x for x in (r0["layers"] or sweep) if x <= vm.num_layers], key="vis_rep_layers")
        scales = list(vx.SCALES)
        scale = c2.radio("Scale", scales, scales.index(r0["scale"]), horizontal=True, key="vis_rep_scale")
        strength = number(c3, "Strength", REPLACE.param("strength"), r0["strength"], "vis_rep_strength", step=0.1)
        sides = list(REPLACE.param("side").choices)
        side = c4.radio("Edited half", sides, sides.index(r0["side"]), horizontal=True, key="vis_rep_side")
        go_r = st.form_submit_button("Run replacement", icon=":material/play_arrow:")
    if run_requested("vis_rep", go_r):
        rvalues = {**r0, "layers": None if sorted(layers) == sweep else sorted(layers), "scale": scale,
                   "strength": float(strength), "side": side}
        sync_url(REPLACE, rvalues, prefix="replace.")
        with user_errors():
            rrep = run_experiment(vx.two_colour_replacement, spec, **run_kwargs(REPLACE, rvalues))
        rdf = rrep.rates.assign(series="success")
        rchart = layer_lines(rdf, y="success_rate", series="series", band=("ci_low", "ci_high"),
                             y_title="success rate", x_title="first edited layer l",
                             title="Both colours right after replacing one half's colour")
        for note in rrep.notes:
            st.info(note)
        output_block(rrep.csv_frame("rates"), rchart, "vision_replacement", REPLACE, rvalues, spec,
                     caption=f"Prompt: {rrep.prompt!r}. s·(W_U[new] − W_U[old]) is added to the {side} "
                             "half's image tokens at every layer from l to the last, in the prompt pass. "
                             "The export holds the rates; the command also writes every answer.")
        st.dataframe(rrep.generations, hide_index=True)
    else:
        st.info("Press **Run replacement**.")
