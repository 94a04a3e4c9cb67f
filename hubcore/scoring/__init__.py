"""Scoring generated text: sentiment per language, fluency (perplexity), relevance, language match."""
