"""Audio: the embedded Whisper-base model, sounds, and the speech model wrapper (no streamlit)."""
