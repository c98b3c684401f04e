"""watchbot: a community tech-watch bot for Matrix and the fediverse."""

__version__ = "0.1.0"
