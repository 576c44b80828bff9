"""Run every benchmark of bench/ and print one summary table (what ``make bench`` would do).

    .venv/bin/python bench/run_all.py                       # every bench, small sizes (minutes)
    .venv/bin/python bench/run_all.py --full                # every bench with its own (big) defaults
    .venv/bin/python bench/run_all.py --only scan_bench edit_survival
    .venv/bin/python bench/run_all.py --args edit_survival="--rounds 1000" --args scan_bench="--tree 20000"

Each bench runs in its own process (``.venv/bin/python bench/NAME.py ARGS``); its whole output goes
to ``--logs`` (default: a temporary folder, printed at the end), and the table shows its status,
time and key figures. Exit status 1 if any bench failed.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PYTHON = PROJECT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Bench:
    name: str
    small: tuple[str, ...]  # the quick sizes run_all uses unless --full
    figures: tuple[str, ...]  # regexes of the output lines that hold the key figures
    what: str


BENCHES = (
    Bench("scan_bench", ("--tree", "500", "--skip-deepface"),
          (r"^facesidecar.*img/s.*|^facesidecar\b.*", r"^generated tree:.*"), "scan speed, rescan of a tree"),
    Bench("metadata_bench", ("--photos", "10"), (r"^speed-up.*",), "persistent exiftool vs one per photo"),
    Bench("accuracy", ("--skip-verification",), (r"precision.*", r"recall.*", r"^.*no-face.*"), "guess precision/recall"),
    Bench("open_set", (), (r"^  average:.*", r"^what the new rule said.*"),
          "open-set naming: strangers, half the people named (old rule and new side by side)"),
    Bench("guess_scale", ("--sizes", "20000", "--probes", "200"), (r"probes vs.*", r"same decision.*"),
          "guessing against many faces"),
    Bench("engines_bench", ("--pairs", "40"), (r"^\| dlib.*",), "engines: speed and accuracy"),
    Bench("daemon_startup_bench", ("--files", "2000", "--dir", "{tmp}/startup"), (r"catch-up finished.*", r"RSS:.*"),
          "daemon start-up on an unchanged library"),
    Bench("edit_survival", ("--rounds", "20"), (r"^RESULT .*",), "edits saved while the daemon is killed"),
    Bench("daemon_soak", ("--files", "2000", "--events", "200", "--hot", "5", "--batch", "20"),
          (r"^RESULT .*",), "daemon memory under a stream of changes"),
    Bench("hostile", (), (r"^RESULT .*",), "hostile-folder corpus: files written outside the roots, peak RSS"),
    Bench("bomb_bench", (), (r"^worst facesidecar peak.*", r"^faces\.pkl shared-faces.*"),
          "peak RSS on decompression bombs and amplifying faces.pkl files vs Pillow/pickle without bounds"),
    Bench("serve_bench", ("--photos", "6", "--rounds", "1"), (r"^serve vs reference.*",),
          "serve's /detect over HTTP vs the reference external model"),
)


@dataclass
class Outcome:
    bench: Bench
    status: str
    seconds: float
    figures: str
    log: Path


def key_figures(bench: Bench, output: str, limit: int = 240) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    found = []
    for pattern in bench.figures:
        for line in lines:
            if re.search(pattern, line) and line not in found:
                found.append(line)
                break
    text = " | ".join(found) if found else (lines[-1] if lines else "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_one(bench: Bench, args: list[str], logs: Path, timeout: float) -> Outcome:
    log = logs / f"{bench.name}.log"
    command = [str(PYTHON if PYTHON.exists() else sys.executable), str(PROJECT / "bench" / f"{bench.name}.py"), *args]
    started = time.monotonic()
    with log.open("w") as handle:
        handle.write("$ " + shlex.join(command) + "\n")
        handle.flush()
        try:
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    cwd=PROJECT, timeout=timeout)
            output, code = result.stdout, result.returncode
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            code = None
        handle.write(output)
    seconds = time.monotonic() - started
    status = "ok" if code == 0 else ("timeout" if code is None else f"failed ({code})")
    return Outcome(bench, status, seconds, key_figures(bench, output), log)


def table(outcomes: list[Outcome]) -> str:
    width = max(len(o.bench.name) for o in outcomes)
    lines = [f"{'bench':<{width}}  {'status':<11} {'seconds':>8}  key figures",
             f"{'-' * width}  {'-' * 11} {'-' * 8}  {'-' * 40}"]
    for o in outcomes:
        lines.append(f"{o.bench.name:<{width}}  {o.status:<11} {o.seconds:>8.0f}  {o.figures}")
    return "\n".join(lines)


def parse_pass_through(values: list[str]) -> dict[str, list[str]]:
    extra: dict[str, list[str]] = {}
    names = {b.name for b in BENCHES}
    for value in values:
        name, sep, args = value.partition("=")
        if not sep or name not in names:
            raise SystemExit(f"--args wants NAME=\"OPTIONS\" with NAME one of {', '.join(sorted(names))}; got {value!r}")
        extra.setdefault(name, []).extend(shlex.split(args))
    return extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=[b.name for b in BENCHES],
                        help="run only these benches")
    parser.add_argument("--full", action="store_true", help="each bench with its own defaults (big sizes: hours)")
    parser.add_argument("--args", action="append", default=[], metavar='NAME="OPTIONS"',
                        help="options for one bench, added after (and overriding) the small defaults")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a bench is stopped")
    parser.add_argument("--logs", type=Path, help="folder for each bench's full output")
    parser.add_argument("--list", action="store_true", help="list the benches and their small sizes")
    args = parser.parse_args(argv)
    if args.list:
        for b in BENCHES:
            print(f"{b.name:<22} {b.what}; small: {' '.join(b.small)}")
        return 0
    extra = parse_pass_through(args.args)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="facesidecar-bench-"))
    logs.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        small = [] if args.full else [a.replace("{tmp}", str(logs)) for a in bench.small]
        bench_args = small + extra.get(bench.name, [])
        print(f"running {bench.name} {shlex.join(bench_args)}", file=sys.stderr, flush=True)
        outcome = run_one(bench, bench_args, logs, args.timeout)
        print(f"  {outcome.status} in {outcome.seconds:.0f} s", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    print(table(outcomes))
    print(f"\nfull output of each bench: {logs}/")
    return 0 if all(o.status == "ok" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
