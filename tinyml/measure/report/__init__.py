"""The memory and compute report: the data (`build_report`), budgets, baselines, formats and the plot."""

from tinyml.measure.report.baseline import compare, load_baseline
from tinyml.measure.report.budgets import failure_fix, parse_percent, parse_size
from tinyml.measure.report.data import SCHEMA, build_report
from tinyml.measure.report.formats import format_github, format_markdown, format_text
from tinyml.measure.report.plot import PLOT_FORMATS, plot_timeline

__all__ = [
    "PLOT_FORMATS",
    "SCHEMA",
    "build_report",
    "compare",
    "failure_fix",
    "format_github",
    "format_markdown",
    "format_text",
    "load_baseline",
    "parse_percent",
    "parse_size",
    "plot_timeline",
]
