"""Data: generators with known ground truth (``synthetic``) and readers for real datasets."""
