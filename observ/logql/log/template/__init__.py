"""Go's text/template as Loki's `line_format` and `label_format` run it: `text` parses and executes, `funcs`
holds the values and the function map."""

from observ.logql.log.template.text import Template, TemplateError, compile_template

__all__ = ["Template", "TemplateError", "compile_template"]
