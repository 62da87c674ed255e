"""A raw LXD REST client over httpx; knows nothing of jobs (built by the LXD issue)."""
