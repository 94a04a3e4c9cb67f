"""COGS-style sentences with Neo-Davidsonian logical forms (paper §3.4, Figures 9-10).

COGS (Kim & Linzen 2020) is not in any package registry, so a small seeded grammar writes data in
its format. The LF conventions follow COGS exactly:

- variables are word positions, counted from 0 with the final period as a word
  ("Eleanor sold Evelyn the cake ." -> Eleanor 0, sold 1, Evelyn 2, the 3, cake 4);
- a definite noun becomes a "* noun ( x _ i ) ;" prefix (in sentence order), an indefinite one a
  "noun ( x _ i )" conjunct; proper names are constants inside the role predicates;
- the conjuncts are ordered by the position of their first variable, the role predicates of the
  verb in the surface order of their arguments: "A rose was helped by a dog ." ->
  "rose ( x _ 1 ) AND help . theme ( x _ 3 , x _ 1 ) AND help . agent ( x _ 3 , x _ 6 ) AND
  dog ( x _ 6 )"; passives take the participle's position as the event variable.

Two renderings of the same LF:

- COGS spacing (`Example.cogs`): "* cake ( x _ 4 ) ; sell . agent ( x _ 1 , Eleanor ) AND ..."
- compact (`Example.lf`): "*cake(x4); sell.agent(x1, Eleanor) AND sell.recipient(x1, Evelyn) AND
  sell.theme(x1, x4)". The compact form is what the pages show and what the experiments feed the
  model by default: it reads like code a model has seen, and the COGS spacing (one token per
  symbol) mostly lengthens the input. `to_cogs` / `to_compact` convert either way.

Sentences are written naturally ("Emma ate the cake.", period attached); `Example.cogs_sentence`
is the COGS tokenisation ("Emma ate the cake .") whose word indices the variables refer to.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Optional, Sequence

from ..errors import InputError

NAMES: tuple[str, ...] = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Ethan", "Sophia", "Mason", "Isabella", "Lucas",
    "Mia", "Oliver", "Charlotte", "Elijah", "Amelia", "James", "Harper", "Benjamin", "Evelyn",
    "William", "Abigail", "Henry", "Emily", "Jacob", "Ella", "Michael", "Avery", "Daniel",
    "Scarlett", "Logan", "Grace", "Jack", "Chloe", "David", "Lily", "Samuel", "Eleanor", "Joseph",
    "Hannah", "Owen",
)

ANIMATE: tuple[str, ...] = ("girl", "boy", "cat", "dog", "teacher", "baby", "sailor", "captain",
                            "child", "doctor", "farmer", "monkey")
FOOD: tuple[str, ...] = ("cake", "cookie", "donut", "muffin", "sandwich", "pie", "lemon", "pizza")
THINGS: tuple[str, ...] = ("box", "ball", "book", "pencil", "bottle", "cup", "hat", "rose", "key")
BAKED: tuple[str, ...] = ("cake", "cookie", "donut", "muffin", "pie", "pizza")


@dataclass(frozen=True)
class Verb:
    lemma: str
    past: str
    participle: str
    themes: tuple[str, ...]  # common nouns that can be its theme
    person_theme: bool = False  # can a proper name / animate noun be the theme?


def _v(lemma: str, past: str, part: str, themes: tuple[str, ...], person: bool = False) -> Verb:
    return Verb(lemma, past, part, themes, person)


# Transitive verbs (agent, theme).
TRANSITIVE: dict[str, Verb] = {v.lemma: v for v in (
    _v("eat", "ate", "eaten", FOOD),
    _v("bake", "baked", "baked", BAKED),
    _v("throw", "threw", "thrown", THINGS + FOOD),
    _v("see", "saw", "seen", ANIMATE + THINGS + FOOD, True),
    _v("like", "liked", "liked", ANIMATE + THINGS + FOOD, True),
    _v("help", "helped", "helped", ANIMATE, True),
    _v("find", "found", "found", ANIMATE + THINGS + FOOD, True),
    _v("draw", "drew", "drawn", ANIMATE + THINGS, True),
    _v("paint", "painted", "painted", ANIMATE + THINGS, True),
)}
# Dative verbs (agent, recipient, theme); the theme is always a thing.
DATIVE: dict[str, Verb] = {v.lemma: v for v in (
    _v("sell", "sold", "sold", THINGS + FOOD),
    _v("give", "gave", "given", THINGS + FOOD),
    _v("lend", "lent", "lent", THINGS),
    _v("send", "sent", "sent", THINGS + FOOD),
    _v("hand", "handed", "handed", THINGS + FOOD),
    _v("offer", "offered", "offered", THINGS + FOOD),
    _v("throw", "threw", "thrown", THINGS + FOOD),
)}
# Intransitives: unergative (the subject is the agent) and unaccusative (the subject is the theme).
UNERGATIVE: dict[str, Verb] = {v.lemma: v for v in (
    _v("sleep", "slept", "slept", ()), _v("smile", "smiled", "smiled", ()),
    _v("laugh", "laughed", "laughed", ()),
)}
UNACCUSATIVE: dict[str, Verb] = {v.lemma: v for v in (
    _v("roll", "rolled", "rolled", THINGS + FOOD), _v("break", "broke", "broken", THINGS),
    _v("melt", "melted", "melted", FOOD),
)}

CONSTRUCTIONS: tuple[str, ...] = (
    "transitive",  # Emma ate the cake.
    "passive",  # The cake was eaten by Emma.
    "dative_do",  # Eleanor sold Evelyn the cake.
    "dative_pp",  # Eleanor sold the cake to Evelyn.
    "passive_dative",  # Evelyn was sold the cake by Eleanor.
    "passive_dative_pp",  # The cake was sold to Evelyn by Eleanor.
    "unaccusative",  # The cake rolled.
    "unergative",  # Emma smiled.
)
# Constructions that can hold two proper names (the swap baselines need two).
TWO_NAME_CONSTRUCTIONS: tuple[str, ...] = CONSTRUCTIONS[:6]
ROLES: tuple[str, ...] = ("agent", "recipient", "theme")


@dataclass(frozen=True)
class Example:
    """One sentence and its logical form (compact rendering; `cogs` gives the COGS spacing).

    `names`: the proper names of the sentence in sentence order. Frozen, so tuples of examples
    can key caches.
    """

    sentence: str
    lf: str
    names: tuple[str, ...] = ()
    construction: str = ""
    verb: str = ""

    @property
    def cogs(self) -> str:
        """The LF in COGS spacing ("* cake ( x _ 4 ) ; sell . agent ( x _ 1 , Eleanor ) ...")."""
        return to_cogs(self.lf)

    @property
    def compact(self) -> str:
        return to_compact(self.lf)

    @property
    def cogs_sentence(self) -> str:
        """The sentence as COGS tokenises it: the final period is a separate word."""
        s = self.sentence.strip()
        return s[:-1].rstrip() + " ." if s.endswith(".") else s


# ----------------------------------------------------------------------------- rendering


_COGS_VAR = re.compile(r"\bx _ (\d+)\b")


def to_compact(lf: str) -> str:
    """COGS spacing -> compact ("* cake ( x _ 4 ) ;" -> "*cake(x4);"); compact stays as is."""
    s = " ".join(lf.split())
    s = _COGS_VAR.sub(r"x\1", s)
    s = re.sub(r"\* (?=\w)", "*", s)
    s = re.sub(r"(?<=\w) \. (?=\w)", ".", s)
    s = re.sub(r" \( ", "(", s)
    s = re.sub(r" \)", ")", s)
    s = re.sub(r" , ", ", ", s)
    s = re.sub(r" ;", ";", s)
    return s


def to_cogs(lf: str) -> str:
    """Compact -> COGS spacing: every symbol a space-separated token, variables as "x _ i"."""
    tokens = re.findall(r"\w+|[^\w\s]", to_compact(lf))
    out = []
    for t in tokens:
        m = re.fullmatch(r"x(\d+)", t)
        out.append(f"x _ {m.group(1)}" if m else t)
    return " ".join(out)


def _render(prefixes: list[tuple[str, int]], conjuncts: list[tuple[int, str]]) -> str:
    """Compact LF from definite nouns (noun, index) and (sort key, conjunct) pairs."""
    head = "".join(f"*{noun}(x{i}); " for noun, i in sorted(prefixes, key=lambda p: p[1]))
    body = " AND ".join(c for _, c in sorted(conjuncts, key=lambda kc: kc[0]))  # stable sort
    return head + body


# ----------------------------------------------------------------------------- grammar


@dataclass
class _NP:
    words: list[str]  # ["Emma"] or ["the", "cake"]
    name: Optional[str] = None
    noun: Optional[str] = None
    definite: bool = False


class _Builder:
    """Collects words, then the LF pieces that refer to their positions."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.prefixes: list[tuple[str, int]] = []
        self.conjuncts: list[tuple[int, str]] = []

    def add(self, *words: str) -> int:
        self.words.extend(words)
        return len(self.words) - 1

    def np(self, np: _NP) -> str:
        """Append an NP; return its LF argument (the name or the head noun's variable)."""
        idx = self.add(*np.words)
        if np.name is not None:
            return np.name
        if np.definite:
            self.prefixes.append((np.noun, idx))
        else:
            self.conjuncts.append((idx, f"{np.noun}(x{idx})"))
        return f"x{idx}"

    def roles(self, verb: str, event: int, args: list[tuple[str, str]]) -> None:
        for role, arg in args:  # in the surface order of the arguments
            self.conjuncts.append((event, f"{verb}.{role}(x{event}, {arg})"))

    def sentence(self) -> str:
        words = list(self.words)
        words[0] = words[0][0].upper() + words[0][1:]
        return " ".join(words) + "."

    def lf(self) -> str:
        return _render(self.prefixes, self.conjuncts)


