// cloud-provider: alliances — list and propose; detail with members, weights, revenue earned/claimable;
// invite, accept, contribute a node, withdraw a node, collect, claim, leave. Every action answers unsigned
// transactions for the provider's own wallet (signed here); amounts are credit units (BigInt).
import { get, post } from "../api.js";
import { formatCredit, formatDuration, stringifyJSON } from "../money.js";
import { sendTransactions } from "../wallet.js";
import { ErrorBox, Field, html, Link, Loading, Time, TxList, useAction, useLoad, useState } from "../ui.js";

export function AlliancesPage({ wallets = [] }) {
  const l = useLoad(() => get("/api/alliances"));
  const [txs, setTxs] = useState(null);
  const [f, setF] = useState({ wallet: wallets[0] || "", name: "", terms: "", admin: "", notice_days: "7", max_units: "1000" });
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const create = useAction(async () => {
    const body = { wallet: f.wallet, name: f.name, terms: f.terms, notice_period: Number(f.notice_days) * 86_400, max_units_per_node: Number(f.max_units) };
    if (f.admin) body.admin = f.admin;
    const before = new Set((await get("/api/alliances")).alliances.map((a) => String(a.id)));
    const r = await post("/api/alliances", body);
    // "indexed": the proposal's AllianceProposed event shows up in the list
    await sendTransactions(r.transactions, setTxs, async () => (await get("/api/alliances")).alliances.some((a) => !before.has(String(a.id))));
    l.reload();
  });
  return html`<section data-testid="page-alliances"><h1>Alliances</h1>
    <div class="card"><h2>Your alliances</h2>
      <${Loading} s=${l} testid="alliances-load-error">${l.data && html`<table data-testid="alliances-table"><thead><tr><th>#</th><th>Name</th><th>Admin</th><th>Shares</th><th>Received</th><th>Notice</th><th>Created</th></tr></thead>
        <tbody>${l.data.alliances.map((a) => html`<tr data-testid=${`alliance-${a.id}`}><td><${Link} href=${`/alliances/${a.id}`} testid=${`alliance-link-${a.id}`}>${a.id}<//></td>
          <td>${a.name ?? html`<code>${a.name_hash}</code>`}</td><td><code>${a.admin}</code></td><td>${a.total_shares}</td><td>${formatCredit(a.received)}</td>
          <td>${a.notice_period != null ? formatDuration(a.notice_period) : "—"}</td><td><${Time} t=${a.created_at} /></td></tr>`)}</tbody></table>
        ${l.data.alliances.length ? null : html`<p class="muted">No alliances.</p>`}`}<//>
    </div>
    <div class="card"><h2>Propose an alliance</h2>
      <div class="row">
        <label>Your wallet (first member)<select data-testid="alliance-create-wallet" value=${f.wallet} onChange=${(e) => set("wallet")(e.currentTarget.value)}>
          ${wallets.map((w) => html`<option value=${w}>${w}</option>`)}</select></label>
        <${Field} label="Name" value=${f.name} onInput=${set("name")} testid="alliance-create-name" />
        <${Field} label="Admin (default: you)" value=${f.admin} onInput=${set("admin")} testid="alliance-create-admin" />
        <${Field} label="Notice period (days)" value=${f.notice_days} onInput=${set("notice_days")} testid="alliance-create-notice" />
        <${Field} label="Max capacity units per node" value=${f.max_units} onInput=${set("max_units")} testid="alliance-create-max-units" />
      </div>
      <label>Terms (members accept their hash on chain)<textarea rows="4" data-testid="alliance-create-terms" value=${f.terms} onInput=${(e) => set("terms")(e.currentTarget.value)}></textarea></label>
      <button data-testid="alliance-create" onClick=${() => create.run()} disabled=${create.busy || !f.wallet}>Propose</button>
      <${TxList} txs=${txs} testid="alliance-create-tx" />
      <${ErrorBox} error=${create.error} testid="alliance-create-error" />
    </div>
  </section>`;
}

