"""The one derivation of replicate seeds.

Replicate ``i`` of the parameter set ``param_id`` always simulates with

    seed = uint64( BLAKE2b-64( "modelops:seed:v1|{param_id}|{i}" ) )   (big-endian)

so a parameter set gets the same replicates whichever runner, worker or retry
evaluates it, and distinct (param_id, i) pairs get distinct, well-mixed seeds.
The run's own seed drives the sampler only; it never enters replicate seeds, so
a parameter set proposed again in another run reproduces its simulations.
"""

from __future__ import annotations

import hashlib

UINT64_MAX = 2**64 - 1
_PREFIX = "modelops:seed:v1|"


def replicate_seed(param_id: str, replicate: int) -> int:
    """Seed (uint64) of one replicate of one parameter set."""
    if not param_id:
        raise ValueError("param_id must be a non-empty string")
    if replicate < 0:
        raise ValueError(f"replicate index must be >= 0, got {replicate}")
    digest = hashlib.blake2b(f"{_PREFIX}{param_id}|{replicate}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def replicate_seeds(param_id: str, replicates: int) -> tuple[int, ...]:
    """Seeds of replicates ``0 .. replicates-1``."""
    return tuple(replicate_seed(param_id, i) for i in range(replicates))
