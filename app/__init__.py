"""Streamlit front end: entry script, shared widgets and chart helpers (pages live in ../pages)."""
