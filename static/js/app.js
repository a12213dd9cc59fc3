// Pause a polling element while the user is busy inside it: an element with
// data-poll-pause="<selector>" skips its refresh while that selector matches something
// (a focused form, an open error). This replaces hx-trigger filters, which htmx runs through
// eval, and the Content-Security-Policy allows no eval.
document.addEventListener("htmx:beforeRequest", (event) => {
  const pauseWhile = event.detail.elt.dataset.pollPause;
  if (pauseWhile && document.querySelector(pauseWhile)) {
    event.preventDefault();
  }
});
