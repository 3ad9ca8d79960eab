"""Bridges between PyTorch and evsim: datasets, training, conversion, export (issue 3 onwards)."""
