// cloud-user: staking — tiers in force and scheduled, the caller's stake, tier and discount, and stake /
// unstake / withdraw (the API answers unsigned transactions; the wallet signs them). Platform-token amounts
// are decimal strings of 18-decimal base units on the wire (BigInt here).
import { get, post } from "../api.js";
import { formatBps, formatCredit, formatDuration, formatUnits, parseUnits, stringifyJSON } from "../money.js";
import { sendTransactions } from "../wallet.js";
import { ErrorBox, Field, html, Loading, Time, TxList, useAction, useLoad, useState } from "../ui.js";

export const TOKEN_DECIMALS = 18;
export const formatToken = (v) => `${formatUnits(v, TOKEN_DECIMALS, 2)} tokens`;

export function TiersTable({ tiers, testid }) {
  if (!tiers.length) return html`<p class="muted" data-testid=${testid}>No tiers (no staking discount).</p>`;
  return html`<table data-testid=${testid}><thead><tr><th>Level</th><th>Min stake</th><th>Min lock</th><th>Discount</th><th>Applied (escrow cap)</th></tr></thead>
    <tbody>${tiers.map((t) => html`<tr data-testid=${`${testid}-${t.level}`}><td>${t.level}</td><td>${formatToken(t.min_stake)}</td>
      <td>${t.min_lock ? formatDuration(t.min_lock) : "none"}</td><td>${formatBps(t.discount_bps)}</td><td>${formatBps(t.effective_discount_bps)}</td></tr>`)}</tbody></table>`;
}

export function StakingPage() {
  const tiers = useLoad(() => get("/api/staking/tiers"));
  const me = useLoad(() => get("/api/staking/me"));
  const [txs, setTxs] = useState(null);
  const [amount, setAmount] = useState("");
  const [lock, setLock] = useState(""); // datetime-local, the user's zone
  const [unstake, setUnstake] = useState("");
  // "indexed": the stake as the API reads it changed after the transactions were mined
  const shape = (m) => stringifyJSON([m.stake, m.level, m.allowance]);
  const withTxs = (fn) => async () => {
    const before = shape(await get("/api/staking/me"));
    const r = await fn();
    if (r.transactions && r.transactions.length) {
      await sendTransactions(r.transactions, setTxs, async () => shape(await get("/api/staking/me")) !== before);
    } else if (r.relayed) {
      // managed wallet: the engine relays the signed request; show its state until it is done or failed
      for (let i = 0; i < 60; i++) {
        const now = await get("/api/staking/me");
        if (!now.relay || now.relay.status !== "pending") break;
        me.reload();
        await new Promise((ok) => setTimeout(ok, 2000));
      }
    }
    me.reload();
  };
  const stake = useAction(withTxs(() => {
    const body = { amount: parseUnits(amount, TOKEN_DECIMALS).toString() };
    if (lock) body.lock_until = Math.floor(new Date(lock).getTime() / 1000);
    return post("/api/staking/stake", body);
  }));
  const start = useAction(withTxs(() => post("/api/staking/unstake", { amount: parseUnits(unstake, TOKEN_DECIMALS).toString() })));
  const withdraw = useAction(withTxs(() => post("/api/staking/withdraw", {})));
  const t = tiers.data, m = me.data;
  return html`<section data-testid="page-staking"><h1>Staking</h1>
    <div class="card"><h2>Your stake <button data-testid="staking-refresh" onClick=${me.reload}>Refresh</button></h2>
      <${Loading} s=${me} testid="staking-me-load-error">${m && html`<dl class="kv">
        <dt>Address</dt><dd><code data-testid="staking-address">${m.address}</code>${m.funding ? ` (${m.funding})` : ""}</dd>
        <dt>Token balance</dt><dd data-testid="staking-balance">${m.token_balance != null ? formatToken(m.token_balance) : "—"}</dd>
        <dt>Active stake</dt><dd data-testid="staking-active">${formatToken(m.stake.active ?? 0)}</dd>
        <dt>Locked until</dt><dd data-testid="staking-locked-until">${m.stake.locked_until ? html`<${Time} t=${m.stake.locked_until} />` : "not locked"}</dd>
        <dt>Cooling down</dt><dd data-testid="staking-cooling">${formatToken(m.stake.cooling ?? 0)}${m.stake.cooling_end ? html` until <${Time} t=${m.stake.cooling_end} />` : ""}</dd>
        <dt>Tier</dt><dd data-testid="staking-level">${m.level}</dd>
        <dt>Discount</dt><dd data-testid="staking-discount">${formatBps(m.discount_bps)}${m.effective_discount_bps != null && m.effective_discount_bps !== m.discount_bps ? ` (applied: ${formatBps(m.effective_discount_bps)})` : ""}</dd>
        <dt>Covered rate</dt><dd data-testid="staking-covered">${formatCredit(m.covered_rate)} / s${m.open_rate != null ? ` (open leases: ${formatCredit(m.open_rate)} / s)` : ""}</dd>
        ${m.relay && html`<dt>Relayed request</dt><dd data-testid="staking-relay">${m.relay.function}: ${m.relay.status}${m.relay.tx_hash ? html` (<code>${m.relay.tx_hash}</code>)` : ""}${m.relay.error ? ` — ${m.relay.error}` : ""}</dd>`}
        <dt>Next tier</dt><dd data-testid="staking-next">${m.next_tier ? html`level ${m.next_tier.level} (${formatBps(m.next_tier.discount_bps)}): stake ${formatToken(m.next_tier.stake_needed)} more${m.next_tier.lock_until_needed ? html`, locked until <${Time} t=${m.next_tier.lock_until_needed} />` : ""}` : "highest tier"}</dd>
      </dl>`}<//>
      <div class="row">
        <${Field} label="Stake (tokens)" value=${amount} onInput=${setAmount} testid="staking-amount" />
        <${Field} label="Lock until (your time, optional)" type="datetime-local" value=${lock} onInput=${setLock} testid="staking-lock-until" />
        <button data-testid="staking-stake" onClick=${() => stake.run()} disabled=${stake.busy || !amount}>Stake</button>
      </div>
      <div class="row">
        <${Field} label="Unstake (tokens)" value=${unstake} onInput=${setUnstake} testid="staking-unstake-amount" />
        <button data-testid="staking-unstake" onClick=${() => start.run()} disabled=${start.busy || !unstake}>Start cooldown</button>
        <button data-testid="staking-withdraw" onClick=${() => withdraw.run()} disabled=${withdraw.busy || (m && !m.withdrawable)}>Withdraw</button>
      </div>
      <${TxList} txs=${txs} testid="staking-tx" />
      <${ErrorBox} error=${stake.error || start.error || withdraw.error} testid="staking-error" />
    </div>
    <div class="card"><h2>Tiers</h2>
      <${Loading} s=${tiers} testid="staking-tiers-load-error">${t && html`<p>Cooldown ${formatDuration(t.cooldown)}; tier changes take effect ${formatDuration(t.tier_delay)} after they are scheduled;
        one staked token covers ${formatCredit(t.cover_per_token)} / s of lease rate.</p>
        <${TiersTable} tiers=${t.tiers} testid="staking-tiers" />
        ${t.pending && html`<p data-testid="staking-pending">Scheduled from <${Time} t=${t.pending.activates_at} />:</p><${TiersTable} tiers=${t.pending.tiers} testid="staking-pending-tiers" />`}`}<//>
    </div>
  </section>`;
}
