"""A bug on demand, for the tests of isolation (one event never stops the bot)."""

from __future__ import annotations

import asyncio

from watchbot.store import Store
from watchbot.store.failures import FailedEvent, FailureStore


class Poison:
    """Makes `module.file_post` raise for posts that say POISON (standing for any unexpected bug
    in handling one event), and lists the event ids it met; `cure` puts the real one back. A
    module filing runs of messages together (`file_posts`) has a poisoned run raise as a whole."""

    def __init__(self, monkeypatch, module) -> None:
        self.met: list[str] = []
        self._monkeypatch, self._module = monkeypatch, module
        self._real = real = module.file_post

        async def file_post(store, post, *args, **kwargs):
            if "POISON" in f"{post.text} {post.html} {post.title}":
                self.met.append(post.event_id)
                raise RuntimeError("a bug met a message it did not expect")
            return await real(store, post, *args, **kwargs)

        monkeypatch.setattr(module, "file_post", file_post)
        self._real_batch = real_batch = getattr(module, "file_posts", None)
        if real_batch is not None:
            async def file_posts(store, filings, *args, **kwargs):
                if any("POISON" in f"{f.post.text} {f.post.html} {f.post.title}" for f in filings):
                    raise RuntimeError("a bug met a message it did not expect")
                return await real_batch(store, filings, *args, **kwargs)

            monkeypatch.setattr(module, "file_posts", file_posts)

    def cure(self) -> None:
        self._monkeypatch.setattr(self._module, "file_post", self._real)
        if self._real_batch is not None:
            self._monkeypatch.setattr(self._module, "file_posts", self._real_batch)


async def eventually(check, what: str, timeout: float = 30):
    """What `check()` gives once it is truthy (a deadline to fail by, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.05)
    raise TimeoutError(f"waited {timeout:g} s for {what}")


async def resolved(store: Store, number: int) -> FailedEvent | None:
    failure = await FailureStore(store).get(number)
    return failure if failure is not None and failure.resolved else None
