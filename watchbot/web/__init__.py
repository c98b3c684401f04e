"""The watch on the web: pages, Atom feeds, a read-only JSON API, /healthz and /metrics.

Everything here reads the store through `PublishedReader(store, PUBLIC)` (or the operator's
counters, for /healthz and /metrics): the web shows the published view and nothing else.
`build_app` (app.py) puts the routes of each module together; `watchbot run` serves it from a
process of its own (process.py) when WATCHBOT_WEB_PORT is set, and `watchbot web` serves it alone,
read-only.
"""
