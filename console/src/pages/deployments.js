// cloud-user: deployments — create from a form with the live dry-run quote and node-selection criteria
// (incl. backup), list with live status, detail with leases, top-up, scale, close, and status over SSE.
import { followEvents, get, post } from "../api.js";
import { formatCredit, formatDuration, parseUnits, stringifyJSON } from "../money.js";
import { sendTransactions } from "../wallet.js";
import { ErrorBox, Field, html, Link, Loading, navigate, Time, TxList, useAction, useEffect, useLoad, useState } from "../ui.js";
import { Period, SlaPolicy, SlaRecords } from "./sla.js";

const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

function specFrom(f) {
  const spec = {
    resources: { cpu_millicores: Number(f.cpu), memory_mb: Number(f.mem), disk_gb: Number(f.disk) },
    replicas: Number(f.replicas),
  };
  if (f.image) spec.image = f.image;
  if (f.command) spec.command = f.command.split(" ").filter(Boolean);
  if (f.ports) spec.ports = list(f.ports).map(Number);
  if (f.gpu_model) spec.resources.gpu = { model: f.gpu_model, count: Number(f.gpu_count || 1) };
  if (f.regions) spec.regions = list(f.regions);
  if (f.countries) spec.countries = list(f.countries);
  if (f.attributes) spec.required_attributes = list(f.attributes);
  if (f.max_price) spec.max_price_per_second = parseUnits(f.max_price);
  if (f.min_uptime) spec.min_uptime_bps = Number(f.min_uptime);
  if (f.backup) spec.backup = { enabled: true, different_region: f.backup_region };
  return spec;
}

export function DeploymentsPage() {
  const [cursor, setCursor] = useState(null);
  const l = useLoad(() => get(`/api/cloud-user/deployments?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`), [cursor]);
  useEffect(() => { const t = setInterval(l.reload, 5000); return () => clearInterval(t); }, [l.reload]);
  return html`<section data-testid="page-deployments"><h1>Deployments</h1>
    <${CreateForm} onCreated=${l.reload} />
    <div class="card"><h2>Your deployments</h2>
    <${Loading} s=${l} testid="deployments-load-error">${l.data && html`<table data-testid="deployments-table"><thead><tr><th>#</th><th>Status</th><th>Replicas</th><th>Rate</th><th>Created</th></tr></thead>
      <tbody>${l.data.deployments.map((d) => html`<tr data-testid=${`deployment-row-${d.id}`}>
        <td><${Link} href=${`/deployments/${d.id}`} testid=${`deployment-link-${d.id}`}>${d.id}<//></td>
        <td data-testid=${`deployment-status-${d.id}`}>${d.status}</td><td>${d.replicas ?? d.leases.length}</td>
        <td>${d.rate_per_second != null ? `${formatCredit(d.rate_per_second)} / s` : ""}</td><td><${Time} t=${d.created_at} /></td></tr>`)}</tbody></table>
      ${l.data.deployments.length ? null : html`<p class="muted">No deployments yet.</p>`}
      ${l.data.next_cursor && html`<button data-testid="deployments-next" onClick=${() => setCursor(l.data.next_cursor)}>Older</button>`}`}<//></div>
  </section>`;
}

