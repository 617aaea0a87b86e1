"""Peak memory of a process and everything it starts (the engine, the language host, the plugins).

Sampled from /proc: every `every` seconds the tree under the root process is walked
(/proc/<pid>/task/<tid>/children: any thread may have started a child) and its memory summed:
- `peak_mb`: the largest sum of the processes' resident sizes (VmRSS). A page two processes of
  the tree share counts twice (the two Python processes share the interpreter's libraries: tens
  of MB), so this errs high, and it depends on nothing outside the tree;
- `peak_pss_mb`: the same with proportional set sizes (PSS, /proc/<pid>/smaps_rollup: a page
  shared by k processes counts 1/k). Nothing counts twice, but a page is shared with processes
  outside the tree too: another engineer running the same plugins makes this figure smaller
  (by 150 MB at 10 nodes here), so it is not the headline;
- `hwm_sum_mb`: the sum of each process's own high-water mark (VmHWM), which a sample cannot miss:
  an upper bound (the processes need not peak together);
- `engine_peak_mb`: the root process's own VmHWM (the `pulumi` engine alone: what /usr/bin/time
  or `ru_maxrss` would say).
Why not a cgroup's memory peak: the machine has no systemd to make a transient scope (PID 1 is
not systemd), cgroup v1's max_usage_in_bytes also counts page cache (the file backend writes the
state file again and again), and another engineer's processes share the machine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROC = Path("/proc")


def field_kb(text: str, key: str) -> int:
    """`key:   1234 kB` of a /proc status or smaps_rollup text, in kB (0 if absent: a zombie)."""
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            parts = line.split()
            return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return 0


def children(pid: int, proc: Path = PROC) -> list[int]:
    out: list[int] = []
    try:
        tasks = list((proc / str(pid) / "task").iterdir())
    except OSError:
        return out
    for task in tasks:
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return out


def tree(root: int, proc: Path = PROC) -> list[int]:
    """The root and its descendants, the root first."""
    seen: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop(0)
        if pid in seen:
            continue
        seen.append(pid)
        todo += children(pid, proc)
    return seen


def start_time(pid: int, proc: Path = PROC) -> int | None:
    """When the process started (clock ticks since boot, /proc/<pid>/stat field 22): with the pid,
    it names one process even if the pid is reused."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    return int(fields[19]) if len(fields) > 19 and fields[19].isdigit() else None


def process_name(cmdline: bytes, fallback: str) -> str:
    """The program's file name (argv[0]), else the kernel's (15-character) name."""
    argv0 = cmdline.split(b"\0", 1)[0].decode(errors="replace")
    return argv0.rsplit("/", 1)[-1] or fallback


@dataclass
class Proc:
    name: str
    rss_kb: int
    pss_kb: int
    hwm_kb: int


def read_proc(pid: int, proc: Path = PROC) -> Proc | None:
    base = proc / str(pid)
    try:
        status = (base / "status").read_text()
        cmdline = (base / "cmdline").read_bytes()
    except OSError:
        return None
    try:
        pss = field_kb((base / "smaps_rollup").read_text(), "Pss")
    except OSError:
        pss = field_kb(status, "VmRSS")
    names = [line.split(None, 1)[-1].strip() for line in status.splitlines() if line.startswith("Name:")]
    name = process_name(cmdline, names[0] if names else "?")
    return Proc(name, field_kb(status, "VmRSS"), pss, field_kb(status, "VmHWM"))


def sample(root: int, proc: Path = PROC) -> dict[int, Proc]:
    out = {}
    for pid in tree(root, proc):
        found = read_proc(pid, proc)
        if found is not None:
            out[pid] = found
    return out


@dataclass
class Peak:
    """What a sampler saw, in MB (1024 x 1024 bytes)."""

    root: int
    peak_mb: float = 0.0
    peak_pss_mb: float = 0.0
    samples: int = 0
    hwm_kb: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)

    def add(self, procs: dict[int, Proc]) -> None:
        if not procs:
            return
        self.samples += 1
        self.peak_mb = max(self.peak_mb, sum(p.rss_kb for p in procs.values()) / 1024)
        self.peak_pss_mb = max(self.peak_pss_mb, sum(p.pss_kb for p in procs.values()) / 1024)
        for pid, p in procs.items():
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), p.hwm_kb)
            self.names[pid] = p.name

    def by_name_mb(self) -> dict[str, float]:
        """Per program, its processes' high-water marks summed, largest first."""
        total: dict[str, float] = {}
        for pid, kb in self.hwm_kb.items():
            total[self.names[pid]] = total.get(self.names[pid], 0.0) + kb / 1024
        return {n: round(mb, 1) for n, mb in sorted(total.items(), key=lambda kv: -kv[1])}

    def summary(self) -> dict[str, Any]:
        return {
            "peak_mb": round(self.peak_mb, 1),
            "peak_pss_mb": round(self.peak_pss_mb, 1),
            "hwm_sum_mb": round(sum(self.hwm_kb.values()) / 1024, 1),
            "engine_peak_mb": round(self.hwm_kb.get(self.root, 0) / 1024, 1),
            "processes_hwm_mb": self.by_name_mb(),
            "samples": self.samples,
        }


class Sampler:
    """`with Sampler(pid) as s: ...; s.peak` samples the tree under `pid` in a thread."""

    def __init__(self, root: int, every: float = 0.2, proc: Path = PROC) -> None:
        self.proc = proc
        self.every = every
        self.peak = Peak(root)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak.add(sample(self.peak.root, self.proc))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
