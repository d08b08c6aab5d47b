// Who is shopping, for pages that are the same for everyone: the login sets a `shopper`
// cookie with the nickname (not secret, readable here; the real session stays HttpOnly).
// Loaded in <head>, so the header is marked signed in or out before it is painted.
// Also the helpers every page shares: money in the shop's currency, and forgetting a
// shopper whose session the server no longer takes. Text only ever set with textContent.
(function () {
  "use strict";

  const root = document.documentElement;

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === name) {
        try {
          return decodeURIComponent(part.slice(eq + 1).trim());
        } catch (_) {
          return "";
        }
      }
    }
    return null;
  }

  function shopperName() {
    const name = cookie("shopper");
    return name ? name : null;
  }

  // The server answered 401: the session ended (logged out elsewhere, expired).
  function forgetShopper() {
    document.cookie = "shopper=; Max-Age=0; Path=/; SameSite=Lax";
    root.dataset.shopper = "out";
  }

  const formats = {};
  // Minor units (cents) as shoppers read them: "$199.00", "€5.00", "¥199".
  function money(minor) {
    const code = root.dataset.currency || "USD";
    if (!formats[code]) {
      try {
        formats[code] = new Intl.NumberFormat("en-US", { style: "currency", currency: code });
      } catch (_) {
        formats[code] = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
      }
    }
    const digits = formats[code].resolvedOptions().maximumFractionDigits;
    return formats[code].format(Number(minor) / Math.pow(10, digits));
  }

  // This page's path, for "Log in" to come back to.
  function here() {
    return window.location.pathname + window.location.search;
  }

  root.dataset.shopper = shopperName() ? "in" : "out";

  document.addEventListener("DOMContentLoaded", () => {
    const name = shopperName();
    const nameEl = document.getElementById("shopper-name");
    if (name && nameEl) nameEl.textContent = name;
    // Log in / Register bring the shopper back here (not from the account pages themselves).
    if (!window.location.pathname.startsWith("/user/")) {
      for (const a of document.querySelectorAll("a[data-keep-place]")) {
        a.href = a.pathname + "?next=" + encodeURIComponent(here());
      }
    }
  });

  window.Flashsale = Object.assign(window.Flashsale || {}, { shopperName, forgetShopper, money, cookie });
})();
