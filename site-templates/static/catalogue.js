// The catalogue's badges, kept true after the page was rendered: "Sold out" from the live
// stock (/stock, cached by the shop for a second), and a live countdown on drops that start
// within the hour. Text is only ever set with textContent.
(function () {
  "use strict";

  const cards = document.querySelectorAll("#catalogue .card[data-product-id]");
  if (cards.length === 0) return;
  const HOUR = 3600 * 1000;

  function clock(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  function soldOut(badge) {
    badge.className = "badge badge-sold-out";
    badge.textContent = "Sold out";
    badge.hidden = false;
    delete badge.dataset.saleStart;
  }

  async function checkStock(card) {
    const badge = card.querySelector("[data-badge]");
    if (!badge) return;
    try {
      const res = await fetch("/stock/" + encodeURIComponent(card.dataset.productId), { headers: { Accept: "application/json" } });
      if (!res.ok) return;
      const stock = await res.json();
      if (Number(stock.remaining) === 0) soldOut(badge);
    } catch (_) {
      // The rendered badge stays.
    }
  }

  function tick() {
    const now = Date.now();
    for (const badge of document.querySelectorAll("#catalogue [data-badge][data-sale-start]")) {
      const start = new Date(badge.dataset.saleStart).getTime();
      if (!Number.isFinite(start)) continue;
      if (start <= now) {
        badge.className = "badge badge-on-sale";
        badge.textContent = "On sale now";
        delete badge.dataset.saleStart;
      } else if (start - now < HOUR) {
        badge.textContent = "Starts in " + clock(start - now);
      } else if (!badge.dataset.local) {
        // The page says UTC for readers without script; in the shopper's own time here.
        badge.dataset.local = "1";
        badge.textContent = "Starts " + new Date(start).toLocaleString(undefined, {
          month: "short", day: "numeric", hour: "numeric", minute: "2-digit",
        });
      }
    }
  }

  cards.forEach(checkStock);
  tick();
  setInterval(tick, 1000);
})();
