"""``vitlesson._arguments``: every command's usage error is one line (exit
2)."""

from __future__ import annotations

import pytest

from tests.support import faults

COMMANDS = [
    "vitlesson.lab.train",
    "vitlesson.lab.dino",
    "vitlesson.lab.dino.throughput",
    "vitlesson.tools.attention",
    "vitlesson.tools.bench",
]


@pytest.mark.parametrize("module", COMMANDS)
@pytest.mark.parametrize("argv", [["--bogus"], ["--help-me"], ["-x", "1"]])
def test_every_command_says_a_usage_error_in_one_line(tmp_path, module, argv):
    result = faults.run_forked(["-m", module, *argv], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"python -m {module}: error: ")
    assert result.stderr.endswith("(see --help)\n")
    assert result.stdout == "" and list(tmp_path.iterdir()) == []
