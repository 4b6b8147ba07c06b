"""Go library behaviour redone in Python, one module per Go package: `strconv` (quoting, ParseFloat, float
printing), `durations` (time.ParseDuration, Duration.String, and Prometheus' d/w/y spelling), `humanize`
(go-humanize's ParseBytes). Loki and Tempo report these functions' error texts verbatim, so the messages follow
Go's wording."""
