// Money and time formatting. Integers only: every amount is a BigInt (never a Number), parsed from the
// API's JSON without loss (parseJSON keeps integers beyond 2^53 as BigInt).

export const CREDIT_DECIMALS = 6; // 1 credit = 1 USD = 1_000_000 credit units (engine/money.py)
export const UNITS_PER_CENT = 10_000n;

/** A BigInt from a JSON integer (Number that is a safe integer, BigInt, or a decimal-digit string). */
export function toBig(v) {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) throw new RangeError(`not an exact integer: ${v}`);
    return BigInt(v);
  }
  if (typeof v === "string" && /^-?[0-9]+$/.test(v)) return BigInt(v);
  throw new TypeError(`not an integer amount: ${String(v)}`);
}

function group(digits) {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "1,234.5" from 1234500000n with decimals=6; trailing zeros trimmed down to `minFraction` places. */
export function formatUnits(value, decimals = CREDIT_DECIMALS, minFraction = 2) {
  const v = toBig(value);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const base = 10n ** BigInt(decimals);
  const whole = abs / base;
  let frac = decimals > 0 ? (abs % base).toString().padStart(decimals, "0") : "";
  while (frac.length > minFraction && frac.endsWith("0")) frac = frac.slice(0, -1);
  return (neg ? "-" : "") + group(whole.toString()) + (frac ? "." + frac : "");
}

/** Credit units as "12.50 credits". */
export function formatCredit(units) {
  return `${formatUnits(units, CREDIT_DECIMALS, 2)} credits`;
}

/** Integer US cents as "$12.34". */
export function formatCents(cents) {
  const v = toBig(cents);
  const neg = v < 0n;
  return (neg ? "-$" : "$") + formatUnits(neg ? -v : v, 2, 2);
}

/** Parse a user's decimal string ("12.5") to integer base units (12500000n for 6 decimals). Throws on
 * more decimals than the unit has, signs, exponents or junk: nothing is rounded. */
export function parseUnits(text, decimals = CREDIT_DECIMALS) {
  const s = String(text).trim().replace(/,/g, "");
  const m = /^([0-9]+)?(?:\.([0-9]*))?$/.exec(s);
  if (!m || (m[1] === undefined && !m[2])) throw new RangeError(`not an amount: ${JSON.stringify(text)}`);
  const frac = m[2] || "";
  if (frac.length > decimals) throw new RangeError(`at most ${decimals} decimal places`);
  return BigInt(m[1] || "0") * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, "0") || "0");
}

/** A UTC instant (ISO string, or unix seconds as Number/BigInt) in the user's time zone. */
export function formatTime(t, opts = {}) {
  if (t === null || t === undefined || t === "") return "—";
  const d = typeof t === "string" ? new Date(t) : new Date(Number(toBig(t)) * 1000);
  if (Number.isNaN(d.getTime())) return String(t);
  return new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium", ...opts }).format(d);
}

/** Seconds as "3d 4h" / "5h 2m" / "45s" (runway, durations). */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  let s = toBig(seconds);
  if (s < 0n) s = 0n;
  const d = s / 86400n, h = (s % 86400n) / 3600n, m = (s % 3600n) / 60n;
  if (d > 0n) return `${d}d ${h}h`;
  if (h > 0n) return `${h}h ${m}m`;
  if (m > 0n) return `${m}m ${s % 60n}s`;
  return `${s}s`;
}

/** Basis points as a percentage string: 290 -> "2.9%". */
export function formatBps(bps) {
  return formatUnits(bps, 2, 0) + "%";
}

/**
 * JSON.parse that keeps every integer literal exact: safe integers stay Numbers, larger ones become
 * BigInt (JSON.parse would round 2^63-1). Strings, floats, booleans and null behave as in JSON.parse.
 */
export function parseJSON(text) {
  let i = 0;
  const ws = () => { while (i < text.length && " \t\n\r".includes(text[i])) i++; };
  const fail = (what) => { throw new SyntaxError(`bad JSON at ${i}: ${what}`); };
  function value() {
    ws();
    const c = text[i];
    if (c === "{") {
      i++; const o = {}; ws();
      if (text[i] === "}") { i++; return o; }
      for (;;) {
        ws(); if (text[i] !== '"') fail("key");
        const k = str(); ws(); if (text[i++] !== ":") fail(":");
        o[k] = value(); ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "}") { i++; return o; }
        fail("object");
      }
    }
    if (c === "[") {
      i++; const a = []; ws();
      if (text[i] === "]") { i++; return a; }
      for (;;) {
        a.push(value()); ws();
        if (text[i] === ",") { i++; continue; }
        if (text[i] === "]") { i++; return a; }
        fail("array");
      }
    }
    if (c === '"') return str();
    if (text.startsWith("true", i)) { i += 4; return true; }
    if (text.startsWith("false", i)) { i += 5; return false; }
    if (text.startsWith("null", i)) { i += 4; return null; }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) fail("value");
    i += m[0].length;
    if (m[2] || m[3]) return Number(m[0]);
    const n = Number(m[0]);
    return Number.isSafeInteger(n) ? n : BigInt(m[0]);
  }
  function str() {
    const start = i; i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= text.length) fail("string");
    i++;
    return JSON.parse(text.slice(start, i));
  }
  const v = value(); ws();
  if (i !== text.length) fail("trailing data");
  return v;
}

/** JSON.stringify that writes BigInt as a bare integer literal (the API takes integers, not strings). */
export function stringifyJSON(v, indent = undefined) {
  const marks = [];
  const s = JSON.stringify(v, (_k, x) => {
    if (typeof x === "bigint") { marks.push(x.toString()); return `\u0000big${marks.length - 1}\u0000`; }
    return x;
  }, indent);
  return s.replace(/"\\u0000big(\d+)\\u0000"/g, (_m, n) => marks[Number(n)]);
}