class _Sampler:
    def __init__(self, rng: random.Random, name_prob: float) -> None:
        self.rng = rng
        self.name_prob = name_prob
        self.used: list[str] = []

    def name(self) -> _NP:
        name = self.rng.choice([n for n in NAMES if n not in self.used])
        self.used.append(name)
        return _NP([name], name=name)

    def common(self, nouns: Sequence[str]) -> _NP:
        noun = self.rng.choice(list(nouns))
        definite = self.rng.random() < 0.5
        return _NP(["the" if definite else "a", noun], noun=noun, definite=definite)

    def person(self) -> _NP:
        return self.name() if self.rng.random() < self.name_prob else self.common(ANIMATE)

    def theme(self, verb: Verb) -> _NP:
        if verb.person_theme and self.rng.random() < self.name_prob:
            return self.name()
        return self.common(verb.themes)


def _parse_np(text: str) -> _NP:
    words = text.split()
    if len(words) == 1 and words[0][:1].isupper():
        return _NP(words, name=words[0])
    if len(words) == 2 and words[0].lower() in ("the", "a"):
        definite = words[0].lower() == "the"
        return _NP(["the" if definite else "a", words[1]], noun=words[1], definite=definite)
    raise InputError(f"'{text}' is not a proper name or 'the'/'a' + noun.")


