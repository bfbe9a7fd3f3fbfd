// The portable cart (one intent for everything in it) and loyalty credits (each good with
// the vendor that issued it only).

import {api} from "../api.js";
import {busy, field, h, keyed} from "../dom.js";
import {currencies, money, parseAmount, shortDid, timeEl} from "../format.js";

const CREDIT_STATES = {unused: "Unused", presented: "Presented on an offer", spent: "Spent"};

export function create() {
  const items = h("ul", {class: "cart"});
  const emptyCart = h("p", {class: "empty"}, "Your cart is empty.");
  const credits = h("ul", {class: "credits"});
  const noCredits = h("p", {class: "empty"}, "No loyalty credits yet: vendors may give some with a deal.");
  const error = h("p", {class: "error", role: "alert"});
  const done = h("p", {class: "done", role: "status"});
  const category = h("input", {name: "category", required: true, placeholder: "outdoor.camping.stoves"});
  const description = h("input", {name: "description", required: true, maxlength: 280,
    placeholder: "a small gas stove"});
  const cap = h("input", {name: "max_price", inputmode: "decimal", placeholder: "40.00"});
  const currency = h("select", {name: "currency"});
  const quantity = h("input", {name: "quantity", type: "number", min: 1, max: 10000, value: 1});
  const add = h("form", {class: "card", novalidate: true, "aria-labelledby": "cart-add-title"},
    h("h2", {id: "cart-add-title"}, "Add to your cart"),
    field("Category", category), field("What", description),
    h("div", {class: "row"}, field("Up to (each)", cap, "optional"), field("Currency", currency),
      field("Quantity", quantity)),
    h("div", {class: "actions"}, h("button", {type: "submit"}, "Add")));
  const post = h("button", {type: "button", class: "primary"}, "Ask the market for the whole cart");

  const view = {
    title: "Cart & credits",
    async refresh() {
      if (!currency.children.length) {
        currency.replaceChildren(...currencies().map((c) => h("option", {value: c, selected: c === "EUR"}, c)));
      }
      const [cart, held] = await Promise.all([api("GET", "/v1/cart"), api("GET", "/v1/credits")]);
      keyed(items, cart, (i) => i.id, (i) => {
        const remove = h("button", {type: "button", class: "quiet",
          "aria-label": `Remove ${i.description}`, onclick: async (e) => {
            await busy(e.currentTarget, error, async () => {
              await api("DELETE", `/v1/cart/${i.id}`);
              await view.refresh();
            });
          }}, "Remove");
        return h("li", {}, h("span", {}, `${i.quantity} × ${i.description}`),
          h("span", {class: "meta"}, ` ${i.category}`, i.max_price
            ? ` · up to ${money(i.max_price, i.currency)} each` : ""), remove);
      });
      emptyCart.hidden = cart.length > 0;
      post.hidden = cart.length === 0;
      keyed(credits, held, (c) => c.credit, (c) => h("li", {},
        h("strong", {}, money(c.value_minor, c.currency)),
        ` from vendor ${shortDid(c.vendor)}: ${CREDIT_STATES[c.state] ?? c.state}`));
      noCredits.hidden = held.length > 0;
    },
  };
  add.addEventListener("submit", async (event) => {
    event.preventDefault();
    await busy(add.querySelector("button"), error, async () => {
      const body = {category: category.value.trim(), description: description.value.trim(),
        currency: currency.value, quantity: Number(quantity.value || 1)};
      if (cap.value.trim()) {
        const amount = parseAmount(cap.value, currency.value);
        if (!amount) throw new Error(`"${cap.value}" is not an amount: write it like 40.00`);
        body.max_price = amount;
      }
      await api("POST", "/v1/cart", body);
      description.value = "";
      await view.refresh();
    });
  });
  post.addEventListener("click", async () => {
    await busy(post, error, async () => {
      const posted = await api("POST", "/v1/cart/intent", {});
      done.replaceChildren(`Posted as one intent (open until `, timeEl(h, posted.expires_at),
        "): its offers appear under ", h("a", {href: "#/intents"}, "Intents & offers"), ".");
      await view.refresh();
    });
  });
  view.root = h("div", {class: "view"}, h("h1", {}, "Cart & credits"),
    h("section", {"aria-labelledby": "cart-title"}, h("h2", {id: "cart-title"}, "Your cart"),
      h("p", {class: "hint"}, "Kept in your own store; take it to every vendor at once."),
      emptyCart, items, h("div", {class: "actions"}, post), error, done),
    add,
    h("section", {"aria-labelledby": "credits-title"}, h("h2", {id: "credits-title"}, "Loyalty credits"),
      h("p", {class: "hint"}, "Given to a pseudonym of yours that only that vendor knows."),
      noCredits, credits));
  return view;
}
