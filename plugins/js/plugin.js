// The payment-enrichment plugin in JavaScript (jco / componentize-js), against
// the WIT world `payments:enrichment/enricher@1.1.0`: the same enrichment as
// the Rust plugin in `guest/` (`enrich.rs`, `event.rs`, `timefmt.rs`), record
// for record (the oracle test checks it). One file: componentize-js takes one
// module. Build:
//   jco componentize plugin.js --wit wit --world-name enricher --disable all -o target/NAME.wasm
// (`--disable all`: no WASI imports; the default would import wasi:http, which the host does not offer).
//
// Money is exact: amounts are read from the JSON number's own text (a small
// JSON reader keeps number tokens as text; `JSON.parse` would round them
// through a double) into integer cents as BigInt.

import { lookup } from 'payments:enrichment/claims@1.1.0';
import { log } from 'payments:enrichment/logging@1.1.0';

const MAX_CENTS = 9_999_999_999n; // DECIMAL(10,2): at most 99,999,999.99
const STRING_FIELDS = new Set([
  'payment_id', 'claim_id', 'payment_date', 'processor_id', 'payment_method', 'payment_status',
]);
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bad input: `status` is INVALID_JSON or INVALID_EVENT. */
class Invalid {
  constructor(status, message, paymentId = null) {
    this.status = status;
    this.message = message;
    this.paymentId = paymentId;
  }
}
/** Not JSON (serde_json's syntax and EOF errors). */
class SyntaxFault extends Error {}
/** JSON, but a field of the wrong type or repeated (serde_json's data errors). */
class DataFault extends Error {}

// --- a JSON reader that keeps number tokens as text --------------------------

const PLAIN = /[^"\\\x00-\x1f]*/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPES = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

class Reader {
  constructor(s) {
    this.s = s;
    this.i = 0;
  }
  fail(what) {
    throw new SyntaxFault(this.i >= this.s.length ? `truncated JSON: EOF while parsing ${what}` : `malformed JSON: ${what} at column ${this.i + 1}`);
  }
  ws() {
    const s = this.s;
    let c = s.charCodeAt(this.i);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = s.charCodeAt(++this.i);
  }
  expect(ch, what) {
    this.ws();
    if (this.s[this.i] !== ch) this.fail(what);
    this.i++;
  }
  hex4() {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('a \\u escape');
    this.i += 4;
    return parseInt(h, 16);
  }
  /** A string token (at its opening quote), decoded. */
  str() {
    const s = this.s;
    this.i++;
    let out = '';
    for (;;) {
      PLAIN.lastIndex = this.i;
      PLAIN.test(s);
      out += s.slice(this.i, PLAIN.lastIndex);
      this.i = PLAIN.lastIndex;
      const c = s[this.i++];
      if (c === '"') return out;
      if (c !== '\\') this.fail(c === undefined ? 'a string' : 'a control character in a string');
      const e = s[this.i++];
      if (e === 'u') {
        let u = this.hex4();
        if (u >= 0xdc00 && u <= 0xdfff) this.fail('a lone surrogate in a \\u escape');
        if (u >= 0xd800 && u <= 0xdbff) {
          if (s[this.i] !== '\\' || s[this.i + 1] !== 'u') this.fail('a lone surrogate in a \\u escape');
          this.i += 2;
          const low = this.hex4();
          if (low < 0xdc00 || low > 0xdfff) this.fail('a lone surrogate in a \\u escape');
          u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
        }
        out += String.fromCodePoint(u);
      } else if (e in ESCAPES) {
        out += ESCAPES[e];
      } else {
        this.fail('an escape');
      }
    }
  }
  key() {
    this.ws();
    if (this.s[this.i] !== '"') this.fail('an object key');
    const k = this.str();
    this.expect(':', "a ':'");
    return k;
  }
  /** One scalar token: string, number, true, false, null. */
  scalar() {
    const s = this.s;
    const c = s[this.i];
    if (c === '"') return this.str();
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = this.i;
      if (!NUMBER.test(s)) this.fail('a number');
      this.i = NUMBER.lastIndex;
      return null;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (s.startsWith(lit, this.i)) {
        this.i += lit.length;
        return null;
      }
    }
    this.fail('a value');
  }
  /** Any value, checked and skipped without recursion (any depth); returns its text. */
  value() {
    const start = this.i;
    const open = []; // '}' or ']' per open container
    for (;;) {
      this.ws();
      const c = this.s[this.i];
      if (c === '{' || c === '[') {
        this.i++;
        this.ws();
        const close = c === '{' ? '}' : ']';
        if (this.s[this.i] === close) {
          this.i++;
        } else {
          open.push(close);
          if (close === '}') this.key();
          continue;
        }
      } else {
        this.scalar();
      }
      for (;;) {
        if (open.length === 0) return this.s.slice(start, this.i);
        this.ws();
        const d = this.s[this.i++];
        if (d === ',') {
          if (open[open.length - 1] === '}') this.key();
          break;
        }
        if (d !== open[open.length - 1]) this.fail("a ',' or the end of a list or object");
        open.pop();
      }
    }
  }
}

