// Order status: the polling shared with buy.js, and the order page (/order.html?id=…).
// Text is only ever set with textContent, never parsed as HTML.
(function () {
  "use strict";

  const ORDER_ID = /^[0-9a-f]{32}$/;
  const FINAL = ["confirmed", "failed"];
  const WORDS = {
    queued: "Queued \u2014 we're confirming your order\u2026",
    confirmed: "Confirmed! It's yours.",
    failed: "This order failed: the last unit went to someone else. Nothing was charged.",
  };

  function isOrderId(id) {
    return typeof id === "string" && ORDER_ID.test(id);
  }

  function statusWords(status) {
    return WORDS[status] || WORDS.queued;
  }

  // Fills `el` with text and links: parts are strings or {href, text}.
  function say(el, parts) {
    el.replaceChildren();
    for (const part of parts) {
      if (typeof part === "string") {
        el.append(part);
      } else {
        const a = document.createElement("a");
        a.href = part.href;
        a.textContent = part.text;
        el.append(a);
      }
    }
  }

  // Polls GET /order/{id} every second until the order is confirmed or failed.
  // handlers.status(order) on each answer; handlers.missing(httpStatus) on 401/404 (stops);
  // handlers.trouble() when the shop can't be reached (keeps trying).
  // Returns a function that stops the polling.
  function pollOrder(id, handlers, firstDelayMs) {
    let stopped = false;
    async function tick() {
      if (stopped) return;
      try {
        const res = await fetch("/order/" + encodeURIComponent(id), {
          credentials: "same-origin",
          cache: "no-store",
          headers: { Accept: "application/json" },
        });
        if (res.status === 401 || res.status === 404) {
          stopped = true;
          if (handlers.missing) handlers.missing(res.status);
          return;
        }
        if (!res.ok) throw new Error("HTTP " + res.status);
        const order = await res.json();
        if (handlers.status) handlers.status(order);
        if (FINAL.includes(order.status)) stopped = true;
      } catch (_) {
        if (handlers.trouble) handlers.trouble();
      }
      if (!stopped) setTimeout(tick, 1000);
    }
    setTimeout(tick, firstDelayMs || 0);
    return function stop() {
      stopped = true;
    };
  }

  window.Flashsale = Object.assign(window.Flashsale || {}, { isOrderId, statusWords, say, pollOrder });

  // The order page: only runs where its status line exists.
  const statusEl = document.getElementById("order-status");
  if (!statusEl) return;
  const idEl = document.getElementById("order-id");
  const productEl = document.getElementById("order-product");
  const id = new URLSearchParams(window.location.search).get("id") || "";

  if (!isOrderId(id)) {
    statusEl.dataset.status = "invalid";
    say(statusEl, ["This link has no valid order id."]);
    return;
  }
  idEl.textContent = id;

  const priceEl = document.getElementById("order-price");
  const timeEl = document.getElementById("order-time");

  pollOrder(id, {
    status(order) {
      statusEl.dataset.status = order.status;
      say(statusEl, [statusWords(order.status)]);
      if (Number.isSafeInteger(order.productId) && productEl) {
        const name = typeof order.productName === "string" ? order.productName : "Product #" + order.productId;
        say(productEl, [{ href: "/product/" + order.productId + ".html", text: name }]);
      }
      if (priceEl && Number.isFinite(order.priceCents) && window.Flashsale.money) {
        priceEl.textContent = window.Flashsale.money(order.priceCents);
      }
      if (timeEl && Number.isFinite(order.createdAt)) {
        const at = new Date(order.createdAt);
        timeEl.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
        timeEl.title = at.toISOString();
      }
    },
    missing(code) {
      statusEl.dataset.status = "missing";
      if (code === 401) {
        if (window.Flashsale.forgetShopper) window.Flashsale.forgetShopper();
        const next = encodeURIComponent(window.location.pathname + window.location.search);
        say(statusEl, ["Please ", { href: "/user/login?next=" + next, text: "log in" }, " to see this order."]);
      } else {
        say(statusEl, ["No such order \u2014 or it belongs to another account."]);
      }
    },
    trouble() {
      if (!statusEl.dataset.status) say(statusEl, ["Can't reach the shop right now, still trying\u2026"]);
    },
  });
})();
