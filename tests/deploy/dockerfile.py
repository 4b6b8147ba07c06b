"""A Dockerfile read as its stages and instructions: enough for tests to check what an image is built from and runs as.

No Docker engine runs here, so the images are checked where they are written."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def words(self) -> list[str]:
        """Exec form (`["a", "b"]`) as its list, shell form split as a shell would."""
        text = self.args.strip()
        if text.startswith("["):
            return list(json.loads(text))
        return shlex.split(text)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def env(self) -> dict[str, str]:
        """`ENV k=v k2=v2` pairs of this stage (the only ENV form the Dockerfiles use)."""
        pairs = [w.split("=", 1) for i in self.all("ENV") for w in shlex.split(i.args)]
        return {k: v for k, v in pairs}


def parse(path: Path) -> list[Stage]:
    """Stages in order; comments dropped and `\\` continuations joined."""
    text = re.sub(r"^\s*#.*\n", "", path.read_text(), flags=re.M)
    text = re.sub(r"\\\n", " ", text)
    stages: list[Stage] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        keyword, _, args = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = args.split()
            stages.append(Stage(words[0], words[2] if len(words) > 2 and words[1].upper() == "AS" else None))
        elif stages:
            stages[-1].instructions.append(Instruction(keyword, " ".join(args.split())))
    return stages
