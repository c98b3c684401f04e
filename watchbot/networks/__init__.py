"""Adapters to the networks: the only modules that talk to Matrix or Mastodon."""
