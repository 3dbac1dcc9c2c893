"""The benchmark command: structure of its results (no timing is asserted: numbers go in the report)."""

import functools
import json
import mmap

import pytest

from sitebuild import benchmarks as bench_hook
from tests.support import faults
from vitlesson.tools import bench
from vitlesson.vit import VisionTransformer


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(
        bench, "vit_row", functools.partial(bench.vit_row, batch=1)
    )
    monkeypatch.setattr(
        bench,
        "vit_small",
        lambda patch_size: VisionTransformer(
            patch_size=patch_size, embed_dim=64, depth=1, num_heads=2
        ),
    )
    monkeypatch.setattr(bench, "PATCH_CONFIGS", [(32, 8), (32, 16)])
    monkeypatch.setattr(bench, "BATCHES", [2])
    monkeypatch.setattr(bench, "ATTENTION_TOKENS", [17, 65])


@pytest.mark.slow  # a quick run with transformers: seconds
def test_command_writes_results_with_machine_label(small, tmp_path, capsys):
    output = tmp_path / "bench.json"
    bench.main(["--quick", "--output", str(output)])
    results = json.loads(output.read_text())
    assert results["mode"] == "quick" and results["machine"]["threads"] == 2
    assert results["machine"]["torch"].startswith("2.13.0")
    assert [(r["config"], r["batch"]) for r in results["patch_embedding"]] == [
        ("32/8", 2),
        ("32/16", 2),
    ]
    for row in results["patch_embedding"]:
        assert set(row["ms"]) == {
            "conv",
            "reshape + linear",
            "vitlesson default",
            "matmul roof",
        }
        assert row["gflop"] == pytest.approx(
            2
            * row["batch"]
            * row["tokens"]
            * 3
            * int(row["config"].split("/")[1]) ** 2
            * 768
            / 1e9
        )
        assert row["default_vs_roof"] == pytest.approx(
            row["ms"]["matmul roof"] / row["ms"]["vitlesson default"]
        )
        assert row["default_vs_conv_max_abs_diff"] <= 1e-5
    assert [r["tokens"] for r in results["attention"]] == [17, 65]
    assert (
        results["vit"]["model"] == "ViT-S/16"
        and results["vit"]["batch"] == 1
        and results["vit"]["ratio"] > 0
    )
    forms = {"vitlesson", "transformers", "transformers, second copy"}
    assert set(results["vit"]["page_faults_per_forward"]) == forms
    assert set(results["vit"]["ms"]) == forms
    assert results["vit"]["same_model_ratio"] == pytest.approx(
        results["vit"]["ms"]["transformers, second copy"]
        / results["vit"]["ms"]["transformers"]
    )
    fractions = [r["default_vs_roof"] for r in results["patch_embedding"]]
    summary = results["default_vs_roof"]
    assert summary["geomean"] == pytest.approx(
        (fractions[0] * fractions[1]) ** 0.5
    )
    assert summary["worst"] == min(fractions)
    out = capsys.readouterr()
    assert (
        "default/roof" in out.out and "[ 1/" in out.err
    )  # summary on stdout, progress on stderr
    assert f"worst {min(fractions):.3f} ({summary['worst_at']})" in out.out


def test_every_other_round_runs_the_candidates_in_reverse_order():
    calls = []
    fns = {name: functools.partial(calls.append, name) for name in "ab"}
    bench.median_seconds(fns, threads=1, block_seconds=1e-4, rounds=4)
    runs = [name for i, name in enumerate(calls) if calls[i - 1 : i] != [name]]
    # calibration a, b; then rounds a b | b a | a b | b a: neighbours merge
    assert runs == ["a", "b", "a", "b", "a", "b", "a"]


def test_roof_summary_names_the_worst_configuration():
    rows = [
        {"config": "224/8", "batch": 1, "default_vs_roof": 0.96},
        {"config": "224/32", "batch": 1, "default_vs_roof": 0.81},
        {"config": "384/16", "batch": 8, "default_vs_roof": 1.0},
    ]
    summary = bench.roof_summary(rows)
    assert summary["geomean"] == pytest.approx((0.96 * 0.81) ** (1 / 3))
    assert (summary["worst"], summary["worst_at"]) == (0.81, "224/32 batch 1")


def test_page_faults_count_fresh_memory():
    pytest.importorskip(
        "resource",
        reason="minor page faults are counted through the POSIX resource module",
    )

    def touch_a_new_mapping():
        # An anonymous mapping of its own: fresh pages whatever the heap
        # holds (a large tensor can reuse memory an earlier test freed, and
        # then counts no fault: seen under make test).
        with mmap.mmap(-1, 2**24) as memory:  # 16 MiB
            for page in range(0, len(memory), mmap.PAGESIZE):
                memory[page] = 1

    fresh = bench.page_faults_per_call(touch_a_new_mapping)
    assert fresh > 0
    assert bench.page_faults_per_call(lambda: None) < fresh


