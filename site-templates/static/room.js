// The waiting room of a product page: asks GET /queue/{id}/status every refreshSeconds and
// says where the shopper stands; joins through a proof-of-work challenge solved in a Web
// Worker. The server decides everything; this script only shows it and tells buy.js, through
// a "flashsale:admission" event, whether Buy may be pressed. Text is only ever set with
// textContent, never parsed as HTML.
(function () {
  "use strict";

  const room = document.getElementById("room");
  if (!room) return;
  const shop = window.Flashsale; // from order.js, loaded first

  const productId = room.dataset.productId;
  const base = "/queue/" + encodeURIComponent(productId);
  const workerUrl = room.dataset.worker;
  const saleStart = parseTime(room.dataset.saleStart);
  const staticOpensAt = parseTime(room.dataset.opensAt);

  const headline = document.getElementById("room-headline");
  const detail = document.getElementById("room-detail");
  const notice = document.getElementById("room-notice");
  const joinButton = document.getElementById("room-join");
  const meter = document.getElementById("room-meter");
  const meterFill = document.getElementById("room-meter-fill");

  const numbers = new Intl.NumberFormat();
  const DEFAULT_REFRESH = 5;
  const SIGNED_OUT_REFRESH = 60;

  const state = {
    status: null, // the last status the server sent
    signedOut: false,
    solving: null, // {tried, difficulty} while a challenge is being solved
    bought: false,
    gone: false, // the product has no waiting room (any more)
    skewMs: 0, // server clock minus ours, from the Date header
    pollTimer: null,
  };

  function parseTime(s) {
    if (!s) return null;
    const d = new Date(s);
    return isNaN(d.getTime()) ? null : d;
  }

  function now() {
    return Date.now() + state.skewMs;
  }

  function fromUnix(secs) {
    return typeof secs === "number" && isFinite(secs) ? new Date(secs * 1000) : null;
  }

  function sameDay(a, b) {
    return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
  }

  // "09:45", or "09:45 on Tue, 1 Dec" when not today; seconds when they matter.
  function clock(date, seconds) {
    const opts = { hour: "2-digit", minute: "2-digit" };
    if (seconds) opts.second = "2-digit";
    const time = date.toLocaleTimeString([], opts);
    if (sameDay(date, new Date(now()))) return time;
    return time + " on " + date.toLocaleDateString([], { weekday: "short", day: "numeric", month: "short" });
  }

  // 299 -> "4:59", 3725 -> "1:02:05".
  function countdown(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = String(total % 60).padStart(2, "0");
    return h > 0 ? h + ":" + String(m).padStart(2, "0") + ":" + s : m + ":" + s;
  }

  function eta(seconds) {
    if (seconds < 60) return "less than a minute";
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return "about " + minutes + " min";
    return "about " + Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function say(el, parts) {
    if (shop) {
      shop.say(el, parts);
    } else {
      el.textContent = parts.map((p) => (typeof p === "string" ? p : p.text)).join("");
    }
  }

  function showMeter(fraction, label) {
    if (fraction === null) {
      meter.hidden = true;
      return;
    }
    const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
    meter.hidden = false;
    meter.setAttribute("aria-valuenow", String(pct));
    meter.setAttribute("aria-valuetext", label || pct + "%");
    meterFill.style.width = pct + "%";
  }

  // Tells buy.js whether Buy may be pressed; `ended` is the button's last label once the
  // line is over.
  let lastAdmission = null;
  function tellBuy(admitted, noRoom, ended) {
    const key = admitted + "/" + !!noRoom + "/" + (ended || "");
    if (key === lastAdmission) return;
    lastAdmission = key;
    document.dispatchEvent(new CustomEvent("flashsale:admission", {
      detail: { admitted, noRoom: !!noRoom, ended: ended || "" },
    }));
  }

  // Everything on screen follows from `state`; called on every answer and every second.
  function render() {
    const s = state.status;
    const t = now();
    joinButton.hidden = true;
    let phase;
    if (state.gone) {
      room.hidden = true;
      return;
    } else if (state.bought) {
      phase = "done";
      headline.textContent = "You got one.";
      say(detail, ["Your order is in: see it below."]);
      showMeter(null);
    } else if (state.solving) {
      phase = "solving";
      const expected = Math.pow(2, state.solving.difficulty);
      const fraction = 1 - Math.exp(-state.solving.tried / expected);
      headline.textContent = "Joining the line\u2026";
      say(detail, ["Solving a small puzzle that keeps bots out: " + Math.round(fraction * 100) + "%"]);
      showMeter(fraction, "puzzle " + Math.round(fraction * 100) + "% solved");
    } else if (state.signedOut) {
      phase = "signed-out";
      const opens = staticOpensAt && staticOpensAt.getTime() > t ? staticOpensAt : null;
      headline.textContent = opens ? "Line opens at " + clock(opens) : "This drop has a waiting room";
      say(detail, [{ href: "/user/login", text: "Log in" }, " to take your place in the line."]);
      showMeter(null);
    } else if (!s) {
      phase = "loading";
      showMeter(null);
    } else if (s.state === "ended") {
      phase = "ended";
      headline.textContent = s.soldOut ? "Sold out: the line is closed" : "The sale has ended: the line is closed";
      say(detail, [s.soldOut ? "Every unit has found its buyer." : "Thanks for waiting with us."]);
      showMeter(null);
    } else if (s.state === "closed") {
      phase = "closed";
      const opens = fromUnix(s.opensAt) || staticOpensAt;
      headline.textContent = opens ? "Line opens at " + clock(opens) : "The line is not open yet";
      say(detail, [
        "Join any time before the sale starts" + (saleStart ? " at " + clock(saleStart) : "") +
          ": everyone who joins before then gets a place drawn at random, so there's no need to rush.",
      ]);
      showMeter(null);
    } else if (!s.joined) {
      phase = "open";
      if (s.state === "prequeue") {
        headline.textContent = "The line is open";
        say(detail, [
          "Everyone who joins before " + (saleStart ? clock(saleStart, true) : "the sale starts") +
            " gets a place drawn at random: arriving early gains nothing, and neither does hurrying.",
        ]);
      } else {
        headline.textContent = "The sale is on";
        say(detail, ["Join the line to get your place; newcomers join at the end."]);
      }
      joinButton.hidden = false;
      showMeter(null);
    } else if (s.admitted && s.admittedUntil && s.admittedUntil * 1000 > t) {
      phase = "admitted";
      headline.textContent = "It's your turn: " + countdown(s.admittedUntil * 1000 - t) + " left to buy";
      say(detail, ["Press Buy below before the time runs out."]);
      showMeter(null);
    } else if (s.admittedUntil && s.admittedUntil * 1000 <= t) {
      phase = "expired";
      headline.textContent = "Your turn has passed";
      say(detail, ["The time to buy ran out, and the line moved on."]);
      showMeter(null);
    } else if (s.state === "prequeue" || s.position === null || s.position === undefined) {
      phase = "drawing";
      const draw = saleStart;
      headline.textContent = "You're in. The order is drawn at " + (draw ? clock(draw, true) : "the start of the sale");
      const left = draw ? draw.getTime() - t : 0;
      say(detail, [
        left > 0
          ? "Draw in " + countdown(left) + ". Your place is kept even if you close this page."
          : "Drawing the order\u2026",
      ]);
      showMeter(null);
    } else {
      phase = "waiting";
      const position = Number(s.position);
      const ahead = Math.max(0, Number(s.ahead) || 0);
      const paused = s.etaSeconds === null || s.etaSeconds === undefined;
      headline.textContent = "Number " + numbers.format(position) + " in line, " +
        (paused ? "the line is paused for now" : eta(Number(s.etaSeconds)));
      say(detail, [
        ahead === 0
          ? "You're next."
          : numbers.format(ahead) + (ahead === 1 ? " person" : " people") + " ahead of you. Keep this page open: it moves by itself.",
      ]);
      showMeter(position > 0 ? (position - ahead) / position : 0, numbers.format(ahead) + " ahead");
    }
    room.dataset.state = phase;
    const ended = phase === "ended" ? (s.soldOut ? "Sold out" : "Sale ended") : "";
    tellBuy(phase === "admitted", false, ended);
  }

  function trouble(text) {
    notice.textContent = text;
    notice.hidden = !text;
  }

  function readSkew(res) {
    const date = Date.parse(res.headers.get("Date") || "");
    if (!isNaN(date)) {
      const skew = date - Date.now();
      // The header has whole seconds: only a clock that is clearly off is corrected.
      state.skewMs = Math.abs(skew) > 2000 ? skew : 0;
    }
  }

  async function request(path, init) {
    const res = await fetch(base + path, Object.assign({
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    }, init || {}));
    readSkew(res);
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      // Not JSON: the status code says enough.
    }
    return { status: res.status, body: body || {} };
  }

  // Takes an answer of status or join; true when it was one the page understood.
  function apply(res) {
    if (res.status === 200 && typeof res.body.state === "string") {
      state.status = res.body;
      state.signedOut = false;
      trouble("");
      return true;
    }
    if (res.status === 401) {
      state.signedOut = true;
      state.status = null;
      trouble("");
      return true;
    }
    if (res.status === 404) {
      // The page is older than the product's settings: no room, Buy works as usual.
      state.gone = true;
      tellBuy(true, true);
      return true;
    }
    return false;
  }

  // The next moment the page changes by itself: the line opening, the draw, the end of a turn.
  function nextEdge() {
    const s = state.status;
    if (!s) return null;
    const edges = [];
    if (s.state === "closed" && s.opensAt) edges.push(s.opensAt * 1000);
    if (s.state === "prequeue" && saleStart) edges.push(saleStart.getTime());
    if (s.admitted && s.admittedUntil) edges.push(s.admittedUntil * 1000);
    const future = edges.filter((e) => e > now());
    return future.length ? Math.min.apply(null, future) : null;
  }

  function schedule() {
    clearTimeout(state.pollTimer);
    if (state.gone || state.bought) return;
    // Signed out, there is nothing to follow: logging in brings the shopper back here anyway.
    const refresh = state.signedOut
      ? SIGNED_OUT_REFRESH
      : (state.status && Number(state.status.refreshSeconds)) || DEFAULT_REFRESH;
    // A little jitter so a crowd that opened the page together does not poll together.
    let delay = refresh * 1000 * (0.9 + Math.random() * 0.2);
    const edge = nextEdge();
    if (edge !== null) delay = Math.min(delay, edge - now() + 200 + Math.random() * 800);
    state.pollTimer = setTimeout(poll, Math.max(250, delay));
  }

  async function poll() {
    try {
      const res = await request("/status");
      if (!apply(res)) {
        trouble(res.status === 503
          ? "The line is busy right now. Your place is kept; trying again\u2026"
          : "Something went wrong (HTTP " + res.status + "). Trying again\u2026");
      }
    } catch (_) {
      trouble("Can't reach the shop. Your place is kept; trying again\u2026");
    }
    render();
    schedule();
  }

  // Solves one challenge in a Worker; resolves to the nonce, or null when it expired first.
  function solve(challenge, difficulty, expiresAtMs) {
    return new Promise((resolve, reject) => {
      let worker;
      try {
        worker = new Worker(workerUrl);
      } catch (e) {
        reject(e);
        return;
      }
      const timer = setTimeout(() => {
        worker.terminate();
        resolve(null);
      }, Math.max(0, expiresAtMs - Date.now()));
      worker.onmessage = (event) => {
        const m = event.data || {};
        if (m.type === "progress") {
          state.solving = { tried: m.tried, difficulty };
          render();
        } else if (m.type === "done") {
          clearTimeout(timer);
          worker.terminate();
          resolve(String(m.nonce));
        }
      };
      worker.onerror = (e) => {
        clearTimeout(timer);
        worker.terminate();
        reject(e);
      };
      worker.postMessage({ challenge, difficulty });
    });
  }

  async function join() {
    joinButton.disabled = true;
    state.solving = { tried: 0, difficulty: 1 };
    trouble("");
    render();
    try {
      // A challenge can expire while it is solved on a slow phone, or be refused if it did:
      // a fresh one is fetched, a few times at most.
      for (let attempt = 0; attempt < 3; attempt++) {
        const issued = await request("/challenge");
        if (issued.status !== 200) {
          const word = issued.body.result;
          // Not open yet, or over: the poll below shows which.
          if (!apply(issued) && word !== "not_open_yet" && word !== "ended") {
            trouble(issued.status === 503
              ? "The line is busy right now. Please try again in a moment."
              : "Couldn't join right now (HTTP " + issued.status + "). Please try again.");
          }
          return;
        }
        const { challenge, difficulty } = issued.body;
        const expiresIn = Number(issued.body.expiresIn) || 60;
        state.solving = { tried: 0, difficulty: Number(difficulty) || 0 };
        render();
        const nonce = await solve(String(challenge), Number(difficulty) || 0, Date.now() + expiresIn * 1000);
        if (nonce === null) continue;
        const joined = await request("/join", {
          method: "POST",
          headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ challenge: String(challenge), nonce }).toString(),
        });
        if (apply(joined)) return;
        const word = joined.body.result;
        if (word === "bad_challenge") continue;
        if (word === "not_open_yet" || word === "ended") {
          return; // the poll below shows why
        }
        trouble(joined.status === 503
          ? "The line is busy right now. Please try again in a moment."
          : "Couldn't join (HTTP " + joined.status + "). Please try again.");
        return;
      }
      trouble("Couldn't join: the puzzle took too long. Please try again.");
    } catch (_) {
      trouble("Can't reach the shop. Check your connection and try again.");
    } finally {
      state.solving = null;
      joinButton.disabled = false;
      render();
      poll();
    }
  }

  joinButton.addEventListener("click", () => {
    if (!state.solving) join();
  });

  // From buy.js: a Buy was refused as not admitted (look again now), or the shopper has theirs.
  document.addEventListener("flashsale:not-admitted", () => poll());
  document.addEventListener("flashsale:bought", () => {
    state.bought = true;
    clearTimeout(state.pollTimer);
    render();
  });

  render();
  poll();
  setInterval(() => {
    render();
  }, 1000);
})();
