// The staff console's light JavaScript: the compose page's live preview and the progress view's
// refresh. Pages work without it (the preview then shows after saving; reload for progress).
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const prefix = "/console";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Forms that ask before they go (cancelling a notice).
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); });
  });

  // --- compose: live preview of the WeChat message and the audience count ---------------------
  const form = document.getElementById("compose");
  if (form) {
    const phone = document.getElementById("preview");
    const audience = document.getElementById("audience");
    const subs = form.querySelectorAll(".sub");
    let timer = null;
    let seq = 0;

    function showSubs() {
      const chosen = (form.querySelector('input[name="audience"]:checked') || {}).value;
      subs.forEach((s) => { s.hidden = s.dataset.for !== chosen; });
    }

    function render(data) {
      phone.replaceChildren();
      if (data.problem) {
        phone.append(el("p", "hint", data.problem));
        audience.textContent = "";
        return;
      }
      const p = data.preview;
      if (p.template) {
        const box = el("div", "tmsg");
        box.append(el("div", "tmsg-title", phone.dataset.account));
        p.keywords.forEach((k) => {
          const row = el("div", "kw");
          row.append(el("span", "kw-l", k.label), el("span", "kw-v" + (k.cut ? " cut" : ""), k.value));
          box.append(row);
        });
        if (p.url) box.append(el("div", "tmsg-more", "详情 ›"));
        phone.append(box, el("p", "hint", "渠道：" + p.channel_name));
      } else {
        phone.append(el("div", "bubble", p.text), el("p", "hint", "渠道：" + p.channel_name + "（文字消息）"));
      }
      if (data.audience) {
        let text = "预计接收：" + data.audience.recipients + " 人";
        if (data.audience.maybe) text += "（另有 " + data.audience.maybe + " 家企业可能符合，仅列出不推送）";
        audience.textContent = text;
      }
    }

    async function refresh() {
      const mine = ++seq;
      const body = {};
      new FormData(form).forEach((v, k) => { if (k !== "_csrf") body[k] = v; });
      try {
        const r = await fetch(prefix + "/preview.json", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify(body),
          credentials: "same-origin",
        });
        const data = await r.json();
        if (mine === seq) render(r.ok ? data : { problem: data.error || "预览暂时不可用。" });
      } catch (e) {
        if (mine === seq) render({ problem: "预览暂时不可用（网络）。" });
      }
    }

    form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 300); });

    // The audience picker: a chip adds its topic (or town) to the field, or takes it out.
    const split = (text) => text.split(/[、，,;；\s]+/).filter(Boolean);
    function markChips(box, field) {
      const chosen = new Set(split(field.value));
      box.querySelectorAll(".chip").forEach((c) => c.setAttribute("aria-pressed", chosen.has(c.dataset.value)));
    }
    form.querySelectorAll(".chips").forEach((box) => {
      const field = document.getElementById(box.dataset.target);
      markChips(box, field);
      field.addEventListener("input", () => markChips(box, field));
      box.addEventListener("click", (e) => {
        const chip = e.target.closest(".chip");
        if (!chip) return;
        const values = split(field.value);
        const at = values.indexOf(chip.dataset.value);
        if (at >= 0) values.splice(at, 1); else values.push(chip.dataset.value);
        field.value = values.join("、");
        field.dispatchEvent(new Event("input", { bubbles: true }));
      });
    });
    form.addEventListener("change", () => { showSubs(); clearTimeout(timer); timer = setTimeout(refresh, 100); });
    showSubs();
    refresh();
  }

  // --- progress: poll the status every few seconds until the notice is finished --------------
  const progress = document.getElementById("progress");
  if (progress) {
    const ids = ["audience", "sent", "failed", "pending", "unknown", "cancelled"];
    const finished = new Set(["done", "cancelled"]);

    function show(s) {
      ids.forEach((k) => { document.getElementById(k).textContent = s[k]; });
      const state = document.getElementById("state");
      state.textContent = s.state_name;
      state.className = "state s-" + s.state;
      const total = s.audience || 0;
      const doneCount = s.sent + s.failed + s.unknown + s.cancelled;
      const pct = total ? Math.min(100, Math.round((100 * doneCount) / total)) : (s.state === "done" ? 100 : 0);
      document.getElementById("bar").style.width = pct + "%";
      document.getElementById("pct").textContent = pct;
      progress.querySelector(".bar").setAttribute("aria-valuenow", pct);
      const tbody = document.getElementById("errcodes");
      tbody.replaceChildren();
      const codes = Object.entries(s.errcodes);
      if (!codes.length) {
        const tr = el("tr"); const td = el("td", "", "无"); td.colSpan = 2; tr.append(td); tbody.append(tr);
      }
      codes.forEach(([code, n]) => { const tr = el("tr"); tr.append(el("td", "", code), el("td", "", String(n))); tbody.append(tr); });
      const now = new Date().toLocaleTimeString("zh-CN", { hour12: false });
      document.getElementById("updated").textContent =
        finished.has(s.state) ? "发送已结束（" + now + "）。" : "每 3 秒自动刷新，最近一次：" + now;
      return finished.has(s.state);
    }

    async function poll() {
      let stop = false;
      try {
        const r = await fetch(progress.dataset.url, { credentials: "same-origin" });
        if (r.status === 401) { window.location.reload(); return; }
        if (r.ok) stop = show(await r.json());
      } catch (e) { /* the next round tries again */ }
      if (!stop) setTimeout(poll, 3000);
    }
    poll();
  }
})();
