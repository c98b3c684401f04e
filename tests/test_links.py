"""Links, hashtags and the dedupe key, as a user sharing links would notice them."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from yarl import URL

from watchbot.links import (
    HOST_TRACKING_PARAMS,
    MAX_URL_LENGTH,
    TRACKING_PARAMS,
    InvalidURL,
    canonical_key,
    extract_hashtags,
    extract_hrefs,
    extract_links,
    extract_urls,
    normalise_tag,
    normalise_tags,
    published_url,
)

# --- canonical_key: the same page gives one key --------------------------------------------------

ARTICLE = "https://example.com/article"


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/article",
        "https://example.com/article?utm_source=mastodon&utm_medium=social&utm_campaign=x",
        "https://example.com/article?UTM_Source=newsletter",
        "https://example.com/article?fbclid=IwAR0abc",
        "https://example.com/article?gclid=1&msclkid=2&mc_cid=3&mc_eid=4&_hsenc=5&igshid=6",
        "HTTPS://EXAMPLE.COM/article",
        "https://example.com:443/article",
        "https://example.com./article",
        "https://example.com/article#utm_source=x",
        "https://example.com/article#section-2",
        "https://example.com/article?",
        "https://example.com/./drafts/../article",
        "https://example.com/%61rticle",
        "  https://example.com/article\n",
    ],
)
def test_variants_of_one_article_share_a_key(url: str) -> None:
    assert canonical_key(url) == ARTICLE


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://example.com/", "https://example.com"),
        ("https://example.com", "https://example.com"),
        ("http://example.com:80/", "http://example.com"),
        ("https://example.com/?utm_source=x", "https://example.com"),
        ("https://example.com:8443/", "https://example.com:8443"),
        ("HTTPS://Example.COM:443/a/?utm_source=x&id=3#top", "https://example.com/a/?id=3"),
        ("https://example.com/?id=3", "https://example.com/?id=3"),
        ("https://app.example/#/settings", "https://app.example/#/settings"),
        ("https://app.example/#!/route", "https://app.example/#!/route"),
        ("https://user:pw@Example.com/", "https://user:pw@example.com"),
        ("https://[::1]:8080/x", "https://[::1]:8080/x"),
        ("https://bücher.de/ä", "https://xn--bcher-kva.de/%C3%A4"),
        ("https://example.com/p?a=1&&b=2&", "https://example.com/p?a=1&b=2"),
        # Not dropped: not tracking, or tracking-looking names that mean something elsewhere.
        ("https://github.com/o/r/blob/x.py?ref=main", "https://github.com/o/r/blob/x.py?ref=main"),
        ("https://example.com/search?s=cats&source=nav", "https://example.com/search?s=cats&source=nav"),
    ],
)
def test_key_is_the_link_without_noise(url: str, key: str) -> None:
    assert canonical_key(url) == key


@pytest.mark.parametrize(
    "variant",
    ["https://bücher.de/x", "https://BÜCHER.de/x", "https://xn--bcher-kva.de/x", "https://XN--BCHER-KVA.DE./x"],
)
def test_international_host_is_one_host(variant: str) -> None:
    assert canonical_key(variant) == "https://xn--bcher-kva.de/x"


@pytest.mark.parametrize(
    ("url", "without_tracking"),
    [
        ("https://www.youtube.com/watch?v=abc&si=XyZ&feature=share", "https://www.youtube.com/watch?v=abc"),
        ("https://m.youtube.com/watch?feature=youtu.be&v=abc", "https://m.youtube.com/watch?v=abc"),
        ("https://youtu.be/abc?si=XyZ", "https://youtu.be/abc"),
        ("https://open.spotify.com/track/123?si=abc", "https://open.spotify.com/track/123"),
        ("https://www.instagram.com/p/Cx/?igsh=abc", "https://www.instagram.com/p/Cx/"),
        ("https://twitter.com/alice/status/123?s=20&t=AbC", "https://twitter.com/alice/status/123"),
        ("https://x.com/alice/status/123?t=AbC&s=46", "https://x.com/alice/status/123"),
        ("https://ga-dev-tools.google/?fbclid=1", "https://ga-dev-tools.google"),
    ],
)
def test_site_specific_share_tracking_is_dropped(url: str, without_tracking: str) -> None:
    assert canonical_key(url) == canonical_key(without_tracking)


def test_utm_kept_where_the_page_is_about_utm() -> None:
    builder = "https://ga-dev-tools.google/campaign-url-builder/?utm_source=a"
    assert canonical_key(builder) == builder
    assert canonical_key(builder) != canonical_key(builder.replace("=a", "=b"))


# --- canonical_key: two different pages never merge ----------------------------------------------


@pytest.mark.parametrize(
    ("one", "other"),
    [
        pytest.param("https://www.youtube.com/watch?v=A", "https://www.youtube.com/watch?v=B", id="youtube-video"),
        pytest.param("https://www.youtube.com/watch?v=A&t=30", "https://www.youtube.com/watch?v=A&t=60", id="youtube-time"),
        pytest.param("https://github.com/o/r?ref=main", "https://github.com/o/r?ref=dev", id="github-ref"),
        pytest.param("https://example.com/a", "https://example.com/a/", id="trailing-slash"),
        pytest.param("https://example.com/Page", "https://example.com/page", id="path-case"),
        pytest.param("http://example.com/a", "https://example.com/a", id="http-https"),
        pytest.param("https://www.example.com/a", "https://example.com/a", id="www"),
        pytest.param("https://example.com/?a=1&b=2", "https://example.com/?b=2&a=1", id="query-order"),
        pytest.param("https://example.com/?a=1", "https://example.com/?a=2", id="query-value"),
        pytest.param("https://example.com/?q=a+b", "https://example.com/?q=a%2Bb", id="plus-vs-encoded-plus"),
        pytest.param("https://example.com/a%2Fb", "https://example.com/a/b", id="encoded-slash"),
        pytest.param("https://app.example/#/route1", "https://app.example/#/route2", id="app-route"),
        pytest.param("https://app.example/#!/a", "https://app.example/#!/b", id="hashbang-route"),
        pytest.param("https://x.com/?s=1", "https://x.com/?s=2", id="x-s-off-status"),
        pytest.param("https://x.com/search?q=a&t=1", "https://x.com/search?q=a&t=2", id="x-t-off-status"),
        pytest.param("https://example.com/?s=cats", "https://example.com/?s=dogs", id="generic-s"),
        pytest.param("https://example.com/?si=1", "https://example.com/?si=2", id="si-off-spotify"),
        pytest.param("https://blog.example/?ref=a", "https://blog.example/?ref=b", id="generic-ref"),
        pytest.param("https://example.com:8080/", "https://example.com:8443/", id="port"),
        pytest.param("https://example.com/", "https://example.com:8443/", id="default-vs-other-port"),
        pytest.param("https://alice@example.com/", "https://example.com/", id="userinfo"),
        pytest.param("https://example.com//a", "https://example.com/a", id="double-slash"),
    ],
)
def test_different_pages_never_share_a_key(one: str, other: str) -> None:
    assert canonical_key(one) != canonical_key(other)


# --- canonical_key: what cannot be filed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/file", "only http and https"),
        ("mailto:alice@example.com", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("example.com/page", "only http and https"),
        ("//example.com/page", "only http and https"),
        ("", "only http and https"),
        ("https:///path", "no host"),
        ("http:example.com", "no host"),
        ("https://", "no host"),
        ("https://" + "a" * MAX_URL_LENGTH + ".com/", "longer than 2048"),
        ("https://example.com/" + "é" * 1000, "once encoded"),
        ("https://example.com/a b", "spaces"),
        ("https://example.com/a\tb", "spaces"),
        ("https://exa\u200bmple.com/", "invisible"),
        ("https://example.com/\u202egnp.exe", "invisible"),
        ("https://example.com/\x00", "invisible"),
        ("http://example.com:99999/", "could not be read"),
        ("https://[zz]/", "could not be read"),
        ("http://[]@", "could not be read"),
        ("https://ex<ample.com/", "host name is not valid"),
        ("https://ex..com/", "host name is not valid"),
        ("https://xn--zz.com/", "host name is not valid"),
    ],
)
def test_unfileable_links_are_refused_with_a_reason(url: str, says: str) -> None:
    with pytest.raises(InvalidURL) as refused:
        canonical_key(url)
    message = str(refused.value)
    assert says in message
    assert "\n" not in message and message.count(". ") == 0  # one sentence
    assert isinstance(refused.value, ValueError)


# --- canonical_key: properties over generated links ----------------------------------------------

LABEL = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8)
HOST = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "org", "net", "dev", "io", "fr"]),
)
# Characters that never change meaning when re-encoded, and no "." or ".." segment (those are
# resolved, so two such paths may rightly be the same page).
SAFE = string.ascii_letters + string.digits + "-_~"
SEGMENT = st.text(SAFE + ".", max_size=8).filter(lambda s: s not in (".", ".."))
PATH = st.lists(SEGMENT, min_size=1, max_size=4).map(lambda segments: "/" + "/".join(segments))
TRACKING_NAMES = {name for rule in HOST_TRACKING_PARAMS for name in rule.names} | TRACKING_PARAMS
NAME = st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=6).filter(
    lambda name: name not in TRACKING_NAMES and not name.startswith("utm_")
)
VALUE = st.text(SAFE, max_size=8)
QUERY = st.lists(st.tuples(NAME, VALUE), max_size=4)
FRAGMENT = st.one_of(st.none(), st.text(SAFE, max_size=6), st.text(SAFE, max_size=6).map(lambda f: "/" + f))
# Anything a user might paste after the host, to shake the parser.
MESSY = st.lists(
    st.one_of(
        st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")),
        st.sampled_from(
            ["%", "%2F", "%2f", "%7e", "%41", "%zz", "/", "//", ".", "..", "?", "#", "&", "=", "+", ";", "@", ":"]
        ),
    ),
    max_size=20,
).map("".join)
FAST = settings(max_examples=200, deadline=None)


def build(scheme: str, host: str, path: str, query: list[tuple[str, str]], fragment: str | None) -> str:
    url = f"{scheme}://{host}{path}"
    if query:
        url += "?" + "&".join(f"{name}={value}" for name, value in query)
    if fragment is not None:
        url += f"#{fragment}"
    return url


LINK = st.builds(build, st.sampled_from(["http", "https"]), HOST, PATH, QUERY, FRAGMENT)


@FAST
@given(LINK)
def test_key_of_a_key_is_itself(url: str) -> None:
    key = canonical_key(url)
    assert canonical_key(key) == key
    assert URL(key).is_absolute()


@FAST
@given(st.sampled_from(["http", "https"]), HOST, MESSY)
def test_key_is_stable_even_for_messy_links(scheme: str, host: str, rest: str) -> None:
    try:
        key = canonical_key(f"{scheme}://{host}/{rest}")
    except InvalidURL:
        return  # refusing is fine; crashing with anything else is not
    assert canonical_key(key) == key


@FAST
@given(st.text(max_size=40))
def test_anything_is_either_a_key_or_refused(text: str) -> None:
    try:
        key = canonical_key(text)
    except InvalidURL:
        return
    assert canonical_key(key) == key


@FAST
@given(
    st.sampled_from(["http", "https"]),
    HOST,
    PATH,
    QUERY,
    FRAGMENT,
    st.sampled_from(["utm_source", "utm_medium", "UTM_Campaign", "fbclid", "gclid", "mc_eid"]),
    VALUE,
    st.integers(min_value=0, max_value=4),
)
def test_tracking_parameters_never_change_the_key(scheme, host, path, query, fragment, name, value, at) -> None:
    tracked = [*query[:at], (name, value), *query[at:]]
    assert canonical_key(build(scheme, host, path, tracked, fragment)) == canonical_key(
        build(scheme, host, path, query, fragment)
    )


@FAST
@given(HOST, PATH, PATH)
def test_different_paths_never_share_a_key(host: str, one: str, other: str) -> None:
    assume(one != other and {one, other} != {"/", ""})
    assert canonical_key(f"https://{host}{one}") != canonical_key(f"https://{host}{other}")


@FAST
@given(HOST, PATH, NAME, VALUE, VALUE)
def test_different_query_values_never_share_a_key(host: str, path: str, name: str, one: str, other: str) -> None:
    assume(one != other)
    assert canonical_key(f"https://{host}{path}?{name}={one}") != canonical_key(f"https://{host}{path}?{name}={other}")


# --- extract_urls --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        (
            "see https://example.com/a_(b)). and (https://x.org/p)",
            ["https://example.com/a_(b)", "https://x.org/p"],
        ),
        (
            "https://x.org/a, https://x.org/b! Is https://x.org/c? Yes.",
            ["https://x.org/a", "https://x.org/b", "https://x.org/c"],
        ),
        ("edit config.py, then read example.net and notes.md", []),
        ("docs at www.example.org/docs.", ["http://www.example.org/docs"]),
        ("mail alice@example.org or ftp://example.org/f", []),
        ("[the doc](https://x.org/doc) and <https://x.org/other>", ["https://x.org/doc", "https://x.org/other"]),
        # Exact duplicates go; spellings that differ are kept here (extract_links merges them).
        (
            "HTTPS://X.org/A and https://x.org/b then HTTPS://X.org/A and https://X.org/A",
            ["HTTPS://X.org/A", "https://x.org/b", "https://X.org/A"],
        ),
        ("no links here", []),
        # A bare domain glued to a link does not hide it (a scheme-less match is filed only with "www.").
        ("see example.com/https://real.example/x", ["https://real.example/x"]),
        ("www.example.org/https://real.example/x", ["http://www.example.org/https://real.example/x"]),
    ],
)
def test_urls_found_in_text(text: str, urls: list[str]) -> None:
    assert extract_urls(text) == urls


# --- extract_hrefs -------------------------------------------------------------------------------

MASTODON_STATUS = (
    '<p>Great read <a href="https://example.com/very/long/path?id=1&amp;page=2" rel="nofollow noopener'
    ' noreferrer" target="_blank"><span class="invisible">https://</span><span class="ellipsis">'
    'example.com/very/lo</span><span class="invisible">ng/path?id=1&amp;page=2</span></a> by '
    '<span class="h-card" translate="no"><a href="https://mastodon.social/@alice" class="u-url mention">'
    '@<span>alice</span></a></span> <a href="https://mastodon.social/tags/python" class="mention hashtag"'
    ' rel="tag">#<span>python</span></a></p>'
)


def test_mastodon_status_gives_the_full_href_not_mentions_or_tags() -> None:
    assert extract_hrefs(MASTODON_STATUS) == ["https://example.com/very/long/path?id=1&page=2"]


@pytest.mark.parametrize(
    "html",
    [
        '<a class="hashtag" data-tag="rust" href="https://pleroma.example/tag/rust" rel="tag ugc">#rust</a>',
        '<a href="https://gts.example/tags/rust" rel="tag">#rust</a>',
        '<a class="u-url mention" href="https://gts.example/@bob">@bob</a>',
        '<a href="https://matrix.to/#/@alice:example.org">Alice</a>',
        '<a href="https://matrix.to/#/%40alice%3Aexample.org">Alice</a>',
        '<a href="mailto:alice@example.org">mail</a> <a href="javascript:alert(1)">x</a>',
        '<a href="/relative">r</a> <a href="#top">t</a> <a href="//cdn.example/x">c</a> <a>no href</a>',
        '<img src="https://example.com/cat.png">',
    ],
)
def test_hrefs_that_are_not_shared_links_are_skipped(html: str) -> None:
    assert extract_hrefs(html) == []


def test_matrix_message_with_a_pill_gives_only_the_link() -> None:
    html = (
        '<a href="https://matrix.to/#/@alice:example.org">Alice</a>: look at '
        '<a href="https://x.org/p">this</a>, in <a href="https://matrix.to/#/#rust:example.org">#rust</a>'
    )
    assert extract_hrefs(html) == ["https://x.org/p", "https://matrix.to/#/#rust:example.org"]


def test_hrefs_from_malformed_html_in_order_once() -> None:
    html = (
        "<p><a href='https://x.org/a'>unclosed <A HREF=\"HTTPS://x.org/B\">b</p>"
        '<a href=https://x.org/c>c<a href=" https://x.org/a ">again</a><div</p>'
    )
    assert extract_hrefs(html) == ["https://x.org/a", "HTTPS://x.org/B", "https://x.org/c"]


def test_links_in_a_matrix_reply_quote_are_not_the_replys() -> None:
    html = (
        '<mx-reply><blockquote><a href="https://matrix.to/#/!room:example.org/$event">In reply to</a> '
        '<a href="https://matrix.to/#/@alice:example.org">@alice</a><br>see https://old.example/a'
        '<a href="https://old.example/a">x</a></blockquote></mx-reply>and <a href="https://new.example/b">this</a>'
    )
    text = "> <@alice:example.org> see https://old.example/a #old\n> more\n\nand https://new.example/b #new"
    assert extract_hrefs(html) == ["https://new.example/b"]
    assert extract_links(text, html) == ["https://new.example/b"]
    assert extract_links(text, None) == ["https://new.example/b"]
    assert extract_hashtags(text) == ["new"]


def test_the_first_of_repeated_attributes_wins_as_in_browsers() -> None:
    assert extract_hrefs('<a href="https://x.org/first" href="https://x.org/second">x</a>') == ["https://x.org/first"]
    assert extract_hrefs('<a class="u-url" href="https://x.org/a" class="mention">x</a>') == ["https://x.org/a"]


def test_entities_in_an_href_are_read_as_browsers_read_them() -> None:
    # In an attribute, "&copy=" is text, not the (c) sign: only a reference ended by ";" is read there.
    html = '<a href="https://x.org/?a=1&amp;b=2&copy=3&#x26;c=4">x</a>'
    assert extract_hrefs(html) == ["https://x.org/?a=1&b=2&copy=3&c=4"]


def test_a_word_paste_with_conditional_comments_keeps_its_links() -> None:
    # Word and Outlook pastes hold "<![if !IE]>"; html.parser raised AssertionError on them.
    html = '<p><![ if !IE ]></p><p>read <a href="https://x.org/after">this</a></p><![endif]>'
    assert extract_hrefs(html) == ["https://x.org/after"]
    assert extract_links("read this", html) == ["https://x.org/after"]


def test_text_that_markup_swallows_is_not_read_as_links() -> None:
    # As a browser reads them: a <script>, a <textarea>, an unclosed comment hold text, not links.
    html = ('<script>x = "<a href=\'https://x.org/script\'>"</script><textarea><a href="https://x.org/t">'
            '</textarea><a href="https://x.org/shown">s</a><!-- <a href="https://x.org/comment">')
    assert extract_hrefs(html) == ["https://x.org/shown"]


def test_64_kib_of_unfinished_tags_is_read_and_holds_no_link() -> None:
    # html.parser spent about 50 s on this message (quadratic in its length).
    assert extract_hrefs("<a " * (65_536 // 3)) == []
    assert extract_links("", "<a " * (65_536 // 3)) == []


# --- extract_links -------------------------------------------------------------------------------


def test_links_prefer_the_href_over_the_shortened_visible_text() -> None:
    text = "Great read https://example.com/very/lo… by @alice #python"
    assert extract_links(text, MASTODON_STATUS) == ["https://example.com/very/long/path?id=1&page=2"]


def test_links_are_hrefs_then_new_text_urls_one_per_page_as_posted() -> None:
    html = '<a href="https://a.org/y?utm_source=feed">y</a>'
    text = "https://b.org/x and https://A.org/y and https://b.org/x?fbclid=1 and https://c.org/"
    assert extract_links(text, html) == ["https://a.org/y?utm_source=feed", "https://b.org/x", "https://c.org/"]


def test_links_skip_what_cannot_be_filed() -> None:
    assert extract_links("http://example.com:99999/ and https://ok.example/", None) == ["https://ok.example/"]
    assert extract_links("", None) == []
    assert extract_links("nothing", "<p>nothing</p>") == []


# --- extract_hashtags ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("#Rust #rust #py", ["Rust", "rust", "py"]),
        ("#Rust then #Rust again", ["Rust"]),
        ("fixed in #1 and #2024", []),
        ("#100DaysOfCode", ["100DaysOfCode"]),
        ("https://x.org/p#frag", []),
        ("https://x.org/a-#frag and www.x.org/b-#frag", []),
        ("C# and F# are languages, x#y too", []),
        ("it&#39;s, a/#b, (a)#b, ?x=#y", []),
        ("(#tag), #end. #comma, [#box]", ["tag", "end", "comma", "box"]),
        ("#café #日本語 #हिन्दी #สวัสดี #Straße", ["café", "日本語", "हिन्दी", "สวัสดี", "Straße"]),
        ("#l·l and #dot·", ["l·l", "dot"]),
        ("#snake_case #_private #_ #1_000", ["snake_case", "_private"]),
        ("##double", ["double"]),
    ],
)
def test_hashtags_in_text(text: str, tags: list[str]) -> None:
    assert extract_hashtags(text) == tags


# --- normalise_tag -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "tag"),
    [
        ("#Rust", "rust"),
        ("rust", "rust"),
        ("  #Python ", "python"),
        ("#ＲＵＳＴ", "rust"),
        ("＃ＲＵＳＴ", "rust"),
        ("Straße", "strasse"),
        ("Café", "café"),
        ("machine-learning", "machine-learning"),
        ("snake_case", "snake_case"),
        ("l·l", "l·l"),
        ("हिन्दी", "हिन्दी"),
        ("2024", "2024"),
        ("a" * 50, "a" * 50),
        ("a" * 51, None),  # MAX_TAG_LENGTH
        ("", None),
        ("#", None),
        ("-", None),
        ("c++", None),
        ("two words", None),
        ("🦀", None),
        ("#tag#", None),
    ],
)
def test_normalise_tag(raw: str, tag: str | None) -> None:
    assert normalise_tag(raw) == tag


@pytest.mark.parametrize(
    ("raw", "aliases", "tag"),
    [
        ("py", {"py": "python"}, "python"),
        ("#PY", {"py": "python"}, "python"),
        ("py", {"#Py": "#Python"}, "python"),
        ("python", {"py": "python"}, "python"),
        ("py3", {"py3": "py", "py": "python"}, "py"),  # one step, no chains
        ("py", {"py": "not a tag"}, "py"),  # a broken alias is ignored, the tag kept
        ("not a tag", {"not a tag": "python"}, None),
    ],
)
def test_aliases(raw: str, aliases: dict[str, str], tag: str | None) -> None:
    assert normalise_tag(raw, aliases) == tag


def test_normalise_tags_drops_invalid_and_duplicates_keeping_order() -> None:
    raws = ["#Rust", "py", "RUST", "bad tag", "python", "#ＲＵＳＴ", "web"]
    assert normalise_tags(raws, {"py": "python"}) == ("rust", "python", "web")
    assert normalise_tags(iter(["a", "b"])) == ("a", "b")
    assert normalise_tags([]) == ()


@FAST
@given(st.text(max_size=20))
def test_normalised_tag_is_stable(raw: str) -> None:
    tag = normalise_tag(raw)
    assert tag is None or normalise_tag(tag) == tag


TAG_LIKE = st.text(st.characters(categories=("Lu", "Ll", "Lo", "Mn", "Mc", "Nd", "Pc", "Pd")), min_size=1, max_size=20)


@FAST
@given(TAG_LIKE)
def test_a_tag_can_be_typed_back_as_a_hashtag(raw: str) -> None:
    tag = normalise_tag(raw)
    assume(tag is not None and "-" not in tag and any(char.isalpha() for char in tag))
    assert extract_hashtags(f"#{tag}") == [tag]


def test_a_url_with_bytes_that_were_not_text_is_refused():
    # Python keeps undecodable command-line bytes as lone surrogates; no database can store them.
    with pytest.raises(InvalidURL, match="invisible characters"):
        canonical_key("https://example.com/\udcff")


# -- what mutation testing found unchecked (docs/mutation.md) ---------------------------------------

@pytest.mark.parametrize(("posted", "published"), [
    ("  https://Example.com/Path?utm_source=x&id=3#section  ", "https://Example.com/Path?id=3"),
    ("https://example.com/a", "https://example.com/a"),
    ("https://example.com/a?utm_source=x", "https://example.com/a"),
    ("https://example.com/a?q=a%20b&utm_medium=y#top", "https://example.com/a?q=a%20b"),
    ("https://example.com/search?q=why?&utm_source=x", "https://example.com/search?q=why?"),
    ("https://example.com/app#/route?utm_source=x", "https://example.com/app#/route?utm_source=x"),
    ("https://example.com/app#/a#b", "https://example.com/app#/a%23b"),  # "#" is not valid in a fragment
    ("https://example.com/app#!/inbox", "https://example.com/app#!/inbox"),
    ("https://www.youtube.com/watch?v=abc&si=xyz", "https://www.youtube.com/watch?v=abc"),
    ("https://x.com/someone/status/123?s=20&t=abc", "https://x.com/someone/status/123"),
    ("https://x.com/search?q=rust&s=20", "https://x.com/search?q=rust&s=20"),
    ("https://example.com/a?fbclid=a=b&x=1", "https://example.com/a?x=1"),  # a value may hold "="
])
def test_the_published_link_is_the_posted_one_less_trackers_and_anchors_as_spelled(posted, published):
    assert published_url(posted) == published


def test_a_published_link_is_refused_as_its_key_is():
    with pytest.raises(InvalidURL, match="^only http and https links are filed$"):
        published_url("ftp://example.com/")


def test_only_tracking_names_go_not_every_name_that_begins_the_same():
    assert canonical_key("https://example.com/?user=1&utmost=2&utm_source=x") == "https://example.com/?user=1&utmost=2"


@pytest.mark.parametrize(("url", "reason"), [
    ("https:///path", "this link has no host name"),
    ("https://ex!ample.com/", "this link's host name is not valid"),
    ("https://example.com/a b", "this link contains spaces or invisible characters"),
    ("ftp://example.com/", "only http and https links are filed"),
    ("http://[::1", "this link could not be read as a web address"),
    ("https://example.com/" + "a" * 2029, "this link is longer than 2048 characters"),
])
def test_each_refusal_is_one_whole_sentence(url, reason):
    with pytest.raises(InvalidURL) as refused:
        canonical_key(url)
    assert str(refused.value) == reason


def test_a_link_of_2048_characters_is_filed():
    url = "https://example.com/" + "a" * 2028
    assert len(url) == 2048 and canonical_key(url) == url


def test_a_link_that_cannot_be_filed_does_not_hide_the_next_one():
    text = "https://a.example/" + "x" * 2100 + " then https://ok.example/"
    assert extract_links(text, None) == ["https://ok.example/"]


def test_explicit_http_links_are_found_in_any_case():
    assert extract_urls("read http://old.example/page and HTTPS://NEW.example/") == [
        "http://old.example/page", "HTTPS://NEW.example/"]


def test_a_mastodon_quote_posts_quoted_link_is_not_filed_as_its_own():
    html = ('<p>mine <span class="quote-inline">RE: <a href="https://quoted.example/">q</a></span> '
            '<a href="https://mine.example/">m</a></p>')
    assert extract_hrefs(html) == ["https://mine.example/"]


@pytest.mark.parametrize(("text", "tags"), [
    ("C# beats #rust", ["rust"]),  # a "#" that is no hashtag does not end the search
    ("#·rust", []),  # a joiner never starts a name
    ("#Xmas #X", ["Xmas", "X"]),
    ("> <@bob:x> original\n\n#rust is great", ["rust"]),  # after a Matrix reply's quote
])
def test_hashtags_found_where_they_are_and_only_there(text, tags):
    assert extract_hashtags(text) == tags


def test_a_tag_keeps_its_leading_letters():
    assert normalise_tag("#Xmas") == "xmas"


# --- Hosts that could pass for another are published in punycode (watchbot/hosts.py) ------------


@pytest.mark.parametrize(
    ("posted", "shown"),
    [
        ("https://аррӏе.com/", "https://xn--80ak6aa92e.com/"),  # whole-script Cyrillic "apple"
        ("https://АРРӀЕ.com/a?utm_source=x&q=1", "https://xn--80ak6aa92e.com/a?q=1"),  # whatever its case
        ("https://ѕсоре.com/", "https://xn--e1argc3h.com/"),
        ("https://pаypal.com/login", "https://xn--pypal-4ve.com/login"),  # one Cyrillic "а" in Latin
        ("https://gοοgle.com/", "https://xn--ggle-0nda.com/"),  # Greek omicrons in Latin
        ("https://αικν.com/", "https://xn--mxaqdm.com/"),  # whole-script Greek look-alike
        ("https://shop.аррӏе.com/", "https://shop.xn--80ak6aa92e.com/"),  # one unsafe label: the whole host
        ("https://user@аррӏе.com:8443/x", "https://user@xn--80ak6aa92e.com:8443/x"),
        ("https://tést日本.jp/", "https://xn--tst-bma6730kcvb.jp/"),  # non-ASCII Latin beside Han
        ("https://☃.net/", "https://xn--n3h.net/"),  # a symbol, not a letter
        # Readable: one script, or a combination a language writes.
        ("https://bücher.de/", "https://bücher.de/"),
        ("https://例え.jp/", "https://例え.jp/"),
        ("https://日本-test.jp/", "https://日本-test.jp/"),
        ("https://한국어.kr/", "https://한국어.kr/"),
        ("https://пример.рф/", "https://пример.рф/"),
        ("https://москва.com/", "https://москва.com/"),  # Cyrillic, but "м" and "в" look like no Latin letter
        ("https://аррӏе.ru/", "https://аррӏе.ru/"),  # where Cyrillic is at home, as Chromium allows
        ("https://ελλάδα.gr/", "https://ελλάδα.gr/"),
        ("https://xn--80ak6aa92e.com/", "https://xn--80ak6aa92e.com/"),  # posted in punycode: as posted
    ],
)
def test_a_host_that_could_pass_for_another_is_published_in_punycode(posted: str, shown: str) -> None:
    assert published_url(posted) == shown
    assert canonical_key(posted) == canonical_key(shown)  # the same link either way


def test_the_host_rule_is_label_by_label_and_pure() -> None:
    from watchbot.hosts import shown_in_punycode

    assert shown_in_punycode("аррӏе.com") and not shown_in_punycode("example.com")
    assert not shown_in_punycode("bücher.de") and shown_in_punycode("bücher.аррӏе.com")
    assert shown_in_punycode("ᚠᚢᚦ.com")  # runes: not a script recommended for identifiers
