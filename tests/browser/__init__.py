"""Browser tests: Playwright + Debian Chromium against a live `streamlit run` (tests/support/browser.py)."""
