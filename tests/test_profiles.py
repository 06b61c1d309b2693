from __future__ import annotations

from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.models import Term
from digest.selection.profiles import load_profile, load_profiles, parse_schedule

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "profiles"


def write(folder: Path, name: str, text: str) -> Path:
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    return err.value.problems


def test_mapping_keywords_and_every_key(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "scaling.yaml",
        "name: scaling\n"
        "title: Scaling laws\n"
        "keywords:\n"
        "  scaling law: 3\n"
        "  batch size: 2.5\n"
        "  /\\bmu-?P\\b/: 2\n"
        "  warmup:\n"
        "exclude: [quantum, higgs]\n"
        "authors: [Jared Kaplan]\n"
        "sources: [arxiv-cs-lg]\n"
        "min_score: 2\n"
        "max_items: 5\n"
        "title_weight: 3\n"
        'schedule: "mon-fri 07:00"\n'
        "timezone: Europe/Berlin\n"
        "send_empty: true\n"
        "recipients: [me@example.org, team.ml+digest@lab.example.ac.uk]\n",
    )
    prof = load_profile(p)
    assert prof.name == "scaling"
    assert prof.title == "Scaling laws"
    assert prof.keywords == (
        Term("scaling law", 3.0),
        Term("batch size", 2.5),
        Term("/\\bmu-?P\\b/", 2.0),
        Term("warmup", 1.0),  # no value: weight 1
    )
    assert prof.keywords[2].is_regex
    assert prof.exclude == ("quantum", "higgs")
    assert prof.authors == ("Jared Kaplan",)
    assert prof.sources == ("arxiv-cs-lg",)
    assert (prof.min_score, prof.max_items, prof.title_weight) == (2.0, 5, 3.0)
    assert prof.schedule == "mon-fri 07:00"
    assert prof.timezone == "Europe/Berlin"
    assert prof.send_empty is True
    assert prof.recipients == ("me@example.org", "team.ml+digest@lab.example.ac.uk")
    assert prof.path == str(p)


def test_bare_list_and_defaults_from_the_file_name(tmp_path: Path) -> None:
    p = write(tmp_path, "diffusion.yml", "keywords: [flow matching, text-to-image]\n")
    prof = load_profile(p)
    assert prof.name == "diffusion"
    assert prof.title == "diffusion"
    assert prof.keywords == (Term("flow matching", 1.0), Term("text-to-image", 1.0))
    assert prof.exclude == prof.authors == prof.sources == prof.recipients == ()
    assert (prof.min_score, prof.max_items, prof.title_weight) == (1.0, 20, 2.0)
    assert prof.schedule is None
    assert prof.timezone == "UTC"
    assert prof.send_empty is False


def test_authors_alone_can_make_a_profile(tmp_path: Path) -> None:
    p = write(tmp_path, "people.yaml", "authors: [Yann LeCun]\n")
    assert load_profile(p).authors == ("Yann LeCun",)