/** Read a payment event object: the known fields, in serde_json's order of errors. */
function readEvent(text, strict) {
  const r = new Reader(text);
  r.ws();
  if (r.s[r.i] !== '{') {
    if (r.i >= text.length) r.fail('a value');
    throw new SyntaxFault('malformed JSON: expected a JSON object');
  }
  r.i++;
  const fields = {};
  r.ws();
  if (r.s[r.i] === '}') {
    r.i++;
  } else {
    for (;;) {
      const k = r.key();
      r.ws();
      if (k === 'payment_amount' || STRING_FIELDS.has(k)) {
        if (k in fields && strict) throw new DataFault(`wrong field type: duplicate field \`${k}\``);
        if (k === 'payment_amount') {
          const raw = r.value();
          fields[k] = raw === 'null' ? null : raw;
        } else if (r.s[r.i] === '"') {
          fields[k] = r.str();
        } else if (r.s.startsWith('null', r.i)) {
          r.i += 4;
          fields[k] = null;
        } else {
          const raw = r.value();
          if (strict) throw new DataFault(`wrong field type: \`${k}\` must be a string, got ${truncate(raw, 40)}`);
          fields[k] = undefined;
        }
      } else {
        r.value();
      }
      r.ws();
      const d = r.s[r.i++];
      if (d === '}') break;
      if (d !== ',') r.fail("a ',' or '}'");
    }
  }
  r.ws();
  if (r.i < text.length) r.fail('trailing characters');
  return fields;
}

// --- validation (event.rs) ---------------------------------------------------

