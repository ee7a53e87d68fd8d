// cloud-provider: registration and collateral, nodes with node tokens and the agent command line,
// maintenance windows, earnings and withdraw, SLA (uptime this period and breach records).
import { apiUrl, del, get, post, put } from "../api.js";
import { formatCredit, parseUnits } from "../money.js";
import { sendTransactions } from "../wallet.js";
import { ErrorBox, Field, html, Loading, Time, TxList, useAction, useLoad, useState } from "../ui.js";
import { Period, SlaPolicy, SlaRecords } from "./sla.js";

export function ProviderPage() {
  const [txs, setTxs] = useState(null);
  const send = (r) => (r && r.transactions && r.transactions.length ? sendTransactions(r.transactions, setTxs) : null);
  return html`<section data-testid="page-provider"><h1>Provider</h1>
    <${TxList} txs=${txs} testid="provider-tx" />
    <${Register} send=${send} />
    <${Nodes} send=${send} />
    <${Maintenance} send=${send} />
    <${Earnings} send=${send} />
    <${ProviderSla} />
  </section>`;
}

function Register({ send }) {
  const reqs = useLoad(() => get("/api/cloud-provider/provider-requests"));
  const [f, setF] = useState({ wallet: "", company: "", contact_name: "", contact_email: "", collateral: "0" });
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const go = useAction(async () => {
    const r = await post("/api/cloud-provider/register", { ...f, collateral: parseUnits(f.collateral) });
    reqs.reload();
    await send(r);
    reqs.reload();
  });
  return html`<div class="card"><h2>Registration and collateral</h2>
    <${Loading} s=${reqs} testid="provider-requests-load-error">${reqs.data && html`<table data-testid="provider-requests"><thead><tr><th>#</th><th>Company</th><th>Wallet</th><th>Collateral</th><th>Status</th><th>Chain</th><th>Created</th></tr></thead>
      <tbody>${reqs.data.requests.map((r) => html`<tr data-testid=${`provider-request-${r.id}`}><td>${r.id}</td><td>${r.company}</td><td><code>${r.wallet}</code></td>
        <td>${formatCredit(r.collateral)}</td><td data-testid=${`provider-request-status-${r.id}`}>${r.status}${r.decision_reason ? ` — ${r.decision_reason}` : ""}</td><td>${r.chain_status || "—"}</td><td><${Time} t=${r.created_at} /></td></tr>`)}</tbody></table>`}<//>
    <div class="row">
      <${Field} label="Wallet" value=${f.wallet} onInput=${set("wallet")} testid="register-wallet" />
      <${Field} label="Company" value=${f.company} onInput=${set("company")} testid="register-company" />
      <${Field} label="Contact name" value=${f.contact_name} onInput=${set("contact_name")} testid="register-contact-name" />
      <${Field} label="Contact email" value=${f.contact_email} onInput=${set("contact_email")} testid="register-contact-email" type="email" />
      <${Field} label="Collateral (credits)" value=${f.collateral} onInput=${set("collateral")} testid="register-collateral" />
    </div>
    <button data-testid="register-submit" onClick=${() => go.run()} disabled=${go.busy}>Ask to become a provider</button>
    <${ErrorBox} error=${go.error} testid="register-error" />
  </div>`;
}

