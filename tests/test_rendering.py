"""What the rendered pages show (issue 28): short first line, tables that fit, prose instead of reprs."""

from dataclasses import replace

from support import scale
from support.experiments import theory
from support.report import config_table
from support.results import ExperimentResult
from support.tables import Table


def test_first_line_of_every_chapter_fits_an_output_box():
    line = scale.describe()
    assert len(line) <= 80 and "\n" not in line and scale.current_scale() in line


def test_numbers_do_not_break_and_captions_sit_outside_the_scrolling_box():
    html = Table(["quantity", "paper"], [["error", "9.58e-03"], ["shift", "-0.05"], ["range", "3-4"]],
                 caption="Caption")._repr_html_()
    assert '<span class="num" style="white-space:nowrap">9.58e-03</span>' in html
    assert '<span class="num" style="white-space:nowrap">-0.05</span>' in html and ">3-4<" in html
    assert html.index("Caption</p>") < html.index("overflow-x:auto") < html.index("<table")
    assert "font-size:0.85em" not in html
    wide = Table([f"c{i}" for i in range(Table.WIDE)], [list(range(Table.WIDE))])._repr_html_()
    assert 'class="book-table wide"' in wide and "font-size:0.85em" in wide


def test_settings_table_has_no_empty_column():
    cfg = theory.Config.for_scale("quick")
    assert config_table(cfg).headers == ["setting", "value"]
    changed = config_table(replace(cfg, n_draws=10))
    assert len(changed.headers) == 3 and any("changed" in row[2] for row in changed.rows)
    assert all(row[2] == "" for row in changed.rows if row[0] != "`n_draws`")


def test_provenance_names_the_threads_once():
    r = ExperimentResult("demo", "paper", 0, {}, {}, machine="CPU, 2 cores (x86_64), torch threads = 2", threads=1)
    text = r.provenance()
    assert "torch threads = 2" not in text and "1 torch thread " in text and "thread(s)" not in text
    assert "2 torch threads" in replace(r, threads=2).provenance()


def test_figures_fit_the_page_and_their_legends_are_legible():
    import matplotlib
    matplotlib.use("Agg")
    from support.plotting import MIN_LEGEND_PT, PAGE_WIDTH_IN, figure
    fig, axes = figure(4, 2, width=3.0, height=2.5)
    assert abs(fig.get_size_inches()[0] - PAGE_WIDTH_IN) < 1e-9                 # 12 in scaled to the page
    assert abs(fig.get_size_inches()[1] - 5.0 * PAGE_WIDTH_IN / 12.0) < 1e-9     # height scaled alike
    axes[0, 0].plot([0, 1], label="a")
    axes[0, 0].legend(fontsize=6)
    fig.canvas.draw()
    assert axes[0, 0].get_legend().get_texts()[0].get_fontsize() >= MIN_LEGEND_PT
    assert tuple(figure(1, 1)[0].get_size_inches()) == (4.0, 3.2)               # small figures unchanged


def test_pipeline_is_a_drawing():
    from support.plotting import PIPELINE, pipeline_diagram
    fig = pipeline_diagram()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert all(name in texts for name, _ in PIPELINE) and len(fig.axes[0].patches) == len(PIPELINE)


def test_saved_runs_figures_have_no_raw_tex_braces():
    """Axis labels use mathtext ($…$) or plain unicode, never 'L^{β/ν}' as text."""
    import re
    import matplotlib
    matplotlib.use("Agg")
    from support.figures import saved_figures
    from support.results import saved_result
    raw = re.compile(r"[_^]\{")
    for name in ("upsampling", "ising_criticality"):
        for key, fig in saved_figures(saved_result(name)).items():
            for ax in fig.axes:
                for text in (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()):
                    outside_math = re.sub(r"\$[^$]*\$", "", text)
                    assert not raw.search(outside_math), (name, key, text)
