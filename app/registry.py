"""The list of pages, shared by the navigation (main.py) and the Home page's links."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "pages"


@dataclass(frozen=True)
class PageInfo:
    file: str
    title: str
    icon: str
    url_path: str
    blurb: str

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file


HOME = PageInfo("home.py", "Home", ":material/home:", "home", "")
EXPERIMENT_PAGES: list[PageInfo] = [
    PageInfo(
        "logit_lens.py",
        "Logit Lens",
        ":material/visibility:",
        "logit_lens",
        "Read every layer through the model's own output head: which token would each layer "
        "predict at each position? Chinese input reads English mid-network.",
    ),
    PageInfo(
        "multilingual.py",
        "Multilingual",
        ":material/translate:",
        "multilingual",
        "Translation pairs per layer (similarity, retrieval@1, confidence intervals), English "
        "anchoring of non-English text (Eq. 3), and the language of each layer's reading.",
    ),
    PageInfo(
        "concept_language.py",
        "Concept vs language",
        ":material/swap_horiz:",
        "concept_language",
        "Patch one translation's latent into another: at which layer do the output language and the "
        "concept switch (Dumas et al.), mean latents across languages, and English vs the target "
        "word per layer (Wendler et al.).",
    ),
    PageInfo(
        "arithmetic.py",
        "Arithmetic",
        ":material/calculate:",
        "arithmetic",
        "Numerals vs number words: similarity by bucket, numeral vs word in the lens, PCA "
        "trajectories through the number-word plane, and the +1 intervention with sweeps.",
    ),
    PageInfo(
        "code_anchors.py",
        "Code",
        ":material/code:",
        "code",
        "Python read through English: ' and' at list-literal commas, parameter names before "
        "arguments, steering range(end) into range(0, end), and a live lens strip over a snippet.",
    ),
    PageInfo(
        "steering.py",
        "Steering",
        ":material/tune:",
        "steering",
        "ActAdd across languages: steer Spanish or Chinese text with an English or an in-language "
        "pair, layer and coefficient sliders, side-by-side generations, scored sweeps.",
    ),
    PageInfo(
        "semantics.py",
        "Formal semantics",
        ":material/account_tree:",
        "semantics",
        "Sentences vs their logical forms with lexical-overlap controls, and thematic roles "
        "(agent, recipient, theme) read through the lens.",
    ),
    PageInfo(
        "audio.py",
        "Audio",
        ":material/graphic_eq:",
        "audio",
        "Whisper hears recordings, event sounds, uploads or the microphone: hearing vs reading, "
        "the same prompt in three languages, the lens while transcribing, steering a spoken word.",
    ),
    PageInfo(
        "vision.py",
        "Vision",
        ":material/image:",
        "vision",
        "Bring a vision-language model: colour images vs colour words, every image patch read "
        "through the lens, emoji vs their labels, and steering one half of a two-colour image.",
    ),
    PageInfo(
        "compare.py",
        "Compare models",
        ":material/compare_arrows:",
        "compare",
        "The checkup on 2–4 models: every experiment's curve overlaid (optionally on a 0–1 depth "
        "axis), the hub layer, one verdict per experiment, the HTML report and its command.",
    ),
]
