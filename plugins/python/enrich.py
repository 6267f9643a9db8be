"""The enrichment step as pure logic, the same rules as the Rust plugin
(`guest/src/enrich.rs`, `event.rs`, `timefmt.rs`): a batch of raw payloads in,
one (status, JSON bytes) per payload out, in order. One `lookup` call per batch
with the distinct claim ids of its valid events. Money is `decimal.Decimal`
read from the JSON number's own text, never a float. Runs under plain CPython
as well (`python3 -m unittest` style checks need no WASM).
"""

import base64
import json
import re
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation

# DECIMAL(10,2) holds at most 99,999,999.99.
MAX_AMOUNT = Decimal("99999999.99")
CENTS = Decimal("0.01")
# Room for any amount we accept, and traps on for everything inexact.
EXACT = Context(prec=60, traps=[InvalidOperation])
STRING_FIELDS = (
    "payment_id",
    "claim_id",
    "payment_date",
    "processor_id",
    "payment_method",
    "payment_status",
)
KNOWN_FIELDS = frozenset(STRING_FIELDS + ("payment_amount",))
# Rust's `str::trim` (Unicode White_Space): unlike `str.strip()`, not \x1c-\x1f.
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


class Claim:
    __slots__ = ("member_id", "claim_amount", "claim_status")

    def __init__(self, member_id, claim_amount, claim_status):
        self.member_id = member_id
        self.claim_amount = claim_amount
        self.claim_status = claim_status


