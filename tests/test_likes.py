"""`like:` and `like_file:`: entries, BibTeX / RIS / CSL-JSON exports, file:line problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.selection.likes import like_entry, read_like_file
from digest.selection.profiles import load_profile

BIB = """\
% a Zotero export
@article{kaplan2020,
  title = {Scaling Laws for Neural {Language} Models},
  author = {Kaplan, Jared and McCandlish, Sam},
  journal = {arXiv preprint arXiv:2001.08361},
  year = {2020},
}

@inproceedings{nodoi,
  title = "Layer Normalization",
  doi = {10.1000/XYZ.123},
}

@misc{empty,
  year = 2021,
}
"""

RIS = """\
TY  - JOUR
TI  - Batch Normalization: Accelerating Deep Network Training
DO  - 10.48550/arXiv.1502.03167
ER  -

TY  - JOUR
AU  - Nobody, A.
PY  - 2020
ER  -
TY  - CONF
T1  - Proximal Policy Optimization Algorithms
"""

CSL = [
    {"id": "x", "type": "article", "title": "Layer Normalization", "URL": "https://arxiv.org/abs/1607.06450v1"},
    {"id": "y", "type": "article", "DOI": "10.1145/3292500.3330701"},
    {"id": "z", "type": "article", "issued": {"date-parts": [[2020]]}},
]  # fmt: skip


def test_like_entries_are_ids_dois_or_titles() -> None:
    assert like_entry("2001.08361", "p:1").keys == ("arxiv:2001.08361",)
    assert like_entry("arXiv:2001.08361v3", "p:1").keys == ("arxiv:2001.08361",)
    assert like_entry("https://arxiv.org/abs/2001.08361v2", "p:1").keys == ("arxiv:2001.08361",)
    assert like_entry("10.1145/3292500.3330701", "p:1").keys == ("doi:10.1145/3292500.3330701",)
    assert like_entry("https://doi.org/10.1145/ABC", "p:1").keys == ("doi:10.1145/abc",)
    title = like_entry("Scaling Laws for Neural Language Models", "p:1")
    assert title.keys == ("title:scaling laws for neural language models",)


def test_bibtex_entries_and_the_line_of_each_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "lib.bib"
    path.write_text(BIB)
    likes, problems = read_like_file(path)
    assert [like.keys[0] for like in likes] == ["arxiv:2001.08361", "doi:10.1000/xyz.123"]
    assert likes[0].keys[-1] == "title:scaling laws for neural language models"
    assert likes[0].where == f"{path}:2"
    assert problems == [f"{path}:14: BibTeX: an entry with no title, DOI or arXiv id"]


def test_ris_entries_arxiv_doi_names_the_id_and_unclosed_entries(tmp_path: Path) -> None:
    path = tmp_path / "lib.ris"
    path.write_text(RIS)
    likes, problems = read_like_file(path)
    assert [like.keys[0] for like in likes] == ["arxiv:1502.03167"]
    assert problems == [
        f"{path}:6: RIS: an entry with no title, DOI or arXiv id",
        f"{path}:10: RIS: an entry without its closing ER",
    ]


def test_csl_json_items_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    path.write_text(json.dumps(CSL, indent=2))
    likes, problems = read_like_file(path)
    assert [like.keys[0] for like in likes] == ["arxiv:1607.06450", "doi:10.1145/3292500.3330701"]
    assert likes[1].where == f"{path}:8"
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:13: CSL-JSON: an entry with no")


def test_bad_json_and_unknown_kinds_are_problems(tmp_path: Path) -> None:
    bad = tmp_path / "lib.json"
    bad.write_text('[\n  {"title": "A"},\n  {"title": \n')
    assert read_like_file(bad)[1][0].startswith(f"{bad}:4: CSL-JSON: bad JSON")
    other = tmp_path / "lib.txt"
    other.write_text("x")
    assert "unknown kind of file" in read_like_file(other)[1][0]


def test_profile_reads_like_and_like_file_and_fails_with_file_line(tmp_path: Path) -> None:
    (tmp_path / "lib.bib").write_text(BIB)
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nlike:\n  - '2001.08361'\nlike_file: lib.bib\nlike_weight: 5\n")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    where = tmp_path / "lib.bib"
    assert err.value.problems == [f"{where}:14: BibTeX: an entry with no title, DOI or arXiv id"]
    (tmp_path / "lib.bib").write_text(BIB.split("@misc")[0])
    profile = load_profile(path)
    assert [like.keys[0] for like in profile.likes] == [
        "arxiv:2001.08361", "arxiv:2001.08361", "doi:10.1000/xyz.123"
    ]  # fmt: skip
    assert profile.like_weight == 5.0
    assert profile.likes[0].where == f"{path}:2"


def test_a_profile_of_likes_alone_is_valid_and_missing_files_are_problems(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nlike: [Layer Normalization]\n")
    assert load_profile(path).keywords == ()
    path.write_text("name: p\nlike_file: nothere.ris\n")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert "nothere.ris: like_file: cannot read it" in err.value.problems[0]
