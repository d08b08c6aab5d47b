// The Buy button of a product page. The server decides everything; this script asks,
// says what the answer means, counts the cooldown down on the button and keeps the stock
// line live. Text is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  const button = document.getElementById("buy");
  if (!button) return;
  const resultEl = document.getElementById("buy-result");
  const stockEl = document.getElementById("stock-remaining");
  const saleEl = document.getElementById("sale-window");
  const shop = window.Flashsale; // from order.js, loaded first

  const productId = button.dataset.productId;
  const cooldown = Math.max(0, parseInt(button.dataset.cooldown, 10) || 0);
  const saleStart = parseTime(button.dataset.saleStart);
  const saleEnd = parseTime(button.dataset.saleEnd);
  // A product with a waiting room: Buy waits for room.js to say the shopper's turn has come.
  const queued = button.dataset.queue === "true";

  // The answer when /getOne sends no readable JSON (a proxy's error page, say).
  const RESULT_BY_STATUS = {
    202: "queued", 400: "bad_request", 401: "unauthorized", 403: "not_on_sale",
    404: "no_such_product", 409: "already_bought", 410: "sold_out", 429: "too_fast",
    503: "unavailable",
  };

  const state = {
    countdown: 0, // seconds left on the button
    timer: null,
    inFlight: false, // a /getOne request is out
    pending: false, // an order is queued and being polled
    finalLabel: "", // set once buying again makes no sense
    admitted: !queued, // may press Buy now (always, without a waiting room)
  };

  function parseTime(s) {
    if (!s) return null;
    const d = new Date(s);
    return isNaN(d.getTime()) ? null : d;
  }

  function say(parts) {
    if (shop) {
      shop.say(resultEl, parts);
    } else {
      resultEl.textContent = parts.map((p) => (typeof p === "string" ? p : p.text)).join("");
    }
  }

  function render() {
    // The cooldown always counts down to the end (the server enforces it anyway); only then
    // does the button settle on its final label.
    if (state.finalLabel && state.countdown === 0) {
      button.textContent = state.finalLabel;
      button.disabled = true;
      return;
    }
    button.textContent = state.countdown > 0 ? "Buy (" + state.countdown + ")" : "Buy";
    button.disabled = state.countdown > 0 || state.inFlight || state.pending || !state.admitted;
  }

  function startCountdown(seconds) {
    clearInterval(state.timer);
    state.timer = null;
    state.countdown = Math.max(0, Math.ceil(seconds));
    render();
    if (state.countdown === 0) return;
    state.timer = setInterval(() => {
      state.countdown -= 1;
      if (state.countdown <= 0) {
        state.countdown = 0;
        clearInterval(state.timer);
        state.timer = null;
      }
      render();
    }, 1000);
  }

  // No more buying from this page: sold out, or the shopper has theirs. Shown once the
  // running countdown ends.
  function finish(label) {
    state.finalLabel = label;
    render();
    if (label === "Bought") document.dispatchEvent(new CustomEvent("flashsale:bought"));
  }

  function orderLink(id) {
    return { href: "/order.html?id=" + encodeURIComponent(id), text: id };
  }

  function followOrder(orderId) {
    state.pending = true;
    render();
    shop.pollOrder(orderId, {
      status(order) {
        if (order.status === "confirmed") {
          state.pending = false;
          say(["Confirmed! It's yours. Order ", orderLink(orderId)]);
          finish("Bought");
        } else if (order.status === "failed") {
          state.pending = false;
          say(["Sorry \u2014 order ", orderLink(orderId), " failed: the last unit went to someone else. Nothing was charged."]);
          render();
        }
      },
      missing() {
        state.pending = false;
        say(["Order placed, but we can't look it up now. Order ", orderLink(orderId)]);
        render();
      },
    }, 1000);
  }

  function answer(result, body, res) {
    switch (result) {
      case "queued":
        say(["Order placed \u2014 confirming\u2026"]);
        if (shop && shop.isOrderId(body.orderId)) followOrder(body.orderId);
        break;
      case "unauthorized":
        say(["Please ", { href: "/user/login", text: "log in" }, " first."]);
        break;
      case "too_fast": {
        const wait = parseInt(body.retryAfter, 10) || parseInt(res.headers.get("Retry-After"), 10) || cooldown;
        say(["Slow down \u2014 try again in " + wait + " s"]);
        startCountdown(wait);
        break;
      }
      case "already_bought":
        say(["You already have one of these."]);
        finish("Bought");
        break;
      case "sold_out":
        say(["Sold out."]);
        showStock(0);
        finish("Sold out");
        break;
      case "not_admitted":
        say(["It's not your turn yet: wait until the line above calls you, then press Buy."]);
        // Refused before the cooldown: the shop started none, so neither does the button.
        startCountdown(0);
        document.dispatchEvent(new CustomEvent("flashsale:not-admitted"));
        break;
      case "not_on_sale":
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
    state.inFlight = true;
    startCountdown(cooldown);
    say(["Placing your order\u2026"]);
    let res;
    try {
      res = await fetch("/getOne?productID=" + encodeURIComponent(productId), {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
    } catch (_) {
      state.inFlight = false;
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
    state.inFlight = false;
    const result = (body && body.result) || RESULT_BY_STATUS[res.status] || "";
    answer(result, body || {}, res);
    render();
  });

  function showStock(remaining) {
    stockEl.textContent = remaining > 0 ? remaining + " left" : "Sold out";
    stockEl.toggleAttribute("data-sold-out", remaining <= 0);
  }

  // The live stock line: on load and every 3 s; errors keep the last known text.
  async function refreshStock() {
    if (!document.hidden) {
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
    setTimeout(refreshStock, 3000);
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
    saleEl.textContent = text;
    saleEl.hidden = false;
    saleEl.dataset.phase = saleStart && now < saleStart ? "soon" : saleEnd && now >= saleEnd ? "over" : "open";
  }

  // From room.js: whether the shopper's turn has come (or the product turned out to have no
  // waiting room after all).
  document.addEventListener("flashsale:admission", (event) => {
    const detail = event.detail || {};
    state.admitted = !queued || !!(detail.admitted || detail.noRoom);
    if (detail.ended) finish(detail.ended);
    else render();
  });

  render();
  refreshStock();
  showSaleWindow();
  if (saleStart || saleEnd) setInterval(showSaleWindow, 1000);
})();
