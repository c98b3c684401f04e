"""Readers who load one page over and over, each as soon as its last answer came: the load of
bench/readers_figures.py, in a process of its own (as readers elsewhere on the network would be).

    python -m bench.looping_readers URL READERS [--new-addresses]

With --new-addresses, each request asks for an address nobody asked before (URL with a counter
in its query), so no answer the web keeps a few seconds can serve it: the readers who cost most.
Prints "ready" once every reader got its first answer, then, when stopped (SIGTERM), how many
answers came and how many were not 200, as one line: "answers N, not 200 M".
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp

from watchbot.web.process import NICENESS


async def main(url: str, readers: int, *, new_addresses: bool) -> None:
    answers, refused = 0, 0
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    started = asyncio.Barrier(readers + 1)

    async def loop(session: aiohttp.ClientSession) -> None:
        nonlocal answers, refused
        first = True
        while not stopping.is_set():
            asked = f"{url}{'&' if '?' in url else '?'}reader={answers}" if new_addresses else url
            async with session.get(asked) as answer:
                await answer.read()
                answers += 1
                refused += answer.status != 200
            if first:
                first = False
                await started.wait()

    # One connection per reader, kept alive, as twenty browsers or scrapers would hold.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=readers),
                                     timeout=aiohttp.ClientTimeout(total=120)) as session:
        tasks = [asyncio.create_task(loop(session)) for _ in range(readers)]
        await started.wait()
        print("ready", flush=True)
        await stopping.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(f"answers {answers}, not 200 {refused}", flush=True)


if __name__ == "__main__":
    # Readers elsewhere on the network cost this machine nothing; here they share the pages'
    # lower priority, so that they take from the pages' share of the CPU, not from the bot's.
    os.nice(NICENESS)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), new_addresses="--new-addresses" in sys.argv[3:]))
