// Your data: what each vendor received under which consent (revoke it; the deletion
// receipt or the breach appears when it comes), and the profile: names shown, values only
// when asked for, sealed in the person's own store.

import {api} from "../api.js";
import {busy, field, h, keyed, uid} from "../dom.js";
import {attribute, day, list, purpose, shortDid, timeEl} from "../format.js";

const CONSENT_STATES = {
  active: ["", "Active: the vendor holds this data."],
  deleted: ["good", "Deleted: the vendor sent a signed deletion receipt."],
  breach: ["bad", "In breach: the vendor did not prove it deleted this data in time."],
  expired: ["", "Retention over: the vendor had to delete it."],
};

function consentCard(ctx, c) {
  const titleId = uid("consent");
  const error = h("p", {class: "error", role: "alert"});
  const [tone, stateText] = CONSENT_STATES[c.state] ?? ["", c.state];
  const revoke = c.state === "active"
    ? h("button", {type: "button", class: "danger", onclick: async (e) => {
      await busy(e.currentTarget, error, async () => {
        e.currentTarget.textContent = "Revoking: waiting for the vendor's deletion receipt…";
        await api("POST", `/v1/consents/${c.id}/revoke`);
        await ctx.refresh();
      });
    }}, "Revoke consent") : null;
  return h("article", {class: `card consent consent-${c.state}`, "aria-labelledby": titleId,
    "data-consent": c.id},
  h("header", {}, h("h3", {id: titleId}, `${list(c.fields.map(attribute))} to vendor ${shortDid(c.vendor)}`)),
  h("p", {class: `state ${tone}`}, stateText),
  h("p", {}, `For ${list(c.purposes.map(purpose))}. Sent `, timeEl(h, c.disclosed_at),
    `; to be kept until ${day(c.retain_until)} at the latest.`),
  c.revoked_at ? h("p", {}, "Revoked ", timeEl(h, c.revoked_at), ".") : null,
  c.deletion_receipt_hex ? h("details", {class: "receipt"},
    h("summary", {}, "Deletion receipt (signed by the vendor)"),
    h("p", {class: "mono"}, `${c.deletion_receipt_hex.length / 2} bytes: ${c.deletion_receipt_hex.slice(0, 64)}…`)) : null,
  revoke ? h("div", {class: "actions"}, revoke) : null,
  error);
}

function attributeRow(name) {
  const error = h("span", {class: "error", role: "alert"});
  const value = h("output", {class: "value", "aria-live": "polite"});
  const show = h("button", {type: "button", class: "quiet", "aria-expanded": "false"}, "Show");
  show.addEventListener("click", async () => {
    if (show.getAttribute("aria-expanded") === "true") {
      value.textContent = "";
      show.textContent = "Show";
      show.setAttribute("aria-expanded", "false");
      return;
    }
    await busy(show, error, async () => {
      const found = await api("GET", `/v1/profile/${encodeURIComponent(name)}`);
      value.textContent = found.value;
      show.textContent = "Hide";
      show.setAttribute("aria-expanded", "true");
    });
  });
  show.setAttribute("aria-label", `Show ${attribute(name)}`);
  return h("li", {class: "attribute"}, h("span", {class: "name"}, attribute(name)),
    h("span", {class: "sealed-note"}, "sealed"), value, show, error);
}

export function create() {
  const consents = h("div", {class: "consents"});
  const noConsents = h("p", {class: "empty"}, "You have disclosed nothing to any vendor yet.");
  const names = h("ul", {class: "profile"});
  const noNames = h("p", {class: "empty"}, "Your profile is empty.");
  const error = h("p", {class: "error", role: "alert"});
  const done = h("p", {class: "done", role: "status"});
  const nameInput = h("input", {name: "name", required: true, autocomplete: "off",
    pattern: "[a-z][a-z0-9_]{0,31}", placeholder: "shipping_address"});
  const valueInput = h("input", {name: "value", required: true, autocomplete: "off", maxlength: 1000});
  const form = h("form", {class: "row", novalidate: true},
    field("Name", nameInput, "lowercase, e.g. email, shipping_address"),
    field("Value", valueInput),
    h("button", {type: "submit"}, "Save, sealed"));
  const view = {
    title: "Your data",
    leave() {  // values shown on demand are hidden again once the person looks elsewhere
      for (const button of names.querySelectorAll("button[aria-expanded=true]")) button.click();
    },
    async refresh() {
      const [held, profile] = await Promise.all([api("GET", "/v1/consents"), api("GET", "/v1/profile")]);
      keyed(consents, held.reverse(), (c) => c.id, (c) => consentCard(view, c));
      noConsents.hidden = held.length > 0;
      keyed(names, profile, (n) => n, attributeRow);
      noNames.hidden = profile.length > 0;
    },
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    done.textContent = "";
    await busy(form.querySelector("button"), error, async () => {
      const name = nameInput.value.trim();
      if (!/^[a-z][a-z0-9_]{0,31}$/.test(name)) {
        throw new Error("A name is lowercase letters, digits and _, starting with a letter.");
      }
      if (!valueInput.value) throw new Error("Give it a value.");
      await api("PUT", `/v1/profile/${name}`, {value: valueInput.value});
      nameInput.value = "";
      valueInput.value = "";
      done.textContent = `${attribute(name)} saved, sealed in your store.`;
      await view.refresh();
    });
  });
  view.root = h("div", {class: "view"},
    h("h1", {}, "Your data"),
    h("section", {"aria-labelledby": "consents-title"},
      h("h2", {id: "consents-title"}, "What vendors received"),
      h("p", {class: "hint"}, "Each disclosure was sealed to one vendor's key under a consent "
        + "receipt. Revoke it and the vendor must delete the data and prove it."),
      noConsents, consents),
    h("section", {"aria-labelledby": "profile-title"},
      h("h2", {id: "profile-title"}, "Your profile"),
      h("p", {class: "hint"}, "Sealed in your own store. A vendor gets an attribute only when "
        + "you accept a deal that asks for it; values show here only when you ask."),
      noNames, names, form, error, done));
  return view;
}
