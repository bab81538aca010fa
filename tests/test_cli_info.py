import subprocess
import sys

from vstm.cli import main


def test_info_prints_breakdown(capsys):
    assert main(["info", "--model", "ae-convlstm-flow"]) == 0
    out = capsys.readouterr().out
    assert "memory.conv" in out and "1,003,776" in out and "1,035,071" in out


def test_console_entry_point_runs():
    r = subprocess.run(
        [sys.executable, "-m", "vstm", "info", "--height", "128", "--width", "128"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "at 128x128" in r.stdout
