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
