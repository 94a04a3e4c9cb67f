"""Experiments: one module per page, each function registered with `registry.experiment` and
returning a `Result`. Importing this package registers all of them (`ALL_MODULES`)."""

from importlib import import_module

MODULES = ("logit_lens", "arithmetic", "semantics", "multilingual", "anchoring", "code", "actadd", "audio",
           "vision", "checkup", "lenses", "patching", "latent_language")
ALL_MODULES = [import_module(f"{__name__}.{name}") for name in MODULES]
