// Intents and their offers: post an intent; watch offers arrive; counter, accept, reject,
// withdraw. Beside every offer: what data it asks for, why, for how long, and whether that
// fits the person's terms (conflicts named by clause; refused offers shown, not hidden).

import {api} from "../api.js";
import {busy, field, h, keyed, uid} from "../dom.js";
import {
  CLAUSES, INTENT_STATES, OFFER_STATES, attribute, currencies, customerTerms, money,
  parseAmount, price, purpose, request, shortDid, timeEl,
} from "../format.js";

const TOPIC = "/intentcast/1/intents/";
const EXPIRIES = [[3600, "1 hour"], [86400, "1 day"], [7 * 86400, "7 days"], [30 * 86400, "30 days"]];
const RECENT_CLOSED = 10;
const ORDER = {buyer_turn: 0, seller_turn: 1, accepted: 2, seller_signed: 2, countersigned: 2,
  agreed: 3};
/** Offers waiting for the person first, then those in flight, agreed, and the rest. */

function topCategory(category) {
  return category.split(".")[0];
}

function option(value, label, selected) {
  return h("option", {value, selected}, label);
}

function intentForm(ctx, onPosted) {
  const {vocab} = ctx;
  const terms = vocab.default_terms;
  const error = h("p", {class: "error", role: "alert"});
  const done = h("p", {class: "done", role: "status"});
  const category = h("input", {name: "category", required: true, autocomplete: "off",
    placeholder: "outdoor.camping.tents", pattern: "[a-z0-9][a-z0-9-]*(\\.[a-z0-9][a-z0-9-]*)*"});
  const description = h("textarea", {name: "description", required: true, rows: 2, maxlength: 1000,
    placeholder: "Two-person backpacking tent, under 2 kg"});
  const cap = h("input", {name: "max_price", inputmode: "decimal", autocomplete: "off",
    placeholder: "200.00"});
  const currency = h("select", {name: "currency"},
    currencies().map((c) => option(c, c, c === "EUR")));
  const quantity = h("input", {name: "quantity", type: "number", min: 1, max: 1000000, value: 1});
  const country = h("input", {name: "country", maxlength: 2, size: 3, autocomplete: "country",
    placeholder: "DE", pattern: "[A-Za-z]{2}"});
  const postcode = h("input", {name: "postcode", maxlength: 5, size: 6, placeholder: "10",
    pattern: "[A-Za-z0-9]{1,5}"});
  const expires = h("select", {name: "expires_in"},
    EXPIRIES.map(([s, label]) => option(s, label, s === 86400)));
  const assistant = h("select", {name: "assistant"}, option("", "No assistant: I decide myself"));

  const disclosedRows = h("div", {class: "rows"});
  const addRow = () => {
    const name = h("input", {name: "disclose-name", autocomplete: "off", list: "profile-names",
      pattern: "[a-z][a-z0-9_]{0,31}", placeholder: "size"});
    const value = h("input", {name: "disclose-value", maxlength: 280, placeholder: "2 persons"});
    const row = h("div", {class: "row"}, field("Attribute", name), field("Value", value),
      h("button", {type: "button", class: "quiet", onclick: () => row.remove()}, "Remove"));
    disclosedRows.append(row);
    name.focus();
  };

  const purposeBoxes = vocab.purposes.map((p) => {
    const id = uid("purpose");
    return h("label", {class: "check", for: id},
      h("input", {type: "checkbox", id, name: "purpose", value: p,
        checked: terms.purposes.includes(p)}), ` ${purpose(p)}`);
  });
  const retention = h("input", {name: "retention_days", type: "number", min: 0,
    max: vocab.max_retention_days, value: terms.retention_days});
  const flag = (name, label) => {
    const id = uid(name);
    return h("label", {class: "check", for: id},
      h("input", {type: "checkbox", id, name, checked: terms[name]}), ` ${label}`);
  };

  const form = h("form", {class: "card intent-form", "aria-labelledby": "post-title", novalidate: true},
    h("h2", {id: "post-title"}, "Ask the market"),
    h("p", {class: "hint"}, "Your agent signs this with a key made for this intent alone and "
      + "broadcasts it. Vendors answer with offers; you decide."),
    h("div", {class: "grid"},
      field("What kind of thing", category, "a dotted category, e.g. outdoor.camping.tents"),
      field("What you want, in your words", description),
      h("div", {class: "row"}, field("The most you will pay", cap, "leave empty for no limit"),
        field("Currency", currency), field("Quantity", quantity)),
      h("div", {class: "row"}, field("Country", country, "two letters; optional"),
        field("Postcode prefix", postcode, "coarse: the first digits only"),
        field("Open for", expires))),
    h("fieldset", {},
      h("legend", {}, "Attributes vendors may see with this intent"),
      h("p", {class: "hint"}, "Only what helps them offer the right thing (a size, a colour). "
        + "Your profile stays sealed until you accept a deal."),
      disclosedRows,
      h("button", {type: "button", class: "quiet", onclick: addRow}, "Add an attribute")),
    h("fieldset", {},
      h("legend", {}, "Your terms for your data"),
      h("fieldset", {class: "inline"}, h("legend", {}, "Vendors may use your data only for"),
        purposeBoxes),
      field("Kept for at most (days)", retention),
      h("div", {class: "checks"}, flag("no_resale", "No resale"),
        flag("no_profiling", "No profiling"),
        flag("delete_on_revocation", "Delete it when I revoke consent"))),
    field("Let an assistant negotiate", assistant,
      "only assistants you granted; it acts within the limits you set"),
    h("div", {class: "actions"}, h("button", {type: "submit", class: "primary"}, "Post intent")),
    error, done);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    done.textContent = "";
    const submit = form.querySelector("button[type=submit]");
    await busy(submit, error, async () => {
      const body = {
        category: category.value.trim(), description: description.value.trim(),
        currency: currency.value, quantity: Number(quantity.value || 1),
        expires_in: Number(expires.value),
        terms: {
          purposes: [...form.querySelectorAll("input[name=purpose]:checked")].map((b) => b.value),
          retention_days: Number(retention.value || 0),
          no_resale: form.querySelector("input[name=no_resale]").checked,
          no_profiling: form.querySelector("input[name=no_profiling]").checked,
          delete_on_revocation: form.querySelector("input[name=delete_on_revocation]").checked,
        },
        disclosed: {},
      };
      if (!body.category) throw new Error("Say what kind of thing you want (a category).");
      if (!body.description) throw new Error("Describe what you want.");
      if (!body.terms.purposes.length) throw new Error("Allow at least one purpose for your data.");
      if (cap.value.trim()) {
        const amount = parseAmount(cap.value, currency.value);
        if (!amount) throw new Error(`"${cap.value}" is not an amount: write it like 200.00`);
        body.max_price = amount;
      }
      if (country.value.trim()) body.country = country.value.trim().toUpperCase();
      if (postcode.value.trim()) body.postcode_prefix = postcode.value.trim().toUpperCase();
      if (assistant.value) body.assistant = assistant.value;
      for (const row of disclosedRows.querySelectorAll(".row")) {
        const [name, value] = row.querySelectorAll("input");
        if (name.value.trim()) body.disclosed[name.value.trim()] = value.value;
      }
      const posted = await api("POST", "/v1/intents", body);
      description.value = "";
      const heard = posted.heard_by;
      done.textContent = heard === 0 || posted.state === "unheard"
        ? `Posted, but nobody heard it: ${posted.note || "no peer listens for it yet"}.`
        : heard ? `Posted: ${heard} peer${heard === 1 ? "" : "s"} heard it; its offers appear above as vendors answer.`
          : "Posted: its offers appear above as vendors answer.";
      await onPosted(posted);
    });
  });

  form.setAssistants = (grants) => {
    const chosen = assistant.value;
    assistant.replaceChildren(option("", "No assistant: I decide myself"),
      ...grants.filter((g) => g.state === "active").map((g) =>
        option(g.assistant, `${shortDid(g.assistant)} (${g.scope.categories.join(", ")})`, g.assistant === chosen)));
  };
  return form;
}

