// My orders (/orders.html): the shopper's orders from GET /orders, newest first, a page at a
// time; the ones still queued are followed live until confirmed or failed.
// Text is only ever set with textContent.
(function () {
  "use strict";

  const list = document.getElementById("orders");
  if (!list) return;
  const statusEl = document.getElementById("orders-status");
  const more = document.getElementById("orders-more");
  const shop = window.Flashsale;
  const LABELS = { queued: "Confirming\u2026", confirmed: "Confirmed", failed: "Failed" };
  let next = null;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setStatus(chip, status) {
    chip.dataset.status = status;
    chip.textContent = LABELS[status] || LABELS.queued;
  }

  function row(order) {
    const li = el("li", "order-row");
    li.dataset.orderId = order.orderId;
    const name = typeof order.productName === "string" ? order.productName : "Product #" + order.productId;
    const title = el("a", "order-name", name);
    title.href = "/order.html?id=" + encodeURIComponent(order.orderId);
    const main = el("div", "order-main");
    main.append(title);
    const at = new Date(Number(order.createdAt));
    const time = el("time", "order-time muted small", at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    time.dateTime = at.toISOString();
    main.append(time);
    const price = el("span", "order-price", Number.isFinite(order.priceCents) ? shop.money(order.priceCents) : "\u2014");
    const chip = el("span", "chip");
    setStatus(chip, order.status);
    li.append(main, price, chip);
    if (order.status === "queued" && shop.isOrderId(order.orderId)) {
      shop.pollOrder(order.orderId, {
        status(o) {
          setStatus(chip, o.status);
        },
      }, 1000);
    }
    return li;
  }

  async function load() {
    more.disabled = true;
    let res;
    try {
      const url = "/orders" + (next ? "?after=" + encodeURIComponent(next) : "");
      res = await fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
    } catch (_) {
      statusEl.textContent = "Can't reach the shop right now. Reload the page to try again.";
      more.disabled = false;
      return;
    }
    if (res.status === 401) {
      shop.forgetShopper();
      shop.say(statusEl, ["Please ", { href: "/user/login?next=%2Forders.html", text: "log in" }, " to see your orders."]);
      more.hidden = true;
      return;
    }
    if (!res.ok) {
      statusEl.textContent = "We couldn't load your orders just now. Reload the page to try again.";
      more.disabled = false;
      return;
    }
    const page = await res.json();
    const orders = page.orders || [];
    for (const order of orders) list.append(row(order));
    next = page.next || null;
    list.hidden = list.children.length === 0;
    if (list.children.length === 0) {
      shop.say(statusEl, ["No orders yet. ", { href: "/", text: "See what's on sale" }, "."]);
    } else {
      statusEl.textContent = list.children.length + (list.children.length === 1 ? " order" : " orders") + (next ? " so far" : "");
    }
    more.hidden = !next;
    more.disabled = false;
  }

  more.addEventListener("click", load);
  load();
})();
