// The login and register forms. A refused form comes back as this same page with a
// #form-state notice (the gateway puts it in: which field, what was typed); this script moves
// the message next to its field and fills the form back in. It also checks the fields before
// sending, says "Account created" after registering, and keeps `next` (the page to go back to
// after logging in) on the form and on the link to the other form.
// Text only ever set with textContent.
(function () {
  "use strict";

  const form = document.getElementById("login-form") || document.getElementById("register-form");
  if (!form) return;
  const params = new URLSearchParams(window.location.search);
  const shop = window.Flashsale || {};

  // Only a path of this shop; the server checks again.
  function samePlace(path) {
    return typeof path === "string" && path.startsWith("/") && !path.startsWith("//") &&
      !path.includes("\\") && !path.startsWith("/user/");
  }

  function showError(name, message) {
    const input = form.elements[name];
    const slot = document.getElementById(name + "-error");
    if (!input || !slot) return false;
    slot.textContent = message;
    slot.hidden = false;
    input.setAttribute("aria-invalid", "true");
    return true;
  }

  function clearError(name) {
    const input = form.elements[name];
    const slot = document.getElementById(name + "-error");
    if (slot) {
      slot.textContent = "";
      slot.hidden = true;
    }
    if (input) input.removeAttribute("aria-invalid");
  }

  // The page to go back to: from the refused form, or from ?next=.
  const state = document.getElementById("form-state");
  let values = {};
  if (state) {
    try {
      values = JSON.parse(state.dataset.values || "{}") || {};
    } catch (_) {
      values = {};
    }
  }
  const next = samePlace(values.next) ? values.next : samePlace(params.get("next")) ? params.get("next") : "";
  form.elements.next.value = next;
  if (next) {
    for (const a of document.querySelectorAll("a[data-keep-next]")) {
      a.href = a.pathname + "?next=" + encodeURIComponent(next);
    }
  }

  // A refused form: the message beside its field, what was typed back in.
  if (state) {
    for (const [name, value] of Object.entries(values)) {
      const input = form.elements[name];
      if (input && input.type !== "password" && input.type !== "hidden") input.value = String(value);
    }
    const field = state.dataset.field;
    const message = state.textContent.trim();
    if (field && showError(field, message)) {
      state.hidden = true;
      form.elements[field].focus();
    }
  }

  // Just registered: say so, once.
  const created = document.getElementById("account-created");
  if (created && shop.cookie && shop.cookie("created")) {
    created.hidden = false;
    document.cookie = "created=; Max-Age=0; Path=/user/login; SameSite=Lax";
  }

  const LABELS = { nickName: "Nickname", userName: "User name", password: "Password" };

  function check(input) {
    const label = LABELS[input.name] || "This field";
    const value = input.value;
    if (input.required && value.trim() === "") return label + " must not be empty.";
    if (input.minLength > 0 && value.length < input.minLength) {
      return label + " must be at least " + input.minLength + " characters.";
    }
    return "";
  }

  for (const input of form.querySelectorAll("input:not([type=hidden])")) {
    input.addEventListener("input", () => clearError(input.name));
  }

  form.addEventListener("submit", (event) => {
    let first = null;
    for (const input of form.querySelectorAll("input:not([type=hidden])")) {
      const problem = check(input);
      if (problem) {
        showError(input.name, problem);
        first = first || input;
      } else {
        clearError(input.name);
      }
    }
    if (first) {
      event.preventDefault();
      event.stopImmediatePropagation(); // register.js's proof of work waits for valid fields
      first.focus();
      return;
    }
    if (state) state.hidden = true;
  });
})();
