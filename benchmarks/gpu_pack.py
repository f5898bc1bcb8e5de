"""Pack what ``benchmarks/gpu_check.sh`` needs on a lent GPU machine into one folder, or unpack it.

The GPU machine has PyTorch but no TeX Live and no network, so the reference data travels as
pixels. Its images are 2x downsampled bilevel renders with few distinct grey values, which LZMA
over the raw pixels packs to about half of their PNG size; that is what keeps the whole
reference set (train, validation slice, test) under the device's 64 MiB transfer limit.

    python benchmarks/gpu_pack.py pack --data data/reference/real --out .gpu
    python benchmarks/gpu_pack.py unpack --pack .gpu --out /tmp/reference

``unpack`` writes a dataset directory (the layout ``markupeval data build`` writes), pixel for
pixel the packed one.
"""

from __future__ import annotations

import argparse
import io
import json
import lzma
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

LISTS = ("train_filter.lst", "validate_filter.lst", "test_filter.lst")
TEXT = ("formulas.norm.lst", "latex_vocab.txt") + LISTS


def pack(data: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for lst in LISTS:
        for line in (data / lst).read_text(encoding="utf-8").split("\n"):
            if line.strip():
                names.append(line.split()[0])
    names = sorted(set(names))
    shapes, raw = [], io.BytesIO()
    for name in names:
        with Image.open(data / "images_processed" / name) as im:
            a = np.asarray(im.convert("L"), dtype=np.uint8)
        shapes.append(a.shape)
        raw.write(a.tobytes())
    (out / "pixels.xz").write_bytes(lzma.compress(raw.getvalue(), preset=6))
    (out / "index.json").write_text(json.dumps({"names": names, "shapes": shapes}))
    for f in TEXT:
        shutil.copyfile(data / f, out / f)
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"packed {len(names)} images of {data} into {out}: {size / 2**20:.1f} MiB")


def unpack(pack_dir: Path, out: Path) -> None:
    index = json.loads((pack_dir / "index.json").read_text())
    pixels = lzma.decompress((pack_dir / "pixels.xz").read_bytes())
    images = out / "images_processed"
    images.mkdir(parents=True, exist_ok=True)
    pos = 0
    for name, (h, w) in zip(index["names"], index["shapes"]):
        a = np.frombuffer(pixels, dtype=np.uint8, count=h * w, offset=pos).reshape(h, w)
        pos += h * w
        Image.fromarray(a, mode="L").save(images / name, compress_level=1)
    for f in TEXT:
        shutil.copyfile(pack_dir / f, out / f)
    print(f"unpacked {len(index['names'])} images into {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    u = sub.add_parser("unpack")
    u.add_argument("--pack", type=Path, required=True)
    u.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(args.data, args.out)
    else:
        unpack(args.pack, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
