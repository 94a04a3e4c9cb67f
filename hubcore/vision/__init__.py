"""Vision-language models: input building, capture, the in-trace lens and edited generation
(`processing`), and images (solid colours, two-colour splits, emoji, uploads: `images`). Loading
lives with every other model kind in `hubcore.models.vision` (`ModelSpec(kind="vision")`). No VLM
weights ship in any package registry, so everything here works with whatever model the user
points it at."""
