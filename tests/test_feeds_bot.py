"""Feeds wired into the running bot, against a real Synapse: an alert feed's new entry is posted
to the room at once, and the moderators' room follows feeds (they reach every room)."""

from __future__ import annotations

import asyncio


from tests.matrix_helpers import wait_for_event
from tests.page_server import serving_pages
from tests.test_feeds_poller import ONE, TWO, rss
from tests.test_matrix_bot import Scene, room_with_bot, say
from watchbot.bot import build_bot
from watchbot.commands.registry import refusal_of
from watchbot.store import Store
from watchbot.store.links import LinkStore


def body_starting(text: str):
    return lambda e: e.source.get("content", {}).get("body", "").startswith(text)


async def test_an_alert_feed_posts_its_new_entry_to_the_room_and_the_moderators_room_follows_feeds(scene: Scene):
    alice, alice_client = await scene.person("alice")  # creates the room: a moderator there
    bob, bob_client = await scene.person("bob")
    settings = scene.settings(allowed=[alice.user_id]).model_copy(
        update={"fetch_allow_networks": "127.0.0.1/32", "feeds_enabled": True})
    async with scene.running(settings):
        room_id = await room_with_bot(scene, alice_client, bob_client)
    # The moderators' room is named once the bot is in it: the operator sets it and restarts the bot.
    settings = settings.model_copy(update={"moderators_room": room_id})
    store = await Store.open(scene.database_url)
    bot = build_bot(settings, store)  # the wiring of `watchbot run`: the desk knows the poller
    [adapter], poller = bot.networks, bot.poller
    task = asyncio.create_task(adapter.run())
    with serving_pages() as pages:
        advisories = pages.page("/advisories.xml", rss(ONE), content_type="application/rss+xml")
        try:
            await say(bob_client, room_id, f"!watch feed add {advisories} alert")
            refused = await wait_for_event(bob_client, room_id, body_starting(refusal_of("feed")))
            assert refused.source["sender"] == scene.bot.user_id
            await say(alice_client, room_id, f"!watch feed add {advisories} #security alert")
            await wait_for_event(alice_client, room_id, body_starting("Following feed #1 “Example Advisories”"))
            [followed] = await poller.feeds.all()
            assert (followed.url, followed.alert) == (advisories, True)

            pages.page("/advisories.xml", rss(TWO, ONE), content_type="application/rss+xml")
            await poller.poll_all()
            alert = await wait_for_event(alice_client, room_id, body_starting("Example Advisories: Advisory two"))
            assert alert.source["content"]["msgtype"] == "m.notice"
            assert "CVE-2026-1111" in alert.source["content"]["body"]
            assert "https://www.cve.org/CVERecord?id=CVE-2026-1111" in alert.source["content"]["formatted_body"]
            [link] = [link for link in await LinkStore(store).list_links() if link.url == TWO[1]]
            assert link.tags == ("security", "security-advisories")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await poller.client.aclose()
            await store.close()
