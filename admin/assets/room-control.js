// Pause, resume and rate of a product's waiting room, on its edit page. Each button sends the
// product's update as the Save button does, but first puts the database's stock of this
// moment into the form (from the dashboard's numbers): a drop is selling while the admin
// looks at this page, and the stock on the page would put sold units back on sale.
(function () {
  "use strict";
  const panel = document.getElementById("room-control");
  if (!panel) return;
  const id = panel.dataset.productId;
  const error = document.getElementById("room-error");

  async function freshStock() {
    const res = await fetch("/dashboard.json", { credentials: "same-origin", cache: "no-store" });
    if (res.status !== 200) throw new Error("HTTP " + res.status);
    const data = await res.json();
    const product = (data.products || []).find((p) => String(p.id) === id);
    if (!product || typeof product.stock !== "number") throw new Error("product " + id + " is gone");
    return product.stock;
  }

  for (const form of panel.querySelectorAll("form.room-form")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      for (const b of panel.querySelectorAll("button")) b.disabled = true;
      try {
        form.elements.stock.value = String(await freshStock());
        form.submit();
      } catch (e) {
        error.textContent = "Could not read the current stock (" + e.message + "); nothing was changed. Try again.";
        error.hidden = false;
        for (const b of panel.querySelectorAll("button")) b.disabled = false;
      }
    });
  }
})();
