"""One set of names for every architecture: nnsight `rename` aliases per family.

Capture, the lens and interventions read four roles of a decoder stack: the token embeddings
(`embed`), the block list (`layers`), the final norm (`ln_final`) and the output head (`lm_head`).
Architectures spell them differently (`model.layers` vs `transformer.h` vs `gpt_neox.layers`);
this table maps each family's spelling onto the shared names, which nnsight then binds as
aliases (`TransformersModel(..., rename=...)`), so `nn.layers[i]` works on every model.

An unknown architecture is searched for the usual spellings; what cannot be found is refused
with one sentence naming the class and the role, and how to supply a map. A user map
(`--rename layers=...,ln_final=...`) overrides the table. The lens check at load (last-layer
lens == the model's logits) then verifies that the map really is the model's output path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Optional

from ..errors import UnsupportedModelError


@dataclass(frozen=True)
class Layout:
    """Module paths of the four roles (+ an optional projection between norm and head)."""

    embed: str
    layers: str
    ln_final: str
    lm_head: str
    head_in: Optional[str] = None  # OPT-350m's project_out: norm -> project_out -> head

    def roles(self) -> dict[str, str]:
        out = {"embed": self.embed, "layers": self.layers, "ln_final": self.ln_final,
               "lm_head": self.lm_head}
        if self.head_in:
            out["head_in"] = self.head_in
        return out


_DECODER = Layout("model.embed_tokens", "model.layers", "model.norm", "lm_head")

# model_type -> layout (transformers 5 module names). Families without an entry are searched.
LAYOUTS: dict[str, Layout] = {
    **{name: _DECODER for name in (
        "llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "olmo",
        "olmo2", "granite", "cohere", "starcoder2", "stablelm", "smollm3", "mixtral", "qwen2_moe",
    )},
    "gpt2": Layout("transformer.wte", "transformer.h", "transformer.ln_f", "lm_head"),
    "gpt_neox": Layout("gpt_neox.embed_in", "gpt_neox.layers", "gpt_neox.final_layer_norm", "embed_out"),
    "opt": Layout("model.decoder.embed_tokens", "model.decoder.layers",
                  "model.decoder.final_layer_norm", "lm_head", head_in="model.decoder.project_out"),
    "bloom": Layout("transformer.word_embeddings", "transformer.h", "transformer.ln_f", "lm_head"),
}

# Families checked in the test suite with tiny random-weight models (renaming, capture, lens,
# batching, remote dry run): the ledger shown by `python -m hubcore models`.
TESTED_FAMILIES: dict[str, str] = {
    "gemma3_text": "Gemma 3 text (embedded default: Gemma-3-270M)",
    "gemma2": "Gemma 2 (final-logit soft-capping applied by the lens)",
    "llama": "Llama 2/3, TinyLlama, many fine-tunes",
    "mistral": "Mistral 7B and derivatives",
    "qwen2": "Qwen2 / Qwen2.5",
    "qwen3": "Qwen3",
    "phi3": "Phi-3 / Phi-3.5",
    "gpt2": "GPT-2 family",
    "gpt_neox": "GPT-NeoX, Pythia",
    "opt": "OPT",
    "bloom": "BLOOM / BLOOMZ",
    "olmo2": "OLMo 2",
    "granite": "Granite (logits divided by logits_scaling, applied by the lens)",
}

# Spellings tried, in order, for an architecture without a table entry.
_SEARCH: dict[str, tuple[str, ...]] = {
    "embed": ("model.embed_tokens", "transformer.wte", "transformer.word_embeddings",
              "gpt_neox.embed_in", "model.decoder.embed_tokens", "transformer.embed_tokens",
              "backbone.embeddings", "model.embeddings"),
    "layers": ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers",
               "transformer.layers", "transformer.blocks", "backbone.layers", "model.blocks"),
    "ln_final": ("model.norm", "transformer.ln_f", "gpt_neox.final_layer_norm",
                 "model.decoder.final_layer_norm", "transformer.norm_f", "backbone.norm_f",
                 "model.final_layernorm", "transformer.final_layernorm"),
    "lm_head": ("lm_head", "embed_out", "output"),
}


def fetch(root: Any, path: str) -> Any:
    """The attribute at a dotted path (integers index lists); AttributeError if absent."""
    obj = root
    for part in path.split("."):
        if part.isdigit():
            try:
                obj = obj[int(part)]
            except (IndexError, TypeError, KeyError) as exc:
                raise AttributeError(path) from exc
        else:
            obj = getattr(obj, part)
    return obj


def _has(root: Any, path: Optional[str]) -> bool:
    if not path:
        return False
    try:
        return fetch(root, path) is not None
    except AttributeError:
        return False


def resolve_layout(module: Any, model_type: str, overrides: Iterable[tuple[str, str]] = ()) -> Layout:
    """The layout of `module`: table entry or search, then the user's map; every role checked."""
    user = dict(overrides)
    known = LAYOUTS.get(model_type)
    found: dict[str, Optional[str]] = {}
    for role, tried in _SEARCH.items():
        if role in user:
            found[role] = user[role]
            continue
        first = [getattr(known, role)] if known else []
        found[role] = next((p for p in first + list(tried) if _has(module, p)), None)
    cls = type(module).__name__
    for role in ("layers", "ln_final", "lm_head", "embed"):
        path = found[role]
        if path is None or not _has(module, path):
            where = f"'{user[role]}'" if role in user else "any of " + ", ".join(
                ([getattr(known, role)] if known else []) + list(_SEARCH[role]))
            raise UnsupportedModelError(
                f"{cls} (model_type '{model_type}') has no {_ROLE_WORDS[role]} at {where}; supply a "
                f"module map, e.g. --rename layers=model.decoder.layers,ln_final=model.decoder."
                "final_layer_norm (sidebar: Advanced > Module map)."
            )
    try:
        n_layers = len(fetch(module, found["layers"]))  # type: ignore[arg-type]
    except TypeError:
        n_layers = 0
    if n_layers < 1:
        raise UnsupportedModelError(
            f"{cls}: '{found['layers']}' is not a list of blocks; supply a module map with "
            "--rename layers=PATH (sidebar: Advanced > Module map)."
        )
    head_in = known.head_in if known and _has(module, known.head_in) else None
    layout = Layout(embed=found["embed"], layers=found["layers"], ln_final=found["ln_final"],  # type: ignore[arg-type]
                    lm_head=found["lm_head"], head_in=head_in)
    return layout


_ROLE_WORDS = {"embed": "token embeddings (embed)", "layers": "list of decoder blocks (layers)",
               "ln_final": "final norm (ln_final)", "lm_head": "output head (lm_head)"}


def rename_map(layout: Layout, extra: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """nnsight `rename`: real path -> shared name, for the roles whose name differs."""
    out: dict[str, str] = {}
    for role, path in dict(layout.roles(), **(extra or {})).items():
        if path != role:
            out[path] = role
    return out


def with_overrides(layout: Layout, overrides: Iterable[tuple[str, str]]) -> Layout:
    return replace(layout, **dict(overrides))
