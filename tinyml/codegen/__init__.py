"""Code generation: the planned graph into a C project (Jinja2 templates hold the C, Python the numbers)."""

from tinyml.codegen.project import write_project
from tinyml.codegen.render import ModelCode, render_model

__all__ = ["ModelCode", "render_model", "write_project"]
