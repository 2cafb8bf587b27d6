#!/usr/bin/python3
"""PyTorch eager reference for build/bench_train_throughput: the same supernet and stand-alone training steps.

The space comes from `nasc space --json`, so both sides build identical blocks (stem, inverted residuals with
optional grouped 1x1 convs and channel shuffle, skip, head). Each supernet step samples `lambda` uniform random
paths, backpropagates mean(loss) over them and takes one SGD step (lr 0.01, momentum 0.9, Nesterov, gradients
set to none between steps, as SupernetSearch::weight_step does); the
stand-alone step trains the space's default architecture. Synthetic batches, as in the C++ bench.

Run with Debian's python3-torch (the same LibTorch 1.13.1 as libtorch-dev):
  /usr/bin/python3 bench/pytorch_reference.py --nasc build/nasc --threads 2
  /usr/bin/python3 bench/pytorch_reference.py --nasc build/nasc --compare build/bench_train_throughput --pairs 3
With --compare, runs of the C++ bench and of this reference alternate (single runs vary by +-20% on a shared
machine), and the medians and their ratio are printed per space.
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(cin, cout, k, stride, groups):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False)


class ConvBN(nn.Module):
    def __init__(self, cin, cout, k, stride, groups, relu):
        super().__init__()
        self.conv, self.bn, self.relu = conv(cin, cout, k, stride, groups), nn.BatchNorm2d(cout), relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x, inplace=True) if self.relu else x


def channel_shuffle(x, groups):
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, e, stride, groups):
        super().__init__()
        m = cin * e
        self.expand, self.bn1 = conv(cin, m, 1, 1, groups), nn.BatchNorm2d(m)
        self.depthwise, self.bn2 = conv(m, m, k, stride, m), nn.BatchNorm2d(m)
        self.project, self.bn3 = conv(m, cout, 1, 1, groups), nn.BatchNorm2d(cout)
        self.groups, self.residual = groups, cin == cout and stride == 1

    def forward(self, x):
        y = F.relu(self.bn1(self.expand(x)))
        if self.groups > 1:
            y = channel_shuffle(y, self.groups)
        y = F.relu(self.bn2(self.depthwise(y)))
        y = self.bn3(self.project(y))
        return y + x if self.residual else y


class Skip(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.proj = ConvBN(cin, cout, 1, stride, 1, True) if cin != cout or stride != 1 else None

    def forward(self, x):
        return self.proj(x) if self.proj is not None else x


class Head(nn.Module):
    def __init__(self, cin, head_channels, classes):
        super().__init__()
        self.conv, self.fc = ConvBN(cin, head_channels, 1, 1, 1, True), nn.Linear(head_channels, classes)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def parse_op(name):
    """k3_e6_g2 -> (kernel 3, expansion 6, groups 2); 'skip' -> None."""
    if name == "skip":
        return None
    fields = dict((p[0], int(p[1:])) for p in name.split("_"))
    return fields["k"], fields["e"], fields.get("g", 1)


def make_block(space, block, op):
    cin, cout, stride = block["in"][0], block["out"][0], block["stride"]
    if block["name"] == "stem":
        return ConvBN(cin, cout, 3, stride, 1, True)
    if block["name"] == "head":
        return Head(cin, space["head_channels"], space["num_classes"])
    spec = parse_op(op)
    if spec is None:
        return Skip(cin, cout, stride)
    k, e, g = spec
    return MBConv(cin, cout, k, e, stride, g)


class Supernet(nn.Module):
    def __init__(self, desc):
        super().__init__()
        space, blocks = desc["space"], desc["blocks"]
        self.stem = make_block(space, blocks[0], None)
        self.layers = nn.ModuleList(
            nn.ModuleList(make_block(space, b, op) for op in space["ops"]) for b in blocks[1:-1])
        self.head = make_block(space, blocks[-1], None)

    def forward(self, x, arch):
        x = self.stem(x)
        for layer, op in zip(self.layers, arch):
            x = layer[op](x)
        return self.head(x)


class Network(nn.Module):
    def __init__(self, desc, arch_names):
        super().__init__()
        space, blocks = desc["space"], desc["blocks"]
        ops = [None] + arch_names + [None]
        self.blocks = nn.Sequential(*(make_block(space, b, op) for b, op in zip(blocks, ops)))

    def forward(self, x):
        return self.blocks(x)


def time_steps(warmup, steps, passes, batch, step):
    for i in range(warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(warmup + i)
    return steps * passes * batch / (time.perf_counter() - t0)


def sgd(params):
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True)


def bench_space(nasc, name, batch, steps, lam, channels_last=False):
    desc = json.loads(subprocess.run([nasc, "space", "--space", name, "--json"], check=True,
                                     capture_output=True, text=True).stdout)
    space = desc["space"]
    c, h, w = space["input"]
    x, y = torch.randn(batch, c, h, w), torch.randint(space["num_classes"], (batch,))
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    rng = random.Random(1)
    n_layers, n_ops = len(desc["blocks"]) - 2, len(space["ops"])

    sup = Supernet(desc).to(memory_format=fmt)
    opt = sgd(sup.parameters())

    def sup_step(_):
        opt.zero_grad(set_to_none=True)  # as the search does: ops no path used this step get no update
        for _ in range(lam):
            arch = [rng.randrange(n_ops) for _ in range(n_layers)]
            (F.cross_entropy(sup(x, arch), y) / lam).backward()
        opt.step()

    sup_rate = time_steps(3, steps, lam, batch, sup_step)

    net = Network(desc, space["default_arch"].split(",")).to(memory_format=fmt)
    opt2 = sgd(net.parameters())

    def net_step(_):
        opt2.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt2.step()

    alone_rate = time_steps(3, steps, 1, batch, net_step)
    return sup_rate, alone_rate


CSV_HEADER = "space,device,threads,batch,lambda,supernet_sample_passes_per_s,standalone_images_per_s"


def run_reference(args):
    rows = []
    for s in args.spaces:
        sup, alone = bench_space(args.nasc, s, args.batch, args.steps, args.lam, args.channels_last)
        rows.append(f"{s},cpu,{torch.get_num_threads()},{args.batch},{args.lam},{sup:.1f},{alone:.1f}")
    return rows


def parse_rows(lines):
    out = {}
    for line in lines:
        f = line.strip().split(",")
        if len(f) == 7 and f[0] != "space":
            out[f[0]] = (float(f[5]), float(f[6]))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nasc", default="build/nasc", help="nasc binary (for the space description)")
    p.add_argument("--spaces", nargs="+", default=["fmnist", "hwnas-cifar"])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lambda", dest="lam", type=int, default=2, help="sampled paths per supernet step")
    p.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    p.add_argument("--channels-last", action="store_true",
                   help="PyTorch side in channels-last layout, as the C++ trains on CPU (for a like-for-like run, also "
                        "start it with MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=4294967295, its heap setting)")
    p.add_argument("--compare", metavar="BENCH", help="C++ bench binary to alternate with (bench_train_throughput)")
    p.add_argument("--pairs", type=int, default=3, help="alternating runs of each side with --compare")
    args = p.parse_args()
    threads = args.threads or os.cpu_count()
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    if not args.compare:
        print(CSV_HEADER)
        print("\n".join(run_reference(args)))
        return
    cpp_cmd = [args.compare, "--csv", "--cpu-only", "--threads", str(threads), "--batch", str(args.batch),
               "--lambda", str(args.lam), "--steps", str(args.steps), "--spaces", *args.spaces]
    cpp, ref = {s: [] for s in args.spaces}, {s: [] for s in args.spaces}
    for i in range(args.pairs):
        got = parse_rows(subprocess.run(cpp_cmd, check=True, capture_output=True, text=True).stdout.splitlines())
        for s in args.spaces:
            cpp[s].append(got[s])
        got = parse_rows(run_reference(args))
        for s in args.spaces:
            ref[s].append(got[s])
        print(f"pair {i + 1}/{args.pairs} done", file=sys.stderr)
    print(f"cpu, {threads} threads, batch {args.batch}, lambda {args.lam}, {args.steps} steps, "
          f"medians of {args.pairs} alternating runs (LibTorch {torch.__version__})"
          + (", PyTorch in channels-last" if args.channels_last else "")
          + (", PyTorch heap as nasc's" if os.environ.get("MALLOC_MMAP_MAX_") == "0" else ""))
    print(f"{'space':<12} {'what':<34} {'nasc C++':>10} {'PyTorch':>10} {'ratio':>7}")
    for s in args.spaces:
        for k, what in ((0, f"supernet sample-passes/s"), (1, "stand-alone images/s")):
            a = statistics.median(r[k] for r in cpp[s])
            b = statistics.median(r[k] for r in ref[s])
            print(f"{s:<12} {what:<34} {a:>10.0f} {b:>10.0f} {a / b:>6.2f}x")


if __name__ == "__main__":
    main()
