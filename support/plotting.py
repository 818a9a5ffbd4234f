"""Book style and small figure helpers shared by the chapters (explicit, no import side effects)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

METHOD_COLOURS = {"L_z": "#444444", "L_x": "#1f77b4", "naive": "#444444"}


def use_book_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a chapter)."""
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "font.size": 10,
                         "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False, "legend.frameon": False,
                         "figure.constrained_layout.use": True})


#: the widest figure, in inches, that the book page shows at about its own size (figure.dpi 100: 700 px;
#: the content column is ≈ 690 px in a 1280 px window); a wider one is shrunk by the browser, text too
PAGE_WIDTH_IN = 7.0

#: the smallest legend text, in points: multi-panel figures shrunk to the page made 6–7 pt legends
#: 5–6 px tall on the rendered page
MIN_LEGEND_PT = 8.0


class BookFigure(Figure):
    """A matplotlib ``Figure`` that raises every legend's text to at least :data:`MIN_LEGEND_PT`
    when drawn (builders may ask for smaller legends; the page would not show them legibly)."""

    def draw(self, renderer):
        readable_legends(self)
        return super().draw(renderer)


def readable_legends(fig, min_pt: float = MIN_LEGEND_PT) -> None:
    """Every legend of ``fig`` (its own and its axes') with text of at least ``min_pt`` points."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes]
    for legend in legends:
        if legend is None:
            continue
        for text in [*legend.get_texts(), legend.get_title()]:
            if text.get_fontsize() < min_pt:
                text.set_fontsize(min_pt)


def figure(ncols: int = 1, nrows: int = 1, width: float = 4.0, height: float = 3.2, **kw):
    """A figure with ``nrows × ncols`` panels of the book's default panel size, scaled down (panels
    and height alike) to at most :data:`PAGE_WIDTH_IN` wide, so that the page shows it at its own
    size and its text at the size it was set in; its legends are at least :data:`MIN_LEGEND_PT`."""
    shrink = min(1.0, PAGE_WIDTH_IN / (width * ncols))
    return plt.subplots(nrows, ncols, figsize=(width * ncols * shrink, height * nrows * shrink),
                        squeeze=False, FigureClass=BookFigure, **kw)


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


#: the book's pipeline, top to bottom: (stage, what it is) — drawn by :func:`pipeline_diagram`
PIPELINE = (
    ("microscopic system", "atoms, spins, a phase field: what a simulator evolves"),
    ("snapshots $x$ and partial observations",
     "paper 1: forces $f_I$ on a random subset $I$ of the coordinates\n"
     "paper 2: one patch of a large system evolved for $\\delta t$"),
    ("closure autoencoder", r"$z = \varphi(x) = [\varphi^*(x), \hat\varphi(x)]$: prescribed observables, learned closure"),
    (r"latent model $g_\theta(z)$", "MLP · OnsagerNet · GFINNs · SDE drift + diffusion\n"
                                    r"trained with $L_z$ · $L_x$ · $L_{x,p}$, or the partial-evolution likelihood"),
    ("rollout and metrics", "RK4 / Euler–Maruyama in $z$, compared with the ground truth"),
)


def pipeline_diagram(stages=PIPELINE, width: float = 6.8):
    """The book's pipeline as a figure: one box per stage (name in bold, what it is below), arrows
    between them, top to bottom (the index page draws it; it fits the page at any width)."""
    from matplotlib.patches import FancyBboxPatch

    heights = [0.62 + 0.25 * text.count("\n") for _, text in stages]
    gap = 0.32
    total = sum(heights) + gap * (len(stages) - 1)
    fig = plt.figure(figsize=(width, total + 0.1), FigureClass=BookFigure, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, width), ylim=(0, total + 0.1))
    ax.axis("off")
    top = total + 0.05
    for i, ((name, text), h) in enumerate(zip(stages, heights)):
        y0 = top - h
        ax.add_patch(FancyBboxPatch((0.15, y0), width - 0.3, h, boxstyle="round,pad=0,rounding_size=0.08",
                                    facecolor="#eef4fb", edgecolor="#1f77b4", lw=1.2))
        ax.text(width / 2, top - 0.1, name, ha="center", va="top", fontsize=12, fontweight="bold")
        ax.text(width / 2, top - 0.36, text, ha="center", va="top", fontsize=10.5, linespacing=1.35)
        if i < len(stages) - 1:
            ax.annotate("", xy=(width / 2, y0 - gap + 0.02), xytext=(width / 2, y0 - 0.02),
                        arrowprops=dict(arrowstyle="-|>", color="#1f77b4", lw=1.5))
        top = y0 - gap
    plt.close(fig)          # shown when returned by a cell; not again at the end of it
    return fig
