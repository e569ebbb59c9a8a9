#!/usr/bin/python3
"""Make the OpenCV INTER_AREA parity fixtures in test/fixtures/inter-area/.

Inputs are GENERATED from a formula (test_pattern below, mirrored in src/data/testing.ts), so
only OpenCV's outputs are stored. Run with Debian's python3-opencv:
    /usr/bin/python3 scripts/make-fixtures-inter-area.py
"""
import json
import os

import cv2
import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'inter-area')

# (width, height, out_width, out_height): integer and non-integer factors, several aspect ratios,
# upscaling, mixed up/down, identity.
CASES = [
    (448, 448, 224, 224),   # 2x: OpenCV's 2x2 fast path
    (640, 480, 160, 160),   # 4x by 3x: integer "area fast" path
    (672, 336, 224, 224),   # 3x by 1.5x: general area path
    (480, 379, 224, 224),   # like a downscaled CXR: non-integer both ways
    (379, 480, 112, 112),
    (1000, 998, 224, 224),  # large, slightly non-square
    (513, 257, 64, 64),
    (97, 131, 224, 224),    # upscaling: bilinear "area mode"
    (50, 60, 224, 224),
    (300, 200, 224, 224),   # down in x, up in y
    (224, 224, 224, 224),   # identity
    (1001, 10, 7, 3),       # extreme aspect ratio
]


def test_pattern(w, h, seed):
    """Gradients, hard edges and 6-bit noise from an integer hash (uint32 wrap-around)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.uint64)
    n = (x * np.uint64(0x9E3779B1) + y * np.uint64(0x85EBCA77) + np.uint64(seed) * np.uint64(0xC2B2AE3D)) & np.uint64(0xFFFFFFFF)
    n ^= n >> np.uint64(16)
    n = (n * np.uint64(0x7FEB352D)) & np.uint64(0xFFFFFFFF)
    n ^= n >> np.uint64(15)
    n = (n * np.uint64(0x846CA68B)) & np.uint64(0xFFFFFFFF)
    n ^= n >> np.uint64(16)
    v = (x * np.uint64(255)) // np.uint64(w) + (y * np.uint64(128)) // np.uint64(h) + (n & np.uint64(63))
    v = np.where(((x // np.uint64(17)) + (y // np.uint64(23))) % np.uint64(5) == np.uint64(0), np.uint64(255) - (v % np.uint64(256)), v % np.uint64(256))
    return v.astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for i, (w, h, ow, oh) in enumerate(CASES):
        seed = 1000 + i
        img = test_pattern(w, h, seed)
        out = cv2.resize(img, (ow, oh), interpolation=cv2.INTER_AREA)
        name = f'{w}x{h}-to-{ow}x{oh}'
        cv2.imwrite(os.path.join(OUT, name + '.png'), out)
        # a checksum of the input so the TypeScript mirror of test_pattern is checked too
        cases.append({'name': name, 'width': w, 'height': h, 'outWidth': ow, 'outHeight': oh, 'seed': seed,
                      'inputSum': int(img.astype(np.int64).sum()), 'inputFirst': img.ravel()[:8].tolist()})
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump({'opencv': cv2.__version__, 'cases': cases}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
