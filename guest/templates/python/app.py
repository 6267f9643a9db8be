"""{{name}}: an enrichment plugin in Python for the enricher host (WIT world
`payments:enrichment/enricher@{{wit_version}}`, in `wit/`), built with componentize-py.

Edit `enrich()`. Build: `enricher plugin build .`; test: `./test.sh`.
The host calls `process_batch` with a batch of raw records: look their claims
up in ONE `claims.lookup` call, then answer every record (its `input_index`)
on `enriched` or `failed`. Money stays exact: the event's own text is kept and
the claim amount comes as an exact decimal (`unscaled * 10^-scale`).
"""

import json
from decimal import Decimal

from wit_world import exports
from wit_world.imports import claims
from wit_world.imports.types import Header, Output, OutputRecord, PluginInfo


def enrich(event, answer):
    """One parsed event and its lookup answer -> (status, fields to add)."""
    if isinstance(answer, claims.LookupResult_Found):
        c = answer.value
        amount = Decimal(c.claim_amount.unscaled).scaleb(-c.claim_amount.scale)
        return "SUCCESS", {"member_id": c.member_id, "claim_amount": amount}
    if isinstance(answer, claims.LookupResult_NotFound):
        return "CLAIM_NOT_FOUND", {"error": f"claim {event['claim_id']} not found"}
    why = answer.value.value if answer is not None else "no answer for this claim id"
    return "DB_ERROR", {"error": f"claims lookup failed: {why}"}


def with_fields(payload, fields):
    """The input JSON object with `fields` appended (numbers keep their exact text)."""
    extra = ",".join(f"{json.dumps(k)}:{v if isinstance(v, Decimal) else json.dumps(v)}" for k, v in fields.items())
    text = payload.decode().rstrip()
    return (text[:-1] + ("," if text[:-1].rstrip() != "{" else "") + extra + "}").encode()


class Transform(exports.Transform):
    def info(self):
        return PluginInfo("{{name}}", "0.1.0")

    def process_batch(self, context, records):
        events = []
        for r in records:
            try:
                e = json.loads(r.value)
                events.append(e if isinstance(e, dict) and isinstance(e.get("claim_id"), str) else None)
            except (ValueError, RecursionError):
                events.append(None)
        ids = sorted({e["claim_id"] for e in events if e is not None})
        answers = dict(zip(ids, claims.lookup(ids))) if ids else {}
        out = []
        for i, (r, e) in enumerate(zip(records, events)):
            if e is None:
                status = "INVALID_EVENT"
                fields = {"error": "not a JSON payment event with a claim_id", "original_payload": r.value.decode("utf-8", "replace")}
                value = json.dumps({"enrichment_status": status, **fields}, separators=(",", ":")).encode()
            else:
                status, fields = enrich(e, answers.get(e["claim_id"]))
                value = with_fields(r.value, {**fields, "enrichment_status": status})
            ok = status == "SUCCESS"
            headers = r.headers if ok else r.headers + [Header("enrichment-status", status.encode())]
            out.append(OutputRecord(i, Output.ENRICHED if ok else Output.FAILED, r.key, value, headers))
        return out
