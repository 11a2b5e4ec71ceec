"""Field encryption at rest: AES-256-GCM bound to table, column, row and key version; wrapped data keys;
keyed blind indexes. Attacks first: a value moved, relabelled or changed never decrypts to anything."""

from __future__ import annotations

import base64
import hashlib
import hmac
import unicodedata

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from lienthong.errors import ErrorKind
from lienthong.fieldcrypto import (
    FieldCipher,
    KeyRingError,
    MasterKey,
    Undecryptable,
    associated_data,
    version_of,
)
from lienthong.settings import DEMO_MASTER_KEY, FieldCryptoSettings

KEY_1, KEY_2 = bytes(range(32)), bytes(range(100, 132))
INDEX_KEY = bytes(range(200, 232))
ROW, OTHER_ROW = "0192f0c4-0000-7000-8000-000000000001", "0192f0c4-0000-7000-8000-000000000002"
NAME = "Nguyễn Văn An"
CITIZEN_ID = "001099012345"


def cipher(active: int = 1, **keys: bytes) -> FieldCipher:
    ring = {1: KEY_1, 2: KEY_2} if not keys else {int(k[1:]): v for k, v in keys.items()}
    return FieldCipher(ring, active, INDEX_KEY)


def test_a_value_comes_back_and_the_token_names_its_key_version():
    token = cipher().encrypt("persons", "full_name_enc", ROW, NAME)
    assert token.startswith("1:") and version_of(token) == 1
    assert cipher().decrypt("persons", "full_name_enc", ROW, token) == NAME
    assert NAME.encode() not in token.encode() and "Nguy" not in token


def test_the_same_value_twice_gives_two_different_tokens():
    c = cipher()
    assert c.encrypt("persons", "citizen_id_enc", ROW, CITIZEN_ID) != c.encrypt(
        "persons", "citizen_id_enc", ROW, CITIZEN_ID
    )


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [
        pytest.param("persons", "full_name_enc", OTHER_ROW, id="another-row"),
        pytest.param("persons", "citizen_id_enc", ROW, id="another-column"),
        pytest.param("cases", "full_name_enc", ROW, id="another-table"),
    ],
)
def test_a_token_moved_elsewhere_does_not_decrypt_and_says_where(table, column, row_id):
    token = cipher().encrypt("persons", "full_name_enc", ROW, NAME)
    with pytest.raises(Undecryptable) as caught:
        cipher().decrypt(table, column, row_id, token)
    error = caught.value
    assert error.code == "field.undecryptable" and error.kind is ErrorKind.INTEGRITY
    assert f"{table}.{column}" in error.en and str(row_id) in error.en and "another record" in error.en
    assert f"{table}.{column}" in error.vi
    assert NAME not in error.en and NAME not in error.vi


def test_a_token_relabelled_with_another_version_does_not_decrypt_even_under_the_same_key_bytes():
    same_key_twice = FieldCipher({1: KEY_1, 2: KEY_1}, 1, INDEX_KEY)
    token = same_key_twice.encrypt("persons", "full_name_enc", ROW, NAME)
    relabelled = "2:" + token.split(":", 1)[1]
    with pytest.raises(Undecryptable, match="key version 2"):
        same_key_twice.decrypt("persons", "full_name_enc", ROW, relabelled)


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_a_changed_byte_is_detected(position):
    token = cipher().encrypt("persons", "full_name_enc", ROW, NAME)
    blob = bytearray(base64.urlsafe_b64decode(token[2:]))
    blob[position] ^= 0x01
    changed = "1:" + base64.urlsafe_b64encode(bytes(blob)).decode()
    with pytest.raises(Undecryptable):
        cipher().decrypt("persons", "full_name_enc", ROW, changed)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (NAME, "not an encrypted value"),
        ("x:abcd", "not an encrypted value"),
        ("1:not base64!", "another record"),
        ("1:", "another record"),
        ("7:" + "A" * 60, "no data key of version 7"),
    ],
)
def test_garbage_and_unknown_versions_are_refused_clearly(token, reason):
    with pytest.raises(Undecryptable, match=reason):
        cipher().decrypt("persons", "full_name_enc", ROW, token)


def test_the_associated_data_is_table_column_row_and_version():
    c = cipher()
    token = c.encrypt("persons", "full_name_enc", ROW, NAME)
    blob = base64.urlsafe_b64decode(token[2:])
    ad = associated_data("persons", "full_name_enc", ROW, 1)
    assert ad == b'["lienthong.field/1","persons","full_name_enc","' + ROW.encode() + b'",1]'
    padded = AESGCM(KEY_1).decrypt(blob[:12], blob[12:], ad)
    assert padded.startswith(NAME.encode()) and len(padded) % 32 == 0


def test_token_length_does_not_tell_the_length_of_a_name():
    c = cipher()
    lengths = {len(c.encrypt("persons", "full_name_enc", ROW, "A" * n)) for n in range(31)}
    assert len(lengths) == 1


def test_after_a_new_version_new_values_use_it_and_old_ones_still_decrypt():
    old = cipher(active=1).encrypt("persons", "full_name_enc", ROW, NAME)
    rotated = cipher(active=2)
    new = rotated.encrypt("persons", "full_name_enc", ROW, NAME)
    assert version_of(new) == 2 and rotated.is_current(new) and not rotated.is_current(old)
    assert rotated.decrypt("persons", "full_name_enc", ROW, old) == NAME
    assert rotated.decrypt("persons", "full_name_enc", ROW, new) == NAME
    assert rotated.versions == {1, 2}


