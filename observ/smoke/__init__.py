"""`observ smoke`: push a uniquely marked log line and span into a running observ and read them back."""
