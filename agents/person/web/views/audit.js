// The audit log as a timeline, newest first, with a "verify" action that checks the hash
// chain and names the first entry that no longer fits.

import {api} from "../api.js";
import {busy, h, keyed} from "../dom.js";
import {shortDid, timeEl} from "../format.js";
import {sentence} from "../words.js";

const AUDIT_TO_EVENT = {
  intent_sent: "intent_posted", disclosed: "disclosure_sent",
  deletion_confirmed: "deletion_receipt", consent_breach: "vendor_in_breach",
  assistant_action: "assistant_move", attribute_set: "profile_changed",
};

function entryRow(e) {
  const kind = AUDIT_TO_EVENT[e.kind] ?? e.kind;
  return h("li", {class: "entry"},
    h("span", {class: "seq", "aria-label": `entry ${e.seq}`}, `#${e.seq}`),
    timeEl(h, e.at), " ",
    h("span", {}, sentence(kind, e.data)),
    e.party ? h("span", {class: "meta"}, ` · ${shortDid(e.party)}`) : null);
}

export function create() {
  const timeline = h("ol", {class: "timeline", reversed: true});
  const empty = h("p", {class: "empty"}, "Nothing has bound you or disclosed your data yet.");
  const result = h("p", {role: "status"});
  const count = h("p", {class: "meta"});
  const verify = h("button", {type: "button", class: "primary"}, "Verify the chain");
  verify.addEventListener("click", () => busy(verify, result, async () => {
    const r = await api("GET", "/v1/audit/verify");
    result.className = r.intact ? "good" : "bad";
    result.textContent = r.intact
      ? `Intact: ${r.entries} entries, each linked to the one before by its hash.`
      : `Tampered: entry #${r.first_broken} is the first that no longer fits the chain.`;
  }));
  return {
    title: "Audit log",
    root: h("div", {class: "view"}, h("h1", {}, "Audit log"),
      h("p", {class: "hint"}, "Everything that bound you or disclosed your data, in a "
        + "hash-chained log in your own store: changing any entry breaks every later link."),
      h("div", {class: "actions"}, verify), result, count, empty, timeline),
    async refresh() {
      const log = await api("GET", "/v1/audit?limit=200");
      const entries = log.entries.reverse();
      keyed(timeline, entries, (e) => e.seq, entryRow);
      empty.hidden = entries.length > 0;
      count.textContent = log.total > entries.length ? `The newest ${entries.length} of ${log.total} entries.` : "";
    },
  };
}
