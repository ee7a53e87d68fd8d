/* stand-in Stripe.js for tests (tests/support/stripe_server/browser.py); not Stripe's code */
(function () {
  "use strict";
  var API = new URL(document.currentScript.src).origin;
  function form(obj, prefix, out) {
    out = out || [];
    Object.keys(obj).forEach(function (k) {
      var v = obj[k], key = prefix ? prefix + "[" + k + "]" : k;
      if (v === undefined || v === null) return;
      if (typeof v === "object") form(v, key, out);
      else out.push(encodeURIComponent(key) + "=" + encodeURIComponent(String(v)));
    });
    return out;
  }
  function post(path, params) {
    return fetch(API + path, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: form(params).join("&"),
    }).then(function (r) { return r.json(); });
  }
  function CardElement() {
    this._handlers = {};
    this._node = null;
    this._input = document.createElement("input");
    this._input.setAttribute("data-testid", "stripe-card-number");
    this._input.setAttribute("placeholder", "Card number (test: 4242 4242 4242 4242)");
    this._input.setAttribute("autocomplete", "cc-number");
    this._input.className = "StripeElement";
    this._input.style.width = "100%";
    this._input.style.boxSizing = "border-box";
    var self = this;
    this._input.addEventListener("input", function () {
      var digits = self._digits();
      self._emit("change", { elementType: "card", empty: !digits, complete: digits.length >= 15, error: undefined });
    });
  }
  CardElement.prototype._digits = function () { return this._input.value.replace(/\D/g, ""); };
  CardElement.prototype._emit = function (name, ev) {
    (this._handlers[name] || []).forEach(function (h) { h(ev); });
  };
  CardElement.prototype.mount = function (target) {
    var node = typeof target === "string" ? document.querySelector(target) : target;
    if (!node) throw new Error("stand-in Stripe.js: mount target not found");
    node.appendChild(this._input);
    this._node = node;
    var self = this;
    setTimeout(function () { self._emit("ready", { elementType: "card" }); }, 0);
  };
  CardElement.prototype.unmount = function () {
    if (this._input.parentNode) this._input.parentNode.removeChild(this._input);
    this._node = null;
  };
  CardElement.prototype.destroy = CardElement.prototype.unmount;
  CardElement.prototype.on = function (name, h) { (this._handlers[name] = this._handlers[name] || []).push(h); return this; };
  CardElement.prototype.off = function (name, h) {
    this._handlers[name] = (this._handlers[name] || []).filter(function (x) { return x !== h; });
    return this;
  };
  CardElement.prototype.focus = function () { this._input.focus(); };
  CardElement.prototype.blur = function () { this._input.blur(); };
  CardElement.prototype.clear = function () { this._input.value = ""; };
  CardElement.prototype.update = function () {};

  function Elements() { this._cards = []; }
  Elements.prototype.create = function (type) {
    if (type !== "card") throw new Error("stand-in Stripe.js supports only the card Element, not " + type);
    var c = new CardElement();
    this._cards.push(c);
    return c;
  };
  Elements.prototype.getElement = function (type) { return type === "card" ? this._cards[0] || null : null; };

  function cardOf(data) {
    var pm = data && data.payment_method;
    if (typeof pm === "string") return { payment_method: pm };
    var card = pm && pm.card;
    if (!(card instanceof CardElement)) throw new Error("stand-in Stripe.js: payment_method.card must be a card Element");
    return { payment_method_data: { type: "card", card: { number: card._digits() } } };
  }
  function confirm(kind, key, clientSecret, data, resultKey) {
    var id = String(clientSecret).split("_secret_")[0];
    var params;
    try { params = cardOf(data); } catch (e) { return Promise.resolve({ error: { type: "validation_error", message: e.message } }); }
    params.key = key;
    params.client_secret = clientSecret;
    return post("/v1/" + kind + "/" + encodeURIComponent(id) + "/confirm", params).then(function (body) {
      if (body && body.error) return { error: body.error };
      var out = {};
      out[resultKey] = body;
      return out;
    }, function (e) { return { error: { type: "api_connection_error", message: String(e && e.message || e) } }; });
  }
  function StripeInstance(key) {
    if (!/^pk_/.test(String(key))) throw new Error("stand-in Stripe.js: a publishable key (pk_...) is required");
    this._key = key;
  }
  StripeInstance.prototype.elements = function () { return new Elements(); };
  StripeInstance.prototype.confirmCardPayment = function (cs, data) {
    return confirm("payment_intents", this._key, cs, data, "paymentIntent");
  };
  StripeInstance.prototype.confirmCardSetup = function (cs, data) {
    return confirm("setup_intents", this._key, cs, data, "setupIntent");
  };
  window.Stripe = function (key) { return new StripeInstance(key); };
  window.Stripe.version = 3;
  window.Stripe.standIn = true;
})();
