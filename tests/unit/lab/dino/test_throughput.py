"""``python -m vitlesson.lab.dino.throughput``: its record, its table, its
argument errors (fast), and a real measurement, Ctrl-C and a full disk with
tiny settings (slow)."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
import time

import pytest

from tests.support import ROOT, faults
from vitlesson._io import output_lock
from vitlesson.lab.dino import throughput

RECORD = {
    "machine": {"cores": 2, "torch": "2.x"},
    "steps": 20,
    "repeats": 3,
    "batch_size": 64,
    "runs": [
        {"processes": 1, "threads": 2, "steps_per_second": [3.0, 2.0, 2.5]},
        {"processes": 2, "threads": 1, "steps_per_second": [1.5, 1.75, 1.7]},
    ],
}


def broken(change) -> dict:
    record = copy.deepcopy(RECORD)
    change(record)
    return record


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.pop("steps"), "'steps'"),
        (lambda r: r.update(repeats=True), "'repeats'"),
        (lambda r: r.update(runs=[]), "'runs'"),
        (lambda r: r["runs"][1].pop("threads"), "runs[1]"),
        (lambda r: r["runs"][0].update(processes=0), "'processes'"),
        (
            lambda r: r["runs"][0]["steps_per_second"].pop(),
            "3 positive numbers",
        ),
        (
            lambda r: r["runs"][1]["steps_per_second"].append(-1.0),
            "'steps_per_second'",
        ),
        (
            lambda r: r["runs"][1].update(steps_per_second=[1, 2, "x"]),
            "'steps_per_second'",
        ),
    ],
)
def test_a_broken_record_is_refused_naming_what_is_wrong(change, named):
    with pytest.raises(ValueError, match="record") as error:
        throughput.check(broken(change), "the record")
    assert named in str(error.value)


def test_read_names_the_file_and_how_to_make_it(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(ValueError, match="does not exist") as error:
        throughput.read(missing)
    assert str(missing) in str(error.value)
    assert "--output" in str(error.value)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="cannot be read as JSON"):
        throughput.read(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(RECORD), encoding="utf-8")
    assert throughput.read(good) == RECORD


def test_summary_is_median_lowest_highest():
    assert throughput.summary(RECORD["runs"][0]) == (2.5, 2.0, 3.0)
    assert throughput.summary(RECORD["runs"][1]) == (1.7, 1.5, 1.75)


def test_the_table_prints_every_run_within_79_columns():
    text = throughput.table(RECORD)
    print(text)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 79
    assert "global batch 64, 20 steps, 3 repeats; 2 cores" in lines[0]
    rows = [line.split() for line in lines[3:]]
    assert rows == [
        ["1", "2", "2", "2.50", "(2.00-3.00)"],
        ["2", "1", "2", "1.70", "(1.50-1.75)"],
    ]


def test_the_table_says_how_busy_the_machine_was():
    record = RECORD | {"load_average": {"before": [3.04], "after": [1.96]}}
    lines = throughput.table(record).splitlines()
    assert lines[1] == "load average (1 min): 3.0 before, 2.0 after"
    assert lines[4].split()[:2] == ["1", "2"]


def test_the_recorded_measurement_is_a_fair_comparison():
    """What the page shows: 1 and 2 processes with the same global batch,
    each process count with the same thread counts."""
    record = throughput.read()
    pairs = {(run["processes"], run["threads"]) for run in record["runs"]}
    assert {n for n, _ in pairs} >= {1, 2}
    for threads in {t for _, t in pairs}:
        assert {(1, threads), (2, threads)} <= pairs
    assert record["machine"]["cores"] >= 1
    print(throughput.table(record))


@pytest.fixture
def no_measuring(monkeypatch):
    """Argument errors must come before any work: measuring fails the test."""

    def measure(*args):
        raise AssertionError("measured before checking the arguments")

    monkeypatch.setattr(throughput, "measure", measure)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch-size", "3"], "--batch-size (3) must be divisible"),
        (["--steps", "0"], "must be a positive integer, got 0"),
        (["--processes", "x"], "invalid positive_int value"),
        (["--timeout", "-1"], "must be seconds in (0, 86400]"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    argv, message, tmp_path, capsys, no_measuring
):
    output = tmp_path / "out.json"
    with pytest.raises(SystemExit) as exit_:
        throughput.main([*argv, "--output", str(output)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert message in err
    assert not output.exists()


def test_it_never_writes_over_a_file_it_did_not_make(
    tmp_path, capsys, no_measuring
):
    foreign = tmp_path / "notes.json"
    foreign.write_text('{"mine": true}\n', encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    for path, message in [
        (foreign, "exists and is not a record of this command"),
        (folder, "is a directory"),
        (tmp_path / "no" / "such.json", "does not exist"),
    ]:
        with pytest.raises(SystemExit) as exit_:
            throughput.main(["--output", str(path)])
        err = capsys.readouterr().err
        assert exit_.value.code == 2
        assert message in err and len(err.strip().splitlines()) == 1
    assert foreign.read_text(encoding="utf-8") == '{"mine": true}\n'


def test_the_settings_take_turns_and_every_repeat_is_recorded(
    tmp_path, monkeypatch, capsys
):
    """Each round measures every setting once, in order; the record keeps
    every repeat's rate, and the command prints the table of that record."""
    calls = []

    def measure(processes, threads, args):
        calls.append((processes, threads))
        return float(len(calls))

    monkeypatch.setattr(throughput, "measure", measure)
    output = tmp_path / "throughput.json"
    argv = ["--processes", "1", "2", "--threads", "1", "2"]
    throughput.main([*argv, "--repeats", "2", "--output", str(output)])
    settings = [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert calls == settings * 2
    record = throughput.read(output)
    assert [(r["processes"], r["threads"]) for r in record["runs"]] == settings
    assert [r["steps_per_second"] for r in record["runs"]] == [
        [1.0, 5.0],
        [2.0, 6.0],
        [3.0, 7.0],
        [4.0, 8.0],
    ]
    assert record["repeats"] == 2 and record["steps"] == 20
    assert capsys.readouterr().out.strip() == throughput.table(record)


# One repeat of one step: the real measurements below start as few
# processes as they can (each imports torch, a second or two).
TINY = [
    "--steps",
    "1",
    "--repeats",
    "1",
    "--threads",
    "1",
    "--batch-size",
    "4",
]


def command(*argv) -> list[str]:
    return [
        sys.executable,
        "-m",
        "vitlesson.lab.dino.throughput",
        *TINY,
        *argv,
    ]


@pytest.mark.slow
def test_a_tiny_measurement_of_1_and_2_processes(tmp_path, capsys):
    """The command here, its measurements in real worker processes."""
    output = tmp_path / "throughput.json"
    throughput.main([*TINY, "--processes", "1", "2", "--output", str(output)])
    record = throughput.read(output)
    assert [(r["processes"], r["threads"]) for r in record["runs"]] == [
        (1, 1),
        (2, 1),
    ]
    assert record["batch_size"] == 4 and record["repeats"] == 1
    assert capsys.readouterr().out.strip() == throughput.table(record)


WORKERS = "throughput --worker --threads=1 --steps=200 "  # in command lines


def running_workers() -> list[str]:
    """Process ids of the Ctrl-C test's torchrun and its two workers."""
    found = subprocess.run(["pgrep", "-f", WORKERS], capture_output=True)
    return found.stdout.split()


@pytest.mark.slow
def test_ctrl_c_stops_every_process_and_writes_nothing(tmp_path):
    output = tmp_path / "throughput.json"
    long = ["--steps", "200", "--processes", "2", "--output", str(output)]
    long += ["--repeats", "2"]
    child = subprocess.Popen(
        command(*long),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert child.stderr.readline().startswith("repeat 1 of 2")
    deadline = time.monotonic() + 120
    while len(running_workers()) < 3:  # torchrun and both workers
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    err = child.communicate(timeout=90)[1]
    assert child.returncode == 130, err
    assert (
        err.strip() == f"{throughput.PROG}: interrupted; nothing was written"
    )
    assert not output.exists()
    assert running_workers() == []  # none is left behind


# The command, measuring nothing: what a full disk stops is the writing.
UNMEASURED = [
    "-c",
    "import sys, vitlesson.lab.dino.throughput as t; "
    "t.measure = lambda processes, threads, args: 1.0; t.main(sys.argv[1:])",
]


@pytest.mark.slow
def test_a_full_disk_leaves_the_previous_record(tmp_path):
    output = tmp_path / "throughput.json"
    previous = json.dumps(RECORD)  # under 1 KiB, written before the limit
    output.write_text(previous, encoding="utf-8")
    done = faults.run_forked(
        [*UNMEASURED, "--processes", "1", "--output", str(output)],
        tmp_path,
        limit=200,  # bytes a file may grow to
    )
    assert done.returncode == 1, done.stderr
    assert "could not write" in done.stderr
    assert "the previous file is unchanged" in done.stderr
    assert output.read_text(encoding="utf-8") == previous
    assert [p.name for p in tmp_path.iterdir()] == [output.name]


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["--bogus"], "error: unrecognized arguments: --bogus"),
        (["--steps"], "argument --steps: expected one argument"),
        (["--output", ""], "argument --output: must name a file"),
        (
            ["--batch-size", "2000000", "--processes", "1"],
            "batch_size must be at most 1048576, got 2000000",
        ),
    ],
)
def test_each_user_error_is_one_line_and_exit_2_before_any_work(
    tmp_path, argv, shown
):
    forked = [
        "-c",
        "import sys\n"
        "from vitlesson.lab.dino import throughput\n"
        "def work(*args, **kwargs):\n"
        "    raise AssertionError('work started before the refusal')\n"
        "throughput.measure = throughput._measure_all = work\n"
        "throughput.main(sys.argv[1:])\n",
    ]
    result = faults.run_forked([*forked, *argv], tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(throughput.PROG) and shown in (
        result.stderr
    )
    assert result.stdout == "" and list(tmp_path.iterdir()) == []


def test_a_second_run_on_the_same_output_is_refused(
    tmp_path, capsys, no_measuring
):
    output = tmp_path / "out.json"
    with output_lock(output):
        with pytest.raises(SystemExit) as exit_:
            throughput.main(["--output", str(output)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert f"--output {output} is being written by another run" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", [5, None, "", "  ", b"x.json"])
def test_read_names_a_path_that_is_not_one(path):
    from tests.support.refusals import expect

    expect(
        lambda: throughput.read(path),
        lambda result: pytest.fail(f"read {path!r}"),
        names=("path",),
        values=(path,),
    )
