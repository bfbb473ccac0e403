"""Numbers as a person reads them: durations (`format_duration`, from milliseconds) and sizes (`format_bytes`,
decimal units), for the step-cost pictures and tables.
"""

from __future__ import annotations


def format_duration(milliseconds: float) -> str:
    """Milliseconds as the unit a person reads: "0.42 ms", "38 ms", "3.4 s", "2.1 min", "11.6 h", "4.3 days"."""
    s = milliseconds / 1e3
    for unit, size in (("days", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0)):
        if s >= size:
            return f"{s / size:,.1f} {unit}"
    return f"{milliseconds:.2g} ms" if milliseconds < 10 else f"{milliseconds:.0f} ms"


def format_bytes(n: float) -> str:
    """Bytes in decimal units: "4.6 MB", "614 MB", "63 GB", "19.7 TB"."""
    for unit, size in (("PB", 1e15), ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"