function dataAsked(offer) {
  const requests = offer.data?.requests ?? [];
  const conflicts = offer.conflicts ?? [];
  const asked = requests.length
    ? h("ul", {class: "asks"}, requests.map((r) => h("li", {}, request(r))))
    : h("p", {}, "Asks for no personal data.");
  const deletes = offer.data && !offer.data.delete_on_revocation
    ? h("p", {}, "It will not delete your data when you revoke consent.") : null;
  const fit = conflicts.length
    ? h("div", {class: "conflicts"},
      h("p", {class: "bad"}, h("span", {class: "icon", "aria-hidden": "true"}, "✕ "),
        "Breaks your terms:"),
      h("ul", {}, conflicts.map((c) => h("li", {"data-clause": c.clause},
        h("strong", {}, CLAUSES[c.clause] ?? c.clause), `: ${c.detail}`))))
    : h("p", {class: "good"}, h("span", {class: "icon", "aria-hidden": "true"}, "✓ "),
      "Fits your terms.");
  return h("div", {class: "data"}, h("h4", {}, "What it asks of your data"), asked, deletes, fit);
}

function offerRow(ctx, offer, credits) {
  const error = h("p", {class: "error", role: "alert"});
  const refused = offer.state === "rejected" && (offer.conflicts ?? []).length > 0;
  const stateText = refused ? "Refused by your agent: it breaks your terms"
    : OFFER_STATES[offer.state] ?? offer.state;
  const titleId = uid("offer");
  const children = [
    h("div", {class: "offer-head"},
      h("h3", {id: titleId}, offer.title),
      h("span", {class: "price"}, money(offer.price_minor, offer.currency))),
    h("p", {class: "meta"}, `from vendor ${shortDid(offer.vendor)} · item ${offer.sku} · `,
      "updated ", timeEl(h, offer.updated_at)),
    h("p", {class: `state state-${refused ? "refused" : offer.state}`}, stateText,
      offer.note && !refused ? ` (${offer.note})` : ""),
    dataAsked(offer),
  ];
  if (offer.state === "buyer_turn") {
    const amount = h("input", {name: "counter", inputmode: "decimal", autocomplete: "off",
      size: 8, placeholder: money(offer.price_minor, offer.currency)});
    const counter = h("form", {class: "counter", novalidate: true},
      field(`Your price (${offer.currency})`, amount),
      h("button", {type: "submit"}, "Counter"));
    counter.addEventListener("submit", async (event) => {
      event.preventDefault();
      await busy(counter.querySelector("button"), error, async () => {
        const value = parseAmount(amount.value, offer.currency);
        if (!value) throw new Error(`"${amount.value}" is not an amount: write it like 180.00`);
        await api("POST", `/v1/offers/${offer.ref}/counter`, {price: value});
        await ctx.refresh({intent_id: offer.intent_id});
      });
    });
    const accept = h("button", {type: "button", class: "primary",
      onclick: () => ctx.preview(offer.ref)}, "Accept…");
    const reject = h("button", {type: "button", class: "quiet", onclick: async (e) => {
      await busy(e.currentTarget, error, async () => {
        await api("POST", `/v1/offers/${offer.ref}/reject`, {reason: "no, thank you"});
        await ctx.refresh({intent_id: offer.intent_id});
      });
    }}, "Reject");
    const actions = [counter, h("div", {class: "actions"}, accept, reject)];
    const credit = credits.find((c) => c.vendor === offer.vendor && c.state === "unused");
    if (credit) {
      actions.push(h("button", {type: "button", class: "quiet", onclick: async (e) => {
        await busy(e.currentTarget, error, async () => {
          const r = await api("POST", `/v1/offers/${offer.ref}/redeem`);
          error.textContent = `Credit of ${money(r.value_minor, offer.currency)} accepted: counter at the lower price to use it.`;
        });
      }}, `Use my ${money(credit.value_minor, credit.currency)} credit`));
    }
    children.push(h("div", {class: "offer-actions"}, actions));
  }
  children.push(error);
  return h("li", {class: `offer${refused ? " refused" : ""}`, "data-ref": offer.ref,
    "aria-labelledby": titleId}, children);
}

