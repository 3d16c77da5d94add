"""The digits network trained with PyTorch DistributedDataParallel, on symprop's derived backward pass.

The same 64-32-10 network as examples/digits.py, exported with ``.torch()``:
an nn.Module whose ``loss(...).backward()`` runs the derived equations
(DerivedLoss, a torch.autograd.Function).  Two CPU processes (the gloo
backend, so it runs anywhere) each take half of every minibatch; DDP averages
their gradients, so both replicas take the same steps.  At the end, rank 0
checks that the two replicas hold identical parameters and reports the test
accuracy.

    python examples/ddp_digits.py [--outdir ddp_digits_out] [--epochs 30] [--processes 2]

Writes --outdir/digits_torch.py (the exported module).  Needs torch and scikit-learn.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import sys
from pathlib import Path

import numpy as np

try:
    import symprop  # noqa: F401
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from digits import net  # noqa: E402  (the network of examples/digits.py)

from symprop.outputs import write_atomic  # noqa: E402


def load_module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digits_split(seed: int):
    """The 60/20/20 split of examples/digits.py: (x_train, y_train, x_val, y_val, x_test, labels_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.data / 16.0
    labels = digits.target
    onehot = np.eye(10)[labels]
    x_train, x_rest, y_train, y_rest, _, l_rest = train_test_split(
        x, onehot, labels, test_size=0.4, stratify=labels, random_state=seed
    )
    x_val, x_test, y_val, _, _, l_test = train_test_split(x_rest, y_rest, l_rest, test_size=0.5, stratify=l_rest, random_state=seed)
    return x_train, y_train, x_val, y_val, x_test, l_test


def worker(rank: int, world: int, port: int, args) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    exported = load_module(Path(args.outdir) / "digits_torch.py")
    x_train, y_train, x_val, y_val, x_test, l_test = (torch.as_tensor(a) for a in digits_split(args.seed))

    class BatchLoss(torch.nn.Module):
        """DDP synchronises the gradients of what its forward returns: here, the derived loss."""

        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, x, y):
            return self.model.loss(x, y)

    model = exported.Model(seed=args.seed, dtype=torch.float64)  # the same initial parameters on every rank
    ddp = DistributedDataParallel(BatchLoss(model))
    optimizer = torch.optim.Adam(ddp.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(args.seed)  # the same shuffle on every rank
    n, batch = len(x_train), args.batch_size
    for epoch in range(args.epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n - batch + 1, batch):
            rows = order[start : start + batch][rank::world]  # this rank's half of the minibatch
            optimizer.zero_grad()
            L = ddp(x_train[rows], y_train[rows])
            L.backward()  # the derived backward pass; DDP averages the gradients over the ranks
            optimizer.step()
            total += float(L.detach())
        if rank == 0 and args.verbose:
            with torch.no_grad():
                val = float(model.loss(x_val, y_val))
            print(f"epoch {epoch + 1}: loss {total / (n // batch):.4f} (rank 0's halves), validation loss {val:.4f}", flush=True)

    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    if rank == 0:
        with torch.no_grad():
            accuracy = float((model(x_test).argmax(dim=1) == l_test).double().mean())
        difference = max(float((g - gathered[0]).abs().max()) for g in gathered)
        result = {"accuracy": accuracy, "max_parameter_difference": difference, "processes": world}
        (Path(args.outdir) / "ddp_result.json").write_text(json.dumps(result), encoding="utf-8")
    # every rank waits here for rank 0: a rank that tears its gloo group down while a peer still holds the
    # connection can abort ("terminate called without an active exception", SIGABRT, seen once in CI)
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", default="ddp_digits_out", help="directory for the outputs (created if missing)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32, help="the global minibatch, split over the processes")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", dest="verbose", action="store_false")
    args = parser.parse_args(argv)

    import torch.multiprocessing as mp

    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    write_atomic(outdir / "digits_torch.py", net.derive().torch())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(worker, args=(args.processes, free_port(), args), nprocs=args.processes, join=True)
    result = json.loads((outdir / "ddp_result.json").read_text(encoding="utf-8"))
    print(
        f"test accuracy {result['accuracy']:.4f}; {result['processes']} replicas, "
        f"largest parameter difference between them {result['max_parameter_difference']:.1e}"
    )
    return result


if __name__ == "__main__":
    main()
