"""Entry point of the SLO generator: service definitions in, rule files, promtool tests and PrometheusRules out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from observ.slo.crd import prometheus_rule
from observ.slo.model import ServiceDefinitions
from observ.slo.promtool_tests import test_file, test_notes
from observ.slo.rules import service_groups


@dataclass(frozen=True)
class GeneratedFile:
    path: str
    """Relative to the output directory."""
    content: str


def dump(doc: object) -> str:
    """Stable YAML: keys in generation order, long PromQL kept on one line."""
    return yaml.safe_dump(doc, sort_keys=False, width=100_000, allow_unicode=True)


def generate(defs: ServiceDefinitions) -> list[GeneratedFile]:
    """Per service: `<svc>.rules.yml`, `<svc>.test.yml` (promtool tests of it) and `prometheusrule/<svc>.yaml`."""
    files: list[GeneratedFile] = []
    for service in defs.services:
        rules = f"{service.name}.rules.yml"
        files.append(GeneratedFile(rules, dump({"groups": service_groups(service)})))
        header = "".join(f"# not covered: {n}\n" for n in test_notes(service))
        files.append(GeneratedFile(f"{service.name}.test.yml", header + dump(test_file(service, rules))))
        files.append(GeneratedFile(f"prometheusrule/{service.name}.yaml", dump(prometheus_rule(service))))
    return files


def write(files: list[GeneratedFile], out_dir: Path) -> None:
    for f in files:
        target = out_dir / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f.content, encoding="utf-8")
