"""Helpers shared by the test tiers: tiny models, tiny VLMs, audio fixtures, the browser harness,
in-process CLI runs."""
