// Unit tests of console/src/money.js (run by `node console/build.mjs --check` and tests/api/test_console.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  formatUnits, formatCredit, formatCents, parseUnits, parseJSON, stringifyJSON, toBig, formatDuration, formatBps,
} from "../src/money.js";

test("formatUnits is exact for the largest BIGINT amount", () => {
  assert.equal(formatUnits(9223372036854775807n), "9,223,372,036,854.775807");
  assert.equal(formatCredit(1_500_000), "1.50 credits");
  assert.equal(formatCredit(1n), "0.000001 credits");
  assert.equal(formatCredit(0), "0.00 credits");
  assert.equal(formatUnits(-2_500_000n), "-2.50");
});

test("formatCents", () => {
  assert.equal(formatCents(123456), "$1,234.56");
  assert.equal(formatCents(5), "$0.05");
  assert.equal(formatCents(-30), "-$0.30");
});

test("parseUnits refuses rounding and junk", () => {
  assert.equal(parseUnits("12.5"), 12_500_000n);
  assert.equal(parseUnits("0.000001"), 1n);
  assert.equal(parseUnits("10", 2), 1000n);
  assert.equal(parseUnits("1,000.25", 2), 100025n);
  assert.throws(() => parseUnits("0.0000001"), RangeError);
  assert.throws(() => parseUnits("1e3"), RangeError);
  assert.throws(() => parseUnits("-1"), RangeError);
  assert.throws(() => parseUnits(""), RangeError);
  assert.throws(() => parseUnits("."), RangeError);
});

test("toBig refuses inexact Numbers", () => {
  assert.equal(toBig(42), 42n);
  assert.equal(toBig("9007199254740993"), 9007199254740993n);
  assert.throws(() => toBig(2 ** 60), RangeError);
  assert.throws(() => toBig(1.5), RangeError);
});

test("parseJSON keeps big integers exact", () => {
  const v = parseJSON('{"a": 9223372036854775807, "b": [1, -2, 3.5, "x\\"y"], "c": null, "d": true}');
  assert.equal(v.a, 9223372036854775807n);
  assert.deepEqual(v.b, [1, -2, 3.5, 'x"y']);
  assert.equal(v.c, null);
  assert.equal(v.d, true);
  assert.throws(() => parseJSON("{"), SyntaxError);
  assert.throws(() => parseJSON("1 2"), SyntaxError);
});

test("stringifyJSON writes BigInt as integer literals", () => {
  assert.equal(stringifyJSON({ amount: 9223372036854775807n, s: "t" }), '{"amount":9223372036854775807,"s":"t"}');
});

test("durations and bps", () => {
  assert.equal(formatDuration(90061), "1d 1h");
  assert.equal(formatDuration(59), "59s");
  assert.equal(formatBps(290), "2.9%");
  assert.equal(formatBps(10000), "100%");
});

test("stringifyJSON indents and keeps BigInt", () => {
  assert.equal(stringifyJSON({ a: [1, 2n ** 64n] }, 2), '{\n  "a": [\n    1,\n    18446744073709551616\n  ]\n}');
});
