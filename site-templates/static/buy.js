// The Buy box of a product page. The page is the same for everyone; this script decides what
// the box shows from what it can ask: the live stock (/stock), the sale window, the shopper's
// own orders (/orders) and a cooldown remembered across reloads (sessionStorage). States:
// on sale, starts in (a live countdown to saleStart), cooling down, already yours, sold out,
// sale over; a waiting room (room.js) says when a queued product's Buy may be pressed.
// The server decides every Buy anyway. Text is only ever set with textContent.
(function () {
  "use strict";

  const button = document.getElementById("buy");
  if (!button) return;
  const box = document.getElementById("buy-box");
  const stateEl = document.getElementById("buy-state");
  const resultEl = document.getElementById("buy-result");
  const stockEl = document.getElementById("stock-remaining");
  const saleEl = document.getElementById("sale-window");
  const shop = window.Flashsale; // shopper.js and order.js, loaded first

  const productId = button.dataset.productId;
  const cooldown = Math.max(0, parseInt(button.dataset.cooldown, 10) || 0);
  const saleStart = parseTime(button.dataset.saleStart);
  const saleEnd = parseTime(button.dataset.saleEnd);
  // A product with a waiting room: Buy waits for room.js to say the shopper's turn has come.
  const queued = button.dataset.queue === "true";
  // The cooldown is the shopper's, not the product's: every product page waits it out.
  const COOLDOWN_KEY = "flashsale.cooldownUntil";

  // The answer when /getOne sends no readable JSON (a proxy's error page, say).
  const RESULT_BY_STATUS = {
    202: "queued", 400: "bad_request", 401: "unauthorized", 403: "not_on_sale",
    404: "no_such_product", 409: "already_bought", 410: "sold_out", 429: "too_fast",
    503: "unavailable",
  };

  const facts = {
    remaining: stockEl && stockEl.hasAttribute("data-sold-out") ? 0 : null, // null: not known
    owned: null, // {orderId, status} once the shopper has one
    cooldownUntil: readCooldown(), // ms since epoch
    inFlight: false, // a /getOne request is out
    admitted: !queued, // may press Buy now (always, without a waiting room)
    roomEnded: "", // the waiting room's last word ("Sold out"), for queued products
  };
  let ticking = null;

  function parseTime(s) {
    if (!s) return null;
    const d = new Date(s);
    return isNaN(d.getTime()) ? null : d;
  }

  function readCooldown() {
    try {
      const until = parseInt(sessionStorage.getItem(COOLDOWN_KEY), 10);
      return Number.isFinite(until) && until > Date.now() ? until : 0;
    } catch (_) {
      return 0;
    }
  }

  function startCooldown(seconds) {
    facts.cooldownUntil = seconds > 0 ? Date.now() + Math.ceil(seconds) * 1000 : 0;
    try {
      if (facts.cooldownUntil) sessionStorage.setItem(COOLDOWN_KEY, String(facts.cooldownUntil));
      else sessionStorage.removeItem(COOLDOWN_KEY);
    } catch (_) {
      // Private mode without storage: the countdown just does not survive a reload.
    }
    render();
  }

  function say(parts) {
    shop.say(resultEl, parts);
  }

  function orderLink(id) {
    return { href: "/order.html?id=" + encodeURIComponent(id), text: id };
  }

  function seeOrder(id) {
    return { href: "/order.html?id=" + encodeURIComponent(id), text: "See your order" };
  }

  function clock(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, "0");
    return h > 0 ? h + ":" + pad(m) + ":" + pad(s % 60) : m + ":" + pad(s % 60);
  }

  // What the box is in now, from the facts; the first that holds wins.
  function decide(now) {
    if (facts.owned) return "owned";
    if (queued && facts.roomEnded) return "room-ended";
    if (saleEnd && now >= saleEnd.getTime()) return "over";
    if (facts.remaining === 0) return "sold-out";
    if (saleStart && now < saleStart.getTime()) return "soon";
    if (facts.cooldownUntil > now) return "cooling";
    return "on-sale";
  }

  function showState(parts) {
    if (!parts) {
      stateEl.hidden = true;
      stateEl.replaceChildren();
      return;
    }
    shop.say(stateEl, parts);
    stateEl.hidden = false;
  }

  function render() {
    const now = Date.now();
    const state = decide(now);
    box.dataset.state = state;
    button.hidden = state === "owned" || state === "over" || state === "sold-out";
    let label = "Buy";
    let enabled = !facts.inFlight && facts.admitted;
    switch (state) {
      case "owned":
        if (facts.owned.status === "confirmed") {
          showState(["It's yours! ", seeOrder(facts.owned.orderId)]);
        } else {
          showState(["Order placed \u2014 confirming\u2026 ", seeOrder(facts.owned.orderId)]);
        }
        break;
      case "room-ended":
        label = facts.roomEnded;
        enabled = false;
        showState(null);
        break;
      case "over":
        showState(["This sale has ended."]);
        break;
      case "sold-out":
        showState(["All gone. ", { href: "/", text: "See what else is on sale" }]);
        break;
      case "soon":
        label = "Starts in " + clock(saleStart.getTime() - now);
        enabled = false;
        showState(null);
        break;
      case "cooling":
        label = "Buy (" + Math.ceil((facts.cooldownUntil - now) / 1000) + ")";
        enabled = false;
        showState(["One Buy every few seconds per shopper: this one opens when the count ends."]);
        break;
      default:
        showState(null);
    }
    if (button.textContent !== label) button.textContent = label;
    button.disabled = !enabled;
    // Tick while something on the box counts down.
    const counting = state === "soon" || state === "cooling";
    if (counting && !ticking) ticking = setInterval(render, 250);
    if (!counting && ticking) {
      clearInterval(ticking);
      ticking = null;
    }
  }

  function own(orderId, status) {
    facts.owned = { orderId, status };
    render();
    if (status === "confirmed") document.dispatchEvent(new CustomEvent("flashsale:bought"));
  }

  function followOrder(orderId) {
    own(orderId, "queued");
    shop.pollOrder(orderId, {
      status(order) {
        if (order.status === "confirmed") {
          say(["Confirmed! Order ", orderLink(orderId)]);
          own(orderId, "confirmed");
        } else if (order.status === "failed") {
          facts.owned = null;
          say(["Sorry \u2014 order ", orderLink(orderId), " failed: the last unit went to someone else. Nothing was charged."]);
          render();
        }
      },
      missing() {
        say(["Order placed, but we can't look it up now. Order ", orderLink(orderId)]);
      },
    }, 1000);
  }

  function answer(result, body, res) {
    switch (result) {
      case "queued":
        say(["Order placed \u2014 confirming\u2026"]);
        if (shop.isOrderId(body.orderId)) followOrder(body.orderId);
        setTimeout(fetchStock, 1100); // the shop caches the count for up to a second
        break;
      case "unauthorized":
        shop.forgetShopper();
        startCooldown(0);
        say(["Please ", { href: "/user/login?next=" + encodeURIComponent(location.pathname), text: "log in" }, " first."]);
        break;
      case "too_fast": {
        const wait = parseInt(body.retryAfter, 10) || parseInt(res.headers.get("Retry-After"), 10) || cooldown;
        say(["Slow down \u2014 try again in " + wait + " s"]);
        startCooldown(wait);
        break;
      }
      case "already_bought":
        say(["You already have one of these."]);
        findMyOrder();
        break;
      case "sold_out":
        say(["Sold out."]);
        showStock(0);
        break;
      case "not_admitted":
        say(["It's not your turn yet: wait until the line above calls you, then press Buy."]);
        // Refused before the cooldown: the shop started none, so neither does the button.
        startCooldown(0);
        document.dispatchEvent(new CustomEvent("flashsale:not-admitted"));
        break;
      case "not_on_sale":
        startCooldown(0);
        say(["The sale is not open right now."]);
        break;
      case "no_such_product":
        say(["This product is no longer on sale."]);
        break;
      case "bad_request":
        say(["That request didn't look right \u2014 reload the page and try again."]);
        break;
      case "unavailable":
        say(["We're busy \u2014 nothing was charged, try again."]);
        break;
      default:
        say(["Something went wrong (HTTP " + res.status + ") \u2014 nothing was charged, try again."]);
    }
  }

  button.addEventListener("click", async () => {
    if (button.disabled) return;
    facts.inFlight = true;
    startCooldown(cooldown);
    say(["Placing your order\u2026"]);
    let res;
    try {
      res = await fetch("/getOne?productID=" + encodeURIComponent(productId), {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (_) {
      facts.inFlight = false;
      say(["Network error \u2014 couldn't reach the shop. Check your connection and try again."]);
      render();
      return;
    }
    let body = {};
    try {
      body = await res.json();
    } catch (_) {
      // Not JSON: fall back on the HTTP status below.
    }
    facts.inFlight = false;
    const result = (body && body.result) || RESULT_BY_STATUS[res.status] || "";
    answer(result, body || {}, res);
    render();
  });

  function showStock(remaining) {
    stockEl.textContent = remaining > 0 ? remaining + " left" : "Sold out";
    stockEl.toggleAttribute("data-sold-out", remaining <= 0);
    facts.remaining = remaining;
    render();
  }

  async function fetchStock() {
    try {
      const res = await fetch("/stock/" + encodeURIComponent(productId), {
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (res.ok) {
        const stock = await res.json();
        const n = Number(stock.remaining);
        if (Number.isFinite(n)) showStock(n);
      }
    } catch (_) {
      // Quietly: the page still works, the number is just older.
    }
  }

  // The live stock line: on load and every 3 s; errors keep the last known text.
  async function refreshStock() {
    if (!document.hidden) await fetchStock();
    setTimeout(refreshStock, 3000);
  }

  // Already yours? The shopper's newest orders say (signed-in shoppers only).
  async function findMyOrder() {
    if (!shop.shopperName()) return;
    try {
      const res = await fetch("/orders", { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
      if (res.status === 401) {
        shop.forgetShopper();
        return;
      }
      if (!res.ok) return;
      const page = await res.json();
      const mine = (page.orders || []).find((o) => String(o.productId) === String(productId) && o.status !== "failed");
      if (mine && shop.isOrderId(mine.orderId)) {
        if (mine.status === "queued") followOrder(mine.orderId);
        else own(mine.orderId, mine.status);
      }
    } catch (_) {
      // The Buy button still works; the server answers "already bought".
    }
  }

  function formatTime(d) {
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function showSaleWindow() {
    if (!saleStart && !saleEnd) return;
    const now = new Date();
    let text;
    if (saleStart && now < saleStart) text = "Sale opens at " + formatTime(saleStart) + ".";
    else if (saleEnd && now >= saleEnd) text = "The sale has ended.";
    else if (saleEnd) text = "Sale open now \u2014 ends at " + formatTime(saleEnd) + ".";
    else text = "Sale open now.";
    if (saleEl.textContent !== text) saleEl.textContent = text;
    saleEl.hidden = false;
    saleEl.dataset.phase = saleStart && now < saleStart ? "soon" : saleEnd && now >= saleEnd ? "over" : "open";
    render();
  }

  // From room.js: whether the shopper's turn has come (or the product turned out to have no
  // waiting room after all).
  document.addEventListener("flashsale:admission", (event) => {
    const detail = event.detail || {};
    facts.admitted = !queued || !!(detail.admitted || detail.noRoom);
    if (detail.ended) facts.roomEnded = detail.ended;
    render();
  });

  render();
  refreshStock();
  findMyOrder();
  showSaleWindow();
  if (saleStart || saleEnd) setInterval(showSaleWindow, 1000);
})();
