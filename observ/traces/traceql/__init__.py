"""A TraceQL subset: `parse` turns a query into a syntax tree, `compile_query` into the spans store's SpanQuery."""
