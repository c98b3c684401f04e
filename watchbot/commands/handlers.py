"""Every module that declares chat commands: importing this fills the registry, in help's order."""

from watchbot.commands import links, moderating, feeds, digest  # noqa: F401 -- imported for their declarations