def test_every_problem_in_one_file(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "bad.yaml",
        "nmae: x\n"  # 1
        "keywords:\n"  # 2
        "  scaling law: lots\n"  # 3
        "  batch size: -1\n"  # 4
        "  /[unclosed/: 2\n"  # 5
        "  /x*/: 1\n"  # 6
        "  Scaling Law: 2\n"  # 7
        "  weighty: yes\n"  # 8
        "exclude: [quantum, '', 42]\n"  # 9
        "authors: oops\n"  # 10
        "max_items: 0\n"  # 11
        "min_score: -1\n"  # 12
        "title_weight: high\n"  # 13
        'schedule: "weekdays 07:00"\n'  # 14
        "timezone: Mars/Olympus\n"  # 15
        "send_empty: maybe\n"  # 16
        "recipients: [me@example.org, not-an-address]\n",  # 17
    )
    assert problems(p) == [
        f"{p}:1: nmae: unknown key (known: admin, authors, description, exclude,"
        " first_digest_days, keywords, like, like_file, like_weight, max_items, min_score, name,"
        " recipients, schedule,"
        " send_empty, sources, timezone, title, title_weight)",
        f"{p}:3: keywords.scaling law: must be int or float, not a string",
        f"{p}:4: keywords.batch size: must be a positive weight (drop the term, or use `exclude:`)",
        f"{p}:5: keywords./[unclosed/: invalid regular expression /[unclosed/:"
        " missing ]: [unclosed",
        f"{p}:6: keywords./x*/: regular expression /x*/ matches the empty string,"
        " so it matches everything",
        f"{p}:7: keywords.Scaling Law: duplicate term (case is ignored)",
        f"{p}:8: keywords.weighty: must be int or float, not a boolean",
        f"{p}:10: authors: must be a list of strings",
        f"{p}:12: min_score: must not be negative",
        f"{p}:13: title_weight: must be int or float, not a string",
        f"{p}:9: exclude[1]: must not be empty",
        f"{p}:9: exclude[2]: must be a string, not an integer",
        f"{p}:11: max_items: must be at least 1",
        f"{p}:14: schedule: unknown day 'weekdays' (use mon, tue, wed, thu, fri, sat, sun"
        " or daily)",
        f"{p}:15: timezone: unknown time zone 'Mars/Olympus' (use an IANA name like Europe/Berlin)",
        f"{p}:16: send_empty: must be bool, not a string",
        f"{p}:17: recipients[1]: 'not-an-address' does not look like an email address"
        " (name@example.org)",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("keywords: [a, 3]\n", "1: keywords[1]: must be a string, not an integer"),
        ("keywords: [a, A]\n", "1: keywords[1]: duplicate 'A'"),
        ("keywords: [a, '---']\n", "1: keywords[1]: has no letters or digits: it can never match"),
        ("keywords: scaling\n", "1: keywords: must be a mapping of term: weight, or a list"),
        ("keywords:\n  yes: 2\n", "2: keywords: a term YAML read as True: quote it"),
        ("keywords:\n  '': 2\n", "2: keywords.: must not be empty"),
        (
            "keywords: []\n",
            "1: keywords: no keywords and no authors: this profile can never match anything",
        ),
        ("title: ''\nkeywords: [a]\n", "1: title: must not be empty"),
        ("name: my profile\nkeywords: [a]\n", "1: name: 'my profile' is not a profile id"),
        ("name: index\nkeywords: [a]\n", "1: name: 'index' is taken by the archive's site index"),
        ("name: Index.HTML\nkeywords: [a]\n", "1: name: 'Index.HTML' is taken by the archive's"),
        ("keywords: [a]\nmax_items: 2.5\n", "2: max_items: must be int, not a number"),
        ("keywords:\n  a: 1\nmin_score: 3\n", "3: min_score: unreachable: the best score is 2"),
        ("keywords: [a]\nexclude: [' ']\n", "2: exclude[0]: must not be empty"),
        ("keywords: [a]\nexclude: ['/(/']\n", "2: exclude[0]: invalid regular expression /(/"),
        ("keywords: [a]\ntimezone: ../etc/passwd\n", "2: timezone: unknown time zone"),
        ("keywords: [a]\ntimezone: Europe\n", "2: timezone: unknown time zone 'Europe'"),
        ("keywords: [a]\nrecipients: [a@b]\n", "2: recipients[0]: 'a@b' does not look like"),
        ("keywords: [a]\nrecipients: x@y.org\n", "2: recipients: must be a list of strings"),
        # weights are finite and positive; min_score and title_weight finite
        ("keywords:\n  a: .nan\n", "2: keywords.a: must be a finite number, not nan"),
        ("keywords:\n  a: .inf\n", "2: keywords.a: must be a finite number, not inf"),
        ("keywords:\n  a: 0\n", "2: keywords.a: must be a positive weight"),
        ("keywords:\n  a: 1.0e+300\n", "2: keywords.a: must be at most 1e+06"),
        ("keywords: [a]\nmin_score: .nan\n", "2: min_score: must be a finite number"),
        ("keywords: [a]\ntitle_weight: .inf\n", "2: title_weight: must be a finite number"),
        ("keywords: [a]\nmax_items: 100000\n", "2: max_items: must be at most 10000"),
        # the loader: duplicate keys, impossible dates, huge numbers, deep nesting
        ("keywords:\n  a: 1\n  b: 1\n  a: 2\n", "4: duplicate key 'a' (first on line 2)"),
        ("title: A\nkeywords: [a]\ntitle: B\n", "3: duplicate key 'title' (first on line 1)"),
        ("keywords: [a]\ndescription: 2025-02-30\n", "2: not a valid date: 2025-02-30"),
        (f"keywords: [a]\nmax_items: {'9' * 400}\n", "2: number too large"),
        (f"keywords: [a]\nmax_items: {'9' * 5000}\n", "2: number too large"),
        ("keywords: [a]\ndescription: " + "[" * 5000, "2: nested more than 64 levels deep"),
        ("keywords:\n  " + "- " * 5000 + "x\n", "2: nested more than 64 levels deep"),
    ],
)
def test_single_problems(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, "p.yaml", text)
    found = problems(p)
    assert len(found) == 1, found
    assert found[0].startswith(f"{p}:{expected}")