// Rust's `str::trim`: Unicode White_Space.
const TRIM = /^[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
const trim = (s) => s.replace(TRIM, '');
const truncate = (s, n) => Array.from(s).slice(0, n).join('');

const EXACT = /^(-?)([0-9]+)(?:\.([0-9]*))?$/;
const SCIENTIFIC = /^(-?)([0-9]+)(?:\.([0-9]*))?[eE]([+-]?[0-9]+)$/;

/** `payment_amount` from its JSON token's text, as integer cents (BigInt). */
function parseAmount(token) {
  const text = trim(token.startsWith('"') ? new Reader(token).str() : token);
  if (!/^[-0-9]/.test(text)) throw `\`payment_amount\` must be a decimal number, got ${truncate(token, 40)}`;
  const m = EXACT.exec(text) || SCIENTIFIC.exec(text);
  if (!m || (m[4] !== undefined && m[4].replace(/^[+-]?0*/, '').length > 6)) {
    throw `\`payment_amount\` ${truncate(text, 40)} is not a representable decimal`;
  }
  const [, sign, whole, frac = '', exp = '0'] = m;
  // value = digits * 10^-(scale); drop trailing zeros of the fraction first.
  let digits = (whole + frac).replace(/^0+(?=.)/, '');
  let scale = frac.length - Number(exp);
  while (scale > 0 && digits.length > 1 && digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    scale--;
  }
  if (digits === '0') scale = Math.min(scale, 2);
  if (scale > 2) throw `\`payment_amount\` ${truncate(text, 40)} has more than two decimal places`;
  if (digits.length + (2 - scale) > 12) throw `\`payment_amount\` ${truncate(text, 40)} is outside DECIMAL(10,2)`;
  let cents = BigInt(digits) * 10n ** BigInt(2 - scale);
  if (cents > MAX_CENTS) throw `\`payment_amount\` ${truncate(text, 40)} is outside DECIMAL(10,2)`;
  return sign === '-' ? -cents : cents;
}

const digitsOf = (b, from, to) => {
  let n = 0;
  for (let i = from; i < to; i++) {
    if (b[i] < 48 || b[i] > 57) return -1;
    n = n * 10 + (b[i] - 48);
  }
  return to > from ? n : -1;
};
const daysIn = (y, m) => (m === 2 ? ((y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31);

/** `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]][Z|+-HH:MM]` on a real calendar day. */
function isIsoDatetime(s) {
  const b = encoder.encode(s);
  if (b.length < 16 || b[4] !== 45 || b[7] !== 45 || (b[10] !== 84 && b[10] !== 32) || b[13] !== 58) return false;
  const [y, mo, d, h, mi] = [digitsOf(b, 0, 4), digitsOf(b, 5, 7), digitsOf(b, 8, 10), digitsOf(b, 11, 13), digitsOf(b, 14, 16)];
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59) return false;
  let i = 16;
  if (b.length - i >= 3 && b[i] === 58) {
    const sec = digitsOf(b, i + 1, i + 3);
    if (sec < 0 || sec > 60) return false;
    i += 3;
    if (b[i] === 46) {
      let n = 0;
      while (i + 1 + n < b.length && b[i + 1 + n] >= 48 && b[i + 1 + n] <= 57) n++;
      if (n === 0 || n > 9) return false;
      i += 1 + n;
    }
  }
  const rest = b.length - i;
  if (rest === 0 || (rest === 1 && b[i] === 90)) return true;
  if (rest === 6 && (b[i] === 43 || b[i] === 45) && b[i + 3] === 58) {
    const oh = digitsOf(b, i + 1, i + 3);
    const om = digitsOf(b, i + 4, i + 6);
    return oh >= 0 && om >= 0 && oh <= 23 && om <= 59;
  }
  return false;
}

function required(fields, name, invalid) {
  const v = fields[name];
  if (v == null) throw invalid(`missing field \`${name}\``);
  if (trim(v) === '') throw invalid(`field \`${name}\` is empty`);
  return v;
}

/** A valid event ({ ...fields, cents }), or throw an Invalid. */
function parseEvent(payload) {
  let text;
  try {
    text = decoder.decode(payload);
  } catch (e) {
    throw new Invalid('INVALID_JSON', `payload is not UTF-8: ${e.message}`);
  }
  let fields;
  try {
    fields = readEvent(text, true);
  } catch (e) {
    if (e instanceof SyntaxFault) throw new Invalid('INVALID_JSON', e.message);
    if (!(e instanceof DataFault)) throw e;
    // serde_json reads the id alone again: it must be a string, once, in valid JSON.
    let id = null;
    try {
      const again = readEvent(text, false);
      if (typeof again.payment_id === 'string' && !e.message.includes('`payment_id`')) id = again.payment_id;
    } catch (_) {
      id = null;
    }
    throw new Invalid('INVALID_EVENT', e.message, id);
  }
  const pid = typeof fields.payment_id === 'string' && trim(fields.payment_id) !== '' ? fields.payment_id : null;
  const invalid = (message) => new Invalid('INVALID_EVENT', message, pid);
  if (pid === null) throw invalid('missing or empty field `payment_id`');
  required(fields, 'claim_id', invalid);
  if (fields.payment_amount === undefined) throw invalid('missing field `payment_amount`');
  if (fields.payment_amount === null) throw invalid('field `payment_amount` is null');
  let cents;
  try {
    cents = parseAmount(fields.payment_amount);
  } catch (why) {
    if (typeof why !== 'string') throw why;
    throw invalid(why);
  }
  const date = required(fields, 'payment_date', invalid);
  if (!isIsoDatetime(date)) {
    throw invalid(`\`payment_date\` ${JSON.stringify(truncate(date, 64))} is not an ISO-8601 date-time (e.g. 2024-01-15T10:30:00)`);
  }
  fields.cents = cents;
  return fields;
}

// --- output (enricher-model) ------------------------------------------------

const NEEDS_ESCAPE = /["\\\x00-\x1f]/;
const ESCAPE_ALL = /["\\\x00-\x1f]/g;
const escapeChar = (c) => {
  switch (c) {
    case '"': return '\\"';
    case '\\': return '\\\\';
    case '\n': return '\\n';
    case '\r': return '\\r';
    case '\t': return '\\t';
    default: return '\\u00' + c.charCodeAt(0).toString(16).padStart(2, '0');
  }
};
/** A JSON string literal, escaped as the Rust writer does. */
const str = (s) => (s == null ? 'null' : '"' + (NEEDS_ESCAPE.test(s) ? s.replace(ESCAPE_ALL, escapeChar) : s) + '"');

/** Integer cents as a number token with two places (`1500.00`, `-0.50`). */
function centsText(cents) {
  const neg = cents < 0n;
  const abs = neg ? -cents : cents;
  return `${neg ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

/** The WIT `decimal` (`unscaled * 10^-scale`, BigInt) rescaled to cents, ties away from zero. */
function centsOf(unscaled, scale) {
  const s = Math.min(scale, 28);
  if (s <= 2) return unscaled * 10n ** BigInt(2 - s);
  const div = 10n ** BigInt(s - 2);
  const neg = unscaled < 0n;
  const abs = neg ? -unscaled : unscaled;
  const q = abs / div + (2n * (abs % div) >= div ? 1n : 0n);
  return neg ? -q : q;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function base64(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.length ? B64[n & 63] : '=';
  }
  return out;
}

// time's range: -9999-01-01T00:00:00.000 to 9999-12-31T23:59:59.999.
const MIN_MS = -377705116800000n;
const MAX_MS = 253402300799999n;

/** `2024-01-15T10:30:01.123Z` for milliseconds since the epoch (BigInt, UTC). */
function formatUtcMillis(msBig) {
  const ms = Number(msBig < MIN_MS ? MIN_MS : msBig > MAX_MS ? MAX_MS : msBig);
  const days = Math.floor(ms / 86_400_000);
  const rem = ms - days * 86_400_000;
  // Civil date from days since 1970-01-01 (proleptic Gregorian).
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const p = (n, w) => String(n).padStart(w, '0');
  const year = y < 0 ? '-' + p(-y, 3) : p(y, 4);
  const secs = Math.floor(rem / 1000);
  return `${year}-${p(m, 2)}-${p(d, 2)}T${p(Math.floor(secs / 3600), 2)}:${p(Math.floor(secs / 60) % 60, 2)}:${p(secs % 60, 2)}.${p(rem % 1000, 3)}Z`;
}

/** The failure record of input that is not a valid event (failure.rs). */
function failureRecord(paymentId, status, error, timestamp, payload) {
  const head = `{"payment_id":${str(paymentId)},"enrichment_status":"${status}","error":${str(error)},"enrichment_timestamp":"${timestamp}",`;
  let kept;
  try {
    kept = `"original_payload":${str(decoder.decode(payload))}}`;
  } catch (_) {
    kept = `"original_payload_base64":"${base64(payload)}"}`;
  }
  return head + kept;
}

const paymentFields = (e) =>
  `{"payment_id":${str(e.payment_id)},"claim_id":${str(e.claim_id)},"payment_amount":${centsText(e.cents)},` +
  `"payment_date":${str(e.payment_date)},"processor_id":${str(e.processor_id)},` +
  `"payment_method":${str(e.payment_method)},"payment_status":${str(e.payment_status)}`;

function enriched(e, outcome, timestamp) {
  if (outcome && outcome.tag === 'found') {
    const c = outcome.val;
    const text =
      `${paymentFields(e)},"member_id":${str(c.memberId)},"claim_amount":${centsText(centsOf(c.claimAmount.unscaled, c.claimAmount.scale))},` +
      `"claim_status":${str(c.claimStatus)},"enrichment_status":"SUCCESS","enrichment_timestamp":"${timestamp}"}`;
    return { status: 'SUCCESS', text };
  }
  let status;
  let error;
  if (!outcome) {
    [status, error] = ['DB_ERROR', 'claims lookup returned fewer results than ids asked for'];
  } else if (outcome.tag === 'not-found') {
    [status, error] = ['CLAIM_NOT_FOUND', `claim ${e.claim_id} not found`];
  } else if (outcome.val.tag === 'timeout') {
    [status, error] = ['DB_TIMEOUT', `claims lookup timed out: ${outcome.val.val}`];
  } else {
    [status, error] = ['DB_ERROR', `claims store unavailable: ${outcome.val.val}`];
  }
  const text =
    `${paymentFields(e)},"member_id":null,"claim_amount":null,"claim_status":null,` +
    `"enrichment_status":"${status}","error":${str(error)},"enrichment_timestamp":"${timestamp}"}`;
  return { status, text };
}

/**
 * One { status, value: Uint8Array } per payload, in order. `lookup(ids)` returns
 * one WIT `lookup-result` per id ({ tag: 'found', val: claim } | { tag: 'not-found' }
 * | { tag: 'failed', val: { tag: 'unavailable' | 'timeout', val: why } }).
 */
function enrichBatch(payloads, processingTimeMs, lookup) {
  const slotOf = new Map();
  const parsed = payloads.map((p) => {
    try {
      const e = parseEvent(p);
      if (!slotOf.has(e.claim_id)) slotOf.set(e.claim_id, slotOf.size);
      return e;
    } catch (bad) {
      if (bad instanceof Invalid) return bad;
      throw bad;
    }
  });
  const outcomes = slotOf.size > 0 ? lookup([...slotOf.keys()]) : [];
  const timestamp = formatUtcMillis(BigInt(processingTimeMs));
  return parsed.map((e, i) => {
    if (e instanceof Invalid) {
      return { status: e.status, value: encoder.encode(failureRecord(e.paymentId, e.status, e.message, timestamp, payloads[i])) };
    }
    const { status, text } = enriched(e, outcomes[slotOf.get(e.claim_id)], timestamp);
    return { status, value: encoder.encode(text) };
  });
}

// --- the WIT glue ------------------------------------------------------------

const NAME = 'payment-enrichment-js';
const VERSION = '0.1.0';
const STATUS_HEADER = 'enrichment-status';

/** The `claims` import, logging a warning when the store failed for some ids. */
function lookupClaims(ids) {
  const results = lookup(ids);
  const failed = results.filter((r) => r.tag === 'failed').length;
  if (failed > 0) log('warn', `claims lookup failed for ${failed} of ${ids.length} ids`);
  return results;
}

export const transform = {
  info() {
    return { name: NAME, version: VERSION };
  },

  processBatch(context, records) {
    const routed = enrichBatch(records.map((r) => r.value), context.processingTimeMs, lookupClaims);
    return routed.map(({ status, value }, i) => {
      const input = records[i];
      const success = status === 'SUCCESS';
      const headers = success ? input.headers : [...input.headers, { key: STATUS_HEADER, value: encoder.encode(status) }];
      return { inputIndex: i, output: success ? 'enriched' : 'failed', key: input.key, value, headers };
    });
  },
};
