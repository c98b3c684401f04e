"""The one way every benchmark in bench/ measures: two sides, interleaved, repeated, summarised.

A figure compares watchbot ("ours") with a baseline doing the same work ("base"). Both sides are
run in the mirrored order A B B A A B ... so that a drift of the machine's load (it is shared)
falls on both alike; each run gives one sample per side, and the samples of one round form a pair.
The summary is the median of each side (and its p95, where a figure's target is a p95), the
spread of each side (interquartile range), the ratio of the medians, and the spread of the ratio
(interquartile range of the paired ratios), with the load average before and after.

A side is a callable taking the run's index and returning the seconds (or megabytes) it measured,
or an awaitable of them: each side times itself, as only it knows where its work begins and ends
(a Matrix round trip ends when another client sees the reaction).
"""

from __future__ import annotations

import inspect
import math
import os
import platform
import sqlite3
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Side = Callable[[int], "float | Awaitable[float]"]


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between the sorted values; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def load() -> float:
    """The machine's load average over the last minute."""
    return os.getloadavg()[0]


@dataclass
class Figure:
    """One row of the table: what is measured, both sides' samples, and the issue's target."""

    name: str
    unit: str  # "ms", "s" or "MB": the samples are kept in that unit
    ours: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    base_name: str = "baseline"
    target: str = ""  # as the issue says it, e.g. "≤ 2×" or "p95 < 100 ms"
    max_ratio: float | None = None  # the ratio of the medians must not exceed it
    max_p95: float | None = None  # ours' p95, in `unit`, must stay below it
    max_median: float | None = None  # ours' median, in `unit`, must stay below it
    compared: float = 0.5  # the quantile the ratio compares: the medians, or 0.95 for the p95s
    note: str = ""
    load_before: float = math.nan
    load_after: float = math.nan

    @property
    def ratio(self) -> float:
        return _divide(quantile(self.ours, self.compared), quantile(self.base, self.compared)) \
            if self.ours and self.base else math.nan

    @property
    def paired_ratios(self) -> list[float]:
        return [_divide(a, b) for a, b in zip(self.ours, self.base, strict=False)]

    @property
    def ratio_spread(self) -> tuple[float, float]:
        ratios = self.paired_ratios
        return quantile(ratios, 0.25), quantile(ratios, 0.75)

    @property
    def met(self) -> bool | None:
        """Whether every target of the figure is met (None: it has none)."""
        checks = []
        if self.max_ratio is not None:
            checks.append(self.ratio <= self.max_ratio)
        if self.max_p95 is not None:
            checks.append(quantile(self.ours, 0.95) < self.max_p95)
        if self.max_median is not None:
            checks.append(quantile(self.ours, 0.5) < self.max_median)
        return all(checks) if checks else None


def _divide(a: float, b: float) -> float:
    return a / b if b else math.nan


async def interleave(figure: Figure, ours: Side, base: Side, *, repeat: int, warmup: int = 0) -> Figure:
    """Run both sides `repeat` times each in the order A B B A A B ..., after `warmup` unmeasured
    runs of each, into `figure`'s samples; the load average is read before and after."""
    for i in range(warmup):
        await _call(base, -1 - i)
        await _call(ours, -1 - i)
    figure.load_before = load()
    for i in range(repeat):
        order = (("base", base), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("base", base))
        for name, side in order:
            getattr(figure, name).append(await _call(side, i))
    figure.load_after = load()
    return figure


async def _call(side: Side, index: int) -> float:
    result = side(index)
    if inspect.isawaitable(result):
        result = await result
    return float(result)


def machine() -> str:
    """One line: cores, memory, Python, SQLite and the load average now."""
    memory = "?"
    try:
        with open("/proc/meminfo") as info:
            kib = int(next(line for line in info if line.startswith("MemTotal:")).split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    one, five, fifteen = os.getloadavg()
    return (f"{platform.machine()}, {os.cpu_count()} cores, {memory}, {platform.python_implementation()} "
            f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; load average {one:.2f} {five:.2f} "
            f"{fifteen:.2f}")


def _amount(value: float, unit: str) -> str:
    if math.isnan(value):
        return "–"
    if unit == "ms" and value < 1:
        return f"{value * 1000:.0f} µs"
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {unit}"


def row(figure: Figure) -> str:
    """The figure as one Markdown table row (columns: see HEADER)."""
    low, high = figure.ratio_spread
    ratio = f"{figure.ratio:.2f}× ({low:.2f}–{high:.2f})" if not math.isnan(figure.ratio) else "–"

    def side(samples: list[float]) -> str:
        text = f"{_amount(quantile(samples, 0.5), figure.unit)}"
        if figure.max_p95 is not None or len(samples) >= 20:
            text += f", p95 {_amount(quantile(samples, 0.95), figure.unit)}"
        return text + f" (n={len(samples)})"

    met = {True: "yes", False: "**no**", None: "–"}[figure.met]
    return (f"| {figure.name} | {ratio} | {side(figure.ours)} | {figure.base_name}: {side(figure.base)} | "
            f"{figure.target} | {met} | {figure.load_before:.1f} → {figure.load_after:.1f} |")


HEADER = ("| figure | ratio ours / baseline: median (IQR of paired ratios) | watchbot: median | baseline: median "
          "| target | met | load 1 min, before → after |\n|---|---|---|---|---|---|---|")


def table(figures: list[Figure]) -> str:
    return "\n".join([HEADER, *(row(f) for f in figures)])
