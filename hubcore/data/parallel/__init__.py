"""Parallel (translation) pairs for the multilingual experiments, all offline.

One module per source, each cleaned the same way (`common.clean_pairs`):

- `hsk`: HSK example sentences (PyPI `hsk-sentences-audio`, zh-en),
- `asterisk`: the Asterisk telephony prompt transcripts (Debian `asterisk-core-sounds-{en,es,fr}`),
- `emoji`: emoji labels (npm `emojibase-data`, 25+ locales),
- `handwritten`: two sets shipped here (en-de, en-ja),
- `lexicon`: single-word bilingual lexicons built from the above (the anchoring test),
- `catalogue`: the built-in sets by name, and file-or-set-name sources for the CLI and pages.

Everything public is re-exported here: `from hubcore.data.parallel import hsk_pairs`.
"""

from .asterisk import (ASTERISK_LANGS, ASTERISK_SKIP_PREFIXES, asterisk_dir, asterisk_file,
                       asterisk_pairs, clean_prompt, is_spelled_out, load_asterisk)
from .catalogue import available_pair_sets, find_pair_set, pair_source, set_names, text_source
from .common import (LANGUAGE_NAMES, PAIRS_DIR, PairSet, clean_pairs, describe_drops, language_name,
                     sample_rows, split_held_out)
from .emoji import emoji_labels, emoji_locales, emoji_pairs, emojibase_dir, has_emoji_locale
from .handwritten import BUNDLED, bundled_pairs
from .hsk import hsk_pairs, hsk_sentences, hsk_translation, is_placeholder
from .lexicon import bilingual_lexicon, single_word

__all__ = [
    "ASTERISK_LANGS", "ASTERISK_SKIP_PREFIXES", "BUNDLED", "LANGUAGE_NAMES", "PAIRS_DIR", "PairSet",
    "asterisk_dir", "asterisk_file", "asterisk_pairs", "available_pair_sets", "bilingual_lexicon",
    "bundled_pairs", "clean_pairs", "clean_prompt", "describe_drops", "emoji_labels", "emoji_locales",
    "emoji_pairs", "emojibase_dir", "find_pair_set", "has_emoji_locale", "hsk_pairs", "hsk_sentences",
    "hsk_translation", "is_placeholder", "is_spelled_out", "language_name", "load_asterisk",
    "pair_source", "sample_rows", "set_names", "single_word", "split_held_out", "text_source",
]
