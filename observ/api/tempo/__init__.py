"""The Tempo-compatible trace API: traces by ID, tag names and tag values."""
