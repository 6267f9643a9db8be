// {{name}}: an enrichment plugin in JavaScript for the enricher host (WIT world
// `payments:enrichment/enricher@{{wit_version}}`, in `wit/`), built with jco componentize.
//
// Edit `enrich()`. Build: `enricher plugin build .`; test: `./test.sh`.
// The host calls `processBatch` with a batch of raw records: look their claims
// up in ONE `lookup` call, then answer every record (its `inputIndex`) on
// `enriched` or `failed`. Money stays exact, never a float: the event's own
// text is kept, and the claim amount (`unscaled` is a BigInt) is formatted as text.

import { lookup } from 'payments:enrichment/claims@{{wit_version}}';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** `unscaled * 10^-scale` as exact decimal text (`2000.00`). */
function decimalText(unscaled, scale) {
  const digits = (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  return (unscaled < 0n ? '-' : '') + whole + (scale > 0 ? '.' + digits.slice(whole.length) : '');
}

/** One parsed event and its lookup answer -> [status, fields to add (values are JSON text)]. */
function enrich(event, answer) {
  if (answer === undefined) return ['DB_ERROR', { error: JSON.stringify('claims lookup gave no answer for this claim id') }];
  if (answer.tag === 'found') {
    const c = answer.val;
    return ['SUCCESS', { member_id: JSON.stringify(c.memberId), claim_amount: decimalText(c.claimAmount.unscaled, c.claimAmount.scale) }];
  }
  if (answer.tag === 'not-found') return ['CLAIM_NOT_FOUND', { error: JSON.stringify(`claim ${event.claim_id} not found`) }];
  return ['DB_ERROR', { error: JSON.stringify(`claims lookup failed: ${answer.val.val}`) }];
}

/** The input JSON object with `fields` appended (numbers keep their exact text). */
function withFields(text, fields) {
  const body = text.trimEnd().slice(0, -1);
  const extra = Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',');
  return body + (body.trimEnd() === '{' ? '' : ',') + extra + '}';
}

export const transform = {
  info() {
    return { name: '{{name}}', version: '0.1.0' };
  },

  processBatch(context, records) {
    const texts = records.map((r) => decoder.decode(r.value));
    const events = texts.map((t) => {
      try {
        const e = JSON.parse(t);
        return e !== null && typeof e === 'object' && !Array.isArray(e) && typeof e.claim_id === 'string' ? e : null;
      } catch (_) {
        return null;
      }
    });
    const ids = [...new Set(events.filter((e) => e).map((e) => e.claim_id))].sort();
    const results = ids.length > 0 ? lookup(ids) : [];
    const answers = new Map(ids.map((id, i) => [id, results[i]]));
    return records.map((r, i) => {
      const e = events[i];
      let status;
      let value;
      if (e === null) {
        status = 'INVALID_EVENT';
        value = JSON.stringify({ enrichment_status: status, error: 'not a JSON payment event with a claim_id', original_payload: texts[i] });
      } else {
        const [s, fields] = enrich(e, answers.get(e.claim_id));
        status = s;
        value = withFields(texts[i], { ...fields, enrichment_status: JSON.stringify(status) });
      }
      const ok = status === 'SUCCESS';
      const headers = ok ? r.headers : [...r.headers, { key: 'enrichment-status', value: encoder.encode(status) }];
      return { inputIndex: i, output: ok ? 'enriched' : 'failed', key: r.key, value: encoder.encode(value), headers };
    });
  },
};
