"""Every registered experiment on the embedded models equals itself through the remote dry run
(`remote="local"`: serialised as for NDIF, deserialised with this project hidden, run the way a
server runs it). Quick parameters from `hubcore.experiments.quick`; vision needs a user's VLM (its
dry-run equality is checked on tiny VLMs in tests/unit/test_vision_remote.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hubcore.experiments.quick import QUICK
from hubcore.experiments.registry import find
from hubcore.models import ModelSpec, get_model
from hubcore.models.remote import TRAFFIC

pytestmark = pytest.mark.default_model


def assert_same_tables(local, dry) -> None:
    """Same tables: identical text and integer columns, floats within 1e-6 (relative)."""
    assert set(local.tables) == set(dry.tables)
    for name, a in local.tables.items():
        b = dry.tables[name]
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        for col in a.columns:
            x, y = a[col].to_numpy(), b[col].to_numpy()
            if x.dtype.kind == "f" or y.dtype.kind == "f":
                np.testing.assert_allclose(x.astype(float), y.astype(float), rtol=1e-6, atol=1e-6,
                                           err_msg=f"{name}.{col}")
            else:
                assert pd.Series(x).equals(pd.Series(y)), f"{name}.{col}"


@pytest.mark.parametrize("name", sorted(QUICK))
def test_experiment_equals_its_remote_dry_run(name, default_model):
    exp = find(name)
    model = default_model if exp.kind == "text" else get_model(ModelSpec(kind=exp.kind))
    kwargs, _ = exp.call_kwargs(QUICK[name])
    local = exp.func(model, **kwargs)
    before = TRAFFIC.requests
    dry = exp.func(model.variant("local"), **kwargs)
    assert TRAFFIC.requests > before, "the dry run must go through the remote path"
    assert dry.meta["remote"]["target"] == "local" and dry.meta["remote"]["requests"] > 0
    assert_same_tables(local, dry)
