"""Start-up time: `import symprop`, its first use, and `symprop --help`, against Python and SymPy alone.

    python benchmarks/bench_startup.py [--runs N]

Each figure is the median wall time of N fresh processes (default 7). `import symprop`
loads nothing heavy (the public names are imported on first use); `symprop.Network`
is the first use, which loads SymPy, NumPy and the op registry.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = [
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("import sympy", [sys.executable, "-c", "import sympy"]),
    ("import sympy, numpy", [sys.executable, "-c", "import sympy, numpy"]),
    ("import symprop", [sys.executable, "-c", "import symprop"]),
    ("import symprop; symprop.Network", [sys.executable, "-c", "import symprop; symprop.Network"]),
    ("symprop --help", [sys.executable, "-m", "symprop", "--help"]),
    ("symprop --version", [sys.executable, "-m", "symprop", "--version"]),
]


def wall(command, runs: int) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    figures = {name: wall(command, args.runs) for name, command in CASES}
    sympy = figures["import sympy"]
    print(f"median of {args.runs} fresh processes each (load average {os.getloadavg()[0]:.2f})")
    for name, seconds in figures.items():
        print(f"{name:34s} {seconds:6.3f} s   {seconds - sympy:+.3f} s against import sympy")
    print(f"targets: symprop --help < 0.3 s: {figures['symprop --help']:.3f} s; "
          f"first use <= import sympy + 0.1 s: {figures['import symprop; symprop.Network'] - sympy:+.3f} s")


if __name__ == "__main__":
    main()
