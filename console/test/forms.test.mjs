// node --test: the operator editors' text <-> value conversions (console/src/forms.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { changedValues, rowsToTiers, textToValue, tiersToRows, valueToText, valuesToTexts } from "../src/forms.js";

test("values become field texts and back, exactly", () => {
  const values = {
    platform_fee_bps: 500,
    provider_min_collateral: 9007199254740993n, // beyond 2^53: BigInt from parseJSON
    regions: ["eu-west", "us-east"],
    low_balance_thresholds: [604800, 86400],
    sla_credit_schedule: [[9950, 1000], [9900, 2500]],
  };
  const texts = valuesToTexts(values);
  assert.equal(texts.provider_min_collateral, "9007199254740993");
  assert.equal(texts.regions, "eu-west, us-east");
  assert.equal(texts.sla_credit_schedule, "9950:1000, 9900:2500");
  for (const [k, v] of Object.entries(values)) assert.deepEqual(textToValue(texts[k], v, k), v);
  assert.deepEqual(changedValues(values, texts), {});
  const edited = { ...texts, platform_fee_bps: "250", regions: "eu-west,ap-south , ", sla_credit_schedule: "9990:500" };
  assert.deepEqual(changedValues(values, edited), { platform_fee_bps: 250, regions: ["eu-west", "ap-south"], sla_credit_schedule: [[9990, 500]] });
});

test("malformed field text names the field", () => {
  assert.throws(() => textToValue("1.5", 500, "platform_fee_bps"), /platform_fee_bps: not a whole number/);
  assert.throws(() => textToValue("-1", 500, "platform_fee_bps"), /not a whole number/);
  assert.throws(() => textToValue("9950", [[1, 2]], "sla_credit_schedule"), /sla_credit_schedule: expected 2 numbers/);
  assert.equal(valueToText(12), "12");
});

test("staking tiers: tokens, days and bps to the API's base units and seconds", () => {
  const api = { tiers: [{ min_stake: "1500000000000000000000", min_lock: 2592000, discount_bps: 100 }], cover_per_token: "2500000" };
  const form = tiersToRows(api);
  assert.deepEqual(form, { rows: [{ min_stake: "1500", min_lock_days: "30", discount_bps: "100" }], cover: "2.5" });
  assert.deepEqual(rowsToTiers(form), api);
  const more = { rows: [...form.rows, { min_stake: "0.000000000000000001", min_lock_days: "0.5", discount_bps: "250" }], cover: "1" };
  assert.deepEqual(rowsToTiers(more).tiers[1], { min_stake: "1", min_lock: 43200, discount_bps: 250 });
  assert.throws(() => rowsToTiers({ rows: [{ min_stake: "1", min_lock_days: "x", discount_bps: "1" }], cover: "1" }), /tier 1: min lock/);
  assert.throws(() => rowsToTiers({ rows: [{ min_stake: "1.0000000000000000001", min_lock_days: "0", discount_bps: "1" }], cover: "1" }));
});
