"""The rooms the bot is in, and how their links are filed: what each room's state says (recorded
by the bot as it learns it) and an operator's choice over it (`watchbot rooms set`). The command
line reads them here whether the bot runs or not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from watchbot.model import RoomRecord, Source, Treatment, Visibility, rewritten
from watchbot.store.links import rebuild_search_document
from watchbot.store.modlog import log_action
from watchbot.store.schema import digest_runs, rooms, shares
from watchbot.store.store import Store


@dataclass(frozen=True, slots=True)
class Reclassified:
    """What `set_override` did."""

    room: RoomRecord
    shares: int  # shares filed there before whose visibility changed (with `past`)
    links: int  # the links those shares are of
    direct: int = 0  # direct shares filed there, left as they are: never published (model.rewritten)


class RoomStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, room_id: str) -> RoomRecord | None:
        """The room as recorded (None: never seen). Read for every message the bot files."""
        return await self.store.read(
            lambda conn: next((_record(row) for row in conn.execute(_ONE_ROOM, {"room_id": room_id})), None))

    async def joined(self) -> list[RoomRecord]:
        """Every room the bot is in, by id."""
        query = select(rooms).where(rooms.c.joined).order_by(rooms.c.room_id)
        return await self.store.read(lambda conn: [_record(row) for row in conn.execute(query)])

    async def direct_chats(self) -> set[str]:
        """The rooms recorded as direct chats, joined or not."""
        query = select(rooms.c.room_id).where(rooms.c.state_visibility == Visibility.DIRECT.value)
        return await self.store.read(lambda conn: set(conn.execute(query).scalars()))

    async def record(self, room_id: str, name: str | None, state: Treatment, *, at: datetime) -> RoomRecord | None:
        """The bot is in `room_id`, whose state says `state`: keep it, and return the room as it
        was before (None: never recorded)."""

        def record(conn: Connection) -> RoomRecord | None:
            before = next((_record(row) for row in conn.execute(select(rooms).where(rooms.c.room_id == room_id))),
                          None)
            values = {"name": name, "state_visibility": state.visibility.value, "state_reason": state.reason, "joined": True,
                      "updated_at": at}
            dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            conn.execute(dialect_insert(rooms).values(room_id=room_id, **values)
                         .on_conflict_do_update(index_elements=[rooms.c.room_id], set_=values))
            return before

        return await self.store.write(record)

    async def left(self, room_id: str, *, at: datetime) -> None:
        """The bot is no longer in `room_id` (kicked, banned, left); what was decided for it stays."""
        await self.store.write(lambda conn: conn.execute(
            update(rooms).where(rooms.c.room_id == room_id).values(joined=False, updated_at=at)))

    async def set_override(self, room_id: str, visibility: Visibility, *, by: str, at: datetime,
                           past: bool) -> Reclassified | None:
        """An operator's choice for a room, from now on; with `past`, also for every share filed
        there before, in the same transaction (their links' search and published view rebuilt, and
        posted digests that showed a share now private marked to be edited), but a direct share,
        which stays direct (model.rewritten): `direct` counts them. None: the room was never
        recorded."""

        def set_override(conn: Connection) -> Reclassified | None:
            if conn.execute(select(rooms.c.room_id).where(rooms.c.room_id == room_id)).first() is None:
                return None
            conn.execute(update(rooms).where(rooms.c.room_id == room_id).values(
                override=visibility.value, overridden_by=by, overridden_at=at, updated_at=at))
            others = conn.execute(select(shares.c.id, shares.c.link_id, shares.c.shared_at, shares.c.visibility).where(
                shares.c.source == Source.MATRIX.value, shares.c.place == room_id,
                shares.c.visibility != visibility.value)).all()
            direct = sum(Visibility(row.visibility) is Visibility.DIRECT for row in others)
            changed = [row for row in others
                       if rewritten(Visibility(row.visibility), visibility) is not Visibility(row.visibility)] if past else []
            if changed:
                conn.execute(update(shares).where(shares.c.id.in_([row.id for row in changed]))
                             .values(visibility=visibility.value))
            if not visibility.publishable:
                for moment in {row.shared_at for row in changed if Visibility(row.visibility).publishable}:
                    conn.execute(update(digest_runs).where(
                        digest_runs.c.status == "posted", digest_runs.c.period_start <= moment,
                        digest_runs.c.period_end > moment).values(status="amend"))
            touched = sorted({row.link_id for row in changed})
            for link_id in touched:
                rebuild_search_document(conn, link_id)
            left = f" ({direct} direct share(s) left as they were)" if past and direct else ""
            log_action(conn, by, f"room-{visibility.value}", room_id,
                       f"and {len(changed)} share(s) filed there before{left}" if past else "from now on")
            row = conn.execute(select(rooms).where(rooms.c.room_id == room_id)).one()
            return Reclassified(_record(row), len(changed), len(touched), direct)

        return await self.store.write(set_override)


# Built once: building a statement costs more than running it (it is read for every message).
_ONE_ROOM = select(rooms).where(rooms.c.room_id == bindparam("room_id"))


def _record(row) -> RoomRecord:
    return RoomRecord(
        room_id=row.room_id, name=row.name,
        state=Treatment(Visibility(row.state_visibility), row.state_reason),
        override=Visibility(row.override) if row.override else None,
        overridden_by=row.overridden_by, overridden_at=row.overridden_at, joined=bool(row.joined),
        updated_at=row.updated_at,
    )
