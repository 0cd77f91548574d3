"""CI runs exactly the README's second command: .ci/run holds no test logic of its own."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    block = re.search(r"## Two commands\n\n```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert block, "README.md has no '## Two commands' bash block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readmes_test_command_verbatim():
    setup, test = readme_commands()
    assert (setup, test) == ("bash scripts/course.sh", "bash scripts/test.sh")
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [ln for ln in lines if ln and not ln.startswith("#")]
    # strict mode and the repository root (so the relative path resolves from any working directory), then it
    assert commands == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', test]
