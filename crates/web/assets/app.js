// Rapport workspace: local times, keyboard shortcuts, live updates and presence.
// Hand-written, no build step; htmx handles the rest.
(function () {
  "use strict";
  const body = document.body;
  const csrf = body.dataset.csrf || "";

  // Times are rendered in UTC on the server; show them in the agent's own zone.
  function localizeTimes(root) {
    root.querySelectorAll("time[data-ms]").forEach(function (el) {
      const raw = el.dataset.ms;
      const d = /^\d+$/.test(raw) ? new Date(Number(raw)) : new Date(raw);
      if (isNaN(d)) return;
      el.title = d.toISOString();
      el.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    });
  }
  localizeTimes(document);

  // Typed due times are read in the agent's own zone.
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  if (zone) document.querySelectorAll("input.agent-zone").forEach(function (el) { el.value = zone; });
  // A callback for a customer whose zone we do not know: the agent's own, until they change it.
  if (zone) document.querySelectorAll("input.agent-zone-default").forEach(function (el) { if (!el.value) el.value = zone; });
  document.addEventListener("htmx:afterSwap", function (e) { localizeTimes(e.target); });

  function post(url) {
    return fetch(url, { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
  }

  // The header's availability takes effect when chosen (the button is there without scripts).
  document.addEventListener("change", function (e) {
    const select = e.target.closest("#availability select");
    if (select && select.form) select.form.requestSubmit();
  });

  // Irreversible forms ask first.
  document.addEventListener("submit", function (e) {
    const question = e.target.dataset && e.target.dataset.confirm;
    if (question && !window.confirm(question)) e.preventDefault();
  });

  // ---- Keyboard shortcuts -------------------------------------------------------------
  const help = document.getElementById("help");
  document.querySelectorAll("[data-help]").forEach(function (b) {
    b.addEventListener("click", function () { help && help.showModal(); });
  });
  let selected = -1;
  function rows() { return Array.from(document.querySelectorAll(".ticket-row")); }
  function select(i) {
    const list = rows();
    if (!list.length) return;
    selected = Math.max(0, Math.min(list.length - 1, i));
    list.forEach(function (r, j) { r.classList.toggle("selected", j === selected); });
    list[selected].scrollIntoView({ block: "nearest" });
  }
  const replyForm = document.getElementById("reply");
  const replyBody = document.getElementById("reply-body");
  function compose(kind) {
    if (!replyBody) return;
    replyForm.dataset.kind = kind;
    replyForm.classList.toggle("note-mode", kind === "note");
    replyBody.focus();
  }
  document.addEventListener("keydown", function (e) {
    const typing = e.target.closest("input, textarea, select, [contenteditable]");
    if (typing) {
      if (e.target === replyBody && (e.ctrlKey || e.metaKey) && e.key === "Enter") {
        e.preventDefault();
        const kind = replyForm.dataset.kind || "reply";
        const button = replyForm.querySelector('button[name="kind"][value="' + kind + '"]') ||
          replyForm.querySelector('button[name="kind"]');
        replyForm.requestSubmit(button);
      }
      if (e.key === "Escape") e.target.blur();
      return;
    }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    switch (e.key) {
      case "j": select(selected + 1); break;
      case "k": select(selected - 1); break;
      case "o":
      case "Enter": {
        const row = rows()[selected];
        const link = row && row.querySelector("a.ticket-link");
        if (link) window.location = link.href; else return;
        break;
      }
      case "r": compose("reply"); break;
      case "n": compose("note"); break;
      case "e": {
        const done = document.querySelector("#done-next button");
        const status = document.querySelector('#props select[name="status"]');
        if (done) done.click();
        else if (status) { status.value = "solved"; document.getElementById("save-props").click(); }
        break;
      }
      case "f": window.location = "/focus"; break;
      case "/": { const s = document.getElementById("search-box"); if (s) s.focus(); break; }
      case "?": if (help) help.showModal(); break;
      default: return;
    }
    e.preventDefault();
  });

  // ---- Live updates ---------------------------------------------------------------------
  const ticketId = body.dataset.ticket;
  if (ticketId && window.EventSource) {
    const presence = document.getElementById("presence");
    let refreshing = null;
    function refreshConversation() {
      if (refreshing) return refreshing;
      refreshing = fetch("/t/" + ticketId + "/conversation", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          const current = document.getElementById("conversation");
          if (!html || !current) return;
          const fresh = document.createRange().createContextualFragment(html).firstElementChild;
          if (!fresh) return;
          const known = new Set(Array.from(current.querySelectorAll(".message")).map(function (m) { return m.id; }));
          fresh.querySelectorAll(".message").forEach(function (m) { if (!known.has(m.id)) m.classList.add("new"); });
          current.replaceWith(fresh);
          localizeTimes(fresh);
        })
        .finally(function () { refreshing = null; });
      return refreshing;
    }
    function showPresence(viewers) {
      if (!presence) return;
      const now = Date.now();
      presence.replaceChildren();
      viewers.forEach(function (v) {
        const span = document.createElement("span");
        const isTyping = v.typing_until > now;
        span.className = "viewer" + (isTyping ? " typing" : "");
        span.textContent = v.name + " " + (isTyping ? presence.dataset.typing : presence.dataset.viewing);
        presence.appendChild(span);
      });
      presence.classList.toggle("collision", viewers.length > 0);
    }
    let lastViewers = [];
    const source = new EventSource("/live?ticket=" + encodeURIComponent(ticketId));
    source.addEventListener("changed", refreshConversation);
    source.addEventListener("resync", refreshConversation);
    source.addEventListener("presence", function (e) {
      lastViewers = JSON.parse(e.data);
      showPresence(lastViewers);
    });
    // "Typing" fades by itself when the reports stop.
    setInterval(function () { showPresence(lastViewers); }, 2000);

    if (replyBody) {
      let lastReport = 0;
      replyBody.addEventListener("input", function () {
        // The draft is based on what is on screen when the agent starts writing; a change
        // after that makes the server ask before sending.
        if (!replyForm.dataset.started) {
          replyForm.dataset.started = "1";
          const conversation = document.getElementById("conversation");
          const seen = replyForm.querySelector('input[name="seen"]');
          if (conversation && seen) seen.value = conversation.dataset.lastEvent;
        }
        const now = Date.now();
        if (now - lastReport > 3000) {
          lastReport = now;
          post("/t/" + ticketId + "/typing");
        }
      });
    }
  }

  const list = document.querySelector("[data-live-list]");
  if (list && window.EventSource) {
    let timer = null;
    const source = new EventSource("/live");
    function reload() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(list.dataset.liveList, { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            const rowsEl = document.getElementById("rows");
            if (html && rowsEl) {
              rowsEl.innerHTML = html;
              if (window.htmx) window.htmx.process(rowsEl);
              localizeTimes(rowsEl);
              select(selected);
            }
          });
      }, 1000);
    }
    source.addEventListener("changed", reload);
    source.addEventListener("resync", reload);
  }

  // ---- Chats: the header's waiting count, and the queue page kept current ----------------
  const chatCount = document.getElementById("chat-count");
  function countChats() {
    if (!chatCount || document.hidden) return;
    fetch("/chats/count", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (!c) return;
        chatCount.textContent = String(c.waiting);
        chatCount.hidden = c.waiting === 0;
      })
      .catch(function () {});
  }
  countChats();
  setInterval(countChats, 10000);
  const queue = document.getElementById("chat-queue");
  if (queue && window.EventSource) {
    let timer = null;
    const source = new EventSource("/live");
    function reloadQueue() {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch("/chats", { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (html) {
            if (!html) return;
            const page = new DOMParser().parseFromString(html, "text/html");
            ["chat-queue", "my-chats"].forEach(function (id) {
              const fresh = page.getElementById(id), current = document.getElementById(id);
              if (fresh && current) { current.replaceWith(fresh); localizeTimes(fresh); }
            });
            countChats();
          });
      }, 500);
    }
    source.addEventListener("changed", reloadQueue);
    source.addEventListener("resync", reloadQueue);
  }
})();
