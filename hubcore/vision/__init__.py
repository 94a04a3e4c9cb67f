"""Vision-language models: specs and loading (`models`), input building (`processing`), and
images (solid colours, two-colour splits, emoji, uploads: `images`). No VLM weights ship in any
package registry, so everything here works with whatever model the user points it at."""
