import logging
import os
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vstm.data import VideoClips, build_dataset, find_sources, iter_frames, video_fps
from vstm.errors import VstmError


@pytest.mark.parametrize(("name", "codec"), [("sq.mp4", "libx264"), ("sq.avi", "mpeg4")])
@pytest.mark.parametrize(("stride", "step"), [(None, 1), (3, 1), (2, 2)])
def test_clips_show_the_square_where_it_was_encoded(tmp_path, sq, name, codec, stride, step):
    path = tmp_path / name
    sq.encode(path, n=30, codec=codec)
    ds = VideoClips(path, seq_len=5, stride=stride, frame_step=step)
    stride = stride or 5
    span = 4 * step + 1  # source frames one clip covers
    assert len(ds) == (30 - span) // (stride * step) + 1
    for i in reversed(range(len(ds))):  # backwards: every clip needs a seek
        frames = ds[i]["frames"]
        assert frames.shape == (5, 1, sq.H, sq.W) and frames.dtype == torch.float32
        assert frames.min() >= 0.0 and frames.max() <= 1.0
        first = i * stride * step
        assert [sq.left(f) for f in frames] == [sq.x(first + j * step) for j in range(5)]


def test_iter_frames_and_fps(square_video, sq):
    frames = list(iter_frames(square_video))
    assert len(frames) == 30 and frames[0].shape == (1, sq.H, sq.W)
    assert [sq.left(f) for f in frames] == [sq.x(t) for t in range(30)]
    every3 = list(iter_frames(square_video, frame_step=3, channels=3))
    assert [sq.left(f) for f in every3] == [sq.x(t) for t in range(0, 30, 3)]
    assert every3[0].shape == (3, sq.H, sq.W)
    r, g, b = every3[0][:, 12, sq.x(0) + 5]  # inside the square: colour (235, 200, 120)
    assert r > g > b
    assert video_fps(square_video) == pytest.approx(10.0)


def test_resize_crop_and_pad(square_video, sq):
    crop = VideoClips(square_video, seq_len=2, size=32)[0]["frames"]
    pad = VideoClips(square_video, seq_len=2, size=32, resize="pad")[0]["frames"]
    assert crop.shape == pad.shape == (2, 1, 32, 32)
    # pad: 48x64 -> 24x32 with 4 black rows above and below; crop fills the frame
    assert pad[:, :, :4].max() == 0 and pad[:, :, -4:].max() == 0
    assert pad[:, :, 4:-4].min() > 0.03
    assert crop.min() > 0.03
    assert VideoClips(square_video, seq_len=2, size=(20, 30))[0]["frames"].shape == (2, 1, 20, 30)


def test_frame_folder_in_natural_order(frame_folder, sq):
    ds = build_dataset(str(frame_folder), seq_len=4)
    assert len(ds) == 3
    for i in range(3):
        assert [sq.left(f) for f in ds[i]["frames"]] == [sq.x(4 * i + j) for j in range(4)]
    assert [sq.left(f) for f in iter_frames(frame_folder)] == [sq.x(t) for t in range(12)]
    assert video_fps(frame_folder) == 10.0


def test_folder_of_videos_recursive_skips_bad_files(tmp_path, sq, caplog):
    root = tmp_path / "videos"
    (root / "a").mkdir(parents=True)
    (root / "b" / "c").mkdir(parents=True)
    sq.encode(root / "a" / "one.mp4", n=12, codec="libx264")
    sq.encode(root / "b" / "c" / "two.avi", n=8, codec="mpeg4")
    sq.encode(root / "b" / "short.mkv", n=3, codec="mpeg4")
    (root / "b" / "broken.mp4").write_text("this is not a video\n")
    (root / "notes.txt").write_text("ignored")
    with caplog.at_level(logging.WARNING, logger="vstm.data.video"):
        ds = VideoClips(root, seq_len=4)
    warned = caplog.text
    assert "broken.mp4" in warned and "short.mkv" in warned and "fewer than one clip" in warned
    assert [s.path.split("/")[-1] for s in ds.sources] == ["one.mp4", "two.avi"]
    assert len(ds) == 3 + 2
    assert [sq.left(f) for f in ds[4]["frames"]] == [sq.x(t) for t in range(4, 8)]
    with pytest.raises(VstmError, match=r"broken\.mp4 is a text file, not a video"):
        VideoClips(root, seq_len=4, strict=True)
    with pytest.raises(VstmError, match=r"broken\.mp4 is a text file, not a video"):
        build_dataset(str(root), seq_len=4, strict=True)
    assert len(find_sources(root)) == 3  # the short one is a source; it yields no clips


