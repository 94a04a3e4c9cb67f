"""The error a scorer raises when it cannot run on this machine (its package or data files are
not installed), apart from bad input: callers catch this one to keep what they generated and
leave that score empty, with one warning, instead of losing the run."""

from __future__ import annotations

from ..errors import InputError


class ScorerUnavailable(InputError):
    """A scorer's package or data is missing here; the message names the install step."""
