// cloud-user: wallet — balances and runway, history with CSV export, card top-up, saved cards, auto top-up
// rule, swap.
import { del, followEvents, get, getText, post, put } from "../api.js";
import { formatCents, formatCredit, formatDuration, formatUnits, parseUnits, toBig } from "../money.js";
import { mountCard } from "../stripe.js";
import { sendTransactions } from "../wallet.js";
import { ErrorBox, Field, html, Loading, Time, TxList, useAction, useEffect, useLoad, useRef, useState } from "../ui.js";

export const WALLET_DEBOUNCE_MS = 300;
export const WALLET_FALLBACK_MS = 60_000;

export function WalletPage() {
  const w = useLoad(() => get("/api/wallet"));
  const [live, setLive] = useState("connecting");
  const [pushes, setPushes] = useState(0); // `wallet` events received (shown as data-pushes)
  // pushed: the notifications SSE carries `event: wallet` when the indexer committed events naming one of
  // the user's wallets (and `notification` ones: low runway, auto top-up, ...): re-read, debounced (a burst
  // of blocks is one re-read); a slow timer is the fallback while the stream is down or a push was missed
  useEffect(() => {
    let timer = null;
    const soon = (ev) => {
      if (ev.event === "wallet") setPushes((k) => k + 1);
      clearTimeout(timer); timer = setTimeout(w.reload, WALLET_DEBOUNCE_MS);
    };
    const stop = followEvents("/api/notifications/stream", soon, (st) => setLive(st.state));
    return () => { clearTimeout(timer); stop(); };
  }, [w.reload]);
  useEffect(() => { const t = setInterval(w.reload, WALLET_FALLBACK_MS); return () => clearInterval(t); }, [w.reload]);
  return html`<section data-testid="page-wallet">
    <h1>Wallet</h1>
    <${Loading} s=${w} testid="wallet-load-error">${w.data && html`<${Balances} w=${w.data} reload=${w.reload} live=${live} pushes=${pushes} />`}<//>
    <${TopUp} onDone=${w.reload} />
    <${SavedCards} />
    <${Subscriptions} />
    <${AutoTopUp} />
    <${Swap} onDone=${w.reload} />
    <${History} />
  </section>`;
}

function Balances({ w, reload, live, pushes }) {
  return html`<div class="card">
    <h2>Balances <button data-testid="wallet-refresh" onClick=${reload}>Refresh</button>
      <small class="muted" data-testid="wallet-live" data-state=${live} data-pushes=${pushes}>${live}</small></h2>
    <dl class="kv">
      <dt>Credit</dt><dd data-testid="wallet-credit">${formatCredit(w.credit_units)}</dd>
      <dt>Pending credit</dt><dd data-testid="wallet-pending">${formatCredit(w.pending_credit_units)}</dd>
      <dt>Burn rate</dt><dd data-testid="wallet-burn">${formatCredit(w.burn_rate_per_second ?? 0)} / s</dd>
      <dt>Runway</dt><dd data-testid="wallet-runway">${formatDuration(w.runway_seconds)}</dd>
    </dl>
    <table data-testid="wallet-wallets"><thead><tr><th>Address</th><th>Kind</th><th>Credit</th><th>Native (ETH)</th></tr></thead>
      <tbody>${w.wallets.map((x) => html`<tr><td><code>${x.address}</code></td><td>${x.kind}</td>
        <td>${formatCredit(x.credit_units ?? 0)}</td><td>${x.native_wei != null ? formatUnits(x.native_wei, 18, 4) : "—"}</td></tr>`)}</tbody></table>
  </div>`;
}

