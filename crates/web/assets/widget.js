// Rapport chat widget. Embed: <script src="https://desk.example/widget.js" data-inbox="3" async></script>
// Hand-written, no framework. Everything lives in a shadow root so the host page's CSS cannot
// break it; every text from the network is set with textContent (never parsed as HTML).
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__rapportChat) return;
  window.__rapportChat = true;
  var inbox = script.getAttribute("data-inbox");
  var base = new URL(script.src).origin;
  var wsBase = base.replace(/^http/, "ws");
  var cookieName = "rapport_chat_" + inbox;
  var pendingKey = "rapport_chat_pending_" + inbox;
  var identity = script.getAttribute("data-identity-hash") ? {
    email: script.getAttribute("data-identity-email") || "",
    name: script.getAttribute("data-identity-name") || null,
    hash: script.getAttribute("data-identity-hash")
  } : null;

  var config = null, socket = null, welcome = null, open = false;
  var lastSeq = 0, retries = 0, pingTimer = null, typingSent = 0, typingTimer = null;
  var profile = { name: "", email: identity ? identity.email : "" };
  var pending = load(pendingKey) || []; // [{client_id, body}] not yet acknowledged
  var shown = {}; // seq -> true

  function load(key) { try { return JSON.parse(sessionStorage.getItem(key)); } catch (e) { return null; } }
  function save() { try { sessionStorage.setItem(pendingKey, JSON.stringify(pending)); } catch (e) { /* private mode */ } }
  function cookie() {
    var m = document.cookie.match(new RegExp("(?:^|; )" + cookieName + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  function setCookie(token) {
    document.cookie = cookieName + "=" + encodeURIComponent(token) + "; path=/; max-age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text != null) e.textContent = text;
    return e;
  }
  function id() {
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
  }

  var css = ":host{all:initial;font:15px/1.4 system-ui,sans-serif;color:#111}" +
    "*{box-sizing:border-box}" +
    ".launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:28px;padding:14px 20px;font:inherit;font-weight:600;cursor:pointer;box-shadow:0 2px 10px rgba(0,0,0,.3)}" +
    ".panel{position:fixed;right:20px;bottom:84px;z-index:2147483000;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden}" +
    ".panel[hidden]{display:none}" +
    "header{flex:none;padding:12px 14px;display:flex;align-items:center;justify-content:space-between}" +
    // Below the header everything scrolls together when the forms are taller than the panel
    // (the call-back form on a short screen), so the header and its close button stay.
    ".body{flex:1;min-height:0;overflow-y:auto;display:flex;flex-direction:column}" +
    "header h2{font-size:16px;margin:0}" +
    "button,input,textarea{font:inherit}" +
    "button{cursor:pointer;border-radius:6px;border:1px solid #666;background:#fff;color:#111;padding:6px 10px}" +
    "button.primary{border:0}" +
    ":focus-visible{outline:3px solid #111;outline-offset:2px}" +
    ".close{background:transparent;border:0;font-size:22px;line-height:1;padding:2px 8px}" +
    ".banner{background:#fff4d6;color:#3b2f00;padding:10px 14px;font-size:14px}" +
    ".log{flex:1 1 0;min-height:140px;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}" +
    ".msg{max-width:85%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #ddd}" +
    ".msg.visitor{align-self:flex-end}" +
    ".who{display:block;font-size:12px;color:#555}" +
    ".msg.sending{opacity:.6}" +
    ".typing{font-size:13px;color:#555;padding:0 12px;min-height:18px}" +
    "form{display:flex;flex-direction:column;gap:6px;padding:10px 12px;border-top:1px solid #ddd}" +
    "form[hidden]{display:none}" +
    "label{font-size:13px;color:#333}" +
    "input,textarea{width:100%;border:1px solid #888;border-radius:6px;padding:6px 8px;color:#111;background:#fff}" +
    ".row{display:flex;gap:6px;align-items:flex-end}" +
    ".row>*{flex:1}.row>button{flex:0 0 auto}" +
    ".tools{display:flex;gap:6px;padding:6px 12px 10px;flex-wrap:wrap}" +
    ".note{font-size:13px;color:#333;padding:4px 12px}" +
    ".confirm{margin:4px 12px 10px;padding:10px 12px;border-radius:8px;background:#e8f5ec;color:#0d3b1e;border:1px solid #9fd3b0;font-size:14px}" +
    ".confirm[hidden]{display:none}.nowrap{white-space:nowrap}" +
    // One thing at a time: while the call-back form is open the chat's own forms step aside.
    ".panel.calling .chat-only{display:none}" +
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100vh;max-height:100vh;border-radius:0}" +
    // Phones zoom into fields whose text is smaller than 16px.
    "input,textarea{font-size:16px}}";

  var host = el("div", { id: "rapport-chat" });
  var root = host.attachShadow({ mode: "open" });
  if (root.adoptedStyleSheets !== undefined && window.CSSStyleSheet) {
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.appendChild(el("style", null, css));
  }
  var launcher = el("button", { "class": "launch", "aria-label": "Open chat", "aria-expanded": "false", "aria-controls": "rapport-panel" }, "Chat");
  var panel = el("div", { "class": "panel", id: "rapport-panel", role: "dialog", "aria-label": "Chat", hidden: "" });
  var header = el("header");
  var title = el("h2", null, "Chat");
  var closeBtn = el("button", { "class": "close", "aria-label": "Close chat" }, "×");
  header.append(title, closeBtn);
  var banner = el("div", { "class": "banner", role: "status", hidden: "" });
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" });
  var typing = el("div", { "class": "typing chat-only", "aria-live": "polite" });
  var note = el("div", { "class": "note", role: "status" });

  var pre = el("form", { hidden: "", "class": "chat-only", "aria-label": "Before we start" });
  var nameIn = el("input", { type: "text", autocomplete: "name", id: "rc-name" });
  var emailIn = el("input", { type: "email", autocomplete: "email", id: "rc-email" });
  var emailLabel = el("label", { "for": "rc-email" }, "Email");
  pre.append(el("label", { "for": "rc-name" }, "Name (optional)"), nameIn, emailLabel, emailIn,
    el("button", { type: "submit", "class": "primary" }, "Start chat"));

  var composer = el("form", { "class": "chat-only", "aria-label": "Write a message" });
  var text = el("textarea", { rows: "2", maxlength: "4000", id: "rc-text", "aria-label": "Message" });
  var send = el("button", { type: "submit", "class": "primary" }, "Send");
  var row = el("div", { "class": "row" });
  row.append(text, send);
  composer.append(row);

  var tools = el("div", { "class": "tools" });
  var transcriptBtn = el("button", { type: "button" }, "Email me the transcript");
  var callbackBtn = el("button", { type: "button", "aria-expanded": "false" }, "Request a call back");
  tools.append(transcriptBtn, callbackBtn);

  var cb = el("form", { hidden: "", "aria-label": "Request a call back" });
  var cbName = el("input", { type: "text", required: "", id: "rc-cb-name", autocomplete: "name" });
  var cbPhone = el("input", { type: "tel", required: "", id: "rc-cb-phone", autocomplete: "tel" });
  var cbDate = el("input", { type: "date", required: "", id: "rc-cb-date" });
  var cbFrom = el("input", { type: "time", required: "", id: "rc-cb-from", value: "09:00" });
  var cbTo = el("input", { type: "time", required: "", id: "rc-cb-to", value: "12:00" });
  var cbNote = el("input", { type: "text", id: "rc-cb-note" });
  var times = el("div", { "class": "row" });
  var fromBox = el("div"), toBox = el("div");
  fromBox.append(el("label", { "for": "rc-cb-from" }, "From"), cbFrom);
  toBox.append(el("label", { "for": "rc-cb-to" }, "To"), cbTo);
  times.append(fromBox, toBox);
  cb.append(el("label", { "for": "rc-cb-name" }, "Name"), cbName, el("label", { "for": "rc-cb-phone" }, "Phone"), cbPhone,
    el("label", { "for": "rc-cb-date" }, "Day"), cbDate, times, el("label", { "for": "rc-cb-note" }, "What is it about? (optional)"), cbNote,
    el("button", { type: "submit", "class": "primary" }, "Call me back"));

  // The desk's read-back of a call-back request: what it understood and the reference.
  var confirm = el("div", { "class": "confirm", role: "status", hidden: "" });
  var content = el("div", { "class": "body" });
  content.append(banner, log, typing, note, pre, composer, tools, confirm, cb);
  panel.append(header, content);
  root.append(launcher, panel);

  function paint() {
    var bg = config.accent, fg = config.accent_text;
    [launcher, header].forEach(function (e) { e.style.background = bg; e.style.color = fg; });
    closeBtn.style.color = fg;
    root.querySelectorAll("button.primary").forEach(function (b) { b.style.background = bg; b.style.color = fg; });
    title.textContent = config.name;
  }

  function needsEmail() {
    return !!config && (config.require_email || !online()) && !profile.email;
  }
  function online() { return welcome ? welcome.online : config.online; }

  function showBanner() {
    if (online()) { banner.hidden = true; return; }
    var w = welcome || config;
    banner.textContent = "We are not online right now. We usually answer by " + w.expected + "." +
      (w.human_contact ? " To reach a person: " + w.human_contact + "." : "") +
      " Leave your email and the chat continues by email.";
    banner.hidden = false;
  }

  function showPre(show) {
    pre.hidden = !show;
    composer.hidden = show;
    emailLabel.textContent = needsEmail() || (config && config.require_email) ? "Email (required)" : "Email (optional)";
    emailIn.required = !!(config && (config.require_email || !online()));
  }

  function bubble(from, author, body, clientId, sending) {
    var m = el("div", { "class": "msg " + from + (sending ? " sending" : "") });
    if (clientId) m.setAttribute("data-client", clientId);
    m.append(el("span", { "class": "who" }, from === "visitor" ? "You" : author), document.createTextNode(body));
    log.appendChild(m);
    log.scrollTop = log.scrollHeight;
    return m;
  }

  function onMessage(f) {
    if (shown[f.seq]) return;
    shown[f.seq] = true;
    lastSeq = Math.max(lastSeq, f.seq);
    if (f.client_id) {
      var mine = log.querySelector('[data-client="' + CSS.escape(f.client_id) + '"]');
      if (mine) { mine.classList.remove("sending"); return; }
    }
    bubble(f.from, f.author, f.body, f.client_id, false);
    if (f.from === "agent") typing.textContent = "";
  }

  function connect() {
    var ws = new WebSocket(wsBase + "/widget/ws?inbox=" + encodeURIComponent(inbox));
    socket = ws;
    ws.onopen = function () {
      retries = 0;
      ws.send(JSON.stringify({ type: "hello", token: cookie(), after: lastSeq,
        name: profile.name || null, email: profile.email || null, identity: identity }));
      clearInterval(pingTimer);
      pingTimer = setInterval(function () { if (ws.readyState === 1) ws.send('{"type":"ping"}'); }, 25000);
    };
    ws.onmessage = function (e) {
      var f;
      try { f = JSON.parse(e.data); } catch (x) { return; }
      if (f.type === "welcome") {
        welcome = f;
        setCookie(f.token);
        showBanner();
        if (!f.conversation && needsEmail()) showPre(true);
        // Whatever was sent but never acknowledged goes again, with its client id.
        pending.forEach(function (p) { ws.send(JSON.stringify({ type: "message", client_id: p.client_id, body: p.body })); });
      } else if (f.type === "message") {
        onMessage(f);
      } else if (f.type === "ack") {
        pending = pending.filter(function (p) { return p.client_id !== f.client_id; });
        save();
      } else if (f.type === "typing") {
        typing.textContent = f.name + " is typing…";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typing.textContent = ""; }, 6000);
      } else if (f.type === "transcript_sent") {
        note.textContent = "The transcript is on its way to " + f.email + ".";
      } else if (f.type === "error") {
        onError(f);
      }
    };
    ws.onclose = function () {
      clearInterval(pingTimer);
      if (socket !== ws) return;
      socket = null;
      // Back off: 1 s, 2 s, 4 s … up to 30 s, with jitter so a server restart is not stormed.
      var delay = Math.min(30000, 1000 * Math.pow(2, retries++)) * (0.5 + Math.random() / 2);
      note.textContent = "Reconnecting…";
      setTimeout(function () { note.textContent = ""; connect(); }, delay);
    };
  }

  function onError(f) {
    if (f.client_id) {
      var p = pending.filter(function (x) { return x.client_id === f.client_id; })[0];
      pending = pending.filter(function (x) { return x.client_id !== f.client_id; });
      save();
      var mine = log.querySelector('[data-client="' + CSS.escape(f.client_id) + '"]');
      if (mine) mine.remove();
      if (p && !text.value) text.value = p.body;
    }
    if (f.code === "email_required") {
      showPre(true);
      emailIn.focus();
    }
    note.textContent = f.detail;
  }

  function post(body) {
    var p = { client_id: id(), body: body };
    pending.push(p);
    save();
    bubble("visitor", "", body, p.client_id, true);
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "message", client_id: p.client_id, body: body }));
  }

  function toggle(show) {
    open = show;
    panel.hidden = !show;
    launcher.setAttribute("aria-expanded", String(show));
    launcher.setAttribute("aria-label", show ? "Close chat" : "Open chat");
    if (show) {
      if (!socket) connect();
      (pre.hidden ? text : nameIn).focus();
    } else {
      launcher.focus();
    }
  }

  launcher.addEventListener("click", function () { toggle(!open); });
  closeBtn.addEventListener("click", function () { toggle(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") toggle(false); });
  pre.addEventListener("submit", function (e) {
    e.preventDefault();
    profile.name = nameIn.value.trim();
    profile.email = emailIn.value.trim();
    if (needsEmail()) { emailIn.focus(); return; }
    showPre(false);
    text.focus();
    // The name and address travel in hello: start the connection again with them.
    if (socket) { var old = socket; socket = null; old.onclose = null; old.close(); }
    connect();
  });
  composer.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = text.value.trim();
    if (!body) return;
    if (!(welcome && welcome.conversation) && needsEmail()) { showPre(true); emailIn.focus(); return; }
    text.value = "";
    post(body);
  });
  text.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); composer.requestSubmit(); }
  });
  text.addEventListener("input", function () {
    var now = Date.now();
    if (socket && socket.readyState === 1 && now - typingSent > 3000) {
      typingSent = now;
      socket.send('{"type":"typing"}');
    }
  });
  transcriptBtn.addEventListener("click", function () {
    var email = profile.email || window.prompt("Your email address");
    if (!email) return;
    profile.email = email;
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "transcript", email: email }));
  });
  function showCallback(show) {
    cb.hidden = !show;
    panel.classList.toggle("calling", show);
    callbackBtn.setAttribute("aria-expanded", String(show));
  }
  function showConfirm(answer) {
    // The reference stays on one line; every piece is text, never HTML.
    var at = answer.reference ? answer.readback.indexOf(answer.reference) : -1;
    confirm.textContent = "";
    if (at < 0) {
      confirm.textContent = answer.readback;
    } else {
      confirm.append(answer.readback.slice(0, at), el("span", { "class": "nowrap" }, answer.reference),
        answer.readback.slice(at + answer.reference.length));
    }
    confirm.hidden = false;
  }
  callbackBtn.addEventListener("click", function () {
    showCallback(cb.hidden);
    if (!cb.hidden) { confirm.hidden = true; cbName.value = cbName.value || profile.name; cbName.focus(); }
  });
  cb.addEventListener("submit", function (e) {
    e.preventDefault();
    var body = { inbox: Number(inbox), name: cbName.value.trim(), phone: cbPhone.value.trim(),
      email: profile.email || null, window_start: cbFrom.value, window_end: cbTo.value, date: cbDate.value,
      time_zone: Intl.DateTimeFormat().resolvedOptions().timeZone, note: cbNote.value.trim() || null,
      token: cookie() };
    fetch(base + "/widget/callbacks", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, j: j }; }); })
      .then(function (r) {
        if (r.ok) {
          note.textContent = "";
          showCallback(false);
          showConfirm(r.j);
          callbackBtn.focus();
          confirm.scrollIntoView({ block: "nearest" });
        } else {
          note.textContent = r.j.detail || "The request could not be sent.";
        }
      })
      .catch(function () { note.textContent = "The request could not be sent; please try again."; });
  });

  fetch(base + "/widget/config?inbox=" + encodeURIComponent(inbox))
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (c) {
      if (!c) return;
      config = c;
      paint();
      showBanner();
      log.appendChild(el("div", null, c.greeting));
      // A new visitor meets the pre-chat form (name optional; email when needed).
      showPre(!cookie() || needsEmail());
      document.body.appendChild(host);
      // A visitor with a conversation under way gets it back at once.
      if (cookie()) connect();
    })
    .catch(function () { /* no widget when Rapport is unreachable */ });
})();
