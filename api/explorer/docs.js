/*
  Starts Swagger UI on /docs (see docs.html). Read-only: the signed routes need an HMAC
  signature no form can make by hand, so "Try it out" is off; the validator badge is off too,
  because it would send the document to a public validator.
*/
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (typeof window.SwaggerUIBundle === "undefined") {
    root.firstElementChild.textContent =
      "The Swagger UI assets could not be loaded. They are installed from the package " +
      "registry at set-up time: run `make run` (or `npm ci --prefix api/explorer " +
      "--no-audit --no-fund`) and reload this page.";
    return;
  }
  window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    supportedSubmitMethods: [],
    defaultModelsExpandDepth: 0,
  });
})();
