"""Working-hours settings: defaults, accepted forms, and errors that name the setting."""

import pytest

from cost_assets.settings import SettingError
from cost_assets.waste.settings import parse_days, parse_hours, work_schedule

SETTINGS = ["COST_WORK_HOURS", "COST_WORK_DAYS", "COST_WORK_TIMEZONE", "COST_WASTE_ENVIRONMENTS"]


def test_defaults_are_08_to_20_on_weekdays_in_utc_for_staging_and_development(clean_env):
    schedule = work_schedule()
    assert (schedule.start_minute, schedule.end_minute) == (8 * 60, 20 * 60)
    assert schedule.days == frozenset({0, 1, 2, 3, 4})
    assert schedule.timezone == "UTC"
    assert schedule.environments == ("staging", "development")
    assert schedule.describe() == "mon-fri 08:00-20:00 UTC"


def test_settings_are_read_from_the_environment(clean_env):
    clean_env.setenv("COST_WORK_HOURS", "07:30-18:00")
    clean_env.setenv("COST_WORK_DAYS", "sun-thu")
    clean_env.setenv("COST_WORK_TIMEZONE", "Asia/Dubai")
    clean_env.setenv("COST_WASTE_ENVIRONMENTS", " QA, Staging ,qa")
    schedule = work_schedule()
    assert (schedule.start_minute, schedule.end_minute) == (450, 1080)
    assert schedule.days == frozenset({6, 0, 1, 2, 3})  # wraps round the week
    assert schedule.environments == ("qa", "staging")  # tag values are lower-case
    assert schedule.describe() == "mon,tue,wed,thu,sun 07:30-18:00 Asia/Dubai"


@pytest.mark.parametrize("raw, days", [
    ("mon-fri", {0, 1, 2, 3, 4}), ("mon,wed,fri", {0, 2, 4}), ("Monday-Thursday,sat", {0, 1, 2, 3, 5}),
    ("sun", {6}), ("fri-mon", {4, 5, 6, 0}),
])
def test_working_days(raw, days):
    assert parse_days(raw) == frozenset(days)


@pytest.mark.parametrize("raw, minutes", [("08-20", (480, 1200)), ("8-17", (480, 1020)), ("00-24", (0, 1440)),
                                          ("09:15 - 17:45", (555, 1065))])
def test_working_hours(raw, minutes):
    assert parse_hours(raw) == minutes


@pytest.mark.parametrize("name, value, says", [
    ("COST_WORK_HOURS", "20-08", "overnight"),
    ("COST_WORK_HOURS", "08-08", "before the end"),
    ("COST_WORK_HOURS", "8am-5pm", "range of local hours"),
    ("COST_WORK_HOURS", "08-25", "00:00-24:00"),
    ("COST_WORK_DAYS", "mon-funday", "'funday' is not a day"),
    ("COST_WORK_DAYS", ",,", "names no day"),
    ("COST_WORK_TIMEZONE", "Mars/Olympus_Mons", "IANA time zone"),
    ("COST_WORK_TIMEZONE", "EST+5", "IANA time zone"),
    ("COST_WASTE_ENVIRONMENTS", " , ", "names no environment"),
])
def test_bad_settings_name_the_setting(clean_env, name, value, says):
    clean_env.setenv(name, value)
    with pytest.raises(SettingError) as error:
        work_schedule()
    assert str(error.value).startswith(f"{name}=")
    assert says in str(error.value)
