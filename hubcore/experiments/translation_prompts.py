"""Word-translation prompts on single-token words, shared by the patching experiments (Dumas et
al.) and latent language per layer (Wendler et al.).

A prompt is a few worked examples and a query, each language named in itself:

    Deutsch: "Katze" - Français: "chat"
    ...
    Deutsch: "Hund" - Français: "

so the next token is the answer's first token, right after a quote (no leading space). Words
come from `data.word_concepts`; a concept is usable for a model when its word in every language
involved is one token of the model's tokenizer (the no-space form), so "the probability of the
word" is the probability of that token (plus its leading-space form, which the reading also
sums, as Wendler et al. sum a word's surface forms). `outcome_ids` gives those ids, and items
whose outcomes share a token are dropped (a reading could not tell them apart).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from ..data.word_concepts import concept_table, native_name
from ..errors import InputError
from ..lens import word_variants

FEW_SHOT = 5  # worked examples per prompt (Dumas et al. use 5)


def single_token(tokenizer: Any, word: str) -> bool:
    """True when `word` (no leading space) is exactly one token."""
    return len(tokenizer(word, add_special_tokens=False)["input_ids"]) == 1


def outcome_ids(tokenizer: Any, word: str) -> tuple[int, ...]:
    """The ids whose probabilities make up the word's: its no-space and leading-space first
    tokens, leaving out a bare-space token (" 猫" starts with "▁" alone on SentencePiece
    tokenizers: that token says nothing about the word, and every CJK word would share it)."""
    return tuple(tid for _, tid in word_variants(tokenizer, word) if tokenizer.decode([tid]).strip())


def usable_concepts(model: Any, langs: Sequence[str], single: Optional[Sequence[str]] = None) -> Any:
    """`concept_table(langs)` rows whose word in every language of `single` (default: all of
    `langs`) is one token for this model. Only the words whose probability is read need to be
    single tokens; the words a prompt merely shows may take several."""
    table = concept_table(langs)
    tok = model.tokenizer
    single = list(dict.fromkeys(langs if single is None else single))
    keep = [all(single_token(tok, str(row[lang])) for lang in single) for _, row in table.iterrows()]
    table = table[keep].reset_index(drop=True)
    if len(table) < FEW_SHOT + 2:
        raise InputError(f"Only {len(table)} concepts have single-token words in {', '.join(single)} for this "
                         "model: too few for few-shot prompts.")
    return table


def pair_line(src: str, tgt: str, a: str, b: str) -> str:
    return f'{native_name(src)}: "{a}" - {native_name(tgt)}: "{b}"'


def translation_prompt(examples: Sequence[tuple[str, str]], src: str, tgt: str, word: str,
                       end_at_word: bool = False) -> str:
    """Worked `examples` (source word, target word) then the query for `word`; with
    `end_at_word` the prompt stops right after the word (the state of its last token is the
    concept's latent, as in Dumas et al.'s mean-latent experiment)."""
    query = f'{native_name(src)}: "{word}' + ("" if end_at_word else f'" - {native_name(tgt)}: "')
    return "\n".join([pair_line(src, tgt, a, b) for a, b in examples] + [query])


@dataclass
class Split:
    """Concepts split into the worked examples and the items."""

    table: Any
    examples: list[int] = field(default_factory=list)
    items: list[int] = field(default_factory=list)

    def example_pairs(self, src: str, tgt: str) -> list[tuple[str, str]]:
        return [(str(self.table.loc[i, src]), str(self.table.loc[i, tgt])) for i in self.examples]

    def word(self, item: int, lang: str) -> str:
        return str(self.table.loc[item, lang])

    def concept(self, item: int) -> str:
        return str(self.table.loc[item, "concept"])


def split_concepts(model: Any, langs: Sequence[str], seed: int = 0,
                   single: Optional[Sequence[str]] = None) -> Split:
    """Usable concepts for `langs` (single tokens in `single`, see `usable_concepts`), shuffled
    by `seed`: the first `FEW_SHOT` are the worked examples of every prompt, the rest the items."""
    table = usable_concepts(model, list(dict.fromkeys(langs)), single)
    order = list(range(len(table)))
    random.Random(seed).shuffle(order)
    return Split(table=table, examples=order[:FEW_SHOT], items=order[FEW_SHOT:])


def disjoint(sets: Sequence[Sequence[int]]) -> bool:
    """True when no id is in two of `sets`."""
    seen: set[int] = set()
    for s in sets:
        s = set(s)
        if seen & s:
            return False
        seen |= s
    return True


def padded(id_sets: Sequence[Sequence[int]]) -> tuple[list[int], list[list[bool]]]:
    """The outcome id sets of one item flattened to a fixed width (2 ids per outcome: the two
    surface forms), with a mask of the real ones, so every row reads the same number of ids."""
    flat: list[int] = []
    mask: list[list[bool]] = []
    for ids in id_sets:
        ids = list(ids)[:2]
        flat += ids + [ids[0]] * (2 - len(ids))
        mask.append([True] * len(ids) + [False] * (2 - len(ids)))
    return flat, mask


def outcome_probs(logprobs: Any, masks: Sequence[Sequence[Sequence[bool]]]) -> Any:
    """Per row and outcome, the summed probability of its real ids: `logprobs` `[..., R, 2 * n]`
    from `padded` rows, `masks[r][o]` their masks -> `[..., R, n]`."""
    import numpy as np

    lp = np.asarray(logprobs, dtype=np.float64)
    m = np.asarray(masks, dtype=np.float64)  # [R, n, 2]
    p = np.exp(lp).reshape(*lp.shape[:-1], m.shape[1], 2)
    return (p * m).sum(-1)


def check_pair(a: str, b: str, what: str) -> None:
    native_name(a)
    native_name(b)
    if a == b:
        raise InputError(f"{what}: pick two different languages.")


def first_token_texts(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    return [tokenizer.decode([int(i)]) for i in ids]


def pick(items: Sequence[int], n: int, seed: int) -> list[int]:
    """At most `n` items, a seeded sample in order."""
    items = list(items)
    if len(items) <= n:
        return items
    return sorted(random.Random(seed + 1).sample(items, n), key=items.index)


def optional_int(value: Optional[int]) -> Optional[int]:
    return None if value is None else int(value)
