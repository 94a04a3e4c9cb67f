"""Commands run in-process with a given model, and the checks every written result gets."""

from __future__ import annotations

import pandas as pd


def run_command(monkeypatch, model, args: list[str]) -> int:
    """`python -m hubcore <args>` in-process, with the model load replaced by `model`."""
    import hubcore.cli as cli

    monkeypatch.setattr(cli, "_load", lambda parsed, kind="text": model)
    return cli.main(args)


def written(out, experiment: str, columns: list[str]) -> tuple[pd.DataFrame, dict]:
    """The main CSV (checked: exactly `columns`) and the .json sidecar (checked: names the run)."""
    import json

    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(columns)
    meta = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["experiment"] == experiment and meta["command"].startswith("python -m hubcore ")
    main = next(iter(meta["tables"].values()))
    assert main["file"] == out.name and main["columns"] == columns
    return pd.read_csv(out, keep_default_na=False), meta


def assert_same_tables(local, remote, tol: float | None) -> None:
    """Every table equal; numbers within `tol` (None: identical)."""
    assert remote.meta["remote"]["target"] == "local" and local.meta["remote"]["target"] == "off"
    assert set(local.tables) == set(remote.tables)
    for name in local.tables:
        a, b = local.tables[name], remote.tables[name]
        if tol is None:
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        else:
            pd.testing.assert_frame_equal(a, b, check_exact=False, atol=tol, rtol=0)
