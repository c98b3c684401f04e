"""Full-text search: which links match, ranked among a bounded set of candidates (decision 24).

"Best match": the links holding every word (each as the start of a word) are the matches; the
newest CANDIDATES of them (by link number: the order links were filed) are the candidates, and
those are ranked by how well their text matches (bm25 on SQLite, ts_rank on PostgreSQL), ties
going to the newer link. Ranking every match costs as many matches as there are (a word in a
quarter of a million links: 300 ms), ranking the newest thousand costs about the same whatever
the store's size; an older link that matches better than every newer one is found by adding a
word.

Two indexes answer: the full document (every share's words: the operator's search, and a private
place's own shares) and the published document (the public view's words: public search).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import Float, Integer, func, select, text
from sqlalchemy.sql.selectable import Subquery

from watchbot.model import Link
from watchbot.published import as_utc
from watchbot.store.schema import link_pages, links, share_tags, shares

# How many of the newest matches are ranked. Measured at 1,000,000 links (docs/benchmarks.md).
CANDIDATES = 1000


MAX_SEARCH_WORDS = 32


def search_tokens(words: str) -> list[str]:
    """The words of a query as both search engines will take them, free of any query syntax:
    NFKC-normalised and case-folded like tags, each once, and no more than MAX_SEARCH_WORDS
    (a pasted page is not a query, and PostgreSQL refuses a tsquery that deep)."""
    found = re.findall(r"\w+", unicodedata.normalize("NFKC", words).casefold())
    return list(dict.fromkeys(found))[:MAX_SEARCH_WORDS]


@dataclass(frozen=True)
class Index:
    fts: str  # the FTS5 table on SQLite
    document: str  # the column of links it indexes (a GIN tsvector index on PostgreSQL)
    condition: str  # which links the index may answer with


FULL = Index("links_fts", "search_document", "TRUE")
PUBLISHED = Index("published_fts", "published_document", "links.published_url IS NOT NULL")


@functools.cache
def ranked(dialect: str, index: Index, *, in_place: bool = False) -> Subquery:
    """The best matches as a subquery (id, rank): the lower the rank, the better; order by
    (rank, id DESC). Built once per shape: executed with `parameters(...)`. `in_place`: only
    links shared in the place given there."""
    here = " AND {id} IN (SELECT link_id FROM shares WHERE place = :place)" if in_place else ""
    if dialect == "postgresql":
        vector, query = f"to_tsvector('simple', links.{index.document})", "to_tsquery('simple', :q)"
        sql = text(
            f"SELECT id, -ts_rank({vector}, {query}) AS rank FROM ("
            f"SELECT links.id, links.{index.document} FROM links WHERE {index.condition} AND {vector} @@ {query}"
            f"{here.format(id='links.id')} ORDER BY links.id DESC LIMIT :candidates) AS links "
            f"ORDER BY rank, id DESC LIMIT :limit"
        )
    else:
        sql = text(
            f"SELECT id, rank FROM (SELECT rowid AS id, bm25({index.fts}) AS rank FROM {index.fts} "
            f"WHERE {index.fts} MATCH :q{here.format(id='rowid')} ORDER BY rowid DESC LIMIT :candidates) "
            f"ORDER BY rank, id DESC LIMIT :limit"
        )
    return sql.columns(id=Integer, rank=Float).subquery("ranked")


def parameters(dialect: str, tokens: list[str], limit: int, *, place: str | None = None) -> dict:
    """What `ranked` is executed with: every token as a word prefix, all of them required."""
    if dialect == "postgresql":
        q = " & ".join(f"{t}:*" for t in tokens)
    else:
        q = " AND ".join(f'"{t}"*' for t in tokens)
    # Asked for more rows than CANDIDATES (the CLI's --limit, up to 1,000): as many candidates.
    return {"q": q, "candidates": max(CANDIDATES, limit), "limit": limit, "place": place}


TAG_SEPARATOR = "\x1f"  # no tag holds it: tags are words (links.normalise_tag)


@functools.cache
def operator_rows(dialect: str):
    """What `Link` holds of each ranked link, every share counted (the operator's view)."""
    best = ranked(dialect, FULL)
    every = shares.alias("every")

    def first(column):
        return (select(column).where(every.c.link_id == links.c.id)
                .order_by(every.c.shared_at, every.c.id).limit(1).scalar_subquery())

    tags = (select(func.aggregate_strings(share_tags.c.tag, TAG_SEPARATOR))
            .select_from(share_tags.join(every, every.c.id == share_tags.c.share_id))
            .where(every.c.link_id == links.c.id).scalar_subquery())
    count = select(func.count()).where(every.c.link_id == links.c.id).scalar_subquery()
    return (select(links.c.id, links.c.key, links.c.url,
                   # A title a person gave (an import, the CLI) wins over the page's own, as in records.
                   func.coalesce(func.nullif(links.c.title, ""), link_pages.c.title).label("title"),
                   func.coalesce(func.nullif(links.c.description, ""), link_pages.c.description).label("description"),
                   link_pages.c.site_name, tags.label("tags"), count.label("share_count"),
                   first(every.c.sharer_name).label("first_name"), first(every.c.shared_at).label("first_at"))
            .select_from(best.join(links, links.c.id == best.c.id)
                         .outerjoin(link_pages, link_pages.c.link_id == links.c.id))
            .where(count > 0)  # a link is never kept without a share; be safe on reads anyway
            .order_by(best.c.rank, best.c.id.desc()))


def link_of_row(row) -> Link:
    return Link(id=row.id, key=row.key, url=row.url, title=row.title, description=row.description,
                tags=split_tags(row.tags), share_count=row.share_count, first_sharer_name=row.first_name,
                first_shared_at=as_utc(row.first_at), site_name=row.site_name)


def split_tags(joined: str | None) -> tuple[str, ...]:
    """The tags `aggregate_strings` joined, each once, sorted."""
    if not joined:
        return ()
    return tuple(sorted(set(joined.split(TAG_SEPARATOR)))) if TAG_SEPARATOR in joined else (joined,)
