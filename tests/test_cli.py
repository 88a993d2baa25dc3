"""Command-line usage errors: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from srzoo.cli import main


@pytest.mark.parametrize("argv, says", [
    (["models", "--bogus"], "No such option: --bogus"),
    (["upscale"], "Missing argument"),
    (["eval", "-s", "x"], "--scale"),
    (["upscale", "a.png", "--tile", "-3"], "--tile"),
    (["nothing"], "No such command"),
])
def test_usage_error_is_one_line_with_exit_code_2(argv: list[str], says: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], captured.err
    assert "internal error" not in captured.err and captured.out == ""


def test_version_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("srzoo ")


@pytest.mark.parametrize("argv", [[], ["zoo"], ["-h"], ["upscale", "-h"], ["zoo", "import", "-h"]])
def test_help_without_a_command_or_with_h_exits_zero(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    assert "Usage: srzoo" in captured.out and "error" not in captured.err



def test_start_up_imports_no_torch() -> None:
    """`srzoo --help`, `srzoo models` and usage errors must not pay for torch (seconds)."""
    code = ("import sys\nfrom srzoo.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    heavy = sorted(m for m in ('torch', 'numpy', 'av', 'safetensors') if m in sys.modules)\n"
            "    print(e.code, ','.join(heavy))\n")
    for argv in (["--help"], ["models"], ["upscale", "x.png", "-s", "7"], ["eval", "--help"]):
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
        assert done.stdout.splitlines()[-1] in ("0 ", "2 "), (argv, done.stdout[-300:], done.stderr)


@pytest.mark.parametrize(("loadavg", "others"), [
    ("0.98 0.80 0.50 1/82 4242\n", 0),      # only this process: a run that just ended does not count
    ("1.20 1.10 0.90 3/100 4242\n", 2),
    ("0.10 0.10 0.10 0/80 4242\n", 0),
    ("garbled", None),
])
def test_busy_cores_are_counted_now_not_over_the_last_minute(loadavg: str, others: int | None) -> None:
    from srzoo.constants import other_running_tasks

    assert other_running_tasks(loadavg) == others


def test_openmp_waits_passively_only_beside_other_running_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    import srzoo.constants as constants

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(constants, "other_running_tasks", lambda: 0)
    constants.prefer_passive_openmp()
    assert "OMP_WAIT_POLICY" not in constants.os.environ
    monkeypatch.setattr(constants, "other_running_tasks", lambda: 64)
    constants.prefer_passive_openmp()
    assert constants.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    constants.prefer_passive_openmp()
    assert constants.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
