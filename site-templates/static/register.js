// The registration form, when the shop asks each new account for a little work
// (`register_pow_difficulty`): before the form is sent, a challenge from GET /user/challenge
// is solved in a Web Worker and sent along. When the shop asks for none (difficulty 0), or
// cannot be asked, the form goes as it is and the server decides.
(function () {
  "use strict";

  const form = document.getElementById("register-form");
  if (!form || typeof Worker === "undefined") return;
  const button = form.querySelector("button[type=submit]");
  const label = button.textContent;
  let ready = false; // the challenge is solved and in the form: let the submit through

  function field(name, value) {
    let input = form.elements[name];
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      form.append(input);
    }
    input.value = value;
  }

  function solve(challenge, difficulty) {
    return new Promise((resolve, reject) => {
      const worker = new Worker(form.dataset.worker);
      worker.onmessage = (event) => {
        const m = event.data || {};
        if (m.type === "progress") {
          const pct = Math.round((1 - Math.exp(-m.tried / Math.pow(2, difficulty))) * 100);
          button.textContent = "Checking you're not a bot\u2026 " + pct + "%";
        } else if (m.type === "done") {
          worker.terminate();
          resolve(String(m.nonce));
        }
      };
      worker.onerror = (e) => {
        worker.terminate();
        reject(e);
      };
      worker.postMessage({ challenge, difficulty });
    });
  }

  form.addEventListener("submit", async (event) => {
    if (ready) return;
    event.preventDefault();
    if (!form.reportValidity()) return;
    button.disabled = true;
    button.textContent = "Checking you're not a bot\u2026";
    try {
      const res = await fetch("/user/challenge", { cache: "no-store", headers: { Accept: "application/json" } });
      const issued = res.ok ? await res.json() : null;
      const difficulty = issued ? Number(issued.difficulty) || 0 : 0;
      if (issued && difficulty > 0) {
        field("challenge", String(issued.challenge));
        field("nonce", await solve(String(issued.challenge), difficulty));
      }
    } catch (_) {
      // Sent without: the server says what is missing.
    }
    ready = true;
    button.textContent = label;
    form.submit();
  });
})();
