// The participant's page: a terminal over a WebSocket (binary frames carry keystrokes
// and output, text frames carry resizes), the time left, and "check my work".
(function () {
  "use strict";
  const body = document.body;
  const expires = Number(body.dataset.expires) * 1000;
  const statusEl = document.getElementById("status");
  const term = new Terminal({ cursorBlink: true, convertEol: false, scrollback: 5000 });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(document.getElementById("terminal"));
  fit.fit();

  function status(text, cls) {
    statusEl.textContent = text;
    statusEl.className = "status " + (cls || "");
  }

  // Close codes 4000-4999 end the session for good: no reconnect.
  let ws = null, delay = 500, ended = false;
  const enc = new TextEncoder();
  function connect() {
    const u = new URL("terminal", location.href);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("cols", term.cols);
    u.searchParams.set("rows", term.rows);
    ws = new WebSocket(u);
    ws.binaryType = "arraybuffer";
    ws.onopen = function () { delay = 500; status("connected", "ok"); term.focus(); };
    ws.onmessage = function (ev) {
      if (typeof ev.data === "string") return;
      term.write(new Uint8Array(ev.data));
    };
    ws.onclose = function (ev) {
      if (ev.code >= 4000 && ev.code < 5000) {
        ended = true;
        status(ev.reason || "session ended", "bad");
        term.write("\r\n\x1b[31m[" + (ev.reason || "session ended") + "]\x1b[0m\r\n");
        return;
      }
      status("reconnecting…", "bad");
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  term.onData(function (d) { if (ws && ws.readyState === 1) ws.send(enc.encode(d)); });
  term.onResize(function (s) {
    if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: "resize", cols: s.cols, rows: s.rows }));
  });
  window.addEventListener("resize", function () { fit.fit(); });
  connect();

  const left = document.getElementById("time-left");
  function tick() {
    let s = Math.max(0, Math.floor((expires - Date.now()) / 1000));
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    left.textContent = (h ? h + "h " : "") + String(m).padStart(2, "0") + "m " + String(s).padStart(2, "0") + "s left";
  }
  tick();
  setInterval(tick, 1000);

  const check = document.getElementById("check");
  if (check) {
    check.addEventListener("click", async function () {
      check.disabled = true;
      const list = document.getElementById("result-list");
      const panel = document.getElementById("results");
      panel.hidden = false;
      list.textContent = "running…";
      try {
        const r = await fetch("validate", { method: "POST", credentials: "same-origin" });
        const data = await r.json();
        list.textContent = "";
        if (!r.ok) throw new Error(data.error || r.statusText);
        for (const c of data.results) {
          const li = document.createElement("li");
          li.className = c.passed ? "pass" : "fail";
          li.dataset.check = c.name;
          li.dataset.passed = String(c.passed);
          li.textContent = c.name;
          if (!c.passed && c.reason) {
            const why = document.createElement("span");
            why.className = "reason";
            why.textContent = c.reason;
            li.appendChild(why);
          }
          list.appendChild(li);
        }
      } catch (e) {
        list.textContent = "could not run the checks: " + e.message;
      } finally {
        check.disabled = false;
        fit.fit();
        if (!ended) term.focus();
      }
    });
  }
})();
