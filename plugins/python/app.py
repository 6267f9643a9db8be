"""The payment-enrichment plugin in Python (componentize-py), against the WIT
world `payments:enrichment/enricher@1.1.0`: the same enrichment as the Rust
plugin in `guest/`, record for record (the oracle test checks it).

`enrich.py` is the pure logic (runs under plain CPython too); this module is
the glue: the `claims` import as the lookup, the `transform` export.
Build: componentize-py -d wit -w enricher componentize app -p . -o target/NAME.wasm
"""

from wit_world import exports

from wit_world.imports import claims, logging
from wit_world.imports.types import Header, Output, OutputRecord, PluginInfo

import enrich

NAME = "payment-enrichment-python"
VERSION = "0.1.0"


def _outcome(result):
    """A WIT `lookup-result` as the pure core's tuple."""
    if isinstance(result, claims.LookupResult_Found):
        c = result.value
        amount = enrich.decimal_of(c.claim_amount.unscaled, c.claim_amount.scale)
        return ("found", enrich.Claim(c.member_id, amount, c.claim_status))
    if isinstance(result, claims.LookupResult_NotFound):
        return ("not-found", None)
    error = result.value
    if isinstance(error, claims.LookupError_Timeout):
        return ("timeout", error.value)
    return ("unavailable", error.value)


def _lookup(ids):
    results = claims.lookup(ids)
    failed = sum(1 for r in results if isinstance(r, claims.LookupResult_Failed))
    if failed:
        logging.log(logging.Level.WARN, f"claims lookup failed for {failed} of {len(ids)} ids")
    return [_outcome(r) for r in results]


class Transform(exports.Transform):
    def info(self) -> PluginInfo:
        return PluginInfo(NAME, VERSION)

    def process_batch(self, context, records):
        routed = enrich.enrich_batch(
            [r.value for r in records], context.processing_time_ms, _lookup
        )
        out = []
        for (status, value), record in zip(routed, records):
            headers = record.headers
            success = status == "SUCCESS"
            if not success:
                headers = headers + [Header("enrichment-status", status.encode())]
            out.append(
                OutputRecord(
                    input_index=len(out),
                    output=Output.ENRICHED if success else Output.FAILED,
                    key=record.key,
                    value=value,
                    headers=headers,
                )
            )
        return out
