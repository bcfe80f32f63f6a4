"""What schemathesis cannot know from cronmon's OpenAPI document alone, loaded by
tests/it/http_fuzz.rs through SCHEMATHESIS_HOOKS.

`format: cron` is a cron expression the server accepts: five fields (or an alias) that fire at
least once in the next ten years. The document's pattern gives the syntax; these are values of
the format itself, so schemathesis sends valid expressions as valid data.
"""

import schemathesis
from hypothesis import strategies as st


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high).map(str)
    ranged = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ab: f"{min(ab)}-{max(ab)}"
    )
    step = st.integers(1, high - low).map(lambda n: f"*/{n}")
    listed = st.lists(st.integers(low, high), min_size=2, max_size=3, unique=True).map(
        lambda ns: ",".join(map(str, sorted(ns)))
    )
    return st.one_of(st.just("*"), number, ranged, step, listed)


# Days 1 to 28 exist in every month, so every expression drawn here fires.
_CRON = st.one_of(
    st.sampled_from(["@hourly", "@daily", "@weekly", "@monthly", "@yearly"]),
    st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(
        " ".join
    ),
)

schemathesis.openapi.format("cron", _CRON)


# A time a run reports must be within a day ahead of the server's clock and ten years back, and
# a completion no more than a day before its start: bounds relative to now and to another
# field, which the document states in words only. A well-formed time drawn for one of these
# fields is moved to within twelve hours of now, which meets them all, so schemathesis sends
# valid times as valid data (a malformed one is left as drawn).
_RUN_TIMES = ("startedAt", "completedAt", "scheduledFor")


def _near_now(value: object, seed: int) -> object:
    from datetime import datetime, timedelta, timezone

    if not isinstance(value, str):
        return value
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    now = datetime.now(timezone.utc) + timedelta(seconds=seed % (24 * 3600) - 12 * 3600)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


# The end of a pause must be after the server's clock and at most 366 days ahead: a
# well-formed time drawn for it is moved to between an hour and 300 days from now.
_FUTURE_TIMES = ("until",)


def _ahead(value: object, seed: int) -> object:
    from datetime import datetime, timedelta, timezone

    if not isinstance(value, str):
        return value
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    later = datetime.now(timezone.utc) + timedelta(hours=1 + seed % (300 * 24))
    return later.strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_recent_times(item: object) -> object:
    if isinstance(item, dict):
        for key in _RUN_TIMES:
            if key in item:
                item[key] = _near_now(item[key], hash(str(item[key])))
        for key in _FUTURE_TIMES:
            if key in item:
                item[key] = _ahead(item[key], hash(str(item[key])))
    return item


@schemathesis.hook
def map_body(context, body):
    if isinstance(body, list):
        return [_with_recent_times(item) for item in body]
    return _with_recent_times(body)
