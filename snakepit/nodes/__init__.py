"""Nodes: machines with LXD (and GPUs) that run the workers of pits."""
