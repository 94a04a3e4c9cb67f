"""Watching what a function is called with, without changing what it does."""

from __future__ import annotations

from typing import Any, Callable


def watch_calls(monkeypatch: Any, owner: Any, name: str, seen: Callable[..., None]) -> None:
    """Replace `owner.name` (for this test) by a wrapper that shows `seen` each call's arguments,
    then runs the real function and returns what it returns."""
    real = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen(*args, **kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
