// The import form (bot/console/templates/library_import.html): a file over the service's request
// limit would be refused by the server before any page could explain why, so say so here first.
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form) { return; }
  var input = form.querySelector("input[type=file]");
  var note = document.getElementById("upload-too-big");
  var limit = parseInt(form.getAttribute("data-max-bytes"), 10);
  function check() {
    var file = input.files && input.files[0];
    var tooBig = !!file && file.size > limit;
    note.hidden = !tooBig;
    return !tooBig;
  }
  input.addEventListener("change", check);
  form.addEventListener("submit", function (event) {
    if (!check()) { event.preventDefault(); }
  });
})();
