"""`peak_rss_bytes` (what every actor and training worker reports) without Ray: the calling process's own
peak, in bytes, measured against a baseline taken in the same process."""

import json
import subprocess
import sys

from read_ray.runtime.cluster import peak_rss_bytes

BLOCK_BYTES = 64 * 2**20
PROGRAM = f"""
import json
from read_ray.runtime.cluster import peak_rss_bytes

def resident():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))

before = peak_rss_bytes()
# enough to lift the resident size {BLOCK_BYTES} bytes above the peak so far; every page written
block = b"x" * (max(0, before - resident()) + {BLOCK_BYTES})
after = peak_rss_bytes()
print(json.dumps([before, after, len(block)]))
"""


def test_peak_rss_is_the_calling_process_peak_in_bytes():
    # Run as a grandchild (sh forks it): the kernel carries a forked image's peak across exec, so a direct
    # child of this (large) test process would start with this process's peak, not its own.
    out = subprocess.run(["/bin/sh", "-c", '"$0" -c "$1"; exit $?', sys.executable, PROGRAM],
                         capture_output=True, text=True, timeout=120, check=True)
    before, after, block = json.loads(out.stdout)
    # the peak rose by the block, in bytes (KiB, or KiB counted twice, would miss this window by 1024x);
    # 4 MiB of slack for the kernel's per-CPU batching of resident-page counts
    assert BLOCK_BYTES - 4 * 2**20 <= after - before <= block + 16 * 2**20
    assert 0 < peak_rss_bytes()  # and it answers in this process too
