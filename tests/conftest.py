"""Suite-wide settings: tests use tiny tensors, where one intra-op thread is fastest and
avoids oversubscribing the 2-core CI machine when subprocess tests run beside it."""

import torch

torch.set_num_threads(1)

# Per-machine measurements (vstm.system's bf16 decision on AVX512-BF16 CPUs) go to a throwaway
# cache, never the user's ~/.cache/vstm; subprocesses inherit it.
import os  # noqa: E402
import tempfile  # noqa: E402

os.environ.setdefault("VSTM_CACHE_DIR", tempfile.mkdtemp(prefix="vstm-cache-"))
