// Agreements: both signatures verified by the daemon, the terms in words, pending shown
// as pending.

import {api} from "../api.js";
import {h, keyed, uid} from "../dom.js";
import {customerTerms, list, price, request, shortDid, timeEl} from "../format.js";

const STATES = {
  agreed: ["good", "Agreed: signed by both and stored by both."],
  pending: ["warn", "Pending: signed by both; the vendor has not yet confirmed it stored the "
    + "agreement. Your agent keeps delivering it."],
  void: ["bad", "Void: the vendor refused the countersignature (it came too late)."],
};

function card(a) {
  const titleId = uid("agreement");
  const [tone, stateText] = STATES[a.state] ?? ["", a.state];
  const sig = a.signatures;
  const signatures = sig.valid
    ? h("p", {class: "good"}, h("span", {"aria-hidden": "true"}, "✓ "),
      "Both signatures verified: ",
      list(sig.signers.map((s) => `${s.role} (${shortDid(s.did)})`)), ".")
    : h("p", {class: "bad"}, h("span", {"aria-hidden": "true"}, "✕ "),
      `Signatures do not verify: ${sig.error ?? "a party's signature is missing"}.`);
  const vendorTerms = a.vendor_terms.requests.length
    ? h("ul", {class: "asks"}, a.vendor_terms.requests.map((r) => h("li", {}, request(r))))
    : h("p", {}, "The vendor may use none of your data.");
  return h("article", {class: "card agreement", "aria-labelledby": titleId, "data-agreement": a.id},
    h("header", {}, h("h2", {id: titleId}, a.title),
      h("span", {class: "price"}, price(a.price))),
    h("p", {class: `state ${tone}`}, stateText),
    signatures,
    h("p", {}, `You buy ${a.quantity} × ${a.title} (item ${a.sku}) from vendor `
      + `${shortDid(a.vendor)} for ${price(a.price)}`, a.agent
      ? `, accepted for you by assistant ${shortDid(a.agent)}.` : ".",
    " Signed ", timeEl(h, a.issued_at), "."),
    h("h3", {}, "The vendor may use"), vendorTerms,
    a.vendor_terms.delete_on_revocation ? h("p", {}, "It deletes your data when you revoke consent.") : null,
    h("p", {class: "meta"}, `Your terms: ${customerTerms(a.customer_terms)}`),
    h("details", {}, h("summary", {}, "Keys and hashes"),
      h("dl", {}, h("dt", {}, "Agreement"), h("dd", {}, a.id),
        h("dt", {}, "Your key for this deal"), h("dd", {class: "mono"}, a.buyer),
        h("dt", {}, "Vendor's key"), h("dd", {class: "mono"}, a.vendor),
        h("dt", {}, "Terms hash"), h("dd", {class: "mono"}, a.terms_hash))));
}

export function create() {
  const listEl = h("div", {class: "agreements"});
  const empty = h("p", {class: "empty"}, "No agreements yet: accept an offer to make one.");
  return {
    title: "Agreements",
    root: h("div", {class: "view"}, h("h1", {}, "Agreements"),
      h("p", {class: "hint"}, "Each agreement is signed by the vendor and by you; your agent "
        + "checks both signatures again every time it shows one."), empty, listEl),
    async refresh() {
      const all = await api("GET", "/v1/agreements");
      const detailed = await Promise.all(all.reverse().map((a) =>
        api("GET", `/v1/agreements/${a.id}/terms`)));
      keyed(listEl, detailed, (a) => a.id, card);
      empty.hidden = detailed.length > 0;
    },
  };
}
