"""Semantic Hub Explorer engine: models, capture, logit lens, experiments (no Streamlit here)."""

__version__ = "0.1.0"