class Invalid(Exception):
    """Bad input: `status` is INVALID_JSON or INVALID_EVENT."""

    def __init__(self, status, message, payment_id=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.payment_id = payment_id


def decimal_of(unscaled, scale):
    """The WIT `decimal` record (`unscaled * 10^-scale`) as an exact Decimal."""
    return Decimal(unscaled).scaleb(-min(scale, 28), EXACT)


# --- parsing and validation (event.rs) ---------------------------------------


class _Obj(dict):
    """A JSON object that remembers a repeated known field (serde rejects those)."""

    duplicate = None


def _pairs(pairs):
    obj = _Obj()
    for k, v in pairs:
        if k in obj and k in KNOWN_FIELDS and obj.duplicate is None:
            obj.duplicate = k
        obj[k] = v
    return obj


# Nesting the parser takes: CPython's C JSON scanner recurses per level, and
# the WASM stack ends (a trap) a few thousand levels down, so deeper input is
# refused before parsing (as INVALID_EVENT for an object, INVALID_JSON otherwise).
MAX_DEPTH = 400
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _too_deep(text):
    """Whether `text` nests arrays and objects deeper than MAX_DEPTH (strings skipped)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for m in _BRACKETS.finditer(_STRINGS.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def _text(s, n):
    return s[:n]


def parse_amount(value):
    """`payment_amount`: a JSON number (as Decimal, from its own text) or a
    string holding one. Exact: at most two places, within DECIMAL(10,2)."""
    if isinstance(value, str):
        text = value.strip(WHITESPACE)
        if not text.isascii() or not text or not (text[0] == "-" or "0" <= text[0] <= "9"):
            raise ValueError(f"`payment_amount` must be a decimal number, got {_text(json.dumps(value), 40)}")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"`payment_amount` {_text(text, 40)} is not a representable decimal") from None
    elif isinstance(value, Decimal):
        amount = value
        text = str(value)
    else:
        shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, (dict, list)) else type(value).__name__
        raise ValueError(f"`payment_amount` must be a decimal number, got {_text(shown, 40)}")
    if not amount.is_finite():
        raise ValueError(f"`payment_amount` {_text(text, 40)} is not a representable decimal")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"`payment_amount` {_text(text, 40)} is outside DECIMAL(10,2)")
    if amount != amount.quantize(CENTS, context=EXACT):
        raise ValueError(f"`payment_amount` {_text(text, 40)} has more than two decimal places")
    amount = amount.quantize(CENTS, context=EXACT)
    return Decimal("0.00") if amount == 0 else amount


def _digits(b):
    if not b or not all(48 <= c <= 57 for c in b):
        return None
    return int(b)


def _days_in_month(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def is_iso_datetime(s):
    """`YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|+-HH:MM]` on a real calendar day."""
    b = s.encode()
    if len(b) < 16 or b[4] != 45 or b[7] != 45 or b[10] not in (84, 32) or b[13] != 58:
        return False
    y, mo, d, h, mi = (_digits(b[0:4]), _digits(b[5:7]), _digits(b[8:10]), _digits(b[11:13]), _digits(b[14:16]))
    if None in (y, mo, d, h, mi) or not 1 <= mo <= 12 or not 1 <= d <= _days_in_month(y, mo):
        return False
    if h > 23 or mi > 59:
        return False
    rest = b[16:]
    if len(rest) >= 3 and rest[0] == 58:
        sec = _digits(rest[1:3])
        if sec is None or sec > 60:
            return False
        rest = rest[3:]
        if rest[:1] == b".":
            n = 0
            while n + 1 < len(rest) and 48 <= rest[n + 1] <= 57:
                n += 1
            if n == 0 or n > 9:
                return False
            rest = rest[n + 1 :]
    if rest in (b"", b"Z"):
        return True
    if len(rest) == 6 and rest[0] in (43, 45) and rest[3] == 58:
        oh, om = _digits(rest[1:3]), _digits(rest[4:6])
        return oh is not None and om is not None and oh <= 23 and om <= 59
    return False


def _utf8_clean(s):
    """False for a string holding a lone surrogate escape (`"\\ud800"`), which serde_json refuses."""
    try:
        s.encode()
        return True
    except UnicodeEncodeError:
        return False


def _required(obj, name, invalid):
    v = obj.get(name)
    if v is None:
        raise invalid(f"missing field `{name}`")
    if not v.strip(WHITESPACE):
        raise invalid(f"field `{name}` is empty")
    return v


def parse_event(payload):
    """A valid event as a dict (amount a Decimal), or raise Invalid."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Invalid("INVALID_JSON", f"payload is not UTF-8: {e}") from None
    try:
        if _too_deep(text):
            raise RecursionError
        obj = json.loads(text, object_pairs_hook=_pairs, parse_float=Decimal, parse_int=Decimal, parse_constant=_no_constants)
    except RecursionError:
        # Nesting deeper than the parser goes: an object is a bad event, anything else bad JSON.
        kind = "INVALID_EVENT" if text.lstrip().startswith("{") else "INVALID_JSON"
        raise Invalid(kind, "malformed JSON: nested too deeply") from None
    except ValueError as e:
        kind = "truncated JSON" if "Expecting" in str(e) and getattr(e, "pos", 0) >= len(text.rstrip()) else "malformed JSON"
        raise Invalid("INVALID_JSON", f"{kind}: {e}") from None
    if not isinstance(obj, dict):
        raise Invalid("INVALID_JSON", f"wrong field type: expected a JSON object, got {type(obj).__name__}")
    raw_id = obj.get("payment_id")
    raw_id = raw_id if isinstance(raw_id, str) else None
    if obj.duplicate is not None:
        raw_id = None if obj.duplicate == "payment_id" else raw_id
        raise Invalid("INVALID_EVENT", f"wrong field type: duplicate field `{obj.duplicate}`", raw_id)
    for name in STRING_FIELDS:
        v = obj.get(name)
        if v is not None and not isinstance(v, str):
            raise Invalid("INVALID_EVENT", f"wrong field type: `{name}` must be a string", raw_id)
        if v is not None and not _utf8_clean(v):
            raise Invalid("INVALID_JSON", f"malformed JSON: lone surrogate escape in `{name}`")

    payment_id = raw_id if raw_id is not None and raw_id.strip(WHITESPACE) else None

    def invalid(message):
        return Invalid("INVALID_EVENT", message, payment_id)

    if payment_id is None:
        raise invalid("missing or empty field `payment_id`")
    _required(obj, "claim_id", invalid)
    if "payment_amount" not in obj:
        raise invalid("missing field `payment_amount`")
    if obj["payment_amount"] is None:
        raise invalid("field `payment_amount` is null")
    try:
        amount = parse_amount(obj["payment_amount"])
    except (ValueError, InvalidOperation) as e:
        raise invalid(str(e)) from None
    date = _required(obj, "payment_date", invalid)
    if not is_iso_datetime(date):
        raise invalid(
            f"`payment_date` {json.dumps(date[:64], ensure_ascii=False)} is not an ISO-8601 "
            "date-time (e.g. 2024-01-15T10:30:00)"
        )
    obj["payment_amount"] = amount
    return obj


# --- output (enricher-model) ------------------------------------------------


def _s(v):
    return "null" if v is None else json.dumps(v, ensure_ascii=False)


def _payment_fields(e):
    return (
        f'{{"payment_id":{_s(e["payment_id"])},"claim_id":{_s(e["claim_id"])},'
        f'"payment_amount":{e["payment_amount"]},"payment_date":{_s(e["payment_date"])},'
        f'"processor_id":{_s(e.get("processor_id"))},"payment_method":{_s(e.get("payment_method"))},'
        f'"payment_status":{_s(e.get("payment_status"))}'
    )


def _civil(days):
    """(year, month, day) of a day count since 1970-01-01 (proleptic Gregorian)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


# time's range: -9999-01-01T00:00:00.000 to 9999-12-31T23:59:59.999.
_MIN_MS = -377705116800000
_MAX_MS = 253402300799999


def format_utc_millis(ms):
    """`2024-01-15T10:30:01.123Z` for milliseconds since the epoch (UTC)."""
    ms = min(max(ms, _MIN_MS), _MAX_MS)
    days, rem = divmod(ms, 86_400_000)
    y, m, d = _civil(days)
    secs, milli = divmod(rem, 1000)
    return f"{y:04d}-{m:02d}-{d:02d}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{milli:03d}Z"


def failure_record(payment_id, status, error, timestamp, payload):
    """The failure record of input that is not a valid event (failure.rs)."""
    head = f'{{"payment_id":{_s(payment_id)},"enrichment_status":"{status}","error":{_s(error)},"enrichment_timestamp":"{timestamp}",'
    try:
        kept = f'"original_payload":{_s(payload.decode("utf-8"))}}}'
    except UnicodeDecodeError:
        kept = f'"original_payload_base64":"{base64.b64encode(payload).decode()}"}}'
    return (head + kept).encode()


def _enriched(e, outcome, timestamp):
    kind, value = outcome if outcome is not None else ("short", None)
    if kind == "found":
        amount = value.claim_amount.quantize(CENTS, rounding=ROUND_HALF_UP, context=EXACT)
        if amount == 0:
            amount = Decimal("0.00")
        text = (
            f'{_payment_fields(e)},"member_id":{_s(value.member_id)},"claim_amount":{amount},'
            f'"claim_status":{_s(value.claim_status)},"enrichment_status":"SUCCESS",'
            f'"enrichment_timestamp":"{timestamp}"}}'
        )
        return "SUCCESS", text.encode()
    if kind == "not-found":
        status, error = "CLAIM_NOT_FOUND", f"claim {e['claim_id']} not found"
    elif kind == "unavailable":
        status, error = "DB_ERROR", f"claims store unavailable: {value}"
    elif kind == "timeout":
        status, error = "DB_TIMEOUT", f"claims lookup timed out: {value}"
    else:
        status, error = "DB_ERROR", "claims lookup returned fewer results than ids asked for"
    text = (
        f'{_payment_fields(e)},"member_id":null,"claim_amount":null,"claim_status":null,'
        f'"enrichment_status":"{status}","error":{_s(error)},"enrichment_timestamp":"{timestamp}"}}'
    )
    return status, text.encode()


def enrich_batch(payloads, processing_time_ms, lookup):
    """One (status, JSON bytes) per payload, in order. `lookup(ids)` returns one
    outcome per id: ("found", Claim) | ("not-found", None) | ("unavailable", why) | ("timeout", why)."""
    parsed = []
    slot_of = {}
    for p in payloads:
        try:
            e = parse_event(p)
            parsed.append(e)
            slot_of.setdefault(e["claim_id"], len(slot_of))
        except Invalid as bad:
            parsed.append(bad)
    outcomes = lookup(list(slot_of)) if slot_of else []
    timestamp = format_utc_millis(processing_time_ms)
    out = []
    for e, payload in zip(parsed, payloads):
        if isinstance(e, Invalid):
            out.append((e.status, failure_record(e.payment_id, e.status, e.message, timestamp, payload)))
            continue
        slot = slot_of[e["claim_id"]]
        outcome = outcomes[slot] if slot < len(outcomes) else None
        out.append(_enriched(e, outcome, timestamp))
    return out
