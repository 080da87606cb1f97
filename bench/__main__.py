"""`make bench`: the performance figures of issue 7 (throughput, digests, PDFs, sender, memory).

They are not written yet; until they are, this says so and fails rather than print made-up numbers.
"""

import sys

print("No benchmarks yet: they are issue 7 (`issues show 7`).", file=sys.stderr)
sys.exit(1)
