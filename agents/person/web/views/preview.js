// The accept dialog: before signing, exactly which attributes will be sealed to this
// vendor, for which purposes, until when, and a plain warning for anything it asks for
// that the profile does not hold. After signing: agreed, or pending (the vendor's
// acknowledgement is owed, spec §7.1), said plainly.

import {api} from "../api.js";
import {busy, h} from "../dom.js";
import {CLAUSES, attribute, day, days, list, money, purpose, shortDid} from "../format.js";

export function createPreview(ctx) {
  const dialog = document.getElementById("preview");
  const body = document.getElementById("preview-body");
  const error = document.getElementById("preview-error");
  const accept = document.getElementById("preview-accept");
  const cancel = document.getElementById("preview-cancel");
  let current = null;

  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    current = null;
    ctx.refresh();
  });

  accept.addEventListener("click", async () => {
    const shown = current;
    if (!shown) return;
    const waiting = h("p", {class: "done", role: "status"},
      "Signing, and waiting for the vendor's signature and its confirmation…");
    body.append(waiting);
    await busy(accept, error, async () => {
      try {
        const agreement = await api("POST", `/v1/offers/${shown.ref}/accept`);
        const pending = agreement.state === "pending";
        body.replaceChildren(
          h("p", {class: pending ? "warn" : "good", role: "status", id: "accept-result"},
            pending
              ? "Signed by both. The vendor has not yet confirmed that it stored the agreement: "
                + "your agent keeps delivering it, and the agreement shows as pending until then."
              : "Agreed: signed by both, and stored by both."),
          h("p", {}, `${shown.title} for ${money(agreement.price_minor, agreement.currency)}.`),
          h("p", {}, h("a", {href: "#/agreements", onclick: () => dialog.close()},
            "See the agreement")));
        accept.hidden = true;
        cancel.textContent = "Close";
      } finally {
        waiting.remove();
      }
    });
  });

  function render(p) {
    const d = p.disclosure;
    const sealed = d
      ? [h("ul", {class: "sealed"}, d.fields.map((f) => h("li", {}, h("strong", {}, attribute(f))))),
        h("p", {}, `Used only for ${list(d.purposes.map(purpose))}, kept until `,
          h("strong", {}, day(d.retain_until)), ` (${days(d.retention_days)}); then the vendor `
          + "must delete it, and it must delete it sooner if you revoke your consent.")]
      : [h("p", {}, "Nothing: accepting discloses none of your profile to this vendor.")];
    const requests = p.requests.length
      ? h("ul", {class: "asks"}, p.requests.map((r) => h("li", {},
        `${attribute(r.field)}: for ${purpose(r.purpose)}, kept ${days(r.retention_days)}`,
        r.held ? "" : " (not in your profile)")))
      : h("p", {}, "It asks for no personal data.");
    return [
      h("p", {class: "lead"}, `Accept ${p.title} for `, h("strong", {}, money(p.price_minor, p.currency)),
        ` from vendor ${shortDid(p.vendor)}?`),
      h("h3", {}, "Sealed to this vendor if you accept"), ...sealed,
      p.warnings.length ? h("ul", {class: "warnings", role: "alert"},
        p.warnings.map((w) => h("li", {}, w))) : null,
      p.conflicts.length ? h("div", {class: "conflicts"}, h("h3", {}, "Breaks your terms"),
        h("ul", {}, p.conflicts.map((c) => h("li", {}, h("strong", {}, CLAUSES[c.clause]), `: ${c.detail}`))))
        : null,
      h("details", {}, h("summary", {}, "Everything the vendor asks for"), requests),
      h("p", {class: "hint"}, "Accepting signs the agreement with a key made for this intent "
        + "alone; your data goes sealed to the vendor's key, with a consent receipt you can revoke."),
    ];
  }

  return async function open(ref) {
    error.textContent = "";
    const p = await api("GET", `/v1/offers/${ref}/preview`);
    current = p;
    body.replaceChildren(...render(p).filter(Boolean));
    accept.hidden = false;
    accept.disabled = !p.can_accept;
    cancel.textContent = "Cancel";
    dialog.showModal();
    (p.can_accept ? accept : cancel).focus();
  };
}
