"""How much free space an ingest batch needs: sizes ``NEWSQA_DISK_RESERVE_MB`` (rag.settings.DISK_RESERVE_MB).

Needs root (it mounts a tmpfs, so that the filesystem holds nothing but the store and ``statvfs`` sees only its
writes). Ingests ``--articles`` (default: the 4,000 reports of ../shared/train/crud_more_reports, linked, not
copied) ``--rounds`` times into one store on the tmpfs (each round under a new folder name, so the store grows),
embedding with the fast deterministic 512-d stand-in of ``bot.train`` (the dimension of the default bge-small-zh),
while a thread samples the used bytes of the filesystem every millisecond. Prints per round: chunks, store size,
the growth per 256-chunk batch, and the headroom a batch needed: the largest rise of used space within any
window of one batch's duration above the level at the window's start (a conservative bound: a window may span
two batches). Also the same for a question asked after each round (Chroma applies its log before reading).

    sudo python bench/disk_reserve_bench.py [--rounds 3] [--size-mb 2048]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 2**20


def used(path: Path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


class Sampler(threading.Thread):
    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.stop = path, threading.Event()
        self.samples: list[tuple[float, int]] = []  # (perf_counter seconds, bytes used)

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.perf_counter(), used(self.path)))
            time.sleep(0.001)

    def headroom(self, start: float, end: float, window: float) -> int:
        pts = [(t, u) for t, u in self.samples if start <= t <= end]
        best, j = 0, 0
        for i, (t0, u0) in enumerate(pts):
            j = max(j, i)
            while j + 1 < len(pts) and pts[j + 1][0] - t0 <= window:
                j += 1
            best = max(best, max(u for _, u in pts[i:j + 1]) - u0)
        return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=Path, default=ROOT.parent / "shared/train/crud_more_reports/articles")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size-mb", type=int, default=2048)
    args = parser.parse_args()
    from bot.service import build_service
    from bot.train import HashedBigramEmbedder
    from rag.settings import Settings

    outside = tempfile.mkdtemp(prefix="newsqa-reserve-src-")
    mount = Path(tempfile.mkdtemp(prefix="newsqa-reserve-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={args.size_mb}m", "tmpfs", str(mount)], check=True)
    service = None
    try:
        data = mount / "data"
        data.mkdir()
        (data / "articles").symlink_to(outside, target_is_directory=True)
        settings = Settings(_env_file=None, data_dir=data, query_onnx=False, disk_reserve_mb=0)  # type: ignore[call-arg]
        service = build_service(settings, embedder=HashedBigramEmbedder())
        sampler = Sampler(mount)
        sampler.start()
        print(f"load {os.getloadavg()[0]:.1f}; tmpfs {args.size_mb} MiB; articles {args.articles}")
        print("round | chunks | store MiB | growth/batch MiB | batch headroom MiB | question headroom MiB | s")
        for rnd in range(args.rounds):
            # Each round's copy differs (its digits shifted), or its articles would be stored once as reprints; the
            # copies live outside the tmpfs, in the folder the articles folder links to.
            shift = str.maketrans("0123456789", "".join(str((d + rnd) % 10) for d in range(10)))
            source = Path(outside) / f"r{rnd}"
            source.mkdir()
            for page in sorted(args.articles.resolve().iterdir()):
                text = page.read_text("utf-8").translate(shift) if rnd else page.read_text("utf-8")
                (source / page.name).write_text(text, "utf-8")
            before, t0 = used(mount), time.perf_counter()
            summary = service.ingest()
            t1 = time.perf_counter()
            batches = max(1, -(-summary.chunks_added // 256))
            window = (t1 - t0) / batches
            batch_room = sampler.headroom(t0, t1, window)
            growth = (used(mount) - before) / batches
            q0 = time.perf_counter()
            fresh = build_service(settings, embedder=HashedBigramEmbedder())
            fresh.search("新闻发布会在哪里举行", top_k=5)
            fresh.close()
            q1 = time.perf_counter()
            q_room = sampler.headroom(q0, q1, q1 - q0)
            store_mb = sum(p.stat().st_size for p in settings.store_dir.rglob("*") if p.is_file()) / MIB
            print(f"{rnd} | {service.stats().chunks} | {store_mb:.1f} | {growth / MIB:.2f} | {batch_room / MIB:.2f} | "
                  f"{q_room / MIB:.2f} | {t1 - t0:.0f}", flush=True)
        sampler.stop.set()
    finally:
        if service is not None:
            service.close()
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()
        shutil.rmtree(outside, ignore_errors=True)


if __name__ == "__main__":
    main()
