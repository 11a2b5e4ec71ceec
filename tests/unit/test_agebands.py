from datetime import date

import pytest

from lienthong.agebands import AGE_BANDS, age_band
from lienthong_contracts.events.v1 import common_pb2


@pytest.mark.parametrize(
    ("born", "band"),
    [
        (date(2011, 6, 2), "under_14"),
        (date(2011, 6, 1), "14_to_16"),
        (date(2009, 6, 1), "16_to_18"),
        (date(2007, 6, 1), "18_to_30"),
        (date(1995, 6, 2), "18_to_30"),
        (date(1995, 6, 1), "30_and_over"),
    ],
)
def test_band_on_the_day_of_the_act(born, band):
    assert age_band(born, date(2025, 6, 1)) == band


def test_every_band_has_a_contract_value():
    names = {v.name for v in common_pb2.AgeBand.DESCRIPTOR.values}
    for band in AGE_BANDS:
        assert f"AGE_BAND_{band.upper()}" in names
