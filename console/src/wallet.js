// EIP-1193 (window.ethereum) through viem: connect, and send the unsigned transactions the API returns
// ({to, data, value, chainId}) with the user's wallet, tracking each until it is mined and indexed.
import { createClient, custom, defineChain } from "viem";
import {
  addChain, getChainId, requestAddresses, sendTransaction, signMessage, switchChain, waitForTransactionReceipt,
} from "viem/actions";
import { get } from "./api.js";
import { toBig } from "./money.js";

let chainInfo = null;

export async function chain() {
  if (!chainInfo) {
    const info = await get("/api/chain");
    const rpc = info.rpc_url;
    chainInfo = {
      info,
      chain: defineChain({
        id: Number(info.chain_id),
        name: `cloudmarket ${info.chain_id}`,
        nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
        rpcUrls: { default: { http: [rpc] } },
      }),
    };
  }
  return chainInfo;
}

// A bare viem client with the few actions the console uses (tree-shaken: not the whole decorated client).
export async function connectWallet() {
  if (!window.ethereum) throw new Error("No injected wallet (window.ethereum) found");
  const client = createClient({ transport: custom(window.ethereum) });
  const [address] = await requestAddresses(client);
  return { client, address, sign: (message) => signMessage(client, { account: address, message }) };
}

/**
 * Send `txs` one after another. `onUpdate(list)` gets [{description, state, hash, error}] on every change;
 * states: waiting -> signing -> sent -> mined -> indexed (when `isIndexed()` resolves true) | failed.
 */
export async function sendTransactions(txs, onUpdate, isIndexed) {
  const { chain: c } = await chain();
  const { client, address } = await connectWallet();
  const list = txs.map((t, i) => ({ description: t.description || `transaction ${i + 1}`, state: "waiting", hash: null, error: null }));
  const emit = () => onUpdate(list.map((x) => ({ ...x })));
  emit();
  try {
    const current = await getChainId(client);
    if (current !== c.id) await switchChain(client, { id: c.id }).catch(() => addChain(client, { chain: c }));
  } catch (e) { /* the wallet will refuse below with its own message */ }
  for (let i = 0; i < txs.length; i++) {
    const t = txs[i];
    list[i].state = "signing"; emit();
    try {
      const hash = await sendTransaction(client, {
        account: t.from || address, chain: c, to: t.to, data: t.data, value: toBig(t.value || 0),
      });
      list[i].hash = hash; list[i].state = "sent"; emit();
      const receipt = await waitForTransactionReceipt(client, { hash });
      if (receipt.status !== "success") throw new Error("reverted on chain");
      list[i].state = "mined"; emit();
    } catch (e) {
      list[i].state = "failed"; list[i].error = e.shortMessage || e.message; emit();
      return list;
    }
  }
  if (isIndexed) {
    for (let k = 0; k < 120; k++) {
      if (await isIndexed().catch(() => false)) {
        list.forEach((x) => { x.state = "indexed"; }); emit();
        return list;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return list;
}
