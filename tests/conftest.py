"""Suite-wide settings: tests use tiny tensors, where one intra-op thread is fastest and
avoids oversubscribing the 2-core CI machine when subprocess tests run beside it."""

import torch

torch.set_num_threads(1)