function TopUp({ onDone }) {
  const [usd, setUsd] = useState("20.00");
  const [quote, setQuote] = useState(null);
  const [status, setStatus] = useState(null);
  const cardRef = useRef(null);
  const card = useRef(null);
  const [cardErr, setCardErr] = useState(null);
  useEffect(() => {
    let gone = false;
    mountCard(cardRef.current).then((c) => { if (gone) c.destroy(); else card.current = c; }).catch((e) => setCardErr(e));
    return () => { gone = true; if (card.current) card.current.destroy(); };
  }, []);
  const q = useAction(async () => {
    const cents = parseUnits(usd, 2);
    setQuote(await get(`/api/payments/quote?amount_cents=${cents}`));
  });
  const pay = useAction(async () => {
    const cents = parseUnits(usd, 2);
    const r = await post("/api/payments/create-intent", { amount_cents: cents });
    setQuote(r.quote);
    setStatus("confirming card");
    const res = await card.current.stripe.confirmCardPayment(r.client_secret, { payment_method: { card: card.current.card } });
    if (res.error) throw new Error(res.error.message);
    setStatus("paid; waiting for the credit");
    for (let k = 0; k < 60; k++) {
      const p = await get(`/api/payments/intents/${r.payment.id}`);
      setStatus(`payment ${p.status}`);
      if (p.status === "succeeded") break;
      await new Promise((res2) => setTimeout(res2, 1000));
    }
    onDone();
  });
  return html`<div class="card"><h2>Top up by card</h2>
    <${ErrorBox} error=${cardErr} testid="topup-card-error" />
    <${Field} label="Amount (USD)" value=${usd} onInput=${setUsd} testid="topup-amount" inputmode="decimal" />
    <div class="stripe-card" ref=${cardRef} data-testid="topup-card"></div>
    <button data-testid="topup-quote" onClick=${() => q.run()} disabled=${q.busy}>Quote</button>
    <button data-testid="topup-pay" onClick=${() => pay.run()} disabled=${pay.busy || !!cardErr}>Pay</button>
    ${quote && html`<p data-testid="topup-quote-result">Charge ${formatCents(quote.charge_cents)} (fee ${formatCents(quote.fee_cents)}, paid by ${quote.fee_bearer}) → ${formatCredit(quote.credit_units)}</p>`}
    ${status && html`<p data-testid="topup-status">${status}</p>`}
    <${ErrorBox} error=${q.error || pay.error} testid="topup-error" />
  </div>`;
}

function SavedCards() {
  const m = useLoad(() => get("/api/payments/methods"));
  const cardRef = useRef(null);
  const [adding, setAdding] = useState(null);
  const add = useAction(async () => {
    if (!adding) {
      const c = await mountCard(cardRef.current);
      setAdding(c);
      return;
    }
    const si = await post("/api/payments/methods", {});
    const res = await adding.stripe.confirmCardSetup(si.client_secret, { payment_method: { card: adding.card } });
    if (res.error) throw new Error(res.error.message);
    adding.destroy(); setAdding(null);
    m.reload();
  });
  const act = useAction(async (fn) => { await fn(); m.reload(); });
  return html`<div class="card"><h2>Saved cards</h2>
    <${Loading} s=${m} testid="cards-load-error">${m.data && html`<ul data-testid="cards-list">${m.data.methods.map((pm) => html`<li data-testid=${`card-${pm.id}`}>
      ${pm.brand || "card"} •••• ${pm.last4 || "?"}${pm.exp_month ? ` (${pm.exp_month}/${pm.exp_year})` : ""} <code>${pm.id}</code>
      ${m.data.default === pm.id ? html` <b>default</b>` : html` <button data-testid=${`card-default-${pm.id}`} onClick=${() => act.run(() => post(`/api/payments/methods/${pm.id}/default`))}>Make default</button>`}
      <button data-testid=${`card-remove-${pm.id}`} onClick=${() => act.run(() => del(`/api/payments/methods/${pm.id}`))}>Remove</button></li>`)}
      ${m.data.methods.length ? null : html`<li class="muted">No saved cards</li>`}</ul>`}<//>
    <div class="stripe-card" ref=${cardRef} data-testid="cards-new-card" hidden=${!adding}></div>
    <button data-testid="cards-add" onClick=${() => add.run()} disabled=${add.busy}>${adding ? "Save card" : "Add a card"}</button>
    <${ErrorBox} error=${add.error || act.error} testid="cards-error" />
  </div>`;
}