def test_dataloader_with_workers_and_pickling(square_video):
    ds = VideoClips(square_video, seq_len=3, stride=4)
    first = ds[1]["frames"]  # opens a container in this process
    ds2 = pickle.loads(pickle.dumps(ds))
    assert torch.equal(ds2[1]["frames"], first)
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    got = torch.cat([b["frames"] for b in loader])
    expect = torch.stack([ds[i]["frames"] for i in range(len(ds))])
    assert got.shape == (7, 3, 1, 48, 64) and torch.equal(got, expect)


def test_num_sequences_spreads_clips(square_video):
    ds = build_dataset(str(square_video), seq_len=2, num_sequences=3)
    assert len(ds) == 3 and ds.clip_start.tolist() == [0, 14, 28]


def test_bad_inputs_name_the_file(tmp_path, sq):
    with pytest.raises(VstmError, match=r"nothing-here\.mp4: no such file"):
        build_dataset(str(tmp_path / "nothing-here.mp4"))
    (tmp_path / "notes.mp4").write_text("hello\n" * 100)
    with pytest.raises(VstmError, match=r"notes\.mp4 is a text file, not a video"):
        VideoClips(tmp_path / "notes.mp4")
    (tmp_path / "empty.avi").write_bytes(b"")
    with pytest.raises(VstmError, match=r"empty\.avi: not a video"):
        VideoClips(tmp_path / "empty.avi")
    with pytest.raises(VstmError, match=r"empty\.avi: not a video"):
        list(iter_frames(tmp_path / "empty.avi"))
    sq.encode(tmp_path / "short.mp4", n=4, codec="libx264")
    with pytest.raises(VstmError, match=r"short\.mp4: has 4 frames .* fewer than one clip of 5"):
        VideoClips(tmp_path / "short.mp4", seq_len=5)
    with pytest.raises(VstmError, match=r"has 4 frames \(2 with frame_step 3\)"):
        VideoClips(tmp_path / "short.mp4", seq_len=3, frame_step=3)
    empty_dir = tmp_path / "nothing"
    empty_dir.mkdir()
    (empty_dir / "readme.txt").write_text("no videos")
    with pytest.raises(VstmError, match="nothing: no videos or image frames"):
        VideoClips(empty_dir)
    with pytest.raises(VstmError, match="--binarize applies to Moving MNIST only"):
        build_dataset(str(tmp_path / "short.mp4"), seq_len=2, binarize=True)


def test_truncated_videos(tmp_path, sq):
    sq.encode(tmp_path / "full.mp4", n=30, codec="libx264")
    data = (tmp_path / "full.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])  # index at the end: unreadable
    with pytest.raises(VstmError, match=r"cut\.mp4: not a video .*truncated"):
        VideoClips(tmp_path / "cut.mp4")
    sq.encode(tmp_path / "full.avi", n=30, codec="mpeg4")
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: int(len(data) * 0.9)])  # header says 30 frames
    ds = VideoClips(tmp_path / "cut.avi", seq_len=5)
    assert len(ds) == 6
    ds[0]  # the start is intact
    with pytest.raises(VstmError, match=r"cut\.avi: .*(truncated|failed to decode)"):
        for i in range(len(ds)):
            ds[i]


