"""Audio: the embedded Whisper-base conversion, sounds, Whisper mechanics and their in-trace code
(no streamlit). Speech models load with every other kind in `hubcore.models.speech`
(`ModelSpec(kind="speech")`)."""
