// The person's page: logs in with the link `intentcast open` printed, then shows one view
// at a time (#/intents, #/agreements, ...) and keeps it live from the event stream.
//
// Plain ES modules, no framework and no build step: the daemon serves these files as they
// are, and the page's Content-Security-Policy allows no script but its own.

import {api, logIn, logOut, whenLoggedOut} from "./api.js";
import {h} from "./dom.js";
import {clock, setCurrencies} from "./format.js";
import {follow} from "./stream.js";
import {create as agreementsView} from "./views/agreements.js";
import {create as assistantsView} from "./views/assistants.js";
import {create as auditView} from "./views/audit.js";
import {create as cartView} from "./views/cart.js";
import {create as dataView} from "./views/data.js";
import {create as intentsView} from "./views/intents.js";
import {createPreview} from "./views/preview.js";
import {NOTABLE, sentence} from "./words.js";

const FEED_LENGTH = 50;
const status = document.getElementById("connection");
const viewEl = document.getElementById("view");
const feed = document.getElementById("feed");
const login = document.getElementById("login");
let current = null;
let views = null;
let stream = null;

function setStatus(state) {
  const words = {
    live: "Live: connected to your agent",
    reconnecting: "Reconnecting to your agent…",
    stopped: "Your agent stopped; reconnecting when it is back…",
    "logged-out": "Not logged in",
  };
  status.textContent = words[state] ?? state;
  status.dataset.state = state;
}

function showLogin(why) {
  stream?.abort();
  stream = null;
  setStatus("logged-out");
  login.hidden = false;
  if (why) document.getElementById("login-why").textContent = why;
  viewEl.replaceChildren();
  for (const id of ["nav", "logout", "activity"]) document.getElementById(id).hidden = true;
}

async function refresh(event) {
  if (!current) return;
  try {
    await current.refresh(event);
  } catch (error) {
    if (error.status !== 401) console.warn("refresh failed", error);
  }
}

function route() {
  const name = (location.hash.match(/^#\/(\w+)/) ?? [])[1] ?? "intents";
  const next = views[name] ?? views.intents;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (next !== current) {
    current?.leave?.();
    current = next;
    viewEl.replaceChildren(current.root);
    document.title = `${current.title}: intentcast`;
  }
  refresh();
}

function addToFeed(kind, event) {
  const item = h("li", {class: NOTABLE.has(kind) ? "notable" : ""},
    h("time", {datetime: new Date(event.at * 1000).toISOString()}, clock(event.at)), " ",
    sentence(kind, event));
  feed.prepend(item);
  while (feed.children.length > FEED_LENGTH) feed.lastElementChild.remove();
}

function onEvent(kind, event) {
  if (kind === "hello") {
    refresh();  // (re)connected: whatever happened in between is read afresh
    return;
  }
  if (kind !== "closing") addToFeed(kind, event);
  refresh(event);
}

async function start() {
  const code = (location.hash.match(/^#login=([A-Za-z0-9_-]+)$/) ?? [])[1];
  if (code) {
    history.replaceState(null, "", "/#/intents");
    try {
      await logIn(code);
    } catch (error) {
      showLogin(`${error.message}.`);
      return;
    }
  }
  whenLoggedOut(() => showLogin("Your agent does not know this page's session any more "
    + "(it restarted, or you logged out). Run this in a terminal to log in again:"));
  let vocab;
  try {
    vocab = await api("GET", "/v1/page");
  } catch (error) {
    if (error.status === 401 || error.status === 403) showLogin();
    else status.textContent = error.message;
    return;
  }
  setCurrencies(vocab.currencies);
  login.hidden = true;
  for (const id of ["nav", "logout", "activity"]) document.getElementById(id).hidden = false;
  const ctx = {vocab, refresh};
  const openPreview = createPreview(ctx);
  ctx.preview = async (ref) => {
    try {
      await openPreview(ref);
    } catch (error) {
      status.textContent = error.message;
    }
  };
  views = {intents: intentsView(ctx), agreements: agreementsView(ctx), data: dataView(ctx),
    assistants: assistantsView(ctx), cart: cartView(ctx), audit: auditView(ctx)};
  window.addEventListener("hashchange", route);
  route();
  stream = new AbortController();
  follow({onEvent, onStatus: (state) => {
    if (state === "logged-out") showLogin();
    else setStatus(state);
  }, signal: stream.signal});
}

document.getElementById("logout").addEventListener("click", async () => {
  try {
    await logOut();
  } finally {
    showLogin("You logged out. To log in again, run:");
  }
});

start();