function intentCard(ctx, intent, topics, credits) {
  const titleId = uid("intent");
  const error = h("p", {class: "error", role: "alert"});
  const top = topCategory(intent.category);
  const listening = topics[TOPIC + top] ?? 0;
  const open = intent.state === "open" || intent.state === "unheard";
  let reach = null;
  if (intent.state === "unheard") {
    reach = h("p", {class: "warn"}, `Nobody heard it yet: ${intent.note}.`);
  } else if (open) {
    const heard = intent.heard_by;
    reach = h("p", {class: "meta"}, heard
      ? `Heard by ${heard} peer${heard === 1 ? "" : "s"} when your agent sent it; `
      : "", `${listening} peer${listening === 1 ? "" : "s"} listening for “${top}” intents now.`);
  }
  const cap = intent.constraints?.max_price;
  const offers = h("ol", {class: "offers", "aria-label": "Offers"});
  const sorted = [...intent.offers].sort((a, b) => (ORDER[a.state] ?? 9) - (ORDER[b.state] ?? 9)
    || b.updated_at - a.updated_at);
  keyed(offers, sorted, (o) => o.ref, (o) => offerRow(ctx, o, credits));
  const withdraw = open
    ? h("button", {type: "button", class: "quiet", onclick: async (e) => {
      await busy(e.currentTarget, error, async () => {
        await api("POST", `/v1/intents/${intent.id}/withdraw`, {reason: "withdrawn by the person"});
        await ctx.refresh({intent_id: intent.id});
      });
    }}, "Withdraw") : null;
  return h("article", {class: "card intent", "aria-labelledby": titleId, "data-intent": intent.id},
    h("header", {},
      h("h2", {id: titleId}, intent.description),
      h("span", {class: `badge badge-${intent.state}`}, INTENT_STATES[intent.state] ?? intent.state)),
    h("p", {class: "meta"}, `${intent.category} · up to ${price(cap)}`,
      intent.constraints?.quantity > 1 ? ` · ${intent.constraints.quantity} of them` : "",
      " · posted ", timeEl(h, intent.created_at), " · open until ", timeEl(h, intent.expires_at)),
    h("p", {class: "meta"}, `Your terms: ${customerTerms(intent.terms)}`),
    intent.assistant ? h("p", {class: "meta"}, `Assistant ${shortDid(intent.assistant)} negotiates for you.`) : null,
    reach,
    intent.offers.length ? offers : h("p", {class: "empty"}, open
      ? "No offers yet. They appear here as vendors answer." : "No offers."),
    withdraw ? h("div", {class: "actions"}, withdraw) : null,
    error);
}