def _verb(construction: str, lemma: str) -> Verb:
    table = {"transitive": TRANSITIVE, "passive": TRANSITIVE, "unaccusative": UNACCUSATIVE,
             "unergative": UNERGATIVE}.get(construction, DATIVE)
    if lemma not in table:
        raise InputError(f"'{lemma}' is not a verb of the {construction} construction: "
                         f"use {', '.join(table)}.")
    return table[lemma]


def _realise(construction: str, verb: Verb, agent: Optional[_NP], recipient: Optional[_NP],
             theme: Optional[_NP]) -> Example:
    """Words and LF of one construction with its argument NPs."""
    b = _Builder()

    def need(np: Optional[_NP], role: str) -> _NP:
        if np is None:
            raise InputError(f"The {construction} construction needs a {role}.")
        return np

    if construction == "transitive":
        a = b.np(need(agent, "agent"))
        event = b.add(verb.past)
        t = b.np(need(theme, "theme"))
        order = [("agent", a), ("theme", t)]
    elif construction == "passive":
        t = b.np(need(theme, "theme"))
        b.add("was")
        event = b.add(verb.participle)
        b.add("by")
        a = b.np(need(agent, "agent"))
        order = [("theme", t), ("agent", a)]
    elif construction == "dative_do":
        a = b.np(need(agent, "agent"))
        event = b.add(verb.past)
        r = b.np(need(recipient, "recipient"))
        t = b.np(need(theme, "theme"))
        order = [("agent", a), ("recipient", r), ("theme", t)]
    elif construction == "dative_pp":
        a = b.np(need(agent, "agent"))
        event = b.add(verb.past)
        t = b.np(need(theme, "theme"))
        b.add("to")
        r = b.np(need(recipient, "recipient"))
        order = [("agent", a), ("theme", t), ("recipient", r)]
    elif construction == "passive_dative":
        r = b.np(need(recipient, "recipient"))
        b.add("was")
        event = b.add(verb.participle)
        t = b.np(need(theme, "theme"))
        b.add("by")
        a = b.np(need(agent, "agent"))
        order = [("recipient", r), ("theme", t), ("agent", a)]
    elif construction == "passive_dative_pp":
        t = b.np(need(theme, "theme"))
        b.add("was")
        event = b.add(verb.participle)
        b.add("to")
        r = b.np(need(recipient, "recipient"))
        b.add("by")
        a = b.np(need(agent, "agent"))
        order = [("theme", t), ("recipient", r), ("agent", a)]
    elif construction == "unaccusative":
        t = b.np(need(theme, "theme"))
        event = b.add(verb.past)
        order = [("theme", t)]
    elif construction == "unergative":
        a = b.np(need(agent, "agent"))
        event = b.add(verb.past)
        order = [("agent", a)]
    else:
        raise InputError(f"Unknown construction '{construction}': use {', '.join(CONSTRUCTIONS)}.")
    b.roles(verb.lemma, event, order)
    names = tuple(w for w in b.words if any(np is not None and np.name == w
                                            for np in (agent, recipient, theme)))
    return Example(sentence=b.sentence(), lf=b.lf(), names=tuple(dict.fromkeys(names)),
                   construction=construction, verb=verb.lemma)


