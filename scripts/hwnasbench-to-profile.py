#!/usr/bin/env python3
"""Turns the FBNet lookup tables of HW-NAS-Bench into NASC hardware profiles, one file per device.

Input: HW-NAS-Bench's published pickle (HW-NAS-Bench-v1_0.pickle, github.com/GATECH-EIC/HW-NAS-Bench). Its
structure, as its API (hw_nas_bench_api.py) reads it: a dict whose 'fbnet' entry maps metric names such as
'edgegpu_latency' or 'raspi4_latency' to a dict from block key (ConvNorm_..., ConvBlock_..., Skip_..., AvgP_...,
FC_...) to the latency of that block. Those keys are the ones NASC's spaces use (docs/ARCHITECTURE.md §3), so the tables are
copied unchanged, in milliseconds as HW-NAS-Bench reports latency.

Output: <out-dir>/hwnas-<device>.json for each device, in the format of src/latency/profile.h.

Usage: scripts/hwnasbench-to-profile.py HW-NAS-Bench-v1_0.pickle --out-dir profiles [--devices edgegpu,raspi4]
Only the standard library is needed; values stored as numpy scalars need numpy installed to unpickle.
"""
import argparse
import datetime
import json
import math
import os
import pickle
import sys
import tempfile

DEVICES = {
    "edgegpu": "HW-NAS-Bench edge GPU",
    "raspi4": "HW-NAS-Bench Raspberry Pi 4",
    "pixel3": "HW-NAS-Bench Pixel 3 phone",
    "eyeriss": "HW-NAS-Bench ASIC (Eyeriss)",
    "fpga": "HW-NAS-Bench FPGA",
}
TOOL_VERSION = "hwnasbench-to-profile 1"


class InputError(Exception):
    """A problem with the input, reported as one line naming the file and what was expected."""


def load_tables(path):
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except OSError as e:
        raise InputError(f"cannot open {path}: {e.strerror}; expected the HW-NAS-Bench pickle")
    except ModuleNotFoundError as e:
        raise InputError(f"{path}: unpickling needs the Python module '{e.name}' (pip install {e.name})")
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise InputError(f"{path}: not a readable pickle ({e})")
    if not isinstance(data, dict) or not isinstance(data.get("fbnet"), dict):
        raise InputError(f"{path}: expected a dict with an 'fbnet' entry (HW-NAS-Bench-v1_0.pickle)")
    return data["fbnet"]


def device_table(fbnet, device, path):
    metric = f"{device}_latency"
    table = fbnet.get(metric)
    if not isinstance(table, dict) or not table:
        have = ", ".join(sorted(k for k in fbnet if str(k).endswith("_latency")))
        raise InputError(f"{path}: fbnet has no latency table '{metric}' (has: {have or 'none'})")
    out = {}
    for key, value in table.items():
        try:
            ms = float(value)
        except (TypeError, ValueError):
            raise InputError(f"{path}: fbnet['{metric}']['{key}'] = {value!r} is not a number")
        if not math.isfinite(ms) or ms < 0:
            raise InputError(f"{path}: fbnet['{metric}']['{key}'] = {ms} is not a finite value >= 0")
        out[str(key)] = ms
    return dict(sorted(out.items()))


def profile(device, latencies, source):
    return {
        "format": "nasc-hardware-profile",
        "version": 1,
        "metadata": {
            "device_class": "device",
            "description": DEVICES.get(device, f"HW-NAS-Bench {device}"),
            "processor": device,
            "libtorch_version": "n/a (not measured with LibTorch)",
            "threads": None,
            "batch_size": 1,
            "repetitions": None,
            "date": datetime.date.today().isoformat(),
            "tool_version": TOOL_VERSION,
            "notes": f"imported from {os.path.basename(source)}, table fbnet/{device}_latency, values unchanged "
                     "(ms); measurement setup: see the HW-NAS-Bench paper (Li et al., ICLR 2021)",
        },
        "latency_ms": latencies,
    }


def write_atomic(path, obj):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".tmp.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pickle", help="HW-NAS-Bench-v1_0.pickle")
    ap.add_argument("--out-dir", required=True, help="directory for hwnas-<device>.json")
    ap.add_argument("--devices", default=",".join(DEVICES), help="comma-separated (default: %(default)s)")
    args = ap.parse_args(argv)
    try:
        fbnet = load_tables(args.pickle)
        devices = [d.strip() for d in args.devices.split(",") if d.strip()]
        # Read every table before writing any file, so that a bad input leaves no partial set of profiles.
        tables = {d: device_table(fbnet, d, args.pickle) for d in devices}
        for d in devices:
            out = os.path.join(args.out_dir, f"hwnas-{d}.json")
            write_atomic(out, profile(d, tables[d], args.pickle))
            print(f"{out}: {len(tables[d])} keys", file=sys.stderr)
    except InputError as e:
        print(f"hwnasbench-to-profile: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