def test_seal_and_open_take_the_place_from_the_column_and_keep_none():
    import sqlalchemy as sa

    table = sa.Table("persons", sa.MetaData(), sa.Column("full_name_enc", sa.Text))
    c = cipher()
    token = c.seal(table.c.full_name_enc, ROW, NAME)
    assert c.decrypt("persons", "full_name_enc", ROW, token) == NAME
    assert c.open(table.c.full_name_enc, ROW, token) == NAME
    assert (
        c.seal(table.c.full_name_enc, ROW, None) is None and c.open(table.c.full_name_enc, ROW, None) is None
    )


@given(st.text(max_size=300), st.text(min_size=1, max_size=40))
def test_any_text_round_trips_and_only_in_its_own_row(value, row_id):
    c = cipher()
    token = c.encrypt("t", "c_enc", row_id, value)
    assert c.decrypt("t", "c_enc", row_id, token) == value
    with pytest.raises(Undecryptable):
        c.decrypt("t", "c_enc", row_id + "x", token)


# --- blind index ---------------------------------------------------------------------------------------------


def test_blind_index_is_hmac_sha256_of_the_labelled_normalised_value():
    expected = hmac.new(
        INDEX_KEY, b"lienthong.blind-index/1\x00citizen_id\x00" + CITIZEN_ID.encode(), hashlib.sha256
    )
    assert cipher().blind_index(CITIZEN_ID) == expected.hexdigest()
    assert CITIZEN_ID not in cipher().blind_index(CITIZEN_ID)


def test_blind_index_is_the_same_for_the_same_value_however_typed():
    c = cipher()
    nfd = unicodedata.normalize("NFD", NAME)
    assert (
        c.blind_index(nfd, "name")
        == c.blind_index(NAME, "name")
        == c.blind_index(f"  {NAME.upper()} ", "name")
    )
    assert c.blind_index(CITIZEN_ID) == c.blind_index(f" {CITIZEN_ID}\n")
    assert c.blind_index(CITIZEN_ID) != c.blind_index("001099012346")


def test_blind_index_depends_on_its_key_and_on_the_kind():
    other = FieldCipher({1: KEY_1}, 1, bytes(32))
    assert cipher().blind_index(CITIZEN_ID) != other.blind_index(CITIZEN_ID)
    assert cipher().blind_index(CITIZEN_ID, "citizen_id") != cipher().blind_index(CITIZEN_ID, "phone")


def test_a_cipher_needs_its_active_key_and_a_real_index_key():
    with pytest.raises(KeyRingError, match="version 3"):
        FieldCipher({1: KEY_1}, 3, INDEX_KEY)
    with pytest.raises(KeyRingError, match="blind-index"):
        FieldCipher({1: KEY_1}, 1, b"short")


# --- master key: wrapping data keys --------------------------------------------------------------------------

MASTER = MasterKey(bytes.fromhex(DEMO_MASTER_KEY))


def test_a_data_key_unwraps_under_its_master_key_purpose_and_version_only():
    wrapped = MASTER.wrap("field", 1, KEY_1)
    assert KEY_1.hex() not in wrapped and MASTER.unwrap("field", 1, wrapped, MASTER.key_id) == KEY_1
    with pytest.raises(KeyRingError, match="field v2 does not unwrap"):
        MASTER.unwrap("field", 2, wrapped, MASTER.key_id)  # copied onto another version's row
    with pytest.raises(KeyRingError, match="blind_index v1 does not unwrap"):
        MASTER.unwrap("blind_index", 1, wrapped, MASTER.key_id)


def test_another_master_key_is_named_not_tried():
    other = MasterKey(bytes(range(40)))
    wrapped = MASTER.wrap("field", 1, KEY_1)
    with pytest.raises(KeyRingError) as caught:
        other.unwrap("field", 1, wrapped, MASTER.key_id)
    assert MASTER.key_id in str(caught.value) and other.key_id in str(caught.value)
    assert "LIENTHONG_MASTER_KEY" in str(caught.value)


def test_master_key_id_is_a_fingerprint_not_the_key():
    assert len(MASTER.key_id) == 16 and MASTER.key_id not in DEMO_MASTER_KEY
    assert MASTER.key_id != MasterKey(bytes(range(40))).key_id
    assert DEMO_MASTER_KEY[:16] not in repr(MASTER) and "raw" not in repr(MASTER)


def test_a_short_master_key_is_refused():
    with pytest.raises(ValueError, match="32 bytes"):
        MasterKey(bytes(31))


# --- settings ------------------------------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.upper().startswith("LIENTHONG_"):
            monkeypatch.delenv(name)


def test_master_key_defaults_to_the_demo_key_and_reads_the_environment(clean_environment, monkeypatch):
    assert FieldCryptoSettings().master_key_bytes() == bytes.fromhex(DEMO_MASTER_KEY)
    monkeypatch.setenv("LIENTHONG_MASTER_KEY", "ab" * 40)
    settings = FieldCryptoSettings()
    assert settings.master_key_bytes() == bytes.fromhex("ab" * 40)
    assert "abab" not in repr(settings)


@pytest.mark.parametrize(
    ("value", "message"),
    [("zz" * 32, "hexadecimal"), ("ab" * 31, "at least 32 bytes")],
)
def test_a_bad_master_key_is_refused_naming_the_variable_not_the_value(
    clean_environment, monkeypatch, value, message
):
    monkeypatch.setenv("LIENTHONG_MASTER_KEY", value)
    with pytest.raises(ValidationError) as caught:
        FieldCryptoSettings()
    assert "master_key" in str(caught.value) and message in str(caught.value)
    assert value not in str(caught.value)
