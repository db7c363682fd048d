"""clock.py - the daemon's clock in tests: Europe/Oslo time offsets
(BEREDD_TEST_TIME_OFFSET) and the working-day calendar.

The calendar follows daemon/calendar.c with the default configuration
(calendar.office_hours "Mon-Fri 08:00-15:30", holidays = "no", no closed
days): a working day is a Monday to Friday that is not a Norwegian public
holiday. The holidays are calendar.c's: five fixed dates and seven counted
from Easter Sunday (calendar_easter(), the anonymous Gregorian algorithm).
tests/unit/test_calendar.c pins the daemon's side of the same rules; the
daemon has no command that prints its calendar, so this is the one copy
of the rules on the Python side.
"""
import datetime
import time
import zoneinfo

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")

# calendar.c: fixed_holidays[] (month, day) and easter_holidays[] (days from Easter Sunday)
FIXED_HOLIDAYS = {(1, 1): "Første nyttårsdag", (5, 1): "Arbeidernes dag", (5, 17): "Grunnlovsdag",
                  (12, 25): "Første juledag", (12, 26): "Andre juledag"}
EASTER_HOLIDAYS = {-3: "Skjærtorsdag", -2: "Langfredag", 0: "Første påskedag", 1: "Andre påskedag",
                   39: "Kristi himmelfartsdag", 49: "Første pinsedag", 50: "Andre pinsedag"}


def easter(y):
    """Easter Sunday of year Y (as calendar_easter())."""
    a, b, c = y % 19, y // 100, y % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    return datetime.date(y, (h + l - 7 * m + 114) // 31, (h + l - 7 * m + 114) % 31 + 1)


def holiday(d):
    """The name of the Norwegian public holiday on date D, or None (as
    calendar_holiday_no())."""
    if (d.month, d.day) in FIXED_HOLIDAYS:
        return FIXED_HOLIDAYS[(d.month, d.day)]
    return EASTER_HOLIDAYS.get((d - easter(d.year)).days)


def is_working_day(d):
    return d.weekday() < 5 and holiday(d) is None


def working_days(n, after=None):
    """The next N working days after date AFTER (default today), in order."""
    d = after or datetime.date.today()
    out = []
    while len(out) < n:
        d += datetime.timedelta(days=1)
        if is_working_day(d):
            out.append(d)
    return out


def working_day_after(d, n):
    """The Nth working day after date D."""
    return working_days(n, d)[-1]


def offset_to(when):
    """BEREDD_TEST_TIME_OFFSET (whole seconds) that puts the daemon's clock
    at WHEN now: an aware datetime, or a naive one / ISO text taken as
    Europe/Oslo wall time."""
    if isinstance(when, str):
        when = datetime.datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=OSLO)
    return int(when.timestamp() - time.time())


def oslo_now(offset, fmt=None):
    """The daemon's wall clock in Europe/Oslo under OFFSET: a datetime, or
    formatted with FMT."""
    t = datetime.datetime.fromtimestamp(time.time() + int(offset), OSLO)
    return t.strftime(fmt) if fmt else t
