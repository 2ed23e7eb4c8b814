"""One PNG per run: power, memory and utilisation over time, the training window shaded."""

from __future__ import annotations

from pathlib import Path

from bertlogs.analysis import RunResult
from bertlogs.report.html import series

_PANELS = [("power_w", "Power (W)"), ("memory_used_mib", "Memory used (MiB)"), ("util_pct", "GPU util (%)")]


def plot_run(result: RunResult, path: Path) -> bool:
    """Write the run's plot; False when the run has no samples to plot."""
    if result.samples is None or result.samples.is_empty():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_all, _ = series(result, "power_w", points=2000)
    if len(t_all) == 0:
        return False
    t0 = float(t_all[0])
    fig, axes = plt.subplots(3, 1, figsize=(8, 5.5), sharex=True)
    for ax, (column, label) in zip(axes, _PANELS, strict=True):
        t, v = series(result, column, points=2000)
        ax.plot(t - t0, v, lw=0.8, drawstyle="steps-pre")
        ax.set_ylabel(label, fontsize=8)
        if result.window is not None:
            ax.axvspan(result.window[0] - t0, result.window[1] - t0, color="#1f77b4", alpha=0.1, lw=0)
        ax.grid(alpha=0.3)
    gpus = ",".join(map(str, result.gpus)) or "all"
    axes[0].set_title(f"{result.row['run']}  (GPUs {gpus}; shaded: training window)", fontsize=9)
    axes[-1].set_xlabel("seconds since the first sample")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
