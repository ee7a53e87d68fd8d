// Form text <-> API values for the operator's editors (settings, pricing, staking tiers). Pure functions
// (unit-tested in test/forms.test.mjs); integers stay exact (BigInt beyond 2^53), nothing is rounded.
import { formatUnits, parseUnits, toBig } from "./money.js";

const INT = /^[0-9]+$/;

function int(text, what) {
  const s = String(text).trim().replace(/[_ ]/g, "");
  if (!INT.test(s)) throw new RangeError(`${what}: not a whole number: ${JSON.stringify(text)}`);
  const v = BigInt(s);
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

const isInt = (v) => typeof v === "bigint" || Number.isInteger(v);
const split = (text) => String(text).split(",").map((x) => x.trim()).filter(Boolean);

/** The text a form field shows for an API value: integers as digits, lists comma-separated, pairs as a:b. */
export function valueToText(v) {
  if (isInt(v)) return String(v);
  if (Array.isArray(v)) {
    if (v.every((x) => Array.isArray(x))) return v.map((p) => p.join(":")).join(", ");
    return v.map(String).join(", ");
  }
  return JSON.stringify(v);
}

/** Parse a field's text back into the shape of ``like`` (the value the API sent). Throws RangeError naming
 * ``key`` on malformed text. */
export function textToValue(text, like, key) {
  if (isInt(like)) return int(text, key);
  if (Array.isArray(like)) {
    const items = split(text);
    const sample = like[0];
    if (Array.isArray(sample)) {
      return items.map((pair) => {
        const parts = pair.split(":");
        if (parts.length !== sample.length) throw new RangeError(`${key}: expected ${sample.length} numbers joined by ":" in ${JSON.stringify(pair)}`);
        return parts.map((p) => int(p, key));
      });
    }
    return isInt(sample) ? items.map((x) => int(x, key)) : items;
  }
  try { return JSON.parse(text); } catch { throw new RangeError(`${key}: not JSON: ${JSON.stringify(text)}`); }
}

/** {key: text} for every value; and back: the changed values only (``{}`` when nothing changed). */
export const valuesToTexts = (values) => Object.fromEntries(Object.entries(values).map(([k, v]) => [k, valueToText(v)]));

export function changedValues(values, texts) {
  const out = {};
  for (const [k, v] of Object.entries(values)) {
    if (texts[k] === undefined || texts[k] === valueToText(v)) continue;
    out[k] = textToValue(texts[k], v, k);
  }
  return out;
}

// Staking tiers: min stake in whole tokens (18 decimals), min lock in days, discount in bps; cover per token
// in credits (6 decimals) per second of lease rate per staked token.
export const TOKEN_DECIMALS = 18;
const DAY = 86_400;

export function tiersToRows(set) {
  return {
    rows: set.tiers.map((t) => ({
      min_stake: formatUnits(t.min_stake, TOKEN_DECIMALS, 0).replace(/,/g, ""),
      min_lock_days: String(Number(toBig(t.min_lock ?? 0)) / DAY),
      discount_bps: String(t.discount_bps),
    })),
    cover: formatUnits(set.cover_per_token, 6, 0).replace(/,/g, ""),
  };
}

/** The PUT body of /api/cloud-operator/staking/tiers (amounts as decimal strings of base units). */
export function rowsToTiers({ rows, cover }) {
  return {
    tiers: rows.map((r, i) => {
      const days = String(r.min_lock_days).trim() || "0";
      if (!/^[0-9]+(\.[0-9]+)?$/.test(days)) throw new RangeError(`tier ${i + 1}: min lock is not a number of days: ${JSON.stringify(r.min_lock_days)}`);
      const lock = parseUnits(days, 5) * BigInt(DAY) / 100000n; // whole seconds (days to 5 decimals)
      return {
        min_stake: parseUnits(r.min_stake, TOKEN_DECIMALS).toString(),
        min_lock: Number(lock),
        discount_bps: int(r.discount_bps, `tier ${i + 1} discount`),
      };
    }),
    cover_per_token: parseUnits(cover, 6).toString(),
  };
}
