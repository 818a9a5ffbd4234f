"""Book style and small figure helpers shared by the chapters (explicit, no import side effects)."""

from __future__ import annotations

import matplotlib.pyplot as plt

METHOD_COLOURS = {"L_z": "#444444", "L_x": "#1f77b4", "naive": "#444444"}


def use_book_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a chapter)."""
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "font.size": 10,
                         "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False, "legend.frameon": False,
                         "figure.constrained_layout.use": True})


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.2, **kw):
    """A figure with ``nrows × ncols`` panels of the book's default panel size."""
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)


#: distinct colours for the other methods (e.g. one per value of p), none close to L_z's or L_x's
DISTINCT_COLOURS = ("#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")


def method_colour(label: str, i: int = 0) -> str:
    """A stable colour per method label; other labels take the i-th of :data:`DISTINCT_COLOURS`."""
    return METHOD_COLOURS.get(label, DISTINCT_COLOURS[i % len(DISTINCT_COLOURS)])


def label_log_axis(ax, values, axis: str = "x") -> None:
    """Ticks of a log axis at exactly ``values``, labelled plainly (no minor-tick labels such as
    2×10¹ crowding between them)."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator(list(values)))
    target.set_major_formatter(FixedFormatter([f"{v:g}" for v in values]))
    target.set_minor_locator(NullLocator())


def patch_side_axes(ax, ells, ylabel: str, title: str, official: dict | None = None,
                    official_note: str = "") -> None:
    """A log–log panel against patch side ℓ (ticks at the sides), with the official ours/naive
    curves ``official[ℓ][target]`` dashed when given (the lattice chapters' error plots)."""
    import numpy as np
    for target, colour in (("ours", "C0"), ("naive", "C3")):
        if official is not None:
            ax.plot(ells, [official.get(e, {}).get(target, np.nan) for e in ells], "s--", color=colour,
                    alpha=0.5, label=f"{target} (official{official_note})")
    ax.set(xscale="log", yscale="log", xlabel="patch side ℓ", ylabel=ylabel, title=title)
    label_log_axis(ax, ells)
