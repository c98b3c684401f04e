"""Titles and previews for links, fetched safely.

metadata.py reads a page's title, description and the rest from the bytes a guarded fetch returned;
wrappers.py finds the real target of redirect wrappers (Google, Facebook, AMP, ...) without
fetching anything. Both are plain functions of their inputs.
"""
