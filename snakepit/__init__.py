"""Snakepit: a machine-learning job scheduler for small GPU clusters, on trio and LXD."""

__version__ = "0.1.0"