function Nodes({ send }) {
  const n = useLoad(() => get("/api/cloud-provider/nodes?limit=100"));
  const [f, setF] = useState({ name: "", wallet: "", region: "", country: "", cpu: "4000", mem: "8192", disk: "100", p_cpu: "1", p_mem: "1", p_disk: "1", attributes: "" });
  const [token, setToken] = useState(null);
  const set = (k) => (v) => setF({ ...f, [k]: v });
  const add = useAction(async () => {
    const body = {
      name: f.name, resources: { cpu_millicores: Number(f.cpu), memory_mb: Number(f.mem), disk_gb: Number(f.disk) },
      prices: { per_cpu_millicore: BigInt(f.p_cpu), per_memory_mb: BigInt(f.p_mem), per_disk_gb: BigInt(f.p_disk) },
    };
    if (f.wallet) body.wallet = f.wallet;
    if (f.region) body.region = f.region;
    if (f.country) body.country = f.country;
    if (f.attributes) body.attributes = f.attributes.split(",").map((x) => x.trim()).filter(Boolean);
    const r = await post("/api/cloud-provider/nodes", body);
    n.reload();
    await send(r);
    n.reload();
  });
  const issue = useAction(async (id) => setToken(await post(`/api/cloud-provider/nodes/${id}/tokens`, {})));
  const revoke = useAction(async (nodeId, tokenId) => { await del(`/api/cloud-provider/nodes/${nodeId}/tokens/${tokenId}`); setToken(null); });
  // the token goes in the environment, not argv (argv is visible to other users in ps)
  const agentCmd = token && `CLOUDMARKET_NODE_TOKEN=${token.token} cloudmarket node run --api ${apiUrl("")} --node-id ${token.node_id}`;
  return html`<div class="card"><h2>Nodes</h2>
    <${Loading} s=${n} testid="nodes-load-error">${n.data && html`<table data-testid="nodes-table"><thead><tr><th>#</th><th>Name</th><th>Status</th><th>Chain id</th><th>Region</th><th>Created</th><th></th></tr></thead>
      <tbody>${n.data.nodes.map((x) => html`<tr data-testid=${`node-${x.id}`}><td>${x.id}</td><td>${x.name}</td><td data-testid=${`node-status-${x.id}`}>${x.status}</td>
        <td>${x.chain_node_id ?? "—"}</td><td>${x.region || "—"}</td><td><${Time} t=${x.created_at} /></td>
        <td><button data-testid=${`node-new-token-${x.id}`} onClick=${() => issue.run(x.id)}>New node token</button></td></tr>`)}</tbody></table>`}<//>
    ${token && html`<div class="token" data-testid="node-token-result"><p>Node token (shown once):</p>
      <pre data-testid="node-agent-command">${agentCmd}</pre>
      <button data-testid="node-agent-copy" onClick=${() => navigator.clipboard && navigator.clipboard.writeText(agentCmd)}>Copy command</button>
      <button data-testid="node-token-revoke" onClick=${() => revoke.run(token.node_id, token.id)}>Revoke this token</button></div>`}
    <h3>Add a node</h3>
    <div class="row">
      <${Field} label="Name" value=${f.name} onInput=${set("name")} testid="node-name" />
      <${Field} label="Wallet (on-chain node owner)" value=${f.wallet} onInput=${set("wallet")} testid="node-wallet" />
      <${Field} label="Region" value=${f.region} onInput=${set("region")} testid="node-region" />
      <${Field} label="Country" value=${f.country} onInput=${set("country")} testid="node-country" />
      <${Field} label="CPU (millicores)" value=${f.cpu} onInput=${set("cpu")} testid="node-cpu" />
      <${Field} label="Memory (MB)" value=${f.mem} onInput=${set("mem")} testid="node-memory" />
      <${Field} label="Disk (GB)" value=${f.disk} onInput=${set("disk")} testid="node-disk" />
      <${Field} label="Price / millicore (price units)" value=${f.p_cpu} onInput=${set("p_cpu")} testid="node-price-cpu" />
      <${Field} label="Price / MB" value=${f.p_mem} onInput=${set("p_mem")} testid="node-price-memory" />
      <${Field} label="Price / GB disk" value=${f.p_disk} onInput=${set("p_disk")} testid="node-price-disk" />
      <${Field} label="Attributes" value=${f.attributes} onInput=${set("attributes")} testid="node-attributes" />
    </div>
    <button data-testid="node-add" onClick=${() => add.run()} disabled=${add.busy}>Add node</button>
    <${ErrorBox} error=${add.error || issue.error || revoke.error} testid="nodes-error" />
  </div>`;
}

