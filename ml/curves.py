"""A training run's learning curve: its validation scores by step, read from the run's TensorBoard logs.

python -m ml curve runs/deepfilternet3 [--plot curve.png]
"""

from __future__ import annotations

from pathlib import Path

METRICS = ("pesq", "stoi", "si_sdr", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")


def validation_curve(run_dir: str | Path) -> dict[int, dict[str, float]]:
    """{step: {metric: value}} of every validation the run logged (``val/*``), all sessions of it together."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = Path(run_dir) / "tensorboard"
    if not logs.is_dir():
        raise FileNotFoundError(f"no TensorBoard logs in {logs}")
    curve: dict[int, dict[str, float]] = {}
    for events in sorted(logs.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            if tag.startswith("val/") and tag.removeprefix("val/") in METRICS:
                for event in accumulator.Scalars(tag):
                    step = event.step + 1 if event.step else 0  # Lightning logs step n's validation at n - 1
                    curve.setdefault(step, {})[tag.removeprefix("val/")] = float(event.value)
    return dict(sorted(curve.items()))


def curve_table(curve: dict[int, dict[str, float]]) -> str:
    """The curve as a Markdown table, one row per validation."""
    names = [m for m in METRICS if any(m in row for row in curve.values())]
    lines = ["| step | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for step, row in curve.items():
        lines.append(f"| {step} | " + " | ".join(f"{row[m]:.3f}" if m in row else "" for m in names) + " |")
    return "\n".join(lines)


def plot_curve(curve: dict[int, dict[str, float]], path: str | Path, title: str) -> None:
    """One panel per metric against the step."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    names = [m for m in METRICS if any(m in row for row in curve.values())]
    figure, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 2.8), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        steps = [s for s, row in curve.items() if name in row]
        axis.plot(steps, [curve[s][name] for s in steps], marker=".")
        axis.set_title(name)
        axis.set_xlabel("step")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
