"""Anchor planes and hidden-state trajectories (the paper's Figure 6).

A plane is fitted by PCA on the unembedding rows (LM head weights) of a few anchor tokens, e.g.
"0".."9" and "zero".."nine"; the last-token hidden state of a prompt at every layer is then
projected onto it, tracing a path from the input towards the output token.

Geometry: both sides live on the unit sphere. Each anchor row is unit-normalised before the PCA,
and each hidden state goes through the lens's final norm (`model.readout.norm`, as the logit lens
does) and is then unit-normalised before `pca.transform`. The dot product with an anchor row is
then the cosine that the (bias-free) logit lens ranks by, so a state near an anchor on the plane
is one whose lens reading leans towards that token. The paper's code instead standardises the
hidden states and projects them onto PCA components of the raw anchor rows; that mixes two
scales, which makes the picture depend on the norms of individual rows and states.

The experiment over these pieces (plane + paths as one `Result`) is `arithmetic trajectories`
in `hubcore.experiments.arithmetic`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np
import pandas as pd

from .errors import InputError
from .progress import Progress, scaled

if TYPE_CHECKING:
    from .models.handle import Handle as HubModel

MAX_ANCHORS = 200
MAX_TEXTS = 200


@dataclass
class AnchorPlane:
    """A PCA fitted on unit-normalised unembedding rows of anchor tokens."""

    labels: list[str]  # the words as given (stripped)
    token_ids: list[int]  # the unembedding row used for each word
    tokens: list[str]  # that token decoded on its own (leading space kept)
    forms: list[str]  # "space" or "no-space": which surface form the token came from
    whole_word: list[bool]  # True when that surface form is a single token (else: its first token)
    pca: Any  # sklearn.decomposition.PCA
    coords: np.ndarray  # [K, n_components]: the anchors on the plane
    rows: np.ndarray = field(repr=False)  # [K, d] unit-normalised unembedding rows (float32)

    @property
    def explained_variance_ratio(self) -> np.ndarray:
        return np.asarray(self.pca.explained_variance_ratio_)

    def frame(self) -> pd.DataFrame:
        """One row per anchor: label, token, x, y (and token_id, form, whole_word)."""
        return pd.DataFrame({
            "label": self.labels,
            "token": self.tokens,
            "x": self.coords[:, 0].astype(float),
            "y": self.coords[:, 1].astype(float) if self.coords.shape[1] > 1 else 0.0,
            "token_id": self.token_ids,
            "form": self.forms,
            "whole_word": self.whole_word,
        })


def anchor_token(tokenizer: Any, word: str) -> tuple[int, str, bool]:
    """(token id, form, whole_word) of `word`: " word" when that is a single token, else the first
    token of "word" without the space (Gemma writes " 5" as "▁" + "5", so digits use "5")."""
    stripped = word.strip()
    spaced = tokenizer(" " + stripped, add_special_tokens=False)["input_ids"]
    if len(spaced) == 1:
        return int(spaced[0]), "space", True
    bare = tokenizer(stripped, add_special_tokens=False)["input_ids"]
    if not bare:
        raise InputError(f"The anchor word '{stripped}' produces no token with this tokenizer.")
    return int(bare[0]), "no-space", len(bare) == 1


def _unembedding_rows(model: "HubModel", ids: Sequence[int]) -> np.ndarray:
    from .steering.vectors import unembedding_rows

    if getattr(model.readout.head, "weight", None) is None:
        raise InputError("This model's LM head has no weight matrix to take anchor directions from.")
    return unembedding_rows(model, ids).numpy()


def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def anchor_plane(model: "HubModel", words: Sequence[str], n_components: int = 2) -> AnchorPlane:
    """Fit a PCA plane on the unit unembedding rows of `words` (any words: digits, colours, days...)."""
    from sklearn.decomposition import PCA

    if isinstance(words, str):
        raise InputError("Give the anchor words as a list, not one string.")
    words = list(words)
    if n_components < 1:
        raise InputError("The plane needs at least one component.")
    if len(words) < n_components + 1:
        raise InputError(
            f"Give at least {n_components + 1} anchor words for a {n_components}-component plane "
            f"(got {len(words)})."
        )
    if len(words) > MAX_ANCHORS:
        raise InputError(f"At most {MAX_ANCHORS} anchor words, not {len(words)}.")
    labels: list[str] = []
    for i, w in enumerate(words):
        if not isinstance(w, str) or not w.strip():
            raise InputError(f"Anchor word #{i + 1} is empty: every anchor needs some text.")
        labels.append(w.strip())
    tok = model.tokenizer
    picked = [anchor_token(tok, w) for w in labels]
    ids = [p[0] for p in picked]
    owner: dict[int, str] = {}
    for label, tid in zip(labels, ids):
        if tid in owner:
            shown = tok.decode([tid], clean_up_tokenization_spaces=False)
            raise InputError(
                f"Anchor words '{owner[tid]}' and '{label}' map to the same token {shown!r} "
                f"(id {tid}); each anchor needs its own token."
            )
        owner[tid] = label
    rows = _unit(_unembedding_rows(model, ids))
    if n_components > rows.shape[1]:
        raise InputError(f"A plane of this model has at most {rows.shape[1]} components.")
    pca = PCA(n_components=n_components, svd_solver="full")
    coords = pca.fit_transform(rows).astype(np.float32)
    return AnchorPlane(
        labels=labels,
        token_ids=ids,
        tokens=[tok.decode([t], clean_up_tokenization_spaces=False) for t in ids],
        forms=[p[1] for p in picked],
        whole_word=[p[2] for p in picked],
        pca=pca,
        coords=coords,
        rows=rows.astype(np.float32),
    )


def normed_unit_states(model: "HubModel", states: Any) -> np.ndarray:
    """`states` `[..., d]` through the lens's final norm, then unit length (float32 numpy)."""
    import torch

    norm = model.readout.norm
    param = next(norm.parameters(), None)
    if param is None:  # a parameter-free norm: follow the head
        param = next(model.readout.head.parameters())
    x = torch.as_tensor(np.asarray(states) if not torch.is_tensor(states) else states)
    with model.lock, torch.inference_mode():
        h = norm(x.to(device=param.device, dtype=param.dtype)).to(torch.float32).cpu()
    out = h.numpy()
    return _unit(out)