function CreateForm({ onCreated }) {
  const cat = useLoad(() => get("/api/catalog"));
  const [f, setF] = useState({
    image: "", command: "", ports: "", cpu: "500", mem: "512", disk: "1", gpu_model: "", gpu_count: "1", replicas: "1",
    regions: "", countries: "", attributes: "", max_price: "", min_uptime: "", backup: false, backup_region: false,
    deposit: "", duration: "3600",
  });
  const [quote, setQuote] = useState(null);
  const [quoteErr, setQuoteErr] = useState(null);
  const [txs, setTxs] = useState(null);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const body = () => {
    const b = { spec: specFrom(f) };
    if (f.deposit) b.deposit_per_replica = parseUnits(f.deposit);
    else if (f.duration) b.duration_seconds = Number(f.duration);
    return b;
  };
  // live dry-run quote: re-asked 400 ms after the last change
  useEffect(() => {
    const t = setTimeout(async () => {
      try { setQuote(await post("/api/cloud-user/deployments/quote", body())); setQuoteErr(null); }
      catch (e) { setQuote(null); setQuoteErr(e); }
    }, 400);
    return () => clearTimeout(t);
  }, [f]);
  const create = useAction(async () => {
    const r = await post("/api/cloud-user/deployments", body());
    onCreated();
    if (r.transactions && r.transactions.length) {
      await sendTransactions(r.transactions, setTxs,
        async () => (await get(`/api/cloud-user/deployments/${r.deployment.id}`)).status !== "funding");
    }
    navigate(`/deployments/${r.deployment.id}`);
  });
  const c = cat.data;
  return html`<div class="card"><h2>New deployment</h2>
    <div class="row">
      <${Field} label="Image" value=${f.image} onInput=${set("image")} testid="create-image" placeholder="registry/app:tag@sha256:…" />
      <${Field} label="Command" value=${f.command} onInput=${set("command")} testid="create-command" />
      <${Field} label="Ports (comma-separated)" value=${f.ports} onInput=${set("ports")} testid="create-ports" />
    </div>
    <div class="row">
      <${Field} label="CPU (millicores)" value=${f.cpu} onInput=${set("cpu")} testid="create-cpu" />
      <${Field} label="Memory (MB)" value=${f.mem} onInput=${set("mem")} testid="create-memory" />
      <${Field} label="Disk (GB)" value=${f.disk} onInput=${set("disk")} testid="create-disk" />
      <label>GPU model<select data-testid="create-gpu-model" value=${f.gpu_model} onChange=${(e) => set("gpu_model")(e.currentTarget.value)}>
        <option value="">none</option>${c && c.gpu_models.map((g) => html`<option value=${g}>${g}</option>`)}</select></label>
      <${Field} label="GPU count" value=${f.gpu_count} onInput=${set("gpu_count")} testid="create-gpu-count" />
      <${Field} label="Replicas" value=${f.replicas} onInput=${set("replicas")} testid="create-replicas" />
    </div>
    <h3>Node selection</h3>
    <div class="row">
      <${Field} label=${`Regions${c ? ` (${c.regions.join(", ")})` : ""}`} value=${f.regions} onInput=${set("regions")} testid="create-regions" />
      <${Field} label="Countries (ISO codes)" value=${f.countries} onInput=${set("countries")} testid="create-countries" />
      <${Field} label="Required attributes" value=${f.attributes} onInput=${set("attributes")} testid="create-attributes" />
      <${Field} label="Max price (credits / s)" value=${f.max_price} onInput=${set("max_price")} testid="create-max-price" />
      <${Field} label="Min uptime (bps)" value=${f.min_uptime} onInput=${set("min_uptime")} testid="create-min-uptime" />
    </div>
    <label><input type="checkbox" data-testid="create-backup" checked=${f.backup} onChange=${(e) => set("backup")(e.currentTarget.checked)} /> backup replica</label>
    <label><input type="checkbox" data-testid="create-backup-region" checked=${f.backup_region} onChange=${(e) => set("backup_region")(e.currentTarget.checked)} /> backup in a different region</label>
    <h3>Funding</h3>
    <div class="row">
      <${Field} label="Run for (seconds)" value=${f.duration} onInput=${set("duration")} testid="create-duration" />
      <${Field} label="or deposit per replica (credits)" value=${f.deposit} onInput=${set("deposit")} testid="create-deposit" />
    </div>
    <div data-testid="create-quote" class="quote">${quote ? html`
      Rate ${formatCredit(quote.quote.total_rate_per_second)} / s (platform fee ${formatCredit(quote.quote.platform_fee_per_second)} / s);
      deposit <b data-testid="create-quote-total">${formatCredit(quote.quote.total_deposit)}</b> for ${quote.replicas.length} replica(s)
      ${quote.staking_discount && quote.staking_discount.discount_bps ? html`; staking discount ${quote.staking_discount.discount_bps} bps` : null}` : html`<span class="muted">no quote</span>`}</div>
    <${ErrorBox} error=${quoteErr} testid="create-quote-error" />
    <button data-testid="create-submit" onClick=${() => create.run()} disabled=${create.busy || !quote}>Create and fund</button>
    <${TxList} txs=${txs} testid="create-tx" />
    <${ErrorBox} error=${create.error} testid="create-error" />
  </div>`;
}

