"""The lens choice every lens-based experiment takes (`--lens logit|tuned|patchscope`): one
`Param` for the CLI, the pages and URLs, and one check, so every command says the same thing
about a lens that cannot apply."""

from __future__ import annotations

from ..errors import InputError
from ..lens import LENS_HELP, LENSES, check_lens
from .registry import Param

LENS = Param("lens", "how each layer is read: " + LENS_HELP, choices=LENSES)
PATCHSCOPE_LAYER = Param("patchscope_layer", "patchscope only: the identity prompt's layer each state is "
                         "written at (default: the state's own layer)", type=int, low=0, high=10_000,
                         metavar="LAYER")


def checked_lens(lens: str, raw: bool = False) -> str:
    """`lens`, checked against the raw toggle (raw readings are a logit-lens option)."""
    return check_lens(str(lens or "logit"), apply_norm=not raw)


def logit_only(lens: str, what: str, why: str) -> None:
    """One sentence where only the logit lens applies (speech, vision)."""
    if str(lens or "logit") != "logit":
        check_lens(str(lens))
        raise InputError(f"{what} reads through the logit lens only: {why}.")