def project_states(model: "HubModel", plane: AnchorPlane, states: Any) -> np.ndarray:
    """Project hidden states `[N, n_layers, d]` onto `plane`: `[N, n_layers, n_components]`.

    Each state is final-normed (as the logit lens does) and unit-normalised, so a state's scale
    never moves its point; then `plane.pca.transform` (the same centring and axes as the anchors).
    """
    shape = tuple(getattr(states, "shape", np.shape(states)))
    if len(shape) != 3:
        raise InputError(f"States must be [texts, layers, width]; got shape {shape}.")
    n, n_layers, d = shape
    if d != plane.rows.shape[1]:
        raise InputError(f"States have width {d} but the anchor plane was fitted on width {plane.rows.shape[1]}.")
    if n == 0 or n_layers == 0:
        return np.zeros((n, n_layers, plane.pca.n_components_), dtype=np.float32)
    unit = normed_unit_states(model, states).reshape(n * n_layers, d)
    flat = plane.pca.transform(unit).astype(np.float32)
    return flat.reshape(n, n_layers, -1)


def project_normed(plane: AnchorPlane, normed: Any) -> np.ndarray:
    """`project_states` for states already through the final norm (captured with `normed=True`)."""
    arr = np.asarray(normed, dtype=np.float32)
    n, n_layers, d = arr.shape
    if n == 0 or n_layers == 0:
        return np.zeros((n, n_layers, plane.pca.n_components_), dtype=np.float32)
    flat = plane.pca.transform(_unit(arr).reshape(n * n_layers, d)).astype(np.float32)
    return flat.reshape(n, n_layers, -1)


def trace_paths(
    model: "HubModel",
    texts: Sequence[str],
    plane: AnchorPlane,
    progress: Optional[Progress] = None,
) -> pd.DataFrame:
    """Each text's last-token path across layers 0..L on `plane` (the paper's Figure 6).

    One row per (text, layer): text, layer, x, y, top_token (the logit lens's top-1 token there,
    its leading space kept), text_index, top_id. The states are final-normed inside the trace (as
    the lens reads them), so only `[N, L+1, d]` leaves it and the same call runs on NDIF.
    """
    from .lens import lens_at
    from .tokens import encode
    from .trace import capture_encoded

    texts = list(texts)
    if not texts:
        raise InputError("No texts to trace: give at least one prompt.")
    if len(texts) > MAX_TEXTS:
        raise InputError(f"At most {MAX_TEXTS} texts at once, not {len(texts)}.")
    encoded = encode(model.tokenizer, texts)
    normed = capture_encoded(model, encoded, positions="last", normed=True,
                             progress=scaled(progress, 0.0, 0.5)).stacked()
    coords = project_normed(plane, normed)
    lens = lens_at(model, encoded, positions="last", top_k=1, progress=scaled(progress, 0.55, 1.0))
    top_ids = lens.top_ids[:, :, 0].T.numpy()  # [N, n_layers]
    tok = model.tokenizer
    vocab_text = {int(i): tok.decode([int(i)], clean_up_tokenization_spaces=False)
                  for i in np.unique(top_ids)}
    n, n_layers = top_ids.shape
    return pd.DataFrame({
        "text": np.repeat(np.array(texts, dtype=object), n_layers),
        "layer": np.tile(np.arange(n_layers), n),
        "x": coords[:, :, 0].reshape(-1).astype(float),
        "y": coords[:, :, 1].reshape(-1).astype(float),
        "top_token": [vocab_text[int(i)] for i in top_ids.reshape(-1)],
        "text_index": np.repeat(np.arange(n), n_layers),
        "top_id": top_ids.reshape(-1).astype(int),
    })
