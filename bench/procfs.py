"""What the kernel says about a benchmark's processes and the machine: one reading of each for
every script under bench/ (Linux /proc)."""

from __future__ import annotations

import os


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident memory so far, in MiB: VmHWM, counted from its exec (unlike
    ru_maxrss, which a child inherits from the parent it was forked from); None once it has
    gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def load() -> float:
    """The 1-minute load average: the machine is shared, and a busy one skews the numbers."""
    return os.getloadavg()[0]
