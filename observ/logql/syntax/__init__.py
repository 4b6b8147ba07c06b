"""LogQL's syntax, as Loki's pkg/logql/syntax: the grammar, `parser.parse` (text → tree), the tree (`ast`) and
`format` (tree → canonical text). Nothing here reads logs."""