export function AllianceDetailPage({ id }) {
  const d = useLoad(() => get(`/api/alliances/${id}`), [id]);
  const mine = useLoad(() => get("/api/cloud-provider/nodes?limit=200"));
  const [txs, setTxs] = useState(null);
  const [step, setStep] = useState(null);
  const [invitee, setInvitee] = useState("");
  const [node, setNode] = useState("");
  // "indexed": members, nodes or revenue as the API shows them changed after the transactions were mined
  const shape = (x) => stringifyJSON([x.alliance.total_shares, x.alliance.received, x.members, x.nodes]);
  const withTxs = (fn) => async (...args) => {
    const before = shape(await get(`/api/alliances/${id}`));
    const r = await fn(...args);
    setStep(r);
    if (r.transactions && r.transactions.length) {
      await sendTransactions(r.transactions, setTxs, async () => shape(await get(`/api/alliances/${id}`)) !== before);
    }
    d.reload();
  };
  const base = `/api/alliances/${id}`;
  const invite = useAction(withTxs(() => post(`${base}/invite`, { account: invitee })));
  const accept = useAction(withTxs(() => post(`${base}/accept`, {})));
  const contribute = useAction(withTxs(() => post(`${base}/nodes`, { node_id: Number(node) })));
  const withdraw = useAction(withTxs((nodeId) => post(`${base}/nodes/${nodeId}/withdraw`, {})));
  const collect = useAction(withTxs((chainNodeId) => post(`${base}/collect`, { chain_node_id: chainNodeId })));
  const claim = useAction(withTxs(() => post(`${base}/claim`, {})));
  const leave = useAction(withTxs(() => post(`${base}/leave`, {})));
  const myNodes = mine.data ? mine.data.nodes.filter((n) => n.chain_node_id != null) : [];
  const byChain = new Map(myNodes.map((n) => [String(n.chain_node_id), n]));
  const x = d.data;
  return html`<section data-testid="page-alliance"><h1>Alliance ${id}</h1>
    <${Loading} s=${d} testid="alliance-load-error">${x && html`<div class="card">
      <dl class="kv">
        <dt>Name</dt><dd data-testid="alliance-name">${x.alliance.name ?? "—"}</dd>
        <dt>Admin</dt><dd><code>${x.alliance.admin}</code></dd>
        <dt>Proposer</dt><dd><code>${x.alliance.proposer}</code></dd>
        <dt>Terms hash</dt><dd><code>${x.alliance.terms_hash}</code></dd>
        <dt>Notice period</dt><dd>${x.alliance.notice_period != null ? formatDuration(x.alliance.notice_period) : "—"}</dd>
        <dt>Total shares</dt><dd data-testid="alliance-shares">${x.alliance.total_shares}</dd>
        <dt>Received</dt><dd data-testid="alliance-received">${formatCredit(x.alliance.received)}</dd>
      </dl>
      <h2>Members</h2>
      <table data-testid="alliance-members"><thead><tr><th>Account</th><th>Status</th><th>Weight</th><th>Units</th><th>Nodes</th><th>Leaves at</th><th>Earned</th><th>Claimed</th><th>Claimable</th></tr></thead>
        <tbody>${x.members.map((m) => html`<tr data-testid=${`alliance-member-${m.account}`}><td><code>${m.account}</code></td><td data-testid=${`alliance-member-status-${m.account}`}>${m.status}</td>
          <td>${m.weight}</td><td>${m.units ?? "—"}</td><td>${m.nodes ?? "—"}</td><td>${m.leave_at ? html`<${Time} t=${m.leave_at} />` : "—"}</td>
          <td>${formatCredit(m.earned)}</td><td>${formatCredit(m.claimed)}</td><td data-testid=${`alliance-member-claimable-${m.account}`}>${formatCredit(m.claimable)}</td></tr>`)}</tbody></table>
      <h2>Nodes</h2>
      <table data-testid="alliance-nodes"><thead><tr><th>Chain node</th><th>Member</th><th>Units</th><th>Exit at</th><th></th></tr></thead>
        <tbody>${x.nodes.map((n) => html`<tr data-testid=${`alliance-node-${n.chain_node_id}`}><td>${n.chain_node_id}</td><td><code>${n.member}</code></td><td>${n.units}</td>
          <td>${n.exit_at ? html`<${Time} t=${n.exit_at} />` : "—"}</td>
          <td><button data-testid=${`alliance-collect-${n.chain_node_id}`} onClick=${() => collect.run(n.chain_node_id)}>Collect earnings</button>
            ${byChain.has(String(n.chain_node_id)) ? html`<button data-testid=${`alliance-withdraw-${n.chain_node_id}`} onClick=${() => withdraw.run(byChain.get(String(n.chain_node_id)).id)}>${n.exit_at ? "Withdraw node" : "Give notice"}</button>` : null}</td></tr>`)}</tbody></table>
      <h2>Actions</h2>
      <div class="row">
        <${Field} label="Invite wallet" value=${invitee} onInput=${setInvitee} testid="alliance-invite-account" />
        <button data-testid="alliance-invite" onClick=${() => invite.run()} disabled=${invite.busy || !invitee}>Invite</button>
        <button data-testid="alliance-accept" onClick=${() => accept.run()} disabled=${accept.busy}>Accept invitation and terms</button>
      </div>
      <div class="row">
        <label>Your node<select data-testid="alliance-contribute-node" value=${node} onChange=${(e) => setNode(e.currentTarget.value)}>
          <option value="">—</option>${myNodes.map((n) => html`<option value=${String(n.id)}>${n.id} ${n.name} (chain ${n.chain_node_id})</option>`)}</select></label>
        <button data-testid="alliance-contribute" onClick=${() => contribute.run()} disabled=${contribute.busy || !node}>Contribute node</button>
        <button data-testid="alliance-claim" onClick=${() => claim.run()} disabled=${claim.busy}>Claim revenue</button>
        <button class="danger" data-testid="alliance-leave" onClick=${() => leave.run()} disabled=${leave.busy}>Leave (notice, then leave)</button>
      </div>
      ${step && html`<p data-testid="alliance-step">Step: <b>${step.step}</b>${step.details && Object.keys(step.details).length ? html` <code>${stringifyJSON(step.details)}</code>` : null}</p>`}
      <${TxList} txs=${txs} testid="alliance-tx" />
      <${ErrorBox} error=${invite.error || accept.error || contribute.error || withdraw.error || collect.error || claim.error || leave.error} testid="alliance-error" />
      <${ErrorBox} error=${mine.error} testid="alliance-nodes-load-error" />
    </div>`}<//>
    <p><${Link} href="/alliances" testid="alliance-back">All alliances<//></p>
  </section>`;
}
