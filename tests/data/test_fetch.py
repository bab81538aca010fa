"""``vstm data fetch opencv-samples``: the logic, with apt-get and dpkg replaced (no network)."""

import gzip
from pathlib import Path

import pytest

from vstm.cli import main
from vstm.data import fetch as fetch_mod
from vstm.data.fetch import OPENCV_PHOTOS, OPENCV_SAMPLES, fetch_opencv_samples
from vstm.errors import VstmError


class FakeApt:
    """Stands in for ``apt-get download`` and ``dpkg -x``; records the calls."""

    def __init__(self, skip: tuple[str, ...] = (), download_rc: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.skip = skip
        self.download_rc = download_rc

    def __call__(self, cmd, cwd: Path):
        self.calls.append(list(cmd))
        if cmd[:2] == ["apt-get", "download"]:
            if self.download_rc:
                return _Done(self.download_rc, "", "E: Unable to locate package opencv-doc")
            (cwd / "opencv-doc_4.6.0+dfsg-12_all.deb").write_bytes(b"!<arch>")
            return _Done(0, "Get:1 opencv-doc", "")
        assert cmd[:2] == ["dpkg", "-x"]
        root = Path(cmd[3])
        for name, (inner, _) in {**OPENCV_SAMPLES, **OPENCV_PHOTOS}.items():
            if name in self.skip:
                continue
            p = root / inner
            p.parent.mkdir(parents=True, exist_ok=True)
            content = f"contents of {name}".encode()
            if inner.endswith(".gz"):
                with gzip.open(p, "wb") as f:
                    f.write(content)
            else:
                p.write_bytes(content)
        return _Done(0, "", "")


class _Done:
    def __init__(self, rc: int, out: str, err: str) -> None:
        self.returncode, self.stdout, self.stderr = rc, out, err


@pytest.fixture
def tools(monkeypatch):
    """apt-get and dpkg present; returns a function installing a fake runner."""
    monkeypatch.setattr(fetch_mod, "_which", lambda tool: f"/usr/bin/{tool}")

    def install(fake: FakeApt) -> FakeApt:
        monkeypatch.setattr(fetch_mod, "_run", fake)
        return fake

    return install


def test_fetch_copies_and_gunzips_every_file(tmp_path, tools, capsys):
    fake = tools(FakeApt())
    dest = tmp_path / "samples"
    assert main(["data", "fetch", "opencv-samples", str(dest)]) == 0
    assert [c[:2] for c in fake.calls] == [["apt-get", "download"], ["dpkg", "-x"]]
    assert sorted(p.name for p in dest.iterdir()) == sorted(OPENCV_SAMPLES)
    assert (dest / "box.mp4").read_bytes() == b"contents of box.mp4"  # gunzipped
    assert (dest / "vtest.avi").read_bytes() == b"contents of vtest.avi"
    out = capsys.readouterr().out
    assert out.count(" MB") == len(OPENCV_SAMPLES)


def test_fetch_leaves_other_files_and_skips_missing_optional(tmp_path, tools):
    tools(FakeApt(skip=("cup.mp4",)))
    dest = tmp_path / "samples"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep")
    written = fetch_opencv_samples(dest)
    assert "cup.mp4" not in {p.name for p in written} and len(written) == len(OPENCV_SAMPLES) - 1
    assert (dest / "mine.txt").read_text() == "keep"


def test_fetch_missing_required_file_is_an_error_and_writes_nothing(tmp_path, tools):
    tools(FakeApt(skip=("vtest.avi",)))
    dest = tmp_path / "samples"
    with pytest.raises(VstmError, match=r"has no .*vtest\.avi"):
        fetch_opencv_samples(dest)
    assert not dest.exists()


def test_fetch_download_failure_suggests_apt_update(tmp_path, tools, capsys):
    tools(FakeApt(download_rc=100))
    assert main(["data", "fetch", "opencv-samples", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "apt-get update" in err and "Unable to locate" in err


def test_fetch_without_apt_points_upstream(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fetch_mod, "_which", lambda t: None if t == "apt-get" else "/usr/bin/dpkg")

    def never(cmd, cwd):  # pragma: no cover - must not be reached
        raise AssertionError(f"ran {cmd}")

    monkeypatch.setattr(fetch_mod, "_run", never)
    assert main(["data", "fetch", "opencv-samples", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "apt-get not found" in err and "github.com/opencv/opencv" in err
    assert "samples/data" in err and not (tmp_path / "d").exists()


def test_fetch_photos_copies_the_photographs_only(tmp_path, tools):
    tools(FakeApt())
    dest = tmp_path / "photos"
    assert main(["data", "fetch", "opencv-photos", str(dest)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == sorted(OPENCV_PHOTOS)
    assert not set(OPENCV_PHOTOS) & set(OPENCV_SAMPLES)