def make_example(construction: str, verb: str, agent: Optional[str] = None,
                 recipient: Optional[str] = None, theme: Optional[str] = None) -> Example:
    """One example from its parts: `make_example("dative_do", "sell", agent="Eleanor",
    recipient="Evelyn", theme="the cake")` -> "Eleanor sold Evelyn the cake." and its LF.
    An argument is a capitalised proper name or "the"/"a" + noun."""
    nps = [None if x is None else _parse_np(x) for x in (agent, recipient, theme)]
    return _realise(construction, _verb(construction, verb), *nps)


def _build(construction: str, rng: random.Random, name_prob: float) -> Example:
    s = _Sampler(rng, name_prob)
    agent = recipient = theme = None
    if construction in ("transitive", "passive"):
        verb = rng.choice(list(TRANSITIVE.values()))
        agent, theme = s.person(), s.theme(verb)
    elif construction in ("dative_do", "dative_pp", "passive_dative", "passive_dative_pp"):
        verb = rng.choice(list(DATIVE.values()))
        agent, recipient, theme = s.person(), s.person(), s.common(verb.themes)
    elif construction == "unaccusative":
        verb = rng.choice(list(UNACCUSATIVE.values()))
        theme = s.name() if rng.random() < name_prob / 2 else s.common(verb.themes)
    elif construction == "unergative":
        verb = rng.choice(list(UNERGATIVE.values()))
        agent = s.person()
    else:
        raise InputError(f"Unknown construction '{construction}': use {', '.join(CONSTRUCTIONS)}.")
    return _realise(construction, verb, agent, recipient, theme)


def generate(
    n: int,
    seed: int = 0,
    constructions: Sequence[str] = CONSTRUCTIONS,
    min_names: int = 0,
    name_prob: float = 0.6,
    weights: Optional[Sequence[float]] = None,
) -> list[Example]:
    """`n` distinct examples, deterministic for a seed.

    Each example picks a construction (uniformly, or by `weights`), a verb, and for every
    argument a proper name (probability `name_prob` where a person fits) or a common noun with
    "the"/"a". `min_names`: keep only examples with at least that many distinct names (2 for the
    swap baselines; constructions that cannot hold that many are left out).
    """
    if n < 0:
        raise InputError("The number of examples must be non-negative.")
    unknown = [c for c in constructions if c not in CONSTRUCTIONS]
    if unknown or not constructions:
        raise InputError(f"Unknown construction(s) {unknown}: use {', '.join(CONSTRUCTIONS)}.")
    capacity = {c: 2 if c in TWO_NAME_CONSTRUCTIONS else 1 for c in CONSTRUCTIONS}
    if weights is not None and len(weights) != len(constructions):
        raise InputError("Give one weight per construction.")
    ws = [1.0] * len(constructions) if weights is None else [float(w) for w in weights]
    pool = [(c, w) for c, w in zip(constructions, ws) if capacity[c] >= min_names and w > 0]
    if not pool:
        raise InputError(f"None of the constructions can hold {min_names} proper names.")
    if min_names >= 1 and name_prob <= 0:
        raise InputError("Examples with proper names need name_prob > 0.")
    rng = random.Random(seed)
    kinds, w = zip(*pool)
    out: list[Example] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n + 1000:
            raise InputError(f"Could only generate {len(out)} distinct examples of the {n} asked for.")
        ex = _build(rng.choices(kinds, weights=w)[0], rng, name_prob)
        if len(set(ex.names)) < min_names or ex.sentence in seen:
            continue
        seen.add(ex.sentence)
        out.append(ex)
    return out


