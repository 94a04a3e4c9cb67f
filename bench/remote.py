"""Remote dry-run overhead: every experiment run locally and through the remote path
(`remote="local"`: serialised as for NDIF, deserialised with this project hidden, results back
through the server's encoding), on the embedded models, ratios measured in this one run.

For each registered text and speech experiment (quick parameters from
`hubcore.experiments.quick.QUICK`; vision needs a user's VLM and is skipped) it prints the local
time, the dry-run time, their ratio, the number of traces (remote jobs) and the bytes shipped each
way, and checks that the two runs' tables are equal.

Run: python bench/remote.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import time

import common  # noqa: F401  (puts the project on sys.path)

import numpy as np
import pandas as pd
import torch


def same_tables(a, b) -> bool:
    """Tables equal as in tests/model/test_remote_default.py: numbers within 1e-6 (relative and
    absolute), exact elsewhere."""
    for name, left in a.tables.items():
        right = b.tables[name]
        if list(left.columns) != list(right.columns) or len(left) != len(right):
            return False
        for col in left.columns:
            x, y = left[col].to_numpy(), right[col].to_numpy()
            if np.issubdtype(x.dtype, np.number) and np.issubdtype(y.dtype, np.number):
                if not np.allclose(x.astype(float), y.astype(float), rtol=1e-6, atol=1e-6, equal_nan=True):
                    return False
            elif not pd.Series(x).equals(pd.Series(y)):
                return False
    return True


def main() -> None:
    from hubcore.experiments.quick import QUICK
    from hubcore.experiments.registry import find
    from hubcore.models import ModelSpec, get_model
    from hubcore.models.remote import TRAFFIC

    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None)
    names = parser.parse_args().only or list(QUICK)
    torch.set_num_threads(2)
    models = {kind: get_model(ModelSpec(kind=kind)) for kind in ("text", "speech")}
    rows = []
    for name in names:
        exp = find(name)
        model = models[exp.kind]
        kwargs, _ = exp.call_kwargs(QUICK[name])
        exp.func(model, **kwargs)  # warm-up: data loading, caches, first-call costs
        start = time.perf_counter()
        local = exp.func(model, **kwargs)
        t_local = time.perf_counter() - start
        before = (TRAFFIC.requests, TRAFFIC.sent, TRAFFIC.received)
        start = time.perf_counter()
        dry = exp.func(model.variant("local"), **kwargs)
        t_dry = time.perf_counter() - start
        jobs = TRAFFIC.requests - before[0]
        sent, got = TRAFFIC.sent - before[1], TRAFFIC.received - before[2]
        rows.append((name, t_local, t_dry, t_dry / t_local, jobs, sent, got, same_tables(local, dry)))
        print(f"{name:<26} local {t_local:7.2f} s  dry run {t_dry:7.2f} s  ratio {t_dry / t_local:5.2f}x  "
              f"jobs {jobs:3d}  sent {sent / 1e6:7.2f} MB  back {got / 1e6:7.2f} MB  "
              f"equal {'yes' if rows[-1][-1] else 'NO'}", flush=True)
    ratios = [r[3] for r in rows]
    print(f"\nmedian dry-run / local ratio {np.median(ratios):.2f}x (min {min(ratios):.2f}x, "
          f"max {max(ratios):.2f}x) over {len(rows)} experiments; all equal: {all(r[-1] for r in rows)}")


if __name__ == "__main__":
    main()