function AutoTopUp() {
  const r = useLoad(() => get("/api/wallet/auto-top-up"));
  const [f, setF] = useState(null);
  const [txs, setTxs] = useState(null);
  useEffect(() => {
    if (r.data && !f) {
      const rule = r.data.rule;
      setF({
        floor: String(rule ? rule.floor_seconds / 3600 : 24), target: String(rule ? rule.target_seconds / 3600 : 72),
        cap: rule ? formatUnits(rule.monthly_cap, 6, 0).replace(/,/g, "") : "100",
        credit: rule ? rule.sources.some((s) => s.kind === "credit") : true,
        card: rule ? rule.sources.some((s) => s.kind === "card") : false,
      });
    }
  }, [r.data]);
  const save = useAction(async () => {
    const sources = [];
    if (f.credit) sources.push({ kind: "credit" });
    if (f.card) sources.push({ kind: "card" });
    await put("/api/wallet/auto-top-up", {
      floor_seconds: Math.round(Number(f.floor) * 3600), target_seconds: Math.round(Number(f.target) * 3600),
      monthly_cap: parseUnits(f.cap), sources,
    });
    r.reload();
  });
  const approve = useAction(() => sendTransactions(r.data.transactions, setTxs));
  const d = r.data;
  return html`<div class="card" data-testid="autotopup"><h2>Auto top-up</h2>
    <${Loading} s=${r} testid="autotopup-load-error">${d && f && html`
      <p data-testid="autotopup-state">${d.rule ? html`Rule: <b>${d.rule.state}</b>${d.rule.failure_reason ? ` (${d.rule.failure_reason})` : ""}, used ${formatCredit(d.rule.cap_used ?? 0)} of ${formatCredit(d.rule.monthly_cap)} this month` : "No rule set."}</p>
      <div class="row">
        <${Field} label="Top up below runway (hours)" value=${f.floor} onInput=${(v) => setF({ ...f, floor: v })} testid="autotopup-floor" />
        <${Field} label="Up to runway (hours)" value=${f.target} onInput=${(v) => setF({ ...f, target: v })} testid="autotopup-target" />
        <${Field} label="Monthly cap (credits)" value=${f.cap} onInput=${(v) => setF({ ...f, cap: v })} testid="autotopup-cap" />
      </div>
      <label><input type="checkbox" checked=${f.credit} data-testid="autotopup-source-credit" onChange=${(e) => setF({ ...f, credit: e.currentTarget.checked })} /> from wallet credit</label>
      <label><input type="checkbox" checked=${f.card} data-testid="autotopup-source-card" onChange=${(e) => setF({ ...f, card: e.currentTarget.checked })} /> from my default card</label>
      <button data-testid="autotopup-save" onClick=${() => save.run()} disabled=${save.busy}>Save rule</button>
      ${d.transactions && d.transactions.length ? html`<p>Your wallet must allow the escrow to pull credit:
        <button data-testid="autotopup-approve" onClick=${() => approve.run()}>Sign ${d.transactions.length} transaction(s)</button></p>` : null}
      <${TxList} txs=${txs} testid="autotopup-tx" />
      ${d.actions.length ? html`<table data-testid="autotopup-actions"><thead><tr><th>When</th><th>Deployment</th><th>Source</th><th>Amount</th><th>Status</th></tr></thead>
        <tbody>${d.actions.map((a) => html`<tr><td><${Time} t=${a.created_at} /></td><td>${a.deployment_id}</td><td>${a.source}</td><td>${formatCredit(a.amount)}</td><td>${a.status}${a.failure_reason ? ` — ${a.failure_reason}` : ""}</td></tr>`)}</tbody></table>` : null}
    `}<//>
    <${ErrorBox} error=${save.error || approve.error} testid="autotopup-error" />
  </div>`;
}

function Swap({ onDone }) {
  const [f, setF] = useState({ token_in: "tUSD", token_out: "CMC", amount: "", slippage: "50" });
  const [quote, setQuote] = useState(null);
  const [txs, setTxs] = useState(null);
  const q = useAction(async () => setQuote(await post("/api/wallet/swap/quote", { token_in: f.token_in, token_out: f.token_out, amount_in: BigInt(f.amount) })));
  const go = useAction(async () => {
    const out = toBig(quote.amount_out);
    const min = out - (out * BigInt(f.slippage)) / 10000n;
    const r = await post("/api/wallet/swap", {
      token_in: f.token_in, token_out: f.token_out, amount_in: BigInt(f.amount), amount_out_min: min,
      deadline: Math.floor(Date.now() / 1000) + 600,
    });
    if (!r.managed && r.transactions.length) await sendTransactions(r.transactions, setTxs);
    else setTxs([{ description: "relayed swap", state: r.status || "pending", hash: (r.tx_hashes || [])[0] || null }]);
    onDone();
  });
  return html`<div class="card"><h2>Swap</h2>
    <p class="muted">Token symbols as the service lists them (CMC is the credit token; an unknown symbol's error lists the known ones), the amount in the token's base units.</p>
    <div class="row">
      <${Field} label="Token in (symbol)" value=${f.token_in} onInput=${(v) => setF({ ...f, token_in: v })} testid="swap-token-in" />
      <${Field} label="Token out (symbol)" value=${f.token_out} onInput=${(v) => setF({ ...f, token_out: v })} testid="swap-token-out" />
      <${Field} label="Amount in (base units)" value=${f.amount} onInput=${(v) => setF({ ...f, amount: v.replace(/[^0-9]/g, "") })} testid="swap-amount" />
      <${Field} label="Max slippage (bps)" value=${f.slippage} onInput=${(v) => setF({ ...f, slippage: v.replace(/[^0-9]/g, "") })} testid="swap-slippage" />
    </div>
    <button data-testid="swap-quote" onClick=${() => q.run()} disabled=${q.busy}>Quote</button>
    <button data-testid="swap-submit" onClick=${() => go.run()} disabled=${go.busy || !quote}>Swap</button>
    ${quote && html`<p data-testid="swap-quote-result">Out: ${quote.amount_out} (impact ${quote.price_impact_bps} bps) via ${quote.route.join(" → ")}</p>`}
    <${TxList} txs=${txs} testid="swap-tx" />
    <${ErrorBox} error=${q.error || go.error} testid="swap-error" />
  </div>`;
}

