"""`digest profiles suggest` on the real listings and a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli


@pytest.mark.shared
def test_suggest_lists_missing_phrases_with_the_picks_they_change(
    tmp_path: Path, listings_dir: Path
) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "b.yaml").write_text(
        "name: b\nkeywords: [minibatch]\nlike:\n"
        '  - "Large Batch Training of Convolutional Networks"\n'
        '  - "An Empirical Model of Large-Batch Training"\n'
        '  - "How Does Critical Batch Size Scale in Pre-training?"\n'
    )
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(f"store: sqlite:///{tmp_path / 'd.db'}\nprofiles: profiles\n")
    run = CliRunner()
    ingest = run.invoke(cli, ["--config", str(cfg), "ingest", str(listings_dir)])
    assert ingest.exit_code == 0, ingest.output
    result = run.invoke(cli, ["--config", str(cfg), "profiles", "suggest", "b", "--days", "3650"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert 0 < len(lines) <= 10
    terms = [line.rsplit(None, 7)[0].strip() for line in lines]
    assert "batch size" in terms
    assert "minibatch" not in terms
    assert all(line.endswith("of the recent picks would change") for line in lines)
    counts = [int(line.split()[-7]) for line in lines]
    assert any(n > 0 for n in counts)
    profile = (tmp_path / "profiles" / "b.yaml").read_text()
    assert "batch size" not in profile.split("like:")[0]  # nothing edited
