"""Keyed person pseudonyms: HMAC-SHA256 of the citizen ID, tagged with the key version."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.pseudonym import MIN_KEY_BYTES, Pseudonymiser
from lienthong.settings import DEMO_PSEUDONYM_KEY

KEY_A = bytes(range(32))
KEY_B = bytes(range(1, 33))
CITIZEN_ID = "035199000123"
PSEUDONYM = re.compile(r"([1-9][0-9]*):([0-9a-f]{32})", re.ASCII)

citizen_ids = st.text(alphabet="0123456789", min_size=12, max_size=12)


def test_same_key_and_citizen_id_give_the_same_pseudonym():
    assert Pseudonymiser(KEY_A, 1).of(CITIZEN_ID) == Pseudonymiser(KEY_A, 1).of(CITIZEN_ID)
    one = Pseudonymiser(KEY_A, 1)
    assert one.of(CITIZEN_ID) == one.of(CITIZEN_ID)


def test_format_is_version_colon_32_lowercase_hex():
    pseudonym = Pseudonymiser(KEY_A, 1).of(CITIZEN_ID)
    assert pseudonym.startswith("1:")
    assert re.fullmatch(r"1:[0-9a-f]{32}", pseudonym, re.ASCII)
    assert len(pseudonym) == 34


def test_pseudonym_is_truncated_hmac_sha256_of_the_citizen_id():
    expected = hmac.new(KEY_A, CITIZEN_ID.encode(), hashlib.sha256).hexdigest()[:32]
    assert Pseudonymiser(KEY_A, 1).of(CITIZEN_ID) == f"1:{expected}"


def test_different_keys_give_different_pseudonyms():
    assert Pseudonymiser(KEY_A, 1).of(CITIZEN_ID) != Pseudonymiser(KEY_B, 1).of(CITIZEN_ID)


def test_different_citizen_ids_give_different_pseudonyms():
    one = Pseudonymiser(KEY_A, 1)
    assert one.of("035199000123") != one.of("035199000124")


def test_key_versions_are_tagged_differently():
    old, new = Pseudonymiser(KEY_A, 1).of(CITIZEN_ID), Pseudonymiser(KEY_B, 2).of(CITIZEN_ID)
    assert old.split(":")[0] == "1"
    assert new.split(":")[0] == "2"
    assert old != new
    # Even the same key under another version number gives a pseudonym that is told apart by its tag.
    assert Pseudonymiser(KEY_A, 1).of(CITIZEN_ID) != Pseudonymiser(KEY_A, 2).of(CITIZEN_ID)
    assert Pseudonymiser(KEY_A, 12).of(CITIZEN_ID).startswith("12:")


@pytest.mark.parametrize("length", [0, 1, 16, MIN_KEY_BYTES - 1])
def test_key_shorter_than_32_bytes_is_refused(length):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Pseudonymiser(b"k" * length, 1)


@pytest.mark.parametrize("length", [MIN_KEY_BYTES, 64])
def test_key_of_32_bytes_or_more_is_accepted(length):
    assert PSEUDONYM.fullmatch(Pseudonymiser(b"k" * length, 1).of(CITIZEN_ID))


@pytest.mark.parametrize("version", [0, -1])
def test_version_below_1_is_refused(version):
    with pytest.raises(ValueError, match="version"):
        Pseudonymiser(KEY_A, version)


def test_demo_key_is_long_enough():
    assert len(bytes.fromhex(DEMO_PSEUDONYM_KEY)) >= MIN_KEY_BYTES
    assert PSEUDONYM.fullmatch(Pseudonymiser(bytes.fromhex(DEMO_PSEUDONYM_KEY), 1).of(CITIZEN_ID))


def test_pseudonym_does_not_carry_the_key():
    pseudonym = Pseudonymiser(KEY_A, 1).of(CITIZEN_ID)
    assert KEY_A.hex() not in pseudonym


def test_repr_does_not_show_the_key():
    key = b"do-not-log-this-secret-hmac-key-0123456789"
    assert key.decode() not in repr(Pseudonymiser(key, 1))


@given(citizen_id=citizen_ids, key=st.binary(min_size=32, max_size=64), version=st.integers(1, 99))
def test_pseudonym_never_contains_the_citizen_id(citizen_id, key, version):
    pseudonym = Pseudonymiser(key, version).of(citizen_id)
    assert citizen_id not in pseudonym
    match = PSEUDONYM.fullmatch(pseudonym)
    assert match and match.group(1) == str(version)


@given(first=citizen_ids, second=citizen_ids)
def test_distinct_citizen_ids_have_distinct_pseudonyms(first, second):
    one = Pseudonymiser(KEY_A, 1)
    assert (one.of(first) == one.of(second)) == (first == second)
