// The inbox pages: ask before setting a group aside, count what is left of the one
// customer-service message an answer must fit in, and show the Q&A fields only when wanted.
// Everything works without it (the server checks the length and refuses with the reason).
"use strict";
(function () {
  document.querySelectorAll("form[data-confirm]").forEach((f) => {
    f.addEventListener("submit", (e) => { if (!window.confirm(f.dataset.confirm)) e.preventDefault(); });
  });

  const text = document.querySelector("textarea[data-max-bytes]");
  const room = document.getElementById("answer-room");
  if (text && room) {
    const max = Number(text.dataset.maxBytes);
    const encoder = new TextEncoder();
    const update = () => {
      const left = max - encoder.encode(text.value.trim()).length;
      room.textContent = left >= 0
        ? `还可写约 ${Math.floor(left / 3)} 个汉字（一条微信客服消息）。`
        : `超出约 ${Math.ceil(-left / 3)} 个汉字：请精简，或附上链接。`;
      room.classList.toggle("over", left < 0);
    };
    text.addEventListener("input", update);
    update();
  }

  // One answer per click: a second click while the first is being sent does nothing.
  const answerForm = document.getElementById("answer-form");
  if (answerForm) {
    answerForm.addEventListener("submit", () => {
      const button = answerForm.querySelector("button[type=submit]");
      setTimeout(() => { button.disabled = true; button.textContent = "正在发送…"; }, 0);
    });
  }

  const qa = document.getElementById("save-qa");
  const fields = document.getElementById("qa-fields");
  if (qa && fields) {
    const show = () => { fields.hidden = !qa.checked; };
    qa.addEventListener("change", show);
    show();
  }
})();
