"""DataLoader fixture: python dl_job.py N  iterates a DataLoader(num_workers=2)
over a dataset of N items; prints one JSON line {"main": pid, "items": [...],
"workers": [pid, ...]} (the items seen by the main process and the pids that
fetched them)."""

import json
import os
import sys

import torch
from torch.utils.data import DataLoader, Dataset


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        value = torch.tensor([float(i * i)])
        return i, os.getpid(), value


def main():
    n = int(sys.argv[1])
    loader = DataLoader(Squares(n), batch_size=2, num_workers=2)
    items, pids = [], set()
    for idx, pid, value in loader:
        items += [int(i) for i in idx]
        pids.update(int(p) for p in pid)
        assert torch.equal(value[:, 0], idx.float() ** 2)
    print(json.dumps({"main": os.getpid(), "items": items, "workers": sorted(pids)}), flush=True)


if __name__ == "__main__":
    main()
