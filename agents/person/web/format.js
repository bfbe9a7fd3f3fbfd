// Money as money, times as dates, keys as short names, protocol words as plain words: the
// person never reads minor units, Unix seconds or reason codes. Numbers and dates follow
// the browser's locale.

let exponents = {};

/** The minor-unit exponents of ISO 4217 currencies, from GET /v1/page. */
export function setCurrencies(map) {
  exponents = map;
}

export function currencies() {
  return Object.keys(exponents);
}

function exponent(currency) {
  return exponents[currency] ?? 2;
}

/** An amount in minor units, as money: money(20000, "EUR") is "€200.00" (locale's way). */
export function money(minor, currency) {
  if (minor === null || minor === undefined) return "no limit";
  const digits = exponent(currency);
  try {
    return new Intl.NumberFormat(undefined, {
      style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(minor / 10 ** digits);
  } catch {
    return `${(minor / 10 ** digits).toFixed(digits)} ${currency}`;
  }
}

/** A Money object ({amount, currency}) as money. */
export function price(value) {
  return value ? money(value.amount, value.currency) : "no limit";
}

/**
 * What a person typed as an amount of `currency`, as the API's decimal string ("180.50"),
 * or null. Either "." or "," is the decimal mark when the currency has that many minor
 * digits after it ("180,50"); otherwise marks group thousands ("1,000" and "1.000" are 1000).
 */
export function parseAmount(text, currency) {
  let s = String(text).replace(/[\s\u00a0'’]/g, "");
  if (!/^[\d.,]+$/.test(s)) return null;
  const mark = Math.max(s.lastIndexOf("."), s.lastIndexOf(","));
  if (mark >= 0) {
    const whole = s.slice(0, mark).replace(/[.,]/g, "");
    const fraction = s.slice(mark + 1);
    const decimal = fraction.length > 0 && fraction.length <= exponent(currency);
    s = decimal ? `${whole || "0"}.${fraction}` : whole + fraction;
  }
  return /^\d{1,13}(\.\d{1,3})?$/.test(s) ? s : null;
}

const dateTime = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
const dateOnly = new Intl.DateTimeFormat(undefined, {dateStyle: "medium"});
const timeOnly = new Intl.DateTimeFormat(undefined, {timeStyle: "medium"});

/** Unix seconds as a date and time in the person's locale. */
export function when(unix) {
  return unix ? dateTime.format(new Date(unix * 1000)) : "";
}

export function day(unix) {
  return unix ? dateOnly.format(new Date(unix * 1000)) : "";
}

export function clock(unix) {
  return unix ? timeOnly.format(new Date(unix * 1000)) : "";
}

/** A <time> element: readable text, the machine form in its datetime attribute. */
export function timeEl(h, unix, style = when) {
  return h("time", {datetime: new Date(unix * 1000).toISOString()}, style(unix));
}

export function days(n) {
  if (n === 0) return "not kept";
  return n === 1 ? "1 day" : `${new Intl.NumberFormat().format(n)} days`;
}

/** A did:key, short enough to read and long enough to tell two apart. */
export function shortDid(did) {
  if (!did) return "";
  const key = did.replace(/^did:key:/, "");
  return key.length > 14 ? `${key.slice(0, 8)}…${key.slice(-4)}` : key;
}

export function attribute(name) {
  return name.replaceAll("_", " ");
}

export const PURPOSES = {
  fulfilment: "fulfilling the order", delivery: "delivery", receipt: "sending a receipt",
  support: "customer support", warranty: "warranty", marketing: "marketing",
  analytics: "analytics", personalisation: "personalisation",
};

export function purpose(name) {
  return PURPOSES[name] ?? name;
}

export const CLAUSES = {
  purposes: "Purposes", retention_days: "Retention", no_resale: "No resale",
  no_profiling: "No profiling", delete_on_revocation: "Delete on revocation",
};

export const OFFER_STATES = {
  awaiting_offer: "Waiting for an offer",
  buyer_turn: "Your move",
  seller_turn: "Waiting for the vendor's answer",
  accepted: "Accepted: waiting for the vendor to sign",
  seller_signed: "The vendor signed: countersigning",
  countersigned: "Signed by both: waiting for the vendor to confirm it stored the agreement",
  agreed: "Agreed: signed by both and stored by both",
  rejected: "Rejected",
  withdrawn: "Ended",
  expired: "Expired",
  void: "Void: the vendor refused the late countersignature",
};

export const INTENT_STATES = {open: "Open", unheard: "Nobody heard it yet", agreed: "Agreed",
  withdrawn: "Withdrawn",
  expired: "Expired"};

export function list(items) {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** One data request of an offer in words: "email, for sending a receipt, kept 30 days". */
export function request(r) {
  const extra = [r.resale ? "resold" : "", r.profiling ? "used for profiling" : ""].filter(Boolean);
  return `${attribute(r.field)}, for ${purpose(r.purpose)}, kept ${days(r.retention_days)}`
    + (extra.length ? `, ${list(extra)}` : "");
}

/** The person's terms in words. */
export function customerTerms(t) {
  const parts = [`your data only for ${list(t.purposes.map(purpose))}`,
    `kept at most ${days(t.retention_days)}`];
  if (t.no_resale) parts.push("never resold");
  if (t.no_profiling) parts.push("never used for profiling");
  if (t.delete_on_revocation) parts.push("deleted when you revoke consent");
  return `${parts.join("; ")}.`;
}

export function sentenceCase(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}
