"""Reporting's period arithmetic: edge days, end reasons, and the identities every report must satisfy."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.errors import InvalidInput
from services.reporting.domain import (
    EXPIRED,
    Counts,
    Period,
    Spell,
    build_report,
    commune_name,
    contribution,
    counts_by_commune,
    spell_end,
    vietnamese_sort_key,
)

S, P = date(2025, 1, 1), date(2025, 3, 31)
Q1 = Period(S, P)
BA_DINH, HOAN_KIEM, BEN_THANH = "00004", "00070", "26743"


def spell(decided: date, expires: date | None = None, ended: date | None = None, reason: str = "addicted"):
    return Spell(
        commune_code=BA_DINH,
        province_code="01",
        decided_on=decided,
        expires_on=expires or decided.replace(year=decided.year + 1),
        ended_on=ended,
        end_reason=reason if ended else None,
    )


def figures(counts: Counts) -> tuple[int, int, dict[str, int], int]:
    return counts.at_start, counts.new, dict(counts.ended), counts.at_end


# --- the spell's effective end ---------------------------------------------------------------------


def test_a_spell_without_an_early_end_runs_until_expiry():
    assert spell_end(date(2025, 1, 10), date(2026, 1, 10), None, None) == (date(2026, 1, 10), EXPIRED)


def test_an_early_end_gives_its_reason():
    assert spell_end(date(2025, 1, 10), date(2026, 1, 10), date(2025, 6, 1), "imprisoned") == (
        date(2025, 6, 1),
        "imprisoned",
    )


def test_an_end_on_the_expiry_day_keeps_its_reason():
    assert spell_end(date(2025, 1, 10), date(2026, 1, 10), date(2026, 1, 10), "died") == (
        date(2026, 1, 10),
        "died",
    )


def test_an_end_recorded_after_expiry_changes_nothing():
    assert spell_end(date(2025, 1, 10), date(2026, 1, 10), date(2026, 5, 1), "died") == (
        date(2026, 1, 10),
        EXPIRED,
    )


def test_an_end_before_the_decision_is_read_as_ending_on_the_decision_day():
    assert spell_end(date(2025, 1, 10), date(2026, 1, 10), date(2024, 12, 1), "missing") == (
        date(2025, 1, 10),
        "missing",
    )


def test_under_management_from_the_decision_day_up_to_the_day_before_the_end():
    s = spell(date(2025, 1, 10), ended=date(2025, 2, 1))
    assert not s.under_management_on(date(2025, 1, 9))
    assert s.under_management_on(date(2025, 1, 10))
    assert s.under_management_on(date(2025, 1, 31))
    assert not s.under_management_on(date(2025, 2, 1))


# --- one spell against one period, on the edge days -----------------------------------------------


@pytest.mark.parametrize(
    ("case", "the_spell", "expected"),
    [
        ("decided on S", spell(S), (0, 1, {}, 1)),
        ("decided the day before S", spell(S - timedelta(1)), (1, 0, {}, 1)),
        ("decided on P", spell(P), (0, 1, {}, 1)),
        ("decided the day after P", spell(P + timedelta(1)), (0, 0, {}, 0)),
        ("ended on S", spell(date(2024, 6, 1), ended=S, reason="addicted"), (1, 0, {"addicted": 1}, 0)),
        ("ended the day before S", spell(date(2024, 6, 1), ended=S - timedelta(1)), (0, 0, {}, 0)),
        ("ended on P", spell(date(2024, 6, 1), ended=P, reason="died"), (1, 0, {"died": 1}, 0)),
        ("ended the day after P", spell(date(2024, 6, 1), ended=P + timedelta(1)), (1, 0, {}, 1)),
        ("expiring on S", spell(date(2024, 1, 1), expires=S), (1, 0, {EXPIRED: 1}, 0)),
        ("expiring on P", spell(date(2024, 3, 31), expires=P), (1, 0, {EXPIRED: 1}, 0)),
        ("expiring on P+1", spell(date(2024, 4, 1), expires=P + timedelta(1)), (1, 0, {}, 1)),
        (
            "decided and ended in the period",
            spell(date(2025, 2, 1), ended=date(2025, 3, 1)),
            (0, 1, {"addicted": 1}, 0),
        ),
        ("decided and ended on S", spell(S, ended=S, reason="missing"), (0, 1, {"missing": 1}, 0)),
        (
            "ended before it was decided",
            spell(date(2025, 2, 1), ended=date(2024, 1, 1)),
            (0, 1, {"addicted": 1}, 0),
        ),
        ("long over before S", spell(date(2022, 1, 1)), (0, 0, {}, 0)),
    ],
)
def test_one_spell_on_the_edges(case, the_spell, expected):
    assert figures(contribution(the_spell, Q1)) == expected, case


def test_a_one_day_period():
    day = date(2025, 2, 1)
    period = Period(day, day)
    assert figures(contribution(spell(day), period)) == (0, 1, {}, 1)
    assert figures(contribution(spell(date(2024, 6, 1), ended=day), period)) == (1, 0, {"addicted": 1}, 0)


def test_a_period_that_ends_before_it_starts_is_refused_in_both_languages():
    with pytest.raises(InvalidInput) as refused:
        Period(P, S)
    assert refused.value.code == "period.order"
    assert "trước ngày bắt đầu" in refused.value.vi
    assert "before it starts" in refused.value.en


def test_counts_by_commune_skips_spells_outside_the_period_and_groups_by_unit():
    spells = [
        spell(date(2024, 6, 1)),
        spell(date(2025, 2, 1), ended=date(2025, 3, 1), reason="imprisoned"),
        spell(date(2020, 1, 1)),  # expired long before
        Spell(BEN_THANH, "79", date(2025, 1, 5), date(2026, 1, 5)),
    ]
    counts = counts_by_commune(spells, Q1)
    assert set(counts) == {(BA_DINH, "01"), (BEN_THANH, "79")}
    assert figures(counts[(BA_DINH, "01")]) == (1, 1, {"imprisoned": 1}, 1)
    assert figures(counts[(BEN_THANH, "79")]) == (0, 1, {}, 1)


# --- report rows ----------------------------------------------------------------------------------


def test_rows_carry_official_names_sorted_by_province_then_name_with_a_total():
    counts = {
        (BEN_THANH, "79"): Counts(1, 0, {}, 1),
        (HOAN_KIEM, "01"): Counts(0, 2, {EXPIRED: 1}, 1),
        (BA_DINH, "01"): Counts(3, 0, {"died": 1}, 2),
    }
    report = build_report(Q1, counts)
    assert [(r.commune_code, r.commune_name, r.province_code) for r in report.rows] == [
        (BA_DINH, "Phường Ba Đình", "01"),
        (HOAN_KIEM, "Phường Hoàn Kiếm", "01"),
        (BEN_THANH, "Phường Bến Thành", "79"),
    ]
    assert figures(report.total.counts) == (4, 2, {EXPIRED: 1, "died": 1}, 4)
    assert report.total.counts.ended_total == 2


def test_a_requested_commune_without_data_gets_a_zero_row():
    report = build_report(Q1, {(BA_DINH, "01"): Counts(1, 0, {}, 1)}, requested=[BA_DINH, HOAN_KIEM])
    assert [(r.commune_code, figures(r.counts)) for r in report.rows] == [
        (BA_DINH, (1, 0, {}, 1)),
        (HOAN_KIEM, (0, 0, {}, 0)),
    ]


def test_vietnamese_order_puts_letters_with_marks_after_their_base_letter():
    names = ["Xã Yên Lạc", "Xã Ân Thi", "Xã Đông Anh", "Xã Dương Minh Châu", "Xã An Khánh", "Xã Ẩn Lạc"]
    assert sorted(names, key=vietnamese_sort_key) == [
        "Xã An Khánh",
        "Xã Ẩn Lạc",
        "Xã Ân Thi",
        "Xã Dương Minh Châu",
        "Xã Đông Anh",
        "Xã Yên Lạc",
    ]


def test_a_code_missing_from_the_official_list_keeps_its_row_without_a_name():
    report = build_report(Q1, {("99999", "01"): Counts(1, 0, {}, 1)})
    assert [(r.commune_code, r.commune_name) for r in report.rows] == [("99999", "")]
    assert commune_name(BA_DINH) == "Phường Ba Đình"


# --- properties ---------------------------------------------------------------------------------

DAY0 = date(2023, 1, 1)
days = st.integers(min_value=0, max_value=3 * 366).map(lambda n: DAY0 + timedelta(n))


@st.composite
def spells(draw):
    decided = draw(days)
    expires = decided + timedelta(draw(st.integers(1, 400)))
    ended = draw(st.none() | days)
    reason = draw(st.sampled_from(["addicted", "imprisoned", "died", "missing"]))
    commune, province = draw(st.sampled_from([(BA_DINH, "01"), (HOAN_KIEM, "01"), (BEN_THANH, "79")]))
    return Spell(commune, province, decided, expires, ended, reason if ended else None)


@st.composite
def periods(draw):
    start = draw(days)
    return Period(start, start + timedelta(draw(st.integers(0, 400))))


@given(st.lists(spells(), max_size=40), periods())
def test_stock_at_end_is_stock_at_start_plus_new_minus_ended(all_spells, period):
    for counts in counts_by_commune(all_spells, period).values():
        assert counts.at_end == counts.at_start + counts.new - counts.ended_total
    total = sum(counts_by_commune(all_spells, period).values(), Counts())
    assert total.at_end == total.at_start + total.new - total.ended_total


@given(st.lists(spells(), max_size=40), periods())
def test_stocks_are_who_is_under_management_on_the_day_before_and_the_last_day(all_spells, period):
    total = sum(counts_by_commune(all_spells, period).values(), Counts())
    assert total.at_start == sum(s.under_management_on(period.start - timedelta(1)) for s in all_spells)
    assert total.at_end == sum(s.under_management_on(period.end) for s in all_spells)


@given(st.lists(spells(), max_size=40), periods(), st.data())
def test_two_consecutive_periods_chain_into_their_union(all_spells, period, data):
    split = period.start + timedelta(data.draw(st.integers(0, (period.end - period.start).days)))
    if split == period.end:
        return
    first, second = Period(period.start, split), Period(split + timedelta(1), period.end)

    def total(p):
        return sum(counts_by_commune(all_spells, p).values(), Counts())

    a, b, whole = total(first), total(second), total(period)
    assert a.at_end == b.at_start
    assert whole.at_start == a.at_start and whole.at_end == b.at_end
    assert whole.new == a.new + b.new
    assert dict((a + b).ended) == dict(whole.ended)


@given(spells(), periods())
def test_only_spells_touching_the_period_make_a_row(one, period):
    touches = one.decided_on <= period.end and one.end >= period.start
    counts = counts_by_commune([one], period)
    assert bool(counts) == touches
    if touches:
        (c,) = counts.values()
        assert c.at_start + c.new >= 1