def test_threads_must_be_positive():
    with pytest.raises(SystemExit):
        bench.main(["--threads", "0"])


def test_recorded_results_render_into_the_page():
    results = bench_hook.load_recorded()
    values = bench_hook.values(results)
    assert (
        values["patch_table"].count("\n")
        == 2 + len(results["patch_embedding"]) - 1
    )
    assert (
        values["attention_table"].count("\n")
        == 2 + len(results["attention"]) - 1
    )
    assert results["mode"] == "full", (
        "the recorded file must come from a full run"
    )
    page = (bench_hook.RECORDED.parent.parent / "performance.md").read_text()
    names = set(bench_hook.PLACEHOLDER.findall(page))
    assert names and names <= set(values)


def test_an_unknown_placeholder_stops_the_build_naming_its_line():
    from mkdocs.exceptions import PluginError

    class Page:
        class file:
            src_uri = "performance.md"

    with pytest.raises(
        PluginError,
        match=r"performance.md:2: unknown benchmark value "
        r"\{\{ bench.nonsense \}\}",
    ):
        bench_hook.on_page_markdown(
            "{{ bench.date }}\nx {{ bench.nonsense }}", Page, {}, None
        )


def test_bench_never_overwrites_the_recorded_results_unless_asked(capsys):
    from vitlesson.tools import bench

    for flags, message in [
        (["--record", "--quick"], "--record needs a full run: drop --quick"),
        (
            ["--threads", "0"],
            "argument --threads: must be a positive integer, got 0",
        ),
        (
            ["--record", "--output", "x.json"],
            "not allowed with argument --record",
        ),
    ]:
        with pytest.raises(SystemExit) as exit_:
            bench.main(flags)
        assert exit_.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.slow  # a quick run with transformers: seconds
def test_bench_writes_to_the_working_directory_by_default(
    small, tmp_path, monkeypatch
):
    recorded = bench.RECORDED.read_bytes()
    monkeypatch.chdir(tmp_path)
    bench.main(["--quick"])
    assert json.loads((tmp_path / "bench.json").read_text())["mode"] == "quick"
    assert bench.RECORDED.read_bytes() == recorded


@pytest.mark.parametrize(
    "output,message",
    [
        ("folder", "--output folder is a directory: name a file"),
        ("notes.txt/b.json", "cannot be written: notes.txt is not a folder"),
        ("missing/b.json", "cannot be written: missing does not exist"),
        ("", "must name a file or folder, got an empty string"),
    ],
)
def test_an_unwritable_output_is_refused_before_measuring(
    tmp_path, monkeypatch, capsys, output, message
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setattr(bench, "run", None)  # never reached
    with pytest.raises(SystemExit) as stop:
        bench.main(["--quick", "--output", output])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and message in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "notes.txt",
    ]


# the command with canned results, so that only the writing is under test
CANNED = [
    "-c",
    "import sys, vitlesson.tools.bench as b; "
    "b.run = lambda **k: {'rows': ['x' * 100] * 100}; b.main(sys.argv[1:])",
]


@pytest.mark.slow
def test_a_full_disk_leaves_the_previous_results(tmp_path):
    earlier = '{"machine": {}, "mode": "quick"}\n'  # an earlier run's
    (tmp_path / "bench.json").write_text(earlier)
    result = faults.run_forked(
        [*CANNED, "--quick", "--output", "bench.json"], tmp_path, limit=2000
    )
    assert result.returncode == 1, result.stderr
    assert faults.last_line(result.stderr) == (
        "python -m vitlesson.tools.bench: could not write bench.json (File too "
        "large); any previous file is unchanged"
    )
    assert "Traceback" not in result.stderr
    assert (tmp_path / "bench.json").read_text() == earlier
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


@pytest.mark.slow
def test_ctrl_c_while_measuring_writes_nothing(tmp_path):
    code, _, err = faults.interrupt(
        ["-m", "vitlesson.tools.bench", "--quick", "--output", "bench.json"],
        tmp_path,
        when="batch 1\n",  # the whole first line
    )
    assert code == 130, err
    assert faults.last_line(err) == (
        "python -m vitlesson.tools.bench: interrupted; bench.json was not written"
    )
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "content", ["my notes", "[1, 2]", '{"machine": "only"}', "\xff"]
)
def test_a_file_bench_did_not_write_is_never_replaced(
    tmp_path, monkeypatch, capsys, content
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.json").write_text(content, encoding="latin-1")
    monkeypatch.setattr(bench, "run", None)  # never reached
    with pytest.raises(SystemExit) as stop:
        bench.main(["--quick", "--output", "mine.json"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "mine.json exists and is not the results of an earlier run" in err
    assert (tmp_path / "mine.json").read_text(encoding="latin-1") == content
