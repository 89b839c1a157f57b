// The import form (bot/console/templates/library_import.html): a file over the import limit
// (GONGKAI_STAFF__CONSOLE_UPLOAD_MB) would be sent in full only to be refused, so say so here
// first; the server refuses it anyway (413, nothing written) when this script does not run.
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
