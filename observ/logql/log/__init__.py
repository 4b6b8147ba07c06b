"""What a log pipeline does to one line, as Loki's pkg/logql/log: label filters, line filters (ip() among
them), one module per parser family (json, logfmt, regexp, pattern, unpack), the Go template engine
(`template/`), and `pipeline`, which strings the stages together."""