def test_empty_file_can_never_match(tmp_path: Path) -> None:
    p = write(tmp_path, "empty.yaml", "# nothing yet\n")
    assert problems(p) == [
        f"{p}:1: keywords: no keywords and no authors: this profile can never match anything"
    ]


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    p = write(tmp_path, "list.yaml", "- scaling law\n")
    assert problems(p) == [f"{p}:1: profile: must be a mapping of settings"]


def test_bad_file_name_without_a_name_key(tmp_path: Path) -> None:
    p = write(tmp_path, "my profile.yaml", "keywords: [a]\n")
    assert problems(p) == [
        f"{p}:1: name: 'my profile' is not a profile id (letters, digits, '.', '_', '-'):"
        " set `name:` or rename the file"
    ]


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    p = write(tmp_path, "broken.yaml", "keywords:\n  a: 1\n b: [\n")
    found = problems(p)
    assert len(found) == 1
    assert found[0].startswith(f"{p}:3: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mon-fri 07:00", ((0, 1, 2, 3, 4), 7, 0)),
        ("daily 18:30", ((0, 1, 2, 3, 4, 5, 6), 18, 30)),
        ("Mon,Wed,Fri 8:05", ((0, 2, 4), 8, 5)),
        ("mon-wed, sat - sun 00:00", ((0, 1, 2, 5, 6), 0, 0)),
        ("sun 23:59", ((6,), 23, 59)),
    ],
)
def test_parse_schedule(text: str, expected: tuple[tuple[int, ...], int, int]) -> None:
    assert parse_schedule(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("07:00", "must be days then a time"),
        ("mon-fri", "must be days then a time"),
        ("mon-fri 7am", "time '7am' is not HH:MM"),
        ("mon-fri 24:00", "time '24:00' is not HH:MM"),
        ("mon-fri 07:60", "time '07:60' is not HH:MM"),
        ("fri-mon 07:00", "day range 'fri-mon' runs backwards"),
        ("monday 07:00", "unknown day 'monday'"),
        ("mon-xyz 07:00", "unknown day 'xyz'"),
        ("mon,,tue 07:00", "unknown day ''"),
    ],
)
def test_bad_schedules(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(text)


def test_load_profiles_sorted_by_name(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "name: alpha\nkeywords: [a]\n")
    write(tmp_path, "a.yml", "name: beta\nkeywords: [b]\n")
    write(tmp_path, "notes.txt", "not a profile\n")
    write(tmp_path, ".hidden.yaml", "garbage: [\n")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "c.yaml", "keywords: [c]\n")
    assert [p.name for p in load_profiles(tmp_path)] == ["alpha", "beta"]


def test_empty_folder_has_no_profiles(tmp_path: Path) -> None:
    assert load_profiles(tmp_path) == []


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder of profiles"):
        load_profiles(tmp_path / "nope")


def test_all_problems_of_all_files_at_once(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "keywords:\n  x: many\ntimezone: Nowhere/City\n")
    b = write(tmp_path, "b.yaml", "keywords: [y]\nmax_items: 0\nschedule: daily 7\n")
    c = write(tmp_path, "c.yaml", "keywords: [oops\n")
    write(tmp_path, "d.yaml", "keywords: [fine]\n")
    with pytest.raises(ConfigError) as err:
        load_profiles(tmp_path)
    found = err.value.problems
    assert found[:4] == [
        f"{a}:2: keywords.x: must be int or float, not a string",
        f"{a}:3: timezone: unknown time zone 'Nowhere/City' (use an IANA name like Europe/Berlin)",
        f"{b}:2: max_items: must be at least 1",
        f"{b}:3: schedule: time '7' is not HH:MM between 00:00 and 23:59",
    ]
    assert len(found) == 5
    assert found[4].startswith(f"{c}:")


