"""Formal semantics (§3.4): the COGS-style generator, sentence-vs-LF similarity, thematic roles."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hubcore.data.cogs import (
    CONSTRUCTIONS,
    DATIVE,
    NAMES,
    TRANSITIVE,
    UNACCUSATIVE,
    UNERGATIVE,
    Example,
    generate,
    make_example,
    role_positions,
    shuffle_conjuncts,
    swap_names,
    to_cogs,
    to_compact,
    with_random_names,
)
from hubcore.errors import InputError

# ----------------------------------------------------------------------------- generator


def test_exact_lf_of_double_object_dative():
    e = make_example("dative_do", "sell", agent="Eleanor", recipient="Evelyn", theme="the cake")
    assert e.sentence == "Eleanor sold Evelyn the cake."
    assert e.cogs == ("* cake ( x _ 4 ) ; sell . agent ( x _ 1 , Eleanor ) AND sell . recipient "
                      "( x _ 1 , Evelyn ) AND sell . theme ( x _ 1 , x _ 4 )")
    assert e.lf == ("*cake(x4); sell.agent(x1, Eleanor) AND sell.recipient(x1, Evelyn) AND "
                    "sell.theme(x1, x4)")
    assert e.names == ("Eleanor", "Evelyn") and e.construction == "dative_do" and e.verb == "sell"


def test_exact_lf_of_passive_and_pp_dative():
    # COGS: "A rose was helped by a dog ." (indefinite nouns are conjuncts, in position order)
    p = make_example("passive", "help", agent="a dog", theme="a rose")
    assert p.sentence == "A rose was helped by a dog."
    assert p.cogs == ("rose ( x _ 1 ) AND help . theme ( x _ 3 , x _ 1 ) AND help . agent "
                      "( x _ 3 , x _ 6 ) AND dog ( x _ 6 )")
    p2 = make_example("passive", "eat", agent="Emma", theme="the cake")
    assert p2.sentence == "The cake was eaten by Emma."
    assert p2.lf == "*cake(x1); eat.theme(x3, x1) AND eat.agent(x3, Emma)"
    pp = make_example("dative_pp", "sell", agent="Eleanor", recipient="Evelyn", theme="the cake")
    assert pp.sentence == "Eleanor sold the cake to Evelyn."
    assert pp.cogs == ("* cake ( x _ 3 ) ; sell . agent ( x _ 1 , Eleanor ) AND sell . theme "
                       "( x _ 1 , x _ 3 ) AND sell . recipient ( x _ 1 , Evelyn )")
    t = make_example("transitive", "eat", agent="Emma", theme="the cake")
    assert t.lf == "*cake(x3); eat.agent(x1, Emma) AND eat.theme(x1, x3)"
    u = make_example("unaccusative", "roll", theme="a ball")
    assert u.cogs == "ball ( x _ 1 ) AND roll . theme ( x _ 2 , x _ 1 )"


def test_compact_and_cogs_renderings_round_trip():
    for e in generate(50, seed=3):
        assert to_compact(e.cogs) == e.lf
        assert to_cogs(e.lf) == e.cogs
        assert to_compact(e.lf) == e.lf


def _verb_forms() -> dict[str, set[str]]:
    forms: dict[str, set[str]] = {}
    for table in (TRANSITIVE, DATIVE, UNERGATIVE, UNACCUSATIVE):
        for v in table.values():
            forms.setdefault(v.lemma, set()).update({v.past, v.participle})
    return forms


def test_lf_variables_are_word_positions():
    forms = _verb_forms()
    examples = generate(300, seed=11)
    assert {e.construction for e in examples} == set(CONSTRUCTIONS)
    for e in examples:
        words = e.cogs_sentence.split()
        assert words[-1] == "."
        for star, pred, args in re.findall(r"(\*?)([\w.]+)\(([^)]*)\)", e.lf):
            args = [a.strip() for a in args.split(",")]
            first = int(args[0][1:])
            if "." in pred:  # verb.role(x_event, arg)
                verb, role = pred.split(".")
                assert role in ("agent", "recipient", "theme")
                assert words[first] in forms[verb], (e.sentence, e.lf)
                arg = args[1]
                if arg.startswith("x"):
                    assert words[int(arg[1:]) - 1].lower() in ("the", "a"), (e.sentence, e.lf)
                else:
                    assert arg in NAMES and arg in words and arg in e.names
            else:  # noun(x_i): the noun at i, "*" exactly when its determiner is "the"
                assert words[first] == pred, (e.sentence, e.lf)
                assert (words[first - 1].lower() == "the") == (star == "*"), (e.sentence, e.lf)
        assert e.names == tuple(w.rstrip(".") for w in words if w.rstrip(".") in NAMES)


def test_swap_names_changes_exactly_the_two_names():
    for e in generate(60, seed=4, min_names=2):
        s = swap_names(e)
        assert s.sentence == e.sentence and s.names == e.names
        a, b = e.names
        before, after = e.cogs.split(), s.cogs.split()
        assert len(before) == len(after)
        changed = [(x, y) for x, y in zip(before, after) if x != y]
        assert sorted(changed) == sorted([(a, b), (b, a)])
    with pytest.raises(InputError):
        swap_names(make_example("transitive", "eat", agent="Emma", theme="the cake"))


def test_shuffle_keeps_conjuncts_and_prefixes():
    e = make_example("dative_do", "sell", agent="Eleanor", recipient="Evelyn", theme="the cake")
    for seed in range(5):
        s = shuffle_conjuncts(e.lf, seed)
        assert s != e.lf and s.startswith("*cake(x4); ")
        assert sorted(s.split("; ")[1].split(" AND ")) == sorted(e.lf.split("; ")[1].split(" AND "))
        c = shuffle_conjuncts(e.cogs, seed)
        assert c.startswith("* cake ( x _ 4 ) ; ") and to_compact(c) == s
    assert shuffle_conjuncts("run.agent(x1, Emma)", 0) == "run.agent(x1, Emma)"


def test_generation_is_deterministic_by_seed():
    assert generate(40, seed=7) == generate(40, seed=7)
    assert generate(40, seed=7) != generate(40, seed=8)
    two = generate(40, seed=1, min_names=2)
    assert all(len(set(e.names)) == 2 for e in two)
    assert len({e.sentence for e in two}) == 40


def test_random_names_and_role_positions():
    e = make_example("passive_dative_pp", "sell", agent="Eleanor", recipient="Evelyn",
                     theme="the cake")
    assert e.sentence == "The cake was sold to Evelyn by Eleanor."
    roles = role_positions(e)
    assert [(r.name, r.role) for r in roles] == [("Evelyn", "recipient"), ("Eleanor", "agent")]
    assert all(e.sentence[r.start:r.start + len(r.name)] == r.name for r in roles)
    r = with_random_names(e, random.Random(0))
    assert set(r.names).isdisjoint(e.names) and len(set(r.names)) == 2
    assert r.lf == e.lf.replace("Evelyn", r.names[0]).replace("Eleanor", r.names[1])
    assert [x.role for x in role_positions(r)] == ["recipient", "agent"]
    # a sentence-initial name is no reading position
    d = make_example("dative_do", "sell", agent="Eleanor", recipient="Evelyn", theme="the cake")
    assert [(x.name, x.role, x.start) for x in role_positions(d)] == [("Evelyn", "recipient", 13)]


def test_examples_from_pairs_guesses_names():
    from hubcore.experiments.semantics import examples_from_pairs

    exs = examples_from_pairs([
        ("Emma ate the cake .", "* cake ( x _ 3 ) ; eat . agent ( x _ 1 , Emma ) AND eat . theme ( x _ 1 , x _ 3 )"),
        ("Liam helped Ava.", "help.agent(x1, Liam) AND help.theme(x1, Ava)"),
        ("The cat slept.", "sleep(agent=cat)"),
    ])
    assert [e.names for e in exs] == [("Emma",), ("Liam", "Ava"), ()]
    assert swap_names(exs[1]).lf == "help.agent(x1, Ava) AND help.theme(x1, Liam)"
    with pytest.raises(InputError):
        examples_from_pairs([(" ", "x")])


# ----------------------------------------------------------------------------- tiny models


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_lf_similarity_shapes_and_nonmatching_on_tiny(tiny_model, family):
    from hubcore.experiments.semantics import lf_similarity, metric_rows, model_lf
    from hubcore.trace import capture_last

    model = tiny_model(family)
    rep = lf_similarity(model, n=10, seed=2, n_boot=30)
    n_layers = model.num_layers + 1
    assert list(rep.curves.columns) == ["layer", "metric", "baseline", "adjusted", "ci_low", "ci_high"]
    assert len(rep.curves) == 2 * 3 * n_layers and rep.n == rep.n_swap == 10
    assert list(rep.csv_frame().columns) == ["layer", "baseline", "adjusted", "ci_low", "ci_high"]
    assert rep.csv_frame().equals(metric_rows(rep.curves, "raw"))  # the main table: --metric raw
    assert len(metric_rows(rep.curves, "centered")) == 3 * n_layers
    a = capture_last(model, [e.sentence for e in rep.examples])
    b = capture_last(model, [model_lf(e) for e in rep.examples])
    raw = metric_rows(rep.curves, "raw").set_index(["baseline", "layer"])
    cen = metric_rows(rep.curves, "centered").set_index(["baseline", "layer"])
    eye = torch.eye(10, dtype=torch.bool)
    for layer in (1, model.num_layers):
        sim = F.normalize(a[:, layer].double(), dim=-1) @ F.normalize(b[:, layer].double(), dim=-1).T
        want = sim[eye].mean() - sim[~eye].mean()
        assert abs(raw.loc[("nonmatching", layer), "adjusted"] - want.item()) < 1e-6
        ac, bc = a[:, layer].double(), b[:, layer].double()
        sim_c = F.normalize(ac - ac.mean(0), dim=-1) @ F.normalize(bc - bc.mean(0), dim=-1).T
        want_c = sim_c[eye].mean() - sim_c[~eye].mean()
        assert abs(cen.loc[("nonmatching", layer), "adjusted"] - want_c.item()) < 1e-6
    # swapped_names: the paired difference, computed directly
    s = capture_last(model, [model_lf(swap_names(e)) for e in rep.examples])
    layer = model.num_layers
    direct = (F.cosine_similarity(a[:, layer].double(), b[:, layer].double(), dim=-1)
              - F.cosine_similarity(a[:, layer].double(), s[:, layer].double(), dim=-1)).mean()
    assert abs(raw.loc[("swapped_names", layer), "adjusted"] - direct.item()) < 1e-6


def test_lf_similarity_uploaded_pairs_without_names(tiny_model):
    from hubcore.experiments.semantics import lf_similarity

    exs = [Example("The cat slept.", "sleep.agent(x2, x1) AND cat(x1)"),
           Example("A dog ran.", "run.agent(x2, x1) AND dog(x1)"),
           Example("Emma helped Liam.", "help.agent(x1, Emma) AND help.theme(x1, Liam)",
                   names=("Emma", "Liam"))]
    rep = lf_similarity(tiny_model("llama"), examples=exs, n_boot=10)
    assert set(rep.curves.baseline) == {"nonmatching"} and rep.n_swap == 0 and rep.notes


def test_thematic_roles_shapes_on_tiny(tiny_model):
    from hubcore.experiments.semantics import thematic_roles

    model = tiny_model("llama")
    rep = thematic_roles(model, n=12, seed=1, n_boot=20)
    assert list(rep.curves.columns) == ["layer", "gold_role", "read_role", "mean_prob", "ci_low",
                                        "ci_high", "adjusted"]
    n_layers = model.num_layers + 1
    assert len(rep.curves) == len(set(rep.curves.gold_role)) * 3 * n_layers
    assert rep.n_positions == len(rep.positions) >= 12
    # the names were replaced by random other names first
    assert all(name in ex.names for name, ex in zip(rep.positions.name,
                                                    (rep.examples[i] for i in rep.positions.item)))
    # adjusted = mean_prob minus that read role's mean over every position of the layer
    gold = rep.positions.gold_role.value_counts()
    for (layer, read), grp in rep.curves.groupby(["layer", "read_role"]):
        prior = grp.mean_prob - grp.adjusted
        assert np.allclose(prior, prior.iloc[0], atol=1e-9)
        weighted = sum(gold[g] * m for g, m in zip(grp.gold_role, grp.mean_prob)) / gold.sum()
        assert abs(prior.iloc[0] - weighted) < 1e-6


# ----------------------------------------------------------------------------- default model


@pytest.mark.default_model
def test_lf_similarity_on_default_model(default_model):
    from hubcore.experiments.semantics import lf_similarity, metric_rows

    rep = lf_similarity(default_model, n=40, seed=0, n_boot=200)
    n_layers = default_model.num_layers + 1
    assert len(rep.curves) == 2 * 3 * n_layers and rep.n_swap == 40
    c = rep.curves[rep.curves.layer > 0]
    assert (c.ci_low <= c.adjusted + 1e-9).all() and (c.adjusted <= c.ci_high + 1e-9).all()
    assert (c.ci_low < c.ci_high).all()
    # measured (n=40 and n=200): in the top layers a sentence is closer to its own LF than to
    # other sentences' LFs (centred), and swapping the two names removes almost none of that:
    # what is shared is the words, not the meaning
    cen = metric_rows(rep.curves, "centered").set_index(["baseline", "layer"])
    top = range(13, default_model.num_layers + 1)
    assert all(cen.ci_low[("nonmatching", l)] > 0 for l in top)
    assert all(abs(cen.adjusted[("swapped_names", l)]) < 0.25 * cen.adjusted[("nonmatching", l)]
               for l in top)


@pytest.mark.default_model
def test_thematic_roles_on_default_model(default_model):
    from hubcore.experiments.semantics import thematic_roles

    rep = thematic_roles(default_model, n=40, seed=0, n_boot=200)
    assert set(rep.curves.gold_role) == {"agent", "recipient", "theme"}
    assert set(rep.curves.read_role) == {"agent", "recipient", "theme"}
    assert len(rep.curves) == 3 * 3 * (default_model.num_layers + 1)
    c = rep.curves
    assert (c.ci_low <= c.mean_prob + 1e-9).all() and (c.mean_prob <= c.ci_high + 1e-9).all()
    assert ((c.mean_prob >= 0) & (c.mean_prob <= 1)).all()
    # Gemma reads " agent" etc. as single tokens after a space
    assert set(rep.variants.variant) <= {"space", "no-space"}
    # the reading position is the token right before the name: "by" for every passive agent
    assert rep.positions.read_token.str.strip().str.len().gt(0).all()
    agents = rep.positions[rep.positions.gold_role == "agent"]
    assert len(agents) and (agents.read_token.str.strip() == "by").all()
