"""Text tools: word segmentation, word/token alignment (anchoring), Python source parsing."""