function Maintenance({ send }) {
  const [f, setF] = useState({ node_id: "", start: "", end: "" });
  const toUnix = (local) => Math.floor(new Date(local).getTime() / 1000); // datetime-local is the user's zone
  const go = useAction(async () => send(await post("/api/cloud-provider/maintenance", { node_id: Number(f.node_id), start: toUnix(f.start), end: toUnix(f.end) })));
  const cancel = useAction(async () => send(await post("/api/cloud-provider/maintenance/cancel", { node_id: Number(f.node_id) })));
  return html`<div class="card"><h2>Maintenance windows</h2>
    <div class="row">
      <${Field} label="Node #" value=${f.node_id} onInput=${(v) => setF({ ...f, node_id: v })} testid="maintenance-node" />
      <${Field} label="Start (your time)" type="datetime-local" value=${f.start} onInput=${(v) => setF({ ...f, start: v })} testid="maintenance-start" />
      <${Field} label="End (your time)" type="datetime-local" value=${f.end} onInput=${(v) => setF({ ...f, end: v })} testid="maintenance-end" />
    </div>
    <button data-testid="maintenance-schedule" onClick=${() => go.run()} disabled=${go.busy}>Schedule</button>
    <button data-testid="maintenance-cancel" onClick=${() => cancel.run()} disabled=${cancel.busy}>Cancel the node's window</button>
    <${ErrorBox} error=${go.error || cancel.error} testid="maintenance-error" />
  </div>`;
}

function Earnings({ send }) {
  const e = useLoad(() => get("/api/cloud-provider/earnings"));
  const w = useAction(async (id) => { await send(await post(`/api/cloud-provider/nodes/${id}/withdraw`, {})); e.reload(); });
  return html`<div class="card"><h2>Earnings</h2>
    <${Loading} s=${e} testid="earnings-load-error">${e.data && html`<p>Total owed: <b data-testid="earnings-total">${formatCredit(e.data.total)}</b></p>
      <table data-testid="earnings-table"><thead><tr><th>Node</th><th>Owed</th><th>Paid to</th><th></th></tr></thead>
      <tbody>${e.data.nodes.map((x) => html`<tr data-testid=${`earnings-${x.node_id}`}><td>${x.node_id} (chain ${x.chain_node_id})</td><td>${formatCredit(x.owed)}</td>
        <td><code>${x.payee || "—"}</code></td>
        <td><button data-testid=${`earnings-withdraw-${x.node_id}`} onClick=${() => w.run(x.node_id)}>Withdraw</button></td></tr>`)}</tbody></table>`}<//>
    <${ErrorBox} error=${w.error} testid="earnings-error" />
  </div>`;
}

function ProviderSla() {
  const s = useLoad(() => get("/api/cloud-provider/sla"));
  const x = s.data;
  return html`<div class="card" data-testid="provider-sla"><h2>SLA <button data-testid="provider-sla-refresh" onClick=${s.reload}>Refresh</button></h2>
    <${Loading} s=${s} testid="provider-sla-load-error">${x && html`<${SlaPolicy} policy=${x.policy} testid="provider-sla-policy" />
      <table data-testid="provider-sla-nodes"><thead><tr><th>Node</th><th>Chain id</th><th>Uptime this period</th><th>Probe host</th></tr></thead>
        <tbody>${x.nodes.map((n) => html`<tr data-testid=${`provider-sla-node-${n.node_id}`}><td>${n.node_id} ${n.name}</td><td>${n.chain_node_id ?? "—"}</td><td><${Period} p=${n.current_period} /></td>
          <td><${ProbeHost} nodeId=${n.node_id} /></td></tr>`)}</tbody></table>
      <h3>Breach records</h3><${SlaRecords} records=${x.records} testid="provider-sla-records" />`}<//>
  </div>`;
}

// The host the SLA prober connects to for the node's workloads' declared ports (unset: heartbeats alone count).
function ProbeHost({ nodeId }) {
  const e = useLoad(() => get(`/api/cloud-provider/nodes/${nodeId}/sla-endpoint`), [nodeId]);
  const [host, setHost] = useState(null);
  const save = useAction(async () => { await put(`/api/cloud-provider/nodes/${nodeId}/sla-endpoint`, { host }); setHost(null); e.reload(); });
  return html`<${Loading} s=${e} testid=${`sla-endpoint-load-error-${nodeId}`}>${e.data && html`<span data-testid=${`sla-endpoint-${nodeId}`}>${e.data.host ?? "not set"}</span>
    <input placeholder="host name or IP" data-testid=${`sla-endpoint-host-${nodeId}`} value=${host ?? ""} onInput=${(ev) => setHost(ev.currentTarget.value)} />
    <button data-testid=${`sla-endpoint-save-${nodeId}`} onClick=${() => save.run()} disabled=${save.busy || !host}>Set</button>`}<//>
    <${ErrorBox} error=${save.error} testid=${`sla-endpoint-error-${nodeId}`} />`;
}
