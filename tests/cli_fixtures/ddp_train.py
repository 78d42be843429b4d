"""torchrun fixture: a tiny DDP model trained one step on CPU with gloo.

    torchrun --standalone --nproc-per-node 2 ddp_train.py

Every rank uses the same seed and the same batch; each prints one JSON line
{"rank", "pid", "loss"} and exits with status 0."""

import json
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)

    def forward(self, x):
        out = self.lin(x)
        return out


def step(model, opt, x):
    opt.zero_grad()
    loss = model(x).sum()
    loss.backward()
    opt.step()
    return loss.item()


def main():
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = DDP(Net())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4) / 8
    loss = step(model, opt, x)
    print(json.dumps({"rank": rank, "pid": os.getpid(), "loss": loss}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
