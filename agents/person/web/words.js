// Each event of the stream as one sentence a person reads in the activity feed.

import {attribute, days, list, price, purpose, sentenceCase, shortDid} from "./format.js";

const vendor = (e) => (e.vendor ? `vendor ${shortDid(e.vendor)}` : "the vendor");
const fields = (e) => list((e.fields ?? []).map(attribute));
const clauses = (e) => list((e.conflicts ?? []).map((c) => c.clause.replaceAll("_", " ")));

const SENTENCES = {
  intent_posted: (e) => `You posted an intent for ${e.category}.`,
  intent_heard: (e) => {
    const n = e.peers ?? e.heard_by ?? e.count;
    return n === undefined ? "Your intent went out on the network."
      : n === 0 ? "No peer heard your intent: no vendor is listening for it right now."
        : `Your intent was heard by ${n} peer${n === 1 ? "" : "s"}.`;
  },
  offer_received: (e) => `Offer from ${vendor(e)}: ${e.title}, ${price(e.price)}`
    + (e.conflicts?.length ? ` (it breaks your terms: ${clauses(e)}).` : "."),
  offer_refused: (e) => `Refused ${e.title} from ${vendor(e)}: it breaks your terms (${clauses(e)}).`,
  counter_answered: (e) => `${vendor(e)} answered your counter: ${price(e.price)}.`,
  offer_ended: (e) => `${vendor(e)} ended its offer${e.reason ? `: ${e.reason}` : "."}`,
  offer_accepted: (e) => `You accepted ${price(e.price)} from ${vendor(e)}.`,
  agreement_signed: (e) => `Agreement signed by both: ${e.sku ?? ""} for ${price(e.price)}.`,
  agreement_acknowledged: () => "The vendor confirmed it stored the agreement.",
  agreement_void: (e) => `The agreement is void: ${e.reason || "the vendor refused it"}.`,
  disclosure_sent: (e) => `Sent ${fields(e)} to ${vendor(e)}, sealed, for `
    + `${list((e.purposes ?? []).map(purpose))}, kept ${days(e.retention_days ?? 0)}.`,
  deletion_receipt: (e) => `${vendor(e)} deleted ${fields(e)} and sent a signed deletion receipt.`,
  vendor_in_breach: (e) => `${vendor(e)} did not prove it deleted ${fields(e)}: marked in breach.`,
  credit_earned: (e) => `Loyalty credit of ${price({amount: e.value, currency: e.currency})} from ${vendor(e)}.`,
  credit_presented: () => "You presented a loyalty credit.",
  credit_spent: () => "A loyalty credit was spent on a deal.",
  assistant_granted: (e) => `You granted assistant ${shortDid(e.assistant)} its limits.`,
  assistant_revoked: (e) => `You revoked assistant ${shortDid(e.assistant)}.`,
  assistant_connected: (e) => `Assistant ${shortDid(e.assistant)} connected.`,
  assistant_move: (e) => `Assistant ${shortDid(e.assistant)} sent a ${e.type}`
    + (e.price ? ` at ${price(e.price)}` : "") + (e.reason ? `: ${e.reason}` : "."),
  assistant_report: (e) => `Assistant ${shortDid(e.assistant)} reports: ${e.text ?? e.report ?? ""}`,
  profile_changed: (e) => `You changed ${attribute(e.name ?? "an attribute")} in your profile.`,
  closing: () => "Your agent is stopping.",
};

export function sentence(kind, event) {
  const make = SENTENCES[kind];
  return sentenceCase(make ? make(event) : `${kind.replaceAll("_", " ")}.`);
}

/** Events that warrant a second look: shown emphasised in the feed. */
export const NOTABLE = new Set(["offer_refused", "vendor_in_breach", "agreement_void",
  "disclosure_sent"]);
