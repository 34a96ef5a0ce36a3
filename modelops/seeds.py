"""The one derivation of replicate seeds.

Replicate ``i`` of the parameter set ``param_id`` always simulates with

    seed = uint64( BLAKE2b-64( "modelops:seed:v1|{param_id}|{i}" ) )   (big-endian)

so a parameter set gets the same replicates whichever runner, worker or retry
evaluates it, and distinct (param_id, i) pairs get distinct, well-mixed seeds.
The run's own seed drives the sampler only; it never enters replicate seeds, so
a parameter set proposed again in another run reproduces its simulations.

Confirmation replicates (re-scoring the best candidates after the search) come
from a separate stream, ``"modelops:confirm:v1|{param_id}|{i}"``: they are fresh
draws, independent of the replicates the search selected the candidate on.
"""

from __future__ import annotations

import hashlib

UINT64_MAX = 2**64 - 1
SEARCH = "modelops:seed:v1"
CONFIRM = "modelops:confirm:v1"


def replicate_seed(param_id: str, replicate: int, stream: str = SEARCH) -> int:
    """Seed (uint64) of one replicate of one parameter set, in the search or the confirmation stream."""
    if not param_id:
        raise ValueError("param_id must be a non-empty string")
    if replicate < 0:
        raise ValueError(f"replicate index must be >= 0, got {replicate}")
    digest = hashlib.blake2b(f"{stream}|{param_id}|{replicate}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def replicate_seeds(param_id: str, replicates: int, stream: str = SEARCH, start: int = 0) -> tuple[int, ...]:
    """Seeds of replicates ``start .. start+replicates-1`` of one stream."""
    return tuple(replicate_seed(param_id, i, stream) for i in range(start, start + replicates))
