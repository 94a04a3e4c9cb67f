"""What each dashboard page opens on: its experiments' page-level defaults, in one place.

The CLI keeps the paper's defaults (whole data sets, 1,000 bootstrap resamples); a page opens on a
quicker or more informative setting (a 100-pair sample, the centred cosine, list commas in code).
Those settings live here, not in the page files, because two readers need the very same call:
the page (`app.blocks.on_page` starts its widgets there) and the demo bundle
(`python -m hubcore demo-bundle` computes each page's default results ahead of a talk, keyed
on exactly the arguments the page will pass). A value may be a function of the loaded model
(the default layer); the page's own widget computes the same value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .registry import Experiment, default_layer, find

HSK = "Chinese–English (HSK sentences)"
SNIPPET = "numbers = [1, 2, 3]\nfor i in range(len(numbers)):\n    print(numbers[i])"
DEFAULT_CLIP = ("en", "conf-invalid")  # the Audio page's first recording: language, prompt id


@dataclass(frozen=True)
class PageRun:
    """One experiment as a page runs it by default.

    `values`: CLI-level values where the page differs from the CLI (a callable is given the
    loaded model). `display_only`: parameters the page applies to the shown result without
    recomputing (not passed to the function). `extra`: further keyword arguments the page
    passes (a callable is given the model). `tag` names one of several runs of the same
    experiment on a page; `on_open`: computed when the page opens (else behind its Run button).
    """

    experiment: str
    values: Mapping[str, Any] = field(default_factory=dict)
    display_only: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    tag: str = ""
    on_open: bool = True

    @property
    def exp(self) -> Experiment:
        return find(self.experiment)

    def static_values(self) -> dict[str, Any]:
        """The values a page's widgets start on (model-dependent ones are the widgets' own)."""
        return {k: v for k, v in self.values.items() if not callable(v)}

    def call(self, model: Any) -> dict[str, Any]:
        """The keyword arguments the page passes at its defaults (for `model`)."""
        values = {**self.exp.defaults(), **{k: v(model) if callable(v) else v for k, v in self.values.items()}}
        kwargs, _ = self.exp.call_kwargs(values)
        for name in self.display_only:
            kwargs.pop(name, None)
        kwargs.update({k: v(model) if callable(v) else v for k, v in self.extra.items()})
        return kwargs


def _lens_example() -> dict[str, Any]:
    from .logit_lens import EXAMPLES

    text, targets = next(iter(EXAMPLES.values()))
    return {"text": text, "targets": list(targets)}


def _multilingual_templates() -> dict[str, str]:
    from .multilingual import TEMPLATES

    return {"template_a": TEMPLATES["zh"], "template_b": TEMPLATES["en"]}


def _prefixes() -> list[str]:
    from .arithmetic import DEFAULT_PREFIXES

    return list(DEFAULT_PREFIXES)


def default_clip() -> Any:
    """The Audio page's first recording (an Asterisk prompt in English)."""
    from ..audio.sounds import asterisk_clips

    lang, wanted = DEFAULT_CLIP
    clips = {c.id: c for c in asterisk_clips(lang)}
    return clips[wanted] if wanted in clips else next(iter(clips.values()))


def _steering_side() -> dict[str, Any]:
    """The Steering page's side by side: its first Spanish prompt steered with the Spanish pair
    and the English one, coefficient 5 beside the unsteered text, two seeds, no CI."""
    from ..data.steering_prompts import prompt_set
    from .actadd import PRESET_PAIRS

    native, english = PRESET_PAIRS["es"], PRESET_PAIRS["en"]
    return {"lang": "es", "presets": "", "prompt": [prompt_set("es-prefixes", 12, seed=0)[0]],
            "pair": [f"{native[0]}:{native[1]}", f"{english[0]}:{english[1]}"],
            "layers": lambda model: [default_layer(model)], "coefs": [0.0, 5.0], "seeds": 2, "n_boot": 0}


def _no_watcher(model: Any) -> Any:
    """The page streams its side by side to a watcher; a bundled run has nobody watching (every
    `Stream` is the same argument to a result cache)."""
    from .actadd import Stream

    return Stream(lambda partials: None)


def _runs() -> tuple[PageRun, ...]:
    return (
        PageRun("lens", _lens_example()),
        PageRun("similarity", {"pairs": HSK, "max_pairs": 100, **_multilingual_templates()}),
        PageRun("anchoring", {"texts": HSK, "lang": "zh", "max_texts": 40}, on_open=False),
        PageRun("languages", {"texts": HSK, "max_texts": 12}, on_open=False),
        PageRun("arithmetic similarity", {"n_boot": 500}),
        PageRun("arithmetic lens", {"n": 100}),
        PageRun("arithmetic trajectories", {"prompts": _prefixes()}),
        PageRun("semantics similarity", {"n": 60, "n_boot": 500, "metric": "centered"},
                display_only=("metric",)),
        PageRun("semantics roles", {"n": 100}, on_open=False),
        PageRun("code lists", {"sites": "code", "extra_words": ["etcétera"]}, extra={"programs": None}),
        PageRun("code roles", {"max_programs": 20}, extra={"programs": None}, on_open=False),
        PageRun("code strip", {"code": SNIPPET, "layer": default_layer}),
        PageRun("audio transcribe", {"audio": lambda model: [default_clip().path], "language": DEFAULT_CLIP[0]},
                extra={"names": lambda model: [default_clip().id]}),
        PageRun("audio similarity", {"kind": "label", "lang_a": "en", "n": 6, "n_boot": 500}, tag="label",
                on_open=False),
        PageRun("audio similarity", {"n": 6, "n_boot": 500}, tag="crosslingual", on_open=False),
        PageRun("audio lens", {"n": 12, "n_boot": 500}, on_open=False),
        PageRun("audio steer", {"n": 6, "n_boot": 500}, on_open=False),
        PageRun("sweep", _steering_side(), extra={"stream": _no_watcher}),  # the Steering side by side
        PageRun("vision align", {"n": 20}, on_open=False),  # needs a VLM: never bundled
    )


_cache: Optional[tuple[PageRun, ...]] = None


def page_runs() -> tuple[PageRun, ...]:
    """Every page run (built once: it reads the experiments' example tables)."""
    global _cache
    if _cache is None:
        _cache = _runs()
    return _cache


def page_run(experiment: str, tag: str = "") -> Optional[PageRun]:
    return next((r for r in page_runs() if r.experiment == experiment and r.tag == tag), None)


def page_values(experiment: str, tag: str = "") -> dict[str, Any]:
    """The page's own (static) defaults of `experiment`, {} when it opens on the CLI's."""
    run = page_run(experiment, tag)
    return run.static_values() if run is not None else {}


