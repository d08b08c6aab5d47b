// The product form's image upload: the chosen file goes to POST /products/image as it is; the
// answer's URL is put into the Image field (saved with the product) and the image is shown.
// A refusal (wrong type, too big) is shown beside the field. Text is set with textContent only.
(function () {
  "use strict";
  const file = document.getElementById("image-file");
  const field = document.getElementById("image");
  const error = document.getElementById("error-image");
  const status = document.getElementById("image-status");
  const preview = document.getElementById("image-preview");
  if (!file || !field || !error) return;

  function showError(message) {
    error.textContent = message;
    error.hidden = false;
    field.setAttribute("aria-invalid", "true");
    status.hidden = true;
  }

  file.addEventListener("change", async () => {
    const chosen = file.files && file.files[0];
    if (!chosen) return;
    error.hidden = true;
    field.removeAttribute("aria-invalid");
    status.textContent = "Uploading " + chosen.name + "…";
    status.hidden = false;
    try {
      const res = await fetch("/products/image", {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRF-Token": file.dataset.csrf,
          "X-File-Name": encodeURIComponent(chosen.name),
          "Content-Type": "application/octet-stream",
        },
        body: chosen,
      });
      let answer = {};
      try { answer = await res.json(); } catch (e) { /* a proxy's page, say */ }
      if (res.ok && answer.url) {
        field.value = answer.url;
        status.textContent = "Uploaded " + chosen.name + ". Save the product, then republish to show it in the shop.";
        if (preview) {
          preview.src = URL.createObjectURL(chosen);
          preview.hidden = false;
        }
      } else if (res.status === 413) {
        showError(answer.error || "The image is larger than 2 MB. Make it smaller and try again.");
      } else {
        showError(answer.error || "The upload failed (HTTP " + res.status + "). Try again.");
      }
    } catch (e) {
      showError("The upload failed: the admin did not answer. Try again.");
    }
    file.value = "";
  });
})();