export function create(ctx) {
  const intents = new Map();
  let topics = {};
  let credits = [];
  const list = h("div", {class: "intents", "aria-live": "polite"});
  const render = () => {
    const all = [...intents.values()].sort((a, b) => b.created_at - a.created_at);
    const isOpen = (i) => i.state === "open" || i.state === "unheard";
    const shown = [...all.filter(isOpen), ...all.filter((i) => !isOpen(i)).slice(0, RECENT_CLOSED)];
    keyed(list, shown, (i) => i.id, (i) => intentCard(view, i, topics, credits));
    empty.hidden = shown.length > 0;
  };
  const empty = h("p", {class: "empty"}, "You have posted no intents yet.");
  const view = {
    title: "Intents & offers",
    preview: ctx.preview,
    async refresh(event) {
      if (event?.intent_id && intents.has(event.intent_id)) {
        intents.set(event.intent_id, await api("GET", `/v1/intents/${event.intent_id}`));
        render();
        return;
      }
      const [listed, peers, held, grants, profile] = await Promise.all([api("GET", "/v1/intents"),
        api("GET", "/v1/peers"), api("GET", "/v1/credits"), api("GET", "/v1/assistants/grants"),
        api("GET", "/v1/profile")]);
      topics = peers.topics;
      credits = held;
      form.setAssistants(grants);
      names.replaceChildren(...profile.map((n) => h("option", {value: n}, attribute(n))));
      const wanted = listed.sort((a, b) => b.created_at - a.created_at);
      const detailed = await Promise.all(wanted.filter((i, n) => i.state === "open"
        || i.state === "unheard" || n < 20)
        .map((i) => api("GET", `/v1/intents/${i.id}`)));
      intents.clear();
      for (const i of detailed) intents.set(i.id, i);
      render();
    },
  };
  const form = intentForm(ctx, (posted) => view.refresh({intent_id: posted.id, posted: true}));
  const names = h("datalist", {id: "profile-names"});
  view.root = h("div", {class: "view"},
    h("section", {"aria-labelledby": "intents-title"},
      h("h1", {id: "intents-title"}, "Your intents and their offers"),
      empty, list),
    form, names);
  return view;
}

