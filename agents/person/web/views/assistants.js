// Assistants (fourth parties): grant one limits, revoke it, read everything it did.

import {api} from "../api.js";
import {busy, field, h, keyed, uid} from "../dom.js";
import {
  attribute, currencies, list, parseAmount, price, sentenceCase, shortDid, timeEl,
} from "../format.js";
import {sentence} from "../words.js";

const GRANT_STATES = {active: "Active", revoked: "Revoked", expired: "Expired"};

function scopeWords(scope) {
  const parts = [`categories ${list(scope.categories)}`,
    scope.max_price ? `up to ${price(scope.max_price)}` : "no price cap"];
  parts.push(scope.may_counter ? "may counter" : "may not counter");
  parts.push(scope.may_accept ? "may accept" : "may not accept");
  parts.push(scope.may_disclose?.length
    ? `may disclose ${list(scope.may_disclose.map(attribute))}` : "may disclose nothing");
  return sentenceCase(`${parts.join("; ")}.`);
}

function grantCard(ctx, g) {
  const titleId = uid("grant");
  const error = h("p", {class: "error", role: "alert"});
  const revoke = g.state === "active"
    ? h("button", {type: "button", class: "danger", onclick: async (e) => {
      await busy(e.currentTarget, error, async () => {
        await api("POST", `/v1/assistants/grants/${g.id}/revoke`);
        await ctx.refresh();
      });
    }}, "Revoke") : null;
  return h("article", {class: "card grant", "aria-labelledby": titleId},
    h("header", {}, h("h3", {id: titleId}, `Assistant ${shortDid(g.assistant)}`),
      h("span", {class: `badge badge-${g.state}`}, GRANT_STATES[g.state] ?? g.state)),
    h("p", {}, scopeWords(g.scope)),
    h("p", {class: "meta"}, "Granted ", timeEl(h, g.created_at), "; until ", timeEl(h, g.expires_at), "."),
    revoke ? h("div", {class: "actions"}, revoke) : null, error);
}

export function create() {
  const grants = h("div", {class: "grants"});
  const none = h("p", {class: "empty"}, "You have granted no assistant anything.");
  const log = h("ol", {class: "timeline"});
  const noLog = h("p", {class: "empty"}, "No assistant has done anything for you yet.");
  const error = h("p", {class: "error", role: "alert"});
  const made = h("div", {role: "status"});
  const did = h("input", {name: "assistant", required: true, autocomplete: "off",
    placeholder: "did:key:z6Mk…", class: "mono"});
  const categories = h("input", {name: "categories", required: true, placeholder: "outdoor"});
  const cap = h("input", {name: "max_price", inputmode: "decimal", placeholder: "250.00"});
  const currency = h("select", {name: "currency"});
  const disclose = h("input", {name: "disclose", placeholder: "size, shipping_address"});
  const daysInput = h("input", {name: "days", type: "number", min: 1, max: 365, value: 7});
  const check = (name, label) => {
    const id = uid(name);
    return h("label", {class: "check", for: id}, h("input", {type: "checkbox", id, name}), ` ${label}`);
  };
  const form = h("form", {class: "card", novalidate: true, "aria-labelledby": "grant-title"},
    h("h2", {id: "grant-title"}, "Grant an assistant"),
    h("p", {class: "hint"}, "It acts for you only within these limits; vendors check them on "
      + "every move, and you can revoke it at any time."),
    field("The assistant's key", did, "it prints it at `intentcast assistant init`"),
    field("Categories", categories, "comma-separated, e.g. outdoor, kitchen"),
    h("div", {class: "row"}, field("Price cap", cap, "leave empty for none"), field("Currency", currency)),
    h("div", {class: "checks"}, check("may_counter", "May counter"), check("may_accept", "May accept")),
    field("Attributes it may disclose", disclose, "comma-separated; empty: none"),
    field("For how many days", daysInput),
    h("div", {class: "actions"}, h("button", {type: "submit", class: "primary"}, "Grant")),
    error, made);
  const view = {
    title: "Assistants",
    async refresh() {
      if (!currency.children.length) {
        currency.replaceChildren(...currencies().map((c) => h("option", {value: c, selected: c === "EUR"}, c)));
      }
      const [all, moves] = await Promise.all([api("GET", "/v1/assistants/grants"),
        api("GET", "/v1/assistants/log")]);
      keyed(grants, all.reverse(), (g) => g.id, (g) => grantCard(view, g));
      none.hidden = all.length > 0;
      keyed(log, moves.reverse().slice(0, 100), (m) => m.seq, (m) =>
        h("li", {}, timeEl(h, m.at), " ", sentence(m.kind === "assistant_action" ? "assistant_move" : m.kind, m)));
      noLog.hidden = moves.length > 0;
    },
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    made.replaceChildren();
    await busy(form.querySelector("button[type=submit]"), error, async () => {
      const body = {
        assistant: did.value.trim(),
        categories: categories.value.split(",").map((c) => c.trim()).filter(Boolean),
        currency: currency.value,
        may_counter: form.querySelector("input[name=may_counter]").checked,
        may_accept: form.querySelector("input[name=may_accept]").checked,
        disclose: disclose.value.split(",").map((c) => c.trim()).filter(Boolean),
        expires_in: Number(daysInput.value || 7) * 86400,
      };
      if (cap.value.trim()) {
        const amount = parseAmount(cap.value, currency.value);
        if (!amount) throw new Error(`"${cap.value}" is not an amount: write it like 250.00`);
        body.max_price = amount;
      }
      const grant = await api("POST", "/v1/assistants/grants", body);
      const file = JSON.stringify(grant.file, null, 2);
      made.replaceChildren(
        h("p", {class: "good"}, `Granted. Give the assistant this file and run `,
          h("code", {}, "intentcast assistant run … --delegation grant.json"), ":"),
        h("textarea", {readonly: true, rows: 6, class: "mono", "aria-label": "The grant file"}, file));
      await view.refresh();
    });
  });
  view.root = h("div", {class: "view"}, h("h1", {}, "Assistants"), form,
    h("section", {"aria-labelledby": "grants-title"}, h("h2", {id: "grants-title"}, "Your grants"), none, grants),
    h("section", {"aria-labelledby": "log-title"}, h("h2", {id: "log-title"}, "What assistants did"), noLog, log));
  return view;
}