def test_frames_that_fail_to_decode(frame_folder, sq):
    (frame_folder / "frame_5.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    ds = VideoClips(frame_folder, seq_len=4)
    ds[0]
    with pytest.raises(VstmError, match=r"frame_5\.png: frame failed to decode"):
        ds[1]
    with pytest.raises(VstmError, match=r"frame_5\.png"):
        list(iter_frames(frame_folder))
    with pytest.raises(VstmError, match="a single image is not a video"):
        VideoClips(frame_folder / "frame_0.png")


def test_sources_of_different_sizes_need_size(tmp_path, sq, frame_folder):
    from PIL import Image

    other = tmp_path / "frames" / "small"
    other.mkdir()
    for t in range(4):
        Image.fromarray(sq.frame(t)[::2, ::2].copy()).save(other / f"{t:03d}.png")
    with pytest.raises(VstmError, match=r"differ in frame size.*pass --size"):
        VideoClips(tmp_path / "frames", seq_len=4)
    ds = VideoClips(tmp_path / "frames", seq_len=4, size=16)
    assert len(ds) == 4 and ds[3]["frames"].shape == (4, 1, 16, 16)


# ---- decoded-frame cache


@pytest.mark.parametrize(("stride", "step", "channels"), [(None, 1, 1), (3, 2, 3)])
def test_cached_clips_equal_decoded_clips(tmp_path, square_video, stride, step, channels):
    kw = {"seq_len": 5, "stride": stride, "frame_step": step, "channels": channels}
    plain = VideoClips(square_video, **kw)
    cached = VideoClips(square_video, cache_dir=tmp_path / "cache", **kw)
    assert len(cached) == len(plain) and cached.cache_files
    for i in range(len(plain)):
        assert torch.equal(cached[i]["frames"], plain[i]["frames"])
    (f,) = cached.cache_files
    arr = np.load(f, mmap_mode="r")
    assert arr.shape == (30, 48, 64, channels) and arr.dtype == np.uint8
    assert cached.cache_bytes == os.path.getsize(f) > arr.nbytes
    assert "cache=" in repr(cached)


def test_cache_is_reused_keyed_by_settings_and_works_in_workers(
    tmp_path, square_video, monkeypatch
):
    cache = tmp_path / "cache"
    first = VideoClips(square_video, seq_len=3, stride=4, size=(24, 32), cache_dir=cache)
    import vstm.data.frame_cache as video

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(video, "_iter_source_u8", no_decoding)
    again = VideoClips(square_video, seq_len=3, stride=4, size=(24, 32), cache_dir=cache)
    assert again.cache_files == first.cache_files
    monkeypatch.undo()
    other = VideoClips(square_video, seq_len=3, size=(24, 24), cache_dir=cache)
    assert other.cache_files != first.cache_files and len(list(cache.glob("*.npy"))) == 2
    assert not list(cache.glob(".*"))  # no temporary files left behind
    ds = pickle.loads(pickle.dumps(first))
    loader = DataLoader(ds, batch_size=2, num_workers=2)
    got = torch.cat([b["frames"] for b in loader])
    assert got.shape == (7, 3, 1, 24, 32)
    assert torch.equal(got, torch.stack([first[i]["frames"] for i in range(len(first))]))


def test_cache_of_a_frame_folder(tmp_path, frame_folder):
    plain = VideoClips(frame_folder, seq_len=4, stride=2)
    cached = VideoClips(frame_folder, seq_len=4, stride=2, cache_dir=tmp_path / "c")
    assert all(torch.equal(cached[i]["frames"], plain[i]["frames"]) for i in range(len(plain)))


def test_cache_of_a_truncated_video_drops_clips_past_the_end(tmp_path, sq, caplog):
    sq.encode(tmp_path / "full.avi", n=30, codec="mpeg4")
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(data[: int(len(data) * 0.9)])  # header says 30 frames
    with caplog.at_level(logging.WARNING):
        ds = VideoClips(tmp_path / "cut.avi", seq_len=5, cache_dir=tmp_path / "c")
    assert 0 < len(ds) < 6
    assert "cut.avi: only" in caplog.text and "dropping" in caplog.text
    for i in range(len(ds)):  # every remaining clip reads
        assert ds[i]["frames"].shape == (5, 1, sq.H, sq.W)


# ---- held-out spans


def test_spans_split_every_video_without_sharing_a_frame(tmp_path, sq):
    d = tmp_path / "videos"
    (d / "a").mkdir(parents=True)
    sq.encode(d / "a" / "one.mp4", n=30, codec="libx264")
    sq.encode(d / "two.avi", n=23, codec="mpeg4")
    kw = {"seq_len": 3, "stride": 1, "frame_step": 2}
    train = VideoClips(d, span=(0.0, 0.8), **kw)
    test = VideoClips(d, span=(0.8, 1.0), **kw)
    assert "span=(0.8, 1)" in repr(test)

    def frames_used(ds):  # (source path, frame number) of every frame of every clip
        used = set()
        for i in range(len(ds)):
            src = ds.sources[int(ds.clip_source[i])].path
            shown = [sq.left(f) - sq.x(0) for f in ds[i]["frames"]]  # decoded positions
            start = int(ds.clip_start[i])
            assert shown == [start + 2 * j for j in range(3)]
            used |= {(src, k) for k in range(start, start + 5)}  # frames the clip spans
        return used

    a, b = frames_used(train), frames_used(test)
    assert a and b and not (a & b)
    assert {s for s, _ in b} == {str(d / "a" / "one.mp4"), str(d / "two.avi")}
    assert min(k for s, k in b if s.endswith("one.mp4")) >= 24  # floor(0.8 * 30)
    with pytest.raises(VstmError, match=r"span must satisfy"):
        VideoClips(d, span=(0.8, 0.2))
    with pytest.raises(VstmError, match=r"one\.mp4: has 3 frames in span 0.9-1"):
        VideoClips(d / "a" / "one.mp4", seq_len=5, span=(0.9, 1.0))
