"""The docs keep up with the code: every reject reason, layer and field is documented, and
the README's quick start is exactly the two commands CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

from gis.ingest.clean import REASONS
from layers import LAYERS

ROOT = Path(__file__).resolve().parents[1]


def test_ingest_doc_lists_every_reason_layer_and_field() -> None:
    doc = (ROOT / "docs" / "ingest.md").read_text(encoding="utf-8")
    for reason in REASONS:
        assert f"| `{reason}` |" in doc, reason
    for name, spec in LAYERS.items():
        assert f"### `{name}`" in doc, name
        for field in spec.fields:
            assert f"| `{field.name}` |" in doc, (name, field.name)


def test_readme_quick_start_is_two_commands_that_make_their_own_venv() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)
    assert len(commands) == 2
    demo, tests = commands
    assert demo.startswith("python3 -m venv .venv") and demo.endswith("gis demo")
    assert tests.startswith("python3 -m venv .venv") and tests.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci, "CI must run the README's test command"