export function DeploymentDetailPage({ id }) {
  const d = useLoad(() => get(`/api/cloud-user/deployments/${id}`), [id]);
  const [events, setEvents] = useState([]);
  const [stream, setStream] = useState({ state: "connecting" });
  const [txs, setTxs] = useState(null);
  const [amount, setAmount] = useState("1");
  const [replicas, setReplicas] = useState("");
  useEffect(() => followEvents(`/api/cloud-user/deployments/${id}/events`, (ev) => {
    setEvents((xs) => [...xs, ev]);
    d.reload();
  }, setStream), [id]);
  // a top-up is no status event: the notifications stream's `event: wallet` (the indexer saw the user's
  // wallet pay the escrow) re-reads the deployment for its runway, debounced
  useEffect(() => {
    let timer = null;
    const stop = followEvents("/api/notifications/stream", (ev) => {
      if (ev.event !== "wallet") return;
      clearTimeout(timer); timer = setTimeout(d.reload, 300);
    });
    return () => { clearTimeout(timer); stop(); };
  }, [id]);
  // "indexed": the deployment as the API shows it (status, leases; not the accruing balances) changed
  // after the transactions were mined
  const shape = (x) => stringifyJSON([x.status, x.leases.map((l) => [l.lease_id, l.status, l.deposit, l.role])]);
  const withTxs = (fn) => async () => {
    const before = shape(await get(`/api/cloud-user/deployments/${id}`));
    const r = await fn();
    if (r.transactions && r.transactions.length) {
      await sendTransactions(r.transactions, setTxs, async () => shape(await get(`/api/cloud-user/deployments/${id}`)) !== before);
    }
    d.reload();
  };
  const topUp = useAction(withTxs(() => post(`/api/cloud-user/deployments/${id}/top-up`, { amount: parseUnits(amount) })));
  const scale = useAction(withTxs(() => post(`/api/cloud-user/deployments/${id}/scale`, { replicas: Number(replicas) })));
  const close = useAction(withTxs(() => post(`/api/cloud-user/deployments/${id}/close`, {})));
  const x = d.data;
  return html`<section data-testid="page-deployment"><h1>Deployment ${id}</h1>
    <${Loading} s=${d} testid="deployment-load-error">${x && html`<div class="card">
      <dl class="kv">
        <dt>Status</dt><dd data-testid="deployment-status">${x.status}${x.status_reason ? ` — ${x.status_reason}` : ""}</dd>
        <dt>Runway</dt><dd data-testid="deployment-runway">${formatDuration(x.runway_seconds)}</dd>
        <dt>Rate</dt><dd>${x.rate_per_second != null ? `${formatCredit(x.rate_per_second)} / s` : "—"}</dd>
        <dt>Payer</dt><dd><code>${x.payer || "—"}</code></dd>
        <dt>Live status</dt><dd data-testid="deployment-stream">${stream.state}${stream.message ? ` (${stream.message})` : ""}</dd>
      </dl>
      <h2>Leases</h2>
      <table data-testid="leases-table"><thead><tr><th>Replica</th><th>Role</th><th>Node</th><th>Lease</th><th>Status</th><th>Rate</th><th>Deposit</th><th>Balance now</th><th>Runway</th></tr></thead>
        <tbody>${x.leases.map((l) => html`<tr data-testid=${`lease-${l.lease_id ?? l.replica_index}`}><td>${l.replica_index ?? "—"}</td><td>${l.role}</td><td>${l.node_id}</td>
          <td><code>${l.lease_id ?? "—"}</code></td><td>${l.status}</td><td>${l.rate_per_second != null ? formatCredit(l.rate_per_second) : ""}</td>
          <td>${l.deposit != null ? formatCredit(l.deposit) : ""}</td><td>${l.chain && l.chain.balance_now != null ? formatCredit(l.chain.balance_now) : "—"}</td>
          <td>${l.chain ? formatDuration(l.chain.runway_seconds) : "—"}</td></tr>`)}</tbody></table>
      <div class="row">
        <${Field} label="Top up (credits)" value=${amount} onInput=${setAmount} testid="deployment-topup-amount" />
        <button data-testid="deployment-topup" onClick=${() => topUp.run()} disabled=${topUp.busy}>Top up</button>
        <${Field} label="Replicas" value=${replicas} onInput=${setReplicas} testid="deployment-scale-replicas" />
        <button data-testid="deployment-scale" onClick=${() => scale.run()} disabled=${scale.busy}>Scale</button>
        <button class="danger" data-testid="deployment-close" onClick=${() => close.run()} disabled=${close.busy}>Close</button>
      </div>
      <${TxList} txs=${txs} testid="deployment-tx" />
      <${ErrorBox} error=${topUp.error || scale.error || close.error} testid="deployment-error" />
      <${DeploymentSla} id=${id} />
      <h2>History</h2>
      <ul data-testid="deployment-events">${(x.transitions || []).map((t) => html`<li><${Time} t=${t.at} />: ${t.from} → <b>${t.to}</b>${t.reason ? ` (${t.reason})` : ""}</li>`)}
        ${events.map((e) => html`<li class="live" data-testid="deployment-event">live #${e.id}: <b>${e.data.to || e.data.status || e.event}</b>${e.data.reason ? ` (${e.data.reason})` : ""}</li>`)}</ul>
    </div>`}<//>
  </section>`;
}

function DeploymentSla({ id }) {
  const s = useLoad(() => get(`/api/cloud-user/deployments/${id}/sla`), [id]);
  const x = s.data;
  return html`<h2>SLA <button data-testid="deployment-sla-refresh" onClick=${s.reload}>Refresh</button></h2>
    <${Loading} s=${s} testid="deployment-sla-load-error">${x && html`<div data-testid="deployment-sla"><${SlaPolicy} policy=${x.policy} testid="deployment-sla-policy" />
      <table data-testid="deployment-sla-leases"><thead><tr><th>Lease</th><th>Node</th><th>Status</th><th>Uptime this period</th></tr></thead>
        <tbody>${x.leases.map((l) => html`<tr data-testid=${`deployment-sla-lease-${l.lease_id}`}><td><code>${l.lease_id}</code></td><td>${l.node_id}</td><td>${l.status}</td><td><${Period} p=${l.current_period} /></td></tr>`)}</tbody></table>
      <h3>Breach records (rebates credited to you)</h3><${SlaRecords} records=${x.records} testid="deployment-sla-records" /></div>`}<//>`;
}