def test_duplicate_names(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "name: same\nkeywords: [x]\n")
    b = write(tmp_path, "b.yaml", "keywords: [y]\nname: same\n")
    write(tmp_path, "c.yaml", "keywords: [z]\n")
    write(tmp_path, "c.yml", "keywords: [z]\n")
    with pytest.raises(ConfigError) as err:
        load_profiles(tmp_path)
    assert err.value.problems == [
        f"{b}:2: name: duplicate profile name 'same' (also in {a})",
        f"{tmp_path / 'c.yml'}:1: name: duplicate profile name 'c' (also in {tmp_path / 'c.yaml'})",
    ]


def test_shipped_profiles_load_cleanly() -> None:
    profiles = load_profiles(SHIPPED)
    assert [p.name for p in profiles] == ["diffusion", "scaling"]
    for prof in profiles:
        assert prof.keywords
        assert prof.exclude
        assert prof.schedule is not None
        parse_schedule(prof.schedule)
    assert {p.timezone for p in profiles} == {"Europe/Berlin", "America/New_York"}


def test_sources_must_be_configured_ones_when_the_config_names_any(tmp_path: Path) -> None:
    p = write(tmp_path, "p.yaml", "keywords: [scaling]\nsources:\n  - arxiv\n  - arxv\n")
    with pytest.raises(ConfigError) as err:
        load_profiles(tmp_path, {"arxiv", "hf"})
    assert err.value.problems == [
        f"{p}:2: sources[1]: unknown source 'arxv' (configured: arxiv, hf)"
    ]
    assert load_profile(p).sources == ("arxiv", "arxv")  # no configured sources: not checked
    write(tmp_path, "p.yaml", "keywords: [scaling]\nsources: [arxiv]\n")
    assert load_profiles(tmp_path, {"arxiv", "hf"})[0].sources == ("arxiv",)


def test_profiles_check_reports_an_unknown_source_with_file_and_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from digest.cli import cli

    folder = tmp_path / "profiles"
    folder.mkdir()
    write(folder, "p.yaml", "keywords: [scaling]\nsources: [arxv]\n")
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(f"profiles: {folder}\nsources:\n  - name: arxiv\n    path: x.rss\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "profiles", "check"])
    assert result.exit_code == 2
    assert f"{folder / 'p.yaml'}:2: sources[0]: unknown source 'arxv'" in result.output


def test_first_digest_days_defaults_to_a_week_and_is_bounded(tmp_path: Path) -> None:
    p = write(tmp_path, "a.yaml", "keywords: [x]\n")
    assert load_profile(p).first_digest_days == 7
    p = write(tmp_path, "b.yaml", "keywords: [x]\nfirst_digest_days: 30\n")
    assert load_profile(p).first_digest_days == 30
    for n, bad in enumerate(("0", "4000", "'week'", "1.5")):
        p = write(tmp_path, f"c{n}.yaml", f"keywords: [x]\nfirst_digest_days: {bad}\n")
        [problem] = problems(p)
        assert problem.startswith(f"{p}:2: first_digest_days: "), problem


def test_profiles_check_names_the_line_of_a_regex_re2_cannot_run(tmp_path: Path) -> None:
    p = write(tmp_path, "a.yaml", "keywords:\n  scaling law: 2\n  /(a+)\\1/: 1\n")
    [problem] = problems(p)
    assert problem.startswith(f"{p}:3: keywords./(a+)\\1/: invalid regular expression"), problem
    # A pattern that backtracks exponentially elsewhere is fine here: RE2 is linear.
    ok = write(tmp_path, "b.yaml", "keywords:\n  /(a+)+$/: 1\n")
    assert [t.text for t in load_profile(ok).keywords] == ["/(a+)+$/"]
