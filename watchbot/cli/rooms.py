"""`watchbot rooms`: the chat rooms the bot is in, how their links are filed and why, and an
operator's choice over it. Read from the store, so it works whether the bot runs or not."""

from __future__ import annotations

import getpass
import re

import click

from watchbot.cli.context import Context, with_store
from watchbot.model import RoomRecord, Visibility, utcnow
from watchbot.rooms import digest_here
from watchbot.store import Store
from watchbot.store.rooms import RoomStore

ROOM_ID = re.compile(r"^!\S+$")  # room version 12 ids have no :server


@click.group("rooms", invoke_without_command=True)
@click.pass_context
def rooms(click_ctx: click.Context) -> None:
    """The rooms the bot is in: how their links are filed (public or private) and why."""
    if click_ctx.invoked_subcommand is None:
        click_ctx.invoke(rooms_list)


@rooms.command("list")
@with_store
async def rooms_list(ctx: Context, store: Store) -> None:
    """Every room the bot is in, how its links are filed, and whether the digest is posted there."""
    joined = await RoomStore(store).joined()
    if not joined:
        click.echo("The bot is in no room yet (it records each room as it joins one: watchbot run).")
        return
    for room in joined:
        click.echo(_line(ctx, room))


def _line(ctx: Context, room: RoomRecord) -> str:
    settings = ctx.settings
    not_here = digest_here(room.room_id, room.visibility, enabled=settings.digest_enabled,
                           rooms_off=settings.digest_rooms_off, review_room=settings.digest_review_room)
    name = f" “{room.name}”" if room.name else ""
    digest = "digest posted here" if not_here is None else f"no digest here ({not_here})"
    return f"{room.room_id}{name}: {room.visibility.value} ({room.why}); {digest}"


@rooms.command("set")
@click.argument("room")
@click.argument("treatment", type=click.Choice(["public", "private"]))
@click.option("--past", is_flag=True,
              help="Also for every link shared there before (otherwise: from now on only).")
@with_store
async def rooms_set(ctx: Context, store: Store, room: str, treatment: str, past: bool) -> None:
    """File the links of ROOM as public (they may reach the digest and the fediverse) or private
    (never published), whatever the room's own state says."""
    if not ROOM_ID.match(room):
        raise click.BadParameter(f"{room!r} is not a room id (such as !abc:example.org; see: watchbot rooms)",
                                 param_hint="ROOM")
    records = RoomStore(store)
    known = await records.get(room)
    if known is None or not known.joined:
        raise click.ClickException(f"the bot is not in {room} (see: watchbot rooms)")
    if known.visibility is Visibility.DIRECT:
        raise click.ClickException(f"{room} is a direct chat: what is said there is never published")
    visibility = Visibility(treatment)
    done = await records.set_override(room, visibility, by=f"cli:{getpass.getuser()}", at=utcnow(), past=past)
    future = ("may be published (digest, fediverse)" if visibility.publishable else "are never published")
    click.echo(f"{room} is now {treatment}: links shared there from now on {future}.")
    if past:
        click.echo(f"{done.shares} share(s) in {room} are now {treatment} ({done.links} link(s)).")
        if done.shares and not visibility.publishable:
            click.echo("Digests already posted that showed them are edited by the running bot.")
    if done.direct and visibility.publishable:
        click.echo(f"{_direct_left(done.direct)} private: direct chats are never published.")


def _direct_left(count: int) -> str:
    return "1 direct share was left" if count == 1 else f"{count} direct shares were left"
