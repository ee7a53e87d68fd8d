// Stripe Elements through @stripe/stripe-js; the Stripe.js URL and publishable key come from configuration
// (tests serve a stand-in Stripe.js). loadStripe injects the script from the configured URL.
import { loadStripe } from "@stripe/stripe-js/pure";
import { state } from "./api.js";

let stripePromise = null;

export function stripe() {
  const s = state.config.stripe || {};
  if (!s.publishable_key) return Promise.reject(new Error("card payments are not configured (stripe.publishable_key)"));
  if (!stripePromise) {
    stripePromise = s.js_url ? loadWithUrl(s.js_url, s.publishable_key) : loadStripe(s.publishable_key);
  }
  return stripePromise;
}

// @stripe/stripe-js always loads https://js.stripe.com/v3; when another URL is configured the script is
// added by hand first, and loadStripe then finds window.Stripe already present and uses it.
function loadWithUrl(url, key) {
  return new Promise((resolve, reject) => {
    if (window.Stripe) { resolve(window.Stripe(key)); return; }
    const el = document.createElement("script");
    el.src = url;
    el.onload = () => (window.Stripe ? resolve(window.Stripe(key)) : reject(new Error(`${url} did not define Stripe`)));
    el.onerror = () => reject(new Error(`could not load Stripe.js from ${url}`));
    document.head.appendChild(el);
  });
}

/** Mount a card Element into `node`; returns {stripe, card, destroy}. */
export async function mountCard(node) {
  const st = await stripe();
  const elements = st.elements();
  const card = elements.create("card");
  card.mount(node);
  return { stripe: st, card, destroy: () => card.destroy() };
}
