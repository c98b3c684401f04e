"""Who holds a digest run, and whether that poster is still alive.

A claim is named by host, process id and the process's start time, so that a run whose poster
exited (a `watchbot digest post` that failed, a bot killed) on this host is taken over at once,
and a process id the kernel gave to another program since is not mistaken for the poster. A
poster on another host cannot be seen from here: its claim expires instead (STALE_AFTER).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def poster_name(pid: int | None = None) -> str:
    """This process's name for its claims: "host:pid:start"."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start(pid) or '?'}"


def process_start(pid: int) -> str | None:
    """When process `pid` started, in clock ticks since boot (Linux), "?" where the system does
    not say, None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return _exists(pid)
    # The command name (field 2) may hold spaces and parentheses: count fields after its end.
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19]  # field 22, starttime


def poster_gone(owner: str | None) -> bool:
    """True when `owner` names a process of this host that no longer runs; False when it runs,
    or when it cannot be told (another host, a name without a process)."""
    if owner is None:
        return True  # released: its poster gave it up
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or not start:
        return False
    running = process_start(int(pid_text))
    return running is None or (start != "?" and running not in (start, "?"))


def _exists(pid: int) -> str | None:
    if not Path("/proc").is_dir():  # no procfs (macOS): ask the kernel directly
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return "?"
