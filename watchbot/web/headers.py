"""The headers every answer carries, whoever makes it: the app's pages, data and errors (app.py),
aiohttp's own answer to a request it cannot read, and the refusal past the connection cap
(connections.py)."""

from __future__ import annotations

# Nothing loads but our own stylesheet (and images, were we to serve any), no script runs, no form
# posts elsewhere, and no other site may frame the pages.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Named, without versions: aiohttp's default ("Python/3.11 aiohttp/3.14.5") tells a stranger which
# published flaws to try.
SERVER_NAME = "watchbot"
ANSWER_HEADERS = {**SECURITY_HEADERS, "Server": SERVER_NAME}
