"""Training and streaming speed of the paper's model against this machine's own limit.

Writes docs/results/bench.md and docs/results/bench.json with the same code as ``vstm bench``
(:mod:`vstm.bench`): the conv peak, the naive reference, vstm's model (training, inference,
streaming at 64x64 and 176x144, peak RSS), bf16, and the frame-size / sequence-length tables.
Targets are issue 7's.

    python benchmarks/bench_speed.py [--threads N] [--quick] [--out docs/results]

Run it on an idle machine: other jobs on the same cores slow everything down unevenly (the
report prints the load average at the start and the end).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from vstm.bench import BenchConfig, format_markdown, run_bench, write_results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.add_argument("--repeats", type=int, help="timed runs per measurement (default 5)")
    p.add_argument("--quick", action="store_true", help="the under-a-minute version")
    p.add_argument("--no-scaling", action="store_true", help="skip the scaling tables")
    p.add_argument("--out", default="docs/results", help="folder for bench.md and bench.json")
    args = p.parse_args(argv)
    over = {k: v for k, v in {"threads": args.threads, "repeats": args.repeats}.items() if v}
    if args.no_scaling:
        over["scaling"] = False
    cfg = BenchConfig.quick(**over) if args.quick else BenchConfig(**over)
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/bench_speed.py", *argv])
    res = run_bench(cfg, progress=lambda s: print(f"[bench] {s}", file=sys.stderr, flush=True))
    out = Path(args.out)
    write_results(res, command, out / "bench.json", out / "bench.md")
    print(format_markdown(res, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
