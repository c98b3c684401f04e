"""The command line as a person uses it: real store, real files, what is printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from watchbot.cli import cli


@pytest.fixture
def run(tmp_path: Path, monkeypatch):
    """Run `watchbot ARGS` against a store in tmp_path; returns the click Result."""
    for name in list(__import__("os").environ):
        if name.startswith("WATCHBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env is read

    def invoke(*args: str, db: str = "watchbot.db", ok: bool = True):
        env = {"WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / db}"}
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_add_then_the_same_link_again_says_who_shared_it_first(run):
    first = run("links", "add", "https://example.com/post", "--tag", "Rust", "--by", "alice")
    assert first.output == "Filed #1 https://example.com/post [rust].\n"
    again = run("links", "add", "HTTPS://EXAMPLE.com:443/post?utm_source=x#utm", "--by", "bob")
    assert again.output.startswith("Already shared by alice on ")
    shown = run("links", "show", "1").output
    assert "alice" in shown and "bob" in shown


def test_a_bad_url_is_one_clear_line_and_a_failure(run):
    result = run("links", "add", "javascript:alert(1)", ok=False)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("Error: javascript:alert(1): ")
    assert run("links", "list").output == ""


def test_list_filters_and_json(run):
    run("links", "add", "https://a.example/1", "--tag", "rust", "--by", "alice")
    run("links", "add", "https://a.example/2", "--tag", "python", "--by", "bob", "--note", "about #wasm")
    assert "a.example/1" not in run("links", "list", "--tag", "python").output
    assert "a.example/2" in run("links", "list", "--by", "bob").output
    listed = json.loads(run("links", "list", "--json", "--since", "1d").output)
    assert [link["url"] for link in listed] == ["https://a.example/2", "https://a.example/1"]
    assert listed[0]["tags"] == ["python", "wasm"]  # hashtags in the note count
    assert run("links", "list", "--since", "2999-01-01").output == ""
    bad = run("links", "list", "--since", "last tuesday", ok=False)
    assert bad.exit_code == 2 and "neither a date" in bad.output


def test_search_tags_and_remove(run):
    run("links", "add", "https://lwn.net/Articles/1", "--tag", "linux", "--note", "io_uring security")
    run("links", "add", "https://lwn.net/Articles/2", "--tag", "linux")
    assert "Articles/1" in run("links", "search", "io_uring").output
    assert run("links", "search", "nothing-like-this").output == "Nothing found.\n"
    assert run("tags").output.split() == ["linux", "2"]
    assert run("links", "rm", "1", "--reason", "dup").output.startswith("Removed #1 ")
    assert run("links", "rm", "1", ok=False).output == "Error: there is no link #1\n"
    assert run("tags").output.split() == ["linux", "1"]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_import_into_an_empty_store_gives_back_the_same(run, tmp_path, fmt):
    run("links", "add", "https://a.example/1", "--tag", "rust", "--by", "alice", "--note", 'says "hi", ok')
    run("links", "add", "https://A.example/1?utm_medium=x", "--tag", "wasm", "--by", "bob")
    run("links", "add", "https://b.example/ü", "--by", "carol", "--private", "--note", "line one\nline two")
    run("export", "--format", fmt, "-o", str(tmp_path / f"out.{fmt}"))
    imported = run("import", str(tmp_path / f"out.{fmt}"), db="copy.db")
    assert "Imported 2 new link(s), 1 more share(s) of known links" in imported.output

    def everything(db: str) -> list:
        exported = json.loads(run("export", "--format", "json", db=db).output)
        return exported["links"]

    assert everything("copy.db") == everything("watchbot.db")
    again = run("import", str(tmp_path / f"out.{fmt}"), db="copy.db")
    assert "Imported 0 new link(s), 0 more share(s) of known links; 3 already there" in again.output


def test_import_reports_bad_rows_by_line_and_files_the_rest(run, tmp_path):
    bookmarks = tmp_path / "bookmarks.html"
    bookmarks.write_text(
        "<!DOCTYPE NETSCAPE-Bookmark-file-1>\n"
        "<TITLE>Bookmarks</TITLE>\n<H1>Bookmarks</H1>\n<DL><p>\n"
        '<DT><A HREF="https://good.example/one" ADD_DATE="1700000000" TAGS="rust,async">One</A>\n'
        '<DT><A HREF="javascript:void(0)" ADD_DATE="1700000001">Bookmarklet</A>\n'
        '<DT><A HREF="https://good.example/two" ADD_DATE="1700000002">Two</A>\n'
        "<DD>a note\n</DL><p>\n"
    )
    result = run("import", str(bookmarks), "--by", "dana")
    assert f"{bookmarks}:6: javascript:void(0): " in result.output
    assert "Imported 2 new link(s)" in result.output and "1 skipped" in result.output
    listed = json.loads(run("links", "list", "--json").output)
    assert {link["url"] for link in listed} == {"https://good.example/one", "https://good.example/two"}
    assert {link["first_shared_by"] for link in listed} == {"dana"}
    again = run("import", str(bookmarks), "--by", "dana")
    assert "Imported 0 new link(s), 0 more share(s) of known links; 2 already there" in again.output


def test_an_import_says_which_tags_past_ten_it_left_out(run, tmp_path):
    rows = tmp_path / "links.csv"
    rows.write_text("url,tags\nhttps://many.example/," + " ".join(f"t{i:02d}" for i in range(11)) + "\n")
    result = run("import", str(rows), "--format", "csv")
    assert f"{rows}:2: Only 10 tags are kept per link: #t10 was left out." in result.output
    assert "Imported 1 new link(s)" in result.output and "0 skipped; 1 filed with tags left out" in result.output
    [link] = json.loads(run("links", "list", "--json").output)
    assert len(link["tags"]) == 10
    refused = run("links", "add", "https://more.example/", *[f"--tag=t{i}" for i in range(11)], ok=False)
    assert refused.exit_code == 2
    assert "at most 10 are kept per link" in refused.output


def test_atom_export_is_published_links_only(run, tmp_path):
    run("links", "add", "https://public.example/", "--tag", "rust")
    run("links", "add", "https://secret.example/", "--private")
    atom = run("export", "--format", "atom").output
    assert "public.example" in atom and "secret.example" not in atom


def test_check_lists_every_problem_one_line_each(run, tmp_path):
    (tmp_path / ".env").write_text("WATCHBOT_MAX_LINKS_PER_POST=0\nWATCHBOT_TIMEZON=UTC\n")
    result = run("check", ok=False)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("WATCHBOT_MAX_LINKS_PER_POST: ")
    assert lines[1] == "WATCHBOT_TIMEZON: no such setting; did you mean WATCHBOT_TIMEZONE?"


def test_check_passes_quietly_on_a_good_configuration(run):
    assert run("check", "--quiet").output == ""
    assert run("check").output.startswith("Configuration is fine")


def test_a_command_with_a_bad_configuration_says_so_without_a_traceback(run, tmp_path):
    (tmp_path / ".env").write_text("WATCHBOT_TIMEZONE=Nowhere/Land\n")
    result = run("links", "list", ok=False)
    assert result.exit_code == 1
    assert "WATCHBOT_TIMEZONE: unknown timezone 'Nowhere/Land'" in result.output
    assert "Traceback" not in result.output


def test_a_database_password_never_reaches_the_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {"WATCHBOT_DATABASE_URL": "postgresql://watchbot:s3cret-pw@127.0.0.1:1/watchbot"}
    for args in (["check"], ["links", "list"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 1, result.output
        assert "s3cret-pw" not in result.output
        assert "Traceback" not in result.output


def test_python_dash_m_runs_the_same_command_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "watchbot", "links", "add", "https://example.com/x", "--by", "eve"],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
             "WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Filed #1 https://example.com/x.\n"


def test_the_log_level_setting_is_applied(tmp_path):
    import subprocess
    import sys

    def watchbot_list(level: str, db: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "watchbot", "links", "list"], capture_output=True, text=True, cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
                 "WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / db}", "WATCHBOT_LOG_LEVEL": level},
        )

    # A new store's creation is worth a line at INFO, and nothing at WARNING.
    assert "migrating the store from an empty database" in watchbot_list("info", "a.db").stderr
    assert watchbot_list("WARNING", "b.db").stderr == ""


def test_the_json_log_format_gives_one_object_per_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "watchbot", "links", "list"], capture_output=True, text=True, cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
             "WATCHBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'a.db'}", "WATCHBOT_LOG_FORMAT": "json"},
    )
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert entries and all(set(entry) >= {"time", "level", "logger", "message"} for entry in entries)
    assert any(entry["message"].startswith("migrating the store from an empty database") for entry in entries)


def test_matrix_nios_lines_stay_out_of_the_log_unless_debug_is_asked(caplog):
    import logging

    from watchbot import logs

    caplog.set_level(logging.INFO)
    logs.apply("INFO", "text")
    logging.getLogger("nio.rooms").info("Room !a:x handling event of type RoomMessageText")
    logging.getLogger("nio.responses").warning("Error validating response: 'next_batch' is a required property")
    assert [record.getMessage() for record in caplog.records] == [
        "Error validating response: 'next_batch' is a required property"]
    logs.apply("DEBUG", "text")
    logging.getLogger("nio.rooms").info("Room !a:x handling event of type RoomMessageText")
    assert caplog.records[-1].getMessage() == "Room !a:x handling event of type RoomMessageText"
    logs.apply("INFO", "text")


def test_export_to_a_pipe_writes_into_it_and_leaves_it_a_pipe(run, tmp_path):
    import os
    import stat
    import threading

    run("links", "add", "https://example.com/piped")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    run("export", "--format", "csv", "-o", str(fifo))
    reader.join(timeout=10)
    assert "https://example.com/piped" in received[0]
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # never replaced by a regular file


def test_a_named_env_file_that_does_not_exist_is_an_error(run, tmp_path):
    result = run("--env-file", str(tmp_path / "missing.env"), "links", "list", ok=False)
    assert result.exit_code == 2 and "missing.env does not exist" in result.output


def test_a_foreign_or_newer_database_is_refused_in_one_line(run, tmp_path):
    import sqlite3

    foreign = sqlite3.connect(tmp_path / "foreign.db")
    foreign.execute("CREATE TABLE links (id INTEGER PRIMARY KEY, href TEXT)")
    foreign.commit()
    result = run("links", "list", db="foreign.db", ok=False)
    assert result.output == ("Error: this database already holds tables that watchbot did not make; "
                             "point WATCHBOT_DATABASE_URL at a new database\n")
    assert "did not make" in run("check", db="foreign.db", ok=False).output

    run("links", "list", db="newer.db")
    newer = sqlite3.connect(tmp_path / "newer.db")
    newer.execute("UPDATE alembic_version SET version_num = '0099'")
    newer.commit()
    result = run("links", "list", db="newer.db", ok=False)
    assert result.output == "Error: the store was written by a newer watchbot (schema 0099); upgrade watchbot to use it\n"


def test_export_files_are_private_keep_their_mode_and_follow_symlinks(run, tmp_path):
    import os
    import stat

    run("links", "add", "https://example.com/private-backup", "--private")
    new = tmp_path / "new.json"
    run("export", "-o", str(new))
    assert stat.S_IMODE(new.stat().st_mode) == 0o600  # a backup holds private shares

    shared = tmp_path / "shared.json"
    shared.write_text("old")
    os.chmod(shared, 0o644)
    run("export", "-o", str(shared))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644 and "private-backup" in shared.read_text()

    link = tmp_path / "latest.json"
    link.symlink_to(new)
    run("links", "add", "https://example.com/second")
    run("export", "-o", str(link))
    assert link.is_symlink() and "second" in new.read_text()


@pytest.mark.parametrize("args", [
    ["export", "-o", "/nonexistent-dir/x.json"],
    ["links", "show", "99999999999999999999"],
    ["links", "rm", "3000000000"],
    ["links", "list", "--since", "99999999w"],
    ["links", "list", "--since", "9999-12-31T23:59:59-23:59"],
    ["links", "add", "https://example.com/", "--tag", "a b"],
    ["links", "add", "https://example.com/", "--tag", ""],
    ["links", "add", "https://example.com/", "--note", "bad \udcff byte"],
    ["import", "/dev/zero"],
])
def test_bad_arguments_get_one_line_and_no_traceback(run, args):
    result = run(*args, ok=False)
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    assert run("links", "list").output == ""  # and nothing was filed


def test_digest_preview_reads_the_same_in_text_markdown_and_json(run):
    run("links", "add", "https://lwn.net/Articles/1001/", "--tag", "linux", "--by", "alice")
    text = run("digest", "preview").output
    assert text.startswith("Tech watch") and "1 link from 1 person" in text and "#linux" in text
    assert run("digest", "preview", "--format", "markdown").output.startswith("# Tech watch")
    data = json.loads(run("digest", "preview", "--format", "json").output)
    assert data["sections"][0]["tag"] == "linux"
    assert data["sections"][0]["links"][0]["url"] == "https://lwn.net/Articles/1001/"


def test_modlog_shows_who_did_what_and_why(run):
    assert run("modlog").output == "The moderation log is empty.\n"
    run("links", "add", "https://spam.example/")
    run("links", "rm", "1", "--reason", "spam")
    [line] = run("modlog").output.splitlines()
    assert line.endswith("remove-link https://spam.example/ (spam)") and " cli:" in line


def test_a_digest_cut_at_its_top_points_to_the_configured_archive(run, monkeypatch):
    monkeypatch.setenv("WATCHBOT_DIGEST_TOP", "1")
    monkeypatch.setenv("WATCHBOT_DIGEST_ARCHIVE_URL", "https://watch.example/archive")
    run("links", "add", "https://one.example/")
    run("links", "add", "https://two.example/")
    assert run("digest", "preview").output.rstrip().endswith("And 1 more in the archive: https://watch.example/archive.")


def test_moderation_from_the_shell_is_logged_as_the_local_user(run):
    assert run("mod", "block", "*.spam.example", "malware").output == (
        "Blocked *.spam.example: links to it are not filed from now on.\n")
    assert "was blocked already" in run("mod", "block", "*.SPAM.example").output  # one spelling
    assert run("mod", "ban", "@troll@Social.Example", "flooding").output.startswith("Banned troll@social.example")
    assert run("mod", "queue").output == "Nothing waits for review.\n"
    assert run("mod", "approve", "7", ok=False).output == "Nothing waits for review as #7.\n"
    log = run("modlog").output.splitlines()
    assert log[0].endswith("ban troll@social.example (flooding)") and " cli:" in log[0]
    assert run("mod", "unban", "troll@social.example").output == "troll@social.example may share again.\n"


def test_an_operator_forgets_someone_who_asked_by_email_and_the_log_names_the_operator(run, tmp_path):
    import asyncio
    import getpass
    import re

    from watchbot.intake import Rules, file_post
    from watchbot.model import Post, Source
    from watchbot.store import Store

    async def share() -> None:
        async with await Store.open(f"sqlite:///{tmp_path / 'watchbot.db'}") as store:
            for who, url in (("@gone:x", "https://theirs.example/"), ("@bob:x", "https://bobs.example/")):
                await file_post(store, Post(source=Source.MATRIX, place="!room:x", author_id=who,
                                            author_name=who[1:4], text=url, event_id=f"$event-of-{who}"), Rules())

    asyncio.run(share())
    said = run("mod", "forget", "@gone:x").output
    assert said.startswith("Done: 1 share(s) of @gone:x removed (1 link(s) nobody else shared went with them).")
    assert "Kept: what was done, in the moderation log, under a pseudonym." in said
    assert "theirs.example" not in run("links", "list").output and "bobs.example" in run("links", "list").output
    [line] = run("modlog").output.splitlines()
    assert re.search(rf" cli:{re.escape(getpass.getuser())} forget forgotten-[0-9a-f]{{8}} \(1 share\(s\)\)$", line)
    assert "@gone:x" not in line
    assert run("mod", "forget", ok=False).exit_code == 2  # whom, it says


def keep_failures(tmp_path: Path, *failures: tuple) -> None:
    """Failed events in the store the `run` fixture uses, as the bot would have kept them."""
    import asyncio
    from datetime import datetime, timezone

    from watchbot.store import Store
    from watchbot.store.failures import FailureStore

    async def keep() -> None:
        async with await Store.open(f"sqlite:///{tmp_path / 'watchbot.db'}") as store:
            for minute, (source, place, event_id, reason, payload) in enumerate(failures):
                at = datetime(2026, 11, 23, 10, minute, tzinfo=timezone.utc)
                await FailureStore(store).record(source, place, event_id, reason, payload, at=at)

    asyncio.run(keep())


def test_failed_events_are_listed_retried_by_the_bot_and_forgotten(run, tmp_path, monkeypatch):
    monkeypatch.setenv("WATCHBOT_TIMEZONE", "UTC")
    assert run("failed").output == "No failed events waiting.\n"
    keep_failures(
        tmp_path,
        ("matrix", "!room:example.org", "$ev1", "RuntimeError: boom", '{"event_id": "$ev1"}'),
        ("mastodon", "social.example", "77", "KeyError: 'status'", None),  # kept without its payload
        ("feed", "https://blog.example/feed", "1:entry", "ValueError: odd date", '{"source": "feed"}'),
    )
    assert run("check").output.splitlines()[1] == "3 failed event(s) wait for you: see `watchbot failed`."
    assert run("failed").output.splitlines() == [
        "#3    2026-11-23 10:02 feed 1:entry in https://blog.example/feed (1 attempt)",
        "      ValueError: odd date",
        "#2    2026-11-23 10:01 mastodon 77 in social.example (1 attempt, cannot be retried)",
        "      KeyError: 'status'",
        "#1    2026-11-23 10:00 matrix $ev1 in !room:example.org (1 attempt)",
        "      RuntimeError: boom",
    ]

    assert run("failed", "retry", "1").output.splitlines() == [
        "#1 matrix $ev1: the running bot retries it at its next sync.",
        "`watchbot failed` shows what is still waiting.",
    ]
    assert "(1 attempt, retry asked)" in run("failed").output
    refused = run("failed", "retry", "2", ok=False)
    assert refused.exit_code == 1 and "cannot be retried; `watchbot failed forget 2` closes it" in refused.output
    missing = run("failed", "retry", "9", ok=False)
    assert missing.output == "Error: there is no failed event #9 (see `watchbot failed`)\n"
    assert run("failed", "retry", ok=False).exit_code == 2  # neither ids nor --all
    assert [line.split(":")[0] for line in run("failed", "retry", "--all").output.splitlines()[:-1]] == [
        "#1 matrix $ev1", "#3 feed 1"]

    assert run("failed", "forget", "2").output == "#2 mastodon 77: forgotten.\n"
    assert run("failed", "forget", "2", ok=False).output == "Error: failed event #2 is closed already (forgotten)\n"
    assert "#2 " not in run("failed").output
    listed = json.loads(run("failed", "--all", "--json").output)
    assert [(f["id"], f["resolution"], f["retryable"]) for f in listed] == [
        (3, None, True), (2, "forgotten", False), (1, None, True)]
    assert run("check").output.splitlines()[1] == "2 failed event(s) wait for you: see `watchbot failed`."
    assert run("check", "--quiet").output == ""


def test_rooms_lists_how_each_room_is_treated_and_set_changes_it_from_now_on_or_for_the_past_too(
        run, tmp_path: Path):
    import asyncio
    from datetime import datetime, timezone

    from watchbot.intake import Rules, file_post
    from watchbot.model import Post, Source, Visibility
    from watchbot.model import Treatment
    from watchbot.store import Store
    from watchbot.store.rooms import RoomStore

    assert run("rooms").output.startswith("The bot is in no room yet")
    at = datetime(2026, 11, 20, tzinfo=timezone.utc)

    async def the_bot_was_there() -> None:
        store = await Store.open(f"sqlite:///{tmp_path / 'watchbot.db'}")
        rooms = RoomStore(store)
        await rooms.record("!lab:x", "Lab", Treatment(Visibility.PRIVATE, "only people let in may join"), at=at)
        await rooms.record("!dm:x", None, Treatment(Visibility.DIRECT, "a direct chat"), at=at)
        for n, visibility in enumerate([Visibility.PRIVATE] * 3 + [Visibility.DIRECT]):
            await file_post(store, Post(source=Source.MATRIX, place="!lab:x", author_id="@a:x", author_name="a",
                                        text=f"https://lab.example/{n}", event_id=f"${n}",
                                        visibility=visibility, at=at), Rules())
        await store.close()

    asyncio.run(the_bot_was_there())

    def private_shares() -> int:
        return sum(run("links", "show", str(n), "--json").output.count('"visibility": "private"') for n in (1, 2, 3))

    assert run("rooms").output == (
        "!dm:x: direct (a direct chat); no digest here (a direct chat)\n"
        "!lab:x “Lab”: private (only people let in may join); digest posted here\n")
    assert private_shares() == 3

    said = run("rooms", "set", "!lab:x", "public").output
    assert said.startswith("!lab:x is now public: links shared there from now on may be published")
    assert "set public by cli:" in run("rooms").output
    assert private_shares() == 3  # the past as it was

    said = run("rooms", "set", "!lab:x", "public", "--past").output
    assert "3 share(s) in !lab:x are now public (3 link(s))." in said
    # A direct share filed there (a direct chat the store took for a room) stays direct (decision 35).
    assert "1 direct share was left private: direct chats are never published." in said
    assert private_shares() == 0
    assert '"visibility": "direct"' in run("links", "show", "4", "--json").output

    refused = run("rooms", "set", "!dm:x", "public", ok=False)
    assert (refused.exit_code, refused.output) == (1, "Error: !dm:x is a direct chat: what is said there is never "
                                                      "published\n")
    assert run("rooms", "set", "!nowhere:x", "private", ok=False).output == (
        "Error: the bot is not in !nowhere:x (see: watchbot rooms)\n")
    assert "is not a room id" in run("rooms", "set", "lab", "private", ok=False).output
