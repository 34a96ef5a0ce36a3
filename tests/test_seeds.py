import hashlib

import pytest

from modelops.seeds import UINT64_MAX, replicate_seed, replicate_seeds
from modelops_contracts import UniqueParameterSet


def test_seed_is_the_documented_hash_of_param_id_and_index():
    pid = UniqueParameterSet.from_dict({"beta": 0.3}).param_id
    digest = hashlib.blake2b(f"modelops:seed:v1|{pid}|2".encode(), digest_size=8).digest()
    assert replicate_seed(pid, 2) == int.from_bytes(digest, "big")


def test_seeds_are_deterministic_uint64_and_distinct():
    pids = [UniqueParameterSet.from_dict({"x": i}).param_id for i in range(200)]
    seeds = [s for pid in pids for s in replicate_seeds(pid, 50)]
    assert seeds == [s for pid in pids for s in replicate_seeds(pid, 50)]
    assert all(0 <= s <= UINT64_MAX for s in seeds)
    assert len(set(seeds)) == len(seeds) == 10_000


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="non-empty"):
        replicate_seed("", 0)
    with pytest.raises(ValueError, match=">= 0"):
        replicate_seed("abc", -1)


def test_confirmation_seeds_are_a_separate_documented_stream():
    from modelops.seeds import CONFIRM

    pid = UniqueParameterSet.from_dict({"beta": 0.3}).param_id
    digest = hashlib.blake2b(f"modelops:confirm:v1|{pid}|5".encode(), digest_size=8).digest()
    assert replicate_seed(pid, 5, CONFIRM) == int.from_bytes(digest, "big")
    assert replicate_seeds(pid, 3, CONFIRM, start=4) == tuple(replicate_seed(pid, i, CONFIRM) for i in (4, 5, 6))
    assert not set(replicate_seeds(pid, 100)) & set(replicate_seeds(pid, 100, CONFIRM))