# ----------------------------------------------------------------------------- transformations


def _swap_words(text: str, a: str, b: str) -> str:
    pattern = re.compile(rf"\b({re.escape(a)}|{re.escape(b)})\b")
    return pattern.sub(lambda m: b if m.group(0) == a else a, text)


def swap_names(example: Example) -> Example:
    """The same sentence with the first two proper names exchanged in the LF only.

    Same words on both sides, wrong meaning ("Eleanor sold Evelyn the cake." with
    "sell.agent(x1, Evelyn) AND sell.recipient(x1, Eleanor) ..."). Needs two distinct names.
    """
    names = list(dict.fromkeys(example.names))
    if len(names) < 2:
        raise InputError(f"Swapping names needs two distinct proper names: '{example.sentence}'.")
    return replace(example, lf=_swap_words(example.lf, names[0], names[1]))


def shuffle_conjuncts(lf: str, seed: int = 0) -> str:
    """The LF with its AND-conjuncts in another (seeded) order; "*noun(x);" prefixes stay first.

    Works on both renderings (and on any "A AND B AND C" form). With two or more conjuncts the
    order always changes; with one the LF comes back unchanged.
    """
    head, sep, body = lf.rpartition(";")
    prefix = head + sep
    parts = [p.strip() for p in re.split(r"\s+AND\s+", body.strip())]
    if len(parts) < 2:
        return lf
    rng = random.Random(seed)
    order = list(range(len(parts)))
    while order == sorted(order):
        rng.shuffle(order)
    shuffled = " AND ".join(parts[i] for i in order)
    return (prefix + " " + shuffled) if prefix else shuffled


def with_random_names(example: Example, rng: random.Random) -> Example:
    """Every proper name replaced (sentence and LF) by a different random name from `NAMES`
    that the example does not contain, so nothing memorised about a famous pair can help."""
    old = list(dict.fromkeys(example.names))
    pool = [n for n in NAMES if n not in old]
    new = rng.sample(pool, len(old))
    mapping = dict(zip(old, new))
    if not mapping:
        return example
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in old) + r")\b")

    def sub(text: str) -> str:
        return pattern.sub(lambda m: mapping[m.group(0)], text)

    return replace(example, sentence=sub(example.sentence), lf=sub(example.lf),
                   names=tuple(mapping[n] for n in example.names))


@dataclass(frozen=True)
class RolePosition:
    name: str
    start: int  # character offset of the name in `Example.sentence`
    role: str  # agent / recipient / theme


_ROLE = re.compile(r"(\w+)\.(agent|recipient|theme)\(x\d+, ([A-Z]\w*)\)")


def role_positions(example: Example) -> list[RolePosition]:
    """Each proper-name argument that is not sentence-initial: its offset and gold role.

    Roles come from the LF ("sell.recipient(x1, Evelyn)"); a name that fills no
    agent/recipient/theme role, or that the sentence starts with, is skipped.
    """
    roles = {m.group(3): m.group(2) for m in _ROLE.finditer(to_compact(example.lf))}
    out = []
    for name in dict.fromkeys(example.names):
        m = re.search(rf"\b{re.escape(name)}\b", example.sentence)
        if m is None or name not in roles or not example.sentence[:m.start()].strip():
            continue
        out.append(RolePosition(name=name, start=m.start(), role=roles[name]))
    return sorted(out, key=lambda r: r.start)