function History() {
  const [cursor, setCursor] = useState(null);
  const h = useLoad(() => get(`/api/wallet/transactions?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`), [cursor]);
  const csv = useAction(async () => {
    const text = await getText("/api/wallet/transactions?format=csv");
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
    a.download = "transactions.csv";
    a.click();
  });
  return html`<div class="card"><h2>History <button data-testid="history-csv" onClick=${() => csv.run()}>Export CSV</button></h2>
    <${ErrorBox} error=${csv.error} testid="history-csv-error" />
    <${Loading} s=${h} testid="history-load-error">${h.data && html`<table data-testid="history-table"><thead><tr><th>Time</th><th>Kind</th><th>In/out</th><th>Amount</th><th>Credit</th><th>Status</th></tr></thead>
      <tbody>${h.data.items.map((x) => html`<tr data-testid=${`history-${x.id}`}><td><${Time} t=${x.time} /></td><td>${x.kind}</td><td>${x.direction}</td>
        <td>${x.amount_cents != null ? formatCents(x.amount_cents) : ""}</td><td>${x.credit_units != null ? formatCredit(x.credit_units) : ""}</td><td>${x.status || ""}</td></tr>`)}</tbody></table>
      ${cursor && html`<button data-testid="history-newest" onClick=${() => setCursor(null)}>Newest</button>`}
      ${h.data.next_cursor && html`<button data-testid="history-next" onClick=${() => setCursor(h.data.next_cursor)}>Older</button>`}`}<//>
  </div>`;
}

function Subscriptions() {
  const plans = useLoad(() => get("/api/payments/plans?limit=50"));
  const subs = useLoad(() => get("/api/payments/subscriptions"));
  const act = useAction(async (fn) => { await fn(); subs.reload(); });
  return html`<div class="card"><h2>Subscriptions</h2>
    <${Loading} s=${subs} testid="subscriptions-load-error">${subs.data && html`<ul data-testid="subscriptions-list">${(subs.data.subscriptions || []).map((x) => html`<li data-testid=${`subscription-${x.id}`}>
      #${x.id}: <b>${x.status}</b>${x.cancel_at_period_end ? " (ends at period end)" : ""}, period ends <${Time} t=${x.current_period_end} />
      ${x.last_payment_error ? html` <span class="error-text">${x.last_payment_error}</span>` : null}
      ${x.cancel_at_period_end ? null : html` <button class="danger" data-testid=${`subscription-cancel-${x.id}`} onClick=${() => act.run(() => post(`/api/payments/subscriptions/${x.id}/cancel`))}>Cancel</button>`}</li>`)}
      ${(subs.data.subscriptions || []).length ? null : html`<li class="muted">No subscriptions</li>`}</ul>`}<//>
    <${Loading} s=${plans} testid="plans-load-error">${plans.data && html`<table data-testid="plans-table"><thead><tr><th>Plan</th><th>Price / month</th><th>Credit / month</th><th></th></tr></thead>
      <tbody>${plans.data.plans.map((p) => html`<tr><td>${p.name}</td><td>${formatCents(p.price_cents)}</td><td>${formatCents(p.credit_cents)}</td>
        <td><button data-testid=${`plan-subscribe-${p.id}`} onClick=${() => act.run(() => post("/api/payments/subscriptions", { plan_id: p.id }))}>Subscribe (default card)</button></td></tr>`)}</tbody></table>`}<//>
    <${ErrorBox} error=${act.error} testid="subscriptions-error" />
  </div>`;
}
