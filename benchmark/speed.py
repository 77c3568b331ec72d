"""Every speed figure of the project with its reference, measured in one run: ``python -m benchmark.speed``.

Figures (each against a reference timed in the same process, so the ratio holds on a busy machine too):
1. point renderer: M points/s of ``core.render`` and its speed-up over a numpy argsort z-buffer, 100k-4M points
   (``benchmark.render_speed``);
2. start-up: ``gld8tr run --help`` against a bare ``python -c pass``;
3. Gaussian rasteriser: ns per Gaussian-pixel pair against a dense autograd stand-in (``benchmark.gaussian_speed``);
4. pipeline: ``stage`` and ``360`` on ``examples/coffee.jpg`` at 512 px, per stage, with the thread policy and
   with 1 and 2 threads forced (the policy must not be slower than the best);
5. PatchMatch at half resolution: quality and time against the full-resolution fill (``benchmark.inpaint_quality``).

CPU figures are process CPU seconds where a ratio is taken (robust to other jobs) and wall seconds as context;
the machine's cores and load average are printed first. ``--quick`` measures fewer sizes and skips ``360`` and
the quality check.

    python -m benchmark.speed [--quick] [--skip-360] [--skip-quality] [--out speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _child_run(cmd: list[str], repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds (user + system) of a command run as a child process."""
    walls, cpus = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def startup(repeats: int = 5) -> dict[str, float]:
    wall, cpu = _child_run([sys.executable, "-m", "gld8tr", "run", "--help"], repeats)  # = the console script
    ref_wall, ref_cpu = _child_run([sys.executable, "-c", "pass"], repeats)
    return {"help_wall_s": wall, "help_cpu_s": cpu, "python_wall_s": ref_wall, "python_cpu_s": ref_cpu}


def pipeline(mode: str, threads: int) -> dict[str, Any]:
    """One ``generate_scene`` run in a fresh process (clean thread pool, no warm caches): timings per stage."""
    code = (
        "import json, sys, time, resource, torch\n"
        "from core.threads import apply_thread_policy\n"
        f"n = apply_thread_policy({threads})\n"
        "from core.pipeline import generate_scene\n"
        "t0 = time.perf_counter(); c0 = time.process_time()\n"
        f"s = generate_scene('examples/coffee.jpg', mode={mode!r}, seed=0)\n"
        "out = {'threads': n, 'wall_s': time.perf_counter() - t0, 'cpu_s': time.process_time() - c0,\n"
        "       'timings': s.timings, 'points': len(s.points)}\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-360", dest="skip_360", action="store_true")
    parser.add_argument("--skip-quality", dest="skip_quality", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None, help="also write every figure as JSON")
    args = parser.parse_args(argv)
    import torch

    from benchmark import gaussian_speed, render_speed
    from core.threads import available_cores, choose_threads

    torch.set_num_threads(1)
    report: dict[str, Any] = {"cores": available_cores(), "load_1min": os.getloadavg()[0],
                              "policy_threads": choose_threads()}
    print(f"machine: {report['cores']} cores, load average {report['load_1min']:.2f} (1 min) -> thread policy"
          f" {report['policy_threads']}; torch {torch.__version__}")

    # 1. Point renderer
    sizes = (100_000, 1_000_000) if args.quick else render_speed.DEFAULT_SIZES
    print("1. point renderer, lifted cloud with perspective splats into 512x512, 1 thread, process CPU time:")
    report["renderer"] = []
    for n in sizes:
        f = render_speed.measure_lifted(n, 512, "cpu", args.repeats)
        report["renderer"].append({"points": f.points, "torch_s": f.torch_s, "numpy_s": f.numpy_s,
                                   "mpts": f.mpts, "speedup": f.speedup, "agreement": f.agreement})
        print(f"   {f.points:>9,d} points: {f.mpts:6.2f} M points/s ({f.torch_s * 1e3:7.1f} ms); numpy argsort"
              f" z-buffer {f.numpy_s * 1e3:7.1f} ms -> {f.speedup:4.1f}x faster; same pixels {f.agreement:.4%}")

    # 2. Start-up
    s = startup(args.repeats)
    report["startup"] = s
    print(f"2. start-up: gld8tr run --help {s['help_wall_s']:.2f} s wall / {s['help_cpu_s']:.2f} s CPU; bare python"
          f" {s['python_wall_s']:.2f} s wall / {s['python_cpu_s']:.2f} s CPU")

    # 3. Gaussian rasteriser
    c = gaussian_speed.measure(160, args.repeats)
    report["gaussians"] = {"pairs": c.pairs, "ns_per_pair": c.rasteriser_ns, "stand_in_ns_per_pair": c.stand_in_ns,
                           "ratio": c.ratio}
    print(f"3. Gaussian rasteriser, forward + backward, {c.pairs:,d} pairs: {c.rasteriser_ns:.0f} ns/pair; dense"
          f" autograd stand-in {c.stand_in_ns:.0f} ns/pair -> {c.ratio:.2f}x")

    # 4. Pipeline
    runs = [("stage", 0), ("stage", 1), ("stage", 2)]
    if not (args.quick or args.skip_360):
        runs.append(("360", 0))
    report["pipeline"] = []
    print("4. pipeline on examples/coffee.jpg (512x336), fresh process each; seconds per stage (wall):")
    for mode, threads in runs:
        r = pipeline(mode, threads)
        r.update(mode=mode, forced_threads=threads)
        report["pipeline"].append(r)
        label = "policy" if threads == 0 else "forced"
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["timings"].items() if k != "total")
        print(f"   {mode:<5} threads {r['threads']} ({label}): {r['wall_s']:6.2f} s wall, {r['cpu_s']:6.2f} s CPU,"
              f" {r['points']:,d} points; {stages}")

    # 5. PatchMatch at half resolution
    if not (args.quick or args.skip_quality):
        from benchmark import inpaint_quality

        q = inpaint_quality.measure(0.5)
        report["inpaint_quality"] = q
        print("5. PatchMatch fill of the loop's masks on held-out photos (hole pixels vs the true photo):")
        for name, r in q.items():
            print(f"   {name:<16} PSNR {r['psnr_db']:6.2f} dB  SSIM {r['ssim']:.4f}  {r['seconds'] * 1e3:6.0f} ms CPU"
                  f" per fill ({r['fills']} fills)")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
