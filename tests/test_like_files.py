"""`like_file:` end to end (issue 14): a BibTeX, an RIS and a CSL-JSON export that
the test writes, each with a paper the store has and one it lacks, read by
`digest preview` on the real listings: the paper it has ranks the picks, the one it
lacks is reported at its own line of the export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from tests.conftest import listings_config_at

HAVE = "An Empirical Model of Large-Batch Training"
LACK = "A Paper Nobody Wrote About Batches"
EXPORTS = {  # file name: (text, the line of the paper the store lacks)
    "lib.bib": (
        f"% Zotero\n@article{{have,\n  title = {{{HAVE}}},\n}}\n\n"
        f"@article{{lack,\n  title = {{{LACK}}},\n  year = 2024,\n}}\n",
        6,
    ),
    "lib.ris": (f"TY  - JOUR\nTI  - {HAVE}\nER  -\n\nTY  - JOUR\nTI  - {LACK}\nER  -\n", 5),
    "lib.json": (
        "[\n"
        + f'  {{"id": "have", "type": "article", "title": {json.dumps(HAVE)}}},\n'
        + f'  {{"id": "lack", "type": "article",\n    "title": {json.dumps(LACK)}}}\n'
        + "]\n",
        3,
    ),
}
pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, listings_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("like-files")
    cfg = listings_config_at(tmp, listings_dir)
    for n, (name, (text, _)) in enumerate(EXPORTS.items()):
        (tmp / "profiles" / name).write_text(text)
        (tmp / "profiles" / f"p{n}.yaml").write_text(
            f"name: p{n}\ntitle: P\nlike_file: {name}\nmax_items: 5\n"
        )
    return cfg


@pytest.mark.parametrize("n", range(len(EXPORTS)))
def test_an_export_ranks_by_the_paper_the_store_has_and_reports_the_other_at_its_line(
    config: Path, n: int
) -> None:
    name, (_, line) = list(EXPORTS.items())[n]
    result = CliRunner().invoke(
        cli, ["--config", str(config), "preview", f"p{n}", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    picks = json.loads(result.stdout)
    assert len(picks) == 5
    assert {p["like"]["title"] for p in picks} == {HAVE}
    where = config.parent / "profiles" / name
    said = [s for s in result.stderr.splitlines() if "liked paper" in s]
    assert len(said) == 1, result.stderr
    assert f"{where}:{line}: liked paper {LACK!r} is not in the store" in said[0]
